#ifndef FAULTLINE_IMPL_RETRY_AFTER_HPP
#define FAULTLINE_IMPL_RETRY_AFTER_HPP

#include <faultline/detail/ascii.hpp>

#include <array>
#include <cstdint>
#include <limits>

namespace faultline {
namespace detail {

inline constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

[[nodiscard]] constexpr std::uint64_t sat_mul(std::uint64_t a, std::uint64_t b) noexcept {
    if (a != 0 && b > u64_max / a) return u64_max;
    return a * b;
}

[[nodiscard]] constexpr std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) noexcept {
    return b > u64_max - a ? u64_max : a + b;
}

// A non-negative decimal "123" or "123.456", as a count of `unit`-nanosecond steps converted
// to nanoseconds (saturating). Consumes from `s`; false if no digits were there.
[[nodiscard]] constexpr bool parse_decimal_ns(std::string_view& s, std::uint64_t unit_ns,
                                              std::uint64_t& out) noexcept {
    std::uint64_t whole = 0;
    std::size_t i = 0, digits = 0;
    while (i < s.size() && is_digit(s[i])) {
        whole = sat_add(sat_mul(whole, 10), static_cast<std::uint64_t>(s[i] - '0'));
        ++i, ++digits;
    }
    std::uint64_t frac_ns = 0;
    if (i < s.size() && s[i] == '.') {
        ++i;
        std::uint64_t place = unit_ns; // ten times the value of the current digit's place
        bool any = false, below_ns = false;
        while (i < s.size() && is_digit(s[i])) {
            any = true;
            const auto d = static_cast<std::uint64_t>(s[i] - '0');
            if (place >= 10)
                frac_ns += d * (place / 10);
            else
                below_ns |= d != 0; // finer than a nanosecond: only rounds up
            place /= 10;
            ++i, ++digits;
        }
        if (!any) return false;
        frac_ns += below_ns;
    }
    if (digits == 0) return false;
    out = sat_add(sat_mul(whole, unit_ns), frac_ns);
    s.remove_prefix(i);
    return true;
}

[[nodiscard]] constexpr std::chrono::milliseconds ns_to_ms_ceil(std::uint64_t ns) noexcept {
    const std::uint64_t ms = ns / 1'000'000 + (ns % 1'000'000 != 0);
    constexpr auto max = static_cast<std::uint64_t>(std::chrono::milliseconds::max().count());
    return std::chrono::milliseconds(
        static_cast<std::chrono::milliseconds::rep>(ms > max ? max : ms));
}

[[nodiscard]] constexpr int month_index(std::string_view m) noexcept {
    constexpr std::array<std::string_view, 12> names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == m) return static_cast<int>(i) + 1;
    return 0;
}

[[nodiscard]] constexpr bool is_day_name(std::string_view d, bool long_form) noexcept {
    constexpr std::array<std::string_view, 7> s{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    constexpr std::array<std::string_view, 7> l{"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                "Friday", "Saturday", "Sunday"};
    for (std::size_t i = 0; i < 7; ++i)
        if ((long_form ? l[i] : s[i]) == d) return true;
    return false;
}

// Exactly `n` digits at s[pos]; a leading space stands for a zero where `space_ok`.
[[nodiscard]] constexpr bool fixed_digits(std::string_view s, std::size_t pos, std::size_t n,
                                          int& out, bool space_ok = false) noexcept {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = s[pos + i];
        if (i == 0 && space_ok && c == ' ') continue;
        if (!is_digit(c)) return false;
        v = v * 10 + (c - '0');
    }
    out = v;
    return true;
}

struct civil_time {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

// "HH:MM:SS" at s[pos].
[[nodiscard]] constexpr bool parse_clock(std::string_view s, std::size_t pos,
                                         civil_time& t) noexcept {
    return pos + 8 <= s.size() && fixed_digits(s, pos, 2, t.hour) && s[pos + 2] == ':' &&
           fixed_digits(s, pos + 3, 2, t.minute) && s[pos + 5] == ':' &&
           fixed_digits(s, pos + 6, 2, t.second);
}

[[nodiscard]] inline bool parse_civil(std::string_view s, civil_time& t) noexcept {
    const std::size_t comma = s.find(',');
    if (comma == 3 && s.size() == 29) { // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
        return is_day_name(s.substr(0, 3), false) && s[4] == ' ' && fixed_digits(s, 5, 2, t.day) &&
               s[7] == ' ' && (t.month = month_index(s.substr(8, 3))) != 0 && s[11] == ' ' &&
               fixed_digits(s, 12, 4, t.year) && s[16] == ' ' && parse_clock(s, 17, t) &&
               s.substr(25) == " GMT";
    }
    if (comma != std::string_view::npos && comma > 3) { // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
        const std::string_view rest = s.substr(comma + 1);
        int yy = 0;
        if (!(is_day_name(s.substr(0, comma), true) && rest.size() == 23 && rest[0] == ' ' &&
              fixed_digits(rest, 1, 2, t.day) && rest[3] == '-' &&
              (t.month = month_index(rest.substr(4, 3))) != 0 && rest[7] == '-' &&
              fixed_digits(rest, 8, 2, yy) && rest[10] == ' ' && parse_clock(rest, 11, t) &&
              rest.substr(19) == " GMT"))
            return false;
        t.year = yy < 70 ? 2000 + yy : 1900 + yy; // RFC 9110 §5.6.7: nearest century
        return true;
    }
    // asctime: "Sun Nov  6 08:49:37 1994"
    return s.size() == 24 && is_day_name(s.substr(0, 3), false) && s[3] == ' ' &&
           (t.month = month_index(s.substr(4, 3))) != 0 && s[7] == ' ' &&
           fixed_digits(s, 8, 2, t.day, true) && s[10] == ' ' && parse_clock(s, 11, t) &&
           s[19] == ' ' && fixed_digits(s, 20, 4, t.year);
}

} // namespace detail

inline result<std::chrono::system_clock::time_point>
parse_http_date(std::string_view value) noexcept {
    using namespace std::chrono;
    detail::civil_time t;
    if (!detail::parse_civil(detail::trim(value), t)) return error::invalid_retry_after;
    const year_month_day ymd{year{t.year}, month{static_cast<unsigned>(t.month)},
                             day{static_cast<unsigned>(t.day)}};
    if (!ymd.ok() || t.hour > 23 || t.minute > 59 || t.second > 60)
        return error::invalid_retry_after;
    return time_point_cast<system_clock::duration>(sys_days{ymd} + hours{t.hour} +
                                                   minutes{t.minute} + seconds{t.second});
}

inline result<std::chrono::milliseconds>
parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) noexcept {
    using namespace std::chrono;
    std::string_view v = detail::trim(value);
    if (!v.empty() && detail::is_digit(v.front())) {
        std::uint64_t ns = 0;
        if (!detail::parse_decimal_ns(v, 1'000'000'000, ns) || !v.empty())
            return error::invalid_retry_after;
        return detail::ns_to_ms_ceil(ns);
    }
    auto date = parse_http_date(v);
    if (!date) return date.error();
    if (date.value() <= now) return milliseconds(0);
    return ceil<milliseconds>(date.value() - now);
}

inline result<std::chrono::milliseconds> parse_retry_after_ms(std::string_view value) noexcept {
    std::string_view v = detail::trim(value);
    std::uint64_t ns = 0;
    if (!detail::parse_decimal_ns(v, 1'000'000, ns) || !v.empty())
        return error::invalid_retry_after;
    return detail::ns_to_ms_ceil(ns);
}

inline result<std::chrono::milliseconds> parse_duration(std::string_view value) noexcept {
    std::string_view v = detail::trim(value);
    if (v == "0") return std::chrono::milliseconds(0);
    if (v.empty()) return error::invalid_duration;
    struct unit {
        std::string_view name;
        std::uint64_t ns;
    };
    // Longest names first so "ms" is not read as "m" followed by garbage.
    static constexpr unit units[] = {
        {"ms", 1'000'000},     {"us", 1'000},       {"\xC2\xB5s", 1'000},
        {"\xCE\xBCs", 1'000},  {"ns", 1},           {"h", 3'600'000'000'000},
        {"m", 60'000'000'000}, {"s", 1'000'000'000}};
    std::uint64_t total = 0;
    while (!v.empty()) {
        // The number's unit follows it, so find the unit before converting the number.
        std::size_t len = 0;
        while (len < v.size() && (detail::is_digit(v[len]) || v[len] == '.'))
            ++len;
        if (len == 0) return error::invalid_duration;
        std::string_view number = v.substr(0, len);
        v.remove_prefix(len);
        const unit* u = nullptr;
        for (const auto& cand : units)
            if (v.substr(0, cand.name.size()) == cand.name) {
                u = &cand;
                break;
            }
        if (!u) return error::invalid_duration;
        v.remove_prefix(u->name.size());
        std::uint64_t ns = 0;
        if (!detail::parse_decimal_ns(number, u->ns, ns) || !number.empty())
            return error::invalid_duration;
        total = detail::sat_add(total, ns);
    }
    return detail::ns_to_ms_ceil(total);
}

inline std::optional<std::chrono::milliseconds>
retry_after_from(const retry_hints& h, const retry_after_options& o) noexcept {
    using std::chrono::milliseconds;
    const auto capped = [&](milliseconds d) { return d > o.max ? o.max : d; };
    if (!h.retry_after_ms.empty())
        if (auto r = parse_retry_after_ms(h.retry_after_ms)) return capped(r.value());
    if (!h.retry_after.empty())
        if (auto r = parse_retry_after(h.retry_after, o.now)) return capped(r.value());
    if (!h.body_retry_delay.empty())
        if (auto r = parse_duration(h.body_retry_delay)) return capped(r.value());
    if (!o.use_reset_headers) return std::nullopt;
    std::optional<milliseconds> req, tok;
    if (!h.reset_requests.empty())
        if (auto r = parse_duration(h.reset_requests)) req = r.value();
    if (!h.reset_tokens.empty())
        if (auto r = parse_duration(h.reset_tokens)) tok = r.value();
    const bool req_out = detail::trim(h.remaining_requests) == "0";
    const bool tok_out = detail::trim(h.remaining_tokens) == "0";
    if (req_out != tok_out) {
        if (req_out && req) return capped(*req);
        if (tok_out && tok) return capped(*tok);
    }
    if (req && tok) return capped(*req > *tok ? *req : *tok);
    if (req) return capped(*req);
    if (tok) return capped(*tok);
    return std::nullopt;
}

template <class Headers>
retry_hints collect_retry_hints(const Headers& headers) {
    retry_hints h;
    detail::for_each_header(headers, [&](std::string_view name, std::string_view value) {
        using detail::iequals;
        if (iequals(name, "retry-after-ms"))
            h.retry_after_ms = value;
        else if (iequals(name, "retry-after"))
            h.retry_after = value;
        else if (iequals(name, "x-ratelimit-reset-requests"))
            h.reset_requests = value;
        else if (iequals(name, "x-ratelimit-reset-tokens"))
            h.reset_tokens = value;
        else if (iequals(name, "x-ratelimit-remaining-requests"))
            h.remaining_requests = value;
        else if (iequals(name, "x-ratelimit-remaining-tokens"))
            h.remaining_tokens = value;
    });
    return h;
}

} // namespace faultline

#endif

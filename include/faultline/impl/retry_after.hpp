#ifndef FAULTLINE_IMPL_RETRY_AFTER_HPP
#define FAULTLINE_IMPL_RETRY_AFTER_HPP

#include <faultline/detail/ascii.hpp>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <utility>

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
    if (ns == u64_max) return std::chrono::milliseconds::max(); // saturated while parsing
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

// Seconds since the epoch of a checked civil time: 64-bit seconds hold any 4-digit year, where
// system_clock's nanoseconds end in 2262.
[[nodiscard]] inline bool civil_seconds(const civil_time& t, std::int64_t& out) noexcept {
    using namespace std::chrono;
    const year_month_day ymd{year{t.year}, month{static_cast<unsigned>(t.month)},
                             day{static_cast<unsigned>(t.day)}};
    if (!ymd.ok() || t.hour > 23 || t.minute > 59 || t.second > 60) return false;
    out = static_cast<std::int64_t>(sys_days{ymd}.time_since_epoch().count()) * 86400 +
          t.hour * 3600 + t.minute * 60 + t.second;
    return true;
}

// (seconds + nanos) - now, rounded up to whole milliseconds; 0 when not after `now`. No
// overflow for any 4-digit year.
[[nodiscard]] inline std::chrono::milliseconds
delay_until(std::int64_t secs, std::int64_t nanos,
            std::chrono::system_clock::time_point now) noexcept {
    using namespace std::chrono;
    const auto now_s = floor<seconds>(now);
    std::int64_t diff_s = secs - static_cast<std::int64_t>(now_s.time_since_epoch().count());
    std::int64_t diff_ns = nanos - duration_cast<nanoseconds>(now - now_s).count();
    if (diff_ns < 0) {
        diff_s -= 1;
        diff_ns += 1'000'000'000;
    }
    if (diff_s < 0 || (diff_s == 0 && diff_ns == 0)) return milliseconds(0);
    return milliseconds(diff_s * 1000 + diff_ns / 1'000'000 + (diff_ns % 1'000'000 != 0));
}

// The first position of `needle` (lower case) in `hay`, ASCII case-insensitively, or npos.
// memchr finds candidates by the needle's byte at `anchor`, best a rare letter.
[[nodiscard]] inline std::size_t ifind(std::string_view hay, std::string_view needle,
                                       std::size_t anchor) noexcept {
    std::size_t best = std::string_view::npos;
    const char a = needle[anchor];
    const char cases[2] = {a, static_cast<char>(a >= 'a' && a <= 'z' ? a - 'a' + 'A' : a)};
    for (int c = 0; c < (cases[1] == cases[0] ? 1 : 2); ++c)
        for (std::size_t p = hay.find(cases[c], anchor); p != std::string_view::npos && p < best;
             p = hay.find(cases[c], p + 1)) {
            const std::size_t start = p - anchor;
            if (start + needle.size() <= hay.size() &&
                iequals(hay.substr(start, needle.size()), needle)) {
                best = start;
                break;
            }
        }
    return best;
}

// The Go-style duration that starts `s` ("1.4s", "6m0s", "20ms"), without a sentence's full
// stop.
[[nodiscard]] inline std::string_view leading_duration(std::string_view s) noexcept {
    std::size_t n = 0;
    while (n < s.size() && n < 64 &&
           (is_digit(s[n]) || s[n] == '.' || (s[n] >= 'a' && s[n] <= 'z') ||
            (s[n] >= 'A' && s[n] <= 'Z') || static_cast<unsigned char>(s[n]) >= 0x80))
        ++n;
    s = s.substr(0, n);
    while (!s.empty() && s.back() == '.')
        s.remove_suffix(1);
    return s;
}

} // namespace detail

inline result<std::chrono::system_clock::time_point>
parse_http_date(std::string_view value) noexcept {
    using namespace std::chrono;
    using tp = system_clock::time_point;
    detail::civil_time t;
    std::int64_t s = 0;
    if (!detail::parse_civil(detail::trim(value), t) || !detail::civil_seconds(t, s))
        return parse_error::invalid_retry_after;
    // Compared in seconds: converting first would overflow past 2262 into the past.
    if (s >= floor<seconds>(tp::max()).time_since_epoch().count()) return tp::max();
    if (s <= ceil<seconds>(tp::min()).time_since_epoch().count()) return tp::min();
    return time_point_cast<system_clock::duration>(sys_seconds{seconds{s}});
}

inline result<std::chrono::milliseconds>
parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) noexcept {
    std::string_view v = detail::trim(value);
    if (!v.empty() && detail::is_digit(v.front())) {
        std::uint64_t ns = 0;
        if (!detail::parse_decimal_ns(v, 1'000'000'000, ns) || !v.empty())
            return parse_error::invalid_retry_after;
        return detail::ns_to_ms_ceil(ns);
    }
    detail::civil_time t;
    std::int64_t s = 0;
    if (!detail::parse_civil(v, t) || !detail::civil_seconds(t, s))
        return parse_error::invalid_retry_after;
    return detail::delay_until(s, 0, now);
}

inline result<std::chrono::milliseconds>
parse_rfc3339_delay(std::string_view value, std::chrono::system_clock::time_point now) noexcept {
    const std::string_view v = detail::trim(value);
    // "YYYY-MM-DDTHH:MM:SS" then an optional fraction, then "Z" or "+HH:MM" / "-HH:MM".
    detail::civil_time t;
    using detail::fixed_digits;
    if (!(v.size() >= 20 && fixed_digits(v, 0, 4, t.year) && v[4] == '-' &&
          fixed_digits(v, 5, 2, t.month) && v[7] == '-' && fixed_digits(v, 8, 2, t.day) &&
          (v[10] == 'T' || v[10] == 't' || v[10] == ' ') && detail::parse_clock(v, 11, t)))
        return parse_error::invalid_retry_after;
    if (t.month < 1 || t.month > 12) return parse_error::invalid_retry_after;
    std::size_t i = 19;
    std::int64_t nanos = 0;
    if (v[i] == '.') {
        ++i;
        std::int64_t place = 100'000'000;
        bool any = false, below = false;
        for (; i < v.size() && detail::is_digit(v[i]); ++i, place /= 10) {
            any = true;
            if (place > 0)
                nanos += (v[i] - '0') * place;
            else
                below |= v[i] != '0'; // finer than a nanosecond: only rounds up
        }
        if (!any) return parse_error::invalid_retry_after;
        nanos += below;
    }
    std::int64_t offset = 0;
    const std::string_view zone = v.substr(i);
    if (zone == "Z" || zone == "z") {
    } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
        int hh = 0, mm = 0;
        if (!fixed_digits(zone, 1, 2, hh) || !fixed_digits(zone, 4, 2, mm) || hh > 23 || mm > 59)
            return parse_error::invalid_retry_after;
        offset = (zone[0] == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
    } else
        return parse_error::invalid_retry_after;
    std::int64_t s = 0;
    if (!detail::civil_seconds(t, s)) return parse_error::invalid_retry_after;
    return detail::delay_until(s - offset, nanos, now);
}

inline std::string_view find_message_retry_delay(std::string_view message) noexcept {
    for (const auto& [needle, anchor] :
         {std::pair<std::string_view, std::size_t>{"again in ", 1}, {"retry in ", 4}}) {
        const std::size_t at = detail::ifind(message, needle, anchor);
        if (at == std::string_view::npos) continue;
        std::string_view rest = message.substr(at + needle.size());
        const std::string_view d = detail::leading_duration(rest);
        if (!d.empty() && detail::is_digit(d.front())) return d;
    }
    return {};
}

inline result<std::chrono::milliseconds> parse_retry_after_ms(std::string_view value) noexcept {
    std::string_view v = detail::trim(value);
    std::uint64_t ns = 0;
    if (!detail::parse_decimal_ns(v, 1'000'000, ns) || !v.empty())
        return parse_error::invalid_retry_after;
    return detail::ns_to_ms_ceil(ns);
}

inline result<std::chrono::milliseconds> parse_duration(std::string_view value) noexcept {
    std::string_view v = detail::trim(value);
    if (v == "0") return std::chrono::milliseconds(0);
    if (v.empty()) return parse_error::invalid_duration;
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
        if (len == 0) return parse_error::invalid_duration;
        std::string_view number = v.substr(0, len);
        v.remove_prefix(len);
        const unit* u = nullptr;
        for (const auto& cand : units)
            if (v.substr(0, cand.name.size()) == cand.name) {
                u = &cand;
                break;
            }
        if (!u) return parse_error::invalid_duration;
        v.remove_prefix(u->name.size());
        std::uint64_t ns = 0;
        if (!detail::parse_decimal_ns(number, u->ns, ns) || !number.empty())
            return parse_error::invalid_duration;
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
    if (o.use_reset_headers) {
        // Every window that names its reset: the longest of the exhausted ones, else the
        // longest of all.
        std::optional<milliseconds> longest, longest_out;
        const auto consider = [&](std::optional<milliseconds> d, std::string_view remaining) {
            if (!d) return;
            if (!longest || *d > *longest) longest = d;
            if (detail::trim(remaining) == "0" && (!longest_out || *d > *longest_out))
                longest_out = d;
        };
        if (!h.reset_requests.empty())
            if (auto r = parse_duration(h.reset_requests))
                consider(r.value(), h.remaining_requests);
        if (!h.reset_tokens.empty())
            if (auto r = parse_duration(h.reset_tokens)) consider(r.value(), h.remaining_tokens);
        for (std::size_t i = 0; i < 4; ++i)
            if (!h.anthropic_reset[i].empty())
                if (auto r = parse_rfc3339_delay(h.anthropic_reset[i], o.now))
                    consider(r.value(), h.anthropic_remaining[i]);
        if (longest_out) return capped(*longest_out);
        if (longest) return capped(*longest);
    }
    if (!h.message_retry_delay.empty())
        if (auto r = parse_duration(h.message_retry_delay)) return capped(r.value());
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
        else if (name.size() > 19 && iequals(name.substr(0, 19), "anthropic-ratelimit")) {
            static constexpr std::string_view windows[4] = {"-requests-", "-tokens-",
                                                            "-input-tokens-", "-output-tokens-"};
            const std::string_view rest = name.substr(19);
            for (std::size_t i = 0; i < 4; ++i) {
                const std::size_t w = windows[i].size();
                if (rest.size() <= w || !iequals(rest.substr(0, w), windows[i])) continue;
                if (iequals(rest.substr(w), "reset"))
                    h.anthropic_reset[i] = value;
                else if (iequals(rest.substr(w), "remaining"))
                    h.anthropic_remaining[i] = value;
            }
        }
    });
    return h;
}

} // namespace faultline

#endif

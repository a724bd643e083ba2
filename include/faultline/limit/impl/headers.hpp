#ifndef FAULTLINE_LIMIT_IMPL_HEADERS_HPP
#define FAULTLINE_LIMIT_IMPL_HEADERS_HPP

#include <charconv>
#include <cstdint>

namespace faultline::detail {

inline std::size_t format_go_duration(std::chrono::nanoseconds d, char* out) noexcept {
    // Every write is bounded by the buffer's end. No value reaches it (the longest duration is
    // 18 characters), but the bound is what the compiler can check.
    char* p = out;
    char* const end = out + go_duration_size;
    const auto put = [&p, end](std::int64_t n) { p = std::to_chars(p, end, n).ptr; };
    const auto add = [&p, end](char c) {
        if (p != end) *p++ = c;
    };
    if (d.count() <= 0) {
        add('0');
        add('s');
        return static_cast<std::size_t>(p - out);
    }
    // Round up to whole milliseconds: clients' duration parsers accept "1.5s" and "20ms" but
    // not always nanosecond fractions.
    constexpr std::int64_t ms_ns = 1'000'000;
    const std::int64_t ns = d.count();
    const std::int64_t ms = ns / ms_ns + (ns % ms_ns != 0);
    if (ms < 1000) {
        put(ms);
        add('m');
        add('s');
        return static_cast<std::size_t>(p - out);
    }
    // Go's Duration.String: [h]h[m]m s[.fff]s, minutes shown once hours are.
    const std::int64_t h = ms / 3'600'000, m = ms / 60'000 % 60, s = ms / 1000 % 60,
                       frac = ms % 1000;
    if (h > 0) {
        put(h);
        add('h');
    }
    if (h > 0 || m > 0) {
        put(m);
        add('m');
    }
    put(s);
    if (frac != 0) {
        // Three digits, trailing zeros dropped: 500 -> ".5", 50 -> ".05", 1 -> ".001".
        const char digits[3] = {static_cast<char>('0' + frac / 100),
                                static_cast<char>('0' + frac / 10 % 10),
                                static_cast<char>('0' + frac % 10)};
        const int n = digits[2] != '0' ? 3 : digits[1] != '0' ? 2 : 1;
        add('.');
        for (int i = 0; i < n; ++i)
            add(digits[i]);
    }
    add('s');
    return static_cast<std::size_t>(p - out);
}

} // namespace faultline::detail

namespace faultline::limit {

inline std::string go_duration(std::chrono::nanoseconds d) {
    char buf[detail::go_duration_size];
    return std::string(buf, detail::format_go_duration(d, buf));
}

inline std::uint64_t retry_after_seconds(std::chrono::nanoseconds wait) noexcept {
    if (wait.count() <= 0) return 1;
    constexpr std::int64_t s_ns = 1'000'000'000;
    const auto s = static_cast<std::uint64_t>(wait.count() / s_ns + (wait.count() % s_ns != 0));
    return s == 0 ? 1 : s;
}

inline std::vector<header> retry_after_headers(std::chrono::nanoseconds wait) {
    const std::int64_t ns = wait.count();
    const std::int64_t ms = ns <= 0 ? 1 : ns / 1'000'000 + (ns % 1'000'000 != 0);
    return {{"retry-after", std::to_string(retry_after_seconds(wait))},
            {"retry-after-ms", std::to_string(ms)}};
}

template <class F>
void for_each_rate_limit_header(const decision* requests, const decision* tokens, F&& f) {
    using std::string_view;
    const auto trio = [&f](const decision& d, string_view limit, string_view remaining,
                           string_view reset) {
        char buf[detail::go_duration_size > 20 ? detail::go_duration_size : 20];
        f(limit, string_view(buf, static_cast<std::size_t>(
                                      std::to_chars(buf, buf + sizeof buf, d.limit).ptr - buf)));
        f(remaining,
          string_view(buf, static_cast<std::size_t>(
                               std::to_chars(buf, buf + sizeof buf, d.remaining).ptr - buf)));
        f(reset, string_view(buf, detail::format_go_duration(d.reset, buf)));
    };
    if (requests)
        trio(*requests, "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
             "x-ratelimit-reset-requests");
    if (tokens)
        trio(*tokens, "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
             "x-ratelimit-reset-tokens");
}

inline std::vector<header> rate_limit_headers(const decision* requests, const decision* tokens) {
    std::vector<header> h;
    h.reserve(6);
    for_each_rate_limit_header(requests, tokens,
                               [&h](std::string_view name, std::string_view value) {
                                   h.emplace_back(std::string(name), std::string(value));
                               });
    return h;
}

} // namespace faultline::limit

#endif

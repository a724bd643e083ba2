#ifndef FAULTLINE_LIMIT_IMPL_HEADERS_HPP
#define FAULTLINE_LIMIT_IMPL_HEADERS_HPP

#include <cstdint>

namespace faultline::limit {

inline std::string go_duration(std::chrono::nanoseconds d) {
    if (d.count() <= 0) return "0s";
    // Round up to whole milliseconds: clients' duration parsers accept "1.5s" and "20ms" but
    // not always nanosecond fractions.
    constexpr std::int64_t ms_ns = 1'000'000;
    const std::int64_t ns = d.count();
    const std::int64_t ms = ns / ms_ns + (ns % ms_ns != 0);
    std::string out;
    if (ms < 1000) return std::to_string(ms) + "ms";
    // Go's Duration.String: [h]h[m]m s[.fff]s, minutes shown once hours are.
    const std::int64_t h = ms / 3'600'000, m = ms / 60'000 % 60, s = ms / 1000 % 60,
                       frac = ms % 1000;
    if (h > 0) out += std::to_string(h) + "h";
    if (h > 0 || m > 0) out += std::to_string(m) + "m";
    out += std::to_string(s);
    if (frac != 0) {
        std::string f = std::to_string(frac);
        f.insert(0, 3 - f.size(), '0');
        while (f.back() == '0')
            f.pop_back();
        out += "." + f;
    }
    out += "s";
    return out;
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

inline std::vector<header> rate_limit_headers(const decision* requests, const decision* tokens) {
    std::vector<header> h;
    h.reserve(6);
    const auto trio = [&h](const decision& d, std::string_view what) {
        h.emplace_back("x-ratelimit-limit-" + std::string(what), std::to_string(d.limit));
        h.emplace_back("x-ratelimit-remaining-" + std::string(what), std::to_string(d.remaining));
        h.emplace_back("x-ratelimit-reset-" + std::string(what), go_duration(d.reset));
    };
    if (requests) trio(*requests, "requests");
    if (tokens) trio(*tokens, "tokens");
    return h;
}

} // namespace faultline::limit

#endif

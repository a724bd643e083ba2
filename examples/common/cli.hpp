#ifndef FAULTLINE_EXAMPLES_COMMON_CLI_HPP
#define FAULTLINE_EXAMPLES_COMMON_CLI_HPP

// Command-line helpers shared by the example programs. Not part of faultline's API.

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string_view>

namespace examples {

/// The value after the option at `args[i]`, advancing `i` past it; nullopt when the option is
/// the last argument. Every function here is thread-safe.
[[nodiscard]] inline std::optional<std::string_view> next_value(std::span<char*> args,
                                                                std::size_t& i) {
    if (i + 1 >= args.size()) return std::nullopt;
    return std::string_view(args[++i]);
}

/// A whole decimal number in [0, max], or nullopt.
[[nodiscard]] inline std::optional<std::uint64_t> parse_uint(std::string_view s,
                                                             std::uint64_t max) {
    std::uint64_t v = 0;
    if (s.empty() || s.front() == '+' || s.front() == '-') return std::nullopt;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v > max) return std::nullopt;
    return v;
}

/// A finite decimal number in [min, max] ("0.5", "100"), or nullopt.
[[nodiscard]] inline std::optional<double> parse_double(std::string_view s, double min,
                                                        double max) {
    double v = 0;
    if (s.empty() || s.front() == '+') return std::nullopt;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !(v >= min && v <= max))
        return std::nullopt;
    return v;
}

/// Milliseconds, written as a whole number with an optional unit: "250ms", "3s", "2m", or a
/// bare number of milliseconds. At most `max`.
[[nodiscard]] inline std::optional<std::chrono::milliseconds>
parse_millis(std::string_view s, std::chrono::milliseconds max) {
    std::uint64_t scale = 1;
    if (s.ends_with("ms"))
        s.remove_suffix(2);
    else if (s.ends_with('s'))
        scale = 1000, s.remove_suffix(1);
    else if (s.ends_with('m'))
        scale = 60'000, s.remove_suffix(1);
    const auto limit = static_cast<std::uint64_t>(max.count());
    const auto v = parse_uint(s, limit / scale);
    if (!v) return std::nullopt;
    return std::chrono::milliseconds(static_cast<std::int64_t>(*v * scale));
}

/// Writes "<program>: <message> (try --help)" to stderr and returns the usage-error status 2.
inline int usage_error(std::string_view program, std::string_view message) {
    std::fprintf(stderr, "%.*s: %.*s (try --help)\n", static_cast<int>(program.size()),
                 program.data(), static_cast<int>(message.size()), message.data());
    return 2;
}

} // namespace examples

#endif

#ifndef FAULTLINE_RETRY_IMPL_BACKOFF_HPP
#define FAULTLINE_RETRY_IMPL_BACKOFF_HPP

#include <cmath>
#include <random>

namespace faultline {
namespace detail {

// Exponentiation by squaring, for m >= 1. Once the factor reaches 2^63 the result is past any cap
// (base >= 1 ns, cap < 2^63 ns), so it stops there and returns +inf, which the callers clamp to
// cap: no attempt number or multiplier can overflow, and attempt 10'000 costs a few squarings.
[[nodiscard]] inline double backoff_power(double m, unsigned e) noexcept {
    constexpr double past_any_cap = 0x1.0p63;
    double r = 1.0;
    while (e != 0) {
        if (e & 1u) r *= m;
        e >>= 1;
        if (e == 0) break;
        m *= m;
        if (m >= past_any_cap || r >= past_any_cap) return std::numeric_limits<double>::infinity();
    }
    return r;
}

struct backoff_params {
    double base; // ns, in [0, cap]
    double cap;  // ns, >= 0
    double mult; // >= 1, finite
};

[[nodiscard]] inline backoff_params sanitise(const backoff& b) noexcept {
    backoff_params p{};
    p.cap = b.cap.count() > 0 ? static_cast<double>(b.cap.count()) : 0.0;
    p.base = b.base.count() > 0 ? static_cast<double>(b.base.count()) : 0.0;
    if (p.base > p.cap) p.base = p.cap;
    p.mult = b.multiplier >= 1.0 ? b.multiplier : 1.0; // NaN compares false
    if (!(p.mult <= std::numeric_limits<double>::max()))
        p.mult = std::numeric_limits<double>::max();
    return p;
}

// min(cap, base * mult^(attempt-1)); base 0 stays 0 (no 0 * inf).
[[nodiscard]] inline double backoff_ceiling(const backoff_params& p, unsigned attempt) noexcept {
    if (p.base <= 0.0) return 0.0;
    const unsigned e = attempt > 1 ? attempt - 1 : 0u;
    // base >= 1 ns and cap < 2^63 ns, so a doubling 63 times is past any cap: skip the power.
    if (e >= 63 && p.mult >= 2.0) return p.cap;
    const double d = p.base * backoff_power(p.mult, e);
    return d < p.cap ? d : p.cap;
}

// x in [0, +inf]; anything at or above cap (including +inf) is exactly cap, so the conversion
// to int64 never overflows.
[[nodiscard]] inline std::chrono::nanoseconds backoff_ns(double x, const backoff_params& p,
                                                         std::chrono::nanoseconds cap) noexcept {
    if (!(x < p.cap)) return cap.count() > 0 ? cap : std::chrono::nanoseconds::zero();
    if (!(x > 0.0)) return std::chrono::nanoseconds::zero();
    return std::chrono::nanoseconds(static_cast<std::int64_t>(x));
}

[[nodiscard]] inline double decorrelated_high(const backoff_params& p,
                                              std::chrono::nanoseconds previous) noexcept {
    const double prev = previous.count() > 0 ? static_cast<double>(previous.count()) : p.base;
    double hi = prev * p.mult;
    if (!(hi <= std::numeric_limits<double>::max())) hi = std::numeric_limits<double>::max();
    return hi > p.base ? hi : p.base;
}

} // namespace detail

template <class URBG>
std::chrono::nanoseconds backoff::next_delay(unsigned attempt, std::chrono::nanoseconds previous,
                                             URBG& g) const noexcept {
    const detail::backoff_params p = detail::sanitise(*this);
    switch (kind) {
    case backoff_kind::constant:
        return detail::backoff_ns(p.base, p, cap);
    case backoff_kind::exponential:
        return detail::backoff_ns(detail::backoff_ceiling(p, attempt), p, cap);
    case backoff_kind::full_jitter:
        return detail::backoff_ns(uniform01(g) * detail::backoff_ceiling(p, attempt), p, cap);
    case backoff_kind::equal_jitter: {
        const double half = detail::backoff_ceiling(p, attempt) * 0.5;
        return detail::backoff_ns(half + uniform01(g) * half, p, cap);
    }
    case backoff_kind::decorrelated_jitter: {
        const double hi = detail::decorrelated_high(p, previous);
        return detail::backoff_ns(p.base + uniform01(g) * (hi - p.base), p, cap);
    }
    }
    return detail::backoff_ns(detail::backoff_ceiling(p, attempt), p, cap);
}

inline std::chrono::nanoseconds
backoff::upper_bound(unsigned attempt, std::chrono::nanoseconds previous) const noexcept {
    const detail::backoff_params p = detail::sanitise(*this);
    switch (kind) {
    case backoff_kind::constant:
        return detail::backoff_ns(p.base, p, cap);
    case backoff_kind::decorrelated_jitter:
        return detail::backoff_ns(detail::decorrelated_high(p, previous), p, cap);
    default:
        return detail::backoff_ns(detail::backoff_ceiling(p, attempt), p, cap);
    }
}

inline std::error_code backoff::validate() const noexcept {
    const bool bad = base.count() < 0 || cap.count() < 0 || cap < base || !(multiplier >= 1.0) ||
                     !std::isfinite(multiplier);
    return bad ? std::make_error_code(std::errc::invalid_argument) : std::error_code{};
}

namespace detail {
inline constexpr std::string_view backoff_names[] = {"constant", "exponential", "full_jitter",
                                                     "equal_jitter", "decorrelated_jitter"};
} // namespace detail

inline std::string_view to_string(backoff_kind k) noexcept {
    const auto i = static_cast<std::size_t>(k);
    return i < std::size(detail::backoff_names) ? detail::backoff_names[i] : "unknown";
}

inline bool from_string(std::string_view name, backoff_kind& out) noexcept {
    for (std::size_t i = 0; i < std::size(detail::backoff_names); ++i)
        if (name == detail::backoff_names[i]) {
            out = static_cast<backoff_kind>(i);
            return true;
        }
    if (name == "full")
        out = backoff_kind::full_jitter;
    else if (name == "equal")
        out = backoff_kind::equal_jitter;
    else if (name == "decorrelated")
        out = backoff_kind::decorrelated_jitter;
    else
        return false;
    return true;
}

} // namespace faultline

#endif

#ifndef FAULTLINE_RETRY_BACKOFF_HPP
#define FAULTLINE_RETRY_BACKOFF_HPP

#include <faultline/detail/config.hpp>

// Backoff policies: how long to wait before the n-th retry. Plain values, driven by a URBG
// the caller owns, so a test seeds it and a benchmark sees no hidden state.
//
//     faultline::backoff b = faultline::backoff::full_jitter(1s, 30s); // the default
//     faultline::splitmix64 rng{42};
//     std::chrono::nanoseconds prev{};
//     for (unsigned n = 1; n <= 3; ++n) prev = b.next_delay(n, prev, rng);
//
// With d(n) = min(cap, base * multiplier^(n-1)) and U(a, b) uniform in [a, b), the n-th retry
// (n >= 1; 0 is treated as 1) waits
//
//     constant             base (not above cap)
//     exponential          d(n)
//     full_jitter          U(0, d(n))
//     equal_jitter         d(n)/2 + U(0, d(n)/2)
//     decorrelated_jitter  min(cap, U(base, max(base, previous * multiplier)))   (previous = 0 ->
//     base)
//
// — the three jittered forms are the "Full Jitter", "Equal Jitter" and "Decorrelated Jitter" of
// the AWS Architecture Blog's "Exponential Backoff And Jitter" (there with multiplier 2, 2, 3).
// The power is computed in floating point by squaring and saturates at cap, so attempt 10'000
// or a multiplier of 1e300 is no overflow, just cap. Out-of-range members are sanitised, never
// undefined behaviour: negative durations count as 0, a cap below base wins, a multiplier below
// 1 or NaN counts as 1; `validate()` reports such values for a caller that wants to reject them.
//
// Uniform variates come from one URBG call through `uniform01` (random.hpp), a multiplication
// for 64- and 32-bit generators: that mapping is what keeps `next_delay` at a few nanoseconds.

#include <faultline/random.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string_view>
#include <system_error>

namespace faultline {

/// The backoff formulas (see the header comment).
enum class backoff_kind : unsigned char {
    constant,
    exponential,
    full_jitter,
    equal_jitter,
    decorrelated_jitter,
};

/// "constant", "exponential", "full_jitter", "equal_jitter", "decorrelated_jitter". Thread-safe.
[[nodiscard]] std::string_view to_string(backoff_kind k) noexcept;

/// Parses the names above; also the short CLI names "full", "equal", "decorrelated".
/// Thread-safe.
[[nodiscard]] bool from_string(std::string_view name, backoff_kind& out) noexcept;

/// A backoff policy. A plain value: copy it, compare it, put it in a config. Defaults are those of
/// the reference retry guidance: full jitter starting at 1 s, capped at 30 s, doubling.
/// Every member function is const and thread-safe; the URBG passed in is the caller's.
struct backoff {
    backoff_kind kind = backoff_kind::full_jitter;
    std::chrono::nanoseconds base = std::chrono::seconds(1);
    std::chrono::nanoseconds cap = std::chrono::seconds(30);
    double multiplier = 2.0;

    [[nodiscard]] static constexpr backoff constant(std::chrono::nanoseconds delay) noexcept {
        return {backoff_kind::constant, delay, delay, 1.0};
    }
    [[nodiscard]] static constexpr backoff exponential(std::chrono::nanoseconds base,
                                                       std::chrono::nanoseconds cap,
                                                       double multiplier = 2.0) noexcept {
        return {backoff_kind::exponential, base, cap, multiplier};
    }
    [[nodiscard]] static constexpr backoff full_jitter(std::chrono::nanoseconds base,
                                                       std::chrono::nanoseconds cap,
                                                       double multiplier = 2.0) noexcept {
        return {backoff_kind::full_jitter, base, cap, multiplier};
    }
    [[nodiscard]] static constexpr backoff equal_jitter(std::chrono::nanoseconds base,
                                                        std::chrono::nanoseconds cap,
                                                        double multiplier = 2.0) noexcept {
        return {backoff_kind::equal_jitter, base, cap, multiplier};
    }
    [[nodiscard]] static constexpr backoff decorrelated_jitter(std::chrono::nanoseconds base,
                                                               std::chrono::nanoseconds cap,
                                                               double multiplier = 3.0) noexcept {
        return {backoff_kind::decorrelated_jitter, base, cap, multiplier};
    }

    /// The delay before retry number `attempt` (1 = first retry). `previous` is the delay
    /// returned for the retry before (only decorrelated jitter reads it; pass 0 at first).
    /// Never negative, never above `max(cap, 0)`. Draws at most one number from `g`.
    /// Thread-safe (const); `g` is the caller's.
    template <class URBG>
    [[nodiscard]] std::chrono::nanoseconds
    next_delay(unsigned attempt, std::chrono::nanoseconds previous, URBG& g) const noexcept;

    /// The largest delay the policy can return for `attempt` (for decorrelated jitter given
    /// `previous`). Thread-safe.
    [[nodiscard]] std::chrono::nanoseconds
    upper_bound(unsigned attempt, std::chrono::nanoseconds previous = {}) const noexcept;

    /// `std::errc::invalid_argument` when base or cap is negative, cap < base, or the multiplier
    /// is below 1 or not finite; otherwise an empty code. Thread-safe.
    [[nodiscard]] std::error_code validate() const noexcept;

    friend constexpr bool operator==(const backoff&, const backoff&) = default;
};

} // namespace faultline

#include <faultline/retry/impl/backoff.hpp>

#endif

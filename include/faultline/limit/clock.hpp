#ifndef FAULTLINE_LIMIT_CLOCK_HPP
#define FAULTLINE_LIMIT_CLOCK_HPP

#include <faultline/detail/config.hpp>

// A cheaper clock for limiters that read the time on every decision.
//
//     using namespace faultline::limit;
//     token_bucket<coarse_steady_clock> rpm({rate::per_minute(6000), 500});
//     if (!rpm.try_acquire()) ...                       // reads coarse_steady_clock::now()
//
// `coarse_steady_clock` reads CLOCK_MONOTONIC_COARSE: the monotonic clock as of the last
// timer tick, without reading the hardware counter. On Linux its resolution is one tick
// (1/CONFIG_HZ: 4 ms at HZ=250, 1 ms at HZ=1000, 10 ms at HZ=100); `resolution()` says what
// it is on the running kernel. A reading is never ahead of CLOCK_MONOTONIC
// (std::chrono::steady_clock) and lags it by less than one resolution on a ticking CPU.
//
// What that costs a GCRA bucket (`res` = resolution):
//   - in any real-time window of length w it admits at most burst + rate * (w + res) tokens
//     (steady_clock: burst + rate * w);
//   - a refusal's `retry_after` and a decision's `reset` may be up to `res` too long;
//   - time advances in steps of `res`, so a bucket refills in lumps of rate * res tokens, capped
//     by the burst: with burst < rate * res the bucket admits about `burst` per tick, i.e. far
//     less than its rate. Use it where burst >= rate * res (e.g. 1000/s with a burst >= 4 at
//     4 ms), and steady_clock otherwise.
//
// Where CLOCK_MONOTONIC_COARSE does not exist it reads CLOCK_MONOTONIC.

#include <chrono>
#include <cstdint>
#include <ctime>

namespace faultline::limit {

/// A steady clock read from CLOCK_MONOTONIC_COARSE; meets the Clock requirements (and so is
/// usable as any limiter's `Clock` argument). Thread-safe.
struct coarse_steady_clock {
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<coarse_steady_clock>;
    static constexpr bool is_steady = true;

    /// The monotonic time as of the last tick. Same epoch as CLOCK_MONOTONIC.
    [[nodiscard]] static time_point now() noexcept {
        timespec ts{};
        (void)::clock_gettime(id, &ts);
        return time_point(duration(static_cast<rep>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec));
    }

    /// The step between distinct readings on this kernel (clock_getres).
    [[nodiscard]] static duration resolution() noexcept {
        timespec ts{};
        (void)::clock_getres(id, &ts);
        return duration(static_cast<rep>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec);
    }

private:
#ifdef CLOCK_MONOTONIC_COARSE
    static constexpr clockid_t id = CLOCK_MONOTONIC_COARSE;
#else
    static constexpr clockid_t id = CLOCK_MONOTONIC;
#endif
};

} // namespace faultline::limit

#endif

#ifndef FAULTLINE_EXAMPLES_LOADGEN_ARRIVALS_HPP
#define FAULTLINE_EXAMPLES_LOADGEN_ARRIVALS_HPP

// When faultline-loadgen's requests start: the arrival schedule of an open-loop run, and the
// split of a run into a warm-up and the measured part. Both are plain values with no clock of
// their own, so tests step them without sleeping.
//
//     examples::loadgen::arrival_schedule s(arrival_process::poisson, 250.0, seed);
//     auto first = s.next();  // 0 ns: request 0 is due at the start
//     auto second = s.next(); // request 1, on average 4 ms later
//
// A Poisson schedule draws its gaps from faultline's SplitMix64 generator and its own
// inversion, -ln(u) / rate with u uniform in (0, 1] from 53 random bits, never from
// `std::exponential_distribution`, whose output differs between standard libraries: a seed
// gives the same schedule everywhere.

#include <faultline/retry/backoff.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>

namespace examples::loadgen {

/// The highest arrival rate a run accepts, in requests per second (one every microsecond).
inline constexpr double max_rate = 1e6;

/// How the gaps between scheduled requests are drawn.
enum class arrival_process : unsigned char {
    constant, ///< Every gap is 1 / rate.
    poisson,  ///< Exponential gaps of mean 1 / rate: independent arrivals, as users make them.
};

/// "constant" or "poisson". Thread-safe.
[[nodiscard]] std::string_view to_string(arrival_process p) noexcept;

/// The process named `name` ("constant", "poisson"), or none. Thread-safe.
[[nodiscard]] std::optional<arrival_process> parse_arrival_process(std::string_view name) noexcept;

/// Why `rate` cannot be an arrival rate ("the rate must be a number in (0, 1000000]"); empty
/// when it can: finite, above 0, at most `max_rate`. Thread-safe.
[[nodiscard]] std::string_view rate_problem(double rate) noexcept;

/// The due times of requests 0, 1, 2, ... of an open-loop run, as offsets from its start.
/// Request 0 is due at 0; request k + 1 one gap after request k. Offsets are whole
/// nanoseconds, each at least 1 ns after the previous one (a drawn gap below 0.5 ns would
/// otherwise round to nothing). A value type. Not thread-safe.
class arrival_schedule {
public:
    /// The schedule of `process` at `rate` requests per second, its gaps (for `poisson`) drawn
    /// from a generator seeded with `seed`. Throws `std::invalid_argument` with `rate_problem`'s
    /// message for a rate that is not one. Not thread-safe.
    arrival_schedule(arrival_process process, double rate, std::uint64_t seed);

    /// The due time of the next request, since the start of the run; offsets past 10^18 ns
    /// (31 years, only a tiny rate gets there) stay there. Not thread-safe.
    [[nodiscard]] std::chrono::nanoseconds next() noexcept;

    /// The next exponential gap in seconds, -ln(u) / rate with u in (0, 1] from the 53 high bits
    /// of one draw of `g` (a 64-bit URBG such as `faultline::splitmix64`): finite (at most
    /// 36.8 / rate), never negative. Thread-safe given a `g` the caller owns.
    template <class URBG>
    [[nodiscard]] static double exponential_gap(URBG& g, double rate) noexcept {
        static_assert(URBG::min() == 0 && URBG::max() == ~std::uint64_t{0},
                      "exponential_gap needs 64 random bits per draw");
        // 1 + the 53-bit draw: u is never 0, so ln(u) is finite.
        const double u =
            static_cast<double>((static_cast<std::uint64_t>(g()) >> 11) + 1) * 0x1.0p-53;
        return -std::log(u) / rate;
    }

private:
    arrival_process process_;
    double rate_;
    faultline::splitmix64 rng_;
    std::uint64_t index_ = 0;   // requests scheduled so far
    double sum_ns_ = 0;         // poisson: the exact (unrounded) due time of the next request
    std::int64_t last_ns_ = -1; // the previous offset returned
};

/// The split of a run into a warm-up and the measured part, by when each request starts: in a
/// closed loop when a connection takes it, in an open loop when it is scheduled. Requests
/// starting before `measured_from()` are sent but not measured. A value type. Thread-safe.
class warmup_split {
public:
    using time_point = std::chrono::steady_clock::time_point;

    /// A run that starts at `start` with a warm-up of `warmup` (none: everything is measured).
    warmup_split(time_point start, std::optional<std::chrono::milliseconds> warmup) noexcept
        : from_(warmup ? start + *warmup : start) {}

    /// The end of the warm-up: where the report's elapsed time and series start.
    [[nodiscard]] time_point measured_from() const noexcept { return from_; }

    /// Whether a request starting at `request_start` is measured.
    [[nodiscard]] bool measured(time_point request_start) const noexcept {
        return request_start >= from_;
    }

private:
    time_point from_;
};

} // namespace examples::loadgen

#endif

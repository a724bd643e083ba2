#ifndef FAULTLINE_LIMIT_TOKEN_BUCKET_HPP
#define FAULTLINE_LIMIT_TOKEN_BUCKET_HPP

#include <faultline/detail/config.hpp>

// Token buckets: a fixed one (lock-free) and a dynamic one whose rate and burst change at run
// time (lock-free between reconfigurations: see `basic_token_bucket`).
//
//     using namespace faultline::limit;
//     token_bucket<> rpm({rate::per_minute(60), 10});        // 60 requests/min, bursts of 10
//     token_bucket<> tpm({rate::per_minute(150'000), 150'000, initial_fill::full,
//                         faultline::error::tpm_exceeded});
//     if (decision d = tpm.try_acquire(prompt_tokens + max_tokens); !d)
//         return reply_429(d.ec, d.retry_after);
//     ...
//     tpm.release(prompt_tokens + max_tokens - usage.total_tokens);  // correct the estimate
//
// Semantics (GCRA; the Redis limiter keeps the same ones): the bucket holds at most `burst`
// tokens and gains `rate.tokens` per `rate.period`, continuously. State is one "theoretical
// arrival time" (TAT), the instant the bucket would be full again:
//
//   - T = period / tokens (the emission interval), tau = burst * T
//   - available(now)  = floor((tau - max(TAT - now, 0)) / T)
//   - try_acquire(n)  admits iff max(TAT, now) + n*T - tau <= now, then TAT = max(TAT, now) + n*T
//   - a refusal says retry_after = max(TAT, now) + n*T - tau - now, exactly (rounded up to the
//     nanosecond); n > burst is `error::request_exceeds_burst`, at once.
//   - `now` earlier than a time seen before never moves the state backwards: it only makes
//     the bucket look emptier.
//
// Exactness: T is held as an exact fraction (units of 1/u ns) whenever period/tokens reduces
// to a denominator <= 256 (every whole rate per second/minute/hour up to 1e9/s does, and
// decimal rates such as 0.5/s); otherwise T is rounded up by < 1/256 ns, never admitting more
// than the configured rate. Supported: rates from one token per ~146 years to 1e10 per second,
// burst * T < 2^62 units. A bucket untouched for more than about a year (2^63 units) reads as
// full.
//
// Hot path: one atomic 64-bit word. A success is one compare-exchange (repeated only when
// another thread won the race); a refusal only loads the word. A fixed bucket divides by its
// parameters with multiplications prepared at construction, never a hardware divide; a dynamic
// one divides (see its state in impl/token_bucket.hpp).
//
// Clock: every member takes `now` (tests and callers that already hold the time pass it); the
// default reads `Clock::now()`. `coarse_steady_clock` (limit/clock.hpp) is cheaper to read
// but only as fine as a timer tick: see its header for when that is good enough.

#include <faultline/error.hpp>
#include <faultline/limit/clock.hpp>
#include <faultline/limit/decision.hpp>
#include <faultline/limit/detail/gcra.hpp>
#include <faultline/result.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <system_error>

namespace faultline::limit {

/// A refill rate: `tokens` per `period`. A plain value.
struct rate {
    std::uint64_t tokens = 0;
    std::chrono::nanoseconds period{0};

    /// `n` tokens per second; fractional allowed (0.5 = one token every 2 s). Decimal rates are
    /// exact; a value that is not finite, <= 0 or > 1e10 yields an invalid (zero) rate.
    /// Thread-safe.
    [[nodiscard]] static rate per_second(double n) noexcept;
    /// `n` per minute (RPM, TPM). Thread-safe.
    [[nodiscard]] static constexpr rate per_minute(std::uint64_t n) noexcept {
        return {n, std::chrono::minutes(1)};
    }
    /// `n` per `period`. Thread-safe.
    [[nodiscard]] static constexpr rate per(std::uint64_t n,
                                            std::chrono::nanoseconds period) noexcept {
        return {n, period};
    }
    /// Tokens per second as a double, for display. Thread-safe.
    [[nodiscard]] double per_second_value() const noexcept;
};

/// How full a bucket starts.
enum class initial_fill { full, empty };

/// Everything a bucket is configured with. A plain value.
struct bucket_config {
    rate refill;
    std::uint64_t burst = 1;                ///< Capacity in tokens; >= 1.
    initial_fill fill = initial_fill::full; ///< Applies when a bucket (or key) is created.
    error refusal = error::rate_limited;    ///< What a refusal carries: rpm_/tpm_exceeded, ...
};

/// Empty if `c` is usable; `std::errc::invalid_argument` otherwise (zero tokens, period or
/// burst, a rate above 1e10/s, burst * period/tokens beyond the supported range). Thread-safe.
[[nodiscard]] std::error_code validate(const bucket_config& c) noexcept;

/// Whether a bucket's rate, burst and refusal code are fixed at construction or may change.
enum class bucket_kind { fixed, dynamic };

} // namespace faultline::limit

namespace faultline::detail {
template <class Clock, limit::bucket_kind Kind>
class bucket_state;
} // namespace faultline::detail

namespace faultline::limit {

/// A token bucket; `token_bucket` and `dynamic_token_bucket` name its two kinds. Both run the
/// same code: they differ only in where the parameters live (plain members prepared once, or
/// words behind a sequence lock that `reconfigure` republishes).
///
/// Progress: every member of a fixed bucket but `config` is lock-free. A dynamic bucket's are
/// lock-free between reconfigurations; while `reconfigure` publishes its words (a few stores)
/// they spin, so a reconfiguring thread suspended in the middle stalls them until it resumes.
template <class Clock = std::chrono::steady_clock, bucket_kind Kind = bucket_kind::fixed>
class basic_token_bucket {
public:
    using clock = Clock;
    using time_point = typename Clock::time_point;
    static constexpr bucket_kind kind = Kind;

    /// Creates the bucket, full or empty as `config.fill` says, with `now` as its epoch.
    /// Throws `std::system_error` with the code of `validate(config)` if that fails.
    /// Not thread-safe (construction).
    explicit basic_token_bucket(const bucket_config& config, time_point now = Clock::now());

    /// Takes `n` tokens if they are all available at `now`, else none. `n == 0` is admitted and
    /// consumes nothing; `n > burst` is refused with `error::request_exceeds_burst`.
    /// Thread-safe (see Progress): one CAS to admit (repeated only when another thread won the
    /// race), loads only to refuse.
    [[nodiscard]] decision try_acquire(std::uint64_t n = 1, time_point now = Clock::now()) noexcept;

    /// What `try_acquire(n, now)` would answer, consuming nothing. Thread-safe (see Progress).
    [[nodiscard]] decision peek(std::uint64_t n = 1, time_point now = Clock::now()) const noexcept;

    /// Exact time from `now` until `n` tokens are available (zero if they are now), assuming
    /// no other consumer; `error::request_exceeds_burst` if `n > burst`. Thread-safe.
    [[nodiscard]] result<std::chrono::nanoseconds>
    time_until(std::uint64_t n, time_point now = Clock::now()) const noexcept;

    /// Gives back `n` tokens taken earlier (a reservation larger than the real usage); the
    /// bucket never exceeds its burst. Thread-safe (see Progress).
    void release(std::uint64_t n, time_point now = Clock::now()) noexcept;

    /// Whole tokens available at `now`. Thread-safe (see Progress).
    [[nodiscard]] std::uint64_t available(time_point now = Clock::now()) const noexcept;

    /// The burst (capacity) now. Thread-safe (see Progress).
    [[nodiscard]] std::uint64_t burst() const noexcept;
    /// The configuration now. Thread-safe (a dynamic bucket takes its reconfiguration mutex).
    [[nodiscard]] bucket_config config() const;

    /// Dynamic buckets only. Switches to `config` (its `fill` is ignored): the tokens available
    /// at `now` stay available, clamped to the new burst, and refill at the new rate from then
    /// on. Returns the code of `validate(config)` (and changes nothing) if that fails.
    /// Thread-safe: concurrent reconfigurations are serialised by a mutex; other members take
    /// no lock (they retry while a reconfiguration publishes its few words). A caller that read
    /// the old limits cannot commit with them: the reconfiguration always changes the state
    /// word (one unit later if it would be equal). Only an ABA of the full 64-bit word while
    /// that caller is suspended (reconfiguration plus other callers restoring the exact
    /// previous value) could let one such decision through under the old limits.
    std::error_code reconfigure(const bucket_config& config,
                                time_point now = Clock::now()) requires(Kind ==
                                                                        bucket_kind::dynamic);

private:
    template <bool Commit, class Self>
    [[nodiscard]] static decision acquire(Self& self, std::uint64_t n, time_point now) noexcept;
    [[nodiscard]] std::int64_t ns(time_point now) const noexcept;

    std::int64_t epoch_ns_;
    detail::bucket_state<Clock, Kind> state_;
};

/// A token bucket with a fixed rate and burst. Its parameters are plain members: a decision
/// divides by them with multiplications prepared at construction, never a hardware divide.
template <class Clock = std::chrono::steady_clock>
using token_bucket = basic_token_bucket<Clock, bucket_kind::fixed>;

/// A token bucket whose rate, burst and refusal code can change while it is in use
/// (`reconfigure`). Reconfiguring keeps the tokens available at that moment (clamped to the new
/// burst). The hot path is still one CAS / loads only; it also reads the parameter words and a
/// sequence word that changes only when the configuration does.
template <class Clock = std::chrono::steady_clock>
using dynamic_token_bucket = basic_token_bucket<Clock, bucket_kind::dynamic>;

} // namespace faultline::limit

#include <faultline/limit/impl/token_bucket.hpp>

#endif

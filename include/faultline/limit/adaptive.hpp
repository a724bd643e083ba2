#ifndef FAULTLINE_LIMIT_ADAPTIVE_HPP
#define FAULTLINE_LIMIT_ADAPTIVE_HPP

#include <faultline/detail/config.hpp>

// Adaptive concurrency: an in-flight limiter whose limit follows the latency it observes, for a
// gateway in front of an upstream whose capacity nobody configured. Three policies, each a plain
// value with validated options: `aimd` (loss-based), `vegas` (queue estimate against the
// no-load latency) and `gradient2` (ratio of long-term to recent latency).
//
//     using namespace faultline::limit;
//     auto policy = gradient2::make({.min_limit = 4, .max_limit = 512});
//     if (!policy) return policy.error();        // adaptive_error::..., with a clear message
//     adaptive_limiter<gradient2> upstream(policy.value());
//
//     auto p = upstream.try_acquire(clock::now());
//     if (!p) return reply_429(refuse(p.result()));   // error::concurrency_exceeded
//     auto r = call_upstream();
//     if (r.timed_out)       p.on_dropped(clock::now());  // overload signal
//     else if (r.is_client_error) p.on_ignore();          // says nothing about capacity
//     else                   p.on_success(clock::now());  // latency sample
//
// Probes (`adaptive_options::probe`, off by default): Envoy's periodic re-measurement of the
// baseline at a low limit, for Vegas and Gradient2; see `probe_options`.
//
// How it works. `try_acquire` is the fixed `concurrency_limiter`'s fast path (one CAS on the
// in-flight count against an atomic limit). Completions are summarised into windows, as
// Netflix concurrency-limits' `WindowedLimit`, Envoy's adaptive concurrency filter
// (`concurrency_update_interval`) and failsafe-go's `adaptivelimiter` (recent window) all do:
// per-request updates in a closed loop react to samples that describe the load of one round
// trip ago, and overshoot by the number of samples per round trip. A window closes at the first
// completion at or after its end that brings it at least `min_samples` samples; the policy then
// sees one `latency_window` and returns the new limit. The next window lasts twice the smallest
// latency seen, clamped to [min_window, max_window] (Netflix's rule).
//
// Completion kinds (Netflix's `Limiter.Listener`): `on_success(now)` is a latency sample;
// `on_dropped(now)` is a timeout or overload answer (503/529, a reset) and tells every policy to
// back off; `on_ignore()` returns the slot and teaches nothing (a 4xx, a cancelled client). A
// permit destroyed without one of them counts as `on_ignore()`. A success whose latency is not
// positive or is below `ignore_below` is ignored too (a cached answer says nothing about the
// upstream).
//
// The limit can fall below the permits already held: those finish, and admission resumes once
// in-flight is below the new limit.

#include <faultline/error.hpp>
#include <faultline/limit/decision.hpp>
#include <faultline/random.hpp>
#include <faultline/result.hpp>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <type_traits>

namespace faultline::limit {

/// Why adaptive limiter options were refused. Each is also `std::errc::invalid_argument`.
enum class adaptive_error : int {
    limit_zero = 1,         ///< min_limit, initial_limit or max_limit is 0.
    min_above_max,          ///< min_limit > max_limit.
    initial_out_of_range,   ///< initial_limit outside [min_limit, max_limit].
    backoff_out_of_range,   ///< aimd backoff_ratio outside [0.5, 1).
    smoothing_out_of_range, ///< smoothing outside (0, 1] (or NaN).
    tolerance_out_of_range, ///< gradient2 rtt_tolerance below 1 (or not finite).
    timeout_not_positive,   ///< aimd timeout <= 0.
    thresholds_invalid,     ///< vegas alpha == 0 or alpha >= beta.
    long_window_zero,       ///< gradient2 long_window == 0.
    window_invalid,         ///< min_window <= 0, min_window > max_window, or min_samples == 0.
    probe_invalid,          ///< probe: interval < 0, jitter outside [0, 1], limit or samples 0,
                            ///< or timeout <= 0.
};

/// The `std::error_category` of `adaptive_error`. Thread-safe.
[[nodiscard]] const std::error_category& adaptive_error_category() noexcept;
/// Thread-safe.
[[nodiscard]] std::error_code make_error_code(adaptive_error e) noexcept;

} // namespace faultline::limit

namespace faultline::detail {
/// Whether latency stopped answering the limit: over consecutive windows that lowered the
/// limit, it fell by 20% or more while the mean latency stayed within 5% below its value at the
/// start of that stretch. Under queueing, latency falls with the limit; when it does not, the
/// baseline it is judged against is stale (the upstream itself became slower).
class flat_latency {
public:
    /// One window: the limit before and after it, its mean latency in ns. True when stale.
    bool update(double before, double after, double rtt) noexcept;

private:
    bool active_ = false;
    double ref_limit_ = 0;
    double ref_rtt_ = 0;
};
} // namespace faultline::detail

namespace faultline::limit {

/// What a policy sees when a window closes. A plain value.
struct latency_window {
    std::chrono::nanoseconds average_rtt{0}; ///< Mean latency of the successes; 0 if none.
    std::chrono::nanoseconds min_rtt{0};     ///< Smallest success latency; 0 if none.
    std::uint64_t successes = 0;             ///< Latency samples (`on_success`).
    std::uint64_t drops = 0;                 ///< `on_dropped` completions.
    std::uint64_t max_in_flight = 0;         ///< Most permits held when one of them was taken.
    std::uint64_t limit = 0;                 ///< The limit while the window was open.

    /// Every slot was in use at some point: the limit, not the demand, bound the load.
    [[nodiscard]] bool saturated() const noexcept { return max_in_flight >= limit; }
};

/// `aimd` options. Defaults are `AIMDLimit`'s.
struct aimd_options {
    std::uint64_t min_limit = 20;                               ///< Netflix: 20.
    std::uint64_t initial_limit = 20;                           ///< Netflix: 20.
    std::uint64_t max_limit = 200;                              ///< Netflix: 200.
    double backoff_ratio = 0.9;                                 ///< Netflix: 0.9, in [0.5, 1).
    std::chrono::nanoseconds timeout = std::chrono::seconds(5); ///< Netflix: 5 s.
};

/// Loss-based: additive increase while nothing is dropped, multiplicative decrease on a drop or
/// a window whose mean latency exceeds `timeout`. Netflix concurrency-limits `AIMDLimit`, applied
/// once per window (one decrease per window however many requests timed out together, as TCP
/// reduces once per round trip; per request, a burst of N timeouts would cut the limit by 0.9^N).
/// Converges where drops begin: pick `timeout` (or call `on_dropped`) at the latency you accept.
/// Not thread-safe (the limiter serialises calls).
class aimd {
public:
    using options = aimd_options;

    /// Thread-safe.
    [[nodiscard]] static std::error_code validate(const options& o) noexcept;
    /// A policy, or why `o` is invalid. Thread-safe.
    [[nodiscard]] static result<aimd> make(const options& o = {}) noexcept;

    /// The current limit.
    [[nodiscard]] std::uint64_t limit() const noexcept;
    /// Folds one window in; returns the new limit.
    std::uint64_t update(const latency_window& w) noexcept;
    [[nodiscard]] const options& config() const noexcept { return o_; }

private:
    explicit aimd(const options& o) noexcept
        : o_(o)
        , limit_(static_cast<double>(o.initial_limit)) {}
    options o_;
    double limit_;
};

/// `vegas` options. Defaults are `VegasLimit`'s where it has them.
struct vegas_options {
    std::uint64_t min_limit = 1;      ///< Netflix: 1 (fixed).
    std::uint64_t initial_limit = 20; ///< Netflix: 20.
    std::uint64_t max_limit = 1000;   ///< Netflix: 1000 (maxConcurrency).
    double smoothing = 1.0;           ///< Netflix: 1.0, in (0, 1].
    std::uint64_t alpha = 3;          ///< Netflix: 3 * log10(limit); the factor.
    std::uint64_t beta = 6;           ///< Netflix: 6 * log10(limit); the factor.
    std::uint64_t rebase_after = 5;   ///< Envoy: 5 windows at the minimum; 0 = never.
};

/// TCP Vegas over requests: estimates the queue the limit builds at the upstream,
/// `queue = limit * (1 - no_load_rtt / rtt)`, grows while it is small and shrinks when it is
/// large. Netflix concurrency-limits `VegasLimit` with its default functions (log10 =
/// max(1, floor(log10 limit))): threshold = log10, alpha = 3 * log10, beta = 6 * log10; queue
/// <= threshold grows by beta, < alpha grows by log10, > beta shrinks by log10, a drop shrinks
/// by log10; no growth while fewer than half the slots were used.
///
/// Differences, each from a reported problem:
///   - Low limits: with alpha >= 3 and beta >= 6, a limit of 6 or less can never see a queue
///     above beta, so Vegas never shrinks there and settles at about twice a small upstream's
///     capacity. Here beta <= max(2, limit / 3), alpha <= max(1, beta / 2) and
///     threshold < alpha: a queue of a third of the limit (latency 1.5x the no-load
///     latency) always shrinks it.
///   - No-load latency: `VegasLimit` resets it to the current sample every ~30 * limit samples
///     (its probe); under sustained load that sample is queued, so the estimate ratchets up
///     (Netflix concurrency-limits issue "rtt_noload may grow too large"). Here it is the
///     smallest window minimum seen, re-measured from the current window only when it is
///     shown stale: after `rebase_after` consecutive windows at `min_limit` (Envoy re-measures
///     its minRTT after 5 such windows), or when lowering the limit by 20% did not lower the
///     latency by 5% (`detail::flat_latency`: the upstream itself became slower).
/// Not thread-safe (the limiter serialises calls).
class vegas {
public:
    using options = vegas_options;

    /// Thread-safe.
    [[nodiscard]] static std::error_code validate(const options& o) noexcept;
    /// A policy, or why `o` is invalid. Thread-safe.
    [[nodiscard]] static result<vegas> make(const options& o = {}) noexcept;

    [[nodiscard]] std::uint64_t limit() const noexcept;
    std::uint64_t update(const latency_window& w) noexcept;
    /// The no-load latency estimate; 0 before the first sample.
    [[nodiscard]] std::chrono::nanoseconds no_load_rtt() const noexcept { return no_load_; }
    /// A probe's measurement: its smallest latency becomes the no-load latency.
    void rebase(const latency_window& w) noexcept;
    [[nodiscard]] const options& config() const noexcept { return o_; }

private:
    explicit vegas(const options& o) noexcept
        : o_(o)
        , limit_(static_cast<double>(o.initial_limit)) {}
    options o_;
    double limit_;
    std::chrono::nanoseconds no_load_{0};
    std::uint64_t at_min_ = 0;
    detail::flat_latency flat_;
};

/// `gradient2` options. Defaults are `Gradient2Limit`'s.
struct gradient2_options {
    std::uint64_t min_limit = 20;     ///< Netflix: 20.
    std::uint64_t initial_limit = 20; ///< Netflix: 20.
    std::uint64_t max_limit = 200;    ///< Netflix: 200 (maxConcurrency).
    double smoothing = 0.2;           ///< Netflix: 0.2, in (0, 1].
    std::uint64_t queue_size = 4;     ///< Netflix: 4.
    std::uint64_t long_window = 600;  ///< Netflix: 600 (windows here).
    double rtt_tolerance = 1.5;       ///< Netflix: 1.5, >= 1.
    std::uint64_t rebase_after = 5;   ///< Envoy: 5 windows at the minimum; 0 = never.
};

/// Netflix concurrency-limits `Gradient2Limit`: gradient = clamp(tolerance * long_rtt / rtt,
/// 0.5, 1), new = limit * gradient + queue_size, limit = smoothed toward new; long_rtt is an
/// exponential average over `long_window` windows (10-window warm-up), pulled down 5% whenever
/// it is more than twice the recent latency. Settles where the recent latency reaches
/// `rtt_tolerance` times the baseline.
///
/// Differences, each from a reported problem:
///   - `queue_size` is added only when the gradient is 1 (no queueing seen). Under moderate
///     overload (gradient ~0.8) the fixed queue term otherwise lifts the limit without end
///     (Netflix concurrency-limits PR "Gradient2Limit fixes", 2024 discussion).
///   - A window with drops uses the floor gradient 0.5 (same PR); `Gradient2Limit` ignores
///     drops, so an upstream that times out at a steady latency looked healthy (issue
///     "Gradient2Limit in stable timeout situation").
///   - While the window was saturated the baseline may only fall: an average of the latency it
///     is compared against otherwise follows sustained queueing up, the gradient returns to 1
///     and the limit climbs to the maximum. A baseline that has to rise (a slower upstream) is
///     re-measured as Vegas's no-load latency is: after `rebase_after` consecutive windows at
///     `min_limit` (Envoy's rule), or when lowering the limit stopped lowering the latency.
/// Not thread-safe (the limiter serialises calls).
class gradient2 {
public:
    using options = gradient2_options;

    /// Thread-safe.
    [[nodiscard]] static std::error_code validate(const options& o) noexcept;
    /// A policy, or why `o` is invalid. Thread-safe.
    [[nodiscard]] static result<gradient2> make(const options& o = {}) noexcept;

    [[nodiscard]] std::uint64_t limit() const noexcept;
    std::uint64_t update(const latency_window& w) noexcept;
    /// The long-term latency baseline; 0 before the first sample.
    [[nodiscard]] std::chrono::nanoseconds baseline_rtt() const noexcept;
    /// A probe's measurement: its mean latency becomes the baseline.
    void rebase(const latency_window& w) noexcept;
    [[nodiscard]] const options& config() const noexcept { return o_; }

private:
    explicit gradient2(const options& o) noexcept
        : o_(o)
        , limit_(static_cast<double>(o.initial_limit)) {}
    void add_baseline(double rtt, bool only_down) noexcept;
    options o_;
    double limit_;
    double long_rtt_ = 0;
    double warmup_sum_ = 0;
    std::uint64_t warmup_count_ = 0;
    std::uint64_t at_min_ = 0;
    detail::flat_latency flat_;
};

/// A policy with a latency baseline that a probe can re-measure: `rebase` receives the
/// probe's window (latencies taken at the probe's low limit) and makes it the baseline.
template <class P>
concept rebasable_policy = requires(P& p, const latency_window& w) {
    { p.rebase(w) }
    noexcept;
};

/// What an adaptive limiter needs of a policy.
template <class P>
concept adaptive_policy = std::copy_constructible<P> &&
    requires(P& p, const P& cp, const latency_window& w) {
    { cp.limit() }
    noexcept->std::same_as<std::uint64_t>;
    { p.update(w) }
    noexcept->std::same_as<std::uint64_t>;
};

/// Envoy's periodic re-measurement of the no-load latency (adaptive concurrency filter,
/// `min_rtt_calc_params`): every `interval` (plus jitter) the limit drops to `limit` until
/// `samples` successes admitted during the probe have completed; their window is handed to
/// the policy's `rebase`, and the limit returns to the policy's. Defaults are Envoy's, except
/// that it is off unless `interval` is set (Envoy requires one; its examples use 30 to 60 s).
///
/// Why: a baseline learned under load is too high, and nothing in the windows can show it.
/// A Gradient2 limiter that starts above an upstream's capacity averages queued latencies into
/// its baseline, settles where latency is `rtt_tolerance` times that, and stays there; Vegas's
/// smallest latency is inflated the same way. A probe sees the upstream at low concurrency.
/// The price is the probe's time at `limit` (about `samples` / `limit` round trips per
/// `interval`). Policies without `rebase` (aimd) never probe.
struct probe_options {
    std::chrono::nanoseconds interval{0}; ///< 0: never probe (the default).
    double jitter = 0.15;                 ///< Envoy: 15 %; each interval is longer by [0, jitter).
    std::uint64_t limit = 3;              ///< Envoy's min_concurrency: 3.
    std::uint64_t samples = 50;           ///< Envoy's request_count: 50.
    /// A probe that has not gathered `samples` by then ends without a measurement.
    std::chrono::nanoseconds timeout = std::chrono::seconds(30);
    /// The jitter's generator seed; 0 draws one from `std::random_device` (instances differ).
    std::uint64_t seed = 0;
};

/// How completions are grouped and how a refusal reads. Defaults are Netflix
/// `WindowedLimit`'s (window 1 s, at least 10 samples, samples under 100 us ignored).
struct adaptive_options {
    std::chrono::nanoseconds min_window = std::chrono::seconds(1);
    std::chrono::nanoseconds max_window = std::chrono::seconds(1);
    std::uint64_t min_samples = 10;
    std::chrono::nanoseconds ignore_below = std::chrono::microseconds(100);
    /// A refusal's `retry_after` (when a slot frees is not knowable in advance).
    std::chrono::nanoseconds retry_hint = std::chrono::seconds(1);
    error refusal = error::concurrency_exceeded;
    /// Periodic re-measurement of the baseline (off by default).
    probe_options probe = {};
};

/// Empty if `o` is usable, else `adaptive_error::window_invalid` or `probe_invalid`.
/// Thread-safe.
[[nodiscard]] std::error_code validate(const adaptive_options& o) noexcept;

/// An in-flight limiter whose limit `Policy` moves with the latency it observes.
/// Thread-safe: admission is lock-free (one CAS on the in-flight count against an atomic limit,
/// a load to refuse); a completion decrements the count and, unless ignored, takes a mutex to
/// add its sample to the window (and, when the window closes, to run the policy).
template <adaptive_policy Policy, class Clock = std::chrono::steady_clock>
class adaptive_limiter {
public:
    using policy_type = Policy;
    using clock = Clock;
    using time_point = typename Clock::time_point;

    /// A held slot, completed once by `on_success`, `on_dropped` or `on_ignore` (later calls do
    /// nothing); destroyed uncompleted, it counts as `on_ignore`. Movable, not copyable.
    /// Not thread-safe (one owner); the limiter it refers to is.
    class permit {
    public:
        permit() noexcept = default;
        permit(permit&& o) noexcept;
        permit& operator=(permit&& o) noexcept;
        permit(const permit&) = delete;
        permit& operator=(const permit&) = delete;
        ~permit() { on_ignore(); }

        /// Whether a slot is held (admitted and not yet completed).
        [[nodiscard]] explicit operator bool() const noexcept { return owner_ != nullptr; }
        /// The admission decision (admitted, or why not).
        [[nodiscard]] const decision& result() const noexcept { return decision_; }
        /// When the slot was taken.
        [[nodiscard]] time_point start() const noexcept { return start_; }

        /// The request succeeded at `now`: its latency is a sample.
        void on_success(time_point now = Clock::now()) noexcept;
        /// The request timed out or the upstream shed it at `now`: back off.
        void on_dropped(time_point now = Clock::now()) noexcept;
        /// Returns the slot without a sample.
        void on_ignore() noexcept;

    private:
        friend class adaptive_limiter;
        permit(adaptive_limiter* owner, time_point start, std::uint64_t in_flight,
               const decision& d) noexcept
            : owner_(owner)
            , start_(start)
            , in_flight_(in_flight)
            , decision_(d) {}

        adaptive_limiter* owner_ = nullptr;
        time_point start_{};
        std::uint64_t in_flight_ = 0;
        decision decision_;
    };

    /// Throws `std::system_error` if `validate(options)` fails. Not thread-safe (construction).
    explicit adaptive_limiter(const Policy& policy, const adaptive_options& options = {},
                              time_point now = Clock::now());
    adaptive_limiter(const adaptive_limiter&) = delete;
    adaptive_limiter& operator=(const adaptive_limiter&) = delete;

    /// A permit if fewer than `limit()` are held, else an empty one whose `result()` says why
    /// (the configured refusal, `retry_after` = the hint). Thread-safe, lock-free.
    [[nodiscard]] permit try_acquire(time_point now = Clock::now()) noexcept;

    /// The current limit. Thread-safe.
    [[nodiscard]] std::uint64_t limit() const noexcept {
        return limit_.load(std::memory_order_acquire);
    }
    /// Permits held now. Thread-safe.
    [[nodiscard]] std::uint64_t in_flight() const noexcept {
        return in_flight_.load(std::memory_order_acquire);
    }
    /// Windows closed so far (limit updates). Thread-safe (takes the mutex).
    [[nodiscard]] std::uint64_t windows() const;
    /// A copy of the policy's state. Thread-safe (takes the mutex).
    [[nodiscard]] Policy policy() const;
    /// Whether a probe holds the limit at `probe_options::limit` now. Thread-safe (mutex).
    [[nodiscard]] bool probing() const;
    /// Probes that ended with a measurement. Thread-safe (takes the mutex).
    [[nodiscard]] std::uint64_t probes() const;

private:
    enum class outcome { success, dropped };
    void complete(outcome kind, time_point start, std::uint64_t in_flight, time_point now) noexcept;
    void release() noexcept { in_flight_.fetch_sub(1, std::memory_order_acq_rel); }
    static constexpr bool can_probe = rebasable_policy<Policy>;
    // These six under m_.
    void add(outcome kind, std::int64_t rtt) noexcept;
    [[nodiscard]] latency_window window() const noexcept;
    bool probe(outcome kind, time_point start, std::int64_t rtt, time_point now) noexcept;
    void end_probe(bool measured, time_point now) noexcept;
    void open_window(time_point now, std::chrono::nanoseconds length) noexcept;
    [[nodiscard]] time_point next_probe(time_point now) noexcept;

    adaptive_options options_;
    alignas(64) std::atomic<std::uint64_t> in_flight_{0};
    std::atomic<std::uint64_t> limit_;
    alignas(64) mutable std::mutex m_;
    Policy policy_;               // guarded by m_
    time_point window_end_;       // guarded by m_
    std::int64_t rtt_sum_ns_ = 0; // guarded by m_ (the rest of the window too)
    std::int64_t min_rtt_ns_ = 0;
    std::uint64_t successes_ = 0, drops_ = 0, max_in_flight_ = 0, windows_ = 0;
    std::atomic<bool> probe_active_{false}; // written under m_, read with or without it
    time_point probe_due_{};                // when the next probe starts (none without an interval)
    time_point probe_start_{};              // the current probe's start
    std::uint64_t probes_ = 0;
    splitmix64 rng_; // the probe times' jitter
};

} // namespace faultline::limit

template <>
struct std::is_error_code_enum<faultline::limit::adaptive_error> : std::true_type {};

#include <faultline/limit/impl/adaptive.hpp>

#endif

#ifndef FAULTLINE_LIMIT_IMPL_ADAPTIVE_HPP
#define FAULTLINE_LIMIT_IMPL_ADAPTIVE_HPP

#include <algorithm>
#include <cmath>
#include <utility>

namespace faultline::detail {

class adaptive_error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "faultline.limit.adaptive"; }
    std::string message(int v) const override {
        switch (static_cast<limit::adaptive_error>(v)) {
        case limit::adaptive_error::limit_zero:
            return "adaptive limit: min_limit, initial_limit and max_limit must be at least 1";
        case limit::adaptive_error::min_above_max:
            return "adaptive limit: min_limit is greater than max_limit";
        case limit::adaptive_error::initial_out_of_range:
            return "adaptive limit: initial_limit is outside [min_limit, max_limit]";
        case limit::adaptive_error::backoff_out_of_range:
            return "adaptive limit: aimd backoff_ratio must be in [0.5, 1)";
        case limit::adaptive_error::smoothing_out_of_range:
            return "adaptive limit: smoothing must be in (0, 1]";
        case limit::adaptive_error::tolerance_out_of_range:
            return "adaptive limit: gradient2 rtt_tolerance must be a finite value >= 1";
        case limit::adaptive_error::timeout_not_positive:
            return "adaptive limit: aimd timeout must be positive";
        case limit::adaptive_error::thresholds_invalid:
            return "adaptive limit: vegas alpha must be at least 1 and below beta";
        case limit::adaptive_error::long_window_zero:
            return "adaptive limit: gradient2 long_window must be at least 1";
        case limit::adaptive_error::window_invalid:
            return "adaptive limit: min_window must be positive and <= max_window, and "
                   "min_samples at least 1";
        case limit::adaptive_error::probe_invalid:
            return "adaptive limit: probe interval must be >= 0, jitter in [0, 1], limit and "
                   "samples at least 1, and timeout positive";
        }
        return "adaptive limit: unknown error";
    }
    std::error_condition default_error_condition(int v) const noexcept override {
        if (v >= 1 && v <= static_cast<int>(limit::adaptive_error::probe_invalid))
            return std::errc::invalid_argument;
        return {v, *this};
    }
};

[[nodiscard]] inline std::error_code adaptive_check_limits(std::uint64_t min, std::uint64_t initial,
                                                           std::uint64_t max) noexcept {
    if (min == 0 || initial == 0 || max == 0) return limit::adaptive_error::limit_zero;
    if (min > max) return limit::adaptive_error::min_above_max;
    if (initial < min || initial > max) return limit::adaptive_error::initial_out_of_range;
    return {};
}

[[nodiscard]] inline bool adaptive_in_unit_interval(double x) noexcept {
    return x > 0.0 && x <= 1.0;
}

/// Netflix's `Log10RootIntFunction`: max(1, floor(log10(limit))).
[[nodiscard]] inline std::uint64_t adaptive_log10_root(double limit) noexcept {
    std::uint64_t r = 0;
    for (auto l = static_cast<std::uint64_t>(limit); l >= 10; l /= 10)
        ++r;
    return std::max<std::uint64_t>(1, r);
}

inline bool flat_latency::update(double before, double after, double rtt) noexcept {
    if (!(after < before) || rtt <= 0) {
        active_ = false;
        return false;
    }
    // The reference moves to any latency above it (the first windows of an overload still mix
    // latencies from before it) and to any 5% below it (latency answered the limit).
    if (!active_ || rtt > ref_rtt_ || rtt < 0.95 * ref_rtt_) {
        active_ = true;
        ref_limit_ = before;
        ref_rtt_ = rtt;
        return false;
    }
    if (after <= 0.8 * ref_limit_) {
        active_ = false;
        return true;
    }
    return false;
}

[[nodiscard]] inline std::uint64_t adaptive_whole(double limit) noexcept {
    return static_cast<std::uint64_t>(limit);
}

} // namespace faultline::detail

namespace faultline::limit {

inline const std::error_category& adaptive_error_category() noexcept {
    static const detail::adaptive_error_category_impl c;
    return c;
}

inline std::error_code make_error_code(adaptive_error e) noexcept {
    return {static_cast<int>(e), adaptive_error_category()};
}

// --- aimd -------------------------------------------------------------------------------------

inline std::error_code aimd::validate(const options& o) noexcept {
    if (auto ec = detail::adaptive_check_limits(o.min_limit, o.initial_limit, o.max_limit))
        return ec;
    if (!(o.backoff_ratio >= 0.5 && o.backoff_ratio < 1.0))
        return adaptive_error::backoff_out_of_range;
    if (o.timeout.count() <= 0) return adaptive_error::timeout_not_positive;
    return {};
}

inline result<aimd> aimd::make(const options& o) noexcept {
    if (auto ec = validate(o)) return ec;
    return aimd(o);
}

inline std::uint64_t aimd::limit() const noexcept {
    return detail::adaptive_whole(limit_);
}

inline std::uint64_t aimd::update(const latency_window& w) noexcept {
    if (w.drops > 0 || (w.successes > 0 && w.average_rtt > o_.timeout))
        limit_ *= o_.backoff_ratio;
    else if (w.max_in_flight * 2 >=
             detail::adaptive_whole(limit_)) // not while demand is below half
        limit_ += 1;
    limit_ =
        std::clamp(limit_, static_cast<double>(o_.min_limit), static_cast<double>(o_.max_limit));
    return limit();
}

// --- vegas ------------------------------------------------------------------------------------

inline std::error_code vegas::validate(const options& o) noexcept {
    if (auto ec = detail::adaptive_check_limits(o.min_limit, o.initial_limit, o.max_limit))
        return ec;
    if (!detail::adaptive_in_unit_interval(o.smoothing))
        return adaptive_error::smoothing_out_of_range;
    if (o.alpha == 0 || o.alpha >= o.beta) return adaptive_error::thresholds_invalid;
    return {};
}

inline result<vegas> vegas::make(const options& o) noexcept {
    if (auto ec = validate(o)) return ec;
    return vegas(o);
}

inline std::uint64_t vegas::limit() const noexcept {
    return detail::adaptive_whole(limit_);
}

inline std::uint64_t vegas::update(const latency_window& w) noexcept {
    if (w.successes > 0 && (no_load_.count() == 0 || w.min_rtt < no_load_)) no_load_ = w.min_rtt;
    const double l = limit_;
    const std::uint64_t log = detail::adaptive_log10_root(l);
    double next = l;
    if (w.drops > 0) {
        next = l - static_cast<double>(log);
    } else if (w.successes > 0 && w.max_in_flight * 2 >= detail::adaptive_whole(l)) {
        const double ratio =
            static_cast<double>(no_load_.count()) / static_cast<double>(w.average_rtt.count());
        const double queue = std::ceil(l * (1.0 - ratio));
        const std::uint64_t third = detail::adaptive_whole(l) / 3;
        const std::uint64_t beta = std::min(o_.beta * log, std::max<std::uint64_t>(2, third));
        const std::uint64_t alpha = std::min(o_.alpha * log, std::max<std::uint64_t>(1, beta / 2));
        const std::uint64_t threshold = std::min(log, alpha - 1);
        if (queue <= static_cast<double>(threshold))
            next = l + static_cast<double>(beta);
        else if (queue < static_cast<double>(alpha))
            next = l + static_cast<double>(log);
        else if (queue > static_cast<double>(beta))
            next = l - static_cast<double>(log);
    }
    next = std::clamp(next, static_cast<double>(o_.min_limit), static_cast<double>(o_.max_limit));
    limit_ = (1.0 - o_.smoothing) * l + o_.smoothing * next;

    const bool flat =
        w.drops == 0 && flat_.update(l, limit_, static_cast<double>(w.average_rtt.count()));
    at_min_ = detail::adaptive_whole(limit_) <= o_.min_limit ? at_min_ + 1 : 0;
    if (w.successes > 0 && (flat || (o_.rebase_after != 0 && at_min_ >= o_.rebase_after))) {
        no_load_ = w.min_rtt;
        at_min_ = 0;
    }
    return limit();
}

inline void vegas::rebase(const latency_window& w) noexcept {
    if (w.successes == 0) return;
    no_load_ = w.min_rtt;
    at_min_ = 0;
    flat_ = detail::flat_latency{};
}

// --- gradient2 --------------------------------------------------------------------------------

inline std::error_code gradient2::validate(const options& o) noexcept {
    if (auto ec = detail::adaptive_check_limits(o.min_limit, o.initial_limit, o.max_limit))
        return ec;
    if (!detail::adaptive_in_unit_interval(o.smoothing))
        return adaptive_error::smoothing_out_of_range;
    if (!(o.rtt_tolerance >= 1.0 && std::isfinite(o.rtt_tolerance)))
        return adaptive_error::tolerance_out_of_range;
    if (o.long_window == 0) return adaptive_error::long_window_zero;
    return {};
}

inline result<gradient2> gradient2::make(const options& o) noexcept {
    if (auto ec = validate(o)) return ec;
    return gradient2(o);
}

inline std::uint64_t gradient2::limit() const noexcept {
    return detail::adaptive_whole(limit_);
}

inline std::chrono::nanoseconds gradient2::baseline_rtt() const noexcept {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(long_rtt_));
}

inline void gradient2::add_baseline(double rtt, bool only_down) noexcept {
    // Netflix's ExpAvgMeasurement(window, 10): a plain mean for the first 10, then an
    // exponential average with factor 2 / (window + 1).
    if (warmup_count_ < 10) {
        warmup_sum_ += rtt;
        long_rtt_ = warmup_sum_ / static_cast<double>(++warmup_count_);
        return;
    }
    if (only_down) rtt = std::min(rtt, long_rtt_);
    const double f = 2.0 / (static_cast<double>(o_.long_window) + 1.0);
    long_rtt_ = long_rtt_ * (1.0 - f) + rtt * f;
}

inline std::uint64_t gradient2::update(const latency_window& w) noexcept {
    const double l = limit_;
    double gradient = 1.0;
    if (w.drops > 0) {
        gradient = 0.5;
    } else if (w.successes > 0) {
        const auto short_rtt = static_cast<double>(w.average_rtt.count());
        add_baseline(short_rtt, w.saturated());
        if (long_rtt_ / short_rtt > 2.0) long_rtt_ *= 0.95; // recovering from a long overload
        if (static_cast<double>(w.max_in_flight) < l / 2) return limit(); // demand-limited
        gradient = std::clamp(o_.rtt_tolerance * long_rtt_ / short_rtt, 0.5, 1.0);
    } else {
        return limit();
    }
    double next = l * gradient + (gradient >= 1.0 ? static_cast<double>(o_.queue_size) : 0.0);
    next = l * (1.0 - o_.smoothing) + next * o_.smoothing;
    limit_ = std::clamp(next, static_cast<double>(o_.min_limit), static_cast<double>(o_.max_limit));

    const bool flat =
        w.drops == 0 && flat_.update(l, limit_, static_cast<double>(w.average_rtt.count()));
    at_min_ = detail::adaptive_whole(limit_) <= o_.min_limit ? at_min_ + 1 : 0;
    if (w.successes > 0 && (flat || (o_.rebase_after != 0 && at_min_ >= o_.rebase_after))) {
        long_rtt_ = static_cast<double>(w.average_rtt.count());
        at_min_ = 0;
    }
    return limit();
}

inline void gradient2::rebase(const latency_window& w) noexcept {
    if (w.successes == 0) return;
    long_rtt_ = static_cast<double>(w.average_rtt.count());
    warmup_count_ = std::max<std::uint64_t>(warmup_count_, 10); // a measurement, not a guess
    at_min_ = 0;
    flat_ = detail::flat_latency{};
}

// --- adaptive_limiter -------------------------------------------------------------------------

inline std::error_code validate(const adaptive_options& o) noexcept {
    if (o.min_window.count() <= 0 || o.min_window > o.max_window || o.min_samples == 0)
        return adaptive_error::window_invalid;
    const probe_options& p = o.probe;
    if (p.interval.count() < 0 || !(p.jitter >= 0.0 && p.jitter <= 1.0) || p.limit == 0 ||
        p.samples == 0 || p.timeout.count() <= 0)
        return adaptive_error::probe_invalid;
    return {};
}

template <adaptive_policy P, class C>
adaptive_limiter<P, C>::permit::permit(permit&& o) noexcept
    : owner_(std::exchange(o.owner_, nullptr))
    , start_(o.start_)
    , in_flight_(o.in_flight_)
    , decision_(o.decision_) {}

template <adaptive_policy P, class C>
auto adaptive_limiter<P, C>::permit::operator=(permit&& o) noexcept -> permit& {
    if (this != &o) {
        on_ignore();
        owner_ = std::exchange(o.owner_, nullptr);
        start_ = o.start_;
        in_flight_ = o.in_flight_;
        decision_ = o.decision_;
    }
    return *this;
}

template <adaptive_policy P, class C>
void adaptive_limiter<P, C>::permit::on_success(time_point now) noexcept {
    if (auto* owner = std::exchange(owner_, nullptr))
        owner->complete(outcome::success, start_, in_flight_, now);
}

template <adaptive_policy P, class C>
void adaptive_limiter<P, C>::permit::on_dropped(time_point now) noexcept {
    if (auto* owner = std::exchange(owner_, nullptr))
        owner->complete(outcome::dropped, start_, in_flight_, now);
}

template <adaptive_policy P, class C>
void adaptive_limiter<P, C>::permit::on_ignore() noexcept {
    if (auto* owner = std::exchange(owner_, nullptr)) owner->release();
}

template <adaptive_policy P, class C>
adaptive_limiter<P, C>::adaptive_limiter(const P& policy, const adaptive_options& options,
                                         time_point now)
    : options_(options)
    , limit_(policy.limit())
    , policy_(policy)
    , window_end_(now + std::chrono::duration_cast<typename C::duration>(options.min_window)) {
    if (auto ec = validate(options))
        throw std::system_error(ec, "faultline::limit::adaptive_limiter");
    rng_ = options.probe.seed != 0 ? splitmix64(options.probe.seed) : random_seeded<splitmix64>();
    probe_due_ = next_probe(now);
}

template <adaptive_policy P, class C>
auto adaptive_limiter<P, C>::try_acquire(time_point now) noexcept -> permit {
    std::uint64_t cur = in_flight_.load(std::memory_order_acquire);
    for (;;) {
        const std::uint64_t max = limit_.load(std::memory_order_acquire);
        decision d;
        d.limit = max;
        if (cur >= max) {
            // A probe that cannot finish (every completion ignored) must not hold the limit
            // down: past its timeout the next refusal ends it, unless another thread holds
            // the mutex (it checks the same).
            if constexpr (can_probe) {
                if (probe_active_.load(std::memory_order_relaxed)) {
                    std::unique_lock lock(m_, std::try_to_lock);
                    if (lock && probe_active_.load(std::memory_order_relaxed) &&
                        now - probe_start_ >= options_.probe.timeout) {
                        end_probe(false, now);
                        cur = in_flight_.load(std::memory_order_acquire);
                        continue;
                    }
                }
            }
            d.ec = options_.refusal;
            d.retry_after = options_.retry_hint;
            return permit(nullptr, now, cur, d);
        }
        if (in_flight_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel,
                                             std::memory_order_acquire)) {
            d.admitted = true;
            d.remaining = max - cur - 1;
            return permit(this, now, cur + 1, d);
        }
    }
}

template <adaptive_policy P, class C>
void adaptive_limiter<P, C>::complete(outcome kind, time_point start, std::uint64_t in_flight,
                                      time_point now) noexcept {
    release();
    const std::int64_t rtt =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count();
    const bool sample = kind == outcome::success && rtt > 0 && rtt >= options_.ignore_below.count();
    if (kind == outcome::success && !sample) return;

    const std::lock_guard lock(m_);
    if constexpr (can_probe)
        if (probe(kind, start, rtt, now)) return;
    add(kind, rtt);
    max_in_flight_ = std::max(max_in_flight_, in_flight);
    if (now < window_end_ || successes_ + drops_ < options_.min_samples) return;

    const latency_window w = window();
    limit_.store(policy_.update(w), std::memory_order_release);
    ++windows_;
    open_window(now, std::clamp<std::chrono::nanoseconds>(2 * w.min_rtt, options_.min_window,
                                                          options_.max_window));
}

template <adaptive_policy P, class C>
void adaptive_limiter<P, C>::add(outcome kind, std::int64_t rtt) noexcept {
    if (kind == outcome::dropped) {
        ++drops_;
        return;
    }
    rtt_sum_ns_ += rtt;
    min_rtt_ns_ = successes_ == 0 ? rtt : std::min(min_rtt_ns_, rtt);
    ++successes_;
}

template <adaptive_policy P, class C>
latency_window adaptive_limiter<P, C>::window() const noexcept {
    latency_window w;
    w.successes = successes_;
    w.drops = drops_;
    w.max_in_flight = max_in_flight_;
    w.limit = limit_.load(std::memory_order_relaxed);
    if (successes_ > 0) {
        w.average_rtt =
            std::chrono::nanoseconds(rtt_sum_ns_ / static_cast<std::int64_t>(successes_));
        w.min_rtt = std::chrono::nanoseconds(min_rtt_ns_);
    }
    return w;
}

template <adaptive_policy P, class C>
void adaptive_limiter<P, C>::open_window(time_point now, std::chrono::nanoseconds length) noexcept {
    window_end_ = now + std::chrono::duration_cast<typename C::duration>(length);
    rtt_sum_ns_ = 0;
    min_rtt_ns_ = 0;
    successes_ = drops_ = max_in_flight_ = 0;
}

template <adaptive_policy P, class C>
auto adaptive_limiter<P, C>::next_probe(time_point now) noexcept -> time_point {
    const probe_options& p = options_.probe;
    if (!can_probe || p.interval.count() == 0) return time_point::max();
    const double u = uniform01(rng_);
    const auto extra = std::chrono::nanoseconds(
        static_cast<std::int64_t>(u * p.jitter * static_cast<double>(p.interval.count())));
    // Saturating: an interval of years must not wrap into the past.
    const auto wait = std::chrono::duration_cast<typename C::duration>(p.interval) +
                      std::chrono::duration_cast<typename C::duration>(
                          std::min(extra, std::chrono::nanoseconds::max() - p.interval));
    if (now.time_since_epoch().count() > 0 && wait >= time_point::max() - now)
        return time_point::max();
    return now + wait;
}

// One completion while probes are on, under m_. True when it was the probe's to handle.
template <adaptive_policy P, class C>
bool adaptive_limiter<P, C>::probe(outcome kind, time_point start, std::int64_t rtt,
                                   time_point now) noexcept {
    if (!probe_active_.load(std::memory_order_relaxed)) {
        if (now < probe_due_) return false;
        // The window so far mixes in the load before the probe: it is dropped, not judged.
        probe_active_.store(true, std::memory_order_relaxed);
        probe_start_ = now;
        open_window(now, options_.min_window);
        limit_.store(std::min(options_.probe.limit, policy_.limit()), std::memory_order_release);
        return true;
    }
    // Only requests admitted during the probe ran at its limit.
    if (start >= probe_start_) add(kind, rtt);
    if (successes_ >= options_.probe.samples)
        end_probe(true, now);
    else if (now - probe_start_ >= options_.probe.timeout)
        end_probe(false, now);
    return true;
}

template <adaptive_policy P, class C>
void adaptive_limiter<P, C>::end_probe(bool measured, time_point now) noexcept {
    if (measured) {
        if constexpr (can_probe) policy_.rebase(window());
        ++probes_;
    }
    probe_active_.store(false, std::memory_order_relaxed);
    limit_.store(policy_.limit(), std::memory_order_release);
    open_window(now, options_.min_window);
    probe_due_ = next_probe(now);
}

template <adaptive_policy P, class C>
std::uint64_t adaptive_limiter<P, C>::windows() const {
    const std::lock_guard lock(m_);
    return windows_;
}

template <adaptive_policy P, class C>
P adaptive_limiter<P, C>::policy() const {
    const std::lock_guard lock(m_);
    return policy_;
}

template <adaptive_policy P, class C>
bool adaptive_limiter<P, C>::probing() const {
    const std::lock_guard lock(m_);
    return probe_active_.load(std::memory_order_relaxed);
}

template <adaptive_policy P, class C>
std::uint64_t adaptive_limiter<P, C>::probes() const {
    const std::lock_guard lock(m_);
    return probes_;
}

} // namespace faultline::limit

#endif

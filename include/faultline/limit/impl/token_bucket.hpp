#ifndef FAULTLINE_LIMIT_IMPL_TOKEN_BUCKET_HPP
#define FAULTLINE_LIMIT_IMPL_TOKEN_BUCKET_HPP

#include <stdexcept>

namespace faultline::limit {

inline rate rate::per_second(double n) noexcept {
    rate r;
    std::int64_t period = 0;
    detail::gcra_rate_from_double(n, r.tokens, period);
    r.period = std::chrono::nanoseconds(period);
    return r;
}

inline double rate::per_second_value() const noexcept {
    if (period.count() <= 0) return 0;
    return static_cast<double>(tokens) * 1e9 / static_cast<double>(period.count());
}

} // namespace faultline::limit

namespace faultline::detail {

[[nodiscard]] inline std::error_code params_of(const limit::bucket_config& c,
                                               gcra_params& out) noexcept {
    // Above 1e10/s the 1/256 ns granularity would cost more than 4% of the rate.
    if (c.refill.period.count() > 0 &&
        static_cast<double>(c.refill.tokens) * 1e9 / static_cast<double>(c.refill.period.count()) >
            1e10)
        return std::make_error_code(std::errc::invalid_argument);
    return make_gcra_params(c.refill.tokens, c.refill.period.count(), c.burst, out);
}

template <class Clock>
[[nodiscard]] std::int64_t ns_since_epoch(typename Clock::time_point t) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

} // namespace faultline::detail

namespace faultline::limit {

inline std::error_code validate(const bucket_config& c) noexcept {
    detail::gcra_params p;
    return detail::params_of(c, p);
}

// --- token_bucket ---------------------------------------------------------------------------

template <class Clock>
token_bucket<Clock>::token_bucket(const bucket_config& config, time_point now)
    : config_(config)
    , epoch_ns_(detail::ns_since_epoch<Clock>(now)) {
    detail::gcra_params p;
    if (auto ec = detail::params_of(config, p))
        throw std::system_error(ec, "faultline::limit::token_bucket");
    params_ = detail::gcra_fast_params::make(p);
    admitted_.admitted = true;
    refused_.ec = config.refusal;
    tat_.store(config.fill == initial_fill::full ? 0 : params_.tau, std::memory_order_relaxed);
}

template <class Clock>
std::uint64_t token_bucket<Clock>::units(time_point now) const noexcept {
    return detail::gcra_units(detail::ns_since_epoch<Clock>(now) - epoch_ns_, params_.u);
}

// gcra_decide's rule, with the figures of an admission computed once, after the CAS that won
// (a lost race costs a reload and a few adds). Decisions start as copies of prepared ones:
// building an error_code, even an empty one, is a call into the standard library.
template <class Clock>
decision token_bucket<Clock>::try_acquire(std::uint64_t n, time_point now) noexcept {
    const std::uint64_t now_u = units(now);
    std::uint64_t tat = tat_.load(std::memory_order_acquire);
    if (n > params_.burst) [[unlikely]]
        return detail::gcra_oversize(detail::gcra_backlog(tat, now_u, params_), params_);
    const std::uint64_t cost = n * params_.c;
    std::uint64_t b;
    for (;;) {
        b = detail::gcra_backlog(tat, now_u, params_);
        if (cost == 0) break;
        if (b + cost > params_.tau) {
            decision d = refused_;
            detail::gcra_refused(d, b, n, params_);
            return d;
        }
        if (tat_.compare_exchange_weak(tat, now_u + b + cost, std::memory_order_acq_rel,
                                       std::memory_order_acquire))
            break;
    }
    decision d = admitted_;
    detail::gcra_describe(d, b + cost, params_);
    return d;
}

template <class Clock>
decision token_bucket<Clock>::peek(std::uint64_t n, time_point now) const noexcept {
    const std::uint64_t now_u = units(now);
    detail::gcra_step step;
    return detail::gcra_decide(tat_.load(std::memory_order_acquire), now_u, n, params_, refused_.ec,
                               step);
}

template <class Clock>
result<std::chrono::nanoseconds> token_bucket<Clock>::time_until(std::uint64_t n,
                                                                 time_point now) const noexcept {
    if (n > params_.burst) return std::error_code(error::request_exceeds_burst);
    const decision d = peek(n, now);
    return d.admitted ? std::chrono::nanoseconds(0) : d.retry_after;
}

template <class Clock>
void token_bucket<Clock>::release(std::uint64_t n, time_point now) noexcept {
    if (n == 0) return;
    const std::uint64_t now_u = units(now);
    std::uint64_t tat = tat_.load(std::memory_order_acquire);
    for (;;) {
        const std::uint64_t next = detail::gcra_release(tat, now_u, n, params_);
        if (next == tat) return;
        if (tat_.compare_exchange_weak(tat, next, std::memory_order_acq_rel,
                                       std::memory_order_acquire))
            return;
    }
}

template <class Clock>
std::uint64_t token_bucket<Clock>::available(time_point now) const noexcept {
    const std::uint64_t b =
        detail::gcra_backlog(tat_.load(std::memory_order_acquire), units(now), params_);
    return b >= params_.tau ? 0 : detail::gcra_tokens(params_.tau - b, params_);
}

// --- dynamic_token_bucket -------------------------------------------------------------------

template <class Clock>
dynamic_token_bucket<Clock>::dynamic_token_bucket(const bucket_config& config, time_point now)
    : epoch_ns_(detail::ns_since_epoch<Clock>(now))
    , config_(config) {
    detail::gcra_params p;
    if (auto ec = detail::params_of(config, p))
        throw std::system_error(ec, "faultline::limit::dynamic_token_bucket");
    c_.store(p.c);
    u_.store(p.u);
    burst_.store(p.burst);
    tau_.store(p.tau);
    refusal_.store(static_cast<int>(config.refusal));
    tat_.store(config.fill == initial_fill::full ? 0 : p.tau);
}

template <class Clock>
std::int64_t dynamic_token_bucket<Clock>::ns(time_point now) const noexcept {
    return detail::ns_since_epoch<Clock>(now) - epoch_ns_;
}

// A seqlock read: the parameters and the TAT belong together iff the sequence word was even
// and unchanged around them. A reconfiguration changes the TAT too (see reconfigure), so a
// CAS prepared from a stale snapshot fails. All accesses are sequentially consistent: this
// path is not the fixed bucket's and clarity wins.
template <class Clock>
auto dynamic_token_bucket<Clock>::load() const noexcept -> snapshot {
    for (;;) {
        const std::uint64_t s1 = seq_.load();
        if (s1 & 1) continue; // a reconfiguration is publishing; it holds no lock we wait on
        snapshot s;
        s.p = {c_.load(), u_.load(), burst_.load(), tau_.load()};
        s.refusal = static_cast<error>(refusal_.load());
        s.tat = tat_.load();
        s.seq = s1;
        if (seq_.load() == s1) return s;
    }
}

template <class Clock>
decision dynamic_token_bucket<Clock>::try_acquire(std::uint64_t n, time_point now) noexcept {
    const std::int64_t t = ns(now);
    for (;;) {
        const snapshot s = load();
        const std::uint64_t now_u = detail::gcra_units(t, s.p.u);
        detail::gcra_step step;
        const decision d = detail::gcra_decide(s.tat, now_u, n, s.p, s.refusal, step);
        std::uint64_t expected = s.tat;
        if (!step.admit || n == 0 || tat_.compare_exchange_strong(expected, step.new_tat)) return d;
    }
}

template <class Clock>
decision dynamic_token_bucket<Clock>::peek(std::uint64_t n, time_point now) const noexcept {
    const snapshot s = load();
    const std::uint64_t now_u = detail::gcra_units(ns(now), s.p.u);
    detail::gcra_step step;
    return detail::gcra_decide(s.tat, now_u, n, s.p, s.refusal, step);
}

template <class Clock>
result<std::chrono::nanoseconds>
dynamic_token_bucket<Clock>::time_until(std::uint64_t n, time_point now) const noexcept {
    const decision d = peek(n, now);
    if (d.ec == error::request_exceeds_burst) return d.ec;
    return d.admitted ? std::chrono::nanoseconds(0) : d.retry_after;
}

template <class Clock>
void dynamic_token_bucket<Clock>::release(std::uint64_t n, time_point now) noexcept {
    if (n == 0) return;
    const std::int64_t t = ns(now);
    for (;;) {
        const snapshot s = load();
        const std::uint64_t next =
            detail::gcra_release(s.tat, detail::gcra_units(t, s.p.u), n, s.p);
        std::uint64_t expected = s.tat;
        if (next == s.tat || tat_.compare_exchange_strong(expected, next)) return;
    }
}

template <class Clock>
std::uint64_t dynamic_token_bucket<Clock>::available(time_point now) const noexcept {
    const snapshot s = load();
    const std::uint64_t b = detail::gcra_backlog(s.tat, detail::gcra_units(ns(now), s.p.u), s.p);
    return b >= s.p.tau ? 0 : (s.p.tau - b) / s.p.c;
}

template <class Clock>
std::error_code dynamic_token_bucket<Clock>::reconfigure(const bucket_config& config,
                                                         time_point now) {
    detail::gcra_params np;
    if (auto ec = detail::params_of(config, np)) return ec;
    const std::lock_guard lock(reconfigure_mutex_);
    const std::int64_t t = ns(now);
    const std::uint64_t s = seq_.load();
    seq_.store(s + 1); // readers now retry until the new parameters and TAT are both in place
    const detail::gcra_params op{c_.load(), u_.load(), burst_.load(), tau_.load()};
    const std::uint64_t old_now = detail::gcra_units(t, op.u);
    const std::uint64_t new_now = detail::gcra_units(t, np.u);
    std::uint64_t tat = tat_.load();
    for (;;) {
        std::uint64_t next = detail::gcra_convert(tat, old_now, op, new_now, np);
        // A concurrent CAS prepared with the old parameters must fail: force a different word
        // (one unit later: never more permissive).
        if (next == tat) ++next;
        if (tat_.compare_exchange_strong(tat, next)) break;
    }
    c_.store(np.c);
    u_.store(np.u);
    burst_.store(np.burst);
    tau_.store(np.tau);
    refusal_.store(static_cast<int>(config.refusal));
    config_ = config;
    seq_.store(s + 2);
    return {};
}

template <class Clock>
std::uint64_t dynamic_token_bucket<Clock>::burst() const noexcept {
    return load().p.burst;
}

template <class Clock>
bucket_config dynamic_token_bucket<Clock>::config() const {
    const std::lock_guard lock(reconfigure_mutex_);
    return config_;
}

} // namespace faultline::limit

#endif

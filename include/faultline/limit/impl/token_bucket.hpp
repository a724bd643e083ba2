#ifndef FAULTLINE_LIMIT_IMPL_TOKEN_BUCKET_HPP
#define FAULTLINE_LIMIT_IMPL_TOKEN_BUCKET_HPP

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

} // namespace faultline::limit

namespace faultline::detail {

[[nodiscard]] inline gcra_params bucket_params(const limit::bucket_config& c, const char* what) {
    gcra_params p;
    if (auto ec = params_of(c, p)) throw std::system_error(ec, what);
    return p;
}

// A fixed bucket's parameters: plain members, prepared once; a decision reads one atomic word.
template <class Clock>
class bucket_state<Clock, limit::bucket_kind::fixed> {
public:
    // What one decision works on: the parameters and the TAT it loaded.
    struct view {
        const gcra_fast_params& p;
        std::uint64_t tat;
    };

    bucket_state(const limit::bucket_config& c, const gcra_params& p)
        : config_(c)
        , params_(gcra_fast_params::make(p)) {
        admitted_.admitted = true;
        refused_.ec = c.refusal;
        tat_.store(c.fill == limit::initial_fill::full ? 0 : params_.tau,
                   std::memory_order_relaxed);
    }

    [[nodiscard]] view load() const noexcept {
        return {params_, tat_.load(std::memory_order_acquire)};
    }
    // Stores `next` iff the TAT is still `v.tat`; otherwise brings `v` up to date.
    [[nodiscard]] bool commit(view& v, std::uint64_t next) noexcept {
        return tat_.compare_exchange_weak(v.tat, next, std::memory_order_acq_rel,
                                          std::memory_order_acquire);
    }
    // Decisions start as copies of prepared ones: building an error_code, even an empty one, is
    // a call into the standard library.
    [[nodiscard]] const limit::decision& admitted() const noexcept { return admitted_; }
    [[nodiscard]] const limit::decision& refused(const view&) const noexcept { return refused_; }
    [[nodiscard]] limit::bucket_config config() const { return config_; }

private:
    limit::bucket_config config_;
    gcra_fast_params params_;
    limit::decision admitted_; // the figures that do not change: admitted, empty ec
    limit::decision refused_;  // ec = config_.refusal
    alignas(64) std::atomic<std::uint64_t> tat_;
};

// A dynamic bucket's parameters: four words behind a sequence lock. A view holds the
// parameters and the TAT iff the sequence word was even and unchanged around them; a
// reconfiguration changes the TAT too (see reconfigure), so a CAS prepared from a stale view
// fails. All accesses are sequentially consistent: this is not the fixed bucket's path and
// clarity wins. A view carries plain `gcra_params`, so its decisions divide by them: loading
// the prepared dividers too (eight more words per decision) measured slower than the divides
// (benchmarks/limit.cpp, BM_bucket/*/faultline_dynamic).
template <class Clock>
class bucket_state<Clock, limit::bucket_kind::dynamic> {
public:
    struct view {
        gcra_params p;
        error refusal;
        std::uint64_t tat;
    };

    bucket_state(const limit::bucket_config& c, const gcra_params& p)
        : config_(c) {
        admitted_.admitted = true;
        publish(p, c.refusal);
        tat_.store(c.fill == limit::initial_fill::full ? 0 : p.tau);
    }

    [[nodiscard]] view load() const noexcept {
        for (;;) {
            const std::uint64_t s1 = seq_.load();
            if (s1 & 1) continue; // a reconfiguration is publishing; it holds no lock we wait on
            view v;
            v.p = params();
            v.refusal = static_cast<error>(refusal_.load());
            v.tat = tat_.load();
            if (seq_.load() == s1) return v;
        }
    }
    [[nodiscard]] bool commit(view& v, std::uint64_t next) noexcept {
        std::uint64_t expected = v.tat;
        if (tat_.compare_exchange_strong(expected, next)) return true;
        v = load();
        return false;
    }
    [[nodiscard]] const limit::decision& admitted() const noexcept { return admitted_; }
    [[nodiscard]] limit::decision refused(const view& v) const noexcept {
        limit::decision d;
        d.ec = v.refusal;
        return d;
    }
    [[nodiscard]] limit::bucket_config config() const {
        const std::lock_guard lock(reconfigure_mutex_);
        return config_;
    }

    std::error_code reconfigure(const limit::bucket_config& c, std::int64_t t) {
        gcra_params np;
        if (auto ec = params_of(c, np)) return ec;
        const std::lock_guard lock(reconfigure_mutex_);
        const std::uint64_t s = seq_.load();
        seq_.store(s + 1); // readers now retry until the new parameters and TAT are both in place
        const gcra_params op = params();
        const std::uint64_t old_now = gcra_units(t, op.u);
        const std::uint64_t new_now = gcra_units(t, np.u);
        std::uint64_t tat = tat_.load();
        for (;;) {
            std::uint64_t next = gcra_convert(tat, old_now, op, new_now, np);
            // A concurrent CAS prepared with the old parameters must fail: force a different
            // word (one unit later: never more permissive).
            if (next == tat) ++next;
            if (tat_.compare_exchange_strong(tat, next)) break;
        }
        publish(np, c.refusal);
        config_ = c;
        seq_.store(s + 2);
        return {};
    }

private:
    [[nodiscard]] gcra_params params() const noexcept {
        return {c_.load(), u_.load(), burst_.load(), tau_.load()};
    }
    void publish(const gcra_params& p, error refusal) noexcept {
        c_.store(p.c);
        u_.store(p.u);
        burst_.store(p.burst);
        tau_.store(p.tau);
        refusal_.store(static_cast<int>(refusal));
    }

    limit::decision admitted_;
    alignas(64) std::atomic<std::uint64_t> tat_;
    std::atomic<std::uint64_t> seq_{0}; // odd while a reconfiguration is being published
    std::atomic<std::uint64_t> c_, u_, burst_, tau_;
    std::atomic<int> refusal_;
    mutable std::mutex reconfigure_mutex_;
    limit::bucket_config config_; // guarded by reconfigure_mutex_
};

} // namespace faultline::detail

namespace faultline::limit {

// --- basic_token_bucket: the operations of both kinds ----------------------------------------

template <class Clock, bucket_kind Kind>
basic_token_bucket<Clock, Kind>::basic_token_bucket(const bucket_config& config, time_point now)
    : epoch_ns_(detail::ns_since_epoch<Clock>(now))
    , state_(config,
             detail::bucket_params(config, Kind == bucket_kind::fixed
                                               ? "faultline::limit::token_bucket"
                                               : "faultline::limit::dynamic_token_bucket")) {}

template <class Clock, bucket_kind Kind>
std::int64_t basic_token_bucket<Clock, Kind>::ns(time_point now) const noexcept {
    return detail::ns_since_epoch<Clock>(now) - epoch_ns_;
}

// The GCRA rule (see the header; `gcra_try`, which the keyed limiter applies too), with the
// figures of an admission computed once, after the CAS that won (a lost race costs a reload
// and a few adds).
template <class Clock, bucket_kind Kind>
template <bool Commit, class Self>
decision basic_token_bucket<Clock, Kind>::acquire(Self& self, std::uint64_t n,
                                                  time_point now) noexcept {
    const std::int64_t t = self.ns(now);
    auto v = self.state_.load();
    for (;;) {
        const auto& p = v.p;
        const std::uint64_t now_u = detail::gcra_units(t, p.u);
        if (n > p.burst) [[unlikely]]
            return detail::gcra_oversize(detail::gcra_backlog(v.tat, now_u, p), p);
        const detail::gcra_step step = detail::gcra_try(v.tat, now_u, n, p); // the keyed one's
        if (!step.admit) {
            decision d = self.state_.refused(v);
            detail::gcra_refused(d, step.backlog, n, p);
            return d;
        }
        if constexpr (Commit)
            if (n != 0 && !self.state_.commit(v, step.new_tat)) continue;
        decision d = self.state_.admitted();
        detail::gcra_describe(d, step.backlog + n * p.c, p);
        return d;
    }
}

template <class Clock, bucket_kind Kind>
decision basic_token_bucket<Clock, Kind>::try_acquire(std::uint64_t n, time_point now) noexcept {
    return acquire<true>(*this, n, now);
}

template <class Clock, bucket_kind Kind>
decision basic_token_bucket<Clock, Kind>::peek(std::uint64_t n, time_point now) const noexcept {
    return acquire<false>(*this, n, now);
}

template <class Clock, bucket_kind Kind>
result<std::chrono::nanoseconds>
basic_token_bucket<Clock, Kind>::time_until(std::uint64_t n, time_point now) const noexcept {
    const decision d = peek(n, now);
    if (d.admitted) return std::chrono::nanoseconds(0);
    if (n > d.limit) return std::error_code(error::request_exceeds_burst); // the burst it saw
    return d.retry_after;
}

template <class Clock, bucket_kind Kind>
void basic_token_bucket<Clock, Kind>::release(std::uint64_t n, time_point now) noexcept {
    if (n == 0) return;
    const std::int64_t t = ns(now);
    auto v = state_.load();
    for (;;) {
        const std::uint64_t next =
            detail::gcra_release(v.tat, detail::gcra_units(t, v.p.u), n, v.p);
        if (next == v.tat || state_.commit(v, next)) return;
    }
}

template <class Clock, bucket_kind Kind>
std::uint64_t basic_token_bucket<Clock, Kind>::available(time_point now) const noexcept {
    const auto v = state_.load();
    const std::uint64_t b = detail::gcra_backlog(v.tat, detail::gcra_units(ns(now), v.p.u), v.p);
    return b >= v.p.tau ? 0 : detail::gcra_tokens(v.p.tau - b, v.p);
}

template <class Clock, bucket_kind Kind>
std::uint64_t basic_token_bucket<Clock, Kind>::burst() const noexcept {
    return state_.load().p.burst;
}

template <class Clock, bucket_kind Kind>
bucket_config basic_token_bucket<Clock, Kind>::config() const {
    return state_.config();
}

template <class Clock, bucket_kind Kind>
std::error_code basic_token_bucket<Clock, Kind>::reconfigure(
    const bucket_config& config, time_point now) requires(Kind == bucket_kind::dynamic) {
    return state_.reconfigure(config, ns(now));
}

} // namespace faultline::limit

#endif

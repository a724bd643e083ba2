#ifndef FAULTLINE_RETRY_IMPL_RETRY_HPP
#define FAULTLINE_RETRY_IMPL_RETRY_HPP

#include <faultline/pipeline.hpp>

#include <algorithm>

namespace faultline {

namespace detail {

// Turns the pipeline's events into a retry loop's history and `on_retry` calls (before each wait,
// and at each fallback).
struct retry_loop_events {
    std::vector<attempt_record>* history;
    const std::function<void(const attempt_record&)>* on_retry;

    void operator()(const attempt_ended& e) {
        if (!e.failure) return;
        attempt_record rec;
        rec.attempt = e.record.attempt;
        rec.elapsed = e.record.started + e.record.latency;
        rec.what = *e.failure;
        history->push_back(std::move(rec));
    }
    void operator()(const target_refused& e) { not_made(e.hedge, e.at, e.reason); }
    void operator()(const limit_refused& e) { not_made(e.hedge, e.at, e.reason); }
    void not_made(bool hedge, std::chrono::nanoseconds at, const failure& why) {
        if (hedge) return;
        attempt_record rec; // attempt 0: not made
        rec.elapsed = at;
        rec.what = why;
        history->push_back(std::move(rec));
    }
    void operator()(const retry_scheduled& e) {
        history->back().delay = e.delay;
        history->back().delay_from_server = e.from_server;
        if (*on_retry) (*on_retry)(history->back());
    }
    void operator()(const fallback_taken& e) {
        history->back().fallback_to = e.to;
        if (*on_retry) (*on_retry)(history->back());
    }
};

// `retry_options::admission` and `admission_ended` as the pipeline's admission: admitted when
// empty.
template <class Clock>
struct function_admission {
    const std::function<limit::decision(typename Clock::time_point)>* admit;
    const std::function<void(typename Clock::time_point)>* end;

    limit::decision operator()(std::size_t, typename Clock::time_point now) const {
        if (*admit) return (*admit)(now);
        limit::decision d;
        d.admitted = true;
        return d;
    }
    void ended(std::size_t, typename Clock::time_point now) const noexcept {
        if (*admit && *end) (*end)(now);
    }
};

} // namespace detail

template <class Op, class Clock, class Sleeper, class URBG>
requires detail::retry_operation_result<detail::attempt_result_t<Op>>
    retry_result<typename detail::attempt_result_t<Op>::value_type>
    retry(const retry_policy& policy, Op&& op, retry_options<Clock, Sleeper, URBG>& options) {
    using value_type = typename detail::attempt_result_t<Op>::value_type;
    using time_point = typename Clock::time_point;
    pipeline_options po;
    po.retry = policy;
    std::vector<attempt_record> history;
    const time_point start = options.clock.now();
    pipeline<detail::retry_loop_events, Clock, URBG, detail::function_admission<Clock>> p(
        po, start, {&history, &options.on_retry}, options.budget, std::move(options.rng),
        options.cooldowns, {&options.admission, &options.admission_ended});
    struct give_back { // the generator goes on where the loop left it
        URBG& to;
        URBG& from;
        ~give_back() { to = std::move(from); }
    } guard{options.rng, p.rng()};
    time_point now = start;
    for (;;) {
        const step s = p.next(now);
        if (s.what == action::wait) {
            // Waits are over when the sleeper returns, whatever its clock says.
            options.sleep(s.delay);
            now = std::max(options.clock.now(), now + s.delay);
            continue;
        }
        if (s.what == action::give_up) {
            retry_error e;
            e.last = *p.last_failure();
            e.reason = s.reason;
            e.history = std::move(history);
            if (options.on_give_up) options.on_give_up(e);
            return e;
        }
        attempt_context ctx;
        ctx.attempt = s.attempt;
        ctx.elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(now - start);
        auto r = [&] {
            try {
                return detail::invoke_attempt(op, ctx);
            } catch (...) {
                p.abandon(options.clock.now()); // its probe slot goes back before the throw
                throw;
            }
        }();
        now = options.clock.now();
        if (r.has_value()) {
            p.succeeded(s.attempt, now);
            if constexpr (std::is_void_v<value_type>)
                return boost::outcome_v2::success();
            else
                return std::move(r).value();
        }
        p.failed(s.attempt, detail::as_failure(std::move(r).error()), now, ctx.content_delivered);
    }
}

} // namespace faultline

#endif

#ifndef FAULTLINE_RETRY_IMPL_RETRY_HPP
#define FAULTLINE_RETRY_IMPL_RETRY_HPP

namespace faultline {

template <class Op, class Clock, class Sleeper, class URBG>
requires detail::retry_operation_result<detail::attempt_result_t<Op>>
    retry_result<typename detail::attempt_result_t<Op>::value_type>
    retry(const retry_policy& policy, Op&& op, retry_options<Clock, Sleeper, URBG>& options) {
    using value_type = typename detail::attempt_result_t<Op>::value_type;
    const auto start = options.clock.now();
    if (options.budget) options.budget->record_request(start);
    std::vector<attempt_record> history;
    std::chrono::nanoseconds previous{};
    for (unsigned attempt = 1;; ++attempt) {
        attempt_context ctx;
        ctx.attempt = attempt;
        ctx.elapsed =
            std::chrono::duration_cast<std::chrono::nanoseconds>(options.clock.now() - start);
        auto r = detail::invoke_attempt(op, ctx);
        if (r.has_value()) {
            if constexpr (std::is_void_v<value_type>)
                return boost::outcome_v2::success();
            else
                return std::move(r).value();
        }
        const auto now = options.clock.now();
        attempt_record rec;
        rec.attempt = attempt;
        rec.elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(now - start);
        rec.what = detail::as_failure(std::move(r).error());
        retry_decision d = policy.decide(
            rec.what, {attempt, rec.elapsed, previous, ctx.content_delivered}, options.rng);
        if (d.retry && options.budget && !options.budget->try_acquire_retry(now)) {
            d.retry = false;
            d.reason = give_up_reason::budget_exhausted;
        }
        if (!d.retry) {
            retry_error e;
            e.last = rec.what;
            e.reason = d.reason;
            history.push_back(std::move(rec));
            e.history = std::move(history);
            if (options.on_give_up) options.on_give_up(e);
            return e;
        }
        rec.delay = d.delay;
        rec.delay_from_server = d.from_server;
        history.push_back(std::move(rec));
        if (options.on_retry) options.on_retry(history.back());
        options.sleep(d.delay);
        previous = d.delay;
    }
}

} // namespace faultline

#endif

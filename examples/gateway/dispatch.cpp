#include "gateway/dispatch.hpp"

#include <faultline/envelope.hpp>
#include <faultline/limit/refuse.hpp>
#include <faultline/random.hpp>

#include <utility>

namespace examples::gateway {

model_state::model_state(const model_config& m, std::vector<const channel_config*> chs,
                         const faultline::circuit_breaker_options& breaker)
    : model(&m)
    , channels(std::move(chs))
    , pool(std::make_unique<faultline::channel_pool<clock>>(channels.size(), breaker)) {
    failover.targets = channels.size();
    failover.retry.max_attempts = 1;
    for (std::size_t k = 1; k < channels.size(); ++k)
        failover.fallbacks.push_back({std::nullopt, k});
}

reply limit_reply(const answers& say, const admission& refused, std::string_view prefix) {
    const faultline::limit::decision* rq = refused.key_requests ? &*refused.key_requests : nullptr;
    const faultline::limit::decision* tk = refused.key_tokens ? &*refused.key_tokens : nullptr;
    faultline::limit::limit_response lr = faultline::limit::refuse(refused.refusal, rq, tk);
    reply r{lr.status, {}, std::move(lr.headers)};
    std::string message(prefix);
    message += lr.message;
    r.body = faultline::serialize(say.own(faultline::wire_error(lr.ec), message, "").envelope);
    r.headers.push_back(should_retry(faultline::is_retryable(lr.ec)));
    return r;
}

channel_walk::channel_walk(model_state& model, metrics_registry& metrics, clock::time_point now)
    : model_(&model)
    , first_(model.pool->pick(now))
    , route_(model.failover, now, route_events{&metrics, model.model->id}, nullptr,
             faultline::splitmix64{}) {}

const channel_config* channel_walk::next(clock::time_point now) {
    if (!first_) return nullptr; // every breaker open
    const std::size_t n = model_->channels.size();
    for (step_ = route_.next(now); step_.what == faultline::action::attempt;
         step_ = route_.next(now)) {
        channel_ = (first_.value() + step_.target) % n;
        // The first channel's breaker admitted the call inside pick(); ask the others here.
        if (step_.target == 0 || (*model_->pool)[channel_].try_acquire(now))
            return model_->channels[channel_];
        passed_over("circuit open", now);
    }
    return nullptr;
}

faultline::circuit_breaker<clock>& channel_walk::breaker() noexcept {
    return (*model_->pool)[channel_];
}

void channel_walk::passed_over(std::string_view why, clock::time_point now) {
    route_.failed(step_.attempt,
                  faultline::to_failure(faultline::error::no_available_channel, std::string(why)),
                  now);
}

void channel_walk::at_adaptive_limit(const faultline::limit::decision& refusal,
                                     clock::time_point now) {
    breaker().record_neutral(now);
    adaptive_refusal_ = refusal;
    passed_over("at its adaptive limit", now);
}

void channel_walk::at_rate_limit(admission refused, clock::time_point now) {
    breaker().record_neutral(now);
    channel_refusal_ = std::move(refused);
    passed_over("at its rate limit", now);
}

void channel_walk::failed(faultline::failure f, clock::time_point now) {
    const route_events& events = route_.events();
    events.metrics->circuit_changed(events.model, model_->channels[channel_]->name,
                                    breaker().record(f, now));
    route_.failed(step_.attempt, f, now);
    last_ = std::move(f);
    last_channel_ = model_->channels[channel_]->name;
}

reply channel_walk::answer(const answers& say, std::string_view request_id, const log_fn& log,
                           clock::time_point now) {
    const std::string& model_id = model_->model->id;
    if (last_) {
        if (last_->cat == faultline::category::rate_limited)
            last_->message = "upstream-level limit: the provider behind channel " + last_channel_ +
                             " said: " + last_->message;
        return say.failure(*last_, request_id);
    }
    if (channel_refusal_)
        return limit_reply(say, *channel_refusal_,
                           "upstream-level limit: every channel of model '" + model_id +
                               "' is at its limit. ");
    if (adaptive_refusal_) {
        // The upstreams are at the load they take now: the gateway's own overload, as its
        // connection limit answers it.
        if (log)
            log("overloaded model=" + model_id + " event_id=" + std::string(request_id) +
                ": every channel at its adaptive limit");
        return say.busy("Every channel of model " + model_id +
                            " is at its adaptive concurrency limit. Retry shortly.",
                        request_id, adaptive_refusal_->retry_after);
    }
    reply r = say.error(faultline::error::no_available_channel,
                        "No available channel for model " + model_id +
                            ": every channel's circuit is open.",
                        request_id);
    if (log) log("no_available_channel model=" + model_id + " event_id=" + std::string(request_id));
    if (const auto wait = model_->pool->retry_after(now); wait.count() > 0) {
        const auto h = faultline::limit::retry_after_headers(wait);
        r.headers.insert(r.headers.end(), h.begin(), h.end());
    }
    return r;
}

} // namespace examples::gateway

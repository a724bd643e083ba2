#include "gateway/admission.hpp"

#include <faultline/limit/refuse.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <utility>

namespace examples::gateway {

namespace {

faultline::limit::priority_options priority_options_of(const shedding_config& c) {
    faultline::limit::priority_options o;
    o.max_waiters = c.max_waiters;
    o.shed_start = c.shed_start;
    o.max_wait = c.max_wait;
    o.refusal = faultline::error::overloaded;
    return o;
}

} // namespace

admission_stage::admission_stage(const gateway_config& config, const answers& say,
                                 metrics_registry& metrics, clock_fn now, log_fn log)
    : config_(config)
    , say_(say)
    , metrics_(metrics)
    , now_(std::move(now))
    , log_(std::move(log))
    , concurrency_(config) {
    if (config.shedding.enabled()) {
        slots_ = std::make_unique<faultline::limit::concurrency_limiter>(
            config.shedding.max_in_flight, std::chrono::seconds(1), faultline::error::overloaded);
        shedding_ = std::make_unique<shedder>(*slots_, priority_options_of(config.shedding));
    }
}

admission_stage::~admission_stage() = default;

void admission_stage::pass::release() noexcept {
    permits_.key.release();
    permits_.user.release();
    if (slot_) slot_.release(stage_->now_());
}

std::size_t admission_stage::waiting() const {
    return shedding_ ? shedding_->waiting() : 0;
}

net::awaitable<std::variant<admission_stage::pass, reply, client_gone>>
admission_stage::admit(const net::any_io_executor& ex, const key_config& key,
                       faultline::limit::priority p, std::string id, client_watch& watch) {
    pass held;
    held.stage_ = this;
    if (config_.limits_enabled) {
        const user_config* user = key.user.empty() ? nullptr : config_.find_user(key.user);
        held.permits_ = concurrency_.acquire(key, user);
        if (const std::optional<level> refused = held.permits_.refused) {
            metrics_.limit_refused(*refused, limit_kind::concurrency);
            const faultline::limit::limit_response lr =
                faultline::limit::refuse(held.permits_.refusal);
            reply r = say_.error(faultline::error::concurrency_exceeded,
                                 std::string(to_string(*refused)) + "-level limit: " +
                                     std::to_string(held.permits_.refusal.limit) +
                                     " requests in flight at once. Wait for one to finish, or "
                                     "lower your concurrency.",
                                 id);
            r.headers.insert(r.headers.end(), lr.headers.begin(), lr.headers.end());
            co_return r;
        }
    }
    if (!shedding_) co_return held;
    co_return co_await take_slot(ex, std::move(held), key, p, id, watch);
}

net::awaitable<std::variant<admission_stage::pass, reply, client_gone>>
admission_stage::take_slot(const net::any_io_executor& ex, pass held, const key_config& key,
                           faultline::limit::priority p, const std::string& id,
                           client_watch& watch) {
    using faultline::limit::ticket_state;
    const std::string level(faultline::limit::to_string(p));
    const auto log = [&](const std::string& line) {
        if (log_) log_(line);
    };
    // The timer is shared with the ticket's callback, which may run after this frame is gone.
    auto wake = std::make_shared<net::steady_timer>(ex);
    shedder::ticket t;
    t.on_ready([wake, ex] { net::post(ex, [wake] { wake->cancel(); }); });
    const clock::time_point arrived = now_();
    const bool queued = shedding_->acquire(t, p, arrived) == ticket_state::waiting;
    if (queued) {
        queued_.fetch_add(1, std::memory_order_relaxed);
        log("queued priority=" + level + " key=" + key.id + " event_id=" + id +
            " waiting=" + std::to_string(shedding_->waiting()));
        watch.wait = wake.get();
        while (t.state() == ticket_state::waiting && !watch.gone) {
            // The deadline is on the gateway's clock; the timer only wakes this loop to look.
            wake->expires_after(
                std::max<clock::duration>(t.deadline() - now_(), std::chrono::milliseconds(1)));
            (void)co_await wake->async_wait(net::as_tuple(net::use_awaitable));
            shedding_->expire(now_());
        }
        watch.wait = nullptr;
        t.cancel(); // the client went away while it waited (nothing if decided)
    }
    if (watch.gone) {
        abandoned_.fetch_add(1, std::memory_order_relaxed);
        log("abandoned priority=" + level + " key=" + key.id + " event_id=" + id +
            ": the client went away while it waited");
        if (t.state() == ticket_state::admitted) t.take().release(now_());
        co_return client_gone{};
    }
    if (t.state() == ticket_state::admitted) {
        held.slot_ = t.take();
        if (queued)
            log("admitted priority=" + level + " key=" + key.id + " event_id=" + id +
                " waited_ms=" +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(now_() - arrived)
                        .count()));
        co_return std::move(held);
    }
    shed_.fetch_add(1, std::memory_order_relaxed);
    const faultline::limit::decision& d = t.result();
    const faultline::limit::refusal_reason why = t.reason();
    log("shed priority=" + level + " key=" + key.id + " event_id=" + id +
        " reason=" + std::string(faultline::limit::to_string(why)));
    co_return say_.busy(
        "The gateway is overloaded: " + std::to_string(d.limit) +
            " requests in service and more waiting; lower priorities are refused first. This "
            "request (priority " +
            level + ") was " +
            (why == faultline::limit::refusal_reason::shed ? std::string("refused on arrival")
             : why == faultline::limit::refusal_reason::displaced
                 ? std::string("pushed out of the queue by a higher priority")
                 : std::string("not served within the queue's wait limit")) +
            ". Retry shortly.",
        id, d.retry_after);
}

} // namespace examples::gateway

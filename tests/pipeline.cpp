#include <faultline/exchange.hpp>
#include <faultline/limit/composite.hpp>
#include <faultline/limit/token_bucket.hpp>
#include <faultline/pipeline.hpp>

#include "limit/manual_clock.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace fl = faultline;
using namespace std::chrono_literals;
using faultline_test::at;
using faultline_test::manual_clock;

namespace {

// Records every event as a line, in order.
struct recorder {
    std::vector<std::string>* lines;
    void operator()(const fl::attempt_started& e) {
        lines->push_back("start " + std::to_string(e.record.attempt) + " on " +
                         std::to_string(e.record.target) + (e.record.hedge ? " hedge" : "") +
                         (e.fallback ? " fallback" : ""));
    }
    void operator()(const fl::attempt_ended& e) {
        lines->push_back(
            "end " + std::to_string(e.record.attempt) + " " +
            (e.failure ? std::string(fl::to_string(e.failure->code)) : std::string("ok")) +
            " after " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::milliseconds>(e.record.latency).count()) +
            " ms");
    }
    void operator()(const fl::retry_scheduled& e) {
        lines->push_back(
            "retry in " +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(e.delay).count()) +
            " ms" + (e.from_server ? " (server)" : ""));
    }
    void operator()(const fl::fallback_taken& e) {
        lines->push_back("fallback " + std::to_string(e.from) + " -> " + std::to_string(e.to));
    }
    void operator()(const fl::gave_up& e) {
        lines->push_back("give up " + std::string(fl::to_string(e.reason)));
    }
    void operator()(const fl::target_refused& e) {
        lines->push_back("refused " + std::to_string(e.target) + (e.hedge ? " hedge" : "") + " " +
                         std::string(fl::to_string(e.reason.code)) + " for " +
                         std::to_string(e.reason.retry_after ? e.reason.retry_after->count() : 0) +
                         " ms");
    }
};

// Every event: the recorder's, the breakers' changes, the streams' verdicts and the limits'
// refusals.
struct every_event : recorder {
    using recorder::operator();
    void operator()(const fl::breaker_changed& e) {
        lines->push_back(
            "breaker " + std::to_string(e.target) + " " +
            std::string(fl::to_string(e.change.from)) + " -> " +
            std::string(fl::to_string(e.change.to)) + " at " +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(e.at).count()) +
            " ms");
    }
    void operator()(const fl::stream_ended& e) {
        lines->push_back(
            "stream " + std::to_string(e.record.attempt) + " " +
            std::string(fl::sse::to_string(e.verdict.kind)) +
            (e.verdict.failure ? " " + std::string(fl::to_string(e.verdict.failure->code)) : "") +
            " at " +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(e.at).count()) +
            " ms");
    }
    void operator()(const fl::limit_refused& e) {
        lines->push_back(
            "limited " + std::to_string(e.target) + (e.hedge ? " hedge" : "") + " level " +
            std::to_string(e.level) + " " + std::string(fl::to_string(e.reason.code)) + " for " +
            std::to_string(e.reason.retry_after ? e.reason.retry_after->count() : 0) + " ms");
    }
};

// Calls in flight, at most `max`: each admitted attempt holds one until it ends.
struct in_flight {
    unsigned max = 1;
    unsigned* held;
    unsigned* ends;
    fl::limit::decision operator()(std::size_t, manual_clock::time_point) {
        fl::limit::decision d;
        if (*held >= max) {
            d.ec = fl::error::concurrency_exceeded;
            return d;
        }
        ++*held;
        d.admitted = true;
        return d;
    }
    void ended(std::size_t, manual_clock::time_point) noexcept {
        --*held;
        ++*ends;
    }
};

template <class Admit>
using limited_pipe = fl::pipeline<every_event, manual_clock, fl::splitmix64, Admit>;

// A call from 0 s that records its events in `ev` and asks `admit` before each attempt.
template <class Admit>
limited_pipe<Admit> limited_from_zero(const fl::pipeline_options& o, std::vector<std::string>& ev,
                                      Admit admit) {
    return {o, at(0s), every_event{{&ev}}, nullptr, fl::splitmix64{1}, nullptr, std::move(admit)};
}

// Only some events: the others are not passed.
struct hedges_only {
    int* hedges;
    void operator()(const fl::attempt_started& e) { *hedges += e.record.hedge ? 1 : 0; }
};

using pipe_t = fl::pipeline<recorder, manual_clock>;

fl::failure fail(fl::error e, std::optional<std::chrono::milliseconds> hint = std::nullopt) {
    fl::failure f = fl::to_failure(make_error_code(e));
    f.retry_after = hint;
    return f;
}

fl::pipeline_options quick() {
    fl::pipeline_options o;
    o.retry.delay = fl::backoff::constant(100ms);
    return o;
}

// Attempt 1 at 0 s, a hedge beside it at 1 s, then attempt 1's retryable failure at 1.2 s.
void hedge_then_fail_the_first(pipe_t& p) {
    (void)p.next(at(0s));
    (void)p.next(at(1s)); // hedge 2
    p.failed(1, fail(fl::error::upstream_timeout), at(1200ms));
}

// A call from 0 s with `quick()` options, its every event recorded in `ev`.
struct watched_call {
    std::vector<std::string> ev;
    const fl::pipeline_options o = quick();
    fl::pipeline<every_event, manual_clock> p{o, at(0s), every_event{{&ev}}};
};

// What a client saw of an attempt: an `exchange` that `end_attempt` reports.
using exchange_t = fl::exchange<fl::sse::null_monitor_handler, manual_clock>;
using hdrs = std::vector<std::pair<std::string, std::string>>;
const hdrs sse_type{{"Content-Type", "text/event-stream"}};
const hdrs json_type{{"Content-Type", "application/json"}};
constexpr std::string_view content = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";

} // namespace

BOOST_AUTO_TEST_SUITE(pipeline)

// A failure passed as an lvalue is copied into the storage of the one before it: nothing of the
// earlier failure (its hint, its type, its event id) may survive into the later one.
BOOST_AUTO_TEST_CASE(each_failure_replaces_the_last_whole_however_it_is_passed) {
    std::vector<std::string> ev;
    const fl::pipeline_options o = quick();
    pipe_t p(o, at(0s), recorder{&ev});
    BOOST_TEST(!p.last_failure());
    fl::step s = p.next(at(0s));
    fl::failure first = fail(fl::error::rate_limited, 2s);
    first.type = "rate_limit_error";
    first.event_id = "evt-1";
    first.provider_code = std::string("rate_limit_exceeded");
    first.message = std::string(100, 'm'); // on the heap
    p.failed(s.attempt, first, at(1s));    // an lvalue
    BOOST_REQUIRE(p.last_failure());
    BOOST_TEST(p.last_failure()->message == first.message);
    BOOST_TEST(first.message == std::string(100, 'm')); // copied, not moved from
    s = p.next(at(3s));
    BOOST_TEST((s.what == fl::action::attempt));
    const fl::failure second = fail(fl::error::upstream_unavailable);
    p.failed(s.attempt, second, at(4s));
    const fl::failure* last = p.last_failure();
    BOOST_REQUIRE(last);
    BOOST_TEST((last->code == fl::error::upstream_unavailable));
    BOOST_TEST(!last->retry_after);
    BOOST_TEST(!last->type);
    BOOST_TEST(!last->event_id);
    BOOST_TEST((last->provider_code.index() == 0));
    BOOST_TEST(last->message == second.message);
    // An rvalue, whose optional members the one before left empty: each arrives whole.
    s = p.next(at(10s));
    fl::failure third = fail(fl::error::overloaded, 1s);
    third.status = 529;
    third.type = "overloaded_error";
    third.event_id = "evt-3";
    third.provider_code = std::int64_t{529};
    const fl::failure expected = third;
    p.failed(s.attempt, std::move(third), at(11s));
    last = p.last_failure();
    BOOST_TEST((last->code == fl::error::overloaded));
    BOOST_TEST((last->cat == expected.cat));
    BOOST_TEST(last->retryable == expected.retryable);
    BOOST_TEST((last->retry_after == std::optional<std::chrono::milliseconds>(1s)));
    BOOST_TEST(last->status == 529u);
    BOOST_TEST(last->message == expected.message);
    BOOST_TEST((last->type == expected.type));
    BOOST_TEST((last->event_id == expected.event_id));
    BOOST_TEST((last->provider_code == expected.provider_code));
}

BOOST_AUTO_TEST_CASE(first_attempt_then_success) {
    std::vector<std::string> ev;
    const fl::pipeline_options o = quick();
    pipe_t p(o, at(0s), recorder{&ev});
    fl::step s = p.next(at(0s));
    BOOST_TEST((s.what == fl::action::attempt));
    BOOST_TEST(s.attempt == 1u);
    BOOST_TEST(s.target == 0u);
    s = p.next(at(10ms));
    BOOST_TEST((s.what == fl::action::wait));
    BOOST_TEST((s.delay == std::chrono::nanoseconds::max()));
    p.succeeded(1, at(250ms));
    s = p.next(at(250ms));
    BOOST_TEST((s.what == fl::action::succeeded));
    BOOST_TEST(s.final());
    BOOST_TEST(p.running() == 0u);
    BOOST_TEST((ev == std::vector<std::string>{"start 1 on 0", "end 1 ok after 250 ms"}));
}

BOOST_AUTO_TEST_CASE(retry_waits_for_the_servers_hint) {
    std::vector<std::string> ev;
    const fl::pipeline_options o = quick();
    pipe_t p(o, at(0s), recorder{&ev});
    (void)p.next(at(0s));
    p.failed(1, fail(fl::error::rate_limited, 2s), at(1s));
    fl::step s = p.next(at(1s));
    BOOST_TEST((s.what == fl::action::wait));
    BOOST_TEST((s.delay == 2s));
    s = p.next(at(2s));
    BOOST_TEST((s.delay == 1s));
    s = p.next(at(3s));
    BOOST_TEST((s.what == fl::action::attempt));
    BOOST_TEST(s.attempt == 2u);
    p.succeeded(2, at(3500ms));
    BOOST_TEST((p.next(at(3500ms)).what == fl::action::succeeded));
    BOOST_TEST((ev == std::vector<std::string>{"start 1 on 0", "end 1 rate_limited after 1000 ms",
                                               "retry in 2000 ms (server)", "start 2 on 0",
                                               "end 2 ok after 500 ms"}));
}

BOOST_AUTO_TEST_CASE(a_failure_nothing_retries_gives_up) {
    std::vector<std::string> ev;
    const fl::pipeline_options o = quick();
    pipe_t p(o, at(0s), recorder{&ev});
    (void)p.next(at(0s));
    p.failed(1, fail(fl::error::invalid_request), at(1s));
    const fl::step s = p.next(at(1s));
    BOOST_TEST((s.what == fl::action::give_up));
    BOOST_TEST((s.reason == fl::give_up_reason::not_retryable));
    BOOST_REQUIRE(p.last_failure());
    BOOST_TEST((p.last_failure()->code == fl::error::invalid_request));
    BOOST_TEST(ev.back() == "give up not_retryable");
}

BOOST_AUTO_TEST_CASE(attempts_are_bounded) {
    std::vector<std::string> ev;
    fl::pipeline_options o = quick();
    o.retry.max_attempts = 2;
    pipe_t p(o, at(0s), recorder{&ev});
    (void)p.next(at(0s));
    p.failed(1, fail(fl::error::internal_error), at(0s));
    BOOST_TEST((p.next(at(100ms)).what == fl::action::attempt));
    p.failed(2, fail(fl::error::internal_error), at(100ms));
    const fl::step s = p.next(at(100ms));
    BOOST_TEST((s.reason == fl::give_up_reason::attempts_exhausted));
    BOOST_TEST(p.history().size() == 2u);
}

BOOST_AUTO_TEST_CASE(each_class_can_have_its_own_policy) {
    std::vector<std::string> ev;
    fl::pipeline_options o = quick();
    o.by_category[static_cast<int>(fl::category::overloaded)] = fl::retry_policy{};
    o.by_category[static_cast<int>(fl::category::overloaded)]->max_attempts = 1;
    {
        pipe_t p(o, at(0s), recorder{&ev});
        (void)p.next(at(0s));
        p.failed(1, fail(fl::error::overloaded), at(0s));
        BOOST_TEST((p.next(at(0s)).reason == fl::give_up_reason::attempts_exhausted));
    }
    {
        pipe_t p(o, at(0s), recorder{&ev});
        (void)p.next(at(0s));
        p.failed(1, fail(fl::error::upstream_unavailable), at(0s));
        BOOST_TEST((p.next(at(0s)).what == fl::action::wait));
    }
}

BOOST_AUTO_TEST_CASE(context_length_falls_back_to_a_larger_model_at_once) {
    std::vector<std::string> ev;
    fl::pipeline_options o = quick();
    o.targets = 2;
    o.fallbacks = {{fl::category::context_length_exceeded, 1}};
    pipe_t p(o, at(0s), recorder{&ev});
    (void)p.next(at(0s));
    p.failed(1, fail(fl::error::context_length_exceeded), at(1s));
    fl::step s = p.next(at(1s));
    BOOST_TEST((s.what == fl::action::attempt));
    BOOST_TEST(s.target == 1u);
    BOOST_TEST(s.fallback);
    // The larger model fails the same way: no target is used twice.
    p.failed(2, fail(fl::error::context_length_exceeded), at(2s));
    s = p.next(at(2s));
    BOOST_TEST((s.what == fl::action::give_up));
    BOOST_TEST((s.reason == fl::give_up_reason::not_retryable));
    BOOST_TEST((ev == std::vector<std::string>{
                          "start 1 on 0", "end 1 context_length_exceeded after 1000 ms",
                          "fallback 0 -> 1", "start 2 on 1 fallback",
                          "end 2 context_length_exceeded after 1000 ms", "give up not_retryable"}));
}

BOOST_AUTO_TEST_CASE(a_fallback_comes_after_the_targets_retries_and_starts_afresh) {
    std::vector<std::string> ev;
    fl::pipeline_options o = quick();
    o.retry.max_attempts = 2;
    o.targets = 3;
    o.fallbacks = {{fl::category::content_filter, 2}, {fl::category::upstream_unavailable, 1}};
    pipe_t p(o, at(0s), recorder{&ev});
    (void)p.next(at(0s));
    p.failed(1, fail(fl::error::upstream_unavailable), at(0s));
    BOOST_TEST((p.next(at(100ms)).target == 0u));
    p.failed(2, fail(fl::error::upstream_unavailable), at(100ms));
    fl::step s = p.next(at(100ms));
    BOOST_TEST(s.target == 1u);
    BOOST_TEST(s.fallback);
    p.failed(3, fail(fl::error::upstream_unavailable), at(200ms));
    s = p.next(at(300ms)); // a retry on the new target: its attempts count afresh
    BOOST_TEST((s.what == fl::action::attempt));
    BOOST_TEST(s.target == 1u);
    BOOST_TEST(!s.fallback);
    p.failed(4, fail(fl::error::content_filter), at(300ms));
    s = p.next(at(300ms));
    BOOST_TEST(s.target == 2u);
    p.succeeded(5, at(400ms));
    BOOST_TEST((p.next(at(400ms)).what == fl::action::succeeded));
}

// Failover, as a gateway moves through its channels: every retryable failure moves the call to
// the next target not used yet; one that is not retryable ends it where it is. A rule for a
// class comes first when it is listed first.
BOOST_AUTO_TEST_CASE(failover_rules_move_retryable_failures_through_the_targets_in_order) {
    std::vector<std::string> ev;
    fl::pipeline_options o = quick();
    o.retry.max_attempts = 1;
    o.targets = 4;
    o.fallbacks = {
        {fl::category::content_filter, 3}, {std::nullopt, 1}, {std::nullopt, 2}, {std::nullopt, 3}};
    {
        pipe_t p(o, at(0s), recorder{&ev});
        (void)p.next(at(0s));
        p.failed(1, fail(fl::error::upstream_unavailable), at(1s));
        fl::step s = p.next(at(1s));
        BOOST_TEST((s.what == fl::action::attempt));
        BOOST_TEST(s.target == 1u);
        BOOST_TEST(s.fallback);
        p.failed(2, fail(fl::error::rate_limited, 1s), at(2s));
        s = p.next(at(2s));
        BOOST_TEST(s.target == 2u);
        p.failed(3, fail(fl::error::overloaded), at(3s));
        s = p.next(at(3s));
        BOOST_TEST(s.target == 3u);
        p.failed(4, fail(fl::error::upstream_unavailable), at(4s));
        s = p.next(at(4s)); // every target used
        BOOST_TEST((s.what == fl::action::give_up));
        BOOST_TEST((s.reason == fl::give_up_reason::attempts_exhausted));
        BOOST_TEST(p.history().size() == 4u);
    }
    {
        pipe_t p(o, at(0s), recorder{&ev});
        (void)p.next(at(0s));
        p.failed(1, fail(fl::error::invalid_request), at(1s)); // the request itself is refused
        const fl::step s = p.next(at(1s));
        BOOST_TEST((s.what == fl::action::give_up));
        BOOST_TEST((s.reason == fl::give_up_reason::not_retryable));
    }
    {
        pipe_t p(o, at(0s), recorder{&ev});
        (void)p.next(at(0s));
        fl::failure unsure = fail(fl::error::internal_error);
        unsure.retryable = false; // x-should-retry: false
        p.failed(1, std::move(unsure), at(1s));
        BOOST_TEST((p.next(at(1s)).what == fl::action::give_up));
    }
    {
        pipe_t p(o, at(0s), recorder{&ev});
        (void)p.next(at(0s));
        p.failed(1, fail(fl::error::content_filter), at(1s)); // its own rule, listed first
        BOOST_TEST(p.next(at(1s)).target == 3u);
    }
}

BOOST_AUTO_TEST_CASE(hedging_starts_another_attempt_and_the_first_success_wins) {
    std::vector<std::string> ev;
    fl::pipeline_options o = quick();
    o.hedge = {1s, 2};
    pipe_t p(o, at(0s), recorder{&ev});
    (void)p.next(at(0s));
    fl::step s = p.next(at(400ms));
    BOOST_TEST((s.what == fl::action::wait));
    BOOST_TEST((s.delay == 600ms));
    s = p.next(at(1s));
    BOOST_TEST((s.what == fl::action::attempt));
    BOOST_TEST(s.hedge);
    BOOST_TEST(s.attempt == 2u);
    s = p.next(at(1500ms));
    BOOST_TEST((s.delay == 500ms)); // the next hedge is due a delay after the last one
    p.succeeded(2, at(1700ms));
    BOOST_TEST((p.next(at(1700ms)).what == fl::action::succeeded));
    BOOST_TEST(p.running() == 1u);                              // attempt 1: the caller cancels it
    p.failed(1, fail(fl::error::upstream_timeout), at(1800ms)); // too late: ignored
    BOOST_TEST(p.history()[0].running);
    BOOST_TEST((ev == std::vector<std::string>{"start 1 on 0", "start 2 on 0 hedge",
                                               "end 2 ok after 700 ms"}));
}

// With a latency percentile, the hedge delay follows how fast the target answered recently:
// the fixed delay until the percentile is known, then the percentile of the calls' successful
// attempts (each call records its own).
BOOST_AUTO_TEST_CASE(hedging_after_a_percentile_of_recent_latencies) {
    std::vector<std::string> ev;
    fl::latency_percentile p95(
        {.capacity = 100, .percentile = 0.95, .min_samples = 3, .refresh_every = 1});
    fl::pipeline_options o = quick();
    o.hedge = {.delay = 1s, .max_hedges = 1, .latencies = &p95};
    const auto call = [&](std::chrono::milliseconds at_start, std::chrono::milliseconds latency) {
        pipe_t p(o, at(at_start), recorder{&ev});
        BOOST_TEST((p.next(at(at_start)).what == fl::action::attempt));
        p.succeeded(1, at(at_start + latency));
        BOOST_TEST((p.next(at(at_start + latency)).what == fl::action::succeeded));
    };
    {
        pipe_t p(o, at(0s), recorder{&ev});
        (void)p.next(at(0s));
        BOOST_TEST((p.next(at(0s)).delay == 1s)); // no percentile yet: the fixed delay
    }
    call(0ms, 100ms);
    call(1000ms, 300ms);
    BOOST_TEST(!p95.value());
    call(2000ms, 200ms); // p95 of 100, 200, 300 ms: 300 ms
    BOOST_TEST((p95.value() == std::optional<std::chrono::nanoseconds>(300ms)));
    BOOST_TEST(p95.size() == 3u);

    ev.clear();
    pipe_t p(o, at(10s), recorder{&ev});
    (void)p.next(at(10s));
    fl::step s = p.next(at(10s) + 100ms);
    BOOST_TEST((s.what == fl::action::wait));
    BOOST_TEST((s.delay == 200ms)); // due at 300 ms, not at the fixed 1 s
    s = p.next(at(10s) + 300ms);
    BOOST_TEST((s.what == fl::action::attempt));
    BOOST_TEST(s.hedge);
    p.succeeded(2, at(10s) + 350ms); // the hedge wins after 50 ms: its latency is recorded
    BOOST_TEST(p95.size() == 4u);
    p.failed(1, fail(fl::error::upstream_timeout), at(10s) + 400ms); // after the win: ignored
    BOOST_TEST(p95.size() == 4u);
    BOOST_TEST((ev == std::vector<std::string>{"start 1 on 0", "start 2 on 0 hedge",
                                               "end 2 ok after 50 ms"}));

    // A target that slowed down past the fixed delay: the fixed delay bounds the wait (and a
    // latency of centuries does not overflow the time a hedge is due).
    for (int i = 0; i < 3; ++i)
        call(20s + 10s * i, 5s);
    fl::pipeline<fl::null_pipeline_events, manual_clock> slow(o, at(60s));
    (void)slow.next(at(60s));
    BOOST_TEST((slow.next(at(60s)).delay == 1s));
    for (int i = 0; i < 100; ++i)
        p95.record(std::chrono::nanoseconds::max());
    fl::pipeline<fl::null_pipeline_events, manual_clock> slower(o, at(70s));
    (void)slower.next(at(70s));
    BOOST_TEST((slower.next(at(70s)).delay == 1s));
}

BOOST_AUTO_TEST_CASE(hedges_are_bounded) {
    int hedges = 0;
    fl::pipeline_options o = quick();
    o.hedge = {100ms, 2};
    fl::pipeline<hedges_only, manual_clock> p(o, at(0s), hedges_only{&hedges});
    for (auto t = 0ms; t <= 1000ms; t += 50ms)
        (void)p.next(at(t));
    BOOST_TEST(hedges == 2);
    BOOST_TEST(p.history().size() == 3u);
    BOOST_TEST(p.running() == 3u);
}

BOOST_AUTO_TEST_CASE(a_retryable_failure_waits_for_the_hedges_still_running) {
    std::vector<std::string> ev;
    fl::pipeline_options o = quick();
    o.hedge = {1s, 1};
    pipe_t p(o, at(0s), recorder{&ev});
    hedge_then_fail_the_first(p);
    fl::step s = p.next(at(1200ms));
    BOOST_TEST((s.what == fl::action::wait));
    BOOST_TEST((s.delay == std::chrono::nanoseconds::max()));
    p.failed(2, fail(fl::error::upstream_timeout), at(1500ms));
    s = p.next(at(1500ms));
    BOOST_TEST((s.what == fl::action::wait));
    BOOST_TEST((s.delay == 100ms));
    BOOST_TEST(ev.back() == "retry in 100 ms");
}

// A retryable failure beside a running hedge waits for it, and the hedges still due go on as
// planned; once every attempt has failed, the retry starts, and it is hedged again.
BOOST_AUTO_TEST_CASE(hedges_go_on_beside_a_failure_that_waits_for_the_others) {
    std::vector<std::string> ev;
    fl::pipeline_options o = quick();
    o.hedge = {1s, 3};
    pipe_t p(o, at(0s), recorder{&ev});
    hedge_then_fail_the_first(p);
    fl::step s = p.next(at(1500ms));
    BOOST_TEST((s.what == fl::action::wait));
    BOOST_TEST((s.delay == 500ms));
    s = p.next(at(2s));
    BOOST_TEST((s.what == fl::action::attempt)); // hedge 3, on time
    BOOST_TEST(s.hedge);
    BOOST_TEST(s.attempt == 3u);
    p.failed(2, fail(fl::error::upstream_timeout), at(2500ms));
    p.failed(3, fail(fl::error::upstream_timeout), at(2600ms));
    s = p.next(at(2650ms));
    BOOST_TEST((s.what == fl::action::wait));
    BOOST_TEST((s.delay == 50ms));
    s = p.next(at(2700ms));
    BOOST_TEST((s.what == fl::action::attempt)); // the retry
    BOOST_TEST(!s.hedge);
    BOOST_TEST(s.attempt == 4u);
    s = p.next(at(3700ms));
    BOOST_TEST((s.what == fl::action::attempt)); // the retry is hedged: the one hedge left
    BOOST_TEST(s.hedge);
    BOOST_TEST(s.attempt == 5u);
    BOOST_TEST((p.next(at(10s)).delay == std::chrono::nanoseconds::max())); // no more hedges
    BOOST_TEST((
        ev == std::vector<std::string>{"start 1 on 0", "start 2 on 0 hedge",
                                       "end 1 upstream_timeout after 1200 ms", "start 3 on 0 hedge",
                                       "end 2 upstream_timeout after 1500 ms",
                                       "end 3 upstream_timeout after 600 ms", "retry in 100 ms",
                                       "start 4 on 0", "start 5 on 0 hedge"}));
}

BOOST_AUTO_TEST_CASE(a_final_failure_beside_a_hedge_ends_the_call) {
    std::vector<std::string> ev;
    fl::pipeline_options o = quick();
    o.hedge = {1s, 1};
    pipe_t p(o, at(0s), recorder{&ev});
    (void)p.next(at(0s));
    (void)p.next(at(1s));
    p.failed(2, fail(fl::error::authentication), at(1100ms));
    const fl::step s = p.next(at(1100ms));
    BOOST_TEST((s.what == fl::action::give_up));
    BOOST_TEST(p.running() == 1u);
}

BOOST_AUTO_TEST_CASE(the_budget_bounds_retries_and_hedges) {
    fl::retry_budget_options bo;
    bo.ratio = 0;
    bo.min_retries_per_second = 0;
    fl::retry_budget<manual_clock> budget(bo);
    std::vector<std::string> ev;
    fl::pipeline_options o = quick();
    o.hedge = {1s, 1};
    pipe_t p(o, at(0s), recorder{&ev}, &budget);
    (void)p.next(at(0s));
    fl::step s = p.next(at(1s)); // no hedge: the budget has no room
    BOOST_TEST((s.what == fl::action::wait));
    p.failed(1, fail(fl::error::internal_error), at(2s));
    s = p.next(at(2s));
    BOOST_TEST((s.what == fl::action::give_up));
    BOOST_TEST((s.reason == fl::give_up_reason::budget_exhausted));
    BOOST_TEST(p.history().size() == 1u);
}

BOOST_AUTO_TEST_CASE(long_server_hints_follow_the_chosen_rule) {
    const auto run = [](fl::long_hint rule) {
        fl::pipeline_options o = quick();
        o.long_hints = rule;
        fl::pipeline<fl::null_pipeline_events, manual_clock> p(o, at(0s));
        (void)p.next(at(0s));
        p.failed(1, fail(fl::error::rate_limited, 120s), at(0s));
        return p.next(at(0s));
    };
    fl::step s = run(fl::long_hint::give_up);
    BOOST_TEST((s.reason == fl::give_up_reason::server_delay_too_long));
    s = run(fl::long_hint::backoff);
    BOOST_TEST((s.what == fl::action::wait));
    BOOST_TEST((s.delay == 100ms));
    s = run(fl::long_hint::wait);
    BOOST_TEST((s.what == fl::action::wait));
    BOOST_TEST((s.delay == 120s));
}

BOOST_AUTO_TEST_CASE(the_deadline_stops_retries_and_fallbacks) {
    fl::pipeline_options o = quick();
    o.retry.deadline = 5s;
    o.targets = 2;
    o.fallbacks = {{fl::category::rate_limited, 1}};
    fl::pipeline<fl::null_pipeline_events, manual_clock> p(o, at(0s));
    (void)p.next(at(0s));
    p.failed(1, fail(fl::error::rate_limited, 10s), at(1s));
    const fl::step s = p.next(at(1s));
    BOOST_TEST((s.what == fl::action::give_up));
    BOOST_TEST((s.reason == fl::give_up_reason::deadline_exceeded));
}

BOOST_AUTO_TEST_CASE(delivered_content_is_never_replayed_elsewhere) {
    fl::pipeline_options o = quick();
    o.targets = 2;
    o.fallbacks = {{fl::category::server_error, 1}};
    fl::pipeline<fl::null_pipeline_events, manual_clock> p(o, at(0s));
    (void)p.next(at(0s));
    p.failed(1, fail(fl::error::stream_interrupted), at(1s), true);
    const fl::step s = p.next(at(1s));
    BOOST_TEST((s.reason == fl::give_up_reason::content_delivered));
}

BOOST_AUTO_TEST_CASE(invalid_options_are_refused) {
    fl::pipeline_options o;
    o.targets = 0;
    BOOST_TEST((fl::validate(o) == std::errc::invalid_argument));
    o.targets = 1;
    o.fallbacks = {{fl::category::overloaded, 1}};
    BOOST_TEST((fl::validate(o) == std::errc::invalid_argument));
    o.fallbacks.clear();
    o.hedge = {0s, 1};
    BOOST_TEST((fl::validate(o) == std::errc::invalid_argument));
    o.hedge = {1s, 1};
    BOOST_TEST(!fl::validate(o));
    o.hedge = {0s, 1};
    // tests/construction.cpp: the constructor throws with the same code.
    BOOST_CHECK_THROW((fl::pipeline<fl::null_pipeline_events, manual_clock>(o, at(0s))),
                      std::system_error);
}

BOOST_AUTO_TEST_CASE(reports_for_unknown_or_finished_attempts_are_ignored) {
    const fl::pipeline_options o = quick();
    fl::pipeline<fl::null_pipeline_events, manual_clock> p(o, at(0s));
    p.succeeded(1, at(0s)); // not started
    p.failed(7, fail(fl::error::internal_error), at(0s));
    BOOST_TEST(p.history().empty());
    (void)p.next(at(0s));
    p.succeeded(1, at(1s));
    p.failed(1, fail(fl::error::internal_error), at(2s));
    BOOST_TEST((p.next(at(2s)).what == fl::action::succeeded));
    BOOST_TEST(!p.last_failure());
}

// Cooldown (LiteLLM's): one breaker per target, shared by every call. A target that keeps
// failing is skipped by later calls, which fall back at once, until its cool-down is over.
BOOST_AUTO_TEST_CASE(a_failing_target_cools_down_and_later_calls_fall_back_at_once) {
    fl::circuit_breaker_options bo;
    bo.failure_threshold = 2;
    bo.cool_down = 5s;
    fl::channel_pool<manual_clock> cooldowns(2, bo);
    fl::pipeline_options o = quick();
    o.targets = 2;
    o.retry.max_attempts = 1;          // each target once
    o.fallbacks = {{std::nullopt, 1}}; // failover
    for (int call = 0; call < 2; ++call) {
        std::vector<std::string> ev;
        pipe_t p(o, at(0s), recorder{&ev}, nullptr, fl::splitmix64{1}, &cooldowns);
        fl::step s = p.next(at(0s));
        BOOST_TEST(s.target == 0u);
        p.failed(s.attempt, fail(fl::error::upstream_unavailable), at(100ms));
        s = p.next(at(100ms));
        BOOST_TEST(s.target == 1u);
        p.succeeded(s.attempt, at(200ms));
        BOOST_TEST((p.next(at(200ms)).what == fl::action::succeeded));
    }
    BOOST_TEST((cooldowns[0].state(at(200ms)) == fl::circuit_state::open));
    BOOST_TEST((cooldowns[1].state(at(200ms)) == fl::circuit_state::closed));

    // Within the cool-down: target 0 is not tried; nothing is sent to it.
    std::vector<std::string> ev;
    pipe_t p(o, at(1s), recorder{&ev}, nullptr, fl::splitmix64{1}, &cooldowns);
    fl::step s = p.next(at(1s));
    BOOST_TEST((s.what == fl::action::attempt));
    BOOST_TEST(s.target == 1u);
    BOOST_TEST(s.attempt == 1u);
    BOOST_TEST(s.fallback);
    BOOST_TEST(p.history().size() == 1u);
    p.succeeded(s.attempt, at(1100ms));
    BOOST_TEST(
        (ev == std::vector<std::string>{"refused 0 circuit_open for 4100 ms", "fallback 0 -> 1",
                                        "start 1 on 1 fallback", "end 1 ok after 100 ms"}));

    // After it: target 0 takes a probe; its success closes the circuit.
    std::vector<std::string> later;
    pipe_t q(o, at(6s), recorder{&later}, nullptr, fl::splitmix64{1}, &cooldowns);
    s = q.next(at(6s));
    BOOST_TEST(s.target == 0u);
    BOOST_TEST(!s.fallback);
    q.succeeded(s.attempt, at(6100ms));
    BOOST_TEST((cooldowns[0].state(at(6100ms)) == fl::circuit_state::closed));
}

// Polly's OnCircuitOpened/HalfOpened/Closed: each change of a cooldown breaker's state is an
// event of the call that made it, after the attempt's end that caused it.
BOOST_AUTO_TEST_CASE(breaker_changes_are_events_of_the_call_that_made_them) {
    fl::circuit_breaker_options bo;
    bo.failure_threshold = 1;
    bo.cool_down = 1s;
    bo.open_on_retry_after = false;
    fl::channel_pool<manual_clock> cooldowns(1, bo);
    fl::pipeline_options o = quick();
    o.retry.max_attempts = 4;
    using recording = fl::pipeline<every_event, manual_clock>;
    std::vector<std::string> ev;
    recording p(o, at(0s), every_event{{&ev}}, nullptr, fl::splitmix64{1}, &cooldowns);
    fl::step s = p.next(at(0s));
    p.failed(s.attempt, fail(fl::error::upstream_unavailable), at(100ms)); // opens it
    s = p.next(at(200ms));                                                 // refused
    BOOST_TEST((s.what == fl::action::wait));
    BOOST_TEST((s.delay == 900ms));
    s = p.next(at(1100ms)); // cool-down over: this call's attempt is the probe
    BOOST_TEST((s.what == fl::action::attempt));
    p.failed(s.attempt, fail(fl::error::internal_error), at(1200ms)); // reopens it
    s = p.next(at(2200ms));
    BOOST_TEST((s.what == fl::action::attempt));
    p.succeeded(s.attempt, at(2300ms)); // closes it
    BOOST_TEST((p.next(at(2300ms)).what == fl::action::succeeded));
    BOOST_TEST((ev == std::vector<std::string>{
                          "start 1 on 0",
                          "end 1 upstream_unavailable after 100 ms",
                          "breaker 0 closed -> open at 100 ms",
                          "retry in 100 ms",
                          "refused 0 circuit_open for 900 ms",
                          "retry in 900 ms (server)",
                          "breaker 0 open -> half_open at 1100 ms",
                          "start 2 on 0",
                          "end 2 internal_error after 100 ms",
                          "breaker 0 half_open -> open at 1200 ms",
                          "retry in 100 ms",
                          "breaker 0 open -> half_open at 2200 ms",
                          "start 3 on 0",
                          "end 3 ok after 100 ms",
                          "breaker 0 half_open -> closed at 2300 ms",
                      }));
    // Another call changes nothing: it reports nothing.
    std::vector<std::string> later;
    recording q(o, at(3s), every_event{{&later}}, nullptr, fl::splitmix64{1}, &cooldowns);
    s = q.next(at(3s));
    q.failed(s.attempt, fail(fl::error::invalid_request), at(3100ms)); // neutral, not retried
    BOOST_TEST(
        (later == std::vector<std::string>{"start 1 on 0", "end 1 invalid_request after 100 ms",
                                           "give up not_retryable"}));
}

// A limit of the caller's own (a client's requests per second to its provider) is asked before
// every attempt; its refusal is a failure that was never sent, waited out with the limit's hint.
BOOST_AUTO_TEST_CASE(a_limit_refusal_is_waited_out_with_the_limits_hint) {
    fl::limit::token_bucket<manual_clock> rps(
        {fl::limit::rate::per_second(1), 1, fl::limit::initial_fill::full, fl::error::rpm_exceeded},
        at(0s));
    const auto admit = [&rps](std::size_t, manual_clock::time_point now) {
        return rps.try_acquire(1, now);
    };
    const fl::pipeline_options o = quick();
    std::vector<std::string> ev;
    auto p = limited_from_zero(o, ev, admit);
    fl::step s = p.next(at(0s));
    BOOST_TEST((s.what == fl::action::attempt));
    p.failed(s.attempt, fail(fl::error::upstream_unavailable), at(100ms));
    s = p.next(at(200ms)); // the retry is due; the bucket is not
    BOOST_TEST((s.what == fl::action::wait));
    BOOST_TEST((s.delay == 800ms));
    BOOST_TEST(p.history().size() == 1u); // nothing was sent
    BOOST_REQUIRE(p.last_failure());
    BOOST_TEST((p.last_failure()->code == fl::error::rpm_exceeded));
    s = p.next(at(1s));
    BOOST_TEST((s.what == fl::action::attempt));
    BOOST_TEST(s.attempt == 2u);
    p.succeeded(s.attempt, at(1100ms));
    BOOST_TEST((p.next(at(1100ms)).what == fl::action::succeeded));
    BOOST_TEST((ev == std::vector<std::string>{
                          "start 1 on 0", "end 1 upstream_unavailable after 100 ms",
                          "retry in 100 ms", "limited 0 level 0 rpm_exceeded for 800 ms",
                          "retry in 800 ms (server)", "start 2 on 0", "end 2 ok after 100 ms"}));
}

// Several levels at once (limit::acquire_all): the event names the level that refused, and a
// fallback rule for `rate_limited` moves the call to a target whose limits admit it, at once.
BOOST_AUTO_TEST_CASE(a_refusing_level_is_named_and_a_rule_may_fall_back_from_it) {
    using bucket = fl::limit::token_bucket<manual_clock>;
    const auto limits = [](fl::error e, std::uint64_t burst) {
        return fl::limit::bucket_config{fl::limit::rate::per_second(1), burst,
                                        fl::limit::initial_fill::full, e};
    };
    bucket rpm0(limits(fl::error::rpm_exceeded, 10), at(0s));
    // Empty at first, 100 tokens a second: 500 tokens in 5 s.
    bucket tpm0({fl::limit::rate::per_second(100), 1000, fl::limit::initial_fill::empty,
                 fl::error::tpm_exceeded},
                at(0s));
    bucket rpm1(limits(fl::error::rpm_exceeded, 10), at(0s));
    bucket tpm1(limits(fl::error::tpm_exceeded, 1000), at(0s));
    const auto admit = [&](std::size_t target, manual_clock::time_point now) {
        return target == 0 ? fl::limit::acquire_all(now, fl::limit::level(rpm0),
                                                    fl::limit::level(tpm0, 500))
                           : fl::limit::acquire_all(now, fl::limit::level(rpm1),
                                                    fl::limit::level(tpm1, 500));
    };
    fl::pipeline_options o = quick();
    o.targets = 2;
    o.fallbacks = {{fl::category::rate_limited, 1}};
    std::vector<std::string> ev;
    auto p = limited_from_zero(o, ev, admit);
    const fl::step s = p.next(at(0s));
    BOOST_TEST((s.what == fl::action::attempt));
    BOOST_TEST(s.target == 1u);
    BOOST_TEST(s.fallback);
    BOOST_TEST((ev == std::vector<std::string>{"limited 0 level 1 tpm_exceeded for 5000 ms",
                                               "fallback 0 -> 1", "start 1 on 1 fallback"}));
    // All or nothing: the refused call took nothing from target 0's request limit.
    BOOST_TEST(rpm0.peek(1, at(0s)).remaining == 9u);
}

// A request no limit can ever admit (more than its burst) has no hint and is not retried.
BOOST_AUTO_TEST_CASE(a_request_over_the_burst_is_given_up) {
    fl::limit::token_bucket<manual_clock> tpm({fl::limit::rate::per_second(10), 100,
                                               fl::limit::initial_fill::full,
                                               fl::error::tpm_exceeded},
                                              at(0s));
    const auto admit = [&tpm](std::size_t, manual_clock::time_point now) {
        return tpm.try_acquire(101, now);
    };
    const fl::pipeline_options o = quick();
    std::vector<std::string> ev;
    auto p = limited_from_zero(o, ev, admit);
    const fl::step s = p.next(at(0s));
    BOOST_TEST((s.what == fl::action::give_up));
    BOOST_TEST((s.reason == fl::give_up_reason::not_retryable));
    BOOST_REQUIRE(p.last_failure());
    BOOST_TEST((p.last_failure()->code == fl::error::request_exceeds_burst));
    BOOST_TEST(!p.last_failure()->retry_after);
    BOOST_TEST(p.history().empty());
    BOOST_TEST((ev == std::vector<std::string>{"limited 0 level 0 request_exceeds_burst for 0 ms",
                                               "give up not_retryable"}));
}

// A limit of calls in flight: a hedge it refuses is not started (and the call hedges no
// more); every admitted attempt ends exactly once, reported or still running when the call ends.
BOOST_AUTO_TEST_CASE(admitted_attempts_end_once_and_a_refused_hedge_stops_hedging) {
    fl::pipeline_options o = quick();
    o.hedge = {.delay = 1s, .max_hedges = 2};
    {
        unsigned held = 0, ended = 0;
        std::vector<std::string> ev;
        auto p = limited_from_zero(o, ev, in_flight{1, &held, &ended});
        fl::step s = p.next(at(0s));
        BOOST_TEST(held == 1u);
        s = p.next(at(1s)); // the hedge is due; the limit says no
        BOOST_TEST((s.what == fl::action::wait));
        BOOST_TEST((s.delay == std::chrono::nanoseconds::max())); // no more hedges
        p.succeeded(1, at(1500ms));
        BOOST_TEST(held == 0u);
        BOOST_TEST(ended == 1u);
        BOOST_TEST(
            (ev == std::vector<std::string>{"start 1 on 0",
                                            "limited 0 hedge level 0 concurrency_exceeded for 0 ms",
                                            "end 1 ok after 1500 ms"}));
    }
    {
        unsigned held = 0, ended = 0;
        std::vector<std::string> ev;
        auto p = limited_from_zero(o, ev, in_flight{3, &held, &ended});
        (void)p.next(at(0s));
        (void)p.next(at(1s)); // hedge 2
        (void)p.next(at(2s)); // hedge 3
        BOOST_TEST(held == 3u);
        p.failed(3, fail(fl::error::upstream_timeout), at(2500ms)); // waits for the others
        BOOST_TEST(held == 2u);
        p.succeeded(2, at(3s)); // the call is over: attempt 1, still running, ends with it
        BOOST_TEST(held == 0u);
        BOOST_TEST(ended == 3u);
        p.failed(1, fail(fl::error::upstream_timeout), at(3100ms)); // the caller's late report
        p.abandon(at(3200ms));
        BOOST_TEST(held == 0u);
        BOOST_TEST(ended == 3u);
    }
    {
        // A give-up ends the attempts still running too.
        unsigned held = 0, ended = 0;
        std::vector<std::string> ev;
        auto p = limited_from_zero(o, ev, in_flight{3, &held, &ended});
        (void)p.next(at(0s));
        (void)p.next(at(1s));                                      // hedge 2
        p.failed(2, fail(fl::error::invalid_request), at(1500ms)); // nothing would retry it
        BOOST_TEST((p.next(at(1500ms)).what == fl::action::give_up));
        BOOST_TEST(held == 0u);
        BOOST_TEST(ended == 2u);
    }
}

// An admission that throws: the exception leaves `next`, and the half-open probe slot the
// attempt had taken goes back first (nothing was sent).
BOOST_AUTO_TEST_CASE(an_admission_that_throws_gives_the_probe_back) {
    fl::circuit_breaker_options bo;
    bo.failure_threshold = 1;
    bo.cool_down = 1s;
    fl::channel_pool<manual_clock> cooldowns(1, bo);
    cooldowns[0].record_failure(at(0s), fl::error::internal_error);
    const auto admit = [](std::size_t, manual_clock::time_point) -> fl::limit::decision {
        throw std::runtime_error("the limiter's store is gone");
    };
    using throwing =
        fl::pipeline<fl::null_pipeline_events, manual_clock, fl::splitmix64, decltype(admit)>;
    const fl::pipeline_options o = quick();
    throwing p(o, at(2s), {}, nullptr, fl::splitmix64{1}, &cooldowns, admit);
    BOOST_CHECK_THROW((void)p.next(at(2s)), std::runtime_error);
    BOOST_TEST(p.history().empty());
    BOOST_TEST(cooldowns[0].try_acquire(at(2s)).has_value()); // the one probe slot is free
}

// Admits every attempt but the `throw_at`th it is asked for (from 1), for which it throws.
struct throws_once {
    unsigned throw_at;
    unsigned* asked;
    fl::limit::decision operator()(std::size_t, manual_clock::time_point) {
        if (++*asked == throw_at) throw std::runtime_error("the limiter's store is gone");
        fl::limit::decision d;
        d.admitted = true;
        return d;
    }
};

// After an admission threw, the call is as it was: the retry, the fallback or the hedge that was
// being started is asked for again by the next `next`.
BOOST_AUTO_TEST_CASE(after_an_admission_threw_the_call_goes_on) {
    using throwing =
        fl::pipeline<fl::null_pipeline_events, manual_clock, fl::splitmix64, throws_once>;
    unsigned asked = 0;
    {
        const fl::pipeline_options o = quick();
        throwing p(o, at(0s), {}, nullptr, fl::splitmix64{1}, nullptr, throws_once{2, &asked});
        fl::step s = p.next(at(0s));
        p.failed(s.attempt, fail(fl::error::upstream_unavailable), at(100ms));
        BOOST_CHECK_THROW((void)p.next(at(200ms)), std::runtime_error); // the retry's
        s = p.next(at(200ms));
        BOOST_TEST((s.what == fl::action::attempt));
        BOOST_TEST(s.attempt == 2u);
    }
    {
        asked = 0;
        fl::pipeline_options o = quick();
        o.targets = 2;
        o.retry.max_attempts = 1;
        o.fallbacks = {{std::nullopt, 1}};
        throwing p(o, at(0s), {}, nullptr, fl::splitmix64{1}, nullptr, throws_once{2, &asked});
        fl::step s = p.next(at(0s));
        p.failed(s.attempt, fail(fl::error::upstream_unavailable), at(100ms));
        BOOST_CHECK_THROW((void)p.next(at(100ms)), std::runtime_error); // the fallback's
        s = p.next(at(100ms));
        BOOST_TEST((s.what == fl::action::attempt));
        BOOST_TEST(s.target == 1u);
        BOOST_TEST(s.fallback);
    }
    {
        asked = 0;
        fl::pipeline_options o = quick();
        o.hedge = {.delay = 1s, .max_hedges = 1};
        throwing p(o, at(0s), {}, nullptr, fl::splitmix64{1}, nullptr, throws_once{2, &asked});
        (void)p.next(at(0s));
        BOOST_CHECK_THROW((void)p.next(at(1s)), std::runtime_error); // the hedge's
        const fl::step s = p.next(at(1s));
        BOOST_TEST((s.what == fl::action::attempt));
        BOOST_TEST(s.hedge);
    }
}

// With nowhere to fall back, a refused target is a failure like any other: the policy waits out
// the cool-down (the server-hint rule) when it may, and gives up when it may not.
BOOST_AUTO_TEST_CASE(a_cooling_target_with_nowhere_to_go_is_waited_for_or_given_up) {
    fl::circuit_breaker_options bo;
    bo.cool_down = 1s;
    fl::channel_pool<manual_clock> cooldowns(1, bo);
    cooldowns[0].record_failure(at(0s), fl::error::rate_limited, 3s); // Retry-After: 3 s
    {
        std::vector<std::string> ev;
        const fl::pipeline_options o = quick();
        pipe_t p(o, at(0s), recorder{&ev}, nullptr, fl::splitmix64{1}, &cooldowns);
        fl::step s = p.next(at(0s));
        BOOST_TEST((s.what == fl::action::wait));
        BOOST_TEST((s.delay == 3s));
        BOOST_TEST(p.history().empty());
        BOOST_REQUIRE(p.last_failure());
        BOOST_TEST((p.last_failure()->code == fl::error::circuit_open));
        s = p.next(at(3s)); // half-open: this call is the probe
        BOOST_TEST((s.what == fl::action::attempt));
        BOOST_TEST(s.attempt == 1u);
        BOOST_TEST((ev == std::vector<std::string>{"refused 0 circuit_open for 3000 ms",
                                                   "retry in 3000 ms (server)", "start 1 on 0"}));
        // A second call meanwhile finds the probe taken (no hint: the circuit is not open);
        // it waits the backoff, and its attempts bound how often it asks.
        std::vector<std::string> ev2;
        pipe_t other(o, at(3s), recorder{&ev2}, nullptr, fl::splitmix64{1}, &cooldowns);
        fl::step t = other.next(at(3s));
        BOOST_TEST((t.what == fl::action::wait));
        BOOST_TEST((t.delay == 100ms));
        for (auto now = 3100ms; t.what == fl::action::wait; now += 100ms)
            t = other.next(at(now));
        BOOST_TEST((t.what == fl::action::give_up));
        BOOST_TEST((t.reason == fl::give_up_reason::attempts_exhausted));
        BOOST_TEST(other.history().empty()); // nothing was ever sent
        BOOST_TEST(ev2.size() == 8u);        // 4 refusals and 3 retries, then the give-up
        p.succeeded(s.attempt, at(3500ms));
    }
    BOOST_TEST((cooldowns[0].state(at(3500ms)) == fl::circuit_state::closed));
    cooldowns[0].record_failure(at(4s), fl::error::overloaded, 90s); // over max_server_delay
    {
        std::vector<std::string> ev;
        const fl::pipeline_options o = quick();
        pipe_t p(o, at(4s), recorder{&ev}, nullptr, fl::splitmix64{1}, &cooldowns);
        const fl::step s = p.next(at(4s));
        BOOST_TEST((s.what == fl::action::give_up));
        BOOST_TEST((s.reason == fl::give_up_reason::server_delay_too_long));
        BOOST_TEST((p.last_failure()->code == fl::error::circuit_open));
        BOOST_TEST(
            (p.last_failure()->retry_after == std::optional<std::chrono::milliseconds>(90s)));
    }
}

// A hedge whose target refuses is not started, and the call hedges no more. When the call
// ends, the attempts still running free their half-open probe slots: the caller cancels them,
// and they will never be reported.
BOOST_AUTO_TEST_CASE(hedges_respect_the_cooldown_and_a_call_that_ends_frees_its_probes) {
    fl::circuit_breaker_options bo;
    bo.failure_threshold = 1;
    bo.cool_down = 1s;
    bo.half_open_probes = 1;
    fl::channel_pool<manual_clock> cooldowns(1, bo);
    cooldowns[0].record_failure(at(0s), fl::error::internal_error);
    fl::pipeline_options o = quick();
    o.hedge = {200ms, 3};
    {
        std::vector<std::string> ev;
        pipe_t p(o, at(1s), recorder{&ev}, nullptr, fl::splitmix64{1}, &cooldowns);
        BOOST_TEST(p.next(at(1s)).attempt == 1u); // the probe
        fl::step s = p.next(at(1200ms));          // the hedge: no probe slot left
        BOOST_TEST((s.what == fl::action::wait));
        BOOST_TEST((s.delay == std::chrono::nanoseconds::max()));
        BOOST_TEST((p.next(at(2s)).delay == std::chrono::nanoseconds::max())); // no more
        BOOST_TEST((ev == std::vector<std::string>{"start 1 on 0",
                                                   "refused 0 hedge circuit_open for 0 ms"}));
    }
    // The probe was never reported (the call was dropped): the slot comes back after one
    // cool-down, as the breaker presumes it lost.
    BOOST_TEST(!cooldowns[0].try_acquire(at(1900ms)));
    BOOST_TEST(cooldowns[0].try_acquire(at(2100ms)).has_value());
    cooldowns[0].record_neutral(at(2100ms));

    bo.half_open_probes = 2;
    fl::channel_pool<manual_clock> two(1, bo);
    two[0].record_failure(at(0s), fl::error::internal_error);
    std::vector<std::string> ev;
    pipe_t p(o, at(1s), recorder{&ev}, nullptr, fl::splitmix64{1}, &two);
    (void)p.next(at(1s));
    BOOST_TEST(p.next(at(1200ms)).hedge);                     // both probe slots taken
    p.failed(2, fail(fl::error::authentication), at(1300ms)); // neutral; final
    BOOST_TEST((p.next(at(1300ms)).what == fl::action::give_up));
    BOOST_TEST(p.running() == 1u);                          // attempt 1: the caller cancels it...
    BOOST_TEST(two[0].try_acquire(at(1300ms)).has_value()); // ...and its slot is free already
    BOOST_TEST(two[0].try_acquire(at(1300ms)).has_value());
}

// A caller who stops the call (`abandon`) gives back the probe slots its attempts hold, and
// only those: an attempt let through a closed circuit holds none, and must not free a slot
// another call's probe holds.
BOOST_AUTO_TEST_CASE(abandon_gives_back_only_the_probe_slots_the_call_holds) {
    fl::circuit_breaker_options bo;
    bo.failure_threshold = 1;
    bo.cool_down = 1s;
    bo.half_open_probes = 1;
    fl::pipeline_options o = quick();
    o.hedge = {1s, 1};
    {
        fl::channel_pool<manual_clock> cooldowns(1, bo);
        std::vector<std::string> ev;
        pipe_t p(o, at(0s), recorder{&ev}, nullptr, fl::splitmix64{1}, &cooldowns);
        (void)p.next(at(0s));             // closed: no probe
        BOOST_TEST(p.next(at(1s)).hedge); // closed: no probe
        BOOST_TEST(!p.history()[1].probe);
        cooldowns[0].record_failure(at(1500ms), fl::error::internal_error); // opens (elsewhere)
        BOOST_TEST(cooldowns[0].try_acquire(at(2600ms)).has_value());       // another call's probe
        p.abandon(at(2700ms));
        const fl::step s = p.next(at(2700ms));
        BOOST_TEST((s.what == fl::action::give_up));
        BOOST_TEST((s.reason == fl::give_up_reason::cancelled));
        BOOST_TEST(!cooldowns[0].try_acquire(at(2700ms))); // the other probe still holds
    }
    {
        fl::channel_pool<manual_clock> cooldowns(1, bo);
        cooldowns[0].record_failure(at(0s), fl::error::internal_error);
        std::vector<std::string> ev;
        pipe_t p(o, at(1s), recorder{&ev}, nullptr, fl::splitmix64{1}, &cooldowns);
        (void)p.next(at(1s)); // the probe
        BOOST_TEST(p.history()[0].probe);
        BOOST_TEST(!cooldowns[0].try_acquire(at(1100ms)));
        p.abandon(at(1200ms));
        p.abandon(at(1200ms)); // once is enough; twice gives back nothing more
        BOOST_TEST(cooldowns[0].try_acquire(at(1200ms)).has_value()); // the slot came back
        BOOST_TEST(!cooldowns[0].try_acquire(at(1200ms)));
        p.failed(1, fail(fl::error::upstream_timeout), at(1300ms)); // too late: ignored
        BOOST_TEST((cooldowns[0].state(at(1300ms)) == fl::circuit_state::half_open));
    }
}

BOOST_AUTO_TEST_CASE(cooldowns_must_cover_every_target) {
    fl::channel_pool<manual_clock> one(1);
    fl::pipeline_options o = quick();
    o.targets = 2;
    BOOST_CHECK_THROW(pipe_t(o, at(0s), recorder{nullptr}, nullptr, fl::splitmix64{1}, &one),
                      std::system_error);
}

BOOST_FIXTURE_TEST_CASE(a_streams_verdict_reaches_the_events_before_its_attempts_end,
                        watched_call) {
    // Attempt 1: a 503 with a JSON body. No stream, so no verdict; the failure is retried.
    fl::step s = p.next(at(0s));
    BOOST_REQUIRE((s.what == fl::action::attempt));
    exchange_t first(at(0s));
    BOOST_TEST(!first.head(503, json_type, at(1s)));
    BOOST_TEST(!first.body(R"({"error":{"message":"busy","type":"server_error"}})", at(1s)));
    fl::end_attempt(p, s.attempt, first.finish({}, at(1s)), at(1s));

    // Attempt 2: a complete stream.
    s = p.next(at(1100ms));
    BOOST_REQUIRE((s.what == fl::action::attempt));
    BOOST_TEST(s.attempt == 2u);
    exchange_t second(at(1100ms));
    BOOST_TEST(!second.head(200, sse_type, at(1200ms)));
    BOOST_TEST(!second.body(std::string(content) + "data: [DONE]\n\n", at(1500ms)));
    fl::end_attempt(p, s.attempt, second.finish({}, at(1500ms)), at(1500ms));

    BOOST_TEST((p.next(at(1500ms)).what == fl::action::succeeded));
    const std::vector<std::string> expected{
        "start 1 on 0",
        "end 1 upstream_unavailable after 1000 ms",
        "retry in 100 ms",
        "start 2 on 0",
        "stream 2 done at 1500 ms",
        "end 2 ok after 400 ms",
    };
    BOOST_TEST(ev == expected, boost::test_tools::per_element());
}

// A stream cut after content: its verdict, then its failure, which is not replayed since the
// caller already saw content.
BOOST_FIXTURE_TEST_CASE(a_stream_cut_after_content_ends_the_call_with_its_verdict, watched_call) {
    const fl::step s = p.next(at(0s));
    exchange_t x(at(0s));
    BOOST_TEST(!x.head(200, sse_type, at(1s)));
    BOOST_TEST(!x.body(content, at(2s)));
    const fl::exchange_result& r =
        x.finish(std::make_error_code(std::errc::connection_reset), at(3s));
    BOOST_TEST(r.content_delivered);
    fl::end_attempt(p, s.attempt, r, at(3s));

    const fl::step last = p.next(at(3s));
    BOOST_TEST((last.what == fl::action::give_up));
    BOOST_TEST((last.reason == fl::give_up_reason::content_delivered));
    const std::vector<std::string> expected{
        "start 1 on 0",
        "stream 1 eof_without_done stream_truncated at 3000 ms",
        "end 1 stream_truncated after 3000 ms",
        "give up content_delivered",
    };
    BOOST_TEST(ev == expected, boost::test_tools::per_element());
}

// A verdict for an attempt the call never started is dropped, not reported under another.
BOOST_FIXTURE_TEST_CASE(a_verdict_for_an_attempt_not_started_is_ignored, watched_call) {
    fl::sse::verdict done;
    done.kind = fl::sse::terminal::done;
    p.stream_ended(1, done, at(0s)); // before any attempt
    (void)p.next(at(0s));
    p.stream_ended(0, done, at(0s));
    p.stream_ended(2, done, at(0s));
    p.stream_ended(1, done, at(1s));
    const std::vector<std::string> expected{"start 1 on 0", "stream 1 done at 1000 ms"};
    BOOST_TEST(ev == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

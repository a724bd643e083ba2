#include <faultline/retry/retry.hpp>

#include <faultline/classify.hpp>
#include <faultline/limit/token_bucket.hpp>

#include "support/held_permits.hpp"

#include <boost/test/unit_test.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace fl = faultline;
using namespace std::chrono_literals;
using ns = std::chrono::nanoseconds;
using R = fl::give_up_reason;

namespace {

// A manual clock: `now()` reads a shared counter that only the test sleeper moves.
struct manual_clock {
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<manual_clock>;
    ns* t;
    [[nodiscard]] time_point now() const { return time_point(*t); }
};
struct manual_sleeper {
    ns* t;
    std::vector<ns>* slept;
    void operator()(ns d) const {
        *t += d;
        slept->push_back(d);
    }
};

struct harness {
    ns t{};
    std::vector<ns> slept;
    fl::retry_options<manual_clock, manual_sleeper, fl::splitmix64> options{
        manual_clock{&t}, manual_sleeper{&t, &slept}, fl::splitmix64{1}, nullptr, {}, {}};
};

fl::retry_policy exact(unsigned attempts = 4) {
    fl::retry_policy p;
    p.delay = fl::backoff::exponential(1s, 30s);
    p.max_attempts = attempts;
    return p;
}

} // namespace

BOOST_AUTO_TEST_SUITE(retry)

BOOST_AUTO_TEST_CASE(returns_the_value_after_transient_failures) {
    harness h;
    int calls = 0;
    std::vector<unsigned> retried;
    h.options.on_retry = [&](const fl::attempt_record& r) { retried.push_back(r.attempt); };
    auto r = fl::retry(
        exact(),
        [&]() -> fl::result<int> {
            if (++calls < 3) return std::make_error_code(std::errc::connection_reset);
            return 42;
        },
        h.options);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r.value() == 42);
    BOOST_TEST(calls == 3);
    BOOST_TEST(h.slept == (std::vector<ns>{1s, 2s}), boost::test_tools::per_element());
    BOOST_TEST(retried == (std::vector<unsigned>{1, 2}), boost::test_tools::per_element());
    BOOST_TEST(h.t == ns(3s));
}

BOOST_AUTO_TEST_CASE(gives_up_with_the_last_failure_and_the_history) {
    harness h;
    int give_ups = 0;
    h.options.on_give_up = [&](const fl::retry_error& e) {
        ++give_ups;
        BOOST_TEST((e.reason == R::attempts_exhausted));
    };
    int calls = 0;
    auto r = fl::retry(
        exact(3),
        [&]() -> fl::outcome<std::string> {
            ++calls;
            return fl::classify(calls < 3 ? 503 : 502,
                                R"({"error":{"message":"down )" + std::to_string(calls) + R"("}})");
        },
        h.options);
    BOOST_TEST_REQUIRE(!r.has_value());
    const auto& e = r.error();
    BOOST_TEST(calls == 3);
    BOOST_TEST(give_ups == 1);
    BOOST_TEST(e.last.message == "down 3");
    BOOST_TEST(e.last.status == 502u);
    BOOST_TEST((e.error_code() == fl::error::upstream_unavailable));
    BOOST_TEST_REQUIRE(e.history.size() == 3u);
    BOOST_TEST(e.history[0].attempt == 1u);
    BOOST_TEST(e.history[0].delay == ns(1s));
    BOOST_TEST(e.history[1].elapsed == ns(1s));
    BOOST_TEST(e.history[1].delay == ns(2s));
    BOOST_TEST(e.history[2].elapsed == ns(3s));
    BOOST_TEST(e.history[2].delay == ns(0));
    BOOST_TEST(e.history[2].what.message == "down 3");
}

BOOST_AUTO_TEST_CASE(a_non_retryable_failure_is_returned_at_once) {
    harness h;
    int calls = 0;
    auto r = fl::retry(
        exact(),
        [&]() -> fl::outcome<int> {
            ++calls;
            return fl::classify(401,
                                R"({"error":{"message":"bad key","type":"authentication_error"}})");
        },
        h.options);
    BOOST_TEST(calls == 1);
    BOOST_TEST((r.error().reason == R::not_retryable));
    BOOST_TEST((r.error().error_code() == fl::error::authentication));
    BOOST_TEST(h.slept.empty());
}

BOOST_AUTO_TEST_CASE(waits_what_the_server_says) {
    harness h;
    int calls = 0;
    auto r = fl::retry(
        exact(),
        [&]() -> fl::outcome<int> {
            if (++calls == 1) return fl::classify(429, {{"retry-after-ms", "1500"}}, "");
            return 7;
        },
        h.options);
    BOOST_TEST(r.value() == 7);
    BOOST_TEST(h.slept == (std::vector<ns>{1500ms}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(gives_up_before_the_deadline_instead_of_sleeping_past_it) {
    harness h;
    auto p = exact(10);
    p.deadline = 5s;
    int calls = 0;
    auto r = fl::retry(
        p,
        [&](fl::attempt_context& ctx) -> fl::result<void> {
            BOOST_TEST(ctx.attempt == static_cast<unsigned>(++calls));
            h.t += 100ms; // each attempt takes 100 ms
            return fl::error::upstream_timeout;
        },
        h.options);
    // 0.1 | 1 | 1.1..1.2 | 2 | 3.2..3.3 | 4 would end at 7.3 > 5: give up at 3.3 s.
    BOOST_TEST(calls == 3);
    BOOST_TEST((r.error().reason == R::deadline_exceeded));
    BOOST_TEST((r.error().error_code() == fl::error::deadline_exceeded));
    BOOST_TEST((r.error().last.code == fl::error::upstream_timeout));
    BOOST_TEST(h.t < ns(5s));
}

BOOST_AUTO_TEST_CASE(a_stream_that_delivered_content_is_not_replayed) {
    harness h;
    int calls = 0;
    auto op = [&](fl::attempt_context& ctx) -> fl::result<int> {
        ++calls;
        ctx.mark_content_delivered();
        return fl::error::stream_truncated;
    };
    auto r = fl::retry(exact(), op, h.options);
    BOOST_TEST(calls == 1);
    BOOST_TEST((r.error().reason == R::content_delivered));
    auto replayable = exact();
    replayable.replayable = true;
    calls = 0;
    r = fl::retry(replayable, op, h.options);
    BOOST_TEST(calls == 4);
    BOOST_TEST((r.error().reason == R::attempts_exhausted));
}

BOOST_AUTO_TEST_CASE(the_budget_bounds_retries) {
    harness h;
    fl::retry_budget<manual_clock> budget({10s, 0.0, 0.2}); // floor: 2 retries per 10 s
    h.options.budget = &budget;
    int calls = 0;
    auto p = exact(10);
    p.delay = fl::backoff::constant(1ms);
    auto r = fl::retry(
        p,
        [&]() -> fl::result<int> {
            ++calls;
            return fl::error::internal_error;
        },
        h.options);
    BOOST_TEST(calls == 3);
    BOOST_TEST((r.error().reason == R::budget_exhausted));
    BOOST_TEST((r.error().error_code() == fl::error::retry_budget_exhausted));
    BOOST_TEST(budget.in_window(manual_clock{&h.t}.now()).requests == 1u);
}

BOOST_AUTO_TEST_CASE(default_options_run_a_successful_operation) {
    auto r = fl::retry(fl::retry_policy{}, [] { return fl::result<int>(5); });
    BOOST_TEST(r.value() == 5);
    auto v = fl::retry(fl::retry_policy{},
                       [] { return fl::outcome<void>(boost::outcome_v2::success()); });
    BOOST_TEST(v.has_value());
    auto n = fl::retry(fl::retry_policy{}, [] { return fl::result<int>(fl::error::not_found); });
    BOOST_TEST((n.error().error_code() == fl::error::not_found));
}

BOOST_AUTO_TEST_CASE(value_on_an_error_throws_system_error) {
    harness h;
    auto r = fl::retry(
        exact(1), [] { return fl::result<int>(fl::error::not_found); }, h.options);
    BOOST_TEST(!r);
    BOOST_TEST(r.has_error());
    BOOST_CHECK_THROW((void)r.value(), std::system_error);
    auto v = fl::retry(
        exact(1), [] { return fl::result<void>(fl::error::not_found); }, h.options);
    BOOST_CHECK_THROW(v.value(), std::system_error);
    fl::retry_result<std::string> moved = fl::retry_result<std::string>(std::string("x"));
    const auto copy = std::move(moved);
    BOOST_TEST(copy.value() == "x");
}

// The two loops a refusal before the attempt (an open breaker, a limit) is tested with. First an
// operation that fails once, opening what refuses for the 9 s after its 1 s of backoff: the
// refusal is an attempt not made (attempt 0 in the record), waited out. Then, after `again()`
// (what refused, refusing again), a policy that may not wait 5 s: the loop gives up with the
// refusal's `code`, the operation never called.
namespace {
void refused_then_waited_out_or_given_up(harness& h, fl::error code,
                                         const std::function<void()>& again) {
    std::vector<unsigned> retried;
    h.options.on_retry = [&](const fl::attempt_record& r) { retried.push_back(r.attempt); };
    int calls = 0;
    auto r = fl::retry(
        exact(),
        [&]() -> fl::result<int> {
            if (++calls == 1) return fl::error::internal_error;
            return 7;
        },
        h.options);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(calls == 2);
    BOOST_TEST(h.slept == (std::vector<ns>{1s, 9s}), boost::test_tools::per_element());
    BOOST_TEST(retried == (std::vector<unsigned>{1, 0}), boost::test_tools::per_element());

    again();
    fl::retry_policy impatient = exact();
    impatient.max_server_delay = 5s;
    auto refused = fl::retry(
        impatient, [&]() -> fl::result<int> { return ++calls; }, h.options);
    BOOST_TEST_REQUIRE(!refused.has_value());
    BOOST_TEST(calls == 2);
    BOOST_TEST((refused.error().last.code == code));
    BOOST_TEST((refused.error().reason == R::server_delay_too_long));
    BOOST_TEST_REQUIRE(refused.error().history.size() == 1u);
    BOOST_TEST(refused.error().history[0].attempt == 0u);
}
} // namespace

// A breaker shared by every loop (`cooldowns`): an attempt while it is open is not made; the
// loop waits out the cool-down as it waits for a server's hint, and the record says so.
BOOST_AUTO_TEST_CASE(an_open_breaker_is_waited_out_without_calling_the_operation) {
    harness h;
    fl::circuit_breaker_options bo;
    bo.failure_threshold = 1;
    bo.cool_down = 10s;
    fl::channel_pool<manual_clock> breaker(1, bo);
    h.options.cooldowns = &breaker;
    refused_then_waited_out_or_given_up(h, fl::error::circuit_open, [&] {
        const auto now = manual_clock{&h.t}.now();
        BOOST_TEST((breaker[0].state(now) == fl::circuit_state::closed)); // the retry closed it
        breaker[0].record_failure(now, fl::error::internal_error);
    });
}

// The caller's own limit is asked before each attempt: a refusal is an attempt not made, waited
// out with the limit's hint, or the end of the loop when the policy may not wait that long.
BOOST_AUTO_TEST_CASE(a_limit_is_waited_out_without_calling_the_operation) {
    harness h;
    // One request every 10 s.
    fl::limit::token_bucket<manual_clock> rate({fl::limit::rate::per_second(0.1), 1,
                                                fl::limit::initial_fill::full,
                                                fl::error::rpm_exceeded},
                                               manual_clock{&h.t}.now());
    h.options.admission = [&](manual_clock::time_point now) { return rate.try_acquire(1, now); };
    refused_then_waited_out_or_given_up(h, fl::error::rpm_exceeded, [] {});
}

// A limit of calls in flight: each admitted attempt holds a slot and gives it back once it is
// over (it answered, or the operation threw), so the next attempt is admitted.
BOOST_AUTO_TEST_CASE(a_limit_of_calls_in_flight_gets_each_slot_back) {
    harness h;
    fl::limit::concurrency_limiter one(1);
    test_support::held_permits permits{&one};
    permits.attach(h.options);
    int calls = 0;
    auto r = fl::retry(
        exact(),
        [&]() -> fl::result<int> {
            BOOST_TEST(one.in_flight() == 1u);
            if (++calls < 3) return fl::error::internal_error;
            return 7;
        },
        h.options);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(calls == 3);
    BOOST_TEST(permits.ended == 3);
    BOOST_TEST(one.in_flight() == 0u);

    BOOST_CHECK_THROW(
        (void)fl::retry(
            exact(), []() -> fl::result<int> { throw std::runtime_error("boom"); }, h.options),
        std::runtime_error);
    BOOST_TEST(permits.ended == 4);
    BOOST_TEST(one.in_flight() == 0u);

    // Without a limit, nothing is called.
    h.options.admission = {};
    BOOST_TEST(fl::retry(
                   exact(), [] { return fl::result<int>(1); }, h.options)
                   .has_value());
    BOOST_TEST(permits.ended == 4);
}

// An operation that throws ends the loop with its exception, and its probe slot goes back to
// the breaker first: the next caller may probe at once.
BOOST_AUTO_TEST_CASE(an_operation_that_throws_gives_its_probe_back) {
    harness h;
    fl::circuit_breaker_options bo;
    bo.failure_threshold = 1;
    bo.cool_down = 1s;
    fl::channel_pool<manual_clock> breaker(1, bo);
    breaker[0].record_failure(manual_clock{&h.t}.now(), fl::error::internal_error);
    h.t += 1s; // half-open: the next call probes
    h.options.cooldowns = &breaker;
    BOOST_CHECK_THROW(
        (void)fl::retry(
            exact(), []() -> fl::result<int> { throw std::runtime_error("boom"); }, h.options),
        std::runtime_error);
    BOOST_TEST(breaker[0].try_acquire(manual_clock{&h.t}.now()).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

#include <faultline/retry/policy.hpp>

#include <faultline/classify.hpp>

#include <boost/test/unit_test.hpp>

namespace fl = faultline;
using namespace std::chrono_literals;
using ns = std::chrono::nanoseconds;
using R = fl::give_up_reason;

namespace {
fl::failure retryable(std::optional<std::chrono::milliseconds> hint = {}) {
    fl::failure f = fl::to_failure(fl::error::upstream_unavailable);
    f.retry_after = hint;
    return f;
}
fl::retry_policy exact() {
    fl::retry_policy p;
    p.delay = fl::backoff::exponential(1s, 30s);
    return p;
}
} // namespace

BOOST_AUTO_TEST_SUITE(policy)

BOOST_AUTO_TEST_CASE(defaults) {
    const fl::retry_policy p;
    BOOST_TEST(p.max_attempts >= 3u);
    BOOST_TEST(p.max_attempts <= 5u);
    BOOST_TEST((p.delay == fl::backoff{}));
    BOOST_TEST(p.max_server_delay == ns(60s));
    BOOST_TEST(p.deadline == ns::max());
    BOOST_TEST(!p.replayable);
}

BOOST_AUTO_TEST_CASE(retries_a_retryable_failure_with_backoff) {
    const auto p = exact();
    fl::splitmix64 g;
    for (unsigned a = 1; a <= 3; ++a) {
        const auto d = p.decide(retryable(), {a, 0s, {}, false}, g);
        BOOST_TEST(d.retry);
        BOOST_TEST(!d.from_server);
        BOOST_TEST(d.delay == ns(1s) * (1 << (a - 1)));
    }
}

BOOST_AUTO_TEST_CASE(never_retries_what_the_taxonomy_forbids) {
    const auto p = exact();
    fl::splitmix64 g;
    for (auto e :
         {fl::error::invalid_request, fl::error::authentication, fl::error::insufficient_quota,
          fl::error::content_filter, fl::error::context_length_exceeded, fl::error::unknown}) {
        const auto d = p.decide(fl::to_failure(e), {}, g);
        BOOST_TEST(!d.retry, fl::to_string(e));
        BOOST_TEST((d.reason == R::not_retryable));
    }
}

BOOST_AUTO_TEST_CASE(x_should_retry_is_honoured_through_the_classified_failure) {
    const auto p = exact();
    fl::splitmix64 g;
    const auto no = fl::classify(503, {{"x-should-retry", "false"}}, "");
    BOOST_TEST(!p.decide(no, {}, g).retry);
    const auto yes = fl::classify(400, {{"x-should-retry", "true"}}, "");
    BOOST_TEST(p.decide(yes, {}, g).retry);
}

BOOST_AUTO_TEST_CASE(stops_at_max_attempts) {
    auto p = exact();
    fl::splitmix64 g;
    BOOST_TEST(p.decide(retryable(), {3, 0s, {}, false}, g).retry);
    const auto d = p.decide(retryable(), {4, 0s, {}, false}, g);
    BOOST_TEST(!d.retry);
    BOOST_TEST((d.reason == R::attempts_exhausted));
    p.max_attempts = 0; // counts as 1: no retries at all
    BOOST_TEST((p.decide(retryable(), {1, 0s, {}, false}, g).reason == R::attempts_exhausted));
}

BOOST_AUTO_TEST_CASE(a_server_hint_beats_the_backoff_up_to_the_maximum) {
    const auto p = exact();
    fl::splitmix64 g;
    auto d = p.decide(retryable(7s), {1, 0s, {}, false}, g);
    BOOST_TEST(d.retry);
    BOOST_TEST(d.from_server);
    BOOST_TEST(d.delay == ns(7s));
    d = p.decide(retryable(0ms), {3, 0s, {}, false}, g); // "retry now" is a hint too
    BOOST_TEST((d.retry && d.from_server && d.delay == ns(0)));
    d = p.decide(retryable(60s), {1, 0s, {}, false}, g);
    BOOST_TEST(d.retry);
    d = p.decide(retryable(61s), {1, 0s, {}, false}, g);
    BOOST_TEST(!d.retry);
    BOOST_TEST((d.reason == R::server_delay_too_long));
    // A hostile Retry-After, as classify caps it (24 h), still gives up at once.
    const auto hostile = fl::classify(429, {{"Retry-After", "99999999"}}, "");
    d = p.decide(hostile, {1, 0s, {}, false}, g);
    BOOST_TEST((!d.retry && d.reason == R::server_delay_too_long));
    auto ignore = p;
    ignore.honour_server_delay = false;
    d = ignore.decide(retryable(61s), {2, 0s, {}, false}, g);
    BOOST_TEST((d.retry && !d.from_server && d.delay == ns(2s)));
}

BOOST_AUTO_TEST_CASE(never_sleeps_past_the_deadline) {
    auto p = exact();
    p.deadline = 10s;
    fl::splitmix64 g;
    BOOST_TEST(p.decide(retryable(), {3, 5s, {}, false}, g).retry); // 5 + 4 < 10
    auto d = p.decide(retryable(), {3, 6s, {}, false}, g);          // 6 + 4 = 10: no time left
    BOOST_TEST((!d.retry && d.reason == R::deadline_exceeded));
    BOOST_TEST(d.delay == ns(0));
    d = p.decide(retryable(2s), {1, 9s, {}, false}, g); // the hint counts too
    BOOST_TEST((!d.retry && d.reason == R::deadline_exceeded));
    d = p.decide(retryable(), {1, 11s, {}, false}, g); // already past
    BOOST_TEST((d.reason == R::deadline_exceeded));
    BOOST_TEST((fl::give_up_code(d.reason, retryable()) == fl::error::deadline_exceeded));
    p.deadline = ns::max(); // no overflow with elapsed near the top
    BOOST_TEST(p.decide(retryable(), {1, ns::max() - ns(1s), {}, false}, g).retry == false);
}

BOOST_AUTO_TEST_CASE(content_already_delivered_is_not_replayed_unless_allowed) {
    auto p = exact();
    fl::splitmix64 g;
    const auto mid_stream = fl::to_failure(fl::error::stream_interrupted);
    BOOST_TEST(p.decide(mid_stream, {1, 0s, {}, false}, g).retry);
    auto d = p.decide(mid_stream, {1, 0s, {}, true}, g);
    BOOST_TEST((!d.retry && d.reason == R::content_delivered));
    p.replayable = true;
    BOOST_TEST(p.decide(mid_stream, {1, 0s, {}, true}, g).retry);
}

BOOST_AUTO_TEST_CASE(decorrelated_jitter_reads_the_previous_delay) {
    auto p = exact();
    p.delay = fl::backoff::decorrelated_jitter(1s, 30s);
    fl::splitmix64 g{4};
    for (int i = 0; i < 1000; ++i) {
        const auto d = p.decide(retryable(), {2, 0s, ns(2s), false}, g);
        BOOST_TEST_REQUIRE((d.retry && d.delay >= ns(1s) && d.delay < ns(6s)));
    }
}

BOOST_AUTO_TEST_CASE(give_up_codes) {
    const auto last = retryable();
    BOOST_TEST((fl::give_up_code(R::budget_exhausted, last) == fl::error::retry_budget_exhausted));
    BOOST_TEST((fl::give_up_code(R::cancelled, last) == std::errc::operation_canceled));
    for (auto r :
         {R::not_retryable, R::attempts_exhausted, R::server_delay_too_long, R::content_delivered})
        BOOST_TEST((fl::give_up_code(r, last) == fl::error::upstream_unavailable));
    BOOST_TEST(fl::to_string(R::server_delay_too_long) == "server_delay_too_long");
}

BOOST_AUTO_TEST_SUITE_END()

#include <faultline/retry/channel_pool.hpp>
#include <faultline/retry/circuit_breaker.hpp>

#include <faultline/classify.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>
#include <vector>

namespace fl = faultline;
using namespace std::chrono_literals;
using tp = std::chrono::steady_clock::time_point;
using ns = std::chrono::nanoseconds;
using S = fl::circuit_state;

namespace {
const std::error_code upstream = fl::error::upstream_unavailable;
const std::error_code client = fl::error::invalid_request;

fl::circuit_breaker_options consecutive_only(unsigned n) {
    fl::circuit_breaker_options o;
    o.failure_threshold = n;
    o.failure_rate_threshold = 2.0;
    o.cool_down = 10s;
    o.open_on_retry_after = false;
    return o;
}
} // namespace

BOOST_AUTO_TEST_SUITE(circuit_breaker)

BOOST_AUTO_TEST_CASE(which_codes_count_against_the_upstream) {
    using E = fl::error;
    for (E e : {E::internal_error, E::upstream_unavailable, E::no_available_channel,
                E::upstream_timeout, E::request_timeout, E::overloaded, E::rate_limited,
                E::tpm_exceeded, E::stream_truncated, E::conflict})
        BOOST_TEST(fl::counts_against_upstream(e), fl::to_string(e));
    for (E e : {E::invalid_request, E::authentication, E::insufficient_quota, E::not_found,
                E::content_filter, E::context_length_exceeded, E::circuit_open,
                E::deadline_exceeded, E::retry_budget_exhausted, E::request_exceeds_burst,
                E::limiter_unavailable, E::key_table_full, E::unknown})
        BOOST_TEST(!fl::counts_against_upstream(e), fl::to_string(e));
    BOOST_TEST(fl::counts_against_upstream(std::make_error_code(std::errc::timed_out)));
    BOOST_TEST(fl::counts_against_upstream(std::make_error_code(std::errc::connection_reset)));
    BOOST_TEST(!fl::counts_against_upstream(std::error_code{}));
}

BOOST_AUTO_TEST_CASE(consecutive_failures_open_then_half_open_then_close) {
    fl::circuit_breaker<> b(consecutive_only(3));
    const tp t0{};
    BOOST_TEST((b.state(t0) == S::closed));
    b.record_failure(t0, upstream);
    b.record_failure(t0, upstream);
    b.record_success(t0); // breaks the run
    b.record_failure(t0, upstream);
    b.record_failure(t0, upstream);
    BOOST_TEST((b.state(t0) == S::closed));
    BOOST_TEST(b.try_acquire(t0).has_value());
    b.record_failure(t0 + 1s, upstream);
    BOOST_TEST((b.state(t0 + 1s) == S::open));
    BOOST_TEST((b.try_acquire(t0 + 1s).error() == fl::error::circuit_open));
    BOOST_TEST(b.retry_after(t0 + 1s) == ns(10s));
    BOOST_TEST(b.retry_after(t0 + 6s) == ns(5s));
    BOOST_TEST((b.try_acquire(t0 + 10s).error() == fl::error::circuit_open));
    // Cool-down over: one probe passes, the next caller is refused until it reports.
    BOOST_TEST((b.state(t0 + 11s) == S::half_open));
    BOOST_TEST(b.try_acquire(t0 + 11s).has_value());
    BOOST_TEST((b.try_acquire(t0 + 11s).error() == fl::error::circuit_open));
    b.record_success(t0 + 12s);
    BOOST_TEST((b.state(t0 + 12s) == S::closed));
    BOOST_TEST(b.try_acquire(t0 + 12s).has_value());
}

// Each call says the change of state it made, and only the call that made it.
BOOST_AUTO_TEST_CASE(each_call_says_the_change_it_made) {
    using C = fl::circuit_change;
    const auto same = [](C c, S s) { return !c && c.from == s && c.to == s; };
    const auto moved = [](C c, S from, S to) { return c && c.from == from && c.to == to; };
    fl::circuit_breaker<> b(consecutive_only(2));
    const tp t0{};
    BOOST_TEST(same(b.record_failure(t0, upstream), S::closed));
    BOOST_TEST(same(b.record_failure(t0, client), S::closed)); // neutral
    BOOST_TEST(moved(b.record_failure(t0, upstream), S::closed, S::open));
    BOOST_TEST(same(b.record_failure(t0 + 1s, upstream), S::open)); // a straggler
    BOOST_TEST(same(b.record_success(t0 + 1s), S::open));
    BOOST_TEST(same(b.record_neutral(t0 + 1s), S::open));
    C c;
    BOOST_TEST((b.try_acquire_probe(t0 + 1s, c).error() == fl::error::circuit_open));
    BOOST_TEST(same(c, S::open));
    // The first caller after the cool-down moves it to half-open; the next finds it there.
    BOOST_TEST(b.try_acquire_probe(t0 + 10s, c).value());
    BOOST_TEST(moved(c, S::open, S::half_open));
    BOOST_TEST(!b.try_acquire_probe(t0 + 10s, c));
    BOOST_TEST(same(c, S::half_open));
    BOOST_TEST(moved(b.record_failure(t0 + 11s, upstream), S::half_open, S::open));
    BOOST_TEST(b.try_acquire_probe(t0 + 21s, c).value());
    BOOST_TEST(moved(c, S::open, S::half_open));
    BOOST_TEST(same(b.record_neutral(t0 + 21s), S::half_open)); // frees the slot only
    BOOST_TEST(b.try_acquire_probe(t0 + 21s, c).value());
    BOOST_TEST(same(c, S::half_open));
    BOOST_TEST(moved(b.record_success(t0 + 22s), S::half_open, S::closed));
    BOOST_TEST(same(b.record_success(t0 + 22s), S::closed));
    BOOST_TEST(!b.try_acquire_probe(t0 + 22s, c).value()); // closed: no probe slot
    BOOST_TEST(same(c, S::closed));
    // A classified failure with a Retry-After opens it at once (open_on_retry_after).
    fl::circuit_breaker<> hinted;
    fl::failure f = fl::to_failure(fl::error::rate_limited);
    f.retry_after = std::chrono::milliseconds(3000);
    BOOST_TEST(moved(hinted.record(f, t0), S::closed, S::open));
}

BOOST_AUTO_TEST_CASE(a_failed_probe_reopens_for_another_cool_down) {
    fl::circuit_breaker<> b(consecutive_only(1));
    const tp t0{};
    b.record_failure(t0, upstream);
    BOOST_TEST(b.try_acquire(t0 + 10s).has_value());
    b.record_failure(t0 + 10s, std::make_error_code(std::errc::timed_out));
    BOOST_TEST((b.state(t0 + 10s) == S::open));
    BOOST_TEST(b.retry_after(t0 + 10s) == ns(10s));
    BOOST_TEST((b.state(t0 + 20s) == S::half_open));
}

BOOST_AUTO_TEST_CASE(client_errors_are_neutral_and_free_a_probe) {
    fl::circuit_breaker<> b(consecutive_only(2));
    const tp t0{};
    for (int i = 0; i < 100; ++i)
        b.record_failure(t0, client);
    BOOST_TEST((b.state(t0) == S::closed));
    b.record_failure(t0, upstream);
    b.record_failure(t0, upstream);
    BOOST_TEST(b.try_acquire(t0 + 10s).has_value());
    BOOST_TEST((b.try_acquire(t0 + 10s).error() == fl::error::circuit_open));
    b.record_failure(t0 + 10s, client); // the probe said nothing about health
    BOOST_TEST((b.state(t0 + 10s) == S::half_open));
    BOOST_TEST(b.try_acquire(t0 + 10s).has_value());
}

BOOST_AUTO_TEST_CASE(a_lost_probe_expires_after_one_cool_down) {
    fl::circuit_breaker<> b(consecutive_only(1));
    const tp t0{};
    b.record_failure(t0, upstream);
    BOOST_TEST(b.try_acquire(t0 + 10s).has_value()); // never reported
    BOOST_TEST((b.try_acquire(t0 + 15s).error() == fl::error::circuit_open));
    BOOST_TEST(b.try_acquire(t0 + 20s).has_value());
}

BOOST_AUTO_TEST_CASE(failure_rate_over_the_window_opens_it) {
    fl::circuit_breaker_options o;
    o.failure_threshold = 0;
    o.failure_rate_threshold = 0.5;
    o.minimum_calls = 10;
    o.window = 10s;
    o.cool_down = 5s;
    o.open_on_retry_after = false;
    fl::circuit_breaker<> b(o);
    const tp t0{};
    // Alternating outcomes: 50% failures, but only from the 10th call on does the share count.
    for (int i = 0; i < 9; ++i) {
        if (i % 2)
            b.record_failure(t0, upstream);
        else
            b.record_success(t0);
    }
    BOOST_TEST((b.state(t0) == S::closed));
    b.record_failure(t0, upstream); // 5 of 10
    BOOST_TEST((b.state(t0) == S::open));

    // Old outcomes leave the window: 9 failures long ago, then a healthy stretch.
    fl::circuit_breaker<> c(o);
    for (int i = 0; i < 9; ++i)
        c.record_failure(t0, upstream);
    for (int i = 0; i < 9; ++i)
        c.record_success(t0 + 11s);
    c.record_failure(t0 + 11s, upstream); // 1 of 10 in the window
    BOOST_TEST((c.state(t0 + 11s) == S::closed));
}

BOOST_AUTO_TEST_CASE(retry_after_sets_and_extends_the_cool_down) {
    fl::circuit_breaker_options o = consecutive_only(2);
    fl::circuit_breaker<> b(o);
    const tp t0{};
    b.record_failure(t0, upstream, ns(1s));
    b.record_failure(t0, upstream, ns(45s)); // trips; the server's 45 s beat the 10 s cool-down
    BOOST_TEST(b.retry_after(t0) == ns(45s));
    b.record_failure(t0 + 1s, upstream, ns(1h)); // a straggler: capped at max_cool_down
    BOOST_TEST(b.retry_after(t0 + 1s) == ns(5min));
    b.record_failure(t0 + 2s, upstream, ns(1s)); // never shortens it
    BOOST_TEST(b.retry_after(t0 + 2s) == ns(5min) - ns(1s));

    // With open_on_retry_after one failure with a hint opens for exactly the hint.
    fl::circuit_breaker<> c;
    c.record_failure(t0, fl::error::rate_limited, ns(20s));
    BOOST_TEST((c.state(t0) == S::open));
    BOOST_TEST(c.retry_after(t0) == ns(20s));
    BOOST_TEST((c.state(t0 + 20s) == S::half_open));
    // A hint of zero is no reason to open.
    fl::circuit_breaker<> d;
    d.record_failure(t0, fl::error::rate_limited, ns(0));
    BOOST_TEST((d.state(t0) == S::closed));
}

BOOST_AUTO_TEST_CASE(records_a_classified_failure) {
    fl::circuit_breaker<> b;
    const tp t0{};
    const fl::failure f =
        fl::classify(429, {{"Retry-After", "7"}}, R"({"error":{"message":"slow down"}})");
    BOOST_TEST(f.retry_after.has_value());
    b.record(f, t0);
    BOOST_TEST((b.state(t0) == S::open));
    BOOST_TEST(b.retry_after(t0) == ns(7s));
    const fl::failure bad = fl::classify(400, R"({"error":{"message":"bad"}})");
    fl::circuit_breaker<> c(consecutive_only(1));
    c.record(bad, t0);
    BOOST_TEST((c.state(t0) == S::closed));
}

BOOST_AUTO_TEST_CASE(reset_closes) {
    fl::circuit_breaker<> b(consecutive_only(1));
    const tp t0{};
    b.record_failure(t0, upstream);
    b.reset();
    BOOST_TEST((b.state(t0) == S::closed));
    BOOST_TEST(b.try_acquire(t0).has_value());
    BOOST_TEST(fl::to_string(S::half_open) == "half_open");
}

BOOST_AUTO_TEST_CASE(pool_routes_around_open_channels) {
    fl::channel_pool<> pool(3, consecutive_only(1));
    const tp t0{};
    BOOST_TEST(pool.size() == 3u);
    std::vector<std::size_t> picks;
    for (int i = 0; i < 6; ++i)
        picks.push_back(pool.pick(t0).value());
    BOOST_TEST(picks == (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}),
               boost::test_tools::per_element());
    pool[1].record_failure(t0, upstream);
    for (int i = 0; i < 6; ++i)
        BOOST_TEST(pool.pick(t0).value() != 1u);
    BOOST_TEST(pool.retry_after(t0) == ns(0));
    pool[0].record_failure(t0 + 2s, upstream);
    pool[2].record_failure(t0 + 4s, upstream);
    const auto none = pool.pick(t0 + 5s);
    BOOST_TEST(!none);
    BOOST_TEST((none.error() == fl::error::no_available_channel));
    BOOST_TEST(fl::status_of(fl::error::no_available_channel) == 503u);
    BOOST_TEST(pool.retry_after(t0 + 5s) == ns(5s)); // channel 1 reopens first, at t0 + 10 s
    BOOST_TEST(pool.pick(t0 + 10s).value() == 1u);   // its probe
    BOOST_TEST(!pool.pick(t0 + 10s));                // probe taken, others still open
    fl::channel_pool<> empty(0);
    BOOST_TEST((empty.pick(t0).error() == fl::error::no_available_channel));
}

BOOST_AUTO_TEST_CASE(concurrent_use_keeps_one_probe) {
    fl::circuit_breaker<> b(consecutive_only(1));
    const tp t0{};
    b.record_failure(t0, upstream);
    std::atomic<int> admitted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 1000; ++i)
                admitted += b.try_acquire(t0 + 10s).has_value();
        });
    for (auto& th : threads)
        th.join();
    BOOST_TEST(admitted.load() == 1);
}

BOOST_AUTO_TEST_SUITE_END()

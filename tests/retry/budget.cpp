#include <faultline/retry/budget.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <limits>
#include <thread>
#include <vector>

namespace fl = faultline;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using tp = clock_type::time_point;

BOOST_AUTO_TEST_SUITE(budget)

BOOST_AUTO_TEST_CASE(the_floor_alone_admits_a_few_retries) {
    fl::retry_budget<> b; // floor = 1/s * 10 s = 10
    const tp t0{};
    for (int i = 0; i < 10; ++i)
        BOOST_TEST(b.try_acquire_retry(t0 + 1ms * i));
    BOOST_TEST(!b.try_acquire_retry(t0 + 20ms));
    BOOST_TEST((b.acquire_retry(t0 + 20ms).error() == fl::error::retry_budget_exhausted));
    BOOST_TEST(b.available(t0 + 20ms) == 0.0);
}

BOOST_AUTO_TEST_CASE(retries_are_a_share_of_requests) {
    fl::retry_budget<> b({10s, 0.2, 0.0});
    const tp t0{};
    BOOST_TEST(!b.try_acquire_retry(t0));
    for (int i = 0; i < 100; ++i)
        b.record_request(t0 + 1ms * i);
    int admitted = 0;
    for (int i = 0; i < 1000; ++i)
        admitted += b.try_acquire_retry(t0 + 200ms);
    BOOST_TEST(admitted == 20);
    const auto c = b.in_window(t0 + 200ms);
    BOOST_TEST(c.requests == 100u);
    BOOST_TEST(c.retries == 20u);
    // Five more requests make room for exactly one more retry.
    for (int i = 0; i < 5; ++i)
        b.record_request(t0 + 300ms);
    BOOST_TEST(b.try_acquire_retry(t0 + 300ms));
    BOOST_TEST(!b.try_acquire_retry(t0 + 300ms));
}

BOOST_AUTO_TEST_CASE(an_outage_is_bounded_then_the_budget_recovers) {
    // 1000 requests per second, every one failing and wanting 3 retries.
    fl::retry_budget<> b;
    const tp t0{};
    std::uint64_t requests = 0, retries = 0;
    for (int ms = 0; ms < 30'000; ++ms) {
        const tp now = t0 + 1ms * ms;
        b.record_request(now);
        ++requests;
        for (int r = 0; r < 3; ++r)
            retries += b.try_acquire_retry(now);
    }
    // Without a budget there would be 3 retries per request; with it, about 0.2 + floor.
    const double share = static_cast<double>(retries) / static_cast<double>(requests);
    BOOST_TEST(share <= 0.2 + 10.0 / 10'000 + 0.01);
    BOOST_TEST(share >= 0.19);
    // Once the window has passed with no traffic, the floor is back.
    const tp later = t0 + 30s + 11s;
    BOOST_TEST(b.in_window(later).requests == 0u);
    BOOST_TEST(b.in_window(later).retries == 0u);
    BOOST_TEST(b.available(later) == 10.0);
    BOOST_TEST(b.try_acquire_retry(later));
}

BOOST_AUTO_TEST_CASE(old_counts_leave_the_window_slot_by_slot) {
    fl::retry_budget<> b({10s, 1.0, 0.0});
    const tp t0{};
    for (int i = 0; i < 10; ++i)
        b.record_request(t0 + 1s * i); // one per 1 s slot
    BOOST_TEST(b.in_window(t0 + 9s).requests == 10u);
    BOOST_TEST(b.in_window(t0 + 10s).requests == 9u);
    BOOST_TEST(b.in_window(t0 + 15s).requests == 4u);
    BOOST_TEST(b.in_window(t0 + 19s).requests == 0u);
}

BOOST_AUTO_TEST_CASE(time_never_runs_backwards) {
    fl::retry_budget<> b({10s, 1.0, 0.0});
    const tp t0 = tp{} + 100s;
    b.record_request(t0);
    b.record_request(t0 - 50s); // an earlier now counts in the current slot, not a past one
    BOOST_TEST(b.in_window(t0).requests == 2u);
    BOOST_TEST(b.in_window(t0 + 11s).requests == 0u);
    b.record_request(t0);
    BOOST_TEST(b.in_window(t0 + 11s).requests == 1u);
    // Negative time points from a manual clock work too.
    fl::retry_budget<> n({10s, 1.0, 0.0});
    n.record_request(tp{} - 25s);
    BOOST_TEST(n.in_window(tp{} - 16s).requests == 1u);
    BOOST_TEST(n.in_window(tp{} - 14s).requests == 0u);
}

BOOST_AUTO_TEST_CASE(time_points_at_the_ends_of_the_clock_count) {
    // The shortest window (1 ns slots): the epochs are the time points themselves, and a jump
    // from the clock's first tick to its last spans the whole 64-bit range.
    constexpr auto first = tp(tp::duration(std::numeric_limits<tp::rep>::min()));
    constexpr auto last = tp(tp::duration(std::numeric_limits<tp::rep>::max()));
    fl::retry_budget<> b({10ns, 1.0, 0.0});
    b.record_request(first);
    b.record_request(first + 9ns);
    BOOST_TEST(b.in_window(first + 9ns).requests == 2u);
    BOOST_TEST(b.in_window(first + 10ns).requests == 1u);
    b.record_request(last - 1ns);
    BOOST_TEST(b.in_window(last - 1ns).requests == 1u);
    BOOST_TEST(b.try_acquire_retry(last));
    b.record_request(last);
    BOOST_TEST(b.in_window(last).requests == 2u);
    BOOST_TEST(b.in_window(last).retries == 1u);
    // A long window: the last slot ends past the clock's last tick.
    fl::retry_budget<> w({std::chrono::hours(24 * 365), 1.0, 0.0});
    w.record_request(last - 1s);
    w.record_request(last);
    BOOST_TEST(w.in_window(last).requests == 2u);
    w.record_request(first);
    BOOST_TEST(w.in_window(first).requests == 3u); // time does not run backwards
}

BOOST_AUTO_TEST_CASE(a_slot_is_left_exactly_at_its_edge) {
    fl::retry_budget<> b({10s, 1.0, 0.0}); // 1 s slots
    const tp t0{};
    b.record_request(t0 + 999'999'999ns);
    b.record_request(t0 + 1s); // the next slot
    BOOST_TEST(b.in_window(t0 + 10s - 1ns).requests == 2u);
    BOOST_TEST(b.in_window(t0 + 10s).requests == 1u); // the first slot left whole
    BOOST_TEST(b.in_window(t0 + 11s - 1ns).requests == 1u);
    BOOST_TEST(b.in_window(t0 + 11s).requests == 0u);
    // Counted again in a slot that was cleared: the slot's old count is gone.
    b.record_request(t0 + 21s);
    BOOST_TEST(b.in_window(t0 + 21s).requests == 1u);
    BOOST_TEST(b.in_window(t0 + 30s + 999ms).requests == 1u);
    BOOST_TEST(b.in_window(t0 + 31s).requests == 0u);
}

BOOST_AUTO_TEST_CASE(concurrent_acquires_never_exceed_the_budget) {
    fl::retry_budget<> b({10s, 0.5, 0.0});
    const tp t0{};
    for (int i = 0; i < 1000; ++i)
        b.record_request(t0);
    std::atomic<int> admitted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 1000; ++i)
                admitted += b.try_acquire_retry(t0);
        });
    for (auto& th : threads)
        th.join();
    BOOST_TEST(admitted.load() == 500);
}

BOOST_AUTO_TEST_SUITE_END()

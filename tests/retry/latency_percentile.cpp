#include <faultline/retry/latency_percentile.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

namespace fl = faultline;
using namespace std::chrono_literals;

namespace {

std::optional<std::chrono::nanoseconds> ms(int n) {
    return std::chrono::milliseconds(n);
}

} // namespace

BOOST_AUTO_TEST_SUITE(latency_percentile)

BOOST_AUTO_TEST_CASE(nothing_until_enough_samples) {
    fl::latency_percentile p({.capacity = 10, .percentile = 0.5, .min_samples = 3});
    BOOST_TEST(!p.value());
    p.record(10ms);
    p.record(30ms);
    BOOST_TEST(!p.value());
    BOOST_TEST(p.size() == 2u);
    p.record(20ms);
    BOOST_TEST((p.value() == ms(20)));
}

BOOST_AUTO_TEST_CASE(the_nearest_rank_of_the_samples) {
    // Samples 1..10 ms, recorded out of order; each percentile recomputed at once.
    const std::vector<int> order{7, 3, 10, 1, 9, 2, 8, 4, 6, 5};
    const std::vector<std::pair<double, int>> cases{{0.01, 1}, {0.1, 1}, {0.11, 2},  {0.5, 5},
                                                    {0.7, 7},  {0.9, 9}, {0.95, 10}, {1.0, 10}};
    for (const auto& [percentile, want] : cases) {
        fl::latency_percentile p(
            {.capacity = 10, .percentile = percentile, .min_samples = 10, .refresh_every = 1});
        for (int n : order)
            p.record(std::chrono::milliseconds(n));
        BOOST_TEST_CONTEXT("percentile " << percentile) {
            BOOST_TEST((p.value() == ms(want)));
        }
    }
}

// 0.07 * 100 is 7.000000000000001 in binary: the rank is still 7.
BOOST_AUTO_TEST_CASE(a_rank_within_rounding_of_a_whole_number_is_that_number) {
    fl::latency_percentile p(
        {.capacity = 100, .percentile = 0.07, .min_samples = 100, .refresh_every = 1});
    for (int n = 100; n >= 1; --n)
        p.record(std::chrono::milliseconds(n));
    BOOST_TEST((p.value() == ms(7)));
}

BOOST_AUTO_TEST_CASE(only_the_latest_samples_count) {
    // A target that was slow and turned fast: once the ring has turned, the old samples are gone.
    fl::latency_percentile p(
        {.capacity = 4, .percentile = 1.0, .min_samples = 1, .refresh_every = 1});
    for (int i = 0; i < 4; ++i)
        p.record(900ms);
    BOOST_TEST((p.value() == ms(900)));
    for (int i = 0; i < 3; ++i)
        p.record(20ms);
    BOOST_TEST((p.value() == ms(900))); // one slow sample left
    p.record(20ms);
    BOOST_TEST((p.value() == ms(20)));
    BOOST_TEST(p.size() == 4u);
}

BOOST_AUTO_TEST_CASE(recomputed_every_refresh_records) {
    fl::latency_percentile p(
        {.capacity = 100, .percentile = 1.0, .min_samples = 2, .refresh_every = 3});
    p.record(10ms);
    p.record(20ms); // the count reaches min_samples: computed
    BOOST_TEST((p.value() == ms(20)));
    p.record(30ms);
    p.record(40ms);
    BOOST_TEST((p.value() == ms(20))); // two records since: not yet
    p.record(50ms);
    BOOST_TEST((p.value() == ms(50))); // the third
}

BOOST_AUTO_TEST_CASE(negative_latencies_count_as_zero) {
    fl::latency_percentile p({.capacity = 2, .percentile = 1.0, .min_samples = 1});
    p.record(-5ms);
    BOOST_TEST((p.value() == std::optional<std::chrono::nanoseconds>(0ns)));
}

BOOST_AUTO_TEST_CASE(bad_options_are_refused) {
    using o = fl::latency_percentile_options;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::vector<o> bad{
        {.capacity = 0},           {.capacity = (std::size_t{1} << 20) + 1},
        {.percentile = 0.0},       {.percentile = -0.5},
        {.percentile = 1.0000001}, {.percentile = nan},
        {.min_samples = 0},        {.capacity = 10, .min_samples = 11},
        {.refresh_every = 0},
    };
    for (const o& opts : bad) {
        BOOST_TEST((fl::validate(opts) == std::errc::invalid_argument));
        BOOST_CHECK_THROW(fl::latency_percentile{opts}, std::system_error);
    }
    BOOST_TEST(!fl::validate(o{}));
    BOOST_TEST(!fl::validate(o{
        .capacity = std::size_t{1} << 20, .percentile = 1.0, .min_samples = std::size_t{1} << 20}));
    // Refreshed less often than the ring turns: valid, if stale.
    BOOST_TEST(!fl::validate(o{.capacity = 2, .min_samples = 1, .refresh_every = 100}));
}

// Many calls record and read one percentile at once (ThreadSanitizer runs this suite).
BOOST_AUTO_TEST_CASE(calls_record_and_read_it_concurrently) {
    fl::latency_percentile p(
        {.capacity = 64, .percentile = 0.5, .min_samples = 8, .refresh_every = 4});
    constexpr int threads = 4;
    constexpr int per_thread = 2000;
    std::vector<std::thread> pool;
    std::atomic<int> out_of_range{0};
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                p.record(std::chrono::microseconds(1 + (i + t) % 100));
                if (const auto v = p.value(); v && (*v < 1us || *v > 100us)) ++out_of_range;
            }
        });
    for (std::thread& th : pool)
        th.join();
    BOOST_TEST(out_of_range.load() == 0);
    BOOST_TEST(p.size() == 64u);
    BOOST_TEST(p.value().has_value());
}

BOOST_AUTO_TEST_SUITE_END()

#include <faultline/retry/backoff.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <thread>
#include <vector>

namespace fl = faultline;
using namespace std::chrono_literals;
using ns = std::chrono::nanoseconds;

namespace {

// A generator pinned to one output, to probe the ends of the [0, 1) mapping.
template <std::uint64_t V>
struct fixed_urbg {
    using result_type = std::uint64_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return std::numeric_limits<std::uint64_t>::max(); }
    result_type operator()() { return V; }
};

struct moments {
    double mean = 0;
    double var = 0;
    ns min = ns::max();
    ns max = ns::min();
};

template <class F>
moments sample(std::size_t n, F draw) {
    std::vector<double> xs;
    xs.reserve(n);
    moments m;
    for (std::size_t i = 0; i < n; ++i) {
        const ns d = draw();
        m.min = std::min(m.min, d);
        m.max = std::max(m.max, d);
        xs.push_back(static_cast<double>(d.count()));
        m.mean += xs.back();
    }
    m.mean /= static_cast<double>(n);
    for (double x : xs)
        m.var += (x - m.mean) * (x - m.mean);
    m.var /= static_cast<double>(n - 1);
    return m;
}

constexpr std::size_t n_samples = 100'000;

} // namespace

BOOST_AUTO_TEST_SUITE(backoff)

BOOST_AUTO_TEST_CASE(defaults_follow_the_reference_guidance) {
    const fl::backoff b;
    BOOST_TEST((b.kind == fl::backoff_kind::full_jitter));
    BOOST_TEST(b.base == ns(1s));
    BOOST_TEST(b.cap == ns(30s));
    BOOST_TEST(b.multiplier == 2.0);
    BOOST_TEST(!b.validate());
}

BOOST_AUTO_TEST_CASE(exponential_doubles_up_to_the_cap) {
    const auto b = fl::backoff::exponential(1s, 30s);
    fl::splitmix64 g{1};
    const std::int64_t expect_s[] = {1, 1, 2, 4, 8, 16, 30, 30, 30};
    for (unsigned n = 0; n < std::size(expect_s); ++n)
        BOOST_TEST(b.next_delay(n, {}, g) == ns(std::chrono::seconds(expect_s[n])),
                   "attempt " << n);
    // Non-integer multipliers: 1 ms * 1.5^9 is exact in binary; 1.5^109 is past any cap.
    const auto slow = fl::backoff::exponential(1ms, 1h, 1.5);
    BOOST_TEST(slow.next_delay(10, {}, g) == ns(38'443'359));
    BOOST_TEST(slow.next_delay(110, {}, g) == ns(1h));
    BOOST_TEST(fl::backoff::exponential(1ns, ns::max(), 1.5).next_delay(200, {}, g) == ns::max());
    const auto tripled = fl::backoff::exponential(100ms, 10s, 3.0);
    BOOST_TEST(tripled.next_delay(3, {}, g) == ns(900ms));
    BOOST_TEST(tripled.next_delay(6, {}, g) == ns(10s));
}

BOOST_AUTO_TEST_CASE(constant_is_constant) {
    const auto b = fl::backoff::constant(250ms);
    fl::splitmix64 g{1};
    for (unsigned n : {0u, 1u, 7u, 10'000u, std::numeric_limits<unsigned>::max()})
        BOOST_TEST(b.next_delay(n, 5s, g) == ns(250ms));
    BOOST_TEST(fl::backoff::constant(0ms).next_delay(3, {}, g) == ns(0));
}

BOOST_AUTO_TEST_CASE(full_jitter_is_uniform_below_the_ceiling) {
    const auto b = fl::backoff::full_jitter(1s, 30s);
    for (unsigned n : {1u, 3u, 5u, 9u}) {
        fl::splitmix64 g{n};
        const double d = static_cast<double>(b.upper_bound(n).count());
        const auto m = sample(n_samples, [&] { return b.next_delay(n, {}, g); });
        BOOST_TEST_CONTEXT("attempt " << n) {
            BOOST_TEST(m.min >= ns(0));
            BOOST_TEST(m.max < b.upper_bound(n));
            BOOST_TEST(m.min < ns(static_cast<std::int64_t>(d * 0.001)));
            BOOST_TEST(m.max > ns(static_cast<std::int64_t>(d * 0.999)));
            BOOST_TEST(m.mean / d == 0.5, boost::test_tools::tolerance(0.01));
            BOOST_TEST(m.var / (d * d) == 1.0 / 12, boost::test_tools::tolerance(0.02));
        }
    }
}

BOOST_AUTO_TEST_CASE(equal_jitter_keeps_half_the_ceiling) {
    const auto b = fl::backoff::equal_jitter(1s, 30s);
    for (unsigned n : {1u, 4u, 8u}) {
        fl::splitmix64 g{100 + n};
        const double d = static_cast<double>(b.upper_bound(n).count());
        const auto m = sample(n_samples, [&] { return b.next_delay(n, {}, g); });
        BOOST_TEST_CONTEXT("attempt " << n) {
            BOOST_TEST(m.min >= ns(static_cast<std::int64_t>(d / 2)));
            BOOST_TEST(m.max < b.upper_bound(n));
            BOOST_TEST(m.mean / d == 0.75, boost::test_tools::tolerance(0.01));
            BOOST_TEST(m.var / (d * d) == 1.0 / 48, boost::test_tools::tolerance(0.02));
        }
    }
}

BOOST_AUTO_TEST_CASE(decorrelated_jitter_spans_base_to_three_times_previous) {
    const auto b = fl::backoff::decorrelated_jitter(1s, 30s);
    BOOST_TEST(b.multiplier == 3.0);
    for (ns prev : {ns(0), ns(1s), ns(4s), ns(9s)}) {
        fl::splitmix64 g{static_cast<std::uint64_t>(prev.count()) + 7};
        const double lo = 1e9;
        const double hi =
            std::max(lo, 3.0 * static_cast<double>((prev.count() ? prev : ns(1s)).count()));
        const auto m = sample(n_samples, [&] { return b.next_delay(1, prev, g); });
        BOOST_TEST_CONTEXT("previous " << prev.count()) {
            BOOST_TEST(m.min >= ns(1s));
            BOOST_TEST(m.max < b.upper_bound(1, prev));
            BOOST_TEST(m.mean == (lo + hi) / 2, boost::test_tools::tolerance(0.01));
            BOOST_TEST(m.var == (hi - lo) * (hi - lo) / 12, boost::test_tools::tolerance(0.02));
        }
    }
    // Past the cap the draw is clamped: U(1 s, 60 s) capped at 30 s is 30 s about half the time.
    fl::splitmix64 g{3};
    std::size_t at_cap = 0;
    for (std::size_t i = 0; i < n_samples; ++i) {
        const ns d = b.next_delay(9, 20s, g);
        BOOST_TEST_REQUIRE(d <= ns(30s));
        at_cap += d == ns(30s);
    }
    BOOST_TEST(static_cast<double>(at_cap) / n_samples == 30.0 / 59.0,
               boost::test_tools::tolerance(0.02));
}

BOOST_AUTO_TEST_CASE(a_decorrelated_schedule_stays_within_base_and_cap) {
    const auto b = fl::backoff::decorrelated_jitter(10ms, 2s);
    fl::splitmix64 g{99};
    ns prev{};
    for (unsigned n = 1; n <= 10'000; ++n) {
        prev = b.next_delay(n, prev, g);
        BOOST_TEST_REQUIRE(prev >= ns(10ms));
        BOOST_TEST_REQUIRE(prev <= ns(2s));
    }
}

BOOST_AUTO_TEST_CASE(high_attempts_and_huge_multipliers_saturate_at_the_cap) {
    const double mults[] = {1.0,
                            1.0000001,
                            2.0,
                            1e10,
                            1e300,
                            std::numeric_limits<double>::max(),
                            std::numeric_limits<double>::infinity()};
    const unsigned attempts[] = {64u, 1'000u, 10'000u, std::numeric_limits<unsigned>::max()};
    const ns caps[] = {ns(30s), ns::max()};
    fixed_urbg<std::numeric_limits<std::uint64_t>::max()> top;
    for (ns cap : caps)
        for (double m : mults)
            for (unsigned n : attempts)
                for (auto kind :
                     {fl::backoff_kind::exponential, fl::backoff_kind::full_jitter,
                      fl::backoff_kind::equal_jitter, fl::backoff_kind::decorrelated_jitter}) {
                    const fl::backoff b{kind, 1s, cap, m};
                    const ns d = b.next_delay(n, cap, top);
                    BOOST_TEST_CONTEXT(fl::to_string(kind) << " m=" << m << " n=" << n) {
                        BOOST_TEST(d >= ns(0));
                        BOOST_TEST(d <= cap);
                        if (m >= 2.0 && kind == fl::backoff_kind::exponential) BOOST_TEST(d == cap);
                    }
                }
    // Multiplier exactly 1: exponential is constant at base.
    fl::splitmix64 g;
    BOOST_TEST(fl::backoff::exponential(1s, 30s, 1.0).next_delay(10'000, {}, g) == ns(1s));
}

BOOST_AUTO_TEST_CASE(out_of_range_members_are_sanitised_and_reported) {
    fl::splitmix64 g{5};
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const fl::backoff bad[] = {
        {fl::backoff_kind::exponential, -1s, 30s, 2.0},
        {fl::backoff_kind::full_jitter, 1s, -30s, 2.0},
        {fl::backoff_kind::equal_jitter, 10s, 1s, 2.0},
        {fl::backoff_kind::decorrelated_jitter, 1s, 30s, nan},
        {fl::backoff_kind::exponential, 1s, 30s, 0.5},
        {fl::backoff_kind::exponential, 0s, 30s, std::numeric_limits<double>::infinity()},
    };
    for (const auto& b : bad) {
        BOOST_TEST((b.validate() == std::errc::invalid_argument));
        for (unsigned n : {1u, 2u, 50u, 10'000u}) {
            const ns d = b.next_delay(n, 3s, g);
            BOOST_TEST(d >= ns(0));
            BOOST_TEST(d <= std::max(b.cap, ns(0)));
        }
    }
    // A multiplier below 1 counts as 1: the delay never shrinks below base.
    BOOST_TEST(bad[4].next_delay(9, {}, g) == ns(1s));
    // A negative cap is a zero cap.
    BOOST_TEST(bad[1].next_delay(3, {}, g) == ns(0));
    // Base 0 with an infinite multiplier is 0, not NaN.
    BOOST_TEST(bad[5].next_delay(9, {}, g) == ns(0));
}

BOOST_AUTO_TEST_CASE(uniform01_maps_every_generator_into_the_half_open_interval) {
    fixed_urbg<0> zero;
    fixed_urbg<std::numeric_limits<std::uint64_t>::max()> top;
    BOOST_TEST(fl::uniform01(zero) == 0.0);
    BOOST_TEST(fl::uniform01(top) < 1.0);
    BOOST_TEST(fl::uniform01(top) > 0.999999);

    std::mt19937 g32{1};
    std::mt19937_64 g64{1};
    std::minstd_rand gm{1}; // not a full-range generator: the generate_canonical path
    fl::splitmix64 gs{1};
    double s32 = 0, s64 = 0, sm = 0, ss = 0;
    for (std::size_t i = 0; i < n_samples; ++i) {
        const double a = fl::uniform01(g32), b = fl::uniform01(g64), c = fl::uniform01(gm),
                     d = fl::uniform01(gs);
        BOOST_TEST_REQUIRE((a >= 0.0 && a < 1.0 && b >= 0.0 && b < 1.0 && c >= 0.0 && c < 1.0 &&
                            d >= 0.0 && d < 1.0));
        s32 += a, s64 += b, sm += c, ss += d;
    }
    for (double s : {s32, s64, sm, ss})
        BOOST_TEST(s / n_samples == 0.5, boost::test_tools::tolerance(0.01));
}

BOOST_AUTO_TEST_CASE(jitter_draws_stay_below_the_ceiling_at_the_top_of_the_generator) {
    fixed_urbg<std::numeric_limits<std::uint64_t>::max()> top;
    fixed_urbg<0> zero;
    const auto full = fl::backoff::full_jitter(1s, 30s);
    BOOST_TEST(full.next_delay(3, {}, top) < ns(4s));
    BOOST_TEST(full.next_delay(3, {}, zero) == ns(0));
    const auto equal = fl::backoff::equal_jitter(1s, 30s);
    BOOST_TEST(equal.next_delay(3, {}, zero) == ns(2s));
    const auto deco = fl::backoff::decorrelated_jitter(1s, 30s);
    BOOST_TEST(deco.next_delay(2, 2s, zero) == ns(1s));
    BOOST_TEST(deco.next_delay(2, 2s, top) < ns(6s));
}

BOOST_AUTO_TEST_CASE(a_fixed_seed_gives_a_fixed_schedule) {
    const auto b = fl::backoff::decorrelated_jitter(1s, 30s);
    fl::splitmix64 g1{2026}, g2{2026};
    ns p1{}, p2{};
    for (unsigned n = 1; n <= 20; ++n) {
        p1 = b.next_delay(n, p1, g1);
        p2 = b.next_delay(n, p2, g2);
        BOOST_TEST(p1 == p2);
    }
}

// Seeds differ from call to call and from thread to thread (each thread's stream is seeded on
// its own), so loops started together do not jitter in lockstep.
BOOST_AUTO_TEST_CASE(random_seeds_differ_between_calls_and_threads) {
    constexpr int n = 1000;
    std::vector<std::uint64_t> seeds;
    for (int i = 0; i < n; ++i)
        seeds.push_back(fl::random_seed());
    std::thread other([&] {
        std::vector<std::uint64_t> own;
        for (int i = 0; i < n; ++i)
            own.push_back(fl::random_seed());
        seeds.insert(seeds.end(), own.begin(), own.end());
    });
    other.join();
    std::sort(seeds.begin(), seeds.end());
    BOOST_TEST((std::adjacent_find(seeds.begin(), seeds.end()) == seeds.end()));
    BOOST_TEST(seeds.size() == 2u * n);
}

BOOST_AUTO_TEST_CASE(names_round_trip) {
    for (auto k :
         {fl::backoff_kind::constant, fl::backoff_kind::exponential, fl::backoff_kind::full_jitter,
          fl::backoff_kind::equal_jitter, fl::backoff_kind::decorrelated_jitter}) {
        fl::backoff_kind parsed{};
        BOOST_TEST(fl::from_string(fl::to_string(k), parsed));
        BOOST_TEST((parsed == k));
    }
    fl::backoff_kind k{};
    BOOST_TEST((fl::from_string("full", k) && k == fl::backoff_kind::full_jitter));
    BOOST_TEST((fl::from_string("equal", k) && k == fl::backoff_kind::equal_jitter));
    BOOST_TEST((fl::from_string("decorrelated", k) && k == fl::backoff_kind::decorrelated_jitter));
    BOOST_TEST(!fl::from_string("", k));
    BOOST_TEST(!fl::from_string("Full", k));
    BOOST_TEST(fl::to_string(static_cast<fl::backoff_kind>(99)) == "unknown");
}

BOOST_AUTO_TEST_SUITE_END()

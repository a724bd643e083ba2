#include <faultline/limit/clock.hpp>

#include <faultline/limit/token_bucket.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <ctime>
#include <type_traits>

namespace lim = faultline::limit;
using namespace std::chrono_literals;
using coarse = lim::coarse_steady_clock;

BOOST_AUTO_TEST_SUITE(limit_clock)

BOOST_AUTO_TEST_CASE(coarse_clock_meets_the_clock_requirements) {
    static_assert(std::chrono::is_clock_v<coarse>);
    static_assert(coarse::is_steady);
    static_assert(std::is_same_v<coarse::duration, std::chrono::nanoseconds>);
    static_assert(std::is_same_v<coarse::time_point::clock, coarse>);
    static_assert(noexcept(coarse::now()));
}

BOOST_AUTO_TEST_CASE(coarse_clock_never_goes_backwards) {
    coarse::time_point last = coarse::now();
    for (int i = 0; i < 100'000; ++i) {
        const coarse::time_point t = coarse::now();
        BOOST_TEST_REQUIRE((t >= last));
        last = t;
    }
}

// Same epoch as CLOCK_MONOTONIC, and never ahead of it: a reading is the monotonic time of the
// last tick.
BOOST_AUTO_TEST_CASE(coarse_clock_is_never_ahead_of_steady_clock) {
    for (int i = 0; i < 10'000; ++i) {
        const coarse::time_point c = coarse::now();
        const auto s = std::chrono::steady_clock::now();
        BOOST_TEST_REQUIRE(c.time_since_epoch().count() <= s.time_since_epoch().count());
    }
}

BOOST_AUTO_TEST_CASE(resolution_is_what_the_kernel_says) {
    timespec ts{};
#ifdef CLOCK_MONOTONIC_COARSE
    BOOST_TEST_REQUIRE(::clock_getres(CLOCK_MONOTONIC_COARSE, &ts) == 0);
#else
    BOOST_TEST_REQUIRE(::clock_getres(CLOCK_MONOTONIC, &ts) == 0);
#endif
    BOOST_TEST(coarse::resolution().count() == ts.tv_sec * 1'000'000'000 + ts.tv_nsec);
    BOOST_TEST(coarse::resolution().count() > 0);
    BOOST_TEST(coarse::resolution() <= 1s);
}

// `now` is passed explicitly (built on the coarse clock's own reading) so nothing depends on
// how fast the test runs; the default arguments read the coarse clock.
BOOST_AUTO_TEST_CASE(a_token_bucket_runs_on_the_coarse_clock) {
    const coarse::time_point t0 = coarse::now();
    lim::token_bucket<coarse> b({lim::rate::per_second(10), 2}, t0);
    BOOST_TEST(b.try_acquire(1, t0).admitted);
    BOOST_TEST(b.try_acquire(1, t0).admitted);
    const lim::decision refused = b.try_acquire(1, t0);
    BOOST_TEST(!refused.admitted);
    BOOST_TEST(refused.retry_after == 100ms);
    BOOST_TEST(b.try_acquire(1, t0 + 100ms).admitted);
    BOOST_TEST(b.available(t0 + 100ms) == 0u);
    BOOST_TEST(b.available(t0 + 1s) == 2u);

    // A burst no caller can exhaust: every default-clock acquire is admitted.
    lim::token_bucket<coarse> big({lim::rate::per_second(1e9), 1'000'000'000});
    for (int i = 0; i < 1'000; ++i)
        BOOST_TEST_REQUIRE(big.try_acquire().admitted);
    BOOST_TEST(big.available() <= 1'000'000'000u);
}

BOOST_AUTO_TEST_SUITE_END()

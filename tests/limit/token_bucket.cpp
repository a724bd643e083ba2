#include <faultline/limit/token_bucket.hpp>

#include "manual_clock.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace fl = faultline;
namespace lim = faultline::limit;
using faultline_test::at;
using faultline_test::manual_clock;
using namespace std::chrono_literals;
using bucket = lim::token_bucket<manual_clock>;
using dyn_bucket = lim::dynamic_token_bucket<manual_clock>;

BOOST_AUTO_TEST_SUITE(token_bucket)

BOOST_AUTO_TEST_CASE(a_full_bucket_admits_exactly_its_burst) {
    bucket b({lim::rate::per_second(1), 5}, at(0s));
    for (int i = 0; i < 5; ++i) {
        const auto d = b.try_acquire(1, at(0s));
        BOOST_TEST(d.admitted);
        BOOST_TEST(d.remaining == 4u - static_cast<unsigned>(i));
        BOOST_TEST(d.limit == 5u);
        BOOST_TEST(!d.ec);
    }
    const auto d = b.try_acquire(1, at(0s));
    BOOST_TEST(!d.admitted);
    BOOST_TEST((d.ec == fl::error::rate_limited));
    BOOST_TEST(d.retry_after == 1s);
    BOOST_TEST(d.reset == 5s);
    BOOST_TEST(d.remaining == 0u);
}

BOOST_AUTO_TEST_CASE(an_empty_bucket_starts_with_nothing_and_refills) {
    bucket b({lim::rate::per_second(10), 10, lim::initial_fill::empty}, at(1h));
    BOOST_TEST(b.available(at(1h)) == 0u);
    BOOST_TEST(!b.try_acquire(1, at(1h)).admitted);
    BOOST_TEST(b.try_acquire(1, at(1h) + 100ms).admitted);
    BOOST_TEST(!b.try_acquire(1, at(1h) + 199ms).admitted);
    BOOST_TEST(b.available(at(1h) + 1s) == 9u);
    BOOST_TEST(b.available(at(1h) + 1h) == 10u); // never above burst
}

BOOST_AUTO_TEST_CASE(refill_is_exact_for_rates_that_do_not_divide_a_second) {
    // 3/s: T = 333333333.33 ns; after exactly 1 s, exactly 3 tokens, not 2.
    bucket b({lim::rate::per_second(3), 3, lim::initial_fill::empty}, at(0s));
    BOOST_TEST(b.available(at(1s) - 1ns) == 2u);
    BOOST_TEST(b.available(at(1s)) == 3u);
    // 7 per minute: T = 8.571428... s; 7 tokens after exactly 60 s.
    bucket m({lim::rate::per_minute(7), 7, lim::initial_fill::empty}, at(0s));
    BOOST_TEST(m.available(at(60s) - 1ns) == 6u);
    BOOST_TEST(m.available(at(60s)) == 7u);
    const auto wait = m.time_until(7, at(0s));
    BOOST_TEST(wait.has_value());
    BOOST_TEST(wait.value() == 60s);
}

BOOST_AUTO_TEST_CASE(fractional_rates) {
    bucket half({lim::rate::per_second(0.5), 1}, at(0s));
    BOOST_TEST(half.try_acquire(1, at(0s)).admitted);
    const auto d = half.try_acquire(1, at(1s));
    BOOST_TEST(!d.admitted);
    BOOST_TEST(d.retry_after == 1s);
    BOOST_TEST(!half.try_acquire(1, at(2s) - 1ns).admitted);
    BOOST_TEST(half.try_acquire(1, at(2s)).admitted);

    bucket r({lim::rate::per_second(2.5), 5, lim::initial_fill::empty}, at(0s));
    BOOST_TEST(r.available(at(2s)) == 5u);
    BOOST_TEST(r.available(at(2s) - 1ns) == 4u);
    BOOST_TEST(lim::rate::per_second(0.5).per_second_value() == 0.5);
}

BOOST_AUTO_TEST_CASE(weighted_acquire_takes_all_or_nothing) {
    bucket tpm({lim::rate::per_minute(60'000), 10'000}, at(0s));
    BOOST_TEST(tpm.try_acquire(7'000, at(0s)).admitted);
    const auto d = tpm.try_acquire(4'000, at(0s));
    BOOST_TEST(!d.admitted);
    BOOST_TEST(tpm.available(at(0s)) == 3'000u); // the refusal consumed nothing
    BOOST_TEST(d.retry_after == 1s);             // 1000 tokens at 1000/s
    BOOST_TEST(tpm.try_acquire(4'000, at(1s)).admitted);
    BOOST_TEST(tpm.available(at(1s)) == 0u);
}

BOOST_AUTO_TEST_CASE(time_until_is_exact) {
    bucket b({lim::rate::per_second(4), 8, lim::initial_fill::empty}, at(0s));
    BOOST_TEST(b.time_until(1, at(0s)).value() == 250ms);
    BOOST_TEST(b.time_until(8, at(0s)).value() == 2s);
    BOOST_TEST(b.time_until(8, at(2s)).value() == 0ns);
    BOOST_TEST(b.time_until(3, at(100ms)).value() == 650ms);
    // Rounded up to the nanosecond: 1/3 s.
    bucket t({lim::rate::per_second(3), 3, lim::initial_fill::empty}, at(0s));
    BOOST_TEST(t.time_until(1, at(0s)).value() == 333'333'334ns);
    BOOST_TEST(!t.try_acquire(1, at(333'333'333ns)).admitted);
    BOOST_TEST(t.try_acquire(1, at(333'333'334ns)).admitted);
}

BOOST_AUTO_TEST_CASE(a_request_larger_than_the_burst_is_an_error_at_once) {
    bucket b({lim::rate::per_second(100), 10}, at(0s));
    const auto d = b.try_acquire(11, at(0s));
    BOOST_TEST(!d.admitted);
    BOOST_TEST((d.ec == fl::error::request_exceeds_burst));
    BOOST_TEST((d.retry_after == std::chrono::nanoseconds::max()));
    BOOST_TEST(b.available(at(0s)) == 10u);
    const auto w = b.time_until(11, at(0s));
    BOOST_TEST(w.has_error());
    BOOST_TEST((w.error() == fl::error::request_exceeds_burst));
    const auto huge = b.try_acquire(std::numeric_limits<std::uint64_t>::max(), at(0s));
    BOOST_TEST((huge.ec == fl::error::request_exceeds_burst));
    BOOST_TEST(b.try_acquire(10, at(0s)).admitted);
}

BOOST_AUTO_TEST_CASE(zero_tokens_is_admitted_and_consumes_nothing) {
    bucket b({lim::rate::per_second(1), 1}, at(0s));
    BOOST_TEST(b.try_acquire(1, at(0s)).admitted);
    BOOST_TEST(b.try_acquire(0, at(0s)).admitted);
    BOOST_TEST(b.try_acquire(0, at(0s) - 10s).admitted);
    BOOST_TEST(b.time_until(1, at(0s)).value() == 1s);
}

BOOST_AUTO_TEST_CASE(a_clock_going_backwards_never_gives_tokens_twice) {
    bucket b({lim::rate::per_second(1), 2}, at(100s));
    BOOST_TEST(b.try_acquire(2, at(100s)).admitted);
    // Earlier instants: the bucket only looks emptier, never refilled.
    BOOST_TEST(b.available(at(50s)) == 0u);
    BOOST_TEST(!b.try_acquire(1, at(50s)).admitted);
    BOOST_TEST(b.try_acquire(1, at(101s)).admitted);
    BOOST_TEST(!b.try_acquire(1, at(101s)).admitted);
    BOOST_TEST(!b.try_acquire(1, at(99s)).admitted);
    BOOST_TEST(b.try_acquire(1, at(102s)).admitted);
    // Before the bucket's own epoch.
    BOOST_TEST(!b.try_acquire(1, at(0s)).admitted);
    const auto d = b.try_acquire(1, at(90s));
    BOOST_TEST(d.retry_after == 13s);
    BOOST_TEST(b.try_acquire(1, at(103s)).admitted);
}

BOOST_AUTO_TEST_CASE(returning_unused_tokens) {
    bucket tpm({lim::rate::per_minute(6'000), 1'000}, at(0s));
    BOOST_TEST(tpm.try_acquire(800, at(0s)).admitted); // reservation on the estimate
    tpm.release(500, at(0s));                          // real usage was 300
    BOOST_TEST(tpm.available(at(0s)) == 700u);
    tpm.release(5'000, at(0s)); // never above the burst
    BOOST_TEST(tpm.available(at(0s)) == 1'000u);
    BOOST_TEST(tpm.try_acquire(1'000, at(0s)).admitted);
    BOOST_TEST(!tpm.try_acquire(1, at(0s)).admitted);
    tpm.release(0, at(0s));
    BOOST_TEST(tpm.available(at(0s)) == 0u);
    // A release at a stale instant gives back exactly what was taken.
    tpm.release(100, at(0s) - 1h);
    BOOST_TEST(tpm.available(at(0s)) == 100u);
}

BOOST_AUTO_TEST_CASE(extreme_rates_neither_overflow_nor_jam) {
    // 1e9 tokens per second, a burst of 1e9: exact nanosecond tokens.
    bucket fast({lim::rate::per_second(1e9), 1'000'000'000}, at(0s));
    BOOST_TEST(fast.try_acquire(1'000'000'000, at(0s)).admitted);
    BOOST_TEST(fast.available(at(0s) + 1ns) == 1u);
    BOOST_TEST(fast.available(at(1s)) == 1'000'000'000u);
    BOOST_TEST(fast.time_until(1'000'000'000, at(0s)).value() == 1s);
    // A rate that does not reduce to a small denominator: rounded down, never over.
    bucket odd({lim::rate::per_second(999'999'937), 999'999'937, lim::initial_fill::empty}, at(0s));
    BOOST_TEST(odd.available(at(1s)) <= 999'999'937u);
    BOOST_TEST(odd.available(at(1s)) >= 999'999'937u - 4'000'000u);
    BOOST_TEST(odd.available(at(2s)) == 999'999'937u);
    // One token per day, ten years of burst.
    bucket slow({lim::rate::per(1, 24h), 3650, lim::initial_fill::empty}, at(0s));
    BOOST_TEST(slow.available(at(24h) - 1ns) == 0u);
    BOOST_TEST(slow.available(at(24h)) == 1u);
    BOOST_TEST(slow.try_acquire(1, at(24h)).admitted);
    BOOST_TEST(slow.time_until(3650, at(24h)).value() == std::chrono::nanoseconds(24h) * 3650);
    // Far-apart instants: a year later, the bucket is simply full.
    bucket b({lim::rate::per_second(1'000), 10}, at(0s));
    BOOST_TEST(b.try_acquire(10, at(0s)).admitted);
    BOOST_TEST(b.available(at(24h * 365)) == 10u);
    BOOST_TEST(b.try_acquire(10, at(24h * 365)).admitted);
    BOOST_TEST(!b.try_acquire(1, at(24h * 365)).admitted);
}

BOOST_AUTO_TEST_CASE(invalid_configurations_are_typed_errors) {
    using lim::bucket_config;
    BOOST_TEST((lim::validate({lim::rate::per_second(0), 1}) == std::errc::invalid_argument));
    BOOST_TEST((lim::validate({lim::rate::per_second(-1), 1}) == std::errc::invalid_argument));
    BOOST_TEST((lim::validate({lim::rate::per_second(std::numeric_limits<double>::quiet_NaN()),
                               1}) == std::errc::invalid_argument));
    BOOST_TEST((lim::validate({lim::rate::per_second(std::numeric_limits<double>::infinity()),
                               1}) == std::errc::invalid_argument));
    BOOST_TEST((lim::validate({lim::rate::per_second(1e11), 1}) == std::errc::invalid_argument));
    BOOST_TEST((lim::validate({lim::rate::per_second(1), 0}) == std::errc::invalid_argument));
    BOOST_TEST((lim::validate({lim::rate::per(1, 0s), 1}) == std::errc::invalid_argument));
    BOOST_TEST((lim::validate({lim::rate::per(1, -1s), 1}) == std::errc::invalid_argument));
    // burst * T beyond 2^62 units: 1 token/day with a burst of 1e9.
    BOOST_TEST(
        (lim::validate({lim::rate::per(1, 24h), 1'000'000'000}) == std::errc::invalid_argument));
    BOOST_TEST(!lim::validate({lim::rate::per_second(1e9), 1'000'000'000'000}));
    BOOST_CHECK_THROW(bucket({lim::rate::per_second(1), 0}, at(0s)), std::system_error);
}

BOOST_AUTO_TEST_CASE(peek_consumes_nothing) {
    bucket b({lim::rate::per_second(1), 2}, at(0s));
    BOOST_TEST(b.peek(2, at(0s)).admitted);
    BOOST_TEST(b.peek(2, at(0s)).admitted);
    BOOST_TEST(b.available(at(0s)) == 2u);
}

BOOST_AUTO_TEST_CASE(the_refusal_code_is_configurable) {
    bucket b({lim::rate::per_minute(1), 1, lim::initial_fill::full, fl::error::rpm_exceeded},
             at(0s));
    BOOST_TEST(b.try_acquire(1, at(0s)).admitted);
    const auto d = b.try_acquire(1, at(0s));
    BOOST_TEST((d.ec == fl::error::rpm_exceeded));
    BOOST_TEST(d.retry_after == 60s);
}

BOOST_AUTO_TEST_CASE(dynamic_bucket_keeps_available_tokens_across_reconfiguration) {
    dyn_bucket b({lim::rate::per_second(10), 10}, at(0s));
    BOOST_TEST(b.try_acquire(4, at(0s)).admitted);
    BOOST_TEST(!b.reconfigure({lim::rate::per_second(100), 20}, at(0s)));
    BOOST_TEST(b.available(at(0s)) == 6u);
    BOOST_TEST(b.burst() == 20u);
    BOOST_TEST(b.available(at(100ms)) == 16u);
    BOOST_TEST(b.available(at(1s)) == 20u);
    // Shrinking the burst clamps what is available.
    BOOST_TEST(!b.reconfigure(
        {lim::rate::per_second(1), 3, lim::initial_fill::full, fl::error::tpm_exceeded}, at(1s)));
    BOOST_TEST(b.available(at(1s)) == 3u);
    BOOST_TEST(b.try_acquire(3, at(1s)).admitted);
    const auto d = b.try_acquire(1, at(1s));
    BOOST_TEST((d.ec == fl::error::tpm_exceeded));
    BOOST_TEST(d.retry_after == 1s);
    BOOST_TEST((b.try_acquire(4, at(1s)).ec == fl::error::request_exceeds_burst));
    BOOST_TEST((b.time_until(4, at(1s)).error() == fl::error::request_exceeds_burst));
    BOOST_TEST(b.time_until(2, at(1s)).value() == 2s);
    b.release(2, at(1s));
    BOOST_TEST(b.available(at(1s)) == 2u);
    // An invalid configuration changes nothing.
    BOOST_TEST(
        (b.reconfigure({lim::rate::per_second(1), 0}, at(1s)) == std::errc::invalid_argument));
    BOOST_TEST(b.burst() == 3u);
    BOOST_TEST(b.config().burst == 3u);
}

// Found by the stress test: a reconfiguration whose `now` is older than an acquire's moved the
// TAT backwards and refilled the bucket.
BOOST_AUTO_TEST_CASE(reconfiguring_at_a_stale_instant_never_refills) {
    dyn_bucket b({lim::rate::per_second(1), 2}, at(0s));
    BOOST_TEST(b.try_acquire(2, at(10s)).admitted);
    BOOST_TEST(!b.reconfigure({lim::rate::per_second(1), 2}, at(5s)));
    BOOST_TEST(b.available(at(10s)) == 0u);
    BOOST_TEST(!b.try_acquire(1, at(10s)).admitted);
    // The reconfiguration's TAT is one unit later than before (see reconfigure).
    BOOST_TEST(!b.try_acquire(1, at(11s)).admitted);
    BOOST_TEST(b.try_acquire(1, at(11s) + 1ns).admitted); // TAT = 13 s + 1 ns
    // With a rate change: empty until 12 s + 1 ns (what the old bucket said), then 2/s.
    BOOST_TEST(!b.reconfigure({lim::rate::per_second(2), 2}, at(1s)));
    BOOST_TEST(!b.try_acquire(1, at(11s) + 500ms).admitted);
    BOOST_TEST(b.try_acquire(1, at(11s) + 500ms + 1ns).admitted);
}

// The fixed bucket divides by multiplication; the dynamic one still uses the hardware divide.
// Both implement the same rule, so every figure of every decision must agree.
BOOST_AUTO_TEST_CASE(fixed_and_dynamic_buckets_decide_alike_at_every_rate) {
    const lim::bucket_config configs[] = {
        {lim::rate::per_second(4e9), 4'000'000'000},   // u = 4, c = 1
        {lim::rate::per(1, std::chrono::hours(1)), 1}, // u = 1, c = 3.6e12
        {lim::rate::per_second(1e7), 1},               // c = 100
        {lim::rate::per(7, 3s), 5},                    // u = 7: not a power of two
        {lim::rate::per_second(3e9 + 7), 1'000'000},   // u rounded to 256, odd c
        {lim::rate::per_second(0.3), 3, lim::initial_fill::empty},
        {lim::rate::per(999'999'937, 1'000'000'007ns), 1'000}, // large primes
    };
    std::uint64_t x = 0x9e3779b97f4a7c15ull; // xorshift: a fixed sequence
    const auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    for (const lim::bucket_config& c : configs) {
        bucket fixed(c, at(0s));
        dyn_bucket dynamic(c, at(0s));
        const auto period = std::max<std::int64_t>(
            c.refill.period.count() / static_cast<std::int64_t>(c.refill.tokens), 1);
        std::int64_t t = 0;
        for (int i = 0; i < 20'000; ++i) {
            // Mostly forward by up to a few emission intervals, sometimes backwards.
            const std::uint64_t r = next();
            const auto step = static_cast<std::int64_t>(r % 4096) * period / 1024;
            t += (r >> 60) == 0 ? -step : step;
            const std::uint64_t n = (r >> 20) % (c.burst + 2); // sometimes > burst
            const auto now = at(std::chrono::nanoseconds(t));
            const lim::decision a = fixed.try_acquire(n, now);
            const lim::decision b = dynamic.try_acquire(n, now);
            BOOST_TEST_REQUIRE(a.admitted == b.admitted);
            BOOST_TEST_REQUIRE(a.retry_after.count() == b.retry_after.count());
            BOOST_TEST_REQUIRE(a.limit == b.limit);
            BOOST_TEST_REQUIRE(a.remaining == b.remaining);
            BOOST_TEST_REQUIRE(a.reset.count() == b.reset.count());
            BOOST_TEST_REQUIRE((a.ec == b.ec));
            BOOST_TEST_REQUIRE(fixed.available(now) == dynamic.available(now));
        }
    }
}

BOOST_AUTO_TEST_CASE(division_by_an_invariant_is_exact) {
    const std::uint64_t divisors[] = {1,
                                      2,
                                      3,
                                      7,
                                      10,
                                      100,
                                      255,
                                      256,
                                      1'000'000'007,
                                      3'600'000'000'000,
                                      (std::uint64_t{1} << 62) - 1,
                                      std::uint64_t{1} << 62,
                                      (std::uint64_t{1} << 63) + 1,
                                      std::numeric_limits<std::uint64_t>::max()};
    const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    for (const std::uint64_t d : divisors) {
        const auto div = fl::detail::gcra_divider::make(d);
        std::vector<std::uint64_t> ns = {0,       1,         d - 1,       d,
                                         d + 1,   2 * d - 1, 2 * d,       max,
                                         max - 1, max - d,   max / d * d, max / d * d - 1};
        std::uint64_t x = d * 0x9e3779b97f4a7c15ull + 1;
        for (int i = 0; i < 2'000; ++i) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ns.push_back(x >> (i % 64));
        }
        for (const std::uint64_t n : ns) {
            BOOST_TEST_REQUIRE(div.quot(n) == n / d, n << " / " << d);
            BOOST_TEST_REQUIRE(div.quot_ceil(n) == n / d + (n % d != 0), n << " / " << d);
        }
    }
}

// The two kinds are one implementation over two ways of holding the parameters: a fixed
// bucket divides with prepared multiplications, a dynamic one with the hardware. Every answer
// must be the same, for rates whose divisors are and are not powers of two.
BOOST_AUTO_TEST_CASE(fixed_and_dynamic_buckets_answer_alike) {
    const lim::bucket_config configs[] = {
        {lim::rate::per_second(1), 5},
        {lim::rate::per(7, 3s), 11, lim::initial_fill::empty, fl::error::tpm_exceeded},
        {lim::rate::per_second(0.3), 3},
        {lim::rate::per_second(123'456'789), 1'000'000},
        {lim::rate::per(3, 1h), 2, lim::initial_fill::empty},
    };
    std::mt19937_64 rng(20261203);
    for (const lim::bucket_config& c : configs) {
        BOOST_TEST_CONTEXT("rate " << c.refill.tokens << " per " << c.refill.period.count()
                                   << " ns, burst " << c.burst) {
            bucket f(c, at(0s));
            dyn_bucket d(c, at(0s));
            auto now = at(0s);
            for (int step = 0; step < 4000; ++step) {
                // Mostly forward, sometimes back (a caller with an older instant).
                const auto jump = std::chrono::nanoseconds(
                    static_cast<std::int64_t>(rng() % 2'000'000'000) - 200'000'000);
                now += jump;
                const std::uint64_t n = rng() % (c.burst + 2);
                const auto same = [](const lim::decision& a, const lim::decision& b) {
                    return a.admitted == b.admitted && a.ec == b.ec && a.limit == b.limit &&
                           a.remaining == b.remaining && a.reset == b.reset &&
                           a.retry_after == b.retry_after;
                };
                switch (rng() % 5) {
                case 0:
                    BOOST_TEST_REQUIRE(same(f.try_acquire(n, now), d.try_acquire(n, now)));
                    break;
                case 1:
                    BOOST_TEST_REQUIRE(same(f.peek(n, now), d.peek(n, now)));
                    break;
                case 2:
                    f.release(n, now);
                    d.release(n, now);
                    break;
                case 3:
                    BOOST_TEST_REQUIRE(f.available(now) == d.available(now));
                    break;
                default: {
                    const auto a = f.time_until(n, now), b = d.time_until(n, now);
                    BOOST_TEST_REQUIRE(a.has_value() == b.has_value());
                    if (a)
                        BOOST_TEST_REQUIRE(a.value() == b.value());
                    else
                        BOOST_TEST_REQUIRE((a.error() == b.error()));
                }
                }
            }
            BOOST_TEST(f.burst() == d.burst());
            BOOST_TEST(f.config().burst == d.config().burst);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

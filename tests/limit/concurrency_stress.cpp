#include <faultline/limit/token_bucket.hpp>

#include <faultline/limit/composite.hpp>
#include <faultline/limit/concurrency.hpp>
#include <faultline/limit/keyed.hpp>

#include "manual_clock.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

// Several threads, millions of attempts, a manual clock the threads advance themselves: the
// totals must respect the GCRA bound exactly. CI runs this suite under TSan
// (`--run_test=limit_concurrency*`).

namespace lim = faultline::limit;
using faultline_test::manual_clock;
using namespace std::chrono_literals;

namespace {

constexpr int thread_count = 4;
constexpr int attempts_per_thread = 500'000;

struct shared_clock {
    std::atomic<std::int64_t> ns{0};
    // Every 8th attempt moves time on by `step`; others read it, so threads use instants that
    // are already stale (out of order across threads).
    manual_clock::time_point tick(int i, std::int64_t step) {
        const std::int64_t t = (i % 8 == 0) ? ns.fetch_add(step) + step : ns.load();
        return manual_clock::time_point(std::chrono::nanoseconds(t));
    }
    [[nodiscard]] std::int64_t elapsed() const { return ns.load(); }
};

// net * period <= burst * period + elapsed * tokens, in exact integers.
bool within_bound(std::uint64_t net, const lim::bucket_config& c, std::int64_t elapsed_ns) {
    __extension__ using u128 = unsigned __int128;
    const u128 period = static_cast<u128>(c.refill.period.count());
    return static_cast<u128>(net) * period <=
           static_cast<u128>(c.burst) * period +
               static_cast<u128>(elapsed_ns) * static_cast<u128>(c.refill.tokens);
}

template <class Body>
void run_threads(Body body) {
    std::vector<std::thread> ts;
    for (int t = 0; t < thread_count; ++t)
        ts.emplace_back(body, t);
    for (auto& t : ts)
        t.join();
}

} // namespace

BOOST_AUTO_TEST_SUITE(limit_concurrency)

BOOST_AUTO_TEST_CASE(token_bucket_never_over_admits) {
    // 3/s does not divide a nanosecond: the bound is checked with exact fractions.
    const lim::bucket_config cfg{lim::rate::per_second(3'000'000), 1'000};
    lim::token_bucket<manual_clock> b(cfg, manual_clock::time_point{});
    shared_clock clock;
    std::atomic<std::uint64_t> taken{0}, returned{0}, admissions{0};
    run_threads([&](int id) {
        std::uint64_t mine = 0, back = 0, count = 0;
        for (int i = 0; i < attempts_per_thread; ++i) {
            const auto now = clock.tick(i, 1'000);
            const std::uint64_t n = 1 + static_cast<std::uint64_t>((i + id) % 4);
            if (b.try_acquire(n, now).admitted) {
                mine += n;
                ++count;
                if (i % 5 == 0) { // a reservation corrected by real usage
                    b.release(1, now);
                    ++back;
                }
            }
        }
        taken += mine;
        returned += back;
        admissions += count;
    });
    const std::uint64_t net = taken - returned;
    BOOST_TEST_MESSAGE("admitted " << admissions << " (" << net << " tokens net) in "
                                   << clock.elapsed() << " simulated ns");
    BOOST_TEST(within_bound(net, cfg, clock.elapsed()));
    BOOST_TEST(admissions.load() >= 1'000u / 4);
    BOOST_TEST(b.available(manual_clock::time_point(std::chrono::nanoseconds(clock.elapsed()))) <=
               cfg.burst);
}

BOOST_AUTO_TEST_CASE(dynamic_bucket_never_over_admits_while_reconfigured) {
    const lim::bucket_config cfg{lim::rate::per_second(2'000'000), 500};
    lim::dynamic_token_bucket<manual_clock> b(cfg, manual_clock::time_point{});
    shared_clock clock;
    std::atomic<std::uint64_t> taken{0};
    std::atomic<bool> done{false}, reconfigure_failed{false};
    std::thread admin([&] {
        // Re-publishing the same limits exercises the reconfiguration race without changing
        // the bound.
        while (!done.load()) {
            const auto now = manual_clock::time_point(std::chrono::nanoseconds(clock.elapsed()));
            if (b.reconfigure(cfg, now)) reconfigure_failed = true; // Boost.Test is not thread-safe
            std::this_thread::yield();
        }
    });
    run_threads([&](int) {
        std::uint64_t mine = 0;
        for (int i = 0; i < attempts_per_thread / 2; ++i)
            if (b.try_acquire(1, clock.tick(i, 1'000)).admitted) ++mine;
        taken += mine;
    });
    done = true;
    admin.join();
    BOOST_TEST(!reconfigure_failed.load());
    BOOST_TEST(within_bound(taken, cfg, clock.elapsed()));
    BOOST_TEST(taken.load() >= 500u);
}

BOOST_AUTO_TEST_CASE(keyed_limiter_never_over_admits_per_key) {
    const lim::bucket_config cfg{lim::rate::per_second(1'000'000), 100};
    lim::keyed_limiter<manual_clock> k({.defaults = cfg, .max_keys = 1'024, .shards = 4},
                                       manual_clock::time_point{});
    constexpr std::uint64_t keys = 16;
    shared_clock clock;
    std::vector<std::atomic<std::uint64_t>> taken(keys);
    run_threads([&](int id) {
        std::vector<std::uint64_t> mine(keys, 0);
        for (int i = 0; i < attempts_per_thread / 2; ++i) {
            const std::uint64_t key = static_cast<std::uint64_t>(i * 7 + id) % keys;
            if (k.try_acquire(key, 1, clock.tick(i, 2'000)).admitted) ++mine[key];
        }
        for (std::uint64_t key = 0; key < keys; ++key)
            taken[key] += mine[key];
    });
    for (std::uint64_t key = 0; key < keys; ++key)
        BOOST_TEST(within_bound(taken[key].load(), cfg, clock.elapsed()), "key " << key);
}

BOOST_AUTO_TEST_CASE(composite_levels_never_over_admit) {
    const lim::bucket_config a_cfg{lim::rate::per_second(1'000'000), 200};
    const lim::bucket_config b_cfg{lim::rate::per_second(1'500'000), 50};
    lim::token_bucket<manual_clock> a(a_cfg, manual_clock::time_point{});
    lim::token_bucket<manual_clock> b(b_cfg, manual_clock::time_point{});
    shared_clock clock;
    std::atomic<std::uint64_t> both{0}, a_only{0};
    run_threads([&](int id) {
        std::uint64_t mine = 0, solo = 0;
        for (int i = 0; i < attempts_per_thread / 2; ++i) {
            const auto now = clock.tick(i, 1'000);
            if (id == 0 && i % 3 == 0) { // another user of level a alone
                if (a.try_acquire(1, now).admitted) ++solo;
                continue;
            }
            if (lim::acquire_all(now, lim::level(a, 2), lim::level(b, 1)).admitted) ++mine;
        }
        both += mine;
        a_only += solo;
    });
    BOOST_TEST(within_bound(2 * both + a_only, a_cfg, clock.elapsed()));
    BOOST_TEST(within_bound(both, b_cfg, clock.elapsed()));
    BOOST_TEST(both.load() > 0u);
}

BOOST_AUTO_TEST_CASE(concurrency_limiter_never_exceeds_its_maximum) {
    lim::concurrency_limiter c(3);
    lim::keyed_concurrency_limiter kc(2, 1s, 4);
    std::atomic<int> inside{0}, peak{0}, key_inside{0}, key_peak{0};
    run_threads([&](int) {
        for (int i = 0; i < attempts_per_thread / 4; ++i) {
            if (auto p = c.try_acquire()) {
                const int now_inside = ++inside;
                int seen = peak.load();
                while (now_inside > seen && !peak.compare_exchange_weak(seen, now_inside)) {
                }
                --inside;
            }
            if (auto p = kc.try_acquire(42)) {
                const int now_inside = ++key_inside;
                int seen = key_peak.load();
                while (now_inside > seen && !key_peak.compare_exchange_weak(seen, now_inside)) {
                }
                --key_inside;
            }
        }
    });
    BOOST_TEST(peak.load() <= 3);
    BOOST_TEST(peak.load() >= 1);
    BOOST_TEST(key_peak.load() <= 2);
    BOOST_TEST(c.in_flight() == 0u);
    BOOST_TEST(kc.active_keys() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

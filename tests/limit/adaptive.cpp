#include <faultline/limit/adaptive.hpp>
#include <faultline/limit/refuse.hpp>

#include "manual_clock.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace fl = faultline;
namespace lim = faultline::limit;
using faultline_test::at;
using faultline_test::manual_clock;
using namespace std::chrono_literals;

namespace {

// An upstream with a knee: up to `knee` requests in flight each take `service`; beyond it they
// queue, so a request admitted as the n-th in flight takes service * n / knee (throughput stays
// knee / service). A client timeout turns a longer request into a drop at the timeout.
struct upstream {
    std::uint64_t knee;
    std::chrono::nanoseconds service;
    std::optional<std::chrono::nanoseconds> timeout;
};

// Least and greatest limit seen over a stretch of simulated time.
struct band {
    std::uint64_t lo = UINT64_MAX;
    std::uint64_t hi = 0;
    void add(std::uint64_t v) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
};

// A closed loop with more demand than capacity: every free slot is taken at once.
template <class Policy>
class simulation {
public:
    using limiter = lim::adaptive_limiter<Policy, manual_clock>;

    explicit simulation(const Policy& p, lim::adaptive_options o = {})
        : limiter_(p, o, at(0ns)) {}

    // Runs until `until`; returns the limits seen from `measure_from` on.
    band run(upstream u, std::chrono::nanoseconds measure_from, std::chrono::nanoseconds until) {
        band b;
        while (now_ < until) {
            for (;;) {
                auto p = limiter_.try_acquire(at(now_));
                if (!p) break;
                const std::uint64_t n = limiter_.in_flight();
                auto latency = u.service * static_cast<std::int64_t>(std::max(u.knee, n)) /
                               static_cast<std::int64_t>(u.knee);
                const bool dropped = u.timeout && latency > *u.timeout;
                if (dropped) latency = *u.timeout;
                pending_.emplace(now_ + latency, std::make_pair(std::move(p), dropped));
            }
            auto first = pending_.begin();
            now_ = first->first;
            auto& [permit, dropped] = first->second;
            if (dropped)
                permit.on_dropped(at(now_));
            else
                permit.on_success(at(now_));
            pending_.erase(first);
            if (now_ >= measure_from && !limiter_.probing()) b.add(limiter_.limit());
        }
        return b;
    }

    limiter& get() { return limiter_; }

private:
    limiter limiter_;
    std::chrono::nanoseconds now_{0};
    std::multimap<std::chrono::nanoseconds, std::pair<typename limiter::permit, bool>> pending_;
};

// Capacity 2K for 300 s, then it halves (knee K) for 300 s, then returns (2K) for 300 s; steady
// state is the last 100 s of each phase. Netflix's window defaults (1 s, 10 samples), 100 ms
// service time.
struct phases {
    band high, low, back;
};

template <class Policy>
phases converge(const Policy& p, std::optional<std::chrono::nanoseconds> timeout = {},
                std::uint64_t knee = 50) {
    simulation<Policy> sim(p);
    phases r;
    r.high = sim.run({2 * knee, 100ms, timeout}, 200s, 300s);
    r.low = sim.run({knee, 100ms, timeout}, 500s, 600s);
    r.back = sim.run({2 * knee, 100ms, timeout}, 800s, 900s);
    BOOST_TEST_MESSAGE("knee " << 2 * knee << ": limit in [" << r.high.lo << ", " << r.high.hi
                               << "]; knee " << knee << ": [" << r.low.lo << ", " << r.low.hi
                               << "]; knee " << 2 * knee << " again: [" << r.back.lo << ", "
                               << r.back.hi << "]");
    return r;
}

void check_band(const band& b, double knee, double lo, double hi, double swing) {
    BOOST_TEST_REQUIRE(b.hi > 0u);
    BOOST_TEST(static_cast<double>(b.lo) >= lo * knee);
    BOOST_TEST(static_cast<double>(b.hi) <= hi * knee);
    BOOST_TEST(static_cast<double>(b.hi - b.lo) <= swing * knee);
}

// A limiter whose windows close on every completion, for driving a policy step by step.
lim::adaptive_options every_completion() {
    lim::adaptive_options o;
    o.min_window = 1ns;
    o.max_window = 1ns;
    o.min_samples = 1;
    o.ignore_below = 0ns;
    return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(adaptive)

// Each policy below: the limit settles in a stated band around the knee, holds there (the
// swing is bounded), follows capacity down and comes back up with it.

// AIMD converges where drops begin: the client times out at 1.2x the unloaded latency, i.e. at
// 1.2 * knee in flight. Band [0.9K, 1.3K], sawtooth at most 0.3K wide.
BOOST_AUTO_TEST_CASE(aimd_converges_to_where_drops_begin_and_recovers) {
    const auto p = lim::aimd::make({.min_limit = 1, .timeout = 120ms}).value();
    const auto r = converge(p, 120ms);
    check_band(r.high, 100, 0.9, 1.3, 0.3);
    check_band(r.low, 50, 0.9, 1.3, 0.3);
    check_band(r.back, 100, 0.9, 1.3, 0.3);
}

// Vegas (Netflix defaults) holds a queue of alpha..beta requests at the upstream: 1.0-1.2 K.
BOOST_AUTO_TEST_CASE(vegas_converges_near_the_knee_and_recovers) {
    const auto r = converge(lim::vegas::make().value());
    check_band(r.high, 100, 1.0, 1.2, 0.05);
    check_band(r.low, 50, 1.0, 1.2, 0.05);
    check_band(r.back, 100, 1.0, 1.2, 0.05);
}

// Gradient2 (Netflix defaults) settles where latency is rtt_tolerance (1.5) times the baseline:
// 1.5 K here. Band [1.3K, 1.6K], at most 0.05K of swing.
BOOST_AUTO_TEST_CASE(gradient2_converges_at_its_tolerance_and_recovers) {
    const auto r = converge(lim::gradient2::make().value());
    check_band(r.high, 100, 1.3, 1.6, 0.05);
    check_band(r.low, 50, 1.3, 1.6, 0.05);
    check_band(r.back, 100, 1.3, 1.6, 0.05);
}

// A lower tolerance moves Gradient2's equilibrium toward the knee.
BOOST_AUTO_TEST_CASE(gradient2_tolerance_sets_the_operating_point) {
    const auto r = converge(lim::gradient2::make({.rtt_tolerance = 1.1}).value());
    check_band(r.high, 100, 1.0, 1.2, 0.05);
    check_band(r.low, 50, 1.0, 1.2, 0.05);
    check_band(r.back, 100, 1.0, 1.2, 0.05);
}

// Netflix's Vegas thresholds (alpha >= 3, beta >= 6) cannot see a queue above beta at limits of
// 6 or less, so a small upstream was held at about twice its capacity; the capped thresholds
// keep it within 1.6 K at knee 5 and 1.3 K at knee 10.
BOOST_AUTO_TEST_CASE(vegas_at_low_limits_stays_near_a_small_knee) {
    const auto r = converge(lim::vegas::make().value(), std::nullopt, 5);
    check_band(r.high, 10, 1.0, 1.3, 0.1);
    check_band(r.low, 5, 1.0, 1.6, 0.2);
    check_band(r.back, 10, 1.0, 1.3, 0.1);
}

// Under sustained saturation an averaged baseline follows the queueing it should detect, and
// Gradient2 climbed to max_limit. Ten minutes at the knee stay in the band.
BOOST_AUTO_TEST_CASE(gradient2_does_not_drift_under_sustained_saturation) {
    simulation<lim::gradient2> sim(lim::gradient2::make({.max_limit = 1000}).value());
    const band b = sim.run({50, 100ms, std::nullopt}, 500s, 600s);
    check_band(b, 50, 1.3, 1.6, 0.05);
}

// The upstream itself becomes slower at every load (x2, then x1.4 more). Vegas's no-load
// latency and Gradient2's baseline (which may not rise while saturated) are then too low: the
// limit falls, latency stops following it, the baseline is re-measured and the limit returns
// to the knee. Without that, Vegas held 4 slots of an upstream that serves 50.
BOOST_AUTO_TEST_CASE(a_slower_upstream_is_re_measured) {
    simulation<lim::vegas> v(lim::vegas::make().value());
    (void)v.run({50, 100ms, std::nullopt}, 0s, 300s);
    const band v2 = v.run({50, 200ms, std::nullopt}, 500s, 600s);
    check_band(v2, 50, 1.0, 1.2, 0.05);
    BOOST_TEST((v.get().policy().no_load_rtt() == 200ms));
    const band v3 = v.run({50, 280ms, std::nullopt}, 800s, 900s);
    check_band(v3, 50, 1.0, 1.2, 0.05);
    BOOST_TEST((v.get().policy().no_load_rtt() == 280ms));

    simulation<lim::gradient2> g(lim::gradient2::make({.min_limit = 4}).value());
    (void)g.run({50, 100ms, std::nullopt}, 0s, 300s);
    const band g2 = g.run({50, 200ms, std::nullopt}, 500s, 600s);
    check_band(g2, 50, 1.3, 1.6, 0.05);
    BOOST_TEST(g.get().policy().baseline_rtt() >= 190ms);
    BOOST_TEST_MESSAGE("slower upstream, knee 50: vegas ["
                       << v2.lo << ", " << v2.hi << "] then [" << v3.lo << ", " << v3.hi
                       << "], gradient2 [" << g2.lo << ", " << g2.hi << "]");
}

// Envoy's rule: a limit pinned at its minimum for 5 windows re-measures the baseline.
BOOST_AUTO_TEST_CASE(five_windows_at_the_minimum_re_measure_the_baseline) {
    lim::adaptive_limiter<lim::vegas, manual_clock> l(lim::vegas::make().value(),
                                                      every_completion(), at(0ns));
    std::vector<lim::adaptive_limiter<lim::vegas, manual_clock>::permit> held;
    for (int i = 0; i < 20; ++i)
        held.push_back(l.try_acquire(at(0ms)));
    held.back().on_success(at(10ms));
    BOOST_TEST((l.policy().no_load_rtt() == 10ms));
    held.clear();
    std::chrono::nanoseconds t = 100ms;
    while (l.limit() > 1) // drops hold the limit down (1 per window)
        l.try_acquire(at(t)).on_dropped(at(t += 10ms));
    for (int i = 0; i < 3; ++i) // 4 windows at the minimum
        l.try_acquire(at(t)).on_dropped(at(t += 10ms));
    BOOST_TEST(l.limit() == 1u);
    BOOST_TEST((l.policy().no_load_rtt() == 10ms));
    l.try_acquire(at(t)).on_success(at(t + 50ms)); // the 5th, with a sample
    BOOST_TEST(l.limit() == 1u);
    BOOST_TEST((l.policy().no_load_rtt() == 50ms));
}

// --- probes (Envoy's periodic minRTT measurement) -------------------------------------------

lim::adaptive_options probing_every(std::chrono::nanoseconds interval, std::uint64_t samples) {
    lim::adaptive_options o = every_completion();
    o.probe.interval = interval;
    o.probe.jitter = 0;
    o.probe.limit = 2;
    o.probe.samples = samples;
    o.probe.timeout = 1s;
    o.probe.seed = 1;
    return o;
}

// A completion after the interval starts a probe: the limit drops to the probe's, only
// requests admitted during the probe are samples, and once it has its samples their smallest
// latency becomes Vegas's no-load latency and the limit is the policy's again.
BOOST_AUTO_TEST_CASE(a_probe_lowers_the_limit_measures_and_restores_it) {
    using limiter = lim::adaptive_limiter<lim::vegas, manual_clock>;
    limiter l(lim::vegas::make().value(), probing_every(10s, 3), at(0ns));
    l.try_acquire(at(0s)).on_success(at(100ms));
    BOOST_TEST((l.policy().no_load_rtt() == 100ms));
    const std::uint64_t before = l.limit();
    BOOST_TEST(before > 2u);
    limiter::permit old = l.try_acquire(at(9s));   // admitted before the probe
    l.try_acquire(at(9900ms)).on_success(at(10s)); // due: this completion starts it
    BOOST_TEST(l.probing());
    BOOST_TEST(l.limit() == 2u);
    limiter::permit a = l.try_acquire(at(10s));
    BOOST_TEST(a.result().admitted);
    BOOST_TEST(!l.try_acquire(at(10s)).result().admitted); // old and a hold the probe's 2
    old.on_success(at(10100ms));                           // began before the probe: not a sample
    BOOST_TEST(l.probing());
    limiter::permit b = l.try_acquire(at(10100ms));
    BOOST_TEST(b.result().admitted);
    a.on_success(at(10150ms));
    b.on_success(at(10160ms));
    BOOST_TEST(l.probing()); // two samples of three
    l.try_acquire(at(10160ms)).on_success(at(10200ms));
    BOOST_TEST(!l.probing());
    BOOST_TEST(l.probes() == 1u);
    BOOST_TEST((l.policy().no_load_rtt() == 40ms)); // the smallest probe sample
    BOOST_TEST(l.limit() == l.policy().limit());
    BOOST_TEST(l.limit() > 2u);
    // The next one is due an interval after this one ended.
    l.try_acquire(at(20s)).on_success(at(20100ms));
    BOOST_TEST(!l.probing());
    l.try_acquire(at(20100ms)).on_success(at(20200ms));
    BOOST_TEST(l.probing());
}

// Gradient2's baseline becomes the probe's mean latency.
BOOST_AUTO_TEST_CASE(a_probe_rebases_gradient2_on_the_mean) {
    lim::adaptive_limiter<lim::gradient2, manual_clock> l(lim::gradient2::make().value(),
                                                          probing_every(5s, 2), at(0ns));
    l.try_acquire(at(0s)).on_success(at(400ms));
    BOOST_TEST((l.policy().baseline_rtt() == 400ms));
    l.try_acquire(at(5s)).on_success(at(5400ms)); // starts the probe
    BOOST_TEST(l.probing());
    l.try_acquire(at(5400ms)).on_success(at(5500ms));
    l.try_acquire(at(5500ms)).on_success(at(5620ms));
    BOOST_TEST(!l.probing());
    BOOST_TEST((l.policy().baseline_rtt() == 110ms));
}

// A probe whose requests are all ignored (4xx, cancelled) cannot measure; past its timeout
// the next refusal ends it and the limit is the policy's again.
BOOST_AUTO_TEST_CASE(a_probe_without_samples_ends_at_its_timeout) {
    using limiter = lim::adaptive_limiter<lim::vegas, manual_clock>;
    limiter l(lim::vegas::make().value(), probing_every(10s, 3), at(0ns));
    l.try_acquire(at(0s)).on_success(at(100ms));
    l.try_acquire(at(10s)).on_success(at(10100ms));
    BOOST_TEST(l.probing());
    limiter::permit a = l.try_acquire(at(10100ms));
    limiter::permit b = l.try_acquire(at(10100ms));
    BOOST_TEST(!l.try_acquire(at(11s)).result().admitted); // held, timeout not reached
    BOOST_TEST(l.probing());
    const auto late = l.try_acquire(at(11100ms)); // 1 s after it began: over
    BOOST_TEST(!l.probing());
    BOOST_TEST(late.result().admitted);
    BOOST_TEST(l.probes() == 0u);
    BOOST_TEST((l.policy().no_load_rtt() == 100ms)); // unchanged
    a.on_ignore();
    b.on_ignore();
}

// Jitter lengthens each interval by a fraction in [0, jitter), from the seeded generator: two
// seeds give two schedules, each within bounds.
BOOST_AUTO_TEST_CASE(probe_jitter_stays_within_its_fraction_and_follows_the_seed) {
    const auto starts = [](std::uint64_t seed) {
        lim::adaptive_options o = probing_every(10s, 1);
        o.probe.jitter = 0.5;
        o.probe.seed = seed;
        lim::adaptive_limiter<lim::vegas, manual_clock> l(lim::vegas::make().value(), o, at(0ns));
        std::vector<std::chrono::nanoseconds> out;
        std::chrono::nanoseconds ended = 0s;
        for (std::chrono::nanoseconds t = 0s; t < 100s; t += 10ms) {
            const bool was = l.probing();
            l.try_acquire(at(t)).on_success(at(t + 10ms));
            if (!was && l.probing()) out.push_back(t + 10ms - ended);
            if (was && !l.probing()) ended = t + 10ms;
        }
        return out;
    };
    const auto one = starts(1), two = starts(2);
    BOOST_TEST_REQUIRE(one.size() >= 6u);
    BOOST_TEST_REQUIRE(two.size() >= 6u);
    for (const auto& v : {one, two})
        for (const auto gap : v) {
            BOOST_TEST(gap >= 10s);
            BOOST_TEST(gap < 15s + 10ms);
        }
    BOOST_TEST((one != two));
    BOOST_TEST((one == starts(1))); // the seed decides
}

// Policies without a baseline (aimd) never probe.
BOOST_AUTO_TEST_CASE(aimd_never_probes) {
    lim::adaptive_limiter<lim::aimd, manual_clock> l(lim::aimd::make().value(),
                                                     probing_every(1s, 1), at(0ns));
    for (std::chrono::nanoseconds t = 0s; t < 10s; t += 100ms) {
        l.try_acquire(at(t)).on_success(at(t + 50ms));
        BOOST_TEST(!l.probing());
    }
    BOOST_TEST(l.limit() >= 20u);
}

// The attack a probe answers: a Gradient2 limiter starting above the upstream's capacity
// averages queued latencies into its baseline, reads 4x the no-load latency as normal and
// holds the upstream at four times its knee for good. With probes (every 30 s, Envoy's
// defaults otherwise) the first probe sees the no-load latency and the limit settles in the
// usual band; the band is measured outside probes.
BOOST_AUTO_TEST_CASE(probes_correct_a_baseline_learned_under_load) {
    const auto p = lim::gradient2::make({.initial_limit = 200}).value();
    simulation<lim::gradient2> stale(p);
    const band without = stale.run({50, 100ms, std::nullopt}, 200s, 300s);
    BOOST_TEST(without.lo >= 190u); // the defect, shown
    BOOST_TEST(stale.get().policy().baseline_rtt() >= 350ms);

    lim::adaptive_options o;
    o.probe.interval = 30s;
    o.probe.seed = 42;
    simulation<lim::gradient2> probed(p, o);
    const band with = probed.run({50, 100ms, std::nullopt}, 200s, 300s);
    check_band(with, 50, 1.3, 1.6, 0.05);
    BOOST_TEST(probed.get().probes() >= 6u);
    BOOST_TEST(probed.get().policy().baseline_rtt() <= 110ms);
    BOOST_TEST_MESSAGE("baseline learned under load, knee 50: without probes ["
                       << without.lo << ", " << without.hi << "], with [" << with.lo << ", "
                       << with.hi << "]");
}

BOOST_AUTO_TEST_CASE(a_drop_makes_aimd_back_off_once_per_window) {
    lim::adaptive_limiter<lim::aimd, manual_clock> l(lim::aimd::make().value(), every_completion(),
                                                     at(0ns));
    l.try_acquire(at(0ms)).on_success(at(10ms)); // demand below half the limit: no growth
    BOOST_TEST(l.limit() == 20u);
    {
        std::vector<lim::adaptive_limiter<lim::aimd, manual_clock>::permit> held;
        for (int i = 0; i < 20; ++i)
            held.push_back(l.try_acquire(at(20ms)));
        BOOST_TEST(!l.try_acquire(at(20ms)));
        held.back().on_success(at(30ms)); // taken as the 20th in flight, no drop: +1
        BOOST_TEST(l.limit() == 21u);
        held[1].on_dropped(at(40ms)); // x0.9, floored at min_limit 20
        BOOST_TEST(l.limit() == 20u);
    }
    // A burst of timeouts in one window backs off once (200 -> 180), not 0.9^10.
    lim::adaptive_options o = every_completion();
    o.min_window = o.max_window = 1s;
    o.min_samples = 10;
    lim::adaptive_limiter<lim::aimd, manual_clock> burst(
        lim::aimd::make({.min_limit = 1, .initial_limit = 200}).value(), o, at(0ns));
    std::vector<lim::adaptive_limiter<lim::aimd, manual_clock>::permit> held;
    for (int i = 0; i < 10; ++i)
        held.push_back(burst.try_acquire(at(0ms)));
    for (auto& p : held)
        p.on_dropped(at(1s));
    BOOST_TEST(burst.limit() == 180u);
    BOOST_TEST(burst.windows() == 1u);
    // A window whose mean latency exceeds the timeout counts as a drop.
    lim::adaptive_limiter<lim::aimd, manual_clock> slow(
        lim::aimd::make({.min_limit = 1, .timeout = 50ms}).value(), every_completion(), at(0ns));
    std::vector<lim::adaptive_limiter<lim::aimd, manual_clock>::permit> slow_held;
    for (int i = 0; i < 20; ++i)
        slow_held.push_back(slow.try_acquire(at(0ms)));
    slow_held[0].on_success(at(60ms));
    BOOST_TEST(slow.limit() == 18u);
}

BOOST_AUTO_TEST_CASE(drops_make_vegas_and_gradient2_back_off) {
    lim::adaptive_limiter<lim::vegas, manual_clock> v(lim::vegas::make().value(),
                                                      every_completion(), at(0ns));
    v.try_acquire(at(0ms)).on_dropped(at(1s));
    BOOST_TEST(v.limit() == 19u); // 20 - log10(20)
    lim::adaptive_limiter<lim::gradient2, manual_clock> g(
        lim::gradient2::make({.min_limit = 1, .initial_limit = 100}).value(), every_completion(),
        at(0ns));
    g.try_acquire(at(0ms)).on_dropped(at(1s));
    BOOST_TEST(g.limit() == 90u); // gradient 0.5 smoothed by 0.2: 100 * 0.9
}

BOOST_AUTO_TEST_CASE(permits_are_released_exactly_once) {
    lim::adaptive_limiter<lim::vegas, manual_clock> l(
        lim::vegas::make({.initial_limit = 2}).value(), every_completion(), at(0ns));
    auto a = l.try_acquire(at(0ms));
    auto b = l.try_acquire(at(0ms));
    BOOST_TEST(static_cast<bool>(a));
    BOOST_TEST(a.result().admitted);
    BOOST_TEST(a.result().remaining == 1u);
    BOOST_TEST(b.result().remaining == 0u);
    const auto refused = l.try_acquire(at(0ms));
    BOOST_TEST(!refused);
    BOOST_TEST((refused.result().ec == fl::error::concurrency_exceeded));
    BOOST_TEST(refused.result().retry_after == 1s);
    BOOST_TEST(refused.result().limit == 2u);
    const lim::limit_response reply = lim::refuse(refused.result()); // the gateway's 429
    BOOST_TEST(reply.status == 429u);
    BOOST_TEST(reply.body.find("concurrency_exceeded") != std::string::npos);
    BOOST_TEST(l.in_flight() == 2u);

    a.on_success(at(5ms));
    a.on_success(at(6ms));
    a.on_dropped(at(7ms));
    a.on_ignore();
    BOOST_TEST(l.in_flight() == 1u);
    BOOST_TEST(l.windows() == 1u); // one sample, however often it was reported

    auto moved = std::move(b);
    BOOST_TEST(!b);
    b.on_success(at(8ms)); // an emptied permit reports nothing
    BOOST_TEST(l.in_flight() == 1u);
    moved = l.try_acquire(at(9ms)); // the assignment returns the slot it held
    BOOST_TEST(l.in_flight() == 1u);
    { auto c = std::move(moved); } // destroyed uncompleted: ignored, no sample
    BOOST_TEST(l.in_flight() == 0u);
    BOOST_TEST(l.windows() == 1u);
}

BOOST_AUTO_TEST_CASE(samples_that_say_nothing_are_ignored) {
    lim::adaptive_options o = every_completion();
    o.ignore_below = 1ms;
    lim::adaptive_limiter<lim::gradient2, manual_clock> l(lim::gradient2::make().value(), o,
                                                          at(0ns));
    l.try_acquire(at(10ms)).on_success(at(10ms));         // zero latency
    l.try_acquire(at(10ms)).on_success(at(5ms));          // completion before its start
    l.try_acquire(at(10ms)).on_success(at(10ms + 500us)); // faster than ignore_below
    BOOST_TEST(l.windows() == 0u);
    BOOST_TEST(l.in_flight() == 0u);
    l.try_acquire(at(10ms)).on_success(at(12ms));
    BOOST_TEST(l.windows() == 1u);
    BOOST_TEST(l.policy().baseline_rtt() == 2ms);
}

BOOST_AUTO_TEST_CASE(windows_wait_for_time_and_samples) {
    lim::adaptive_options o;
    o.min_window = 100ms;
    o.max_window = 1s;
    o.min_samples = 3;
    o.ignore_below = 0ns;
    lim::adaptive_limiter<lim::vegas, manual_clock> l(lim::vegas::make().value(), o, at(0ns));
    l.try_acquire(at(0ms)).on_success(at(200ms));
    l.try_acquire(at(0ms)).on_success(at(200ms));
    BOOST_TEST(l.windows() == 0u); // past the end, but 2 samples
    l.try_acquire(at(0ms)).on_success(at(210ms));
    BOOST_TEST(l.windows() == 1u);
    BOOST_TEST(l.policy().no_load_rtt() == 200ms);
    // The next window lasts twice the smallest latency (400 ms), within [100 ms, 1 s].
    for (int i = 0; i < 3; ++i)
        l.try_acquire(at(300ms)).on_success(at(600ms));
    BOOST_TEST(l.windows() == 1u);
    l.try_acquire(at(300ms)).on_success(at(610ms));
    BOOST_TEST(l.windows() == 2u);
}

BOOST_AUTO_TEST_CASE(bad_options_are_refused_with_typed_errors) {
    using E = lim::adaptive_error;
    struct row {
        std::error_code ec;
        E want;
    };
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const row rows[] = {
        {lim::aimd::validate({.min_limit = 0}), E::limit_zero},
        {lim::aimd::validate({.max_limit = 0}), E::limit_zero},
        {lim::aimd::validate({.min_limit = 30, .initial_limit = 30, .max_limit = 20}),
         E::min_above_max},
        {lim::aimd::validate({.initial_limit = 300}), E::initial_out_of_range},
        {lim::aimd::validate({.initial_limit = 10}), E::initial_out_of_range},
        {lim::aimd::validate({.backoff_ratio = 1.0}), E::backoff_out_of_range},
        {lim::aimd::validate({.backoff_ratio = 0.4}), E::backoff_out_of_range},
        {lim::aimd::validate({.backoff_ratio = nan}), E::backoff_out_of_range},
        {lim::aimd::validate({.timeout = 0ns}), E::timeout_not_positive},
        {lim::aimd::validate({.timeout = -1s}), E::timeout_not_positive},
        {lim::vegas::validate({.initial_limit = 0}), E::limit_zero},
        {lim::vegas::validate({.min_limit = 5, .initial_limit = 5, .max_limit = 4}),
         E::min_above_max},
        {lim::vegas::validate({.smoothing = 0.0}), E::smoothing_out_of_range},
        {lim::vegas::validate({.smoothing = 1.5}), E::smoothing_out_of_range},
        {lim::vegas::validate({.smoothing = -0.1}), E::smoothing_out_of_range},
        {lim::vegas::validate({.smoothing = nan}), E::smoothing_out_of_range},
        {lim::vegas::validate({.alpha = 0}), E::thresholds_invalid},
        {lim::vegas::validate({.alpha = 6, .beta = 6}), E::thresholds_invalid},
        {lim::gradient2::validate({.min_limit = 0}), E::limit_zero},
        {lim::gradient2::validate({.max_limit = 10}), E::min_above_max},
        {lim::gradient2::validate({.smoothing = 0.0}), E::smoothing_out_of_range},
        {lim::gradient2::validate({.smoothing = 1.01}), E::smoothing_out_of_range},
        {lim::gradient2::validate({.long_window = 0}), E::long_window_zero},
        {lim::gradient2::validate({.rtt_tolerance = 0.9}), E::tolerance_out_of_range},
        {lim::gradient2::validate({.rtt_tolerance = nan}), E::tolerance_out_of_range},
        {lim::gradient2::validate({.rtt_tolerance = std::numeric_limits<double>::infinity()}),
         E::tolerance_out_of_range},
        {lim::validate(lim::adaptive_options{.min_window = 0ns}), E::window_invalid},
        {lim::validate(lim::adaptive_options{.min_window = -1s}), E::window_invalid},
        {lim::validate(lim::adaptive_options{.min_window = 2s, .max_window = 1s}),
         E::window_invalid},
        {lim::validate(lim::adaptive_options{.min_samples = 0}), E::window_invalid},
        {lim::validate(lim::adaptive_options{.probe = {.interval = -1s}}), E::probe_invalid},
        {lim::validate(lim::adaptive_options{.probe = {.jitter = -0.1}}), E::probe_invalid},
        {lim::validate(lim::adaptive_options{.probe = {.jitter = 1.5}}), E::probe_invalid},
        {lim::validate(lim::adaptive_options{.probe = {.jitter = nan}}), E::probe_invalid},
        {lim::validate(lim::adaptive_options{.probe = {.limit = 0}}), E::probe_invalid},
        {lim::validate(lim::adaptive_options{.probe = {.samples = 0}}), E::probe_invalid},
        {lim::validate(lim::adaptive_options{.probe = {.timeout = 0s}}), E::probe_invalid},
    };
    for (const auto& r : rows) {
        BOOST_TEST((r.ec == r.want), r.ec.message());
        BOOST_TEST((r.ec == std::errc::invalid_argument));
        BOOST_TEST(std::string(r.ec.category().name()) == "faultline.limit.adaptive");
        BOOST_TEST(r.ec.message().find("adaptive limit: ") == 0u);
        BOOST_TEST(r.ec.message().size() > 30u);
    }
    // Messages name what is wrong.
    BOOST_TEST(make_error_code(E::min_above_max)
                   .message()
                   .find("min_limit is greater than "
                         "max_limit") != std::string::npos);
    BOOST_TEST(make_error_code(E::smoothing_out_of_range).message().find("(0, 1]") !=
               std::string::npos);

    // make() carries the same codes; the defaults are valid.
    BOOST_TEST((lim::aimd::make({.backoff_ratio = 2}).error() == E::backoff_out_of_range));
    BOOST_TEST((lim::vegas::make({.smoothing = 0}).error() == E::smoothing_out_of_range));
    BOOST_TEST((lim::gradient2::make({.min_limit = 0}).error() == E::limit_zero));
    BOOST_TEST(lim::aimd::make().has_value());
    BOOST_TEST(lim::vegas::make().has_value());
    BOOST_TEST(lim::gradient2::make().has_value());
    BOOST_TEST(!lim::validate(lim::adaptive_options{}));

    // The limiter refuses bad window options at construction.
    BOOST_CHECK_EXCEPTION(
        (lim::adaptive_limiter<lim::aimd, manual_clock>(
            lim::aimd::make().value(), lim::adaptive_options{.min_samples = 0}, at(0ns))),
        std::system_error,
        [](const std::system_error& e) { return e.code() == E::window_invalid; });
}

BOOST_AUTO_TEST_SUITE_END()

// The CI runs the limit_concurrency* suites under ThreadSanitizer.
BOOST_AUTO_TEST_SUITE(limit_concurrency_adaptive)

// Two threads take and complete permits as fast as they can, with probes starting and ending
// among them; every slot comes back, the limit stays in its bounds.
BOOST_AUTO_TEST_CASE(concurrent_acquire_and_complete) {
    lim::adaptive_options o;
    o.min_window = 1us;
    o.max_window = 10us;
    o.min_samples = 4;
    o.ignore_below = 0ns;
    o.probe = {.interval = 200us, .limit = 2, .samples = 5, .timeout = 100us, .seed = 7};
    lim::adaptive_limiter<lim::gradient2, manual_clock> l(
        lim::gradient2::make({.min_limit = 2, .initial_limit = 8, .max_limit = 64}).value(), o,
        at(0ns));
    std::atomic<std::uint64_t> admitted{0};
    std::atomic<bool> out_of_bounds{false}; // Boost.Test assertions are for the main thread
    auto worker = [&](int id) {
        std::chrono::nanoseconds t{0};
        std::vector<lim::adaptive_limiter<lim::gradient2, manual_clock>::permit> held;
        for (int i = 0; i < 50'000; ++i) {
            t += 1us;
            if (auto p = l.try_acquire(at(t))) {
                admitted.fetch_add(1, std::memory_order_relaxed);
                held.push_back(std::move(p));
            }
            if (const auto cur = l.limit(); cur < 2 || cur > 64) out_of_bounds = true;
            if (held.size() >= 3 || (i % 7 == 0 && !held.empty())) {
                auto& p = held.front();
                const auto done = at(t + std::chrono::microseconds(1 + (i + id) % 50));
                if (i % 11 == 0)
                    p.on_dropped(done);
                else if (i % 13 == 0)
                    p.on_ignore();
                else
                    p.on_success(done);
                held.erase(held.begin());
            }
        }
    };
    std::thread a(worker, 0), b(worker, 1);
    a.join();
    b.join();
    BOOST_TEST(!out_of_bounds.load());
    BOOST_TEST(l.in_flight() == 0u);
    BOOST_TEST(admitted.load() > 1000u);
    BOOST_TEST(l.windows() > 10u);
    BOOST_TEST(l.probes() > 0u);
}

BOOST_AUTO_TEST_SUITE_END()

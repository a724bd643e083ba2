// Token bucket try-acquire (success and failure, 1 and 2 threads, with and without reading the
// clock) beside a mutex-protected bucket in the same run; BM_bucket/{full,empty,tight}: the
// bucket with the clock read per attempt beside folly's TokenBucket (peer/, ported unchanged)
// and the mutex bucket, and on coarse_steady_clock; the keyed limiter with 1M keys; the
// keyed limiter at its cap (a known key's decision against a flood of new keys) and 1M / 10M
// distinct keys at 2 threads, each beside a mutex + std::unordered_map baseline. The adaptive
// concurrency limiter's acquire + completion beside the fixed concurrency_limiter's acquire +
// release (1 and 2 threads), and that release through the prioritized wrapper (priority.hpp)
// while nobody waits.
//
//     build-bench/benchmarks/limit-bench --benchmark_format=json
//     build-bench/benchmarks/limit-bench --benchmark_filter='BM_bucket/'
//         --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//         --benchmark_report_aggregates_only=true --benchmark_format=json
// With Threads(2), cpu_time / real_time near 2 means both threads really ran at once; near 1,
// they shared one core and the figures are not contention.

#include <faultline/limit/adaptive.hpp>
#include <faultline/limit/clock.hpp>
#include <faultline/limit/concurrency.hpp>
#include <faultline/limit/keyed.hpp>
#include <faultline/limit/priority.hpp>
#include <faultline/limit/token_bucket.hpp>

#include "peer/folly_token_bucket.hpp"

#include <benchmark/benchmark.h>

#include <malloc.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace lim = faultline::limit;
using steady = std::chrono::steady_clock;

namespace {

// The baseline: the textbook bucket, a mutex around (tokens, last refill).
class mutex_bucket {
public:
    mutex_bucket(double rate_per_s, double burst, bool full, steady::time_point now)
        : rate_per_ns_(rate_per_s / 1e9)
        , burst_(burst)
        , tokens_(full ? burst : 0)
        , last_(now) {}
    bool try_acquire(double n, steady::time_point now) {
        const std::lock_guard lock(m_);
        if (now > last_) {
            tokens_ = std::min(burst_,
                               tokens_ + static_cast<double>((now - last_).count()) * rate_per_ns_);
            last_ = now;
        }
        if (tokens_ < n) return false;
        tokens_ -= n;
        return true;
    }

private:
    std::mutex m_;
    double rate_per_ns_, burst_, tokens_;
    steady::time_point last_;
};

// Success: 4e9 tokens/s, a burst of 4e9; each thread's `now` moves 1 ns per attempt (4 tokens),
// so attempts succeed even when two threads' instants drift apart by up to a second
// (admitted_ratio shows they did). With the clock read, real time refills far faster than
// attempts consume. Failure: an empty bucket refilling once a minute.
std::unique_ptr<lim::token_bucket<>> lf_bucket;
std::unique_ptr<mutex_bucket> mx_bucket;
const steady::time_point base = steady::now();

void setup_success(const benchmark::State&) {
    lf_bucket = std::make_unique<lim::token_bucket<>>(
        lim::bucket_config{lim::rate::per_second(4e9), 4'000'000'000}, base);
    mx_bucket = std::make_unique<mutex_bucket>(4e9, 4e9, true, base);
}
void setup_failure(const benchmark::State&) {
    lf_bucket = std::make_unique<lim::token_bucket<>>(
        lim::bucket_config{lim::rate::per_minute(1), 1, lim::initial_fill::empty}, base);
    mx_bucket = std::make_unique<mutex_bucket>(1.0 / 60, 1, false, base);
}
void teardown(const benchmark::State&) {
    lf_bucket.reset();
    mx_bucket.reset();
}

template <bool ReadClock, bool Success, class Acquire>
void run(benchmark::State& state, Acquire acquire) {
    std::int64_t admitted = 0, attempts = 0;
    steady::time_point now = base;
    for (auto _ : state) {
        if constexpr (ReadClock)
            now = steady::now();
        else if constexpr (Success)
            now += std::chrono::nanoseconds(1);
        admitted += acquire(now);
        ++attempts;
    }
    state.counters["admitted_ratio"] =
        benchmark::Counter(static_cast<double>(admitted), benchmark::Counter::kAvgIterations);
    (void)attempts;
}

template <bool ReadClock, bool Success>
void BM_lockfree(benchmark::State& state) {
    run<ReadClock, Success>(state, [](steady::time_point now) {
        return lf_bucket->try_acquire(1, now).admitted ? 1 : 0;
    });
}
template <bool ReadClock, bool Success>
void BM_mutex(benchmark::State& state) {
    run<ReadClock, Success>(state,
                            [](steady::time_point now) { return mx_bucket->try_acquire(1, now); });
}

#define FAULTLINE_BUCKET_BENCH(fn, read, success, setup)                                           \
    BENCHMARK_TEMPLATE(fn, read, success)                                                          \
        ->Name(std::string(#fn) + ((success) ? "/success" : "/failure") +                          \
               ((read) ? "/clock_read" : "/now_passed"))                                           \
        ->Setup(setup)                                                                             \
        ->Teardown(teardown)                                                                       \
        ->Threads(1)                                                                               \
        ->Threads(2)                                                                               \
        ->UseRealTime()

FAULTLINE_BUCKET_BENCH(BM_lockfree, false, true, setup_success);
FAULTLINE_BUCKET_BENCH(BM_mutex, false, true, setup_success);
FAULTLINE_BUCKET_BENCH(BM_lockfree, true, true, setup_success);
FAULTLINE_BUCKET_BENCH(BM_mutex, true, true, setup_success);
FAULTLINE_BUCKET_BENCH(BM_lockfree, false, false, setup_failure);
FAULTLINE_BUCKET_BENCH(BM_mutex, false, false, setup_failure);
FAULTLINE_BUCKET_BENCH(BM_lockfree, true, false, setup_failure);
FAULTLINE_BUCKET_BENCH(BM_mutex, true, false, setup_failure);

// --- one bucket, clock read per attempt: faultline beside folly and the mutex bucket --------

// Every attempt reads the clock, as a caller without a `now` at hand does: faultline and the
// mutex bucket get steady_clock::now(), folly the same reading as seconds in a double (its
// defaultClockNow()). Each decision is kept whole (DoNotOptimize), so faultline pays for the
// figures it returns beyond folly's bool.
//   full:  4e9/s, burst 4e9, starts full: every attempt admitted.
//   empty: 1 per hour, burst 1, starts empty: every attempt refused.
//   tight: 1e7/s, burst 1: a token every 100 ns, so with 2 threads nearly every admission is
//          raced for; admitted_ratio says how many attempts won one.
// BM_bucket/<case>/faultline_dynamic is the same bucket as a dynamic_token_bucket (parameters
// read through its sequence lock, never reconfigured here).
// BM_bucket/<case>/faultline_coarse is faultline on coarse_steady_clock; its
// clock_resolution_ns counter is clock_getres(CLOCK_MONOTONIC_COARSE) on the running kernel,
// which bounds its error (limit/clock.hpp): in `tight` it admits about one token per tick.
enum class fill { full, empty, tight };

std::unique_ptr<lim::token_bucket<>> fl_steady;
std::unique_ptr<lim::dynamic_token_bucket<>> fl_dynamic;
std::unique_ptr<lim::token_bucket<lim::coarse_steady_clock>> fl_coarse;
std::unique_ptr<folly_peer::TokenBucket> folly_bucket;
std::unique_ptr<mutex_bucket> mx_steady;

double folly_seconds(steady::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

template <fill F>
void setup_fill(const benchmark::State&) {
    const lim::bucket_config c =
        F == fill::full    ? lim::bucket_config{lim::rate::per_second(4e9), 4'000'000'000}
        : F == fill::empty ? lim::bucket_config{lim::rate::per(1, std::chrono::hours(1)), 1,
                                                lim::initial_fill::empty}
                           : lim::bucket_config{lim::rate::per_second(1e7), 1};
    const double rate = F == fill::full ? 4e9 : F == fill::empty ? 1.0 / 3600 : 1e7;
    const double burst = static_cast<double>(c.burst);
    const bool full = c.fill == lim::initial_fill::full;
    const steady::time_point now = steady::now();
    fl_steady = std::make_unique<lim::token_bucket<>>(c, now);
    fl_dynamic = std::make_unique<lim::dynamic_token_bucket<>>(c, now);
    fl_coarse = std::make_unique<lim::token_bucket<lim::coarse_steady_clock>>(
        c, lim::coarse_steady_clock::now());
    // folly's zero time is when the bucket was empty: `burst / rate` ago for a full one.
    const double now_s = folly_seconds(now);
    folly_bucket =
        std::make_unique<folly_peer::TokenBucket>(rate, burst, full ? now_s - burst / rate : now_s);
    mx_steady = std::make_unique<mutex_bucket>(rate, burst, full, now);
}
void teardown_fill(const benchmark::State&) {
    fl_steady.reset();
    fl_dynamic.reset();
    fl_coarse.reset();
    folly_bucket.reset();
    mx_steady.reset();
}

double resolution_ns(clockid_t id) {
    timespec ts{};
    clock_getres(id, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

template <class Acquire>
void race(benchmark::State& state, clockid_t clock, Acquire acquire) {
    std::int64_t admitted = 0;
    for (auto _ : state)
        admitted += acquire();
    state.counters["admitted_ratio"] =
        benchmark::Counter(static_cast<double>(admitted), benchmark::Counter::kAvgIterations);
    state.counters["clock_resolution_ns"] =
        benchmark::Counter(resolution_ns(clock), benchmark::Counter::kAvgThreads);
}

void BM_bucket_faultline(benchmark::State& state) {
    race(state, CLOCK_MONOTONIC, [] {
        const lim::decision d = fl_steady->try_acquire(1, steady::now());
        benchmark::DoNotOptimize(d);
        return d.admitted ? 1 : 0;
    });
}
void BM_bucket_faultline_dynamic(benchmark::State& state) {
    race(state, CLOCK_MONOTONIC, [] {
        const lim::decision d = fl_dynamic->try_acquire(1, steady::now());
        benchmark::DoNotOptimize(d);
        return d.admitted ? 1 : 0;
    });
}
void BM_bucket_faultline_coarse(benchmark::State& state) {
    race(state, CLOCK_MONOTONIC_COARSE, [] {
        const lim::decision d = fl_coarse->try_acquire(1, lim::coarse_steady_clock::now());
        benchmark::DoNotOptimize(d);
        return d.admitted ? 1 : 0;
    });
}
void BM_bucket_folly(benchmark::State& state) {
    race(state, CLOCK_MONOTONIC, [] {
        const bool ok = folly_bucket->consume(1, folly_seconds(steady::now()));
        benchmark::DoNotOptimize(ok);
        return ok ? 1 : 0;
    });
}
void BM_bucket_mutex(benchmark::State& state) {
    race(state, CLOCK_MONOTONIC, [] {
        const bool ok = mx_steady->try_acquire(1, steady::now());
        benchmark::DoNotOptimize(ok);
        return ok ? 1 : 0;
    });
}

#define FAULTLINE_FILL_BENCH(fn, f, label)                                                         \
    BENCHMARK(fn)                                                                                  \
        ->Name(std::string("BM_bucket/") + (label) + "/" + std::string(#fn).substr(10))            \
        ->Setup(setup_fill<f>)                                                                     \
        ->Teardown(teardown_fill)                                                                  \
        ->Threads(1)                                                                               \
        ->Threads(2)                                                                               \
        ->UseRealTime()
#define FAULTLINE_FILL_BENCHES(f, label)                                                           \
    FAULTLINE_FILL_BENCH(BM_bucket_faultline, f, label);                                           \
    FAULTLINE_FILL_BENCH(BM_bucket_faultline_dynamic, f, label);                                   \
    FAULTLINE_FILL_BENCH(BM_bucket_folly, f, label);                                               \
    FAULTLINE_FILL_BENCH(BM_bucket_mutex, f, label);                                               \
    FAULTLINE_FILL_BENCH(BM_bucket_faultline_coarse, f, label)

FAULTLINE_FILL_BENCHES(fill::full, "full");
FAULTLINE_FILL_BENCHES(fill::empty, "empty");
FAULTLINE_FILL_BENCHES(fill::tight, "tight");

// --- keyed limiter, 1M keys ---------------------------------------------------------------

constexpr std::uint64_t key_count = 1u << 20;

void BM_keyed_1M(benchmark::State& state) {
    const std::size_t heap_before = mallinfo2().uordblks;
    // 60 per minute per key: an acquired key stays tracked (not full) for a second.
    lim::keyed_limiter<> k({.defaults = {lim::rate::per_minute(60), 60}, .max_keys = 2 * key_count},
                           base);
    steady::time_point now = base;
    // An odd multiplier permutes [0, 2^20): every key once per pass, in scattered order.
    for (std::uint64_t i = 0; i < key_count; ++i)
        benchmark::DoNotOptimize(k.try_acquire((i * 0x9e3779b1u) & (key_count - 1), 1, now));
    const std::size_t heap_after = mallinfo2().uordblks;
    std::uint64_t i = 0;
    std::int64_t admitted = 0;
    for (auto _ : state) {
        now += std::chrono::nanoseconds(1);
        admitted += k.try_acquire((i++ * 0x9e3779b1u) & (key_count - 1), 1, now).admitted;
    }
    const double keys = static_cast<double>(k.size());
    state.counters["decisions_per_s"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["keys"] = keys;
    state.counters["table_bytes_per_key"] = static_cast<double>(k.memory_bytes()) / keys;
    state.counters["heap_bytes_per_key"] = static_cast<double>(heap_after - heap_before) / keys;
    state.counters["admitted_ratio"] =
        benchmark::Counter(static_cast<double>(admitted), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_keyed_1M)->Unit(benchmark::kNanosecond)->UseRealTime();

// Peer: the same access pattern on one mutex-protected bucket per key in a flat array (no
// hashing, no eviction): what a keyed limiter costs beyond memory latency.
void BM_keyed_1M_flat_array_baseline(benchmark::State& state) {
    struct cell {
        std::mutex m;
        std::int64_t tat = 0;
    };
    auto cells = std::make_unique<cell[]>(key_count);
    std::uint64_t i = 0;
    std::int64_t t = 0;
    for (auto _ : state) {
        ++t;
        cell& c = cells[(i++ * 0x9e3779b1u) & (key_count - 1)];
        const std::lock_guard lock(c.m);
        const std::int64_t next = std::max(c.tat, t) + 1'000'000'000;
        if (next - 60'000'000'000 <= t) c.tat = next;
        benchmark::DoNotOptimize(c.tat);
    }
    state.counters["decisions_per_s"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["bytes_per_key"] = static_cast<double>(sizeof(cell));
}
BENCHMARK(BM_keyed_1M_flat_array_baseline)->UseRealTime();

// --- keyed limiter at its cap: known keys against a flood of new keys ----------------------

// The baseline: one mutex around a std::unordered_map of TATs (1 per second, burst 60), new
// keys refused at the cap, nothing evicted: the cost of a decision with no eviction at all.
class mutex_map {
public:
    explicit mutex_map(std::size_t cap)
        : cap_(cap) {
        map_.reserve(cap);
    }
    bool try_acquire(std::uint64_t key, std::int64_t now_ns) {
        const std::lock_guard lock(m_);
        auto it = map_.find(key);
        if (it == map_.end()) {
            if (map_.size() >= cap_) return false;
            it = map_.emplace(key, now_ns).first;
        }
        const std::int64_t next = std::max(it->second, now_ns) + 1'000'000'000;
        if (next - 60'000'000'000 > now_ns) return false;
        it->second = next;
        return true;
    }

private:
    std::mutex m_;
    std::size_t cap_;
    std::unordered_map<std::uint64_t, std::int64_t> map_;
};

constexpr std::uint64_t cap_keys = 1u << 20; // keyed_options' default max_keys
constexpr std::uint64_t scatter = 0x9e3779b1u;
// Known keys are visited in another order than they were inserted in, so that the baseline's
// nodes (allocated in insertion order) are not read sequentially.
constexpr std::uint64_t revisit = 0x85ebca6bu;

// Filled once, shared by the benchmarks below: every key acquired once at `base`, so each is
// live (not full again) for a second, far longer than a run.
lim::keyed_limiter<>& full_keyed() {
    static const auto k = [] {
        auto p = std::make_unique<lim::keyed_limiter<>>(
            lim::keyed_options{.defaults = {lim::rate::per_minute(60), 60}}, base);
        for (std::uint64_t i = 0; i < cap_keys; ++i)
            (void)p->try_acquire((i * scatter) & (cap_keys - 1), 1, base);
        return p;
    }();
    return *k;
}
mutex_map& full_map() {
    static const auto m = [] {
        auto p = std::make_unique<mutex_map>(cap_keys);
        for (std::uint64_t i = 0; i < cap_keys; ++i)
            (void)p->try_acquire((i * scatter) & (cap_keys - 1), 0);
        return p;
    }();
    return *m;
}

// Known: keys of the full table in scattered order. New: keys never seen, each refused.
// Compare CPU time: on a shared machine real time includes other processes' turns.
template <bool NewKeys>
void BM_keyed_at_cap(benchmark::State& state) {
    lim::keyed_limiter<>& k = full_keyed();
    const lim::keyed_stats before = k.stats();
    static std::uint64_t next_new = cap_keys; // new keys stay new across runs
    std::uint64_t i = 0;
    const steady::time_point now = base + std::chrono::milliseconds(1);
    for (auto _ : state) {
        const std::uint64_t key = NewKeys ? next_new++ : (i++ * revisit) & (cap_keys - 1);
        benchmark::DoNotOptimize(k.try_acquire(key, 1, now));
    }
    const lim::keyed_stats after = k.stats();
    state.counters["keys"] = static_cast<double>(k.size());
    state.counters["slots_examined_per_op"] =
        benchmark::Counter(static_cast<double>(after.slots_examined - before.slots_examined),
                           benchmark::Counter::kAvgIterations);
    state.counters["refused_per_op"] = benchmark::Counter(
        static_cast<double>(after.refused - before.refused), benchmark::Counter::kAvgIterations);
}
template <bool NewKeys>
void BM_mutex_map_at_cap(benchmark::State& state) {
    mutex_map& m = full_map();
    static std::uint64_t next_new = cap_keys;
    std::uint64_t i = 0;
    for (auto _ : state) {
        const std::uint64_t key = NewKeys ? next_new++ : (i++ * revisit) & (cap_keys - 1);
        benchmark::DoNotOptimize(m.try_acquire(key, 1'000'000));
    }
}
BENCHMARK_TEMPLATE(BM_keyed_at_cap, false)->Name("BM_keyed_at_cap/known_key");
BENCHMARK_TEMPLATE(BM_keyed_at_cap, true)->Name("BM_keyed_at_cap/new_key_flood");
BENCHMARK_TEMPLATE(BM_mutex_map_at_cap, false)->Name("BM_mutex_map_at_cap/known_key");
BENCHMARK_TEMPLATE(BM_mutex_map_at_cap, true)->Name("BM_mutex_map_at_cap/new_key_flood");

// The flood's ratio, measured so that a busy machine cannot tilt it: each iteration times 4096
// known keys and then 4096 new ones, back to back, so both halves see the same caches and the
// same neighbours. new_over_known is the figure (target <= 2); the counters are the
// averages over all iterations.
void BM_keyed_at_cap_ratio(benchmark::State& state) {
    lim::keyed_limiter<>& k = full_keyed();
    static std::uint64_t next_new = std::uint64_t{1} << 40; // apart from BM_keyed_at_cap's
    std::uint64_t i = 0;
    const steady::time_point now = base + std::chrono::milliseconds(1);
    constexpr std::uint64_t batch = 4096;
    std::chrono::nanoseconds known{0}, fresh{0};
    for (auto _ : state) {
        const auto t0 = steady::now();
        for (std::uint64_t j = 0; j < batch; ++j)
            benchmark::DoNotOptimize(k.try_acquire((i++ * revisit) & (cap_keys - 1), 1, now));
        const auto t1 = steady::now();
        for (std::uint64_t j = 0; j < batch; ++j)
            benchmark::DoNotOptimize(k.try_acquire(next_new++, 1, now));
        const auto t2 = steady::now();
        known += t1 - t0;
        fresh += t2 - t1;
    }
    const auto ops = static_cast<double>(state.iterations() * batch);
    state.counters["known_ns"] = static_cast<double>(known.count()) / ops;
    state.counters["new_ns"] = static_cast<double>(fresh.count()) / ops;
    state.counters["new_over_known"] =
        static_cast<double>(fresh.count()) / static_cast<double>(known.count());
}
BENCHMARK(BM_keyed_at_cap_ratio)->Unit(benchmark::kMicrosecond);

// --- N distinct keys arriving at 2 threads -------------------------------------------------

// Each thread sends N/2 keys never seen before (scattered, disjoint). same_instant: all at one
// instant, so the table fills with live keys and the rest are refused; spread: 1 µs apart,
// so keys go idle after a second and the hand replaces them. Linear means ns_per_key stays
// put from 1M to 10M.
template <class Limiter, class Make, class Acquire>
void distinct_keys(benchmark::State& state, Make make, Acquire acquire) {
    const auto n = static_cast<std::uint64_t>(state.range(0));
    const bool spread = state.range(1) != 0;
    std::uint64_t admitted = 0;
    for (auto _ : state) {
        std::unique_ptr<Limiter> l = make();
        std::uint64_t got[2] = {0, 0};
        const auto start = steady::now();
        std::thread threads[2];
        for (std::uint64_t th = 0; th < 2; ++th)
            threads[th] = std::thread([&, th] {
                for (std::uint64_t i = th; i < n; i += 2) {
                    const auto at = base + std::chrono::microseconds(spread ? i : 0);
                    got[th] += acquire(*l, i * 0x9e3779b97f4a7c15ull, at);
                }
            });
        for (std::thread& t : threads)
            t.join();
        const std::chrono::duration<double> elapsed = steady::now() - start;
        state.SetIterationTime(elapsed.count());
        state.counters["ns_per_key"] = elapsed.count() * 1e9 / static_cast<double>(n);
        admitted = got[0] + got[1];
    }
    state.counters["admitted"] = static_cast<double>(admitted);
}
void BM_keyed_distinct_keys(benchmark::State& state) {
    distinct_keys<lim::keyed_limiter<>>(
        state,
        [] {
            return std::make_unique<lim::keyed_limiter<>>(
                lim::keyed_options{.defaults = {lim::rate::per_minute(60), 60}}, base);
        },
        [](lim::keyed_limiter<>& k, std::uint64_t key, steady::time_point at) {
            return k.try_acquire(key, 1, at).admitted ? 1 : 0;
        });
}
void BM_mutex_map_distinct_keys(benchmark::State& state) {
    distinct_keys<mutex_map>(
        state, [] { return std::make_unique<mutex_map>(cap_keys); },
        [](mutex_map& m, std::uint64_t key, steady::time_point at) {
            return m.try_acquire(key, (at - base).count()) ? 1 : 0;
        });
}
BENCHMARK(BM_keyed_distinct_keys)
    ->ArgsProduct({{1'000'000, 10'000'000}, {0, 1}})
    ->ArgNames({"keys", "spread"})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_mutex_map_distinct_keys)
    ->ArgsProduct({{1'000'000, 10'000'000}, {0}})
    ->ArgNames({"keys", "spread"})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

} // namespace

// --- adaptive concurrency beside the fixed limiter ------------------------------------------

// Limits far above what 2 threads hold, so every acquire is admitted. `now` is passed, 10 us
// per iteration (a gateway at 100k requests/s), latency 200 us (above the 100 us
// `ignore_below`), so the cost is the limiter's own. success: the sample is added under the
// mutex and a window closes (the policy runs) every simulated second (Netflix's 1 s window),
// i.e. once per 100k iterations per thread. ignore: the lock-free path (acquire CAS + release
// decrement), the fixed limiter's work.
std::unique_ptr<lim::concurrency_limiter> fixed_limiter;
std::unique_ptr<lim::adaptive_limiter<lim::gradient2>> g2_limiter;
std::unique_ptr<lim::adaptive_limiter<lim::vegas>> vegas_limiter;
std::unique_ptr<lim::adaptive_limiter<lim::aimd>> aimd_limiter;
std::unique_ptr<lim::prioritized_limiter<lim::concurrency_limiter>> prioritized;

void setup_concurrency(const benchmark::State&) {
    fixed_limiter = std::make_unique<lim::concurrency_limiter>(1000);
    prioritized = std::make_unique<lim::prioritized_limiter<lim::concurrency_limiter>>(
        *fixed_limiter, lim::priority_options{});
    g2_limiter = std::make_unique<lim::adaptive_limiter<lim::gradient2>>(
        lim::gradient2::make({.initial_limit = 1000, .max_limit = 1000}).value(),
        lim::adaptive_options{}, base);
    vegas_limiter = std::make_unique<lim::adaptive_limiter<lim::vegas>>(
        lim::vegas::make({.initial_limit = 1000}).value(), lim::adaptive_options{}, base);
    aimd_limiter = std::make_unique<lim::adaptive_limiter<lim::aimd>>(
        lim::aimd::make({.initial_limit = 1000, .max_limit = 1000}).value(),
        lim::adaptive_options{}, base);
}
void teardown_concurrency(const benchmark::State&) {
    prioritized.reset();
    fixed_limiter.reset();
    g2_limiter.reset();
    vegas_limiter.reset();
    aimd_limiter.reset();
}

void BM_concurrency_fixed(benchmark::State& state) {
    std::int64_t admitted = 0;
    for (auto _ : state) {
        lim::permit p = fixed_limiter->try_acquire();
        admitted += p ? 1 : 0;
        p.release();
    }
    state.counters["admitted_ratio"] =
        benchmark::Counter(static_cast<double>(admitted), benchmark::Counter::kAvgIterations);
}

// The same limiter behind the prioritized wrapper, uncontended (nobody ever waits): a ticket
// per request, acquire, take the permit, release. `now` is passed, as a driver would; the bare
// limiter above reads no clock either.
void BM_concurrency_prioritized(benchmark::State& state) {
    std::int64_t admitted = 0;
    steady::time_point now = base;
    for (auto _ : state) {
        now += std::chrono::microseconds(10);
        lim::prioritized_limiter<lim::concurrency_limiter>::ticket t;
        admitted +=
            prioritized->acquire(t, lim::priority::medium, now) == lim::ticket_state::admitted ? 1
                                                                                               : 0;
        t.take().release(now);
    }
    state.counters["admitted_ratio"] =
        benchmark::Counter(static_cast<double>(admitted), benchmark::Counter::kAvgIterations);
}

template <class Limiter, bool Sample>
void adaptive_run(benchmark::State& state, Limiter& l) {
    std::int64_t admitted = 0;
    steady::time_point now = base;
    for (auto _ : state) {
        now += std::chrono::microseconds(10);
        auto p = l.try_acquire(now);
        admitted += p ? 1 : 0;
        if constexpr (Sample)
            p.on_success(now + std::chrono::microseconds(200));
        else
            p.on_ignore();
    }
    state.counters["admitted_ratio"] =
        benchmark::Counter(static_cast<double>(admitted), benchmark::Counter::kAvgIterations);
    state.counters["windows"] = static_cast<double>(l.windows());
}

template <bool Sample>
void BM_adaptive_gradient2(benchmark::State& state) {
    adaptive_run<lim::adaptive_limiter<lim::gradient2>, Sample>(state, *g2_limiter);
}
template <bool Sample>
void BM_adaptive_vegas(benchmark::State& state) {
    adaptive_run<lim::adaptive_limiter<lim::vegas>, Sample>(state, *vegas_limiter);
}
template <bool Sample>
void BM_adaptive_aimd(benchmark::State& state) {
    adaptive_run<lim::adaptive_limiter<lim::aimd>, Sample>(state, *aimd_limiter);
}

BENCHMARK(BM_concurrency_fixed)
    ->Setup(setup_concurrency)
    ->Teardown(teardown_concurrency)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

BENCHMARK(BM_concurrency_prioritized)
    ->Setup(setup_concurrency)
    ->Teardown(teardown_concurrency)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

#define FAULTLINE_ADAPTIVE_BENCH(fn, sample)                                                       \
    BENCHMARK_TEMPLATE(fn, sample)                                                                 \
        ->Name(std::string(#fn) + ((sample) ? "/success" : "/ignore"))                             \
        ->Setup(setup_concurrency)                                                                 \
        ->Teardown(teardown_concurrency)                                                           \
        ->Threads(1)                                                                               \
        ->Threads(2)                                                                               \
        ->UseRealTime()

FAULTLINE_ADAPTIVE_BENCH(BM_adaptive_gradient2, true);
FAULTLINE_ADAPTIVE_BENCH(BM_adaptive_gradient2, false);
FAULTLINE_ADAPTIVE_BENCH(BM_adaptive_vegas, true);
FAULTLINE_ADAPTIVE_BENCH(BM_adaptive_aimd, true);

BENCHMARK_MAIN();

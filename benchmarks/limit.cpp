// Token bucket try-acquire (success and failure, 1 and 2 threads, with and without reading the
// clock) beside a mutex-protected bucket in the same run; the keyed limiter with 1M keys.
//
//     build-bench/benchmarks/limit-bench --benchmark_format=json

#include <faultline/limit/keyed.hpp>
#include <faultline/limit/token_bucket.hpp>

#include <benchmark/benchmark.h>

#include <malloc.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

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

} // namespace

BENCHMARK_MAIN();

// Backoff, retry decision, retry budget and circuit breaker costs, beside the bare generator
// call they build on (and std::uniform_real_distribution, the obvious alternative mapping); and
// a whole call's decisions by the pipeline beside the hand-written loop it replaces, with
// allocations per call counted by count_allocations.hpp
// ("allocs_per_call").

#include <faultline/pipeline.hpp>
#include <faultline/retry/backoff.hpp>
#include <faultline/retry/budget.hpp>
#include <faultline/retry/channel_pool.hpp>
#include <faultline/retry/latency_percentile.hpp>
#include <faultline/retry/policy.hpp>
#include <faultline/retry/retry.hpp>

#include "count_allocations.hpp"

#include <benchmark/benchmark.h>
#include <boost/container/small_vector.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <optional>
#include <random>
#include <vector>

namespace fl = faultline;
using namespace std::chrono_literals;

namespace {

// Reports the allocations per call made since `before`.
void report_allocations(benchmark::State& state, std::uint64_t before) {
    state.counters["allocs_per_call"] =
        double(allocations.load() - before) / double(state.iterations());
}

void baseline_splitmix64(benchmark::State& state) {
    fl::splitmix64 g{1};
    for (auto _ : state)
        benchmark::DoNotOptimize(g());
}
BENCHMARK(baseline_splitmix64);

void baseline_mt19937_64(benchmark::State& state) {
    std::mt19937_64 g{1};
    for (auto _ : state)
        benchmark::DoNotOptimize(g());
}
BENCHMARK(baseline_mt19937_64);

void peer_uniform_real_distribution(benchmark::State& state) {
    fl::splitmix64 g{1};
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (auto _ : state)
        benchmark::DoNotOptimize(u(g));
}
BENCHMARK(peer_uniform_real_distribution);

void uniform01(benchmark::State& state) {
    fl::splitmix64 g{1};
    for (auto _ : state)
        benchmark::DoNotOptimize(fl::uniform01(g));
}
BENCHMARK(uniform01);

// Arg: the attempt number (3 is typical, 10'000 exercises the saturating power).
template <fl::backoff_kind K>
void next_delay(benchmark::State& state) {
    fl::backoff b{K, 1s, 30s, K == fl::backoff_kind::decorrelated_jitter ? 3.0 : 2.0};
    benchmark::DoNotOptimize(b);
    fl::splitmix64 g{1};
    const auto attempt = static_cast<unsigned>(state.range(0));
    std::chrono::nanoseconds prev{2s}; // decorrelated jitter's input; the others ignore it
    benchmark::DoNotOptimize(prev);
    for (auto _ : state)
        benchmark::DoNotOptimize(b.next_delay(attempt, prev, g));
}
BENCHMARK(next_delay<fl::backoff_kind::constant>)->Arg(3);
BENCHMARK(next_delay<fl::backoff_kind::exponential>)->Arg(3)->Arg(10'000);
// A multiplier below 2 takes the full saturating power at attempt 10'000.
void next_delay_full_jitter_m1_5_attempt_10000(benchmark::State& state) {
    const auto b = fl::backoff::full_jitter(1s, 30s, 1.5);
    fl::splitmix64 g{1};
    for (auto _ : state)
        benchmark::DoNotOptimize(b.next_delay(10'000, {}, g));
}
BENCHMARK(next_delay_full_jitter_m1_5_attempt_10000);
BENCHMARK(next_delay<fl::backoff_kind::full_jitter>)->Arg(3)->Arg(10'000);
BENCHMARK(next_delay<fl::backoff_kind::equal_jitter>)->Arg(3)->Arg(10'000);
BENCHMARK(next_delay<fl::backoff_kind::decorrelated_jitter>)->Arg(3)->Arg(10'000);

void retry_decision(benchmark::State& state) {
    fl::retry_policy p;
    p.deadline = 60s;
    fl::failure f = fl::to_failure(fl::error::upstream_unavailable);
    if (state.range(0)) f.retry_after = 2s;
    fl::splitmix64 g{1};
    const fl::attempt_state s{2, 3s, 1s, false};
    for (auto _ : state)
        benchmark::DoNotOptimize(p.decide(f, s, g));
}
BENCHMARK(retry_decision)->Arg(0)->Arg(1)->ArgName("server_hint");

void budget_request_and_retry(benchmark::State& state) {
    fl::retry_budget<> b;
    auto now = std::chrono::steady_clock::time_point{};
    for (auto _ : state) {
        now += 1us;
        b.record_request(now);
        benchmark::DoNotOptimize(b.try_acquire_retry(now));
    }
}
BENCHMARK(budget_request_and_retry);

// A success's latency recorded for the hedge delay, beside the budget's request and retry above
// (one lock each): the ring's store, and every `refresh_every` records (Arg) the percentile of
// the 1000 samples found again. Latencies vary from one record to the next, as real ones do.
void latency_percentile_record(benchmark::State& state) {
    fl::latency_percentile p({.capacity = 1000,
                              .percentile = 0.95,
                              .min_samples = 20,
                              .refresh_every = static_cast<std::size_t>(state.range(0))});
    fl::splitmix64 g{1};
    const std::uint64_t before = allocations.load();
    for (auto _ : state)
        p.record(std::chrono::microseconds(1000 + g() % 4096));
    report_allocations(state, before);
}
BENCHMARK(latency_percentile_record)->Arg(16)->Arg(100)->Arg(1000)->ArgName("refresh_every");

// What a hedge reads: one atomic load.
void latency_percentile_value(benchmark::State& state) {
    fl::latency_percentile p({.capacity = 1000, .min_samples = 1});
    p.record(5ms);
    for (auto _ : state)
        benchmark::DoNotOptimize(p.value());
}
BENCHMARK(latency_percentile_value);

void breaker_closed_acquire_and_success(benchmark::State& state) {
    fl::circuit_breaker<> b;
    auto now = std::chrono::steady_clock::time_point{};
    for (auto _ : state) {
        now += 1us;
        benchmark::DoNotOptimize(b.try_acquire(now));
        b.record_success(now);
    }
}
BENCHMARK(breaker_closed_acquire_and_success);

void breaker_closed_acquire(benchmark::State& state) {
    fl::circuit_breaker<> b;
    const auto now = std::chrono::steady_clock::time_point{};
    for (auto _ : state)
        benchmark::DoNotOptimize(b.try_acquire(now));
}
BENCHMARK(breaker_closed_acquire);

void breaker_open_acquire(benchmark::State& state) {
    fl::circuit_breaker<> b;
    const auto now = std::chrono::steady_clock::time_point{};
    b.record_failure(now, fl::error::rate_limited, std::chrono::nanoseconds(1h));
    for (auto _ : state)
        benchmark::DoNotOptimize(b.try_acquire(now));
}
BENCHMARK(breaker_open_acquire);

void pool_pick(benchmark::State& state) {
    fl::channel_pool<> pool(4);
    const auto now = std::chrono::steady_clock::time_point{};
    pool[1].record_failure(now, fl::error::rate_limited, std::chrono::nanoseconds(1h));
    for (auto _ : state)
        benchmark::DoNotOptimize(pool.pick(now));
}
BENCHMARK(pool_pick);

// One call: three 503s, then a success. The loop every program wrote by hand (the policy's
// decision, the budget's permission, the wait's bookkeeping) beside the pipeline doing the
// same. Each attempt's failure is a fresh value, as an operation returns it.
constexpr int failures_per_call = 3;

fl::failure unavailable() {
    fl::failure f = fl::to_failure(fl::error::upstream_unavailable);
    f.message = "503";
    return f;
}

// What every hand-written call starts from: its policy, a budget that never runs out, the
// number of the call, the failure each attempt returns, and the time.
//
// Every loop, by hand or through the pipeline, draws call n's jitter from `splitmix64{n}`: the
// same delays in the same call, different from one call to the next as in a real client. Drawn
// from one seed for every call, the delays repeat, every branch is learnt, and the loop looks
// faster than it is (clang: the pipeline 68 ns instead of 82, the bare loop 42 instead of 56).
struct hand_written {
    fl::retry_policy policy;
    fl::retry_budget<> budget{{10s, 1e9, 0}};
    std::uint64_t call = 0;
    const fl::failure proto = unavailable();
    std::chrono::steady_clock::time_point now{};
};

void call_hand_written(benchmark::State& state) {
    hand_written h;
    auto& [policy, budget, call, proto, now] = h;
    const std::uint64_t before = allocations.load();
    for (auto _ : state) {
        fl::splitmix64 g{++call};
        const auto start = now;
        budget.record_request(now);
        std::chrono::nanoseconds previous{};
        for (unsigned n = 1; n <= failures_per_call; ++n) {
            fl::failure f = proto;
            const fl::retry_decision d = policy.decide(f, {n, now - start, previous, false}, g);
            if (!d.retry || !budget.try_acquire_retry(now)) break;
            previous = d.delay;
            now += d.delay;
        }
        benchmark::DoNotOptimize(previous);
    }
    report_allocations(state, before);
}
BENCHMARK(call_hand_written);

// The same loop keeping what a caller is told when it gives up: every failed attempt's record
// (as `retry()` did before it drove the pipeline).
void call_hand_written_with_history(benchmark::State& state) {
    hand_written h;
    auto& [policy, budget, call, proto, now] = h;
    const std::uint64_t before = allocations.load();
    for (auto _ : state) {
        fl::splitmix64 g{++call};
        const auto start = now;
        budget.record_request(now);
        std::vector<fl::attempt_record> history;
        std::chrono::nanoseconds previous{};
        for (unsigned n = 1; n <= failures_per_call; ++n) {
            fl::attempt_record rec;
            rec.attempt = n;
            rec.elapsed = now - start;
            rec.what = proto;
            const fl::retry_decision d =
                policy.decide(rec.what, {n, rec.elapsed, previous, false}, g);
            if (!d.retry || !budget.try_acquire_retry(now)) break;
            rec.delay = d.delay;
            history.push_back(std::move(rec));
            previous = d.delay;
            now += d.delay;
        }
        benchmark::DoNotOptimize(history.size());
    }
    report_allocations(state, before);
}
BENCHMARK(call_hand_written_with_history);

// The same loop keeping what the pipeline keeps: a record of every attempt (its number, start,
// latency and failure's code) in storage that does not allocate up to four, and the last failure.
void call_hand_written_with_records(benchmark::State& state) {
    hand_written h;
    auto& [policy, budget, call, proto, now] = h;
    const std::uint64_t before = allocations.load();
    for (auto _ : state) {
        fl::splitmix64 g{++call};
        const auto start = now;
        budget.record_request(now);
        boost::container::small_vector<fl::pipeline_attempt, 4> records;
        std::optional<fl::failure> last;
        std::chrono::nanoseconds previous{};
        for (unsigned n = 1;; ++n) {
            fl::pipeline_attempt& r = records.emplace_back();
            r.attempt = n;
            r.started = now - start;
            r.running = false;
            if (n > failures_per_call) break; // the success
            last = proto;
            r.failed = last->code;
            const fl::retry_decision d = policy.decide(*last, {n, now - start, previous, false}, g);
            if (!d.retry || !budget.try_acquire_retry(now)) break;
            previous = d.delay;
            now += d.delay;
        }
        benchmark::DoNotOptimize(records.size());
        benchmark::DoNotOptimize(last);
    }
    report_allocations(state, before);
}
BENCHMARK(call_hand_written_with_records);

// One call after another through the pipeline, with `cooldowns` when not null.
void run_calls(benchmark::State& state, fl::channel_pool<>* cooldowns) {
    fl::pipeline_options o;
    fl::retry_budget<> budget({10s, 1e9, 0});
    const fl::failure proto = unavailable();
    auto now = std::chrono::steady_clock::time_point{};
    std::uint64_t call = 0;
    const std::uint64_t before = allocations.load();
    for (auto _ : state) {
        fl::pipeline<fl::null_pipeline_events> p(o, now, {}, &budget, fl::splitmix64{++call},
                                                 cooldowns);
        // The loop `retry()` runs: a success ends the call (no step is asked for after it).
        for (;;) {
            const fl::step s = p.next(now);
            if (s.what == fl::action::wait) {
                now += s.delay;
                continue;
            }
            if (s.what == fl::action::give_up) break;
            if (s.attempt > failures_per_call) {
                p.succeeded(s.attempt, now);
                break;
            }
            p.failed(s.attempt, proto, now);
        }
        benchmark::DoNotOptimize(p.history().size());
    }
    report_allocations(state, before);
}

void call_pipeline(benchmark::State& state) {
    run_calls(state, nullptr);
}
BENCHMARK(call_pipeline);

// The same call with a breaker for its target (the cooldown): every attempt asks it and records
// its outcome. The breaker's rules are off, so it never opens and every call is the same.
void call_pipeline_with_cooldown(benchmark::State& state) {
    fl::channel_pool<> cooldowns(1, {.failure_threshold = 0, .failure_rate_threshold = 2});
    run_calls(state, &cooldowns);
}
BENCHMARK(call_pipeline_with_cooldown);

} // namespace

BENCHMARK_MAIN();

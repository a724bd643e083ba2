// The Asio driver's cost per call beside a bare asynchronous call of the same operation on the
// same io_context: `async_retry` (one policy) and `async_run` (fallback targets; a hedge), each
// answered at the first attempt, and with allocations per call counted by count_allocations.hpp
// ("allocs_per_call"). The operation posts its completion, as a socket read's would be.

#include <faultline/asio/retry.hpp>

#include "count_allocations.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>

namespace fl = faultline;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

// Completes at once (through a post) with a value.
struct answer {
    net::io_context* io;
    template <class Handler>
    void operator()(Handler&& h) const {
        net::post(*io, [h = std::forward<Handler>(h)]() mutable {
            std::move(h)(boost::system::error_code(), 1);
        });
    }
};

void finish(benchmark::State& state, std::uint64_t before) {
    state.counters["allocs_per_call"] =
        double(allocations.load() - before) / double(state.iterations());
}

void baseline_bare_async_call(benchmark::State& state) {
    net::io_context io(1);
    int got = 0;
    const std::uint64_t before = allocations.load();
    for (auto _ : state) {
        answer{&io}([&](boost::system::error_code, int v) { got += v; });
        io.run();
        io.restart();
    }
    benchmark::DoNotOptimize(got);
    finish(state, before);
}
BENCHMARK(baseline_bare_async_call);

void async_retry_first_attempt(benchmark::State& state) {
    net::io_context io(1);
    int got = 0;
    const fl::retry_policy policy;
    const std::uint64_t before = allocations.load();
    fl::asio::async_retry_options<> seeded; // built once: a default one reads std::random_device
    seeded.rng = fl::splitmix64{1};
    for (auto _ : state) {
        fl::asio::async_retry<int>(io.get_executor(), policy, answer{&io}, seeded,
                                   [&](fl::retry_result<int> r) { got += r.value(); });
        io.run();
        io.restart();
    }
    benchmark::DoNotOptimize(got);
    finish(state, before);
}
BENCHMARK(async_retry_first_attempt);

void async_run_targets_and_hedge_first_attempt(benchmark::State& state) {
    net::io_context io(1);
    int got = 0;
    fl::pipeline_options po;
    po.targets = 2;
    po.fallbacks = {{fl::category::context_length_exceeded, 1}};
    po.hedge = {1s, 1};
    const std::uint64_t before = allocations.load();
    fl::asio::async_retry_options<> seeded;
    seeded.rng = fl::splitmix64{1};
    for (auto _ : state) {
        fl::asio::async_run<int>(io.get_executor(), po, answer{&io}, seeded,
                                 [&](fl::retry_result<int> r) { got += r.value(); });
        io.run();
        io.restart();
    }
    benchmark::DoNotOptimize(got);
    finish(state, before);
}
BENCHMARK(async_run_targets_and_hedge_first_attempt);

} // namespace

BENCHMARK_MAIN();

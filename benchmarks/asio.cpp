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

// Runs `start(io, got)` once per iteration and the io_context until it is out of work.
template <class Start>
void per_call(benchmark::State& state, Start start) {
    net::io_context io(1);
    int got = 0;
    const std::uint64_t before = allocations.load();
    for (auto _ : state) {
        start(io, got);
        io.run();
        io.restart();
    }
    benchmark::DoNotOptimize(got);
    state.counters["allocs_per_call"] =
        double(allocations.load() - before) / double(state.iterations());
}

void baseline_bare_async_call(benchmark::State& state) {
    per_call(state, [](net::io_context& io, int& got) {
        answer{&io}([&got](boost::system::error_code, int v) { got += v; });
    });
}
BENCHMARK(baseline_bare_async_call);

void async_retry_first_attempt(benchmark::State& state) {
    const fl::retry_policy policy;
    fl::asio::async_retry_options<> seeded;
    seeded.rng = fl::splitmix64{1};
    per_call(state, [&](net::io_context& io, int& got) {
        fl::asio::async_retry<int>(io.get_executor(), policy, answer{&io}, seeded,
                                   [&got](fl::retry_result<int> r) { got += r.value(); });
    });
}
BENCHMARK(async_retry_first_attempt);

// The same with default options, seeded per call by faultline::random_seed().
void async_retry_default_options_first_attempt(benchmark::State& state) {
    const fl::retry_policy policy;
    per_call(state, [&](net::io_context& io, int& got) {
        fl::asio::async_retry<int>(io.get_executor(), policy, answer{&io},
                                   [&got](fl::retry_result<int> r) { got += r.value(); });
    });
}
BENCHMARK(async_retry_default_options_first_attempt);

void async_run_targets_and_hedge_first_attempt(benchmark::State& state) {
    fl::pipeline_options po;
    po.targets = 2;
    po.fallbacks = {{fl::category::context_length_exceeded, 1}};
    po.hedge = {1s, 1};
    fl::asio::async_retry_options<> seeded;
    seeded.rng = fl::splitmix64{1};
    per_call(state, [&](net::io_context& io, int& got) {
        fl::asio::async_run<int>(io.get_executor(), po, answer{&io}, seeded,
                                 [&got](fl::retry_result<int> r) { got += r.value(); });
    });
}
BENCHMARK(async_run_targets_and_hedge_first_attempt);

} // namespace

BENCHMARK_MAIN();

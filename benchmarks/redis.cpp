// The Redis limiter on loopback: single decisions, three-level decisions and pipelined batches
// of 16 and 128, beside the floor in the same run: a plain PING round trip and a pipelined
// batch of as many PINGs; and a decision made on a thread of its own and answered back to an
// io_context, as the example gateway makes them. p50/p99 are per iteration (one call, i.e. one
// round trip), in µs.
//
//     build/benchmarks/bench-redis --benchmark_format=json
//     FAULTLINE_REDIS=127.0.0.1:6379 build/benchmarks/bench-redis   # an existing server
//
// Without FAULTLINE_REDIS it starts its own redis-server (tests/support/redis_server.hpp).

#include <faultline/limit/redis.hpp>

#include "tests/support/redis_server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <benchmark/benchmark.h>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace lim = faultline::limit;
using steady = std::chrono::steady_clock;

namespace {

std::string host = "127.0.0.1";
int port = 0;

// Admits everything: the benchmark measures the round trip, not refusals.
const lim::bucket_config roomy{lim::rate::per_second(1e6), 1'000'000};

lim::redis_options options() {
    lim::redis_options o;
    o.host = host;
    o.port = static_cast<std::uint16_t>(port);
    o.prefix = "faultline-bench:";
    o.connect_timeout = std::chrono::milliseconds(1000);
    o.command_timeout = std::chrono::milliseconds(1000);
    return o;
}

// Per-iteration times -> p50/p99 counters (µs) and items per second.
class latencies {
public:
    explicit latencies(benchmark::State& s)
        : state_(s) {
        ns_.reserve(1 << 20);
    }
    void add(steady::duration d) { ns_.push_back(static_cast<double>(d.count())); }
    void finish(std::int64_t items_per_iteration) {
        state_.SetItemsProcessed(state_.iterations() * items_per_iteration);
        if (ns_.empty()) return;
        std::sort(ns_.begin(), ns_.end());
        auto at = [&](double q) {
            return ns_[std::min(ns_.size() - 1, static_cast<std::size_t>(q * ns_.size()))] / 1e3;
        };
        state_.counters["p50_us"] = at(0.50);
        state_.counters["p99_us"] = at(0.99);
        state_.counters["p50_us_per_item"] = at(0.50) / static_cast<double>(items_per_iteration);
    }

private:
    benchmark::State& state_;
    std::vector<double> ns_;
};

redisContext* raw_connect() {
    redisContext* c = redisConnect(host.c_str(), port);
    if (c == nullptr || c->err) throw std::runtime_error("cannot connect to redis");
    return c;
}

void BM_ping(benchmark::State& state) {
    redisContext* c = raw_connect();
    latencies lat(state);
    for (auto _ : state) {
        const auto t0 = steady::now();
        auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
        lat.add(steady::now() - t0);
        if (r == nullptr) state.SkipWithError("PING failed");
        freeReplyObject(r);
    }
    lat.finish(1);
    redisFree(c);
}
BENCHMARK(BM_ping)->UseRealTime();

void BM_ping_pipelined(benchmark::State& state) {
    const auto n = state.range(0);
    redisContext* c = raw_connect();
    latencies lat(state);
    for (auto _ : state) {
        const auto t0 = steady::now();
        for (std::int64_t i = 0; i < n; ++i)
            redisAppendCommand(c, "PING");
        for (std::int64_t i = 0; i < n; ++i) {
            void* r = nullptr;
            if (redisGetReply(c, &r) != REDIS_OK) state.SkipWithError("PING failed");
            freeReplyObject(r);
        }
        lat.add(steady::now() - t0);
    }
    lat.finish(n);
    redisFree(c);
}
BENCHMARK(BM_ping_pipelined)->Arg(16)->Arg(128)->UseRealTime();

std::vector<std::string> make_keys(std::size_t n) {
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < n; ++i)
        keys.push_back(lim::token_key(std::to_string(i), "rpm"));
    return keys;
}

void BM_decision(benchmark::State& state) {
    lim::redis_limiter limiter(options());
    const auto keys = make_keys(1024);
    latencies lat(state);
    std::size_t i = 0;
    std::int64_t by_redis = 0;
    for (auto _ : state) {
        const auto t0 = steady::now();
        const auto d = limiter.try_acquire(keys[i++ & 1023], roomy);
        lat.add(steady::now() - t0);
        by_redis += d.by == lim::decided_by::redis;
    }
    lat.finish(1);
    state.counters["by_redis_ratio"] =
        static_cast<double>(by_redis) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_decision)->UseRealTime();

// A decision as the example gateway makes one: on a decision thread (an asio::thread_pool),
// its answer taken back on the io_context that asked, so the I/O thread never waits on Redis.
// Beside BM_decision, the cost of the two thread hops.
void BM_decision_off_the_io_thread(benchmark::State& state) {
    lim::redis_limiter limiter(options());
    const auto keys = make_keys(1024);
    boost::asio::thread_pool decisions(1);
    boost::asio::io_context io(1);
    auto work = boost::asio::make_work_guard(io); // run_one() waits for the answer
    latencies lat(state);
    std::size_t i = 0;
    std::int64_t by_redis = 0;
    for (auto _ : state) {
        const auto t0 = steady::now();
        boost::asio::post(decisions, [&, key = &keys[i++ & 1023]] {
            const auto d = limiter.try_acquire(*key, roomy);
            boost::asio::post(io, [&, d] { by_redis += d.by == lim::decided_by::redis; });
        });
        io.run_one(); // the benchmark waits here; the gateway's I/O thread serves others
        lat.add(steady::now() - t0);
    }
    decisions.join();
    lat.finish(1);
    state.counters["by_redis_ratio"] =
        static_cast<double>(by_redis) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_decision_off_the_io_thread)->UseRealTime();

void BM_decision_three_levels(benchmark::State& state) {
    lim::redis_limiter limiter(options());
    const auto keys = make_keys(1024);
    const std::string user = lim::user_key("u", "rpm"), upstream = lim::upstream_key("up");
    latencies lat(state);
    std::size_t i = 0;
    std::int64_t by_redis = 0;
    for (auto _ : state) {
        const lim::redis_request levels[] = {
            {keys[i++ & 1023], roomy, 1}, {user, roomy, 1}, {upstream, roomy, 1}};
        const auto t0 = steady::now();
        const auto d = limiter.try_acquire_all(levels);
        lat.add(steady::now() - t0);
        by_redis += d.by == lim::decided_by::redis;
    }
    lat.finish(1);
    state.counters["by_redis_ratio"] =
        static_cast<double>(by_redis) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_decision_three_levels)->UseRealTime();

void BM_decision_batch(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    lim::redis_limiter limiter(options());
    const auto keys = make_keys(1024);
    latencies lat(state);
    std::vector<lim::redis_request> requests(n);
    std::size_t next = 0;
    std::int64_t by_redis = 0;
    for (auto _ : state) {
        for (auto& r : requests)
            r = {keys[next++ & 1023], roomy, 1};
        const auto t0 = steady::now();
        const auto ds = limiter.try_acquire_batch(requests);
        lat.add(steady::now() - t0);
        for (const auto& d : ds)
            by_redis += d.by == lim::decided_by::redis;
    }
    lat.finish(static_cast<std::int64_t>(n));
    state.counters["by_redis_ratio"] =
        static_cast<double>(by_redis) / static_cast<double>(state.iterations() * n);
}
BENCHMARK(BM_decision_batch)->Arg(16)->Arg(128)->UseRealTime();

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    std::unique_ptr<faultline_test::redis_server> server;
    if (const char* env = std::getenv("FAULTLINE_REDIS"); env != nullptr && *env != '\0') {
        const std::string s = env;
        const auto colon = s.rfind(':');
        host = s.substr(0, colon);
        port = colon == std::string::npos ? 6379 : std::stoi(s.substr(colon + 1));
    } else {
        server = std::make_unique<faultline_test::redis_server>();
        port = server->port();
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

// SSE parsing and monitoring of a ~100 MB OpenAI-style stream fed in 16 KiB pieces, beside a
// plain memchr line scan of the same buffer (the floor any line-based parser sits on).
//
// Each benchmark runs on two streams (the argument, in KiB): the whole ~100 MiB one, which comes
// from memory, and its first 512 KiB, which stays in cache, so the compute cost shows where a
// machine's memory bandwidth hides it. Compare ratios within one size.
//
// Counters: bytes/s (SetBytesProcessed), events, and allocations per event counted by a global
// operator new in this translation unit ("allocs_per_event"; "steady_allocs" counts those after
// the first 1 MB (or half) of each pass, when buffers have reached their working size).

#include <faultline/sse/monitor.hpp>
#include <faultline/sse/parser.hpp>

#include "count_allocations.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>

namespace {

namespace sse = faultline::sse;
constexpr std::size_t piece_size = 16 * 1024;
constexpr std::size_t warmup_bytes = 1 << 20;

// chat.completion.chunk events of 250-350 bytes of JSON each, ~100 MB, ending in [DONE].
const std::string& stream() {
    static const std::string s = [] {
        std::mt19937 rng(42);
        std::uniform_int_distribution<int> word(1, 9);
        std::string out;
        out.reserve(105u << 20);
        std::string json, content;
        while (out.size() < (100u << 20)) {
            const std::size_t target = 250 + rng() % 101;
            json = R"({"id":"chatcmpl-AbC123xYz","object":"chat.completion.chunk","created":)"
                   R"(1700000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_a1b2c3",)"
                   R"("choices":[{"index":0,"delta":{"content":")";
            const std::string tail = R"("},"logprobs":null,"finish_reason":null}]})";
            content.clear();
            while (json.size() + content.size() + tail.size() < target) {
                content.append(static_cast<std::size_t>(word(rng)), 'a' + rng() % 26);
                content.push_back(' ');
            }
            content.resize(target - json.size() - tail.size());
            out += "data: ";
            out += json;
            out += content;
            out += tail;
            out += "\n\n";
        }
        out += "data: [DONE]\n\n";
        return out;
    }();
    return s;
}

// The stream's first events, at most `kib` KiB, ending in [DONE]; the whole stream when larger.
const std::string& stream(std::int64_t kib) {
    static const std::string small = [] {
        const std::string& s = stream();
        const std::size_t cut = s.rfind("\n\n", std::size_t{512} << 10);
        return s.substr(0, cut + 2) + "data: [DONE]\n\n";
    }();
    return kib == 512 ? small : stream();
}

struct counting_handler {
    std::size_t events = 0;
    std::size_t bytes = 0;
    void on_event(const sse::event& e) noexcept {
        ++events;
        bytes += e.data.size();
    }
    void on_event(const sse::event& e, sse::event_kind k) noexcept {
        ++events;
        bytes += e.data.size() + static_cast<std::size_t>(k);
    }
};

// Feeds the stream piecewise through `feed`, counting allocations after the warm-up.
template <class Feed>
void run_pass(const std::string& s, Feed&& feed, std::uint64_t& steady) {
    std::uint64_t before = 0;
    const std::size_t warm = std::min(warmup_bytes, s.size() / 2);
    for (std::size_t i = 0; i < s.size(); i += piece_size) {
        if (i >= warm && before == 0) before = allocations.load(std::memory_order_relaxed) + 1;
        feed(std::string_view(s).substr(i, piece_size));
    }
    steady += allocations.load(std::memory_order_relaxed) + 1 - before;
}

void report(benchmark::State& state, std::size_t events, std::uint64_t allocs,
            std::uint64_t steady) {
    const auto passes = static_cast<double>(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(stream(state.range(0)).size()));
    state.counters["events"] = static_cast<double>(events) / passes;
    state.counters["allocs_per_event"] = static_cast<double>(allocs) / static_cast<double>(events);
    state.counters["steady_allocs"] = static_cast<double>(steady) / passes;
}

void memchr_line_scan(benchmark::State& state) {
    const std::string& s = stream(state.range(0));
    std::size_t lines = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < s.size(); i += piece_size) {
            const std::size_t n = std::min(piece_size, s.size() - i);
            const char* p = s.data() + i;
            const char* end = p + n;
            while (const void* hit = std::memchr(p, '\n', static_cast<std::size_t>(end - p))) {
                ++lines;
                p = static_cast<const char*>(hit) + 1;
            }
        }
        benchmark::DoNotOptimize(lines);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(s.size()));
    state.counters["lines"] = static_cast<double>(lines) / static_cast<double>(state.iterations());
}

void parse(benchmark::State& state) {
    const std::string& s = stream(state.range(0));
    std::size_t events = 0;
    std::uint64_t steady = 0;
    const std::uint64_t a0 = allocations.load();
    for (auto _ : state) {
        sse::parser<counting_handler> p;
        std::error_code ec;
        run_pass(
            s, [&](std::string_view piece) { p.feed(piece, ec); }, steady);
        if (ec) state.SkipWithError("parse error");
        events += p.handler().events;
        benchmark::DoNotOptimize(p.handler().bytes);
    }
    report(state, events, allocations.load() - a0, steady);
}

// `exact`: every event's JSON validated and its top-level keys matched after unescaping.
void monitor_pass(benchmark::State& state, bool exact) {
    const std::string& s = stream(state.range(0));
    std::size_t events = 0;
    std::uint64_t steady = 0;
    const std::uint64_t a0 = allocations.load();
    using clock = std::chrono::steady_clock;
    sse::monitor_options o;
    o.validate_json = exact;
    for (auto _ : state) {
        sse::monitor<counting_handler> m(clock::time_point{}, o);
        run_pass(
            s, [&](std::string_view piece) { (void)m.feed(piece, clock::time_point{}); }, steady);
        if (m.finish().kind != sse::terminal::done) state.SkipWithError("verdict not done");
        events += m.handler().events;
        benchmark::DoNotOptimize(m.handler().bytes);
    }
    report(state, events, allocations.load() - a0, steady);
}

void parse_and_monitor(benchmark::State& state) {
    monitor_pass(state, false);
}

void parse_and_monitor_exact(benchmark::State& state) {
    monitor_pass(state, true);
}

} // namespace

// The argument is the stream's size in KiB: 102400 (from memory) or 512 (in cache).
BENCHMARK(memchr_line_scan)->Arg(102400)->Arg(512)->Unit(benchmark::kMicrosecond);
BENCHMARK(parse)->Arg(102400)->Arg(512)->Unit(benchmark::kMicrosecond);
BENCHMARK(parse_and_monitor)->Arg(102400)->Arg(512)->Unit(benchmark::kMicrosecond);
BENCHMARK(parse_and_monitor_exact)->Arg(102400)->Arg(512)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();

// Error envelope serialize/parse and response classification costs, each beside the bare
// Boost.JSON call it builds on (serialize of a held value, parse of the same bytes).

#include <faultline/classify.hpp>
#include <faultline/envelope.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fl = faultline;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

using hdrs = std::vector<std::pair<std::string, std::string>>;

// A typical OpenAI error: a ~80-character message, a type, a null param and a string code.
fl::error_envelope typical_envelope() {
    fl::error_envelope env;
    env.message = "You exceeded your current quota, please check your plan and billing details.";
    env.type = "insufficient_quota";
    env.code = std::string("insufficient_quota");
    return env;
}

const std::string& typical_body() {
    static const std::string body = fl::serialize(typical_envelope());
    return body;
}

// ---- serialize -----------------------------------------------------------------------------

void BM_envelope_serialize(benchmark::State& state) {
    const fl::error_envelope env = typical_envelope();
    std::size_t bytes = 0;
    for (auto _ : state) {
        std::string s = fl::serialize(env);
        bytes += s.size();
        benchmark::DoNotOptimize(s);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_envelope_serialize);

void BM_json_serialize_baseline(benchmark::State& state) {
    const boost::json::value jv = boost::json::value_from(typical_envelope());
    if (boost::json::serialize(jv) != typical_body()) {
        state.SkipWithError("baseline document differs from faultline::serialize output");
        return;
    }
    std::size_t bytes = 0;
    for (auto _ : state) {
        std::string s = boost::json::serialize(jv);
        bytes += s.size();
        benchmark::DoNotOptimize(s);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_json_serialize_baseline);

// ---- parse ---------------------------------------------------------------------------------

void BM_envelope_parse(benchmark::State& state) {
    const std::string_view body = typical_body();
    {
        const auto r = fl::parse_envelope(body);
        if (!r || r.value() != typical_envelope()) {
            state.SkipWithError("parse_envelope did not round-trip the typical envelope");
            return;
        }
    }
    for (auto _ : state) {
        auto r = fl::parse_envelope(body);
        benchmark::DoNotOptimize(r);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_envelope_parse);

void BM_json_parse_baseline(benchmark::State& state) {
    const std::string_view body = typical_body();
    for (auto _ : state) {
        boost::json::value jv = boost::json::parse(body);
        benchmark::DoNotOptimize(jv);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_json_parse_baseline);

// ---- classify ------------------------------------------------------------------------------

struct response {
    unsigned status;
    hdrs headers;
    std::string_view body;
    fl::error expected; // checked once before timing, so each case runs the path it names
};

fl::classify_options at_fixed_time() {
    fl::classify_options o;
    o.now = system_clock::time_point(sys_days{2026y / October / 21} + 7h + 27min + 30s);
    return o;
}

// Bodies follow tests/classify.cpp (the providers' public documentation).
const response openai_429{
    429,
    {{"Retry-After", "2"}},
    R"({"error":{"message":"Rate limit reached for gpt-4o on requests per min (RPM): Limit 3, Used 3.","type":"requests","param":null,"code":"rate_limit_exceeded"}})",
    fl::error::rpm_exceeded};

const response anthropic_529{
    529,
    {},
    R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})",
    fl::error::overloaded};

const response google_429{
    429,
    {},
    R"({"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"38s"}]}})",
    fl::error::rate_limited};

const response azure_content_filter{
    400,
    {},
    R"({"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}})",
    fl::error::content_filter};

const response openrouter_402{
    402,
    {},
    R"({"error":{"code":402,"message":"Insufficient credits. Add more using https://openrouter.ai/credits"}})",
    fl::error::insufficient_quota};

const response vllm_flat{
    400,
    {},
    R"({"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.","type":"BadRequestError","param":null,"code":400})",
    fl::error::context_length_exceeded};

const response nginx_502{
    502,
    {},
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 "
    "Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    fl::error::upstream_unavailable};

const response empty_503{503, {}, "", fl::error::upstream_unavailable};

void BM_classify(benchmark::State& state, const response& r) {
    const fl::classify_options opts = at_fixed_time();
    if (fl::classify(r.status, r.headers, r.body, opts).code != r.expected) {
        state.SkipWithError("classify did not give the expected code");
        return;
    }
    for (auto _ : state) {
        fl::failure f = fl::classify(r.status, r.headers, r.body, opts);
        benchmark::DoNotOptimize(f);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * r.body.size()));
}

// The same bytes through plain boost::json::parse; the error_code overload, so the HTML and
// empty bodies fail fast instead of throwing.
void BM_classify_parse_baseline(benchmark::State& state, const response& r) {
    for (auto _ : state) {
        boost::system::error_code ec;
        boost::json::value jv = boost::json::parse(r.body, ec);
        benchmark::DoNotOptimize(jv);
        benchmark::DoNotOptimize(ec);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * r.body.size()));
}

BENCHMARK_CAPTURE(BM_classify, openai_429, openai_429);
BENCHMARK_CAPTURE(BM_classify_parse_baseline, openai_429, openai_429);
BENCHMARK_CAPTURE(BM_classify, anthropic_529, anthropic_529);
BENCHMARK_CAPTURE(BM_classify_parse_baseline, anthropic_529, anthropic_529);
BENCHMARK_CAPTURE(BM_classify, google_429, google_429);
BENCHMARK_CAPTURE(BM_classify_parse_baseline, google_429, google_429);
BENCHMARK_CAPTURE(BM_classify, azure_content_filter, azure_content_filter);
BENCHMARK_CAPTURE(BM_classify_parse_baseline, azure_content_filter, azure_content_filter);
BENCHMARK_CAPTURE(BM_classify, openrouter_402, openrouter_402);
BENCHMARK_CAPTURE(BM_classify_parse_baseline, openrouter_402, openrouter_402);
BENCHMARK_CAPTURE(BM_classify, vllm_flat, vllm_flat);
BENCHMARK_CAPTURE(BM_classify_parse_baseline, vllm_flat, vllm_flat);
BENCHMARK_CAPTURE(BM_classify, nginx_502, nginx_502);
BENCHMARK_CAPTURE(BM_classify_parse_baseline, nginx_502, nginx_502);
BENCHMARK_CAPTURE(BM_classify, empty_503, empty_503);
BENCHMARK_CAPTURE(BM_classify_parse_baseline, empty_503, empty_503);

} // namespace

BENCHMARK_MAIN();

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
#include <cstring>
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

// ---- classify, bodies up to 4 KB and 100 MB -----------------------------------------------
// Target: <= 2 us for any error body up to 4 KB, and a cost that does not grow past the window
// it reads. Beside each: boost::json::parse of the same bytes and one memchr pass over them.

// English prose with no phrase classify looks for, but plenty of the letters that start
// them (request, content, token ...), so candidate checks are paid for.
std::string prose(std::size_t n) {
    static constexpr std::string_view sentence =
        "The upstream returned an unexpected answer while serving the request; the content of "
        "its reply was logged with the token count and the routing decision. ";
    std::string s;
    while (s.size() < n)
        s.append(sentence.substr(0, std::min(sentence.size(), n - s.size())));
    return s;
}

// A JSON error whose whole body is `total` bytes, the message filling what the rest leaves.
std::string json_error_of_size(std::size_t total, std::string_view tail) {
    const std::string head = R"({"error":{"message":")";
    const std::string rest = R"(","type":"server_error","param":null,"code":null}})";
    std::string body = head + prose(total - head.size() - rest.size() - tail.size());
    body.append(tail);
    body += rest;
    return body;
}

std::string html_of_size(std::size_t total) {
    std::string body = "<html><head><style>" + prose(total - 120) +
                       "</style><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    return body;
}

const std::string json_4k = json_error_of_size(4096, "");
const std::string json_4k_signal_last = json_error_of_size(4096, " maximum context length");
const std::string text_4k = prose(4096);
const std::string html_4k = html_of_size(4096);
// Hostile: every other position starts the anchor pair of several phrases ("xt" of
// "context ..."), so each is compared in full; the cost stays linear in the window.
std::string anchor_flood() {
    std::string s;
    while (s.size() < 4096)
        s += "xt";
    return s;
}
const std::string flood_4k = anchor_flood();

const response big_json{500, {}, json_4k, fl::error::internal_error};
const response big_json_signal{400, {}, json_4k_signal_last, fl::error::context_length_exceeded};
const response big_text{502, {}, text_4k, fl::error::upstream_unavailable};
const response big_html{502, {}, html_4k, fl::error::upstream_unavailable};
const response big_flood{502, {}, flood_4k, fl::error::upstream_unavailable};

void BM_memchr_baseline(benchmark::State& state, const response& r) {
    for (auto _ : state) {
        const void* p = std::memchr(r.body.data(), '\x01', r.body.size());
        benchmark::DoNotOptimize(p);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * r.body.size()));
}

BENCHMARK_CAPTURE(BM_classify, json_4k, big_json);
BENCHMARK_CAPTURE(BM_classify_parse_baseline, json_4k, big_json);
BENCHMARK_CAPTURE(BM_memchr_baseline, json_4k, big_json);
BENCHMARK_CAPTURE(BM_classify, json_4k_signal_last, big_json_signal);
BENCHMARK_CAPTURE(BM_classify_parse_baseline, json_4k_signal_last, big_json_signal);
BENCHMARK_CAPTURE(BM_classify, text_4k, big_text);
BENCHMARK_CAPTURE(BM_memchr_baseline, text_4k, big_text);
BENCHMARK_CAPTURE(BM_classify, html_4k, big_html);
BENCHMARK_CAPTURE(BM_memchr_baseline, html_4k, big_html);
BENCHMARK_CAPTURE(BM_classify, anchor_flood_4k, big_flood);

// The phrase search alone over the same 4 KB, the vector search beside the portable scalar one
// (which is also what non-x86 and pre-AVX2 CPUs run).
void BM_phrase_search(benchmark::State& state, const response& r, bool vector) {
    const auto search = vector ? fl::detail::find_phrases : fl::detail::find_phrases_scalar;
    if (search(r.body).found != fl::detail::find_phrases_scalar(r.body).found) {
        state.SkipWithError("the searches disagree");
        return;
    }
    for (auto _ : state) {
        auto h = search(r.body);
        benchmark::DoNotOptimize(h);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * r.body.size()));
}

BENCHMARK_CAPTURE(BM_phrase_search, text_4k_vector, big_text, true);
BENCHMARK_CAPTURE(BM_phrase_search, text_4k_scalar, big_text, false);
BENCHMARK_CAPTURE(BM_phrase_search, anchor_flood_4k_vector, big_flood, true);
BENCHMARK_CAPTURE(BM_phrase_search, anchor_flood_4k_scalar, big_flood, false);

// 100 MB bodies: classify reads its window (text) or only the length (JSON over
// parse_limits::max_size); the memchr pass shows what touching every byte once costs.
const std::string text_100mb = "upstream exploded: " + std::string(100u << 20, 'x');
const std::string json_100mb = json_error_of_size((100u << 20) + 4096, "");
const response huge_text{502, {}, text_100mb, fl::error::upstream_unavailable};
const response huge_json{500, {}, json_100mb, fl::error::internal_error};

BENCHMARK_CAPTURE(BM_classify, text_100mb, huge_text)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_memchr_baseline, text_100mb, huge_text)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_classify, json_100mb, huge_json)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_memchr_baseline, json_100mb, huge_json)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();

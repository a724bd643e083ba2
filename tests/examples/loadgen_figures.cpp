// faultline-loadgen's serving figures: which events carry tokens, the figures of successes (TTFT,
// ITL, TPOT, end-to-end, output tokens), the rate-limit headers' summary, and the same measured
// over real sockets against faultline-upstream-sim, whose latencies are configured.
#include "loadgen/loadgen.hpp"
#include "loadgen/tokens.hpp"

#include "canned_server.hpp"
#include "common/json.hpp"
#include "gateway_fixture.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <variant>
#include <vector>

namespace lg = examples::loadgen;
namespace gw = examples::gateway;
namespace json = boost::json;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

namespace {

lg::event_tokens read(std::string_view text) {
    lg::token_reader reader;
    return reader.read(text);
}

lg::options sim_options(std::uint16_t port, std::string_view channel) {
    lg::options o;
    o.url = examples::parse_base_url("http://127.0.0.1:" + std::to_string(port) + "/" +
                                     std::string(channel))
                .value();
    o.timeout = 10s;
    return o;
}

double ms(const json::value& v) {
    return v.as_double();
}

} // namespace

BOOST_AUTO_TEST_SUITE(loadgen_figures)

BOOST_AUTO_TEST_CASE(events_carrying_text_in_every_protocol) {
    struct row {
        std::string_view data;
        bool text;
    };
    const row rows[] = {
        // chat completions
        {R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})", false},
        {R"({"choices":[{"index":0,"delta":{"content":"Hi"}}]})", true},
        {R"({"choices":[{"index":0,"delta":{"reasoning_content":"hm"}}]})", true},
        {R"({"choices":[{"index":0,"delta":{"reasoning":"hm"}}]})", true},
        {R"({"choices":[{"index":0,"delta":{"refusal":"no"}}]})", true},
        {R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a"}}]}}]})",
         true},
        {R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f"}}]}}]})",
         false},
        {R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})", false},
        {R"({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}})", false},
        {R"({"choices":[{"index":0,"delta":{"content":null}}]})", false},
        // completions
        {R"({"choices":[{"index":0,"text":"Hi"}]})", true},
        {R"({"choices":[{"index":0,"text":""}]})", false},
        // Responses API
        {R"({"type":"response.output_text.delta","delta":"Hi"})", true},
        {R"({"type":"response.output_text.delta","delta":""})", false},
        {R"({"type":"response.function_call_arguments.delta","delta":"{"})", true},
        {R"({"type":"response.reasoning_summary_text.delta","delta":"x"})", true},
        {R"({"type":"response.created","response":{"id":"r"}})", false},
        {R"({"type":"response.output_text.done","text":"Hi there"})", false},
        // Anthropic Messages
        {R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})",
         true},
        {R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"h"}})",
         true},
        {R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}})",
         true},
        {R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
         false},
        {R"({"type":"ping"})", false},
        // not token events at all
        {R"([1,2])", false},
        {R"("text")", false},
        {R"({"choices":"nope"})", false},
        {R"({"choices":[{"delta":"nope"}]})", false},
        {"not json", false},
        {"", false},
        {R"({"choices":[{"delta":{"content":"x"}}]} trailing)", false},
    };
    lg::token_reader reader; // one reader for all: it must reset between calls
    for (const row& r : rows) {
        BOOST_TEST_CONTEXT(r.data) {
            BOOST_TEST(reader.read(r.data).text == r.text);
            BOOST_TEST(read(r.data).text == r.text);
        }
    }
}

BOOST_AUTO_TEST_CASE(usage_in_every_protocol) {
    // chat completions / completions: the final chunk or the body
    auto t = read(
        R"({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})");
    BOOST_TEST((t.usage.input == 5u));
    BOOST_TEST((t.usage.output == 7u));
    // Responses API: response.completed carries the response with its usage
    t = read(
        R"({"type":"response.completed","response":{"id":"r","usage":{"input_tokens":11,"output_tokens":13}}})");
    BOOST_TEST((t.usage.input == 11u));
    BOOST_TEST((t.usage.output == 13u));
    // Anthropic: input in message_start, output in message_delta; update keeps both
    lg::token_usage u;
    u.update(
        read(
            R"({"type":"message_start","message":{"id":"m","usage":{"input_tokens":21,"output_tokens":1}}})")
            .usage);
    u.update(
        read(
            R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":34}})")
            .usage);
    BOOST_TEST((u.input == 21u));
    BOOST_TEST((u.output == 34u));
    // absent, null, negative, fractional or text counts are no counts
    for (const std::string_view bad :
         {R"({"usage":null})", R"({"usage":{"completion_tokens":-1}})",
          R"({"usage":{"completion_tokens":1.5}})", R"({"usage":{"completion_tokens":"7"}})",
          R"({"choices":[{"delta":{"content":"x"}}]})", R"({"usage":[1]})"}) {
        BOOST_TEST_CONTEXT(bad) {
            const auto b = read(bad);
            BOOST_TEST((!b.usage.input));
            BOOST_TEST((!b.usage.output));
        }
    }
}

BOOST_AUTO_TEST_CASE(figures_of_successes_only) {
    lg::report rep(lg::run_settings{});
    const std::vector<nanoseconds> gaps{10ms, 20ms, 30ms};
    lg::request_result ok; // a stream of 4 text events, usage 4 output tokens, 6 prompt
    ok.status = 200;
    ok.verdict = faultline::sse::terminal::done;
    ok.latency = 400ms;
    ok.first_token = 100ms;
    ok.text_events = 4;
    ok.token_gaps = gaps;
    ok.usage.output = 4;
    ok.usage.input = 6;
    rep.add(ok, 1500ms);

    lg::request_result counted = ok; // no usage: the text events count, 1 each
    counted.usage = {};
    counted.text_events = 2;
    counted.latency = 200ms;
    counted.first_token = 50ms;
    const std::vector<nanoseconds> one_gap{40ms};
    counted.token_gaps = one_gap;
    counted.token_gaps_not_kept = 5;
    rep.add(counted, 1600ms);

    lg::request_result body; // a non-stream answer without usage: tokens unknown
    body.status = 200;
    body.latency = 100ms;
    rep.add(body, 2500ms);

    lg::request_result refused; // a fast 429 must not move any success figure
    refused.status = 429;
    refused.failure =
        lg::failure_kind{faultline::category::rate_limited, faultline::error::rate_limited};
    refused.latency = 1ms;
    rep.add(refused, 2600ms);
    rep.finish(3s);

    const lg::success_figures& f = rep.successes;
    BOOST_TEST(f.e2e.count() == 3u);
    BOOST_TEST(f.e2e.min() == nanoseconds(100ms));
    BOOST_TEST(f.ttft.count() == 2u);
    BOOST_TEST(f.ttft.min() == nanoseconds(50ms));
    BOOST_TEST(f.itl.count() == 4u);
    BOOST_TEST(f.itl.max() == nanoseconds(40ms));
    BOOST_TEST(f.itl_not_kept == 5u);
    BOOST_TEST(f.tpot.count() == 2u);
    BOOST_TEST(f.tpot.min() == nanoseconds(100ms)); // (400 - 100) / 3
    BOOST_TEST(f.tpot.max() == nanoseconds(150ms)); // (200 - 50) / 1
    BOOST_TEST(f.output_tokens_total == 6u);
    BOOST_TEST(f.input_tokens_total == 6u);
    BOOST_TEST(f.token_sources[0] == 1u); // usage
    BOOST_TEST(f.token_sources[1] == 1u); // counted
    BOOST_TEST(f.token_sources[2] == 1u); // unknown
    BOOST_TEST(f.output_tokens.count() == 2u);
    BOOST_TEST(f.output_tokens_per_second.max() == 10.0); // 4 tokens / 0.4 s, 2 / 0.2 s
    BOOST_TEST(rep.output_tokens_per_second() == 2.0);    // 6 tokens / 3 s
    BOOST_TEST(rep.successes_per_second() == 1.0);
    BOOST_TEST(rep.latency.min() == nanoseconds(1ms)); // the overall figure still has it

    const auto& rows = rep.series.seconds();
    BOOST_TEST_REQUIRE(rows.size() == 3u);
    BOOST_TEST(rows[1].output_tokens == 6u);
    BOOST_TEST(rows[2].failures[lg::category_index(faultline::category::rate_limited)] == 1u);
    BOOST_TEST((rows[2].p50 == nanoseconds(100ms))); // the success's, not the 429's 1 ms
    BOOST_TEST((rows[2].p99 == nanoseconds(100ms)));

    const json::object o = lg::to_json(rep);
    BOOST_TEST(o.at("format").as_int64() == 2);
    const json::object& s = o.at("successes").as_object();
    BOOST_TEST(s.at("count").as_uint64() == 3u);
    BOOST_TEST(s.at("output_tokens").as_uint64() == 6u);
    BOOST_TEST(s.at("input_tokens").as_uint64() == 6u);
    BOOST_TEST(s.at("output_token_sources").at("counted").as_uint64() == 1u);
    BOOST_TEST(s.at("ttft_ms").at("count").as_uint64() == 2u);
    BOOST_TEST(ms(s.at("tpot_ms").at("max")) == 150.0);
    BOOST_TEST(s.at("itl_ms").at("not_kept").as_uint64() == 5u);
    BOOST_TEST(s.at("output_tokens_per_request").at("max").as_double() == 4.0);
    // whole seconds 0, 1, 2: successes 0, 2, 1; tokens 0, 6, 0
    const json::object& rps = s.at("requests_per_second_by_second").as_object();
    BOOST_TEST(rps.at("seconds").as_uint64() == 3u);
    BOOST_TEST(rps.at("p50").as_uint64() == 1u);
    BOOST_TEST(rps.at("max").as_uint64() == 2u);
    BOOST_TEST(s.at("output_tokens_per_second_by_second").at("max").as_uint64() == 6u);
    const json::object& second2 = o.at("series").at("seconds").as_array()[2].as_object();
    BOOST_TEST(second2.at("failures").at("rate_limited").as_uint64() == 1u);
    BOOST_TEST(second2.at("failures").as_object().size() == 1u);
}

BOOST_AUTO_TEST_CASE(figures_of_a_run_without_successes_are_null) {
    lg::report rep(lg::run_settings{});
    rep.finish(0ns);
    const json::object o = lg::to_json(rep);
    const json::object& s = o.at("successes").as_object();
    BOOST_TEST(s.at("count").as_uint64() == 0u);
    BOOST_TEST(s.at("requests_per_second").as_double() == 0.0);
    BOOST_TEST(s.at("ttft_ms").at("p50").is_null());
    BOOST_TEST(s.at("output_tokens_per_request").at("p50").is_null());
    BOOST_TEST(s.at("requests_per_second_by_second").at("p50").is_null());
    BOOST_TEST(s.at("requests_per_second_by_second").at("seconds").as_uint64() == 0u);
    BOOST_TEST(o.at("rate_limits").at("responses").as_uint64() == 0u);
    BOOST_TEST(o.at("rate_limits").at("windows").as_object().empty());
}

BOOST_AUTO_TEST_CASE(rate_limit_headers_summarised) {
    lg::rate_limit_summary s;
    faultline::limit::rate_limit_report a;
    a.windows[0].limit = 60;
    a.windows[0].remaining = 10;
    a.windows[1].limit = 1000;
    a.windows[1].remaining = 900;
    a.windows[1].reset = 6s;
    s.add(a);
    faultline::limit::rate_limit_report b;
    b.windows[0].limit = 60;
    b.windows[0].remaining = 0;
    b.retry_after = 2s;
    b.ignored = 1;
    s.add(b);
    s.add(faultline::limit::rate_limit_report{}); // no headers: not counted
    BOOST_TEST(s.responses == 2u);
    BOOST_TEST(s.ignored == 1u);
    BOOST_TEST(s.retry_after.count() == 1u);
    BOOST_TEST(s.retry_after.max() == nanoseconds(2s));
    BOOST_TEST(s.windows[0].responses == 2u);
    BOOST_TEST((s.windows[0].limit == 60u));
    BOOST_TEST((s.windows[0].remaining_min == 0u));
    BOOST_TEST(s.windows[1].responses == 1u);
    BOOST_TEST((s.windows[1].remaining_min == 900u));
    BOOST_TEST((s.windows[1].reset_max == nanoseconds(6s)));
    BOOST_TEST(s.windows[2].responses == 0u);
}

// The simulator streams 6 tokens per call: the first 100 ms after the request, then one every
// 30 ms, then the usage chunk 30 ms later. The figures must show that schedule: lower bounds
// are exact (nothing arrives early), upper bounds leave room for a loaded machine.
BOOST_AUTO_TEST_CASE(stream_figures_match_the_simulators_schedule) {
    gw::channel_config ch;
    ch.name = "paced";
    ch.latency = 100ms;
    ch.chunks = 6;
    ch.chunk_interval = 30ms;
    examples_test::sim_thread sim({ch});

    lg::options o = sim_options(sim.port(), "paced");
    o.stream = true;
    o.connections = 2;
    o.requests = 6;
    const lg::report r = lg::run(o);

    BOOST_TEST(r.ok == 6u);
    const lg::success_figures& f = r.successes;
    BOOST_TEST(f.token_sources[0] == 6u); // every stream reported its usage
    BOOST_TEST(f.output_tokens_total == 36u);
    BOOST_TEST(f.input_tokens_total > 0u);
    BOOST_TEST(f.ttft.count() == 6u);
    BOOST_TEST(f.itl.count() == 30u); // 5 gaps per stream
    BOOST_TEST(f.tpot.count() == 6u);
    const double slack = 400; // ms a busy machine may add
    BOOST_TEST(f.ttft.min() >= nanoseconds(100ms));
    BOOST_TEST(static_cast<double>(f.ttft.percentile(50).count()) / 1e6 <= 100 + slack);
    // The tokens of one stream span 5 intervals; its gaps average 30 ms however they jitter.
    BOOST_TEST(f.e2e.min() >= nanoseconds(280ms)); // 100 + 6 x 30: the usage chunk's offset
    const double itl_mean = static_cast<double>(f.itl.mean().count()) / 1e6;
    BOOST_TEST(itl_mean >= 20.0);
    BOOST_TEST(itl_mean <= 30.0 + slack / 5);
    // TPOT = (e2e - ttft) / 5 >= (280 - ttft... ) : at least the 5 intervals plus the usage one
    BOOST_TEST(f.tpot.min() >= nanoseconds(30ms));
    BOOST_TEST(static_cast<double>(f.tpot.percentile(50).count()) / 1e6 <= 36.0 + slack / 5);
    BOOST_TEST(f.output_tokens.min() == 6.0);
    BOOST_TEST(f.output_tokens.max() == 6.0);
}

BOOST_AUTO_TEST_CASE(non_stream_figures_come_from_the_body_usage) {
    gw::channel_config ch;
    ch.name = "plain";
    ch.chunks = 5;
    examples_test::sim_thread sim({ch});
    lg::options o = sim_options(sim.port(), "plain");
    o.connections = 1;
    o.requests = 3;
    const lg::report r = lg::run(o);
    BOOST_TEST(r.ok == 3u);
    BOOST_TEST(r.successes.token_sources[0] == 3u);
    BOOST_TEST(r.successes.output_tokens_total == 15u);
    BOOST_TEST(r.successes.ttft.count() == 0u); // no stream, no first token
    BOOST_TEST(r.successes.itl.count() == 0u);
    BOOST_TEST(r.successes.e2e.count() == 3u);
}

BOOST_AUTO_TEST_CASE(throttling_is_counted_by_category_with_its_headers) {
    gw::channel_config ch;
    ch.name = "limited";
    ch.mode = gw::failure_mode::status;
    ch.status = 429;
    ch.pattern = "FS"; // every other call is refused
    ch.headers = {{"Retry-After", "2"},
                  {"x-ratelimit-limit-requests", "60"},
                  {"x-ratelimit-remaining-requests", "0"},
                  {"x-ratelimit-reset-requests", "1s"}};
    examples_test::sim_thread sim({ch});
    lg::options o = sim_options(sim.port(), "limited");
    o.stream = true;
    o.connections = 1;
    o.requests = 6;
    const lg::report r = lg::run(o);
    BOOST_TEST(r.ok == 3u);
    BOOST_TEST(r.throttled == 3u);
    BOOST_TEST(r.successes.e2e.count() == 3u);
    BOOST_TEST(r.rate_limits.responses == 3u);
    BOOST_TEST(r.rate_limits.retry_after.count() == 3u);
    BOOST_TEST(r.rate_limits.retry_after.max() == nanoseconds(2s));
    BOOST_TEST((r.rate_limits.windows[0].limit == 60u));
    BOOST_TEST((r.rate_limits.windows[0].remaining_min == 0u));
    std::uint64_t by_category = 0;
    for (const auto& s : r.series.seconds())
        by_category += s.failures[lg::category_index(faultline::category::rate_limited)];
    BOOST_TEST(by_category == 3u);
    const json::object j = lg::to_json(r);
    BOOST_TEST(j.at("rate_limits").at("windows").at("requests").at("limit").as_uint64() == 60u);
    BOOST_TEST(ms(j.at("rate_limits").at("retry_after_ms").at("max")) == 2000.0);
    const std::string text = lg::summary(r);
    BOOST_TEST(text.find("rate limits  3 responses with headers") != std::string::npos, text);
    BOOST_TEST(text.find("ttft") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(responses_api_streams_and_bodies_are_measured_alike) {
    gw::channel_config ch;
    ch.name = "r";
    ch.chunks = 4;
    gw::channel_config broken = ch;
    broken.name = "broken";
    broken.mode = gw::failure_mode::midstream_error;
    broken.fail_after = 2;
    examples_test::sim_thread sim({ch, broken});

    lg::options o = sim_options(sim.port(), "r");
    o.api = lg::api_kind::responses;
    o.stream = true;
    o.connections = 1;
    o.requests = 3;
    lg::report r = lg::run(o);
    BOOST_TEST(r.settings.target == "/r/v1/responses");
    BOOST_TEST(r.ok == 3u);
    BOOST_TEST(r.successes.token_sources[0] == 3u); // response.completed carries the usage
    BOOST_TEST(r.successes.output_tokens_total == 12u);
    BOOST_TEST(r.successes.ttft.count() == 3u);
    BOOST_TEST(r.successes.itl.count() == 9u); // 3 gaps between 4 deltas, per stream
    BOOST_TEST(lg::to_json(r).at("config").at("api").as_string() == "responses");

    o.stream = false;
    r = lg::run(o);
    BOOST_TEST(r.ok == 3u);
    BOOST_TEST(r.successes.output_tokens_total == 12u);

    o = sim_options(sim.port(), "broken");
    o.api = lg::api_kind::responses;
    o.stream = true;
    o.connections = 1;
    o.requests = 2;
    r = lg::run(o);
    BOOST_TEST(r.ok == 0u);
    BOOST_TEST(r.errors == 2u);
    BOOST_TEST(r.stream_verdicts.at(faultline::sse::terminal::error) == 2u);
    BOOST_TEST(r.successes.e2e.count() == 0u); // failed streams are in no success figure
}

BOOST_AUTO_TEST_CASE(api_option_and_its_default_paths) {
    auto parsed = loadgen_test::parse(
        {"--url", "http://127.0.0.1:1", "--requests", "1", "--api", "responses"});
    BOOST_TEST_REQUIRE(std::holds_alternative<lg::command_line>(parsed));
    const lg::options& o = std::get<lg::command_line>(parsed).run;
    BOOST_TEST((o.api == lg::api_kind::responses));
    BOOST_TEST(lg::request_path(o) == "/v1/responses");
    const json::value body = json::parse(lg::request_body(o));
    BOOST_TEST(body.at("input").at(0).at("role").as_string() == "user");
    BOOST_TEST(body.at("input").at(0).at("content").as_string() == o.prompt);
    BOOST_TEST(!body.as_object().contains("stream_options"));
    BOOST_TEST(body.at("max_output_tokens").as_int64() == 32);
    BOOST_TEST(!body.as_object().contains("messages"));
    lg::options chat;
    BOOST_TEST(lg::request_path(chat) == "/v1/chat/completions");
    chat.path = "/custom";
    BOOST_TEST(lg::request_path(chat) == "/custom");

    parsed =
        loadgen_test::parse({"--url", "http://127.0.0.1:1", "--requests", "1", "--api", "soap"});
    BOOST_TEST_REQUIRE(std::holds_alternative<lg::usage_error>(parsed));
    BOOST_TEST((std::get<lg::usage_error>(parsed).problem == lg::usage_problem::invalid_value));
    BOOST_TEST(std::get<lg::usage_error>(parsed).message.find("--api") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(streams_ask_for_their_usage) {
    lg::options o;
    o.stream = true;
    const json::value v = json::parse(lg::request_body(o));
    BOOST_TEST(v.at("stream_options").at("include_usage").as_bool());
    o.stream = false;
    BOOST_TEST(!json::parse(lg::request_body(o)).as_object().contains("stream_options"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// Saved reports and comparisons

namespace {

lg::report two_second_report(std::uint64_t tokens) {
    lg::report r(lg::run_settings{});
    lg::request_result ok;
    ok.status = 200;
    ok.verdict = faultline::sse::terminal::done;
    ok.latency = 200ms;
    ok.first_token = 50ms;
    ok.usage.output = tokens;
    r.add(ok, 300ms);
    r.add(ok, 1300ms);
    lg::request_result refused;
    refused.status = 503;
    refused.failure =
        lg::failure_kind{faultline::category::overloaded, faultline::error::overloaded};
    refused.latency = 3ms;
    r.add(refused, 1400ms);
    r.finish(2s);
    return r;
}

std::string replaced(std::string text, std::string_view from, std::string_view to) {
    const auto at = text.find(from);
    BOOST_TEST_REQUIRE(at != std::string::npos, from);
    return text.replace(at, from.size(), to);
}

} // namespace

BOOST_AUTO_TEST_SUITE(loadgen_compare)

BOOST_AUTO_TEST_CASE(a_saved_report_reads_back_its_series) {
    const lg::report r = two_second_report(8);
    const std::string text = examples::to_plain_json(lg::to_json(r));
    auto read = lg::read_saved_report(text);
    BOOST_TEST_REQUIRE(
        std::holds_alternative<lg::saved_report>(read),
        (std::holds_alternative<std::string>(read) ? std::get<std::string>(read) : std::string()));
    const lg::saved_report& saved = std::get<lg::saved_report>(read);
    BOOST_TEST(saved.run.requests == 3u);
    BOOST_TEST(saved.run.ok == 2u);
    BOOST_TEST(saved.run.elapsed == nanoseconds(2s));
    BOOST_TEST(saved.run.successes.output_tokens_total == 16u);
    const auto& a = r.series.seconds();
    const auto& b = saved.run.series.seconds();
    BOOST_TEST_REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        BOOST_TEST(a[i].ok == b[i].ok);
        BOOST_TEST(a[i].output_tokens == b[i].output_tokens);
        BOOST_TEST((a[i].failures == b[i].failures));
        BOOST_TEST(a[i].p50.has_value() == b[i].p50.has_value());
        if (a[i].p50) BOOST_TEST(std::abs((*a[i].p50 - *b[i].p50).count()) <= 1);
    }
    // The read-back report draws as the original does.
    BOOST_TEST(lg::render_svg(saved.run, "t") == lg::render_svg(r, "t"));
}

BOOST_AUTO_TEST_CASE(comparison_table_and_chart) {
    const std::string a = examples::to_plain_json(lg::to_json(two_second_report(8)));
    const std::string b = examples::to_plain_json(lg::to_json(two_second_report(16)));
    const auto ra = std::get<lg::saved_report>(lg::read_saved_report(a));
    const auto rb = std::get<lg::saved_report>(lg::read_saved_report(b));
    const std::string table = lg::compare_summary(ra, rb);
    // 16 tokens / 2 s over 32 / 2 s: B twice A
    BOOST_TEST(table.find("output tokens per second") != std::string::npos, table);
    BOOST_TEST(table.find("2.00x") != std::string::npos, table);
    BOOST_TEST(table.find("1.00x") != std::string::npos, table); // the same success counts
    BOOST_TEST(table.find("ttft p50 (ms)") != std::string::npos, table);
    const std::string svg = lg::render_compare_svg(ra.run, rb.run, "A <vs> B");
    BOOST_TEST(svg.find("A &lt;vs&gt; B") != std::string::npos);
    BOOST_TEST(svg.find("stroke-dasharray") != std::string::npos);
    BOOST_TEST(svg.ends_with("</svg>\n"));
    BOOST_TEST(std::count(svg.begin(), svg.end(), '<') ==
               std::count(svg.begin(), svg.end(), '>')); // no stray brackets in the text
}

// Regression: a ratio whose fixed notation is over 64 characters was written from the bytes
// of a buffer `to_chars` had given up on.
BOOST_AUTO_TEST_CASE(a_huge_ratio_is_written_in_scientific_notation) {
    const std::string text = examples::to_plain_json(lg::to_json(two_second_report(8)));
    auto a = std::get<lg::saved_report>(lg::read_saved_report(text));
    auto b = a;
    a.document["requests"] = 1.0;
    b.document["requests"] = 1e100;
    const std::string table = lg::compare_summary(a, b);
    BOOST_TEST(table.find("1.00e+100x") != std::string::npos, table);
    BOOST_TEST(std::all_of(table.begin(), table.end(),
                           [](char c) { return c == '\n' || (c >= ' ' && c <= '~'); }));
}

BOOST_AUTO_TEST_CASE(every_bad_saved_report_says_what_is_wrong) {
    const std::string good = examples::to_plain_json(lg::to_json(two_second_report(8)));
    struct row {
        std::string text;
        std::string_view says;
    };
    const row rows[] = {
        {"", "not JSON"},
        {"{\"tool\":", "not JSON"},
        {"[1]", "not a JSON object"},
        {replaced(good, "\"faultline-loadgen\"", "\"wrk\""), "not a faultline-loadgen report"},
        {replaced(good, "\"format\":2", "\"format\":1"), "format 1"},
        {replaced(good, "\"format\":2", "\"format\":\"2\""),
         "\"format\" in the report is not a count"},
        {replaced(good, "\"config\":{", "\"configuration\":{"), "no \"config\""},
        {replaced(good, "\"elapsed_s\":2", "\"elapsed_s\":-2"), "\"elapsed_s\" is out of range"},
        {replaced(good, "\"failures\":{\"overloaded\":1}", "\"failures\":{\"melted\":1}"),
         "unknown category \"melted\""},
        {replaced(good, "\"failures\":{\"overloaded\":1}", "\"failures\":{\"overloaded\":-1}"),
         "not a count"},
        {replaced(good, "\"p99_ms\":", "\"p99_ms\":\"fast\",\"x\":"), "not a duration in ms"},
        {replaced(good, "\"seconds\":[", "\"seconds\":{\"x\":["), "not JSON"},
        {replaced(good, "\"seconds\":[{", "\"seconds\":[7,{"), "not an object"},
    };
    for (const row& r : rows) {
        BOOST_TEST_CONTEXT(r.says) {
            const auto read = lg::read_saved_report(r.text);
            BOOST_TEST_REQUIRE(std::holds_alternative<std::string>(read));
            const std::string& message = std::get<std::string>(read);
            BOOST_TEST(message.find(r.says) != std::string::npos, message);
            BOOST_TEST(message.find('\n') == std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(compare_on_the_command_line) {
    auto parsed =
        loadgen_test::parse({"--compare", "a.json", "--compare", "b.json", "--svg", "c.svg"});
    BOOST_TEST_REQUIRE(std::holds_alternative<lg::command_line>(parsed));
    const auto& cl = std::get<lg::command_line>(parsed);
    BOOST_TEST_REQUIRE(cl.compare.size() == 2u);
    BOOST_TEST(cl.compare[0] == "a.json");
    BOOST_TEST(cl.compare[1] == "b.json");

    const auto problem = [](const std::vector<std::string_view>& words) {
        auto p = loadgen_test::parse(words);
        BOOST_TEST_REQUIRE(std::holds_alternative<lg::usage_error>(p));
        return std::get<lg::usage_error>(p).problem;
    };
    BOOST_TEST((problem({"--compare", "a.json"}) == lg::usage_problem::invalid_compare));
    BOOST_TEST((problem({"--compare", "a", "--compare", "b", "--compare", "c"}) ==
                lg::usage_problem::invalid_compare));
    BOOST_TEST((problem({"--compare", "a", "--compare", "b", "--url", "http://127.0.0.1:1"}) ==
                lg::usage_problem::invalid_compare));
    BOOST_TEST((problem({"--compare", "a", "--compare", "b", "--json", "x.json"}) ==
                lg::usage_problem::invalid_compare));
    BOOST_TEST((problem({"--compare", ""}) == lg::usage_problem::invalid_value));
}

BOOST_AUTO_TEST_SUITE_END()

// The gateway in front of the Responses API (`POST /v1/responses`), end to end over sockets: the
// upstream's own terminator reaches the client (`response.completed`, never a `[DONE]` the
// gateway made up), and the gateway's errors inside such a stream are the API's `event: error`.
// The upstreams are `faultline-upstream-sim` channels answering in the Responses API's shapes
// (OpenAI's "Streaming API responses" guide: `response.created`, `response.output_text.delta`,
// `response.completed`; an error is `event: error` with `{"type":"error","code","message",
// "param","sequence_number"}`).
#include "gateway_fixture.hpp"

#include <faultline/envelope.hpp>
#include <faultline/sse/monitor.hpp>

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace fl = faultline;
namespace json = boost::json;
using namespace examples_test;
using http::verb;

namespace {

const std::string alice = "sk-demo-alice";

std::string responses_body(std::string_view model, bool stream = false, json::value input = "hi",
                           std::uint64_t max_output_tokens = 0) {
    json::object o{{"model", model}, {"input", std::move(input)}, {"stream", stream}};
    if (max_output_tokens != 0) o["max_output_tokens"] = max_output_tokens;
    return json::serialize(o);
}

response responses(gateway_fixture& g, std::string body) {
    return g.request(verb::post, "/v1/responses", alice, std::move(body));
}

// Every event of an event-stream body, as a reader sees it.
struct recorded {
    std::vector<fl::sse::event_kind> kinds;
    std::vector<std::string> types;
    std::vector<std::string> data;
    void on_event(const fl::sse::event& e, fl::sse::event_kind k) {
        kinds.push_back(k);
        types.emplace_back(e.type);
        data.emplace_back(e.data);
    }
};

struct read_stream {
    fl::sse::verdict verdict;
    recorded events;
};

read_stream read(const std::string& body) {
    fl::sse::monitor_options o;
    o.limits.max_line = o.limits.max_event = std::size_t(64) << 20; // the huge line, held whole
    fl::sse::monitor<recorded> m(std::chrono::steady_clock::now(), o);
    BOOST_TEST(!m.feed(body, std::chrono::steady_clock::now()));
    read_stream out{m.finish(), m.handler()};
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_responses)

BOOST_AUTO_TEST_CASE(a_response_is_served_whole) {
    gateway_fixture g;
    const response r = responses(g, responses_body("gpt-sim"));
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.header("x-faultline-channel") == "ok-a");
    BOOST_TEST(r.header("x-ratelimit-remaining-requests") == "299");
    const json::value v = json::parse(r.body);
    BOOST_TEST(v.at("object").as_string() == "response");
    BOOST_TEST(v.at("status").as_string() == "completed");
    BOOST_TEST(v.at("output").at(0).at("content").at(0).at("text").as_string() ==
               "Failing well means saying what broke, whether to");
    BOOST_TEST(v.at("usage").at("output_tokens").as_int64() == 8);
    // The upstream was asked at its own /v1/responses.
    BOOST_TEST(g.sim()->snapshot().calls_to("ok-a") == 1u);
}

BOOST_AUTO_TEST_CASE(a_stream_ends_with_the_upstreams_response_completed_and_no_done) {
    gateway_fixture g;
    const response r = responses(g, responses_body("gpt-sim", true));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.header("content-type") == "text/event-stream");
    BOOST_TEST(r.verdict == fl::sse::terminal::done);
    BOOST_TEST(r.body.find("[DONE]") == std::string::npos);
    const read_stream s = read(r.body);
    BOOST_TEST((s.verdict.protocol == fl::sse::protocol::responses));
    BOOST_TEST((s.verdict.kind == fl::sse::terminal::done));
    BOOST_TEST_REQUIRE(s.events.types.size() == 10u); // created, 8 deltas, completed
    BOOST_TEST(s.events.types.front() == "response.created");
    BOOST_TEST(s.events.types[1] == "response.output_text.delta");
    BOOST_TEST(s.events.types.back() == "response.completed");
    BOOST_TEST(json::parse(s.events.data.back()).at("response").at("status").as_string() ==
               "completed");
}

BOOST_AUTO_TEST_CASE(an_upstream_error_event_becomes_the_gateways_redacted_error_event) {
    gateway_fixture g;
    const response r = responses(g, responses_body("sim-midstream-error", true));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.verdict == fl::sse::terminal::error);
    // The upstream's event said `server_error`: a server error, its text kept in the log.
    BOOST_TEST(r.stream_failure->code == fl::error::internal_error);
    BOOST_TEST(r.body.find("10.0.3.7") == std::string::npos);
    BOOST_TEST(g.wait_log("lost its GPU"));
    BOOST_TEST(r.body.find("[DONE]") == std::string::npos);
    const read_stream s = read(r.body);
    BOOST_TEST_REQUIRE(!s.events.types.empty());
    BOOST_TEST(s.events.types.back() == "error");
    const json::object e = json::parse(s.events.data.back()).as_object();
    BOOST_TEST(e.at("type").as_string() == "error");
    BOOST_TEST(e.at("code").as_string() == "internal_error");
    BOOST_TEST(e.at("message").as_string() == "Service temporarily unavailable");
    BOOST_TEST(e.at("param").is_null());
    // It takes the upstream error event's place: after created and three deltas (0 to 3).
    BOOST_TEST(e.at("sequence_number").as_int64() == 4);
    BOOST_TEST(g.server().snapshot().stream_errors == 1u);
}

BOOST_AUTO_TEST_CASE(a_stream_the_upstream_cut_ends_with_a_stream_truncated_error_event) {
    gateway_fixture g;
    const response r = responses(g, responses_body("sim-upstream-cutoff", true));
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.verdict == fl::sse::terminal::error);
    BOOST_TEST(r.stream_failure->code == fl::error::stream_truncated);
    BOOST_TEST(r.body.find("[DONE]") == std::string::npos);
    const read_stream s = read(r.body);
    BOOST_TEST(s.events.types.back() == "error");
    const json::object e = json::parse(s.events.data.back()).as_object();
    BOOST_TEST(e.at("code").as_string() == "stream_truncated");
    BOOST_TEST(e.at("message").as_string().find("before it completed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_streaming_time_limit_ends_a_response_with_an_error_event) {
    gateway_fixture g;
    const response r = responses(g, responses_body("sim-long", true));
    BOOST_TEST(r.verdict == fl::sse::terminal::error);
    BOOST_TEST(r.stream_failure->code == fl::error::stream_timeout);
    BOOST_TEST(r.body.find("[DONE]") == std::string::npos);
    BOOST_TEST(read(r.body).events.types.back() == "error");
}

BOOST_AUTO_TEST_CASE(a_huge_delta_line_is_relayed_and_the_stream_still_completes) {
    gateway_fixture g;
    const response r = responses(g, responses_body("sim-huge-line", true));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.verdict == fl::sse::terminal::done);
    BOOST_TEST(r.body.find("[DONE]") == std::string::npos);
    const read_stream s = read(r.body);
    BOOST_TEST(s.events.types.back() == "response.completed");
    const auto& channels = g.server().config().channels;
    const auto huge = std::find_if(channels.begin(), channels.end(),
                                   [](const gw::channel_config& c) { return c.name == "huge"; });
    BOOST_TEST_REQUIRE((huge != channels.end()));
    BOOST_TEST(s.events.data[1].find(std::string(huge->line_bytes, 'A')) != std::string::npos);
    BOOST_TEST(g.server().snapshot().stream_bytes_peak <= g.server().config().stream_memory_budget);
}

BOOST_AUTO_TEST_CASE(a_failing_channel_fails_over_before_the_stream_starts) {
    gateway_fixture g;
    const response r = responses(g, responses_body("sim-failover", true));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.header("x-faultline-channel") == "ok-b");
    BOOST_TEST(r.header("x-faultline-failover") == "dead-1");
    BOOST_TEST(r.verdict == fl::sse::terminal::done);
}

BOOST_AUTO_TEST_CASE(errors_before_the_answer_are_the_usual_envelopes) {
    gateway_fixture g;
    {
        const response r = responses(g, responses_body("sim-500"));
        BOOST_TEST(r.status == 500u);
        BOOST_TEST(fl::parse_envelope(r.body).has_value());
    }
    {
        const response r = responses(g, responses_body("no-such-model"));
        BOOST_TEST(r.status == 404u);
        BOOST_TEST(
            (fl::parse_envelope(r.body).value().param == std::optional<std::string>("model")));
    }
    {
        const response r = g.request(verb::get, "/v1/responses", alice);
        BOOST_TEST(r.status == 405u);
        BOOST_TEST(r.header("allow") == "POST");
    }
}

BOOST_AUTO_TEST_CASE(bad_bodies_get_400_naming_the_parameter) {
    gateway_fixture g;
    struct row {
        std::string body;
        const char* param;
    };
    const row rows[] = {
        {R"({"model":"gpt-sim"})", "input"},
        {R"({"model":"gpt-sim","input":""})", "input"},
        {R"({"model":"gpt-sim","input":[]})", "input"},
        {R"({"model":"gpt-sim","input":42})", "input"},
        {R"({"model":"gpt-sim","messages":[{"role":"user","content":"hi"}]})", "input"},
        {R"({"model":"gpt-sim","input":"hi","max_output_tokens":0})", "max_output_tokens"},
        {R"({"model":"gpt-sim","input":"hi","max_output_tokens":"8"})", "max_output_tokens"},
        {R"({"model":"gpt-sim","input":"hi","stream":"yes"})", "stream"},
        {R"({"input":"hi"})", "model"},
    };
    for (const row& w : rows) {
        BOOST_TEST_CONTEXT(w.body) {
            const response r = responses(g, w.body);
            BOOST_TEST(r.status == 400u);
            BOOST_TEST(
                (fl::parse_envelope(r.body).value().param == std::optional<std::string>(w.param)));
        }
    }
    // Over the context window: the input is named, as messages are for chat.
    const std::string big(80'000, 'x');
    const response r = responses(g, responses_body("gpt-sim", false, json::string_view(big)));
    BOOST_TEST(r.status == 400u);
    BOOST_TEST((fl::parse_envelope(r.body).value().param == std::optional<std::string>("input")));
    // The input given as items counts too.
    json::array items{json::object{{"role", "user"}, {"content", big}}};
    BOOST_TEST(responses(g, responses_body("gpt-sim", false, items)).status == 400u);
    BOOST_TEST(
        responses(g, responses_body("gpt-sim", false,
                                    json::array{json::object{{"role", "user"}, {"content", "hi"}}}))
            .status == 200u);
}

BOOST_AUTO_TEST_CASE(metrics_count_the_route_on_its_own) {
    gateway_fixture g;
    BOOST_TEST(responses(g, responses_body("gpt-sim")).status == 200u);
    BOOST_TEST(responses(g, responses_body("gpt-sim", true)).status == 200u);
    BOOST_TEST(responses(g, R"({"model":"gpt-sim"})").status == 400u);
    const response m = g.request(verb::get, "/metrics", "");
    BOOST_TEST(m.status == 200u);
    BOOST_TEST(m.body.find("faultline_gateway_requests_total{route=\"/v1/responses\",code=\"200\"} "
                           "2\n") != std::string::npos);
    BOOST_TEST(m.body.find("faultline_gateway_requests_total{route=\"/v1/responses\",code=\"400\"} "
                           "1\n") != std::string::npos);
    // None of them counts as chat completions.
    BOOST_TEST(m.body.find("route=\"/v1/chat/completions\",code=\"200\"") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

#include <faultline/exchange.hpp>

#include "limit/manual_clock.hpp"

#include <boost/beast/http/fields.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace fl = faultline;
namespace sse = faultline::sse;
using namespace std::chrono_literals;
using faultline_test::at;
using faultline_test::manual_clock;

namespace {

using hdrs = std::vector<std::pair<std::string, std::string>>;
using exchange_t = fl::exchange<sse::null_monitor_handler, manual_clock>;

const hdrs json_type{{"Content-Type", "application/json"}};
const hdrs sse_type{{"Content-Type", "text/event-stream; charset=utf-8"}};

constexpr std::string_view chunk = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
constexpr std::string_view done = "data: [DONE]\n\n";

// Counts the events the exchange's monitor hands its handler.
struct counting_handler {
    int* events;
    void on_event(const sse::event&, sse::event_kind) { ++*events; }
};

std::error_code reset() {
    return std::make_error_code(std::errc::connection_reset);
}
std::error_code timed_out() {
    return std::make_error_code(std::errc::timed_out);
}

} // namespace

BOOST_AUTO_TEST_SUITE(exchange)

BOOST_AUTO_TEST_CASE(no_head_is_the_transport_error) {
    exchange_t x(at(0s));
    const fl::exchange_result& r = x.finish(reset(), at(1s));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->cat == fl::category::upstream_unavailable));
    BOOST_TEST(r.failure->retryable);
    BOOST_TEST(r.status == 0u);
    BOOST_TEST(r.transport == reset());
    BOOST_TEST(!r.content_delivered);
}

BOOST_AUTO_TEST_CASE(no_head_and_no_error_is_an_aborted_connection) {
    exchange_t x(at(0s));
    const fl::exchange_result& r = x.finish({}, at(1s));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->cat == fl::category::upstream_unavailable));
    BOOST_TEST(r.failure->message == "The connection closed before a response head.");
}

BOOST_AUTO_TEST_CASE(head_timeout_is_reported_by_check_and_deadline) {
    fl::exchange_options o;
    o.head_timeout = 500ms;
    exchange_t x(at(0s), o);
    BOOST_REQUIRE(x.next_deadline());
    BOOST_TEST((*x.next_deadline() == at(500ms)));
    BOOST_TEST(!x.check(at(499ms)));
    // Over at the instant `next_deadline()` names: a caller woken then is told.
    const std::error_code ec = x.check(at(500ms));
    BOOST_TEST((ec == fl::error::upstream_timeout));
    BOOST_TEST(!x.next_deadline());
    // A head after the deadline is refused with the same error.
    BOOST_TEST((x.head(200, json_type, at(600ms)) == fl::error::upstream_timeout));
    const fl::exchange_result& r = x.finish(ec, at(600ms));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->code == fl::error::upstream_timeout));
    BOOST_TEST(r.failure->message == "No response head within 500 ms.");
    BOOST_TEST(!r.transport); // the exchange's own stop is no transport error
}

BOOST_AUTO_TEST_CASE(error_status_is_classified_with_headers_and_body) {
    exchange_t x(at(0s));
    boost::beast::http::fields h;
    h.set("Retry-After", "3");
    h.set("Content-Type", "application/json");
    BOOST_TEST(!x.head(429, h, at(0s)));
    BOOST_TEST(!x.body(R"({"error":{"message":"Rate limit reached for requests",)", at(0s)));
    BOOST_TEST(!x.body(R"("type":"requests","code":"rate_limit_exceeded"}})", at(0s)));
    const fl::exchange_result& r = x.finish({}, at(1s));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->cat == fl::category::rate_limited));
    BOOST_TEST(r.failure->status == 429u);
    BOOST_REQUIRE(r.failure->retry_after);
    BOOST_TEST(r.failure->retry_after->count() == 3000);
    BOOST_TEST(r.failure->message == "Rate limit reached for requests");
    BOOST_TEST(!x.streaming());
}

BOOST_AUTO_TEST_CASE(error_status_with_a_cut_body_is_still_decided_by_the_status) {
    exchange_t x(at(0s));
    BOOST_TEST(!x.head(503, json_type, at(0s)));
    BOOST_TEST(!x.body(R"({"error":{"mess)", at(0s)));
    const fl::exchange_result& r = x.finish(reset(), at(1s));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->code == fl::error::upstream_unavailable));
    BOOST_TEST(r.failure->status == 503u);
    BOOST_TEST(r.transport == reset());
}

BOOST_AUTO_TEST_CASE(an_error_event_stream_with_a_4xx_status_is_classified) {
    exchange_t x(at(0s));
    BOOST_TEST(!x.head(400, sse_type, at(0s)));
    BOOST_TEST(!x.streaming()); // only a 2xx stream is monitored
    BOOST_TEST(!x.body("event: error\ndata: {\"error\":{\"message\":\"This model's maximum "
                       "context length is 8192 tokens\",\"code\":\"context_length_exceeded\"}}\n\n",
                       at(0s)));
    const fl::exchange_result& r = x.finish({}, at(0s));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->code == fl::error::context_length_exceeded));
}

BOOST_AUTO_TEST_CASE(error_body_keeps_its_start_only) {
    fl::exchange_options o;
    o.max_error_body = 16;
    exchange_t x(at(0s), o);
    BOOST_TEST(!x.head(500, hdrs{}, at(0s)));
    BOOST_TEST(!x.body(std::string(10, 'a'), at(0s)));
    BOOST_TEST(!x.body(std::string(10, 'b'), at(0s)));
    BOOST_TEST(!x.body(std::string(10, 'c'), at(0s)));
    BOOST_TEST(x.body() == "aaaaaaaaaabbbbbb");
    const fl::exchange_result& r = x.finish({}, at(0s));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->code == fl::error::internal_error));
}

BOOST_AUTO_TEST_CASE(success_body_is_kept_whole) {
    exchange_t x(at(0s));
    BOOST_TEST(!x.head(200, json_type, at(0s)));
    const std::string body = R"({"choices":[{"message":{"content":"say \"error\" twice"}}]})";
    BOOST_TEST(!x.body(body.substr(0, 7), at(0s)));
    BOOST_TEST(!x.body(body.substr(7), at(0s)));
    const fl::exchange_result& r = x.finish({}, at(0s));
    BOOST_TEST(r.ok());
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(x.body() == body);
    BOOST_TEST(!r.stream);
}

BOOST_AUTO_TEST_CASE(a_null_error_member_is_a_success) {
    exchange_t x(at(0s));
    BOOST_TEST(!x.head(200, json_type, at(0s)));
    BOOST_TEST(!x.body(R"({"id":"x","error":null,"choices":[]})", at(0s)));
    BOOST_TEST(x.finish({}, at(0s)).ok());
}

BOOST_AUTO_TEST_CASE(a_200_with_an_error_body_is_a_failure) {
    struct body_case {
        std::string_view body;
        fl::error code;
    };
    const body_case cases[] = {
        {R"({"error":{"message":"The server is overloaded","type":"server_error",)"
         R"("code":"overloaded"}})",
         fl::error::overloaded},
        {R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})",
         fl::error::overloaded},
        {R"({"object":"error","message":"This model's maximum context length is 4096 tokens.",)"
         R"("type":"BadRequestError","code":400})",
         fl::error::context_length_exceeded},
        {R"([{"error":{"code":429,"message":"Resource has been exhausted",)"
         R"("status":"RESOURCE_EXHAUSTED"}}])",
         fl::error::rate_limited},
        {R"({"error":"upstream failed"})", fl::error::unknown},
    };
    for (const body_case& c : cases) {
        BOOST_TEST_CONTEXT(c.body) {
            exchange_t x(at(0s));
            BOOST_TEST(!x.head(200, json_type, at(0s)));
            BOOST_TEST(!x.body(c.body, at(0s)));
            const fl::exchange_result& r = x.finish({}, at(0s));
            BOOST_REQUIRE(r.failure);
            BOOST_TEST(r.failure->code == c.code);
            BOOST_TEST(r.failure->status == 200u);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_2xx_body_over_max_body_is_refused_not_cut) {
    fl::exchange_options o;
    o.max_body = 8;
    exchange_t x(at(0s), o);
    BOOST_TEST(!x.head(200, json_type, at(0s)));
    BOOST_TEST(!x.body("{\"a\":", at(0s)));
    const std::error_code ec = x.body("12345", at(0s));
    BOOST_TEST((ec == fl::error::payload_too_large));
    BOOST_TEST(x.body("6", at(0s)) == ec); // the same error on every later call
    const fl::exchange_result& r = x.finish(ec, at(0s));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->code == fl::error::payload_too_large));
    BOOST_TEST(r.failure->message == "The response body is larger than 8 bytes.");
    BOOST_TEST(r.failure->status == 200u);
    BOOST_TEST(!r.transport);
}

BOOST_AUTO_TEST_CASE(a_2xx_body_cut_by_the_transport_is_the_transport_error) {
    exchange_t x(at(0s));
    BOOST_TEST(!x.head(200, json_type, at(0s)));
    BOOST_TEST(!x.body("{\"choi", at(0s)));
    const fl::exchange_result& r = x.finish(reset(), at(0s));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->cat == fl::category::upstream_unavailable));
    BOOST_TEST(r.failure->status == 200u);
    BOOST_TEST(r.failure->message.starts_with("The response body could not be read: "));
}

BOOST_AUTO_TEST_CASE(complete_stream_is_a_success_with_its_verdict) {
    int events = 0;
    fl::exchange<counting_handler, manual_clock> x(at(0s), {}, counting_handler{&events});
    BOOST_TEST(!x.head(200, sse_type, at(0s)));
    BOOST_TEST(x.streaming());
    BOOST_TEST(!x.body(chunk, at(1s)));
    BOOST_TEST(x.content_delivered());
    BOOST_TEST(!x.body(done, at(2s)));
    const fl::exchange_result& r = x.finish({}, at(2s));
    BOOST_TEST(r.ok());
    BOOST_REQUIRE(r.stream);
    BOOST_TEST((r.stream->kind == sse::terminal::done));
    BOOST_TEST(r.content_delivered);
    BOOST_TEST(events == 2);
    BOOST_TEST(x.body().empty()); // stream bytes are not kept
}

BOOST_AUTO_TEST_CASE(a_cut_after_the_terminator_is_still_a_success) {
    exchange_t x(at(0s));
    BOOST_TEST(!x.head(200, sse_type, at(0s)));
    BOOST_TEST(!x.body(std::string(chunk) + std::string(done), at(0s)));
    const fl::exchange_result& r = x.finish(reset(), at(0s));
    BOOST_TEST(r.ok());
    BOOST_TEST(r.transport == reset());
}

BOOST_AUTO_TEST_CASE(a_stream_cut_after_content_is_truncated_and_delivered) {
    exchange_t x(at(0s));
    BOOST_TEST(!x.head(200, sse_type, at(0s)));
    BOOST_TEST(!x.body(chunk, at(0s)));
    const fl::exchange_result& r = x.finish(reset(), at(0s));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->code == fl::error::stream_truncated));
    BOOST_TEST(r.failure->status == 200u);
    BOOST_TEST(r.content_delivered);
    BOOST_TEST(r.failure->message.starts_with("The stream was cut off after 1 events: "));
}

BOOST_AUTO_TEST_CASE(a_stream_that_ends_without_terminator_is_truncated) {
    exchange_t x(at(0s));
    BOOST_TEST(!x.head(200, sse_type, at(0s)));
    const fl::exchange_result& r = x.finish({}, at(0s));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->code == fl::error::stream_truncated));
    BOOST_TEST(!r.content_delivered);
}

BOOST_AUTO_TEST_CASE(a_transport_timeout_mid_stream_is_a_stream_timeout) {
    exchange_t x(at(0s));
    BOOST_TEST(!x.head(200, sse_type, at(0s)));
    BOOST_TEST(!x.body(chunk, at(0s)));
    const fl::exchange_result& r = x.finish(timed_out(), at(0s));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->code == fl::error::stream_timeout));
    BOOST_TEST(r.content_delivered);
}

BOOST_AUTO_TEST_CASE(the_streams_own_error_chunk_beats_the_cut_that_follows) {
    exchange_t x(at(0s));
    BOOST_TEST(!x.head(200, sse_type, at(0s)));
    BOOST_TEST(!x.body("data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":"
                       "\"rate_limit_error\",\"code\":\"rate_limit_exceeded\"}}\n\n",
                       at(0s)));
    const fl::exchange_result& r = x.finish(reset(), at(0s));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->cat == fl::category::rate_limited));
    BOOST_TEST(r.failure->status == 200u);
    BOOST_TEST(!r.content_delivered);
    BOOST_REQUIRE(r.stream);
    BOOST_TEST((r.stream->kind == sse::terminal::error));
}

BOOST_AUTO_TEST_CASE(the_monitors_idle_timeout_stops_the_exchange) {
    fl::exchange_options o;
    o.monitor.idle_timeout = 100ms;
    exchange_t x(at(0s), o);
    BOOST_TEST(!x.head(200, sse_type, at(0s)));
    BOOST_TEST(!x.body(chunk, at(50ms)));
    BOOST_REQUIRE(x.next_deadline());
    BOOST_TEST((*x.next_deadline() == at(150ms)));
    const std::error_code ec = x.check(at(200ms));
    BOOST_TEST((ec == fl::error::stream_timeout));
    BOOST_TEST((x.body(done, at(201ms)) == ec));
    const fl::exchange_result& r = x.finish(ec, at(201ms));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->code == fl::error::stream_timeout));
    BOOST_TEST(r.content_delivered);
    BOOST_TEST(!r.transport);
}

BOOST_AUTO_TEST_CASE(first_content_timeout_counts_from_the_request) {
    fl::exchange_options o;
    o.monitor.first_content_timeout = 2s;
    exchange_t x(at(0s), o);
    BOOST_TEST(!x.head(200, sse_type, at(500ms)));
    BOOST_REQUIRE(x.next_deadline());
    BOOST_TEST((*x.next_deadline() == at(2s)));
    BOOST_TEST(!x.body(": keep-alive\n\n", at(1s))); // a comment is no content
    const std::error_code ec = x.body(": keep-alive\n\n", at(2001ms));
    BOOST_TEST((ec == fl::error::stream_timeout));
    const fl::exchange_result& r = x.finish(ec, at(2001ms));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->code == fl::error::stream_timeout));
    BOOST_TEST(r.failure->message == "No content within 2000 ms of the start.");
    BOOST_TEST(!r.content_delivered);
}

BOOST_AUTO_TEST_CASE(first_content_timeout_is_off_once_content_came) {
    fl::exchange_options o;
    o.monitor.first_content_timeout = 2s;
    exchange_t x(at(0s), o);
    BOOST_TEST(!x.head(200, sse_type, at(0s)));
    BOOST_TEST(!x.body(chunk, at(1s)));
    BOOST_TEST(!x.next_deadline());
    BOOST_TEST(!x.check(at(1h)));
    BOOST_TEST(!x.body(done, at(1h)));
    BOOST_TEST(x.finish({}, at(1h)).ok());
}

BOOST_AUTO_TEST_CASE(a_line_over_the_limit_stops_the_stream) {
    fl::exchange_options o;
    o.monitor.limits.max_line = 64;
    exchange_t x(at(0s), o);
    BOOST_TEST(!x.head(200, sse_type, at(0s)));
    const std::error_code ec = x.body("data: " + std::string(100, 'x'), at(0s));
    BOOST_TEST((ec == fl::error::sse_line_too_long));
    const fl::exchange_result& r = x.finish(ec, at(0s));
    BOOST_REQUIRE(r.failure);
    BOOST_TEST((r.failure->code == fl::error::sse_line_too_long));
    BOOST_TEST(!r.transport);
}

BOOST_AUTO_TEST_CASE(responses_and_anthropic_terminators_complete_a_stream) {
    const std::string_view streams[] = {
        "event: response.created\ndata: {\"type\":\"response.created\"}\n\n"
        "event: response.completed\ndata: {\"type\":\"response.completed\"}\n\n",
        "event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    };
    for (std::string_view s : streams) {
        exchange_t x(at(0s));
        BOOST_TEST(!x.head(200, sse_type, at(0s)));
        BOOST_TEST(!x.body(s, at(0s)));
        BOOST_TEST(x.finish({}, at(0s)).ok());
    }
}

BOOST_AUTO_TEST_CASE(out_of_order_calls_are_protocol_errors) {
    exchange_t x(at(0s));
    BOOST_TEST((x.body("x", at(0s)) == std::errc::protocol_error));
    BOOST_TEST(!x.head(200, json_type, at(0s)));
    BOOST_TEST((x.head(200, json_type, at(0s)) == std::errc::protocol_error));
}

BOOST_AUTO_TEST_CASE(a_status_that_is_not_http_is_refused) {
    for (unsigned status : {0u, 99u, 1000u}) {
        exchange_t x(at(0s));
        BOOST_TEST((x.head(status, json_type, at(0s)) == std::errc::protocol_error));
        const fl::exchange_result& r = x.finish({}, at(0s));
        BOOST_REQUIRE(r.failure);
        BOOST_TEST(r.failure->message ==
                   "The response status " + std::to_string(status) + " is not an HTTP status.");
        BOOST_TEST(r.status == 0u);
    }
}

BOOST_AUTO_TEST_CASE(finish_keeps_its_result) {
    exchange_t x(at(0s));
    BOOST_TEST(!x.head(200, sse_type, at(0s)));
    BOOST_TEST(!x.body(chunk, at(0s)));
    const fl::exchange_result& first = x.finish(reset(), at(0s));
    const fl::exchange_result& second = x.finish({}, at(0s));
    BOOST_TEST(&first == &second);
    BOOST_REQUIRE(second.failure);
    BOOST_TEST((second.failure->code == fl::error::stream_truncated));
    BOOST_TEST(!x.next_deadline());
}

BOOST_AUTO_TEST_CASE(error_documents_are_recognised_within_the_json_limits) {
    fl::parse_limits limits;
    BOOST_TEST(fl::detail::is_error_document(R"({"error":{"message":"x"}})", limits));
    BOOST_TEST(!fl::detail::is_error_document(R"({"error":{"message":"x"})", limits));
    BOOST_TEST(!fl::detail::is_error_document(R"({"data":"error"})", limits));
    BOOST_TEST(!fl::detail::is_error_document(R"(["error"])", limits));
    BOOST_TEST(!fl::detail::is_error_document(R"({"type":"message","x":"error"})", limits));
    limits.max_depth = 2;
    BOOST_TEST(!fl::detail::is_error_document(R"({"error":{"a":{"b":1}}})", limits));
    limits = {};
    limits.max_size = 10;
    BOOST_TEST(!fl::detail::is_error_document(R"({"error":{"message":"x"}})", limits));
}

BOOST_AUTO_TEST_SUITE_END()

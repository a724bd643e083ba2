// The gateway end to end: a real server on 127.0.0.1, real HTTP requests, one scenario per
// failure of the reference documents. Limits and breakers run on a manual clock.
#include "gateway/gateway.hpp"

#include "gateway/upstream.hpp"
#include "gateway_fixture.hpp"

#include "../support/peak_rss.hpp"

#include <faultline/classify.hpp>
#include <faultline/envelope.hpp>

#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

namespace fl = faultline;
namespace json = boost::json;
using namespace examples_test;
using http::verb;

namespace {

// The envelope of a response, parsed strictly.
fl::error_envelope envelope_of(const response& r) {
    auto env = fl::parse_envelope(r.body);
    BOOST_TEST_REQUIRE(env.has_value(), "not an error envelope: " << r.body);
    return env.value();
}

std::string code_of(const fl::error_envelope& e) {
    return std::holds_alternative<std::string>(e.code) ? std::get<std::string>(e.code) : "";
}

const std::string alice = "sk-demo-alice";

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_e2e)

BOOST_AUTO_TEST_CASE(chat_completion_with_rate_limit_headers) {
    gateway_fixture g;
    const response r = g.chat(alice, chat_body("gpt-sim"));
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.header("x-ratelimit-limit-requests") == "300");
    BOOST_TEST(r.header("x-ratelimit-remaining-requests") == "299");
    BOOST_TEST(r.header("x-ratelimit-limit-tokens") == "100000");
    BOOST_TEST(r.header("x-faultline-channel") == "ok-a");
    BOOST_TEST(r.header("x-request-id").size() == 32u);
    const json::value v = json::parse(r.body);
    BOOST_TEST(v.at("object").as_string() == "chat.completion");
    BOOST_TEST(v.at("choices").at(0).at("message").at("content").as_string() ==
               "Failing well means saying what broke, whether to");
    BOOST_TEST(v.at("usage").at("completion_tokens").as_int64() == 8);
}

BOOST_AUTO_TEST_CASE(stream_ends_with_done) {
    gateway_fixture g;
    const response r = g.chat(alice, chat_body("gpt-sim", true));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.header("content-type") == "text/event-stream");
    BOOST_TEST(r.header("x-accel-buffering") == "no");
    BOOST_TEST(r.verdict == fl::sse::terminal::done);
    BOOST_TEST(r.content_events == 9u); // 8 words and the finish chunk with usage
    BOOST_TEST(r.body.ends_with("data: [DONE]\n\n"));
}

BOOST_AUTO_TEST_CASE(keep_alive_serves_several_requests_on_one_connection) {
    gateway_fixture g;
    net::io_context io;
    std::vector<unsigned> statuses;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            examples::http_connection c(io.get_executor(),
                                        examples::parse_base_url(g.url()).value());
            for (int i = 0; i < 3; ++i)
                statuses.push_back((co_await exchange(c, verb::post, "/v1/chat/completions", alice,
                                                      chat_body("gpt-sim", i == 1)))
                                       .status);
            statuses.push_back((co_await exchange(c, verb::get, "/v1/models", alice, "")).status);
        },
        net::detached);
    io.run();
    BOOST_TEST(statuses == (std::vector<unsigned>{200, 200, 200, 200}),
               boost::test_tools::per_element());
    BOOST_TEST(g.server().snapshot().requests == 4u);
    BOOST_TEST(g.server().snapshot().connections == 1u); // the client never had to reconnect
}

BOOST_AUTO_TEST_CASE(models_are_listed_for_a_valid_key_only) {
    gateway_fixture g;
    const response ok = g.request(verb::get, "/v1/models", alice);
    BOOST_TEST(ok.status == 200u);
    const json::value v = json::parse(ok.body);
    BOOST_TEST(v.at("object").as_string() == "list");
    BOOST_TEST(v.at("data").as_array().size() == g.server().config().models.size());
    BOOST_TEST(v.at("data").at(0).at("id").as_string() == "gpt-sim");
    BOOST_TEST(g.request(verb::get, "/v1/models", "").status == 401u);
}

// --- 401 -----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(missing_wrong_and_malformed_keys_get_401_envelopes) {
    gateway_fixture g;
    const response none = g.chat("", chat_body("gpt-sim"));
    BOOST_TEST(none.status == 401u);
    fl::error_envelope e = envelope_of(none);
    BOOST_TEST(e.type.value() == "authentication_error");
    BOOST_TEST(code_of(e) == "invalid_api_key");
    BOOST_TEST(e.message.find("Missing API key") != std::string::npos);

    const response wrong = g.chat("sk-not-a-key-12345", chat_body("gpt-sim"));
    BOOST_TEST(wrong.status == 401u);
    BOOST_TEST(envelope_of(wrong).message == "Incorrect API key provided.");
    BOOST_TEST(wrong.body.find("sk-not-a-key") == std::string::npos); // never echoed

    const fl::failure f = fl::classify(wrong.status, wrong.headers, wrong.body);
    BOOST_TEST(f.code == fl::error::authentication);
    BOOST_TEST(!f.retryable);
}

BOOST_AUTO_TEST_CASE(key_with_an_invisible_character_is_diagnosed) {
    gateway_fixture g;
    // A zero-width space pasted after the key (reference 000, "Channel test is failing").
    const response r = g.chat(alice + "\xE2\x80\x8B", chat_body("gpt-sim"));
    BOOST_TEST(r.status == 401u);
    BOOST_TEST(envelope_of(r).message.find(
                   std::string(fl::info(fl::config_error::api_key_invisible_character).fix)) !=
               std::string::npos);
}

// --- 404, 405, 400, 413 --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(doubled_v1_gets_404_with_the_diagnosis) {
    gateway_fixture g;
    // Checked before the key: a client with the wrong base URL learns what is wrong first.
    const response r = g.request(verb::post, "/v1/v1/chat/completions", "", chat_body("gpt-sim"));
    BOOST_TEST(r.status == 404u);
    BOOST_TEST(r.header("x-should-retry") == "false");
    const fl::error_envelope e = envelope_of(r);
    BOOST_TEST(code_of(e) == "duplicated_v1_path");
    BOOST_TEST(e.message.find("/v1 again") != std::string::npos);
    BOOST_TEST(e.message.find("Use the base URL " + g.url() + "/v1 with an OpenAI SDK") !=
               std::string::npos);
    BOOST_TEST(e.message.find("or " + g.url() + " with a client that appends /v1 itself") !=
               std::string::npos);
}

// The 404 for /v1/v1 told users to drop /v1; an SDK then called /chat/completions and got a
// bare 404. Without /v1 the gateway now names the base URL with it.
BOOST_AUTO_TEST_CASE(missing_v1_gets_404_naming_the_base_url) {
    gateway_fixture g;
    struct row {
        verb method;
        const char* target;
        const char* base_path; // what follows the server's origin in the suggested base URL
    };
    const row rows[] = {
        {verb::post, "/chat/completions", "/v1"},
        {verb::get, "/models", "/v1"},
        {verb::post, "/embeddings?x=1", "/v1"},
        {verb::post, "/api/chat/completions", "/api/v1"},
    };
    for (const row& w : rows) {
        const response r = g.request(w.method, w.target, alice, chat_body("gpt-sim"));
        BOOST_TEST(r.status == 404u, w.target);
        BOOST_TEST(r.header("x-should-retry") == "false");
        const fl::error_envelope e = envelope_of(r);
        BOOST_TEST(code_of(e) == "missing_v1_path", w.target);
        BOOST_TEST(e.message.find("Use the base URL " + g.url() + w.base_path + ".") !=
                       std::string::npos,
                   e.message);
    }
}

// The Host header is the client's text: only a plain host[:port] is put into the hint.
BOOST_AUTO_TEST_CASE(missing_v1_hint_ignores_an_odd_host_header) {
    gateway_fixture g;
    for (const std::string& host : {std::string("evil.example/<script>"), std::string(300, 'h')}) {
        net::io_context io;
        response r;
        net::co_spawn(
            io,
            [&]() -> net::awaitable<void> {
                examples::http_connection c(io.get_executor(),
                                            examples::parse_base_url(g.url()).value());
                auto req = c.make_request(verb::post, "/chat/completions", alice, "{}");
                req.set(http::field::host, host);
                const examples::exchange_result x = co_await c.exchange(
                    req, [](const examples::response_head&) {},
                    [&](std::string_view piece) -> std::error_code {
                        r.body.append(piece);
                        return {};
                    },
                    {});
                r.status = x.head.status;
            },
            net::detached);
        io.run();
        BOOST_TEST(r.status == 404u);
        const fl::error_envelope e = envelope_of(r);
        BOOST_TEST(e.message.find("Use the base URL <this server>/v1.") != std::string::npos,
                   e.message);
        BOOST_TEST(e.message.find("script") == std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(unknown_paths_and_wrong_methods) {
    gateway_fixture g;
    for (const char* target : {"/v2/chat", "/v2/chat/completions", "/metrics/x", "/"}) {
        const response r = g.request(verb::post, target, alice, "{}");
        BOOST_TEST(r.status == 404u, target);
        BOOST_TEST(code_of(envelope_of(r)) == "not_found", target);
    }
    const response m = g.request(verb::get, "/v1/chat/completions", alice);
    BOOST_TEST(m.status == 405u);
    BOOST_TEST(m.header("allow") == "POST");
}

BOOST_AUTO_TEST_CASE(bad_bodies_get_400_naming_the_parameter) {
    gateway_fixture g;
    struct row {
        std::string body;
        std::string param;
    };
    const row rows[] = {
        {"{not json", ""},
        {"[1,2]", ""},
        {R"({"messages":[{"role":"user","content":"x"}]})", "model"},
        {R"({"model":"gpt-sim"})", "messages"},
        {R"({"model":"gpt-sim","messages":[]})", "messages"},
        {R"({"model":"gpt-sim","messages":[{"role":"user","content":"x"}],"stream":"yes"})",
         "stream"},
        {R"({"model":"gpt-sim","messages":[{"role":"user","content":"x"}],"max_tokens":-1})",
         "max_tokens"},
        {R"({"model":"gpt-sim","messages":[{"role":"user","content":"x"}],"max_tokens":1.5})",
         "max_tokens"},
        {R"({"model":"gpt-sim","messages":[{"role":"user","content":"x"}],"max_tokens":2000000})",
         "max_tokens"},
        {std::string(40, '[') + std::string(40, ']'), ""}, // deeper than the parser allows
    };
    for (const row& x : rows) {
        const response r = g.chat(alice, x.body);
        BOOST_TEST(r.status == 400u, x.body);
        const fl::error_envelope e = envelope_of(r);
        BOOST_TEST(e.type.value() == "invalid_request_error");
        BOOST_TEST(e.param.value_or("") == x.param, x.body);
    }
}

BOOST_AUTO_TEST_CASE(unknown_model_and_context_length) {
    gateway_fixture g;
    const response m = g.chat(alice, chat_body("openai/unknown-model"));
    BOOST_TEST(m.status == 404u);
    BOOST_TEST(code_of(envelope_of(m)) == "model_not_found");
    const response c = g.chat(alice, chat_body("gpt-sim", false, 9000));
    BOOST_TEST(c.status == 400u);
    const fl::error_envelope e = envelope_of(c);
    BOOST_TEST(code_of(e) == "context_length_exceeded");
    BOOST_TEST(e.param.value_or("") == "messages");
    BOOST_TEST(fl::classify(c.status, c.body).code == fl::error::context_length_exceeded);
}

BOOST_AUTO_TEST_CASE(body_over_the_limit_gets_413) {
    gw::gateway_config c = test_config();
    c.max_body = 1024;
    gateway_fixture g(c);
    const response r = g.chat(alice, chat_body("gpt-sim", false, 0, std::string(4096, 'x')));
    BOOST_TEST(r.status == 413u);
    BOOST_TEST(code_of(envelope_of(r)) == "payload_too_large");
}

BOOST_AUTO_TEST_CASE(garbage_instead_of_http_gets_400_and_a_close) {
    gateway_fixture g;
    net::io_context io;
    std::string got;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            examples::beast::tcp_stream s(io);
            s.expires_after(10s); // a server that never closes fails the test, not hangs it
            co_await s.async_connect(
                examples::tcp::endpoint{net::ip::make_address("127.0.0.1"), g.port()},
                net::use_awaitable);
            const std::string junk = "\x01\x02 NOT HTTP\r\n\r\n";
            co_await net::async_write(s, net::buffer(junk), net::use_awaitable);
            char buf[4096];
            for (;;) {
                auto [ec, n] =
                    co_await s.async_read_some(net::buffer(buf), net::as_tuple(net::use_awaitable));
                got.append(buf, n);
                if (ec) {
                    BOOST_TEST((ec != examples::beast::error::timeout));
                    break; // the server closed the connection
                }
            }
        },
        net::detached);
    io.run();
    BOOST_TEST(got.starts_with("HTTP/1.1 400"));
    BOOST_TEST(got.find("invalid_request_error") != std::string::npos);
}

// --- budgets and limits --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(spend_limit_is_a_429_that_must_not_be_retried) {
    gateway_fixture g;
    BOOST_TEST(g.chat("sk-demo-budget", chat_body("gpt-sim")).status == 200u); // 13 of 10 tokens
    const response r = g.chat("sk-demo-budget", chat_body("gpt-sim"));
    BOOST_TEST(r.status == 429u);
    BOOST_TEST(code_of(envelope_of(r)) == "spend_limit_exceeded");
    BOOST_TEST(r.header("retry-after").empty());
    BOOST_TEST(r.header("x-should-retry") == "false");
    const fl::failure f = fl::classify(r.status, r.headers, r.body);
    BOOST_TEST(f.code == fl::error::spend_limit_exceeded);
    BOOST_TEST(!f.retryable);
}

BOOST_AUTO_TEST_CASE(token_level_rpm_429_with_exact_retry_after) {
    gateway_fixture g;
    BOOST_TEST(g.chat("sk-demo-limited", chat_body("gpt-sim")).status == 200u);
    BOOST_TEST(g.chat("sk-demo-limited", chat_body("gpt-sim")).status == 200u);
    const response r = g.chat("sk-demo-limited", chat_body("gpt-sim"));
    BOOST_TEST(r.status == 429u);
    // 2 requests per minute, both used at the same instant: the next one is 30 s away.
    BOOST_TEST(r.header("retry-after") == "30");
    BOOST_TEST(r.header("retry-after-ms") == "30000");
    BOOST_TEST(r.header("x-should-retry") == "true");
    BOOST_TEST(r.header("x-ratelimit-limit-requests") == "2");
    BOOST_TEST(r.header("x-ratelimit-remaining-requests") == "0");
    BOOST_TEST(r.header("x-ratelimit-reset-requests") == "1m0s");
    const fl::error_envelope e = envelope_of(r);
    BOOST_TEST(code_of(e) == "rpm_exceeded");
    BOOST_TEST(e.message.starts_with("token-level limit"));
    const fl::failure f = fl::classify(r.status, r.headers, r.body);
    BOOST_TEST(f.retryable);
    BOOST_TEST(f.retry_after.value().count() == 30000);

    g.advance(29'999ms);
    BOOST_TEST(g.chat("sk-demo-limited", chat_body("gpt-sim")).header("retry-after-ms") == "1");
    g.advance(1ms);
    BOOST_TEST(g.chat("sk-demo-limited", chat_body("gpt-sim")).status == 200u);
}

BOOST_AUTO_TEST_CASE(user_level_limit_spans_the_users_keys) {
    gateway_fixture g;
    BOOST_TEST(g.chat("sk-demo-dave-1", chat_body("gpt-sim")).status == 200u);
    BOOST_TEST(g.chat("sk-demo-dave-2", chat_body("gpt-sim")).status == 200u);
    BOOST_TEST(g.chat("sk-demo-dave-1", chat_body("gpt-sim")).status == 200u);
    const response r = g.chat("sk-demo-dave-2", chat_body("gpt-sim"));
    BOOST_TEST(r.status == 429u);
    const fl::error_envelope e = envelope_of(r);
    BOOST_TEST(e.message.starts_with("user-level limit"));
    BOOST_TEST(code_of(e) == "rpm_exceeded");
    BOOST_TEST(r.header("retry-after") == "20"); // 3 per minute
    // The refused request consumed nothing at the key level (all or nothing).
    BOOST_TEST(r.header("x-ratelimit-remaining-requests") == "59");
}

BOOST_AUTO_TEST_CASE(tokens_per_minute_count_the_estimate_and_refund_the_rest) {
    gateway_fixture g;
    // 1000 tokens per minute. 990 + 5 prompt tokens are reserved, 13 used, 982 refunded.
    BOOST_TEST(g.chat("sk-demo-tpm", chat_body("gpt-sim", false, 990)).status == 200u);
    const response r = g.chat("sk-demo-tpm", chat_body("gpt-sim", false, 990));
    BOOST_TEST(r.status == 429u);
    BOOST_TEST(code_of(envelope_of(r)) == "tpm_exceeded");
    BOOST_TEST(r.header("x-ratelimit-remaining-tokens") == "987");
    // 8 tokens missing at 1000/min: 480 ms.
    BOOST_TEST(r.header("retry-after-ms") == "480");
    BOOST_TEST(r.header("retry-after") == "1");
    g.advance(480ms);
    BOOST_TEST(g.chat("sk-demo-tpm", chat_body("gpt-sim", false, 990)).status == 200u);
    // More than the bucket can ever hold is refused for good: retrying cannot help.
    const response big = g.chat("sk-demo-tpm", chat_body("gpt-sim", false, 2000));
    BOOST_TEST(big.status == 429u);
    BOOST_TEST(code_of(envelope_of(big)) == "request_too_large");
    BOOST_TEST(big.header("retry-after").empty());
    BOOST_TEST(big.header("x-should-retry") == "false");
    BOOST_TEST(!fl::classify(big.status, big.headers, big.body).retryable);
}

BOOST_AUTO_TEST_CASE(concurrency_limit_refuses_a_second_request_in_flight) {
    gateway_fixture g;
    net::io_context io;
    response second;
    std::size_t first_events = 0;
    // Both connections outlive both coroutines, whichever ends first.
    const auto url = examples::parse_base_url(g.url()).value();
    examples::http_connection a(io.get_executor(), url), b(io.get_executor(), url);
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            auto req = a.make_request(verb::post, "/v1/chat/completions", "sk-demo-solo",
                                      chat_body("sim-slow", true));
            bool asked = false;
            examples::exchange_options eo;
            // The second request is made while the first stream is open: after its first piece.
            (void)co_await a.exchange(
                req, [](const examples::response_head&) {},
                [&](std::string_view) -> std::error_code {
                    ++first_events;
                    if (!asked) {
                        asked = true;
                        net::co_spawn(
                            io,
                            [&]() -> net::awaitable<void> {
                                second = co_await exchange(b, verb::post, "/v1/chat/completions",
                                                           "sk-demo-solo", chat_body("gpt-sim"));
                            },
                            net::detached);
                    }
                    return {};
                },
                eo);
        },
        net::detached);
    io.run();
    BOOST_TEST(first_events > 0u);
    BOOST_TEST(second.status == 429u);
    const fl::error_envelope e = envelope_of(second);
    BOOST_TEST(code_of(e) == "concurrency_exceeded");
    BOOST_TEST(e.message.starts_with("token-level limit: 1 requests in flight"));
    // Once the stream is over, the slot is free again.
    BOOST_TEST(g.chat("sk-demo-solo", chat_body("gpt-sim")).status == 200u);
}

BOOST_AUTO_TEST_CASE(upstream_level_limit_of_the_gateway) {
    gateway_fixture g;
    BOOST_TEST(g.chat(alice, chat_body("sim-upstream-limited")).status == 200u);
    const response r = g.chat(alice, chat_body("sim-upstream-limited"));
    BOOST_TEST(r.status == 429u);
    BOOST_TEST(envelope_of(r).message.starts_with("upstream-level limit"));
    BOOST_TEST(r.header("retry-after") == "60");
}

BOOST_AUTO_TEST_CASE(providers_429_passes_through_with_its_retry_after) {
    gateway_fixture g;
    const response r = g.chat(alice, chat_body("sim-429"));
    BOOST_TEST(r.status == 429u);
    BOOST_TEST(r.header("retry-after") == "2");
    BOOST_TEST(r.header("retry-after-ms") == "2000");
    const fl::error_envelope e = envelope_of(r);
    BOOST_TEST(e.message.starts_with("upstream-level limit"));
    BOOST_TEST(e.message.find("Rate limit reached for requests") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(limits_off_admit_everything) {
    gw::gateway_config c = test_config();
    c.limits_enabled = false;
    gateway_fixture g(c);
    for (int i = 0; i < 5; ++i)
        BOOST_TEST(g.chat("sk-demo-limited", chat_body("gpt-sim")).status == 200u);
    BOOST_TEST(g.chat("sk-demo-limited", chat_body("gpt-sim"))
                   .header("x-ratelimit-limit-requests")
                   .empty());
}

// --- upstream failures, failover, breakers, redaction ----------------------------------------

BOOST_AUTO_TEST_CASE(failover_to_the_next_channel) {
    gateway_fixture g;
    const response r = g.chat(alice, chat_body("sim-failover"));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.header("x-faultline-channel") == "ok-b");
    BOOST_TEST(r.header("x-faultline-failover") == "dead-1");
    BOOST_TEST(g.server().snapshot().failovers == 1u);
    BOOST_TEST(g.server().snapshot().upstream_calls == 2u);
}

BOOST_AUTO_TEST_CASE(internal_errors_are_redacted_and_logged_with_the_event_id) {
    gateway_fixture g;
    const response r = g.chat(alice, chat_body("sim-500"));
    BOOST_TEST(r.status == 500u);
    const fl::error_envelope e = envelope_of(r);
    BOOST_TEST(e.message == "Service temporarily unavailable");
    BOOST_TEST(e.status.value() == 500);
    BOOST_TEST(e.event_id.value() == r.header("x-request-id"));
    BOOST_TEST(r.body.find("10.0.3.7") == std::string::npos);
    BOOST_TEST(r.body.find("worker.go") == std::string::npos);
    bool logged = false;
    for (const std::string& line : g.log())
        logged |= line.find(*e.event_id) != std::string::npos &&
                  line.find("worker.go:88") != std::string::npos;
    BOOST_TEST(logged);
}

BOOST_AUTO_TEST_CASE(proxy_html_and_overload_are_classified) {
    gateway_fixture g;
    const response html = g.chat(alice, chat_body("sim-502"));
    BOOST_TEST(html.status == 502u);
    BOOST_TEST(code_of(envelope_of(html)) == "upstream_unavailable");
    const response over = g.chat(alice, chat_body("sim-529"));
    BOOST_TEST(over.status == 529u);
    BOOST_TEST(code_of(envelope_of(over)) == "overloaded");
    BOOST_TEST(fl::classify(over.status, over.body).retryable);
}

BOOST_AUTO_TEST_CASE(upstream_timeout_gets_504) {
    gateway_fixture g;
    const response r = g.chat(alice, chat_body("sim-timeout"));
    BOOST_TEST(r.status == 504u);
    BOOST_TEST(code_of(envelope_of(r)) == "upstream_timeout");
}

BOOST_AUTO_TEST_CASE(dead_channel_opens_its_breaker_then_503_no_available_channel) {
    gateway_fixture g;
    for (int i = 0; i < 3; ++i)
        BOOST_TEST(g.chat(alice, chat_body("sim-dead")).status == 502u);
    const auto calls = g.server().snapshot().upstream_calls;
    const response r = g.chat(alice, chat_body("sim-dead"));
    BOOST_TEST(r.status == 503u);
    const fl::error_envelope e = envelope_of(r);
    BOOST_TEST(code_of(e) == "no_available_channel");
    BOOST_TEST(e.message ==
               "No available channel for model sim-dead: every channel's circuit is open.");
    BOOST_TEST(r.header("retry-after") == "30");
    BOOST_TEST(g.server().snapshot().upstream_calls == calls); // failing fast: no call made
    // After the cool-down one probe goes through; it fails, and the circuit opens again.
    g.advance(30s);
    BOOST_TEST(g.chat(alice, chat_body("sim-dead")).status == 502u);
    BOOST_TEST(g.chat(alice, chat_body("sim-dead")).status == 503u);
}

BOOST_AUTO_TEST_CASE(flaky_upstream_fails_every_other_call) {
    gateway_fixture g;
    const response a = g.chat(alice, chat_body("sim-flaky"));
    const response b = g.chat(alice, chat_body("sim-flaky"));
    // The provider's 503 is an upstream failure: the gateway reports it as its 502.
    BOOST_TEST(a.status == 502u);
    BOOST_TEST(code_of(envelope_of(a)) == "upstream_unavailable");
    BOOST_TEST(b.status == 200u);
}

BOOST_AUTO_TEST_CASE(a_channel_failing_mid_stream_opens_its_breaker) {
    gateway_fixture g;
    for (int i = 0; i < 3; ++i) {
        const response r = g.chat(alice, chat_body("sim-midstream-error", true));
        BOOST_TEST(r.verdict == fl::sse::terminal::error);
    }
    const response r = g.chat(alice, chat_body("sim-midstream-error", true));
    BOOST_TEST(r.status == 503u);
    BOOST_TEST(code_of(envelope_of(r)) == "no_available_channel");
}

BOOST_AUTO_TEST_CASE(failover_charges_the_key_once) {
    gateway_fixture g;
    // sk-demo-limited may send 2 requests a minute; one request that fails over is one request.
    const response r = g.chat("sk-demo-limited", chat_body("sim-failover"));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.header("x-faultline-failover") == "dead-1");
    BOOST_TEST(r.header("x-ratelimit-remaining-requests") == "1");
    BOOST_TEST(g.chat("sk-demo-limited", chat_body("gpt-sim")).status == 200u);
}

BOOST_AUTO_TEST_CASE(content_parts_count_towards_the_token_estimate) {
    gateway_fixture g;
    // 4000 bytes of text in content parts, about 1000 tokens: over sk-demo-tpm's 1000 tpm burst.
    const std::string body =
        R"({"model":"gpt-sim","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":")" +
        std::string(4000, 'x') + R"("}]}]})";
    const response r = g.chat("sk-demo-tpm", body);
    BOOST_TEST(r.status == 429u);
    BOOST_TEST(code_of(envelope_of(r)) == "request_too_large");
}

// --- streams -----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(mid_stream_error_becomes_a_redacted_error_chunk_then_done) {
    gateway_fixture g;
    const response r = g.chat(alice, chat_body("sim-midstream-error", true));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.content_events == 3u);
    BOOST_TEST(r.verdict == fl::sse::terminal::error);
    BOOST_TEST(r.stream_failure->code == fl::error::stream_interrupted);
    BOOST_TEST(r.body.find(R"("code":"stream_error")") != std::string::npos);
    BOOST_TEST(r.body.find("10.0.3.7") == std::string::npos);
    BOOST_TEST(r.body.ends_with("data: [DONE]\n\n"));
    BOOST_TEST(g.server().snapshot().stream_errors == 1u);
}

BOOST_AUTO_TEST_CASE(upstream_cut_off_becomes_a_stream_truncated_chunk) {
    gateway_fixture g;
    const response r = g.chat(alice, chat_body("sim-upstream-cutoff", true));
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.verdict == fl::sse::terminal::error);
    BOOST_TEST(r.stream_failure->code == fl::error::stream_truncated);
    BOOST_TEST(r.body.ends_with("data: [DONE]\n\n"));
}

BOOST_AUTO_TEST_CASE(cut_stream_reaches_the_client_without_a_terminator) {
    gateway_fixture g;
    const response r = g.chat(alice, chat_body("sim-cutoff", true));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(static_cast<bool>(r.ec)); // the chunked body never ended
    BOOST_TEST(r.content_events == 3u);
    BOOST_TEST(r.verdict == fl::sse::terminal::eof_without_done);
    BOOST_TEST(r.stream_failure->code == fl::error::stream_truncated);
}

BOOST_AUTO_TEST_CASE(huge_base64_line_is_relayed_whole_not_truncated_or_refused) {
    // Reference 000: "Large image or base64 responses are truncated" by the stream scanner's
    // per-line buffer. The 6 MiB line is six times the stream's whole memory budget.
    gateway_fixture g;
    const response r = g.chat(alice, chat_body("sim-huge-line", true));
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.verdict == fl::sse::terminal::done);
    BOOST_TEST(!r.stream_failure);
    BOOST_TEST(r.content_events == 3u);
    const std::string image =
        "data:image/png;base64," + std::string(std::size_t(6) << 20, 'A') + "\"";
    BOOST_TEST(r.body.find(image) != std::string::npos); // every byte of the line, in one line
    BOOST_TEST(r.body.ends_with("data: [DONE]\n\n"));
    BOOST_TEST(g.server().snapshot().stream_bytes_peak <= g.server().config().stream_memory_budget);
}

BOOST_AUTO_TEST_CASE(a_hundred_megabyte_line_crosses_the_gateway_in_its_stream_budget) {
    gw::gateway_config c = test_config();
    c.streaming_timeout = 120s; // bytes, not time, are under test
    for (auto& ch : c.channels)
        if (ch.name == "huge") ch.line_bytes = std::size_t(100) << 20;
    gateway_fixture g(c);
    // The client side keeps nothing either: it counts bytes and monitors in fragments.
    struct counting {
        std::size_t events = 0;
        void on_event(const fl::sse::event&, fl::sse::event_kind) { ++events; }
        void on_fragment(const fl::sse::event_fragment& f, fl::sse::event_kind) {
            events += f.last;
        }
    };
    net::io_context io;
    std::size_t bytes = 0;
    std::optional<fl::sse::verdict> verdict;
    examples::exchange_result result;
    const std::size_t before = test_support::status_kib("VmRSS").value_or(0);
    const bool peak = test_support::reset_peak_rss();
    fl::sse::monitor<counting> m(std::chrono::steady_clock::now());
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            examples::http_connection conn(io.get_executor(),
                                           examples::parse_base_url(g.url()).value());
            auto req = conn.make_request(verb::post, "/v1/chat/completions", alice,
                                         chat_body("sim-huge-line", true));
            examples::exchange_options eo;
            eo.idle_timeout = 30s;
            eo.max_body = std::uint64_t(1) << 30;
            result = co_await conn.exchange(
                req, [](const examples::response_head&) {},
                [&](std::string_view piece) -> std::error_code {
                    bytes += piece.size();
                    return m.feed(piece, std::chrono::steady_clock::now());
                },
                eo);
            verdict = m.finish();
        },
        net::detached);
    io.run();
    BOOST_TEST(!result.ec);
    BOOST_TEST(result.head.status == 200u);
    BOOST_REQUIRE(verdict);
    BOOST_TEST(verdict->kind == fl::sse::terminal::done);
    BOOST_TEST(m.handler().events == 4u); // first chunk, the image, the final chunk, [DONE]
    BOOST_TEST(bytes > std::size_t(100) << 20);
    // The gateway's own count of what the stream held, and the whole process's peak: the
    // gateway, its simulated upstream and this client together.
    BOOST_TEST(g.server().snapshot().stream_bytes_peak <= std::size_t(1) << 20);
    if (peak && test_support::rss_measures_the_code)
        BOOST_TEST(test_support::peak_growth_bytes(before) < std::size_t(16) << 20);
}

BOOST_AUTO_TEST_CASE(stream_memory_budgets_are_read_and_checked) {
    gw::gateway_config c = test_config();
    BOOST_TEST(gw::validate(c).empty());
    c.stream_memory_budget = 1000;
    BOOST_TEST(gw::validate(c) ==
               "stream_memory_budget must be at least 1024 and max_body positive");
    c.stream_memory_budget = std::size_t(1) << 20;
    c.streams_memory_budget = std::size_t(1) << 19;
    BOOST_TEST(gw::validate(c) == "streams_memory_budget must be at least stream_memory_budget");
    std::string why;
    const auto parsed = gw::parse_config(
        R"({"stream_memory_budget": 65536, "streams_memory_budget": 1048576})", why);
    BOOST_REQUIRE(parsed.has_value());
    BOOST_TEST(parsed.value().stream_memory_budget == 65536u);
    BOOST_TEST(parsed.value().streams_memory_budget == 1048576u);
}

BOOST_AUTO_TEST_CASE(streams_over_the_process_memory_budget_end_overloaded) {
    gw::gateway_config c = test_config();
    c.stream_memory_budget = 4096;
    c.streams_memory_budget = 4096;
    for (auto& ch : c.channels)
        if (ch.name == "huge") ch.line_bytes = std::size_t(1) << 20;
    // In process, the huge line comes in 64 KiB pieces and needs an output buffer of 64 KiB:
    // over both budgets. (Over a socket the gateway reads at most 16 KiB at a time, so how much
    // a piece holds depends on how the kernel splits the bytes.)
    gateway_fixture g(c, clock_kind::manual, nullptr, upstream_kind::in_process);
    const response r = g.chat(alice, chat_body("sim-huge-line", true));
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.verdict == fl::sse::terminal::error);
    BOOST_REQUIRE(r.stream_failure);
    BOOST_TEST(r.stream_failure->code == fl::error::overloaded);
    BOOST_TEST(r.stream_failure->retryable);
    BOOST_TEST(r.stream_failure->message.find("stream_memory_budget") != std::string::npos);
    BOOST_TEST(r.body.ends_with("data: [DONE]\n\n"));
}

BOOST_AUTO_TEST_CASE(quiet_upstream_gets_heartbeats) {
    gateway_fixture g;
    const response r = g.chat(alice, chat_body("sim-slow", true));
    BOOST_TEST(r.verdict == fl::sse::terminal::done);
    BOOST_TEST(r.content_events == 4u);
    BOOST_TEST(r.comments >= 2u); // 150 ms gaps, a heartbeat after 20 ms of quiet
    BOOST_TEST(r.body.find(": keep-alive\n\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(stream_time_limit_ends_with_an_error_chunk) {
    gateway_fixture g;
    const response r = g.chat(alice, chat_body("sim-long", true));
    BOOST_TEST(r.verdict == fl::sse::terminal::error);
    BOOST_TEST(r.stream_failure->code == fl::error::stream_timeout);
    BOOST_TEST(r.content_events < 30u);
    BOOST_TEST(r.body.ends_with("data: [DONE]\n\n"));
}

// --- configuration ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(config_from_json) {
    std::string why;
    const auto c = gw::parse_config(R"({
        "listen": {"host": "127.0.0.1", "port": 0},
        "heartbeat_ms": 50,
        "users": [{"id": "u", "rpm": 10}],
        "keys": [{"key": "sk-1", "id": "k1", "user": "u", "tpm": 500, "budget_tokens": 7}],
        "channels": [{"name": "c", "mode": "status", "status": 429, "pattern": "FS",
                      "headers": {"Retry-After": "3"}, "rpm": 5, "rpm_burst": 2}],
        "models": [{"id": "m", "channels": ["c"], "context_tokens": 100}]
    })",
                                    why);
    BOOST_TEST_REQUIRE(c.has_value(), why);
    BOOST_TEST(c.value().heartbeat.count() == 50);
    BOOST_TEST(c.value().keys[0].budget_tokens.value() == 7u);
    BOOST_TEST(c.value().keys[0].limits.tpm.per_minute == 500u);
    BOOST_TEST(c.value().channels[0].mode == gw::failure_mode::status);
    BOOST_TEST(c.value().channels[0].headers.at(0).second == "3");
    BOOST_TEST(c.value().channels[0].limits.rpm.capacity() == 2u);
    BOOST_TEST(c.value().models[0].context_tokens == 100u);
}

BOOST_AUTO_TEST_CASE(bad_configs_say_where_and_why) {
    struct row {
        std::string json;
        std::string why;
    };
    const row rows[] = {
        {"{", "config is not valid JSON"},
        {"[]", "config must be an object"},
        {R"({"bogus": 1})", "config.bogus is not a known member"},
        {R"({"threads": "2"})", "config.threads must be a whole number"},
        {R"({"threads": 0})", "threads must be 1..256"},
        {R"({"listen": {"port": 70000}})",
         "config.listen.port must be a whole number from 0 to 65535"},
        {R"({"keys": [{"key": "a", "id": "k", "user": "nobody"}]})",
         "names an unknown user 'nobody'"},
        {R"({"channels": [{"name": "c", "mode": "sometimes"}]})",
         "config.channels[0].mode must be one of"},
        {R"({"channels": [{"name": "c", "pattern": "FX"}]})", "pattern may hold only 'F' and 'S'"},
        {R"({"channels": [{"name": "c", "headers": {"a": 1}}]})", ".headers.a must be a string"},
        {R"({"models": [{"id": "m", "channels": ["nope"]}]})", "names an unknown channel 'nope'"},
        {R"({"models": [{"id": "m", "channels": []}]})", "model 'm' has no channels"},
        {[] {
             std::string chs, names;
             for (int i = 0; i < 65; ++i) {
                 chs += std::string(i ? "," : "") + R"({"name": "c)" + std::to_string(i) + R"("})";
                 names += std::string(i ? "," : "") + "\"c" + std::to_string(i) + "\"";
             }
             return R"({"channels": [)" + chs + R"(], "models": [{"id": "m", "channels": [)" +
                    names + "]}]}";
         }(),
         "model 'm' has more than 64 channels"},
        {R"({"stream_memory_budget": 100})", "stream_memory_budget must be at least 1024"},
        {R"({"stream_memory_budget": 4096, "streams_memory_budget": 2048})",
         "streams_memory_budget must be at least stream_memory_budget"},
        {R"({"keys": [{"key": "a", "id": "k"}, {"key": "a", "id": "j"}]})",
         "key secret empty or repeated"},
    };
    for (const row& x : rows) {
        std::string why;
        const auto c = gw::parse_config(x.json, why);
        BOOST_TEST(!c.has_value(), x.json);
        BOOST_TEST(why.find(x.why) != std::string::npos, x.json << " -> " << why);
    }
}

BOOST_AUTO_TEST_CASE(invalid_config_is_refused_at_construction) {
    gw::gateway_config c = test_config();
    c.models.push_back({"broken", {"missing"}, 10});
    net::io_context io;
    BOOST_CHECK_THROW(gw::server(io.get_executor(), c), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(simulated_replies_follow_the_pattern) {
    gw::channel_config ch;
    ch.mode = gw::failure_mode::status;
    ch.status = 503;
    ch.pattern = "FFS";
    const bool expected[] = {true, true, false, true, true, false};
    for (std::uint64_t n = 0; n < 6; ++n)
        BOOST_TEST(gw::call_fails(ch, n) == expected[n]);
    const gw::upstream_reply r = gw::simulate(ch, {"m", false, 1, 10, "chatcmpl-x", 0}, 0);
    BOOST_TEST(r.status == 503u);
    BOOST_TEST(fl::classify(r.status, r.body).code == fl::error::upstream_unavailable);
    ch.mode = gw::failure_mode::none;
    BOOST_TEST(!gw::call_fails(ch, 0));
}

BOOST_AUTO_TEST_SUITE_END()

// Requests at the same time, on one thread and on several: also run under ThreadSanitizer
// (.ci/tsan).
BOOST_AUTO_TEST_SUITE(gateway_concurrency)

BOOST_AUTO_TEST_CASE(failover_holds_when_requests_overlap) {
    // Regression: the channel pool's cursor is shared; a request whose first channel was slow
    // to fail found the cursor back on that channel and gave up instead of failing over.
    gw::gateway_config c = test_config();
    gw::channel_config slow500;
    slow500.name = "slow-500";
    slow500.mode = gw::failure_mode::status;
    slow500.status = 500;
    slow500.latency = 100ms;
    c.channels.push_back(slow500);
    c.models.push_back({"sim-race", {"slow-500", "ok-b"}, 8192});
    c.breaker.failure_threshold = 100; // keep the slow channel in rotation
    gateway_fixture g(c);
    net::io_context io;
    std::vector<unsigned> statuses;
    const auto url = examples::parse_base_url(g.url()).value();
    std::vector<std::unique_ptr<examples::http_connection>> conns;
    for (int i = 0; i < 4; ++i)
        conns.push_back(std::make_unique<examples::http_connection>(io.get_executor(), url));
    for (auto& conn : conns)
        net::co_spawn(
            io,
            [&, c = conn.get()]() -> net::awaitable<void> {
                const response r = co_await exchange(*c, verb::post, "/v1/chat/completions", alice,
                                                     chat_body("sim-race"));
                statuses.push_back(r.status);
            },
            net::detached);
    io.run();
    BOOST_TEST(statuses == (std::vector<unsigned>{200, 200, 200, 200}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(several_threads_serve_concurrent_connections) {
    gw::gateway_config c = test_config();
    c.threads = 2;
    gateway_fixture g(c);
    net::io_context io;
    const auto url = examples::parse_base_url(g.url()).value();
    std::vector<std::unique_ptr<examples::http_connection>> conns;
    for (int i = 0; i < 6; ++i)
        conns.push_back(std::make_unique<examples::http_connection>(io.get_executor(), url));
    std::size_t ok = 0, done = 0;
    for (std::size_t i = 0; i < conns.size(); ++i)
        net::co_spawn(
            io,
            [&, i]() -> net::awaitable<void> {
                for (int k = 0; k < 15; ++k) {
                    const bool stream = (i + static_cast<std::size_t>(k)) % 2 == 0;
                    const response r =
                        co_await exchange(*conns[i], verb::post, "/v1/chat/completions", alice,
                                          chat_body("gpt-sim", stream));
                    ok += r.status == 200 && (!stream || r.verdict == fl::sse::terminal::done);
                    ++done;
                }
            },
            net::detached);
    io.run();
    BOOST_TEST(done == 90u);
    BOOST_TEST(ok == 90u);
    BOOST_TEST(g.server().snapshot().requests == 90u);
    BOOST_TEST(g.server().snapshot().connections == 6u);
}

BOOST_AUTO_TEST_SUITE_END()

#ifdef FAULTLINE_EXAMPLES_REDIS
#include "support/redis_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <condition_variable>
#include <mutex>
#include <optional>

BOOST_AUTO_TEST_SUITE(gateway_redis)

// Two gateway processes' worth of servers, one Redis: a key's limit holds across both.
BOOST_AUTO_TEST_CASE(two_gateways_share_one_limit_through_redis) {
    faultline_test::redis_server redis;
    const auto limiter = [&] {
        return gw::make_redis_limiter(test_config(), "127.0.0.1",
                                      static_cast<std::uint16_t>(redis.port()), "test:");
    };
    gateway_fixture a(test_config(), clock_kind::manual, limiter());
    gateway_fixture b(test_config(), clock_kind::manual, limiter());
    BOOST_TEST(a.chat("sk-demo-limited", chat_body("gpt-sim")).status == 200u);
    BOOST_TEST(b.chat("sk-demo-limited", chat_body("gpt-sim")).status == 200u);
    const response r = a.chat("sk-demo-limited", chat_body("gpt-sim")); // the third of two a minute
    BOOST_TEST(r.status == 429u);
    BOOST_TEST(code_of(envelope_of(r)) == "rpm_exceeded");
    BOOST_TEST(r.header("retry-after") == "30"); // Redis' clock: 30 s less a few µs, rounded up
    BOOST_TEST(b.chat("sk-demo-limited", chat_body("gpt-sim")).status == 429u);
    // Other keys have their own buckets.
    BOOST_TEST(b.chat(alice, chat_body("gpt-sim")).status == 200u);
    bool logged_redis = false;
    for (const std::string& line : a.log())
        logged_redis |= line.find("by=redis") != std::string::npos;
    BOOST_TEST(logged_redis);
}

namespace {

// A TCP relay on 127.0.0.1 in front of Redis, run by a thread of its own. After `hold()` the
// bytes clients send wait in the relay (`wait_held()` says when some have arrived) until
// `release()` passes them on. Replies always pass. Made for one command in flight at a time.
class holding_relay {
public:
    explicit holding_relay(std::uint16_t to)
        : acceptor_(io_, {net::ip::make_address("127.0.0.1"), 0})
        , to_(to) {
        net::co_spawn(io_, accept(), net::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~holding_relay() {
        io_.stop();
        thread_.join();
    }
    holding_relay(const holding_relay&) = delete;
    holding_relay& operator=(const holding_relay&) = delete;

    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    void hold() {
        const std::lock_guard lock(m_);
        holding_ = true;
    }
    /// Whether held bytes arrived within 10 s.
    [[nodiscard]] bool wait_held() {
        std::unique_lock lock(m_);
        return arrived_.wait_for(lock, std::chrono::seconds(10), [&] { return held_bytes_ > 0; });
    }
    void release() {
        net::post(io_, [this] {
            const std::lock_guard lock(m_);
            holding_ = false;
            for (const std::shared_ptr<pair>& p : pairs_)
                if (!p->pending.empty())
                    net::co_spawn(io_, write(p, std::exchange(p->pending, {})), net::detached);
        });
    }

private:
    struct pair {
        examples::tcp::socket client, server;
        std::string pending;
    };
    static constexpr auto nothrow = net::as_tuple(net::use_awaitable);

    net::awaitable<void> accept() {
        for (;;) {
            auto [ec, client] = co_await acceptor_.async_accept(nothrow);
            if (ec) co_return;
            auto p =
                std::make_shared<pair>(pair{std::move(client), examples::tcp::socket(io_), {}});
            auto [cec] = co_await p->server.async_connect({net::ip::make_address("127.0.0.1"), to_},
                                                          nothrow);
            if (cec) co_return;
            {
                const std::lock_guard lock(m_);
                pairs_.push_back(p);
            }
            net::co_spawn(io_, up(p), net::detached);
            net::co_spawn(io_, down(p), net::detached);
        }
    }
    net::awaitable<void> up(std::shared_ptr<pair> p) {
        char buf[4096];
        for (;;) {
            auto [ec, n] = co_await p->client.async_read_some(net::buffer(buf), nothrow);
            if (ec) co_return;
            {
                const std::lock_guard lock(m_);
                if (holding_) {
                    p->pending.append(buf, n);
                    held_bytes_ += n;
                    arrived_.notify_all();
                    continue;
                }
            }
            co_await write(p, std::string(buf, n));
        }
    }
    net::awaitable<void> down(std::shared_ptr<pair> p) {
        char buf[4096];
        for (;;) {
            auto [ec, n] = co_await p->server.async_read_some(net::buffer(buf), nothrow);
            if (ec) co_return;
            auto [wec, m] = co_await net::async_write(p->client, net::buffer(buf, n), nothrow);
            if (wec) co_return;
        }
    }
    static net::awaitable<void> write(std::shared_ptr<pair> p, std::string bytes) {
        (void)co_await net::async_write(p->server, net::buffer(bytes), nothrow);
    }

    net::io_context io_;
    examples::tcp::acceptor acceptor_;
    std::uint16_t to_;
    std::mutex m_;
    std::condition_variable arrived_;
    bool holding_ = false;
    std::size_t held_bytes_ = 0;
    std::vector<std::shared_ptr<pair>> pairs_;
    std::thread thread_;
};

} // namespace

// A decision waiting on Redis does not hold the gateway's one I/O thread: while the relay holds
// a chat request's command, another request is answered. The held request is then decided by
// Redis (the key's two requests a minute are spent there: 429 by=redis), not by the local
// fallback a timed-out command would have led to (fresh local buckets: 200).
BOOST_AUTO_TEST_CASE(a_decision_waiting_on_redis_leaves_the_io_thread_free) {
    faultline_test::redis_server redis;
    holding_relay relay(static_cast<std::uint16_t>(redis.port()));
    gw::gateway_config c = test_config();
    c.threads = 1;
    gateway_fixture g(
        c, clock_kind::manual,
        gw::make_redis_limiter(c, "127.0.0.1", relay.port(), "test:", std::chrono::seconds(5)));
    BOOST_TEST(g.chat("sk-demo-limited", chat_body("gpt-sim")).status == 200u);
    BOOST_TEST(g.chat("sk-demo-limited", chat_body("gpt-sim")).status == 200u);
    relay.hold();
    std::optional<response> held_chat;
    std::thread caller([&] { held_chat = g.chat("sk-demo-limited", chat_body("gpt-sim")); });
    const bool held = relay.wait_held();
    const response other = g.request(verb::get, "/v1/models", alice);
    const gw::stats meanwhile = g.server().snapshot();
    relay.release();
    caller.join();
    BOOST_TEST(held);
    BOOST_TEST(other.status == 200u);
    BOOST_TEST(meanwhile.ok == 3u); // two chats and the models
    BOOST_TEST(meanwhile.rate_limited == 0u);
    BOOST_TEST_REQUIRE(held_chat.has_value());
    BOOST_TEST(held_chat->status == 429u);
    bool by_redis = false, by_local = false;
    for (const std::string& line : g.log()) {
        by_redis |= line.find("by=redis") != std::string::npos;
        by_local |= line.find("by=local") != std::string::npos;
    }
    BOOST_TEST(by_redis);
    BOOST_TEST(!by_local);
}

BOOST_AUTO_TEST_CASE(redis_down_falls_back_to_per_process_limits) {
    std::uint16_t port = 0;
    {
        net::io_context io;
        examples::tcp::acceptor acc(io, {net::ip::make_address("127.0.0.1"), 0});
        port = acc.local_endpoint().port();
    } // nothing listens there now
    gateway_fixture g(test_config(), clock_kind::manual,
                      gw::make_redis_limiter(test_config(), "127.0.0.1", port, "test:"));
    BOOST_TEST(g.chat("sk-demo-limited", chat_body("gpt-sim")).status == 200u);
    BOOST_TEST(g.chat("sk-demo-limited", chat_body("gpt-sim")).status == 200u);
    const response r = g.chat("sk-demo-limited", chat_body("gpt-sim"));
    BOOST_TEST(r.status == 429u); // the local buckets still limit
    bool logged_local = false;
    for (const std::string& line : g.log())
        logged_local |= line.find("by=local") != std::string::npos;
    BOOST_TEST(logged_local);
}

BOOST_AUTO_TEST_SUITE_END()
#endif

// The simulated upstream over real sockets: a sim_server on 127.0.0.1, driven by the examples'
// HTTP client (and a TLS client with verification on), one case per way a channel answers.
#include "upstream-sim/sim.hpp"

#include "gateway_fixture.hpp"
#include "tls_fixture.hpp"

#include <faultline/envelope.hpp>

#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>

namespace fl = faultline;
namespace json = boost::json;
namespace us = examples::upstream_sim;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
using namespace examples_test;
using http::verb;

namespace {

// A sim_server on an ephemeral port, run by a thread of its own.
class sim_fixture {
public:
    explicit sim_fixture(std::vector<gw::channel_config> channels, us::sim_options o = {}) {
        sim_ =
            std::make_unique<us::sim_server>(io_.get_executor(), std::move(channels), std::move(o));
        port_ = sim_->listen().value();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~sim_fixture() {
        io_.stop();
        thread_.join();
    }
    sim_fixture(const sim_fixture&) = delete;
    sim_fixture& operator=(const sim_fixture&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] us::sim_server& sim() noexcept { return *sim_; }

    // Runs `body(connection)` on a fresh client connection, blocking.
    template <class Body>
    void with_connection(Body body) {
        net::io_context io;
        net::co_spawn(
            io,
            [&]() -> net::awaitable<void> {
                examples::http_connection conn(
                    io.get_executor(),
                    examples::parse_base_url("http://127.0.0.1:" + std::to_string(port_)).value());
                co_await body(conn);
            },
            net::detached);
        io.run();
    }

    // One request on a fresh connection, blocking.
    response request(verb method, std::string target, std::string body = {}) {
        response out;
        with_connection([&](examples::http_connection& conn) -> net::awaitable<void> {
            out = co_await exchange(conn, method, target, "", body);
        });
        return out;
    }
    response chat(std::string_view ch, std::string body) {
        return request(verb::post, "/" + std::string(ch) + "/v1/chat/completions", std::move(body));
    }

private:
    net::io_context io_;
    std::unique_ptr<us::sim_server> sim_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

fl::error_envelope envelope_of(const response& r) {
    auto env = fl::parse_envelope(r.body);
    BOOST_TEST_REQUIRE(env.has_value(), "not an error envelope: " << r.body);
    return env.value();
}

// Whole milliseconds since `start` (a lower bound the sim guarantees: it never answers early).
std::int64_t elapsed_ms(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start)
        .count();
}

// A Boost.System code as the client's results hold it.
std::error_code std_code(boost::system::error_code ec) {
    return ec;
}

std::string code_of(const fl::error_envelope& e) {
    return std::holds_alternative<std::string>(e.code) ? std::get<std::string>(e.code) : "";
}

// One request over TLS to 127.0.0.1:port, verifying the server as `host_name` (SNI too, when
// it is a name); the whole response, a stream read through the monitor.
response tls_request(std::uint16_t port, ssl::context& ctx, const std::string& host_name,
                     std::string target, std::string body) {
    constexpr auto nothrow = net::as_tuple(net::use_awaitable);
    net::io_context io;
    response out;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            beast::ssl_stream<beast::tcp_stream> s(io.get_executor(), ctx);
            boost::system::error_code ec;
            if (net::ip::make_address(host_name, ec); ec)
                BOOST_TEST_REQUIRE(SSL_set_tlsext_host_name(s.native_handle(), host_name.c_str()) ==
                                   1);
            s.set_verify_callback(ssl::host_name_verification(host_name));
            auto& lowest = beast::get_lowest_layer(s);
            lowest.expires_after(10s);
            auto [cec] = co_await lowest.async_connect(
                net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port), nothrow);
            if (cec) {
                out.ec = cec;
                co_return;
            }
            auto [hec] = co_await s.async_handshake(ssl::stream_base::client, nothrow);
            if (hec) {
                out.ec = hec;
                co_return;
            }
            http::request<http::string_body> req{verb::post, target, 11};
            req.set(http::field::host, host_name);
            req.set(http::field::content_type, "application/json");
            req.body() = std::move(body);
            req.prepare_payload();
            auto [wec, wn] = co_await http::async_write(s, req, nothrow);
            (void)wn;
            beast::flat_buffer buffer;
            http::response_parser<http::string_body> parser;
            parser.body_limit(std::uint64_t(64) << 20);
            auto [rec, rn] = co_await http::async_read(s, buffer, parser, nothrow);
            (void)rn;
            out.ec = wec ? wec : rec;
            if (!parser.is_header_done()) co_return;
            http::response<http::string_body>& res = parser.get();
            out.status = res.result_int();
            for (const auto& f : res.base())
                out.headers.insert(f.name_string(), f.value());
            out.body = std::move(res.body());
            if (out.header("content-type") == "text/event-stream") {
                fl::sse::monitor<any_line_handler> monitor(std::chrono::steady_clock::now());
                (void)monitor.feed(out.body, std::chrono::steady_clock::now());
                const fl::sse::verdict v = monitor.finish();
                out.verdict = v.kind;
                out.stream_failure = v.failure;
                out.content_events = monitor.content_events();
            }
            (void)co_await s.async_shutdown(nothrow);
        },
        net::detached);
    io.run();
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(upstream_sim)

BOOST_AUTO_TEST_CASE(completion_is_the_simulated_reply) {
    sim_fixture f({channel("ok")});
    const response r = f.chat("ok", chat_body("m-1"));
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.header("content-type") == "application/json");
    BOOST_TEST(r.header("content-length") == std::to_string(r.body.size()));
    const json::value v = json::parse(r.body);
    BOOST_TEST(v.at("object").as_string() == "chat.completion");
    BOOST_TEST(v.at("id").as_string() == "chatcmpl-ok-0");
    BOOST_TEST(v.at("model").as_string() == "m-1");
    BOOST_TEST(v.at("choices").at(0).at("message").at("content").as_string() ==
               "Failing well means saying what broke, whether to");
    // Four tokens per message and a quarter of "hi", as the gateway estimates.
    BOOST_TEST(v.at("usage").at("prompt_tokens").as_int64() == 5);
    BOOST_TEST(v.at("usage").at("completion_tokens").as_int64() == 8);
    BOOST_TEST(f.sim().snapshot().calls_to("ok") == 1u);
}

BOOST_AUTO_TEST_CASE(max_tokens_bounds_the_reply) {
    sim_fixture f({channel("ok")});
    const response r = f.chat("ok", chat_body("m", false, 3));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(json::parse(r.body).at("usage").at("completion_tokens").as_int64() == 3);
}

BOOST_AUTO_TEST_CASE(stream_is_chunked_and_ends_with_done) {
    sim_fixture f({channel("ok")});
    const response r = f.chat("ok", chat_body("m", true));
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.header("content-type") == "text/event-stream");
    BOOST_TEST(r.header("transfer-encoding") == "chunked");
    BOOST_TEST(r.verdict == fl::sse::terminal::done);
    BOOST_TEST(r.content_events == 9u); // 8 words and the finish chunk with usage
    BOOST_TEST(r.body.ends_with("data: [DONE]\n\n"));
}

BOOST_AUTO_TEST_CASE(responses_api_answers_in_its_own_shape) {
    sim_fixture f({channel("ok")});
    const auto responses = [&](std::string body) {
        return f.request(verb::post, "/ok/v1/responses", std::move(body));
    };
    const response r = responses(R"({"model":"m-1","input":"hi","max_output_tokens":3})");
    BOOST_TEST(r.status == 200u);
    const json::value v = json::parse(r.body);
    BOOST_TEST(v.at("object").as_string() == "response");
    BOOST_TEST(v.at("status").as_string() == "completed");
    BOOST_TEST(v.at("id").as_string() == "resp-ok-0");
    BOOST_TEST(v.at("output").at(0).at("content").at(0).at("text").as_string() ==
               "Failing well means");
    BOOST_TEST(v.at("usage").at("input_tokens").as_int64() == 5);
    BOOST_TEST(v.at("usage").at("output_tokens").as_int64() == 3);

    // A stream: response.created, a delta per word, response.completed with the usage; no
    // [DONE]. The monitor finds its protocol and its end.
    const response s = responses(R"({"model":"m","input":[{"role":"user","content":"hi"}],"stream":true})");
    BOOST_TEST(s.status == 200u);
    BOOST_TEST(s.verdict == fl::sse::terminal::done);
    BOOST_TEST(s.body.starts_with("event: response.created\n"));
    BOOST_TEST(s.body.find("[DONE]") == std::string::npos);
    BOOST_TEST(s.body.find("event: response.completed\n") != std::string::npos);
    std::size_t deltas = 0;
    for (std::size_t at = s.body.find("event: response.output_text.delta"); at != std::string::npos;
         at = s.body.find("event: response.output_text.delta", at + 1))
        ++deltas;
    BOOST_TEST(deltas == 8u);
    BOOST_TEST(f.sim().snapshot().calls_to("ok") == 2u);
}

BOOST_AUTO_TEST_CASE(responses_api_failures_mid_stream_are_error_events) {
    gw::channel_config ch = channel("e", gw::failure_mode::midstream_error);
    ch.fail_after = 2;
    sim_fixture f({ch});
    const response r =
        f.request(verb::post, "/e/v1/responses", R"({"model":"m","input":"hi","stream":true})");
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.verdict == fl::sse::terminal::error);
    BOOST_TEST_REQUIRE(r.stream_failure.has_value());
    BOOST_TEST(r.body.find("event: error\n") != std::string::npos);
    BOOST_TEST(r.body.find("response.completed") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(responses_api_bad_bodies_are_400) {
    sim_fixture f({channel("ok")});
    const std::vector<std::pair<std::string, std::string>> rows{
        {"{not json", ""},
        {R"({"model":"m"})", "input"},
        {R"({"model":"m","input":""})", "input"},
        {R"({"model":"m","input":[]})", "input"},
        {R"({"model":"m","input":7})", "input"},
        {R"({"input":"hi"})", "model"},
        {R"({"model":"m","input":"hi","stream":1})", "stream"},
        {R"({"model":"m","input":"hi","max_output_tokens":0})", "max_output_tokens"},
        {R"({"model":"m","input":"hi","max_output_tokens":1000001})", "max_output_tokens"},
    };
    for (const auto& [body, param] : rows) {
        const response r = f.request(verb::post, "/ok/v1/responses", body);
        BOOST_TEST(r.status == 400u, body);
        BOOST_TEST(envelope_of(r).param.value_or("") == param, body);
    }
    BOOST_TEST(f.request(verb::get, "/ok/v1/responses").status == 405u);
    BOOST_TEST(f.sim().snapshot().calls_to("ok") == 0u);
}

BOOST_AUTO_TEST_CASE(status_mode_passes_status_headers_and_body) {
    struct row {
        unsigned status;
        std::string body;
        std::vector<std::pair<std::string, std::string>> headers;
        std::string content_type;
    };
    const std::vector<row> rows{
        {429,
         R"({"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}})",
         {{"Retry-After", "2"}},
         "application/json"},
        {502,
         "<html><body>502 Bad Gateway</body></html>",
         {{"Content-Type", "text/html"}},
         "text/html"},
        {529,
         R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})",
         {},
         "application/json"},
    };
    for (const row& w : rows) {
        gw::channel_config ch = channel("s", gw::failure_mode::status);
        ch.status = w.status;
        ch.body = w.body;
        ch.headers = w.headers;
        sim_fixture f({ch});
        for (const bool stream : {false, true}) {
            const response r = f.chat("s", chat_body("m", stream));
            BOOST_TEST(!r.ec);
            BOOST_TEST(r.status == w.status);
            BOOST_TEST(r.body == w.body);
            BOOST_TEST(r.header("content-type") == w.content_type);
            for (const auto& [name, value] : w.headers)
                BOOST_TEST(r.header(name) == value);
        }
    }
}

BOOST_AUTO_TEST_CASE(status_mode_without_a_body_sends_the_openai_shape) {
    gw::channel_config ch = channel("s", gw::failure_mode::status);
    ch.status = 503;
    sim_fixture f({ch});
    const response r = f.chat("s", chat_body("m"));
    BOOST_TEST(r.status == 503u);
    BOOST_TEST(envelope_of(r).message == "Upstream answered 503 Service Unavailable");
}

BOOST_AUTO_TEST_CASE(dead_resets_the_connection_without_a_head) {
    sim_fixture f({channel("d", gw::failure_mode::dead)});
    const response r = f.chat("d", chat_body("m"));
    BOOST_TEST(r.ec == std_code(net::error::connection_reset));
    BOOST_TEST(r.status == 0u);
    BOOST_TEST(f.sim().snapshot().calls_to("d") == 1u);
}

BOOST_AUTO_TEST_CASE(timeout_is_held_without_a_head_then_closed) {
    us::sim_options o;
    o.hold_limit = 50ms;
    sim_fixture f({channel("t", gw::failure_mode::timeout)}, o);
    const auto start = std::chrono::steady_clock::now();
    const response r = f.chat("t", chat_body("m"));
    // Closed by the sim (the client waits 10 s), never before the hold limit.
    BOOST_TEST(r.ec == std_code(http::error::end_of_stream));
    BOOST_TEST(r.status == 0u);
    BOOST_TEST(elapsed_ms(start) >= 50);
}

BOOST_AUTO_TEST_CASE(latency_comes_before_the_head) {
    gw::channel_config ch = channel("l");
    ch.latency = 30ms;
    sim_fixture f({ch});
    const auto start = std::chrono::steady_clock::now();
    const response r = f.chat("l", chat_body("m", true));
    BOOST_TEST(r.verdict == fl::sse::terminal::done);
    BOOST_TEST(elapsed_ms(start) >= 30);
}

BOOST_AUTO_TEST_CASE(slow_stream_paces_its_pieces) {
    gw::channel_config ch = channel("slow", gw::failure_mode::slow);
    ch.chunks = 3;
    ch.chunk_interval = 20ms; // pieces at 0, 20, 40 ms and the finish at 60 ms
    sim_fixture f({ch});
    const auto start = std::chrono::steady_clock::now();
    const response r = f.chat("slow", chat_body("m", true));
    BOOST_TEST(r.verdict == fl::sse::terminal::done);
    BOOST_TEST(r.content_events == 4u);
    BOOST_TEST(elapsed_ms(start) >= 60);
}

BOOST_AUTO_TEST_CASE(upstream_cutoff_ends_the_body_early) {
    gw::channel_config ch = channel("c", gw::failure_mode::upstream_cutoff);
    ch.fail_after = 3;
    sim_fixture f({ch});
    const response r = f.chat("c", chat_body("m", true));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.ec == std_code(http::error::partial_message));
    BOOST_TEST(r.content_events == 3u);
    BOOST_TEST(r.verdict == fl::sse::terminal::eof_without_done);
    // A non-streaming call to such a channel succeeds.
    BOOST_TEST(f.chat("c", chat_body("m")).status == 200u);
}

BOOST_AUTO_TEST_CASE(midstream_error_sends_an_error_chunk_then_done) {
    gw::channel_config ch = channel("e", gw::failure_mode::midstream_error);
    ch.fail_after = 2;
    sim_fixture f({ch});
    const response r = f.chat("e", chat_body("m", true));
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.content_events == 2u);
    BOOST_TEST(r.verdict == fl::sse::terminal::error);
    BOOST_TEST_REQUIRE(r.stream_failure.has_value());
    BOOST_TEST(r.stream_failure->message.find("lost its GPU") != std::string::npos);
    BOOST_TEST(r.body.ends_with("data: [DONE]\n\n"));
}

BOOST_AUTO_TEST_CASE(huge_line_arrives_whole) {
    gw::channel_config ch = channel("h", gw::failure_mode::huge_line);
    ch.line_bytes = (std::size_t(3) << 20) + 123; // whole 64 KiB pieces and a remainder
    sim_fixture f({ch});
    const response r = f.chat("h", chat_body("m", true));
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.verdict == fl::sse::terminal::done);
    const std::size_t from = r.body.find("base64,");
    BOOST_TEST_REQUIRE(from != std::string::npos);
    const std::size_t to = r.body.find('"', from);
    BOOST_TEST_REQUIRE(to != std::string::npos);
    const std::string_view line = std::string_view(r.body).substr(from + 7, to - from - 7);
    BOOST_TEST(line.size() == ch.line_bytes);
    BOOST_TEST(std::count(line.begin(), line.end(), 'A') == std::ptrdiff_t(ch.line_bytes));
}

BOOST_AUTO_TEST_CASE(pattern_fs_alternates_by_call_number) {
    gw::channel_config ch = channel("flaky", gw::failure_mode::status);
    ch.status = 503;
    ch.pattern = "FS";
    sim_fixture f({ch, channel("other")});
    std::vector<unsigned> statuses;
    for (int i = 0; i < 4; ++i)
        statuses.push_back(f.chat("flaky", chat_body("m")).status);
    BOOST_TEST(statuses == (std::vector<unsigned>{503, 200, 503, 200}),
               boost::test_tools::per_element());
    const us::stats st = f.sim().snapshot();
    BOOST_TEST(st.calls_to("flaky") == 4u);
    BOOST_TEST(st.calls_to("other") == 0u);
    BOOST_TEST(st.calls.size() == 2u);
}

BOOST_AUTO_TEST_CASE(keep_alive_serves_several_requests_on_one_connection) {
    sim_fixture f({channel("ok")});
    std::vector<unsigned> statuses;
    std::vector<fl::sse::terminal> verdicts;
    f.with_connection([&](examples::http_connection& c) -> net::awaitable<void> {
        for (int i = 0; i < 4; ++i) {
            const response r = co_await exchange(c, verb::post, "/ok/v1/chat/completions", "",
                                                 chat_body("m", i % 2 == 1));
            statuses.push_back(r.status);
            if (i % 2 == 1) verdicts.push_back(r.verdict);
        }
        const response m = co_await exchange(c, verb::get, "/ok/v1/models", "", "");
        statuses.push_back(m.status);
    });
    BOOST_TEST(statuses == (std::vector<unsigned>{200, 200, 200, 200, 200}),
               boost::test_tools::per_element());
    BOOST_TEST(verdicts.size() == 2u);
    for (const auto v : verdicts)
        BOOST_TEST(v == fl::sse::terminal::done);
    const us::stats st = f.sim().snapshot();
    BOOST_TEST(st.connections == 1u);
    BOOST_TEST(st.requests == 5u);
    BOOST_TEST(st.calls_to("ok") == 4u);
}

BOOST_AUTO_TEST_CASE(models_lists_the_channel) {
    sim_fixture f({channel("ok")});
    const response r = f.request(verb::get, "/ok/v1/models?x=1");
    BOOST_TEST(r.status == 200u);
    const json::value v = json::parse(r.body);
    BOOST_TEST(v.at("object").as_string() == "list");
    BOOST_TEST(v.at("data").at(0).at("id").as_string() == "ok");
    BOOST_TEST(f.sim().snapshot().calls_to("ok") == 0u); // not a call
}

BOOST_AUTO_TEST_CASE(unknown_channel_or_path_is_404) {
    sim_fixture f({channel("ok")});
    for (const std::string target : {"/nope/v1/chat/completions", "/v1/chat/completions",
                                     "/ok/v1/embeddings", "/", "//v1/models"}) {
        const response r = f.request(verb::post, target, chat_body("m"));
        BOOST_TEST(r.status == 404u, target);
        BOOST_TEST(code_of(envelope_of(r)) == "not_found", target);
    }
    BOOST_TEST(envelope_of(f.chat("nope", chat_body("m"))).message == "Unknown channel 'nope'.");
}

BOOST_AUTO_TEST_CASE(wrong_method_is_405_with_allow) {
    sim_fixture f({channel("ok")});
    const response get_chat = f.request(verb::get, "/ok/v1/chat/completions");
    BOOST_TEST(get_chat.status == 405u);
    BOOST_TEST(get_chat.header("allow") == "POST");
    BOOST_TEST(code_of(envelope_of(get_chat)) == "method_not_allowed");
    const response post_models = f.request(verb::post, "/ok/v1/models", "{}");
    BOOST_TEST(post_models.status == 405u);
    BOOST_TEST(post_models.header("allow") == "GET");
}

BOOST_AUTO_TEST_CASE(bad_bodies_are_400_and_not_calls) {
    sim_fixture f({channel("ok")});
    const std::vector<std::pair<std::string, std::string>> rows{
        {"{not json", ""},
        {"[1,2]", ""},
        {R"({"model":"m"})", "messages"},
        {R"({"model":"m","messages":[]})", "messages"},
        {R"({"messages":[{"role":"user","content":"hi"}]})", "model"},
        {R"({"model":"m","messages":[{}],"stream":"yes"})", "stream"},
        {R"({"model":"m","messages":[{}],"max_tokens":0})", "max_tokens"},
        {R"({"model":"m","messages":[{}],"max_tokens":1.5})", "max_tokens"},
        {std::string(40, '[') + std::string(40, ']'), ""},
    };
    for (const auto& [body, param] : rows) {
        const response r = f.chat("ok", body);
        BOOST_TEST(r.status == 400u, body);
        const fl::error_envelope env = envelope_of(r);
        BOOST_TEST(env.param.value_or("") == param, body);
        BOOST_TEST(code_of(env) == "invalid_request", body);
    }
    BOOST_TEST(f.sim().snapshot().calls_to("ok") == 0u);
}

BOOST_AUTO_TEST_CASE(oversized_body_is_413) {
    sim_fixture f({channel("ok")});
    const response r =
        f.chat("ok", chat_body("m", false, 0, std::string(std::size_t(1) << 20, 'x')));
    BOOST_TEST(!r.ec);
    BOOST_TEST(r.status == 413u);
    BOOST_TEST(r.header("connection") == "close");
    BOOST_TEST(code_of(envelope_of(r)) == "payload_too_large");
    // The next connection is served as usual.
    BOOST_TEST(f.chat("ok", chat_body("m")).status == 200u);
}

BOOST_AUTO_TEST_CASE(malformed_http_is_400) {
    sim_fixture f({channel("ok")});
    net::io_context io;
    std::string answer;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            constexpr auto nothrow = net::as_tuple(net::use_awaitable);
            net::ip::tcp::socket s(io);
            (void)co_await s.async_connect({net::ip::make_address("127.0.0.1"), f.port()}, nothrow);
            const std::string garbage = "POST /ok/v1/chat/completions HTTP/1.1\r\nno colon\r\n\r\n";
            (void)co_await net::async_write(s, net::buffer(garbage), nothrow);
            char buf[4096];
            for (;;) {
                auto [ec, n] = co_await s.async_read_some(net::buffer(buf), nothrow);
                answer.append(buf, n);
                if (ec) break;
            }
        },
        net::detached);
    io.run();
    BOOST_TEST(answer.starts_with("HTTP/1.1 400 "), answer);
    BOOST_TEST(answer.find("invalid_request") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(configuration_is_validated) {
    net::io_context io;
    const auto refused = [&](std::vector<gw::channel_config> channels, us::sim_options o = {}) {
        try {
            us::sim_server s(io.get_executor(), std::move(channels), std::move(o));
        } catch (const std::invalid_argument&) {
            return true;
        }
        return false;
    };
    BOOST_TEST(refused({channel("")}));
    BOOST_TEST(refused({channel("a/b")}));
    BOOST_TEST(refused({channel("a b")}));
    BOOST_TEST(refused({channel("a"), channel("a")}));
    us::sim_options o;
    o.hold_limit = -1ms;
    BOOST_TEST(refused({channel("a")}, o));
    o = {};
    o.read_timeout = 0ms;
    BOOST_TEST(refused({channel("a")}, o));
    o = {};
    o.max_body = 0;
    BOOST_TEST(refused({channel("a")}, o));
    BOOST_TEST(!refused({channel("a-1._~")}));
    BOOST_TEST(us::validate({channel("a"), channel("a")}) ==
               "channels[1]: the name 'a' is already channels[0]'s");
    BOOST_TEST(us::validate(gw::demo_config().channels) == "");

    o = {};
    o.host = "not-an-address";
    us::sim_server s(io.get_executor(), {channel("a")}, o);
    const auto bound = s.listen();
    BOOST_TEST_REQUIRE(!bound);
    BOOST_TEST(bound.error() == fl::error::invalid_request);
}

BOOST_AUTO_TEST_CASE(tls_context_errors_are_typed) {
    tls_files tls;
    const auto missing = us::make_tls_context(tls.cert_file() + ".missing", tls.key_file());
    BOOST_TEST_REQUIRE(!missing);
    BOOST_TEST(!missing.error().message().empty());
    // A key that is not the certificate's.
    tls_files other;
    const auto mismatched = us::make_tls_context(tls.cert_file(), other.key_file());
    BOOST_TEST(!mismatched);
    BOOST_TEST(us::make_tls_context(tls.cert_file(), tls.key_file()).has_value());
}

BOOST_AUTO_TEST_CASE(https_completion_and_stream_with_verification) {
    tls_files tls;
    us::sim_options o;
    o.tls = us::make_tls_context(tls.cert_file(), tls.key_file()).value();
    sim_fixture f({channel("ok")}, o);
    BOOST_TEST(f.sim().tls());
    ssl::context client = tls.client_context();
    for (const std::string host : {"localhost", "127.0.0.1"}) {
        const response r =
            tls_request(f.port(), client, host, "/ok/v1/chat/completions", chat_body("m"));
        BOOST_TEST(!r.ec, r.ec.message());
        BOOST_TEST(r.status == 200u);
        BOOST_TEST(json::parse(r.body).at("object").as_string() == "chat.completion");
    }
    const response s =
        tls_request(f.port(), client, "localhost", "/ok/v1/chat/completions", chat_body("m", true));
    BOOST_TEST(!s.ec, s.ec.message());
    BOOST_TEST(s.header("transfer-encoding") == "chunked");
    BOOST_TEST(s.verdict == fl::sse::terminal::done);
    BOOST_TEST(s.content_events == 9u);
    BOOST_TEST(f.sim().snapshot().calls_to("ok") == 3u);
}

BOOST_AUTO_TEST_CASE(https_failures_look_as_over_http) {
    tls_files tls;
    us::sim_options o;
    o.tls = tls.server_context();
    o.hold_limit = 20ms;
    gw::channel_config cut = channel("cut", gw::failure_mode::upstream_cutoff);
    cut.fail_after = 2;
    sim_fixture f(
        {cut, channel("dead", gw::failure_mode::dead), channel("held", gw::failure_mode::timeout)},
        o);
    ssl::context client = tls.client_context();
    const response c = tls_request(f.port(), client, "localhost", "/cut/v1/chat/completions",
                                   chat_body("m", true));
    BOOST_TEST(c.ec == std_code(http::error::partial_message), c.ec.message());
    BOOST_TEST(c.status == 200u);
    BOOST_TEST(c.body.find("\"content\":\" well\"") != std::string::npos);
    const response d =
        tls_request(f.port(), client, "localhost", "/dead/v1/chat/completions", chat_body("m"));
    BOOST_TEST(d.ec == std_code(net::error::connection_reset), d.ec.message());
    const response h =
        tls_request(f.port(), client, "localhost", "/held/v1/chat/completions", chat_body("m"));
    BOOST_TEST(h.ec, h.ec.message());
    BOOST_TEST(h.status == 0u);
}

BOOST_AUTO_TEST_CASE(https_refuses_a_client_that_does_not_trust_it) {
    tls_files tls;
    us::sim_options o;
    o.tls = tls.server_context();
    sim_fixture f({channel("ok")}, o);
    // A client trusting another certificate, and one checking another name.
    tls_files other;
    ssl::context stranger = other.client_context();
    const response untrusted =
        tls_request(f.port(), stranger, "localhost", "/ok/v1/chat/completions", chat_body("m"));
    BOOST_TEST(untrusted.ec.message().find("certificate verify failed") != std::string::npos,
               untrusted.ec.message());
    BOOST_TEST(untrusted.status == 0u);
    ssl::context client = tls.client_context();
    const response wrong_name =
        tls_request(f.port(), client, "example.com", "/ok/v1/chat/completions", chat_body("m"));
    BOOST_TEST(wrong_name.ec.message().find("certificate verify failed") != std::string::npos,
               wrong_name.ec.message());
    BOOST_TEST(f.sim().snapshot().calls_to("ok") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

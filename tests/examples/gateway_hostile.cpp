// The gateway against hostile clients, over real sockets on 127.0.0.1 and with raw bytes where a
// well-behaved client could not send them: request smuggling through Transfer-Encoding, HEAD
// and Expect: 100-continue, parallel requests racing a spend budget, and clients that hold
// connections open without finishing their requests. No test sleeps: each waits on its socket
// with a deadline.
#include "gateway/gateway.hpp"

#include "gateway_fixture.hpp"

#include <faultline/envelope.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/test/unit_test.hpp>

#include <memory>

namespace fl = faultline;
namespace beast = boost::beast;
using namespace examples_test;
using tcp = net::ip::tcp;

namespace {

const std::string alice = "sk-demo-alice";

// What a raw client read before the server closed the connection, or before its deadline.
struct raw_reply {
    std::string bytes;
    bool closed = false; ///< The server ended the connection (EOF or reset) before the deadline.
};

net::awaitable<void> read_until_closed(beast::tcp_stream& s, raw_reply& out,
                                       std::chrono::milliseconds deadline) {
    s.expires_after(deadline);
    char buf[4096];
    for (;;) {
        auto [ec, n] =
            co_await s.async_read_some(net::buffer(buf), net::as_tuple(net::use_awaitable));
        out.bytes.append(buf, n);
        if (ec) {
            out.closed = ec != beast::error::timeout;
            co_return;
        }
    }
}

// Sends `bytes` on a fresh connection, then reads until the server closes it or `deadline`.
raw_reply raw_exchange(std::uint16_t port, std::string bytes,
                       std::chrono::milliseconds deadline = 10s) {
    net::io_context io;
    raw_reply out;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            beast::tcp_stream s(io);
            s.expires_after(deadline);
            co_await s.async_connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port},
                                     net::use_awaitable);
            co_await net::async_write(s, net::buffer(bytes), net::use_awaitable);
            co_await read_until_closed(s, out, deadline);
        },
        net::detached);
    io.run();
    return out;
}

std::size_t count_of(std::string_view haystack, std::string_view needle) {
    std::size_t n = 0;
    for (std::size_t at = 0; (at = haystack.find(needle, at)) != std::string_view::npos;
         at += needle.size())
        ++n;
    return n;
}

// The body of the first response in `bytes` (everything after its header).
std::string_view body_after_head(std::string_view bytes) {
    const std::size_t end = bytes.find("\r\n\r\n");
    return end == std::string_view::npos ? std::string_view() : bytes.substr(end + 4);
}

// Connects, sends `head` (a request header with `Expect: 100-continue`) and reads the interim
// answer into `interim`: only its bytes, up to the first blank line. Empty on a read error.
net::awaitable<void> send_head_read_interim(beast::tcp_stream& s, std::uint16_t port,
                                            const std::string& head, std::string& interim) {
    s.expires_after(10s);
    co_await s.async_connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port},
                             net::use_awaitable);
    co_await net::async_write(s, net::buffer(head), net::use_awaitable);
    s.expires_after(5s);
    char c;
    while (!interim.ends_with("\r\n\r\n")) {
        auto [ec, n] =
            co_await s.async_read_some(net::buffer(&c, 1), net::as_tuple(net::use_awaitable));
        if (ec) {
            interim.clear();
            co_return;
        }
        interim.append(&c, n);
    }
}

std::string head_of(std::string_view target, std::string_view method = "POST",
                    std::string_view extra = "") {
    return std::string(method) + " " + std::string(target) +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + alice +
           "\r\nContent-Type: application/json\r\n" + std::string(extra);
}

// A request a front proxy would not see if the gateway read the framing differently from it.
const std::string smuggled =
    "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + alice + "\r\n\r\n";

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_hostile)

// RFC 9112 §6.1: a request whose Transfer-Encoding does not end in chunked has no length the
// server can know. Beast reads such a body as empty, so the bytes behind the header used to run
// as a second request (here a GET /v1/models that answered 200).
BOOST_AUTO_TEST_CASE(transfer_encoding_other_than_chunked_is_400_and_closes) {
    gateway_fixture g;
    for (const char* te : {"xchunked", "chunked, gzip", "gzip", "gzip, chunked", "identity",
                           "chunked, chunked", "chunked;x=1"}) {
        const raw_reply r =
            raw_exchange(g.port(), head_of("/v1/chat/completions", "POST",
                                           "Transfer-Encoding: " + std::string(te) + "\r\n\r\n") +
                                       smuggled);
        BOOST_TEST(r.closed, te);
        BOOST_TEST(r.bytes.starts_with("HTTP/1.1 400 "), te << ": " << r.bytes);
        BOOST_TEST(count_of(r.bytes, "HTTP/1.1 ") == 1u, te << ": " << r.bytes);
        BOOST_TEST(r.bytes.find("Connection: close\r\n") != std::string::npos, te);
        const auto env = fl::parse_envelope(body_after_head(r.bytes));
        BOOST_TEST_REQUIRE(env.has_value(), te << ": " << r.bytes);
        BOOST_TEST(env.value().type.value_or("") == "invalid_request_error", te);
        BOOST_TEST(env.value().message.find("Transfer-Encoding") != std::string::npos,
                   env.value().message);
    }
    // Two Transfer-Encoding fields are one list: "gzip" then "chunked" is "gzip, chunked".
    const raw_reply two = raw_exchange(
        g.port(), head_of("/v1/chat/completions", "POST",
                          "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n") +
                      "0\r\n\r\n" + smuggled);
    BOOST_TEST(two.bytes.starts_with("HTTP/1.1 400 "), two.bytes);
    BOOST_TEST(count_of(two.bytes, "HTTP/1.1 ") == 1u, two.bytes);
    BOOST_TEST(two.closed);
}

BOOST_AUTO_TEST_CASE(content_length_with_transfer_encoding_is_400_and_closes) {
    gateway_fixture g;
    const std::string body = chat_body("gpt-sim");
    const std::string cl = "Content-Length: " + std::to_string(body.size()) + "\r\n";
    for (const std::string& fields :
         {cl + "Transfer-Encoding: chunked\r\n", "Transfer-Encoding: chunked\r\n" + cl,
          cl + "Transfer-Encoding: gzip\r\n", "Transfer-Encoding: gzip\r\n" + cl}) {
        const raw_reply r = raw_exchange(
            g.port(), head_of("/v1/chat/completions", "POST", fields + "\r\n") + body + smuggled);
        BOOST_TEST(r.closed, fields);
        BOOST_TEST(r.bytes.starts_with("HTTP/1.1 400 "), fields << r.bytes);
        BOOST_TEST(count_of(r.bytes, "HTTP/1.1 ") == 1u, fields << r.bytes);
        const auto env = fl::parse_envelope(body_after_head(r.bytes));
        BOOST_TEST_REQUIRE(env.has_value(), r.bytes);
        BOOST_TEST(env.value().type.value_or("") == "invalid_request_error");
    }
    // A plain chunked body is still read as one.
    std::string chunked = head_of("/v1/chat/completions", "POST",
                                  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", body.size());
    chunked += size + body + "\r\n0\r\n\r\n";
    const raw_reply ok = raw_exchange(g.port(), chunked);
    BOOST_TEST(ok.bytes.starts_with("HTTP/1.1 200 "), ok.bytes);
}

// A HEAD answer has a header and no body: pipelined, the next response follows the header
// directly. The 405 for HEAD on a POST path is bodiless too.
BOOST_AUTO_TEST_CASE(head_answers_carry_no_body) {
    gateway_fixture g;
    const std::string get_models = head_of("/v1/models", "GET", "Connection: close\r\n\r\n");
    const raw_reply models =
        raw_exchange(g.port(), head_of("/v1/models", "HEAD", "\r\n") + get_models);
    BOOST_TEST(models.bytes.starts_with("HTTP/1.1 200 "), models.bytes);
    BOOST_TEST(body_after_head(models.bytes).starts_with("HTTP/1.1 200 "), models.bytes);
    BOOST_TEST(count_of(models.bytes, "HTTP/1.1 ") == 2u);

    const raw_reply chat =
        raw_exchange(g.port(), head_of("/v1/chat/completions", "HEAD", "\r\n") + get_models);
    BOOST_TEST(chat.bytes.starts_with("HTTP/1.1 405 "), chat.bytes);
    BOOST_TEST(body_after_head(chat.bytes).starts_with("HTTP/1.1 200 "), chat.bytes);

    const raw_reply unauthorized =
        raw_exchange(g.port(), "HEAD /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + get_models);
    BOOST_TEST(unauthorized.bytes.starts_with("HTTP/1.1 401 "), unauthorized.bytes);
    BOOST_TEST(body_after_head(unauthorized.bytes).starts_with("HTTP/1.1 200 "),
               unauthorized.bytes);
}

// The envelope of a 405 used to say 400 (`error.status`), the status of invalid_request.
BOOST_AUTO_TEST_CASE(method_not_allowed_says_405_in_the_envelope) {
    gateway_fixture g;
    for (const auto& [method, target, allow] :
         {std::tuple{http::verb::get, "/v1/chat/completions", "POST"},
          std::tuple{http::verb::post, "/v1/models", "GET, HEAD"},
          std::tuple{http::verb::delete_, "/v1/models", "GET, HEAD"}}) {
        const response r = g.request(method, target, alice, "{}");
        BOOST_TEST(r.status == 405u, target);
        BOOST_TEST(r.header("allow") == allow, target);
        const auto env = fl::parse_envelope(r.body);
        BOOST_TEST_REQUIRE(env.has_value(), r.body);
        BOOST_TEST(env.value().status.value_or(0) == 405, r.body);
        BOOST_TEST(env.value().type.value_or("") == "invalid_request_error");
        BOOST_TEST(std::get<std::string>(env.value().code) == "method_not_allowed", r.body);
    }
}

// A client that sends Expect: 100-continue waits for the interim answer before its body; a
// server that never sends it leaves the client to guess a delay (curl waits one second).
BOOST_AUTO_TEST_CASE(expect_100_continue_gets_its_interim_response_before_the_body) {
    gateway_fixture g;
    const std::string body = chat_body("gpt-sim");
    net::io_context io;
    std::string interim;
    raw_reply final_reply;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            beast::tcp_stream s(io);
            co_await send_head_read_interim(
                s, g.port(),
                head_of("/v1/chat/completions", "POST",
                        "Expect: 100-continue\r\nConnection: close\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n"),
                interim);
            if (interim.empty()) co_return;
            co_await net::async_write(s, net::buffer(body), net::use_awaitable);
            co_await read_until_closed(s, final_reply, 10s);
        },
        net::detached);
    io.run();
    BOOST_TEST(interim == "HTTP/1.1 100 Continue\r\n\r\n");
    BOOST_TEST(final_reply.bytes.starts_with("HTTP/1.1 200 "), final_reply.bytes);
    // Any other expectation cannot be met (RFC 9110 §10.1.1).
    const raw_reply other =
        raw_exchange(g.port(), head_of("/v1/chat/completions", "POST",
                                       "Expect: 200-ok\r\nContent-Length: 2\r\n\r\n{}"));
    BOOST_TEST(other.bytes.starts_with("HTTP/1.1 417 "), other.bytes);
    BOOST_TEST(other.closed);
}

// --- the request bodies' memory budget ---------------------------------------------------

// Many connections each sending a body up to max_body would together hold max_connections ×
// max_body bytes. All bodies share `bodies_memory_budget`: a body of known length is charged
// whole once its header is read, before any of it is read, and one that does not fit is answered
// 503 (overloaded, Retry-After) and its connection closed. A chunked body is charged with the
// bytes received. The first connection holds its charge while it waits for `100 Continue`, so
// nothing here depends on timing.
BOOST_AUTO_TEST_CASE(the_bodies_of_all_connections_share_one_memory_budget) {
    gw::gateway_config c = test_config();
    c.max_body = 65536;
    c.bodies_memory_budget = 100000;
    gateway_fixture g(c);
    std::string body = chat_body("gpt-sim");
    body.resize(60000, ' '); // JSON may end in whitespace: the same request, 60000 bytes
    const std::string length = "Content-Length: " + std::to_string(body.size()) + "\r\n";
    const std::string whole =
        head_of("/v1/chat/completions", "POST", length + "Connection: close\r\n\r\n") + body;
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", body.size());
    const std::string chunked = head_of("/v1/chat/completions", "POST",
                                        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n") +
                                size + body + "\r\n0\r\n\r\n";

    const auto refused = [](const raw_reply& r) {
        BOOST_TEST(r.bytes.starts_with("HTTP/1.1 503 "), r.bytes.substr(0, 200));
        BOOST_TEST((r.bytes.find("retry-after: 1\r\n") != std::string::npos ||
                    r.bytes.find("Retry-After: 1\r\n") != std::string::npos));
        BOOST_TEST(r.closed);
        const auto env = fl::parse_envelope(body_after_head(r.bytes));
        BOOST_TEST_REQUIRE(env.has_value(), r.bytes);
        BOOST_TEST((env.value().code == fl::wire_code(std::string("overloaded"))));
        BOOST_TEST(env.value().message.find("bodies_memory_budget") != std::string::npos);
    };

    net::io_context io;
    std::string interim;
    raw_reply first, second_whole, second_chunked;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            beast::tcp_stream s(io);
            co_await send_head_read_interim(
                s, g.port(),
                head_of("/v1/chat/completions", "POST",
                        "Expect: 100-continue\r\nConnection: close\r\n" + length + "\r\n"),
                interim);
            if (interim.empty()) co_return;
            // This connection's 60000 bytes are charged: another 60000 do not fit in 100000,
            // whether their length is known or they come in chunks.
            second_whole = raw_exchange(g.port(), whole);
            second_chunked = raw_exchange(g.port(), chunked);
            co_await net::async_write(s, net::buffer(body), net::use_awaitable);
            co_await read_until_closed(s, first, 10s);
        },
        net::detached);
    io.run();
    BOOST_TEST(interim == "HTTP/1.1 100 Continue\r\n\r\n");
    refused(second_whole);
    refused(second_chunked);
    BOOST_TEST(first.bytes.starts_with("HTTP/1.1 200 "), first.bytes.substr(0, 200));
    // Answered, the first body's charge is given back: the same bodies fit again, one at a time.
    const raw_reply again = raw_exchange(g.port(), whole);
    BOOST_TEST(again.bytes.starts_with("HTTP/1.1 200 "), again.bytes.substr(0, 200));
    const raw_reply again_chunked = raw_exchange(g.port(), chunked);
    BOOST_TEST(again_chunked.bytes.starts_with("HTTP/1.1 200 "),
               again_chunked.bytes.substr(0, 200));
    const gw::stats st = g.server().snapshot();
    BOOST_TEST(st.bodies_refused == 2u);
    // The budget was never passed, not even by the charges it refused.
    BOOST_TEST(st.body_bytes_peak >= 60000u);
    BOOST_TEST(st.body_bytes_peak <= c.bodies_memory_budget);
}

BOOST_AUTO_TEST_CASE(the_bodies_memory_budget_is_read_and_checked) {
    gw::gateway_config c = test_config();
    c.bodies_memory_budget = c.max_body - 1;
    BOOST_TEST(gw::validate(c) == "bodies_memory_budget must be at least max_body");
    std::string why;
    const auto parsed = gw::parse_config(R"({"bodies_memory_budget": 2097152})", why);
    BOOST_REQUIRE(parsed.has_value());
    BOOST_TEST(parsed.value().bodies_memory_budget == 2097152u);
    BOOST_TEST(!gw::parse_config(R"({"bodies_memory_budget": -1})", why).has_value());
}

// --- the spend budget ----------------------------------------------------------------------

namespace {

// `n` requests at once, each on its own connection; the statuses in order of completion.
std::vector<response> parallel_chats(gateway_fixture& g, std::string_view key, std::string body,
                                     std::size_t n) {
    net::io_context io;
    std::vector<response> out;
    const auto url = examples::parse_base_url(g.url()).value();
    std::vector<std::unique_ptr<examples::http_connection>> conns;
    for (std::size_t i = 0; i < n; ++i) {
        conns.push_back(std::make_unique<examples::http_connection>(io.get_executor(), url));
        net::co_spawn(
            io,
            [&, c = conns.back().get()]() -> net::awaitable<void> {
                out.push_back(
                    co_await exchange(*c, http::verb::post, "/v1/chat/completions", key, body));
            },
            net::detached);
    }
    io.run();
    return out;
}

std::size_t admitted(const std::vector<response>& rs) {
    std::size_t n = 0;
    for (const response& r : rs) {
        if (r.status == 200) {
            ++n;
            continue;
        }
        BOOST_TEST(r.status == 429u);
        const auto env = fl::parse_envelope(r.body);
        BOOST_TEST_REQUIRE(env.has_value(), r.body);
        BOOST_TEST(std::get<std::string>(env.value().code) == "spend_limit_exceeded", r.body);
    }
    return n;
}

} // namespace

// Sixteen streams at once against sk-demo-budget (10 tokens): the check used to compare the
// tokens already spent with the budget and charge them only when a request ended, so every
// one of the sixteen passed. The first now reserves its estimate (5 + 256 tokens) until it ends.
BOOST_AUTO_TEST_CASE(parallel_requests_cannot_overrun_a_spend_budget) {
    gateway_fixture g;
    const std::vector<response> rs =
        parallel_chats(g, "sk-demo-budget", chat_body("sim-slow", true), 16);
    BOOST_TEST(rs.size() == 16u);
    BOOST_TEST(admitted(rs) == 1u);
    // The stream used 8 tokens (5 + 3 chunks): one more request passes, then the budget is spent.
    BOOST_TEST(g.chat("sk-demo-budget", chat_body("gpt-sim")).status == 200u);
    BOOST_TEST(g.chat("sk-demo-budget", chat_body("gpt-sim")).status == 429u);
}

// A budget several requests wide: each reserves 20 tokens (5 of prompt, max_tokens 15) and
// uses 8 (3 chunks). A request is admitted while the tokens spent and reserved are below the
// budget, so whatever the order, at least 3 and at most 9 (8 * 9 < 60 + 20) are admitted.
BOOST_AUTO_TEST_CASE(a_wider_budget_admits_its_worth_of_parallel_requests) {
    gw::gateway_config c = test_config();
    c.keys.push_back({"sk-budget-60", "budget-60", "", {}, 60});
    gateway_fixture g(c);
    const std::size_t n =
        admitted(parallel_chats(g, "sk-budget-60", chat_body("sim-slow", true, 15), 16));
    BOOST_TEST(n >= 3u);
    BOOST_TEST(n <= 9u);
}

// --- clients that do not finish their requests ---------------------------------------------

namespace {

// Read time limits short enough for a test; the rate minimum off unless a test sets it.
gw::gateway_config read_budget_config() {
    gw::gateway_config c = test_config();
    c.header_timeout = 200ms;
    c.body_timeout = 300ms;
    c.min_body_bytes_per_second = 0;
    return c;
}

// A chat request, raw: `extra` goes into its header.
std::string raw_chat(std::string_view extra = "") {
    const std::string body = chat_body("gpt-sim");
    return head_of("/v1/chat/completions", "POST",
                   std::string(extra) + "Content-Length: " + std::to_string(body.size()) +
                       "\r\n\r\n") +
           body;
}

fl::error_envelope envelope_in(const raw_reply& r) {
    const auto env = fl::parse_envelope(body_after_head(r.bytes));
    BOOST_TEST_REQUIRE(env.has_value(), r.bytes);
    return env.value();
}

} // namespace

// A client that sends half a header and stops used to hold its connection (and a file
// descriptor) for two minutes.
BOOST_AUTO_TEST_CASE(half_a_header_is_cut_off_at_the_header_timeout) {
    gateway_fixture g(read_budget_config());
    const raw_reply r =
        raw_exchange(g.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n", 5s);
    BOOST_TEST(r.closed);
    BOOST_TEST(r.bytes.starts_with("HTTP/1.1 408 "), r.bytes);
    BOOST_TEST(envelope_in(r).message.find("header_timeout_ms") != std::string::npos);
    BOOST_TEST(g.server().snapshot().read_timeouts == 1u);
    // A client that sends nothing at all is closed without a word.
    const raw_reply silent = raw_exchange(g.port(), "", 5s);
    BOOST_TEST(silent.closed);
    BOOST_TEST(silent.bytes.empty(), silent.bytes);
}

// A client that declares a body and sends a few bytes of it.
BOOST_AUTO_TEST_CASE(a_stalled_body_is_cut_off_at_the_body_timeout) {
    gateway_fixture g(read_budget_config());
    const raw_reply r = raw_exchange(
        g.port(), head_of("/v1/chat/completions", "POST", "Content-Length: 1000\r\n\r\n{\"mod"),
        5s);
    BOOST_TEST(r.closed);
    BOOST_TEST(r.bytes.starts_with("HTTP/1.1 408 "), r.bytes);
    const fl::error_envelope e = envelope_in(r);
    BOOST_TEST(e.message.find("body_timeout_ms") != std::string::npos, e.message);
    BOOST_TEST(std::get<std::string>(e.code) == "request_timeout");
}

// The rate minimum cuts a trickle long before the body's time limit: ten bytes of a
// 100 000-byte body, against 1000 bytes/s after 50 ms, and ten seconds for the whole body.
BOOST_AUTO_TEST_CASE(a_body_below_the_minimum_rate_is_cut_off_after_the_grace_period) {
    gw::gateway_config c = read_budget_config();
    c.body_timeout = 10s;
    c.min_body_bytes_per_second = 1000;
    c.body_rate_grace = 50ms;
    gateway_fixture g(c);
    const raw_reply r = raw_exchange(
        g.port(),
        head_of("/v1/chat/completions", "POST", "Content-Length: 100000\r\n\r\n0123456789"), 5s);
    BOOST_TEST(r.closed);
    BOOST_TEST(r.bytes.starts_with("HTTP/1.1 408 "), r.bytes);
    BOOST_TEST(envelope_in(r).message.find("min_body_bytes_per_second") != std::string::npos);
}

// 64 idle connections against a cap of 16: the first 16 hold the slots until their header time
// is up, the others are answered 503 at once. Once they are gone, a normal request is served.
BOOST_AUTO_TEST_CASE(idle_connections_over_the_cap_are_shed_and_the_rest_time_out) {
    gw::gateway_config c = read_budget_config();
    c.max_connections = 16;
    c.header_timeout = 1s;
    gateway_fixture g(c);
    net::io_context io;
    std::vector<raw_reply> replies(64);
    std::vector<std::unique_ptr<beast::tcp_stream>> sockets;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            // In order: the gateway accepts connections in the order they were made.
            for (std::size_t i = 0; i < replies.size(); ++i) {
                sockets.push_back(std::make_unique<beast::tcp_stream>(io));
                sockets.back()->expires_after(10s);
                co_await sockets.back()->async_connect(
                    tcp::endpoint{net::ip::make_address("127.0.0.1"), g.port()},
                    net::use_awaitable);
            }
            for (std::size_t i = 0; i < replies.size(); ++i)
                net::co_spawn(io, read_until_closed(*sockets[i], replies[i], 10s), net::detached);
        },
        net::detached);
    io.run();
    std::size_t shed = 0, idle = 0;
    for (const raw_reply& r : replies) {
        BOOST_TEST(r.closed);
        if (r.bytes.empty()) {
            ++idle;
            continue;
        }
        ++shed;
        BOOST_TEST(r.bytes.starts_with("HTTP/1.1 503 "), r.bytes);
        BOOST_TEST(r.bytes.find("retry-after: 1\r\n") != std::string::npos, r.bytes);
        const fl::error_envelope e = envelope_in(r);
        BOOST_TEST(e.status.value_or(0) == 503);
        BOOST_TEST(e.message.find("max_connections") != std::string::npos, e.message);
    }
    BOOST_TEST(idle >= 16u); // the first 16, and any accepted after one of them timed out
    BOOST_TEST(shed >= 32u); // all but those, unless accepting 64 connections took a second
    BOOST_TEST(shed + idle == 64u);
    const gw::stats st = g.server().snapshot();
    BOOST_TEST(st.shed_connections == shed);
    BOOST_TEST(st.open_connections == 0u);
    BOOST_TEST(g.chat(alice, chat_body("gpt-sim")).status == 200u);
}

// Two chat requests in one write: the second is in the gateway's buffer before the first is
// answered, and is answered after it without waiting for more bytes.
BOOST_AUTO_TEST_CASE(a_request_pipelined_behind_a_chat_request_is_answered_after_it) {
    gw::gateway_config c = read_budget_config();
    c.idle_timeout = 60s; // longer than the client's deadline: only the answers end the exchange
    gateway_fixture g(c);
    const raw_reply r = raw_exchange(g.port(), raw_chat() + raw_chat("Connection: close\r\n"), 10s);
    BOOST_TEST(r.closed); // by the second answer's Connection: close
    BOOST_TEST(count_of(r.bytes, "HTTP/1.1 200 OK\r\n") == 2u, r.bytes);
    BOOST_TEST(count_of(r.bytes, "\"chat.completion\"") == 2u, r.bytes);
    BOOST_TEST(g.server().snapshot().requests == 2u);
    BOOST_TEST(g.server().snapshot().connections == 1u);
}

// A request that arrived behind another is parsed from what the gateway already holds: its
// errors are answered as if it had been read alone.
BOOST_AUTO_TEST_CASE(a_bad_request_pipelined_behind_a_chat_request_gets_its_own_answer) {
    gw::gateway_config c = read_budget_config();
    c.idle_timeout = 60s;
    c.max_body = 4096;
    gateway_fixture g(c);
    const raw_reply garbage = raw_exchange(g.port(), raw_chat() + "NOT HTTP AT ALL\r\n\r\n", 10s);
    BOOST_TEST(garbage.closed);
    BOOST_TEST(garbage.bytes.starts_with("HTTP/1.1 200 OK\r\n"), garbage.bytes);
    BOOST_TEST(count_of(garbage.bytes, "HTTP/1.1 400 Bad Request\r\n") == 1u, garbage.bytes);

    const raw_reply large = raw_exchange(
        g.port(),
        raw_chat() + head_of("/v1/chat/completions", "POST", "Content-Length: 5000\r\n\r\n") +
            std::string(5000, 'x'),
        10s);
    BOOST_TEST(large.closed);
    BOOST_TEST(large.bytes.starts_with("HTTP/1.1 200 OK\r\n"), large.bytes);
    BOOST_TEST(count_of(large.bytes, "HTTP/1.1 413 ") == 1u, large.bytes);

    const raw_reply smuggling = raw_exchange(
        g.port(),
        raw_chat() +
            head_of("/v1/chat/completions", "POST", "Transfer-Encoding: xchunked\r\n\r\n") +
            smuggled,
        10s);
    BOOST_TEST(smuggling.closed);
    BOOST_TEST(smuggling.bytes.starts_with("HTTP/1.1 200 OK\r\n"), smuggling.bytes);
    BOOST_TEST(count_of(smuggling.bytes, "HTTP/1.1 400 Bad Request\r\n") == 1u, smuggling.bytes);
    BOOST_TEST(count_of(smuggling.bytes, "HTTP/1.1 ") == 2u, smuggling.bytes); // nothing smuggled
}

// After its answer a kept-alive connection waits idle_timeout for the next request, then is
// closed without a word; its slot is given back. The request's duration ends with its answer,
// not with the wait after it.
BOOST_AUTO_TEST_CASE(a_connection_idle_after_a_chat_answer_is_closed_at_the_idle_timeout) {
    gw::gateway_config c = read_budget_config();
    c.idle_timeout = 1s;
    gateway_fixture g(c);
    const raw_reply r = raw_exchange(g.port(), raw_chat(), 10s);
    BOOST_TEST(r.closed);
    BOOST_TEST(r.bytes.starts_with("HTTP/1.1 200 OK\r\n"), r.bytes);
    BOOST_TEST(count_of(r.bytes, "HTTP/1.1 ") == 1u, r.bytes); // no 408 after the answer
    const gw::stats st = g.server().snapshot();
    BOOST_TEST(st.read_timeouts == 0u);
    BOOST_TEST(st.open_connections == 0u);
    BOOST_TEST(st.ok == 1u);

    const response m = g.request(http::verb::get, "/metrics", "");
    const std::string sum = "faultline_gateway_request_duration_seconds_sum{route=\"/v1/chat/"
                            "completions\",model=\"gpt-sim\"} ";
    const std::size_t at = m.body.find(sum);
    BOOST_TEST_REQUIRE(at != std::string::npos, m.body);
    const double seconds = std::stod(m.body.substr(at + sum.size()));
    BOOST_TEST(seconds > 0);
    BOOST_TEST(seconds < 1.0); // the idle second after the answer is not the request's
}

// The next request on a kept-alive connection, sent after the answer was read, is served: its
// bytes reach the session through the read that watched the client during the first request.
BOOST_AUTO_TEST_CASE(the_next_request_on_a_kept_alive_connection_is_served_after_a_chat) {
    gw::gateway_config c = read_budget_config();
    c.idle_timeout = 60s;
    gateway_fixture g(c);
    net::io_context io;
    std::vector<std::string> answers;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            beast::tcp_stream s(io);
            s.expires_after(10s);
            co_await s.async_connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), g.port()},
                                     net::use_awaitable);
            beast::flat_buffer b;
            for (int i = 0; i < 3; ++i) {
                co_await net::async_write(s, net::buffer(raw_chat()), net::use_awaitable);
                http::response<http::string_body> res;
                co_await http::async_read(s, b, res, net::use_awaitable);
                answers.push_back(std::to_string(res.result_int()) + " " + res.body());
            }
        },
        net::detached);
    io.run();
    BOOST_TEST_REQUIRE(answers.size() == 3u);
    for (const std::string& a : answers)
        BOOST_TEST(a.starts_with("200 "), a);
    BOOST_TEST(g.server().snapshot().connections == 1u);
    BOOST_TEST(g.server().snapshot().requests == 3u);
}

BOOST_AUTO_TEST_CASE(read_budget_options_are_read_and_checked) {
    gw::gateway_config c = test_config();
    c.max_connections = 0;
    BOOST_TEST(gw::validate(c) == "max_connections must be 1..1000000");
    c = test_config();
    c.header_timeout = 0ms;
    BOOST_TEST(gw::validate(c) ==
               "header_timeout_ms, idle_timeout_ms and body_timeout_ms must be positive");
    c = test_config();
    c.idle_timeout = -1ms;
    BOOST_TEST(gw::validate(c) ==
               "header_timeout_ms, idle_timeout_ms and body_timeout_ms must be positive");
    c = test_config();
    c.body_rate_grace = -1ms;
    BOOST_TEST(gw::validate(c) == "body_rate_grace_ms must not be negative");
    c = test_config();
    c.min_body_bytes_per_second = (std::uint64_t(1) << 30) + 1;
    BOOST_TEST(gw::validate(c) == "min_body_bytes_per_second must be at most 1073741824");

    std::string why;
    const auto parsed = gw::parse_config(
        R"({"max_connections": 100, "header_timeout_ms": 5000, "idle_timeout_ms": 60000,
            "body_timeout_ms": 30000, "min_body_bytes_per_second": 4096,
            "body_rate_grace_ms": 2000})",
        why);
    BOOST_TEST_REQUIRE(parsed.has_value(), why);
    BOOST_TEST(parsed.value().max_connections == 100u);
    BOOST_TEST(parsed.value().header_timeout.count() == 5000);
    BOOST_TEST(parsed.value().idle_timeout.count() == 60000);
    BOOST_TEST(parsed.value().body_timeout.count() == 30000);
    BOOST_TEST(parsed.value().min_body_bytes_per_second == 4096u);
    BOOST_TEST(parsed.value().body_rate_grace.count() == 2000);

    const std::pair<const char*, const char*> bad[] = {
        {R"({"max_connections": 0})", "max_connections must be 1..1000000"},
        {R"({"max_connections": 2000000})",
         "config.max_connections must be a whole number from 0 to 1000000"},
        {R"({"header_timeout_ms": "fast"})",
         "config.header_timeout_ms must be a whole number from 0 to 86400000"},
        {R"({"body_timeout_ms": 0})",
         "header_timeout_ms, idle_timeout_ms and body_timeout_ms must be positive"},
        {R"({"body_rate_grace_ms": 1.5})",
         "config.body_rate_grace_ms must be a whole number from 0 to 86400000"},
        {R"({"min_body_bytes_per_second": -1})",
         "config.min_body_bytes_per_second must be a whole number from 0 to 1073741824"},
    };
    for (const auto& [json, expected] : bad) {
        const auto r = gw::parse_config(json, why);
        BOOST_TEST(!r.has_value(), json);
        BOOST_TEST(why == expected, json);
    }
}

BOOST_AUTO_TEST_SUITE_END()

// The gateway's channels at real URLs: keep-alive connections to the upstream, a pooled
// connection the upstream closed, HTTPS with the certificate verified (and refused when it
// cannot be), the channel's key from the environment and its model name, sent to a second
// gateway acting as the provider.
#include "gateway/gateway.hpp"

#include "gateway_fixture.hpp"
#include "tls_fixture.hpp"

#include <faultline/envelope.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <future>
#include <sstream>

#include <poll.h>
#include <sys/socket.h>

namespace fl = faultline;
using namespace examples_test;
using http::verb;
using tcp = net::ip::tcp;
namespace beast = boost::beast;

namespace {

const std::string alice = "sk-demo-alice";

// Sets an environment variable for the test's duration.
class scoped_env {
public:
    scoped_env(const char* name, const char* value)
        : name_(name) {
        ::setenv(name, value, 1);
    }
    ~scoped_env() { ::unsetenv(name_); }
    scoped_env(const scoped_env&) = delete;
    scoped_env& operator=(const scoped_env&) = delete;

private:
    const char* name_;
};

// One model served by one channel at `url`.
gw::gateway_config one_channel(std::string url) {
    gw::gateway_config c = test_config();
    c.channels.clear();
    c.models.clear();
    gw::channel_config ch;
    ch.name = "remote";
    ch.url = std::move(url);
    c.channels.push_back(ch);
    c.models.push_back({"remote-model", {"remote"}, 8192});
    return c;
}

// Reads a request from `s` (blocking). Returns false on end of file.
bool read_request(tcp::socket& s, beast::flat_buffer& buffer) {
    http::request<http::string_body> req;
    beast::error_code ec;
    http::read(s, buffer, req, ec);
    return !ec;
}

// Whether the peer closes `s` within 10 s (these tests' bound); bytes it sends meanwhile are
// dropped. (Asio's blocking reads wait on poll() without a limit, so this one uses poll itself.)
bool closed_by_peer(tcp::socket& s) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        pollfd p{s.native_handle(), POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        char bytes[512];
        const ssize_t n = ::recv(s.native_handle(), bytes, sizeof bytes, 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
    }
}

// A raw HTTP request on a fresh connection, left without reading the answer.
tcp::socket send_raw(net::io_context& io, std::uint16_t port, std::string_view key,
                     const std::string& body) {
    tcp::socket s(io);
    s.connect({net::ip::make_address("127.0.0.1"), port});
    std::string text = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Authorization: Bearer " +
                       std::string(key) + "\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body;
    net::write(s, net::buffer(text));
    return s;
}

// An upstream written out by the test: a thread that accepts `connections` connections one
// after the other and runs `serve` on each. Destroying it unblocks an accept
// still waiting (the gateway made fewer connections than expected) and joins the thread.
class scripted_upstream {
public:
    scripted_upstream(int connections, std::function<void(tcp::socket&)> serve)
        : acceptor_(io_, {net::ip::make_address("127.0.0.1"), 0})
        , thread_([this, connections, serve = std::move(serve)] {
            for (int i = 0; i < connections; ++i) {
                tcp::socket s(io_);
                beast::error_code ec;
                acceptor_.accept(s, ec);
                if (ec || stopping_) return;
                serve(s);
            }
        }) {}
    ~scripted_upstream() {
        stopping_ = true;
        beast::error_code ec;
        tcp::socket poke(io_); // wakes an accept still waiting; else it waits in the backlog
        poke.connect(acceptor_.local_endpoint(), ec);
        thread_.join();
    }
    scripted_upstream(const scripted_upstream&) = delete;
    scripted_upstream& operator=(const scripted_upstream&) = delete;

    [[nodiscard]] std::string url() const {
        return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/v1";
    }

private:
    net::io_context io_;
    tcp::acceptor acceptor_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

const std::string completion_json = R"({"id":"c","object":"chat.completion","choices":[]})";

void answer(tcp::socket& s) {
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = completion_json;
    res.keep_alive(true);
    res.prepare_payload();
    beast::error_code ec;
    http::write(s, res, ec);
}

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_upstream)

BOOST_AUTO_TEST_CASE(a_client_that_goes_away_cancels_the_upstream_call_at_once) {
    // The upstream holds the first call unanswered (the gateway would wait 30 s for its head)
    // and answers the second.
    std::promise<bool> reached, closed;
    scripted_upstream up(2, [&, n = 0](tcp::socket& s) mutable {
        beast::flat_buffer b;
        if (n++ == 0) {
            const bool got = read_request(s, b);
            reached.set_value(got);
            closed.set_value(got && closed_by_peer(s));
        } else if (read_request(s, b)) {
            answer(s);
        }
    });
    gw::gateway_config c = one_channel(up.url());
    c.upstream_timeout = 30s;
    gateway_fixture g(c, clock_kind::manual, nullptr, upstream_kind::in_process);

    // sk-demo-solo may have one request in flight.
    net::io_context io;
    tcp::socket client = send_raw(io, g.port(), "sk-demo-solo", chat_body("remote-model"));
    auto reached_f = reached.get_future();
    BOOST_REQUIRE(reached_f.wait_for(10s) == std::future_status::ready);
    BOOST_REQUIRE(reached_f.get()); // the call reached the upstream
    client.close();                 // and the client gives up
    // The gateway closes the upstream connection within the bound, not after 30 s, and only
    // after the request's permits were given back.
    BOOST_TEST(closed.get_future().get());
    const response r = g.chat("sk-demo-solo", chat_body("remote-model"));
    BOOST_TEST(r.status == 200u); // the permit was free
    BOOST_TEST(g.server().snapshot().abandoned == 1u);
}

BOOST_AUTO_TEST_CASE(a_client_that_leaves_a_quiet_stream_cancels_it_at_once) {
    // One event, then silence; the second call is answered.
    std::promise<bool> closed;
    scripted_upstream up(2, [&, n = 0](tcp::socket& s) mutable {
        beast::flat_buffer b;
        if (n++ == 0) {
            if (!read_request(s, b)) return closed.set_value(false);
            const std::string event = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
            std::ostringstream text;
            text << "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"
                 << std::hex << event.size() << "\r\n"
                 << event << "\r\n";
            beast::error_code ec;
            net::write(s, net::buffer(text.str()), ec);
            closed.set_value(!ec && closed_by_peer(s));
        } else if (read_request(s, b)) {
            answer(s);
        }
    });
    gw::gateway_config c = one_channel(up.url());
    c.upstream_timeout = 30s;
    c.heartbeat = 60s; // no write to the client would notice its absence
    gateway_fixture g(c, clock_kind::manual, nullptr, upstream_kind::in_process);

    net::io_context io;
    tcp::socket client = send_raw(io, g.port(), "sk-demo-solo", chat_body("remote-model", true));
    // The client reads until the event arrives, then leaves.
    std::string seen;
    char piece[4096];
    while (seen.find("hi") == std::string::npos) {
        beast::error_code ec;
        const std::size_t n = client.read_some(net::buffer(piece), ec);
        BOOST_REQUIRE(!ec);
        seen.append(piece, n);
    }
    client.close();
    BOOST_TEST(closed.get_future().get());

    const response r = g.chat("sk-demo-solo", chat_body("remote-model"));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(g.server().snapshot().abandoned == 1u);
    bool logged = false;
    for (const std::string& line : g.log())
        logged = logged || line.find("client went away") != std::string::npos;
    BOOST_TEST(logged);
}

BOOST_AUTO_TEST_CASE(events_that_arrive_together_are_relayed_in_one_write) {
    // Forty events, [DONE] and the body's end, each its own chunk, in one write of about 2.5 KB:
    // what one read brought leaves in one chunk, not in a write per upstream chunk (forty-one
    // before), nor in one per 512 bytes (the least Beast reads into an empty buffer).
    std::string events;
    std::ostringstream text;
    text << "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i <= 40; ++i) {
        const std::string event = i < 40 ? "data: {\"choices\":[{\"delta\":{\"content\":\"" +
                                               std::to_string(i) + "\"}}]}\n\n"
                                         : std::string("data: [DONE]\n\n");
        events += event;
        text << std::hex << event.size() << "\r\n" << event << "\r\n";
    }
    text << "0\r\n\r\n";
    scripted_upstream up(1, [wire = text.str()](tcp::socket& s) {
        beast::flat_buffer b;
        if (!read_request(s, b)) return;
        beast::error_code ec;
        net::write(s, net::buffer(wire), ec);
        (void)closed_by_peer(s); // until the gateway is done with the connection
    });
    gateway_fixture g(one_channel(up.url()), clock_kind::manual, nullptr,
                      upstream_kind::in_process);

    net::io_context io;
    tcp::socket client = send_raw(io, g.port(), "sk-demo-solo", chat_body("remote-model", true));
    http::response_parser<http::string_body> p;
    std::size_t chunks = 0;
    auto count = [&](std::uint64_t size, beast::string_view, beast::error_code&) {
        if (size > 0) ++chunks;
    };
    p.on_chunk_header(count);
    beast::flat_buffer b;
    beast::error_code ec;
    http::read(client, b, p, ec);
    BOOST_REQUIRE(!ec);
    BOOST_TEST(p.get().result_int() == 200u);
    BOOST_TEST(p.get().body() == events); // every byte, in order
    BOOST_TEST(chunks <= 2u);             // one, or two if the head's read took part of it
    client.close();
}

BOOST_AUTO_TEST_CASE(calls_share_one_kept_alive_upstream_connection) {
    gateway_fixture g;
    for (int i = 0; i < 5; ++i) {
        const response r = g.chat(alice, chat_body("gpt-sim", i % 2 == 1));
        BOOST_TEST(r.status == 200u);
        BOOST_TEST(r.header("x-faultline-channel") == "ok-a");
    }
    BOOST_TEST(g.server().snapshot().upstream_calls == 5u);
    BOOST_TEST(g.server().snapshot().upstream_connections == 1u);
    BOOST_TEST(g.sim()->snapshot().connections == 1u);
    BOOST_TEST(g.sim()->snapshot().calls_to("ok-a") == 5u);
}

BOOST_AUTO_TEST_CASE(a_pooled_connection_the_upstream_closed_is_replaced) {
    // An upstream that answers one request per connection and then closes it, though it said
    // keep-alive: the gateway's second call finds its pooled connection closed.
    scripted_upstream up(2, [](tcp::socket& s) {
        beast::flat_buffer b;
        if (!read_request(s, b)) return;
        answer(s);
        beast::error_code ec;
        s.shutdown(tcp::socket::shutdown_both, ec);
    });
    gateway_fixture g(one_channel(up.url()), clock_kind::manual, nullptr,
                      upstream_kind::in_process);
    BOOST_TEST(g.chat(alice, chat_body("remote-model")).status == 200u);
    BOOST_TEST(g.chat(alice, chat_body("remote-model")).status == 200u);
    BOOST_TEST(g.server().snapshot().upstream_connections == 2u);
}

BOOST_AUTO_TEST_CASE(an_https_upstream_is_verified_against_the_ca_file) {
    tls_files tls;
    const gw::gateway_config base = test_config();
    sim_thread sim(base.channels, tls.server_context());
    const std::string at = "https://127.0.0.1:" + std::to_string(sim.port());

    gw::gateway_config trusted = base;
    gw::route_channels(trusted, at, tls.cert_file());
    {
        gateway_fixture g(trusted, clock_kind::manual, nullptr, upstream_kind::in_process);
        const response plain = g.chat(alice, chat_body("gpt-sim"));
        BOOST_TEST(plain.status == 200u);
        const response streamed = g.chat(alice, chat_body("gpt-sim", true));
        BOOST_TEST(streamed.status == 200u);
        BOOST_TEST(streamed.verdict == fl::sse::terminal::done);
        BOOST_TEST(streamed.content_events == 9u); // eight words and the final chunk
        const response cut = g.chat(alice, chat_body("sim-upstream-cutoff", true));
        BOOST_TEST(cut.verdict == fl::sse::terminal::error);
        BOOST_REQUIRE(cut.stream_failure);
        BOOST_TEST(cut.stream_failure->code == fl::error::stream_truncated);
        BOOST_TEST(g.server().snapshot().upstream_connections == 2u); // the cut one is gone
        // Quiet gaps over TLS: every heartbeat cancels a pending TLS read, which must resume.
        const response slow = g.chat(alice, chat_body("sim-slow", true));
        BOOST_TEST(slow.verdict == fl::sse::terminal::done);
        BOOST_TEST(slow.comments > 0u);
        BOOST_TEST(slow.content_events == 4u); // the slow channel: three words and the final chunk
    }

    // Without the CA file the system store does not know the certificate: no answer is used.
    gw::gateway_config untrusted = base;
    gw::route_channels(untrusted, at);
    gateway_fixture g(untrusted, clock_kind::manual, nullptr, upstream_kind::in_process);
    const response r = g.chat(alice, chat_body("gpt-sim"));
    BOOST_TEST(r.status >= 500u);
    BOOST_TEST(r.body.find("Failing well") == std::string::npos);
    bool logged = false;
    for (const std::string& line : g.log())
        logged = logged || line.find("certificate verify failed") != std::string::npos;
    BOOST_TEST(logged);
    BOOST_TEST(sim.server().snapshot().calls_to("ok-a") == 2u); // only the trusted gateway's
}

BOOST_AUTO_TEST_CASE(a_certificate_for_another_host_is_refused) {
    tls_files tls; // for 127.0.0.1 and localhost
    // Listening on 127.0.0.2 (a listener on 127.0.0.1 would refuse the connection, and the
    // certificate would never be looked at), which the certificate does not name.
    sim_thread sim(test_config().channels, tls.server_context(), "127.0.0.2");
    gw::gateway_config c = test_config();
    gw::route_channels(c, "https://127.0.0.2:" + std::to_string(sim.port()), tls.cert_file());
    gateway_fixture g(c, clock_kind::manual, nullptr, upstream_kind::in_process);
    const response r = g.chat(alice, chat_body("gpt-sim"));
    BOOST_TEST(r.status >= 500u);
    BOOST_TEST(sim.server().snapshot().connections >= 1u); // reached, then refused
    BOOST_TEST(sim.server().snapshot().calls_to("ok-a") == 0u);
    bool logged = false;
    for (const std::string& line : g.log())
        logged = logged || line.find("certificate verify failed") != std::string::npos;
    BOOST_TEST(logged);
}

BOOST_AUTO_TEST_CASE(the_channel_key_and_model_name_reach_the_upstream) {
    // The upstream is a second gateway: it answers only for its own key and model names.
    gateway_fixture provider;
    gw::gateway_config c = one_channel(provider.url() + "/v1");
    c.channels[0].api_key_env = "FAULTLINE_TEST_UPSTREAM_KEY";
    c.channels[0].upstream_model = "gpt-sim";
    {
        // The variable unset: the configuration is refused, naming the variable.
        gw::server_options o;
        net::io_context io;
        BOOST_CHECK_EXCEPTION(gw::server(io.get_executor(), c, std::move(o)), std::invalid_argument,
                              [](const std::invalid_argument& e) {
                                  return std::string(e.what()).find(
                                             "FAULTLINE_TEST_UPSTREAM_KEY") != std::string::npos;
                              });
    }
    scoped_env key("FAULTLINE_TEST_UPSTREAM_KEY", alice.c_str());
    gateway_fixture g(c, clock_kind::manual, nullptr, upstream_kind::in_process);
    const response r = g.chat("sk-demo-dave-1", chat_body("remote-model", true));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.verdict == fl::sse::terminal::done);
    BOOST_TEST(r.content_events == 9u);
    for (const std::string& line : g.log())
        BOOST_TEST(line.find(alice) == std::string::npos); // the key is never logged

    // A key the provider does not know: its 401 is the answer's cause, not a gateway retry.
    scoped_env wrong("FAULTLINE_TEST_UPSTREAM_KEY", "sk-unknown");
    gateway_fixture g2(c, clock_kind::manual, nullptr, upstream_kind::in_process);
    const response refused = g2.chat("sk-demo-dave-1", chat_body("remote-model"));
    BOOST_TEST(refused.status >= 400u);
    BOOST_TEST(refused.status != 200u);
}

BOOST_AUTO_TEST_CASE(channel_urls_and_their_options_are_validated) {
    gw::gateway_config c = one_channel("ftp://127.0.0.1/v1");
    BOOST_TEST(gw::validate(c).find("url must be an http:// or https://") != std::string::npos);
    c.channels[0].url = "http://127.0.0.1:8080/v1?x=1";
    BOOST_TEST(!gw::validate(c).empty());
    c.channels[0].url = "http://127.0.0.1:8080/v1";
    BOOST_TEST(gw::validate(c).empty());
    c.channels[0].ca_file = "/tmp/ca.pem";
    BOOST_TEST(gw::validate(c) == "channel 'remote': ca_file needs an https url");
    c.channels[0].url = "https://127.0.0.1:8443/v1";
    BOOST_TEST(gw::validate(c).empty());
    c.channels[0].connect_timeout = std::chrono::milliseconds(0);
    BOOST_TEST(gw::validate(c) == "channel 'remote': connect_timeout_ms must be positive");
    c.channels[0].connect_timeout = std::chrono::milliseconds(100);
    c.channels[0].url.clear();
    BOOST_TEST(gw::validate(c) ==
               "channel 'remote': api_key_env, ca_file and upstream_model need a url");

    std::string why;
    const auto parsed = gw::parse_config(
        R"({"channels":[{"name":"a","url":"https://api.example.com/v1","api_key_env":"K",
            "upstream_model":"m","connect_timeout_ms":500,"max_idle_connections":4,
            "pass_cuts":true}],"models":[{"id":"x","channels":["a"]}]})",
        why);
    BOOST_REQUIRE_MESSAGE(parsed.has_value(), why);
    const gw::channel_config& ch = parsed.value().channels[0];
    BOOST_TEST(ch.url == "https://api.example.com/v1");
    BOOST_TEST(ch.api_key_env == "K");
    BOOST_TEST(ch.upstream_model == "m");
    BOOST_TEST(ch.connect_timeout.count() == 500);
    BOOST_TEST(ch.max_idle_connections == 4u);
    BOOST_TEST(ch.pass_cuts);
    BOOST_TEST(
        !gw::parse_config(R"({"channels":[{"name":"a","max_idle_connections":5000}]})", why));

    // An unreadable CA file is refused when the server starts, naming the channel.
    c.channels[0].url = "https://127.0.0.1:8443/v1";
    c.channels[0].ca_file = "/nonexistent/ca.pem";
    net::io_context io;
    BOOST_CHECK_EXCEPTION(gw::server(io.get_executor(), c), std::invalid_argument,
                          [](const std::invalid_argument& e) {
                              return std::string(e.what()).find("channel 'remote': ca_file") !=
                                     std::string::npos;
                          });
}

BOOST_AUTO_TEST_CASE(route_channels_sends_only_channels_without_a_url) {
    gw::gateway_config c = test_config();
    c.channels[0].url = "http://10.0.0.1/v1";
    gw::route_channels(c, "https://127.0.0.1:9443/", "/ca.pem");
    BOOST_TEST(c.channels[0].url == "http://10.0.0.1/v1");
    BOOST_TEST(c.channels[0].ca_file.empty());
    BOOST_TEST(c.channels[1].url == "https://127.0.0.1:9443/" + c.channels[1].name + "/v1");
    BOOST_TEST(c.channels[1].ca_file == "/ca.pem");
    BOOST_TEST(gw::validate(c).empty());
}

BOOST_AUTO_TEST_SUITE_END()

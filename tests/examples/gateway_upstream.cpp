// The gateway's channels at real URLs: keep-alive connections to the upstream, a pooled
// connection the upstream closed, HTTPS with the certificate verified (and refused when it
// cannot be), the channel's key from the environment and its model name, sent to a second
// gateway acting as the provider.
#include "gateway/gateway.hpp"

#include "gateway_fixture.hpp"
#include "tls_fixture.hpp"

#include <faultline/envelope.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdlib>

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

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_upstream)

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
    net::io_context up;
    tcp::acceptor acceptor(up, {net::ip::make_address("127.0.0.1"), 0});
    const std::uint16_t port = acceptor.local_endpoint().port();
    std::thread upstream([&] {
        for (int served = 0; served < 2; ++served) {
            tcp::socket s(up);
            acceptor.accept(s);
            beast::flat_buffer buffer;
            http::request<http::string_body> req;
            http::read(s, buffer, req);
            http::response<http::string_body> res{http::status::ok, 11};
            res.set(http::field::content_type, "application/json");
            res.body() = R"({"id":"c","object":"chat.completion","choices":[]})";
            res.keep_alive(true);
            res.prepare_payload();
            http::write(s, res);
            s.shutdown(tcp::socket::shutdown_both);
        }
    });
    {
        gateway_fixture g(one_channel("http://127.0.0.1:" + std::to_string(port) + "/v1"),
                          clock_kind::manual, nullptr, upstream_kind::in_process);
        BOOST_TEST(g.chat(alice, chat_body("remote-model")).status == 200u);
        BOOST_TEST(g.chat(alice, chat_body("remote-model")).status == 200u);
        BOOST_TEST(g.server().snapshot().upstream_connections == 2u);
    }
    upstream.join();
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

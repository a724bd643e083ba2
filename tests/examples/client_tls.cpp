// faultline-client and faultline-loadgen over https: a `faultline-upstream-sim` server with a
// self-signed certificate for 127.0.0.1 and localhost, trusted through --ca-file; refused without
// it, for a host it does not name, and for an https URL without a TLS context; a TLS stream cut
// without close_notify reads as a cut stream.
#include "common/tls.hpp"

#include "client/client.hpp"
#include "common/http_client.hpp"
#include "gateway_fixture.hpp"
#include "loadgen/loadgen.hpp"
#include "tls_fixture.hpp"

#include <faultline/failure.hpp>

#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/x509_vfy.h>

#include <thread>
#include <utility>
#include <variant>

namespace fl = faultline;
namespace cl = examples::client;
namespace lg = examples::loadgen;
namespace ssl = boost::asio::ssl;
using namespace examples_test;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

const std::string reply = "Failing well means saying what broke, whether to";

// A command line given as words (argv storage included).
struct argv_words {
    std::vector<std::string> words;
    std::vector<char*> pointers;
    explicit argv_words(std::vector<std::string> w)
        : words(std::move(w)) {
        for (auto& x : words)
            pointers.push_back(x.data());
    }
};

fl::result<cl::options> client_options(std::vector<std::string> words, std::string& why) {
    argv_words a(std::move(words));
    return cl::parse_options(a.pointers, why);
}

// faultline-client's command line for the sim's channel ok-a at `base`, with short backoffs
// (nothing here should be retried: if it were, the test would still end soon).
std::vector<std::string> client_words(const std::string& base, std::vector<std::string> more = {}) {
    std::vector<std::string> w = {"--url", base + "/ok-a/v1", "--key", "k",      "--backoff-base",
                                  "1ms",   "--backoff-cap",   "2ms",   "--seed", "7"};
    w.insert(w.end(), more.begin(), more.end());
    return w;
}

cl::report run_one(const cl::options& o) {
    std::vector<cl::report> r = cl::run(o);
    BOOST_TEST_REQUIRE(r.size() == 1u);
    return r[0];
}

std::variant<lg::command_line, lg::usage_error> loadgen_line(std::vector<std::string> words) {
    argv_words a(std::move(words));
    return lg::parse_command_line(a.pointers);
}

std::string https(std::string_view host, std::uint16_t port) {
    return "https://" + std::string(host) + ":" + std::to_string(port);
}

// One exchange on a fresh connection, blocking.
examples::exchange_result exchange_once(const std::string& url, ssl::context* tls) {
    net::io_context io;
    examples::exchange_result out;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            examples::http_connection c(io.get_executor(), examples::parse_base_url(url).value(),
                                        tls);
            auto req = c.make_request(http::verb::post, c.url().target("/ok-a/v1/chat/completions"),
                                      "k", chat_body("gpt-sim"));
            examples::exchange_options eo;
            eo.idle_timeout = 10s;
            out = co_await c.exchange(
                req, [](std::string_view) { return std::error_code(); }, eo);
        },
        net::detached);
    io.run();
    return out;
}

// A TLS server for one connection that reads the request and then, with `send_head`, answers
// with a head promising 100 bytes and 10 of them; either way it closes the TCP connection
// without close_notify, as a crashed server or an attacker on the path would.
class cutting_server {
public:
    cutting_server(std::shared_ptr<ssl::context> tls, bool send_head)
        : acceptor_(io_, {net::ip::make_address("127.0.0.1"), 0})
        , tls_(std::move(tls)) {
        thread_ = std::thread([this, send_head] {
            beast::error_code ec;
            tcp::socket socket(io_);
            acceptor_.accept(socket, ec);
            if (ec) return;
            ssl::stream<tcp::socket&> s(socket, *tls_);
            s.handshake(ssl::stream_base::server, ec);
            beast::flat_buffer buffer;
            http::request<http::string_body> req;
            if (!ec) http::read(s, buffer, req, ec);
            if (!ec && send_head)
                net::write(s,
                           net::buffer(std::string_view("HTTP/1.1 200 OK\r\n"
                                                        "Content-Type: application/json\r\n"
                                                        "Content-Length: 100\r\n\r\n"
                                                        "0123456789")),
                           ec);
            socket.close(ec);
        });
    }
    ~cutting_server() { thread_.join(); }
    cutting_server(const cutting_server&) = delete;
    cutting_server& operator=(const cutting_server&) = delete;

    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

private:
    net::io_context io_;
    tcp::acceptor acceptor_;
    std::shared_ptr<ssl::context> tls_;
    std::thread thread_;
};

// `e` as the examples' client hands it over.
std::error_code std_code(boost::system::error_code e) {
    return e;
}

} // namespace

BOOST_AUTO_TEST_SUITE(client_tls)

BOOST_AUTO_TEST_CASE(with_the_ca_file_it_gets_a_completion_and_a_stream) {
    tls_files tls;
    sim_thread sim(test_config().channels, tls.server_context());
    std::string why;
    auto o = client_options(
        client_words(https("127.0.0.1", sim.port()), {"--ca-file", tls.cert_file()}), why);
    BOOST_TEST_REQUIRE(o.has_value(), why);
    BOOST_TEST_REQUIRE(o.value().tls != nullptr);
    cl::options plain = o.value();
    plain.requests = 3;
    const std::vector<cl::report> rs = cl::run(plain);
    BOOST_TEST_REQUIRE(rs.size() == 3u);
    for (const cl::report& r : rs) {
        BOOST_TEST(r.ok);
        BOOST_TEST(r.attempts == 1u);
        BOOST_TEST(r.status == 200u);
        BOOST_TEST(r.reply == reply);
    }
    BOOST_TEST(sim.server().snapshot().connections == 3u); // a connection per request

    cl::options streamed = o.value();
    streamed.stream = true;
    const cl::report s = run_one(streamed);
    BOOST_TEST(s.ok);
    BOOST_TEST(s.stream_verdict.value() == fl::sse::terminal::done);
    BOOST_TEST(s.content_events == 9u);
    BOOST_TEST(s.reply == reply);
    BOOST_TEST(s.to_text().find("stream    done") != std::string::npos, s.to_text());
    BOOST_TEST(sim.server().snapshot().calls_to("ok-a") == 4u);
}

BOOST_AUTO_TEST_CASE(a_retry_reuses_the_kept_alive_tls_connection) {
    tls_files tls;
    sim_thread sim(test_config().channels, tls.server_context());
    std::string why;
    auto o = client_options(
        client_words(https("127.0.0.1", sim.port()), {"--ca-file", tls.cert_file()}), why);
    BOOST_TEST_REQUIRE(o.has_value(), why);
    cl::options flaky = o.value();
    flaky.url = examples::parse_base_url(https("127.0.0.1", sim.port()) + "/flaky/v1").value();
    const cl::report r = run_one(flaky); // the channel's first call fails, its second answers
    BOOST_TEST(r.ok, r.to_text());
    BOOST_TEST(r.attempts == 2u);
    BOOST_TEST_REQUIRE(r.history.size() == 1u);
    BOOST_TEST(r.history[0].what.status == 503u);
    BOOST_TEST(sim.server().snapshot().connections == 1u);
    BOOST_TEST(sim.server().snapshot().calls_to("flaky") == 2u);
}

BOOST_AUTO_TEST_CASE(a_host_name_gets_sni_and_is_checked_against_the_certificate) {
    tls_files tls; // names localhost as well
    sim_thread sim(test_config().channels, tls.server_context());
    std::string why;
    auto o = client_options(
        client_words(https("localhost", sim.port()), {"--ca-file", tls.cert_file(), "--stream"}),
        why);
    BOOST_TEST_REQUIRE(o.has_value(), why);
    const cl::report r = run_one(o.value());
    BOOST_TEST(r.ok, r.to_text());
    BOOST_TEST(r.stream_verdict.value() == fl::sse::terminal::done);
}

BOOST_AUTO_TEST_CASE(without_the_ca_file_the_certificate_is_not_trusted) {
    tls_files tls;
    sim_thread sim(test_config().channels, tls.server_context());
    std::string why;
    auto o = client_options(client_words(https("127.0.0.1", sim.port())), why);
    BOOST_TEST_REQUIRE(o.has_value(), why);
    const cl::report r = run_one(o.value());
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.status == 0u);
    // A retry would meet the same certificate: one attempt, not retryable.
    BOOST_TEST(r.attempts == 1u);
    BOOST_TEST(r.gave_up.value() == fl::give_up_reason::not_retryable);
    BOOST_TEST_REQUIRE(r.failure.has_value());
    BOOST_TEST(r.failure->cat == fl::category::unknown);
    BOOST_TEST(r.failure->code == fl::error::unknown);
    BOOST_TEST(!r.failure->retryable);
    const std::string& m = r.failure->message;
    BOOST_TEST(m.find("No response from 127.0.0.1:" + std::to_string(sim.port()) +
                      ": certificate verify failed: the server's certificate is not signed by a "
                      "trusted CA") == 0u,
               m);
    BOOST_TEST(m.find("--ca-file") != std::string::npos, m);
    BOOST_TEST(r.to_text().find("certificate verify failed") != std::string::npos);
    BOOST_TEST(sim.server().snapshot().connections == 1u); // reached: the handshake refused it
    BOOST_TEST(sim.server().snapshot().calls_to("ok-a") == 0u);

    const examples::exchange_result x =
        exchange_once(https("127.0.0.1", sim.port()), o.value().tls.get());
    BOOST_TEST((x.ec == examples::tls_error::certificate_untrusted), x.ec.message());
    BOOST_TEST(!x.head_received);
}

BOOST_AUTO_TEST_CASE(a_host_the_certificate_does_not_name_is_refused) {
    tls_files tls; // for 127.0.0.1 and localhost
    // On 127.0.0.2: a listener on 127.0.0.1 would refuse the connection before any certificate.
    sim_thread sim(test_config().channels, tls.server_context(), "127.0.0.2");
    std::string why;
    auto o = client_options(
        client_words(https("127.0.0.2", sim.port()), {"--ca-file", tls.cert_file()}), why);
    BOOST_TEST_REQUIRE(o.has_value(), why);
    const cl::report r = run_one(o.value());
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.attempts == 1u);
    BOOST_TEST_REQUIRE(r.failure.has_value());
    BOOST_TEST(!r.failure->retryable);
    BOOST_TEST(r.failure->message.find("the server's certificate does not name the URL's host") !=
                   std::string::npos,
               r.failure->message);
    BOOST_TEST(sim.server().snapshot().connections == 1u);
    BOOST_TEST(sim.server().snapshot().calls_to("ok-a") == 0u);

    const examples::exchange_result x =
        exchange_once(https("127.0.0.2", sim.port()), o.value().tls.get());
    BOOST_TEST((x.ec == examples::tls_error::certificate_host_mismatch), x.ec.message());
}

BOOST_AUTO_TEST_CASE(an_https_url_without_a_tls_context_is_a_typed_error) {
    tls_files tls;
    sim_thread sim(test_config().channels, tls.server_context());
    cl::options o;
    o.raw_url = https("127.0.0.1", sim.port()) + "/ok-a/v1";
    o.url = examples::parse_base_url(o.raw_url).value();
    o.policy.delay = fl::backoff::exponential(1ms, 2ms);
    const cl::report r = run_one(o); // o.tls left null
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.attempts == 1u);
    BOOST_TEST(!r.failure->retryable);
    BOOST_TEST(r.failure->message.find("https URL, but the connection has no TLS context") !=
                   std::string::npos,
               r.failure->message);

    const examples::exchange_result x = exchange_once(https("127.0.0.1", sim.port()), nullptr);
    BOOST_TEST((x.ec == examples::tls_error::not_configured));
    BOOST_TEST(sim.server().snapshot().connections == 0u); // never a plain connection instead
}

BOOST_AUTO_TEST_CASE(a_tls_stream_cut_without_close_notify_reads_as_cut) {
    tls_files tls;
    auto client = examples::make_tls_client_context(tls.cert_file());
    BOOST_TEST_REQUIRE(client.has_value());
    {
        cutting_server server(tls.server_context(), true);
        const examples::exchange_result x =
            exchange_once(https("127.0.0.1", server.port()), client.value().get());
        BOOST_TEST(x.head_received);
        BOOST_TEST(x.body_bytes == 10u);
        BOOST_TEST((x.ec == std_code(http::error::partial_message)), x.ec.message());
        const fl::failure f = fl::to_failure(x.ec);
        BOOST_TEST(f.cat == fl::category::upstream_unavailable);
        BOOST_TEST(f.retryable);
    }
    {
        cutting_server server(tls.server_context(), false);
        const examples::exchange_result x =
            exchange_once(https("127.0.0.1", server.port()), client.value().get());
        BOOST_TEST(!x.head_received);
        BOOST_TEST((x.ec == std_code(http::error::end_of_stream)), x.ec.message());
    }
}

BOOST_AUTO_TEST_CASE(a_server_silent_in_the_handshake_times_out) {
    // The kernel completes TCP connects to a listening socket by itself; nobody answers the
    // ClientHello.
    net::io_context io;
    tcp::acceptor silent(io, {net::ip::make_address("127.0.0.1"), 0});
    auto tls = examples::make_tls_client_context();
    BOOST_TEST_REQUIRE(tls.has_value());
    examples::exchange_result x;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            examples::http_connection c(
                io.get_executor(),
                examples::parse_base_url(https("127.0.0.1", silent.local_endpoint().port()))
                    .value(),
                tls.value().get());
            auto req = c.make_request(http::verb::get, "/", "");
            examples::exchange_options eo;
            eo.idle_timeout = 50ms;
            x = co_await c.exchange(
                req, [](std::string_view) { return std::error_code(); }, eo);
        },
        net::detached);
    io.run();
    BOOST_TEST((x.ec == std_code(beast::error::timeout)), x.ec.message());
    BOOST_TEST(!x.head_received);
    const fl::failure f = fl::to_failure(x.ec);
    BOOST_TEST(f.cat == fl::category::timeout);
    BOOST_TEST(f.retryable);
}

BOOST_AUTO_TEST_CASE(ca_file_values_are_checked) {
    tls_files tls;
    std::string why;
    auto https_ok = client_options({"--url", "https://127.0.0.1:9/v1"}, why);
    BOOST_TEST_REQUIRE(https_ok.has_value(), why);
    BOOST_TEST(https_ok.value().url.tls);
    BOOST_TEST(https_ok.value().url.port == 9u);
    BOOST_TEST(https_ok.value().tls != nullptr); // the system's store
    auto http_ok = client_options({"--url", "http://127.0.0.1:9/v1"}, why);
    BOOST_TEST_REQUIRE(http_ok.has_value(), why);
    BOOST_TEST(http_ok.value().tls == nullptr);

    // A PEM file without a certificate (the key) is refused by name.
    const auto key = client_options({"--url", "https://x", "--ca-file", tls.key_file()}, why);
    BOOST_TEST(!key.has_value());
    BOOST_TEST(why.find("--ca-file: cannot use '" + tls.key_file() +
                        "': no certificate or crl found") == 0u,
               why);
    const auto missing =
        client_options({"--url", "https://x", "--ca-file", "/nonexistent/ca.pem"}, why);
    BOOST_TEST((missing.error() == fl::error::invalid_request));
    BOOST_TEST(why == "--ca-file: cannot use '/nonexistent/ca.pem': No such file or directory");
}

BOOST_AUTO_TEST_CASE(certificate_failures_are_not_retryable_failures) {
    // faultline has no code of its own for them: category unknown, never retried, and the
    // message says which.
    using examples::tls_error;
    for (const tls_error e : {tls_error::not_configured, tls_error::certificate_untrusted,
                              tls_error::certificate_host_mismatch, tls_error::certificate_expired,
                              tls_error::certificate_rejected}) {
        const std::error_code ec = e;
        BOOST_TEST(std::string(ec.category().name()) == "examples.tls");
        BOOST_TEST(ec.message() != "examples.tls: unknown error");
        BOOST_TEST(!fl::is_retryable(ec));
        const fl::failure f = fl::to_failure(ec);
        BOOST_TEST(f.cat == fl::category::unknown);
        BOOST_TEST(f.code == fl::error::unknown);
        BOOST_TEST(!f.retryable);
        BOOST_TEST(f.message == ec.message());
    }
    // OpenSSL's verification results, as the codes read them.
    const std::pair<long, tls_error> rows[] = {
        {X509_V_ERR_HOSTNAME_MISMATCH, tls_error::certificate_host_mismatch},
        {X509_V_ERR_IP_ADDRESS_MISMATCH, tls_error::certificate_host_mismatch},
        {X509_V_ERR_CERT_HAS_EXPIRED, tls_error::certificate_expired},
        {X509_V_ERR_CERT_NOT_YET_VALID, tls_error::certificate_expired},
        {X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, tls_error::certificate_untrusted},
        {X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, tls_error::certificate_untrusted},
        {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, tls_error::certificate_untrusted},
        {X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, tls_error::certificate_untrusted},
        {X509_V_ERR_CERT_REVOKED, tls_error::certificate_rejected},
        {X509_V_ERR_CERT_SIGNATURE_FAILURE, tls_error::certificate_rejected},
    };
    for (const auto& [result, want] : rows)
        BOOST_TEST((examples::detail::verify_failure(result) == want), result);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(loadgen_tls)

BOOST_AUTO_TEST_CASE(with_the_ca_file_it_completes_every_request) {
    tls_files tls;
    sim_thread sim(test_config().channels, tls.server_context());
    auto parsed =
        loadgen_line({"--url", https("127.0.0.1", sim.port()) + "/ok-a", "--ca-file",
                      tls.cert_file(), "--requests", "24", "--connections", "4", "--stream"});
    auto* line = std::get_if<lg::command_line>(&parsed);
    BOOST_TEST_REQUIRE(line != nullptr);
    BOOST_TEST_REQUIRE(line->run.tls != nullptr);
    const lg::report rep = lg::run(line->run);
    BOOST_TEST(rep.requests == 24u);
    BOOST_TEST(rep.ok == 24u);
    BOOST_TEST(rep.errors == 0u);
    BOOST_TEST(rep.stream_verdicts.at(fl::sse::terminal::done) == 24u);
    BOOST_TEST(rep.content_events == 24u * 9u);
    BOOST_TEST(rep.settings.url.starts_with("https://127.0.0.1:"));
    BOOST_TEST(sim.server().snapshot().calls_to("ok-a") == 24u);
    BOOST_TEST(sim.server().snapshot().connections == 4u); // one kept-alive TLS connection each
}

BOOST_AUTO_TEST_CASE(without_the_ca_file_every_request_is_a_certificate_failure) {
    tls_files tls;
    sim_thread sim(test_config().channels, tls.server_context());
    auto parsed = loadgen_line({"--url", https("127.0.0.1", sim.port()) + "/ok-a", "--requests",
                                "5", "--connections", "2", "--retries", "3"});
    auto* line = std::get_if<lg::command_line>(&parsed);
    BOOST_TEST_REQUIRE(line != nullptr);
    const lg::report rep = lg::run(line->run);
    BOOST_TEST(rep.requests == 5u);
    BOOST_TEST(rep.errors == 5u);
    BOOST_TEST(rep.retries == 0u); // not retryable, whatever --retries says
    BOOST_TEST(rep.statuses.at(0) == 5u);
    BOOST_TEST(
        (rep.failures.at(lg::failure_kind{fl::category::unknown, fl::error::unknown}) == 5u));
    BOOST_TEST_REQUIRE(rep.transport_errors.size() == 1u);
    BOOST_TEST(rep.transport_errors.begin()->first.starts_with(
        "certificate verify failed: the server's certificate is not signed by a trusted CA"));
    BOOST_TEST(sim.server().snapshot().calls_to("ok-a") == 0u);
}

BOOST_AUTO_TEST_CASE(ca_file_values_and_contexts_are_checked) {
    tls_files tls;
    const auto problem = [](std::vector<std::string> words) {
        auto r = loadgen_line(std::move(words));
        const auto* e = std::get_if<lg::usage_error>(&r);
        BOOST_TEST_REQUIRE(e != nullptr);
        return *e;
    };
    const lg::usage_error http =
        problem({"--url", "http://h", "--requests", "1", "--ca-file", tls.cert_file()});
    BOOST_TEST((http.problem == lg::usage_problem::invalid_ca_file));
    BOOST_TEST(http.message == "--ca-file: needs an https --url");
    const lg::usage_error key =
        problem({"--url", "https://h", "--requests", "1", "--ca-file", tls.key_file()});
    BOOST_TEST((key.problem == lg::usage_problem::invalid_ca_file));
    BOOST_TEST(key.message.find("--ca-file: cannot use '" + tls.key_file() +
                                "': no certificate or crl found") == 0u,
               key.message);

    // A library caller's https options without a context cannot run.
    lg::options o;
    o.url = examples::parse_base_url("https://127.0.0.1:9").value();
    o.requests = 1;
    BOOST_TEST(lg::validate(o) == "an https URL needs a TLS client context (options::tls)");
    BOOST_CHECK_THROW((void)lg::run(o), std::invalid_argument);
    o.tls = examples::make_tls_client_context().value();
    BOOST_TEST(lg::validate(o).empty());
}

BOOST_AUTO_TEST_SUITE_END()

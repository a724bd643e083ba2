// faultline-upstream-sim: the gateway's simulated upstream channels as a real HTTP(S) server.
// Prints "faultline-upstream-sim listening on http://HOST:PORT" (https:// with TLS) once it
// accepts connections.

#include "common/cli.hpp"
#include "gateway/config.hpp"
#include "upstream-sim/sim.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr std::string_view program = "faultline-upstream-sim";

constexpr std::string_view description =
    R"(Serves the faultline gateway's simulated upstream channels over real sockets: each channel
answers POST /<channel>/v1/chat/completions and POST /<channel>/v1/responses (the same answer in
the Responses API's shape), and GET /<channel>/v1/models, with the replies, failures and timing
its configuration describes: error statuses, resets, held calls, streams cut short or with error
chunks, huge lines.)";

constexpr std::string_view footer =
    R"(On start it prints "faultline-upstream-sim listening on http://HOST:PORT" (https:// with
--tls-cert) on stdout. SIGINT or SIGTERM stops it. Exit status: 0 after a signal, 1 when it
cannot start, 2 for usage errors.)";

} // namespace

int main(int argc, char** argv) {
    namespace gw = examples::gateway;
    namespace us = examples::upstream_sim;
    std::span<char* const> args(argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0));
    std::optional<std::string> config_file, tls_cert, tls_key;
    us::sim_options options;
    std::uint64_t hold_ms = static_cast<std::uint64_t>(options.hold_limit.count());
    examples::command_line cl(std::string(program), "[options]", std::string(description),
                              std::string(footer));
    cl.text("--config", "FILE",
            "a gateway JSON configuration whose channels are served (default: the built-in\n"
            "demo configuration's channels)",
            config_file);
    cl.text("--host", "ADDR", "address to listen on (default 127.0.0.1)", options.host);
    cl.whole("--port", "N", "port to listen on; 0 picks a free one (default 0)", 0, 65535,
             options.port);
    cl.text("--tls-cert", "FILE", "serve HTTPS with this PEM certificate chain (needs --tls-key)",
            tls_cert);
    cl.text("--tls-key", "FILE", "the PEM private key of --tls-cert", tls_key);
    cl.whole("--hold-ms", "N",
             "how long a call that is never answered (failure mode timeout) is held\n"
             "before its connection is closed, in milliseconds (default 60000)",
             0, 86'400'000, hold_ms);
    if (const examples::parse_outcome p = cl.parse(args); p.what != examples::parse_ending::run)
        return cl.finish(p);
    if (tls_cert.has_value() != tls_key.has_value())
        return cl.fail("--tls-cert and --tls-key go together");
    options.hold_limit = std::chrono::milliseconds(hold_ms);

    std::vector<gw::channel_config> channels = gw::demo_config().channels;
    if (config_file) {
        std::string why;
        auto parsed = gw::read_config_file(*config_file, why);
        if (!parsed) {
            std::fprintf(stderr, "%s: %s\n", program.data(), why.c_str());
            return 1;
        }
        channels = std::move(parsed.value().channels);
    }
    if (tls_cert) {
        auto ctx = us::make_tls_context(*tls_cert, *tls_key);
        if (!ctx) {
            std::fprintf(stderr, "%s: cannot use %s and %s for TLS: %s\n", program.data(),
                         tls_cert->c_str(), tls_key->c_str(), ctx.error().message().c_str());
            return 1;
        }
        options.tls = std::move(ctx.value());
    }

    boost::asio::io_context io(1);
    const std::string host = options.host;
    std::unique_ptr<us::sim_server> sim;
    try {
        sim = std::make_unique<us::sim_server>(io.get_executor(), std::move(channels), options);
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "%s: invalid configuration: %s\n", program.data(), e.what());
        return 1;
    }
    const auto bound = sim->listen();
    if (!bound) {
        std::fprintf(stderr, "%s: cannot listen on %s:%u: %s\n", program.data(), host.c_str(),
                     unsigned(options.port), bound.error().message().c_str());
        return 1;
    }
    // An IPv6 address is bracketed in a URL.
    const bool v6 = host.find(':') != std::string::npos;
    std::printf("%s listening on %s://%s%s%s:%u\n", program.data(), sim->tls() ? "https" : "http",
                v6 ? "[" : "", host.c_str(), v6 ? "]" : "", unsigned(bound.value()));
    std::fflush(stdout);

    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code&, int) {
        sim->close();
        io.stop();
    });
    io.run();
    const us::stats st = sim->snapshot();
    std::fprintf(stderr, "%s: stopped after %llu requests on %llu connections\n", program.data(),
                 static_cast<unsigned long long>(st.requests),
                 static_cast<unsigned long long>(st.connections));
    return 0;
}

// faultline-gateway: an OpenAI-compatible gateway in front of upstream channels: real ones at
// their URLs, or simulated ones (in its own process, or in faultline-upstream-sim).
// Prints "faultline-gateway listening on http://HOST:PORT" once it accepts connections, then one
// log line per request on stderr.

#include "common/cli.hpp"
#include "common/http_client.hpp"
#include "gateway/gateway.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdio>
#include <iostream>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::string_view program = "faultline-gateway";

constexpr std::string_view description =
    R"(An OpenAI-compatible HTTP/1.1 gateway (POST /v1/chat/completions, POST /v1/responses, GET
/v1/models) in front of upstream channels: OpenAI-compatible servers at http or https URLs, or
simulated channels whose failures are configured per model (in this process, or in
faultline-upstream-sim). Built on faultline: error envelopes, classification, SSE monitoring, rate
limits, circuit breakers.)";

constexpr std::string_view footer =
    R"(On start it prints "faultline-gateway listening on http://HOST:PORT" on stdout. SIGINT or
SIGTERM stops it. Exit status: 0 after a signal, 1 when it cannot start, 2 for usage errors.)";

} // namespace

int main(int argc, char** argv) {
    namespace gw = examples::gateway;
    std::span<char* const> args(argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0));
    std::optional<std::string> config_file, host, redis;
    std::optional<std::uint16_t> port;
    std::optional<unsigned> threads;
    std::optional<std::string> channels_at, ca_file;
    bool no_limits = false, quiet = false;
    examples::command_line cl(std::string(program), "[options]", std::string(description),
                              std::string(footer));
    cl.text("--config", "FILE",
            "JSON configuration (see the README's \"Gateway\" section); default: the\n"
            "built-in demo configuration (keys sk-demo-*, models gpt-sim, sim-*)",
            config_file);
    cl.text("--host", "ADDR", "address to listen on (default 127.0.0.1, or the config's)", host);
    cl.whole("--port", "N", "port to listen on; 0 picks a free one (default 8080, or the config's)",
             0, 65535, port);
    cl.whole("--threads", "N", "threads running the server (default 1, or the config's)", 1, 256,
             threads);
    cl.text("--channels-at", "URL",
            "call every channel that has no url over the network at URL/<channel>/v1\n"
            "(a faultline-upstream-sim serving the same configuration)",
            channels_at);
    cl.text("--ca-file", "FILE",
            "a PEM file of certificate authorities to trust for an https --channels-at", ca_file);
    cl.flag("--no-limits", "turn rate, token and in-flight limits off (for measuring their cost)",
            no_limits);
    std::uint16_t redis_port = 0;
    cl.value("--redis", "HOST:PORT",
             "keep rate limits in Redis, shared by every gateway using that server",
             [&](const std::string& v) {
                 const std::size_t colon = v.rfind(':');
                 const auto p =
                     colon == std::string::npos || colon == 0
                         ? std::nullopt
                         : examples::parse_uint(std::string_view(v).substr(colon + 1), 65535);
                 if (!p || *p == 0) throw examples::bad_value{"HOST:PORT"};
                 redis = v.substr(0, colon);
                 redis_port = static_cast<std::uint16_t>(*p);
             });
    cl.flag("--quiet", "no log lines", quiet);
    if (const examples::parse_outcome p = cl.parse(args); p.what != examples::parse_ending::run)
        return cl.finish(p);

    gw::gateway_config config = gw::demo_config();
    if (config_file) {
        std::string why;
        auto parsed = gw::read_config_file(*config_file, why);
        if (!parsed) {
            std::fprintf(stderr, "%s: %s\n", program.data(), why.c_str());
            return 1;
        }
        config = std::move(parsed.value());
    }
    if (channels_at) {
        if (!examples::parse_base_url(*channels_at)) {
            std::fprintf(stderr,
                         "%s: --channels-at: must be an http:// or https:// URL, not '%s'\n",
                         program.data(), channels_at->c_str());
            return 2;
        }
        gw::route_channels(config, *channels_at, ca_file.value_or(""));
    } else if (ca_file) {
        std::fprintf(stderr, "%s: --ca-file: needs --channels-at\n", program.data());
        return 2;
    }
    if (host) config.host = *host;
    if (port) config.port = *port;
    if (threads) config.threads = *threads;
    if (no_limits) config.limits_enabled = false;

    boost::asio::io_context io(static_cast<int>(config.threads));
    gw::server_options options;
    if (!quiet)
        options.log = [](std::string_view line) { std::cerr << program << ": " << line << '\n'; };
    if (redis) {
#ifdef FAULTLINE_EXAMPLES_REDIS
        options.limiter = gw::make_redis_limiter(config, *redis, redis_port);
#else
        std::fprintf(stderr, "%s: built without hiredis; --redis is not available\n",
                     program.data());
        return 1;
#endif
    }
    std::unique_ptr<gw::server> server;
    try {
        server = std::make_unique<gw::server>(io.get_executor(), config, std::move(options));
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "%s: invalid configuration: %s\n", program.data(), e.what());
        return 1;
    }
    const auto bound = server->listen();
    if (!bound) {
        std::fprintf(stderr, "%s: cannot listen on %s:%u: %s\n", program.data(),
                     config.host.c_str(), unsigned(config.port), bound.error().message().c_str());
        return 1;
    }
    std::printf("%s listening on http://%s:%u\n", program.data(), config.host.c_str(),
                unsigned(bound.value()));
    std::fflush(stdout);

    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < config.threads; ++t)
        pool.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : pool)
        t.join();
    const gw::stats st = server->snapshot();
    if (!quiet)
        std::fprintf(stderr,
                     "%s: stopped after %llu requests (%llu ok, %llu 429, %llu 4xx, %llu 5xx)\n",
                     program.data(), static_cast<unsigned long long>(st.requests),
                     static_cast<unsigned long long>(st.ok),
                     static_cast<unsigned long long>(st.rate_limited),
                     static_cast<unsigned long long>(st.client_errors),
                     static_cast<unsigned long long>(st.server_errors));
    if (!quiet)
        for (const gw::adaptive_stats& a : server->adaptive_limits())
            std::fprintf(stderr, "%s: channel %s adaptive limit %llu (%llu calls refused at it)\n",
                         program.data(), a.channel.c_str(),
                         static_cast<unsigned long long>(a.limit),
                         static_cast<unsigned long long>(a.refused));
    return 0;
}

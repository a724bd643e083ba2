// faultline-gateway: an OpenAI-compatible gateway in front of simulated upstream channels.
// Prints "faultline-gateway listening on http://HOST:PORT" once it accepts connections, then one
// log line per request on stderr.

#include "common/cli.hpp"
#include "gateway/gateway.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::string_view program = "faultline-gateway";

constexpr std::string_view help = R"(usage: faultline-gateway [options]

An OpenAI-compatible HTTP/1.1 gateway (POST /v1/chat/completions, GET /v1/models) in front of
simulated upstream channels whose failures are configured per model. Built on faultline: error
envelopes, classification, SSE monitoring, rate limits, circuit breakers.

options:
  --config FILE      JSON configuration (see the README's "Gateway" section); default: the
                     built-in demo configuration (keys sk-demo-*, models gpt-sim, sim-*)
  --host ADDR        address to listen on (default 127.0.0.1, or the config's)
  --port N           port to listen on; 0 picks a free one (default 8080, or the config's)
  --threads N        threads running the server (default 1, or the config's)
  --no-limits        turn rate, token and in-flight limits off (for measuring their cost)
  --redis HOST:PORT  keep rate limits in Redis, shared by every gateway using that server
  --quiet            no log lines
  --help             this text

On start it prints "faultline-gateway listening on http://HOST:PORT" on stdout. SIGINT or
SIGTERM stops it. Exit status: 0 after a signal, 1 when it cannot start, 2 for usage errors.
)";

} // namespace

int main(int argc, char** argv) {
    namespace gw = examples::gateway;
    std::span<char*> args(argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0));
    std::optional<std::string> config_file, host, redis;
    std::optional<std::uint64_t> port, threads;
    bool no_limits = false, quiet = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        if (a == "--help" || a == "-h") {
            std::fputs(help.data(), stdout);
            return 0;
        }
        if (a == "--no-limits") {
            no_limits = true;
            continue;
        }
        if (a == "--quiet") {
            quiet = true;
            continue;
        }
        if (a != "--config" && a != "--host" && a != "--port" && a != "--threads" && a != "--redis")
            return examples::usage_error(program, "unknown argument '" + std::string(a) + "'");
        const auto v = examples::next_value(args, i);
        if (!v) return examples::usage_error(program, std::string(a) + " needs a value");
        if (a == "--config")
            config_file = std::string(*v);
        else if (a == "--host")
            host = std::string(*v);
        else if (a == "--redis")
            redis = std::string(*v);
        else if (a == "--port" && !(port = examples::parse_uint(*v, 65535)))
            return examples::usage_error(program, "--port must be 0..65535");
        else if (a == "--threads" && !(threads = examples::parse_uint(*v, 256)))
            return examples::usage_error(program, "--threads must be 1..256");
        else if (a == "--threads" && *threads == 0)
            return examples::usage_error(program, "--threads must be 1..256");
    }

    gw::gateway_config config = gw::demo_config();
    if (config_file) {
        std::ifstream in(*config_file, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "%s: cannot open '%s'\n", program.data(), config_file->c_str());
            return 1;
        }
        std::ostringstream text;
        text << in.rdbuf();
        std::string why;
        auto parsed = gw::parse_config(text.str(), why);
        if (!parsed) {
            std::fprintf(stderr, "%s: %s: %s\n", program.data(), config_file->c_str(), why.c_str());
            return 1;
        }
        config = std::move(parsed.value());
    }
    if (host) config.host = *host;
    if (port) config.port = static_cast<std::uint16_t>(*port);
    if (threads) config.threads = static_cast<unsigned>(*threads);
    if (no_limits) config.limits_enabled = false;

    boost::asio::io_context io(static_cast<int>(config.threads));
    gw::server_options options;
    if (!quiet)
        options.log = [](std::string_view line) { std::cerr << program << ": " << line << '\n'; };
    if (redis) {
#ifdef FAULTLINE_EXAMPLES_REDIS
        const std::size_t colon = redis->rfind(':');
        const auto rport =
            colon == std::string::npos
                ? std::nullopt
                : examples::parse_uint(std::string_view(*redis).substr(colon + 1), 65535);
        if (!rport || *rport == 0 || colon == 0)
            return examples::usage_error(program, "--redis must be HOST:PORT");
        options.limiter = gw::make_redis_limiter(config, redis->substr(0, colon),
                                                 static_cast<std::uint16_t>(*rport));
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
    return 0;
}

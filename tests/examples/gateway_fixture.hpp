#ifndef FAULTLINE_TESTS_EXAMPLES_GATEWAY_FIXTURE_HPP
#define FAULTLINE_TESTS_EXAMPLES_GATEWAY_FIXTURE_HPP

// A gateway on an ephemeral port of 127.0.0.1, served by threads of its own, with a manual clock
// for its limits and breakers, its channels served by a `faultline-upstream-sim` server on
// another port (every byte crosses a socket, as in production); and a blocking HTTP exchange
// for the test thread, which reads streams through `faultline::sse::monitor`.

#include "common/chat.hpp"
#include "common/http_client.hpp"
#include "gateway/gateway.hpp"
#include "upstream-sim/sim.hpp"

#include <faultline/retry/policy.hpp>
#include <faultline/sse/monitor.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// Boost.Test prints the values of failed checks through these (found by ADL).
namespace faultline {
inline std::ostream& boost_test_print_type(std::ostream& os, error e) {
    return os << to_string(e);
}
inline std::ostream& boost_test_print_type(std::ostream& os, category c) {
    return os << to_string(c);
}
inline std::ostream& boost_test_print_type(std::ostream& os, give_up_reason r) {
    return os << to_string(r);
}
namespace sse {
inline std::ostream& boost_test_print_type(std::ostream& os, terminal t) {
    return os << to_string(t);
}
} // namespace sse
} // namespace faultline
namespace examples::gateway {
inline std::ostream& boost_test_print_type(std::ostream& os, failure_mode m) {
    return os << to_string(m);
}
} // namespace examples::gateway

namespace examples_test {

namespace net = boost::asio;
namespace http = boost::beast::http;
namespace gw = examples::gateway;
using namespace std::chrono_literals;

/// The demo configuration with waits short enough for tests.
inline gw::gateway_config test_config() {
    gw::gateway_config c = gw::demo_config();
    c.port = 0;
    c.upstream_timeout = 400ms;
    c.streaming_timeout = 2s;
    c.heartbeat = 20ms;
    for (auto& ch : c.channels) {
        if (ch.name == "slow") ch.chunk_interval = 150ms; // several heartbeats per gap
        if (ch.name == "long") {
            ch.chunks = 30;
            ch.chunk_interval = 100ms; // 3 s > 2 s
        }
    }
    return c;
}

/// A channel named `name` that the simulator answers in `mode`.
inline gw::channel_config channel(std::string name,
                                  gw::failure_mode mode = gw::failure_mode::none) {
    gw::channel_config c;
    c.name = std::move(name);
    c.mode = mode;
    return c;
}

/// One response as the test saw it.
struct response {
    std::error_code ec; ///< Transport error or cut stream.
    unsigned status = 0;
    http::fields headers;
    std::string body;
    // For event streams:
    faultline::sse::terminal verdict = faultline::sse::terminal::eof_without_done;
    std::optional<faultline::failure> stream_failure;
    std::size_t content_events = 0;
    std::size_t comments = 0; ///< Heartbeat comment lines seen.

    [[nodiscard]] std::string header(std::string_view name) const {
        const auto it = headers.find(name);
        return it == headers.end() ? std::string() : std::string(it->value());
    }
};

/// The body of a chat request.
inline std::string chat_body(std::string_view model, bool stream = false,
                             std::uint64_t max_tokens = 0, std::string_view prompt = "hi") {
    return examples::chat_request_body(model, prompt, max_tokens, stream);
}

/// A monitor handler that takes lines of any size in fragments (the gateway relays them).
struct any_line_handler {
    void on_event(const faultline::sse::event&, faultline::sse::event_kind) noexcept {}
    void on_fragment(const faultline::sse::event_fragment&, faultline::sse::event_kind) noexcept {}
};

/// Header fields to add to a request.
using extra_fields = std::vector<std::pair<std::string, std::string>>;

/// Sends one request over `conn` (with `extra` header fields) and reads the whole response.
inline net::awaitable<response> exchange(examples::http_connection& conn, http::verb method,
                                         std::string target, std::string_view key, std::string body,
                                         extra_fields extra = {}) {
    response out;
    auto req = conn.make_request(method, target, key, std::move(body));
    for (const auto& [name, value] : extra)
        req.set(name, value);
    bool streaming = false;
    faultline::sse::monitor<any_line_handler> monitor(std::chrono::steady_clock::now());
    examples::exchange_options eo;
    eo.idle_timeout = 10s;
    const examples::exchange_result r = co_await conn.exchange(
        req,
        [&](const examples::response_head& h) {
            const auto it = h.headers.find(http::field::content_type);
            streaming = it != h.headers.end() && it->value().starts_with("text/event-stream");
        },
        [&](std::string_view piece) -> std::error_code {
            out.body.append(piece);
            if (!streaming) return {};
            return monitor.feed(piece, std::chrono::steady_clock::now());
        },
        eo);
    out.ec = r.ec;
    out.status = r.head.status;
    out.headers = r.head.headers;
    if (streaming) {
        const faultline::sse::verdict v = monitor.finish();
        out.verdict = v.kind;
        out.stream_failure = v.failure;
        out.content_events = monitor.content_events();
        for (std::size_t at = 0; (at = out.body.find("\n: ", at)) != std::string::npos; ++at)
            ++out.comments;
    }
    co_return out;
}

/// A `faultline-upstream-sim` server serving `channels` at `host` (an IP address) on a thread of
/// its own, over TLS when given a server context.
class sim_thread {
public:
    explicit sim_thread(std::vector<gw::channel_config> channels,
                        std::shared_ptr<net::ssl::context> tls = nullptr,
                        std::string host = "127.0.0.1") {
        examples::upstream_sim::sim_options o;
        o.tls = std::move(tls);
        o.host = std::move(host);
        sim_ = std::make_unique<examples::upstream_sim::sim_server>(io_.get_executor(),
                                                                    std::move(channels), o);
        port_ = sim_->listen().value();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~sim_thread() {
        io_.stop();
        thread_.join();
    }
    sim_thread(const sim_thread&) = delete;
    sim_thread& operator=(const sim_thread&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] examples::upstream_sim::sim_server& server() noexcept { return *sim_; }

private:
    net::io_context io_;
    std::unique_ptr<examples::upstream_sim::sim_server> sim_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

/// Which time the gateway's limits and breakers see: the manual clock (moved by `advance`), or
/// the steady clock (load runs).
enum class clock_kind { manual, real };

/// Where the channels without a URL answer: a simulator server on loopback (the default), or
/// the gateway's own process.
enum class upstream_kind { sim, in_process };

/// A gateway running on `config.threads` threads of its own.
class gateway_fixture {
public:
    explicit gateway_fixture(gw::gateway_config config = test_config(),
                             clock_kind kind = clock_kind::manual,
                             std::unique_ptr<gw::rate_limiter> limiter = nullptr,
                             upstream_kind upstream = upstream_kind::sim)
        : base_(std::chrono::steady_clock::now()) {
        if (upstream == upstream_kind::sim) {
            sim_ = std::make_unique<examples::upstream_sim::sim_server>(io_.get_executor(),
                                                                        config.channels);
            gw::route_channels(config,
                               "http://127.0.0.1:" + std::to_string(sim_->listen().value()));
        }
        gw::server_options o;
        if (kind == clock_kind::manual)
            o.clock = [this] { return base_ + std::chrono::nanoseconds(offset_ns_.load()); };
        o.seed = 42;
        o.log = [this](std::string_view line) {
            {
                const std::lock_guard lock(log_mutex_);
                log_.emplace_back(line);
            }
            logged_.notify_all();
        };
        if (limiter) o.limiter = std::move(limiter);
        server_ = std::make_unique<gw::server>(io_.get_executor(), std::move(config), std::move(o));
        port_ = server_->listen().value();
        for (unsigned t = 0; t < std::max(1u, server_->config().threads); ++t)
            threads_.emplace_back([this] { io_.run(); });
    }
    ~gateway_fixture() {
        io_.stop();
        for (auto& t : threads_)
            t.join();
    }
    gateway_fixture(const gateway_fixture&) = delete;
    gateway_fixture& operator=(const gateway_fixture&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    [[nodiscard]] gw::server& server() noexcept { return *server_; }
    /// The simulator serving the channels; null for `upstream_kind::in_process`.
    [[nodiscard]] examples::upstream_sim::sim_server* sim() noexcept { return sim_.get(); }

    /// Moves the limits' and breakers' clock forward.
    void advance(std::chrono::nanoseconds d) { offset_ns_ += d.count(); }

    /// Log lines so far.
    [[nodiscard]] std::vector<std::string> log() const {
        const std::lock_guard lock(log_mutex_);
        return log_;
    }

    /// Waits (10 s at most) until `n` log lines contain `needle`; false if they did not.
    [[nodiscard]] bool wait_log(std::string_view needle, std::size_t n = 1) const {
        std::unique_lock lock(log_mutex_);
        return logged_.wait_for(lock, std::chrono::seconds(10), [&] {
            return static_cast<std::size_t>(
                       std::count_if(log_.begin(), log_.end(), [&](const std::string& l) {
                           return l.find(needle) != std::string::npos;
                       })) >= n;
        });
    }

    /// One request on a fresh connection, blocking.
    response request(http::verb method, std::string target, std::string_view key,
                     std::string body = {}, extra_fields extra = {}) {
        net::io_context io;
        response out;
        net::co_spawn(
            io,
            [&]() -> net::awaitable<void> {
                examples::http_connection conn(io.get_executor(),
                                               examples::parse_base_url(url()).value());
                out = co_await exchange(conn, method, std::move(target), key, std::move(body),
                                        std::move(extra));
            },
            net::detached);
        io.run();
        return out;
    }
    response chat(std::string_view key, std::string body, extra_fields extra = {}) {
        return request(http::verb::post, "/v1/chat/completions", key, std::move(body),
                       std::move(extra));
    }

private:
    net::io_context io_;
    std::chrono::steady_clock::time_point base_;
    std::atomic<std::int64_t> offset_ns_{0};
    mutable std::mutex log_mutex_;
    mutable std::condition_variable logged_;
    std::vector<std::string> log_;
    std::unique_ptr<examples::upstream_sim::sim_server> sim_;
    std::unique_ptr<gw::server> server_;
    std::uint16_t port_ = 0;
    std::vector<std::thread> threads_;
};

} // namespace examples_test

#endif

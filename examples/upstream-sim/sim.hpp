#ifndef FAULTLINE_EXAMPLES_UPSTREAM_SIM_SIM_HPP
#define FAULTLINE_EXAMPLES_UPSTREAM_SIM_SIM_HPP

// The gateway's simulated upstream channels served over real sockets: the same answers as
// `examples::gateway::simulate`, as bytes and timing on a TCP (or TLS) connection, so that a
// gateway can be tested against a real network peer. Each channel lives under its own path:
//
//     POST /<channel>/v1/chat/completions   the channel's answer to call n (n counts from 0)
//     POST /<channel>/v1/responses          the same answer as the Responses API gives it
//     GET  /<channel>/v1/models             {"object":"list","data":[{"id":"<channel>",...}]}
//
// How each simulated answer reaches the wire:
//
//  - `dead`: the connection is reset (SO_LINGER 0) once the request is read, with no answer;
//  - latency: the head is written `latency` after the request was read; a call whose latency is
//    at least `hold_limit` (`timeout` mode: 24 h) is held without an answer until the client
//    closes the connection or `hold_limit` passes, then closed;
//  - a non-stream answer or an error status: the status, the channel's headers, the body with
//    Content-Length;
//  - a stream: `text/event-stream` in chunked transfer coding, each piece written (`repeat`
//    times, one write each, never joined) at its offset from the call's start, with TCP_NODELAY;
//    then the last chunk, or for `closes_early` a close without it (the client sees a cut).
//
// Bad requests get an OpenAI error envelope: 404 for an unknown path or channel, 405 for another
// method, 400 for a body that is not a JSON object with a non-empty `messages` array, 413 for a
// body over `max_body`. Connections are kept alive when the client asks.
//
//     boost::asio::io_context io;
//     examples::upstream_sim::sim_server sim(io.get_executor(), demo_config().channels, {});
//     const std::uint16_t port = sim.listen().value();
//     io.run();
//
// Not part of faultline's API.

#include "gateway/config.hpp"

#include <faultline/result.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace examples::upstream_sim {

using examples::gateway::channel_config;

/// How a `sim_server` listens and what it bounds. A plain value.
struct sim_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0; ///< 0: an ephemeral port (`listen()` returns it).
    /// How long a call is held without an answer (a `timeout`-mode call, or any whose latency
    /// is this long or longer) before the connection is closed.
    std::chrono::milliseconds hold_limit{60'000};
    /// From when a request is awaited (a kept-alive connection's idle time included) to the end
    /// of its body, and the TLS handshake; after it the connection is closed.
    std::chrono::milliseconds read_timeout{10'000};
    /// Each write (a head, a body, one stream piece); a client that reads no faster is dropped.
    std::chrono::milliseconds write_timeout{30'000};
    std::size_t max_body = std::size_t(1) << 20; ///< Request bodies above: 413.
    /// TLS: connections are served over HTTPS with this context. Null: plain HTTP.
    std::shared_ptr<boost::asio::ssl::context> tls;
};

/// What the server counts. A plain value (a snapshot).
struct stats {
    std::uint64_t connections = 0; ///< Connections accepted.
    std::uint64_t requests = 0;    ///< Requests read (bad ones included).
    /// Calls made to each channel (its call counter), in configuration order.
    std::vector<std::pair<std::string, std::uint64_t>> calls;

    /// The calls made to `channel`; 0 for an unknown name.
    [[nodiscard]] std::uint64_t calls_to(std::string_view channel) const noexcept;
};

/// The first problem with `channels` as one line (an empty or duplicate name, a name with '/'
/// or other characters a path segment cannot hold as is), or "" when they can be served.
/// Thread-safe.
[[nodiscard]] std::string validate(const std::vector<channel_config>& channels);

/// A server TLS context with the PEM certificate chain `cert_file` and private key `key_file`
/// (TLS 1.2 or later). The error comes from OpenSSL (a missing file, a key that does not match
/// the certificate). Thread-safe.
[[nodiscard]] faultline::result<std::shared_ptr<boost::asio::ssl::context>>
make_tls_context(const std::string& cert_file, const std::string& key_file);

/// The simulated upstream. Construct, `listen()`, run the executor's io_context. Each connection
/// runs on a strand of its own. Thread-safe where stated.
class sim_server {
public:
    /// Throws `std::invalid_argument` with the problem if `validate(channels)` finds one or an
    /// option is out of range (a negative time, a zero `max_body`).
    sim_server(boost::asio::any_io_executor ex, std::vector<channel_config> channels,
               sim_options options = {});
    /// Stops accepting (as `close()`). The executor's io_context must outlive the server.
    ~sim_server();
    sim_server(const sim_server&) = delete;
    sim_server& operator=(const sim_server&) = delete;

    /// Binds `host:port` and starts accepting. Returns the bound port, or the error
    /// (`faultline::error::invalid_request` for a host that is not an IP address, else the
    /// system's). Not thread-safe (call once, before running).
    [[nodiscard]] faultline::result<std::uint16_t> listen();

    /// Stops accepting; connections in progress finish. Thread-safe.
    void close();

    /// The counters so far. Thread-safe.
    [[nodiscard]] stats snapshot() const;

    /// Whether connections are served over TLS. Thread-safe.
    [[nodiscard]] bool tls() const noexcept;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace examples::upstream_sim

#endif

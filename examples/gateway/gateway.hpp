#ifndef FAULTLINE_EXAMPLES_GATEWAY_GATEWAY_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_GATEWAY_HPP

// An OpenAI-compatible gateway on Boost.Beast, in front of upstream channels (OpenAI-compatible
// servers at http or https URLs, or channels simulated in-process): what a server built on
// faultline looks like. Per request it
//
//  - reads each request within a budget: at most `max_connections` connections open (503 beyond
//    it), the header within `header_timeout`, the body within `body_timeout` and no slower than
//    `min_body_bytes_per_second` (408 otherwise); a Transfer-Encoding other than `chunked`
//    alone, or one with a Content-Length, is a 400 and the connection is closed (RFC 9112 §6.1,
//    no request smuggling); `Expect: 100-continue` gets its interim answer; HEAD answers have no
//    body;
//  - answers unknown paths with 404, and a doubled "/v1/v1/..." with the diagnosis (reference
//    000) — before anything else, since the key cannot be checked on a path that does not exist;
//  - serves `GET /metrics` (and HEAD) without a key: Prometheus text of its requests, upstream
//    calls, limits, streams and breakers (metrics.hpp); with `gateway_config::metrics` false the
//    path is unknown (404);
//  - checks `Authorization: Bearer <key>` (401 with the envelope, hints for keys with stray
//    whitespace or invisible characters, never the key itself);
//  - reads the body (413 above `max_body`, 400 for bad JSON or fields, 404 model_not_found,
//    400 context_length_exceeded), the key's spend budget (429 spend_limit_exceeded);
//  - takes in-flight permits (key, user) and rate limits (requests and tokens per minute at the
//    key, user and upstream levels, all or nothing), answering 429 with `Retry-After`,
//    `retry-after-ms` and `x-ratelimit-*`, and the level in the message;
//  - under priority shedding (`shedding`), takes one of its slots for the request, waiting in
//    its bounded queue when all are busy; as the queue fills, lower priorities (the key's, or
//    lower as `x-priority` asks) are refused first with 503 `overloaded` and `Retry-After`;
//  - picks a channel whose circuit breaker is closed (round robin over the model's channels)
//    and whose adaptive concurrency limit, if it has one, admits another call; fails over to the
//    next when one fails retryably (a missed per-channel first-token time limit included), and
//    answers 503 no_available_channel with `Retry-After` when every breaker is open (503
//    overloaded when every channel is at its adaptive limit);
//  - classifies upstream errors in any dialect and answers with the taxonomy's status, type and
//    code; 5xx messages are redacted and carry an `event_id` that the log line repeats with the
//    real cause (references 001/002); an upstream 429 passes through with its Retry-After;
//  - calls a channel with a URL over keep-alive connections (TLS verified, see channel.hpp),
//    sending the client's body (the model renamed when the channel says so) and the channel's
//    key; a connection is closed when the call is abandoned;
//  - relays streams through `faultline::sse::monitor`: content as it comes, comment heartbeats
//    when the upstream is quiet, and on an upstream error chunk, a truncated upstream, a stream
//    over its memory budget, an upstream that goes quiet or the stream time limit, the error
//    chunk + `[DONE]` convention (reference 002) instead of a silent cut. Lines of any length
//    (a base64 image) are relayed in pieces as they arrive, in `stream_memory_budget` bytes.
//
// Time for limits and breakers comes from `server_options::clock`, so tests drive them with a
// manual clock; waits (upstream latency, heartbeats) use Asio timers.

#include "gateway/config.hpp"
#include "gateway/limits.hpp"

#include <faultline/result.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace examples::gateway {

/// What the server counts. A plain value (a snapshot).
struct stats {
    std::uint64_t connections = 0;       ///< Connections accepted.
    std::uint64_t requests = 0;          ///< Requests read.
    std::uint64_t ok = 0;                ///< 2xx answers.
    std::uint64_t client_errors = 0;     ///< 4xx answers other than 429.
    std::uint64_t rate_limited = 0;      ///< 429 answers.
    std::uint64_t server_errors = 0;     ///< 5xx answers.
    std::uint64_t streams = 0;           ///< Streams started (200, text/event-stream).
    std::uint64_t stream_errors = 0;     ///< Streams ended with an error chunk or a cut.
    std::uint64_t upstream_calls = 0;    ///< Calls made to channels.
    std::uint64_t failovers = 0;         ///< Calls made to another channel after one failed.
    std::uint64_t stream_bytes_peak = 0; ///< The most bytes one relayed stream held at once.
    std::uint64_t body_bytes_peak = 0;   ///< The most bytes all request bodies held at once.
    std::uint64_t bodies_refused = 0;    ///< Requests refused over `bodies_memory_budget`.
    std::uint64_t open_connections = 0;  ///< Connections open now (within `max_connections`).
    std::uint64_t shed_connections = 0;  ///< Connections refused over `max_connections`.
    std::uint64_t read_timeouts = 0;     ///< Requests cut off by the header or body time limits.
    /// Connections opened to channels with a URL (fewer than calls when kept alive).
    std::uint64_t upstream_connections = 0;
    /// Requests whose client went away before the answer ended (their upstream calls cancelled).
    std::uint64_t abandoned = 0;
    /// Priority shedding (`shedding`): requests that waited in its queue, requests it refused
    /// (503 overloaded), and requests waiting now.
    std::uint64_t queued = 0;
    std::uint64_t shed = 0;
    std::uint64_t waiting = 0;
};

/// A channel's adaptive concurrency limit (`adaptive_concurrency`), now. A plain value.
struct adaptive_stats {
    std::string channel;
    std::uint64_t limit = 0;     ///< Calls it admits in flight at once now.
    std::uint64_t in_flight = 0; ///< Calls in flight now.
    std::uint64_t refused = 0;   ///< Calls that skipped the channel at its limit so far.
};

/// Behaviour injected into a server.
struct server_options {
    /// The time limits and circuit breakers see. Default: `steady_clock::now`.
    std::function<std::chrono::steady_clock::time_point()> clock;
    /// Seed of the ids (`event_id`, `x-request-id`, completion ids). Default: random.
    std::uint64_t seed = 0;
    /// Where limits are kept. Default: in memory (`make_memory_limiter`).
    std::unique_ptr<rate_limiter> limiter;
    /// Receives one line per request and one per redacted error (the real cause and its
    /// event_id). Called from the server's threads; must be thread-safe. Default: none.
    std::function<void(std::string_view)> log;
};

/// The gateway. Construct, `listen()`, run the executor's io_context on `config.threads` threads
/// (with one, the server uses no strands: a second thread would race it).
class server {
public:
    /// Throws `std::invalid_argument` with the problem if `validate(config)` finds one.
    server(boost::asio::any_io_executor ex, gateway_config config, server_options options = {});
    /// Stops accepting (as `close()`). The executor's io_context must outlive the server.
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Binds `config.host:config.port` (0: ephemeral) and starts accepting. Returns the bound
    /// port, or the bind error. Not thread-safe (call once, before running).
    [[nodiscard]] faultline::result<std::uint16_t> listen();

    /// Stops accepting; connections in progress finish. Thread-safe.
    void close();

    /// The counters so far. Thread-safe.
    [[nodiscard]] stats snapshot() const noexcept;

    /// The adaptive concurrency limits of the channels that have one, in configuration order.
    /// Thread-safe.
    [[nodiscard]] std::vector<adaptive_stats> adaptive_limits() const;

    /// The configuration in force. Thread-safe.
    [[nodiscard]] const gateway_config& config() const noexcept;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace examples::gateway

#endif

#ifndef FAULTLINE_EXAMPLES_GATEWAY_CHANNEL_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_CHANNEL_HPP

// One call to an upstream channel as the gateway reads it: the head, then the body piece by
// piece as it arrives, every wait bounded by a deadline the caller gives. A channel with a URL
// is called over HTTP or HTTPS (OpenSSL through Asio, certificates verified against the system
// store and the channel's `ca_file`, SNI) on keep-alive connections kept per channel; a channel
// without one answers from its simulated failure mode in this process (upstream.hpp), with the
// same timing a socket would show.
//
//     auto call = channels.open(ch, request, n);
//     if (auto ec = co_await call->head(deadline)) ...   // refused, reset, timeout
//     call->status(), call->headers()
//     for (;;) {
//         body_piece p = co_await call->next(wake);      // bytes, nothing yet, the end, a cut
//         ...
//     }
//
// Destroying a call before its body ended closes its connection: the upstream sees the cancel.

#include "gateway/config.hpp"
#include "gateway/upstream.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace examples::gateway {

/// What the gateway sends a channel.
struct channel_request {
    call_info call;              ///< The call as simulated channels read it.
    std::string_view body;       ///< The JSON body sent to a channel with a URL.
    std::string_view request_id; ///< Sent as `x-request-id`.
};

/// One read of a body.
struct body_piece {
    /// A transport error, or `http::error::partial_message` when the upstream closed before the
    /// body's end (a cut stream), or `http::error::body_limit`.
    std::error_code ec;
    std::string_view bytes; ///< Valid until the next call.
    bool end = false;       ///< The body ended where its framing says.
};

/// A call in progress. Not thread-safe: one coroutine at a time.
class channel_call {
public:
    virtual ~channel_call() = default;

    /// Sends the request and waits for the response head until `deadline`: success, or the
    /// transport error (`boost::beast::error::timeout` when the deadline passed first).
    [[nodiscard]] virtual boost::asio::awaitable<std::error_code>
    head(std::chrono::steady_clock::time_point deadline) = 0;

    /// The next piece of the body, waiting until `wake` at most: some bytes; no bytes, no
    /// error and not `end` when `wake` came first (the call goes on); `end`; or an error.
    [[nodiscard]] virtual boost::asio::awaitable<body_piece>
    next(std::chrono::steady_clock::time_point wake) = 0;

    /// Ends the call's waits at once: the `head()` or `next()` in progress and every later one
    /// return `boost::asio::error::operation_aborted`. The connection stays open until the call
    /// is destroyed. Call it from the strand running the call.
    virtual void cancel() noexcept = 0;

    /// After `head()`: the status and headers.
    [[nodiscard]] unsigned status() const noexcept { return status_; }
    [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& headers() const noexcept {
        return headers_;
    }

protected:
    unsigned status_ = 0;
    std::vector<std::pair<std::string, std::string>> headers_;
};

/// The channels of a configuration: their connection pools and TLS settings. Thread-safe.
class channel_clients {
public:
    /// Reads each channel's `api_key_env` and `ca_file` now. Throws `std::invalid_argument` for
    /// an unset variable or an unreadable CA file (the message names the channel, never a key).
    channel_clients(boost::asio::any_io_executor ex, const gateway_config& config);
    ~channel_clients();
    channel_clients(const channel_clients&) = delete;
    channel_clients& operator=(const channel_clients&) = delete;

    /// A call of `ch` (one of the configuration's channels); `n` numbers the calls of a
    /// simulated channel. Thread-safe.
    [[nodiscard]] std::unique_ptr<channel_call>
    open(const channel_config& ch, const channel_request& request, std::uint64_t n);

    /// Connections opened so far, over all channels (reuse shows as fewer). Thread-safe.
    [[nodiscard]] std::uint64_t connections_opened() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace examples::gateway

#endif

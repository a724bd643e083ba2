#ifndef FAULTLINE_EXAMPLES_COMMON_HTTP_CLIENT_HPP
#define FAULTLINE_EXAMPLES_COMMON_HTTP_CLIENT_HPP

// The HTTP/1.1 client the examples share (faultline-client, faultline-loadgen, the end-to-end
// tests and the gateway benchmark): one keep-alive connection on Boost.Beast, driven from C++20
// coroutines, that hands the response body over piece by piece as it arrives, so a caller can
// feed an event stream to `faultline::sse::monitor` while it streams.
//
//     examples::http_connection c(co_await net::this_coro::executor,
//     *examples::parse_base_url(url)); examples::exchange_result r = co_await c.exchange(req,
//     [&](std::string_view piece) {
//         return monitor.feed(piece, clock::now());  // an error stops the read
//     });
//     if (r.ec) ...                                  // transport error, timeout, body too large
//     r.head.status, r.head.headers                  // what the server sent
//
// An https URL is spoken over verified TLS (tls.hpp): give the connection a client context, which
// many connections may share. An https URL without one fails with `tls_error::not_configured`;
// a certificate that does not verify fails the connect with another `tls_error`. Not part of
// faultline's API.

#include "common/tls.hpp"

#include <faultline/error.hpp>
#include <faultline/result.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace examples {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

/// An `http(s)://host[:port][/path]` base URL, split.
struct base_url {
    std::string host;
    std::uint16_t port = 80; ///< 443 by default for https.
    bool tls = false;        ///< https.
    std::string path;        ///< Without a trailing slash; "" for the root.

    /// `path` + `suffix` ("/v1/chat/completions").
    [[nodiscard]] std::string target(std::string_view suffix) const {
        return path + std::string(suffix);
    }
};

/// Splits `url`; `faultline::config_error::base_url_invalid` for anything but an http or https URL
/// with a host and an optional decimal port, without query or fragment. Thread-safe.
[[nodiscard]] inline faultline::result<base_url> parse_base_url(std::string_view url) {
    constexpr std::string_view http = "http://", https = "https://";
    base_url out;
    if (url.substr(0, http.size()) == http) {
        url.remove_prefix(http.size());
    } else if (url.substr(0, https.size()) == https) {
        url.remove_prefix(https.size());
        out.tls = true;
        out.port = 443;
    } else {
        return faultline::config_error::base_url_invalid;
    }
    const std::size_t slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    out.path = slash == std::string_view::npos ? "" : std::string(url.substr(slash));
    while (!out.path.empty() && out.path.back() == '/')
        out.path.pop_back();
    if (out.path.find_first_of("?# \t\r\n") != std::string::npos)
        return faultline::config_error::base_url_invalid;
    if (const std::size_t colon = authority.rfind(':');
        colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
        const std::string_view port = authority.substr(colon + 1);
        unsigned value = 0;
        const auto r = std::from_chars(port.data(), port.data() + port.size(), value);
        if (port.empty() || r.ec != std::errc() || r.ptr != port.data() + port.size() ||
            value == 0 || value > 65535)
            return faultline::config_error::base_url_invalid;
        out.port = static_cast<std::uint16_t>(value);
        authority = authority.substr(0, colon);
    }
    if (authority.size() > 2 && authority.front() == '[' && authority.back() == ']')
        authority = authority.substr(1, authority.size() - 2);
    if (authority.empty() || authority.find_first_of("@ \t\r\n/[]") != std::string_view::npos)
        return faultline::config_error::base_url_invalid;
    out.host = std::string(authority);
    return out;
}

/// A non-owning reference to a callable with the signature `R(A...)`: what `exchange` takes its
/// callbacks as, so that the exchange (Beast's reads and writes over plain and TLS streams) is
/// compiled once instead of once per caller. The callable must outlive the call it is given to:
/// `co_await conn.exchange(req, [&](...) {...})` in one expression keeps a temporary alive.
template <class Signature>
class callback_ref;

template <class R, class... A>
class callback_ref<R(A...)> {
public:
    // Implicit: a lambda given where a callback is expected.
    template <class F, std::enable_if_t<!std::is_same_v<std::remove_cvref_t<F>, callback_ref> &&
                                            std::is_invocable_r_v<R, F&, A...>,
                                        int> = 0>
    callback_ref(F&& f) noexcept
        : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f))))
        , call_([](void* o, A... a) -> R {
            return std::invoke(*static_cast<std::remove_reference_t<F>*>(o), std::forward<A>(a)...);
        }) {}

    R operator()(A... a) const { return call_(object_, std::forward<A>(a)...); }

private:
    void* object_;
    R (*call_)(void*, A...);
};

/// The status line and headers of a response.
struct response_head {
    unsigned status = 0;
    http::fields headers;
};

/// What one exchange ended with.
struct exchange_result {
    /// Transport errors (refused, reset, `beast::error::timeout`), TLS errors (`tls_error`
    /// for a certificate that does not verify, OpenSSL's for the rest), a body over the limit
    /// (`http::error::body_limit`), or the error the body callback returned. Empty when the
    /// whole response was read. A TLS stream cut without close_notify reads as a plain one
    /// cut (`http::error::end_of_stream`, `http::error::partial_message`).
    std::error_code ec;
    bool head_received = false; ///< Whether `head` holds a response.
    response_head head;
    std::uint64_t body_bytes = 0;
};

/// Limits of one exchange.
struct exchange_options {
    /// Longest wait for connect, the TLS handshake, the head, and each body read. A server
    /// that goes quiet for longer is `beast::error::timeout`.
    std::chrono::milliseconds idle_timeout{30'000};
    /// Largest body; longer is `http::error::body_limit` (never silently cut).
    std::uint64_t max_body = std::uint64_t(64) << 20;
};

/// `on_head(head)`: the head of a response, before its body.
using head_callback = callback_ref<void(const response_head&)>;
/// `on_body(piece) -> error`: a piece of the body; an error stops the read.
using body_callback = callback_ref<std::error_code(std::string_view)>;

/// One keep-alive HTTP/1.1 connection to a base URL, reconnecting when the server closed it.
/// Not thread-safe: one coroutine at a time.
class http_connection {
public:
    /// `tls`: the client context for an https `url` (see `make_tls_client_context`), which must
    /// outlive the connection; null for http. The stream always verifies the peer and its name,
    /// whatever the context says.
    http_connection(net::any_io_executor ex, base_url url, ssl::context* tls = nullptr)
        : plain_(std::move(ex))
        , url_(std::move(url))
        , tls_(tls) {}

    /// The base URL. Not thread-safe.
    [[nodiscard]] const base_url& url() const noexcept { return url_; }

    /// A request for `target` with Host, User-Agent and, when not empty, `Authorization: Bearer`.
    /// Not thread-safe.
    [[nodiscard]] http::request<http::string_body> make_request(http::verb method,
                                                                std::string_view target,
                                                                std::string_view api_key,
                                                                std::string body = {}) const {
        http::request<http::string_body> req{method, std::string(target), 11};
        req.set(http::field::host, url_.host + ":" + std::to_string(url_.port));
        req.set(http::field::user_agent, "faultline-examples");
        if (!api_key.empty()) req.set(http::field::authorization, "Bearer " + std::string(api_key));
        if (!body.empty() || method == http::verb::post) {
            req.set(http::field::content_type, "application/json");
            req.body() = std::move(body);
        }
        req.prepare_payload();
        return req;
    }

    /// Sends `req` and reads the response; every piece of the body goes to
    /// `on_body(std::string_view) -> std::error_code` as it arrives (an error stops the read and
    /// closes the connection). Not thread-safe.
    [[nodiscard]] net::awaitable<exchange_result> exchange(http::request<http::string_body>& req,
                                                           body_callback on_body,
                                                           exchange_options options = {}) {
        return exchange(req, ignore_head, on_body, options);
    }

    /// As above, with `on_head(const response_head&)` called once the head is read, before any
    /// piece of the body (to choose how to read it). Not thread-safe.
    [[nodiscard]] net::awaitable<exchange_result> exchange(http::request<http::string_body>& req,
                                                           head_callback on_head,
                                                           body_callback on_body,
                                                           exchange_options options);

    /// Closes the connection (the next exchange connects again). Not thread-safe.
    void close() noexcept {
        // Only the socket: a pending operation (an abort from another coroutine) still holds
        // the TLS stream; the next connect makes a fresh one.
        beast::error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
        lowest().close();
        open_ = false;
        buffer_.clear();
    }

private:
    // The awaitable runs after `exchange(req, on_body)` returns: the head callback it is given
    // must outlive it.
    static constexpr auto ignore_head = [](const response_head&) {};

    net::awaitable<std::error_code> connect(std::chrono::milliseconds timeout);

    beast::tcp_stream& lowest() noexcept { return secure_ ? secure_->next_layer() : plain_; }

    // Runs `op(stream)` on the stream in use: both give the same awaitable type.
    template <class Op>
    auto on_stream(Op op) {
        return secure_ ? op(*secure_) : op(plain_);
    }

    beast::tcp_stream plain_;                              // http
    std::optional<ssl::stream<beast::tcp_stream>> secure_; // https, one per connection made
    beast::flat_buffer buffer_;
    base_url url_;
    ssl::context* tls_;
    bool open_ = false;
};

} // namespace examples

#endif

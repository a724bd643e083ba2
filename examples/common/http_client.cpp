// The shared HTTP/1.1 client's exchange, compiled once: Beast's reads and writes over the plain
// and the TLS stream are the heaviest templates the examples instantiate.
#include "common/http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace examples {

net::awaitable<std::error_code> http_connection::connect(std::chrono::milliseconds timeout) {
    constexpr auto nothrow = net::as_tuple(net::use_awaitable);
    if (url_.tls && !tls_) co_return make_error_code(tls_error::not_configured);
    tcp::resolver resolver(plain_.get_executor());
    auto [rec, endpoints] =
        co_await resolver.async_resolve(url_.host, std::to_string(url_.port), nothrow);
    if (rec) co_return rec;
    if (url_.tls) secure_.emplace(plain_.get_executor(), *tls_);
    lowest().expires_after(timeout);
    auto [cec, ep] = co_await lowest().async_connect(endpoints, nothrow);
    if (cec) {
        close();
        co_return cec;
    }
    lowest().socket().set_option(tcp::no_delay(true));
    if (secure_) {
        if (std::error_code pec = prepare_tls_client(*secure_, url_.host)) {
            close();
            co_return pec;
        }
        lowest().expires_after(timeout);
        auto [hec] = co_await secure_->async_handshake(ssl::stream_base::client, nothrow);
        if (hec) {
            const std::error_code ec = explain_handshake(*secure_, hec);
            close();
            co_return ec;
        }
    }
    open_ = true;
    co_return std::error_code{};
}

namespace {

// A TLS stream that ends without close_notify could have been cut by anyone on the path: it
// reads as the plain stream's early end, never as a complete message.
beast::error_code plain_ending(beast::error_code ec, bool got_some) noexcept {
    if (ec == ssl::error::stream_truncated)
        return got_some ? http::error::partial_message : http::error::end_of_stream;
    return ec;
}

} // namespace

net::awaitable<exchange_result> http_connection::exchange(http::request<http::string_body>& req,
                                                          head_callback on_head,
                                                          body_callback on_body,
                                                          exchange_options options) {
    constexpr auto nothrow = net::as_tuple(net::use_awaitable);
    exchange_result out;
    // A kept-alive connection the server closed meanwhile can fail the write: then one fresh
    // connection is tried, since no whole request reached the server. A failure after the
    // write is returned instead: the server may have acted on the request (a POST is not
    // idempotent), so repeating it is the caller's retry policy's decision, not this layer's.
    for (int round = 0; round < 2; ++round) {
        const bool reused = open_;
        if (!open_) {
            if (auto ec = co_await connect(options.idle_timeout)) {
                out.ec = ec;
                co_return out;
            }
        }
        lowest().expires_after(options.idle_timeout);
        auto [wec, written] =
            co_await on_stream([&](auto& s) { return http::async_write(s, req, nothrow); });
        (void)written;
        if (wec) {
            close();
            if (reused && (wec == net::error::connection_reset || wec == net::error::broken_pipe ||
                           wec == net::error::eof))
                continue;
            out.ec = wec;
            co_return out;
        }
        http::response_parser<http::buffer_body> parser;
        parser.body_limit(options.max_body);
        lowest().expires_after(options.idle_timeout);
        auto [hec, n] = co_await on_stream(
            [&](auto& s) { return http::async_read_header(s, buffer_, parser, nothrow); });
        (void)n;
        if (hec) {
            close();
            out.ec = plain_ending(hec, parser.got_some());
            co_return out;
        }
        out.head_received = true;
        out.head.status = parser.get().result_int();
        for (const auto& f : parser.get().base())
            out.head.headers.insert(f.name_string(), f.value());
        on_head(out.head);

        char piece[16 * 1024];
        while (!parser.is_done()) {
            parser.get().body().data = piece;
            parser.get().body().size = sizeof piece;
            lowest().expires_after(options.idle_timeout);
            // read_some, not read: read returns only once the piece is full or the message
            // ends, which would hold a stream's events back and make the idle timeout a limit
            // on filling 16 KiB.
            auto [rec, m] = co_await on_stream(
                [&](auto& s) { return http::async_read_some(s, buffer_, parser, nothrow); });
            (void)m;
            if (rec == http::error::need_buffer) rec = {};
            rec = plain_ending(rec, true);
            const std::size_t got = sizeof piece - parser.get().body().size;
            out.body_bytes += got;
            if (got != 0) {
                if (std::error_code cec = on_body(std::string_view(piece, got))) {
                    close();
                    out.ec = cec;
                    co_return out;
                }
            }
            if (rec) {
                close();
                out.ec = rec;
                co_return out;
            }
        }
        if (!parser.keep_alive()) close();
        co_return out;
    }
    co_return out;
}

} // namespace examples

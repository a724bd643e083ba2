#ifndef FAULTLINE_EXAMPLES_COMMON_WRITE_NOW_HPP
#define FAULTLINE_EXAMPLES_COMMON_WRITE_NOW_HPP

// A write that goes out at once when the socket's send buffer takes it, as a message that fits
// does: no wait. An Asio write that could complete at once still posts its completion, and the
// event loop then polls the kernel (an `epoll_wait` with no timeout) before it runs it: a pass
// of the loop and a system call per write. Not part of faultline's API.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffer_traits.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/stream_traits.hpp>

#include <cstddef>
#include <tuple>
#include <type_traits>

namespace examples {

/// Writes what `socket`'s send buffer takes of `buffers` now, without waiting: the bytes
/// written (0 when the buffer is full). `ec`: the socket's error, never `would_block`.
template <class ConstBufferSequence>
std::size_t write_some_now(boost::asio::ip::tcp::socket& socket, const ConstBufferSequence& buffers,
                           boost::beast::error_code& ec) {
    namespace net = boost::asio;
    ec = {};
    if (!socket.non_blocking()) {
        // The mode of the socket's synchronous calls; its asynchronous ones do not use it.
        socket.non_blocking(true, ec);
        if (ec) return 0;
    }
    const std::size_t n = socket.write_some(buffers, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) ec = {};
    return n;
}

/// The TCP socket under `stream`: the socket itself, or a `beast::tcp_stream`'s. A stream layered
/// over one (TLS above all, whose bytes are not the socket's) does not compile.
template <class Stream>
boost::asio::ip::tcp::socket& socket_of(Stream& stream) {
    if constexpr (std::is_same_v<Stream, boost::asio::ip::tcp::socket>) {
        return stream;
    } else {
        static_assert(
            std::is_same_v<
                std::remove_reference_t<decltype(boost::beast::get_lowest_layer(stream))>, Stream>,
            "write_now writes a socket's own bytes: a tcp::socket or a beast::tcp_stream");
        return stream.socket();
    }
}

/// Writes all of `buffers` to `stream` (a `tcp::socket` or a `beast::tcp_stream`): what its
/// socket's send buffer takes at once, the rest with `async_write` on `stream` (its timeouts
/// then apply). Completes with the error and the bytes written, as `async_write` with
/// `as_tuple` does. `buffers` is held by value (a coroutine's reference parameter would outlive
/// the temporary it was given); the bytes they point to must outlive the write.
template <class AsyncWriteStream, class ConstBufferSequence>
boost::asio::awaitable<std::tuple<boost::beast::error_code, std::size_t>>
write_now(AsyncWriteStream& stream, ConstBufferSequence buffers) {
    namespace net = boost::asio;
    boost::beast::error_code ec;
    const std::size_t size = boost::beast::buffer_bytes(buffers);
    const std::size_t n = write_some_now(socket_of(stream), buffers, ec);
    if (ec || n == size) co_return std::tuple{ec, n};
    boost::beast::buffers_suffix<ConstBufferSequence> rest(buffers);
    rest.consume(n);
    auto [wec, m] = co_await net::async_write(stream, rest, net::as_tuple(net::use_awaitable));
    co_return std::tuple{wec, n + m};
}

} // namespace examples

#endif

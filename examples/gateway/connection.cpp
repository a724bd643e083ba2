#include "gateway/connection.hpp"

namespace examples::gateway {

net::awaitable<void> drain_and_close(beast::tcp_stream& s) {
    beast::error_code ignored;
    s.socket().shutdown(tcp::socket::shutdown_send, ignored);
    co_await drain_then_close(s);
}

void watch_client(tcp::socket& socket, beast::flat_buffer& buffer,
                  std::shared_ptr<client_watch> w) {
    socket.async_read_some(buffer.prepare(4096),
                           [&buffer, w = std::move(w)](beast::error_code ec, std::size_t n) {
                               buffer.commit(n);
                               if (ec && ec != net::error::operation_aborted) {
                                   w->gone = true;
                                   if (w->call) w->call->cancel();
                                   if (w->wait) w->wait->cancel();
                               }
                               w->done = true;
                               w->finished.cancel();
                           });
}

} // namespace examples::gateway

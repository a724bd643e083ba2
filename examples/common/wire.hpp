#ifndef FAULTLINE_EXAMPLES_COMMON_WIRE_HPP
#define FAULTLINE_EXAMPLES_COMMON_WIRE_HPP

// An HTTP message as the bytes that go on the wire, serialized by Beast into one string: a
// message written from it leaves in one write of one buffer. Beast's own async_write hands the
// socket a buffer per header field and walks that sequence again on every partial write. Not
// part of faultline's API.

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/serializer.hpp>

#include <cstddef>
#include <string>

namespace examples {

/// Appends `m` to `out` as Beast writes it: the header, then the body in the framing the header
/// announces (a length, chunks, or none for a status or method without a body). Errors: the
/// body writer's own (a string body has none); `out` then holds what was serialized before it.
template <bool isRequest, class Body, class Fields>
boost::beast::error_code serialize(boost::beast::http::message<isRequest, Body, Fields>& m,
                                   std::string& out) {
    namespace net = boost::asio;
    boost::beast::http::serializer<isRequest, Body, Fields> sr{m};
    boost::beast::error_code ec;
    while (!ec && !sr.is_done())
        sr.next(ec, [&](boost::beast::error_code&, const auto& buffers) {
            const std::size_t n = net::buffer_size(buffers);
            const std::size_t at = out.size();
            out.resize(at + n);
            net::buffer_copy(net::buffer(out.data() + at, n), buffers);
            sr.consume(n);
        });
    return ec;
}

} // namespace examples

#endif

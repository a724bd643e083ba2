#ifndef FAULTLINE_EXAMPLES_COMMON_LISTEN_HPP
#define FAULTLINE_EXAMPLES_COMMON_LISTEN_HPP

// Opening a listening socket, as the examples' servers (the gateway, the upstream simulator) do.
// Not part of faultline's API.

#include <faultline/error.hpp>
#include <faultline/result.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <string>
#include <system_error>

namespace examples {

/// Opens `a` on `host:port` (0: an ephemeral port), address reuse on, and listens. Returns the
/// bound port; `faultline::error::invalid_request` for a host that is not an IP address, else
/// the system's error. Not thread-safe.
[[nodiscard]] inline faultline::result<std::uint16_t>
open_listener(boost::asio::ip::tcp::acceptor& a, const std::string& host, std::uint16_t port) {
    namespace net = boost::asio;
    boost::system::error_code ec;
    const auto address = net::ip::make_address(host, ec);
    if (ec) return faultline::error::invalid_request;
    const net::ip::tcp::endpoint ep(address, port);
    if (a.open(ep.protocol(), ec); ec) return std::error_code(ec);
    if (a.set_option(net::socket_base::reuse_address(true), ec); ec) return std::error_code(ec);
    if (a.bind(ep, ec); ec) return std::error_code(ec);
    if (a.listen(net::socket_base::max_listen_connections, ec); ec) return std::error_code(ec);
    return a.local_endpoint().port();
}

} // namespace examples

#endif

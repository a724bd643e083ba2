#ifndef FAULTLINE_EXAMPLES_COMMON_PACED_HPP
#define FAULTLINE_EXAMPLES_COMMON_PACED_HPP

// Waiting for a pacer's permission on an Asio timer, as the client and the load harness do before
// each attempt. Not part of faultline's API.

#include <faultline/limit/pacer.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <optional>

namespace examples {

/// Waits on `timer` until `pacer` lets a request of `cost` go and reserves it in `ticket`, adding
/// the time waited to `paced`. Before each wait, `refuse(wait, now)` may end it: the wait it
/// refused is returned; none once the ticket holds the reservation.
template <class Refuse>
boost::asio::awaitable<std::optional<std::chrono::nanoseconds>>
paced_start(faultline::limit::pacer<std::chrono::steady_clock>& pacer,
            const faultline::limit::request_cost& cost, boost::asio::steady_timer& timer,
            faultline::limit::pacer_ticket& ticket, std::chrono::nanoseconds& paced,
            Refuse refuse) {
    for (;;) {
        const auto now = std::chrono::steady_clock::now();
        ticket = pacer.reserve(cost, now);
        if (ticket) co_return std::nullopt;
        if (refuse(ticket.wait, now)) co_return ticket.wait;
        timer.expires_after(ticket.wait);
        co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        paced += std::chrono::steady_clock::now() - now;
    }
}

} // namespace examples

#endif

#ifndef FAULTLINE_EXAMPLES_GATEWAY_CONNECTION_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_CONNECTION_HPP

// The connection stage: what bounds one client connection before and while its request is
// served. A slot of `max_connections`; the read deadline that answers 408 rather than closing;
// the bytes bodies and streams hold, charged against the process's budgets; the framing rule
// that refuses smuggling (`chunked_alone`); the watch that cancels an upstream call when its
// client goes away; the drain before a close. memory_charge and chunked_alone are tested alone
// in tests/examples/gateway_stages.cpp, the rest over sockets in gateway_hostile.cpp.

#include "gateway/channel.hpp"
#include "gateway/deadline.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/fields.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string_view>
#include <utility>

namespace examples::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using clock = std::chrono::steady_clock;

// How long a connection being closed after an error answer is read (and its bytes dropped), so
// that closing with unread bytes does not reset it before the client read the answer.
inline constexpr auto drain_time = std::chrono::seconds(1);
// Connections being drained at once, beyond `max_connections` (the 503s over it, the closes
// after bad requests): past them a connection is closed at once, so that a flood of either
// holds at most this many more sockets.
inline constexpr std::size_t drains_at_once = 64;
inline constexpr std::size_t drain_bytes = std::size_t(16) << 20;

// Reads and drops what the peer still sends after its connection's last answer, until it closes
// or `drain_bytes` or `drain_time` pass, then closes the socket: closing with unread bytes would
// reset the connection before the peer read the answer. The caller has ended its own side first
// (a TCP half-close; nothing for TLS). A plain or TLS Beast stream.
template <class Stream>
net::awaitable<void> drain_then_close(Stream& s) {
    auto& lowest = beast::get_lowest_layer(s);
    lowest.expires_after(drain_time);
    std::size_t drained = 0;
    char scratch[16 * 1024];
    while (drained < drain_bytes) {
        auto [ec, got] =
            co_await s.async_read_some(net::buffer(scratch), net::as_tuple(net::use_awaitable));
        drained += got;
        if (ec) break;
    }
    lowest.close();
}

// Ends the gateway's side of a client connection after its last answer, then drains and closes
// it (`drain_then_close`).
net::awaitable<void> drain_and_close(beast::tcp_stream& s);

// Bytes held by one relayed stream or one request body, charged against the whole process's
// total; `peak` keeps the largest one holding (`peak_of::holder`) or the largest total.
enum class peak_of : unsigned char { holder, total };
class memory_charge {
public:
    memory_charge(std::atomic<std::size_t>& total, std::atomic<std::uint64_t>& peak, peak_of kind)
        : total_(total)
        , peak_(peak)
        , kind_(kind) {}
    memory_charge(const memory_charge&) = delete;
    memory_charge& operator=(const memory_charge&) = delete;
    ~memory_charge() { total_.fetch_sub(held_, std::memory_order_relaxed); }

    // Charges what the holder holds now; returns the whole process's total.
    std::size_t charge(std::size_t held) {
        std::size_t total;
        if (held >= held_)
            total = total_.fetch_add(held - held_, std::memory_order_relaxed) + (held - held_);
        else
            total = total_.fetch_sub(held_ - held, std::memory_order_relaxed) - (held_ - held);
        held_ = held;
        note_peak(total);
        return total;
    }
    // As `charge`, only if the total stays within `limit`: the budget is never passed, not even
    // for a moment. Otherwise nothing changes.
    bool try_charge(std::size_t held, std::size_t limit) {
        std::size_t total = total_.load(std::memory_order_relaxed);
        std::size_t after = 0;
        do {
            const std::size_t others = total - held_;
            if (held > limit || others > limit - held) return false;
            after = others + held;
        } while (!total_.compare_exchange_weak(total, after, std::memory_order_relaxed));
        held_ = held;
        note_peak(after);
        return true;
    }
    [[nodiscard]] std::size_t held() const noexcept { return held_; }

private:
    std::atomic<std::size_t>& total_;
    std::atomic<std::uint64_t>& peak_;
    peak_of kind_;
    std::size_t held_ = 0;

    void note_peak(std::size_t total) {
        const std::uint64_t now = kind_ == peak_of::holder ? held_ : total;
        std::uint64_t p = peak_.load(std::memory_order_relaxed);
        while (now > p && !peak_.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
        }
    }
};

// One of the `max_connections` slots, held by a session. Given back before the session's socket
// is shut down, so a client that saw its connection end finds the slot free again.
class connection_slot {
public:
    explicit connection_slot(std::atomic<std::size_t>& open) noexcept
        : open_(&open) {}
    connection_slot(connection_slot&& o) noexcept
        : open_(std::exchange(o.open_, nullptr)) {}
    connection_slot& operator=(connection_slot&&) = delete;
    ~connection_slot() { release(); }
    void release() noexcept {
        if (open_) std::exchange(open_, nullptr)->fetch_sub(1, std::memory_order_relaxed);
    }

private:
    std::atomic<std::size_t>* open_;
};

// Cancels a socket's pending reads at a deadline without closing it: a Beast tcp_stream's own
// timeout closes the socket at once, before the session could give back its slot or answer
// 408. Used on the session's strand only (the socket's executor: `arm(at)`).
using read_watch = socket_deadline;

// The client's side of a request being served: whether it went away, and the upstream call to
// cancel when it does. Shared by the request and the read watching the client's socket.
struct client_watch {
    explicit client_watch(const net::any_io_executor& ex)
        : finished(ex, clock::time_point::max()) {}
    bool gone = false;                 // the client closed or reset the connection
    bool done = false;                 // the watch ended
    channel_call* call = nullptr;      // the upstream call in progress, if any
    net::steady_timer* wait = nullptr; // a wait for a slot (priority shedding), if any
    net::steady_timer finished;        // cancelled when the watch ends: what the request awaits
};

// Makes `call` the watch's call for the scope.
class watched_call {
public:
    watched_call(client_watch& w, channel_call* call)
        : w_(w) {
        w_.call = call;
        if (w_.gone) call->cancel();
    }
    ~watched_call() { w_.call = nullptr; }
    watched_call(const watched_call&) = delete;
    watched_call& operator=(const watched_call&) = delete;

private:
    client_watch& w_;
};

// Starts reading the client's connection while its request is served. End of file or a reset:
// the client went away, and the call in progress is cancelled. Bytes (the next request) stay in
// `buffer` for the session, and the watch ends. A cancelled read ends it quietly. After the
// answer, the same read is the wait for the next request: it is not started twice.
void watch_client(tcp::socket& socket, beast::flat_buffer& buffer, std::shared_ptr<client_watch> w);

// Whether a request's Transfer-Encoding fields, all of them together, are `chunked` alone: the
// only coding this server decodes. Anything else leaves the body's length unknown (RFC 9112
// §6.1 and §6.3).
template <class Allocator>
[[nodiscard]] bool chunked_alone(const beast::http::basic_fields<Allocator>& h) {
    const auto [first, last] = h.equal_range(beast::http::field::transfer_encoding);
    if (first == last || std::next(first) != last) return false;
    std::string_view v(first->value().data(), first->value().size());
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
        v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
        v.remove_suffix(1);
    return beast::iequals(v, "chunked");
}

} // namespace examples::gateway

#endif

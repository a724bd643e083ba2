#ifndef FAULTLINE_EXAMPLES_GATEWAY_DEADLINE_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_DEADLINE_HPP

// A deadline that cancels a socket's pending operations without closing it.
//
// Moving the deadline later, or clearing it, makes no system call: the timer stays set for the
// earliest time it was given and, when it expires with the deadline moved on, waits again for
// the rest. A timer set and cancelled around every read and write instead reprograms the
// kernel's timer each time it becomes the earliest one, several system calls per request.
//
// One strand at a time uses it: `arm` and `disarm` run there, and the timer's handler is bound
// there. Before another strand uses it (a pooled upstream connection given to the next call),
// `hand_over` ends the pending wait for good; a handler of the earlier owner that was already
// queued then does nothing.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace examples::gateway {

class socket_deadline {
public:
    using clock = std::chrono::steady_clock;

    explicit socket_deadline(boost::asio::ip::tcp::socket& socket)
        : socket_(socket)
        , timer_(socket.get_executor())
        , state_(std::make_shared<state>()) {
        state_->self = this;
    }
    socket_deadline(const socket_deadline&) = delete;
    socket_deadline& operator=(const socket_deadline&) = delete;
    ~socket_deadline() { state_->self = nullptr; }

    // Cancels the socket's pending operations at `at`, their handlers run by `strand`.
    void arm(clock::time_point at, const boost::asio::any_io_executor& strand) {
        state_->fired = false;
        state_->deadline = at;
        if (state_->waiting_until <= at) return; // the pending wait ends no later
        wait(at, strand);
    }
    // As above, the handlers run by the socket's own executor (its strand).
    void arm(clock::time_point at) { arm(at, socket_.get_executor()); }
    // No deadline until the next `arm`.
    void disarm() noexcept { state_->deadline = clock::time_point::max(); }
    // Whether the deadline cancelled the socket's operations since the last `arm`.
    [[nodiscard]] bool fired() const noexcept { return state_->fired; }

    // Ends the pending wait, so that another strand can use this next.
    void hand_over() {
        state_->owner.fetch_add(1, std::memory_order_relaxed);
        state_->deadline = clock::time_point::max();
        state_->waiting_until = clock::time_point::max();
        state_->fired = false;
        timer_.cancel();
    }

private:
    struct state {
        socket_deadline* self = nullptr; // null once destroyed
        clock::time_point deadline = clock::time_point::max();
        clock::time_point waiting_until = clock::time_point::max(); // max: no wait pending
        // Counts hand-overs: a handler armed under an earlier owner is stale. Read by stale
        // handlers on the earlier owner's strand, hence atomic; the rest is the owner's.
        std::atomic<std::uint64_t> owner{0};
        bool fired = false;
    };

    void wait(clock::time_point at, const boost::asio::any_io_executor& strand) {
        state_->waiting_until = at;
        timer_.expires_at(at); // a later pending wait ends with operation_aborted
        timer_.async_wait(boost::asio::bind_executor(
            strand, [st = state_, owner = state_->owner.load(std::memory_order_relaxed),
                     strand](const boost::system::error_code& ec) {
                if (ec || st->owner.load(std::memory_order_relaxed) != owner || !st->self) return;
                st->waiting_until = clock::time_point::max();
                if (st->deadline == clock::time_point::max()) return; // disarmed meanwhile
                if (clock::now() < st->deadline) {
                    st->self->wait(st->deadline, strand); // moved later: the rest of it
                    return;
                }
                st->fired = true;
                boost::system::error_code ignored;
                st->self->socket_.cancel(ignored);
            }));
    }

    boost::asio::ip::tcp::socket& socket_;
    boost::asio::steady_timer timer_;
    std::shared_ptr<state> state_;
};

} // namespace examples::gateway

#endif

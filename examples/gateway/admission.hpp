#ifndef FAULTLINE_EXAMPLES_GATEWAY_ADMISSION_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_ADMISSION_HPP

// The admission stage: what a chat request must hold before any channel is tried, once its
// model, context length and spend budget passed (server.cpp). Its key's and its user's
// in-flight limits (`key_config::concurrency`, `user_config::concurrency`), then under priority
// shedding (`shedding_config`) a slot among `max_in_flight`, after a wait in the queue if need
// be. Rate limits are charged later, per channel, by the dispatch: a channel at its own limit
// passes the call to the next one. Tested alone, on a manual clock, in
// tests/examples/gateway_stages.cpp; over sockets in gateway.cpp and gateway_priority.cpp.

#include "gateway/config.hpp"
#include "gateway/connection.hpp"
#include "gateway/limits.hpp"
#include "gateway/metrics.hpp"
#include "gateway/request.hpp"

#include <faultline/limit/concurrency.hpp>
#include <faultline/limit/priority.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace examples::gateway {

/// Priority shedding over the slots of `shedding_config::max_in_flight`.
using shedder = faultline::limit::prioritized_limiter<faultline::limit::concurrency_limiter>;

/// The request's client went away while it waited for a slot: nothing is held, nothing is sent.
struct client_gone {};

class admission_stage {
public:
    using clock_fn = std::function<clock::time_point()>;
    using log_fn = std::function<void(std::string_view)>;

    /// `config`, `say` and `metrics` must outlive the stage; `now` is the gateway's clock (the
    /// queue's deadlines are on it); `log` gets one line per queued, admitted after a wait,
    /// shed or abandoned request. Not thread-safe (construction).
    admission_stage(const gateway_config& config, const answers& say, metrics_registry& metrics,
                    clock_fn now, log_fn log);
    ~admission_stage();
    admission_stage(const admission_stage&) = delete;
    admission_stage& operator=(const admission_stage&) = delete;

    /// What an admitted request holds until its answer ends: its in-flight permits and its
    /// priority slot, given back when destroyed or `release`d (the slot on the gateway's clock).
    /// Move-only; not thread-safe (one request's).
    class pass {
    public:
        pass() = default;
        pass(pass&&) noexcept = default;
        pass& operator=(pass&& other) noexcept {
            if (this != &other) {
                release();
                permits_ = std::move(other.permits_);
                slot_ = std::move(other.slot_);
                stage_ = other.stage_;
            }
            return *this;
        }
        ~pass() { release(); }

        /// Gives back everything now (the client went away mid-call).
        void release() noexcept;
        /// Whether it holds a priority slot.
        [[nodiscard]] bool holds_slot() const noexcept { return static_cast<bool>(slot_); }

    private:
        friend class admission_stage;
        concurrency_limits::permits permits_;
        shedder::permit slot_;
        const admission_stage* stage_ = nullptr;
    };

    /// Admits a request of `key` at priority `p`: its pass; the 429 (`concurrency_exceeded`,
    /// the level named) or the 503 (`overloaded`, shed or not served within `max_wait`) that
    /// ends it; or `client_gone` when `watch` saw the client go while the request waited. A
    /// wait runs on `ex`, woken when a slot frees, when its deadline passes, or by the watch
    /// (`client_watch::wait`). Thread-safe.
    [[nodiscard]] net::awaitable<std::variant<pass, reply, client_gone>>
    admit(const net::any_io_executor& ex, const key_config& key, faultline::limit::priority p,
          std::string request_id, client_watch& watch);

    /// Requests that waited in the queue, and requests shed (refused on arrival, displaced or
    /// not served in time). Thread-safe.
    [[nodiscard]] std::uint64_t queued() const noexcept {
        return queued_.load(std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t shed() const noexcept {
        return shed_.load(std::memory_order_relaxed);
    }
    /// Requests whose client went away while they waited. Thread-safe.
    [[nodiscard]] std::uint64_t abandoned() const noexcept {
        return abandoned_.load(std::memory_order_relaxed);
    }
    /// Requests waiting now. Thread-safe.
    [[nodiscard]] std::size_t waiting() const;

private:
    net::awaitable<std::variant<pass, reply, client_gone>>
    take_slot(const net::any_io_executor& ex, pass held, const key_config& key,
              faultline::limit::priority p, const std::string& id, client_watch& watch);

    const gateway_config& config_;
    const answers& say_;
    metrics_registry& metrics_;
    clock_fn now_;
    log_fn log_;
    concurrency_limits concurrency_;
    // Priority shedding; null when off. The slots outlive the shedder.
    std::unique_ptr<faultline::limit::concurrency_limiter> slots_;
    std::unique_ptr<shedder> shedding_;
    std::atomic<std::uint64_t> queued_{0}, shed_{0}, abandoned_{0};
};

} // namespace examples::gateway

#endif

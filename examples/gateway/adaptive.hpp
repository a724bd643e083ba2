#ifndef FAULTLINE_EXAMPLES_GATEWAY_ADAPTIVE_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_ADAPTIVE_HPP

// A channel's adaptive in-flight limit (`faultline::limit::adaptive_limiter`), whichever policy
// its configuration names, and the rule saying how a call completes its permit:
//
//     auto limit = channel_concurrency::make(ch, call_limit, now);     // null: the channel has
//     none auto slot = limit->try_acquire(now); if (!slot) skip_channel(slot.refusal()); //
//     error::concurrency_exceeded
//     ... the call ...
//     slot.complete(completion_of(failure), now);
//
// A success is a latency sample (from the permit's start to the call's end, stream included);
// an upstream that timed out, failed (5xx, a cut or an error chunk), shed the call (overloaded)
// or rate-limited it is a drop; anything else (the client went away, a request the upstream
// refused for itself, the gateway's own limits) teaches nothing and is ignored.

#include "gateway/config.hpp"

#include <faultline/error.hpp>
#include <faultline/limit/adaptive.hpp>
#include <faultline/limit/decision.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace examples::gateway {

/// How a call completes its permit.
enum class completion { success, dropped, ignored };

/// The completion of a call that failed with `c` (none: it succeeded). Thread-safe.
[[nodiscard]] completion completion_of(std::optional<faultline::category> c) noexcept;

/// "" when `ch`'s adaptive options make a limiter, else why not in one line. Thread-safe.
[[nodiscard]] std::string check_adaptive(const channel_config& ch);

/// One channel's adaptive limit. Thread-safe.
class channel_concurrency {
public:
    using clock = std::chrono::steady_clock;
    template <class Policy>
    using limiter = faultline::limit::adaptive_limiter<Policy, clock>;

    /// A slot held (or refused). Completed once; destroyed uncompleted, it is ignored.
    /// Movable. Not thread-safe (one owner).
    class slot {
    public:
        slot() = default;
        [[nodiscard]] explicit operator bool() const noexcept;
        /// Why it was refused (`concurrency_exceeded`, the limit, a retry hint).
        [[nodiscard]] const faultline::limit::decision& refusal() const noexcept {
            return refusal_;
        }
        /// Completes the call at `now`; later calls do nothing.
        void complete(completion c, clock::time_point now) noexcept;

    private:
        friend class channel_concurrency;
        std::variant<std::monostate, limiter<faultline::limit::aimd>::permit,
                     limiter<faultline::limit::vegas>::permit,
                     limiter<faultline::limit::gradient2>::permit>
            permit_;
        faultline::limit::decision refusal_;
    };

    /// The limiter `ch` asks for, starting at `now`; null when `adaptive` is off. `call_limit`
    /// is the longest a call may take (aimd's `timeout`). Throws `std::invalid_argument` with
    /// `check_adaptive`'s reason when its options are invalid.
    [[nodiscard]] static std::unique_ptr<channel_concurrency>
    make(const channel_config& ch, std::chrono::milliseconds call_limit, clock::time_point now);

    /// A slot if fewer than `limit()` calls are in flight; lock-free.
    [[nodiscard]] slot try_acquire(clock::time_point now) noexcept;
    /// The current limit, the calls in flight, and the calls refused so far.
    [[nodiscard]] std::uint64_t limit() const noexcept;
    [[nodiscard]] std::uint64_t in_flight() const noexcept;
    [[nodiscard]] std::uint64_t refused() const noexcept {
        return refused_.load(std::memory_order_relaxed);
    }

private:
    std::variant<std::unique_ptr<limiter<faultline::limit::aimd>>,
                 std::unique_ptr<limiter<faultline::limit::vegas>>,
                 std::unique_ptr<limiter<faultline::limit::gradient2>>>
        limiter_;
    std::atomic<std::uint64_t> refused_{0};
};

} // namespace examples::gateway

#endif

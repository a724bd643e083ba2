#ifndef FAULTLINE_RETRY_CHANNEL_POOL_HPP
#define FAULTLINE_RETRY_CHANNEL_POOL_HPP

#include <faultline/detail/config.hpp>

// A fixed set of upstream channels, each behind its own circuit breaker, picked round robin
// among those that admit a call, so that a gateway fails fast with `no_available_channel` (503)
// instead of hammering a dead upstream.
//
//     faultline::channel_pool<> pool(3);                   // three upstream channels
//     auto ch = pool.pick(now);                            // next healthy one, round robin
//     if (!ch) return reply(ch.error());                   // no_available_channel, 503
//     faultline::failure f = call_upstream(*ch);
//     pool[*ch].record(f, now);                            // or record_success(now)

#include <faultline/error.hpp>
#include <faultline/result.hpp>
#include <faultline/retry/circuit_breaker.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>

namespace faultline {

/// A fixed set of channels (upstreams), each with its own breaker, picked round robin among
/// those that admit a call. Thread-safe.
template <class Clock = std::chrono::steady_clock>
class channel_pool {
public:
    using time_point = typename Clock::time_point;

    /// `channels` breakers with the same options. Throws `std::system_error` with the code of
    /// `validate(options)` if that fails.
    explicit channel_pool(std::size_t channels, circuit_breaker_options options = {});

    /// The number of channels. Thread-safe.
    [[nodiscard]] std::size_t size() const noexcept { return breakers_.size(); }
    /// The breaker of channel `i` (< size()). Thread-safe.
    [[nodiscard]] circuit_breaker<Clock>& operator[](std::size_t i) noexcept {
        return breakers_[i];
    }

    /// The next channel after the previous pick whose breaker admits a call (its
    /// `try_acquire` succeeded: record the outcome on it), or `error::no_available_channel`.
    /// Thread-safe.
    [[nodiscard]] result<std::size_t> pick(time_point now) noexcept;

    /// The shortest time until some channel admits calls again, for the Retry-After of a 503;
    /// zero when one does now. Thread-safe.
    [[nodiscard]] std::chrono::nanoseconds retry_after(time_point now) const noexcept;

private:
    std::deque<circuit_breaker<Clock>> breakers_;
    std::atomic<std::size_t> next_{0};
};

} // namespace faultline

#include <faultline/retry/impl/channel_pool.hpp>

#endif

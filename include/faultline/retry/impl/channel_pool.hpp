#ifndef FAULTLINE_RETRY_IMPL_CHANNEL_POOL_HPP
#define FAULTLINE_RETRY_IMPL_CHANNEL_POOL_HPP

#include <algorithm>

namespace faultline {

template <class Clock>
channel_pool<Clock>::channel_pool(std::size_t channels, circuit_breaker_options options) {
    if (auto ec = validate(options)) throw std::system_error(ec, "faultline::channel_pool");
    for (std::size_t i = 0; i < channels; ++i)
        breakers_.emplace_back(options);
}

template <class Clock>
result<std::size_t> channel_pool<Clock>::pick(time_point now) noexcept {
    const std::size_t n = breakers_.size();
    if (n == 0) return make_error_code(error::no_available_channel);
    const std::size_t start = next_.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = (start + k) % n;
        if (breakers_[i].try_acquire(now)) return i;
    }
    return make_error_code(error::no_available_channel);
}

template <class Clock>
std::chrono::nanoseconds channel_pool<Clock>::retry_after(time_point now) const noexcept {
    if (breakers_.empty()) return {};
    auto best = std::chrono::nanoseconds::max();
    for (const auto& b : breakers_)
        best = std::min(best, b.retry_after(now));
    return best;
}

} // namespace faultline

#endif

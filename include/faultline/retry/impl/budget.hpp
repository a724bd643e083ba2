#ifndef FAULTLINE_RETRY_IMPL_BUDGET_HPP
#define FAULTLINE_RETRY_IMPL_BUDGET_HPP

namespace faultline {
namespace detail {
enum : std::size_t { budget_requests = 0, budget_retries = 1 };
} // namespace detail

inline std::error_code validate(const retry_budget_options& o) noexcept {
    if (o.window < std::chrono::nanoseconds(10) || !(o.ratio >= 0.0 && o.ratio <= 1e9) ||
        !(o.min_retries_per_second >= 0.0 && o.min_retries_per_second <= 1e9))
        return std::make_error_code(std::errc::invalid_argument);
    return {};
}

template <class Clock>
retry_budget<Clock>::retry_budget(retry_budget_options options)
    : options_(options)
    , floor_(options_.min_retries_per_second *
             std::chrono::duration<double>(options_.window).count())
    , counts_(options_.window) {
    if (auto ec = validate(options_)) throw std::system_error(ec, "faultline::retry_budget");
}

template <class Clock>
double retry_budget<Clock>::room_locked() const noexcept {
    return floor_ + options_.ratio * static_cast<double>(counts_.total(detail::budget_requests)) -
           static_cast<double>(counts_.total(detail::budget_retries));
}

template <class Clock>
void retry_budget<Clock>::record_request(time_point now) noexcept {
    std::lock_guard lock(mutex_);
    counts_.advance(now.time_since_epoch());
    counts_.add(detail::budget_requests);
}

template <class Clock>
inline bool retry_budget<Clock>::try_acquire_retry(time_point now) noexcept {
    std::lock_guard lock(mutex_);
    counts_.advance(now.time_since_epoch());
    if (room_locked() < 1.0) return false;
    counts_.add(detail::budget_retries);
    return true;
}

template <class Clock>
result<void> retry_budget<Clock>::acquire_retry(time_point now) noexcept {
    if (try_acquire_retry(now)) return success();
    return make_error_code(error::retry_budget_exhausted);
}

template <class Clock>
double retry_budget<Clock>::available(time_point now) noexcept {
    std::lock_guard lock(mutex_);
    counts_.advance(now.time_since_epoch());
    const double r = room_locked();
    return r > 0.0 ? r : 0.0;
}

template <class Clock>
typename retry_budget<Clock>::counts retry_budget<Clock>::in_window(time_point now) noexcept {
    std::lock_guard lock(mutex_);
    counts_.advance(now.time_since_epoch());
    return {counts_.total(detail::budget_requests), counts_.total(detail::budget_retries)};
}

} // namespace faultline

#endif

#ifndef FAULTLINE_RETRY_IMPL_CIRCUIT_BREAKER_HPP
#define FAULTLINE_RETRY_IMPL_CIRCUIT_BREAKER_HPP

#include <algorithm>

namespace faultline {

inline std::string_view to_string(circuit_state s) noexcept {
    switch (s) {
    case circuit_state::closed:
        return "closed";
    case circuit_state::open:
        return "open";
    case circuit_state::half_open:
        return "half_open";
    }
    return "unknown";
}

inline bool counts_against_upstream(const std::error_code& ec) noexcept {
    if (!ec) return false;
    if (ec.category() == error_category()) {
        switch (static_cast<error>(ec.value())) {
        case error::circuit_open:
        case error::deadline_exceeded:
        case error::retry_budget_exhausted:
        case error::request_exceeds_burst:
        case error::limiter_unavailable:
        case error::key_table_full:
            return false;
        default:
            break;
        }
    }
    switch (category_of(ec)) {
    case category::server_error:
    case category::upstream_unavailable:
    case category::timeout:
    case category::overloaded:
    case category::rate_limited:
        return true;
    default:
        return false;
    }
}

inline std::error_code validate(const circuit_breaker_options& o) noexcept {
    if (o.window < std::chrono::nanoseconds::zero() ||
        o.cool_down < std::chrono::nanoseconds::zero() || o.max_cool_down < o.cool_down ||
        o.half_open_probes == 0 || !(o.failure_rate_threshold >= 0.0))
        return std::make_error_code(std::errc::invalid_argument);
    return {};
}

template <class Clock>
circuit_breaker<Clock>::circuit_breaker(circuit_breaker_options options)
    : options_(options)
    , counts_(options_.window) {
    if (auto ec = validate(options_)) throw std::system_error(ec, "faultline::circuit_breaker");
}

template <class Clock>
circuit_state circuit_breaker<Clock>::state_locked(time_point now) const noexcept {
    if (state_ == circuit_state::open && now >= open_until_) return circuit_state::half_open;
    return state_;
}

template <class Clock>
void circuit_breaker<Clock>::open_locked(time_point now, std::chrono::nanoseconds d) noexcept {
    state_ = circuit_state::open;
    open_until_ = now + std::chrono::duration_cast<typename Clock::duration>(d);
    probes_ = 0;
    consecutive_ = 0;
    fast_state_.store(circuit_state::open, std::memory_order_release);
}

template <class Clock>
void circuit_breaker<Clock>::close_locked() noexcept {
    state_ = circuit_state::closed;
    probes_ = 0;
    consecutive_ = 0;
    counts_.clear_counts();
    fast_state_.store(circuit_state::closed, std::memory_order_release);
}

template <class Clock>
result<void> circuit_breaker<Clock>::try_acquire(time_point now) noexcept {
    auto r = try_acquire_probe(now);
    if (!r) return r.error();
    return success();
}

template <class Clock>
result<bool> circuit_breaker<Clock>::try_acquire_probe(time_point now,
                                                       circuit_change& change) noexcept {
    change = {};
    if (fast_state_.load(std::memory_order_acquire) == circuit_state::closed) return false;
    std::lock_guard lock(mutex_);
    const auto s = state_locked(now);
    change = {s, s};
    switch (s) {
    case circuit_state::closed:
        return false;
    case circuit_state::open:
        return make_error_code(error::circuit_open);
    case circuit_state::half_open:
        if (state_ == circuit_state::open) {
            state_ = circuit_state::half_open;
            fast_state_.store(circuit_state::half_open, std::memory_order_release);
            probes_ = 0;
            change = {circuit_state::open, circuit_state::half_open};
        }
        // A probe that never reported is presumed lost after one cool-down.
        if (probes_ >= options_.half_open_probes && now - probe_since_ >= options_.cool_down)
            probes_ = 0;
        if (probes_ >= options_.half_open_probes) return make_error_code(error::circuit_open);
        if (probes_ == 0) probe_since_ = now;
        ++probes_;
        return true;
    }
    return make_error_code(error::circuit_open);
}

template <class Clock>
circuit_change circuit_breaker<Clock>::record_success(time_point now) noexcept {
    std::lock_guard lock(mutex_);
    const auto s = state_locked(now);
    if (s == circuit_state::half_open) {
        close_locked();
        return {s, circuit_state::closed};
    }
    if (s == circuit_state::open) return {s, s}; // a straggler from before the circuit opened
    consecutive_ = 0;
    counts_.advance(now.time_since_epoch());
    counts_.add(successes);
    return {s, s};
}

template <class Clock>
circuit_change circuit_breaker<Clock>::record_neutral(time_point now) noexcept {
    std::lock_guard lock(mutex_);
    const auto s = state_locked(now);
    if (s == circuit_state::half_open && probes_ > 0) --probes_;
    return {s, s};
}

template <class Clock>
circuit_change
circuit_breaker<Clock>::record_failure(time_point now, const std::error_code& ec,
                                       std::optional<std::chrono::nanoseconds> hint) noexcept {
    if (!counts_against_upstream(ec)) return record_neutral(now);
    std::lock_guard lock(mutex_);
    const auto capped =
        hint ? std::clamp(*hint, std::chrono::nanoseconds::zero(), options_.max_cool_down)
             : std::chrono::nanoseconds::zero();
    const auto cool = std::max(options_.cool_down, capped);
    const auto s = state_locked(now);
    const circuit_change opened{s, circuit_state::open};
    if (s == circuit_state::half_open) {
        open_locked(now, cool);
        return opened;
    }
    if (s == circuit_state::open) {
        // Still open: a server's later hint can only push the reopening back.
        if (capped > std::chrono::nanoseconds::zero()) {
            const auto until = now + std::chrono::duration_cast<typename Clock::duration>(capped);
            if (until > open_until_) open_until_ = until;
        }
        return opened; // open before and after
    }
    ++consecutive_;
    counts_.advance(now.time_since_epoch());
    counts_.add(failures);
    if (options_.open_on_retry_after && capped > std::chrono::nanoseconds::zero()) {
        open_locked(now, capped);
        return opened;
    }
    if (options_.failure_threshold != 0 && consecutive_ >= options_.failure_threshold) {
        open_locked(now, cool);
        return opened;
    }
    const auto f = counts_.total(failures);
    const auto n = f + counts_.total(successes);
    if (n >= options_.minimum_calls && n > 0 &&
        static_cast<double>(f) >= options_.failure_rate_threshold * static_cast<double>(n)) {
        open_locked(now, cool);
        return opened;
    }
    return {s, s};
}

template <class Clock>
circuit_state circuit_breaker<Clock>::state(time_point now) const noexcept {
    std::lock_guard lock(mutex_);
    return state_locked(now);
}

template <class Clock>
std::chrono::nanoseconds circuit_breaker<Clock>::retry_after(time_point now) const noexcept {
    std::lock_guard lock(mutex_);
    if (state_locked(now) != circuit_state::open) return {};
    return std::chrono::duration_cast<std::chrono::nanoseconds>(open_until_ - now);
}

template <class Clock>
void circuit_breaker<Clock>::reset() noexcept {
    std::lock_guard lock(mutex_);
    close_locked();
}

} // namespace faultline

#endif

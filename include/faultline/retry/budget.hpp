#ifndef FAULTLINE_RETRY_BUDGET_HPP
#define FAULTLINE_RETRY_BUDGET_HPP

#include <faultline/detail/config.hpp>

// A retry budget: retries may make up at most a fixed share of recent requests, plus a small
// floor, so that during an outage retries cannot multiply the load on an upstream (the idea of
// gRPC's retry throttling and Finagle's RetryBudget).
//
//     faultline::retry_budget<> budget;                    // 20% of 10 s of requests, + 10
//     budget.record_request(now);                          // once per original request
//     if (budget.try_acquire_retry(now)) { /* retry */ } else { /* surface the failure */ }
//
// A retry is admitted while `retries + 1 <= floor + ratio * requests`, both counted over the
// sliding window (accurate to a tenth of it), with `floor = min_retries_per_second * window`.
// Retries are not requests: a request retried three times is 1 request and 3 retries.

#include <faultline/detail/sliding_window.hpp>
#include <faultline/error.hpp>
#include <faultline/result.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <system_error>

namespace faultline {

/// Settings of a `retry_budget`. Defaults: 20% of requests over 10 s, plus 1 retry per second.
struct retry_budget_options {
    std::chrono::nanoseconds window = std::chrono::seconds(10); ///< Sliding window length.
    double ratio = 0.2;                  ///< Retries allowed per request in the window.
    double min_retries_per_second = 1.0; ///< The floor, so low-traffic clients can still retry.
};

/// Empty if `o` is usable; `std::errc::invalid_argument` for a window shorter than 10 ns, or a
/// ratio or floor that is negative, NaN or above 1e9. Thread-safe.
[[nodiscard]] std::error_code validate(const retry_budget_options& o) noexcept;

/// A thread-safe retry budget over `Clock` time points passed in as `now`.
template <class Clock = std::chrono::steady_clock>
class retry_budget {
public:
    using clock_type = Clock;
    using time_point = typename Clock::time_point;

    /// Throws `std::system_error` with the code of `validate(options)` if that fails.
    explicit retry_budget(retry_budget_options options = {});

    retry_budget(const retry_budget&) = delete;
    retry_budget& operator=(const retry_budget&) = delete;

    /// Counts one original request (not a retry). Thread-safe.
    void record_request(time_point now) noexcept;

    /// Takes one retry from the budget if there is room. Thread-safe.
    [[nodiscard]] bool try_acquire_retry(time_point now) noexcept;

    /// As `try_acquire_retry`, as a result: success, or `error::retry_budget_exhausted`.
    /// Thread-safe.
    [[nodiscard]] result<void> acquire_retry(time_point now) noexcept;

    /// How many retries would be admitted now (may be fractional). Thread-safe.
    [[nodiscard]] double available(time_point now) noexcept;

    /// Requests and retries counted in the window ending at `now`. Thread-safe.
    struct counts {
        std::uint64_t requests;
        std::uint64_t retries;
    };
    [[nodiscard]] counts in_window(time_point now) noexcept;

    /// The options in force. Thread-safe.
    [[nodiscard]] const retry_budget_options& options() const noexcept { return options_; }

private:
    [[nodiscard]] double room_locked() const noexcept;

    retry_budget_options options_;
    double floor_;
    std::mutex mutex_;
    detail::sliding_counts<2> counts_;
};

} // namespace faultline

#include <faultline/retry/impl/budget.hpp>

#endif

#ifndef FAULTLINE_LIMIT_DECISION_HPP
#define FAULTLINE_LIMIT_DECISION_HPP

#include <faultline/detail/config.hpp>

// The answer every limiter gives: admitted or not, how long until it would admit, and the
// figures a gateway reports in `x-ratelimit-*` headers.
//
//     faultline::limit::decision d = bucket.try_acquire(1);
//     if (!d) reply_429(d.ec, d.retry_after);   // d.ec: rpm_exceeded, request_exceeds_burst, ...

#include <faultline/error.hpp>

#include <chrono>
#include <cstdint>
#include <system_error>

namespace faultline::limit {

/// One limiter's verdict on one request. A plain value; copy it freely.
struct decision {
    /// Whether the request was admitted (and its tokens consumed).
    bool admitted = false;
    /// When refused: the exact time until the same request would be admitted if nothing else
    /// consumed meanwhile; zero when admitted. `nanoseconds::max()` when it never can be
    /// (`ec == error::request_exceeds_burst`).
    std::chrono::nanoseconds retry_after{0};
    /// The limit: a bucket's burst, a concurrency limiter's maximum in flight.
    std::uint64_t limit = 0;
    /// Whole tokens (permits) left after this decision.
    std::uint64_t remaining = 0;
    /// Time until the limiter is back to its initial, full state (`x-ratelimit-reset-*`).
    std::chrono::nanoseconds reset{0};
    /// Empty when admitted. Otherwise why: the limiter's refusal code (`error::rate_limited`
    /// unless configured as `rpm_exceeded`, `tpm_exceeded`, `concurrency_exceeded`),
    /// `error::request_exceeds_burst`, `error::key_table_full` (a keyed limiter at its key cap)
    /// or `error::limiter_unavailable` (a shared store that cannot be reached).
    std::error_code ec;

    /// Whether the request was admitted. Thread-safe (a plain value).
    [[nodiscard]] explicit operator bool() const noexcept { return admitted; }
};

} // namespace faultline::limit

#endif

#ifndef FAULTLINE_RETRY_POLICY_HPP
#define FAULTLINE_RETRY_POLICY_HPP

#include <faultline/detail/config.hpp>

// The retry decision: given a classified failure, which attempt it ended and how long the whole
// operation has run, retry (after how long) or give up (and why).
//
//     faultline::retry_policy policy;              // 4 attempts, full jitter 1 s..30 s
//     policy.deadline = std::chrono::seconds(60);
//     auto d = policy.decide(f, {.attempt = 1, .elapsed = 3s}, rng);
//     if (d.retry) sleep(d.delay); else surface(f, d.reason);
//
// Rules, in order (the first that applies gives up):
//  1. content_delivered — the stream had delivered content to the caller, and the request is
//     not marked `replayable`: a retry would duplicate output.
//  2. not_retryable — `failure::retryable` is false (taxonomy, after `x-should-retry`).
//  3. attempts_exhausted — `attempt >= max_attempts`.
//  4. server_delay_too_long — the server's hint (Retry-After and friends, `failure::retry_after`)
//     exceeds `max_server_delay`. The policy gives up at once rather than parking the caller:
//     the failure still carries the hint, so a caller who can wait that long (a batch job) can
//     reschedule, and one who cannot gets the error now instead of after a long sleep.
//  5. deadline_exceeded — `elapsed + delay` would pass `deadline`. The policy never sleeps past
//     the deadline: it gives up early, with the last failure, and the give-up reason maps to
//     `error::deadline_exceeded`.
// Otherwise it retries after the server's hint if there is one (the hint takes precedence over
// the computed backoff, exactly as given), else after `backoff.next_delay(attempt, previous)`.

#include <faultline/error.hpp>
#include <faultline/failure.hpp>
#include <faultline/retry/backoff.hpp>

#include <chrono>
#include <string_view>
#include <system_error>

namespace faultline {

/// Why a retry loop stopped without a value.
enum class give_up_reason : unsigned char {
    not_retryable,
    attempts_exhausted,
    server_delay_too_long,
    deadline_exceeded,
    content_delivered,
    budget_exhausted,
    cancelled,
};

/// The enumerator name, e.g. "deadline_exceeded". Thread-safe.
[[nodiscard]] std::string_view to_string(give_up_reason r) noexcept;

/// The code a caller reports for giving up: `error::deadline_exceeded`,
/// `error::retry_budget_exhausted`, `std::errc::operation_canceled`, or else `last`'s own code
/// (the failure that was not retried is the honest error). Thread-safe.
[[nodiscard]] std::error_code give_up_code(give_up_reason r, const failure& last) noexcept;

/// Where an operation stands when one of its attempts failed.
struct attempt_state {
    unsigned attempt = 1;                      ///< The attempt that failed; 1 = the first.
    std::chrono::nanoseconds elapsed{};        ///< Since the first attempt started.
    std::chrono::nanoseconds previous_delay{}; ///< The delay before this attempt (0 at first).
    bool content_delivered = false;            ///< Stream content already reached the caller.
};

/// A decision: retry after `delay`, or give up for `reason`.
struct retry_decision {
    bool retry = false;
    std::chrono::nanoseconds delay{};                      ///< Meaningful when `retry`.
    bool from_server = false;                              ///< `delay` is the server's hint.
    give_up_reason reason = give_up_reason::not_retryable; ///< Meaningful when `!retry`.
};

/// A retry policy. A plain value. Defaults follow the reference retry guidance: full jitter from
/// 1 s capped at 30 s, 4 attempts in all (3 retries), server hints up to 60 s, no deadline.
/// Thread-safe to share once configured (`decide` is const).
struct retry_policy {
    backoff delay{};
    unsigned max_attempts = 4; ///< Attempts in all, the first included; 0 counts as 1.
    /// Longest server hint the policy will wait for; longer ones give up (rule 4).
    std::chrono::nanoseconds max_server_delay = std::chrono::seconds(60);
    /// Overall time budget from the start of the first attempt; `max()` = none.
    std::chrono::nanoseconds deadline = std::chrono::nanoseconds::max();
    /// Whether to wait for `failure::retry_after` at all (else always the computed backoff).
    bool honour_server_delay = true;
    /// The request may be replayed even after content was delivered (idempotent).
    bool replayable = false;

    /// Decides for `f` in `state`, drawing jitter from `g`. Thread-safe (const); `g` is the
    /// caller's.
    template <class URBG>
    [[nodiscard]] retry_decision decide(const failure& f, const attempt_state& state,
                                        URBG& g) const noexcept;
};

} // namespace faultline

#include <faultline/retry/impl/policy.hpp>

#endif

#ifndef FAULTLINE_RETRY_CIRCUIT_BREAKER_HPP
#define FAULTLINE_RETRY_CIRCUIT_BREAKER_HPP

#include <faultline/detail/config.hpp>

// A circuit breaker per upstream or channel, so that a caller fails fast instead of hammering a
// dead upstream (retry/channel_pool.hpp routes around open ones).
//
//     faultline::circuit_breaker<> breaker;
//     if (auto admitted = breaker.try_acquire(now); !admitted)
//         return reply(admitted.error());                  // circuit_open, with retry_after(now)
//     faultline::failure f = call_upstream();
//     breaker.record(f, now);                              // or record_success(now)
//
// States: closed (calls pass; outcomes are counted) -> open (calls refused with
// `error::circuit_open` until the cool-down ends) -> half-open (up to `half_open_probes` trial
// calls pass; a success closes the circuit, a failure opens it again).
//
// It opens on either rule: `failure_threshold` counted failures in a row, or a failure share of
// at least `failure_rate_threshold` over the sliding `window` once `minimum_calls` outcomes were
// counted there. The cool-down is `cool_down`, or a server's Retry-After when that is longer
// (capped at `max_cool_down`). With `open_on_retry_after` a counted failure carrying a
// Retry-After opens the circuit at once for that long: the server said when to come back.
//
// Only upstream trouble counts (see `counts_against_upstream`): 5xx, 429, 408/409, timeouts and
// transport errors. Client errors (400, 401, 404, ...) are neutral: the upstream answered.
// A half-open probe whose outcome is never recorded is given up after one cool-down, so a lost
// probe cannot keep the circuit half-open forever.

#include <faultline/detail/sliding_window.hpp>
#include <faultline/error.hpp>
#include <faultline/result.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <system_error>

namespace faultline {

enum class circuit_state : unsigned char { closed, open, half_open };

/// "closed", "open", "half_open". Thread-safe.
[[nodiscard]] std::string_view to_string(circuit_state s) noexcept;

/// A change of a breaker's state made by one call of it: `from` -> `to`; none when both are
/// the same (the state the call found). A plain value.
struct circuit_change {
    circuit_state from = circuit_state::closed;
    circuit_state to = circuit_state::closed;

    /// Whether the state changed. Thread-safe (a plain value).
    explicit operator bool() const noexcept { return from != to; }
};

/// Settings of a `circuit_breaker`.
struct circuit_breaker_options {
    unsigned failure_threshold = 5;      ///< Counted failures in a row that open it; 0 = rule off.
    double failure_rate_threshold = 0.5; ///< Failure share over `window` that opens it; > 1 = off.
    unsigned minimum_calls = 20;         ///< Outcomes needed in `window` before the share counts.
    std::chrono::nanoseconds window = std::chrono::seconds(60);
    std::chrono::nanoseconds cool_down = std::chrono::seconds(30);    ///< Open -> half-open.
    std::chrono::nanoseconds max_cool_down = std::chrono::minutes(5); ///< Cap on Retry-After.
    unsigned half_open_probes = 1;   ///< Trial calls let through at once while half-open.
    bool open_on_retry_after = true; ///< A counted failure with Retry-After opens at once.
};

/// Empty if `o` is usable; `std::errc::invalid_argument` for a window or cool-down that is
/// negative (a zero window counts each outcome alone), a `max_cool_down` shorter than
/// `cool_down`, no half-open probes, or a NaN or negative `failure_rate_threshold`.
/// Thread-safe.
[[nodiscard]] std::error_code validate(const circuit_breaker_options& o) noexcept;

/// Whether an outcome with this code says something about the upstream's health: its category
/// is server_error, upstream_unavailable, timeout, overloaded or rate_limited, and it is not one
/// of the toolkit's own local decisions (circuit_open, deadline_exceeded, retry_budget_exhausted,
/// request_exceeds_burst, limiter_unavailable, key_table_full). Foreign transport codes count by
/// their category.
/// Thread-safe.
[[nodiscard]] bool counts_against_upstream(const std::error_code& ec) noexcept;

/// One circuit breaker over `Clock` time points passed in as `now`. Thread-safe; `try_acquire`
/// on a closed circuit is one atomic load.
template <class Clock = std::chrono::steady_clock>
class circuit_breaker {
public:
    using clock_type = Clock;
    using time_point = typename Clock::time_point;

    /// Throws `std::system_error` with the code of `validate(options)` if that fails.
    explicit circuit_breaker(circuit_breaker_options options = {});
    circuit_breaker(const circuit_breaker&) = delete;
    circuit_breaker& operator=(const circuit_breaker&) = delete;

    /// Asks to make a call: success when it may go ahead (while half-open this takes one probe
    /// slot, returned by the next `record*`), else `error::circuit_open`. Thread-safe.
    [[nodiscard]] result<void> try_acquire(time_point now) noexcept;
    /// As `try_acquire`, saying how the call was let through: `true` when it took a half-open
    /// probe slot (a caller that abandons the call gives it back with `record_neutral`), `false`
    /// when the circuit is closed. Thread-safe.
    [[nodiscard]] result<bool> try_acquire_probe(time_point now) noexcept {
        circuit_change ignored;
        return try_acquire_probe(now, ignored);
    }
    /// As above; `change` says whether this call moved the circuit from open to half-open (the
    /// first call after the cool-down does). Thread-safe.
    [[nodiscard]] result<bool> try_acquire_probe(time_point now, circuit_change& change) noexcept;

    // Each `record*` returns the change of state it made (closed -> open, half-open -> open or
    // half-open -> closed), so that a caller can report it; without one, `from` and `to` are
    // both the state it found. `from` is the state as `state(now)` reads it: an open circuit
    // whose cool-down is over reads half-open, so an outcome reported then (a straggler's, as
    // well as a probe's) changes it from half-open although no call reported open -> half-open
    // (only the probe that makes that change reports it).

    /// The call succeeded. Thread-safe.
    circuit_change record_success(time_point now) noexcept;
    /// The call failed with `ec`; `retry_after` is the server's hint, if any. Codes that do not
    /// `count_against_upstream` are neutral. Thread-safe.
    circuit_change
    record_failure(time_point now, const std::error_code& ec,
                   std::optional<std::chrono::nanoseconds> retry_after = {}) noexcept;
    /// The outcome was neither (cancelled, or a client error): only frees a probe slot (it
    /// changes no state). Thread-safe.
    circuit_change record_neutral(time_point now) noexcept;
    /// Records a classified failure (`faultline::failure` or anything with `error_code()` and
    /// an optional `retry_after`). Thread-safe.
    template <class Failure>
    circuit_change record(const Failure& f, time_point now) noexcept {
        std::optional<std::chrono::nanoseconds> hint;
        if (f.retry_after)
            hint = std::chrono::duration_cast<std::chrono::nanoseconds>(*f.retry_after);
        return record_failure(now, f.error_code(), hint);
    }

    /// The state at `now` (an open circuit whose cool-down ended reads half-open). Thread-safe.
    [[nodiscard]] circuit_state state(time_point now) const noexcept;
    /// Time from `now` until calls may pass again; zero unless open. Thread-safe.
    [[nodiscard]] std::chrono::nanoseconds retry_after(time_point now) const noexcept;
    /// Back to closed with empty counts. Thread-safe.
    void reset() noexcept;
    /// The options in force. Thread-safe.
    [[nodiscard]] const circuit_breaker_options& options() const noexcept { return options_; }

private:
    enum : std::size_t { successes = 0, failures = 1 };
    void open_locked(time_point now, std::chrono::nanoseconds for_how_long) noexcept;
    void close_locked() noexcept;
    [[nodiscard]] circuit_state state_locked(time_point now) const noexcept;

    circuit_breaker_options options_;
    std::atomic<circuit_state> fast_state_{circuit_state::closed};
    mutable std::mutex mutex_;
    circuit_state state_ = circuit_state::closed;
    time_point open_until_{};
    time_point probe_since_{};
    unsigned probes_ = 0;
    unsigned consecutive_ = 0;
    detail::sliding_counts<2> counts_;
};

} // namespace faultline

#include <faultline/retry/impl/circuit_breaker.hpp>

#endif

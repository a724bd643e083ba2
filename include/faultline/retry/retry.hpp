#ifndef FAULTLINE_RETRY_RETRY_HPP
#define FAULTLINE_RETRY_RETRY_HPP

#include <faultline/detail/config.hpp>

// A synchronous retry loop: calls an operation until it succeeds or the policy gives up, and
// returns its value or the last failure with the history of every attempt.
//
//     faultline::retry_policy policy;
//     auto r = faultline::retry(policy, [&]() -> faultline::outcome<std::string> {
//         auto resp = http.post(url, body);
//         if (resp.status == 200) return resp.body;
//         return faultline::classify(resp.status, resp.headers, resp.body);
//     });
//     if (!r) log(r.error().error_code().message(), r.error().history.size());
//
// The operation is called as `op(attempt_context&)` if it accepts one, else as `op()`, and
// returns one of
//   - `faultline::outcome<T>`: a T or a classified `failure` (Retry-After and all), or
//   - `faultline::result<T>` (a T or a `std::error_code`), converted with `to_failure` —
//     transport errors and local decisions, no server hints;
// more generally any Boost.Outcome-style type with `has_value()`, `value()`, `error()` whose
// error is a `failure` or converts to `std::error_code`. T may be void.
//
// A streaming operation calls `ctx.mark_content_delivered()` once it has handed content to its
// caller; a failure after that is retried only when `policy.replayable` (see policy.hpp).
//
// Time comes from `options.clock`, waits go through `options.sleep`, jitter from `options.rng`:
// tests pass a manual clock and a sleeper that advances it, and run instantly. The history has
// at most `policy.max_attempts` entries.

#include <faultline/failure.hpp>
#include <faultline/limit/decision.hpp>
#include <faultline/result.hpp>
#include <faultline/retry/backoff.hpp>
#include <faultline/retry/budget.hpp>
#include <faultline/retry/channel_pool.hpp>
#include <faultline/retry/policy.hpp>

#include <boost/outcome/basic_result.hpp>
#include <boost/outcome/policy/throw_bad_result_access.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace faultline {

/// A `T` or a classified `failure`. `value()` on a failure throws
/// `boost::outcome_v2::bad_result_access_with<failure>`.
template <class T>
using outcome = boost::outcome_v2::basic_result<
    T, failure, boost::outcome_v2::policy::throw_bad_result_access<failure, void>>;

/// What an operation knows about its attempt. Not thread-safe.
struct attempt_context {
    unsigned attempt = 1;               ///< 1 = the first attempt.
    std::chrono::nanoseconds elapsed{}; ///< Since the first attempt started.
    std::size_t target = 0;             ///< Where (see `pipeline_options::targets`).
    bool hedge = false;                 ///< Started beside another still running.
    bool content_delivered = false;
    /// Content of this attempt reached the caller: a failure now is not replayed unless the
    /// policy says the request is replayable. Not thread-safe.
    void mark_content_delivered() noexcept { content_delivered = true; }
};

/// One failed attempt.
struct attempt_record {
    unsigned attempt = 0; ///< From 1; 0 when none was made: its target's breaker refused it.
    std::chrono::nanoseconds elapsed{}; ///< When it failed, since the first attempt started.
    failure what;
    std::chrono::nanoseconds delay{}; ///< The wait before the next attempt; 0 for the last.
    bool delay_from_server = false;
    /// The call moved to this target after the attempt (a fallback: no wait).
    std::optional<std::size_t> fallback_to;
};

/// Why the loop gave up, on which failure, after which attempts.
struct retry_error {
    failure last;
    give_up_reason reason = give_up_reason::not_retryable;
    std::vector<attempt_record>
        history; ///< Every failed attempt and refused target, the last included.
    /// `give_up_code(reason, last)`. Thread-safe.
    [[nodiscard]] std::error_code error_code() const noexcept { return give_up_code(reason, last); }
};

/// The value, or a `retry_error`. Not thread-safe.
///
/// (A small class of its own rather than a Boost.Outcome `basic_result<T, retry_error>`: moving
/// that union of a non-trivial error trips g++ 12's -Wmaybe-uninitialized at -O2 in callers.)
template <class T>
class [[nodiscard]] retry_result {
public:
    using value_type = T;
    using error_type = retry_error;

    retry_result(T value)
        : v_(std::in_place_index<0>, std::move(value)) {}
    retry_result(retry_error e)
        : v_(std::in_place_index<1>, std::move(e)) {}

    [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
    [[nodiscard]] bool has_error() const noexcept { return v_.index() == 1; }
    explicit operator bool() const noexcept { return has_value(); }

    /// The value; throws `std::system_error(error().error_code())` when there is none.
    [[nodiscard]] T& value() & { return check(), std::get<0>(v_); }
    [[nodiscard]] const T& value() const& { return check(), std::get<0>(v_); }
    [[nodiscard]] T&& value() && { return check(), std::get<0>(std::move(v_)); }
    /// The error; undefined unless `has_error()`.
    [[nodiscard]] retry_error& error() & noexcept { return *std::get_if<1>(&v_); }
    [[nodiscard]] const retry_error& error() const& noexcept { return *std::get_if<1>(&v_); }
    [[nodiscard]] retry_error&& error() && noexcept { return std::move(*std::get_if<1>(&v_)); }

private:
    void check() const {
        if (const auto* e = std::get_if<1>(&v_))
            throw std::system_error(e->error_code(), e->last.message);
    }
    std::variant<T, retry_error> v_;
};

/// Success without a value, or a `retry_error`. Not thread-safe.
template <>
class [[nodiscard]] retry_result<void> {
public:
    using value_type = void;
    using error_type = retry_error;

    retry_result() noexcept = default;
    retry_result(boost::outcome_v2::success_type<void>) noexcept {}
    retry_result(retry_error e)
        : e_(std::move(e)) {}

    [[nodiscard]] bool has_value() const noexcept { return !e_.has_value(); }
    [[nodiscard]] bool has_error() const noexcept { return e_.has_value(); }
    explicit operator bool() const noexcept { return has_value(); }
    /// Throws `std::system_error(error().error_code())` on failure.
    void value() const {
        if (e_) throw std::system_error(e_->error_code(), e_->last.message);
    }
    [[nodiscard]] retry_error& error() & noexcept { return *e_; }
    [[nodiscard]] const retry_error& error() const& noexcept { return *e_; }
    [[nodiscard]] retry_error&& error() && noexcept { return std::move(*e_); }

private:
    std::optional<retry_error> e_;
};

/// Sleeps the calling thread. Thread-safe.
struct this_thread_sleeper {
    void operator()(std::chrono::nanoseconds d) const { std::this_thread::sleep_for(d); }
};

/// What a retry loop runs on. `clock.now()`, `sleep(nanoseconds)`, `rng()` are called from the
/// looping thread only. Not thread-safe (one per loop at a time).
template <class Clock = std::chrono::steady_clock, class Sleeper = this_thread_sleeper,
          class URBG = splitmix64>
struct retry_options {
    Clock clock{};
    Sleeper sleep{};
    URBG rng = random_seeded<URBG>();
    /// Counts the request and asks it for each retry; refusal gives up with budget_exhausted.
    retry_budget<Clock>* budget = nullptr;
    /// Called before each wait, with the attempt that failed and the delay chosen.
    std::function<void(const attempt_record&)> on_retry;
    /// Called once when the loop gives up.
    std::function<void(const retry_error&)> on_give_up;
    /// A breaker for the operation's upstream, shared by every loop (`channel_pool` of one
    /// channel; see pipeline.hpp, "Cooldown"): each attempt's outcome is recorded on it, and an
    /// attempt while it is open is not made: the loop waits out the cool-down when the policy
    /// allows that wait, or gives up with `circuit_open`. Null: none.
    channel_pool<Clock>* cooldowns = nullptr;
    /// The caller's own limit, asked before each attempt (see pipeline.hpp, "Admission"): a
    /// `limit::token_bucket`'s `try_acquire(n, now)`, say. A refusal is an attempt not made: the
    /// loop waits out the limit's `retry_after` when the policy allows that wait, else gives up
    /// with the limit's code. Empty: none.
    std::function<limit::decision(typename Clock::time_point)> admission{};
    /// Called once for each attempt `admission` admitted, when that attempt is over (it
    /// answered, or the operation threw): where a limit of calls in flight gives its slot back
    /// (`limit::concurrency_limiter`, say). Must not throw (it runs as the loop ends; a throw
    /// terminates). Empty, or `admission` empty: not called.
    std::function<void(typename Clock::time_point)> admission_ended{};
};

namespace detail {
template <class R>
concept retry_operation_result = requires(R& r) {
    { r.has_value() } -> std::convertible_to<bool>;
    r.error();
    typename std::remove_cvref_t<R>::value_type;
};
template <class Op>
[[nodiscard]] decltype(auto) invoke_attempt(Op& op, attempt_context& ctx) {
    if constexpr (std::is_invocable_v<Op&, attempt_context&>)
        return std::invoke(op, ctx);
    else
        return std::invoke(op);
}
template <class Op>
using attempt_result_t = std::remove_cvref_t<decltype(invoke_attempt(
    std::declval<Op&>(), std::declval<attempt_context&>()))>;
template <class E>
[[nodiscard]] failure as_failure(E&& e) {
    if constexpr (std::is_same_v<std::remove_cvref_t<E>, failure>)
        return std::forward<E>(e);
    else
        return to_failure(std::error_code(std::forward<E>(e)));
}
} // namespace detail

/// Runs `op` under `policy` (see the header comment). Thread-safe as far as `op` and the
/// options are: one loop per `options` object at a time.
template <class Op, class Clock, class Sleeper, class URBG>
requires detail::retry_operation_result<detail::attempt_result_t<Op>>
[[nodiscard]] retry_result<typename detail::attempt_result_t<Op>::value_type>
retry(const retry_policy& policy, Op&& op, retry_options<Clock, Sleeper, URBG>& options);

/// As above with a steady clock, real sleeps and a randomly seeded generator.
template <class Op>
requires detail::retry_operation_result<detail::attempt_result_t<Op>>
[[nodiscard]] retry_result<typename detail::attempt_result_t<Op>::value_type>
retry(const retry_policy& policy, Op&& op) {
    retry_options<> options;
    return retry(policy, std::forward<Op>(op), options);
}

} // namespace faultline

#include <faultline/retry/impl/retry.hpp>

#endif

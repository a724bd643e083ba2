#ifndef FAULTLINE_ASIO_RETRY_HPP
#define FAULTLINE_ASIO_RETRY_HPP

#include <faultline/detail/config.hpp>

// The pipeline on Boost.Asio: retries, fallbacks and hedges of an asynchronous operation, with
// waits on a steady_timer and the usual completion tokens.
//
//     auto r = co_await faultline::asio::async_retry<std::string>(
//         ex, policy,
//         [&](auto handler) { client.async_complete(request, std::move(handler)); },
//         boost::asio::use_awaitable);
//     // r: faultline::retry_result<std::string> — the value, or the last failure + history
//
//     faultline::pipeline_options o;                 // the whole pipeline: targets, hedging
//     o.targets = 2;
//     o.fallbacks = {{faultline::category::context_length_exceeded, 1}};
//     o.hedge = {.delay = 2s, .max_hedges = 1};
//     auto r = co_await faultline::asio::async_run<std::string>(
//         ex, o,
//         [&](faultline::attempt_context& ctx, auto handler) {
//             clients[ctx.target].async_complete(request, std::move(handler));
//         },
//         boost::asio::use_awaitable);
//
// The operation is called as `op(ctx, handler)` if it accepts an `attempt_context&` first, else
// as `op(handler)`, once per attempt (`ctx.target` says where, `ctx.hedge` whether another runs
// beside it); it must complete `handler` exactly once with one of
//   void(faultline::outcome<T>)       a value or a classified failure (server hints and all)
//   void(faultline::result<T>)        a value or an error code (see retry/retry.hpp)
//   void(error_code, T)               the Asio convention (std:: or boost::system::error_code)
//   void(error_code)                  when T is void
// Error codes become failures through `to_failure` (timeouts and resets are retryable). The
// handler may be called from any thread and inline; its result is taken on `ex`. A hedging loop
// runs on a strand of `ex`, as its attempts run side by side. Any other loop has one attempt or
// one wait pending at a time and runs on `ex` itself, taking a result there and then when the
// handler is called on `ex` (as Asio's operations call theirs) and posting it otherwise.
// `ctx` stays valid until the loop completes.
//
// The completion signature is `void(faultline::retry_result<T>)`: callbacks get it as their one
// argument, `use_future` yields a `std::future<retry_result<T>>`, `use_awaitable` returns it. It
// carries the history as well as the code (`error().error_code()`), which a `void(error_code, T)`
// signature would drop. The loop's state is allocated with the completion handler's associated
// allocator (each attempt's handler carries it too) and freed when the last attempt's handler is
// gone, which for an attempt cancelled after a hedge won may be after the completion; the loop's
// work is tracked on the handler's associated executor.
//
// Hedging runs attempts side by side: the first success wins and completes the loop at once;
// each attempt still running is then cancelled through its handler's own cancellation slot
// (terminal), so a slow first attempt does not hold its connection after a hedge has answered.
//
// Cancellation: the completion handler's cancellation slot (terminal cancellation) is honoured;
// as with any Asio operation, it is emitted where the loop runs (on `ex`, or its strand).
// It reaches every attempt in flight (through its handler's slot) and aborts a wait; the loop
// then completes with `give_up_reason::cancelled` (`std::errc::operation_canceled`) and the last
// failure, once no attempt is running. An attempt that succeeds despite a cancellation request
// still delivers its value.
//
// Time is `std::chrono::steady_clock` (that of the timer); jitter comes from the options' URBG.

#include <faultline/pipeline.hpp>
#include <faultline/retry/retry.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace faultline {
namespace asio {

/// Options of `async_retry`. Not thread-safe: one per operation.
template <class URBG = splitmix64>
struct async_retry_options {
    URBG rng = random_seeded<URBG>();
    /// Counts the request and asks it for each retry, as in the synchronous loop.
    retry_budget<std::chrono::steady_clock>* budget = nullptr;
    /// Called when the call goes on after a failed attempt: before each wait (with the delay
    /// chosen) and at each fallback (with `fallback_to`), on the loop's executor.
    std::function<void(const attempt_record&)> on_retry;
    /// Called once when the loop gives up, before the completion handler.
    std::function<void(const retry_error&)> on_give_up;
    /// One breaker per target, shared by every call (see pipeline.hpp, "Cooldown"): a target
    /// that keeps failing is skipped for its cool-down. Null: none.
    channel_pool<std::chrono::steady_clock>* cooldowns = nullptr;
    /// The caller's own limit, asked before each attempt, as in the synchronous loop (see
    /// pipeline.hpp, "Admission"). Empty: none.
    std::function<limit::decision(std::chrono::steady_clock::time_point)> admission{};
    /// Called once for each attempt `admission` admitted when it is over: it answered, lost to
    /// another attempt (as the run cancels it), or the run stopped. As in the synchronous loop;
    /// must not throw. Empty, or `admission` empty: not called.
    std::function<void(std::chrono::steady_clock::time_point)> admission_ended{};
};

/// Starts the retry loop of `op` under `policy` (`async_run` with one target and no hedging);
/// timers run on `ex`. Thread-safe.
template <class T, class Executor, class Op, class URBG, class CompletionToken>
auto async_retry(const Executor& ex, const retry_policy& policy, Op op,
                 async_retry_options<URBG> options, CompletionToken&& token);

/// As above with default options (a randomly seeded generator, no budget, no hooks).
template <class T, class Executor, class Op, class CompletionToken>
auto async_retry(const Executor& ex, const retry_policy& policy, Op op, CompletionToken&& token) {
    return async_retry<T>(ex, policy, std::move(op), async_retry_options<>{},
                          std::forward<CompletionToken>(token));
}

/// Starts the pipeline `options` (copied) for `op`: retries per failure class, fallbacks and
/// failover to other targets, hedges. Timers and the loop's own work run on `ex`, on a strand
/// of it when the pipeline hedges.
/// Throws `std::system_error` with the code of `validate(options)` if that fails, or
/// `std::errc::invalid_argument` if `run_options.cooldowns` has fewer channels than targets.
template <class T, class Executor, class Op, class URBG, class CompletionToken>
auto async_run(const Executor& ex, const pipeline_options& options, Op op,
               async_retry_options<URBG> run_options, CompletionToken&& token);
/// As above with default options.
template <class T, class Executor, class Op, class CompletionToken>
auto async_run(const Executor& ex, const pipeline_options& options, Op op,
               CompletionToken&& token) {
    return async_run<T>(ex, options, std::move(op), async_retry_options<>{},
                        std::forward<CompletionToken>(token));
}

} // namespace asio
} // namespace faultline

#include <faultline/asio/impl/retry.hpp>

#endif

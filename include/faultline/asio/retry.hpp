#ifndef FAULTLINE_ASIO_RETRY_HPP
#define FAULTLINE_ASIO_RETRY_HPP

#include <faultline/detail/config.hpp>

// Asynchronous retry on Boost.Asio: the retry loop of retry/retry.hpp, with waits on a
// steady_timer on the caller's executor and the usual completion tokens.
//
//     auto r = co_await faultline::asio::async_retry<std::string>(
//         ex, policy,
//         [&](auto handler) { client.async_complete(request, std::move(handler)); },
//         boost::asio::use_awaitable);
//     // r: faultline::retry_result<std::string> — the value, or the last failure + history
//
// The operation is called as `op(ctx, handler)` if it accepts an `attempt_context&` first, else
// as `op(handler)`, once per attempt; it must complete `handler` exactly once with one of
//   void(faultline::outcome<T>)       a value or a classified failure (server hints and all)
//   void(faultline::result<T>)        a value or an error code (see retry/retry.hpp)
//   void(error_code, T)               the Asio convention (std:: or boost::system::error_code)
//   void(error_code)                  when T is void
// Error codes become failures through `to_failure` (timeouts and resets are retryable).
//
// The completion signature is `void(faultline::retry_result<T>)`: callbacks get it as their one
// argument, `use_future` yields a `std::future<retry_result<T>>`, `use_awaitable` returns it.
//
// Cancellation: the handler's cancellation slot (terminal cancellation) is honoured. It reaches
// the operation in flight (its handler carries the slot) and aborts a wait; the loop then
// completes with `give_up_reason::cancelled` (`std::errc::operation_canceled`) and the last
// failure. An attempt that succeeds despite a cancellation request still delivers its value.
//
// Time is `std::chrono::steady_clock` (that of the timer); jitter comes from the options' URBG.

#include <faultline/retry/retry.hpp>

#include <boost/asio/compose.hpp>
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
    /// Called before each wait, on the operation's executor.
    std::function<void(const attempt_record&)> on_retry;
    /// Called once when the loop gives up, before the completion handler.
    std::function<void(const retry_error&)> on_give_up;
};

/// Starts the retry loop of `op` under `policy`; timers run on `ex`. Thread-safe as far as
/// `ex` is: the operation and its waits run on the executor.
template <class T, class Executor, class Op, class URBG, class CompletionToken>
auto async_retry(const Executor& ex, const retry_policy& policy, Op op,
                 async_retry_options<URBG> options, CompletionToken&& token);

/// As above with default options (a randomly seeded generator, no budget, no hooks).
template <class T, class Executor, class Op, class CompletionToken>
auto async_retry(const Executor& ex, const retry_policy& policy, Op op, CompletionToken&& token) {
    return async_retry<T>(ex, policy, std::move(op), async_retry_options<>{},
                          std::forward<CompletionToken>(token));
}

} // namespace asio
} // namespace faultline

#include <faultline/asio/impl/retry.hpp>

#endif

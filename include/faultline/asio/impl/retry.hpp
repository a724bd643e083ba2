#ifndef FAULTLINE_ASIO_IMPL_RETRY_HPP
#define FAULTLINE_ASIO_IMPL_RETRY_HPP

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <atomic>
#include <list>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace faultline {
namespace asio {
namespace detail {

template <class E>
inline constexpr bool is_error_code_v =
    std::is_same_v<std::remove_cvref_t<E>, std::error_code> ||
    std::is_same_v<std::remove_cvref_t<E>, boost::system::error_code>;

// Whether the operation's completion arguments can become an outcome<T>.
template <class T, class... Args>
struct completes_with : std::false_type {};
template <class T, class R>
struct completes_with<T, R>
    : std::bool_constant<faultline::detail::retry_operation_result<std::remove_cvref_t<R>> ||
                         (std::is_void_v<T> && is_error_code_v<R>)> {};
template <class T, class E, class V>
struct completes_with<T, E, V> : std::bool_constant<!std::is_void_v<T> && is_error_code_v<E>> {};

template <class T, class R>
outcome<T> to_outcome(R&& r) {
    if constexpr (is_error_code_v<R>) {
        if (r) return to_failure(std::error_code(r));
        return boost::outcome_v2::success();
    } else {
        if (!r.has_value()) return faultline::detail::as_failure(std::forward<R>(r).error());
        if constexpr (std::is_void_v<T>)
            return boost::outcome_v2::success();
        else
            return T(std::forward<R>(r).value());
    }
}
template <class T, class E, class V>
outcome<T> to_outcome(E&& e, V&& v) {
    if (e) return to_failure(std::error_code(e));
    return T(std::forward<V>(v));
}

// One attempt: its context (the operation may keep a reference to it) and its own
// cancellation, which the loop emits when another attempt has won or the caller cancelled.
struct attempt_slot {
    attempt_context ctx;
    boost::asio::cancellation_signal cancel;
    bool running = true;
    std::atomic<bool> launching{false}; // inside the operation's initiation: a completion is inline
};

// The handler an attempt completes: it carries the attempt's cancellation slot, the completion
// handler's allocator and the loop's executor, and takes the result there (onto the strand when
// attempts run side by side).
template <class State>
class attempt_handler {
public:
    using executor_type = typename State::loop_executor;
    using cancellation_slot_type = boost::asio::cancellation_slot;
    using allocator_type = typename State::allocator_type;

    attempt_handler(std::shared_ptr<State> s, attempt_slot* a) noexcept
        : s_(std::move(s))
        , a_(a) {}

    [[nodiscard]] executor_type get_executor() const noexcept { return s_->loop; }
    [[nodiscard]] cancellation_slot_type get_cancellation_slot() const noexcept {
        return a_->cancel.slot();
    }
    [[nodiscard]] allocator_type get_allocator() const noexcept { return s_->allocator; }

    template <class... Args>
    requires completes_with<typename State::value_type, Args...>::value void
    operator()(Args&&... args) {
        auto r = to_outcome<typename State::value_type>(std::forward<Args>(args)...);
        const executor_type loop = s_->loop;
        const bool inline_call = a_->launching.load(std::memory_order_relaxed);
        auto take = [s = std::move(s_), a = a_, r = std::move(r)]() mutable {
            s->on_result(*a, std::move(r));
        };
        // Without hedges one attempt runs at a time and no timer beside it, so a completion
        // already running on the executor (as Asio's operations complete) is taken there and
        // then; one made inline, inside the operation's initiation, or from a thread outside
        // the executor is posted. A hedging loop takes every result on its strand.
        if (State::serialized || inline_call)
            boost::asio::post(loop, std::move(take));
        else
            boost::asio::dispatch(loop, std::move(take));
    }

private:
    std::shared_ptr<State> s_;
    attempt_slot* a_;
};

// The loop: the pipeline's steps carried out on `loop`. A hedging loop (`Serialized`) runs
// attempts side by side, so every result, timer and cancellation is handled on a strand of the
// executor. Any other loop has one thing pending at a time, an attempt or a wait, and runs on the
// executor itself: what completes it is the only code touching the loop (the thread that launched
// an attempt leaves the loop at once), and a cancellation is emitted, as Asio requires, where the
// operation runs.
template <class T, class Op, class Executor, class URBG, class Handler, bool Serialized>
class run_state
    : public std::enable_shared_from_this<run_state<T, Op, Executor, URBG, Handler, Serialized>> {
public:
    using value_type = T;
    using clock = std::chrono::steady_clock;
    static constexpr bool serialized = Serialized;
    using loop_executor = std::conditional_t<Serialized, boost::asio::strand<Executor>, Executor>;
    using allocator_type = boost::asio::associated_allocator_t<Handler>;
    using handler_executor = boost::asio::associated_executor_t<Handler, Executor>;

    run_state(const Executor& ex, pipeline_options po, Op op, async_retry_options<URBG> options,
              Handler handler)
        : loop(make_loop(ex))
        , allocator(boost::asio::get_associated_allocator(handler))
        , timer_(loop)
        , po_(std::move(po))
        , op_(std::move(op))
        , options_(std::move(options))
        , attempts_(slot_allocator(allocator))
        , work_(boost::asio::get_associated_executor(handler, ex))
        , handler_(std::move(handler)) {}

    void start() {
        auto slot = boost::asio::get_associated_cancellation_slot(*handler_);
        if (slot.is_connected()) {
            slot.assign([w = this->weak_from_this()](boost::asio::cancellation_type t) {
                if ((t & boost::asio::cancellation_type::terminal) ==
                    boost::asio::cancellation_type::none)
                    return;
                if (auto s = w.lock()) {
                    if constexpr (Serialized)
                        boost::asio::post(s->loop, [s] { s->cancel(); });
                    else
                        s->cancel();
                }
            });
        }
        if constexpr (Serialized) {
            boost::asio::dispatch(loop, [s = this->shared_from_this()] { s->begin(); });
        } else {
            begin(); // its first step is an attempt, whose result is posted if made inline
        }
    }

    void on_result(attempt_slot& a, outcome<T>&& r) {
        if (!a.running) return;
        a.running = false;
        --running_;
        if (done_) return;
        const auto now = clock::now();
        if (r.has_value()) {
            run_->succeeded(a.ctx.attempt, now);
            if constexpr (std::is_void_v<T>)
                return finish(retry_result<T>(boost::outcome_v2::success()));
            else
                return finish(retry_result<T>(std::move(r).value()));
        }
        if (cancelled_) {
            attempt_record rec;
            rec.attempt = a.ctx.attempt;
            rec.elapsed = now - start_;
            rec.what = std::move(r).error();
            history_.push_back(std::move(rec));
            if (running_ == 0) give_up(give_up_reason::cancelled);
            return;
        }
        run_->failed(a.ctx.attempt, std::move(r).error(), now, a.ctx.content_delivered);
        drive(now);
    }

    loop_executor loop;
    allocator_type allocator;

private:
    using run_type = pipeline<faultline::detail::retry_loop_events, clock, URBG,
                              faultline::detail::function_admission<clock>>;
    using slot_allocator =
        typename std::allocator_traits<allocator_type>::template rebind_alloc<attempt_slot>;

    static loop_executor make_loop(const Executor& ex) {
        if constexpr (Serialized)
            return boost::asio::make_strand(ex);
        else
            return ex;
    }

    void begin() {
        start_ = clock::now();
        run_.emplace(po_, start_,
                     faultline::detail::retry_loop_events{&history_, &options_.on_retry},
                     options_.budget, std::move(options_.rng), options_.cooldowns,
                     faultline::detail::function_admission<clock>{&options_.admission,
                                                                  &options_.admission_ended});
        if (cancelled_) return give_up(give_up_reason::cancelled);
        drive(start_);
    }

    // Does what the pipeline says until it says wait or the loop is over.
    void drive(clock::time_point now) {
        while (!done_) {
            const step st = run_->next(now);
            switch (st.what) {
            case action::attempt:
                launch(st, now);
                if constexpr (!Serialized)
                    return; // the attempt's end, maybe on another thread already, goes on
                break;
            case action::wait:
                if (st.delay != std::chrono::nanoseconds::max()) wait(st.delay, now);
                return; // else an attempt's end decides
            case action::give_up:
                return give_up(st.reason);
            case action::succeeded:
                return; // finished where the success was reported
            }
        }
    }

    void launch(const step& st, clock::time_point now) {
        attempt_slot& a = attempts_.emplace_back();
        a.ctx.attempt = st.attempt;
        a.ctx.target = st.target;
        a.ctx.hedge = st.hedge;
        a.ctx.elapsed = now - start_;
        ++running_;
        using handler = attempt_handler<run_state>;
        a.launching.store(true, std::memory_order_relaxed);
        if constexpr (std::is_invocable_v<Op&, attempt_context&, handler>)
            op_(a.ctx, handler(this->shared_from_this(), &a));
        else
            op_(handler(this->shared_from_this(), &a));
        a.launching.store(false, std::memory_order_relaxed); // the slot outlives the attempt
    }

    // A wait is over when its timer fires, whatever the clock says then. A later wait replaces
    // an earlier one (its handler sees another generation and does nothing).
    void wait(std::chrono::nanoseconds delay, clock::time_point now) {
        const std::uint64_t generation = ++timer_generation_;
        const clock::time_point due = now + delay;
        timer_.expires_at(due);
        timer_.async_wait(
            [s = this->shared_from_this(), generation, due](const boost::system::error_code& ec) {
                if (s->done_ || ec || generation != s->timer_generation_) return;
                s->drive(std::max(clock::now(), due));
            });
    }

    void cancel() {
        if (done_ || cancelled_) return;
        cancelled_ = true;
        if (!run_) return;           // begin() gives up
        run_->abandon(clock::now()); // the results still to come are not the pipeline's
        timer_.cancel();
        cancel_running(); // an attempt may end, and the loop with it, inside this
        if (!done_ && running_ == 0) give_up(give_up_reason::cancelled);
    }

    void cancel_running() {
        for (attempt_slot& a : attempts_)
            if (a.running) a.cancel.emit(boost::asio::cancellation_type::terminal);
    }

    void give_up(give_up_reason reason) {
        retry_error e;
        e.reason = reason;
        if (!history_.empty())
            e.last = history_.back().what;
        else
            e.last = to_failure(std::make_error_code(std::errc::operation_canceled));
        e.history = std::move(history_);
        if (options_.on_give_up) options_.on_give_up(e);
        finish(retry_result<T>(std::move(e)));
    }

    void finish(retry_result<T>&& r) {
        done_ = true;
        timer_.cancel();
        cancel_running(); // a success's hedges, still running
        auto slot = boost::asio::get_associated_cancellation_slot(*handler_);
        if (slot.is_connected()) slot.clear();
        auto work = std::move(*work_);
        work_.reset();
        boost::asio::dispatch(
            work.get_executor(),
            [h = std::move(*handler_), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
        handler_.reset();
    }

    boost::asio::steady_timer timer_;
    pipeline_options po_;
    Op op_;
    async_retry_options<URBG> options_;
    std::list<attempt_slot, slot_allocator> attempts_;
    std::optional<boost::asio::executor_work_guard<handler_executor>> work_;
    std::optional<Handler> handler_;
    std::vector<attempt_record> history_;
    std::optional<run_type> run_;
    clock::time_point start_{};
    std::uint64_t timer_generation_ = 0;
    std::size_t running_ = 0;
    bool cancelled_ = false;
    bool done_ = false;
};

} // namespace detail

template <class T, class Executor, class Op, class URBG, class CompletionToken>
auto async_run(const Executor& ex, const pipeline_options& options, Op op,
               async_retry_options<URBG> run_options, CompletionToken&& token) {
    if (auto ec = validate(options)) throw std::system_error(ec, "faultline::asio::async_run");
    if (run_options.cooldowns && run_options.cooldowns->size() < options.targets)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "faultline::asio::async_run: fewer cooldown channels than targets");
    return boost::asio::async_initiate<CompletionToken, void(retry_result<T>)>(
        [](auto handler, const Executor& e, pipeline_options po, Op o,
           async_retry_options<URBG> ro) {
            const auto allocator = boost::asio::get_associated_allocator(handler);
            auto launch = [&]<bool Serialized>(std::bool_constant<Serialized>) {
                using state =
                    detail::run_state<T, Op, Executor, URBG, decltype(handler), Serialized>;
                std::allocate_shared<state>(allocator, e, std::move(po), std::move(o),
                                            std::move(ro), std::move(handler))
                    ->start();
            };
            if (po.hedge.max_hedges > 0)
                launch(std::true_type{});
            else
                launch(std::false_type{});
        },
        token, ex, options, std::move(op), std::move(run_options));
}

template <class T, class Executor, class Op, class URBG, class CompletionToken>
auto async_retry(const Executor& ex, const retry_policy& policy, Op op,
                 async_retry_options<URBG> options, CompletionToken&& token) {
    pipeline_options po;
    po.retry = policy;
    return async_run<T>(ex, po, std::move(op), std::move(options),
                        std::forward<CompletionToken>(token));
}

} // namespace asio
} // namespace faultline

#endif

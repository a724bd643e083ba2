#ifndef FAULTLINE_ASIO_IMPL_RETRY_HPP
#define FAULTLINE_ASIO_IMPL_RETRY_HPP

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>

#include <faultline/pipeline.hpp>

#include <algorithm>
#include <optional>
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

template <class T, class Op, class Executor, class URBG>
class retry_op {
public:
    retry_op(const Executor& ex, const retry_policy& policy, Op op,
             async_retry_options<URBG> options)
        : s_(std::make_unique<state>(ex, policy, std::move(op), std::move(options))) {}

    template <class Self>
    void operator()(Self& self) {
        state& s = *s_;
        s.start = clock::now();
        s.ready_at = s.start;
        s.run.emplace(s.po, s.start,
                      faultline::detail::retry_loop_events{&s.history, &s.options.on_retry},
                      s.options.budget, std::move(s.options.rng));
        proceed(self);
    }

    template <class Self, class... Args>
    void operator()(Self& self, Args&&... args) {
        if constexpr (sizeof...(Args) == 1 && (is_error_code_v<Args> && ...)) {
            if (s_->waiting) {
                s_->waiting = false;
                const bool aborted = ((args == boost::asio::error::operation_aborted) || ...);
                if (aborted || self.cancelled() != boost::asio::cancellation_type::none)
                    return give_up(self, give_up_reason::cancelled);
                return proceed(self);
            }
        }
        if constexpr (completes_with<T, Args...>::value) {
            on_result(self, to_outcome<T>(std::forward<Args>(args)...));
        }
    }

private:
    using clock = std::chrono::steady_clock;
    using run_type = pipeline<faultline::detail::retry_loop_events, clock, URBG>;

    struct state {
        state(const Executor& ex, const retry_policy& p, Op o, async_retry_options<URBG> opt)
            : op(std::move(o))
            , options(std::move(opt))
            , timer(ex) {
            po.retry = p;
        }
        pipeline_options po;
        Op op;
        async_retry_options<URBG> options;
        boost::asio::steady_timer timer;
        attempt_context ctx;
        clock::time_point start;
        clock::time_point ready_at; // a wait is over when its timer fires, whatever the clock says
        std::vector<attempt_record> history;
        std::optional<run_type> run;
        bool waiting = false;
    };

    // Does what the pipeline says next: an attempt, a wait, or giving up.
    template <class Self>
    void proceed(Self& self) {
        state& s = *s_; // `self` (and this object with it) moves into the operation
        const step st = s.run->next(std::max(clock::now(), s.ready_at));
        if (st.what == action::give_up) return give_up(self, st.reason);
        if (st.what == action::wait) {
            s.waiting = true;
            s.ready_at = clock::now() + st.delay;
            s.timer.expires_after(st.delay);
            return s.timer.async_wait(std::move(self));
        }
        s.ctx = attempt_context{};
        s.ctx.attempt = st.attempt;
        s.ctx.elapsed = clock::now() - s.start;
        if constexpr (std::is_invocable_v<Op&, attempt_context&, Self>)
            s.op(s.ctx, std::move(self));
        else
            s.op(std::move(self));
    }

    template <class Self>
    void on_result(Self& self, outcome<T>&& r) {
        state& s = *s_;
        const auto now = clock::now();
        if (r.has_value()) {
            s.run->succeeded(s.ctx.attempt, now);
            if constexpr (std::is_void_v<T>)
                return self.complete(retry_result<T>(boost::outcome_v2::success()));
            else
                return self.complete(retry_result<T>(std::move(r).value()));
        }
        if (self.cancelled() != boost::asio::cancellation_type::none) {
            attempt_record rec;
            rec.attempt = s.ctx.attempt;
            rec.elapsed = now - s.start;
            rec.what = std::move(r).error();
            s.history.push_back(std::move(rec));
            return give_up(self, give_up_reason::cancelled);
        }
        s.run->failed(s.ctx.attempt, std::move(r).error(), now, s.ctx.content_delivered);
        s.ready_at = now;
        proceed(self);
    }

    template <class Self>
    void give_up(Self& self, give_up_reason reason) {
        retry_error e;
        e.reason = reason;
        if (!s_->history.empty())
            e.last = s_->history.back().what;
        else
            e.last = to_failure(std::make_error_code(std::errc::operation_canceled));
        e.history = std::move(s_->history);
        if (s_->options.on_give_up) s_->options.on_give_up(e);
        self.complete(retry_result<T>(std::move(e)));
    }

    std::unique_ptr<state> s_;
};

} // namespace detail

template <class T, class Executor, class Op, class URBG, class CompletionToken>
auto async_retry(const Executor& ex, const retry_policy& policy, Op op,
                 async_retry_options<URBG> options, CompletionToken&& token) {
    return boost::asio::async_compose<CompletionToken, void(retry_result<T>)>(
        detail::retry_op<T, Op, Executor, URBG>(ex, policy, std::move(op), std::move(options)),
        token, ex);
}

} // namespace asio
} // namespace faultline

#endif

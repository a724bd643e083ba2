#ifndef FAULTLINE_LIMIT_PRIORITY_HPP
#define FAULTLINE_LIMIT_PRIORITY_HPP

#include <faultline/detail/config.hpp>

// Priority shedding: in front of an in-flight limiter (`concurrency_limiter`,
// `adaptive_limiter<Policy>`), requests the limiter cannot admit wait in a bounded queue, and
// under overload the lower priorities are refused first.
//
//     using namespace faultline::limit;
//     concurrency_limiter upstream(64);
//     prioritized_limiter<concurrency_limiter> shed(upstream);   // 60 waiters, 1 s at most
//
//     auto level = parse_priority(header_value);                 // "critical", "high", ...
//     if (!level) return reply_400(level.error());               // invalid_priority
//     prioritized_limiter<concurrency_limiter>::ticket t;        // lives as long as the request
//     t.on_ready([&] { asio::post(strand, [&] { timer.cancel(); }); });
//     switch (shed.acquire(t, level.value(), clock::now())) {
//     case ticket_state::admitted: return serve(t.take());       // permit: returns on release
//     case ticket_state::refused: return reply(refuse(t.result())); // 429 concurrency_exceeded
//     case ticket_state::waiting:                                // until on_ready or deadline
//         timer.expires_at(t.deadline());
//         co_await timer.async_wait(use_nothrow_awaitable);      // cancelled by on_ready
//         shed.expire(clock::now());                             // refuses t if overdue
//         if (t.state() == ticket_state::admitted) return serve(t.take());
//         return reply(refuse(t.result()));                      // timed out or displaced
//     }
//
// The rule. An arrival the inner limiter admits goes at once (lock-free while nobody waits).
// Otherwise it may wait. An arrival of priority p sees the queue as full as the waiters it
// cannot push aside, those of priority p or above; when they number `shed_threshold(p)` or
// more it is refused at once (`refusal_reason::shed`). The thresholds rise linearly from
// `shed_start * max_waiters` for `very_low` to `max_waiters` for `critical` (defaults: 40, 45,
// 50, 55, 60), so as the queue fills, `very_low` is refused first, then `low`, and so on; a
// refusal of p implies refusal of everything below p. An arrival admitted to a queue that
// already holds `max_waiters` displaces the newest waiter of the lowest priority below its own
// (`refusal_reason::displaced`): it is the one that would be served last and has waited least.
// When a permit returns, waiters are admitted while the inner limiter admits: the highest
// priority first, the oldest first within a priority. A waiter still queued `max_wait` after it
// arrived is refused (`refusal_reason::timed_out`) by the next call that passes a `now` at or
// past its deadline (`acquire`, `expire`, a permit's release).
//
// Where the rule comes from. failsafe-go's `adaptivelimiter` prioritized limiter has five
// priorities (VeryLow .. VeryHigh; `critical` here), queues when its limiter is full, and
// rejects nothing until the queue holds `initialRejectionFactor` (2) times the limit, then a
// rejection rate rising linearly to 1 at `maxRejectionFactor` (3) times the limit, applied to
// priority levels from the bottom up. Here the same ramp is deterministic and per priority:
// `shed_start` = 2/3 (its 2 / 3) and `max_waiters` = 60 (its 3 x its initial limit of 20),
// with each priority refused whole at its step of the ramp instead of by a random level within
// it, and the queue counted in waiters rather than as a multiple of a changing limit (an
// adaptive limit moves; the memory and the wait a queue stands for do not). failsafe-go waits
// without bound by default; here `max_wait` is 1 s, the refusal's default `Retry-After`: a
// waiter is never held longer than a refused client would be told to stay away.
// Displacement is this limiter's own: without it a queue full of `very_low` waiters would
// refuse a `critical` arrival.
//
// The sans-I/O contract. Time is an argument; nothing here sleeps or starts a thread. A queued
// request is a `ticket` owned by the caller (not movable: the queue links it in place, so there
// is no allocation per waiter). A ticket leaves `waiting` exactly once: synchronously inside
// `acquire` (its return value says so), or later inside another caller's `acquire`, `expire` or
// permit release, which then calls the ticket's `on_ready` callback. A driver that waits on a
// timer until `deadline()` and cancels that timer from `on_ready` needs nothing else. The
// callback runs on the thread that decided, under the limiter's mutex: it must only signal
// (post, cancel a timer, notify), never call back into the limiter, and not throw.
//
// Every permit of the inner limiter should be taken through this wrapper: a permit taken
// directly and returned does not wake waiters (the next `acquire` or `expire` does).

#include <faultline/error.hpp>
#include <faultline/limit/decision.hpp>
#include <faultline/result.hpp>

#include <boost/intrusive/list.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace faultline::limit {

/// A request's priority, lowest first (failsafe-go's five, its VeryHigh named `critical`).
enum class priority : std::uint8_t { very_low = 0, low, medium, high, critical };

/// How many priorities there are.
inline constexpr std::size_t priority_count = 5;

/// The canonical name: "very_low", "low", "medium", "high", "critical". Thread-safe.
[[nodiscard]] std::string_view to_string(priority p) noexcept;

/// Why a priority or prioritized limiter options were refused. Each is also
/// `std::errc::invalid_argument`.
enum class priority_error : int {
    invalid_priority = 1,    ///< A header value names no priority.
    shed_start_out_of_range, ///< `shed_start` outside [0, 1] (or NaN).
    max_wait_not_positive,   ///< `max_wait` <= 0.
    refusal_not_retryable,   ///< `refusal` is a code clients must not retry (e.g. 400).
};

/// The `std::error_category` of `priority_error`. Thread-safe.
[[nodiscard]] const std::error_category& priority_error_category() noexcept;
/// Thread-safe.
[[nodiscard]] std::error_code make_error_code(priority_error e) noexcept;

/// The priority a header value (`x-priority: high`) names: one of the canonical names, or
/// `very-low`, `very_high` / `very-high` (failsafe-go's spelling of `critical`); ASCII case
/// ignored, surrounding spaces and tabs ignored. Anything else, the empty value included, is
/// `priority_error::invalid_priority`. No allocation. Thread-safe.
[[nodiscard]] result<priority> parse_priority(std::string_view value) noexcept;

/// Queue bounds and how a refusal reads. Defaults derived from failsafe-go's (see the top of
/// this header).
struct priority_options {
    /// Waiters at most, all priorities together. 0: nobody waits (refuse when the inner
    /// limiter does), the thresholds then refuse every level.
    std::size_t max_waiters = 60;
    /// Where shedding starts, as a fraction of `max_waiters`: the `very_low` threshold. 1: no
    /// priority shedding before the queue is full (displacement only). In [0, 1].
    double shed_start = 2.0 / 3.0;
    /// The longest a waiter waits before it is refused. Positive.
    std::chrono::nanoseconds max_wait = std::chrono::seconds(1);
    /// The code every refusal carries; unset: the inner limiter's refusal (by default
    /// `concurrency_exceeded`, 429). `error::overloaded` (529) or
    /// `error::no_available_channel` (503) to say "shed" on the wire. Must be retryable.
    std::optional<error> refusal{};
};

/// Empty if `o` is usable, else the first `priority_error` it breaks. Thread-safe.
[[nodiscard]] std::error_code validate(const priority_options& o) noexcept;

/// Where a ticket stands.
enum class ticket_state : std::uint8_t {
    idle,     ///< Not used yet.
    waiting,  ///< Queued.
    admitted, ///< Holds a permit (`take()` it).
    refused,  ///< Refused; `reason()` says why, `result()` is the decision to answer with.
};

/// Why a ticket was refused.
enum class refusal_reason : std::uint8_t {
    none,      ///< Not refused.
    shed,      ///< On arrival: the waiters at or above its priority reached its threshold.
    displaced, ///< While waiting: pushed out of a full queue by a higher-priority arrival.
    timed_out, ///< While waiting: `max_wait` passed.
    cancelled, ///< While waiting: its owner cancelled it (or destroyed it).
};

/// The name of a reason, e.g. "displaced". Thread-safe.
[[nodiscard]] std::string_view to_string(refusal_reason r) noexcept;

} // namespace faultline::limit

namespace faultline::detail {
template <class L>
struct inner_clock {
    using type = std::chrono::steady_clock;
};
template <class L>
requires requires {
    typename L::clock;
}
struct inner_clock<L> {
    using type = typename L::clock;
};

/// The inner limiter's try_acquire, with `now` when it takes one.
template <class L, class TimePoint>
requires requires(L& l, TimePoint now) {
    l.try_acquire(now);
}
auto try_acquire_inner(L& l, TimePoint now) noexcept(noexcept(l.try_acquire(now))) {
    return l.try_acquire(now);
}
template <class L, class TimePoint>
requires(!requires(L & l, TimePoint now) { l.try_acquire(now); }) && requires(L& l) {
    l.try_acquire();
}
auto try_acquire_inner(L& l, TimePoint) noexcept(noexcept(l.try_acquire())) {
    return l.try_acquire();
}
} // namespace faultline::detail

namespace faultline::limit {

/// What `prioritized_limiter` needs of the limiter it wraps: a `noexcept` `try_acquire()` (or
/// `try_acquire(now)`) returning a movable permit that says whether it holds a slot, carries
/// its `decision`, and returns the slot on `release()` or `on_ignore()`.
template <class L, class TimePoint>
concept in_flight_limiter = requires(L& l, TimePoint now) {
    { detail::try_acquire_inner(l, now) }
    noexcept;
    requires std::is_nothrow_move_constructible_v<
        std::remove_cvref_t<decltype(detail::try_acquire_inner(l, now))>>;
    requires std::is_nothrow_move_assignable_v<
        std::remove_cvref_t<decltype(detail::try_acquire_inner(l, now))>>;
    requires requires(std::remove_cvref_t<decltype(detail::try_acquire_inner(l, now))> p) {
        { static_cast<bool>(p) }
        noexcept;
        { p.result() }
        noexcept->std::convertible_to<const decision&>;
        requires(
            requires { p.release(); } || requires { p.on_ignore(); });
    };
};

/// Priority shedding with a bounded queue in front of `Inner` (see the top of this header).
/// `Inner` is referred to, not owned: it must outlive this limiter, and every ticket and permit
/// must be gone before this limiter is destroyed.
/// Thread-safe: while nobody waits, admission is the inner limiter's lock-free path plus one
/// atomic load, and a release adds a fence and a load; everything touching the queue takes one
/// mutex.
template <class Inner, class Clock = typename detail::inner_clock<Inner>::type>
requires in_flight_limiter<Inner, typename Clock::time_point>
class prioritized_limiter {
public:
    using inner_type = Inner;
    using clock = Clock;
    using time_point = typename Clock::time_point;
    using inner_permit = std::remove_cvref_t<decltype(detail::try_acquire_inner(
        std::declval<Inner&>(), std::declval<time_point>()))>;

    /// A slot of the inner limiter; returning it (release, completion or destruction) admits
    /// waiters. Movable, not copyable. Not thread-safe (one owner); the limiter is.
    class permit {
    public:
        permit() noexcept = default;
        permit(permit&& o) noexcept;
        permit& operator=(permit&& o) noexcept;
        permit(const permit&) = delete;
        permit& operator=(const permit&) = delete;
        /// Releases (as `release(Clock::now())`; the clock is read only if a slot is held).
        ~permit() {
            if (owner_ != nullptr) release(Clock::now());
        }

        /// Whether a slot is held.
        [[nodiscard]] explicit operator bool() const noexcept { return owner_ != nullptr; }
        /// The inner limiter's admission decision.
        [[nodiscard]] const decision& result() const noexcept { return inner_.result(); }
        /// The inner permit, to read (e.g. `adaptive_limiter` permit's `start()`). Complete it
        /// through this permit, which is what wakes waiters.
        [[nodiscard]] const inner_permit& inner() const noexcept { return inner_; }

        /// Returns the slot with nothing learnt (`on_ignore()` for an adaptive permit) and
        /// admits waiters as of `now`. Idempotent.
        void release(time_point now = Clock::now()) noexcept;
        /// The request succeeded at `now` (an adaptive permit's latency sample).
        void on_success(time_point now = Clock::now()) noexcept requires
            requires(inner_permit& p, time_point t) {
            p.on_success(t);
        }
        {
            if (owner_ == nullptr) return;
            inner_.on_success(now);
            returned(now);
        }
        /// The request timed out or was shed upstream at `now` (an adaptive permit backs off).
        void on_dropped(time_point now = Clock::now()) noexcept requires
            requires(inner_permit& p, time_point t) {
            p.on_dropped(t);
        }
        {
            if (owner_ == nullptr) return;
            inner_.on_dropped(now);
            returned(now);
        }

    private:
        friend class prioritized_limiter;
        permit(prioritized_limiter* owner, inner_permit&& p) noexcept
            : owner_(owner)
            , inner_(std::move(p)) {}
        void returned(time_point now) noexcept;

        prioritized_limiter* owner_ = nullptr;
        inner_permit inner_{};
    };

    /// One request's place: filled by `acquire`, decided once (admitted or refused). Neither
    /// copyable nor movable (the queue links it in place). Thread-safe in this sense: `state()`
    /// may be read while another thread decides the ticket; everything else is for its owner,
    /// and `reason()`, `result()`, `take()` are meaningful once `state()` is not `waiting`.
    /// Destroying a waiting ticket cancels it.
    class ticket {
    public:
        ticket() noexcept = default;
        ticket(const ticket&) = delete;
        ticket& operator=(const ticket&) = delete;
        ~ticket() { cancel(); }

        /// Called once when the ticket, after waiting, is admitted or refused by another call
        /// (not when `acquire` decides it at once). Runs under the limiter's mutex on the
        /// deciding thread: signal only. Set it before `acquire`.
        void on_ready(std::function<void()> f) noexcept { wake_ = std::move(f); }

        [[nodiscard]] ticket_state state() const noexcept {
            return state_.load(std::memory_order_acquire);
        }
        [[nodiscard]] refusal_reason reason() const noexcept { return reason_; }
        /// Admitted: the inner limiter's decision. Refused: the decision to answer with
        /// (`refuse(t.result())` is the 429 / 503 response).
        [[nodiscard]] const decision& result() const noexcept { return decision_; }
        /// The priority it was queued at.
        [[nodiscard]] priority level() const noexcept { return level_; }
        /// When a waiting ticket is refused as `timed_out`.
        [[nodiscard]] time_point deadline() const noexcept { return deadline_; }
        /// The permit of an admitted ticket (once); an empty permit otherwise.
        [[nodiscard]] permit take() noexcept { return std::move(permit_); }
        /// Leaves the queue if waiting (refused, `cancelled`, no callback); else nothing.
        void cancel() noexcept;

    private:
        friend class prioritized_limiter;
        boost::intrusive::list_member_hook<> hook_;
        prioritized_limiter* owner_ = nullptr; // set while it may be queued; owner's thread
        std::atomic<ticket_state> state_{ticket_state::idle};
        refusal_reason reason_ = refusal_reason::none;
        priority level_ = priority::very_low;
        time_point deadline_{};
        decision decision_;
        permit permit_;
        std::function<void()> wake_;
    };

    /// Throws `std::system_error` if `validate(options)` fails. Not thread-safe (construction).
    explicit prioritized_limiter(Inner& inner, const priority_options& options = {});
    prioritized_limiter(const prioritized_limiter&) = delete;
    prioritized_limiter& operator=(const prioritized_limiter&) = delete;

    /// Admits `t` at priority `p`, queues it, or refuses it (see the rule above); returns its
    /// state. A ticket still waiting from an earlier call is cancelled first, and a permit it
    /// still holds is released. Thread-safe.
    ticket_state acquire(ticket& t, priority p, time_point now = Clock::now()) noexcept;

    /// Refuses the waiters whose deadline is at or before `now`, then admits waiters while the
    /// inner limiter admits (its limit may have grown). Returns how many were refused.
    /// Thread-safe.
    std::size_t expire(time_point now = Clock::now()) noexcept;

    /// Waiters now. Thread-safe (lock-free; a snapshot).
    [[nodiscard]] std::size_t waiting() const noexcept {
        return waiting_.load(std::memory_order_acquire);
    }
    /// Waiters of priority `p` now. Thread-safe (takes the mutex).
    [[nodiscard]] std::size_t waiting(priority p) const;
    /// The count of waiters at or above `p` at which an arrival of `p` is refused.
    /// Thread-safe.
    [[nodiscard]] std::size_t shed_threshold(priority p) const noexcept {
        return threshold_[static_cast<std::size_t>(p)];
    }
    /// Thread-safe.
    [[nodiscard]] const priority_options& options() const noexcept { return options_; }
    /// The wrapped limiter. Thread-safe.
    [[nodiscard]] Inner& inner() const noexcept { return inner_; }

private:
    using queue = boost::intrusive::list<
        ticket, boost::intrusive::member_hook<ticket, boost::intrusive::list_member_hook<>,
                                              &ticket::hook_>>;

    ticket_state enqueue(ticket& t, priority p, time_point now) noexcept;
    void on_release(time_point now) noexcept;
    void cancel(ticket& t) noexcept;
    [[nodiscard]] time_point advance(time_point now) noexcept;
    std::size_t expire_locked(time_point now) noexcept;
    void admit_locked(time_point now, decision* refusal) noexcept;
    void refuse_locked(ticket& t, refusal_reason why) noexcept;
    void finish_locked(ticket& t, ticket_state s) noexcept;
    [[nodiscard]] std::size_t at_or_above(priority p) const noexcept;
    [[nodiscard]] decision refusal_of(const decision& inner) const noexcept;

    Inner& inner_;
    priority_options options_;
    std::array<std::size_t, priority_count> threshold_{};
    alignas(64) std::atomic<std::size_t> waiting_{0}; // written under m_
    alignas(64) mutable std::mutex m_;
    std::array<queue, priority_count> queues_; // guarded by m_, one FIFO per priority
    time_point last_ = time_point::min();      // guarded by m_: the latest `now` seen
};

} // namespace faultline::limit

template <>
struct std::is_error_code_enum<faultline::limit::priority_error> : std::true_type {};

#include <faultline/limit/impl/priority.hpp>

#endif

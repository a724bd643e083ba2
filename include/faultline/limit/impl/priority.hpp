#ifndef FAULTLINE_LIMIT_IMPL_PRIORITY_HPP
#define FAULTLINE_LIMIT_IMPL_PRIORITY_HPP

#include <cmath>
#include <stdexcept>
#include <string>

namespace faultline::detail {

class priority_error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "faultline.limit.priority"; }
    std::string message(int v) const override {
        switch (static_cast<limit::priority_error>(v)) {
        case limit::priority_error::invalid_priority:
            return "priority: not one of critical, high, medium, low, very_low";
        case limit::priority_error::shed_start_out_of_range:
            return "prioritized limiter: shed_start must be in [0, 1]";
        case limit::priority_error::max_wait_not_positive:
            return "prioritized limiter: max_wait must be positive";
        case limit::priority_error::refusal_not_retryable:
            return "prioritized limiter: the refusal code must be one clients may retry "
                   "(e.g. concurrency_exceeded, overloaded, no_available_channel)";
        }
        return "priority: unknown error";
    }
    std::error_condition default_error_condition(int v) const noexcept override {
        if (v >= 1 && v <= static_cast<int>(limit::priority_error::refusal_not_retryable))
            return std::errc::invalid_argument;
        return {v, *this};
    }
};

/// ASCII case-insensitive equality, '-' matching '_'.
[[nodiscard]] inline bool priority_name_equals(std::string_view text,
                                               std::string_view name) noexcept {
    if (text.size() != name.size()) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c == '-') c = '_';
        if (c != name[i]) return false;
    }
    return true;
}

} // namespace faultline::detail

namespace faultline::limit {

inline const std::error_category& priority_error_category() noexcept {
    static const detail::priority_error_category_impl c;
    return c;
}

inline std::error_code make_error_code(priority_error e) noexcept {
    return {static_cast<int>(e), priority_error_category()};
}

inline std::string_view to_string(priority p) noexcept {
    switch (p) {
    case priority::very_low:
        return "very_low";
    case priority::low:
        return "low";
    case priority::medium:
        return "medium";
    case priority::high:
        return "high";
    case priority::critical:
        return "critical";
    }
    return "unknown";
}

inline std::string_view to_string(refusal_reason r) noexcept {
    switch (r) {
    case refusal_reason::none:
        return "none";
    case refusal_reason::shed:
        return "shed";
    case refusal_reason::displaced:
        return "displaced";
    case refusal_reason::timed_out:
        return "timed_out";
    case refusal_reason::cancelled:
        return "cancelled";
    }
    return "unknown";
}

inline result<priority> parse_priority(std::string_view value) noexcept {
    const auto space = [](char c) { return c == ' ' || c == '\t'; };
    while (!value.empty() && space(value.front()))
        value.remove_prefix(1);
    while (!value.empty() && space(value.back()))
        value.remove_suffix(1);
    for (std::size_t i = 0; i < priority_count; ++i) {
        const auto p = static_cast<priority>(i);
        if (detail::priority_name_equals(value, to_string(p))) return p;
    }
    if (detail::priority_name_equals(value, "very_high")) return priority::critical;
    return priority_error::invalid_priority;
}

inline std::error_code validate(const priority_options& o) noexcept {
    if (!(o.shed_start >= 0.0 && o.shed_start <= 1.0))
        return priority_error::shed_start_out_of_range;
    if (o.max_wait.count() <= 0) return priority_error::max_wait_not_positive;
    if (o.refusal && !is_retryable(*o.refusal)) return priority_error::refusal_not_retryable;
    return {};
}

// --- permit -----------------------------------------------------------------------------------

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
prioritized_limiter<I, C>::permit::permit(permit&& o)
noexcept
    : owner_(std::exchange(o.owner_, nullptr))
    , inner_(std::move(o.inner_)) {}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
auto prioritized_limiter<I, C>::permit::operator=(permit&& o) noexcept -> permit& {
    if (this != &o) {
        if (owner_ != nullptr) release(C::now());
        owner_ = std::exchange(o.owner_, nullptr);
        inner_ = std::move(o.inner_);
    }
    return *this;
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
void prioritized_limiter<I, C>::permit::returned(time_point now) noexcept {
    if (auto* owner = std::exchange(owner_, nullptr)) owner->on_release(now);
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
void prioritized_limiter<I, C>::permit::release(time_point now) noexcept {
    if (owner_ == nullptr) return;
    if constexpr (requires { inner_.on_ignore(); })
        inner_.on_ignore();
    else
        inner_.release();
    returned(now);
}

// --- ticket -----------------------------------------------------------------------------------

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
void prioritized_limiter<I, C>::ticket::cancel() noexcept {
    // Taking the mutex even when the ticket was decided already: the deciding thread may still
    // be inside `on_ready`, and the ticket must outlive that call.
    if (auto* owner = std::exchange(owner_, nullptr)) owner->cancel(*this);
}

// --- prioritized_limiter ----------------------------------------------------------------------

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
prioritized_limiter<I, C>::prioritized_limiter(I& inner, const priority_options& options)
    : inner_(inner)
    , options_(options) {
    if (const auto ec = validate(options))
        throw std::system_error(ec, "faultline::limit::prioritized_limiter");
    const std::size_t max = options.max_waiters;
    const double start_d = options.shed_start * static_cast<double>(max);
    const std::size_t start =
        start_d >= static_cast<double>(max) ? max : static_cast<std::size_t>(std::llround(start_d));
    // Linear from `start` (very_low) to `max` (critical), in integers that cannot overflow.
    const std::size_t span = max - start;
    constexpr std::size_t steps = priority_count - 1;
    for (std::size_t i = 0; i < priority_count; ++i)
        threshold_[i] = start + span / steps * i + span % steps * i / steps;
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
auto prioritized_limiter<I, C>::advance(time_point now) noexcept -> time_point {
    // Deadlines within one priority stay in arrival order only if time never runs backwards.
    if (now > last_) last_ = now;
    return last_;
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point> std::size_t
prioritized_limiter<I, C>::at_or_above(priority p)
const noexcept {
    std::size_t n = 0;
    for (std::size_t i = static_cast<std::size_t>(p); i < priority_count; ++i)
        n += queues_[i].size();
    return n;
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
    decision prioritized_limiter<I, C>::refusal_of(const decision& inner)
const noexcept {
    decision d = inner;
    d.admitted = false;
    d.remaining = 0;
    if (options_.refusal) d.ec = *options_.refusal;
    if (!d.ec) d.ec = error::concurrency_exceeded;
    return d;
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
void prioritized_limiter<I, C>::finish_locked(ticket& t, ticket_state s) noexcept {
    waiting_.fetch_sub(1, std::memory_order_acq_rel);
    // The state is the last field written for the owner; after it only the callback is
    // touched, and the owner's `cancel`/destructor waits for the mutex before letting go.
    t.state_.store(s, std::memory_order_release);
    if (t.wake_) t.wake_();
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
void prioritized_limiter<I, C>::refuse_locked(ticket& t, refusal_reason why) noexcept {
    queues_[static_cast<std::size_t>(t.level_)].erase(
        queues_[static_cast<std::size_t>(t.level_)].iterator_to(t));
    t.reason_ = why;
    // decision_ holds the refusal computed when it was queued.
    finish_locked(t, ticket_state::refused);
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point> std::size_t
prioritized_limiter<I, C>::expire_locked(time_point now)
noexcept {
    std::size_t n = 0;
    for (auto& q : queues_) {
        while (!q.empty() && q.front().deadline_ <= now) {
            refuse_locked(q.front(), refusal_reason::timed_out);
            ++n;
        }
    }
    return n;
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
void prioritized_limiter<I, C>::admit_locked(time_point now, decision* refusal) noexcept {
    while (waiting_.load(std::memory_order_relaxed) != 0) {
        inner_permit p = detail::try_acquire_inner(inner_, now);
        if (!p) {
            if (refusal) *refusal = p.result();
            return;
        }
        std::size_t i = priority_count;
        while (queues_[i - 1].empty())
            --i;
        ticket& t = queues_[i - 1].front();
        queues_[i - 1].pop_front();
        t.permit_ = permit(this, std::move(p));
        t.decision_ = t.permit_.result();
        finish_locked(t, ticket_state::admitted);
    }
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
auto prioritized_limiter<I, C>::acquire(ticket& t, priority p, time_point now) noexcept
    -> ticket_state {
    t.cancel();
    t.permit_.release(now);
    t.level_ = p;
    t.reason_ = refusal_reason::none;
    t.deadline_ = {};

    // Nobody waits: the inner limiter alone decides, without the mutex. (t.permit_ is empty:
    // filled in place, without a temporary.)
    if (waiting_.load(std::memory_order_acquire) == 0) {
        t.permit_.inner_ = detail::try_acquire_inner(inner_, now);
        if (t.permit_.inner_) {
            t.permit_.owner_ = this;
            t.decision_ = t.permit_.inner_.result();
            t.state_.store(ticket_state::admitted, std::memory_order_release);
            return ticket_state::admitted;
        }
    }
    return enqueue(t, p, now);
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
auto prioritized_limiter<I, C>::enqueue(ticket& t, priority p, time_point now) noexcept
    -> ticket_state {
    const std::lock_guard lock(m_);
    now = advance(now);
    expire_locked(now);
    decision inner_refusal;
    admit_locked(now, &inner_refusal);
    if (waiting_.load(std::memory_order_relaxed) == 0) {
        inner_permit ip = detail::try_acquire_inner(inner_, now);
        if (ip) {
            t.permit_ = permit(this, std::move(ip));
            t.decision_ = t.permit_.result();
            t.state_.store(ticket_state::admitted, std::memory_order_release);
            return ticket_state::admitted;
        }
        inner_refusal = ip.result();
    }
    t.decision_ = refusal_of(inner_refusal);

    if (at_or_above(p) >= threshold_[static_cast<std::size_t>(p)]) {
        t.reason_ = refusal_reason::shed;
        t.state_.store(ticket_state::refused, std::memory_order_release);
        return ticket_state::refused;
    }
    if (waiting_.load(std::memory_order_relaxed) >= options_.max_waiters) {
        // Below its threshold yet the queue is full: some waiter is of a lower priority.
        for (auto& q : queues_) {
            if (!q.empty()) {
                refuse_locked(q.back(), refusal_reason::displaced);
                break;
            }
        }
    }

    const auto room = time_point::max() - now;
    t.deadline_ = options_.max_wait < room ? now + options_.max_wait : time_point::max();
    t.owner_ = this;
    t.state_.store(ticket_state::waiting, std::memory_order_release);
    queues_[static_cast<std::size_t>(p)].push_back(t);
    waiting_.fetch_add(1, std::memory_order_acq_rel);
    // A permit returned after the last attempt above may have seen nobody waiting and left
    // without admitting anyone (`on_release`); with this fence and the one there, either it
    // sees this waiter or the attempt below sees its slot.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Decided here after all: `acquire`'s answer says so, `on_ready` is not for this.
    std::function<void()> wake = std::move(t.wake_);
    t.wake_ = nullptr;
    admit_locked(now, nullptr);
    t.wake_ = std::move(wake);
    return t.state_.load(std::memory_order_relaxed);
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
void prioritized_limiter<I, C>::on_release(time_point now) noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (waiting_.load(std::memory_order_relaxed) == 0) return;
    const std::lock_guard lock(m_);
    now = advance(now);
    expire_locked(now);
    admit_locked(now, nullptr);
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point> std::size_t
prioritized_limiter<I, C>::expire(time_point now)
noexcept {
    const std::lock_guard lock(m_);
    now = advance(now);
    const std::size_t n = expire_locked(now);
    admit_locked(now, nullptr);
    return n;
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point>
void prioritized_limiter<I, C>::cancel(ticket& t) noexcept {
    const std::lock_guard lock(m_);
    if (t.state_.load(std::memory_order_relaxed) != ticket_state::waiting) return;
    queues_[static_cast<std::size_t>(t.level_)].erase(
        queues_[static_cast<std::size_t>(t.level_)].iterator_to(t));
    waiting_.fetch_sub(1, std::memory_order_acq_rel);
    t.reason_ = refusal_reason::cancelled;
    t.state_.store(ticket_state::refused, std::memory_order_release);
}

template <class I, class C>
requires in_flight_limiter<I, typename C::time_point> std::size_t
prioritized_limiter<I, C>::waiting(priority p)
const {
    const std::lock_guard lock(m_);
    return queues_[static_cast<std::size_t>(p)].size();
}

} // namespace faultline::limit

#endif

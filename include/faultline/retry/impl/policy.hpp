#ifndef FAULTLINE_RETRY_IMPL_POLICY_HPP
#define FAULTLINE_RETRY_IMPL_POLICY_HPP

namespace faultline {

inline std::string_view to_string(give_up_reason r) noexcept {
    switch (r) {
    case give_up_reason::not_retryable:
        return "not_retryable";
    case give_up_reason::attempts_exhausted:
        return "attempts_exhausted";
    case give_up_reason::server_delay_too_long:
        return "server_delay_too_long";
    case give_up_reason::deadline_exceeded:
        return "deadline_exceeded";
    case give_up_reason::content_delivered:
        return "content_delivered";
    case give_up_reason::budget_exhausted:
        return "budget_exhausted";
    case give_up_reason::cancelled:
        return "cancelled";
    }
    return "unknown";
}

inline std::error_code give_up_code(give_up_reason r, const failure& last) noexcept {
    switch (r) {
    case give_up_reason::deadline_exceeded:
        return error::deadline_exceeded;
    case give_up_reason::budget_exhausted:
        return error::retry_budget_exhausted;
    case give_up_reason::cancelled:
        return std::make_error_code(std::errc::operation_canceled);
    default:
        return last.error_code();
    }
}

template <class URBG>
retry_decision retry_policy::decide(const failure& f, const attempt_state& s,
                                    URBG& g) const noexcept {
    retry_decision d;
    if (s.content_delivered && !replayable) {
        d.reason = give_up_reason::content_delivered;
        return d;
    }
    if (!f.retryable) {
        d.reason = give_up_reason::not_retryable;
        return d;
    }
    if (s.attempt >= (max_attempts == 0 ? 1u : max_attempts)) {
        d.reason = give_up_reason::attempts_exhausted;
        return d;
    }
    if (honour_server_delay && f.retry_after) {
        const auto hint = std::chrono::duration_cast<std::chrono::nanoseconds>(*f.retry_after);
        if (hint > max_server_delay) {
            d.reason = give_up_reason::server_delay_too_long;
            return d;
        }
        d.delay = hint < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero() : hint;
        d.from_server = true;
    } else {
        d.delay = delay.next_delay(s.attempt, s.previous_delay, g);
    }
    // elapsed + delay >= deadline (the next attempt would start with no time left), written so
    // that nothing overflows: deadline may be max().
    const auto elapsed =
        s.elapsed < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero() : s.elapsed;
    if (elapsed >= deadline || d.delay >= deadline - elapsed) {
        d.reason = give_up_reason::deadline_exceeded;
        d.delay = {};
        d.from_server = false;
        return d;
    }
    d.retry = true;
    return d;
}

} // namespace faultline

#endif

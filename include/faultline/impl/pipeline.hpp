#ifndef FAULTLINE_IMPL_PIPELINE_HPP
#define FAULTLINE_IMPL_PIPELINE_HPP

#include <algorithm>
#include <string>

namespace faultline {

inline std::error_code validate(const pipeline_options& o) noexcept {
    if (o.targets == 0 || o.targets > 64) return std::make_error_code(std::errc::invalid_argument);
    for (const fallback_rule& r : o.fallbacks)
        if (r.target >= o.targets) return std::make_error_code(std::errc::invalid_argument);
    if (o.hedge.max_hedges > 0 && o.hedge.delay <= std::chrono::nanoseconds::zero())
        return std::make_error_code(std::errc::invalid_argument);
    return {};
}

namespace detail {

// Out of line, so that the constructor it is thrown from stays small enough to be inlined.
[[noreturn, gnu::noinline, gnu::cold]] inline void throw_invalid_pipeline(std::error_code ec,
                                                                          const char* what) {
    throw std::system_error(ec, what);
}

// `to = from` (moved from an rvalue), member by member, skipping the optional members that both
// leave empty. The defaulted assignment calls out to assign each `optional<string>` and visits
// the variant even when all of them are empty, which costs a failed attempt more than the
// pipeline's own bookkeeping of it. The structured bindings stop the build if `failure` gains a
// member that is not copied here.
template <class F>
void assign_failure(failure& to, F&& from) {
    auto pass = [](auto& m) -> auto&& {
        if constexpr (std::is_lvalue_reference_v<F>)
            return m;
        else
            return std::move(m);
    };
    auto& [code, cat, retryable, retry_after, status, message, type, provider_code, event_id] = to;
    auto& [from_code, from_cat, from_retryable, from_retry_after, from_status, from_message,
           from_type, from_provider_code, from_event_id] = from;
    code = from_code;
    cat = from_cat;
    retryable = from_retryable;
    retry_after = from_retry_after;
    status = from_status;
    message = pass(from_message);
    if (type || from_type) type = pass(from_type);
    if (provider_code.index() != 0 || from_provider_code.index() != 0)
        provider_code = pass(from_provider_code);
    if (event_id || from_event_id) event_id = pass(from_event_id);
}

} // namespace detail

template <class Events, class Clock, class URBG, class Admission>
inline pipeline<Events, Clock, URBG, Admission>::pipeline(const pipeline_options& options,
                                                          time_point start, Events events,
                                                          retry_budget<Clock>* budget, URBG rng,
                                                          channel_pool<Clock>* cooldowns,
                                                          Admission admission)
    : opts_(options)
    , start_(start)
    , events_(std::move(events))
    , budget_(budget)
    , rng_(std::move(rng))
    , cooldowns_(cooldowns)
    , admission_(std::move(admission)) {
    if (auto ec = validate(options)) detail::throw_invalid_pipeline(ec, "faultline::pipeline");
    if (cooldowns_ && cooldowns_->size() < options.targets)
        detail::throw_invalid_pipeline(std::make_error_code(std::errc::invalid_argument),
                                       "faultline::pipeline: fewer cooldown channels than targets");
    if (budget_) budget_->record_request(start);
}

template <class Events, class Clock, class URBG, class Admission>
pipeline_attempt* pipeline<Events, Clock, URBG, Admission>::find(unsigned attempt) noexcept {
    if (attempt == 0 || attempt > history_.size()) return nullptr;
    return &history_[attempt - 1];
}

template <class Events, class Clock, class URBG, class Admission>
inline unsigned pipeline<Events, Clock, URBG, Admission>::start_attempt(time_point now, bool hedge,
                                                                        bool fallback) {
    bool probe = false;
    if (cooldowns_) {
        circuit_change change;
        auto admitted = (*cooldowns_)[target_].try_acquire_probe(now, change);
        if (change) emit(breaker_changed{target_, change, now - start_});
        if (!admitted) {
            refused(now, hedge);
            return 0;
        }
        probe = admitted.value();
    }
    if (hedge) {
        // A hedge is extra load: the budget must allow it too; its probe goes back if not.
        if (budget_ && !budget_->try_acquire_retry(now)) {
            if (probe) (*cooldowns_)[target_].record_neutral(now);
            hedges_ = opts_.hedge.max_hedges; // the budget says no more extra load
            return 0;
        }
        ++hedges_;
    }
    if constexpr (!std::is_same_v<Admission, no_admission>) {
        // The record's room first: an admitted attempt always gets its record (and its `ended`).
        if (history_.size() == history_.capacity()) history_.reserve(2 * history_.capacity());
        const auto d = [&] {
            try {
                return admission_(target_, now);
            } catch (...) {
                // As if this attempt had not been asked for: the next `next` asks again.
                if (probe) (*cooldowns_)[target_].record_neutral(now); // nothing was sent
                if (hedge)
                    --hedges_;
                else if (fallback)
                    pending_fallback_ = true;
                else if (!history_.empty())
                    retry_at_ = now; // the retry was due
                throw;
            }
        }();
        if (!d) {
            if (probe) (*cooldowns_)[target_].record_neutral(now); // nothing was sent
            limited(d, now, hedge);
            return 0;
        }
    }
    // Built in place: a record built on the stack and copied in whole is read back before its
    // field-by-field stores have landed (a store-forwarding stall on every attempt).
    const auto number = static_cast<unsigned>(history_.size() + 1);
    pipeline_attempt& r = history_.emplace_back();
    r.attempt = number;
    r.target = target_;
    r.hedge = hedge;
    r.started = now - start_;
    r.probe = probe;
    ++running_;
    ++on_target_;
    emit(attempt_started{r, fallback});
    return number;
}

template <class Events, class Clock, class URBG, class Admission>
void pipeline<Events, Clock, URBG, Admission>::refused(time_point now, bool hedge) {
    // The target is cooling down: a failure of it that was never sent.
    failure f = to_failure(make_error_code(error::circuit_open),
                           "target " + std::to_string(target_) + " is cooling down");
    const auto left = (*cooldowns_)[target_].retry_after(now);
    if (left > std::chrono::nanoseconds::zero())
        f.retry_after = std::chrono::ceil<std::chrono::milliseconds>(left);
    emit(target_refused{target_, hedge, now - start_, f});
    not_sent(std::move(f), now, hedge);
}

template <class Events, class Clock, class URBG, class Admission>
template <class Decision>
void pipeline<Events, Clock, URBG, Admission>::limited(const Decision& d, time_point now,
                                                       bool hedge) {
    // A limit refused: a failure of the target that was never sent.
    std::size_t level = 0;
    std::error_code ec;
    if constexpr (requires {
                      d.refused;
                      d.refusal();
                  }) {
        level = d.refused;
        ec = d.refusal().ec;
    } else {
        ec = d.ec;
    }
    failure f = to_failure(ec ? ec : make_error_code(error::rate_limited),
                           "target " + std::to_string(target_) + " is at a limit");
    const std::chrono::nanoseconds wait = d.retry_after;
    if (wait > std::chrono::nanoseconds::zero() && wait != std::chrono::nanoseconds::max())
        f.retry_after = std::chrono::ceil<std::chrono::milliseconds>(wait);
    emit(limit_refused{target_, hedge, level, now - start_, f});
    not_sent(std::move(f), now, hedge);
}

template <class Events, class Clock, class URBG, class Admission>
void pipeline<Events, Clock, URBG, Admission>::not_sent(failure&& f, time_point now, bool hedge) {
    if (hedge) {
        hedges_ = opts_.hedge.max_hedges; // no extra load on a target that refused one
        return;
    }
    ++on_target_;
    last_ = std::move(f);
    // Elsewhere at once if a rule takes it; else the policy decides whether to wait.
    if (now - start_ >= opts_.policy_for(last_->cat).deadline || !fall_back(*last_))
        decide(*last_, now, false);
}

template <class Events, class Clock, class URBG, class Admission>
inline step pipeline<Events, Clock, URBG, Admission>::next(time_point now) {
    // `inline`: the hint GCC takes to inline the step into the caller's loop, where it stays in
    // registers (returned from a call, its 24 bytes go through memory and are read back at
    // once). It is filled where it is returned: a step built elsewhere and copied out whole is
    // read back before its field-by-field stores have landed (a store-forwarding stall).
    // Each pass either answers or changes the state (a refused target is a failure decided at
    // once), and a call refuses at most its policy's attempts per target: the loop ends.
    step s;
    for (;;) {
        if (success_) {
            s.what = action::succeeded;
            return s;
        }
        if (give_up_) {
            s.what = action::give_up;
            s.reason = *give_up_;
            return s;
        }
        // Which attempt starts now, if any; one call site below.
        bool hedge = false;
        bool fallback = false;
        if (pending_fallback_) {
            pending_fallback_ = false;
            fallback = true;
        } else if (retry_at_) {
            if (now < *retry_at_) {
                s.delay = *retry_at_ - now;
                return s;
            }
            retry_at_.reset();
        } else if (!history_.empty()) {
            s.delay = std::chrono::nanoseconds::max();
            if (running_ == 0 || hedges_ >= opts_.hedge.max_hedges ||
                now - start_ >= opts_.retry.deadline)
                return s;
            const time_point due = start_ + history_.back().started + opts_.hedge.current_delay();
            if (now < due) {
                s.delay = due - now;
                return s;
            }
            s.delay = {};
            hedge = true;
        }
        // `s` is filled here, not by start_attempt: a step whose address escapes to a call that
        // is not inlined stays in memory, and clang then copies it out whole right after its
        // byte-wide stores (the same stall).
        if (const unsigned number = start_attempt(now, hedge, fallback)) {
            s.what = action::attempt;
            s.target = target_;
            s.attempt = number;
            s.hedge = hedge;
            s.fallback = fallback;
            return s;
        }
        s.delay = {}; // not started: the next pass answers
    }
}

template <class Events, class Clock, class URBG, class Admission>
void pipeline<Events, Clock, URBG, Admission>::give_back(time_point now) noexcept {
    released_ = true;
    for (pipeline_attempt& r : history_) {
        if (!r.running) continue;
        if (r.probe) {
            r.probe = false; // given back once
            (*cooldowns_)[r.target].record_neutral(now);
        }
        if constexpr (admission_ends) admission_.ended(r.target, now);
    }
}

template <class Events, class Clock, class URBG, class Admission>
void pipeline<Events, Clock, URBG, Admission>::abandon(time_point now) noexcept {
    release_running(now);
    if (!success_ && !give_up_) give_up_ = give_up_reason::cancelled;
}

// `inline`: the hint that keeps GCC inlining it into the caller's loop (see `next`).
template <class Events, class Clock, class URBG, class Admission>
inline void pipeline<Events, Clock, URBG, Admission>::succeeded(unsigned attempt, time_point now) {
    pipeline_attempt* r = find(attempt);
    if (!r || !r->running || success_ || give_up_) return;
    r->running = false;
    r->latency = (now - start_) - r->started;
    --running_;
    success_ = true;
    if (opts_.hedge.latencies) record_latency(r->latency);
    if constexpr (admission_ends) admission_.ended(r->target, now);
    circuit_change change;
    if (cooldowns_) change = (*cooldowns_)[r->target].record_success(now);
    release_running(now); // the caller cancels them
    emit(attempt_ended{*r, nullptr});
    if (change) emit(breaker_changed{r->target, change, now - start_});
}

// Flattened: the decision, the backoff and the failure's copy are inlined into the one function
// that runs per failed attempt (with GCC, a call costs 10% less; see benchmarks/retry.cpp).
template <class Events, class Clock, class URBG, class Admission>
template <class F>
FAULTLINE_FLATTEN void
pipeline<Events, Clock, URBG, Admission>::record_failure(unsigned attempt, F&& f, time_point now,
                                                         bool content_delivered) {
    pipeline_attempt* r = find(attempt);
    if (!r || !r->running || success_ || give_up_) return;
    r->running = false;
    r->latency = (now - start_) - r->started;
    r->failed = f.code;
    --running_;
    // Assigned into the previous failure's storage when there is one.
    if (last_)
        detail::assign_failure(*last_, std::forward<F>(f));
    else
        last_.emplace(std::forward<F>(f));
    if constexpr (admission_ends) admission_.ended(r->target, now);
    circuit_change change;
    if (cooldowns_) change = (*cooldowns_)[r->target].record(*last_, now);
    emit(attempt_ended{*r, &*last_});
    if (change) emit(breaker_changed{r->target, change, now - start_});
    decide(*last_, now, content_delivered);
}

template <class Events, class Clock, class URBG, class Admission>
void pipeline<Events, Clock, URBG, Admission>::decide(const failure& f, time_point now,
                                                      bool content_delivered) {
    const retry_policy* policy = &opts_.policy_for(f.cat);
    attempt_state st;
    st.attempt = on_target_;
    st.elapsed = now - start_;
    st.previous_delay = previous_delay_;
    st.content_delivered = content_delivered;
    retry_decision d;
    if (f.retry_after && *f.retry_after > policy->max_server_delay &&
        opts_.long_hints != long_hint::give_up) {
        // A server hint over the policy's limit, handled as `long_hints` says.
        retry_policy adjusted = *policy;
        if (opts_.long_hints == long_hint::backoff)
            adjusted.honour_server_delay = false;
        else
            adjusted.max_server_delay = std::chrono::nanoseconds::max();
        d = adjusted.decide(f, st, rng_);
    } else {
        d = policy->decide(f, st, rng_);
    }
    if (d.retry) {
        if (running_ > 0) return; // another attempt may still succeed; its end decides
        if (!budget_ || budget_->try_acquire_retry(now)) {
            retry_at_ = now + d.delay;
            previous_delay_ = d.delay;
            emit(retry_scheduled{static_cast<unsigned>(history_.size()), d.delay, d.from_server});
            return;
        }
        d.retry = false;
        d.reason = give_up_reason::budget_exhausted;
    }
    // Not retried here: another target may take the call, unless the caller already saw
    // content or the call is out of time.
    if (d.reason != give_up_reason::content_delivered &&
        d.reason != give_up_reason::deadline_exceeded && st.elapsed < policy->deadline &&
        fall_back(f))
        return;
    give_up_ = d.reason;
    release_running(now); // the caller cancels them
    emit(gave_up{d.reason, f});
}

template <class Events, class Clock, class URBG, class Admission>
bool pipeline<Events, Clock, URBG, Admission>::fall_back(const failure& f) {
    for (const fallback_rule& rule : opts_.fallbacks) {
        const std::uint64_t bit = std::uint64_t{1} << rule.target;
        if ((rule.cat ? *rule.cat != f.cat : !f.retryable) || (visited_ & bit) != 0) continue;
        emit(fallback_taken{target_, rule.target, f});
        visited_ |= bit;
        target_ = rule.target;
        on_target_ = 0;
        previous_delay_ = {};
        pending_fallback_ = true;
        return true;
    }
    return false;
}

} // namespace faultline

#endif

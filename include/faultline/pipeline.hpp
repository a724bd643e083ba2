#ifndef FAULTLINE_PIPELINE_HPP
#define FAULTLINE_PIPELINE_HPP

#include <faultline/detail/config.hpp>

// One call's resilience, decided in one place: retry per failure class, hedging, fallbacks to
// other targets, a retry budget, a deadline, and an event for everything it decides. Sans I/O:
// the pipeline says what to do next; the caller does it and reports how it went.
//
//     faultline::pipeline_options o;
//     o.targets = 2;                                                // gpt-4o, then gpt-4o-128k
//     o.fallbacks = {{faultline::category::context_length_exceeded, 1}};
//     o.hedge = {.delay = 2s, .max_hedges = 1};
//     faultline::pipeline<> p(o, clock::now());
//     for (faultline::step s = p.next(clock::now()); !s.final(); s = p.next(clock::now())) {
//         if (s.what == faultline::action::attempt) start(s.attempt, targets[s.target]);
//         else wait_for_an_answer_or(s.delay);  // then p.succeeded(n, now) / p.failed(n, f, now)
//     }
//
// `next(now)` answers, in order:
//  - `succeeded`: an attempt succeeded (the first success wins; cancel the others);
//  - `give_up`: a failure was final (the policy's reason, e.g. `not_retryable` with no fallback
//    for its class, `attempts_exhausted`, `deadline_exceeded`, `budget_exhausted`), and no
//    attempt is still running; `last_failure()` and `history()` say what happened;
//  - `attempt`: start attempt `attempt` on `target` now: the first, a retry whose wait is over,
//    a fallback, or a hedge (`hedge`: another attempt beside one still running);
//  - `wait`: nothing to start before `delay` passes or an attempt ends.
//
// Rules:
//  - Retry: the policy for the failure's class (`by_category`, else `retry`) decides, with the
//    attempts made on the current target, the time since the start and whether content was
//    delivered (see retry/policy.hpp). A server hint over `max_server_delay` is handled as
//    `long_hints` says: give up (the policy's rule), fall back to the backoff, or wait for it.
//    The retry budget, when given, must allow each retry.
//  - Fallback: when a failure is not retried on its target and `fallbacks` names a target for
//    its class (or, for a retryable failure, a failover rule with no class), the call moves to
//    the first such target not used yet, at once (each target once; its attempts count afresh;
//    the deadline still counts from the start).
//  - Hedging: while an attempt runs, another starts every `hedge.delay` after the last one (or,
//    with `hedge.latencies`, the percentile of recent successful attempts' latencies it holds,
//    when it is shorter; see retry/latency_percentile.hpp), at most `hedge.max_hedges`, each
//    only if the budget allows. A failure while others run is final only when nothing would retry
//    it; a retryable one waits for the others, and the hedges still due go on as planned (one of
//    them may yet succeed).
//  - Cooldown (when a `channel_pool` of one breaker per target is given; LiteLLM's deployment
//    cooldown is the anchor): every call records each attempt's outcome on its target's breaker,
//    so a target that keeps failing, or that answered with a Retry-After, is taken out of every
//    call for its cool-down. An attempt is started only on a target whose breaker admits it. A
//    target that refuses is a `circuit_open` failure of that target (its hint: the time left)
//    that is never sent: the call falls back at once when a rule takes that failure (a failover
//    rule, or one for `upstream_unavailable`), else the policy decides, as for any failure,
//    whether to wait out the cool-down (it counts as an attempt on the target) or give up. A
//    hedge its target refuses is not started, and the call hedges no more. When the call ends
//    (a success, a give-up, or `abandon` by a caller who stopped it), the attempts still running
//    that hold a half-open probe slot give it back (`record_neutral`): they will not report.
//    Each change of a breaker's state that the call makes is an event (`breaker_changed`).
//  - Admission (when an `Admission` is given: the caller's own limits, such as a client's
//    requests and tokens per minute to a provider, or its calls in flight): every attempt,
//    hedges included, is started only when `admission(target, now)` admits it, after the
//    target's breaker and the budget did. Its answer is a `limit::decision` or a
//    `limit::composite_decision` (anything with `explicit operator bool`, `retry_after`, and
//    `ec` or `refused` and `refusal()`). A refusal is a failure of that target that was never
//    sent, handled as a cooling target's is: its code is the limit's (`rpm_exceeded`,
//    `tpm_exceeded`, `concurrency_exceeded`, ...; `rate_limited` when it has none), its hint
//    the limit's `retry_after`, and the event `limit_refused` says which level refused. When
//    `Admission` has `ended(target, now)` (noexcept), it is called once for every admitted
//    attempt that ends: reported, or still running when the call ends (a concurrency limit
//    gives its slot back there). A refusal waited out is a retry: the retry budget must allow
//    it, as for a cooling target. An `admission` that throws leaves `next` with its exception,
//    the call as it was (its probe slot given back): the next `next` asks again.
// Not thread-safe (one call); the retry budget and the cooldowns may be shared by many.

#include <faultline/error.hpp>
#include <faultline/failure.hpp>
#include <faultline/retry/budget.hpp>
#include <faultline/retry/channel_pool.hpp>
#include <faultline/retry/latency_percentile.hpp>
#include <faultline/retry/policy.hpp>

#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <system_error>
#include <type_traits>
#include <vector>

namespace faultline {

namespace sse {
struct verdict; // sse/monitor.hpp
} // namespace sse

/// What a server hint longer than `retry_policy::max_server_delay` does.
enum class long_hint : unsigned char {
    give_up, ///< Give up with the failure (it keeps the hint): the retry policy's rule.
    backoff, ///< Ignore the hint and wait the computed backoff (what the openai SDKs do).
    wait,    ///< Wait as long as the server asked (bounded by the deadline).
};

/// Hedging: another attempt when the running one has not answered in `delay`, or sooner, in the
/// percentile of recent latencies `latencies` holds once it has one.
struct hedge_policy {
    std::chrono::nanoseconds delay = std::chrono::seconds(2);
    unsigned max_hedges = 0; ///< 0: no hedging.
    /// When not null: every call records each successful attempt's latency in it, and its value
    /// (at least 1 ns, at most `delay`) is the hedge delay; `delay` until it has one. Shared by
    /// the calls to the same targets; it must outlive them.
    latency_percentile* latencies = nullptr;

    /// The delay before the next hedge. Thread-safe.
    [[nodiscard]] std::chrono::nanoseconds current_delay() const noexcept {
        if (latencies)
            if (const std::optional<std::chrono::nanoseconds> d = latencies->value())
                return std::min(std::max(*d, std::chrono::nanoseconds(1)), delay);
        return delay;
    }
};

/// A failure of class `cat` moves the call to `target`. A rule without a class is a failover:
/// any retryable failure its target is done with (its attempts spent, its hint too long, the
/// budget out) moves the call there, as a gateway moves to its next channel; a failure that is
/// not retryable (the request itself was refused) stays put.
struct fallback_rule {
    std::optional<category> cat;
    std::size_t target = 0;
};

struct pipeline_options {
    /// Targets (models, channel groups) the call may use; it starts on target 0.
    std::size_t targets = 1;
    /// The retry policy for failures of any class without its own.
    retry_policy retry{};
    /// A policy for one class (index: `static_cast<int>(category)`); `max_attempts = 1` never
    /// retries it.
    std::array<std::optional<retry_policy>, 15> by_category{};
    long_hint long_hints = long_hint::give_up;
    hedge_policy hedge{};
    std::vector<fallback_rule> fallbacks;

    /// `retry_policy` for `cat`. Thread-safe.
    [[nodiscard]] const retry_policy& policy_for(category cat) const noexcept {
        const auto i = static_cast<std::size_t>(cat);
        return i < by_category.size() && by_category[i] ? *by_category[i] : retry;
    }
};

/// Checks `o`: 1 to 64 targets, fallback targets that exist, a positive hedge delay when
/// hedging. Errors: `std::errc::invalid_argument`. Thread-safe.
[[nodiscard]] std::error_code validate(const pipeline_options& o) noexcept;

/// What to do next.
enum class action : unsigned char { attempt, wait, succeeded, give_up };

struct step {
    // In this order the fields leave no padding between them (24 bytes on 64-bit targets).
    std::size_t target = 0;           ///< attempt: where.
    std::chrono::nanoseconds delay{}; ///< wait: the longest wait; `max()` = until an attempt ends.
    unsigned attempt = 0;             ///< attempt: its number in the call, from 1.
    action what = action::wait;
    bool hedge = false;    ///< attempt: beside one still running.
    bool fallback = false; ///< attempt: the first on a fallback target.
    give_up_reason reason = give_up_reason::not_retryable; ///< give_up: why.

    /// Whether the call is over. Thread-safe.
    [[nodiscard]] bool final() const noexcept {
        return what == action::succeeded || what == action::give_up;
    }
};

/// One attempt, as the history keeps it.
struct pipeline_attempt {
    unsigned attempt = 0;
    std::size_t target = 0;
    bool hedge = false;
    std::chrono::nanoseconds started{}; ///< Since the call's start.
    std::chrono::nanoseconds latency{}; ///< Until it ended; 0 while it runs.
    std::optional<error> failed; ///< Its failure's code; none for a success or while it runs.
    bool running = true;
    bool probe = false; ///< It holds a half-open probe slot of its target's cooldown breaker.
};

// Events, each passed to the sink as it happens (see `pipeline`).
struct attempt_started {
    const pipeline_attempt& record;
    bool fallback;
};
struct attempt_ended {
    const pipeline_attempt& record;
    const faultline::failure* failure; ///< How it failed; null for a success.
};
struct retry_scheduled {
    unsigned after_attempt; ///< Attempts made so far (a refused target makes none).
    std::chrono::nanoseconds delay;
    bool from_server; ///< The delay is the server's hint.
};
struct fallback_taken {
    std::size_t from;
    std::size_t to;
    const failure& cause;
};
struct gave_up {
    give_up_reason reason;
    const failure& last;
};
/// A target's breaker refused an attempt (the target is cooling down); nothing was sent.
struct target_refused {
    std::size_t target;
    bool hedge;                  ///< The refused attempt was a hedge.
    std::chrono::nanoseconds at; ///< Since the call's start.
    /// `circuit_open`; its hint is the cool-down's time left while the circuit is open, none
    /// while it is half-open with every probe slot taken (the policy's backoff applies then).
    const failure& reason;
};

/// A target's cooldown breaker changed state through this call: an outcome the call recorded
/// opened it (from closed or half-open) or closed it (from half-open), or the call's attempt was
/// the first after the cool-down (open -> half-open). Polly's `OnCircuitOpened`,
/// `OnCircuitHalfOpened` and `OnCircuitClosed`. Another call sharing the breaker may make the
/// next change: each call reports only its own.
struct breaker_changed {
    std::size_t target;
    circuit_change change;
    std::chrono::nanoseconds at; ///< Since the call's start.
};

/// A limit refused an attempt (see `Admission`); nothing was sent.
struct limit_refused {
    std::size_t target;
    bool hedge;        ///< The refused attempt was a hedge.
    std::size_t level; ///< The level that refused: a composite decision's `refused`, else 0.
    std::chrono::nanoseconds at; ///< Since the call's start.
    /// The limit's code; its hint is the time until the limit would admit, none when the limit
    /// gives none (a limit of calls in flight) or never can admit (`request_exceeds_burst`).
    const failure& reason;
};

/// An attempt's stream ended, with its monitor's verdict (`sse::monitor::finish`): `done`, an
/// error chunk, a cut-off, a timeout. The caller reports it through `stream_ended` (or
/// `end_attempt`, exchange.hpp, with an exchange's result), before the attempt's own end, so that
/// every outcome of a call reaches one sink.
struct stream_ended {
    const pipeline_attempt& record;
    const sse::verdict& verdict;
    std::chrono::nanoseconds at; ///< Since the call's start.
};

/// The admission of a pipeline without limits: every attempt is admitted.
struct no_admission {};

/// A sink that ignores every event.
struct null_pipeline_events {};

/// One call. `Events` receives `attempt_started`, `attempt_ended`, `retry_scheduled`,
/// `fallback_taken`, `target_refused`, `limit_refused`, `breaker_changed`, `stream_ended` and
/// `gave_up` through `operator()` overloads; it may take only some (the rest are not passed).
/// `Admission` admits each attempt (see above; `no_admission`: all). Nothing here allocates but the
/// history after its fourth attempt, and the message of a target that refused.
template <class Events = null_pipeline_events, class Clock = std::chrono::steady_clock,
          class URBG = splitmix64, class Admission = no_admission>
class pipeline {
public:
    using clock = Clock;
    using time_point = typename Clock::time_point;

    /// `options` must outlive the pipeline. Throws `std::system_error` with the code of
    /// `validate(options)` if that fails, or `std::errc::invalid_argument` if `cooldowns` has
    /// fewer channels than `options.targets`.
    /// `budget` (may be null) is charged one request now and one token per retry and hedge;
    /// `rng` draws the backoff's jitter (seeded from `std::random_device` by default, so that
    /// clients do not jitter in lockstep; tests pass a seeded one); `cooldowns` (may be null),
    /// shared by every call, holds one breaker per target (channel i for target i);
    /// `admission` admits each attempt.
    pipeline(const pipeline_options& options, time_point start, Events events = Events{},
             retry_budget<Clock>* budget = nullptr, URBG rng = random_seeded<URBG>(),
             channel_pool<Clock>* cooldowns = nullptr, Admission admission = Admission{});
    /// The options are kept by reference: a temporary would dangle.
    pipeline(pipeline_options&&, time_point, Events = Events{}, retry_budget<Clock>* = nullptr,
             URBG = random_seeded<URBG>(), channel_pool<Clock>* = nullptr,
             Admission = Admission{}) = delete;

    /// What to do at `now`. Not thread-safe.
    [[nodiscard]] step next(time_point now);
    /// Attempt `attempt` succeeded at `now`. Not thread-safe.
    void succeeded(unsigned attempt, time_point now);
    /// Attempt `attempt` failed at `now` with `f`; `content_delivered` when stream content had
    /// reached the caller. Not thread-safe.
    void failed(unsigned attempt, failure&& f, time_point now, bool content_delivered = false) {
        record_failure(attempt, std::move(f), now, content_delivered);
    }
    /// As above; `f` is copied into the storage of the previous failure. Not thread-safe.
    void failed(unsigned attempt, const failure& f, time_point now,
                bool content_delivered = false) {
        record_failure(attempt, f, now, content_delivered);
    }

    /// Attempt `attempt`'s stream ended with verdict `v`: the `stream_ended` event, nothing else
    /// (its end is still reported by `succeeded` or `failed`). Ignored for an attempt not
    /// started. Not thread-safe.
    void stream_ended(unsigned attempt, const sse::verdict& v, time_point now) {
        if (const pipeline_attempt* r = find(attempt))
            emit(faultline::stream_ended{*r, v, now - start_});
    }

    /// The caller stopped the call (cancelled it, or its operation threw): the attempts still
    /// running give back their probe slots and admissions, and the call gives up with
    /// `give_up_reason::cancelled` unless it was already over. Not thread-safe.
    void abandon(time_point now) noexcept;

    /// Every attempt so far, in the order started. Not thread-safe.
    [[nodiscard]] const boost::container::small_vector<pipeline_attempt, 4>&
    history() const noexcept {
        return history_;
    }
    /// The failure the call gave up with (or the latest one); null when none. Not thread-safe.
    [[nodiscard]] const failure* last_failure() const noexcept { return last_ ? &*last_ : nullptr; }
    /// Attempts still running (to cancel after a success or give-up). Not thread-safe.
    [[nodiscard]] std::size_t running() const noexcept { return running_; }
    /// The events sink. Not thread-safe.
    [[nodiscard]] Events& events() noexcept { return events_; }
    /// The jitter source. Not thread-safe.
    [[nodiscard]] URBG& rng() noexcept { return rng_; }
    /// The admission. Not thread-safe.
    [[nodiscard]] Admission& admission() noexcept { return admission_; }

private:
    template <class E>
    void emit(const E& e) {
        if constexpr (requires(Events & s) { s(e); }) events_(e);
    }
    pipeline_attempt* find(unsigned attempt) noexcept;
    template <class F>
    void record_failure(unsigned attempt, F&& f, time_point now, bool content_delivered);
    /// Starts an attempt on `target_`: its number, or 0 if none started.
    unsigned start_attempt(time_point now, bool hedge, bool fallback);
    void decide(const failure& f, time_point now, bool content_delivered);
    bool fall_back(const failure& f);
    void refused(time_point now, bool hedge);
    template <class Decision>
    void limited(const Decision& d, time_point now, bool hedge);
    /// A failure of the current target that was never sent: a cooling target, a limit.
    void not_sent(failure&& f, time_point now, bool hedge);
    /// Whether `Admission` is told of each admitted attempt's end.
    static constexpr bool admission_ends =
        requires(Admission & a, std::size_t target, time_point now) {
        a.ended(target, now);
    };
    static_assert(
        !admission_ends ||
            requires(Admission & a, std::size_t target, time_point now) {
                { a.ended(target, now) }
                noexcept;
            },
        "faultline::pipeline: Admission::ended must be noexcept (it runs when a call ends)");
    /// Gives back the probe slots and admissions of the attempts still running (they will not
    /// report), once: the call is over.
    void release_running(time_point now) noexcept {
        if ((cooldowns_ || admission_ends) && running_ > 0 && !released_) give_back(now);
    }
    void give_back(time_point now) noexcept;
    /// Records a success's latency in `hedge.latencies`: out of line, so that the loop of a call
    /// without it does not carry its code.
    [[gnu::noinline]] void record_latency(std::chrono::nanoseconds latency) noexcept {
        opts_.hedge.latencies->record(latency);
    }

    const pipeline_options& opts_;
    time_point start_;
    Events events_;
    retry_budget<Clock>* budget_;
    URBG rng_;
    channel_pool<Clock>* cooldowns_;
    [[no_unique_address]] Admission admission_;
    boost::container::small_vector<pipeline_attempt, 4> history_; // no allocation up to 4

    std::optional<failure> last_; // the latest failure, or why the options are invalid
    std::size_t target_ = 0;
    unsigned on_target_ = 0; // attempts on the current target (hedges included)
    unsigned hedges_ = 0;
    std::size_t running_ = 0;
    std::uint64_t visited_ = 1; // targets the call has used, one bit each
    std::chrono::nanoseconds previous_delay_{};
    std::optional<time_point> retry_at_; // a retry waits until then
    bool pending_fallback_ = false;
    bool success_ = false;
    bool released_ = false; // the attempts still running gave back what they held
    std::optional<give_up_reason> give_up_;
};

} // namespace faultline

#include <faultline/impl/pipeline.hpp>

#endif

#ifndef FAULTLINE_LIMIT_COMPOSITE_HPP
#define FAULTLINE_LIMIT_COMPOSITE_HPP

#include <faultline/detail/config.hpp>

// All-or-nothing acquisition across several limit levels (reference 000: token-level,
// user-level and upstream limits; RPM and TPM at each).
//
//     using namespace faultline::limit;
//     auto d = acquire_all(clock::now(),
//                          level(token_rpm, token_id, 1), level(token_tpm, token_id, estimate),
//                          level(user_rpm, user_id, 1), level(upstream_rpm, 1));
//     if (!d) return reply_429(d.refusal(), d.retry_after);   // d.refused: which level
//
// Levels are tried in order; when one refuses, every level already admitted gets its tokens
// back (`release`), so nothing is consumed anywhere. A rollback is exact: a GCRA release
// subtracts precisely what the acquire added. Between the two, concurrent callers may see the
// earlier levels briefly emptier (they are never fuller than allowed). Put the level most
// likely to refuse first to keep rollbacks rare.

#include <faultline/limit/decision.hpp>
#include <faultline/limit/keyed.hpp>
#include <faultline/limit/token_bucket.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace faultline::limit {

/// One level: a limiter (and key), the amount to take. Made by `level(...)`. A plain value
/// referring to its limiter, which must outlive it.
template <class Limiter>
struct bucket_level {
    Limiter* limiter;
    std::uint64_t n;

    template <class TimePoint>
    [[nodiscard]] decision acquire(TimePoint now) const {
        return limiter->try_acquire(n, now);
    }
    template <class TimePoint>
    [[nodiscard]] decision peek(TimePoint now) const {
        return limiter->peek(n, now);
    }
    template <class TimePoint>
    void rollback(TimePoint now) const {
        limiter->release(n, now);
    }
};

template <class Limiter>
struct keyed_level {
    Limiter* limiter;
    std::uint64_t key;
    std::uint64_t n;

    template <class TimePoint>
    [[nodiscard]] decision acquire(TimePoint now) const {
        return limiter->try_acquire(key, n, now);
    }
    template <class TimePoint>
    [[nodiscard]] decision peek(TimePoint now) const {
        return limiter->peek(key, n, now);
    }
    template <class TimePoint>
    void rollback(TimePoint now) const {
        limiter->release(key, n, now);
    }
};

/// `n` tokens of a bucket. Thread-safe as the bucket is.
template <class Clock, bucket_kind Kind>
[[nodiscard]] bucket_level<basic_token_bucket<Clock, Kind>>
level(basic_token_bucket<Clock, Kind>& b, std::uint64_t n = 1) {
    return {&b, n};
}
/// `n` tokens of `key`'s bucket. Thread-safe as the limiter is.
template <class Clock>
[[nodiscard]] keyed_level<keyed_limiter<Clock>> level(keyed_limiter<Clock>& k, std::uint64_t key,
                                                      std::uint64_t n = 1) {
    return {&k, key, n};
}

/// The verdict over N levels. A plain value.
template <std::size_t N>
struct composite_decision {
    bool admitted = false;
    /// Index of the level that refused; N when admitted.
    std::size_t refused = N;
    /// When refused: time until every level would admit (the longest wait over the refusing
    /// level and the levels after it; the earlier ones had admitted). Zero when admitted.
    std::chrono::nanoseconds retry_after{0};
    /// Each level's own decision: admitted levels in full; when refused, the refusing level's
    /// refusal and, after it, what each later level would have answered (nothing consumed).
    std::array<decision, N> levels{};

    /// The refusing level's decision (its `ec` says rpm_/tpm_exceeded, ...). Only when refused.
    /// Thread-safe (a plain value).
    [[nodiscard]] const decision& refusal() const noexcept { return levels[refused]; }
    /// Whether every level admitted. Thread-safe (a plain value).
    [[nodiscard]] explicit operator bool() const noexcept { return admitted; }
};

/// Acquires from every level or from none. Thread-safe as the levels' limiters are.
template <class TimePoint, class... Levels>
[[nodiscard]] composite_decision<sizeof...(Levels)> acquire_all(TimePoint now,
                                                                const Levels&... levels);

} // namespace faultline::limit

#include <faultline/limit/impl/composite.hpp>

#endif

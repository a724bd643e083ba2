#ifndef FAULTLINE_LIMIT_DETAIL_GCRA_HPP
#define FAULTLINE_LIMIT_DETAIL_GCRA_HPP

// The integer arithmetic shared by every faultline bucket (GCRA, "theoretical arrival time").
//
// Time is counted in units of 1/u nanosecond; one token costs c units, so the emission
// interval is exactly c/u ns = period / tokens. The state is one 64-bit TAT (theoretical
// arrival time) in units since the limiter's epoch, kept modulo 2^64 and always compared as a
// signed difference to `now`:
//
//     backlog b = max(TAT - now, 0)             (b = tau - available tokens * c)
//     admit n   iff  b + n*c <= tau              where tau = burst * c
//     new TAT   = now + b + n*c                  (i.e. max(TAT, now) + n*c)
//     wait      = ceil((b + n*c - tau) / u) ns   when refused
//
// A TAT never decreases except through an explicit release, so a `now` earlier than one seen
// before only makes the backlog look larger: it never grants tokens twice.

#include <faultline/limit/decision.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <system_error>

namespace faultline::detail {

__extension__ typedef unsigned __int128 gcra_u128;

/// Units per nanosecond are capped so that 2^63 units (the modular range) span > 1 year.
inline constexpr std::uint64_t gcra_max_units_per_ns = 256;
/// tau (burst * cost) must stay below this so sums of backlogs never overflow.
inline constexpr std::uint64_t gcra_max_tau = std::uint64_t{1} << 62;
/// A backlog beyond tau by more than this is a TAT so old the modular clock wrapped: treat
/// the bucket as idle (full). Legitimate excess over tau comes only from a `now` earlier than
/// one seen before, and 2^62 units is over half a year of that.
inline constexpr std::uint64_t gcra_stale_margin = std::uint64_t{1} << 62;

struct gcra_params {
    std::uint64_t c = 1;     // units per token
    std::uint64_t u = 1;     // units per nanosecond
    std::uint64_t burst = 1; // tokens
    std::uint64_t tau = 1;   // burst * c
};

/// Exact unsigned 64-bit division by a divisor fixed in advance: a shift for a power of two,
/// otherwise a multiply-high, a subtraction and two shifts (Granlund and Montgomery, "Division
/// by invariant integers using multiplication", PLDI 1994, figure 4.1; exact for every 64-bit
/// dividend). A decision divides by c and u up to three times, and a hardware divide costs
/// more than the rest of the decision.
struct gcra_divider {
    std::uint64_t d = 1;
    std::uint64_t m = 1; // m' = floor(2^64 * (2^l - d) / d) + 1, l = ceil(log2(d)); < 2^64
    unsigned sh1 = 0;    // min(l, 1)
    unsigned sh2 = 0;    // max(l - 1, 0)
    bool pow2 = true;    // d == 2^l: quot is n >> l
    unsigned l = 0;

    /// The divider for `divisor` (>= 1).
    [[nodiscard]] static constexpr gcra_divider make(std::uint64_t divisor) noexcept {
        gcra_divider r;
        r.d = divisor;
        while ((static_cast<gcra_u128>(1) << r.l) < divisor)
            ++r.l;
        const gcra_u128 excess = (static_cast<gcra_u128>(1) << r.l) - divisor; // < divisor
        r.m = static_cast<std::uint64_t>((excess << 64) / divisor + 1);
        r.sh1 = r.l == 0 ? 0 : 1;
        r.sh2 = r.l == 0 ? 0 : r.l - 1;
        r.pow2 = excess == 0;
        return r;
    }
    /// floor(n / d).
    [[nodiscard]] constexpr std::uint64_t quot(std::uint64_t n) const noexcept {
        if (pow2) return n >> l;
        const auto t = static_cast<std::uint64_t>((static_cast<gcra_u128>(m) * n) >> 64);
        return (t + ((n - t) >> sh1)) >> sh2;
    }
    /// ceil(n / d).
    [[nodiscard]] constexpr std::uint64_t quot_ceil(std::uint64_t n) const noexcept {
        if (pow2) return (n >> l) + ((n & (d - 1)) != 0);
        return n == 0 ? 0 : quot(n - 1) + 1;
    }
};

/// gcra_params with c and u as dividers, for the buckets whose parameters are fixed.
struct gcra_fast_params : gcra_params {
    gcra_divider by_c;
    gcra_divider by_u;

    [[nodiscard]] static constexpr gcra_fast_params make(const gcra_params& p) noexcept {
        return {p, gcra_divider::make(p.c), gcra_divider::make(p.u)};
    }
};

/// Builds parameters for `tokens` per `period_ns` and `burst`; an error for nonsense.
[[nodiscard]] inline std::error_code make_gcra_params(std::uint64_t tokens, std::int64_t period_ns,
                                                      std::uint64_t burst,
                                                      gcra_params& out) noexcept {
    if (tokens == 0 || period_ns <= 0 || burst == 0)
        return std::make_error_code(std::errc::invalid_argument);
    const auto period = static_cast<std::uint64_t>(period_ns);
    const std::uint64_t g = std::gcd(tokens, period);
    std::uint64_t u = tokens / g;
    std::uint64_t c = period / g;
    if (u > gcra_max_units_per_ns) {
        // Round the emission interval up (never over-admit) by less than 1/256 ns.
        const gcra_u128 scaled = static_cast<gcra_u128>(c) * gcra_max_units_per_ns;
        const gcra_u128 q = (scaled + u - 1) / u;
        c = static_cast<std::uint64_t>(q);
        u = gcra_max_units_per_ns;
    }
    if (c == 0 || c >= gcra_max_tau || burst >= gcra_max_tau / c)
        return std::make_error_code(std::errc::invalid_argument);
    out = gcra_params{c, u, burst, burst * c};
    return {};
}

/// `ns` since the epoch (possibly negative) in units, modulo 2^64.
[[nodiscard]] constexpr std::uint64_t gcra_units(std::int64_t ns, std::uint64_t u) noexcept {
    return static_cast<std::uint64_t>(ns) * u;
}

/// max(TAT - now, 0), with very old (wrapped) TATs read as idle.
[[nodiscard]] constexpr std::uint64_t gcra_backlog(std::uint64_t tat, std::uint64_t now_u,
                                                   const gcra_params& p) noexcept {
    const auto d = static_cast<std::int64_t>(tat - now_u);
    if (d <= 0) return 0;
    const auto b = static_cast<std::uint64_t>(d);
    if (b > p.tau + gcra_stale_margin) return 0;
    return b;
}

/// `gcra_backlog(tat, now_u, p) == 0` without a data-dependent branch, for loops over many
/// TATs whose outcome the branch predictor cannot learn.
[[nodiscard]] constexpr bool gcra_idle(std::uint64_t tat, std::uint64_t now_u,
                                       const gcra_params& p) noexcept {
    const std::uint64_t d = tat - now_u;
    return (static_cast<std::int64_t>(d) <= 0) | (d > p.tau + gcra_stale_margin);
}

[[nodiscard]] constexpr std::chrono::nanoseconds gcra_to_ns(std::uint64_t units,
                                                            std::uint64_t u) noexcept {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(units / u + (units % u != 0)));
}

/// `units` as nanoseconds, rounded up.
[[nodiscard]] constexpr std::chrono::nanoseconds gcra_ns(std::uint64_t units,
                                                         const gcra_params& p) noexcept {
    return gcra_to_ns(units, p.u);
}
[[nodiscard]] constexpr std::chrono::nanoseconds gcra_ns(std::uint64_t units,
                                                         const gcra_fast_params& p) noexcept {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(p.by_u.quot_ceil(units)));
}

/// Whole tokens in `units`.
[[nodiscard]] constexpr std::uint64_t gcra_tokens(std::uint64_t units,
                                                  const gcra_params& p) noexcept {
    return units / p.c;
}
[[nodiscard]] constexpr std::uint64_t gcra_tokens(std::uint64_t units,
                                                  const gcra_fast_params& p) noexcept {
    return p.by_c.quot(units);
}

/// Fills `limit`, `remaining` and `reset` for a backlog. `P`: gcra_params or gcra_fast_params.
template <class P>
constexpr void gcra_describe(limit::decision& d, std::uint64_t backlog, const P& p) noexcept {
    d.limit = p.burst;
    // Less than one token left needs no division (every refusal of one token).
    d.remaining = backlog >= p.tau || p.tau - backlog < p.c ? 0 : gcra_tokens(p.tau - backlog, p);
    d.reset = gcra_ns(backlog, p);
}

/// Fills a refusal's figures (all but `admitted` and `ec`) for `n` tokens and `backlog`.
template <class P>
constexpr void gcra_refused(limit::decision& d, std::uint64_t backlog, std::uint64_t n,
                            const P& p) noexcept {
    gcra_describe(d, backlog, p);
    d.retry_after = gcra_ns(backlog + n * p.c - p.tau, p);
}

/// The decision for a request of `n` tokens refused by `ec` because of `backlog`.
template <class P>
[[nodiscard]] limit::decision gcra_refusal(std::uint64_t backlog, std::uint64_t n, const P& p,
                                           std::error_code ec) noexcept {
    limit::decision d;
    d.ec = ec;
    gcra_refused(d, backlog, n, p);
    return d;
}

template <class P>
[[nodiscard]] limit::decision gcra_oversize(std::uint64_t backlog, const P& p) noexcept {
    limit::decision d;
    gcra_describe(d, backlog, p);
    d.ec = faultline::error::request_exceeds_burst;
    d.retry_after = std::chrono::nanoseconds::max();
    return d;
}

/// The outcome of one step of a GCRA acquire on a loaded TAT.
struct gcra_step {
    bool admit;            // the new TAT should be stored
    std::uint64_t new_tat; // valid when admit
    std::uint64_t backlog; // before the request
};

[[nodiscard]] constexpr gcra_step gcra_try(std::uint64_t tat, std::uint64_t now_u, std::uint64_t n,
                                           const gcra_params& p) noexcept {
    const std::uint64_t b = gcra_backlog(tat, now_u, p);
    const std::uint64_t cost = n * p.c; // n <= burst checked by the caller: no overflow
    if (cost == 0) return {true, tat, b};
    if (b + cost > p.tau) return {false, 0, b};
    return {true, now_u + b + cost, b};
}

/// The decision on taking `n` tokens from a bucket whose TAT is `tat` at `now_u`: refused as
/// oversize or with `refusal`, or admitted with the figures after taking them. `step` receives
/// the step; when `step.admit`, `step.new_tat` is the TAT to store.
template <class P>
[[nodiscard]] limit::decision gcra_decide(std::uint64_t tat, std::uint64_t now_u, std::uint64_t n,
                                          const P& p, std::error_code refusal,
                                          gcra_step& step) noexcept {
    if (n > p.burst) {
        step = {false, 0, gcra_backlog(tat, now_u, p)};
        return gcra_oversize(step.backlog, p);
    }
    step = gcra_try(tat, now_u, n, p);
    if (!step.admit) return gcra_refusal(step.backlog, n, p, refusal);
    limit::decision d;
    d.admitted = true;
    gcra_describe(d, step.backlog + n * p.c, p);
    return d;
}

/// The TAT after returning `n` tokens, or `tat` itself when the bucket is already full.
[[nodiscard]] constexpr std::uint64_t gcra_release(std::uint64_t tat, std::uint64_t now_u,
                                                   std::uint64_t n, const gcra_params& p) noexcept {
    const std::uint64_t b = gcra_backlog(tat, now_u, p);
    if (b == 0) return tat;
    const std::uint64_t cost = (n >= p.burst ? p.burst : n) * p.c;
    return now_u + (cost >= b ? 0 : b - cost);
}

/// The TAT in new parameters' units that keeps the tokens available at `now` (clamped to the
/// new burst). `old_now`/`new_now` are `now` in the old and new units.
[[nodiscard]] inline std::uint64_t gcra_convert(std::uint64_t tat, std::uint64_t old_now,
                                                const gcra_params& op, std::uint64_t new_now,
                                                const gcra_params& np) noexcept {
    const std::uint64_t b = gcra_backlog(tat, old_now, op);
    if (b > op.tau) {
        // Empty until `now + (b - tau) / u` (a `now` older than some caller's): the new bucket
        // is empty until then too (rounded up), or the TAT would move backwards.
        const gcra_u128 debt = (static_cast<gcra_u128>(b - op.tau) * np.u + op.u - 1) / op.u;
        const std::uint64_t capped =
            debt > gcra_stale_margin ? gcra_stale_margin : static_cast<std::uint64_t>(debt);
        return new_now + np.tau + capped;
    }
    const std::uint64_t avail_old = op.tau - b;
    const gcra_u128 avail = static_cast<gcra_u128>(avail_old) * np.c / op.c; // rounded down
    const std::uint64_t avail_new = avail >= np.tau ? np.tau : static_cast<std::uint64_t>(avail);
    return new_now + (np.tau - avail_new);
}

/// Converts a double rate in tokens per second to an exact decimal fraction tokens/period.
inline void gcra_rate_from_double(double per_second, std::uint64_t& tokens,
                                  std::int64_t& period_ns) noexcept {
    tokens = 0;
    period_ns = 0;
    if (!(per_second > 0) || !std::isfinite(per_second) || per_second > 1e10) return;
    std::int64_t scale = 1;
    for (int k = 0; k <= 9; ++k, scale *= 10) {
        const double t = per_second * static_cast<double>(scale);
        if (t > 9e15) break;
        const double r = std::nearbyint(t);
        if (r >= 1 && std::fabs(t - r) <= 1e-9 * t) {
            tokens = static_cast<std::uint64_t>(r);
            period_ns = 1'000'000'000 * scale;
            return;
        }
    }
    // No short decimal: nanotokens per second, rounded down (never over-admit).
    const double t = std::floor(per_second * 1e9);
    if (t >= 1 && t < 9e18) {
        tokens = static_cast<std::uint64_t>(t);
        period_ns = std::int64_t{1'000'000'000} * 1'000'000'000;
    }
}

} // namespace faultline::detail

#endif

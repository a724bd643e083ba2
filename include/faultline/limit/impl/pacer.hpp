#ifndef FAULTLINE_LIMIT_IMPL_PACER_HPP
#define FAULTLINE_LIMIT_IMPL_PACER_HPP

#include <faultline/detail/ascii.hpp>

#include <algorithm>
#include <cmath>
#include <system_error>

namespace faultline::detail {

inline constexpr std::int64_t pacer_min_ns = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t pacer_max_ns = std::numeric_limits<std::int64_t>::max();

// a + b for b >= 0, saturating at the largest instant.
[[nodiscard]] constexpr std::int64_t pacer_add_ns(std::int64_t a, std::int64_t b) noexcept {
    return b > 0 && a > pacer_max_ns - b ? pacer_max_ns : a + b;
}

// A wait in whole nanoseconds from a double, rounded up and clamped to [0, cap]: converting
// an out-of-range double to an integer would be undefined.
[[nodiscard]] inline std::int64_t pacer_ceil_ns(double ns, std::int64_t cap) noexcept {
    if (!(ns > 0)) return 0;
    if (ns >= static_cast<double>(cap)) return cap;
    return static_cast<std::int64_t>(std::ceil(ns));
}

// A parsed delay in milliseconds as nanoseconds, cut to `max`; milliseconds::max() (a
// saturated parse) would overflow nanoseconds.
[[nodiscard]] inline std::chrono::nanoseconds pacer_cut(std::chrono::milliseconds d,
                                                        std::chrono::nanoseconds max) noexcept {
    if (d.count() < 0) return std::chrono::nanoseconds(0);
    if (d.count() >= max.count() / 1'000'000) return max;
    return std::chrono::nanoseconds(d.count() * 1'000'000);
}

struct rate_limit_header_name {
    std::string_view name;
    limit::window w;
    enum field_kind : std::uint8_t { count_limit, count_remaining, reset_time } field;
    bool rfc3339; // Anthropic's resets are times, OpenAI's durations
};

inline constexpr rate_limit_header_name rate_limit_header_names[] = {
    {"x-ratelimit-limit-requests", limit::window::requests, rate_limit_header_name::count_limit,
     false},
    {"x-ratelimit-remaining-requests", limit::window::requests,
     rate_limit_header_name::count_remaining, false},
    {"x-ratelimit-reset-requests", limit::window::requests, rate_limit_header_name::reset_time,
     false},
    {"x-ratelimit-limit-tokens", limit::window::tokens, rate_limit_header_name::count_limit, false},
    {"x-ratelimit-remaining-tokens", limit::window::tokens, rate_limit_header_name::count_remaining,
     false},
    {"x-ratelimit-reset-tokens", limit::window::tokens, rate_limit_header_name::reset_time, false},
    {"anthropic-ratelimit-requests-limit", limit::window::requests,
     rate_limit_header_name::count_limit, true},
    {"anthropic-ratelimit-requests-remaining", limit::window::requests,
     rate_limit_header_name::count_remaining, true},
    {"anthropic-ratelimit-requests-reset", limit::window::requests,
     rate_limit_header_name::reset_time, true},
    {"anthropic-ratelimit-tokens-limit", limit::window::tokens, rate_limit_header_name::count_limit,
     true},
    {"anthropic-ratelimit-tokens-remaining", limit::window::tokens,
     rate_limit_header_name::count_remaining, true},
    {"anthropic-ratelimit-tokens-reset", limit::window::tokens, rate_limit_header_name::reset_time,
     true},
    {"anthropic-ratelimit-input-tokens-limit", limit::window::input_tokens,
     rate_limit_header_name::count_limit, true},
    {"anthropic-ratelimit-input-tokens-remaining", limit::window::input_tokens,
     rate_limit_header_name::count_remaining, true},
    {"anthropic-ratelimit-input-tokens-reset", limit::window::input_tokens,
     rate_limit_header_name::reset_time, true},
    {"anthropic-ratelimit-output-tokens-limit", limit::window::output_tokens,
     rate_limit_header_name::count_limit, true},
    {"anthropic-ratelimit-output-tokens-remaining", limit::window::output_tokens,
     rate_limit_header_name::count_remaining, true},
    {"anthropic-ratelimit-output-tokens-reset", limit::window::output_tokens,
     rate_limit_header_name::reset_time, true},
};

} // namespace faultline::detail

namespace faultline::limit {

inline result<std::uint64_t> parse_rate_limit_count(std::string_view value) noexcept {
    const std::string_view v = detail::trim(value);
    if (v.empty()) return parse_error::invalid_rate_limit_count;
    std::uint64_t n = 0;
    for (const char c : v) {
        if (!detail::is_digit(c)) return parse_error::invalid_rate_limit_count;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
        // Checked per digit: n stays below 2^57, so the next step cannot wrap.
        if (n > max_rate_limit_count) return parse_error::invalid_rate_limit_count;
    }
    return n;
}

template <class Headers>
rate_limit_report read_rate_limits(const Headers& headers,
                                   std::chrono::system_clock::time_point wall_now,
                                   std::chrono::nanoseconds max_wait) {
    using namespace std::chrono;
    if (max_wait.count() < 0) max_wait = nanoseconds(0);
    rate_limit_report r;
    const auto ignore = [&r](std::string_view name, std::error_code ec) {
        if (r.ignored++ == 0) {
            r.first_error = ec;
            r.first_ignored = name;
        }
    };
    std::string_view retry_after, retry_after_ms;
    detail::for_each_header(headers, [&](std::string_view name, std::string_view value) {
        using detail::iequals;
        if (name.empty()) return;
        const char first = detail::ascii_lower(name.front());
        if (first == 'r') {
            if (iequals(name, "retry-after-ms"))
                retry_after_ms = value;
            else if (iequals(name, "retry-after"))
                retry_after = value;
            return;
        }
        if (first != 'x' && first != 'a') return;
        for (const auto& h : detail::rate_limit_header_names) {
            if (!iequals(name, h.name)) continue;
            window_report& w = r.windows[static_cast<std::size_t>(h.w)];
            if (h.field == detail::rate_limit_header_name::reset_time) {
                const auto d =
                    h.rfc3339 ? parse_rfc3339_delay(value, wall_now) : parse_duration(value);
                if (d)
                    w.reset = detail::pacer_cut(d.value(), max_wait);
                else
                    ignore(h.name, d.error());
            } else if (auto n = parse_rate_limit_count(value)) {
                (h.field == detail::rate_limit_header_name::count_limit ? w.limit : w.remaining) =
                    n.value();
            } else
                ignore(h.name, n.error());
            return;
        }
    });
    // retry-after-ms first, as the OpenAI SDKs read them; a bad one leaves Retry-After to decide.
    if (!retry_after_ms.empty()) {
        if (auto d = parse_retry_after_ms(retry_after_ms))
            r.retry_after = detail::pacer_cut(d.value(), max_wait);
        else
            ignore("retry-after-ms", d.error());
    }
    if (!retry_after.empty()) {
        const auto d = parse_retry_after(retry_after, wall_now);
        if (!d)
            ignore("retry-after", d.error());
        else if (!r.retry_after)
            r.retry_after = detail::pacer_cut(d.value(), max_wait);
    }
    return r;
}

inline std::error_code validate(const pacer_options& o) noexcept {
    const auto share = [](double v, double hi) { return std::isfinite(v) && v >= 0 && v <= hi; };
    const bool ok = share(o.margin, 0.5) && share(o.refusal_reserve, 0.5) &&
                    share(o.max_reserve, 0.9) && share(o.reserve_decay, 1.0) &&
                    o.max_wait.count() > 0 && o.refusal_backoff.count() >= 0 &&
                    o.refusal_backoff <= o.max_wait;
    return ok ? std::error_code{} : std::make_error_code(std::errc::invalid_argument);
}

template <class Clock>
pacer<Clock>::pacer(const pacer_options& options)
    : options_(options) {
    if (const auto ec = validate(options)) throw std::system_error(ec, "faultline::limit::pacer");
}

template <class Clock>
std::int64_t pacer<Clock>::ns(time_point t) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// What window `w` lets us spend in the window holding instant `at`: the observed one while its
// reset lies ahead, after that a full window assumed to start at each reset.
template <class Clock>
auto pacer<Clock>::budget(std::size_t w, std::int64_t at) const noexcept -> budget_at {
    const window_state& s = windows_[w];
    budget_at b;
    if (!s.known) return b;
    const double reserve = s.reserve * static_cast<double>(s.limit);
    if (at < s.reset_at) {
        b.bounded = true;
        b.end = s.reset_at;
        // Ours since the observed request: in flight then, or sent since.
        const std::uint64_t ours = spent_[w] - s.seen_through;
        b.budget = static_cast<double>(s.remaining) - s.bias - static_cast<double>(ours) - reserve;
        return b;
    }
    if (s.period <= 0) return b; // never saw a window with a length: unpaced after its reset
    // In unsigned arithmetic: at >= reset_at, but the difference of two far-apart instants
    // can exceed int64; the start lies between them, so it fits.
    const std::uint64_t k =
        (static_cast<std::uint64_t>(at) - static_cast<std::uint64_t>(s.reset_at)) /
        static_cast<std::uint64_t>(s.period);
    b.bounded = true;
    b.start = static_cast<std::int64_t>(static_cast<std::uint64_t>(s.reset_at) +
                                        k * static_cast<std::uint64_t>(s.period));
    b.end = detail::pacer_add_ns(b.start, s.period);
    // Ours counted in this window: since it began if a reservation marked that; none if it
    // is a later one none of ours went into; else all since the observation (in flight
    // across the reset, or taken from a bucket that was then not full: the safe side).
    std::uint64_t ours = spent_[w] - s.seen_through;
    if (b.start == s.virtual_start)
        ours = spent_[w] - s.virtual_base;
    else if (k > 0 && (!s.has_last || s.last_send < b.start))
        ours = 0;
    b.budget = static_cast<double>(s.limit) - reserve - static_cast<double>(ours);
    return b;
}

// The earliest instant from `at` at which window `w` lets a request of `cost` go.
template <class Clock>
std::int64_t pacer<Clock>::earliest(std::size_t w, std::uint64_t cost,
                                    std::int64_t at) const noexcept {
    const window_state& s = windows_[w];
    // No wait makes a request above the limit fit; the server's answer decides.
    if (!s.known || cost == 0 || (s.limit != 0 && cost > s.limit)) return at;
    const double c = static_cast<double>(cost);
    // Three windows at most: the current one, exhausted, the next one, and then the server
    // decides.
    for (int i = 0; i < 3; ++i) {
        const budget_at b = budget(w, at);
        if (!b.bounded) return at;
        if (b.budget < c) { // exhausted: the reset
            at = b.end;
            continue;
        }
        if (!s.has_last || s.last_send < b.start) return at; // first in a fresh window
        if (s.last_send >= b.end) {
            at = s.last_send;
            continue;
        }
        // An observed window: the rest of the budget spread over the rest of the window. An
        // assumed one: the whole window's budget over its whole length, since where it ends is
        // a guess (catching up on its unspent budget near that guessed end would burst).
        const bool assumed = b.start != detail::pacer_min_ns;
        const double left = assumed ? static_cast<double>(s.period)
                                    : static_cast<double>(b.end) - static_cast<double>(s.last_send);
        const double budget = assumed ? static_cast<double>(s.limit) * (1.0 - s.reserve) : b.budget;
        const double spacing = c * left / ((1.0 - options_.margin) * budget);
        const std::int64_t next =
            detail::pacer_add_ns(s.last_send, detail::pacer_ceil_ns(spacing, detail::pacer_max_ns));
        if (next >= b.end) {
            at = std::max(at, b.end);
            continue;
        }
        return std::max(at, next);
    }
    return at;
}

template <class Clock>
std::int64_t pacer<Clock>::send_time(const request_cost& cost, std::int64_t now) const noexcept {
    std::int64_t at = std::max(now, blocked_until_);
    // Twice round: a later instant from one window can move another into its next window.
    for (int round = 0; round < 2; ++round)
        for (std::size_t w = 0; w < window_count; ++w)
            at = std::max(at, earliest(w, cost.in(static_cast<window>(w)), at));
    const std::int64_t cap = detail::pacer_add_ns(now, options_.max_wait.count());
    return std::min(at, cap);
}

template <class Clock>
std::chrono::nanoseconds pacer<Clock>::wait(const request_cost& cost,
                                            time_point now) const noexcept {
    const std::int64_t t = ns(now);
    return std::chrono::nanoseconds(send_time(cost, t) - t);
}

template <class Clock>
pacer_ticket pacer<Clock>::reserve(const request_cost& cost, time_point now) noexcept {
    const std::int64_t t = ns(now);
    const std::int64_t at = send_time(cost, t);
    pacer_ticket ticket;
    ticket.cost = cost;
    if (at > t) {
        ticket.wait = std::chrono::nanoseconds(at - t);
        return ticket;
    }
    ticket.seq = ++seq_;
    for (std::size_t w = 0; w < window_count; ++w) {
        window_state& s = windows_[w];
        std::uint64_t c = cost.in(static_cast<window>(w));
        if (s.known && s.limit != 0 && c > s.limit) c = 0; // refused, so it consumes nothing
        if (c != 0) {
            if (s.known) {
                const budget_at b = budget(w, at);
                if (b.bounded && b.start != detail::pacer_min_ns && b.start != s.virtual_start) {
                    s.virtual_start = b.start; // the first of ours in an assumed fresh window
                    s.virtual_base = spent_[w];
                }
            }
            s.has_last = true;
            s.last_send = at;
        }
        spent_[w] = c > std::numeric_limits<std::uint64_t>::max() - spent_[w]
                        ? std::numeric_limits<std::uint64_t>::max()
                        : spent_[w] + c;
        ticket.spent_through[w] = spent_[w];
    }
    return ticket;
}

template <class Clock>
template <class Headers>
rate_limit_report pacer<Clock>::observe(const pacer_ticket& ticket, unsigned status,
                                        const Headers& headers, time_point now,
                                        std::chrono::system_clock::time_point wall_now) {
    rate_limit_report r = read_rate_limits(headers, wall_now, options_.max_wait);
    observe(ticket, status, r, now);
    return r;
}

template <class Clock>
void pacer<Clock>::observe(const pacer_ticket& ticket, unsigned status,
                           const rate_limit_report& report, time_point now) noexcept {
    if (!ticket) return; // nothing was reserved, so nothing was sent
    const std::int64_t t = ns(now);
    const bool refused = status == 429;
    // Which windows a refusal concerns: those the headers show exhausted; else, the headers
    // lagging, the one nearest exhaustion; else (no counts at all) every known one.
    std::array<bool, window_count> implicated{};
    if (refused) {
        bool explained = false, reported = false;
        std::size_t nearest = window_count;
        double nearest_share = std::numeric_limits<double>::infinity();
        for (std::size_t w = 0; w < window_count; ++w) {
            const window_report& in = report.windows[w];
            if (!in.remaining) continue;
            reported = true;
            const std::uint64_t cost = ticket.cost.in(static_cast<window>(w));
            implicated[w] = *in.remaining < std::max<std::uint64_t>(cost, 1);
            explained |= implicated[w];
            const std::uint64_t limit = in.limit ? *in.limit : windows_[w].limit;
            const double share =
                limit == 0 ? 1 : static_cast<double>(*in.remaining) / static_cast<double>(limit);
            if (share < nearest_share) {
                nearest_share = share;
                nearest = w;
            }
        }
        if (!explained && nearest < window_count) { // some window reported, none exhausted
            implicated[nearest] = true;
            // Refused although the headers said enough was left: they lag by at least this.
            const std::uint64_t cost =
                std::max<std::uint64_t>(ticket.cost.in(static_cast<window>(nearest)), 1);
            window_state& s = windows_[nearest];
            const double over = static_cast<double>(*report.windows[nearest].remaining - cost + 1);
            const std::uint64_t limit = report.windows[nearest].limit.value_or(s.limit);
            s.bias =
                std::max(s.bias, std::min(over, options_.max_reserve * static_cast<double>(limit)));
        }
        if (!reported)
            for (std::size_t w = 0; w < window_count; ++w)
                implicated[w] = windows_[w].known;
    }
    for (std::size_t w = 0; w < window_count; ++w) {
        const window_report& in = report.windows[w];
        window_state& s = windows_[w];
        if (!in.remaining) continue;
        // An older request's response counted less of ours than the one already observed.
        if (ticket.seq < s.observed_seq || ticket.seq > seq_) continue;
        if (in.limit) s.limit = *in.limit; // a limit may change mid-run, either way
        const std::int64_t reset = in.reset ? in.reset->count() : 0;
        // A window already over by the time its response came back (headers that lag across a
        // reset) says nothing of the current one; the window assumed since that reset stays.
        if (s.known && reset == 0 && s.reset_at <= t && *in.remaining < s.limit) continue;
        s.known = true;
        if (!in.limit) s.limit = std::max(s.limit, *in.remaining);
        s.remaining = s.limit != 0 ? std::min(*in.remaining, s.limit) : *in.remaining;
        s.reset_at = detail::pacer_add_ns(t, reset);
        s.period = std::max(s.period, reset);
        s.seen_through = std::min(ticket.spent_through[w], spent_[w]);
        s.observed_seq = ticket.seq;
        s.virtual_start = detail::pacer_min_ns;
    }
    if (!refused) {
        if (status < 400)
            for (auto& s : windows_) {
                s.reserve *= 1.0 - options_.reserve_decay;
                s.bias *= 1.0 - options_.reserve_decay;
            }
        return;
    }
    ++refusals_;
    bool waits_for_reset = false;
    for (std::size_t w = 0; w < window_count; ++w)
        waits_for_reset |= implicated[w] && windows_[w].known && windows_[w].reset_at > t;
    std::int64_t wait = 0;
    if (report.retry_after)
        wait = report.retry_after->count();
    else if (!waits_for_reset)
        wait = options_.refusal_backoff.count();
    wait = std::min(wait, options_.max_wait.count());
    blocked_until_ = std::max(blocked_until_, detail::pacer_add_ns(t, wait));
    // The refusal is the server's own word that nothing was left, whatever lagging headers
    // said: the budgets it concerns are spent, until its Retry-After where it names one.
    // From there an assumed window is paced at its long-run rate, never caught up on.
    for (std::size_t w = 0; w < window_count; ++w) {
        window_state& s = windows_[w];
        if (!implicated[w] || !s.known || ticket.seq < s.observed_seq) continue;
        s.remaining = 0;
        s.seen_through = std::min(ticket.spent_through[w], spent_[w]);
        s.observed_seq = ticket.seq;
        s.virtual_start = detail::pacer_min_ns;
        if (report.retry_after) s.reset_at = detail::pacer_add_ns(t, wait);
    }
    // Learn once per burst: requests sent before the last refusal was seen are refused for
    // the same reason.
    if (ticket.seq <= last_refusal_seq_) return;
    last_refusal_seq_ = seq_;
    for (std::size_t w = 0; w < window_count; ++w) {
        window_state& s = windows_[w];
        if (implicated[w] && s.known)
            s.reserve = std::min(options_.max_reserve, s.reserve + options_.refusal_reserve);
    }
}

template <class Clock>
window_view pacer<Clock>::view(window w, time_point now) const noexcept {
    const auto i = static_cast<std::size_t>(w);
    const window_state& s = windows_[i];
    window_view v;
    v.known = s.known;
    v.limit = s.limit;
    v.reserve = s.reserve;
    v.bias = s.bias;
    const std::int64_t t = ns(now);
    const budget_at b = budget(i, t);
    if (!b.bounded) {
        v.pace = std::numeric_limits<double>::infinity();
        return v;
    }
    v.budget = b.budget;
    // end > t; unsigned, as two far-apart instants can differ by more than int64 holds.
    const std::uint64_t left = static_cast<std::uint64_t>(b.end) - static_cast<std::uint64_t>(t);
    v.until_reset = std::chrono::nanoseconds(
        static_cast<std::int64_t>(std::min<std::uint64_t>(left, detail::pacer_max_ns)));
    if (b.budget > 0 && left > 0)
        v.pace = (1.0 - options_.margin) * b.budget * 1e9 / static_cast<double>(left);
    return v;
}

} // namespace faultline::limit

#endif

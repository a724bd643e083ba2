#ifndef FAULTLINE_LIMIT_PACER_HPP
#define FAULTLINE_LIMIT_PACER_HPP

#include <faultline/detail/config.hpp>

// Client-side pacing from the provider's rate-limit headers: every response (a success or a
// 429) says how much of each window is left and when it resets; the pacer spreads what is left
// over the time left, so a steady client stays under the provider's limit instead of finding it
// through 429s. Sans I/O: it reads headers and returns waits; time is always an argument.
//
//     using namespace faultline::limit;
//     pacer<> p;                                      // one per API key and client
//     const auto cost = request_cost::of(prompt_tokens, max_tokens);
//     pacer_ticket t;
//     while (!(t = p.reserve(cost, clock::now())))    // not yet: wait, then ask again
//         std::this_thread::sleep_for(t.wait);        // (or an Asio timer)
//     auto res = send(request);
//     p.observe(t, res.status, res.headers, clock::now());  // successes and 429s alike
//
// A request is reserved only when it may go at once: a client that asks again after waiting
// acts on the newest responses (a 429 that arrived meanwhile, a lower `remaining`), where one
// that booked a slot ahead would send into them.
//
// Headers read (names case-insensitive; `read_rate_limits`):
//   OpenAI     x-ratelimit-{limit,remaining,reset}-{requests,tokens}; reset is a Go duration
//              ("1s", "6m0s", "20ms", "1h2m3.5s").
//   Anthropic  anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
//              {limit,remaining,reset}; reset is an RFC 3339 time, read against the wall clock.
//   429s       retry-after-ms, then Retry-After (seconds or HTTP-date).
// A value that cannot be used is ignored and counted, with the typed reason of the first
// (`parse_error::invalid_rate_limit_count`, `invalid_duration`, `invalid_retry_after`); the other
// headers still count. Resets and Retry-After longer than `max_wait` are cut to it.
//
// The rule, per window (requests, tokens, input tokens, output tokens):
//   - budget B = remaining - what we reserved after the observed request (the headers cannot
//     count it yet: requests in flight, or sent after the response was generated) - what was
//     learnt from 429s (below); D = time until the window resets.
//   - requests are spaced cost * D / ((1 - margin) * B) apart: the rest of the budget spread
//     over the rest of the window. Against a token bucket (reset = time until full again) this
//     settles where the sending rate equals the refill rate, with the bucket about half full;
//     against a fixed window it spends the window evenly. When other clients share the key,
//     `remaining` falls faster and the spacing widens by itself.
//   - B below the request's cost: wait until the reset. Once a reset has passed with no newer
//     response, the window is assumed full again and paced at its long-run rate (limit over
//     the longest reset seen). A response whose window was already over when it came back
//     (headers lagging across a reset) changes nothing. A request above a window's limit is
//     not held for it: no wait makes it fit.
//   - a 429: wait its Retry-After (or `refusal_backoff`). The window it concerns (one the
//     headers show exhausted, else the one nearest exhaustion) counts as spent until then,
//     whatever lagging headers said, and is paced at its long-run rate after. Refused despite
//     `remaining` >= cost, the headers lag: that overstatement (at most `max_reserve` of the
//     limit) is learnt as a bias subtracted from later `remaining`s. Each refusal of a request sent
//     after the previous refusal holds back `refusal_reserve` more of the limit (up to
//     `max_reserve`). Every success releases `reserve_decay` of both.
//   - a response to an older request than one already observed says less than that one did
//     and is ignored for its windows.
// Nothing is paced until a response has reported a window, so a provider without these
// headers sees the client unchanged.
//
// Thread safety: a `pacer` is not thread-safe; serialise calls (a mutex or a strand).

#include <faultline/detail/headers.hpp>
#include <faultline/error.hpp>
#include <faultline/result.hpp>
#include <faultline/retry_after.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <system_error>

namespace faultline::limit {

/// The windows a provider reports. OpenAI reports `requests` and `tokens`; Anthropic all four.
enum class window : std::uint8_t { requests, tokens, input_tokens, output_tokens };
inline constexpr std::size_t window_count = 4;

/// The largest count `parse_rate_limit_count` accepts: 2^53, exact as a double.
inline constexpr std::uint64_t max_rate_limit_count = std::uint64_t{1} << 53;

/// A rate-limit count (`x-ratelimit-remaining-tokens: 149984`): decimal digits, surrounding
/// whitespace allowed, at most `max_rate_limit_count`. A sign, a fraction, garbage, an empty
/// value or a larger number: `parse_error::invalid_rate_limit_count`. Thread-safe.
[[nodiscard]] result<std::uint64_t> parse_rate_limit_count(std::string_view value) noexcept;

/// One window as one response reports it; a field is empty when its header was absent or
/// ignored.
struct window_report {
    std::optional<std::uint64_t> limit;
    std::optional<std::uint64_t> remaining;
    /// Time from the response until the window is full again (`max_wait` at most).
    std::optional<std::chrono::nanoseconds> reset;
};

/// What one response's rate-limit headers say. A plain value.
struct rate_limit_report {
    std::array<window_report, window_count> windows{};
    /// `retry-after-ms`, else `Retry-After` (`max_wait` at most).
    std::optional<std::chrono::nanoseconds> retry_after;
    /// Header values that were present but unusable, and ignored.
    unsigned ignored = 0;
    /// Why the first of them was ignored; empty when none was.
    std::error_code first_error;
    /// The lower-case name of that header (static storage); empty when none was.
    std::string_view first_ignored;

    [[nodiscard]] const window_report& operator[](window w) const noexcept {
        return windows[static_cast<std::size_t>(w)];
    }
};

/// Reads the rate-limit headers of a Beast `http::fields`, a range of name/value pairs, or
/// `no_headers`. `wall_now` is the wall-clock time for RFC 3339 and HTTP-date values; waits
/// longer than `max_wait` are cut to it. Thread-safe.
template <class Headers>
[[nodiscard]] rate_limit_report
read_rate_limits(const Headers& headers, std::chrono::system_clock::time_point wall_now,
                 std::chrono::nanoseconds max_wait = std::chrono::hours(24));

/// How a pacer behaves. A plain value.
struct pacer_options {
    /// Share of each observed budget left unspent: room for what the headers cannot show.
    /// In [0, 0.5].
    double margin = 0.02;
    /// Share of a window's limit held back more after each refusal. In [0, 0.5].
    double refusal_reserve = 0.02;
    /// The most of a window's limit held back after refusals, and the most a learnt header
    /// lag may count. In [0, 0.9].
    double max_reserve = 0.25;
    /// Share of the reserve released by every successful response. In [0, 1].
    double reserve_decay = 0.01;
    /// The longest wait the pacer asks for, however long a reset or Retry-After. > 0.
    std::chrono::nanoseconds max_wait = std::chrono::hours(24);
    /// The wait after a 429 that names no delay. In [0, max_wait].
    std::chrono::nanoseconds refusal_backoff = std::chrono::seconds(1);
};

/// Empty if `o` is usable; `std::errc::invalid_argument` otherwise (a share out of its range
/// or not finite, `max_wait <= 0`, `refusal_backoff` negative or above `max_wait`).
/// Thread-safe.
[[nodiscard]] std::error_code validate(const pacer_options& o) noexcept;

/// What one request counts against each window. A plain value.
struct request_cost {
    std::uint64_t tokens = 0;        ///< against `tokens` (OpenAI: prompt + max_tokens)
    std::uint64_t input_tokens = 0;  ///< against Anthropic `input-tokens`
    std::uint64_t output_tokens = 0; ///< against Anthropic `output-tokens` (max_tokens)

    /// A request of `input` prompt tokens allowed `max_output` completion tokens.
    [[nodiscard]] static constexpr request_cost of(std::uint64_t input,
                                                   std::uint64_t max_output) noexcept {
        const std::uint64_t sum = input > std::numeric_limits<std::uint64_t>::max() - max_output
                                      ? std::numeric_limits<std::uint64_t>::max()
                                      : input + max_output;
        return {sum, input, max_output};
    }
    /// `tokens` against every token window alike.
    [[nodiscard]] static constexpr request_cost flat(std::uint64_t tokens) noexcept {
        return {tokens, tokens, tokens};
    }
    /// The cost in `w`'s units: 1 for `requests`. Thread-safe.
    [[nodiscard]] constexpr std::uint64_t in(window w) const noexcept {
        switch (w) {
        case window::requests:
            return 1;
        case window::tokens:
            return tokens;
        case window::input_tokens:
            return input_tokens;
        case window::output_tokens:
            return output_tokens;
        }
        return 0;
    }
};

/// The answer to `reserve`: either a reserved request (`wait == 0`, true), whose response goes
/// to `observe`, or how long to wait before asking again (false, nothing reserved).
/// A plain value.
struct pacer_ticket {
    /// Zero when reserved; otherwise the time until the request may go, as things stand.
    std::chrono::nanoseconds wait{0};
    request_cost cost;
    /// Reservation order, from 1; 0 when nothing was reserved.
    std::uint64_t seq = 0;
    /// This pacer's cumulative cost per window, this request included.
    std::array<std::uint64_t, window_count> spent_through{};

    /// Whether the request was reserved and may be sent now.
    [[nodiscard]] explicit operator bool() const noexcept { return seq != 0; }
};

/// One window as the pacer sees it at some instant (for metrics and tests). A plain value.
struct window_view {
    bool known = false;      ///< a response has reported this window
    std::uint64_t limit = 0; ///< the last reported limit
    double budget = 0;       ///< what may still be spent before `until_reset` (after reserve)
    std::chrono::nanoseconds until_reset{0};
    double reserve = 0; ///< share of the limit held back after refusals
    /// How far the headers were seen to overstate `remaining` (a refusal despite them),
    /// subtracted from what they report.
    double bias = 0;
    /// The pace the rule allows now, in units per second; 0 when exhausted, infinity when
    /// unpaced.
    double pace = 0;
};

/// A client-side pacer for one API key (see the header comment). Not thread-safe.
template <class Clock = std::chrono::steady_clock>
class pacer {
public:
    using clock = Clock;
    using time_point = typename Clock::time_point;

    /// Throws `std::system_error` if `validate(options)` fails.
    explicit pacer(const pacer_options& options = {});

    /// If a request of `cost` may go at `now`, reserves it (counts it as sent: send it) and
    /// returns a true ticket for `observe`. Otherwise reserves nothing and returns the wait
    /// before asking again (`options.max_wait` at most).
    [[nodiscard]] pacer_ticket reserve(const request_cost& cost, time_point now) noexcept;

    /// How long from `now` until a request of `cost` may go, reserving nothing.
    [[nodiscard]] std::chrono::nanoseconds wait(const request_cost& cost,
                                                time_point now) const noexcept;

    /// Feeds the response to the request of `ticket` (a true one): its HTTP status and headers,
    /// received at `now`; `wall_now` reads RFC 3339 resets and HTTP-dates. Returns what the
    /// headers said. A request that got no response needs no call.
    template <class Headers>
    rate_limit_report
    observe(const pacer_ticket& ticket, unsigned status, const Headers& headers, time_point now,
            std::chrono::system_clock::time_point wall_now = std::chrono::system_clock::now());

    /// As `observe`, from headers already read.
    void observe(const pacer_ticket& ticket, unsigned status, const rate_limit_report& report,
                 time_point now) noexcept;

    /// Window `w` as the pacer sees it at `now`.
    [[nodiscard]] window_view view(window w, time_point now) const noexcept;

    /// 429s observed so far.
    [[nodiscard]] std::uint64_t refusals() const noexcept { return refusals_; }
    /// The options the pacer was built with.
    [[nodiscard]] const pacer_options& options() const noexcept { return options_; }

private:
    struct window_state {
        bool known = false;
        std::uint64_t limit = 0;
        std::uint64_t remaining = 0;
        std::int64_t reset_at = 0;      // ns on Clock
        std::int64_t period = 0;        // the longest reset seen, ns
        std::uint64_t seen_through = 0; // our cumulative cost the observation counted
        std::uint64_t observed_seq = 0;
        double reserve = 0;
        double bias = 0; // how far the headers were seen to overstate `remaining`
        std::int64_t virtual_start = std::numeric_limits<std::int64_t>::min();
        std::uint64_t virtual_base = 0; // our cumulative cost when that window began
        bool has_last = false;
        std::int64_t last_send = 0;
    };
    struct budget_at {
        bool bounded = false;
        double budget = 0;
        std::int64_t start = std::numeric_limits<std::int64_t>::min();
        std::int64_t end = 0;
    };

    [[nodiscard]] static std::int64_t ns(time_point t) noexcept;
    [[nodiscard]] budget_at budget(std::size_t w, std::int64_t at) const noexcept;
    [[nodiscard]] std::int64_t earliest(std::size_t w, std::uint64_t cost,
                                        std::int64_t at) const noexcept;
    [[nodiscard]] std::int64_t send_time(const request_cost& cost, std::int64_t now) const noexcept;

    pacer_options options_;
    std::array<window_state, window_count> windows_{};
    std::array<std::uint64_t, window_count> spent_{};
    std::uint64_t seq_ = 0;
    std::uint64_t last_refusal_seq_ = 0;
    std::uint64_t refusals_ = 0;
    std::int64_t blocked_until_ = std::numeric_limits<std::int64_t>::min();
};

} // namespace faultline::limit

#include <faultline/limit/impl/pacer.hpp>

#endif

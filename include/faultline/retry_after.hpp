#ifndef FAULTLINE_RETRY_AFTER_HPP
#define FAULTLINE_RETRY_AFTER_HPP

#include <faultline/detail/config.hpp>

// How long a server asks a client to wait: `Retry-After` (delta-seconds or HTTP-date),
// `retry-after-ms`, `x-ratelimit-reset-requests/tokens` ("6m0s", "1.5s", "20ms"), Anthropic's
// `anthropic-ratelimit-*-reset` (RFC 3339 times), Google's `google.rpc.RetryInfo.retryDelay` in
// the body and "Please try again in 1.4s" in an error message.
//
//     using namespace std::chrono;
//     auto d = faultline::parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now); //
//     result<milliseconds> auto r = faultline::parse_duration("6m0s"); // 360000 ms
//
// Every delay is rounded up to whole milliseconds: a client never comes back early.

#include <faultline/detail/headers.hpp>
#include <faultline/result.hpp>

#include <array>
#include <chrono>
#include <optional>
#include <string_view>

namespace faultline {

/// `Retry-After`: delta-seconds (digits; a decimal fraction such as "1.5" is also accepted, as
/// several servers send it) or an HTTP-date in any of the three forms of RFC 9110 (IMF-fixdate,
/// RFC 850, asctime), relative to `now`. A date in the past is 0 ms. Huge values, and dates
/// beyond what `system_clock::time_point` holds (after 2262 with 64-bit nanoseconds), saturate
/// at `milliseconds::max()`. Anything else: `parse_error::invalid_retry_after`. Thread-safe.
[[nodiscard]] result<std::chrono::milliseconds>
parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) noexcept;

/// `retry-after-ms`: non-negative decimal milliseconds ("1500", "1500.25").
/// Anything else: `parse_error::invalid_retry_after`. Thread-safe.
[[nodiscard]] result<std::chrono::milliseconds>
parse_retry_after_ms(std::string_view value) noexcept;

/// Go-style durations as sent in `x-ratelimit-reset-*` ("6m0s", "1.5s", "20ms", "1h2m3s",
/// "250us", "0") and protobuf Duration JSON ("30s", "0.5s"). Units h, m, s, ms, us, µs, ns.
/// Negative or malformed: `parse_error::invalid_duration`. Huge values saturate. Thread-safe.
[[nodiscard]] result<std::chrono::milliseconds> parse_duration(std::string_view value) noexcept;

/// An HTTP-date (IMF-fixdate, RFC 850 or asctime). `parse_error::invalid_retry_after` otherwise.
/// A date outside `system_clock::time_point`'s range saturates at its `max()` or `min()`.
/// Thread-safe.
[[nodiscard]] result<std::chrono::system_clock::time_point>
parse_http_date(std::string_view value) noexcept;

/// An RFC 3339 date-time as Anthropic sends in `anthropic-ratelimit-*-reset`
/// ("2025-01-15T14:24:00Z", "2025-01-15T14:24:00.5+01:00"), relative to `now`, rounded up to
/// whole milliseconds; a time in the past is 0 ms, one past `system_clock`'s range saturates.
/// Anything else: `parse_error::invalid_retry_after`. Thread-safe.
[[nodiscard]] result<std::chrono::milliseconds>
parse_rfc3339_delay(std::string_view value, std::chrono::system_clock::time_point now) noexcept;

/// The wait named in a human error message: the duration after "try again in" or "retry in"
/// ("Please try again in 1.4s", "in 20ms", "in 6m0s", "Please retry in 58.2s."), found
/// case-insensitively; the empty view when there is none. Go-style durations as in
/// `parse_duration`. Points into `message`. Thread-safe.
[[nodiscard]] std::string_view find_message_retry_delay(std::string_view message) noexcept;

/// The raw hint values of one response; an empty view means "absent".
struct retry_hints {
    std::string_view retry_after_ms;     ///< `retry-after-ms`
    std::string_view retry_after;        ///< `Retry-After`
    std::string_view body_retry_delay;   ///< Google `RetryInfo.retryDelay` ("30s")
    std::string_view reset_requests;     ///< `x-ratelimit-reset-requests`
    std::string_view reset_tokens;       ///< `x-ratelimit-reset-tokens`
    std::string_view remaining_requests; ///< `x-ratelimit-remaining-requests`
    std::string_view remaining_tokens;   ///< `x-ratelimit-remaining-tokens`
    /// `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset` (RFC 3339) and
    /// the matching `-remaining`, in that order. The `-limit` headers say nothing about a wait.
    std::array<std::string_view, 4> anthropic_reset{};
    std::array<std::string_view, 4> anthropic_remaining{};
    /// A duration from the error message ("1.4s"; see find_message_retry_delay).
    std::string_view message_retry_delay;
};

struct retry_after_options {
    std::chrono::system_clock::time_point now{}; ///< For HTTP-dates and RFC 3339 reset times.
    /// Longer hints are capped to this, so a hostile `Retry-After: 99999999` is 24 h, not
    /// three years; a retry policy decides what to do with a long wait.
    std::chrono::milliseconds max = std::chrono::hours(24);
    /// Whether `x-ratelimit-reset-*` and `anthropic-ratelimit-*-reset` count: they say when a
    /// window resets, which is a wait only for a rate-limited response.
    bool use_reset_headers = true;
};

/// The delay the server asks for, from the first source holding a valid value, in this order:
/// `retry-after-ms`, `Retry-After`, body `RetryInfo`, then the window resets
/// (`x-ratelimit-reset-*` and `anthropic-ratelimit-*-reset`: the longest of those whose
/// remaining count is 0, else the longest of all), then the message's "try again in". Invalid
/// values are skipped so the next source decides. Capped to `options.max`. Thread-safe.
[[nodiscard]] std::optional<std::chrono::milliseconds>
retry_after_from(const retry_hints& hints, const retry_after_options& options) noexcept;

/// Collects the hint headers (names matched case-insensitively) from a Beast `http::fields`,
/// a range of name/value pairs, or `no_headers`. The views point into `headers`.
template <class Headers>
[[nodiscard]] retry_hints collect_retry_hints(const Headers& headers);

} // namespace faultline

#include <faultline/impl/retry_after.hpp>

#endif

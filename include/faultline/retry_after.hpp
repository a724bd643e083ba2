#ifndef FAULTLINE_RETRY_AFTER_HPP
#define FAULTLINE_RETRY_AFTER_HPP

#include <faultline/detail/config.hpp>

// How long a server asks a client to wait: `Retry-After` (delta-seconds or HTTP-date),
// `retry-after-ms`, `x-ratelimit-reset-requests/tokens` ("6m0s", "1.5s", "20ms") and Google's
// `google.rpc.RetryInfo.retryDelay` in the body.
//
//     using namespace std::chrono;
//     auto d = faultline::parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now); //
//     result<milliseconds> auto r = faultline::parse_duration("6m0s"); // 360000 ms
//
// Every delay is rounded up to whole milliseconds: a client never comes back early.

#include <faultline/detail/headers.hpp>
#include <faultline/result.hpp>

#include <chrono>
#include <optional>
#include <string_view>

namespace faultline {

/// `Retry-After`: delta-seconds (digits; a decimal fraction such as "1.5" is also accepted, as
/// several servers send it) or an HTTP-date in any of the three forms of RFC 9110 (IMF-fixdate,
/// RFC 850, asctime), relative to `now`. A date in the past is 0 ms. Huge values saturate at
/// `milliseconds::max()`. Anything else: `error::invalid_retry_after`. Thread-safe.
[[nodiscard]] result<std::chrono::milliseconds>
parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) noexcept;

/// `retry-after-ms`: non-negative decimal milliseconds ("1500", "1500.25").
/// Anything else: `error::invalid_retry_after`. Thread-safe.
[[nodiscard]] result<std::chrono::milliseconds>
parse_retry_after_ms(std::string_view value) noexcept;

/// Go-style durations as sent in `x-ratelimit-reset-*` ("6m0s", "1.5s", "20ms", "1h2m3s",
/// "250us", "0") and protobuf Duration JSON ("30s", "0.5s"). Units h, m, s, ms, us, µs, ns.
/// Negative or malformed: `error::invalid_duration`. Huge values saturate. Thread-safe.
[[nodiscard]] result<std::chrono::milliseconds> parse_duration(std::string_view value) noexcept;

/// An HTTP-date (IMF-fixdate, RFC 850 or asctime). `error::invalid_retry_after` otherwise.
/// Thread-safe.
[[nodiscard]] result<std::chrono::system_clock::time_point>
parse_http_date(std::string_view value) noexcept;

/// The raw hint values of one response; an empty view means "absent".
struct retry_hints {
    std::string_view retry_after_ms;     ///< `retry-after-ms`
    std::string_view retry_after;        ///< `Retry-After`
    std::string_view body_retry_delay;   ///< Google `RetryInfo.retryDelay` ("30s")
    std::string_view reset_requests;     ///< `x-ratelimit-reset-requests`
    std::string_view reset_tokens;       ///< `x-ratelimit-reset-tokens`
    std::string_view remaining_requests; ///< `x-ratelimit-remaining-requests`
    std::string_view remaining_tokens;   ///< `x-ratelimit-remaining-tokens`
};

struct retry_after_options {
    std::chrono::system_clock::time_point now{}; ///< For HTTP-dates.
    /// Longer hints are capped to this, so a hostile `Retry-After: 99999999` is 24 h, not
    /// three years; a retry policy decides what to do with a long wait.
    std::chrono::milliseconds max = std::chrono::hours(24);
    /// Whether `x-ratelimit-reset-*` count: they say when a window resets, which is a wait
    /// only for a rate-limited response.
    bool use_reset_headers = true;
};

/// The delay the server asks for, from the first source holding a valid value, in this order:
/// `retry-after-ms`, `Retry-After`, body `RetryInfo`, then `x-ratelimit-reset-*` (the one whose
/// remaining count is 0; the longer one when both or neither say 0). Invalid values are skipped
/// so the next source decides. Capped to `options.max`. Thread-safe.
[[nodiscard]] std::optional<std::chrono::milliseconds>
retry_after_from(const retry_hints& hints, const retry_after_options& options) noexcept;

/// Collects the hint headers (names matched case-insensitively) from a Beast `http::fields`,
/// a range of name/value pairs, or `no_headers`. The views point into `headers`.
template <class Headers>
[[nodiscard]] retry_hints collect_retry_hints(const Headers& headers);

} // namespace faultline

#include <faultline/impl/retry_after.hpp>

#endif

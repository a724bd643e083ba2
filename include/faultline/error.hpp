#ifndef FAULTLINE_ERROR_HPP
#define FAULTLINE_ERROR_HPP

#include <faultline/detail/config.hpp>

// The error taxonomy: precise codes (`faultline::error`) and the coarse classes that drive
// policy (`faultline::category`), both usable as `std::error_code` / `std::error_condition`.
//
//     std::error_code ec = faultline::error::tpm_exceeded;
//     assert(ec == faultline::category::rate_limited);
//     assert(faultline::is_retryable(ec));
//     std::error_code io = std::make_error_code(std::errc::timed_out);
//     assert(io == faultline::category::timeout);
//
// Every code carries a default HTTP status, the OpenAI `type` and `code` strings a server
// puts on the wire, whether a client should retry it, and a one-line cause and fix.

#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>

namespace faultline {

/// Precise error codes. Each comment says when a client should retry.
enum class error : int {
    // --- failures an API server reports ------------------------------------------------
    invalid_request = 1,     ///< 400. Never retry: the same body fails the same way.
    authentication,          ///< 401. Never retry until the key is fixed.
    insufficient_quota,      ///< 402 (or 429). Never retry: balance, credit or quota is gone.
    spend_limit_exceeded,    ///< 429 or 402. Never retry: a per-key spend cap was reached.
    permission_denied,       ///< 403. Never retry: no access to this model or endpoint.
    not_found,               ///< 404. Never retry: wrong path.
    model_not_found,         ///< 404 (or 400). Never retry: unknown model id.
    context_length_exceeded, ///< 400 (or 413). Never retry: the input is too long.
    payload_too_large,       ///< 413. Never retry: the body is over the size cap.
    rate_limited,            ///< 429. Retry after Retry-After / with backoff.
    rpm_exceeded,            ///< 429, requests per minute. Retry after Retry-After.
    tpm_exceeded,            ///< 429, tokens per minute. Retry after Retry-After.
    concurrency_exceeded,    ///< 429, too many in flight. Retry once others finish.
    content_filter,          ///< 400. Never retry the same input.
    internal_error,          ///< 500. Retry with backoff.
    upstream_unavailable,    ///< 502/503. Retry with backoff or use another model.
    upstream_auth_failed,    ///< 502. Retry later: the gateway's upstream credential failed.
    no_available_channel,    ///< 503. Retry later; no upstream can serve the model now.
    upstream_timeout,        ///< 504. Retry with backoff.
    request_timeout,         ///< 408. Retry.
    conflict,                ///< 409. Retry after a short delay.
    overloaded,              ///< 529. Retry with backoff, or fall back to another provider.
    stream_interrupted,      ///< Error chunk inside a 200 stream. Retry if nothing was used yet.
    stream_truncated,        ///< Stream ended without a terminator. Retry if nothing was used.
    stream_timeout,          ///< Stream idle or total time limit hit. Retry if nothing was used.
    unknown,                 ///< Unrecognisable failure. Never retried by default.

    // --- the toolkit's own input errors --------------------------------------------------
    malformed_envelope,       ///< A body is not a recognisable error envelope.
    malformed_json,           ///< JSON that had to be valid is not.
    json_too_deep,            ///< JSON nested deeper than the configured limit.
    invalid_retry_after,      ///< A Retry-After-like value is not a valid delay.
    invalid_duration,         ///< A duration such as "6m0s" is not valid.
    header_too_long,          ///< A header value is longer than the configured limit.
    invalid_rate_limit_count, ///< An `x-ratelimit-*` / `anthropic-ratelimit-*` count is invalid.
    sse_line_too_long,        ///< An event-stream line is longer than `max_line`.
    sse_event_too_large,      ///< An event's data is larger than `max_event`.

    // --- limiter and retry decisions ----------------------------------------------------
    request_exceeds_burst,  ///< Asks more of a limiter than its burst. Never retry as is.
    retry_budget_exhausted, ///< The retry budget refused a retry. Do not retry now.
    circuit_open,           ///< The breaker for this upstream is open. Retry after cool-down.
    deadline_exceeded,      ///< The caller's overall deadline passed. Never retry.
    limiter_unavailable,    ///< The shared limiter store (Redis) cannot be reached. Retry.
    key_table_full,         ///< A keyed limiter holds max_keys live keys. Retry after the hint.

    // --- diagnostics of client configuration ------------------------------------------------
    base_url_duplicates_v1,      ///< Path has /v1/v1: the client added /v1 to a /v1 base URL.
    base_url_missing_v1,         ///< Path lacks /v1: the base URL should end in /v1.
    base_url_trailing_slash,     ///< Base URL ends with '/': paths come out as "//v1/...".
    base_url_whitespace,         ///< Base URL has whitespace or invisible characters.
    base_url_invalid,            ///< Base URL is not an absolute http(s) URL.
    api_key_empty,               ///< The API key is empty.
    api_key_whitespace,          ///< The API key has leading/trailing whitespace.
    api_key_invisible_character, ///< The API key holds an invisible or control character.
};

/// Coarse classes of failure: what a retry policy, a dashboard or a client branches on.
/// An `error_condition` enum: `ec == category::timeout` works for faultline codes and for
/// foreign transport errors (`std::errc::timed_out`, connection resets, Asio and Beast codes).
enum class category : int {
    invalid_request = 1,
    authentication,
    insufficient_quota,
    permission,
    not_found,
    context_length_exceeded,
    payload_too_large,
    rate_limited,
    server_error,
    upstream_unavailable,
    timeout,
    content_filter,
    overloaded,
    unknown,
};

/// Everything the taxonomy knows about one code.
struct error_info {
    error code;
    std::string_view name;      ///< The enumerator's name, e.g. "tpm_exceeded".
    category cat;               ///< The class it belongs to.
    unsigned status;            ///< Default HTTP status a server sends for it.
    std::string_view type;      ///< OpenAI `error.type` string.
    std::string_view wire_code; ///< OpenAI `error.code` string.
    bool retryable;             ///< Whether a client should retry it by default.
    std::string_view cause;     ///< One line: why it happens.
    std::string_view fix;       ///< One line: what to do about it.
};

/// The table of every code, in enumerator order. Thread-safe.
[[nodiscard]] std::span<const error_info> error_table() noexcept;

/// The table row of `e`; the `unknown` row for a value outside the enum. Thread-safe.
[[nodiscard]] const error_info& info(error e) noexcept;

/// The enumerator name of a category, e.g. "rate_limited". Thread-safe.
[[nodiscard]] std::string_view to_string(category c) noexcept;
/// The enumerator name of an error, e.g. "tpm_exceeded". Thread-safe.
[[nodiscard]] std::string_view to_string(error e) noexcept;

/// Looks up a code or category by its enumerator name. Thread-safe.
[[nodiscard]] bool from_string(std::string_view name, error& out) noexcept;
[[nodiscard]] bool from_string(std::string_view name, category& out) noexcept;

/// The `std::error_category` of `faultline::error`. Thread-safe.
[[nodiscard]] const std::error_category& error_category() noexcept;
/// The `std::error_category` of `faultline::category` conditions. Thread-safe.
[[nodiscard]] const std::error_category& condition_category() noexcept;

[[nodiscard]] std::error_code make_error_code(error e) noexcept;
[[nodiscard]] std::error_condition make_error_condition(category c) noexcept;

/// The class of any error code: faultline codes by the table, foreign transport codes by
/// equivalence (timeouts -> `timeout`, resets/refusals/EOF -> `upstream_unavailable`),
/// everything else `unknown`. Thread-safe.
[[nodiscard]] category category_of(const std::error_code& ec) noexcept;

/// Whether a client should retry after `ec`: the table for faultline codes; for foreign codes,
/// true exactly for transport timeouts and connection failures. Thread-safe.
[[nodiscard]] bool is_retryable(const std::error_code& ec) noexcept;

/// The taxonomy code `ec` is reported as, the one mapping both `render(ec)` (what a server
/// sends) and `to_failure(ec)` (what a client is told) use: a faultline code by its table row
/// (`info(e).code`); a foreign code by its class, so that code, class and retryability agree:
/// timeouts -> `upstream_timeout`, connection failures -> `upstream_unavailable`, anything else
/// -> `unknown` (500, not retried). Thread-safe.
[[nodiscard]] error wire_error(const std::error_code& ec) noexcept;

} // namespace faultline

template <>
struct std::is_error_code_enum<faultline::error> : std::true_type {};
template <>
struct std::is_error_condition_enum<faultline::category> : std::true_type {};

#include <faultline/impl/error.hpp>

#endif

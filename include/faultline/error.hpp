#ifndef FAULTLINE_ERROR_HPP
#define FAULTLINE_ERROR_HPP

#include <faultline/detail/config.hpp>

// The error taxonomy: precise codes in three domains, each its own `std::error_category` --
// `faultline::error` (what happened to a call: the wire errors, stream outcomes and limiter
// decisions), `faultline::parse_error` (input the toolkit could not read) and
// `faultline::config_error` (a client's configuration is wrong) -- and the coarse classes that
// drive policy (`faultline::category`), a `std::error_condition` every code maps to.
//
//     std::error_code ec = faultline::error::tpm_exceeded;
//     assert(ec == faultline::category::rate_limited);
//     assert(faultline::is_retryable(ec));
//     std::error_code io = std::make_error_code(std::errc::timed_out);
//     assert(io == faultline::category::timeout);
//
// Every `error` carries a default HTTP status, the OpenAI `type` and `code` strings a server
// puts on the wire, whether a client should retry it, and a one-line cause and fix. A
// `parse_error` or `config_error` carries its class, its cause and fix, and the `error` a call
// that met it is reported as; none has a status of its own.

#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>

namespace faultline {

/// What happened to a call: the failures an API server reports, the stream outcomes a client
/// sees, and the limiter and retry decisions a gateway answers with. Each has an HTTP status and
/// the OpenAI `type` and `code` strings a server puts on the wire. Each comment says when a
/// client should retry.
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
    duplicated_v1_path,      ///< 404. Never retry: the path has /v1 twice (see config_error).
    missing_v1_path,         ///< 404. Never retry: the path lacks /v1 (see config_error).
    unknown,                 ///< Unrecognisable failure. Never retried by default.

    // --- what a stream did ---------------------------------------------------------------
    stream_interrupted,  ///< Error chunk inside a 200 stream. Retry if nothing was used yet.
    stream_truncated,    ///< Stream ended without a terminator. Retry if nothing was used.
    stream_timeout,      ///< Stream idle or total time limit hit. Retry if nothing was used.
    malformed_json,      ///< A reply or event that had to be JSON is not. Never retried.
    sse_line_too_long,   ///< An event-stream line is longer than `max_line`. Never retried.
    sse_event_too_large, ///< An event's data is larger than `max_event`. Never retried.

    // --- limiter and retry decisions ----------------------------------------------------
    request_exceeds_burst,  ///< 429. Asks more of a limiter than its burst. Never retry as is.
    retry_budget_exhausted, ///< 503. The retry budget refused a retry. Do not retry now.
    circuit_open,           ///< 503. The upstream's breaker is open. Retry after cool-down.
    deadline_exceeded,      ///< 504. The caller's overall deadline passed. Never retry.
    limiter_unavailable,    ///< 503. The shared limiter store (Redis) is unreachable. Retry.
    key_table_full,         ///< 503. A keyed limiter holds max_keys live keys. Retry later.
};

/// Input the toolkit could not read: a body, header or value from a peer. Never sent on the wire
/// as such and never retried; each maps to a `category` and to the `error` a call that met it
/// is reported as (`wire_error`).
enum class parse_error : int {
    malformed_json = 1,       ///< Text that had to be JSON is not.
    malformed_envelope,       ///< A body is not a recognisable error envelope.
    json_too_deep,            ///< JSON nested deeper than the configured limit.
    invalid_retry_after,      ///< A Retry-After-like value is not a valid delay.
    invalid_duration,         ///< A duration such as "6m0s" is not valid.
    invalid_rate_limit_count, ///< An `x-ratelimit-*` / `anthropic-ratelimit-*` count is invalid.
};

/// A client's configuration is wrong (diagnose.hpp): found before or instead of a call. No HTTP
/// status of its own; each maps to a `category` and to the `error` a server answers a request
/// made with it (`wire_error`: a doubled /v1 -> `duplicated_v1_path`, 404).
enum class config_error : int {
    base_url_duplicates_v1 = 1,  ///< Path has /v1/v1: the client added /v1 to a /v1 base URL.
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

/// Everything the taxonomy knows about one `error`.
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

/// Everything the taxonomy knows about one `parse_error` or `config_error`: no status and no
/// wire strings of its own (those of `reported_as`); never retryable.
template <class Code>
struct local_error_info {
    Code code;
    std::string_view name;  ///< The enumerator's name, e.g. "invalid_retry_after".
    category cat;           ///< The class it belongs to.
    error reported_as;      ///< The `error` a call that met it is reported as.
    std::string_view cause; ///< One line: why it happens.
    std::string_view fix;   ///< One line: what to do about it.
};
using parse_error_info = local_error_info<parse_error>;
using config_error_info = local_error_info<config_error>;

/// The table of every code, in enumerator order. Thread-safe.
[[nodiscard]] std::span<const error_info> error_table() noexcept;
[[nodiscard]] std::span<const parse_error_info> parse_error_table() noexcept;
[[nodiscard]] std::span<const config_error_info> config_error_table() noexcept;

/// The table row of `e`; for a value outside the enum, the `unknown` row (`error`) or the
/// first row. Thread-safe.
[[nodiscard]] const error_info& info(error e) noexcept;
[[nodiscard]] const parse_error_info& info(parse_error e) noexcept;
[[nodiscard]] const config_error_info& info(config_error e) noexcept;

/// The enumerator name of a category, e.g. "rate_limited". Thread-safe.
[[nodiscard]] std::string_view to_string(category c) noexcept;
/// The enumerator name of a code, e.g. "tpm_exceeded"; "unknown" outside the enum.
/// Thread-safe.
[[nodiscard]] std::string_view to_string(error e) noexcept;
[[nodiscard]] std::string_view to_string(parse_error e) noexcept;
[[nodiscard]] std::string_view to_string(config_error e) noexcept;

/// Looks up a code or category by its enumerator name. Thread-safe.
[[nodiscard]] bool from_string(std::string_view name, error& out) noexcept;
[[nodiscard]] bool from_string(std::string_view name, parse_error& out) noexcept;
[[nodiscard]] bool from_string(std::string_view name, config_error& out) noexcept;
[[nodiscard]] bool from_string(std::string_view name, category& out) noexcept;

/// The `std::error_category` of `faultline::error` ("faultline"). Thread-safe.
[[nodiscard]] const std::error_category& error_category() noexcept;
/// The `std::error_category` of `parse_error` ("faultline.parse"). Thread-safe.
[[nodiscard]] const std::error_category& parse_error_category() noexcept;
/// The `std::error_category` of `config_error` ("faultline.config"). Thread-safe.
[[nodiscard]] const std::error_category& config_error_category() noexcept;
/// The `std::error_category` of `faultline::category` conditions. Thread-safe.
[[nodiscard]] const std::error_category& condition_category() noexcept;

[[nodiscard]] std::error_code make_error_code(error e) noexcept;
[[nodiscard]] std::error_code make_error_code(parse_error e) noexcept;
[[nodiscard]] std::error_code make_error_code(config_error e) noexcept;
[[nodiscard]] std::error_condition make_error_condition(category c) noexcept;

/// The class of any error code: faultline codes (of the three enums) by their tables, foreign
/// transport codes by equivalence (timeouts -> `timeout`, resets/refusals/EOF ->
/// `upstream_unavailable`), everything else `unknown`. Thread-safe.
[[nodiscard]] category category_of(const std::error_code& ec) noexcept;

/// Whether a client should retry after `ec`: the table for `error` codes, never for
/// `parse_error` and `config_error`; for foreign codes, true exactly for transport timeouts and
/// connection failures. Thread-safe.
[[nodiscard]] bool is_retryable(const std::error_code& ec) noexcept;

/// The taxonomy code `ec` is reported as, the one mapping both `render(ec)` (what a server
/// sends) and `to_failure(ec)` (what a client is told) use: an `error` as itself; a
/// `parse_error` or `config_error` as its row's `reported_as`; a foreign code by its class, so that
/// code, class and retryability agree: timeouts -> `upstream_timeout`, connection failures ->
/// `upstream_unavailable`, anything else
/// -> `unknown` (500, not retried). Thread-safe.
[[nodiscard]] error wire_error(const std::error_code& ec) noexcept;

} // namespace faultline

template <>
struct std::is_error_code_enum<faultline::error> : std::true_type {};
template <>
struct std::is_error_code_enum<faultline::parse_error> : std::true_type {};
template <>
struct std::is_error_code_enum<faultline::config_error> : std::true_type {};
template <>
struct std::is_error_condition_enum<faultline::category> : std::true_type {};

#include <faultline/impl/error.hpp>

#endif

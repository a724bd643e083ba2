#ifndef FAULTLINE_IMPL_ERROR_HPP
#define FAULTLINE_IMPL_ERROR_HPP

#include <array>
#include <cerrno>
#include <string>

namespace faultline {
namespace detail {

// One row per enumerator, in enumerator order (checked below and by the table tests).
inline constexpr std::array<error_info, 37> error_rows{{
    {error::invalid_request, "invalid_request", category::invalid_request, 400,
     "invalid_request_error", "invalid_request", false,
     "Malformed JSON, unknown field, unsupported parameter or value out of range.",
     "Fix the request body: remove optional fields and check the model's supported parameters."},
    {error::authentication, "authentication", category::authentication, 401, "authentication_error",
     "invalid_api_key", false, "The API key is missing, malformed, revoked or expired.",
     "Send 'Authorization: Bearer <key>' with a valid key free of stray whitespace."},
    {error::insufficient_quota, "insufficient_quota", category::insufficient_quota, 402,
     "insufficient_quota", "insufficient_quota", false,
     "Not enough balance, credit or quota on the account.",
     "Top up credit or raise the quota, or reduce the request."},
    {error::spend_limit_exceeded, "spend_limit_exceeded", category::insufficient_quota, 429,
     "invalid_request_error", "spend_limit_exceeded", false,
     "A per-key or organisation spend limit (budget) was reached.",
     "Raise the key's spend cap in settings, or ask the organisation admin."},
    {error::permission_denied, "permission_denied", category::permission, 403, "permission_error",
     "permission_denied", false,
     "The key or account may not use this model or endpoint, or needs verification.",
     "Pick a permitted model (GET /v1/models) and check the account status."},
    {error::not_found, "not_found", category::not_found, 404, "invalid_request_error", "not_found",
     false, "The request path does not match a known route.",
     "Check the URL path: /v1 missing or doubled is the usual cause."},
    {error::model_not_found, "model_not_found", category::not_found, 404, "invalid_request_error",
     "model_not_found", false, "The model id is unknown or not available to this key.",
     "Use the exact model id listed by GET /v1/models."},
    {error::context_length_exceeded, "context_length_exceeded", category::context_length_exceeded,
     400, "invalid_request_error", "context_length_exceeded", false,
     "The messages plus max_tokens exceed the model's context window.",
     "Shorten the messages or max_tokens, or use a larger-context model."},
    {error::payload_too_large, "payload_too_large", category::payload_too_large, 413,
     "invalid_request_error", "payload_too_large", false,
     "The request body exceeds the server's size cap (audio uploads, large images).",
     "Shorten or split the upload."},
    {error::rate_limited, "rate_limited", category::rate_limited, 429, "rate_limit_error",
     "rate_limit_exceeded", true,
     "A requests, tokens or concurrency limit was reached (key, user or upstream level).",
     "Wait for Retry-After and back off with jitter; lower concurrency or add channels."},
    {error::rpm_exceeded, "rpm_exceeded", category::rate_limited, 429, "rate_limit_error",
     "rpm_exceeded", true, "Too many requests per minute for this key, user or upstream.",
     "Wait for Retry-After and back off; ask for a higher requests-per-minute limit."},
    {error::tpm_exceeded, "tpm_exceeded", category::rate_limited, 429, "rate_limit_error",
     "tpm_exceeded", true, "Too many tokens per minute for this key, user or upstream.",
     "Wait for Retry-After; send fewer or smaller requests per minute."},
    {error::concurrency_exceeded, "concurrency_exceeded", category::rate_limited, 429,
     "rate_limit_error", "concurrency_exceeded", true,
     "Too many requests in flight at once for this key or user.",
     "Lower the number of parallel requests, or retry once others finish."},
    {error::content_filter, "content_filter", category::content_filter, 400,
     "invalid_request_error", "content_filter", false,
     "The prompt or completion was blocked by a content policy.",
     "Rephrase the input; the same request will be blocked again."},
    {error::internal_error, "internal_error", category::server_error, 500, "api_error",
     "internal_error", true, "Internal error or unexpected provider response.",
     "Retry with backoff; report the event_id if it persists."},
    {error::upstream_unavailable, "upstream_unavailable", category::upstream_unavailable, 502,
     "upstream_error", "upstream_unavailable", true,
     "The upstream provider is temporarily unavailable or overloaded.",
     "Retry with backoff, or choose another model."},
    {error::upstream_auth_failed, "upstream_auth_failed", category::upstream_unavailable, 502,
     "upstream_error", "upstream_auth_failed", true,
     "The gateway's credential exchange with the upstream provider failed.",
     "Retry later; administrators: check the channel's upstream credentials."},
    {error::no_available_channel, "no_available_channel", category::upstream_unavailable, 503,
     "upstream_error", "no_available_channel", true,
     "No upstream channel or provider is available to serve the model.",
     "Check the model id or retry later; administrators: add or re-enable channels."},
    {error::upstream_timeout, "upstream_timeout", category::timeout, 504, "upstream_error",
     "upstream_timeout", true, "The upstream provider did not respond in time.",
     "Retry with backoff; stream long generations or raise the timeout."},
    {error::request_timeout, "request_timeout", category::timeout, 408, "timeout_error",
     "request_timeout", true, "The server timed out waiting for the request.",
     "Retry; check the client's network and upload speed."},
    {error::conflict, "conflict", category::server_error, 409, "api_error", "conflict", true,
     "A conflicting operation was in progress on the server (e.g. a lock timeout).",
     "Retry after a short delay."},
    {error::overloaded, "overloaded", category::overloaded, 529, "overloaded_error", "overloaded",
     true, "The provider is temporarily overloaded.",
     "Retry with backoff, or fall back to another model or provider."},
    {error::duplicated_v1_path, "duplicated_v1_path", category::not_found, 404,
     "invalid_request_error", "duplicated_v1_path", false,
     "The path holds /v1 twice (/v1/v1/...): the base URL ends in /v1 and the client added "
     "another.",
     "Keep one /v1 in the base URL (config_error::base_url_duplicates_v1 says which)."},
    {error::missing_v1_path, "missing_v1_path", category::not_found, 404, "invalid_request_error",
     "missing_v1_path", false,
     "The path lacks /v1 (/chat/completions): the base URL does not end in /v1.",
     "End the base URL in /v1 (config_error::base_url_missing_v1 says which)."},
    {error::unknown, "unknown", category::unknown, 500, "api_error", "unknown", false,
     "The failure could not be recognised.", "Inspect the raw response; report it if it recurs."},
    {error::stream_interrupted, "stream_interrupted", category::server_error, 502, "upstream_error",
     "stream_error", true, "An error chunk arrived after the stream had started.",
     "Retry if no content was used yet; otherwise surface the error."},
    {error::stream_truncated, "stream_truncated", category::server_error, 502, "upstream_error",
     "stream_truncated", true,
     "The stream ended without [DONE] or an error (streaming timeout, proxy or upstream cut it).",
     "Raise the gateway's STREAMING_TIMEOUT, check proxies and upstream logs, then retry."},
    {error::stream_timeout, "stream_timeout", category::timeout, 504, "timeout_error",
     "stream_timeout", true,
     "No stream data within the idle timeout, or the total streaming time ran out.",
     "Raise the idle or total stream timeout (e.g. STREAMING_TIMEOUT), or generate less."},
    {error::malformed_json, "malformed_json", category::unknown, 502, "api_error", "malformed_json",
     false, "Text that had to be JSON is not valid JSON.",
     "Inspect the raw bytes: the peer sent invalid or cut-off JSON."},
    {error::sse_line_too_long, "sse_line_too_long", category::server_error, 502, "api_error",
     "sse_line_too_long", false,
     "An event-stream line is longer than max_line (e.g. a large base64 image on one line).",
     "Raise max_line, the stream scanner's line buffer; it costs memory per open stream."},
    {error::sse_event_too_large, "sse_event_too_large", category::server_error, 502, "api_error",
     "sse_event_too_large", false, "An event's data is larger than max_event.",
     "Raise max_event; it costs memory per open stream."},
    {error::request_exceeds_burst, "request_exceeds_burst", category::rate_limited, 429,
     "rate_limit_error", "request_too_large", false,
     "The request needs more than the limit's burst, so it can never be admitted.",
     "Split the request, or raise the limit's burst."},
    {error::retry_budget_exhausted, "retry_budget_exhausted", category::unknown, 503, "api_error",
     "retry_budget_exhausted", false,
     "Retries already make up the allowed share of recent requests.",
     "Surface the failure; the budget refills as requests succeed."},
    {error::circuit_open, "circuit_open", category::upstream_unavailable, 503, "upstream_error",
     "circuit_open", true, "The upstream failed repeatedly and its circuit breaker is open.",
     "Retry after the cool-down, or use another channel."},
    {error::deadline_exceeded, "deadline_exceeded", category::timeout, 504, "timeout_error",
     "deadline_exceeded", false, "The caller's overall deadline passed before success.",
     "Raise the deadline, or make the operation faster."},
    {error::limiter_unavailable, "limiter_unavailable", category::server_error, 503, "api_error",
     "limiter_unavailable", true, "The shared rate-limit store (Redis) cannot be reached.",
     "Check the Redis server and network; the limiter's fail policy decides meanwhile."},
    {error::key_table_full, "key_table_full", category::overloaded, 503, "api_error",
     "key_table_full", true,
     "The limiter already tracks as many keys as it may (max_keys) and none of them is idle.",
     "Retry after Retry-After (keys go idle as their buckets refill), or raise max_keys."},
}};

inline constexpr std::array<parse_error_info, 6> parse_error_rows{{
    {parse_error::malformed_json, "malformed_json", category::unknown, error::malformed_json,
     "Text that had to be JSON is not valid JSON.",
     "Inspect the raw bytes: the peer sent invalid or cut-off JSON."},
    {parse_error::malformed_envelope, "malformed_envelope", category::unknown, error::unknown,
     "A body is not a recognisable error envelope.",
     "Inspect the raw body: a proxy may have answered with HTML or text."},
    {parse_error::json_too_deep, "json_too_deep", category::unknown, error::unknown,
     "JSON is nested deeper than the configured limit.",
     "Raise the depth limit only if the peer is trusted."},
    {parse_error::invalid_retry_after, "invalid_retry_after", category::unknown, error::unknown,
     "A Retry-After value is neither delta-seconds nor an HTTP-date.",
     "Ignore the hint and use computed backoff; report the server's header."},
    {parse_error::invalid_duration, "invalid_duration", category::unknown, error::unknown,
     "A duration such as \"6m0s\", \"1.5s\" or \"20ms\" is not valid.",
     "Ignore the hint and use computed backoff."},
    {parse_error::invalid_rate_limit_count, "invalid_rate_limit_count", category::unknown,
     error::unknown,
     "A rate-limit count (x-ratelimit-remaining-*, anthropic-ratelimit-*-limit, ...) is not a "
     "non-negative integer within range.",
     "Ignore the header and pace from the others; report the server's header."},
}};

inline constexpr std::array<config_error_info, 8> config_error_rows{{
    {config_error::base_url_duplicates_v1, "base_url_duplicates_v1", category::not_found,
     error::duplicated_v1_path,
     "The path holds /v1 twice (/v1/v1/...): the base URL ends in /v1 and the client added "
     "another.",
     "Keep one /v1: the OpenAI SDKs add only /chat/completions, so their base URL ends in /v1; a "
     "client that adds /v1 itself takes the server root."},
    {config_error::base_url_missing_v1, "base_url_missing_v1", category::not_found,
     error::missing_v1_path,
     "The path lacks /v1 (/chat/completions): the base URL does not end in /v1 and the client "
     "adds only the endpoint, as the OpenAI SDKs do.",
     "End the base URL in /v1, e.g. https://api.openai.com/v1 or http://localhost:11434/v1."},
    {config_error::base_url_trailing_slash, "base_url_trailing_slash", category::not_found,
     error::not_found, "The base URL ends with '/', so paths come out as '//v1/...'.",
     "Remove the trailing slash from the base URL."},
    {config_error::base_url_whitespace, "base_url_whitespace", category::invalid_request,
     error::invalid_request, "The base URL holds whitespace or invisible characters.",
     "Retype the base URL; remove spaces, tabs and invisible characters."},
    {config_error::base_url_invalid, "base_url_invalid", category::invalid_request,
     error::invalid_request, "The base URL is not an absolute http:// or https:// URL.",
     "Use a URL such as https://api.example.com."},
    {config_error::api_key_empty, "api_key_empty", category::authentication, error::authentication,
     "No API key was given.", "Set the key and send 'Authorization: Bearer <key>'."},
    {config_error::api_key_whitespace, "api_key_whitespace", category::authentication,
     error::authentication, "The API key has leading or trailing whitespace or a line break.",
     "Paste the key again without surrounding spaces or newlines."},
    {config_error::api_key_invisible_character, "api_key_invisible_character",
     category::authentication, error::authentication,
     "The API key holds an invisible or control character (often copied from a dashboard).",
     "Retype the key, or remove zero-width and non-ASCII characters."},
}};

template <class Rows>
inline constexpr bool rows_in_order(const Rows& rows) noexcept {
    for (std::size_t i = 0; i < rows.size(); ++i)
        if (static_cast<std::size_t>(rows[i].code) != i + 1) return false;
    return true;
}
static_assert(rows_in_order(error_rows), "error_rows must list every error in enumerator order");
static_assert(static_cast<std::size_t>(error::key_table_full) == error_rows.size());
static_assert(rows_in_order(parse_error_rows), "parse_error_rows must follow the enumerators");
static_assert(static_cast<std::size_t>(parse_error::invalid_rate_limit_count) ==
              parse_error_rows.size());
static_assert(rows_in_order(config_error_rows), "config_error_rows must follow the enumerators");
static_assert(static_cast<std::size_t>(config_error::api_key_invisible_character) ==
              config_error_rows.size());

inline constexpr std::array<std::string_view, 14> category_names{
    "invalid_request",      "authentication", "insufficient_quota",
    "permission",           "not_found",      "context_length_exceeded",
    "payload_too_large",    "rate_limited",   "server_error",
    "upstream_unavailable", "timeout",        "content_filter",
    "overloaded",           "unknown"};
static_assert(static_cast<std::size_t>(category::unknown) == category_names.size());

template <class Rows>
[[nodiscard]] inline bool in_table(const Rows& rows, int v) noexcept {
    return v >= 1 && static_cast<std::size_t>(v) <= rows.size();
}

// Foreign codes: the transport failures a client sees before any HTTP status.
[[nodiscard]] inline category foreign_category(const std::error_code& ec) noexcept {
    const std::error_condition cond = ec.default_error_condition();
    if (cond.category() == std::generic_category()) {
        switch (cond.value()) {
        case ETIMEDOUT:
            return category::timeout;
        case ECONNRESET:
        case ECONNREFUSED:
        case ECONNABORTED:
        case EPIPE:
        case ENETUNREACH:
        case ENETDOWN:
        case ENETRESET:
        case EHOSTUNREACH:
        case EHOSTDOWN:
        case ENOTCONN:
            return category::upstream_unavailable;
        default:
            return category::unknown;
        }
    }
    // Boost categories arrive wrapped in std categories that keep their names.
    const std::string_view name = ec.category().name();
    const int v = ec.value();
    if (name == "asio.misc" && v == 2) // asio::error::eof: the peer closed the connection
        return category::upstream_unavailable;
    if (name == "asio.netdb") // host not found, try again, ...
        return category::upstream_unavailable;
    if (name == "boost.beast" && v == 1) // beast::error::timeout
        return category::timeout;
    if (name == "beast.http" && (v == 1 || v == 2)) // end_of_stream, partial_message
        return category::upstream_unavailable;
    return category::unknown;
}

// One category per domain. A value outside its enum reads as unknown, not retryable.
class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "faultline"; }
    std::string message(int v) const override {
        if (!in_table(error_rows, v)) return "faultline: unknown error";
        return std::string(error_rows[static_cast<std::size_t>(v - 1)].cause);
    }
    std::error_condition default_error_condition(int v) const noexcept override {
        if (!in_table(error_rows, v))
            return {static_cast<int>(category::unknown), condition_category()};
        return {static_cast<int>(error_rows[static_cast<std::size_t>(v - 1)].cat),
                condition_category()};
    }
};

template <const auto& Rows>
class local_error_category_impl final : public std::error_category {
public:
    explicit local_error_category_impl(const char* name) noexcept
        : name_(name) {}
    const char* name() const noexcept override { return name_; }
    std::string message(int v) const override {
        if (!in_table(Rows, v)) return std::string(name_) + ": unknown error";
        return std::string(Rows[static_cast<std::size_t>(v - 1)].cause);
    }
    std::error_condition default_error_condition(int v) const noexcept override {
        if (!in_table(Rows, v)) return {static_cast<int>(category::unknown), condition_category()};
        return {static_cast<int>(Rows[static_cast<std::size_t>(v - 1)].cat), condition_category()};
    }

private:
    const char* name_;
};

// The row of `ec` when it is one of the two local domains; null otherwise.
template <class Info, const auto& Rows>
[[nodiscard]] inline const Info* local_row(const std::error_code& ec,
                                           const std::error_category& cat) noexcept {
    if (ec.category() != cat || !in_table(Rows, ec.value())) return nullptr;
    return &Rows[static_cast<std::size_t>(ec.value() - 1)];
}

class condition_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "faultline.category"; }
    std::string message(int v) const override {
        if (v < 1 || static_cast<std::size_t>(v) > category_names.size())
            return "faultline: unknown category";
        return std::string(category_names[static_cast<std::size_t>(v - 1)]);
    }
    bool equivalent(const std::error_code& ec, int cond) const noexcept override {
        return static_cast<int>(category_of(ec)) == cond;
    }
};

} // namespace detail

inline std::span<const error_info> error_table() noexcept {
    return detail::error_rows;
}
inline std::span<const parse_error_info> parse_error_table() noexcept {
    return detail::parse_error_rows;
}
inline std::span<const config_error_info> config_error_table() noexcept {
    return detail::config_error_rows;
}

inline const error_info& info(error e) noexcept {
    const int v = static_cast<int>(e);
    return detail::error_rows[static_cast<std::size_t>(
        (detail::in_table(detail::error_rows, v) ? v : static_cast<int>(error::unknown)) - 1)];
}
inline const parse_error_info& info(parse_error e) noexcept {
    const int v = static_cast<int>(e);
    return detail::parse_error_rows[static_cast<std::size_t>(
        detail::in_table(detail::parse_error_rows, v) ? v - 1 : 0)];
}
inline const config_error_info& info(config_error e) noexcept {
    const int v = static_cast<int>(e);
    return detail::config_error_rows[static_cast<std::size_t>(
        detail::in_table(detail::config_error_rows, v) ? v - 1 : 0)];
}

inline std::string_view to_string(category c) noexcept {
    const int v = static_cast<int>(c);
    if (v < 1 || static_cast<std::size_t>(v) > detail::category_names.size()) return "unknown";
    return detail::category_names[static_cast<std::size_t>(v - 1)];
}

inline std::string_view to_string(error e) noexcept {
    return info(e).name;
}
inline std::string_view to_string(parse_error e) noexcept {
    return detail::in_table(detail::parse_error_rows, static_cast<int>(e)) ? info(e).name
                                                                           : "unknown";
}
inline std::string_view to_string(config_error e) noexcept {
    return detail::in_table(detail::config_error_rows, static_cast<int>(e)) ? info(e).name
                                                                            : "unknown";
}

namespace detail {
template <class Rows, class Code>
[[nodiscard]] inline bool find_name(const Rows& rows, std::string_view name, Code& out) noexcept {
    for (const auto& row : rows)
        if (row.name == name) {
            out = row.code;
            return true;
        }
    return false;
}
} // namespace detail

inline bool from_string(std::string_view name, error& out) noexcept {
    return detail::find_name(detail::error_rows, name, out);
}
inline bool from_string(std::string_view name, parse_error& out) noexcept {
    return detail::find_name(detail::parse_error_rows, name, out);
}
inline bool from_string(std::string_view name, config_error& out) noexcept {
    return detail::find_name(detail::config_error_rows, name, out);
}

inline bool from_string(std::string_view name, category& out) noexcept {
    for (std::size_t i = 0; i < detail::category_names.size(); ++i)
        if (detail::category_names[i] == name) {
            out = static_cast<category>(i + 1);
            return true;
        }
    return false;
}

inline const std::error_category& error_category() noexcept {
    static const detail::error_category_impl instance;
    return instance;
}
inline const std::error_category& parse_error_category() noexcept {
    static const detail::local_error_category_impl<detail::parse_error_rows> instance(
        "faultline.parse");
    return instance;
}
inline const std::error_category& config_error_category() noexcept {
    static const detail::local_error_category_impl<detail::config_error_rows> instance(
        "faultline.config");
    return instance;
}

inline const std::error_category& condition_category() noexcept {
    static const detail::condition_category_impl instance;
    return instance;
}

inline std::error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), error_category()};
}
inline std::error_code make_error_code(parse_error e) noexcept {
    return {static_cast<int>(e), parse_error_category()};
}
inline std::error_code make_error_code(config_error e) noexcept {
    return {static_cast<int>(e), config_error_category()};
}

inline std::error_condition make_error_condition(category c) noexcept {
    return {static_cast<int>(c), condition_category()};
}

inline category category_of(const std::error_code& ec) noexcept {
    if (ec.category() == error_category()) return info(static_cast<error>(ec.value())).cat;
    if (ec.category() == parse_error_category() || ec.category() == config_error_category())
        return static_cast<category>(ec.default_error_condition().value());
    return detail::foreign_category(ec);
}

inline bool is_retryable(const std::error_code& ec) noexcept {
    if (ec.category() == error_category()) return info(static_cast<error>(ec.value())).retryable;
    if (ec.category() == parse_error_category() || ec.category() == config_error_category())
        return false;
    const category c = detail::foreign_category(ec);
    return c == category::timeout || c == category::upstream_unavailable;
}

inline error wire_error(const std::error_code& ec) noexcept {
    if (ec.category() == error_category()) return info(static_cast<error>(ec.value())).code;
    if (const auto* row = detail::local_row<parse_error_info, detail::parse_error_rows>(
            ec, parse_error_category()))
        return row->reported_as;
    if (const auto* row = detail::local_row<config_error_info, detail::config_error_rows>(
            ec, config_error_category()))
        return row->reported_as;
    if (ec.category() == parse_error_category() || ec.category() == config_error_category())
        return error::unknown;
    switch (detail::foreign_category(ec)) {
    case category::timeout:
        return error::upstream_timeout;
    case category::upstream_unavailable:
        return error::upstream_unavailable;
    default:
        return error::unknown;
    }
}

} // namespace faultline

#endif

#ifndef FAULTLINE_HTTP_STATUS_HPP
#define FAULTLINE_HTTP_STATUS_HPP

#include <faultline/detail/config.hpp>

// HTTP status codes <-> the taxonomy, and reason phrases.
//
//     faultline::error e = faultline::error_from_status(529);   // error::overloaded
//     std::string_view r = faultline::reason_phrase(503);       // "Service Unavailable"
//
// The mapping is what a client assumes when a body tells it nothing more: 400 -> invalid_request,
// 401 -> authentication, 402 -> insufficient_quota, 403 -> permission_denied, 404 -> not_found,
// 408 -> request_timeout, 409 -> conflict, 413 -> payload_too_large, 429 -> rate_limited,
// 500 -> internal_error, 502/503 -> upstream_unavailable, 504 -> upstream_timeout,
// 529 -> overloaded; any other 4xx -> invalid_request, any other 5xx -> internal_error,
// anything else (0, 1xx, 2xx, 3xx, out of range) -> unknown.

#include <faultline/error.hpp>

#include <string_view>

namespace faultline {

/// The standard reason phrase ("Too Many Requests"), "Site Overloaded" for 529, and
/// "Unknown Status" for a code it does not know. Thread-safe.
[[nodiscard]] std::string_view reason_phrase(unsigned status) noexcept;

/// The precise code a bare status stands for (see the table above). Thread-safe.
[[nodiscard]] error error_from_status(unsigned status) noexcept;

/// The category of `error_from_status(status)`. Thread-safe.
[[nodiscard]] category category_from_status(unsigned status) noexcept;

/// Whether a client should retry a response with this status and no other information:
/// 408, 409, 429, 5xx (including 529). Thread-safe.
[[nodiscard]] bool is_retryable_status(unsigned status) noexcept;

/// The default HTTP status a server sends for `e`. Thread-safe.
[[nodiscard]] unsigned status_of(error e) noexcept;

} // namespace faultline

#include <faultline/impl/http_status.hpp>

#endif

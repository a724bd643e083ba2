#ifndef FAULTLINE_FAILURE_HPP
#define FAULTLINE_FAILURE_HPP

#include <faultline/detail/config.hpp>

// What went wrong with a call, classified: the value `classify` returns, the SSE monitor's
// verdict carries and the retry loops decide on. Needs no JSON, so the retry and limit headers
// can use it without Boost.JSON.
//
//     faultline::failure f = faultline::to_failure(std::make_error_code(std::errc::timed_out));
//     // f.cat == category::timeout, f.code == error::upstream_timeout, f.retryable

#include <faultline/error.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <variant>

namespace faultline {

/// The `code` member exactly as it was on the wire: null (or absent), a string or an integer.
using wire_code = std::variant<std::monostate, std::string, std::int64_t>;

/// What went wrong, classified.
struct failure {
    error code = error::unknown;      ///< Precise code.
    category cat = category::unknown; ///< Class of `code`.
    bool retryable = false;           ///< Taxonomy rule, after any `x-should-retry` override.
    /// How long the server asked to wait (see retry_after.hpp), capped at
    /// `classify_options::max_retry_after`.
    std::optional<std::chrono::milliseconds> retry_after;
    unsigned status = 0;                 ///< HTTP status; 0 when there was none.
    std::string message;                 ///< The human message from the body, valid UTF-8.
    std::optional<std::string> type;     ///< The body's `type` as sent.
    wire_code provider_code;             ///< The body's `code` as sent.
    std::optional<std::string> event_id; ///< The body's `event_id`, for support.

    /// `code` as a `std::error_code`. Thread-safe.
    [[nodiscard]] std::error_code error_code() const noexcept { return code; }
};

/// A failure for a local error or a transport error (timeout, reset, a limiter's refusal):
/// class and retryability from the taxonomy, message from `message` or else `ec.message()`.
/// Thread-safe.
[[nodiscard]] failure to_failure(std::error_code ec, std::string message = {});

} // namespace faultline

#include <faultline/impl/failure.hpp>

#endif

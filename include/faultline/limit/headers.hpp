#ifndef FAULTLINE_LIMIT_HEADERS_HPP
#define FAULTLINE_LIMIT_HEADERS_HPP

#include <faultline/detail/config.hpp>

// What a gateway sends for a limiter's decision: the `x-ratelimit-*` headers OpenAI clients
// read, and for a refusal the 429 status, `Retry-After` and the error envelope.
//
//     using namespace faultline::limit;
//     decision rq = rpm.try_acquire(1), tk = tpm.try_acquire(estimate);
//     for (auto& [name, value] : rate_limit_headers(&rq, &tk)) res.set(name, value);
//     if (!rq || !tk) {
//         limit_response r = refuse(!rq ? rq : tk, &rq, &tk);
//         // r.status == 429, r.body == {"error":{"message":...,"code":"rpm_exceeded",...}}
//     }
//
// Formats: `x-ratelimit-limit-*` and `-remaining-*` are decimal integers; `-reset-*` is a Go
// duration ("6m0s", "1.5s", "20ms", "0s"), rounded up to the millisecond; `Retry-After` is whole
// seconds rounded up, at least 1 while refused; `retry-after-ms` (read by the OpenAI SDKs)
// is milliseconds rounded up, at least 1.

#include <faultline/envelope.hpp>
#include <faultline/limit/decision.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace faultline::limit {

/// One header: name (lower case) and value.
using header = std::pair<std::string, std::string>;

/// A refusal, ready to send. A plain value.
struct limit_response {
    unsigned status = 429;
    std::error_code ec;          ///< The refusal's code (rpm_/tpm_/concurrency_exceeded, ...).
    std::string message;         ///< Human text for the envelope.
    std::string body;            ///< The rendered JSON envelope.
    std::vector<header> headers; ///< Retry-After, retry-after-ms and the x-ratelimit-* set.
};

/// `d` as a Go duration string after rounding up to the millisecond ("6m0s", "1.5s", "20ms",
/// "0s"). Negative durations are "0s". Thread-safe.
[[nodiscard]] std::string go_duration(std::chrono::nanoseconds d);

/// `Retry-After` delta-seconds for a wait: rounded up, never 0 (a refused client must wait).
/// Thread-safe.
[[nodiscard]] std::uint64_t retry_after_seconds(std::chrono::nanoseconds wait) noexcept;

/// `Retry-After` (whole seconds, rounded up, at least 1) and `retry-after-ms` (rounded up, at
/// least 1) for a wait: what a refused or failed request tells its client. Thread-safe.
[[nodiscard]] std::vector<header> retry_after_headers(std::chrono::nanoseconds wait);

/// The `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` headers for the decisions of a
/// request-count limiter and a token limiter; either may be null (its trio is then omitted).
/// Thread-safe.
[[nodiscard]] std::vector<header> rate_limit_headers(const decision* requests,
                                                     const decision* tokens);

/// The 429 (or the code's status) response for `refusal`, with `Retry-After`,
/// `retry-after-ms` and the `x-ratelimit-*` headers of `requests` / `tokens` (may be null).
/// The envelope carries the refusal's code (`rpm_exceeded`, `tpm_exceeded`,
/// `concurrency_exceeded`, `request_too_large`, ...), rendered by `faultline::render`.
/// Thread-safe.
[[nodiscard]] limit_response refuse(const decision& refusal, const decision* requests = nullptr,
                                    const decision* tokens = nullptr);

} // namespace faultline::limit

#include <faultline/limit/impl/headers.hpp>

#endif

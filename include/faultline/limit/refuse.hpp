#ifndef FAULTLINE_LIMIT_REFUSE_HPP
#define FAULTLINE_LIMIT_REFUSE_HPP

#include <faultline/detail/config.hpp>

// A limiter's refusal as a gateway answers it: the 429 (or the code's status), `Retry-After`,
// `retry-after-ms`, the `x-ratelimit-*` set and the error envelope (rendered with Boost.JSON,
// which is why this is not in limit/headers.hpp).
//
//     using namespace faultline::limit;
//     decision rq = rpm.try_acquire(1), tk = tpm.try_acquire(estimate);
//     if (!rq || !tk) {
//         limit_response r = refuse(!rq ? rq : tk, &rq, &tk);
//         // r.status == 429, r.body == {"error":{"message":...,"code":"rpm_exceeded",...}}
//     }

#include <faultline/envelope.hpp>
#include <faultline/limit/decision.hpp>
#include <faultline/limit/headers.hpp>

#include <string>
#include <system_error>
#include <vector>

namespace faultline::limit {

/// A refusal, ready to send. A plain value.
struct limit_response {
    unsigned status = 429;
    std::error_code ec;          ///< The refusal's code (rpm_/tpm_/concurrency_exceeded, ...).
    std::string message;         ///< Human text for the envelope.
    std::string body;            ///< The rendered JSON envelope.
    std::vector<header> headers; ///< Retry-After, retry-after-ms and the x-ratelimit-* set.
};

/// The 429 (or the code's status) response for `refusal`, with `Retry-After`,
/// `retry-after-ms` and the `x-ratelimit-*` headers of `requests` / `tokens` (may be null).
/// The envelope carries the refusal's code (`rpm_exceeded`, `tpm_exceeded`,
/// `concurrency_exceeded`, `request_too_large`, ...), rendered by `faultline::render`.
/// Thread-safe.
[[nodiscard]] limit_response refuse(const decision& refusal, const decision* requests = nullptr,
                                    const decision* tokens = nullptr);

} // namespace faultline::limit

#include <faultline/limit/impl/refuse.hpp>

#endif

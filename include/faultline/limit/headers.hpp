#ifndef FAULTLINE_LIMIT_HEADERS_HPP
#define FAULTLINE_LIMIT_HEADERS_HPP

#include <faultline/detail/config.hpp>

// What a gateway sends for a limiter's decision: the `x-ratelimit-*` headers OpenAI clients
// read and `Retry-After` (limit/refuse.hpp adds the 429 with its error envelope). Needs no JSON.
//
//     using namespace faultline::limit;
//     decision rq = rpm.try_acquire(1), tk = tpm.try_acquire(estimate);
//     for (auto& [name, value] : rate_limit_headers(&rq, &tk)) res.set(name, value);
//     if (!rq || !tk) return reply_429(refuse(!rq ? rq : tk, &rq, &tk));  // limit/refuse.hpp
//
// Formats: `x-ratelimit-limit-*` and `-remaining-*` are decimal integers; `-reset-*` is a Go
// duration ("6m0s", "1.5s", "20ms", "0s"), rounded up to the millisecond; `Retry-After` is whole
// seconds rounded up, at least 1 while refused; `retry-after-ms` (read by the OpenAI SDKs)
// is milliseconds rounded up, at least 1.

#include <faultline/headers.hpp>
#include <faultline/limit/decision.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace faultline::limit {

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

/// The same headers, in the same order, passed one by one to `f(name, value)` (two
/// `std::string_view`s valid during the call) without allocating: for a server that writes
/// them straight into its response.
///
///     for_each_rate_limit_header(&rq, &tk, [&](auto name, auto value) { res.set(name, value); });
///
/// Thread-safe.
template <class F>
void for_each_rate_limit_header(const decision* requests, const decision* tokens, F&& f);

} // namespace faultline::limit

namespace faultline::detail {

/// Room for any `limit::go_duration`, the longest being `nanoseconds::max()`'s
/// "2562047h47m16.855s".
inline constexpr std::size_t go_duration_size = 24;

/// Writes `limit::go_duration(d)` at `out`, which has room for `go_duration_size` characters;
/// returns how many it wrote. Thread-safe.
std::size_t format_go_duration(std::chrono::nanoseconds d, char* out) noexcept;

} // namespace faultline::detail

#include <faultline/limit/impl/headers.hpp>

#endif

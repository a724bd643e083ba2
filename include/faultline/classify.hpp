#ifndef FAULTLINE_CLASSIFY_HPP
#define FAULTLINE_CLASSIFY_HPP

#include <faultline/detail/config.hpp>

// Classification of any error response: what went wrong, whether to retry, and when.
//
//     faultline::failure f = faultline::classify(resp.result_int(), resp.base(), resp.body());
//     if (f.retryable && f.retry_after) wait(*f.retry_after);
//     log("{}: {} ({})", to_string(f.cat), f.message, faultline::info(f.code).fix);
//
// It reads the dialects real servers send: OpenAI `{"error":{…}}`; gateways that add `status`
// and `event_id`; Anthropic `{"type":"error","error":{…}}`; Google
// `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[…]}}`, also wrapped in an array;
// Azure (string codes such as "429", `innererror`); integer codes (OpenRouter, vLLM); flat
// `{"object":"error",…}` and `{"message":…}`; `{"error":"text"}`; `{"detail":"text"}`; HTML and
// text pages from proxies; empty, truncated and non-JSON bodies. A relayed upstream error is
// unwrapped one level: `{"error":{"error":{…}}}`, or a whole error document as the `message`
// (the outer error stays when the inner one is no error).
//
// Policy, in order:
//  1. An unambiguous body signal beats the status: quota or credit exhausted, spend limit,
//     context length, content filter, overload, invalid API key.
//  2. Otherwise the status decides the class, and the body's `code`, `type`, Google `status`,
//     Azure `innererror.code` and message may only make it more precise within that class
//     (429 + "tokens per min" -> tpm_exceeded; 503 + "No available channel" ->
//     no_available_channel). A generic 4xx (400, 405, 422, ...) also takes any precise client
//     error the body names (400 + model_not_found -> model_not_found).
//  3. With no HTTP status (0: an error inside a stream or a WebSocket frame) or a 1xx/2xx/3xx
//     one, the body's hints decide, integer codes reading as statuses; no hint: `unknown`.
//  4. `x-should-retry: true|false` overrides retryability.
//
// `retry_after` comes from the headers (see retry_after.hpp), else from a "Please try again in
// 1.4s" in the message. Messages are trimmed of surrounding space.
//
// An event-stream body (Content-Type `text/event-stream` unless the body is a JSON or HTML
// document, or a body whose first line starts with `data:`, `event:`, `id:`, `retry:` or `:`)
// is read through `sse::monitor`, never as text:
//  - its first error event (an error chunk, `event: error`, `response.failed`) is classified
//    as above with the response's status and headers; with nothing more precise than
//    `unknown` in it, the code is `stream_interrupted`;
//  - otherwise a 4xx/5xx status decides, as with an empty body (a body with no events at all
//    is read as text);
//  - otherwise the stream's verdict: `stream_truncated` (no terminator), `malformed_json`, an
//    SSE limit; a complete stream (`terminal::done`) is nothing wrong and classifies as an
//    empty body with that status: 200 gives `error::unknown` with the message "OK".

#include <faultline/detail/headers.hpp>
#include <faultline/envelope.hpp>
#include <faultline/error.hpp>
#include <faultline/failure.hpp>
#include <faultline/http_status.hpp>
#include <faultline/retry_after.hpp>

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace faultline {

struct classify_options {
    /// The base for `Retry-After` HTTP-dates; `system_clock::now()` when empty.
    std::optional<std::chrono::system_clock::time_point> now;
    /// Longer server hints are capped to this (see retry_after_options::max).
    std::chrono::milliseconds max_retry_after = std::chrono::hours(24);
    /// Limits for reading the body as JSON. A deeper or larger JSON body is not read: the
    /// status decides, and the message is its reason phrase.
    parse_limits json{};
    /// Bytes of a body that is not JSON (an HTML page, text) looked at for its message; the
    /// rest is never read.
    std::size_t max_scan = 64 * 1024;
    /// Longer messages are cut at a UTF-8 boundary and end in "…" (U+2026), never silently.
    /// Only this much of a message is searched for phrases and retry hints.
    std::size_t max_message = 4096;
};

/// Classifies a response. `headers` is a Beast `http::fields`, any range of name/value pairs,
/// or `no_headers{}`; `status` 0 means "no HTTP status". Never throws on any input but
/// `std::bad_alloc`. Reads at most `json.max_size` bytes of a JSON body or `max_scan` bytes of
/// any other, so time and memory are bounded whatever the body's size. Thread-safe.
template <class Headers>
[[nodiscard]] failure classify(unsigned status, const Headers& headers, std::string_view body,
                               const classify_options& options = {});

/// As above, with headers given inline: `classify(429, {{"Retry-After", "3"}}, body)`.
[[nodiscard]] failure classify(unsigned status, std::initializer_list<header_view> headers,
                               std::string_view body, const classify_options& options = {});

/// As above, without headers.
[[nodiscard]] failure classify(unsigned status, std::string_view body,
                               const classify_options& options = {});

/// What a gateway sends its client for a failure (its own, or an upstream's it classified):
/// the taxonomy's status, type and code for `f.code`, the message redacted for 5xx as
/// `render` does, and `f.retry_after` left to the caller's headers. Thread-safe.
[[nodiscard]] rendered_error render(const failure& f, std::string_view event_id = {},
                                    const render_options& options = {});

} // namespace faultline

#include <faultline/impl/classify.hpp>
// Event-stream bodies are read by sse::monitor, which includes this header: the definition of
// detail::classify_event_stream comes in with it (impl/classify_stream.hpp).
#include <faultline/sse/monitor.hpp>

#endif

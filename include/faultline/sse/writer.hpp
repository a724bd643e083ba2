#ifndef FAULTLINE_SSE_WRITER_HPP
#define FAULTLINE_SSE_WRITER_HPP

#include <faultline/detail/config.hpp>

// Server-side emission of `text/event-stream`: events, the error chunk followed by `[DONE]`,
// and comment heartbeats that keep buffering proxies and idle timers from cutting a quiet stream
// (reference 003: "a proxy buffering the response").
//
//     std::string out;
//     faultline::sse::writer w(out);
//     w.data(R"({"choices":[{"delta":{"content":"Hi"}}]})");  // data: {...}\n\n
//     w.heartbeat();                                            // : keep-alive\n\n
//     w.error(faultline::error::upstream_timeout, "upstream did not answer", event_id);
//     // data: {"error":{"message":"Service temporarily unavailable",...}}\n\ndata: [DONE]\n\n
//     socket.write(out);
//
// Safety: untrusted text can never create a field or an event. In `data` every CR, LF and CRLF
// starts a new `data:` line, so a reader gets the text back with each line break as LF. Comment
// text is split the same way into comment lines. The event type and id are single-line by
// nature: a type or id holding CR or LF (or an id holding NUL, which readers ignore) is REJECTED
// with `std::errc::invalid_argument` and nothing is written, rather than silently altered.

#include <faultline/envelope.hpp>
#include <faultline/error.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace faultline::sse {

/// One event to write. Empty `type` writes no `event` line (readers see type "message").
struct outgoing_event {
    std::string_view data;              ///< Any bytes; line breaks become `data:` lines.
    std::string_view type;              ///< The `event` field; no CR, LF.
    std::optional<std::string_view> id; ///< The `id` field ("" resets it); no CR, LF, NUL.
    std::optional<std::chrono::milliseconds> retry; ///< The `retry` field; not negative.
};

/// Appends event-stream text to a caller-owned string, which it never clears: the caller sends
/// and clears it. Not thread-safe (one writer per stream).
class writer {
public:
    /// Not thread-safe.
    explicit writer(std::string& out) noexcept
        : out_(&out) {}

    /// Writes one event, or nothing and `std::errc::invalid_argument` when `type` or `id` could
    /// inject a line or `retry` is negative. Not thread-safe.
    [[nodiscard]] std::error_code event(const outgoing_event& e);

    /// Writes an event with only `data` (OpenAI's chunk shape). Cannot fail. Not thread-safe.
    void data(std::string_view data);

    /// Writes the terminator `data: [DONE]`. Not thread-safe.
    void done() { out_->append("data: [DONE]\n\n"); }

    /// Writes the mid-stream error convention: an error chunk carrying the JSON `body` (e.g.
    /// `render(...).body`), then `data: [DONE]`. Not thread-safe.
    void error(std::string_view json_body);

    /// As above with the envelope `render(e, message, event_id, options)` makes: 5xx messages
    /// redacted, the taxonomy's type and code. Not thread-safe.
    void error(faultline::error e, std::string_view message, std::string_view event_id = {},
               const render_options& options = {});

    /// Writes a comment heartbeat, `: text` then a blank line. Readers ignore it; it keeps
    /// proxies flushing and idle timers reset. Line breaks in `text` start new comment lines.
    /// Not thread-safe.
    void heartbeat(std::string_view text = "keep-alive");

    /// Writes a lone `retry` field (the reader's reconnection delay), or nothing and
    /// `std::errc::invalid_argument` when negative. Not thread-safe.
    [[nodiscard]] std::error_code retry(std::chrono::milliseconds delay);

    /// The string written to. Not thread-safe.
    [[nodiscard]] std::string& buffer() noexcept { return *out_; }

private:
    void lines(std::string_view prefix, std::string_view text);

    std::string* out_;
};

/// Whether `type` can be written as an `event` field without injection. Thread-safe.
[[nodiscard]] bool is_safe_event_type(std::string_view type) noexcept;
/// Whether `id` can be written as an `id` field and will be honoured by readers. Thread-safe.
[[nodiscard]] bool is_safe_event_id(std::string_view id) noexcept;

} // namespace faultline::sse

#include <faultline/sse/impl/writer.hpp>

#endif

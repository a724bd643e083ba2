#ifndef FAULTLINE_ENVELOPE_HPP
#define FAULTLINE_ENVELOPE_HPP

#include <faultline/detail/config.hpp>

// The error envelope on the wire: `{"error":{"message","type","param","code"}}`, plus the
// members gateways add (`status`, `event_id`) and whatever else a provider sends.
//
//     // Server: answer a failure, hiding internal details of 5xx.
//     auto r = faultline::render(faultline::error::upstream_timeout, "dial tcp 10.0.0.7: i/o
//     timeout",
//                                faultline::make_event_id(rng));
//     // r.status == 504, r.body == {"error":{"message":"Service temporarily unavailable",...}}
//
//     // Client: read one back, never throwing on bad input.
//     faultline::result<faultline::error_envelope> env = faultline::parse_envelope(body);
//
// Conversions go through Boost.JSON's `value_from` / `try_value_to` (tag_invoke).

#include <faultline/error.hpp>
#include <faultline/failure.hpp>
#include <faultline/result.hpp>

#include <boost/json/conversion.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

namespace faultline {

/// One error object, in any OpenAI-compatible dialect.
///
/// Members of the wire object whose value has an unexpected kind (a numeric `type`, a string
/// `status` as Google sends, an object `message`) are not coerced: they stay in `extra` as sent,
/// and the typed member is left empty, so a round trip loses nothing.
struct error_envelope {
    std::string message;                 ///< Human-readable text (UTF-8 on output).
    std::optional<std::string> type;     ///< Broad class, e.g. "rate_limit_error".
    std::optional<std::string> param;    ///< The offending request parameter, if any.
    wire_code code;                      ///< Machine-readable reason as sent.
    std::optional<std::int64_t> status;  ///< HTTP status some gateways repeat in the body.
    std::optional<std::string> event_id; ///< Correlation id for support (reference 002).
    boost::json::object extra;           ///< Every other member of the error object.

    friend bool operator==(const error_envelope&, const error_envelope&) = default;
};

/// Limits for reading untrusted JSON. Defaults suit error bodies from any real provider.
struct parse_limits {
    /// The most `max_depth` can be. Reading a document copies and destroys it recursively, so
    /// an unbounded depth could overflow a small (coroutine, fiber) stack; a larger
    /// `max_depth` is clamped to this, as no error body nests anywhere near it.
    static constexpr std::size_t max_depth_ceiling = 256;
    std::size_t max_depth = 32;      ///< Deeper nesting is `parse_error::json_too_deep`.
    std::size_t max_size = 1u << 20; ///< Longer bodies are `parse_error::malformed_envelope`.

    /// `max_depth`, clamped to `max_depth_ceiling`: the depth every reader applies.
    [[nodiscard]] constexpr std::size_t depth() const noexcept {
        return max_depth < max_depth_ceiling ? max_depth : max_depth_ceiling;
    }
};

/// `{"error":{…}}`. Strings that are not valid UTF-8 are written with U+FFFD in place of each
/// invalid sequence, so the output is always valid JSON. Thread-safe.
void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const error_envelope& env);

/// Reads `{"error":{…}}` (the OpenAI shape and the gateway variants with `status` and
/// `event_id`). Anything else is `parse_error::malformed_envelope`; never throws. Thread-safe.
[[nodiscard]] boost::json::result<error_envelope>
tag_invoke(boost::json::try_value_to_tag<error_envelope>, const boost::json::value& jv);

/// Serializes to the wire shape. Thread-safe.
[[nodiscard]] std::string serialize(const error_envelope& env);

/// Parses a body in the OpenAI shape. Errors (`parse_error`): `malformed_json`, `json_too_deep`,
/// `malformed_envelope`. Thread-safe.
[[nodiscard]] result<error_envelope> parse_envelope(std::string_view body,
                                                    const parse_limits& limits = {});

/// The envelope a server sends for `e`: the taxonomy's type and code, `message` as given.
[[nodiscard]] error_envelope make_envelope(error e, std::string_view message);

/// A rendered response: status line code and JSON body.
struct rendered_error {
    unsigned status = 500;
    std::string body;
};

/// What `render` serializes: the status and the envelope, for a writer that sends the error in
/// another shape (the Responses API's mid-stream `error` event).
struct rendered_envelope {
    unsigned status = 500;
    error_envelope envelope;
};

struct render_options {
    /// 5xx messages are replaced so internal details (hosts, stack traces, upstream text) never
    /// reach the client (references 001/002); the `event_id` lets support find the real cause.
    bool redact_server_errors = true;
    std::string_view redacted_message = "Service temporarily unavailable";
    /// Repeat the HTTP status inside the body, as some gateways do (reference 001).
    bool include_status = false;
    /// The request field the error is about, as OpenAI names it in `error.param`
    /// ("messages", "max_tokens"); none: `null`.
    std::optional<std::string_view> param;
    /// The status answered when it is not the code's own (a 405 for a method a path does not
    /// take, a server's own 503 when it is full); `include_status` repeats it. Redaction follows
    /// the status answered. 0: the code's own.
    unsigned status = 0;
    /// The wire code sent in place of the code's own ("method_not_allowed").
    std::optional<std::string_view> code;
};

/// Renders `ec` for a client as `wire_error(ec)` (error.hpp): foreign timeouts as
/// upstream_timeout, transport failures as upstream_unavailable, anything else as unknown (500),
/// as `to_failure(ec)` reports them. An empty `event_id` is omitted. Thread-safe.
[[nodiscard]] rendered_error render(std::error_code ec, std::string_view message,
                                    std::string_view event_id = {},
                                    const render_options& options = {});
[[nodiscard]] rendered_error render(error e, std::string_view message,
                                    std::string_view event_id = {},
                                    const render_options& options = {});
/// As `render`, the envelope not yet serialized. Thread-safe.
[[nodiscard]] rendered_envelope render_envelope(error e, std::string_view message,
                                                std::string_view event_id = {},
                                                const render_options& options = {});

/// A random 32-hex-digit correlation id drawn from `g`. Not thread-safe for a shared `g`.
template <class URBG>
[[nodiscard]] std::string make_event_id(URBG& g);

} // namespace faultline

#include <faultline/impl/envelope.hpp>

#endif

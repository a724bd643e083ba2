#ifndef FAULTLINE_EXAMPLES_GATEWAY_UPSTREAM_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_UPSTREAM_HPP

// The simulated upstream channels: what a channel answers to one call, as the bytes and timing a
// real provider would send (status, headers, body; or an event stream piece by piece). The
// gateway treats the answer exactly as it would a network response: `faultline::classify` on
// error bodies, `faultline::sse::monitor` over the stream.
//
// A reply is a pure function of the channel's configuration, the call and the call's number, so
// tests know what every call returns.

#include "gateway/config.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace examples::gateway {

/// What the gateway asks of a channel.
struct call_info {
    std::string_view model;
    bool stream = false;
    std::uint64_t prompt_tokens = 0;
    std::uint64_t max_tokens = 0;
    std::string_view completion_id; ///< "chatcmpl-…" ("resp-…" for the Responses API)
    std::int64_t created = 0;       ///< Unix seconds.
    /// Answer as the Responses API does (`POST /v1/responses`): a `response` object, or a
    /// stream of `response.created`, `response.output_text.delta` events and
    /// `response.completed` with the usage (no `[DONE]`); a mid-stream failure is an
    /// `event: error`. Otherwise as chat completions.
    bool responses = false;
};

/// Bytes of a stream that arrive `at` after the call started; `repeat` copies in a row (a huge
/// line is sent as many pieces without holding it whole).
struct upstream_piece {
    std::chrono::milliseconds at{0};
    std::string bytes;
    std::size_t repeat = 1;
};

/// One call's answer.
struct upstream_reply {
    /// A transport failure instead of an answer (`failure_mode::dead`: connection refused).
    std::error_code transport;
    std::chrono::milliseconds latency{0}; ///< When the head arrives.
    unsigned status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;                   ///< A non-stream body (or an error body).
    std::vector<upstream_piece> pieces; ///< The event stream (status 200, stream requested).
    /// The stream ends after the last piece without `[DONE]`: the upstream closed it.
    bool closes_early = false;
    /// `failure_mode::cutoff`: the gateway drops its client's stream too.
    bool cut_client = false;
    std::uint64_t completion_tokens = 0;
};

/// Whether call `n` (0-based) of `ch` fails: `mode != none` and the pattern marks it.
/// Thread-safe.
[[nodiscard]] bool call_fails(const channel_config& ch, std::uint64_t n) noexcept;

/// What `ch` answers to call `n`. Stream-only failures (mid-stream error, cut-offs, huge lines,
/// slow chunks) apply to streaming calls; a non-streaming call to such a channel succeeds.
/// Thread-safe.
[[nodiscard]] upstream_reply simulate(const channel_config& ch, const call_info& call,
                                      std::uint64_t n);

/// The content of chunk `i` of a simulated reply (one token per chunk). Thread-safe.
[[nodiscard]] std::string_view reply_word(std::size_t i) noexcept;

} // namespace examples::gateway

#endif

#ifndef FAULTLINE_EXAMPLES_GATEWAY_RELAY_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_RELAY_HPP

// The relay stage: what a streamed answer's client receives of the upstream's events, as
// `sse::monitor` hands them over, and how the stream ends: its terminator, the upstream's error
// chunk in the gateway's words, or the gateway's own error when a time, line or memory limit is
// over or the upstream cut the stream. Sans I/O: the events go into a string, which server.cpp
// sends as one chunk each time it has read from the upstream. Tested alone, on a manual clock,
// in tests/examples/gateway_stages.cpp; over sockets in gateway_upstream.cpp and
// gateway_responses.cpp.

#include "gateway/config.hpp"
#include "gateway/connection.hpp"
#include "gateway/request.hpp"

#include <faultline/envelope.hpp>
#include <faultline/failure.hpp>
#include <faultline/sse/monitor.hpp>
#include <faultline/sse/parser.hpp>
#include <faultline/sse/writer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace examples::gateway {

/// Re-emits the upstream's events to the client, as a relay does: content as it comes; the
/// terminator as the upstream sent it; an upstream error chunk is kept (`upstream_error`) for the
/// gateway to answer in its own words. The handler of an `sse::monitor`.
struct relay {
    faultline::sse::writer* out = nullptr;
    std::optional<faultline::failure> upstream_error;
    bool finished = false;
    bool fragment_error = false;  ///< an error chunk too large to hold: the monitor has its failure
    std::string* bytes = nullptr; ///< what `out` writes into, for fragments passed through as is
    bool mid_event = false;       ///< a fragmented event is partly relayed
    std::uint64_t sent = 0;       ///< events passed to the client whole

    void on_event(const faultline::sse::event& e, faultline::sse::event_kind kind);
    /// The failure the monitor found in an error event; the first one is answered.
    void on_error(const faultline::sse::event& e, const faultline::failure& f);
    /// An event too large to hold, relayed piece by piece as the upstream sends it: the client
    /// gets the same event, never the whole line in the gateway's memory. Its kind is known only
    /// at its end, so an error chunk this large reaches the client as sent, then the gateway's
    /// own error chunk follows.
    void on_fragment(const faultline::sse::event_fragment& f, faultline::sse::event_kind kind);
};

/// The Responses API's mid-stream error (OpenAI's streaming guide): `event: error` whose data is
/// `{"type":"error","code","message","param","sequence_number"}`, saying what `env` says (its
/// code, or its type when the code is not a string). No `[DONE]` follows: none ends a Responses
/// stream. `sequence` is the number of events the client had before it: the upstream numbers
/// its events from 0, and this one takes the place of the next (or of the upstream's own error
/// event).
void responses_error(faultline::sse::writer& w, const faultline::error_envelope& env,
                     std::uint64_t sequence);

/// One call's time limits, from its channel's own or the gateway's.
struct call_limits {
    clock::time_point head;                       ///< The response head by then.
    std::chrono::milliseconds idle;               ///< The longest quiet once the head came.
    clock::time_point total;                      ///< The whole call by then (max: none).
    std::optional<clock::time_point> first_token; ///< A stream's first content by then.

    /// The limits of a call to `ch` that starts at `start`.
    static call_limits of(const channel_config& ch, const gateway_config& config,
                          clock::time_point start);
};

/// One stream relayed from `channel` to its client. The upstream's body goes in piece by piece
/// (`take`); what the client is to get accumulates in `out()`, which the caller sends and
/// clears. With a first-token limit the head is held for the first content event: until then
/// the client has seen nothing, and a call that misses a limit fails whole (`unsent`), for the
/// next channel to answer. `config`, `channel`, `say` and `memory` must outlive it. Not
/// thread-safe (one stream's).
class stream_relay {
public:
    using log_fn = std::function<void(std::string_view)>;
    /// What the stream needs after a piece.
    enum class step : unsigned char {
        more,   ///< Read on.
        ended,  ///< It is over: send `out()`, then the last chunk.
        unsent, ///< A time limit passed before anything reached the client: `unsent()`.
    };

    /// `responses`: a Responses API stream (its error event; no `[DONE]`). `memory` is charged
    /// with the bytes the relay holds, against `stream_memory_budget` for this stream and
    /// `streams_memory_budget` for all. `log` gets a line for each way the stream ends in error.
    stream_relay(const gateway_config& config, const channel_config& channel, const answers& say,
                 std::string_view request_id, bool responses, const call_limits& limits,
                 clock::time_point start, memory_charge& memory, log_fn log);
    stream_relay(const stream_relay&) = delete;
    stream_relay& operator=(const stream_relay&) = delete;

    /// When the next piece is due: the monitor's next time limit.
    [[nodiscard]] clock::time_point deadline() const;
    /// Takes what the upstream sent by `now`; empty when nothing came by the wake-up (a time
    /// limit may be over then). Bytes after a limit passed are not relayed.
    step take(std::string_view bytes, clock::time_point now);
    /// The upstream's body ended before the stream did: the client gets `stream_truncated`.
    void cut();
    /// A comment line, keeping a quiet connection alive.
    void heartbeat();
    /// What the upstream sent last, relayed, reached the client at `now`: the upstream's
    /// silence counts from here, not from its last byte (a slow client is not a quiet
    /// upstream). Not after a heartbeat: the gateway's own writes say nothing of the upstream.
    void sent(clock::time_point now) noexcept { monitor_.resume(now); }

    /// What the client is to get next: the caller sends it as one chunk and clears it.
    [[nodiscard]] std::string& out() noexcept { return out_; }
    /// The head went to the client.
    void head_sent() noexcept { head_sent_ = true; }
    /// Whether `head_sent()` was called.
    [[nodiscard]] bool head_is_out() const noexcept { return head_sent_; }
    /// Whether the head is still held: a first-token limit, and no content or end yet.
    [[nodiscard]] bool holds_head() const noexcept;
    /// Whether it is over (a terminator or an error went into `out()`).
    [[nodiscard]] bool ended() const noexcept { return ended_; }

    /// How it ended in error; none while it has not, or when it completed.
    [[nodiscard]] const std::optional<faultline::error>& failed_with() const noexcept {
        return failed_with_;
    }
    /// Whether the upstream caused the error (an error chunk, a cut, silence), not one of the
    /// gateway's own limits.
    [[nodiscard]] bool upstream_fault() const noexcept { return upstream_fault_; }
    /// The call's failure when `take` said `step::unsent`.
    [[nodiscard]] const std::optional<faultline::failure>& unsent() const noexcept {
        return unsent_;
    }
    /// Events seen, and content events relayed (the tokens the stream used).
    [[nodiscard]] std::uint64_t events() const noexcept { return monitor_.events(); }
    [[nodiscard]] std::uint64_t content_events() const noexcept {
        return monitor_.content_events();
    }

private:
    void write_error(const faultline::rendered_envelope& r);
    void own_error(faultline::error e, std::string message, bool upstream);
    std::pair<faultline::error, std::string> timed_out() const;

    const gateway_config& config_;
    const channel_config& channel_;
    const answers& say_;
    std::string request_id_;
    bool responses_;
    clock::time_point start_;
    memory_charge& memory_;
    log_fn log_;
    std::string out_;
    faultline::sse::writer writer_{out_};
    faultline::sse::monitor_options options_;
    faultline::sse::monitor<relay> monitor_;
    bool head_sent_ = false;
    bool ended_ = false;
    bool upstream_fault_ = false;
    std::optional<faultline::error> failed_with_;
    std::optional<faultline::failure> unsent_;
};

} // namespace examples::gateway

#endif

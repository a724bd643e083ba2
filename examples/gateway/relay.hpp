#ifndef FAULTLINE_EXAMPLES_GATEWAY_RELAY_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_RELAY_HPP

// The relay stage: what a streamed answer's client receives of the upstream's events, as
// `sse::monitor` hands them over. Sans I/O: the events go into an `sse::writer`'s string, which
// server.cpp sends as it fills. Tested alone in tests/examples/gateway_relay.cpp.

#include <faultline/envelope.hpp>
#include <faultline/failure.hpp>
#include <faultline/sse/monitor.hpp>
#include <faultline/sse/parser.hpp>
#include <faultline/sse/writer.hpp>

#include <cstdint>
#include <optional>
#include <string>

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

} // namespace examples::gateway

#endif

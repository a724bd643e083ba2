#include "gateway/relay.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <string_view>
#include <utility>
#include <variant>

namespace examples::gateway {

namespace sse = faultline::sse;
namespace json = boost::json;
using std::chrono::milliseconds;

void relay::on_event(const sse::event& e, sse::event_kind kind) {
    if (finished) return;
    switch (kind) {
    case sse::event_kind::done:
        // The terminator as the upstream sent it: `[DONE]`, or a protocol's own last event
        // (`response.completed`, `message_stop`), which a made-up `[DONE]` would replace.
        if (e.type.empty())
            out->done();
        else
            (void)out->event(
                {e.data, sse::is_safe_event_type(e.type) ? e.type : "", std::nullopt, {}});
        ++sent;
        finished = true;
        return;
    case sse::event_kind::error:
        finished = true; // the monitor's `on_error` brings its failure next
        return;
    case sse::event_kind::content:
    case sse::event_kind::malformed_json:
    case sse::event_kind::empty:
        ++sent;
        if (e.type.empty() && !e.id)
            out->data(e.data);
        else
            (void)out->event(
                {e.data, sse::is_safe_event_type(e.type) ? e.type : "", std::nullopt, {}});
        return;
    }
}

void relay::on_error(const sse::event&, const faultline::failure& f) {
    if (!upstream_error) upstream_error = f;
}

void relay::on_fragment(const sse::event_fragment& f, sse::event_kind kind) {
    if (finished) return;
    mid_event = !f.last;
    if (f.first) {
        if (!f.type.empty() && sse::is_safe_event_type(f.type))
            bytes->append("event: ").append(f.type).append("\n");
        bytes->append("data: ");
    }
    std::string_view d = f.data;
    // A '\n' joins two data lines: it starts a new `data:` line on the way out.
    for (std::size_t nl; (nl = d.find('\n')) != std::string_view::npos; d.remove_prefix(nl + 1))
        bytes->append(d.substr(0, nl)).append("\ndata: ");
    bytes->append(d);
    if (!f.last) return;
    bytes->append("\n\n");
    ++sent;
    if (kind == sse::event_kind::done) {
        finished = true; // the terminator itself went out above, as sent
    } else if (kind == sse::event_kind::error) {
        fragment_error = true;
        finished = true;
    }
}

void responses_error(sse::writer& w, const faultline::error_envelope& env, std::uint64_t sequence) {
    json::object e{
        {"type", "error"}, {"code", nullptr}, {"message", env.message}, {"param", nullptr}};
    if (const auto* code = std::get_if<std::string>(&env.code))
        e["code"] = *code;
    else if (env.type)
        e["code"] = *env.type;
    if (env.param) e["param"] = *env.param;
    e["sequence_number"] = sequence;
    (void)w.event({json::serialize(e), "error", std::nullopt, {}});
}

call_limits call_limits::of(const channel_config& ch, const gateway_config& config,
                            clock::time_point start) {
    call_limits l;
    l.total = ch.total_timeout ? start + *ch.total_timeout : clock::time_point::max();
    l.head = std::min(start + ch.first_token_timeout.value_or(config.upstream_timeout), l.total);
    l.idle = ch.idle_timeout.value_or(config.upstream_timeout);
    if (ch.first_token_timeout) l.first_token = start + *ch.first_token_timeout;
    return l;
}

namespace {

// The monitor's limits for a relay that starts at `start`. A quarter of the stream's memory
// budget for a line held whole, a quarter for an event's data; longer ones pass in pieces. The
// rest is the output buffer, one upstream piece at a time. The time limits as the monitor keeps
// them from here: the idle limit, the first content's (the head is held for it), and the call's
// total or the gateway's stream limit.
sse::monitor_options relay_options(const gateway_config& config, const call_limits& limits,
                                   clock::time_point start) {
    sse::monitor_options mo;
    mo.limits.max_line = config.stream_memory_budget / 4;
    mo.limits.max_event = config.stream_memory_budget / 4;
    const auto left = [&](clock::time_point t) {
        return std::max(milliseconds{}, std::chrono::ceil<milliseconds>(t - start));
    };
    mo.idle_timeout = limits.idle;
    if (limits.first_token) mo.first_content_timeout = left(*limits.first_token);
    mo.total_timeout =
        limits.total != clock::time_point::max() ? left(limits.total) : config.streaming_timeout;
    return mo;
}

} // namespace

stream_relay::stream_relay(const gateway_config& config, const channel_config& channel,
                           const answers& say, std::string_view request_id, bool responses,
                           const call_limits& limits, clock::time_point start,
                           memory_charge& memory, log_fn log)
    : config_(config)
    , channel_(channel)
    , say_(say)
    , request_id_(request_id)
    , responses_(responses)
    , start_(start)
    , memory_(memory)
    , log_(std::move(log))
    , options_(relay_options(config, limits, start))
    , monitor_(start, options_, relay{&writer_, std::nullopt, false}) {
    monitor_.handler().bytes = &out_;
}

clock::time_point stream_relay::deadline() const {
    return monitor_.next_deadline().value_or(start_ + *options_.total_timeout);
}

bool stream_relay::holds_head() const noexcept {
    return options_.first_content_timeout && !head_sent_ && monitor_.content_events() == 0 &&
           !monitor_.handler().finished;
}

void stream_relay::heartbeat() {
    writer_.heartbeat();
}

// An error ends the stream in its protocol's words: chat completions' error chunk and `[DONE]`,
// or the Responses API's error event.
void stream_relay::write_error(const faultline::rendered_envelope& r) {
    if (responses_)
        responses_error(writer_, r.envelope, monitor_.handler().sent);
    else
        writer_.error(faultline::serialize(r.envelope));
    ended_ = true;
}

// The gateway's own errors carry no upstream text: their messages (and fixes) go to the client.
// `upstream` says whether the upstream caused it (a cut, silence) or the gateway's own limit.
void stream_relay::own_error(faultline::error e, std::string message, bool upstream) {
    relay& h = monitor_.handler();
    if (h.mid_event) {
        // Half an event is out and SSE cannot take it back: end it (the client sees its data
        // cut short) so that the error chunk is an event of its own.
        out_.append("\n\n");
        h.mid_event = false;
    }
    h.finished = true;
    failed_with_ = e;
    upstream_fault_ = upstream;
    write_error(say_.stream(e, message, request_id_));
    if (log_)
        log_("stream event_id=" + request_id_ + " " + std::string(faultline::to_string(e)) + ": " +
             message);
}

// Why a time limit ended the stream, in the channel's or the gateway's words.
std::pair<faultline::error, std::string> stream_relay::timed_out() const {
    switch (monitor_.timed_out()) {
    case sse::timeout::total:
        return {faultline::error::stream_timeout,
                channel_.total_timeout
                    ? "The call exceeded channel " + channel_.name + "'s time limit of " +
                          std::to_string(channel_.total_timeout->count()) +
                          " ms (total_timeout_ms)."
                    : "The stream exceeded the gateway's streaming time limit of " +
                          std::to_string(config_.streaming_timeout.count()) +
                          " ms (streaming_timeout). Raise it for long generations."};
    case sse::timeout::first_content:
        return {faultline::error::upstream_timeout,
                "Channel " + channel_.name + " sent no content within " +
                    std::to_string(channel_.first_token_timeout->count()) +
                    " ms (first_token_timeout_ms)."};
    case sse::timeout::idle:
    case sse::timeout::none:
        break;
    }
    return {faultline::error::upstream_timeout,
            "The upstream sent nothing for " + std::to_string(options_.idle_timeout->count()) +
                (channel_.idle_timeout ? " ms (idle_timeout_ms)." : " ms.")};
}

stream_relay::step stream_relay::take(std::string_view bytes, clock::time_point now) {
    if (ended_) return step::ended;
    // The limits are checked before the bytes are taken: bytes that come after one are not
    // relayed.
    const std::error_code ec = bytes.empty() ? monitor_.check(now) : monitor_.feed(bytes, now);
    if (ec == faultline::error::stream_timeout) {
        // The upstream's silence caused it, unless the limit was the call's whole time.
        const bool upstream = monitor_.timed_out() != sse::timeout::total;
        auto [code, why] = timed_out();
        if (!head_sent_) {
            // Nothing reached the client: the call fails as a whole, and may fail over.
            unsent_ = faultline::to_failure(make_error_code(code), why);
            return step::unsent;
        }
        own_error(code, std::move(why), upstream);
        return step::ended;
    }
    if (bytes.empty()) return step::more; // quiet until the wake-up, and no limit over
    relay& h = monitor_.handler();
    if (ec) {
        // The time limits were answered above: only the line and event limits are left. Data
        // lines of any length pass in pieces: only an event type or id line this long is
        // refused.
        own_error(ec == faultline::error::sse_event_too_large
                      ? faultline::error::sse_event_too_large
                      : faultline::error::sse_line_too_long,
                  "An upstream event type or id line exceeded " +
                      std::to_string(options_.limits.max_line) +
                      " bytes, a quarter of the stream's memory budget "
                      "(stream_memory_budget); it was not relayed.",
                  false);
    } else if (h.fragment_error) {
        // An error chunk too large to hold: the monitor classified what it kept of it.
        const sse::verdict v = monitor_.finish();
        failed_with_ = v.failure ? v.failure->code : faultline::error::stream_interrupted;
        upstream_fault_ = true;
        write_error(say_.upstream(
            v.failure.value_or(faultline::to_failure(faultline::error::stream_interrupted)),
            request_id_));
        if (log_)
            log_("stream event_id=" + request_id_ +
                 " upstream error chunk of a line too large to hold");
    } else if (h.upstream_error) {
        failed_with_ = h.upstream_error->code;
        upstream_fault_ = true;
        write_error(say_.upstream(*h.upstream_error, request_id_));
        if (log_)
            log_("stream event_id=" + request_id_ +
                 " upstream error chunk: " + h.upstream_error->message);
    } else if (h.finished) {
        ended_ = true;
    }
    if (ended_) return step::ended;
    const std::size_t held = monitor_.buffered_bytes() + out_.capacity();
    const std::size_t total = memory_.charge(held);
    if (held > config_.stream_memory_budget || total > config_.streams_memory_budget) {
        own_error(faultline::error::overloaded,
                  held > config_.stream_memory_budget
                      ? "The stream needed " + std::to_string(held) +
                            " bytes of buffers, over its memory budget of " +
                            std::to_string(config_.stream_memory_budget) +
                            " bytes (stream_memory_budget)."
                      : "The gateway's streams hold " + std::to_string(total) +
                            " bytes, its memory budget for streams (" +
                            "streams_memory_budget); retry shortly.",
                  false);
        return step::ended;
    }
    return step::more;
}

void stream_relay::cut() {
    if (ended_) return;
    own_error(faultline::error::stream_truncated,
              "The upstream closed the stream before it completed; the reply is incomplete.", true);
}

} // namespace examples::gateway

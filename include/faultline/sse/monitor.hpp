#ifndef FAULTLINE_SSE_MONITOR_HPP
#define FAULTLINE_SSE_MONITOR_HPP

#include <faultline/detail/config.hpp>

// Watches an LLM event stream and says how it ended: completed (its protocol's terminator),
// failed mid-stream (an error event, a limit, a timeout), cut off without a terminator
// (reference 000: "streaming response cuts off"), or garbled.
//
//     faultline::sse::monitor<> m(clock::now(), {.idle_timeout = 30s, .total_timeout = 300s});
//     while (auto piece = read_some(socket, m.next_deadline()))
//         if (m.feed(*piece, clock::now())) break;   // a limit or a timeout: stop reading
//     faultline::sse::verdict v = m.finish();
//     if (v.kind != faultline::sse::terminal::done) retry_or_report(*v.failure);
//     else if (v.stop_reason == "max_tokens") warn_cut_short();
//
// Protocols (`protocol`), set in `monitor_options` or detected from the first event that names
// one (no data is parsed for that: the `event:` field decides; a typeless event with data means
// chat completions). Each has its own terminator, and only it gives `terminal::done`:
//  - chat completions (`/v1/chat/completions`): data `[DONE]`;
//  - Responses (`/v1/responses`): `event: response.completed`, or `response.incomplete`, which
//    is `done` with `stop_reason` = `incomplete_details.reason` (`max_output_tokens`,
//    `content_filter`); `response.failed` is an error event whose failure is read from
//    `response.error {code, message}`;
//  - Anthropic Messages: `event: message_stop`; `message_delta`'s `delta.stop_reason`
//    (`end_turn`, `max_tokens`, ...) is kept as `stop_reason`.
// A `max_tokens` or `content_filter` stop is not a failure (retrying returns the same answer);
// the verdict reports it so a caller can. Chat completions' `finish_reason` is not read (that
// would mean parsing every chunk); `stop_reason` stays empty there.
//
// Per event (see `classify_event`):
//  - `event: error` (Anthropic and Responses) or `event: response.failed` -> error;
//  - the protocol's terminator -> done; data `[DONE]` -> done in every protocol (see below);
//  - data with a top-level `error` member that is a non-empty object or a non-empty string ->
//    error; a falsy one (null, false, 0, "", {}, []) is content, and so is the word "error"
//    anywhere else;
//  - data that is not JSON -> malformed_json; empty data -> empty (a keep-alive).
// Error events are classified with `faultline::classify(0, data)`; when that finds nothing more
// precise than `unknown`, the code is `stream_interrupted`. A handler with
// `on_error(const event&, const failure&)` receives that failure (no second classification).
//
// As the official SDKs do (openai-python `_streaming.py`, openai-node `core/streaming.ts`), data
// `[DONE]` ends the stream in every protocol: later events are ignored (not classified, counted
// or passed to the handler), so the verdict stays what it was. Where faultline differs on
// purpose:
//  - the terminator is the exact data `[DONE]`; the SDKs test `startsWith("[DONE]")`, so
//    `[DONE]x` or `[DONE] ` end their stream but are malformed data here, and ` [DONE]` (a
//    second space after `data:`) is malformed for both;
//  - in a Responses or Anthropic stream a `[DONE]` before the protocol's own terminator ends
//    the stream as `eof_without_done` (`stream_truncated`): the answer did not complete;
//  - `event: error` is an error even when its data has no `error` member (Responses sends
//    `{"type":"error","code":…,"message":…}`): openai-node throws on it, as faultline does;
//    openai-python yields it as an event.
//
// Cost: by default a normal chunk is never fully parsed. It gets a structural check (first and
// last non-blank bytes are `{}` or `[]`) and a scan for the bytes `"error"`; only a chunk
// holding them is examined exactly (`error_scanner`). The parser's line search looks for a
// quote followed by `e` in the same pass, so a chunk without one is not read again. Protocol
// detection and terminators look only at the `event:` name; the once-per-stream events that
// carry a stop reason (`message_delta`, `response.incomplete`) and error events are parsed. So a
// chunk whose braces balance at the ends but whose middle is invalid JSON counts as content, and a
// top-level key spelled with escapes (`"\u0065rror"`) is missed. `validate_json` runs the exact
// scan on every event instead: full validation, keys matched after unescaping, still no allocation
// per event.
//
// Time is an input: pass `now` with every call; the monitor owns no timer. Idle time is
// measured from the last byte received (comment heartbeats count: the peer is alive).

#include <faultline/classify.hpp>
#include <faultline/error.hpp>
#include <faultline/sse/error_scan.hpp>
#include <faultline/sse/parser.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace faultline::sse {

/// The streaming protocol a monitor watches.
enum class protocol : unsigned char {
    unknown,            ///< Not known (yet); in `monitor_options`: detect it from the events.
    chat_completions,   ///< OpenAI chat completions: data-only events, data `[DONE]` at the end.
    responses,          ///< OpenAI Responses: `event: response.*`, `response.completed` at the end.
    anthropic_messages, ///< Anthropic Messages: `event: message_start` ... `message_stop`.
};

/// What one event is.
enum class event_kind : unsigned char {
    content,        ///< A normal chunk.
    done,           ///< A terminator: data `[DONE]`, `message_stop`, `response.completed` or
                    ///< `response.incomplete`.
    error,          ///< An error chunk, `event: error` or `event: response.failed`.
    malformed_json, ///< Data that is not JSON.
    empty,          ///< Empty or blank data (a keep-alive some servers send).
};

/// How a stream ended.
enum class terminal : unsigned char {
    done,             ///< The protocol's terminator came and nothing failed (`stop_reason`
                      ///< says whether the answer was cut short by a limit).
    error,            ///< An error chunk, a limit or a timeout (`failure` says which), whether
                      ///< or not `[DONE]` followed.
    eof_without_done, ///< Ended without a terminator: `error::stream_truncated`.
    malformed_json,   ///< An event's data was not JSON (and nothing worse happened).
};

/// The name of a terminal, e.g. "eof_without_done". Thread-safe.
[[nodiscard]] std::string_view to_string(terminal t) noexcept;
/// The name of an event kind, e.g. "malformed_json". Thread-safe.
[[nodiscard]] std::string_view to_string(event_kind k) noexcept;
/// The name of a protocol, e.g. "responses". Thread-safe.
[[nodiscard]] std::string_view to_string(protocol p) noexcept;

/// The protocol an `event:` name belongs to: `response.*` -> responses; `message_start`,
/// `message_delta`, `message_stop`, `content_block_*`, `ping` -> anthropic_messages; empty (a
/// data-only event) -> chat_completions; anything else, `error` included -> unknown.
/// Thread-safe.
[[nodiscard]] protocol protocol_of(std::string_view event_type) noexcept;

/// The end-of-stream verdict.
struct verdict {
    terminal kind = terminal::eof_without_done;
    /// Every kind but `done` has one: the classified error chunk, `stream_timeout`,
    /// `sse_line_too_long`, `sse_event_too_large`, `stream_truncated` or `malformed_json`.
    std::optional<faultline::failure> failure;
    /// The protocol set in the options or detected; `unknown` when no event named one.
    sse::protocol protocol = sse::protocol::unknown;
    /// Why the model stopped, as the stream said: Anthropic `delta.stop_reason` (`end_turn`,
    /// `max_tokens`, `stop_sequence`, `tool_use`, ...) or Responses
    /// `incomplete_details.reason` (`max_output_tokens`, `content_filter`); empty when the stream
    /// said none (always for chat completions). At most 256 bytes are kept.
    std::string stop_reason;

    /// `failure->error_code()`, or none for `done`. Thread-safe.
    [[nodiscard]] std::error_code error_code() const noexcept {
        return failure ? failure->error_code() : std::error_code();
    }
};

struct monitor_options {
    parser_options limits{};
    /// The protocol watched; `unknown` (the default) detects it from the events (see above).
    sse::protocol protocol = sse::protocol::unknown;
    // Time limits, each none = no limit; over one: `error::stream_timeout`, and `timed_out()`
    // says which. A limit is over at the instant `next_deadline()` names, and bytes that come
    // then or later are not taken.
    /// Longest wait for the next byte (from the start for the first).
    std::optional<std::chrono::milliseconds> idle_timeout;
    /// Longest wait from the start for the first content event, while no error event came
    /// (a time-to-first-token limit: keep-alive comments and empty events do not count).
    std::optional<std::chrono::milliseconds> first_content_timeout;
    /// Longest whole stream (the gateway's STREAMING_TIMEOUT).
    std::optional<std::chrono::milliseconds> total_timeout;
    /// Scan every event's data exactly (`error_scanner`: validated JSON, escaped keys found)
    /// instead of the cheap checks. Slower, allocation-free; exact.
    bool validate_json = false;
    /// How error chunks are classified (message length, JSON limits).
    classify_options classify{};
};

/// The kind of `e` in `options.protocol` (when `unknown`: in the protocol `e.type` names, and
/// any protocol's terminator is `done`); for `event_kind::error` also its failure in `*failed`
/// (when not null). Stateless: the monitor adds what needs the stream (events after `[DONE]`,
/// a `[DONE]` that comes before a Responses or Anthropic terminator). Thread-safe.
[[nodiscard]] event_kind classify_event(const event& e, const monitor_options& options = {},
                                        faultline::failure* failed = nullptr);

namespace detail {
template <class H>
concept takes_monitor_fragments = requires(H& h, const event_fragment& f, event_kind k) {
    h.on_fragment(f, k);
};
} // namespace detail

/// The time limit of `monitor_options` that stopped a stream.
enum class timeout : unsigned char { none, idle, first_content, total };

/// A monitor handler that ignores everything.
struct null_monitor_handler {
    void on_event(const event&, event_kind) noexcept {}
};

/// The monitor. `Handler` must have `on_event(const event&, event_kind)` (called for every
/// event up to the terminator, in order, before the verdict changes), and may have
/// `on_retry(milliseconds)` and `on_error(const event&, const failure&)`: called right after
/// `on_event` for every error event, with the failure the monitor found in it (the verdict
/// keeps the first). Handlers without `on_error` are not affected.
///
/// Lines of any size (opt-in): a handler that also has
/// `on_fragment(const event_fragment&, event_kind)` takes events over the limits in fragments,
/// as the parser delivers them (see parser.hpp), instead of a limit error. Their data is scanned
/// as it passes (`error_scanner`: exact, whatever `validate_json` says) and never held, so an
/// error chunk after a 100 MB line is still found in memory independent of the line. The kind is
/// `content` in every fragment but the `last`, which carries the event's kind; an error chunk
/// too large to hold is classified from its `message`, `type` and `code` (`on_error` is not
/// called for it: there is no whole event to pass).
/// Not copyable or movable (its parser calls back into it).
template <class Handler = null_monitor_handler, class Clock = std::chrono::steady_clock>
class monitor {
public:
    using clock = Clock;
    using time_point = typename Clock::time_point;

    /// `start` is when the stream began (the total timeout counts from it). Not thread-safe.
    explicit monitor(time_point start, monitor_options options = {}, Handler handler = Handler{});
    monitor(const monitor&) = delete;
    monitor& operator=(const monitor&) = delete;

    /// Takes the bytes that arrived at `now`. Returns an error when the stream must stop being
    /// read: a limit (`sse_line_too_long`, `sse_event_too_large`) or a timeout
    /// (`stream_timeout`, checked before the bytes are taken); the same error again on every
    /// later call. An error chunk is not such an error (the `[DONE]` that follows is still
    /// read): see `failed()`. Not thread-safe.
    [[nodiscard]] std::error_code feed(std::string_view bytes, time_point now);

    /// Checks the timeouts at `now` without bytes, as `feed` does. Call it when a read times
    /// out at `next_deadline()`: a limit is over at that instant. When several are over, the
    /// total limit is reported first, then the first-content one, then the idle one. Not
    /// thread-safe.
    [[nodiscard]] std::error_code check(time_point now);

    /// The reader did not read from the last byte until `now`: it was busy with what it had
    /// read (writing it to a slow client, say), and bytes the stream sent meanwhile wait unread.
    /// The idle limit counts from `now`; the first-content and total limits do not move, and a
    /// limit already over stays over. Not thread-safe.
    void resume(time_point now) noexcept;

    /// When the next timeout fires if no byte arrives; none when no timeout applies (also
    /// after the terminator). Not thread-safe.
    [[nodiscard]] std::optional<time_point> next_deadline() const noexcept;

    /// Ends the stream and returns the verdict. The monitor keeps it: later calls return the
    /// same. Not thread-safe.
    [[nodiscard]] verdict finish();

    /// The time limit that stopped the stream; `none` when none did. Not thread-safe.
    [[nodiscard]] sse::timeout timed_out() const noexcept { return timed_out_; }

    /// Whether the verdict can no longer be `done` (an error chunk, limit or timeout was
    /// seen). Not thread-safe.
    [[nodiscard]] bool failed() const noexcept { return failure_.has_value(); }
    /// Whether a terminator was seen: later events are ignored. Not thread-safe.
    [[nodiscard]] bool done_seen() const noexcept { return done_; }
    /// The protocol set or detected so far. Not thread-safe.
    [[nodiscard]] sse::protocol protocol() const noexcept { return protocol_; }
    /// Events seen so far, and of those, content events. Not thread-safe.
    [[nodiscard]] std::size_t events() const noexcept { return events_; }
    [[nodiscard]] std::size_t content_events() const noexcept { return content_; }
    /// The handler. Not thread-safe.
    [[nodiscard]] Handler& handler() noexcept { return handler_; }
    [[nodiscard]] const Handler& handler() const noexcept { return handler_; }
    /// Bytes the monitor holds in buffers: its parser's and its scanner's kept summary. A stream
    /// costs this plus the object itself. Not thread-safe.
    [[nodiscard]] std::size_t buffered_bytes() const noexcept {
        const error_summary& s = scanner_.summary();
        return parser_.buffered_bytes() + s.message.capacity() + s.type.capacity() +
               s.code.capacity();
    }
    /// The options. Not thread-safe.
    [[nodiscard]] const monitor_options& options() const noexcept { return opts_; }

private:
    struct sink {
        monitor* self;
        void on_event(const event& e, detail::data_hint h) { self->on_event(e, h.quote_e); }
        // With validation every event's JSON is read whole, so a hint would go unused.
        [[nodiscard]] bool data_hints_wanted() const noexcept { return !self->opts_.validate_json; }
        void on_retry(std::chrono::milliseconds ms) { self->on_retry(ms); }
        void
        on_fragment(const event_fragment& f) requires detail::takes_monitor_fragments<Handler> {
            self->on_fragment(f);
        }
    };

    void on_event(const event& e, bool quote_e);
    void on_retry(std::chrono::milliseconds ms);
    void on_fragment(const event_fragment& f);
    // What a whole event of kind `k` means for the verdict: a terminator (`completed`: the
    // protocol's own), the first error's failure, the first malformed event.
    void record(event_kind k, faultline::failure&& f, bool completed);
    std::error_code stop(std::error_code ec);
    std::error_code expire(sse::timeout which, std::chrono::milliseconds limit);

    monitor_options opts_;
    Handler handler_;
    parser<sink> parser_;
    error_scanner scanner_; // reused: examining an event allocates nothing
    // The stop reason of an event too large to hold, read as its fragments pass.
    detail::string_at_scanner stop_scanner_;
    time_point start_;
    time_point last_;
    std::optional<faultline::failure> failure_; // the first error: chunk, limit or timeout
    std::optional<faultline::failure> malformed_;
    std::optional<verdict> verdict_;
    std::error_code stopped_; // limit or timeout: no more bytes are read
    std::string stop_reason_;
    std::size_t events_ = 0;
    std::size_t content_ = 0;
    sse::protocol protocol_;
    sse::timeout timed_out_ = sse::timeout::none;
    bool done_ = false;      // a terminator (or `[DONE]`) came: later events are ignored
    bool completed_ = false; // the protocol's own terminator came
    bool stop_scan_ = false; // the fragmented event being read carries a stop reason
};

} // namespace faultline::sse

#include <faultline/sse/impl/monitor.hpp>
// classify() reads event-stream bodies with the monitor; its code needs the monitor complete.
#include <faultline/impl/classify_stream.hpp>

#endif

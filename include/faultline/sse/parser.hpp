#ifndef FAULTLINE_SSE_PARSER_HPP
#define FAULTLINE_SSE_PARSER_HPP

#include <faultline/detail/config.hpp>

// An incremental parser for `text/event-stream` that follows the WHATWG HTML "event stream
// interpretation" rules exactly, over bytes. Push bytes in whatever pieces the transport hands
// out; events come back through a handler.
//
//     struct printer {
//         void on_event(const faultline::sse::event& e) { std::cout << e.data << '\n'; }
//         void on_retry(std::chrono::milliseconds) {} // optional
//     };
//     faultline::sse::parser<printer> p;
//     std::error_code ec;
//     p.feed("data: hel", ec);
//     p.feed("lo\r", ec);
//     p.feed("\n\n", ec); // prints "hello"
//
// Rules implemented: CR, LF and CRLF line ends (also a CR that ends one piece and the LF that
// starts the next); one leading UTF-8 BOM stripped (also when split across pieces); comment
// lines; a field name with no colon; one leading space of a value stripped; `data` lines joined
// with '\n'; `event`; `id` ignored when it contains NUL, the last event id sticky across events;
// `retry` only when all ASCII digits; an event dispatched on a blank line only when at least one
// `data` line was seen (the data buffer of the spec is non-empty), the event type reset either
// way; nothing dispatched at end of stream. Bytes are never decoded: invalid UTF-8 passes through.
//
// Deviations, both about values the spec leaves to arbitrary-precision integers or to a
// decoder: a `retry` value with no digits at all is ignored, and one that does not fit in
// `std::chrono::milliseconds` saturates at its maximum.
//
// Lines of any size (opt-in): a handler that also has `on_fragment(const event_fragment&)` gets
// an event whose data outgrows the limits in fragments instead of an error. A `data` line
// longer than `max_line`, or data past `max_event`, is then handed over as it arrives (views
// into the fed piece, nothing held), the event's end as a fragment with `last` set; an over-long
// comment or unknown field is skipped. The limits keep their meaning for what is held, so memory
// stays bounded by them whatever the line length. Only an over-long `event`, `id` or `retry`
// line is still `sse_line_too_long` (with fragments, `max_line` is at least 8).
//
// Memory: an event that lies inside one fed piece is delivered as views into that piece, no
// copy. A line cut by a piece boundary is kept in one reusable line buffer (at most `max_line`
// bytes), the data of an event cut by a boundary in one reusable data buffer (at most
// `max_event` bytes). Buffers keep their capacity, so a steady stream allocates nothing.

#include <faultline/error.hpp>
#include <faultline/result.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace faultline::sse {

/// Limits of a parser. Exceeding one is an error (never silent truncation).
struct parser_options {
    /// Longest line, in bytes without its line end -> `error::sse_line_too_long`. This is also
    /// the most a parser buffers for a line cut by a piece boundary.
    std::size_t max_line = 4 * 1024 * 1024;
    /// Largest event data (the `data` values joined with '\n'), in bytes ->
    /// `error::sse_event_too_large`.
    std::size_t max_event = 8 * 1024 * 1024;
};

/// One dispatched event. The views are valid only during the handler call.
struct event {
    /// The `event` field; empty when the event had none or an empty one (the spec's default
    /// type "message" applies then).
    std::string_view type;
    /// The `data` values joined with '\n'.
    std::string_view data;
    /// This event's own `id` field (the last valid one), or nothing when it had none.
    std::optional<std::string_view> id;
    /// The sticky last event id: the latest valid `id` seen in the stream so far ("" at first).
    std::string_view last_event_id;
};

/// Part of an event delivered in fragments (see "Lines of any size" above). The views are valid
/// only during the handler call.
struct event_fragment {
    /// The next bytes of the event's data (the '\n' that joins two `data` lines included).
    std::string_view data;
    /// The `event` field as seen so far; final only in the `last` fragment (a field may follow
    /// the data).
    std::string_view type;
    /// The event's first fragment: the data held before it began fragmenting comes with it.
    bool first = false;
    /// The blank line came: the event is complete (`data` is empty). A stream that ends before
    /// it never delivers a `last` fragment, just as an unfinished event is never dispatched.
    bool last = false;
    /// In the `last` fragment: as `event::id` and `event::last_event_id`.
    std::optional<std::string_view> id;
    std::string_view last_event_id;
};

namespace detail {
/// Passed with each event to a handler that has `on_event(const event&, data_hint)` (the
/// monitor): what the parser's line search learned about the event's data on the way.
struct data_hint {
    /// False only when the data is known to hold no `"e` (a quote followed by `e`), so no
    /// `"error"` key either.
    bool quote_e = true;
};
} // namespace detail

/// A handler that ignores everything.
struct null_handler {
    void on_event(const event&) noexcept {}
};

/// The incremental parser. `Handler` must have `on_event(const event&)`, and may have
/// `on_retry(std::chrono::milliseconds)`, called for every valid `retry` field in stream order.
/// A handler may be a reference type (`parser<my_handler&>`).
///
/// Errors (`error::sse_line_too_long`, `error::sse_event_too_large`) stop the parser: it is then
/// failed, calls the handler no more, and `feed` consumes nothing and returns the same error.
template <class Handler = null_handler>
class parser {
public:
    /// Not thread-safe.
    explicit parser(parser_options opts = {}, Handler handler = Handler{})
        : opts_(opts)
        , handler_(static_cast<Handler&&>(handler)) {}

    /// Parses `bytes`, calling the handler for every event and retry they complete. Returns the
    /// number of bytes consumed: all of them unless `ec` is set, else those before the line
    /// that failed. Not thread-safe.
    std::size_t feed(std::string_view bytes, std::error_code& ec);

    /// As above, returning the bytes consumed or the error. Not thread-safe.
    [[nodiscard]] result<std::size_t> feed(std::string_view bytes) {
        std::error_code ec;
        const std::size_t n = feed(bytes, ec);
        if (ec) return ec;
        return n;
    }

    /// Ends the stream: an unfinished line or event is dropped, never dispatched (the WHATWG
    /// rule), and the parser is ready for a new stream (the last event id is kept, like an
    /// EventSource reconnecting). Not thread-safe.
    void reset_stream() noexcept;

    /// The error that stopped the parser, or none. Thread-safe if nothing feeds meanwhile.
    [[nodiscard]] std::error_code error() const noexcept { return failed_; }
    /// The sticky last event id. Thread-safe if nothing feeds meanwhile.
    [[nodiscard]] std::string_view last_event_id() const noexcept { return last_id_; }
    /// Whether bytes of an unfinished line or event are pending (a stream ending now would lose
    /// them). Thread-safe if nothing feeds meanwhile.
    [[nodiscard]] bool mid_event() const noexcept {
        return !line_.empty() || data_lines_ != 0 || type_mode_ != mode::none || stream_line_ ||
               skip_line_;
    }
    /// Bytes the parser holds in its buffers (their capacity): what a stream costs in memory
    /// beyond the parser object. Thread-safe if nothing feeds meanwhile.
    [[nodiscard]] std::size_t buffered_bytes() const noexcept {
        return line_.capacity() + data_.capacity() + type_.capacity() + last_id_.capacity();
    }
    /// The options. Thread-safe.
    [[nodiscard]] const parser_options& options() const noexcept { return opts_; }
    /// The handler. Not thread-safe.
    [[nodiscard]] Handler& handler() noexcept { return handler_; }
    [[nodiscard]] const Handler& handler() const noexcept { return handler_; }

private:
    enum class mode : unsigned char { none, view, buffered };

    bool line(std::string_view line, bool in_piece);
    bool long_line(std::string_view head, std::string_view tail, bool ended);
    void begin_fragments();
    void fragment(std::string_view bytes);
    bool data(std::string_view value, bool in_piece);
    void dispatch();
    void materialize();
    // The two halves are kept apart and read one by one: a string_view member written in
    // `data` and copied whole in `dispatch` was stored as two words and reloaded as one, a
    // store-forwarding stall on every event.
    [[nodiscard]] std::string_view data_view() const noexcept { return {data_at_, data_size_}; }
    bool fail(faultline::error e) noexcept {
        failed_ = e;
        return false;
    }

    parser_options opts_;
    Handler handler_;
    std::string line_;    // a line cut by a piece boundary
    std::string data_;    // data of an event cut by a piece boundary
    std::string type_;    // event type cut by a piece boundary
    std::string last_id_; // sticky
    // The data of an event read whole from the current piece: its start, and (apart, see
    // data_view) its size.
    const char* data_at_ = nullptr;
    std::string_view type_view_;
    std::size_t data_lines_ = 0;
    std::size_t data_size_ = 0;
    std::error_code failed_;
    unsigned char bom_ = 0; // BOM bytes matched so far; 3 once the stream start is decided
    mode data_mode_ = mode::none;
    mode type_mode_ = mode::none;
    bool has_id_ = false;
    bool skip_lf_ = false;       // the previous piece ended with CR
    bool fragments_ = false;     // the current event is being delivered in fragments
    bool fragment_sent_ = false; // ... and its first fragment went out
    bool stream_line_ = false;   // the rest of the current data line goes out as fragments
    bool skip_line_ = false;     // the rest of the current (comment) line is dropped
    bool line_quote_e_ = true;   // the line being read may hold `"e` (see detail::data_hint)
    bool data_quote_e_ = true;   // ... and the data of the event being read
};

} // namespace faultline::sse

#include <faultline/sse/impl/parser.hpp>

#endif

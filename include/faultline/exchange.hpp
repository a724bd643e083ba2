#ifndef FAULTLINE_EXCHANGE_HPP
#define FAULTLINE_EXCHANGE_HPP

#include <faultline/detail/config.hpp>

// What happened to one HTTP call, from what the client saw: the status and headers, the body
// (whole or in pieces), the stream's events when it streamed, and the transport error if the
// connection failed. Sans I/O: the caller reads the socket and hands each part over.
//
//     faultline::exchange<> x(clock::now());
//     x.head(resp.result_int(), resp.base(), clock::now());
//     for (auto piece : body_pieces)
//         if (std::error_code stop = x.body(piece, clock::now())) break; // a limit: stop reading
//     faultline::exchange_result r = x.finish(read_error, clock::now());
//     if (r.failure && !r.content_delivered) retry_or_give_up(*r.failure);
//
// With a pipeline (pipeline.hpp), `end_attempt(p, attempt, r, now)` reports the result: the
// stream's verdict to the pipeline's events, then the attempt's success or failure.
//
// The rule for each combination, written once:
//  - no response head: the transport error (`std::errc::connection_aborted` when the caller
//    has none), through `to_failure`;
//  - a status outside 2xx: `classify` of the status, the headers and the start of the body
//    (`max_error_body` bytes; the rest is read and dropped), also when the body was cut;
//  - a 2xx `text/event-stream`: read through `sse::monitor`. The stream's own error chunk wins
//    over anything that follows it (a cut, a timeout); else a timeout is `stream_timeout`, any
//    other transport error or a missing terminator `stream_truncated`; a complete stream is a
//    success even when the connection failed after its terminator. `content_delivered` says
//    whether content events reached the caller before the failure, so nothing the user already
//    saw is replayed blindly;
//  - any other 2xx: a transport error is the failure; a body over `max_body` is
//    `payload_too_large`; a body that is an error document (a top-level `error`, or `type` or
//    `object` equal to "error") is classified, status and all (a "200 with an error body");
//    else a success, with the body in `body()`.
// Failures of a 2xx answer carry its status.
//
// Timeouts: `head_timeout` (from start to the head) and the monitor's idle, first-content
// (time to first token) and total timeouts, which count from start too. `next_deadline()` says
// when the next one fires; `check(now)` (or `body`) reports it, from that instant on.

#include <faultline/classify.hpp>
#include <faultline/detail/ascii.hpp>
#include <faultline/detail/headers.hpp>
#include <faultline/error.hpp>
#include <faultline/failure.hpp>
#include <faultline/pipeline.hpp>
#include <faultline/sse/monitor.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace faultline {

struct exchange_options {
    /// How a 2xx event stream is read: limits, protocol, idle and total timeouts, and how its
    /// error chunks are classified.
    sse::monitor_options monitor{};
    /// How an error response is classified.
    classify_options classify{};
    /// Bytes of an error body kept for `classify`; the rest is read and dropped. `classify`
    /// reads at most `classify.json.max_size` bytes of any body.
    std::size_t max_error_body = 64 * 1024;
    /// Largest 2xx body that is not a stream; a longer one is `error::payload_too_large`.
    std::size_t max_body = std::size_t(16) << 20;
    /// Longest wait from start to the response head; none = no limit. Over it:
    /// `error::upstream_timeout`.
    std::optional<std::chrono::milliseconds> head_timeout;
};

/// The answer to "what happened to this call?".
struct exchange_result {
    /// What went wrong; none when the call succeeded.
    std::optional<faultline::failure> failure;
    /// Whether content reached the caller before the failure (a stream's content events).
    bool content_delivered = false;
    /// The response status; 0 when no head came.
    unsigned status = 0;
    /// The stream's verdict, for a 2xx event stream.
    std::optional<sse::verdict> stream;
    /// The transport error the caller passed to `finish`, unless it was the exchange's own stop.
    std::error_code transport;

    /// Whether the call succeeded. Thread-safe.
    [[nodiscard]] bool ok() const noexcept { return !failure; }
};

/// One HTTP call. `Handler` is the stream monitor's handler (see sse/monitor.hpp): it sees every
/// event of a 2xx event stream. Not copyable or movable (it holds a monitor).
template <class Handler = sse::null_monitor_handler, class Clock = std::chrono::steady_clock>
class exchange {
public:
    using clock = Clock;
    using time_point = typename Clock::time_point;
    using monitor_type = sse::monitor<Handler, Clock>;

    /// `start` is when the request was sent. Not thread-safe.
    explicit exchange(time_point start, exchange_options options = {}, Handler handler = Handler{});
    exchange(const exchange&) = delete;
    exchange& operator=(const exchange&) = delete;

    /// The response head, received at `now`. `headers` is a Beast `http::fields` or any range
    /// of name/value pairs. Returns `upstream_timeout` when it came after `head_timeout`, and
    /// `std::errc::protocol_error` for a second head or a status outside 100-999. Not
    /// thread-safe.
    template <class Headers>
    std::error_code head(unsigned status, const Headers& headers, time_point now);

    /// Body bytes that arrived at `now`. Returns an error when reading must stop: a stream's
    /// limit or timeout, or a 2xx body over `max_body`; the same error
    /// on every later call. `std::errc::protocol_error` before a head. Not thread-safe.
    [[nodiscard]] std::error_code body(std::string_view bytes, time_point now);

    /// Checks the timeouts at `now` without bytes. Call it when a read times out at
    /// `next_deadline()`. Not thread-safe.
    [[nodiscard]] std::error_code check(time_point now);

    /// When the next timeout fires if nothing arrives; none when no timeout applies. Not
    /// thread-safe.
    [[nodiscard]] std::optional<time_point> next_deadline() const noexcept;

    /// Ends the call: `transport` is the error the connection ended with (none for a complete
    /// response; the error `body` or `check` returned is recognised as the exchange's own).
    /// The exchange keeps the result: later calls return the same. Not thread-safe.
    [[nodiscard]] const exchange_result& finish(std::error_code transport, time_point now);

    /// Whether a head came. Not thread-safe.
    [[nodiscard]] bool head_received() const noexcept { return status_ != 0; }
    /// Whether the answer is a 2xx event stream. Not thread-safe.
    [[nodiscard]] bool streaming() const noexcept { return monitor_.has_value(); }
    /// Whether stream content reached the caller. Not thread-safe.
    [[nodiscard]] bool content_delivered() const noexcept {
        return monitor_ && monitor_->content_events() > 0;
    }
    /// The body kept: a 2xx body that is not a stream, or the start of an error body. Not
    /// thread-safe.
    [[nodiscard]] std::string_view body() const noexcept { return body_; }
    /// The stream's monitor; null unless `streaming()`. Not thread-safe.
    [[nodiscard]] monitor_type* monitor() noexcept { return monitor_ ? &*monitor_ : nullptr; }
    /// The options. Not thread-safe.
    [[nodiscard]] const exchange_options& options() const noexcept { return opts_; }

private:
    std::error_code stop(std::error_code ec, std::string message);
    [[nodiscard]] failure decide(std::error_code transport);

    exchange_options opts_;
    Handler handler_;
    time_point start_;
    unsigned status_ = 0;
    std::vector<std::pair<std::string, std::string>> headers_; // what `classify` reads
    std::string body_;
    std::optional<monitor_type> monitor_;
    std::error_code stopped_; // the exchange's own stop: a limit or a timeout
    std::string stop_message_;
    std::optional<exchange_result> result_;
};

/// Tells pipeline `p` how its attempt `attempt` ended, as the exchange's result `r` says: the
/// stream's verdict first when it streamed (the `stream_ended` event), then a success, or the
/// failure with whether content reached the caller (which the retry policy reads). Not
/// thread-safe (the pipeline is not).
template <class Events, class Clock, class URBG, class Admission>
void end_attempt(pipeline<Events, Clock, URBG, Admission>& p, unsigned attempt,
                 const exchange_result& r, typename Clock::time_point now) {
    if (r.stream) p.stream_ended(attempt, *r.stream, now);
    if (r.failure)
        p.failed(attempt, *r.failure, now, r.content_delivered);
    else
        p.succeeded(attempt, now);
}

namespace detail {
// Whether a complete 2xx JSON body is an error document: a top-level (or first array element's)
// `error` that is not null, or `type` / `object` equal to "error". Thread-safe.
[[nodiscard]] bool is_error_document(std::string_view body, const parse_limits& limits);
} // namespace detail

} // namespace faultline

#include <faultline/impl/exchange.hpp>

#endif

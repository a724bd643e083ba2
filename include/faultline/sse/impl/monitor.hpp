#ifndef FAULTLINE_SSE_IMPL_MONITOR_HPP
#define FAULTLINE_SSE_IMPL_MONITOR_HPP

#include <faultline/detail/ascii.hpp>
#include <faultline/detail/utf8.hpp>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cstring>
#include <span>
#include <string>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace faultline::sse {
namespace detail {

// Whether `s` holds the bytes `"error"`: the only check a normal chunk pays besides its ends.
// Vector steps look for `"e` (which normal OpenAI chunks almost never have) and confirm the rest
// with one compare. The last bytes go through one more step over the data's last full vector,
// overlapping bytes already seen (a candidate found twice is confirmed twice, which is harmless),
// so nothing is read past the data and nothing is copied; data shorter than one step is searched
// plainly. AVX2 where the CPU has it (checked once), else SSE2, else the plain find.
//
// Step reads `q[0..width]` (one byte past the vector, for the `e`); a candidate at `q + k` is
// confirmed only when the seven bytes of `"error"` lie inside the data.
[[nodiscard]] inline bool error_key_in(const char* q, unsigned mask, const char* end) noexcept {
    for (; mask != 0; mask &= mask - 1) {
        const char* at = q + __builtin_ctz(mask);
        if (end - at >= 7 && std::memcmp(at + 2, "rror\"", 5) == 0) return true;
    }
    return false;
}

#if defined(__SSE2__)
[[nodiscard]] inline unsigned quote_e_mask_sse2(const char* q) noexcept {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 1));
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(
        _mm_cmpeq_epi8(a, _mm_set1_epi8('"')), _mm_cmpeq_epi8(b, _mm_set1_epi8('e')))));
}

[[nodiscard]] inline bool has_error_key_sse2(const char* p, std::size_t n) noexcept {
    constexpr std::size_t w = 16;
    if (n < w + 1) return std::string_view(p, n).find("\"error\"") != std::string_view::npos;
    const char* const end = p + n;
    std::size_t i = 0;
    for (; i + w + 1 <= n; i += w)
        if (error_key_in(p + i, quote_e_mask_sse2(p + i), end)) return true;
    const char* last = end - (w + 1); // the pairs from `i` to the end, overlapping
    return i + 1 < n && error_key_in(last, quote_e_mask_sse2(last), end);
}
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FAULTLINE_SSE_AVX2_SCAN 1
[[gnu::target("avx2")]] [[nodiscard]] inline __m256i quote_e_avx2(const char* q) noexcept {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 1));
    return _mm256_and_si256(_mm256_cmpeq_epi8(a, _mm256_set1_epi8('"')),
                            _mm256_cmpeq_epi8(b, _mm256_set1_epi8('e')));
}

[[gnu::target("avx2")]] [[nodiscard]] inline unsigned quote_e_mask_avx2(const char* q) noexcept {
    return static_cast<unsigned>(_mm256_movemask_epi8(quote_e_avx2(q)));
}

// 64 bytes a round, both halves tested at once: a normal chunk takes one branch per round.
[[gnu::target("avx2")]] [[nodiscard]] inline bool has_error_key_avx2(const char* p,
                                                                     std::size_t n) noexcept {
    constexpr std::size_t w = 32;
    if (n < w + 1) return has_error_key_sse2(p, n);
    const char* const end = p + n;
    std::size_t i = 0;
    for (; i + 2 * w + 1 <= n; i += 2 * w) {
        const __m256i lo = quote_e_avx2(p + i), hi = quote_e_avx2(p + i + w);
        if (_mm256_testz_si256(_mm256_or_si256(lo, hi), _mm256_or_si256(lo, hi)) == 0 &&
            (error_key_in(p + i, static_cast<unsigned>(_mm256_movemask_epi8(lo)), end) ||
             error_key_in(p + i + w, static_cast<unsigned>(_mm256_movemask_epi8(hi)), end)))
            return true;
    }
    if (i + w + 1 <= n) {
        if (error_key_in(p + i, quote_e_mask_avx2(p + i), end)) return true;
        i += w;
    }
    const char* last = end - (w + 1); // the pairs from `i` to the end, overlapping
    return i + 1 < n && error_key_in(last, quote_e_mask_avx2(last), end);
}
#endif

[[nodiscard]] inline bool has_error_key(std::string_view s) noexcept {
#if defined(FAULTLINE_SSE_AVX2_SCAN)
    if (cpu_has_avx2()) return has_error_key_avx2(s.data(), s.size());
#endif
#if defined(__SSE2__)
    return has_error_key_sse2(s.data(), s.size());
#else
    return s.find("\"error\"") != std::string_view::npos;
#endif
}

[[nodiscard]] inline std::string_view trim_json_space(std::string_view s) noexcept {
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (!s.empty() && space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && space(s.back()))
        s.remove_suffix(1);
    return s;
}

// Parses `data` within the classify limits; false when it is not valid JSON.
[[nodiscard]] inline bool parse_json(std::string_view data, const classify_options& o,
                                     boost::json::value& out) {
    if (data.size() > o.json.max_size) return false;
    boost::json::parse_options po;
    po.max_depth = o.json.depth();
    boost::json::parser p({}, po);
    boost::system::error_code ec;
    p.write(data.data(), data.size(), ec);
    if (ec) return false;
    out = p.release();
    return true;
}

inline faultline::failure error_chunk_failure(std::string_view data, const classify_options& o) {
    // Read as a body, never as an event stream again: an event's data framed as a stream
    // (`data: data: …`) must not nest one monitor in another.
    faultline::detail::header_facts no_headers;
    no_headers.inside_stream = true;
    faultline::failure f = faultline::detail::classify_impl(0, no_headers, data, o);
    if (f.code == error::unknown) {
        // Nothing more precise in the chunk: it is still a failure inside a 200 stream.
        const error_info& row = info(error::stream_interrupted);
        f.code = row.code;
        f.cat = row.cat;
        f.retryable = row.retryable;
        if (f.message.empty()) f.message = std::string(row.cause);
    }
    return f;
}

inline faultline::failure local_failure(error e) {
    return to_failure(e);
}

// The failure of an error chunk too large to hold: classified from what the scanner kept of its
// error member, rebuilt as a small OpenAI-shaped body.
inline faultline::failure summary_failure(const error_summary& s, const classify_options& o) {
    boost::json::object err;
    if (!s.message.empty()) err["message"] = s.message;
    if (!s.type.empty()) err["type"] = s.type;
    if (!s.code.empty()) {
        boost::json::value code = boost::json::string_view(s.code);
        if (s.code_is_number) {
            boost::system::error_code ec;
            boost::json::value n = boost::json::parse(s.code, ec);
            if (!ec) code = std::move(n);
        }
        err["code"] = std::move(code);
    }
    return error_chunk_failure(boost::json::serialize(boost::json::object{{"error", err}}), o);
}

template <class H>
concept has_on_error = requires(H& h, const event& e, const faultline::failure& f) {
    h.on_error(e, f);
};

inline constexpr std::size_t max_stop_reason = 256;

// The string at `path` inside `data` (a JSON object) in its first max_stop_reason bytes, or
// nothing: not JSON, nested deeper than the classify limit, a member missing or not a string.
// Read by string_at_scanner, so a document of any size is read in the same memory.
[[nodiscard]] inline std::optional<std::string>
json_string_at(std::string_view data, std::span<const std::string_view> path,
               const classify_options& o) {
    string_at_scanner s(max_stop_reason, o.json.depth());
    s.reset(path);
    s.write(data);
    return s.finish();
}

// Where an event named `type` keeps its stop reason in protocol `p`: Responses'
// `response.incomplete` in `response.incomplete_details.reason`, Anthropic's `message_delta` in
// `delta.stop_reason`; empty for any other event.
[[nodiscard]] inline std::span<const std::string_view> stop_reason_path(std::string_view type,
                                                                        protocol p) noexcept {
    static constexpr std::string_view incomplete[] = {"response", "incomplete_details", "reason"};
    static constexpr std::string_view delta[] = {"delta", "stop_reason"};
    if ((p == protocol::responses || p == protocol::unknown) && type == "response.incomplete")
        return incomplete;
    if ((p == protocol::anthropic_messages || p == protocol::unknown) && type == "message_delta")
        return delta;
    return {};
}

// `response.failed` carries its error in `response.error {code, message}`: the
// `{"error":{…}}` chunk it would be in chat completions, or nothing when there is none.
[[nodiscard]] inline std::optional<std::string> response_failed_body(std::string_view data,
                                                                     const classify_options& o) {
    boost::json::value v;
    if (parse_json(trim_json_space(data), o, v))
        if (const auto* root = v.if_object())
            if (const auto* resp = root->if_contains("response"); resp && resp->is_object())
                if (const auto* err = resp->get_object().if_contains("error");
                    err && err->is_object() && !err->get_object().empty()) {
                    boost::json::object wrapped;
                    wrapped["error"] = *err;
                    return boost::json::serialize(wrapped);
                }
    return std::nullopt;
}

// The body an error event is classified from.
[[nodiscard]] inline std::string error_event_body(const event& e, const classify_options& o) {
    if (e.type == "response.failed")
        if (auto b = response_failed_body(e.data, o)) return std::move(*b);
    return std::string(e.data);
}

inline faultline::failure response_failed_failure(std::string_view data,
                                                  const classify_options& o) {
    const auto b = response_failed_body(data, o);
    return error_chunk_failure(b ? std::string_view(*b) : data, o);
}

// Whether `type` names the terminator of `p` (any protocol's when `p` is unknown).
[[nodiscard]] inline bool is_terminator_event(std::string_view type, protocol p) noexcept {
    switch (p) {
    case protocol::responses:
        return type == "response.completed" || type == "response.incomplete";
    case protocol::anthropic_messages:
        return type == "message_stop";
    case protocol::unknown:
        return type == "response.completed" || type == "response.incomplete" ||
               type == "message_stop";
    case protocol::chat_completions:
        break;
    }
    return false;
}

// What the name of `e` decides in protocol `p`: an error event, a terminator, or nothing (then
// its data decides). Writes the failure of an error event to `*failed` and the stop reason an
// event carries to `*stop_reason` (each when not null). Kept apart from the data path, which
// every chat completions chunk takes.
inline std::optional<event_kind> classify_named_event(const event& e, protocol p,
                                                      const monitor_options& o,
                                                      faultline::failure* failed,
                                                      std::string* stop_reason) {
    if (e.type == "error") {
        if (failed) *failed = error_chunk_failure(e.data, o.classify);
        return event_kind::error;
    }
    const bool responses = p == protocol::responses || p == protocol::unknown;
    if (responses && e.type == "response.failed") {
        if (failed) *failed = response_failed_failure(e.data, o.classify);
        return event_kind::error;
    }
    const auto path = stop_reason_path(e.type, p);
    if (is_terminator_event(e.type, p)) {
        if (stop_reason && !path.empty()) {
            // Incomplete is a stop reason in itself, even when the reason is unreadable.
            auto r = json_string_at(e.data, path, o.classify);
            *stop_reason = r ? std::move(*r) : std::string("incomplete");
        }
        return event_kind::done;
    }
    if (stop_reason && !path.empty())
        if (auto r = json_string_at(e.data, path, o.classify)) *stop_reason = std::move(*r);
    return std::nullopt;
}

// The kind of `e` in protocol `p`, `scanner` doing the exact work on its data: every event's
// JSON when validation is asked for, else only the rare chunks that name "error" or are not
// framed like a chunk. See classify_named_event for the out-parameters.
inline event_kind classify_event_in(const event& e, protocol p, const monitor_options& o,
                                    error_scanner& scanner, faultline::failure* failed,
                                    std::string* stop_reason) {
    // Event names first: string compares, never a parse, for every named event.
    if (!e.type.empty())
        if (const auto k = classify_named_event(e, p, o, failed, stop_reason)) return *k;
    const std::string_view d = detail::trim_json_space(e.data);
    if (d.empty()) return event_kind::empty;
    // The exact data `[DONE]`: ` [DONE]` or `[DONE] ` is not the terminator, and not JSON.
    if (d == "[DONE]")
        return d.size() == e.data.size() ? event_kind::done : event_kind::malformed_json;
    const char first = d.front(), last = d.back();
    const bool framed = (first == '{' && last == '}') || (first == '[' && last == ']');
    if (framed && !o.validate_json && !detail::has_error_key(d)) return event_kind::content;
    // Rare from here on: a chunk naming "error", a non-object, or validation asked for.
    if (!framed && (first == '{' || first == '[')) return event_kind::malformed_json;
    switch (error_scanner::scan(scanner, d)) {
    case scan_result::invalid:
        return event_kind::malformed_json;
    case scan_result::content:
        return event_kind::content;
    case scan_result::error:
        break;
    }
    if (failed) *failed = detail::error_chunk_failure(d, o.classify);
    return event_kind::error;
}

} // namespace detail

inline std::string_view to_string(terminal t) noexcept {
    switch (t) {
    case terminal::done:
        return "done";
    case terminal::error:
        return "error";
    case terminal::eof_without_done:
        return "eof_without_done";
    case terminal::malformed_json:
        return "malformed_json";
    }
    return "error";
}

inline std::string_view to_string(event_kind k) noexcept {
    switch (k) {
    case event_kind::content:
        return "content";
    case event_kind::done:
        return "done";
    case event_kind::error:
        return "error";
    case event_kind::malformed_json:
        return "malformed_json";
    case event_kind::empty:
        return "empty";
    }
    return "content";
}

inline std::string_view to_string(protocol p) noexcept {
    switch (p) {
    case protocol::unknown:
        return "unknown";
    case protocol::chat_completions:
        return "chat_completions";
    case protocol::responses:
        return "responses";
    case protocol::anthropic_messages:
        return "anthropic_messages";
    }
    return "unknown";
}

inline protocol protocol_of(std::string_view type) noexcept {
    if (type.empty()) return protocol::chat_completions;
    if (type.starts_with("response.")) return protocol::responses;
    if (type == "message_start" || type == "message_delta" || type == "message_stop" ||
        type.starts_with("content_block_") || type == "ping")
        return protocol::anthropic_messages;
    return protocol::unknown;
}

inline event_kind classify_event(const event& e, const monitor_options& o,
                                 faultline::failure* failed) {
    const protocol p = o.protocol != protocol::unknown ? o.protocol : protocol_of(e.type);
    error_scanner scanner(o.classify.json.depth());
    return detail::classify_event_in(e, p, o, scanner, failed, nullptr);
}

template <class Handler, class Clock>
monitor<Handler, Clock>::monitor(time_point start, monitor_options options, Handler handler)
    : opts_(std::move(options))
    , handler_(static_cast<Handler&&>(handler))
    , parser_(opts_.limits, sink{this})
    , scanner_(opts_.classify.json.depth())
    , stop_scanner_(detail::max_stop_reason, opts_.classify.json.depth())
    , start_(start)
    , last_(start)
    , protocol_(opts_.protocol) {}

template <class Handler, class Clock>
std::error_code monitor<Handler, Clock>::stop(std::error_code ec) {
    stopped_ = ec;
    if (!failure_) failure_ = to_failure(ec);
    return ec;
}

template <class Handler, class Clock>
std::error_code monitor<Handler, Clock>::expire(sse::timeout which,
                                                std::chrono::milliseconds limit) {
    timed_out_ = which;
    stopped_ = make_error_code(error::stream_timeout);
    if (failure_) return stopped_; // an error event came first: the verdict keeps it
    const std::string ms = std::to_string(limit.count());
    if (which == sse::timeout::total)
        failure_ = to_failure(stopped_, "The stream exceeded its time limit of " + ms + " ms.");
    else if (which == sse::timeout::first_content)
        failure_ = to_failure(stopped_, "No content within " + ms + " ms of the start.");
    else
        failure_ = to_failure(stopped_, "Nothing arrived for " + ms + " ms.");
    return stopped_;
}

template <class Handler, class Clock>
std::error_code monitor<Handler, Clock>::check(time_point now) {
    if (stopped_) return stopped_;
    if (done_ || verdict_) return {};
    // Inclusive: a caller woken at `next_deadline()` is told the limit is over.
    if (opts_.total_timeout && now - start_ >= *opts_.total_timeout)
        return expire(sse::timeout::total, *opts_.total_timeout);
    if (opts_.first_content_timeout && content_ == 0 && !failure_ &&
        now - start_ >= *opts_.first_content_timeout)
        return expire(sse::timeout::first_content, *opts_.first_content_timeout);
    if (opts_.idle_timeout && now - last_ >= *opts_.idle_timeout)
        return expire(sse::timeout::idle, *opts_.idle_timeout);
    return {};
}

template <class Handler, class Clock>
std::error_code monitor<Handler, Clock>::feed(std::string_view bytes, time_point now) {
    if (const std::error_code ec = check(now)) return ec;
    if (verdict_ || bytes.empty()) return {};
    last_ = now;
    std::error_code ec;
    (void)parser_.feed(bytes, ec);
    if (ec) return stop(ec);
    return {};
}

template <class Handler, class Clock>
void monitor<Handler, Clock>::resume(time_point now) noexcept {
    if (!stopped_ && now > last_) last_ = now;
}

template <class Handler, class Clock>
auto monitor<Handler, Clock>::next_deadline() const noexcept -> std::optional<time_point> {
    if (stopped_ || done_ || verdict_) return std::nullopt;
    std::optional<time_point> t;
    const auto take = [&t](time_point at) {
        if (!t || at < *t) t = at;
    };
    if (opts_.idle_timeout) take(last_ + *opts_.idle_timeout);
    if (opts_.first_content_timeout && content_ == 0 && !failure_)
        take(start_ + *opts_.first_content_timeout);
    if (opts_.total_timeout) take(start_ + *opts_.total_timeout);
    return t;
}

// `quote_e` false: the parser's line search saw no `"e` in the data, so it holds no `"error"`.
template <class Handler, class Clock>
void monitor<Handler, Clock>::on_event(const event& e, bool quote_e) {
    if (done_) return; // as the SDKs do: nothing after the terminator counts
    // The common event first: unnamed, its data one JSON object (nothing to trim, not `[DONE]`)
    // without a `"error"` candidate, or with validation one the scanner finds valid and without
    // an error member. What classify_event_in decides for it, with nothing else looked at and no
    // failure built; an event that fails here is scanned again there, which only errors pay.
    if (e.type.empty() && e.data.size() >= 2 && e.data.front() == '{' && e.data.back() == '}' &&
        (opts_.validate_json ? error_scanner::scan(scanner_, e.data) == scan_result::content
                             : !quote_e || !detail::has_error_key(e.data))) {
        if (protocol_ == protocol::unknown) protocol_ = protocol::chat_completions;
        ++events_;
        ++content_;
        handler_.on_event(e, event_kind::content);
        return;
    }
    if (protocol_ == protocol::unknown &&
        (!e.type.empty() || !detail::trim_json_space(e.data).empty()))
        protocol_ = protocol_of(e.type); // a keep-alive `data:` names nothing
    faultline::failure f;
    const event_kind k =
        detail::classify_event_in(e, protocol_, opts_, scanner_, &f, &stop_reason_);
    ++events_;
    if (k == event_kind::content) ++content_;
    handler_.on_event(e, k);
    if constexpr (detail::has_on_error<Handler>)
        if (k == event_kind::error) handler_.on_error(e, std::as_const(f));
    // A `[DONE]` is the end of a Responses or Anthropic stream, not its completion.
    record(k, std::move(f),
           k == event_kind::done &&
               (detail::is_terminator_event(e.type, protocol_) ||
                (protocol_ != protocol::responses && protocol_ != protocol::anthropic_messages)));
}

template <class Handler, class Clock>
void monitor<Handler, Clock>::record(event_kind k, faultline::failure&& f, bool completed) {
    switch (k) {
    case event_kind::done:
        done_ = true;
        completed_ = completed;
        break;
    case event_kind::error:
        if (!failure_) failure_ = std::move(f);
        break;
    case event_kind::malformed_json:
        if (!malformed_) malformed_ = detail::local_failure(error::malformed_json);
        break;
    default:
        break;
    }
}

template <class Handler, class Clock>
void monitor<Handler, Clock>::on_fragment(const event_fragment& f) {
    if constexpr (detail::takes_monitor_fragments<Handler>) {
        if (done_) return; // as for whole events: nothing after the terminator counts
        if (f.first) {
            scanner_.reset();
            if (protocol_ == protocol::unknown) protocol_ = protocol_of(f.type);
            // An event that carries a stop reason is read for it too. Its type must come
            // before its data (as every provider sends it); one named only after its data is
            // read without.
            const auto path = detail::stop_reason_path(f.type, protocol_);
            stop_scan_ = !path.empty();
            if (stop_scan_) stop_scanner_.reset(path);
        }
        if (!f.last) {
            scanner_.write(f.data);
            if (stop_scan_) stop_scanner_.write(f.data);
            handler_.on_fragment(f, event_kind::content);
            return;
        }
        // An error event too large to hold is classified from what the scanner kept of its
        // `error` member (a `response.failed` keeps its error one level deeper, so it reads as
        // an interrupted stream).
        const bool error_event = f.type == "error" || (f.type == "response.failed" &&
                                                       protocol_ != protocol::chat_completions &&
                                                       protocol_ != protocol::anthropic_messages);
        faultline::failure failed;
        event_kind k = event_kind::content;
        std::optional<std::string> reason;
        if (stop_scan_) reason = stop_scanner_.finish();
        if (!f.type.empty() && detail::is_terminator_event(f.type, protocol_)) {
            k = event_kind::done;
            if (stop_scan_) stop_reason_ = reason ? std::move(*reason) : std::string("incomplete");
        } else if (!error_event && scanner_.blank()) {
            k = event_kind::empty;
        } else {
            const scan_result r = scanner_.finish();
            if (error_event || r == scan_result::error) {
                k = event_kind::error;
                failed = detail::summary_failure(scanner_.summary(), opts_.classify);
            } else if (r == scan_result::invalid) {
                k = event_kind::malformed_json;
            }
        }
        if (k == event_kind::content && reason) stop_reason_ = std::move(*reason);
        ++events_;
        if (k == event_kind::content) ++content_;
        handler_.on_fragment(f, k);
        record(k, std::move(failed), true); // `done` here is always the protocol's terminator
    } else {
        (void)f;
    }
}

template <class Handler, class Clock>
void monitor<Handler, Clock>::on_retry(std::chrono::milliseconds ms) {
    if constexpr (detail::has_on_retry<Handler>) handler_.on_retry(ms);
}

template <class Handler, class Clock>
verdict monitor<Handler, Clock>::finish() {
    if (verdict_) return *verdict_;
    verdict v;
    v.protocol = protocol_;
    v.stop_reason = stop_reason_;
    if (failure_) {
        v.kind = terminal::error;
        v.failure = failure_;
    } else if (malformed_) {
        v.kind = terminal::malformed_json;
        v.failure = malformed_;
    } else if (done_ && completed_) {
        v.kind = terminal::done;
    } else {
        v.kind = terminal::eof_without_done;
        if (protocol_ == protocol::responses)
            v.failure =
                to_failure(error::stream_truncated, "The stream ended without response.completed");
        else if (protocol_ == protocol::anthropic_messages)
            v.failure =
                to_failure(error::stream_truncated, "The stream ended without message_stop");
        else
            v.failure = detail::local_failure(error::stream_truncated);
    }
    parser_.reset_stream(); // an unfinished event is dropped, never dispatched
    verdict_ = v;
    return v;
}

} // namespace faultline::sse

#endif

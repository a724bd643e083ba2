#ifndef FAULTLINE_IMPL_EXCHANGE_HPP
#define FAULTLINE_IMPL_EXCHANGE_HPP

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <string>

namespace faultline {

namespace detail {

inline bool is_error_document(std::string_view body, const parse_limits& limits) {
    // Only a body that holds the string "error" can be one; a success body is never parsed.
    if (body.find("\"error\"") == std::string_view::npos || body.size() > limits.max_size)
        return false;
    boost::json::parse_options po;
    po.max_depth = limits.depth();
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(body, ec, {}, po);
    if (ec) return false;
    const boost::json::value* top = &v;
    if (const boost::json::array* a = v.if_array(); a && !a->empty()) top = &a->front();
    const boost::json::object* o = top->if_object();
    if (!o) return false;
    if (const boost::json::value* e = o->if_contains("error"); e && !e->is_null()) return true;
    for (std::string_view key : {"type", "object"})
        if (const boost::json::value* t = o->if_contains(key);
            t && t->is_string() && t->get_string() == "error")
            return true;
    return false;
}

// Whether `name` is a header `classify` reads from a 2xx answer (the rest are not kept).
[[nodiscard]] inline bool read_by_classify(std::string_view name) noexcept {
    return iequals(name, "retry-after") || iequals(name, "retry-after-ms") ||
           iequals(name, "x-should-retry") || iequals(name, "content-type") ||
           (name.size() > 12 && iequals(name.substr(0, 12), "x-ratelimit-")) ||
           (name.size() > 20 && iequals(name.substr(0, 20), "anthropic-ratelimit-"));
}

[[nodiscard]] inline bool is_event_stream_type(std::string_view content_type) noexcept {
    return iequals(trim(content_type.substr(0, content_type.find(';'))), "text/event-stream");
}

} // namespace detail

template <class Handler, class Clock>
exchange<Handler, Clock>::exchange(time_point start, exchange_options options, Handler handler)
    : opts_(std::move(options))
    , handler_(std::move(handler))
    , start_(start) {}

template <class Handler, class Clock>
std::error_code exchange<Handler, Clock>::stop(std::error_code ec, std::string message) {
    if (!stopped_) {
        stopped_ = ec;
        stop_message_ = std::move(message);
    }
    return stopped_;
}

template <class Handler, class Clock>
template <class Headers>
std::error_code exchange<Handler, Clock>::head(unsigned status, const Headers& headers,
                                               time_point now) {
    if (status_ != 0) return std::make_error_code(std::errc::protocol_error);
    if (stopped_) return stopped_;
    if (std::error_code ec = check(now)) return ec;
    if (status < 100 || status > 999)
        return stop(std::make_error_code(std::errc::protocol_error),
                    "The response status " + std::to_string(status) + " is not an HTTP status.");
    status_ = status;
    const bool success = status >= 200 && status <= 299;
    bool stream = false;
    detail::for_each_header(headers, [&](std::string_view name, std::string_view value) {
        if (success && detail::iequals(name, "content-type"))
            stream = detail::is_event_stream_type(value);
        if (!success || detail::read_by_classify(name)) headers_.emplace_back(name, value);
    });
    if (stream) monitor_.emplace(start_, opts_.monitor, std::move(handler_));
    return {};
}

template <class Handler, class Clock>
std::error_code exchange<Handler, Clock>::body(std::string_view bytes, time_point now) {
    if (status_ == 0) return std::make_error_code(std::errc::protocol_error);
    if (stopped_) return stopped_;
    if (monitor_) {
        if (std::error_code ec = monitor_->feed(bytes, now)) return stop(ec, {});
        return check(now);
    }
    if (status_ < 200 || status_ > 299) {
        const std::size_t room =
            opts_.max_error_body - std::min(opts_.max_error_body, body_.size());
        body_.append(bytes.substr(0, room));
        return {};
    }
    if (bytes.size() > opts_.max_body - std::min(opts_.max_body, body_.size()))
        return stop(make_error_code(error::payload_too_large), "The response body is larger than " +
                                                                   std::to_string(opts_.max_body) +
                                                                   " bytes.");
    body_.append(bytes);
    return {};
}

template <class Handler, class Clock>
std::error_code exchange<Handler, Clock>::check(time_point now) {
    if (stopped_) return stopped_;
    if (status_ == 0 && opts_.head_timeout && now - start_ >= *opts_.head_timeout)
        return stop(make_error_code(error::upstream_timeout),
                    "No response head within " + std::to_string(opts_.head_timeout->count()) +
                        " ms.");
    if (!monitor_) return {};
    if (std::error_code ec = monitor_->check(now)) return stop(ec, {});
    return {};
}

template <class Handler, class Clock>
auto exchange<Handler, Clock>::next_deadline() const noexcept -> std::optional<time_point> {
    if (stopped_ || result_) return std::nullopt;
    std::optional<time_point> next;
    auto take = [&](std::optional<time_point> t) {
        if (t && (!next || *t < *next)) next = t;
    };
    if (status_ == 0) {
        if (opts_.head_timeout) take(start_ + *opts_.head_timeout);
        return next;
    }
    if (!monitor_) return next;
    take(monitor_->next_deadline());
    return next;
}

template <class Handler, class Clock>
failure exchange<Handler, Clock>::decide(std::error_code transport) {
    // The exchange's own stop (a limit, a deadline) came before whatever ended the transport.
    const bool own = static_cast<bool>(stopped_);
    if (own && !monitor_) return to_failure(stopped_, stop_message_);
    if (status_ == 0) {
        if (transport) return to_failure(transport);
        return to_failure(std::make_error_code(std::errc::connection_aborted),
                          "The connection closed before a response head.");
    }
    if (status_ < 200 || status_ > 299) {
        // The start of a longer body decides as well as the whole of it would: `classify`
        // reads no further than `max_error_body` allows anyway.
        return classify(status_, headers_, body_, opts_.classify);
    }
    if (monitor_) {
        const sse::verdict& v = *result_->stream;
        if (v.kind == sse::terminal::error) return *v.failure;
        if (transport == category::timeout)
            return to_failure(error::stream_timeout, "The stream stopped after " +
                                                         std::to_string(monitor_->events()) +
                                                         " events: " + transport.message() + ".");
        if (transport)
            return to_failure(error::stream_truncated, "The stream was cut off after " +
                                                           std::to_string(monitor_->events()) +
                                                           " events: " + transport.message() + ".");
        return *v.failure;
    }
    if (transport)
        return to_failure(transport,
                          "The response body could not be read: " + transport.message() + ".");
    return classify(status_, headers_, body_, opts_.classify);
}

template <class Handler, class Clock>
const exchange_result& exchange<Handler, Clock>::finish(std::error_code transport, time_point now) {
    if (result_) return *result_;
    (void)check(now);
    result_.emplace();
    exchange_result& r = *result_;
    r.status = status_;
    r.transport = stopped_ && transport == stopped_ ? std::error_code() : transport;
    if (monitor_) r.stream = monitor_->finish();
    const bool complete_stream = r.stream && r.stream->kind == sse::terminal::done;
    const bool success = status_ >= 200 && status_ <= 299 && !stopped_ && !transport && !monitor_ &&
                         !detail::is_error_document(body_, opts_.classify.json);
    if (!complete_stream && !success) {
        r.failure = decide(transport);
        if (status_ >= 200 && status_ <= 299) r.failure->status = status_;
    }
    r.content_delivered = content_delivered();
    return r;
}

} // namespace faultline

#endif

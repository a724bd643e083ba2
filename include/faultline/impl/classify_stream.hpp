#ifndef FAULTLINE_IMPL_CLASSIFY_STREAM_HPP
#define FAULTLINE_IMPL_CLASSIFY_STREAM_HPP

// classify() on event-stream bodies. Reached from the bottom of sse/monitor.hpp, so that both
// include orders (classify.hpp first, or sse/monitor.hpp first) see a complete sse::monitor here.

#include <faultline/sse/monitor.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace faultline::detail {

// Whether the first line of `body` (after a BOM and blank lines) is an SSE field or comment.
[[nodiscard]] inline bool starts_with_field(std::string_view body) noexcept {
    if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);
    while (!body.empty() && (body.front() == '\r' || body.front() == '\n'))
        body.remove_prefix(1); // blank lines dispatch nothing
    for (std::string_view field : {"data:", "event:", "id:", "retry:", ":"})
        if (body.starts_with(field)) return true;
    return false;
}

// Whether `body` is framed as an event stream. A JSON or HTML document sent under a
// `text/event-stream` Content-Type (an error answered before the stream began) is not.
[[nodiscard]] inline bool is_event_stream(std::string_view content_type,
                                          std::string_view body) noexcept {
    if (starts_with_field(body)) return true;
    const std::string_view media = trim(content_type.substr(0, content_type.find(';')));
    if (!iequals(media, "text/event-stream")) return false;
    const std::string_view t = trim(body);
    return t.empty() || (t.front() != '{' && t.front() != '[' && t.front() != '<');
}

// Keeps the body of the stream's first error event.
struct first_error_body {
    const classify_options* options = nullptr;
    std::optional<std::string> body;

    void on_event(const sse::event&, sse::event_kind) noexcept {}
    void on_error(const sse::event& e, const failure&) {
        if (body) return;
        // Longer than the JSON limit is not read as JSON by classify: no copy of it either.
        body = e.data.size() > options->json.max_size ? std::string()
                                                      : sse::detail::error_event_body(e, *options);
    }
};

inline std::optional<failure> classify_event_stream(unsigned status, const header_facts& headers,
                                                    std::string_view body,
                                                    const classify_options& options) {
    if (!is_event_stream(headers.content_type, body)) return std::nullopt;
    header_facts plain = headers;
    plain.inside_stream = true; // what is classified below is read as it is, never as a stream

    using clock = std::chrono::steady_clock;
    sse::monitor_options mo;
    mo.classify = options;
    sse::monitor<first_error_body, clock> m(clock::time_point{}, mo,
                                            first_error_body{&options, std::nullopt});
    (void)m.feed(body, clock::time_point{}); // a limit is in the verdict
    const sse::verdict v = m.finish();

    const bool status_error = status >= 400 && status < 600;
    const std::string_view should = trim(plain.should_retry);
    if (const auto& error_body = m.handler().body) {
        // A 1xx-3xx status says nothing about the event: read it as the monitor does.
        failure f = classify_impl(status_error ? status : 0, plain, *error_body, options);
        f.status = status;
        if (f.code == error::unknown) { // still a failure inside the stream
            const error_info& row = info(error::stream_interrupted);
            f.code = row.code;
            f.cat = row.cat;
            f.retryable = iequals(should, "true") || (!iequals(should, "false") && row.retryable);
        }
        return f;
    }
    if (status_error)
        return classify_impl(status, plain, m.events() == 0 && !starts_with_field(body) ? body : "",
                             options);
    if (v.kind == sse::terminal::done) return classify_impl(status, plain, {}, options);

    failure f = *v.failure;
    f.status = status;
    if (iequals(should, "true"))
        f.retryable = true;
    else if (iequals(should, "false"))
        f.retryable = false;
    return f;
}

} // namespace faultline::detail

#endif

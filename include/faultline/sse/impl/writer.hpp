#ifndef FAULTLINE_SSE_IMPL_WRITER_HPP
#define FAULTLINE_SSE_IMPL_WRITER_HPP

#include <charconv>

namespace faultline::sse {

inline bool is_safe_event_type(std::string_view type) noexcept {
    return type.find_first_of("\r\n") == std::string_view::npos;
}

inline bool is_safe_event_id(std::string_view id) noexcept {
    return id.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

inline void writer::lines(std::string_view prefix, std::string_view text) {
    // Each CR, LF or CRLF ends one line; an empty text is one empty line.
    for (;;) {
        const std::size_t br = text.find_first_of("\r\n");
        out_->append(prefix);
        out_->append(text.substr(0, br));
        out_->push_back('\n');
        if (br == std::string_view::npos) return;
        const std::size_t skip =
            (text[br] == '\r' && br + 1 < text.size() && text[br + 1] == '\n') ? 2 : 1;
        text.remove_prefix(br + skip);
    }
}

inline std::error_code writer::event(const outgoing_event& e) {
    if (!is_safe_event_type(e.type) || (e.id && !is_safe_event_id(*e.id)) ||
        (e.retry && e.retry->count() < 0))
        return std::make_error_code(std::errc::invalid_argument);
    if (!e.type.empty()) {
        out_->append("event: ");
        out_->append(e.type);
        out_->push_back('\n');
    }
    if (e.id) {
        out_->append("id: ");
        out_->append(*e.id);
        out_->push_back('\n');
    }
    if (e.retry) {
        const std::error_code ec = retry(*e.retry);
        out_->pop_back(); // the same event: no blank line yet
        if (ec) return ec;
    }
    data(e.data);
    return {};
}

inline void writer::data(std::string_view data) {
    lines("data: ", data);
    out_->push_back('\n');
}

inline void writer::error(std::string_view json_body) {
    data(json_body);
    done();
}

inline void writer::error(faultline::error e, std::string_view message, std::string_view event_id,
                          const render_options& options) {
    error(render(e, message, event_id, options).body);
}

inline void writer::heartbeat(std::string_view text) {
    lines(text.empty() ? std::string_view(":") : std::string_view(": "), text);
    out_->push_back('\n');
}

inline std::error_code writer::retry(std::chrono::milliseconds delay) {
    if (delay.count() < 0) return std::make_error_code(std::errc::invalid_argument);
    char digits[24];
    const auto r = std::to_chars(digits, digits + sizeof digits, delay.count());
    out_->append("retry: ");
    out_->append(digits, r.ptr);
    out_->append("\n\n");
    return {};
}

} // namespace faultline::sse

#endif

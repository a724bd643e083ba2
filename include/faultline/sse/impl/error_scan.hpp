#ifndef FAULTLINE_SSE_IMPL_ERROR_SCAN_HPP
#define FAULTLINE_SSE_IMPL_ERROR_SCAN_HPP

#include <faultline/detail/utf8.hpp>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>

#include <algorithm>
#include <cstring>
#include <iterator>

namespace faultline::sse {

inline std::string_view to_string(scan_result r) noexcept {
    switch (r) {
    case scan_result::content:
        return "content";
    case scan_result::error:
        return "error";
    case scan_result::invalid:
        return "invalid";
    }
    return "invalid";
}

inline void error_scanner::handler::clear() noexcept {
    depth = key_n = 0;
    key_match = in_key = number_parts = value_is_error = in_error = error_string = truthy = false;
    key_field = capture = field::none;
    summary.message.clear();
    summary.type.clear();
    summary.code.clear();
    summary.code_is_number = false;
}

// Keys are matched as they arrive, piece by piece: at depth 1 against "error", at depth 2 of an
// error member against the summary fields. Nothing of a key is stored.
inline void error_scanner::handler::start_key() noexcept {
    in_key = true;
    key_n = 0;
    key_field = field::none;
    key_match = depth == 1 || (depth == 2 && in_error);
    if (depth == 2 && in_error) truthy = true; // a member: the error object is not empty
}

inline void error_scanner::handler::key_bytes(std::string_view s) noexcept {
    if (!in_key) start_key();
    if (!key_match || s.empty()) {
        key_n += s.size();
        return;
    }
    std::string_view target = "error";
    if (depth == 2) {
        if (key_n == 0)
            key_field = s.front() == 'm'   ? field::message
                        : s.front() == 't' ? field::type
                        : s.front() == 'c' ? field::code
                                           : field::none;
        target = key_field == field::message ? std::string_view("message")
                 : key_field == field::type  ? std::string_view("type")
                 : key_field == field::code  ? std::string_view("code")
                                             : std::string_view();
    }
    key_match = key_n + s.size() <= target.size() && target.substr(key_n, s.size()) == s;
    key_n += s.size();
}

inline void error_scanner::handler::end_key() noexcept {
    if (!in_key) start_key();
    if (depth == 1) {
        value_is_error = key_match && key_n == 5;
    } else if (depth == 2 && in_error) {
        const std::size_t want = key_field == field::message ? 7 : 4;
        capture = key_match && key_field != field::none && key_n == want ? key_field : field::none;
    }
    in_key = false;
}

// A scalar or array starts: at depth 1 it is not an error object; at depth 2 of an error
// member only strings and numbers are kept.
inline void error_scanner::handler::value_start() noexcept {
    if (depth == 1) value_is_error = false;
}

inline void error_scanner::handler::keep(field f, std::string_view s) {
    std::string* out = f == field::message ? &summary.message
                       : f == field::type  ? &summary.type
                                           : &summary.code;
    const std::size_t room = summary_max > out->size() ? summary_max - out->size() : 0;
    out->append(s.data(), s.size() < room ? s.size() : room);
}

inline bool error_scanner::handler::on_object_begin(boost::system::error_code&) {
    if (depth == 1 && value_is_error) {
        value_is_error = false;
        in_error = true;
    }
    capture = field::none;
    ++depth;
    return true;
}

inline bool error_scanner::handler::on_object_end(std::size_t, boost::system::error_code&) {
    --depth;
    if (depth == 1) in_error = false;
    return true;
}

inline bool error_scanner::handler::on_array_begin(boost::system::error_code&) {
    value_start();
    capture = field::none;
    ++depth;
    return true;
}

inline bool error_scanner::handler::on_array_end(std::size_t, boost::system::error_code&) {
    --depth;
    return true;
}

inline bool error_scanner::handler::on_key_part(boost::json::string_view s, std::size_t,
                                                boost::system::error_code&) {
    key_bytes({s.data(), s.size()});
    return true;
}

inline bool error_scanner::handler::on_key(boost::json::string_view s, std::size_t,
                                           boost::system::error_code&) {
    // A whole key (most are) outside an error member: one compare at the top level, none
    // deeper, and the state as key_bytes and end_key would leave it.
    if (!in_key && (depth != 2 || !in_error)) {
        key_n = s.size();
        key_field = field::none;
        key_match = depth == 1 && s.size() == 5 && std::memcmp(s.data(), "error", 5) == 0;
        if (depth == 1) value_is_error = key_match;
        return true;
    }
    key_bytes({s.data(), s.size()});
    end_key();
    return true;
}

inline bool error_scanner::handler::on_string_part(boost::json::string_view s, std::size_t n,
                                                   boost::system::error_code&) {
    if (depth == 1 && value_is_error) {
        error_string = true;
        capture = field::message;
        value_is_error = false;
    }
    if (error_string && n != 0) truthy = true;
    if (capture != field::none) keep(capture, {s.data(), s.size()});
    return true;
}

inline bool error_scanner::handler::on_string(boost::json::string_view s, std::size_t n,
                                              boost::system::error_code& ec) {
    on_string_part(s, n, ec);
    capture = field::none;
    error_string = false;
    return true;
}

inline bool error_scanner::handler::on_number_part(boost::json::string_view s,
                                                   boost::system::error_code&) {
    value_start();
    if (capture == field::code) {
        if (!number_parts) summary.code.clear();
        number_parts = true;
        keep(field::code, {s.data(), s.size()});
    }
    return true;
}

inline bool error_scanner::handler::on_int64(std::int64_t, boost::json::string_view s,
                                             boost::system::error_code&) {
    value_start();
    if (capture == field::code) {
        if (!number_parts) summary.code.clear();
        keep(field::code, {s.data(), s.size()});
        summary.code_is_number = true;
    }
    number_parts = false;
    capture = field::none;
    return true;
}

inline bool error_scanner::handler::on_uint64(std::uint64_t, boost::json::string_view s,
                                              boost::system::error_code& ec) {
    return on_int64(0, s, ec);
}

inline bool error_scanner::handler::on_double(double, boost::json::string_view s,
                                              boost::system::error_code& ec) {
    return on_int64(0, s, ec);
}

inline bool error_scanner::handler::on_bool(bool, boost::system::error_code&) {
    value_start();
    capture = field::none;
    return true;
}

inline bool error_scanner::handler::on_null(boost::system::error_code&) {
    value_start();
    capture = field::none;
    return true;
}

namespace detail {
inline boost::json::parse_options scan_options(std::size_t max_depth) {
    boost::json::parse_options o;
    o.max_depth = max_depth;
    return o;
}
[[nodiscard]] inline bool json_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
} // namespace detail

inline error_scanner::error_scanner(std::size_t max_depth, std::size_t summary_max_bytes)
    : parser_(detail::scan_options(max_depth)) {
    parser_.handler().summary_max = summary_max_bytes;
}

inline void error_scanner::reset() noexcept {
    parser_.reset();
    parser_.handler().clear();
    ec_.clear();
    size_ = 0;
    started_ = ended_ = finished_ = false;
    result_ = scan_result::content;
}

inline void error_scanner::write(std::string_view part) {
    write(part, true);
}

// `more` false: `part` ends the document, so the parser finishes it in the same call.
inline void error_scanner::write(std::string_view part, bool more) {
    size_ += part.size();
    if (ec_ || finished_) return;
    if (!started_) {
        // Leading whitespace only: the parser would start a document on it, and an all-blank
        // document must fail as empty, not as incomplete JSON after a partial one.
        std::size_t i = 0;
        while (i < part.size() && detail::json_space(part[i]))
            ++i;
        part.remove_prefix(i);
        if (part.empty()) return;
        started_ = true;
    }
    if (ended_) {
        for (const char c : part)
            if (!detail::json_space(c)) {
                ec_ = boost::json::error::extra_data;
                return;
            }
        return;
    }
    boost::system::error_code ec;
    const std::size_t n = parser_.write_some(more, part.data(), part.size(), ec);
    if (ec) {
        ec_ = ec;
        return;
    }
    if (parser_.done()) {
        ended_ = true;
        if (n < part.size()) write(part.substr(n), more); // whitespace, or extra data
        size_ -= part.size() - n;
    }
}

inline scan_result error_scanner::finish() {
    if (finished_) return result_;
    finished_ = true;
    if (!ec_ && !started_) ec_ = boost::json::error::incomplete;
    if (!ec_ && !ended_) {
        boost::system::error_code ec;
        static constexpr char none[1] = {0};
        (void)parser_.write_some(false, none, 0, ec);
        if (ec) ec_ = ec;
    }
    result_ = ec_                        ? scan_result::invalid
              : parser_.handler().truthy ? scan_result::error
                                         : scan_result::content;
    return result_;
}

inline scan_result error_scanner::scan(error_scanner& scanner, std::string_view document) {
    scanner.reset();
    scanner.write(document, false);
    return scanner.finish();
}

namespace detail {

inline void string_at_scanner::handler::clear() noexcept {
    depth = on_path = key_n = 0;
    in_key = key_match = next_on_path = capture = found = false;
    value.clear();
}

// A key at the path's depth is compared with the path's key there, piece by piece; any other
// key is only counted.
inline void string_at_scanner::handler::key(std::string_view s, bool last) noexcept {
    if (!in_key) {
        in_key = true;
        key_n = 0;
        key_match = depth == on_path && depth >= 1 && depth <= path_n;
    }
    if (key_match) {
        const std::string_view want = path[depth - 1];
        key_match = key_n + s.size() <= want.size() && want.substr(key_n, s.size()) == s;
    }
    key_n += s.size();
    if (!last) return;
    in_key = false;
    const bool whole = key_match && key_n == path[depth - 1].size();
    capture = whole && depth == path_n && !found;
    next_on_path = whole && depth < path_n;
}

inline bool string_at_scanner::handler::on_object_begin(boost::system::error_code&) {
    ++depth;
    if (depth == 1 || next_on_path) on_path = depth;
    next_on_path = capture = false;
    return true;
}

inline bool string_at_scanner::handler::on_object_end(std::size_t, boost::system::error_code&) {
    if (on_path == depth) on_path = depth - 1;
    --depth;
    return true;
}

inline bool string_at_scanner::handler::on_array_begin(boost::system::error_code&) {
    ++depth;
    next_on_path = capture = false;
    return true;
}

inline bool string_at_scanner::handler::on_array_end(std::size_t, boost::system::error_code&) {
    --depth;
    return true;
}

inline bool string_at_scanner::handler::on_string_part(boost::json::string_view s, std::size_t,
                                                       boost::system::error_code&) {
    // Three bytes past `max`, so that finish can cut at a character boundary.
    if (capture && value.size() < max + 3)
        value.append(s.data(), std::min(s.size(), max + 3 - value.size()));
    return true;
}

inline bool string_at_scanner::handler::on_string(boost::json::string_view s, std::size_t n,
                                                  boost::system::error_code& ec) {
    on_string_part(s, n, ec);
    if (capture) found = true;
    scalar();
    return true;
}

inline string_at_scanner::string_at_scanner(std::size_t max_bytes, std::size_t max_depth)
    : parser_(scan_options(max_depth)) {
    parser_.handler().max = max_bytes;
}

inline void string_at_scanner::reset(std::span<const std::string_view> path) noexcept {
    parser_.reset();
    handler& h = parser_.handler();
    h.clear();
    h.path_n = 0;
    for (std::string_view k : path)
        if (h.path_n < std::size(h.path)) h.path[h.path_n++] = k;
    failed_ = false;
}

inline void string_at_scanner::write(std::string_view part) {
    if (failed_ || part.empty()) return;
    if (parser_.done()) { // after the document: only whitespace
        for (const char c : part)
            if (!json_space(c)) failed_ = true;
        return;
    }
    boost::system::error_code ec;
    const std::size_t n = parser_.write_some(true, part.data(), part.size(), ec);
    if (ec)
        failed_ = true;
    else if (n < part.size())
        write(part.substr(n));
}

inline std::optional<std::string> string_at_scanner::finish() {
    if (!failed_ && !parser_.done()) {
        boost::system::error_code ec;
        static constexpr char none[1] = {0};
        (void)parser_.write_some(false, none, 0, ec);
        if (ec) failed_ = true;
    }
    handler& h = parser_.handler();
    if (failed_ || !h.found) return std::nullopt;
    std::size_t cut = h.value.size();
    if (cut > h.max) { // at a UTF-8 boundary
        cut = h.max;
        while (cut > 0 && (static_cast<unsigned char>(h.value[cut]) & 0xC0) == 0x80)
            --cut;
    }
    std::string out;
    faultline::detail::append_utf8_sanitized(out, std::string_view(h.value).substr(0, cut));
    return out;
}

} // namespace detail

} // namespace faultline::sse

#endif

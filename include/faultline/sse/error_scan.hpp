#ifndef FAULTLINE_SSE_ERROR_SCAN_HPP
#define FAULTLINE_SSE_ERROR_SCAN_HPP

// An incremental, exact scan of one JSON document for a truthy top-level `error` member: the
// test `sse::monitor` applies to an event's data. It validates the whole document (Boost.JSON's
// `basic_parser`, so every escape, number and UTF-8 rule is Boost.JSON's) and matches keys after
// unescaping, so `"\u0065rror"` is `error`. It holds O(depth) state whatever the document's size
// and keeps nothing of it: a 100 MB base64 value costs no memory. Pieces may be cut anywhere.
//
//     faultline::sse::error_scanner s;
//     s.write(R"({"err)");
//     s.write(R"(or":{"message":"overloaded"}})");
//     assert(s.finish() == faultline::sse::scan_result::error);
//
// Truthy, as the monitor defines it: an `error` member whose value is a non-empty object or a
// non-empty string; null, false, numbers, "", {} and arrays are not. Only the top-level object's
// members count (an `error` key inside `choices` is content). Duplicate keys: any truthy one is
// enough.
//
// Of an error member the scanner keeps `message`, `type` and `code` (each cut at
// `summary_max_bytes`), so an error chunk too large to hold can still be classified.

#include <boost/json/basic_parser.hpp>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace faultline::sse {

namespace detail {
// The sizes Boost.JSON's basic_parser asks a handler for: no limit of the handler's own (the
// scanners bound the depth through the parser, and keep only what they choose).
struct no_size_limits {
    static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
};
} // namespace detail

/// What a scanned document is.
enum class scan_result : unsigned char {
    content, ///< Valid JSON without a truthy top-level `error` member.
    error,   ///< Valid JSON whose top-level object has a truthy `error` member.
    invalid, ///< Not one valid JSON document (`json_error()` says why), or nested too deep.
};

/// The name of a scan result, e.g. "invalid". Thread-safe.
[[nodiscard]] std::string_view to_string(scan_result r) noexcept;

/// The pieces of an error member kept for classification.
struct error_summary {
    std::string message; ///< `error.message` (or `error` itself when it is a string).
    std::string type;    ///< `error.type`.
    std::string code;    ///< `error.code`, a string or the digits of a number.
    bool code_is_number = false;
};

/// The scanner. Reusable: `reset` starts a new document and keeps the memory it has (a
/// steady stream of documents allocates nothing). Not thread-safe.
class error_scanner {
public:
    /// `max_depth`: deeper nesting is `invalid` (bounds the parser's stack).
    /// `summary_max_bytes`: the most kept of each summary field.
    explicit error_scanner(std::size_t max_depth = 64, std::size_t summary_max_bytes = 1024);

    /// Takes the next bytes of the document. Not thread-safe.
    void write(std::string_view part);
    /// Ends the document and says what it was; the scanner keeps the answer until `reset`.
    /// Not thread-safe.
    [[nodiscard]] scan_result finish();
    /// Starts a new document. Not thread-safe.
    void reset() noexcept;

    /// Whether a truthy top-level `error` member was seen in the bytes so far (the document may
    /// still turn out invalid). Not thread-safe.
    [[nodiscard]] bool error_seen() const noexcept { return parser_.handler().truthy; }
    /// Why the document is invalid so far (none while it is valid). Not thread-safe.
    [[nodiscard]] std::error_code json_error() const noexcept { return ec_; }
    /// Whether nothing but JSON whitespace was written since the last reset. Not thread-safe.
    [[nodiscard]] bool blank() const noexcept { return !started_; }
    /// Bytes written since the last reset. Not thread-safe.
    [[nodiscard]] std::size_t size_bytes() const noexcept { return size_; }
    /// The summary of the truthy error member (empty fields when none). Not thread-safe.
    [[nodiscard]] const error_summary& summary() const noexcept {
        return parser_.handler().summary;
    }

    /// Scans one whole document; `scanner` is reset first. Not thread-safe.
    [[nodiscard]] static scan_result scan(error_scanner& scanner, std::string_view document);

private:
    void write(std::string_view part, bool more);

    struct handler : detail::no_size_limits {
        enum class field : unsigned char { none, message, type, code };

        std::size_t summary_max = 0;
        std::size_t depth = 0;  // 1 inside the top-level object
        std::size_t key_n = 0;  // bytes of the current key seen so far
        bool in_key = false;    // a key's pieces are arriving
        bool key_match = false; // the current key's bytes so far match its target
        field key_field = field::none;
        bool value_is_error = false; // the next value at depth 1 is an `error` member's
        bool in_error = false;       // inside a top-level `error` object (depth >= 2)
        bool error_string = false;   // the top-level `error` member is a string, arriving
        field capture = field::none; // the string or number being kept
        bool number_parts = false;   // a kept number arrived in pieces
        bool truthy = false;
        error_summary summary;

        void clear() noexcept;
        void start_key() noexcept;
        void key_bytes(std::string_view s) noexcept;
        void end_key() noexcept;
        void value_start() noexcept;
        void keep(field f, std::string_view s);

        bool on_document_begin(boost::system::error_code&) { return true; }
        bool on_document_end(boost::system::error_code&) { return true; }
        bool on_array_begin(boost::system::error_code&);
        bool on_array_end(std::size_t, boost::system::error_code&);
        bool on_object_begin(boost::system::error_code&);
        bool on_object_end(std::size_t, boost::system::error_code&);
        bool on_string_part(boost::json::string_view s, std::size_t n, boost::system::error_code&);
        bool on_string(boost::json::string_view s, std::size_t n, boost::system::error_code&);
        bool on_key_part(boost::json::string_view s, std::size_t n, boost::system::error_code&);
        bool on_key(boost::json::string_view s, std::size_t n, boost::system::error_code&);
        bool on_number_part(boost::json::string_view s, boost::system::error_code&);
        bool on_int64(std::int64_t, boost::json::string_view s, boost::system::error_code&);
        bool on_uint64(std::uint64_t, boost::json::string_view s, boost::system::error_code&);
        bool on_double(double, boost::json::string_view s, boost::system::error_code&);
        bool on_bool(bool, boost::system::error_code&);
        bool on_null(boost::system::error_code&);
        bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
        bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }
    };

    boost::json::basic_parser<handler> parser_;
    std::error_code ec_;
    std::size_t size_ = 0;
    bool started_ = false; // a non-space byte was written
    bool ended_ = false;   // the document was complete before the last byte written
    bool finished_ = false;
    scan_result result_ = scan_result::content;
};

namespace detail {

/// The string at a path of object keys (`{"response","incomplete_details","reason"}`) in one
/// JSON document written in pieces, in memory independent of the document's size: Boost.JSON's
/// `basic_parser` with a handler that follows the path key by key and keeps at most `max_bytes`
/// of the first string found there. What the monitor reads stop reasons with, from an event held
/// whole or one too large to hold.
class string_at_scanner {
public:
    /// At most 4 keys; `max_bytes` of the string are kept; deeper nesting than `max_depth` makes
    /// the document invalid.
    string_at_scanner(std::size_t max_bytes, std::size_t max_depth);

    /// Starts a new document, looking for `path` (its first 4 keys; the views must outlive the
    /// scan). Not thread-safe.
    void reset(std::span<const std::string_view> path) noexcept;
    /// Takes the next bytes of the document. Not thread-safe.
    void write(std::string_view part);
    /// Ends the document: the string's first `max_bytes` (cut at a UTF-8 boundary, invalid
    /// sequences as U+FFFD), or nothing when the document is not valid JSON, has no string
    /// there, or is not an object. Not thread-safe.
    [[nodiscard]] std::optional<std::string> finish();

private:
    struct handler : no_size_limits {
        std::string_view path[4];
        std::size_t path_n = 0;
        std::size_t max = 0;
        std::size_t depth = 0;   // objects and arrays open; 1 inside the top-level object
        std::size_t on_path = 0; // the depth of the innermost open object the path leads to
        std::size_t key_n = 0;   // bytes of the current key so far
        bool in_key = false;
        bool key_match = false;    // the current key matches the path's key at its depth so far
        bool next_on_path = false; // the value after this key is the path's next object
        bool capture = false;      // ... is the string the path ends at
        bool found = false;        // that string came whole
        std::string value;

        void clear() noexcept;
        void key(std::string_view s, bool last) noexcept;
        void scalar() noexcept { next_on_path = capture = false; }

        bool on_document_begin(boost::system::error_code&) { return true; }
        bool on_document_end(boost::system::error_code&) { return true; }
        bool on_array_begin(boost::system::error_code&);
        bool on_array_end(std::size_t, boost::system::error_code&);
        bool on_object_begin(boost::system::error_code&);
        bool on_object_end(std::size_t, boost::system::error_code&);
        bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&);
        bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code&);
        bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
            key({s.data(), s.size()}, false);
            return true;
        }
        bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
            key({s.data(), s.size()}, true);
            return true;
        }
        bool on_number_part(boost::json::string_view, boost::system::error_code&) {
            scalar();
            return true;
        }
        bool on_int64(std::int64_t, boost::json::string_view, boost::system::error_code&) {
            scalar();
            return true;
        }
        bool on_uint64(std::uint64_t, boost::json::string_view, boost::system::error_code&) {
            scalar();
            return true;
        }
        bool on_double(double, boost::json::string_view, boost::system::error_code&) {
            scalar();
            return true;
        }
        bool on_bool(bool, boost::system::error_code&) {
            scalar();
            return true;
        }
        bool on_null(boost::system::error_code&) {
            scalar();
            return true;
        }
        bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
        bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }
    };

    boost::json::basic_parser<handler> parser_;
    bool failed_ = false;
};

} // namespace detail

} // namespace faultline::sse

#include <faultline/sse/impl/error_scan.hpp>

#endif

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
#include <string>
#include <string_view>
#include <system_error>

namespace faultline::sse {

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

    struct handler {
        static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
        static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
        static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
        static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

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

} // namespace faultline::sse

#include <faultline/sse/impl/error_scan.hpp>

#endif

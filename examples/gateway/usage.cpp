#include "gateway/usage.hpp"

#include <boost/json/basic_parser_impl.hpp>

#include <cstddef>
#include <cstring>
#include <optional>

namespace examples::gateway {

namespace {

using boost::json::error_code;
using boost::json::string_view;

// What Boost.JSON's basic_parser calls for each token of the document. It follows the nesting
// only as deep as `usage`'s members and keeps their counts; everything else is passed over.
class usage_reader {
public:
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_object_begin(error_code&) {
        if (depth_ == 1 && member_ == member::usage) in_usage_ = true;
        value(std::nullopt);
        ++depth_;
        return true;
    }
    bool on_object_end(std::size_t, error_code&) {
        --depth_;
        if (depth_ == 1) in_usage_ = false;
        return true;
    }
    bool on_array_begin(error_code&) {
        value(std::nullopt);
        ++depth_;
        return true;
    }
    bool on_array_end(std::size_t, error_code&) {
        --depth_;
        return true;
    }
    bool on_key_part(string_view s, std::size_t, error_code&) {
        append(s);
        return true;
    }
    bool on_key(string_view s, std::size_t, error_code&) {
        append(s);
        const std::string_view key = overflow_ ? std::string_view{} : std::string_view(key_, size_);
        size_ = 0;
        overflow_ = false;
        member_ = member::other;
        if (depth_ == 1 && key == "usage") {
            member_ = member::usage;
            // A repeated `usage`: its last value is the document's.
            completion_.reset();
            output_.reset();
        } else if (depth_ == 2 && in_usage_) {
            if (key == "completion_tokens")
                member_ = member::completion;
            else if (key == "output_tokens")
                member_ = member::output;
        }
        return true;
    }
    bool on_string_part(string_view, std::size_t, error_code&) { return true; }
    bool on_string(string_view, std::size_t, error_code&) {
        value(std::nullopt);
        return true;
    }
    bool on_number_part(string_view, error_code&) { return true; }
    bool on_int64(std::int64_t i, string_view, error_code&) {
        value(i >= 0 ? std::optional(static_cast<std::uint64_t>(i)) : std::nullopt);
        return true;
    }
    bool on_uint64(std::uint64_t u, string_view, error_code&) {
        value(u);
        return true;
    }
    bool on_double(double, string_view, error_code&) {
        value(std::nullopt);
        return true;
    }
    bool on_bool(bool, error_code&) {
        value(std::nullopt);
        return true;
    }
    bool on_null(error_code&) {
        value(std::nullopt);
        return true;
    }
    bool on_comment_part(string_view, error_code&) { return true; }
    bool on_comment(string_view, error_code&) { return true; }

    // The counts are found only in a `usage` object that is a member of the top level: a
    // document that is not an object, or whose `usage` is not one, has none.
    [[nodiscard]] std::uint64_t tokens() const noexcept {
        // A count that is there but not a non-negative integer counts 0; it does not fall back.
        if (completion_) return completion_->value_or(0);
        if (output_) return output_->value_or(0);
        return 0;
    }

private:
    enum class member : unsigned char { other, usage, completion, output };

    // A value at the current depth: a count when it is one of usage's members (none when it is
    // not a non-negative integer).
    void value(std::optional<std::uint64_t> n) {
        if (depth_ != 2 || !in_usage_) return;
        if (member_ == member::completion) completion_ = n;
        if (member_ == member::output) output_ = n;
    }
    void append(string_view s) {
        if (overflow_ || s.size() > sizeof key_ - size_) {
            overflow_ = true; // longer than any key looked for
            return;
        }
        std::memcpy(key_ + size_, s.data(), s.size());
        size_ += s.size();
    }

    std::size_t depth_ = 0;
    bool in_usage_ = false; // inside the `usage` object, at any depth below it
    member member_ = member::other;
    std::optional<std::optional<std::uint64_t>> completion_, output_;
    char key_[32];
    std::size_t size_ = 0;
    bool overflow_ = false;
};

} // namespace

std::uint64_t completion_tokens_of(std::string_view body) noexcept {
    boost::json::basic_parser<usage_reader> p(boost::json::parse_options{});
    error_code ec;
    const std::size_t n = p.write_some(false, body.data(), body.size(), ec);
    if (ec || n != body.size() || !p.done()) return 0;
    return p.handler().tokens();
}

} // namespace examples::gateway

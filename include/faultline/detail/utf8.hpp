#ifndef FAULTLINE_DETAIL_UTF8_HPP
#define FAULTLINE_DETAIL_UTF8_HPP

#include <cstddef>
#include <string>
#include <string_view>

namespace faultline::detail {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when s[i] starts an ill-formed
// one; `bad` then receives the length of its maximal subpart (at least 1), which the WHATWG
// decoder replaces with one U+FFFD.
[[nodiscard]] inline std::size_t utf8_sequence(std::string_view s, std::size_t i,
                                               std::size_t& bad) noexcept {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) return 1;
    std::size_t need = 0;
    unsigned char lower = 0x80, upper = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        need = 1;
    else if (b == 0xE0)
        need = 2, lower = 0xA0;
    else if (b == 0xED)
        need = 2, upper = 0x9F;
    else if (b >= 0xE1 && b <= 0xEF)
        need = 2;
    else if (b == 0xF0)
        need = 3, lower = 0x90;
    else if (b == 0xF4)
        need = 3, upper = 0x8F;
    else if (b >= 0xF1 && b <= 0xF3)
        need = 3;
    else {
        bad = 1;
        return 0;
    }
    std::size_t j = i + 1;
    for (std::size_t k = 0; k < need; ++k, ++j) {
        if (j >= s.size()) {
            bad = j - i;
            return 0;
        }
        const auto c = static_cast<unsigned char>(s[j]);
        if (c < lower || c > upper) {
            bad = j - i;
            return 0;
        }
        lower = 0x80;
        upper = 0xBF;
    }
    return need + 1;
}

[[nodiscard]] inline bool is_valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0, bad = 0;
    while (i < s.size()) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        const std::size_t n = utf8_sequence(s, i, bad);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

// Appends `s` to `out` with every maximal ill-formed subsequence replaced by U+FFFD, exactly
// as the WHATWG UTF-8 decoder does.
inline void append_utf8_sanitized(std::string& out, std::string_view s) {
    std::size_t i = 0, run = 0, bad = 0;
    while (i < s.size()) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        const std::size_t n = utf8_sequence(s, i, bad);
        if (n != 0) {
            i += n;
            continue;
        }
        out.append(s.substr(run, i - run));
        out.append("\xEF\xBF\xBD");
        i += bad;
        run = i;
    }
    out.append(s.substr(run));
}

[[nodiscard]] inline std::string utf8_sanitized(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    append_utf8_sanitized(out, s);
    return out;
}

} // namespace faultline::detail

#endif

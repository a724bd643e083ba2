#ifndef FAULTLINE_SSE_IMPL_PARSER_HPP
#define FAULTLINE_SSE_IMPL_PARSER_HPP

#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace faultline::sse {
namespace detail {

// Offset of the first byte equal to `c` at or after `from` in [base, base+n), or n.
[[nodiscard]] inline std::size_t find_byte(const char* base, std::size_t from, std::size_t n,
                                           char c) noexcept {
    const void* hit = std::memchr(base + from, c, n - from);
    return hit == nullptr ? n : static_cast<std::size_t>(static_cast<const char*>(hit) - base);
}

// The first line end (CR or LF) at or after `from` in [base, base+n), or n, also saying in
// `quote_e` whether a `"e` starts in [from, that line end): what the monitor's error-key check
// needs, so a chunk without the pair is never read again.
[[nodiscard]] inline std::size_t find_eol_plain(const char* base, std::size_t from, std::size_t n,
                                                bool& quote_e) noexcept {
    const std::size_t lf = find_byte(base, from, n, '\n');
    const std::size_t eol = find_byte(base, from, lf, '\r');
    quote_e = std::string_view(base + from, eol - from).find("\"e") != std::string_view::npos;
    return eol;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FAULTLINE_SSE_AVX2_LINES 1
[[nodiscard]] inline bool cpu_has_avx2() noexcept {
    static const bool avx2 = __builtin_cpu_supports("avx2");
    return avx2;
}

// The `"e` pairs starting in the 32 bytes from `q` (reads one byte more, for the `e`).
[[gnu::target("avx2")]] [[nodiscard]] inline __m256i quote_e_pairs_avx2(const char* q) noexcept {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 1));
    return _mm256_and_si256(_mm256_cmpeq_epi8(a, _mm256_set1_epi8('"')),
                            _mm256_cmpeq_epi8(b, _mm256_set1_epi8('e')));
}

// The CR and LF bytes among the 32 from `q`.
[[gnu::target("avx2")]] [[nodiscard]] inline __m256i eol_bytes_avx2(const char* q) noexcept {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
    return _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('\n')),
                           _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\r')));
}

// As find_eol_plain in one pass: 64 bytes a step, one branch for both halves, so a line of a few
// hundred bytes takes a few steps. Each step prefetches 1 KiB on, so a piece that comes from
// memory streams in while its lines are searched. `Hints` false: `quote_e` is not written.
template <bool Hints = true>
[[gnu::target("avx2")]] [[nodiscard]] inline std::size_t
find_eol_avx2(const char* base, std::size_t from, std::size_t n, bool& quote_e) noexcept {
    __m256i pairs = _mm256_setzero_si256(); // the `"e` of the steps passed
    std::size_t i = from;
    for (; i + 65 <= n; i += 64) {
        __builtin_prefetch(base + i + 1024);
        const __m256i l0 = eol_bytes_avx2(base + i), l1 = eol_bytes_avx2(base + i + 32);
        __m256i q0 = pairs, q1 = pairs;
        if constexpr (Hints) {
            q0 = quote_e_pairs_avx2(base + i);
            q1 = quote_e_pairs_avx2(base + i + 32);
        }
        const __m256i l = _mm256_or_si256(l0, l1);
        if (!_mm256_testz_si256(l, l)) {
            const std::uint64_t lm =
                static_cast<std::uint32_t>(_mm256_movemask_epi8(l0)) |
                std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(l1))} << 32;
            if constexpr (Hints) {
                const std::uint64_t qm =
                    static_cast<std::uint32_t>(_mm256_movemask_epi8(q0)) |
                    std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(q1))} << 32;
                quote_e = (qm & ((lm & -lm) - 1)) != 0 || !_mm256_testz_si256(pairs, pairs);
            }
            return i + static_cast<std::size_t>(__builtin_ctzll(lm));
        }
        if constexpr (Hints) pairs = _mm256_or_si256(pairs, _mm256_or_si256(q0, q1));
    }
    bool seen = !_mm256_testz_si256(pairs, pairs);
    for (; i < n; ++i) { // the piece's last bytes, under 65
        if (base[i] == '\n' || base[i] == '\r') break;
        if constexpr (Hints) seen = seen || (base[i] == '"' && i + 1 < n && base[i + 1] == 'e');
    }
    if constexpr (Hints) quote_e = seen;
    return i;
}
#endif

// find_eol_avx2 where the CPU has AVX2 (checked once), else find_eol_plain.
[[nodiscard]] inline std::size_t find_eol(const char* base, std::size_t from, std::size_t n,
                                          bool& quote_e) noexcept {
#if defined(FAULTLINE_SSE_AVX2_LINES)
    if (cpu_has_avx2()) return find_eol_avx2(base, from, n, quote_e);
#endif
    return find_eol_plain(base, from, n, quote_e);
}

// Digits only, saturating; false when `s` is empty or holds anything but ASCII digits.
[[nodiscard]] inline bool parse_retry(std::string_view s, std::chrono::milliseconds& out) noexcept {
    if (s.empty()) return false;
    using rep = std::chrono::milliseconds::rep;
    constexpr rep max = std::numeric_limits<rep>::max();
    rep v = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return false;
        const rep d = c - '0';
        v = (v > (max - d) / 10) ? max : v * 10 + d;
    }
    out = std::chrono::milliseconds(v);
    return true;
}

template <class H>
concept has_on_retry = requires(H& h, std::chrono::milliseconds ms) {
    h.on_retry(ms);
};

template <class H>
concept takes_fragments = requires(H& h, const event_fragment& f) {
    h.on_fragment(f);
};

template <class H>
concept takes_data_hints = requires(H& h, const event& e, data_hint d) {
    h.on_event(e, d);
};

// Whether a handler taking hints wants them now: it may say no (`data_hints_wanted()`), and then
// gets `quote_e` true for every event, as if each one could hold the pair.
template <class H>
[[nodiscard]] bool wants_data_hints(const H& h) noexcept {
    if constexpr (!takes_data_hints<H>) {
        return false;
    } else if constexpr (requires { h.data_hints_wanted(); }) {
        return h.data_hints_wanted();
    } else {
        return true;
    }
}

inline constexpr char bom[3] = {'\xEF', '\xBB', '\xBF'};

// With fragments, the longest line held: at least enough to tell `data:` from a comment.
template <class H>
[[nodiscard]] constexpr std::size_t line_cap(std::size_t max_line) noexcept {
    if constexpr (takes_fragments<H>) return max_line < 8 ? 8 : max_line;
    return max_line;
}

} // namespace detail

template <class Handler>
std::size_t parser<Handler>::feed(std::string_view bytes, std::error_code& ec) {
    if (failed_) {
        ec = failed_;
        return 0;
    }
    ec = {};
    const char* const s = bytes.data();
    const std::size_t n = bytes.size();
    std::size_t i = 0;

    // One leading BOM, possibly split: hold the matched prefix until it is decided.
    while (bom_ < 3 && i < n) {
        if (s[i] == detail::bom[bom_]) {
            ++bom_;
            ++i;
            continue;
        }
        line_.assign(detail::bom, bom_); // not a BOM after all: those bytes start the first line
        bom_ = 3;
    }
    if (skip_lf_ && i < n) {
        skip_lf_ = false;
        if (s[i] == '\n') ++i;
    }

    // Next line end at or after i (n when none); searched again only once passed. For a handler
    // that wants hints, one search finds CR or LF and whether a `"e` may start between its start
    // and the line end; one that declines them (a validating monitor) gets the same search
    // without the pairs. For any other handler LF and CR are searched apart with memchr, which
    // outruns a combined search on data in cache; a stream without CR pays one memchr per piece.
    const bool hints = detail::wants_data_hints(handler_);
    std::size_t lf = 0, cr = 0;
    bool lf_known = false, cr_known = false;
    bool lf_quote_e = true;
    const auto next_eol = [&](std::size_t from) {
        if constexpr (detail::takes_data_hints<Handler>) {
            if (hints) {
                if (!lf_known || lf < from) lf = detail::find_eol(s, from, n, lf_quote_e);
                lf_known = true;
                return lf;
            }
#if defined(FAULTLINE_SSE_AVX2_LINES)
            if (detail::cpu_has_avx2()) {
                if (!lf_known || lf < from)
                    lf = detail::find_eol_avx2<false>(s, from, n, lf_quote_e);
                lf_known = true;
                return lf;
            }
#endif
        }
        if (!lf_known || lf < from) lf = detail::find_byte(s, from, n, '\n'), lf_known = true;
        if (!cr_known || cr < from) cr = detail::find_byte(s, from, n, '\r'), cr_known = true;
        return lf < cr ? lf : cr;
    };
    // Consumes the line end at `eol`, returning the offset after it.
    const auto past_eol = [&](std::size_t eol) {
        if (s[eol] == '\n') return eol + 1;
        if (eol + 1 < n) return s[eol + 1] == '\n' ? eol + 2 : eol + 1;
        skip_lf_ = true;
        return n;
    };

    const std::size_t max_line = detail::line_cap<Handler>(opts_.max_line);
    if ((stream_line_ || skip_line_) && i < n) {
        const std::size_t eol = next_eol(i);
        if (stream_line_) fragment(std::string_view(s + i, eol - i));
        if (eol == n) return n;
        i = past_eol(eol);
        stream_line_ = skip_line_ = false;
    }

    if (!line_.empty() && i < n) {
        const std::size_t eol = next_eol(i);
        const std::size_t start = i;
        if (line_.size() + (eol - i) > max_line) {
            if constexpr (detail::takes_fragments<Handler>) {
                if (!long_line(line_, std::string_view(s + i, eol - i), eol != n)) {
                    ec = failed_;
                    return start;
                }
                line_.clear();
                if (eol == n) return n;
                i = past_eol(eol);
            } else {
                ec = faultline::error::sse_line_too_long;
                failed_ = ec;
                return i;
            }
        } else {
            line_.append(s + i, eol - i);
            if (eol == n) return n;
            i = past_eol(eol);
            line_quote_e_ = true; // its first bytes came in an earlier piece
            if (!line(line_, false)) {
                ec = failed_;
                return start;
            }
            line_.clear();
        }
    }

    while (i < n) {
        const char c = s[i];
        if (c == '\n' || c == '\r') { // blank line: the common event end, no search needed
            i = past_eol(i);
            dispatch();
            continue;
        }
        const std::size_t eol = next_eol(i);
        if (eol - i > max_line) {
            if constexpr (detail::takes_fragments<Handler>) {
                const std::size_t start = i;
                if (!long_line({}, std::string_view(s + i, eol - i), eol != n)) {
                    ec = failed_;
                    return start;
                }
                if (eol == n) break;
                i = past_eol(eol);
                continue;
            }
            ec = faultline::error::sse_line_too_long;
            failed_ = ec;
            return i;
        }
        if (eol == n) {
            line_.assign(s + i, n - i);
            break;
        }
        const std::size_t start = i;
        i = past_eol(eol);
        // The flag of the search that found `eol`: it covers this line (and may cover more, when
        // the search started earlier, which only makes it more cautious).
        line_quote_e_ = lf_quote_e;
        if (!line(std::string_view(s + start, eol - start), true)) {
            ec = failed_;
            return start;
        }
    }
    materialize();
    return n;
}

template <class Handler>
bool parser<Handler>::line(std::string_view ln, bool in_piece) {
    // The hot case first: "data:" lines.
    if (ln.size() >= 5 && std::memcmp(ln.data(), "data:", 5) == 0) {
        std::string_view v = ln.substr(5);
        if (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        return data(v, in_piece);
    }
    if (ln.front() == ':') return true; // comment
    const std::size_t colon = ln.find(':');
    std::string_view name = ln, value;
    if (colon != std::string_view::npos) {
        name = ln.substr(0, colon);
        value = ln.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (name == "data") return data(value, in_piece);
    if (name == "event") {
        if (in_piece) {
            type_view_ = value;
            type_mode_ = mode::view;
        } else {
            type_.assign(value);
            type_mode_ = mode::buffered;
        }
    } else if (name == "id") {
        if (value.find('\0') == std::string_view::npos) {
            last_id_.assign(value);
            has_id_ = true;
        }
    } else if (name == "retry") {
        std::chrono::milliseconds ms{};
        if (detail::parse_retry(value, ms)) {
            if constexpr (detail::has_on_retry<Handler>) handler_.on_retry(ms);
        }
    }
    return true;
}

template <class Handler>
bool parser<Handler>::data(std::string_view value, bool in_piece) {
    if constexpr (detail::takes_fragments<Handler>) {
        const std::size_t held = data_lines_ == 0           ? 0
                                 : data_mode_ == mode::view ? data_size_
                                                            : data_.size();
        if (fragments_ || held + (data_lines_ != 0) + value.size() > opts_.max_event) {
            begin_fragments();
            fragment(value);
            ++data_lines_;
            return true;
        }
    }
    // Lines are joined with '\n', so the data holds `"e` only where one of its lines does.
    data_quote_e_ = (data_lines_ != 0 && data_quote_e_) || line_quote_e_;
    if (data_lines_ == 0) {
        if (value.size() > opts_.max_event) return fail(faultline::error::sse_event_too_large);
        if (in_piece) {
            data_at_ = value.data();
            data_size_ = value.size();
            data_mode_ = mode::view;
        } else {
            data_.assign(value);
            data_mode_ = mode::buffered;
        }
        data_lines_ = 1;
        return true;
    }
    if (data_mode_ == mode::view) {
        data_.assign(data_view());
        data_mode_ = mode::buffered;
    }
    if (data_.size() + 1 + value.size() > opts_.max_event)
        return fail(faultline::error::sse_event_too_large);
    data_.push_back('\n');
    data_.append(value);
    ++data_lines_;
    return true;
}

// A line over the limit, `head` held from earlier pieces and `tail` in this one (`ended`: its
// line end came). Only with fragments: a `data` line goes out as fragments, a comment or an
// unknown field is dropped, and an `event`, `id` or `retry` line is too long.
template <class Handler>
bool parser<Handler>::long_line(std::string_view head, std::string_view tail, bool ended) {
    char start[6] = {};
    std::size_t k = 0;
    for (std::string_view part : {head, tail})
        for (std::size_t j = 0; j < part.size() && k < sizeof start; ++j)
            start[k++] = part[j];
    const auto starts = [&](std::string_view name) {
        return std::memcmp(start, name.data(), name.size()) == 0;
    };
    if (starts("event:") || starts("id:") || starts("retry:"))
        return fail(faultline::error::sse_line_too_long);
    if (!starts("data:")) { // a comment or a field the spec ignores
        skip_line_ = !ended;
        return true;
    }
    std::size_t skip = start[5] == ' ' ? 6 : 5; // the field name and one space
    const std::size_t from_head = skip < head.size() ? skip : head.size();
    head.remove_prefix(from_head);
    tail.remove_prefix(skip - from_head);
    begin_fragments();
    fragment(head);
    fragment(tail);
    ++data_lines_;
    stream_line_ = !ended;
    return true;
}

// A data line starts in an event delivered in fragments: the first one flushes the data held so
// far; each one after the event's first line is joined with '\n'.
template <class Handler>
void parser<Handler>::begin_fragments() {
    if (!fragments_) {
        fragments_ = true;
        if (data_lines_ != 0) {
            fragment(data_mode_ == mode::view ? data_view() : std::string_view(data_));
            data_.clear();
            data_mode_ = mode::none;
        }
    }
    if (data_lines_ != 0) fragment("\n");
}

template <class Handler>
void parser<Handler>::fragment(std::string_view bytes) {
    if constexpr (detail::takes_fragments<Handler>) {
        if (bytes.empty()) return;
        const std::string_view type = type_mode_ == mode::view       ? type_view_
                                      : type_mode_ == mode::buffered ? std::string_view(type_)
                                                                     : std::string_view();
        const bool first = !fragment_sent_;
        fragment_sent_ = true;
        handler_.on_fragment(event_fragment{bytes, type, first, false, std::nullopt, last_id_});
    } else {
        (void)bytes;
    }
}

template <class Handler>
void parser<Handler>::dispatch() {
    if constexpr (detail::takes_fragments<Handler>) {
        if (fragments_) {
            const std::string_view type = type_mode_ == mode::view       ? type_view_
                                          : type_mode_ == mode::buffered ? std::string_view(type_)
                                                                         : std::string_view();
            const bool first = !fragment_sent_;
            fragments_ = fragment_sent_ = false;
            data_lines_ = 0;
            data_mode_ = mode::none;
            handler_.on_fragment(
                event_fragment{{},
                               type,
                               first,
                               true,
                               has_id_ ? std::optional<std::string_view>(last_id_) : std::nullopt,
                               last_id_});
            data_.clear();
        }
    }
    if (data_lines_ != 0) {
        // Each member is written in place: views built apart and then copied into the event
        // were stored as halves and reloaded whole, which stalls store forwarding on every
        // event. The id is set in a statement of its own: built inside braces from a
        // conditional, g++ 12 -O3 sees its payload as maybe uninitialized where a handler
        // copies it.
        event ev;
        if (type_mode_ == mode::view)
            ev.type = type_view_;
        else if (type_mode_ == mode::buffered)
            ev.type = type_;
        if (data_mode_ == mode::view)
            ev.data = data_view();
        else
            ev.data = data_;
        if (has_id_) ev.id.emplace(last_id_);
        ev.last_event_id = last_id_;
        data_lines_ = 0;
        data_mode_ = mode::none;
        if constexpr (detail::takes_data_hints<Handler>)
            handler_.on_event(ev, detail::data_hint{data_quote_e_});
        else
            handler_.on_event(ev);
        data_.clear();
    }
    type_mode_ = mode::none;
    type_.clear();
    has_id_ = false;
}

template <class Handler>
void parser<Handler>::materialize() {
    // Views point into the piece the caller is about to take back.
    if (data_mode_ == mode::view) {
        data_.assign(data_view());
        data_mode_ = mode::buffered;
    }
    if (type_mode_ == mode::view) {
        type_.assign(type_view_);
        type_mode_ = mode::buffered;
    }
}

template <class Handler>
void parser<Handler>::reset_stream() noexcept {
    line_.clear();
    data_.clear();
    type_.clear();
    data_lines_ = 0;
    data_mode_ = type_mode_ = mode::none;
    has_id_ = false;
    skip_lf_ = false;
    fragments_ = fragment_sent_ = stream_line_ = skip_line_ = false;
    bom_ = 0;
    failed_.clear();
}

} // namespace faultline::sse

#endif

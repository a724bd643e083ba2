#ifndef FAULTLINE_IMPL_CLASSIFY_HPP
#define FAULTLINE_IMPL_CLASSIFY_HPP

#include <faultline/detail/ascii.hpp>
#include <faultline/detail/utf8.hpp>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <bit>
#include <charconv>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace faultline {
namespace detail {

struct hint {
    std::string_view text; // lower case
    error e;
};

// `code`, `type`, Google `status`, Azure `innererror.code` and Google `ErrorInfo.reason` values
// as providers send them, compared case-insensitively.
inline constexpr hint wire_hints[] = {
    {"invalid_request_error", error::invalid_request},
    {"invalid_request", error::invalid_request},
    {"badrequesterror", error::invalid_request},
    {"invalid_argument", error::invalid_request},
    {"failed_precondition", error::invalid_request},
    {"out_of_range", error::invalid_request},
    {"authentication_error", error::authentication},
    {"authenticationerror", error::authentication},
    {"unauthenticated", error::authentication},
    {"invalid_api_key", error::authentication},
    {"incorrect_api_key", error::authentication},
    {"api_key_invalid", error::authentication},
    {"missing_api_key", error::authentication},
    {"insufficient_quota", error::insufficient_quota},
    {"insufficient_credit", error::insufficient_quota},
    {"insufficient_credits", error::insufficient_quota},
    {"insufficient_balance", error::insufficient_quota},
    {"billing_hard_limit_reached", error::insufficient_quota},
    {"billing_not_active", error::insufficient_quota},
    {"payment_required", error::insufficient_quota},
    // one-api / new-api gateways, on 403 or 429: the user's or the token's quota is spent.
    {"insufficient_user_quota", error::insufficient_quota},
    {"pre_consume_token_quota_failed", error::insufficient_quota},
    {"spend_limit_exceeded", error::spend_limit_exceeded},
    {"budget_exceeded", error::spend_limit_exceeded},
    {"budget_exhausted", error::spend_limit_exceeded},
    {"permission_error", error::permission_denied},
    {"permissiondeniederror", error::permission_denied},
    {"permission_denied", error::permission_denied},
    {"forbidden", error::permission_denied},
    {"unsupported_country_region_territory", error::permission_denied},
    {"not_found", error::not_found},
    {"not_found_error", error::not_found},
    {"notfounderror", error::not_found},
    {"unknown_url", error::not_found},
    {"model_not_found", error::model_not_found},
    {"deploymentnotfound", error::model_not_found},
    {"context_length_exceeded", error::context_length_exceeded},
    {"context_exceeded", error::context_length_exceeded},
    {"context_window_exceeded", error::context_length_exceeded},
    {"request_too_large", error::payload_too_large},
    {"payload_too_large", error::payload_too_large},
    {"request_entity_too_large", error::payload_too_large},
    {"rate_limit_error", error::rate_limited},
    {"ratelimiterror", error::rate_limited},
    {"rate_limit_exceeded", error::rate_limited},
    {"rate_limited", error::rate_limited},
    {"too_many_requests", error::rate_limited},
    {"resource_exhausted", error::rate_limited},
    {"rpm_exceeded", error::rpm_exceeded},
    {"requests", error::rpm_exceeded},
    {"tpm_exceeded", error::tpm_exceeded},
    {"tokens", error::tpm_exceeded},
    {"concurrency_exceeded", error::concurrency_exceeded},
    {"concurrency_limit_exceeded", error::concurrency_exceeded},
    {"too_many_concurrent_requests", error::concurrency_exceeded},
    {"content_filter", error::content_filter},
    {"content_filtered", error::content_filter},
    {"content_policy_violation", error::content_filter},
    {"responsibleaipolicyviolation", error::content_filter},
    {"moderation_blocked", error::content_filter},
    {"api_error", error::internal_error},
    {"server_error", error::internal_error},
    {"internal_error", error::internal_error},
    {"internal", error::internal_error},
    {"internalservererror", error::internal_error},
    {"engine_error", error::internal_error},
    {"upstream_error", error::upstream_unavailable},
    {"upstream_unavailable", error::upstream_unavailable},
    {"service_unavailable", error::upstream_unavailable},
    {"unavailable", error::upstream_unavailable},
    {"bad_gateway", error::upstream_unavailable},
    {"serviceunavailableerror", error::upstream_unavailable},
    {"vertex_auth_failed", error::upstream_auth_failed},
    {"upstream_auth_failed", error::upstream_auth_failed},
    {"no_supplier", error::no_available_channel},
    {"no_available_channel", error::no_available_channel},
    {"no_available_channels", error::no_available_channel},
    {"upstream_timeout", error::upstream_timeout},
    {"timeout", error::upstream_timeout},
    {"timeout_error", error::upstream_timeout},
    {"deadline_exceeded", error::upstream_timeout},
    {"gateway_timeout", error::upstream_timeout},
    {"apitimeouterror", error::upstream_timeout},
    {"request_timeout", error::request_timeout},
    {"conflict", error::conflict},
    {"aborted", error::conflict},
    {"overloaded_error", error::overloaded},
    {"overloaded", error::overloaded},
    {"stream_error", error::stream_interrupted},
    {"stream_interrupted", error::stream_interrupted},
    {"stream_truncated", error::stream_truncated},
    {"stream_timeout", error::stream_timeout},
    {"sse_line_too_long", error::sse_line_too_long},
    {"sse_event_too_large", error::sse_event_too_large},
    {"duplicated_v1_path", error::duplicated_v1_path},
    {"missing_v1_path", error::missing_v1_path},
};

// Phrases in human messages, lower case, in priority order. Signals beat the status;
// refinements only make the status's class more precise; retry hints name a wait.
enum class phrase_use : unsigned char { signal, refinement, retry_hint };

struct phrase {
    std::string_view text; // lower case
    error e;
    phrase_use use;
};

inline constexpr phrase phrases[] = {
    {"maximum context length", error::context_length_exceeded, phrase_use::signal},
    {"context length", error::context_length_exceeded, phrase_use::signal},
    {"context window", error::context_length_exceeded, phrase_use::signal},
    {"prompt is too long", error::context_length_exceeded, phrase_use::signal},
    {"input is too long", error::context_length_exceeded, phrase_use::signal},
    {"exceeds the maximum number of tokens", error::context_length_exceeded, phrase_use::signal},
    // OpenAI's 429 "Request too large for gpt-4o ... on tokens per min (TPM): Limit 30000,
    // Requested 36278": the request alone is over the limit, so waiting never helps.
    {"request too large for", error::payload_too_large, phrase_use::signal},
    {"credit balance is too low", error::insufficient_quota, phrase_use::signal},
    {"insufficient credit", error::insufficient_quota, phrase_use::signal},
    {"insufficient balance", error::insufficient_quota, phrase_use::signal},
    {"insufficient quota", error::insufficient_quota, phrase_use::signal},
    {"insufficient_quota", error::insufficient_quota, phrase_use::signal},
    {"billing hard limit", error::insufficient_quota, phrase_use::signal},
    // one-api / new-api: "user quota is not enough", "token quota is not enough", "用户额度不足".
    {"quota is not enough", error::insufficient_quota, phrase_use::signal},
    {"\xE9\xA2\x9D\xE5\xBA\xA6\xE4\xB8\x8D\xE8\xB6\xB3", error::insufficient_quota,
     phrase_use::signal},
    {"spend limit", error::spend_limit_exceeded, phrase_use::signal},
    {"budget exceeded", error::spend_limit_exceeded, phrase_use::signal},
    {"content management policy", error::content_filter, phrase_use::signal},
    {"content policy", error::content_filter, phrase_use::signal},
    {"content filter", error::content_filter, phrase_use::signal},
    {"safety system", error::content_filter, phrase_use::signal},
    {"incorrect api key", error::authentication, phrase_use::signal},
    {"invalid api key", error::authentication, phrase_use::signal},
    {"api key not valid", error::authentication, phrase_use::signal},
    {"invalid x-api-key", error::authentication, phrase_use::signal},
    {"invalid_api_key", error::authentication, phrase_use::signal},
    {"overloaded", error::overloaded, phrase_use::signal},
    // Gemini's 503 UNAVAILABLE "This model is currently experiencing high demand."
    {"high demand", error::overloaded, phrase_use::signal},

    {"no available channel", error::no_available_channel, phrase_use::refinement},
    {"no available supplier", error::no_available_channel, phrase_use::refinement},
    {"no available provider", error::no_available_channel, phrase_use::refinement},
    {"tokens per min", error::tpm_exceeded, phrase_use::refinement},
    {"requests per min", error::rpm_exceeded, phrase_use::refinement},
    {"concurrent requests", error::concurrency_exceeded, phrase_use::refinement},
    {"concurrency limit", error::concurrency_exceeded, phrase_use::refinement},
    {"timed out", error::upstream_timeout, phrase_use::refinement},
    {"timeout", error::upstream_timeout, phrase_use::refinement},

    // Where a wait is named: "Please try again in 1.4s", Gemini's "Please retry in 58.2s."
    {"again in ", error::unknown, phrase_use::retry_hint},
    {"retry in ", error::unknown, phrase_use::retry_hint},
};
inline constexpr std::size_t phrase_count = std::size(phrases);
static_assert(phrase_count <= 64, "phrase sets are 64-bit masks");

// Phrases are found in one pass over the message: at each byte, the pair it starts (ASCII
// letters folded to lower case by setting bit 5) is looked up in a bitmap of each phrase's
// rarest letter pair ("xt" of "context", "qu" of "quota"); only the few positions that hit
// are compared in full. English letter frequencies (per mille) rank the pairs.
[[nodiscard]] constexpr unsigned letter_frequency(char c) noexcept {
    constexpr unsigned per_mille[26] = {82, 15, 28, 43, 127, 22, 20, 61, 70, 2,  8, 40, 24,
                                        67, 75, 19, 1,  60,  63, 91, 28, 10, 24, 2, 20, 1};
    return c >= 'a' && c <= 'z' ? per_mille[c - 'a'] : 0;
}

// Byte a in the low half, so that on a little-endian machine the keys of eight positions are
// the 16-bit windows of one 64-bit load.
[[nodiscard]] constexpr std::uint16_t pair_key(char a, char b) noexcept {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(a) | 0x20u) |
                                      (static_cast<unsigned char>(b) | 0x20u) << 8);
}

struct phrase_index {
    struct pair {
        std::uint16_t key = 0;
        std::uint64_t members = 0; // phrases anchored on this pair
    };
    std::array<std::size_t, phrase_count> anchor{}; // offset of the phrase's rarest pair
    std::array<pair, phrase_count> pairs{};
    std::size_t pair_count = 0;
    std::array<std::uint64_t, 1024> bitmap{}; // bit k: some phrase is anchored on pair key k
};

[[nodiscard]] constexpr phrase_index make_phrase_index() noexcept {
    phrase_index x;
    for (std::size_t i = 0; i < phrase_count; ++i) {
        const std::string_view t = phrases[i].text;
        std::size_t best = t.size();
        unsigned best_score = ~0u;
        for (std::size_t k = 0; k + 1 < t.size(); ++k) {
            const unsigned a = letter_frequency(t[k]), b = letter_frequency(t[k + 1]);
            if (a == 0 || b == 0) continue; // letters only, so folding is exact
            if (a * b < best_score) best = k, best_score = a * b;
        }
        if (best == t.size()) best = 0; // no letter pair (a non-ASCII phrase): its first bytes
        x.anchor[i] = best;
        const std::uint16_t key = pair_key(t[best], t[best + 1]);
        std::size_t g = 0;
        while (g < x.pair_count && x.pairs[g].key != key)
            ++g;
        if (g == x.pair_count) x.pairs[x.pair_count++].key = key;
        x.pairs[g].members |= std::uint64_t{1} << i;
        x.bitmap[key >> 6] |= std::uint64_t{1} << (key & 63);
    }
    return x;
}

inline constexpr phrase_index phrase_lookup = make_phrase_index();

struct phrase_hits {
    std::uint64_t found = 0;                    // bit i: phrases[i] occurs
    std::array<std::size_t, phrase_count> at{}; // where it first occurs
};

[[nodiscard]] inline bool pair_may_start_phrase(unsigned key) noexcept {
    return phrase_lookup.bitmap[key >> 6] >> (key & 63) & 1;
}

// Compares the phrases anchored on the pair at `i` with the text there.
inline void check_candidate(std::string_view text, std::size_t i, unsigned key,
                            std::uint64_t& pending, phrase_hits& h) noexcept {
    std::uint64_t members = 0;
    for (std::size_t g = 0; g < phrase_lookup.pair_count; ++g)
        if (phrase_lookup.pairs[g].key == key) {
            members = phrase_lookup.pairs[g].members & pending;
            break;
        }
    for (; members != 0; members &= members - 1) {
        const auto k = static_cast<std::size_t>(std::countr_zero(members));
        const std::size_t a = phrase_lookup.anchor[k];
        const std::string_view t = phrases[k].text;
        if (i >= a && i - a + t.size() <= text.size() && iequals(text.substr(i - a, t.size()), t)) {
            h.found |= std::uint64_t{1} << k;
            h.at[k] = i - a;
            pending &= ~(std::uint64_t{1} << k);
        }
    }
}

// Every phrase of the table in `text`, ASCII case-insensitively, each at its first position:
// the portable search, and the reference the vector one is tested against.
[[nodiscard]] inline phrase_hits find_phrases_scalar(std::string_view text) noexcept {
    phrase_hits h;
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::uint64_t pending = ~std::uint64_t{0} >> (64 - phrase_count);
    std::size_t i = 0;
    if constexpr (std::endian::native == std::endian::little) {
        // Eight positions per step, one branch for all eight.
        for (; i + 9 <= n && pending != 0; i += 8) {
            std::uint64_t w;
            std::memcpy(&w, p + i, 8);
            w |= 0x2020202020202020u;
            const unsigned last = static_cast<unsigned>(w >> 56) | (p[i + 8] | 0x20u) << 8;
            unsigned hits = 0;
            for (unsigned j = 0; j < 7; ++j)
                hits |= static_cast<unsigned>(
                            pair_may_start_phrase(static_cast<unsigned>(w >> (8 * j)) & 0xFFFF))
                        << j;
            hits |= static_cast<unsigned>(pair_may_start_phrase(last)) << 7;
            for (; hits != 0; hits &= hits - 1) {
                const auto j = static_cast<std::size_t>(std::countr_zero(hits));
                check_candidate(text, i + j, (p[i + j] | 0x20u) | (p[i + j + 1] | 0x20u) << 8,
                                pending, h);
            }
        }
    }
    for (; i + 1 < n && pending != 0; ++i) {
        const unsigned key = (p[i] | 0x20u) | (p[i + 1] | 0x20u) << 8;
        if (pair_may_start_phrase(key)) check_candidate(text, i, key, pending, h);
    }
    return h;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FAULTLINE_CLASSIFY_AVX2_SEARCH 1

// The vector search looks at four bytes at once (Hyperscan's "Teddy"): each phrase's rarest
// four-byte window is put in one of eight buckets, and per window position a table lookup of each
// byte's low and high nibble (after folding with bit 5) gives the buckets that byte allows. A
// position whose four bytes all allow some bucket is a candidate; its bucket's phrases are then
// compared eight bytes at a time, and in full when those match. Four bytes, rather than the
// scalar search's letter pair, keep floods of one pair ("xtxtxt…") from making every position a
// candidate; the cost stays linear, a compare per phrase of a bucket at a candidate.
inline constexpr std::size_t window_bytes = 4;
inline constexpr std::size_t bucket_count = 8;
static_assert(
    [] {
        for (const auto& p : phrases)
            if (p.text.size() < window_bytes) return false;
        return true;
    }(),
    "every phrase holds a whole window");

[[nodiscard]] constexpr unsigned byte_frequency(char c) noexcept {
    if (c == ' ') return 180;
    const unsigned f = letter_frequency(static_cast<char>(static_cast<unsigned char>(c) | 0x20u));
    return f != 0 ? f : 5;
}

struct window_index {
    std::array<std::size_t, phrase_count> anchor{}; // offset of the phrase's window
    std::array<std::uint64_t, bucket_count> members{};
    // lo[k][n]: buckets whose windows have low nibble n at byte k; hi likewise.
    std::array<std::array<unsigned char, 16>, window_bytes> lo{}, hi{};
    // The phrase's first eight bytes as they compare against eight folded bytes of text: bit 5
    // is set in the text only where the phrase has a letter.
    std::array<std::uint64_t, phrase_count> head{}, fold{}, care{};
};

[[nodiscard]] constexpr window_index make_window_index() noexcept {
    window_index x;
    std::array<std::array<unsigned char, window_bytes>, phrase_count> key{};
    for (std::size_t i = 0; i < phrase_count; ++i) {
        const std::string_view t = phrases[i].text;
        std::size_t best = 0;
        unsigned long long best_score = ~0ull;
        for (std::size_t k = 0; k + window_bytes <= t.size(); ++k) {
            unsigned long long score = 1;
            for (std::size_t j = 0; j < window_bytes; ++j)
                score *= byte_frequency(t[k + j]);
            if (score < best_score) best = k, best_score = score;
        }
        x.anchor[i] = best;
        for (std::size_t j = 0; j < window_bytes; ++j)
            key[i][j] = static_cast<unsigned char>(static_cast<unsigned char>(t[best + j]) | 0x20u);
        for (std::size_t j = 0; j < 8 && j < t.size(); ++j) {
            const auto c = static_cast<unsigned char>(t[j]);
            const bool letter = (c | 0x20u) >= 'a' && (c | 0x20u) <= 'z';
            x.head[i] |= std::uint64_t{c} << (8 * j);
            x.fold[i] |= std::uint64_t{letter ? 0x20u : 0u} << (8 * j);
            x.care[i] |= std::uint64_t{0xFF} << (8 * j);
        }
    }
    // Windows into buckets, each where it least raises the share of byte strings the bucket lets
    // through: the product over its bytes of the low and high nibbles it allows.
    const auto passing = [&](std::size_t b, const unsigned char* extra) {
        const auto bit = static_cast<unsigned char>(1u << b);
        unsigned long long product = 1;
        for (std::size_t j = 0; j < window_bytes; ++j) {
            unsigned lo = 0, hi = 0;
            for (std::size_t v = 0; v < 16; ++v) {
                lo += (x.lo[j][v] & bit) != 0 || (extra && (extra[j] & 15) == v);
                hi += (x.hi[j][v] & bit) != 0 || (extra && (extra[j] >> 4) == v);
            }
            product *= lo * hi;
        }
        return product;
    };
    for (std::size_t i = 0; i < phrase_count; ++i) {
        std::size_t best = 0;
        unsigned long long best_cost = ~0ull;
        for (std::size_t b = 0; b < bucket_count; ++b) {
            const unsigned long long cost =
                (passing(b, key[i].data()) - (x.members[b] ? passing(b, nullptr) : 0)) * 64 +
                static_cast<unsigned>(std::popcount(x.members[b]));
            if (cost < best_cost) best = b, best_cost = cost;
        }
        const auto bit = static_cast<unsigned char>(1u << best);
        x.members[best] |= std::uint64_t{1} << i;
        for (std::size_t j = 0; j < window_bytes; ++j) {
            x.lo[j][key[i][j] & 15] |= bit;
            x.hi[j][key[i][j] >> 4] |= bit;
        }
    }
    return x;
}

inline constexpr window_index window_lookup = make_window_index();

// Compares the phrases of `buckets` whose window would be at `i` with the text there.
inline void check_window(std::string_view text, std::size_t i, unsigned buckets,
                         std::uint64_t& pending, phrase_hits& h) noexcept {
    const auto* p = text.data();
    for (; buckets != 0; buckets &= buckets - 1) {
        for (std::uint64_t m = window_lookup.members[std::countr_zero(buckets)] & pending; m != 0;
             m &= m - 1) {
            const auto k = static_cast<std::size_t>(std::countr_zero(m));
            const std::size_t a = window_lookup.anchor[k];
            const std::string_view t = phrases[k].text;
            if (i < a || i - a + t.size() > text.size()) continue;
            const std::size_t at = i - a;
            if (at + 8 <= text.size()) {
                std::uint64_t w;
                std::memcpy(&w, p + at, 8);
                if (((w | window_lookup.fold[k]) & window_lookup.care[k]) != window_lookup.head[k])
                    continue;
            }
            if (iequals(text.substr(at, t.size()), t)) {
                h.found |= std::uint64_t{1} << k;
                h.at[k] = at;
                pending &= ~(std::uint64_t{1} << k);
            }
        }
    }
}

// The nibble tables, each in both lanes, loaded once per search. The high-nibble tables take
// the byte as it is, the fold built into them: (c | 0x20) >> 4 is (c >> 4) | 2.
struct window_tables_avx2 {
    __m256i lo[window_bytes], hi[window_bytes];
};

[[gnu::target("avx2")]] [[nodiscard]] inline window_tables_avx2 load_window_tables_avx2() noexcept {
    window_tables_avx2 t;
    for (std::size_t k = 0; k < window_bytes; ++k) {
        alignas(16) std::array<unsigned char, 16> hi;
        for (std::size_t n = 0; n < 16; ++n)
            hi[n] = window_lookup.hi[k][n | 2];
        t.lo[k] = _mm256_broadcastsi128_si256(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(window_lookup.lo[k].data())));
        t.hi[k] = _mm256_broadcastsi128_si256(
            _mm_load_si128(reinterpret_cast<const __m128i*>(hi.data())));
    }
    return t;
}

// The buckets each of the 32 window positions from `q` allows (zero: none).
[[gnu::target("avx2")]] [[nodiscard]] inline __m256i
window_buckets_avx2(const window_tables_avx2& t, const unsigned char* q) noexcept {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    __m256i acc = _mm256_set1_epi8(-1);
    for (std::size_t k = 0; k < window_bytes; ++k) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + k));
        const __m256i lo = _mm256_shuffle_epi8(t.lo[k], _mm256_and_si256(v, nibble));
        const __m256i hi =
            _mm256_shuffle_epi8(t.hi[k], _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble));
        acc = _mm256_and_si256(acc, _mm256_and_si256(lo, hi));
    }
    return acc;
}

// Checks the candidates among the 64 window positions from `q`, which are `base` on in `text`:
// one branch for all 64 where there are none.
[[gnu::target("avx2")]] inline void
check_windows_avx2(const window_tables_avx2& t, std::string_view text, const unsigned char* q,
                   std::size_t base, std::uint64_t& pending, phrase_hits& h) noexcept {
    const __m256i a = window_buckets_avx2(t, q), b = window_buckets_avx2(t, q + 32);
    const __m256i zero = _mm256_setzero_si256();
    const std::uint64_t none =
        static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, zero))) |
        std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, zero)))}
            << 32;
    if (none == ~std::uint64_t{0}) return;
    alignas(32) unsigned char buckets[64];
    _mm256_store_si256(reinterpret_cast<__m256i*>(buckets), a);
    _mm256_store_si256(reinterpret_cast<__m256i*>(buckets + 32), b);
    for (std::uint64_t m = ~none; m != 0 && pending != 0; m &= m - 1) {
        const auto j = static_cast<std::size_t>(std::countr_zero(m));
        check_window(text, base + j, buckets[j], pending, h);
    }
}

[[gnu::target("avx2")]] [[nodiscard]] inline phrase_hits
find_phrases_avx2(std::string_view text) noexcept {
    phrase_hits h;
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::uint64_t pending = ~std::uint64_t{0} >> (64 - phrase_count);
    const window_tables_avx2 t = load_window_tables_avx2();
    std::size_t i = 0;
    for (; i + 64 + window_bytes - 1 <= n && pending != 0; i += 64)
        check_windows_avx2(t, text, p + i, i, pending, h);
    if (pending != 0 && i + window_bytes <= n) {
        // The last windows (under 64) from a zero-padded copy; candidates are checked against
        // `text`, so the padding never matches.
        unsigned char tail[64 + 64 + window_bytes - 1] = {};
        std::memcpy(tail, p + i, n - i);
        check_windows_avx2(t, text, tail, i, pending, h);
    }
    return h;
}
#endif

// Every phrase of the table in `text`, ASCII case-insensitively, each at its first position.
// The vector search where the CPU has AVX2 (checked once), else the scalar one.
[[nodiscard]] inline phrase_hits find_phrases(std::string_view text) noexcept {
#if defined(FAULTLINE_CLASSIFY_AVX2_SEARCH)
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (avx2) return find_phrases_avx2(text);
#endif
    return find_phrases_scalar(text);
}

// The wait a retry-hint phrase names, as find_message_retry_delay reads it.
[[nodiscard]] inline std::string_view retry_delay_in(std::string_view text,
                                                     const phrase_hits& h) noexcept {
    for (std::size_t k = 0; k < phrase_count; ++k)
        if (phrases[k].use == phrase_use::retry_hint && (h.found >> k & 1)) {
            const std::string_view d =
                leading_duration(text.substr(h.at[k] + phrases[k].text.size()));
            if (!d.empty() && is_digit(d.front())) return d;
        }
    return {};
}

// Length of the leading run of ASCII bytes: 32 at a time, then eight, then one.
[[nodiscard]] inline std::size_t ascii_prefix(std::string_view s) noexcept {
    std::size_t i = 0;
    for (; i + 32 <= s.size(); i += 32) {
        std::uint64_t a, b, c, d;
        std::memcpy(&a, s.data() + i, 8);
        std::memcpy(&b, s.data() + i + 8, 8);
        std::memcpy(&c, s.data() + i + 16, 8);
        std::memcpy(&d, s.data() + i + 24, 8);
        if ((a | b | c | d) & 0x8080808080808080u) break;
    }
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        if (w & 0x8080808080808080u) break;
    }
    while (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80)
        ++i;
    return i;
}

[[nodiscard]] inline std::optional<error> wire_hint(std::string_view s) noexcept {
    s = trim(s);
    if (s.empty()) return std::nullopt;
    for (const auto& h : wire_hints)
        if (iequals(s, h.text)) return h.e;
    return std::nullopt;
}

// Body signals that beat the status: the same request can never succeed (quota, spend,
// context, content), or the provider says outright it is overloaded.
[[nodiscard]] inline bool is_signal(error e) noexcept {
    switch (e) {
    case error::insufficient_quota:
    case error::spend_limit_exceeded:
    case error::context_length_exceeded:
    case error::content_filter:
    case error::overloaded:
        return true;
    default:
        return false;
    }
}

[[nodiscard]] inline bool is_invalid_key_code(std::string_view s) noexcept {
    s = trim(s);
    return iequals(s, "invalid_api_key") || iequals(s, "incorrect_api_key") ||
           iequals(s, "api_key_invalid") || iequals(s, "missing_api_key");
}

[[nodiscard]] inline bool is_generic(error e) noexcept {
    switch (e) {
    case error::invalid_request:
    case error::not_found:
    case error::rate_limited:
    case error::internal_error:
    case error::upstream_unavailable:
    case error::unknown:
        return true;
    default:
        return false;
    }
}

// A client error the body may name where the status is a generic 4xx.
[[nodiscard]] inline bool is_client_error(error e) noexcept {
    const unsigned s = info(e).status;
    return s >= 400 && s < 500 && !info(e).retryable;
}

struct body_view {
    error_envelope env;
    bool json = false;     // the body parsed as JSON
    bool envelope = false; // an error object (or error text) was found in it
    std::string_view text; // message from a non-JSON body (HTML title, text): a view into it
    std::string google_status, inner_code, retry_delay;
    std::vector<std::string> reasons; // Google ErrorInfo.reason values
};

[[nodiscard]] inline std::string_view as_sv(const boost::json::string& s) noexcept {
    return {s.data(), s.size()};
}

inline void read_google_details(const boost::json::value& details, body_view& b) {
    const auto* arr = details.if_array();
    if (!arr) return;
    for (const auto& d : *arr) {
        const auto* o = d.if_object();
        if (!o) continue;
        const auto* t = o->if_contains("@type");
        if (!t || !t->is_string()) continue;
        const std::string_view type = as_sv(t->get_string());
        if (type.ends_with("google.rpc.RetryInfo")) {
            if (const auto* r = o->if_contains("retryDelay"); r && r->is_string())
                b.retry_delay.assign(as_sv(r->get_string()));
        } else if (type.ends_with("google.rpc.ErrorInfo")) {
            if (const auto* r = o->if_contains("reason"); r && r->is_string())
                b.reasons.emplace_back(as_sv(r->get_string()));
        }
    }
}

inline void read_error_object(const boost::json::object& err, body_view& b,
                              std::string_view skip = {}) {
    b.env = envelope_from_object(err, skip);
    b.envelope = true;
    if (const auto* s = b.env.extra.if_contains("status"); s && s->is_string())
        b.google_status.assign(as_sv(s->get_string()));
    if (const auto* d = b.env.extra.if_contains("details")) read_google_details(*d, b);
    if (const auto* inner = b.env.extra.if_contains("innererror"); inner && inner->is_object())
        if (const auto* c = inner->get_object().if_contains("code"); c && c->is_string())
            b.inner_code.assign(as_sv(c->get_string()));
    if (b.env.message.empty())
        if (const auto* m = b.env.extra.if_contains("message"); m && !m->is_null())
            b.env.message = boost::json::serialize(*m);
}

// Whether `v` is an error object worth reading in place of the one around it.
[[nodiscard]] inline bool is_error_object(const boost::json::value& v) noexcept {
    const auto* o = v.if_object();
    if (!o) return false;
    for (std::string_view key : {"message", "code", "type", "status"})
        if (const auto* f = o->if_contains(key); f && !f->is_null()) return true;
    return false;
}

// Fills what `inner` (the relayed upstream error) leaves out from `outer` (the relay's own).
inline void keep_outer_where_missing(body_view& inner, const body_view& outer) {
    if (std::holds_alternative<std::monostate>(inner.env.code)) inner.env.code = outer.env.code;
    if (!inner.env.type) inner.env.type = outer.env.type;
    if (!inner.env.event_id) inner.env.event_id = outer.env.event_id;
    if (!inner.env.status) inner.env.status = outer.env.status;
}

inline void read_json(const boost::json::value& root, body_view& b) {
    const boost::json::value* v = &root;
    if (const auto* arr = root.if_array()) { // Google sometimes wraps the error in an array
        v = nullptr;
        for (const auto& e : *arr)
            if (e.is_object()) {
                v = &e;
                break;
            }
        if (!v) return;
    }
    const auto* o = v->if_object();
    if (!o) return;
    if (const auto* e = o->if_contains("error")) {
        if (e->is_object() && !e->get_object().empty()) {
            const auto& err = e->get_object();
            // A relay's wrapping one level deeper, {"error":{"error":{…}}}: the inner one is the
            // upstream's error, unless it is no error object at all.
            if (const auto* inner = err.if_contains("error"); inner && is_error_object(*inner)) {
                body_view outer;
                read_error_object(err, outer, "error");
                read_error_object(inner->get_object(), b);
                keep_outer_where_missing(b, outer);
                return;
            }
            return read_error_object(err, b);
        }
        if (e->is_string() && !e->get_string().empty()) {
            // {"error":"text"}, sometimes with a longer "message" beside it.
            read_error_object(*o, b, "error");
            if (b.env.message.empty()) b.env.message.assign(as_sv(e->get_string()));
            return;
        }
    }
    const auto* obj = o->if_contains("object");
    const bool flat = (obj && obj->is_string() && obj->get_string() == "error") ||
                      (o->contains("message") && !o->contains("choices"));
    if (flat) {
        return read_error_object(*o, b, "object");
    }
    if (const auto* d = o->if_contains("detail"); d && d->is_string()) { // FastAPI servers
        b.env.message.assign(as_sv(d->get_string()));
        b.envelope = true;
    }
}

// Parses into `out`'s own memory resource: a document moved into a value on another resource
// would be copied there, node by node.
[[nodiscard]] inline bool parse_bounded(std::string_view text, const parse_limits& limits,
                                        boost::json::value& out) {
    if (text.size() > limits.max_size) return false;
    boost::system::error_code ec;
    out = boost::json::parse(text, ec, out.storage(), strict_options(limits));
    return !ec;
}

// SDKs and gateways relay an upstream's whole error document as the message
// ("{\n  \"error\": {\n    \"code\": 503, …"): that document is read instead, one level
// deep, when it is an error; otherwise the message stays as it is.
inline void unwrap_message(body_view& b, const parse_limits& limits) {
    const std::string_view m = trim(b.env.message);
    if (m.size() < 2 || (m.front() != '{' && m.front() != '[')) return;
    unsigned char buf[2048];
    boost::json::monotonic_resource mr(buf, sizeof buf);
    boost::json::value jv(&mr);
    if (!parse_bounded(m, limits, jv)) return;
    body_view inner;
    read_json(jv, inner);
    const bool is_error =
        inner.envelope && (!inner.env.message.empty() || inner.env.type ||
                           !std::holds_alternative<std::monostate>(inner.env.code));
    if (!is_error) return;
    keep_outer_where_missing(inner, b);
    inner.json = true;
    b = std::move(inner);
}

// The <title> (else first <h1>) of an HTML page: what a proxy's error page says.
[[nodiscard]] inline std::string_view html_heading(std::string_view body) noexcept {
    for (std::string_view tag : {std::string_view("title"), std::string_view("h1")}) {
        std::size_t pos = 0;
        while (pos < body.size()) {
            const std::size_t lt = body.find('<', pos);
            if (lt == std::string_view::npos) break;
            std::string_view rest = body.substr(lt + 1);
            if (rest.size() > tag.size() && iequals(rest.substr(0, tag.size()), tag) &&
                (rest[tag.size()] == '>' || rest[tag.size()] == ' ')) {
                const std::size_t gt = body.find('>', lt);
                if (gt == std::string_view::npos) break;
                const std::size_t end = body.find('<', gt + 1);
                const std::string_view inner = trim(body.substr(
                    gt + 1, end == std::string_view::npos ? std::string_view::npos : end - gt - 1));
                if (!inner.empty()) return inner;
            }
            pos = lt + 1;
        }
    }
    return {};
}

// `s` without surrounding space, looking at no more than `max` bytes from each end.
[[nodiscard]] inline std::string_view trim_within(std::string_view s, std::size_t max) noexcept {
    std::size_t lead = 0;
    while (lead < s.size() && lead < max && is_http_space(s[lead]))
        ++lead;
    s.remove_prefix(lead);
    std::size_t trail = 0;
    while (trail < s.size() && trail < max && is_http_space(s[s.size() - 1 - trail]))
        ++trail;
    s.remove_suffix(trail);
    return s;
}

// Reads at most `limits.max_size` bytes of JSON, or `max_scan` bytes of anything else: the
// cost and memory of a classification never depend on how large the body is.
inline body_view read_body(std::string_view body, const parse_limits& limits,
                           std::size_t max_scan) {
    body_view b;
    const std::string_view t = trim_within(body, max_scan);
    if (t.empty()) return b;
    if (t.front() == '{' || t.front() == '[') {
        // Over the limit is not read at all: its text is JSON, not a message. The buffer holds
        // the document of a 4 KB body, so that one needs no heap block.
        unsigned char buf[8192];
        boost::json::monotonic_resource mr(buf, sizeof buf);
        boost::json::value jv(&mr);
        if (parse_bounded(t, limits, jv)) {
            b.json = true;
            read_json(jv, b);
            unwrap_message(b, limits);
        }
        // Truncated or invalid JSON carries no trustworthy text: the status decides.
        return b;
    }
    const std::string_view window = t.substr(0, max_scan);
    b.text = window.front() == '<' ? html_heading(window) : window;
    return b;
}

// Cuts at a UTF-8 boundary and marks the cut.
inline void bound_message(std::string& m, std::size_t max) {
    if (m.size() <= max) return;
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(m[cut]) & 0xC0) == 0x80)
        --cut;
    m.resize(cut);
    m.append("\xE2\x80\xA6");
}

[[nodiscard]] inline std::optional<error> code_as_status(const wire_code& code) noexcept {
    std::int64_t n = 0;
    if (const auto* i = std::get_if<std::int64_t>(&code))
        n = *i;
    else if (const auto* s = std::get_if<std::string>(&code)) {
        const std::string_view v = trim(*s);
        const auto r = std::from_chars(v.data(), v.data() + v.size(), n);
        if (r.ec != std::errc() || r.ptr != v.data() + v.size()) return std::nullopt;
    } else
        return std::nullopt;
    if (n < 400 || n >= 600) return std::nullopt;
    return error_from_status(static_cast<unsigned>(n));
}

struct header_facts {
    retry_hints hints;
    std::string_view should_retry;
    std::string_view content_type;
    bool inside_stream = false; // the body came out of an event stream: never read as one again
};

// An event-stream body classified from its events; nothing when `body` is not one. Defined in
// impl/classify_stream.hpp (it needs sse::monitor, which needs this header).
[[nodiscard]] inline std::optional<failure> classify_event_stream(unsigned status,
                                                                  const header_facts& headers,
                                                                  std::string_view body,
                                                                  const classify_options& options);

inline failure classify_impl(unsigned status, const header_facts& headers, std::string_view body,
                             const classify_options& options) {
    if (!headers.inside_stream)
        if (auto f = classify_event_stream(status, headers, body, options)) return std::move(*f);
    body_view b = read_body(body, options.json, options.max_scan);
    const error_envelope& env = b.env;

    // Wire hints in order of trust: code, Azure inner code, Google reason and status, type.
    std::array<std::optional<error>, 8> wire{};
    std::size_t n = 0;
    if (const auto* s = std::get_if<std::string>(&env.code)) wire[n++] = wire_hint(*s);
    wire[n++] = wire_hint(b.inner_code);
    for (std::size_t i = 0; i < b.reasons.size() && i < 2; ++i)
        wire[n++] = wire_hint(b.reasons[i]);
    wire[n++] = wire_hint(b.google_status);
    if (env.type) wire[n++] = wire_hint(*env.type);

    const std::string_view message =
        trim(!env.message.empty() ? std::string_view(env.message) : b.text);
    // Only the part that can become `failure::message` is searched.
    const std::string_view window = message.substr(0, options.max_message);
    const phrase_hits hits = find_phrases(window);

    const bool status_error = status >= 400 && status < 600;
    const bool overload_plausible = !status_error || status == 429 || status >= 500;

    std::optional<error> chosen;
    // 1. Unambiguous body signals.
    for (std::size_t i = 0; i < n && !chosen; ++i)
        if (wire[i] && is_signal(*wire[i]) && (*wire[i] != error::overloaded || overload_plausible))
            chosen = wire[i];
    if (!chosen) {
        // An invalid-key code is a signal; a bare "authentication_error" type is only a hint.
        const auto* code = std::get_if<std::string>(&env.code);
        bool invalid_key = code && is_invalid_key_code(*code);
        for (const auto& r : b.reasons)
            invalid_key = invalid_key || is_invalid_key_code(r);
        if (invalid_key) chosen = error::authentication;
    }
    for (std::uint64_t m = hits.found; !chosen && m != 0; m &= m - 1) {
        const phrase& p = phrases[std::countr_zero(m)];
        if (p.use == phrase_use::signal && (p.e != error::overloaded || overload_plausible))
            chosen = p.e;
    }

    // 2./3. The status, or the body's hints without one, refined within the class.
    if (!chosen) {
        error base = error::unknown;
        std::size_t first = 0;
        if (status_error) {
            base = error_from_status(status);
        } else {
            for (; first < n && !wire[first]; ++first) {
            }
            if (first < n)
                base = *wire[first++];
            else if (auto s = code_as_status(env.code))
                base = *s;
        }
        const bool generic_4xx = status_error && base == error::invalid_request;
        const auto refines = [&](error h) {
            if (info(h).cat == info(base).cat) return is_generic(base) && !is_generic(h);
            return generic_4xx && is_client_error(h);
        };
        error result = base;
        for (std::size_t i = status_error ? 0 : first; i < n; ++i)
            if (wire[i] && refines(*wire[i])) {
                result = *wire[i];
                break;
            }
        if (result == base && base != error::unknown)
            for (std::uint64_t m = hits.found; m != 0; m &= m - 1) {
                const phrase& p = phrases[std::countr_zero(m)];
                if (p.use == phrase_use::refinement && refines(p.e)) {
                    result = p.e;
                    break;
                }
            }
        chosen = result;
    }

    failure f;
    f.code = *chosen;
    f.cat = info(f.code).cat;
    f.retryable = info(f.code).retryable;
    f.status = status;
    const std::string_view should = trim(headers.should_retry);
    if (iequals(should, "true"))
        f.retryable = true;
    else if (iequals(should, "false"))
        f.retryable = false;

    // The hints are views into `b` and `headers`, read before the body's strings move out.
    retry_hints hints = headers.hints;
    hints.body_retry_delay = b.retry_delay;
    hints.message_retry_delay = retry_delay_in(window, hits);
    retry_after_options ro;
    ro.now = options.now ? *options.now : std::chrono::system_clock::now();
    ro.max = options.max_retry_after;
    ro.use_reset_headers = f.cat == category::rate_limited;
    f.retry_after = retry_after_from(hints, ro);

    // A few bytes past the cut, so that bound_message sees the message is longer and marks it.
    if (!message.empty()) {
        const std::string_view m = message.substr(0, options.max_message + 4);
        const std::size_t ascii = ascii_prefix(m);
        if (ascii == m.size() && m.data() == b.env.message.data() &&
            m.size() == b.env.message.size()) {
            f.message = std::move(b.env.message); // the body's whole message, as it is
        } else {
            f.message.reserve(m.size());
            f.message.assign(m.substr(0, ascii));
            append_utf8_sanitized(f.message, m.substr(ascii));
        }
    } else if (status != 0)
        f.message.assign(reason_phrase(status));
    else
        f.message.assign(info(f.code).cause);
    bound_message(f.message, options.max_message);

    f.type = std::move(b.env.type);
    f.provider_code = std::move(b.env.code);
    f.event_id = std::move(b.env.event_id);
    return f;
}

template <class Headers>
header_facts collect_header_facts(const Headers& headers) {
    header_facts h;
    h.hints = collect_retry_hints(headers);
    for_each_header(headers, [&](std::string_view name, std::string_view value) {
        if (iequals(name, "x-should-retry")) h.should_retry = value;
        if (iequals(name, "content-type")) h.content_type = value;
    });
    return h;
}

} // namespace detail

template <class Headers>
failure classify(unsigned status, const Headers& headers, std::string_view body,
                 const classify_options& options) {
    return detail::classify_impl(status, detail::collect_header_facts(headers), body, options);
}

inline failure classify(unsigned status, std::initializer_list<header_view> headers,
                        std::string_view body, const classify_options& options) {
    return detail::classify_impl(status, detail::collect_header_facts(headers), body, options);
}

inline failure classify(unsigned status, std::string_view body, const classify_options& options) {
    return detail::classify_impl(status, {}, body, options);
}

inline rendered_error render(const failure& f, std::string_view event_id,
                             const render_options& options) {
    return render(f.code, f.message, event_id, options);
}

} // namespace faultline

#endif

#ifndef FAULTLINE_IMPL_DIAGNOSE_HPP
#define FAULTLINE_IMPL_DIAGNOSE_HPP

#include <faultline/detail/ascii.hpp>

#include <algorithm>

namespace faultline {
namespace detail {

// Length of an invisible or whitespace character at s[i] (0 if there is none): ASCII space
// and controls, and the UTF-8 forms of U+00A0, U+200B..U+200D, U+2060 and U+FEFF.
[[nodiscard]] inline std::size_t invisible_at(std::string_view s, std::size_t i) noexcept {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b <= 0x20 || b == 0x7F) return 1;
    const std::string_view rest = s.substr(i);
    if (rest.starts_with("\xC2\xA0")) return 2;
    for (std::string_view z :
         {"\xE2\x80\x8B", "\xE2\x80\x8C", "\xE2\x80\x8D", "\xE2\x81\xA0", "\xEF\xBB\xBF"})
        if (rest.starts_with(z)) return 3;
    return 0;
}

[[nodiscard]] inline std::string without_invisible(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = invisible_at(s, i);
        if (n == 0)
            out.push_back(s[i++]);
        else
            i += n;
    }
    return out;
}

} // namespace detail

inline std::vector<diagnosis> diagnose_base_url(std::string_view url,
                                                const base_url_options& options) {
    std::vector<diagnosis> out;
    std::string u(url);
    if (detail::without_invisible(url) != url) {
        u = detail::without_invisible(url);
        out.push_back({config_error::base_url_whitespace, u});
    }
    std::size_t scheme = 0;
    if (u.size() >= 7 && detail::iequals(std::string_view(u).substr(0, 7), "http://"))
        scheme = 7;
    else if (u.size() >= 8 && detail::iequals(std::string_view(u).substr(0, 8), "https://"))
        scheme = 8;
    const std::size_t host_end = scheme ? u.find('/', scheme) : std::string::npos;
    const std::size_t host_len = (host_end == std::string::npos ? u.size() : host_end) - scheme;
    if (scheme == 0 || host_len == 0) {
        out.push_back({config_error::base_url_invalid, {}});
        return out;
    }
    if (u.size() > scheme + host_len && u.back() == '/') {
        while (u.size() > scheme + host_len && u.back() == '/')
            u.pop_back();
        out.push_back({config_error::base_url_trailing_slash, u});
    }
    const std::string_view path = std::string_view(u).substr(scheme + host_len);
    if (path.find("/v1/v1") != std::string_view::npos) {
        const std::size_t at = u.find("/v1/v1", scheme + host_len);
        u.erase(at, 3);
        out.push_back({config_error::base_url_duplicates_v1, u});
    }
    if (options.client_appends_v1 && std::string_view(u).ends_with("/v1") &&
        u.size() - 3 >= scheme + host_len) {
        u.resize(u.size() - 3);
        out.push_back({config_error::base_url_duplicates_v1, u});
    }
    return out;
}

inline std::vector<diagnosis> diagnose_api_key(std::string_view key) {
    std::vector<diagnosis> out;
    if (key.empty()) {
        out.push_back({config_error::api_key_empty, {}});
        return out;
    }
    const std::string_view trimmed = detail::trim(key);
    if (trimmed.size() != key.size())
        out.push_back({config_error::api_key_whitespace, std::string(trimmed)});
    bool odd = false;
    for (std::size_t i = 0; i < trimmed.size() && !odd; ++i) {
        const auto b = static_cast<unsigned char>(trimmed[i]);
        odd = detail::invisible_at(trimmed, i) != 0 || b >= 0x80;
    }
    if (odd) {
        std::string clean;
        for (char c : trimmed) {
            const auto b = static_cast<unsigned char>(c);
            if (b > 0x20 && b < 0x7F) clean.push_back(c);
        }
        out.push_back({config_error::api_key_invisible_character, clean});
    }
    return out;
}

namespace detail {

// Where a segment-bounded "/v1/v1" starts in a path without its query, or npos.
[[nodiscard]] inline std::size_t duplicated_v1_at(std::string_view path) noexcept {
    for (std::size_t at = path.find("/v1/v1"); at != std::string_view::npos;
         at = path.find("/v1/v1", at + 1)) {
        const std::size_t end = at + 6;
        if (end == path.size() || path[end] == '/') return at;
    }
    return std::string_view::npos;
}

// The first segments of the OpenAI API's endpoints, all served under /v1.
inline constexpr std::string_view openai_endpoints[] = {
    "chat",    "completions", "embeddings",    "models",  "responses",     "moderations",
    "images",  "audio",       "files",         "uploads", "batches",       "fine_tuning",
    "threads", "assistants",  "vector_stores", "evals",   "conversations", "realtime",
};

} // namespace detail

inline bool has_duplicated_v1(std::string_view target) noexcept {
    return detail::duplicated_v1_at(target.substr(0, target.find('?'))) != std::string_view::npos;
}

inline std::optional<diagnosis> diagnose_request_target(std::string_view target,
                                                        std::string_view origin,
                                                        const base_url_options& options) {
    const std::string_view v1 = options.client_appends_v1 ? "" : "/v1";
    const std::string_view path = target.substr(0, target.find('?'));
    if (const std::size_t at = detail::duplicated_v1_at(path); at != std::string_view::npos)
        return diagnosis{config_error::base_url_duplicates_v1,
                         std::string(origin) + std::string(path.substr(0, at)) + std::string(v1)};
    // The first segment that names an endpoint; what comes before it is the base URL's path.
    for (std::size_t at = path.find('/'); at != std::string_view::npos;
         at = path.find('/', at + 1)) {
        const std::size_t end = std::min(path.find('/', at + 1), path.size());
        const std::string_view segment = path.substr(at + 1, end - at - 1);
        bool endpoint = false;
        for (std::string_view e : detail::openai_endpoints)
            endpoint |= segment == e;
        if (!endpoint) continue;
        std::string_view before = path.substr(0, at);
        // A version segment of any kind ("/v1", "/v2", "/v1beta"): not a missing /v1.
        for (std::size_t v = before.find("/v"); v != std::string_view::npos;
             v = before.find("/v", v + 1))
            if (v + 2 < before.size() && detail::is_digit(before[v + 2])) return std::nullopt;
        while (before.ends_with('/')) // a base URL with a trailing slash: "//chat/completions"
            before.remove_suffix(1);
        return diagnosis{config_error::base_url_missing_v1,
                         std::string(origin) + std::string(before) + std::string(v1)};
    }
    return std::nullopt;
}

} // namespace faultline

#endif

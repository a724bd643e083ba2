#ifndef FAULTLINE_DIAGNOSE_HPP
#define FAULTLINE_DIAGNOSE_HPP

#include <faultline/detail/config.hpp>

// Configuration mistakes that can be seen from a base URL or an API key alone: the
// troubleshooting cases behind most 401s and 404s (reference 000).
//
//     for (const auto& d : faultline::diagnose_base_url("https://api.example.com/v1/"))
//         std::cerr << faultline::info(d.code).cause << " Try: " << d.suggestion << '\n';
//     // base_url_trailing_slash, then base_url_duplicates_v1 with "https://api.example.com"
//
// A server can answer a 404 with the same diagnosis: `has_duplicated_v1(target)`.

#include <faultline/error.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace faultline {

/// One finding: what is wrong, and the corrected value where one follows.
struct diagnosis {
    error code;             ///< One of the base_url_* / api_key_* codes.
    std::string suggestion; ///< The value with the problem fixed; empty if none can be derived.
};

struct base_url_options {
    /// The client appends "/v1" itself (the OpenAI SDKs do), so the base URL must not end in it.
    bool client_appends_v1 = true;
};

/// Checks a base URL: whitespace or invisible characters, not an absolute http(s) URL,
/// trailing slash, a "/v1" suffix the client will repeat, an already doubled "/v1/v1".
/// Findings come in that order, each suggestion building on the previous one. Thread-safe.
[[nodiscard]] std::vector<diagnosis> diagnose_base_url(std::string_view url,
                                                       const base_url_options& options = {});

/// Checks an API key: empty, leading or trailing whitespace, invisible or control characters
/// (zero-width spaces, no-break spaces, a BOM, anything outside printable ASCII). Thread-safe.
[[nodiscard]] std::vector<diagnosis> diagnose_api_key(std::string_view key);

/// Whether a request target has a doubled version segment ("/v1/v1/chat/completions"), for a
/// server to explain its 404. The query string is ignored. Thread-safe.
[[nodiscard]] bool has_duplicated_v1(std::string_view target) noexcept;

} // namespace faultline

#include <faultline/impl/diagnose.hpp>

#endif

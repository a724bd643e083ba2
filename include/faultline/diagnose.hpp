#ifndef FAULTLINE_DIAGNOSE_HPP
#define FAULTLINE_DIAGNOSE_HPP

#include <faultline/detail/config.hpp>

// Configuration mistakes that can be seen from a base URL or an API key alone, and from the
// path of a request that got a 404: the troubleshooting cases behind most 401s and 404s
// (reference 000).
//
// The OpenAI SDKs (python, node) take a base URL that ends in /v1 ("https://api.openai.com/v1",
// Ollama's "http://localhost:11434/v1") and append only the endpoint ("/chat/completions"). A
// path says which mistake was made: "/v1/v1/chat/completions" means the base URL has /v1 and the
// client added another; "/chat/completions" means the base URL lacks /v1.
//
//     for (const auto& d : faultline::diagnose_base_url("https://api.example.com/v1/"))
//         std::cerr << faultline::info(d.code).cause << " Try: " << d.suggestion << '\n';
//     // base_url_trailing_slash with "https://api.example.com/v1"
//
//     // A server explaining its 404 for "POST /chat/completions" (origin from its Host):
//     auto d = faultline::diagnose_request_target("/chat/completions", "http://127.0.0.1:8080");
//     // base_url_missing_v1 with "http://127.0.0.1:8080/v1"

#include <faultline/error.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace faultline {

/// One finding: what is wrong, and the corrected value where one follows.
struct diagnosis {
    config_error code;      ///< What is wrong.
    std::string suggestion; ///< The value with the problem fixed; empty if none can be derived.
};

struct base_url_options {
    /// Whether the client appends "/v1" itself before the endpoint, so that a base URL ending in
    /// /v1 would be repeated. False for the OpenAI SDKs, which append only "/chat/completions".
    bool client_appends_v1 = false;
};

/// Checks a base URL: whitespace or invisible characters, not an absolute http(s) URL,
/// trailing slash, an already doubled "/v1/v1", and, when `options.client_appends_v1`, a "/v1"
/// suffix the client will repeat. Findings come in that order, each suggestion building on the
/// previous one. A base URL without /v1 is not a finding: many providers use other paths
/// ("/v1beta/openai", "/openai/deployments/..."); `diagnose_request_target` tells after a 404.
/// Thread-safe.
[[nodiscard]] std::vector<diagnosis> diagnose_base_url(std::string_view url,
                                                       const base_url_options& options = {});

/// Checks an API key: empty, leading or trailing whitespace, invisible or control characters
/// (zero-width spaces, no-break spaces, a BOM, anything outside printable ASCII). Thread-safe.
[[nodiscard]] std::vector<diagnosis> diagnose_api_key(std::string_view key);

/// Whether a request target has a doubled version segment ("/v1/v1/chat/completions"), for a
/// server to explain its 404. The query string is ignored. Thread-safe.
[[nodiscard]] bool has_duplicated_v1(std::string_view target) noexcept;

/// What the target of a request that got a 404 says about the base URL that produced it:
/// - a doubled "/v1/v1" segment: base_url_duplicates_v1;
/// - an OpenAI endpoint ("chat/completions", "completions", "embeddings", "models",
///   "responses", "moderations", "images", "audio", "files", "batches", ...) with no version
///   segment before it: base_url_missing_v1.
/// The suggestion is the base URL to use: `origin` ("http://127.0.0.1:8080", no trailing slash;
/// may be empty) + the path before the doubled "/v1/v1" or before the endpoint + "/v1", without
/// that "/v1" when `options.client_appends_v1`. Empty when the target says neither. Only
/// meaningful after a 404: providers serve endpoints under other prefixes too
/// ("/v1beta/openai/chat/completions"). The query string is ignored. Thread-safe.
[[nodiscard]] std::optional<diagnosis>
diagnose_request_target(std::string_view target, std::string_view origin = {},
                        const base_url_options& options = {});

} // namespace faultline

#include <faultline/impl/diagnose.hpp>

#endif

// Fuzzes the example programs' own parsers of untrusted text: the gateway's JSON configuration
// (`examples::gateway::parse_config`), base URLs (`examples::parse_base_url`) and the tokens an
// upstream's answer says it used (`examples::gateway::completion_tokens_of`), on arbitrary
// bytes. Invariants: no crash or sanitizer report; a configuration that parses is valid
// (`validate` finds nothing) and a refusal says why; a base URL that parses has a host and a
// port, its path no trailing slash, and written back it parses to the same parts; the tokens
// read from an answer are what its parsed document says.

#include "common/http_client.hpp"
#include "gateway/config.hpp"
#include "gateway/usage.hpp"

#include <boost/json/parse.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// What the parsed document says: `usage.completion_tokens`, else `usage.output_tokens`, when
// it is a non-negative integer.
std::uint64_t tokens_in_document(std::string_view body) {
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return 0;
    const boost::json::value* usage = v.as_object().if_contains("usage");
    if (!usage || !usage->is_object()) return 0;
    const boost::json::value* n = usage->as_object().if_contains("completion_tokens");
    if (!n) n = usage->as_object().if_contains("output_tokens");
    if (!n) return 0;
    if (n->is_uint64()) return n->as_uint64();
    if (n->is_int64() && n->as_int64() >= 0) return static_cast<std::uint64_t>(n->as_int64());
    return 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    std::string why;
    const auto config = examples::gateway::parse_config(text, why);
    if (config.has_value()) {
        if (!examples::gateway::validate(config.value()).empty()) std::abort();
    } else if (why.empty()) {
        std::abort();
    }

    const auto url = examples::parse_base_url(text);
    if (url.has_value()) {
        const examples::base_url& u = url.value();
        if (u.host.empty() || u.port == 0 || (!u.path.empty() && u.path.back() == '/')) std::abort();
        const bool v6 = u.host.find(':') != std::string::npos;
        const std::string again = "http://" + (v6 ? "[" + u.host + "]" : u.host) + ":" +
                                  std::to_string(u.port) + u.path;
        const auto back = examples::parse_base_url(again);
        if (!back.has_value() || back.value().host != u.host || back.value().port != u.port ||
            back.value().path != u.path)
            std::abort();
    }
    if (examples::gateway::completion_tokens_of(text) != tokens_in_document(text)) std::abort();
    return 0;
}

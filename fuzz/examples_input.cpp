// Fuzzes the example programs' own parsers of untrusted text: the gateway's JSON configuration
// (`examples::gateway::parse_config`) and base URLs (`examples::parse_base_url`), on arbitrary
// bytes. Invariants: no crash or sanitizer report; a configuration that parses is valid
// (`validate` finds nothing) and a refusal says why; a base URL that parses has a host and a
// port, its path no trailing slash, and written back it parses to the same parts.

#include "common/http_client.hpp"
#include "gateway/config.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

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
    return 0;
}

#ifndef FAULTLINE_EXAMPLES_COMMON_CHAT_HPP
#define FAULTLINE_EXAMPLES_COMMON_CHAT_HPP

// The chat-completion request body the example programs send. Not part of faultline's API.

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace examples {

/// `{"model","messages":[{"role":"user","content":prompt}],"max_tokens","stream"}`;
/// `max_tokens` 0 leaves the member out (the server's default applies). Thread-safe.
[[nodiscard]] inline std::string chat_request_body(std::string_view model, std::string_view prompt,
                                                   std::uint64_t max_tokens, bool stream) {
    boost::json::object body{{"model", model},
                             {"messages", boost::json::array{boost::json::object{
                                              {"role", "user"}, {"content", prompt}}}}};
    if (max_tokens != 0) body["max_tokens"] = max_tokens;
    body["stream"] = stream;
    return boost::json::serialize(body);
}

} // namespace examples

#endif

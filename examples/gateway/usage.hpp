#ifndef FAULTLINE_EXAMPLES_GATEWAY_USAGE_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_USAGE_HPP

// The tokens an answer says it used, read once the answer is out, to settle what its request
// reserved. Tested alone in tests/examples/gateway_stages.cpp.

#include <cstdint>
#include <string_view>

namespace examples::gateway {

/// `usage.completion_tokens` of a chat completion, or `usage.output_tokens` of a Responses API
/// answer (when it has no `completion_tokens`); 0 when `body` is not a JSON object, has no
/// `usage` object, or the count is not a non-negative integer. Read as a parsed document would
/// be (a repeated key: its last value), without building one: Boost.JSON's parser calls back
/// for each token and nothing is kept but the two counts. Thread-safe.
[[nodiscard]] std::uint64_t completion_tokens_of(std::string_view body) noexcept;

} // namespace examples::gateway

#endif

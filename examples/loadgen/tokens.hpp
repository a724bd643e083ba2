#ifndef FAULTLINE_EXAMPLES_LOADGEN_TOKENS_HPP
#define FAULTLINE_EXAMPLES_LOADGEN_TOKENS_HPP

// What a response says about tokens: which stream events carry generated text (the tokens that
// time to first token and inter-token latency are measured on) and the usage a server reports,
// for the protocols faultline's stream monitor knows.
//
//     examples::loadgen::token_reader reader;
//     const examples::loadgen::event_tokens t = reader.read_event(event.data);
//     if (t.text) ...                    // a token arrived now
//     if (t.usage.output) ...            // the server's count of generated tokens
//
// An event carries text when one of these is a non-empty string:
//  - chat completions: `choices[i].delta.content`, `.reasoning_content`, `.reasoning`,
//    `.refusal`, or a `tool_calls[j].function.arguments`;
//  - completions: `choices[i].text`;
//  - Responses API: `delta` of a `response.output_text.delta`, `response.refusal.delta`,
//    `response.reasoning_text.delta`, `response.reasoning_summary_text.delta` or
//    `response.function_call_arguments.delta` event;
//  - Anthropic Messages: `delta.text`, `.thinking` or `.partial_json` of a
//    `content_block_delta`.
// A role-only first chunk, a `finish_reason` chunk and a usage chunk carry none.
//
// Usage is read from `usage` (chat completions and completions: `prompt_tokens`,
// `completion_tokens`; Responses and Anthropic: `input_tokens`, `output_tokens`), at the top level
// of the object, under `response` (Responses API `response.completed`) or `message` (Anthropic
// `message_start`). Anthropic sends input tokens in `message_start` and the output count in
// `message_delta`: a later non-empty field replaces an earlier one.
//
// Not part of faultline's API.

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace examples::loadgen {

/// Token counts a server reported; a field is empty when the server did not report it.
struct token_usage {
    std::optional<std::uint64_t> input;  ///< Prompt tokens.
    std::optional<std::uint64_t> output; ///< Generated tokens.

    /// Takes every field `later` has. Thread-safe.
    void update(const token_usage& later) noexcept {
        if (later.input) input = later.input;
        if (later.output) output = later.output;
    }
};

/// What one stream event or one response body says.
struct event_tokens {
    bool object = false; ///< It is a JSON object (`token_reader`: the text parsed as one).
    bool text = false;   ///< It carries generated text (see the header comment).
    token_usage usage; ///< Usage it reports; empty fields when none.
};

/// What a parsed JSON value says (see the header comment). A value that is not an object says
/// nothing. Thread-safe.
[[nodiscard]] event_tokens tokens_of(const boost::json::value& v) noexcept;

/// Parses event data or a response body and reads it with `tokens_of`, reusing its memory
/// from one call to the next. Data that is not JSON says nothing (the stream monitor reports
/// it). Not thread-safe.
class token_reader {
public:
    token_reader();

    /// What `json_text` says. Not thread-safe.
    [[nodiscard]] event_tokens read(std::string_view json_text);

private:
    std::array<unsigned char, 4096> buffer_;
    boost::json::parser parser_;
};

} // namespace examples::loadgen

#endif

#ifndef FAULTLINE_EXAMPLES_LOADGEN_PROMPTS_HPP
#define FAULTLINE_EXAMPLES_LOADGEN_PROMPTS_HPP

// What faultline-loadgen's requests say: a prompts file (JSONL) read into a list, generated
// prompts of a given size, and the request bodies built from either, once per run.
//
//     auto read = examples::loadgen::read_prompts("prompts.jsonl");
//     if (auto* p = std::get_if<examples::loadgen::prompts_problem>(&read))
//         std::cerr << p->message << '\n'; // "prompts.jsonl:3: not a JSON object"
//
// The file holds one JSON object per line (Boost.JSON parses each):
//
//     {"prompt": "Say hello."}
//     {"messages": [{"role": "system", "content": "Be brief."},
//                   {"role": "user", "content": "Why is the sky blue?"}], "max_tokens": 64}
//
// `prompt` is one user message; `messages` the whole conversation (a non-empty array of objects
// with string `role` and `content`); `max_tokens` (1..1000000), when given, overrides the run's
// for that line. Other members are ignored. Blank lines (spaces, tabs, CR only) are skipped, a
// UTF-8 byte order mark at the start too; lines may end with LF or CRLF. Reading is bounded:
// a line over `prompt_limits::max_line`, a file over `max_file` or more than `max_prompts`
// prompts stop it with an error, as does the first bad line; nothing is read past it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <variant>
#include <vector>

namespace examples::loadgen {

/// The largest `max_tokens` a prompt (or the run) asks for, and the largest generated prompt.
inline constexpr unsigned max_prompt_tokens = 1'000'000;

/// One message of a conversation.
struct chat_message {
    std::string role;    ///< "system", "user", "assistant", ... as written.
    std::string content; ///< The text.
};

/// One request's conversation.
struct prompt {
    std::vector<chat_message> messages; ///< Not empty.
    /// The request's "max_tokens" when the line gave one (1..max_prompt_tokens), else the run's.
    std::optional<unsigned> max_tokens;
};

/// A prompts file, read. Requests cycle through `prompts` in order: request k uses prompt
/// k mod size. A value type, shared immutable by a run (`options::prompts`).
struct prompt_list {
    std::string source;          ///< The file's name as given.
    std::vector<prompt> prompts; ///< In file order; never empty when read from a file.
};

/// The bounds on reading a prompts file. A plain value.
struct prompt_limits {
    std::size_t max_line = std::size_t(1) << 20;       ///< Bytes of one line, its end excluded.
    std::size_t max_prompts = 1'000'000;               ///< Prompts in one file.
    std::uint64_t max_file = std::uint64_t(256) << 20; ///< Bytes of the whole file.
};

/// What is wrong with a prompts file.
enum class prompts_error {
    unreadable = 1, ///< The file cannot be opened or read.
    file_too_large, ///< Over `prompt_limits::max_file` bytes.
    no_prompts,     ///< No prompt in it: empty, or only blank lines.
    line_too_long,  ///< A line over `prompt_limits::max_line` bytes.
    too_many,       ///< More than `prompt_limits::max_prompts` prompts.
    not_json,       ///< A line that is not one JSON value.
    not_object,     ///< A line that is JSON but not an object.
    no_prompt,      ///< An object with neither "prompt" nor "messages", or with both.
    bad_prompt,     ///< "prompt" is not a string.
    bad_messages,   ///< "messages" is not an array, or is empty.
    bad_message,    ///< A message that is not an object with string "role" and "content".
    bad_max_tokens, ///< "max_tokens" is not a whole number 1..1000000.
};

/// The category of `prompts_error`, named "examples.prompts". Thread-safe.
[[nodiscard]] const std::error_category& prompts_category() noexcept;

/// `prompts_error` as a `std::error_code`. Thread-safe.
[[nodiscard]] std::error_code make_error_code(prompts_error e) noexcept;

/// Why a prompts file was refused.
struct prompts_problem {
    std::error_code code;   ///< A `prompts_error`.
    std::uint64_t line = 0; ///< The line at fault, from 1; 0 when it is the whole file.
    /// One line naming the file, the line and what is wrong, without a newline:
    /// "prompts.jsonl:3: \"messages\" is empty".
    std::string message;
};

/// The prompts in `text`, the content of the file named `source`. Thread-safe.
[[nodiscard]] std::variant<prompt_list, prompts_problem>
parse_prompts(std::string_view text, std::string_view source, const prompt_limits& limits = {});

/// The prompts in the file at `path`, read in blocks (memory bounded by `limits.max_file`
/// plus the prompts kept). Thread-safe.
[[nodiscard]] std::variant<prompt_list, prompts_problem>
read_prompts(const std::string& path, const prompt_limits& limits = {});

/// The request body of `p`, `max_tokens` from the prompt or else `max_tokens`: for chat
/// completions {"model","messages","max_tokens","stream"}, a stream asking for its usage with
/// "stream_options":{"include_usage":true}; for the Responses API (`responses`)
/// {"model","input","max_output_tokens","stream"}, `input` the messages. Thread-safe.
[[nodiscard]] std::string chat_body(std::string_view model, const prompt& p, unsigned max_tokens,
                                    bool stream, bool responses = false);

/// The user message of a generated prompt of about `tokens` tokens for request `index`: a
/// 16-hex-digit tag that differs per request (so that a server's prefix cache does not answer
/// every request from the first), a space, then `tokens` words drawn from a list of short
/// common English words, each with its space about one token for GPT-style tokenizers (the tag
/// adds a few). The words depend only on `seed` and `tokens`, the tag on `seed` and `index`.
/// Thread-safe.
[[nodiscard]] std::string generated_prompt(unsigned tokens, std::uint64_t seed,
                                           std::uint64_t index);

/// The bodies a run sends, built once: one fixed body, one per prompt of a list, or one
/// generated body whose tag is rewritten in place for each request. A value type. Thread-safe
/// for concurrent reads.
class request_bodies {
public:
    /// Every request sends `body`.
    explicit request_bodies(std::string body);
    /// Request k sends the body of prompt k mod size of `list` (which must not be empty).
    /// Bodies as `chat_body` builds them (`responses`: the Responses API's shape).
    request_bodies(std::string_view model, unsigned max_tokens, bool stream,
                   const prompt_list& list, bool responses = false);
    /// Request k sends a generated prompt of about `tokens` tokens (`generated_prompt`).
    request_bodies(std::string_view model, unsigned max_tokens, bool stream, unsigned tokens,
                   std::uint64_t seed, bool responses = false);

    /// Whether requests send different bodies (else the first serves every request).
    [[nodiscard]] bool varies() const noexcept { return bodies_.size() > 1 || generated_; }
    /// Writes the body of request `k` (counted from 0 in the order requests start) into `out`,
    /// reusing its capacity.
    void body_of(std::uint64_t k, std::string& out) const;
    /// The body of request `k`.
    [[nodiscard]] std::string body(std::uint64_t k) const;

private:
    std::vector<std::string> bodies_;
    bool generated_ = false;
    std::size_t tag_at_ = 0; // generated: where the tag's 16 digits lie in bodies_[0]
    std::uint64_t seed_ = 0;
};

} // namespace examples::loadgen

template <>
struct std::is_error_code_enum<examples::loadgen::prompts_error> : std::true_type {};

#endif

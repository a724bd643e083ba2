#include "loadgen/tokens.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>

#include <array>

namespace examples::loadgen {

namespace {

namespace json = boost::json;

bool non_empty_string(const json::object& o, std::string_view key) noexcept {
    const json::value* v = o.if_contains(key);
    return v && v->is_string() && !v->get_string().empty();
}

std::optional<std::uint64_t> count_of(const json::object& o, std::string_view key) noexcept {
    const json::value* v = o.if_contains(key);
    if (!v) return std::nullopt;
    if (v->is_uint64()) return v->get_uint64();
    if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
    return std::nullopt;
}

token_usage usage_of(const json::object& o) noexcept {
    token_usage u;
    const json::value* v = o.if_contains("usage");
    if (!v || !v->is_object()) return u;
    const json::object& usage = v->get_object();
    u.input = count_of(usage, "prompt_tokens");
    if (!u.input) u.input = count_of(usage, "input_tokens");
    u.output = count_of(usage, "completion_tokens");
    if (!u.output) u.output = count_of(usage, "output_tokens");
    return u;
}

// A chat completion delta that carries text.
bool delta_has_text(const json::object& delta) noexcept {
    for (const std::string_view key : {"content", "reasoning_content", "reasoning", "refusal"})
        if (non_empty_string(delta, key)) return true;
    const json::value* calls = delta.if_contains("tool_calls");
    if (!calls || !calls->is_array()) return false;
    for (const json::value& call : calls->get_array()) {
        if (!call.is_object()) continue;
        const json::value* fn = call.get_object().if_contains("function");
        if (fn && fn->is_object() && non_empty_string(fn->get_object(), "arguments")) return true;
    }
    return false;
}

bool choices_have_text(const json::object& o) noexcept {
    const json::value* choices = o.if_contains("choices");
    if (!choices || !choices->is_array()) return false;
    for (const json::value& c : choices->get_array()) {
        if (!c.is_object()) continue;
        const json::object& choice = c.get_object();
        if (const json::value* d = choice.if_contains("delta"); d && d->is_object())
            if (delta_has_text(d->get_object())) return true;
        if (non_empty_string(choice, "text")) return true;
    }
    return false;
}

constexpr std::array<std::string_view, 5> responses_text_events{
    "response.output_text.delta", "response.refusal.delta", "response.reasoning_text.delta",
    "response.reasoning_summary_text.delta", "response.function_call_arguments.delta"};

} // namespace

event_tokens tokens_of(const json::value& v) noexcept {
    event_tokens t;
    if (!v.is_object()) return t;
    t.object = true;
    const json::object& o = v.get_object();
    t.usage = usage_of(o);
    for (const std::string_view nested : {"response", "message"})
        if (const json::value* inner = o.if_contains(nested); inner && inner->is_object())
            t.usage.update(usage_of(inner->get_object()));

    if (const json::value* type = o.if_contains("type"); type && type->is_string()) {
        const std::string_view name = type->get_string();
        for (const std::string_view e : responses_text_events)
            if (name == e) {
                t.text = non_empty_string(o, "delta");
                return t;
            }
        if (name == "content_block_delta") {
            const json::value* d = o.if_contains("delta");
            if (d && d->is_object()) {
                const json::object& delta = d->get_object();
                t.text = non_empty_string(delta, "text") || non_empty_string(delta, "thinking") ||
                         non_empty_string(delta, "partial_json");
            }
            return t;
        }
    }
    t.text = choices_have_text(o);
    return t;
}

token_reader::token_reader()
    : parser_(json::storage_ptr()) {}

event_tokens token_reader::read(std::string_view json_text) {
    // A resource per call over the reader's buffer: an event of a few hundred bytes is parsed
    // without touching the heap, and nothing outlives the call.
    json::monotonic_resource memory(buffer_.data(), buffer_.size());
    parser_.reset(json::storage_ptr(&memory));
    boost::system::error_code ec;
    parser_.write(json_text.data(), json_text.size(), ec);
    event_tokens t;
    if (!ec) t = tokens_of(parser_.release());
    parser_.reset(); // drops a partial value (after an error) while its memory is still there
    return t;
}

} // namespace examples::loadgen

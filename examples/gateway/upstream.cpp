#include "gateway/upstream.hpp"

#include <faultline/envelope.hpp>
#include <faultline/http_status.hpp>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <array>

namespace examples::gateway {

namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 12> words{
    "Failing",  " well", " means",  " saying", " what", " broke,",
    " whether", " to",   " retry,", " and",    " when", ".",
};

json::object chunk_object(const call_info& call) {
    return {{"id", call.completion_id},
            {"object", "chat.completion.chunk"},
            {"created", call.created},
            {"model", call.model}};
}

std::string event(const json::object& o) {
    return "data: " + json::serialize(o) + "\n\n";
}

std::string content_chunk(const call_info& call, std::size_t i) {
    json::object o = chunk_object(call);
    json::object delta{{"content", reply_word(i)}};
    if (i == 0) delta["role"] = "assistant";
    o["choices"] = json::array{
        json::object{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", nullptr}}};
    return event(o);
}

std::string final_chunk(const call_info& call, std::uint64_t completion) {
    json::object o = chunk_object(call);
    o["choices"] = json::array{
        json::object{{"index", 0}, {"delta", json::object{}}, {"finish_reason", "stop"}}};
    o["usage"] = json::object{{"prompt_tokens", call.prompt_tokens},
                              {"completion_tokens", completion},
                              {"total_tokens", call.prompt_tokens + completion}};
    return event(o);
}

// The Responses API's shapes of the same answer.
std::string named_event(std::string_view type, const json::object& o) {
    return "event: " + std::string(type) + "\ndata: " + json::serialize(o) + "\n\n";
}

json::object response_object(const call_info& call, std::string_view status) {
    return {{"id", call.completion_id}, {"object", "response"},   {"created_at", call.created},
            {"status", status},         {"model", call.model}};
}

json::object response_usage(const call_info& call, std::uint64_t completion) {
    return {{"input_tokens", call.prompt_tokens},
            {"output_tokens", completion},
            {"total_tokens", call.prompt_tokens + completion}};
}

std::string response_created(const call_info& call) {
    return named_event("response.created",
                       {{"type", "response.created"},
                        {"response", response_object(call, "in_progress")}});
}

std::string response_delta(std::string_view text) {
    return named_event("response.output_text.delta", {{"type", "response.output_text.delta"},
                                                       {"output_index", 0},
                                                       {"content_index", 0},
                                                       {"delta", text}});
}

json::object response_output(std::string text) {
    return {{"type", "message"},
            {"role", "assistant"},
            {"content", json::array{json::object{{"type", "output_text"}, {"text", text}}}}};
}

std::string response_completed(const call_info& call, std::uint64_t completion) {
    json::object r = response_object(call, "completed");
    r["usage"] = response_usage(call, completion);
    return named_event("response.completed", {{"type", "response.completed"}, {"response", r}});
}

std::string response_body(const call_info& call, std::uint64_t chunks) {
    std::string text;
    for (std::size_t i = 0; i < chunks; ++i)
        text += reply_word(i);
    json::object o = response_object(call, "completed");
    o["output"] = json::array{response_output(std::move(text))};
    o["usage"] = response_usage(call, chunks);
    return json::serialize(o);
}

std::string completion_body(const call_info& call, std::uint64_t chunks) {
    if (call.responses) return response_body(call, chunks);
    std::string text;
    for (std::size_t i = 0; i < chunks; ++i)
        text += reply_word(i);
    json::object o{{"id", call.completion_id},
                   {"object", "chat.completion"},
                   {"created", call.created},
                   {"model", call.model}};
    o["choices"] = json::array{
        json::object{{"index", 0},
                     {"message", json::object{{"role", "assistant"}, {"content", text}}},
                     {"finish_reason", "stop"}}};
    o["usage"] = json::object{{"prompt_tokens", call.prompt_tokens},
                              {"completion_tokens", chunks},
                              {"total_tokens", call.prompt_tokens + chunks}};
    return json::serialize(o);
}

// The default error body of an upstream answering `status`: the OpenAI shape.
std::string error_body(unsigned status) {
    const faultline::error e = faultline::error_from_status(status);
    faultline::error_envelope env =
        faultline::make_envelope(e, "Upstream answered " + std::to_string(status) + " " +
                                        std::string(faultline::reason_phrase(status)));
    return faultline::serialize(env);
}

} // namespace

std::string_view reply_word(std::size_t i) noexcept {
    return words[i % words.size()];
}

bool call_fails(const channel_config& ch, std::uint64_t n) noexcept {
    if (ch.mode == failure_mode::none) return false;
    if (ch.pattern.empty()) return true;
    return ch.pattern[n % ch.pattern.size()] == 'F';
}

namespace {

// The stream of `simulate` in the Responses API's events; `r` holds the latency and headers.
upstream_reply simulate_responses(const channel_config& ch, const call_info& call, bool fails,
                                  std::uint64_t chunks, std::chrono::milliseconds step,
                                  upstream_reply& r) {
    std::chrono::milliseconds at = r.latency;
    const auto emit = [&](std::string bytes, std::size_t repeat = 1) {
        r.pieces.push_back({at, std::move(bytes), repeat});
    };
    emit(response_created(call));
    if (fails && ch.mode == failure_mode::huge_line) {
        // One delta whose line is `line_bytes` long, in 64 KiB pieces.
        emit(R"(event: response.output_text.delta
data: {"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":")");
        constexpr std::size_t piece = 64 * 1024;
        if (ch.line_bytes / piece) emit(std::string(piece, 'A'), ch.line_bytes / piece);
        if (ch.line_bytes % piece) emit(std::string(ch.line_bytes % piece, 'A'));
        emit("\"}\n\n");
        emit(response_completed(call, 1));
        r.completion_tokens = 1;
        return std::move(r);
    }
    const bool stops_early =
        fails && (ch.mode == failure_mode::midstream_error ||
                  ch.mode == failure_mode::upstream_cutoff || ch.mode == failure_mode::cutoff);
    const std::uint64_t sent = stops_early ? std::min<std::uint64_t>(ch.fail_after, chunks) : chunks;
    for (std::uint64_t i = 0; i < sent; ++i) {
        if (i != 0) at += step;
        emit(response_delta(reply_word(i)));
    }
    r.completion_tokens = sent;
    if (stops_early && ch.mode == failure_mode::midstream_error) {
        at += step;
        emit(named_event("error", {{"type", "error"},
                                   {"code", "server_error"},
                                   {"message", "stream interrupted: worker 10.0.3.7 lost its GPU"}}));
        return std::move(r);
    }
    if (stops_early) {
        r.closes_early = true;
        r.cut_client = ch.mode == failure_mode::cutoff;
        return std::move(r);
    }
    at += step;
    emit(response_completed(call, sent));
    return std::move(r);
}

} // namespace

upstream_reply simulate(const channel_config& ch, const call_info& call, std::uint64_t n) {
    using std::chrono::milliseconds;
    upstream_reply r;
    r.latency = ch.latency;
    const bool fails = call_fails(ch, n);
    if (fails && ch.mode == failure_mode::timeout) {
        r.latency = std::chrono::hours(24); // never answers: the gateway's timeout decides
        return r;
    }
    if (fails && ch.mode == failure_mode::dead) {
        r.transport = std::make_error_code(std::errc::connection_refused);
        return r;
    }
    if (fails && ch.mode == failure_mode::status) {
        r.status = ch.status;
        r.headers = ch.headers;
        r.body = ch.body.empty() ? error_body(ch.status) : ch.body;
        return r;
    }
    const std::uint64_t chunks =
        std::min<std::uint64_t>(ch.chunks, std::max<std::uint64_t>(call.max_tokens, 1));
    if (!call.stream) {
        r.headers = {{"Content-Type", "application/json"}};
        r.body = completion_body(call, chunks);
        r.completion_tokens = chunks;
        return r;
    }
    r.headers = {{"Content-Type", "text/event-stream"}};
    // A slow channel is slow on its failing calls only; others pace their chunks as configured.
    const milliseconds step =
        ch.mode == failure_mode::slow && !fails ? milliseconds(0) : ch.chunk_interval;
    milliseconds at = r.latency;
    const auto emit = [&](std::string bytes, std::size_t repeat = 1) {
        r.pieces.push_back({at, std::move(bytes), repeat});
    };
    const std::uint64_t before_failure = std::min<std::uint64_t>(ch.fail_after, chunks);
    if (call.responses) return simulate_responses(ch, call, fails, chunks, step, r);
    if (fails && ch.mode == failure_mode::huge_line) {
        // One event whose single line is `line_bytes` long: a base64 image in a delta, as
        // vision and image models send. It arrives in 64 KiB pieces.
        emit(content_chunk(call, 0));
        json::object o = chunk_object(call);
        std::string head = "data: " + json::serialize(o);
        head.pop_back(); // reopen the object to append the image member
        head +=
            R"json(,"choices":[{"index":0,"delta":{"images":[{"type":"image_url","image_url":{"url":"data:image/png;base64,)json";
        emit(std::move(head));
        constexpr std::size_t piece = 64 * 1024;
        const std::size_t whole = ch.line_bytes / piece;
        if (whole) emit(std::string(piece, 'A'), whole);
        if (ch.line_bytes % piece) emit(std::string(ch.line_bytes % piece, 'A'));
        emit("\"}}]},\"finish_reason\":null}]}\n\n");
        emit(final_chunk(call, 2));
        emit("data: [DONE]\n\n");
        r.completion_tokens = 2;
        return r;
    }
    const bool stops_early =
        fails && (ch.mode == failure_mode::midstream_error ||
                  ch.mode == failure_mode::upstream_cutoff || ch.mode == failure_mode::cutoff);
    const std::uint64_t sent = stops_early ? before_failure : chunks;
    for (std::uint64_t i = 0; i < sent; ++i) {
        if (i != 0) at += step;
        emit(content_chunk(call, i));
    }
    r.completion_tokens = sent;
    if (stops_early && ch.mode == failure_mode::midstream_error) {
        at += step;
        // The upstream's own words, with an internal host in them: the gateway must not relay
        // them (reference 002's error chunk, then [DONE]).
        emit(
            R"json(data: {"error":{"message":"stream interrupted: worker 10.0.3.7 lost its GPU","type":"upstream_error","code":"stream_error"}})json"
            "\n\n");
        emit("data: [DONE]\n\n");
        return r;
    }
    if (stops_early) {
        r.closes_early = true;
        r.cut_client = ch.mode == failure_mode::cutoff;
        return r;
    }
    at += step;
    emit(final_chunk(call, sent) + "data: [DONE]\n\n");
    return r;
}

} // namespace examples::gateway

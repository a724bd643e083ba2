#include <faultline/sse/monitor.hpp>

#include "../support/peak_rss.hpp"
#include "chunking.hpp"

#include <faultline/sse/writer.hpp>

#include <boost/test/unit_test.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace sse = faultline::sse;
using namespace std::chrono_literals;
using sse_test::chunking;

namespace {

// A manual clock: tests move time by hand and never sleep.
struct manual_clock {
    using duration = std::chrono::milliseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<manual_clock>;
};
using tp = manual_clock::time_point;

struct kinds {
    std::vector<sse::event_kind> seen;
    void on_event(const sse::event&, sse::event_kind k) { seen.push_back(k); }
};

using monitor_t = sse::monitor<kinds, manual_clock>;

struct run_result {
    sse::verdict v;
    std::vector<sse::event_kind> kinds;
};

run_result run(std::string_view in, chunking c, sse::monitor_options o = {}) {
    monitor_t m(tp{}, o);
    for (auto piece : sse_test::cut(in, c))
        if (m.feed(piece, tp{})) break;
    run_result r{m.finish(), m.handler().seen};
    return r;
}

// The verdict of `in` in every chunking; all must agree on kinds, terminal and code.
run_result verdict_of(std::string_view in, sse::monitor_options o = {}) {
    const run_result ref = run(in, chunking::all, o);
    for (chunking c : {chunking::bytes, chunking::random}) {
        BOOST_TEST_CONTEXT(sse_test::to_string(c)) {
            const run_result r = run(in, c, o);
            BOOST_TEST((r.v.kind == ref.v.kind));
            BOOST_TEST(r.v.error_code() == ref.v.error_code());
            BOOST_TEST((r.v.protocol == ref.v.protocol));
            BOOST_TEST(r.v.stop_reason == ref.v.stop_reason);
            BOOST_TEST((r.kinds == ref.kinds));
        }
    }
    return ref;
}

const std::string chunk =
    R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o",)"
    R"("choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]})";

std::string line_of(std::string_view d) {
    return "data: " + std::string(d) + "\n\n";
}

sse::event ev(std::string_view data, std::string_view type = {}) {
    return sse::event{type, data, std::nullopt, {}};
}

std::string named(std::string_view type, std::string_view data) {
    return "event: " + std::string(type) + "\ndata: " + std::string(data) + "\n\n";
}

// Real streams, shortened (ids, long `response` objects and usage trimmed; field order and
// shapes as sent).
//
// OpenAI Responses, `POST /v1/responses` with `stream: true`: the event names and payloads of
// the API reference "Streaming events" (platform.openai.com/docs/api-reference/responses-streaming)
// and openai-python `types/responses/response_{created,output_text_delta,completed,failed,
// incomplete,error}_event.py`. No `[DONE]` follows `response.completed`.
const std::string responses_head =
    named(
        "response.created",
        R"({"type":"response.created","sequence_number":0,"response":{"id":"resp_67c9fdcecf488190",)"
        R"("object":"response","created_at":1741290958,"status":"in_progress","error":null,)"
        R"("incomplete_details":null,"model":"gpt-4.1-2025-04-14","output":[]}})") +
    named(
        "response.in_progress",
        R"({"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_67c9fdcecf488190",)"
        R"("object":"response","status":"in_progress","error":null,"output":[]}})") +
    named(
        "response.output_text.delta",
        R"({"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_67c9fdcf37fc8190",)"
        R"("output_index":0,"content_index":0,"delta":"Hi"})");

std::string responses_end(std::string_view type, std::string_view status,
                          std::string_view error_json, std::string_view incomplete_json) {
    return named(type,
                 R"({"type":")" + std::string(type) +
                     R"(","sequence_number":9,"response":{"id":"resp_67c9fdcecf488190",)"
                     R"("object":"response","created_at":1741290958,"status":")" +
                     std::string(status) + R"(","error":)" + std::string(error_json) +
                     R"(,"incomplete_details":)" + std::string(incomplete_json) +
                     R"(,"output":[{"type":"message","role":"assistant","content":)"
                     R"([{"type":"output_text","text":"Hi","annotations":[]}]}],)"
                     R"("usage":{"input_tokens":36,"output_tokens":87,"total_tokens":123}}})");
}

const std::string responses_completed =
    responses_end("response.completed", "completed", "null", "null");

// Anthropic Messages, "Streaming Messages"
// (docs.anthropic.com/en/docs/build-with-claude/streaming): the basic streaming request's full
// event flow, and its error event example
// `{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}`.
const std::string anthropic_head =
    named(
        "message_start",
        R"({"type":"message_start","message":{"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",)"
        R"("type":"message","role":"assistant","content":[],"model":"claude-3-5-sonnet-20241022",)"
        R"("stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}})") +
    named("content_block_start",
          R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})") +
    named("ping", R"({"type": "ping"})") +
    named(
        "content_block_delta",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})") +
    named("content_block_stop", R"({"type":"content_block_stop","index":0})");

std::string anthropic_delta(std::string_view stop_reason) {
    return named("message_delta", R"({"type":"message_delta","delta":{"stop_reason":")" +
                                      std::string(stop_reason) +
                                      R"(","stop_sequence":null},"usage":{"output_tokens":15}})");
}

const std::string anthropic_stop = named("message_stop", R"({"type":"message_stop"})");

// Records every failure `on_error` hands over.
struct errors_seen {
    std::vector<sse::event_kind> kinds;
    std::vector<faultline::failure> failures;
    void on_event(const sse::event&, sse::event_kind k) { kinds.push_back(k); }
    void on_error(const sse::event&, const faultline::failure& f) { failures.push_back(f); }
};

} // namespace

BOOST_AUTO_TEST_SUITE(sse_monitor)

// --- per-event classification ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(event_kinds) {
    using K = sse::event_kind;
    BOOST_TEST((sse::classify_event(ev(chunk)) == K::content));
    BOOST_TEST((sse::classify_event(ev("[DONE]")) == K::done));
    BOOST_TEST((sse::classify_event(ev(" [DONE] ")) == K::malformed_json));
    BOOST_TEST((sse::classify_event(ev("[DONE]x")) == K::malformed_json));
    BOOST_TEST((sse::classify_event(ev("[DONE] ")) == K::malformed_json));
    BOOST_TEST((sse::classify_event(ev("{}", "response.completed")) == K::done));
    BOOST_TEST((sse::classify_event(ev("{}", "response.incomplete")) == K::done));
    BOOST_TEST((sse::classify_event(ev("{}", "response.failed")) == K::error));
    BOOST_TEST((sse::classify_event(ev(chunk, "response.output_text.delta")) == K::content));
    BOOST_TEST((sse::classify_event(ev(chunk, "message_delta")) == K::content));
    BOOST_TEST((sse::classify_event(ev("")) == K::empty));
    BOOST_TEST((sse::classify_event(ev(" \n")) == K::empty));
    BOOST_TEST((sse::classify_event(ev(R"({"error":{"message":"x"}})")) == K::error));
    BOOST_TEST((sse::classify_event(ev(R"({"error":"boom"})")) == K::error));
    BOOST_TEST((sse::classify_event(ev(R"({"id":1, "error" : {"code":500}})")) == K::error));
    BOOST_TEST((sse::classify_event(ev("{}", "message_stop")) == K::done));
    BOOST_TEST((sse::classify_event(ev("", "error")) == K::error));
    BOOST_TEST((sse::classify_event(ev("{\"a\":", "")) == K::malformed_json));
    BOOST_TEST((sse::classify_event(ev("hello")) == K::malformed_json));
    BOOST_TEST((sse::classify_event(ev("42")) == K::content)); // valid JSON, just not a chunk
    BOOST_TEST((sse::classify_event(ev(R"({"x":"error"} trailing})")) == K::malformed_json));
}

BOOST_AUTO_TEST_CASE(falsy_error_members_are_content) {
    for (std::string_view v : {"null", "false", "{}", "\"\"", "0", "[]", "[1]", "true", "1"}) {
        const std::string d = R"({"error":)" + std::string(v) + R"(,"choices":[]})";
        BOOST_TEST((sse::classify_event(ev(d)) == sse::event_kind::content), d);
    }
}

BOOST_AUTO_TEST_CASE(the_word_error_in_content_is_content) {
    for (std::string_view d :
         {R"({"choices":[{"delta":{"content":"error"}}]})",
          R"({"choices":[{"delta":{"content":"\"error\": bad"}}]})",
          R"({"choices":[{"delta":{"content":"{\"error\":{\"message\":\"x\"}}"}}]})",
          R"({"nested":{"error":{"message":"not top level"}}})",
          R"([{"error":{"message":"in an array"}}])", R"({"errors":{"message":"x"}})"})
        BOOST_TEST((sse::classify_event(ev(d)) == sse::event_kind::content), d);
}

BOOST_AUTO_TEST_CASE(pre_scan_finds_the_key_anywhere) {
    // Positions around the 16-byte SIMD blocks and the scalar tail.
    for (std::size_t pad = 0; pad < 48; ++pad) {
        const std::string d = R"({"p":")" + std::string(pad, 'e') + R"(","error":"x"})";
        BOOST_TEST((sse::classify_event(ev(d)) == sse::event_kind::error), d);
        const std::string near = R"({"p":")" + std::string(pad, 'e') + R"(","errox":"x"})";
        BOOST_TEST((sse::classify_event(ev(near)) == sse::event_kind::content), near);
    }
}

// Every scan the CPU can run (SSE2, AVX2) against std::string_view::find, at every
// length up to past two 64-byte rounds and every position of the key, with the key cut short at
// the end and a `"e` in the last bytes. Each input sits alone in an allocation of its exact size,
// so a read past the data is a heap overflow under ASan.
BOOST_AUTO_TEST_CASE(error_key_scans_agree_with_find_at_every_length_and_position) {
    namespace d = sse::detail;
    std::vector<std::pair<const char*, bool (*)(const char*, std::size_t) noexcept>> scans;
#if defined(__SSE2__)
    scans.emplace_back("sse2", &d::has_error_key_sse2);
#endif
#if defined(FAULTLINE_SSE_AVX2_SCAN)
    if (__builtin_cpu_supports("avx2")) scans.emplace_back("avx2", &d::has_error_key_avx2);
#endif
    const auto check = [&](const std::string& in) {
        const auto copy = std::make_unique<char[]>(in.size() + (in.empty() ? 1 : 0));
        std::memcpy(copy.get(), in.data(), in.size());
        const bool want = in.find("\"error\"") != std::string::npos;
        BOOST_TEST(d::has_error_key(std::string_view(copy.get(), in.size())) == want, in);
        for (const auto& [name, scan] : scans)
            BOOST_TEST(scan(copy.get(), in.size()) == want, name << ": " << in);
    };
    for (std::size_t n = 0; n <= 140; ++n) {
        check(std::string(n, 'x'));
        check(std::string(n, '"')); // a quote in every lane, never followed by `e`
        for (const std::string_view key : {"\"error\"", "\"erro", "\"e", "\"errox\"", "\"error"}) {
            if (key.size() > n) continue;
            for (std::size_t at = 0; at + key.size() <= n; ++at) {
                std::string in(n, 'e');
                in.replace(at, key.size(), key);
                check(in);
            }
        }
    }
}

// The monitor's own path for a plain chunk finds the key wherever it lies, the chunk as long as
// the benchmark's and longer.
BOOST_AUTO_TEST_CASE(the_monitors_chunk_path_finds_the_key_at_every_position) {
    for (std::size_t pad = 0; pad < 400; pad += 7) {
        const std::string d = R"({"p":")" + std::string(pad, 'e') + R"(","error":"x"})";
        const std::string near = R"({"p":")" + std::string(pad, 'e') + R"(","errox":"x"})";
        const std::string in = "data: " + near + "\n\ndata: " + d + "\n\ndata: [DONE]\n\n";
        const run_result r = run(in, chunking::all);
        BOOST_TEST((r.v.kind == sse::terminal::error), pad);
        BOOST_TEST((r.kinds == std::vector<sse::event_kind>{sse::event_kind::content,
                                                            sse::event_kind::error,
                                                            sse::event_kind::done}),
                   pad);
    }
}

// The key on any line of a multi-line event, in every cutting: the parser's hint covers each
// of the event's lines.
BOOST_AUTO_TEST_CASE(an_error_key_on_a_later_data_line_is_found) {
    for (std::size_t pad = 0; pad < 140; ++pad) {
        const std::string p(pad, 'x');
        const std::string in = "data: {\"p\":\"" + p +
                               "\",\ndata: \"error\":{\"message\":\"x\"}}\n\n" + "data: {\"p\":\"" +
                               p + "\",\ndata: \"errox\":{}}\n\ndata: [DONE]\n\n";
        const run_result r = verdict_of(in);
        BOOST_TEST((r.v.kind == sse::terminal::error), pad);
        BOOST_TEST((r.kinds == std::vector<sse::event_kind>{sse::event_kind::error,
                                                            sse::event_kind::content,
                                                            sse::event_kind::done}),
                   pad);
    }
}

BOOST_AUTO_TEST_CASE(validate_json_catches_broken_middles) {
    const std::string d = R"({"a":1,,"b":2})";
    BOOST_TEST((sse::classify_event(ev(d)) == sse::event_kind::content)); // the documented cost
    sse::monitor_options o;
    o.validate_json = true;
    BOOST_TEST((sse::classify_event(ev(d), o) == sse::event_kind::malformed_json));
    BOOST_TEST((sse::classify_event(ev(chunk), o) == sse::event_kind::content));
}

BOOST_AUTO_TEST_CASE(validate_json_finds_an_escaped_error_key) {
    const std::string d = R"({"id":"c","\u0065rror":{"message":"escaped"}})";
    BOOST_TEST((sse::classify_event(ev(d)) == sse::event_kind::content)); // the documented cost
    sse::monitor_options o;
    o.validate_json = true;
    faultline::failure f;
    BOOST_TEST((sse::classify_event(ev(d), o, &f) == sse::event_kind::error));
    BOOST_TEST(f.message == "escaped");
    // Through a monitor, in every cut.
    for (const chunking c : sse_test::all_chunkings) {
        const run_result r = run(line_of(d) + "data: [DONE]\n\n", c, o);
        BOOST_TEST((r.v.kind == sse::terminal::error), sse_test::to_string(c));
    }
}

// The monitor takes a short path for ordinary chunks in both modes; each event still gets the
// kind classify_event gives it, in every cut and with CR, LF or CRLF line ends.
BOOST_AUTO_TEST_CASE(the_monitors_kinds_are_classify_events_in_both_modes) {
    const std::string events[] = {
        chunk,
        R"({"error":{"message":"x"}})",
        R"({"id":"c","\u0065rror":{"message":"escaped"}})",
        R"({"error":null})",
        R"({"a":1,,"b":2})",
        R"({"x":"error"} trailing})",
        R"({"choices":[{"error":{"message":"nested"}}]})",
        R"({"a":"b\"error\":{}"})",
        "{}",
        "{\"a\":\"\xff\"}", // invalid UTF-8
        "[1,2]",
        " {\"a\":1} ",
    };
    for (const bool exact : {false, true}) {
        sse::monitor_options o;
        o.validate_json = exact;
        for (const std::string_view eol : {"\n", "\r", "\r\n"}) {
            BOOST_TEST_CONTEXT((exact ? "exact" : "default") << ", eol " << eol.size()) {
                std::string in;
                std::vector<sse::event_kind> want;
                for (const std::string& e : events) {
                    in += "data: " + e + std::string(eol) + std::string(eol);
                    want.push_back(sse::classify_event(ev(e), o));
                }
                const run_result r = verdict_of(in, o);
                BOOST_TEST((r.kinds == want));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(error_chunks_are_classified_as_with_no_status) {
    faultline::failure f;
    BOOST_TEST((
        sse::classify_event(
            ev(R"({"error":{"message":"Upstream timeout","type":"engine_error","code":"timeout"}})"),
            {}, &f) == sse::event_kind::error));
    BOOST_TEST(f.status == 0u);
    BOOST_TEST(f.message == "Upstream timeout");
    BOOST_TEST((f.type == std::optional<std::string>("engine_error")));
    BOOST_TEST((f.error_code() == faultline::category::timeout));

    // Nothing precise in it: still a mid-stream failure.
    BOOST_TEST((sse::classify_event(ev(R"({"error":"boom"})"), {}, &f) == sse::event_kind::error));
    BOOST_TEST((f.code == faultline::error::stream_interrupted));
    BOOST_TEST(f.message == "boom");
    BOOST_TEST(f.retryable);

    BOOST_TEST((sse::classify_event(ev(R"({"type":"error","error":{"type":"overloaded_error",)"
                                       R"("message":"Overloaded"}})",
                                       "error"),
                                    {}, &f) == sse::event_kind::error));
    BOOST_TEST((f.code == faultline::error::overloaded));
}

// --- verdicts --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(openai_stream_ending_in_done) {
    const auto r =
        verdict_of(line_of(chunk) + ": keep-alive\n\n" + line_of(chunk) + line_of("[DONE]"));
    BOOST_TEST((r.v.kind == sse::terminal::done));
    BOOST_TEST(!r.v.failure);
    BOOST_TEST(!r.v.error_code());
    BOOST_TEST(r.kinds.size() == 3u);
}

BOOST_AUTO_TEST_CASE(error_chunk_then_done) {
    // Reference 001: the stream still ends with [DONE] after the error chunk.
    const auto r = verdict_of(
        line_of(chunk) +
        line_of(
            R"({"error":{"message":"stream interrupted","type":"upstream_error","code":"stream_error"}})") +
        line_of("[DONE]"));
    BOOST_TEST((r.v.kind == sse::terminal::error));
    BOOST_TEST(r.v.failure->message == "stream interrupted");
    BOOST_TEST((r.v.error_code() == faultline::error::stream_interrupted));
}

BOOST_AUTO_TEST_CASE(error_chunk_then_end_of_stream) {
    // Reference 003: an error chunk instead of [DONE], then the stream is closed.
    const auto r = verdict_of(
        line_of(chunk) +
        line_of(
            R"({"error": {"message": "Upstream timeout", "type": "engine_error", "code": "timeout"}})"));
    BOOST_TEST((r.v.kind == sse::terminal::error));
    BOOST_TEST((r.v.error_code() == faultline::category::timeout));
}

BOOST_AUTO_TEST_CASE(end_of_stream_without_done_is_truncated) {
    for (const std::string& in :
         {line_of(chunk), line_of(chunk) + "data: {\"id\":", std::string()}) {
        const auto r = verdict_of(in);
        BOOST_TEST((r.v.kind == sse::terminal::eof_without_done));
        BOOST_TEST((r.v.error_code() == faultline::error::stream_truncated));
        BOOST_TEST(faultline::is_retryable(r.v.error_code()));
    }
}

BOOST_AUTO_TEST_CASE(malformed_json_verdict) {
    const auto r = verdict_of(line_of(chunk) + line_of("<html>502</html>") + line_of("[DONE]"));
    BOOST_TEST((r.v.kind == sse::terminal::malformed_json));
    BOOST_TEST((r.v.error_code() == faultline::error::malformed_json));
    // An error chunk outranks malformed data.
    const auto e = verdict_of(line_of("nope") + line_of(R"({"error":"x"})"));
    BOOST_TEST((e.v.kind == sse::terminal::error));
}

BOOST_AUTO_TEST_CASE(anthropic_event_error) {
    const auto r = verdict_of(
        "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: error\ndata: "
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"
        "\n\n");
    BOOST_TEST((r.v.kind == sse::terminal::error));
    BOOST_TEST((r.v.error_code() == faultline::error::overloaded));
    const auto ok = verdict_of("event: message_start\ndata: {}\n\nevent: message_stop\ndata: "
                               "{\"type\":\"message_stop\"}\n\n");
    BOOST_TEST((ok.v.kind == sse::terminal::done));
}

BOOST_AUTO_TEST_CASE(keep_alive_comments_and_empty_events) {
    const auto r = verdict_of(":\n\n: ping\n\ndata:\n\n" + line_of(chunk) + line_of("[DONE]"));
    BOOST_TEST((r.v.kind == sse::terminal::done));
    const std::vector<sse::event_kind> want{sse::event_kind::empty, sse::event_kind::content,
                                            sse::event_kind::done};
    BOOST_TEST((r.kinds == want));
}

BOOST_AUTO_TEST_CASE(limits_end_the_stream_with_an_error) {
    sse::monitor_options o;
    o.limits.max_event = 64;
    const auto r = verdict_of(line_of(chunk) + line_of("[DONE]"), o);
    BOOST_TEST((r.v.kind == sse::terminal::error));
    BOOST_TEST((r.v.error_code() == faultline::error::sse_event_too_large));
    BOOST_TEST(r.kinds.empty());

    monitor_t m(tp{}, o);
    BOOST_TEST(m.feed(line_of(chunk), tp{}) == faultline::error::sse_event_too_large);
    BOOST_TEST(m.feed(line_of("[DONE]"), tp{}) == faultline::error::sse_event_too_large);
    BOOST_TEST(m.failed());
    BOOST_TEST(!m.done_seen());
}

BOOST_AUTO_TEST_CASE(first_error_wins_and_verdict_is_kept) {
    monitor_t m(tp{});
    BOOST_TEST(
        !m.feed(line_of(R"({"error":{"message":"first","code":"context_length_exceeded"}})") +
                    line_of(R"({"error":{"message":"second"}})"),
                tp{}));
    const sse::verdict v = m.finish();
    BOOST_TEST(v.failure->message == "first");
    BOOST_TEST((v.error_code() == faultline::error::context_length_exceeded));
    BOOST_TEST(!m.feed(line_of("[DONE]"), tp{})); // after the verdict: ignored
    BOOST_TEST((m.finish().kind == sse::terminal::error));
    BOOST_TEST(m.events() == 2u);
    BOOST_TEST(m.content_events() == 0u);
}

// --- timeouts --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(idle_timeout) {
    sse::monitor_options o;
    o.idle_timeout = 30s;
    monitor_t m(tp{}, o);
    BOOST_TEST((m.next_deadline() == tp{30s}));
    BOOST_TEST(!m.feed(line_of(chunk), tp{10s}));
    BOOST_TEST((m.next_deadline() == tp{40s}));
    BOOST_TEST(!m.check(tp{40s} - 1ms)); // just before the limit: still fine
    // Heartbeats count as activity.
    BOOST_TEST(!m.feed(": keep-alive\n\n", tp{39s}));
    BOOST_TEST(!m.check(tp{68s}));
    BOOST_TEST((m.timed_out() == sse::timeout::none));
    // A caller woken at `next_deadline()` is told the limit is over (not left to wake again).
    BOOST_TEST((m.next_deadline() == tp{69s}));
    BOOST_TEST(m.check(tp{69s}) == faultline::error::stream_timeout);
    BOOST_TEST((m.timed_out() == sse::timeout::idle));
    BOOST_TEST(m.feed(line_of("[DONE]"), tp{71s}) == faultline::error::stream_timeout);
    BOOST_TEST(!m.next_deadline());
    const sse::verdict v = m.finish();
    BOOST_TEST((v.kind == sse::terminal::error));
    BOOST_TEST((v.error_code() == faultline::category::timeout));
    BOOST_TEST(v.failure->message == "Nothing arrived for 30000 ms.");
}

// A reader busy writing what it read (to a slow client) was not waiting for bytes: the idle
// limit counts from when it reads again. The whole stream's limit does not move.
BOOST_AUTO_TEST_CASE(idle_time_counts_from_a_resumed_read) {
    sse::monitor_options o;
    o.idle_timeout = 30s;
    o.total_timeout = 100s;
    monitor_t busy(tp{}, o);
    BOOST_TEST(!busy.feed(line_of(chunk), tp{10s}));
    busy.resume(tp{50s}); // the write of the chunk took 40 s
    BOOST_TEST((busy.next_deadline() == tp{80s}));
    BOOST_TEST(!busy.feed(line_of(chunk), tp{51s})); // sent during the write, read now
    busy.resume(tp{40s});                            // earlier than the last byte: no change
    BOOST_TEST((busy.next_deadline() == tp{81s}));
    busy.resume(tp{95s});
    BOOST_TEST((busy.next_deadline() == tp{100s})); // the total limit
    BOOST_TEST(busy.check(tp{100s}) == faultline::error::stream_timeout);
    BOOST_TEST((busy.timed_out() == sse::timeout::total));

    // Without the resume, the same bytes come after the idle limit and are not taken.
    monitor_t waiting(tp{}, o);
    BOOST_TEST(!waiting.feed(line_of(chunk), tp{10s}));
    BOOST_TEST(waiting.feed(line_of(chunk), tp{51s}) == faultline::error::stream_timeout);
    BOOST_TEST((waiting.timed_out() == sse::timeout::idle));
    // A limit already over stays over.
    waiting.resume(tp{52s});
    BOOST_TEST(waiting.check(tp{53s}) == faultline::error::stream_timeout);
    BOOST_TEST(!waiting.next_deadline());
}

BOOST_AUTO_TEST_CASE(first_content_timeout_counts_from_the_start) {
    sse::monitor_options o;
    o.idle_timeout = 30s;
    o.first_content_timeout = 2s; // time to first token
    monitor_t m(tp{}, o);
    BOOST_TEST((m.next_deadline() == tp{2s}));
    // Keep-alive comments and empty events are no content.
    BOOST_TEST(!m.feed(": keep-alive\n\n", tp{1s}));
    BOOST_TEST(!m.feed("data:\n\n", tp{1500ms}));
    BOOST_TEST((m.next_deadline() == tp{2s}));
    BOOST_TEST(m.feed(line_of(chunk), tp{2s}) == faultline::error::stream_timeout);
    BOOST_TEST((m.timed_out() == sse::timeout::first_content));
    BOOST_TEST(m.content_events() == 0u); // the late chunk was not taken
    const sse::verdict v = m.finish();
    BOOST_TEST((v.error_code() == faultline::error::stream_timeout));
    BOOST_TEST(v.failure->message == "No content within 2000 ms of the start.");
}

BOOST_AUTO_TEST_CASE(first_content_timeout_is_off_once_content_or_an_error_came) {
    sse::monitor_options o;
    o.idle_timeout = 30s;
    o.first_content_timeout = 2s;
    monitor_t content(tp{}, o);
    BOOST_TEST(!content.feed(line_of(chunk), tp{1s}));
    BOOST_TEST((content.next_deadline() == tp{31s}));
    BOOST_TEST(!content.check(tp{30s}));
    BOOST_TEST((content.timed_out() == sse::timeout::none));

    // After an error event the stream has failed already: its `[DONE]` may take its time.
    monitor_t failed(tp{}, o);
    BOOST_TEST(!failed.feed(line_of(R"({"error":{"message":"overloaded","type":"server_error"}})"),
                            tp{1s}));
    BOOST_TEST((failed.next_deadline() == tp{31s}));
    BOOST_TEST(!failed.check(tp{5s}));
    BOOST_TEST(failed.finish().failure->message == "overloaded");
}

BOOST_AUTO_TEST_CASE(the_total_limit_is_reported_before_the_others) {
    sse::monitor_options o;
    o.idle_timeout = 1s;
    o.first_content_timeout = 2s;
    o.total_timeout = 2s;
    monitor_t m(tp{}, o);
    BOOST_TEST((m.next_deadline() == tp{1s}));
    BOOST_TEST(m.check(tp{5s}) == faultline::error::stream_timeout);
    BOOST_TEST((m.timed_out() == sse::timeout::total));
    BOOST_TEST(m.finish().failure->message == "The stream exceeded its time limit of 2000 ms.");

    o.idle_timeout = 10s;
    o.total_timeout.reset();
    monitor_t no_total(tp{}, o);
    BOOST_TEST(!no_total.feed(": keep-alive\n\n", tp{1500ms}));
    BOOST_TEST(!no_total.check(tp{2s} - 1ms));
    BOOST_TEST(no_total.check(tp{2s}) == faultline::error::stream_timeout);
    BOOST_TEST((no_total.timed_out() == sse::timeout::first_content));
}

BOOST_AUTO_TEST_CASE(late_bytes_are_a_timeout_even_without_check) {
    sse::monitor_options o;
    o.idle_timeout = 5s;
    monitor_t m(tp{}, o);
    BOOST_TEST(m.feed(line_of(chunk), tp{6s}) == faultline::error::stream_timeout);
    BOOST_TEST(m.handler().seen.empty());
}

BOOST_AUTO_TEST_CASE(total_timeout) {
    sse::monitor_options o;
    o.idle_timeout = 30s;
    o.total_timeout = 300s; // reference 000: STREAMING_TIMEOUT defaults to 300 seconds
    monitor_t m(tp{}, o);
    for (int s = 20; s < 300; s += 20)
        BOOST_TEST(!m.feed(line_of(chunk), tp{std::chrono::seconds(s)}));
    BOOST_TEST((m.next_deadline() == tp{300s}));
    BOOST_TEST(m.feed(line_of(chunk), tp{301s}) == faultline::error::stream_timeout);
    BOOST_TEST((m.timed_out() == sse::timeout::total));
    BOOST_TEST((m.finish().error_code() == faultline::error::stream_timeout));
}

BOOST_AUTO_TEST_CASE(no_timeout_after_done) {
    sse::monitor_options o;
    o.idle_timeout = 1s;
    monitor_t m(tp{}, o);
    BOOST_TEST(!m.feed(line_of("[DONE]"), tp{}));
    BOOST_TEST(!m.next_deadline());
    BOOST_TEST(!m.check(tp{1h}));
    BOOST_TEST((m.finish().kind == sse::terminal::done));
}

BOOST_AUTO_TEST_CASE(writer_output_is_judged_as_written) {
    std::string out;
    sse::writer w(out);
    w.data(chunk);
    w.heartbeat();
    w.error(faultline::error::rate_limited, "slow down");
    const auto r = verdict_of(out);
    BOOST_TEST((r.v.kind == sse::terminal::error));
    BOOST_TEST((r.v.error_code() == faultline::category::rate_limited));
    BOOST_TEST(r.v.failure->message == "slow down");
}

// --- protocols -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(protocol_of_event_names) {
    using P = sse::protocol;
    const std::pair<std::string_view, P> table[] = {
        {"", P::chat_completions},
        {"response.created", P::responses},
        {"response.output_text.delta", P::responses},
        {"response.completed", P::responses},
        {"message_start", P::anthropic_messages},
        {"content_block_delta", P::anthropic_messages},
        {"message_delta", P::anthropic_messages},
        {"message_stop", P::anthropic_messages},
        {"ping", P::anthropic_messages},
        {"error", P::unknown},
        {"message", P::unknown},
        {"thread.run.created", P::unknown},
    };
    for (const auto& [name, p] : table)
        BOOST_TEST((sse::protocol_of(name) == p), name);
    BOOST_TEST(sse::to_string(P::unknown) == "unknown");
    BOOST_TEST(sse::to_string(P::chat_completions) == "chat_completions");
    BOOST_TEST(sse::to_string(P::responses) == "responses");
    BOOST_TEST(sse::to_string(P::anthropic_messages) == "anthropic_messages");
}

// Regression: a Responses stream ends with `response.completed` and no `[DONE]`; the verdict
// was `stream_truncated`, and clients retried a finished (and paid) answer.
BOOST_AUTO_TEST_CASE(responses_completed_without_done_was_truncated) {
    const auto r = verdict_of(responses_head + responses_completed);
    BOOST_TEST((r.v.kind == sse::terminal::done));
    BOOST_TEST(!r.v.failure);
    BOOST_TEST((r.v.protocol == sse::protocol::responses));
    BOOST_TEST(r.v.stop_reason.empty());
    const std::vector<sse::event_kind> want{sse::event_kind::content, sse::event_kind::content,
                                            sse::event_kind::content, sse::event_kind::done};
    BOOST_TEST((r.kinds == want));
}

BOOST_AUTO_TEST_CASE(responses_completed_then_done_stays_done) {
    // Some compatible servers add `data: [DONE]` after `response.completed`: ignored.
    const auto r = verdict_of(responses_head + responses_completed + line_of("[DONE]"));
    BOOST_TEST((r.v.kind == sse::terminal::done));
    BOOST_TEST(r.kinds.size() == 4u);
}

// Regression: `response.failed` carries `response.error {code, message}` and was read as
// content.
BOOST_AUTO_TEST_CASE(responses_failed_was_read_as_content) {
    const auto r = verdict_of(
        responses_head +
        responses_end(
            "response.failed", "failed",
            R"({"code":"server_error","message":"The model failed to generate a response."})",
            "null"));
    BOOST_TEST((r.v.kind == sse::terminal::error));
    BOOST_TEST((r.v.error_code() == faultline::error::internal_error));
    BOOST_TEST(r.v.failure->message == "The model failed to generate a response.");
    BOOST_TEST((r.v.failure->provider_code == faultline::wire_code(std::string("server_error"))));
    BOOST_TEST(r.v.failure->retryable);
    BOOST_TEST((r.kinds.back() == sse::event_kind::error));

    const auto limited = verdict_of(
        responses_head +
        responses_end(
            "response.failed", "failed",
            R"({"code":"rate_limit_exceeded","message":"Rate limit reached for gpt-4.1"})",
            "null"));
    BOOST_TEST((limited.v.error_code() == faultline::error::rate_limited));

    // No readable `response.error`: still a mid-stream failure.
    const auto bare =
        verdict_of(responses_head + responses_end("response.failed", "failed", "null", "null"));
    BOOST_TEST((bare.v.error_code() == faultline::error::stream_interrupted));
}

BOOST_AUTO_TEST_CASE(responses_incomplete_is_done_with_its_reason) {
    for (std::string_view reason : {"max_output_tokens", "content_filter"}) {
        const auto r = verdict_of(responses_head +
                                  responses_end("response.incomplete", "incomplete", "null",
                                                R"({"reason":")" + std::string(reason) + R"("})"));
        BOOST_TEST((r.v.kind == sse::terminal::done), reason);
        BOOST_TEST(!r.v.failure);
        BOOST_TEST(r.v.stop_reason == reason);
        BOOST_TEST((r.v.protocol == sse::protocol::responses));
    }
    // Incomplete without a readable reason still says so.
    const auto r = verdict_of(responses_head + named("response.incomplete", "{}"));
    BOOST_TEST((r.v.kind == sse::terminal::done));
    BOOST_TEST(r.v.stop_reason == "incomplete");
}

BOOST_AUTO_TEST_CASE(responses_error_event) {
    // The top-level error event: flat, no `error` member.
    const auto r = verdict_of(
        responses_head +
        named("error", R"({"type":"error","code":"server_error","message":"Something went wrong",)"
                       R"("param":null,"sequence_number":5})"));
    BOOST_TEST((r.v.kind == sse::terminal::error));
    BOOST_TEST(r.v.failure->message == "Something went wrong");
    BOOST_TEST((r.v.error_code() == faultline::category::server_error));
    BOOST_TEST((r.v.protocol == sse::protocol::responses));
}

BOOST_AUTO_TEST_CASE(responses_cut_off_or_ended_by_done_is_truncated) {
    for (const std::string& in : {responses_head, responses_head + line_of("[DONE]")}) {
        const auto r = verdict_of(in);
        BOOST_TEST((r.v.kind == sse::terminal::eof_without_done));
        BOOST_TEST((r.v.error_code() == faultline::error::stream_truncated));
        BOOST_TEST(r.v.failure->message == "The stream ended without response.completed");
    }
    // The `[DONE]` still ends the stream: a late `response.completed` does not count.
    const auto late = verdict_of(responses_head + line_of("[DONE]") + responses_completed);
    BOOST_TEST((late.v.kind == sse::terminal::eof_without_done));
    BOOST_TEST(late.kinds.size() == 4u);
}

BOOST_AUTO_TEST_CASE(anthropic_end_turn_and_max_tokens) {
    const auto ok = verdict_of(anthropic_head + anthropic_delta("end_turn") + anthropic_stop);
    BOOST_TEST((ok.v.kind == sse::terminal::done));
    BOOST_TEST((ok.v.protocol == sse::protocol::anthropic_messages));
    BOOST_TEST(ok.v.stop_reason == "end_turn");
    BOOST_TEST(ok.kinds.size() == 7u);

    // A `max_tokens` stop is not an error, but the caller can see it.
    const auto cut = verdict_of(anthropic_head + anthropic_delta("max_tokens") + anthropic_stop);
    BOOST_TEST((cut.v.kind == sse::terminal::done));
    BOOST_TEST(!cut.v.failure);
    BOOST_TEST(cut.v.stop_reason == "max_tokens");
}

BOOST_AUTO_TEST_CASE(anthropic_overloaded_and_api_error) {
    const auto over = verdict_of(
        anthropic_head +
        named(
            "error",
            R"({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})"));
    BOOST_TEST((over.v.kind == sse::terminal::error));
    BOOST_TEST((over.v.error_code() == faultline::error::overloaded));
    BOOST_TEST(over.v.failure->retryable);
    BOOST_TEST((over.v.protocol == sse::protocol::anthropic_messages));

    const auto api = verdict_of(
        anthropic_head +
        named(
            "error",
            R"({"type":"error","error":{"type":"api_error","message":"Internal server error"}})"));
    BOOST_TEST((api.v.kind == sse::terminal::error));
    BOOST_TEST((api.v.error_code() == faultline::error::internal_error));
    BOOST_TEST(api.v.failure->message == "Internal server error");
}

BOOST_AUTO_TEST_CASE(anthropic_without_message_stop_is_truncated) {
    const auto r = verdict_of(anthropic_head + anthropic_delta("end_turn"));
    BOOST_TEST((r.v.kind == sse::terminal::eof_without_done));
    BOOST_TEST(r.v.failure->message == "The stream ended without message_stop");
    BOOST_TEST(r.v.stop_reason == "end_turn");
    const auto done = verdict_of(anthropic_head + line_of("[DONE]"));
    BOOST_TEST((done.v.kind == sse::terminal::eof_without_done));
}

BOOST_AUTO_TEST_CASE(stop_reason_is_bounded) {
    const auto r =
        verdict_of(anthropic_head + anthropic_delta(std::string(1000, 'x')) + anthropic_stop);
    BOOST_TEST(r.v.stop_reason == std::string(256, 'x'));
    // Cut at a UTF-8 boundary: 255 bytes of 'x', then a 2-byte character that would cross 256.
    const auto u = verdict_of(
        anthropic_head + anthropic_delta(std::string(255, 'x') + "\u00e9\u00e9") + anthropic_stop);
    BOOST_TEST(u.v.stop_reason == std::string(255, 'x'));
}

// Regression: data after `[DONE]` changed the verdict; the SDKs stop reading there.
BOOST_AUTO_TEST_CASE(data_after_done_changed_the_verdict) {
    const auto r =
        verdict_of(line_of(chunk) + line_of("[DONE]") + line_of(R"({"error":{"message":"late"}})") +
                   line_of("not json") + line_of(chunk));
    BOOST_TEST((r.v.kind == sse::terminal::done));
    BOOST_TEST((r.v.protocol == sse::protocol::chat_completions));
    const std::vector<sse::event_kind> want{sse::event_kind::content, sse::event_kind::done};
    BOOST_TEST((r.kinds == want));

    monitor_t m(tp{});
    BOOST_TEST(!m.feed(line_of(chunk) + line_of("[DONE]") + line_of(chunk), tp{}));
    BOOST_TEST(m.events() == 2u);
    BOOST_TEST(m.content_events() == 1u);
}

// Regression: data ` [DONE]` (a second space) was taken as the terminator; it is neither the
// terminator nor JSON (openai-python fails on it in `json.loads`).
BOOST_AUTO_TEST_CASE(done_with_a_stray_space_was_the_terminator) {
    for (std::string_view bad : {"data:  [DONE]\n\n", "data: [DONE] \n\n", "data: [DONE]x\n\n"}) {
        const auto r = verdict_of(line_of(chunk) + std::string(bad));
        BOOST_TEST((r.v.kind == sse::terminal::malformed_json), bad);
        BOOST_TEST((r.kinds.back() == sse::event_kind::malformed_json));
    }
    // `data:[DONE]` (no space) is exact after the parser's one-space rule.
    BOOST_TEST((verdict_of(line_of(chunk) + "data:[DONE]\n\n").v.kind == sse::terminal::done));
}

BOOST_AUTO_TEST_CASE(protocol_set_in_options) {
    sse::monitor_options chat;
    chat.protocol = sse::protocol::chat_completions;
    // Another protocol's terminator is just an event to a chat completions monitor.
    const auto r = verdict_of(line_of(chunk) + responses_completed, chat);
    BOOST_TEST((r.v.kind == sse::terminal::eof_without_done));
    BOOST_TEST((r.kinds.back() == sse::event_kind::content));
    BOOST_TEST((r.v.protocol == sse::protocol::chat_completions));

    sse::monitor_options responses;
    responses.protocol = sse::protocol::responses;
    BOOST_TEST(
        (sse::classify_event(ev("{}", "message_stop"), responses) == sse::event_kind::content));
    BOOST_TEST(
        (sse::classify_event(ev("{}", "response.completed"), chat) == sse::event_kind::content));
    // Known up front: a `[DONE]` is no completion, even as the first event.
    const auto d = verdict_of(line_of("[DONE]"), responses);
    BOOST_TEST((d.v.kind == sse::terminal::eof_without_done));
    BOOST_TEST((d.v.protocol == sse::protocol::responses));
}

BOOST_AUTO_TEST_CASE(detection_waits_for_an_event_that_names_a_protocol) {
    monitor_t m(tp{});
    BOOST_TEST(!m.feed(": ping\n\ndata:\n\n", tp{})); // a comment and a keep-alive
    BOOST_TEST((m.protocol() == sse::protocol::unknown));
    BOOST_TEST(!m.feed(named("error", R"({"type":"error","message":"x"})"), tp{}));
    BOOST_TEST((m.protocol() == sse::protocol::unknown));
    BOOST_TEST(!m.feed(line_of(chunk), tp{}));
    BOOST_TEST((m.protocol() == sse::protocol::chat_completions));
    BOOST_TEST(!m.feed(anthropic_head, tp{})); // the first one decided
    BOOST_TEST((m.finish().protocol == sse::protocol::chat_completions));
}

BOOST_AUTO_TEST_CASE(on_error_receives_the_failure) {
    sse::monitor<errors_seen, manual_clock> m(tp{});
    BOOST_TEST(
        !m.feed(line_of(chunk) +
                    line_of(R"({"error":{"message":"first","code":"context_length_exceeded"}})") +
                    anthropic_head +
                    named("error", R"({"type":"error","error":{"type":"overloaded_error",)"
                                   R"("message":"Overloaded"}})"),
                tp{}));
    const auto& got = m.handler().failures;
    BOOST_TEST_REQUIRE(got.size() == 2u);
    BOOST_TEST((got[0].code == faultline::error::context_length_exceeded));
    BOOST_TEST(got[0].message == "first");
    BOOST_TEST((got[1].code == faultline::error::overloaded));
    // The same failure classify_event finds, and the verdict keeps the first.
    faultline::failure again;
    (void)sse::classify_event(
        ev(R"({"error":{"message":"first","code":"context_length_exceeded"}})"), {}, &again);
    BOOST_TEST((again.code == got[0].code));
    BOOST_TEST(again.message == got[0].message);
    BOOST_TEST(m.finish().failure->message == "first");
    BOOST_TEST(m.handler().kinds.size() == 8u);
}

// --- lines of any size ------------------------------------------------------------------------

namespace {

// Takes fragments: counts bytes and keeps the kinds of whole events.
struct fragment_kinds {
    std::vector<sse::event_kind> seen;
    std::size_t fragment_bytes = 0;
    std::size_t early_kinds = 0;
    void on_event(const sse::event&, sse::event_kind k) { seen.push_back(k); }
    void on_fragment(const sse::event_fragment& f, sse::event_kind k) {
        fragment_bytes += f.data.size();
        if (f.last)
            seen.push_back(k);
        else if (k != sse::event_kind::content)
            ++early_kinds; // only the last fragment carries the event's kind
    }
};

sse::monitor_options small_limits() {
    sse::monitor_options o;
    o.limits.max_line = 64 * 1024;
    o.limits.max_event = 64 * 1024;
    return o;
}

// Feeds `prefix`, then `megabytes` MiB of base64 in 64 KiB pieces, then `suffix`.
template <class M>
std::error_code feed_long_line(M& m, std::string_view prefix, std::size_t megabytes,
                               std::string_view suffix, std::size_t& most_held) {
    const std::string piece(64 * 1024, 'A');
    if (auto ec = m.feed(prefix, tp{})) return ec;
    for (std::size_t i = 0; i < megabytes * 16; ++i) {
        if (auto ec = m.feed(piece, tp{})) return ec;
        most_held = std::max(most_held, m.buffered_bytes());
    }
    return m.feed(suffix, tp{});
}

} // namespace

BOOST_AUTO_TEST_CASE(a_hundred_megabyte_line_is_monitored_in_bounded_memory) {
    sse::monitor<fragment_kinds, manual_clock> m(tp{}, small_limits());
    std::size_t most_held = 0;
    const std::size_t before = test_support::status_kib("VmRSS").value_or(0);
    const bool peak = test_support::reset_peak_rss();
    const std::error_code ec = feed_long_line(
        m, "data: " + chunk + "\n\n" + R"(data: {"choices":[{"delta":{"images":[{"url":"data:)",
        100, "\"}]}}]}\n\ndata: [DONE]\n\n", most_held);
    BOOST_TEST(!ec);
    const sse::verdict v = m.finish();
    BOOST_TEST((v.kind == sse::terminal::done));
    BOOST_TEST(m.handler().seen.size() == 3u);
    BOOST_TEST(m.handler().fragment_bytes > std::size_t(100) << 20);
    BOOST_TEST(m.handler().early_kinds == 0u);
    BOOST_TEST(most_held <= 256u * 1024);
    if (peak && test_support::rss_measures_the_code)
        BOOST_TEST(test_support::peak_growth_bytes(before) < std::size_t(4) << 20);
}

BOOST_AUTO_TEST_CASE(an_error_chunk_after_a_fifty_megabyte_line_is_still_found) {
    sse::monitor<fragment_kinds, manual_clock> m(tp{}, small_limits());
    std::size_t most_held = 0;
    const std::error_code ec = feed_long_line(
        m, R"(data: {"choices":[{"delta":{"content":")", 50,
        "\"}}]}\n\n"
        R"(data: {"error":{"message":"The server had an error while processing your request.",)"
        R"("type":"server_error","code":null}})"
        "\n\ndata: [DONE]\n\n",
        most_held);
    BOOST_TEST(!ec);
    const sse::verdict v = m.finish();
    BOOST_TEST((v.kind == sse::terminal::error));
    BOOST_TEST(v.failure->message == "The server had an error while processing your request.");
    BOOST_TEST(most_held <= 256u * 1024);
}

BOOST_AUTO_TEST_CASE(an_error_chunk_too_large_to_hold_is_found_and_classified) {
    // The error member after a long field, its key escaped: found, and classified from what
    // the scanner kept of it (a rate limit by its type).
    const std::string in = R"(data: {"pad":")" + std::string(200'000, 'p') +
                           R"(","error":{"message":"Rate limit reached for requests",)"
                           R"("type":"requests","code":"rate_limit_exceeded"}})"
                           "\n\ndata: [DONE]\n\n";
    for (const chunking c : {chunking::all, chunking::random}) {
        sse::monitor<fragment_kinds, manual_clock> m(tp{}, small_limits());
        for (auto piece : sse_test::cut(in, c))
            BOOST_TEST(!m.feed(piece, tp{}));
        const sse::verdict v = m.finish();
        BOOST_TEST((v.kind == sse::terminal::error));
        BOOST_TEST((v.error_code() == faultline::category::rate_limited));
        BOOST_TEST(v.failure->message == "Rate limit reached for requests");
        BOOST_TEST((m.handler().seen ==
                    std::vector<sse::event_kind>{sse::event_kind::error, sse::event_kind::done}));
    }
}

// A response.incomplete carries the whole response, its output included: one past the JSON size
// limit (1 MiB) once read as stop reason "incomplete", and one too large to hold was not read at
// all. Both give their real reason now, as does an Anthropic message_delta of that size.
BOOST_AUTO_TEST_CASE(stop_reasons_of_events_of_any_size) {
    const std::string text(std::size_t(2) << 20, 't');
    const std::string incomplete =
        R"({"type":"response.incomplete","response":{"status":"incomplete","output":[{"type":)"
        R"("message","content":[{"type":"output_text","text":")" +
        text + R"("}]}],"incomplete_details":{"reason":"max_output_tokens"}}})";
    const std::string delta = R"({"type":"message_delta","usage":{"x":")" + text +
                              R"("},"delta":{"stop_reason":"max_tokens","stop_sequence":null}})";
    const std::string responses_stream =
        responses_head + "event: response.incomplete\ndata: " + incomplete + "\n\n";
    const std::string anthropic_stream =
        anthropic_head + "event: message_delta\ndata: " + delta + "\n\n" + anthropic_stop;
    {
        sse::monitor_options whole; // held whole: 4 MiB lines, 8 MiB events
        const auto r = run(responses_stream, chunking::random, whole);
        BOOST_TEST((r.v.kind == sse::terminal::done));
        BOOST_TEST(r.v.stop_reason == "max_output_tokens");
        const auto a = run(anthropic_stream, chunking::random, whole);
        BOOST_TEST((a.v.kind == sse::terminal::done));
        BOOST_TEST(a.v.stop_reason == "max_tokens");
    }
    for (const std::string* in : {&responses_stream, &anthropic_stream}) {
        sse::monitor<fragment_kinds, manual_clock> m(tp{}, small_limits()); // in fragments
        for (const std::string_view piece : sse_test::cut(*in, chunking::random))
            BOOST_TEST(!m.feed(piece, tp{}));
        const sse::verdict v = m.finish();
        BOOST_TEST((v.kind == sse::terminal::done));
        BOOST_TEST(v.stop_reason == (in == &responses_stream ? "max_output_tokens" : "max_tokens"));
        BOOST_TEST(m.buffered_bytes() < std::size_t(256) << 10);
    }
    // A fragmented incomplete event whose reason is unreadable still says it is incomplete.
    sse::monitor<fragment_kinds, manual_clock> m(tp{}, small_limits());
    BOOST_TEST(!m.feed(
        responses_head + "event: response.incomplete\ndata: {\"x\":\"" + text + "\"}\n\n", tp{}));
    BOOST_TEST(m.finish().stop_reason == "incomplete");
}

BOOST_AUTO_TEST_CASE(long_fragmented_events_get_every_kind) {
    const std::string pad(100'000, ' ');
    struct row {
        std::string in;
        sse::event_kind want;
    };
    const row rows[] = {
        {"data: {\"a\":1" + pad + "}\n\n", sse::event_kind::content},
        {"data: {\"a\":1" + pad + "\n\n", sse::event_kind::malformed_json},
        {"data: " + pad + "\n\n", sse::event_kind::empty},
        {"event: message_stop\ndata: {\"a\":\"" + pad + "\"}\n\n", sse::event_kind::done},
        {"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
         "\"message\":\"Overloaded" +
             pad + "\"}}\n\n",
         sse::event_kind::error},
        {"data: {\"error\":null,\"x\":\"" + pad + "\"}\n\n", sse::event_kind::content},
    };
    for (const row& r : rows) {
        sse::monitor<fragment_kinds, manual_clock> m(tp{}, small_limits());
        BOOST_TEST(!m.feed(r.in, tp{}));
        BOOST_TEST(m.handler().seen.size() == 1u);
        if (!m.handler().seen.empty())
            BOOST_TEST((m.handler().seen[0] == r.want), sse::to_string(r.want));
    }
}

BOOST_AUTO_TEST_CASE(without_on_fragment_the_limits_still_stop_the_stream) {
    monitor_t m(tp{}, small_limits());
    std::size_t most_held = 0;
    const std::error_code ec = feed_long_line(m, "data: {\"x\":\"", 1, "\"}\n\n", most_held);
    BOOST_TEST((ec == faultline::error::sse_line_too_long));
    BOOST_TEST((m.finish().error_code() == faultline::error::sse_line_too_long));
}

BOOST_AUTO_TEST_SUITE_END()

// faultline-inspect sse: what faultline's event-stream parser and monitor make of a stream.

#include "commands.hpp"
#include "io.hpp"

#include "common/json.hpp"

#include <faultline/detail/utf8.hpp>
#include <faultline/sse/monitor.hpp>

#include <boost/json/value.hpp>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

namespace inspect {

namespace {

constexpr const char* description =
    R"(Reads a raw text/event-stream body from FILE (or stdin when FILE is '-' or absent), feeds it to
faultline::sse::monitor and prints one JSON object per line, in stream order:

  {"event":E,"data":D,"id":I,"lastEventId":L}   for each dispatched event
      E  the event's type, null when it had no non-empty event field
      D  the data lines joined with "\n"
      I  this event's own id field, null when it had none (or only ids holding NUL)
      L  the sticky last event id ("" until an id is seen)
  {"retry":N}                                    for each valid retry field, where it is parsed
  {"verdict":{"terminal":T,"error":null|{"message":M,"type":Y,"code":C,"category":K}}}   last

  T  done              the terminator came (data [DONE], or Anthropic's event: message_stop)
     error             an error chunk (a top-level "error" member that is a non-empty object or
                       string), Anthropic's event: error, or a limit (sse_line_too_long,
                       sse_event_too_large); whether or not [DONE] followed
     eof_without_done  the stream ended without a terminator (code stream_truncated)
     malformed_json    an event's data was not JSON (code malformed_json)
  error is null for done; otherwise M is the message (from the chunk, or the cause of the
  code), Y the chunk's error type as sent or null, C the faultline::error name (an error chunk
  is classified like 'classify --status 0'; one with nothing more precise is
  stream_interrupted), K its category.

Strings are valid JSON: each maximal invalid UTF-8 sequence of the input is written as U+FFFD.
The output is the same however the input is cut.)";

constexpr const char* footer =
    "exit status: 0 verdict printed, 1 input could not be read, 2 usage error.";

std::string text(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    faultline::detail::append_utf8_sanitized(out, s);
    return out;
}

void print(const boost::json::object& o) {
    const std::string line = examples::to_plain_json(o);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
}

struct printer {
    void on_event(const faultline::sse::event& e, faultline::sse::event_kind) {
        boost::json::object o;
        o["event"] = e.type.empty() ? boost::json::value() : boost::json::value(text(e.type));
        o["data"] = text(e.data);
        o["id"] = e.id ? boost::json::value(text(*e.id)) : boost::json::value();
        o["lastEventId"] = text(e.last_event_id);
        print(o);
    }
    void on_retry(std::chrono::milliseconds ms) {
        boost::json::object o;
        o["retry"] = ms.count();
        print(o);
    }
};

} // namespace

int run_sse(std::span<char* const> args) {
    constexpr std::string_view tool = "sse";
    enum class cut { all, bytes, seeded } mode = cut::all;
    std::uint32_t seed = 0;
    faultline::sse::monitor_options options;
    std::string path = "-";
    examples::command_line cl("faultline-inspect sse",
                              "[--chunks all|bytes|SEED] [--max-event BYTES] [FILE|-]", description,
                              footer);
    cl.value("--chunks", "MODE",
             "how the input is cut before each feed(): 'all' (one piece, the default),\n"
             "'bytes' (one byte per piece), or a decimal SEED: pieces of 1 + (x % 64)\n"
             "bytes, x from xorshift32 seeded with SEED (0 means 0x9E3779B9)",
             [&](const std::string& v) {
                 if (v == "all")
                     mode = cut::all;
                 else if (v == "bytes")
                     mode = cut::bytes;
                 else if (const auto n = parse_uint(v, std::numeric_limits<std::uint32_t>::max())) {
                     mode = cut::seeded;
                     seed = static_cast<std::uint32_t>(*n);
                 } else
                     throw examples::bad_value{"all, bytes or a decimal seed"};
             });
    cl.value("--max-event", "BYTES", "the largest event data accepted (default 8388608)",
             [&options](const std::string& v) {
                 options.limits.max_event = static_cast<std::size_t>(
                     examples::whole_in(v, 0, std::numeric_limits<std::uint32_t>::max()));
             });
    cl.positional("FILE", "the stream; '-' or absent: stdin",
                  [&path](const std::string& v) { path = v; });
    if (const examples::parse_outcome p = cl.parse(args); p.what != examples::parse_ending::run)
        return cl.finish(p);
    const auto input = read_input(path, tool);
    if (!input) return 1;

    // Time plays no part here: no timeouts are set, every piece arrives at the same instant.
    using clock = std::chrono::steady_clock;
    faultline::sse::monitor<printer> m(clock::time_point{}, options);
    const std::string_view in = *input;
    std::uint32_t x = seed == 0 ? 0x9E3779B9u : seed;
    for (std::size_t i = 0; i < in.size();) {
        std::size_t len = in.size();
        if (mode == cut::bytes)
            len = 1;
        else if (mode == cut::seeded) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            len = 1 + (x % 64);
        }
        if (len > in.size() - i) len = in.size() - i;
        if (m.feed(in.substr(i, len), clock::time_point{})) break;
        i += len;
    }
    const faultline::sse::verdict v = m.finish();

    boost::json::object verdict;
    verdict["terminal"] = faultline::sse::to_string(v.kind);
    if (v.failure) {
        boost::json::object err;
        err["message"] = text(v.failure->message);
        err["type"] =
            v.failure->type ? boost::json::value(text(*v.failure->type)) : boost::json::value();
        err["code"] = faultline::to_string(v.failure->code);
        err["category"] = faultline::to_string(v.failure->cat);
        verdict["error"] = std::move(err);
    } else {
        verdict["error"] = nullptr;
    }
    boost::json::object out;
    out["verdict"] = std::move(verdict);
    print(out);
    return std::fflush(stdout) == 0 ? 0 : 1;
}

} // namespace inspect

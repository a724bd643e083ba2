// faultline-inspect sse: what faultline's event-stream parser and monitor make of a stream.

#include "commands.hpp"
#include "io.hpp"

#include "common/json.hpp"

#include <faultline/detail/utf8.hpp>
#include <faultline/sse/monitor.hpp>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

namespace inspect {

namespace {

constexpr const char* description =
    R"(Reads a raw text/event-stream body from FILE (or stdin when FILE is '-' or absent) as it
arrives, feeds it to faultline::sse::monitor and prints one JSON object per line, in stream
order:

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
The output is the same however the input is cut.

With a limit 'unlimited', lines and events of any size pass in bounded memory: a data line or
event over 64 KiB (or the other, numeric limit when smaller) is printed as it arrives, its data
first: {"data":D,"event":E,"id":I,"lastEventId":L}. Only an event or id line over the limit is
still an error then.)";

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

// Writes `s` as the inside of a JSON string, sanitized as `text` does.
void write_json_chars(std::string_view s) {
    const std::string quoted = boost::json::serialize(boost::json::value(text(s)));
    std::fwrite(quoted.data() + 1, 1, quoted.size() - 2, stdout);
}

// Bytes at the end of `s` that start a UTF-8 sequence it does not finish: they are decided only
// with what follows, so a fragment boundary never changes what is printed.
std::size_t unfinished_utf8(std::string_view s) {
    for (std::size_t back = 1; back <= 3 && back <= s.size(); ++back) {
        const auto c = static_cast<unsigned char>(s[s.size() - back]);
        if (c < 0x80) return 0;
        if (c >= 0xC0) {
            const std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            return len > back ? back : 0;
        }
    }
    return 0;
}

struct printer {
    std::string carry; // an unfinished UTF-8 sequence of a fragmented event's data

    void on_fragment(const faultline::sse::event_fragment& f, faultline::sse::event_kind) {
        if (f.first) {
            std::fputs(R"({"data":")", stdout);
            carry.clear();
        }
        std::string_view d = f.data;
        if (!carry.empty()) {
            while (!d.empty() && unfinished_utf8(carry) != 0) {
                carry.push_back(d.front());
                d.remove_prefix(1);
            }
            if (unfinished_utf8(carry) != 0 && !f.last) return; // still undecided
            write_json_chars(carry);
            carry.clear();
        }
        const std::size_t keep = f.last ? 0 : unfinished_utf8(d);
        write_json_chars(d.substr(0, d.size() - keep));
        carry.assign(d.substr(d.size() - keep));
        if (!f.last) return;
        boost::json::object o;
        o["event"] = f.type.empty() ? boost::json::value() : boost::json::value(text(f.type));
        o["id"] = f.id ? boost::json::value(text(*f.id)) : boost::json::value();
        o["lastEventId"] = text(f.last_event_id);
        const std::string rest = examples::to_plain_json(o);
        std::fputs("\",", stdout);
        std::fwrite(rest.data() + 1, 1, rest.size() - 1, stdout);
        std::fputc('\n', stdout);
    }
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

// Without fragments: the limits are errors.
struct held_printer {
    printer p;
    void on_event(const faultline::sse::event& e, faultline::sse::event_kind k) {
        p.on_event(e, k);
    }
    void on_retry(std::chrono::milliseconds ms) { p.on_retry(ms); }
};

enum class cut { all, bytes, seeded };

// Feeds `f` to a monitor as it is read, cut as `mode` says, and returns the verdict.
template <class Printer>
faultline::sse::verdict inspect_stream(std::FILE* f, cut mode, std::uint32_t seed,
                                       const faultline::sse::monitor_options& options) {
    // Time plays no part here: no timeouts are set, every piece arrives at the same instant.
    using clock = std::chrono::steady_clock;
    faultline::sse::monitor<Printer> m(clock::time_point{}, options);
    std::uint32_t x = seed == 0 ? 0x9E3779B9u : seed;
    std::string buf(std::size_t(1) << 20, '\0');
    bool stopped = false;
    for (std::size_t got; !stopped && (got = std::fread(buf.data(), 1, buf.size(), f)) > 0;) {
        const std::string_view in(buf.data(), got);
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
            if (m.feed(in.substr(i, len), clock::time_point{})) {
                stopped = true;
                break;
            }
            i += len;
        }
    }
    return m.finish();
}

} // namespace

int run_sse(std::span<char* const> args) {
    cut mode = cut::all;
    std::uint32_t seed = 0;
    faultline::sse::monitor_options options;
    std::string path = "-";
    bool any_size = false; // a limit is 'unlimited': events over what is held pass in fragments
    examples::command_line cl("faultline-inspect sse",
                              "[--chunks all|bytes|SEED] [--max-line BYTES|unlimited]\n"
                              "                             [--max-event BYTES|unlimited] [FILE|-]",
                              description, footer);
    cl.value("--chunks", "MODE",
             "how the input is cut before each feed(): 'all' (each read of up to 1 MiB\n"
             "whole, the default), 'bytes' (one byte per piece), or a decimal SEED:\n"
             "pieces of 1 + (x % 64) bytes, x from xorshift32 seeded with SEED (0 means\n"
             "0x9E3779B9)",
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
    const auto limit = [&any_size](std::size_t& to) {
        return [&to, &any_size](const std::string& v) {
            if (v == "unlimited") {
                to = std::numeric_limits<std::size_t>::max();
                any_size = true;
            } else {
                try {
                    to = static_cast<std::size_t>(
                        examples::whole_in(v, 0, std::numeric_limits<std::uint32_t>::max()));
                } catch (const examples::bad_value&) {
                    throw examples::bad_value{"a whole number of bytes or 'unlimited'"};
                }
            }
        };
    };
    cl.value("--max-line", "BYTES", "the longest line accepted (default 4194304), or 'unlimited'",
             limit(options.limits.max_line));
    cl.value("--max-event", "BYTES",
             "the largest event data accepted (default 8388608), or 'unlimited'",
             limit(options.limits.max_event));
    cl.positional("FILE", "the stream; '-' or absent: stdin",
                  [&path](const std::string& v) { path = v; });
    if (const examples::parse_outcome p = cl.parse(args); p.what != examples::parse_ending::run)
        return cl.finish(p);
    if (any_size) {
        constexpr std::size_t held = 64 * 1024;
        options.limits.max_line = std::min(options.limits.max_line, held);
        options.limits.max_event = std::min(options.limits.max_event, held);
    }
    std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
    if (!f) {
        std::fprintf(stderr, "faultline-inspect sse: cannot open '%.*s'\n",
                     static_cast<int>(path.size()), path.data());
        return 1;
    }
    const faultline::sse::verdict v = any_size
                                          ? inspect_stream<printer>(f, mode, seed, options)
                                          : inspect_stream<held_printer>(f, mode, seed, options);
    const bool failed = std::ferror(f) != 0;
    if (f != stdin) std::fclose(f);
    if (failed) {
        std::fprintf(stderr, "faultline-inspect sse: cannot read '%.*s'\n",
                     static_cast<int>(path.size()), path.data());
        return 1;
    }

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

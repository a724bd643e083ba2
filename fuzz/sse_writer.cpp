// Whatever a server writes with sse::writer, a reader parses back exactly: the same events
// (line breaks in data as LF), the retries, and nothing injected.

#include "sse_common.hpp"

#include <faultline/sse/writer.hpp>

#include <cstddef>
#include <cstdint>

namespace {

std::string normalized(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') {
            out.push_back('\n');
            if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

// Next field of a record, up to a 0xFE byte.
std::string_view field(std::string_view& in) {
    const std::size_t sep = in.find('\xFE');
    const std::string_view f = in.substr(0, sep);
    in.remove_prefix(sep == std::string_view::npos ? in.size() : sep + 1);
    return f;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(bytes), size);
    std::string wire;
    faultline::sse::writer w(wire);
    std::vector<fuzz_sse::record> expected;
    std::string last_id;
    // Records: a control byte, then data, type and id separated by 0xFE.
    while (!in.empty()) {
        const auto ctl = static_cast<unsigned char>(in.front());
        in.remove_prefix(1);
        const std::string_view data = field(in), type = field(in), id = field(in);
        switch (ctl % 4) {
        case 0: {
            faultline::sse::outgoing_event e;
            e.data = data;
            e.type = type;
            if (ctl & 4) e.id = id;
            if (ctl & 8) e.retry = std::chrono::milliseconds(ctl >> 4);
            const bool safe = faultline::sse::is_safe_event_type(type) &&
                              (!(ctl & 4) || faultline::sse::is_safe_event_id(id));
            const std::size_t before = wire.size();
            if (w.event(e)) {
                if (safe) fuzz_sse::mismatch("a safe event was rejected");
                if (wire.size() != before) fuzz_sse::mismatch("a rejected event wrote bytes");
                break;
            }
            if (!safe) fuzz_sse::mismatch("an unsafe event was written");
            if (ctl & 8) {
                fuzz_sse::record r;
                r.retry = ctl >> 4;
                expected.push_back(r);
            }
            if (ctl & 4) last_id = std::string(id);
            expected.push_back({std::string(type), normalized(data),
                                (ctl & 4) ? std::string(id) : std::string(), last_id,
                                (ctl & 4) != 0, -1});
            break;
        }
        case 1:
            w.data(data);
            expected.push_back({"", normalized(data), "", last_id, false, -1});
            break;
        case 2:
            w.heartbeat(data);
            break;
        default:
            w.error(data);
            expected.push_back({"", normalized(data), "", last_id, false, -1});
            expected.push_back({"", "[DONE]", "", last_id, false, -1});
            break;
        }
    }
    faultline::sse::parser_options o;
    o.max_line = o.max_event = wire.size() + 1;
    faultline::sse::parser<fuzz_sse::recorder> p(o);
    if (p.feed(wire).has_error()) fuzz_sse::mismatch("writer output does not parse");
    if (p.mid_event()) fuzz_sse::mismatch("writer output ends mid-event");
    if (p.handler().seen != expected) fuzz_sse::mismatch("re-parsed events differ");
    return 0;
}

// The parser gives the same events, retries and error however its input is cut.

#include "sse_common.hpp"

#include <faultline/sse/parser.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    if (size < 4) return 0;
    // Small limits so the limit paths are reached too.
    faultline::sse::parser_options o;
    o.max_line = 64 + bytes[0];
    o.max_event = 128 + bytes[1] * 2;
    const std::uint32_t seed = bytes[2] | (std::uint32_t(bytes[3]) << 8) | 1u;
    const std::string_view in(reinterpret_cast<const char*>(bytes) + 4, size - 4);

    faultline::sse::parser<fuzz_sse::recorder> whole(o);
    std::error_code whole_ec;
    const std::size_t used = whole.feed(in, whole_ec);
    if (!whole_ec && used != in.size()) fuzz_sse::mismatch("one piece: not all bytes consumed");

    for (const std::size_t max : {std::size_t(1), std::size_t(7), std::size_t(64)}) {
        faultline::sse::parser<fuzz_sse::recorder> cut(o);
        fuzz_sse::cutter c{seed, max};
        std::error_code ec;
        for (std::size_t i = 0; i < in.size() && !ec;) {
            const std::size_t len = std::min(c.next(), in.size() - i);
            const std::size_t n = cut.feed(in.substr(i, len), ec);
            if (!ec && n != len) fuzz_sse::mismatch("pieces: not all bytes consumed");
            i += len;
        }
        if (ec != whole_ec) fuzz_sse::mismatch("error differs between cuts");
        if (cut.handler().seen != whole.handler().seen) fuzz_sse::mismatch("events differ");
        if (cut.last_event_id() != whole.last_event_id()) fuzz_sse::mismatch("last id differs");
    }
    return 0;
}

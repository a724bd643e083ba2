#ifndef FAULTLINE_FUZZ_SSE_COMMON_HPP
#define FAULTLINE_FUZZ_SSE_COMMON_HPP

// Shared by the SSE fuzz targets: an event recorder and a seeded cutter.

#include <faultline/sse/parser.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace fuzz_sse {

struct record {
    std::string type, data, id, last_id;
    bool has_id = false;
    long long retry = -1; // a retry field instead of an event when >= 0
    bool operator==(const record&) const = default;
};

struct recorder {
    std::vector<record> seen;
    void on_event(const faultline::sse::event& e) {
        seen.push_back({std::string(e.type), std::string(e.data),
                        e.id ? std::string(*e.id) : std::string(), std::string(e.last_event_id),
                        e.id.has_value(), -1});
    }
    void on_retry(std::chrono::milliseconds ms) {
        record r;
        r.retry = ms.count();
        seen.push_back(r);
    }
};

// Piece lengths 1..max from xorshift32.
struct cutter {
    std::uint32_t x;
    std::size_t max;
    std::size_t next() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        return 1 + (x % max);
    }
};

[[noreturn]] inline void mismatch(const char* what) {
    std::fprintf(stderr, "fuzz: %s\n", what);
    std::abort();
}

} // namespace fuzz_sse

#endif

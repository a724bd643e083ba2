#ifndef FAULTLINE_TESTS_SSE_CHUNKING_HPP
#define FAULTLINE_TESTS_SSE_CHUNKING_HPP

// The three ways the SSE tests cut an input before feeding it: whole, byte by byte, and seeded
// random pieces of 1..64 bytes (xorshift32, as faultline-inspect --chunks SEED does).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sse_test {

enum class chunking { all, bytes, random };

inline constexpr chunking all_chunkings[] = {chunking::all, chunking::bytes, chunking::random};

inline const char* to_string(chunking c) {
    switch (c) {
    case chunking::all:
        return "all";
    case chunking::bytes:
        return "bytes";
    default:
        return "random";
    }
}

// Pieces of `in` cut as `c` says; `seed` drives the random mode (0 is taken as 0x9E3779B9).
inline std::vector<std::string_view> cut(std::string_view in, chunking c, std::uint32_t seed = 7) {
    std::vector<std::string_view> out;
    if (c == chunking::all) {
        out.push_back(in);
        return out;
    }
    std::uint32_t x = seed == 0 ? 0x9E3779B9u : seed;
    std::size_t i = 0;
    while (i < in.size()) {
        std::size_t len = 1;
        if (c == chunking::random) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            len = 1 + (x % 64);
        }
        if (len > in.size() - i) len = in.size() - i;
        out.push_back(in.substr(i, len));
        i += len;
    }
    return out;
}

} // namespace sse_test

#endif

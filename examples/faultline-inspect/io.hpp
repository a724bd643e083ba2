#ifndef FAULTLINE_INSPECT_IO_HPP
#define FAULTLINE_INSPECT_IO_HPP

// Input helpers shared by the faultline-inspect subcommands.

#include "common/cli.hpp"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace inspect {

/// Inputs larger than this are refused rather than read without bound.
inline constexpr std::size_t max_input = std::size_t(256) << 20;

/// Reads FILE, or stdin for "-". On failure returns nullopt after writing one line to stderr.
inline std::optional<std::string> read_input(std::string_view path, std::string_view tool) {
    std::FILE* f = path == "-" ? stdin : std::fopen(std::string(path).c_str(), "rb");
    if (!f) {
        std::fprintf(stderr, "faultline-inspect %.*s: cannot open '%.*s'\n",
                     static_cast<int>(tool.size()), tool.data(), static_cast<int>(path.size()),
                     path.data());
        return std::nullopt;
    }
    std::string data;
    char buf[1 << 16];
    std::size_t n = 0;
    bool too_big = false;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        if (data.size() + n > max_input) {
            too_big = true;
            break;
        }
        data.append(buf, n);
    }
    const bool failed = std::ferror(f) != 0;
    if (f != stdin) std::fclose(f);
    if (too_big || failed) {
        std::fprintf(stderr, "faultline-inspect %.*s: %s '%.*s'\n", static_cast<int>(tool.size()),
                     tool.data(), too_big ? "input larger than 256 MiB:" : "cannot read",
                     static_cast<int>(path.size()), path.data());
        return std::nullopt;
    }
    return data;
}

using examples::parse_uint;

} // namespace inspect

#endif

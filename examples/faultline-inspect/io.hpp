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

/// The value after the option at `args[i]`, advancing `i` past it; nullopt when the option is
/// the last argument. Only the sse subcommand reads its arguments by hand still.
[[nodiscard]] inline std::optional<std::string_view> next_value(std::span<char* const> args,
                                                                std::size_t& i) {
    if (i + 1 >= args.size()) return std::nullopt;
    return std::string_view(args[++i]);
}

/// Writes "faultline-inspect <tool>: <message>" and returns the usage-error exit code.
inline int usage_error(std::string_view tool, std::string_view message) {
    return examples::print_usage_error("faultline-inspect " + std::string(tool), message);
}

} // namespace inspect

#endif

// faultline-inspect: look at what faultline makes of real responses, streams and policies.

#include "commands.hpp"

#include <array>
#include <cstdio>
#include <span>
#include <string_view>

namespace inspect {
// One line per subcommand; each lives in its own file.
int run_classify(std::span<char*> args);
int run_sse(std::span<char*> args);
int run_backoff(std::span<char*> args);
} // namespace inspect

namespace {

constexpr std::array<inspect::command, 3> commands{{
    {"classify", "classify an error response (status, headers, body)", inspect::run_classify},
    {"sse", "parse an event stream and give its verdict (events, retries, terminal)",
     inspect::run_sse},
    {"backoff", "sample a backoff policy's delays per retry", inspect::run_backoff},
}};

int usage(std::FILE* out) {
    std::fputs("usage: faultline-inspect <command> [options]\n\ncommands:\n", out);
    for (const auto& c : commands)
        std::fprintf(out, "  %-10.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                     static_cast<int>(c.summary.size()), c.summary.data());
    std::fputs("\nRun 'faultline-inspect <command> --help' for a command's options.\n", out);
    return out == stdout ? 0 : 2;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage(stderr);
    const std::string_view name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") return usage(stdout);
    for (const auto& c : commands)
        if (c.name == name)
            return c.run(std::span<char*>(argv + 2, static_cast<std::size_t>(argc - 2)));
    std::fprintf(stderr, "faultline-inspect: unknown command '%s' (try --help)\n", argv[1]);
    return 2;
}

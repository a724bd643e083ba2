// faultline-inspect: look at what faultline makes of real responses, streams and policies.

#include "commands.hpp"

#include "common/cli.hpp"

#include <array>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

namespace inspect {
// One line per subcommand; each lives in its own file.
int run_classify(std::span<char* const> args);
int run_sse(std::span<char* const> args);
int run_backoff(std::span<char* const> args);
} // namespace inspect

namespace {

constexpr std::array<inspect::command, 3> commands{{
    {"classify", "classify an error response (status, headers, body)", inspect::run_classify},
    {"sse", "parse an event stream and give its verdict (events, retries, terminal)",
     inspect::run_sse},
    {"backoff", "sample a backoff policy's delays per retry", inspect::run_backoff},
}};

std::string description() {
    std::string d =
        "Looks at what faultline makes of real responses, streams and policies.\n\ncommands:";
    for (const auto& c : commands)
        d += "\n  " + std::string(c.name) + std::string(11 - c.name.size(), ' ') +
             std::string(c.summary);
    return d;
}

} // namespace

int main(int argc, char** argv) {
    const std::span<char* const> args(argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0));
    if (!args.empty())
        for (const auto& c : commands)
            if (c.name == args[0]) return c.run(args.subspan(1));
    examples::command_line cl("faultline-inspect", "<command> [options]", description(),
                              "Run 'faultline-inspect <command> --help' for a command's options.");
    std::string command;
    cl.positional("COMMAND", "classify, sse or backoff",
                  [&command](const std::string& v) { command = v; });
    if (const examples::parse_outcome p = cl.parse(args); p.what != examples::parse_ending::run)
        return cl.finish(p);
    if (command.empty()) return cl.fail("a command is required: classify, sse or backoff");
    return cl.fail("unknown command '" + command + "'");
}

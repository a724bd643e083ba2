#ifndef FAULTLINE_INSPECT_COMMANDS_HPP
#define FAULTLINE_INSPECT_COMMANDS_HPP

// The subcommands of faultline-inspect. Each gets the arguments after its own name, reads them
// with examples::command_line and returns the process exit code: 0 success (--help and
// --version included), 2 usage error (after a one-line message on stderr).

#include <span>
#include <string_view>

namespace inspect {

struct command {
    std::string_view name;
    std::string_view summary;
    int (*run)(std::span<char* const> args);
};

} // namespace inspect

#endif

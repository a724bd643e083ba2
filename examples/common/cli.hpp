#ifndef FAULTLINE_EXAMPLES_COMMON_CLI_HPP
#define FAULTLINE_EXAMPLES_COMMON_CLI_HPP

// The command line of every faultline program, on CLI11: one parser, one wording. Not part of
// faultline's API.
//
//     examples::command_line cl("faultline-client", "--url BASE [options]", "Sends ...", "");
//     unsigned attempts = 4;
//     cl.whole("--attempts", "N", "attempts in all (default 4)", 1, 100, attempts);
//     const examples::parse_outcome p = cl.parse(args);
//     if (p.what != examples::parse_ending::run) return cl.finish(p);
//
// Conventions: `--opt value` and `--opt=value`; a repeated option's last value wins; `--help`
// (or `-h`) and `--version` print to stdout and exit 0, whatever else the line holds (but the
// word after an option that takes a value is that value, as CLI11 reads it: `--key --help`
// sets the key to "--help"); a usage error is one line on stderr,
// "<program>: <option>: <problem> (try --help)", and exit status 2.
// Values are checked as they are read: a value parser throws `bad_value("1..100")` and the
// message becomes "--attempts: must be 1..100, not '0'".
//
// A `command_line` is not thread-safe; the free functions are.

#include "common/version.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace examples {

/// A whole decimal number in [0, max], or nullopt.
[[nodiscard]] inline std::optional<std::uint64_t> parse_uint(std::string_view s,
                                                             std::uint64_t max) {
    std::uint64_t v = 0;
    if (s.empty() || s.front() == '+' || s.front() == '-') return std::nullopt;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v > max) return std::nullopt;
    return v;
}

/// A finite decimal number in [min, max] ("0.5", "100"), or nullopt.
[[nodiscard]] inline std::optional<double> parse_double(std::string_view s, double min,
                                                        double max) {
    double v = 0;
    if (s.empty() || s.front() == '+') return std::nullopt;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !(v >= min && v <= max))
        return std::nullopt;
    return v;
}

/// Milliseconds, written as a whole number with an optional unit: "250ms", "3s", "2m", or a
/// bare number of milliseconds. At most `max`.
[[nodiscard]] inline std::optional<std::chrono::milliseconds>
parse_millis(std::string_view s, std::chrono::milliseconds max) {
    std::uint64_t scale = 1;
    if (s.ends_with("ms"))
        s.remove_suffix(2);
    else if (s.ends_with('s'))
        scale = 1000, s.remove_suffix(1);
    else if (s.ends_with('m'))
        scale = 60'000, s.remove_suffix(1);
    const auto limit = static_cast<std::uint64_t>(max.count());
    const auto v = parse_uint(s, limit / scale);
    if (!v) return std::nullopt;
    return std::chrono::milliseconds(static_cast<std::int64_t>(*v * scale));
}

/// Thrown by a value parser given to `command_line::value`: the value is not what the option
/// takes. `must_be` completes "must be ..." ("1..100", "a duration such as 2s").
struct bad_value {
    std::string must_be;
};

/// A whole decimal number in [min, max]; otherwise throws `bad_value` ("1..100"). For value
/// parsers.
[[nodiscard]] std::uint64_t whole_in(std::string_view v, std::uint64_t min, std::uint64_t max);

/// How a parse ended.
enum class parse_ending : unsigned char {
    run,         ///< Options read; the program runs.
    help,        ///< --help: print `help()`, exit 0.
    version,     ///< --version: print `version()`, exit 0.
    usage_error, ///< A bad command line: print `message`, exit 2.
};

/// What kind of usage error.
enum class usage_kind : unsigned char {
    unknown_option, ///< An option the program does not have, or an unexpected argument.
    missing_value,  ///< An option that needs a value came last (or before another option).
    invalid_value,  ///< A value the option's parser refused.
    other,          ///< A rule across options (checked by the program after parsing).
};

/// The result of `command_line::parse`.
struct parse_outcome {
    parse_ending what = parse_ending::run;
    usage_kind kind = usage_kind::other; ///< For `usage_error`.
    std::string option;                  ///< The option at fault ("--attempts"), when one is.
    std::string message;                 ///< "--attempts: must be 1..100, not '0'".
};

/// One program's (or subcommand's) options and their parser.
class command_line {
public:
    /// `program` names the program in messages ("faultline-inspect sse"); `usage` is what
    /// follows it on the usage line; `description` and `footer` frame the options in --help.
    command_line(std::string program, std::string usage, std::string description,
                 std::string footer);

    /// Options added after this are listed under "<name>:" in --help (default "options:").
    void group(const std::string& name);

    /// A flag (no value); sets `target` to true when given.
    void flag(const std::string& name, const std::string& help, bool& target);

    /// An option with a value, handed to `set` as written; `set` throws `bad_value` to refuse
    /// it. `type` names the value in --help ("N", "T", "FILE").
    void value(const std::string& name, const std::string& type, const std::string& help,
               std::function<void(const std::string&)> set);

    /// A repeatable option with a value; `add` is called once per occurrence, in order.
    void repeated(const std::string& name, const std::string& type, const std::string& help,
                  std::function<void(const std::string&)> add);

    /// A text value, taken as written (empty included).
    void text(const std::string& name, const std::string& type, const std::string& help,
              std::string& target);
    void text(const std::string& name, const std::string& type, const std::string& help,
              std::optional<std::string>& target);

    /// A whole number in [min, max].
    template <class Int>
    void whole(const std::string& name, const std::string& type, const std::string& help,
               std::uint64_t min, std::uint64_t max, Int& target);
    template <class Int>
    void whole(const std::string& name, const std::string& type, const std::string& help,
               std::uint64_t min, std::uint64_t max, std::optional<Int>& target);

    /// A duration ("250ms", "2s", "1m" or milliseconds) in [min, max]; `must_be` describes
    /// the accepted range in the error message.
    void duration(const std::string& name, const std::string& type, const std::string& help,
                  std::chrono::milliseconds min, std::chrono::milliseconds max,
                  const std::string& must_be, std::function<void(std::chrono::milliseconds)> set);

    /// The positional argument (at most one): `set` gets it as written.
    void positional(const std::string& name, const std::string& help,
                    std::function<void(const std::string&)> set);

    /// Reads `args` (the words after the program name). Never throws a CLI11 error.
    [[nodiscard]] parse_outcome parse(std::span<char* const> args);

    /// Prints what `p` asks for (help or version on stdout, a usage error on stderr) and
    /// returns the exit status: 0 or 2.
    [[nodiscard]] int finish(const parse_outcome& p) const;

    /// Prints "<program>: <message> (try --help)" on stderr and returns 2.
    [[nodiscard]] int fail(std::string_view message) const;

    /// The --help text.
    [[nodiscard]] std::string help() const;
    /// "<program> <version>", e.g. "faultline-client 0.1.0".
    [[nodiscard]] std::string version() const;
    /// The program's name as in messages.
    [[nodiscard]] const std::string& program() const noexcept { return program_; }

private:
    std::string program_;
    std::string usage_;
    CLI::App app_;
    CLI::Option* version_ = nullptr;
};

/// The usage error "<program>: <message> (try --help)" on stderr; returns 2. Thread-safe.
int print_usage_error(std::string_view program, std::string_view message);

} // namespace examples

#include "common/impl/cli.hpp"

#endif

// examples/common/cli.hpp: the one command-line parser of faultline's programs.
#include "common/cli.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

// A small program with one option of each kind, parsed from words.
struct program {
    examples::command_line cl{"faultline-test", "[options] [FILE]", "Tests the parser.",
                              "exit status: 0 or 2."};
    unsigned attempts = 4;
    std::optional<std::uint64_t> port;
    std::string key = "default";
    bool stream = false;
    std::chrono::milliseconds timeout{30'000};
    std::vector<std::string> headers;
    std::string file;

    program() {
        cl.whole("--attempts", "N", "attempts in all", 1, 100, attempts);
        cl.whole("--port", "N", "port", 0, 65535, port);
        cl.text("--key", "KEY", "API key", key);
        cl.flag("--stream", "ask for a stream", stream);
        cl.group("timing");
        cl.duration("--timeout", "T", "longest silence\nsecond line", 1ms, 3'600'000ms,
                    "a positive duration of at most 1 h",
                    [this](std::chrono::milliseconds t) { timeout = t; });
        cl.repeated("--header", "'N: V'", "a header", [this](const std::string& v) {
            if (v.find(':') == std::string::npos) throw examples::bad_value{"'Name: value'"};
            headers.push_back(v);
        });
        cl.positional("FILE", "input", [this](const std::string& v) { file = v; });
    }

    examples::parse_outcome parse(std::vector<std::string> words) {
        std::vector<char*> argv;
        for (auto& w : words)
            argv.push_back(w.data());
        return cl.parse(argv);
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(examples_command_line)

BOOST_AUTO_TEST_CASE(opt_space_value_and_opt_equals_value_read_the_same) {
    for (const auto& words : std::vector<std::vector<std::string>>{
             {"--attempts", "7", "--port", "0", "--key", "k", "--timeout", "2s", "--stream", "f"},
             {"--attempts=7", "--port=0", "--key=k", "--timeout=2s", "--stream", "f"},
             {"f", "--timeout=2000", "--key", "k", "--port=0", "--attempts", "7", "--stream"}}) {
        program p;
        const examples::parse_outcome o = p.parse(words);
        BOOST_TEST((o.what == examples::parse_ending::run), o.message);
        BOOST_TEST(p.attempts == 7u);
        BOOST_TEST(p.port.value() == 0u);
        BOOST_TEST(p.key == "k");
        BOOST_TEST((p.timeout == 2s));
        BOOST_TEST(p.stream);
        BOOST_TEST(p.file == "f");
    }
}

BOOST_AUTO_TEST_CASE(empty_values_and_repeats) {
    program p;
    const auto o = p.parse(
        {"--key=", "--attempts", "2", "--attempts=3", "--header", "a: 1", "--header=b: 2", "-"});
    BOOST_TEST((o.what == examples::parse_ending::run), o.message);
    BOOST_TEST(p.key == "");      // "--key=" is the empty value, not "take the next word"
    BOOST_TEST(p.attempts == 3u); // the last value wins
    BOOST_TEST(p.headers == (std::vector<std::string>{"a: 1", "b: 2"}),
               boost::test_tools::per_element());
    BOOST_TEST(p.file == "-"); // stdin, not an option

    program q;
    BOOST_TEST((q.parse({"--key", "", "--stream"}).what == examples::parse_ending::run));
    BOOST_TEST(q.key == "");
    BOOST_TEST(q.stream);
}

BOOST_AUTO_TEST_CASE(every_usage_error_in_one_wording) {
    using K = examples::usage_kind;
    struct row {
        std::vector<std::string> words;
        K kind;
        std::string option;
        std::string message;
    };
    const row rows[] = {
        {{"--attempts", "0"},
         K::invalid_value,
         "--attempts",
         "--attempts: must be 1..100, not '0'"},
        {{"--attempts=101"},
         K::invalid_value,
         "--attempts",
         "--attempts: must be 1..100, not '101'"},
        {{"--attempts", "-1"},
         K::invalid_value,
         "--attempts",
         "--attempts: must be 1..100, not '-1'"},
        {{"--attempts", "+5"},
         K::invalid_value,
         "--attempts",
         "--attempts: must be 1..100, not '+5'"},
        {{"--attempts", ""}, K::invalid_value, "--attempts", "--attempts: must be 1..100, not ''"},
        {{"--attempts", "1e2"},
         K::invalid_value,
         "--attempts",
         "--attempts: must be 1..100, not '1e2'"},
        {{"--port", "99999999999999999999999"},
         K::invalid_value,
         "--port",
         "--port: must be 0..65535, not '99999999999999999999999'"},
        {{"--timeout", "0"},
         K::invalid_value,
         "--timeout",
         "--timeout: must be a positive duration of at most 1 h, not '0'"},
        {{"--timeout", "61m"},
         K::invalid_value,
         "--timeout",
         "--timeout: must be a positive duration of at most 1 h, not '61m'"},
        {{"--timeout", "1.5s"},
         K::invalid_value,
         "--timeout",
         "--timeout: must be a positive duration of at most 1 h, not '1.5s'"},
        {{"--header", "nocolon"},
         K::invalid_value,
         "--header",
         "--header: must be 'Name: value', not 'nocolon'"},
        {{"--stream=maybe"}, K::invalid_value, "--stream", "--stream: takes no value, not 'maybe'"},
        {{"--attempts"}, K::missing_value, "--attempts", "--attempts: needs a value"},
        // CLI11 takes the next word as the value, whatever it looks like; the message shows it.
        {{"--attempts", "--stream"},
         K::invalid_value,
         "--attempts",
         "--attempts: must be 1..100, not '--stream'"},
        {{"--frobnicate"}, K::unknown_option, "--frobnicate", "unknown option '--frobnicate'"},
        {{"--frobnicate=1"}, K::unknown_option, "--frobnicate", "unknown option '--frobnicate=1'"},
        {{"-x"}, K::unknown_option, "-x", "unknown option '-x'"},
        {{"a", "b"}, K::unknown_option, "", "unexpected argument 'b'"},
    };
    for (const row& r : rows) {
        std::string context;
        for (const auto& w : r.words)
            context += w + ' ';
        BOOST_TEST_CONTEXT(context) {
            program p;
            const examples::parse_outcome o = p.parse(r.words);
            BOOST_TEST((o.what == examples::parse_ending::usage_error));
            BOOST_TEST((o.kind == r.kind));
            BOOST_TEST(o.option == r.option);
            BOOST_TEST(o.message == r.message);
        }
    }
}

BOOST_AUTO_TEST_CASE(help_and_version_win_over_bad_values) {
    using E = examples::parse_ending;
    struct row {
        std::vector<std::string> words;
        E what;
    };
    const row rows[] = {
        {{"--help"}, E::help},
        {{"-h"}, E::help},
        {{"--attempts", "0", "--help"}, E::help},
        {{"--frobnicate", "--help"}, E::help},
        {{"--version"}, E::version},
        {{"--attempts", "0", "--version"}, E::version},
        {{"--version", "--help"}, E::version},
        {{}, E::run},
    };
    for (const row& r : rows) {
        program p;
        BOOST_TEST((p.parse(r.words).what == r.what));
    }
}

BOOST_AUTO_TEST_CASE(version_is_the_project_version) {
    program p;
    BOOST_TEST(p.cl.version() == "faultline-test " FAULTLINE_VERSION);
    examples::command_line sub("faultline-inspect sse", "", "", "");
    BOOST_TEST(sub.version() == "faultline-inspect " FAULTLINE_VERSION);
    BOOST_TEST(std::string(FAULTLINE_VERSION).find('.') != std::string::npos);
}

BOOST_AUTO_TEST_CASE(help_lists_options_in_order_with_groups) {
    program p;
    BOOST_TEST(p.cl.help() == "usage: faultline-test [options] [FILE]\n"
                              "\n"
                              "Tests the parser.\n"
                              "\n"
                              "options:\n"
                              "  --attempts N     attempts in all\n"
                              "  --port N         port\n"
                              "  --key KEY        API key\n"
                              "  --stream         ask for a stream\n"
                              "\n"
                              "timing:\n"
                              "  --timeout T      longest silence\n"
                              "                   second line\n"
                              "  --header 'N: V'  a header\n"
                              "  --version        the program's name and version\n"
                              "  -h,--help        this text\n"
                              "\n"
                              "exit status: 0 or 2.\n");
}

BOOST_AUTO_TEST_CASE(whole_in_and_parse_millis) {
    BOOST_TEST(examples::whole_in("42", 1, 100) == 42u);
    BOOST_CHECK_THROW((void)examples::whole_in("0", 1, 100), examples::bad_value);
    BOOST_CHECK_THROW((void)examples::whole_in("x", 0, ~std::uint64_t(0)), examples::bad_value);
    BOOST_TEST((examples::parse_millis("250ms", 1h) == 250ms));
    BOOST_TEST((examples::parse_millis("2s", 1h) == 2000ms));
    BOOST_TEST((examples::parse_millis("1m", 1h) == 60'000ms));
    BOOST_TEST((examples::parse_millis("61m", 1h) == std::nullopt));
    BOOST_TEST((examples::parse_millis("ms", 1h) == std::nullopt));
}

BOOST_AUTO_TEST_SUITE_END()

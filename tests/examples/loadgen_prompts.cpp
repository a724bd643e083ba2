// faultline-loadgen's prompts: the JSONL reader (every good and bad line, its caps, files in a
// temporary directory), generated prompts, the request bodies of a run, the command line, the
// report, and runs whose requests are checked on a loopback server.
#include "loadgen/prompts.hpp"

#include "canned_server.hpp"
#include "loadgen/loadgen.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

namespace lg = examples::loadgen;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

using loadgen_test::parse;

// A directory of its own under the system's temporary directory, removed with its files.
class temp_dir {
public:
    temp_dir() {
        std::string pattern = (fs::temp_directory_path() / "faultline-prompts-XXXXXX").string();
        if (!::mkdtemp(pattern.data()))
            throw std::system_error(errno, std::generic_category(), "mkdtemp");
        dir_ = pattern;
    }
    ~temp_dir() {
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    // Writes `text` to the file `name` in the directory; returns its path.
    [[nodiscard]] std::string write(const std::string& name, std::string_view text) const {
        const std::string path = (dir_ / name).string();
        std::ofstream out(path, std::ios::binary);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        out.close();
        if (!out) throw std::runtime_error("cannot write " + path);
        return path;
    }
    [[nodiscard]] const fs::path& path() const noexcept { return dir_; }

private:
    fs::path dir_;
};

const lg::prompt_list& list_of(const std::variant<lg::prompt_list, lg::prompts_problem>& r) {
    if (const auto* p = std::get_if<lg::prompts_problem>(&r)) BOOST_FAIL("refused: " << p->message);
    return std::get<lg::prompt_list>(r);
}

const lg::prompts_problem& problem_of(const std::variant<lg::prompt_list, lg::prompts_problem>& r) {
    BOOST_TEST_REQUIRE(std::holds_alternative<lg::prompts_problem>(r));
    return std::get<lg::prompts_problem>(r);
}


// The text of each message of a request body, "role: content" joined by " | ".
std::string conversation(std::string_view body) {
    const json::value v = json::parse(body);
    std::string out;
    for (const auto& m : v.at("messages").as_array()) {
        if (!out.empty()) out += " | ";
        out +=
            std::string(m.at("role").as_string()) + ": " + std::string(m.at("content").as_string());
    }
    return out;
}

std::vector<std::string> words_of(std::string_view text) {
    std::vector<std::string> out;
    std::istringstream in{std::string(text)};
    for (std::string w; in >> w;)
        out.push_back(w);
    return out;
}

constexpr std::string_view three_prompts =
    "{\"prompt\": \"first\"}\n"
    "\n"
    "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, "
    "{\"role\": \"user\", \"content\": \"second\"}], \"max_tokens\": 7}\n"
    "   \t\r\n"
    "{\"prompt\": \"third\", \"id\": 3, \"max_tokens\": 1000000}\n";

} // namespace

BOOST_AUTO_TEST_SUITE(loadgen_prompts)

// ---------------------------------------------------------------------------------------------
// the reader

BOOST_AUTO_TEST_CASE(good_lines_in_file_order) {
    const auto r = lg::parse_prompts(three_prompts, "p.jsonl");
    const lg::prompt_list& list = list_of(r);
    BOOST_TEST(list.source == "p.jsonl");
    BOOST_TEST_REQUIRE(list.prompts.size() == 3u);
    BOOST_TEST_REQUIRE(list.prompts[0].messages.size() == 1u);
    BOOST_TEST(list.prompts[0].messages[0].role == "user");
    BOOST_TEST(list.prompts[0].messages[0].content == "first");
    BOOST_TEST(!list.prompts[0].max_tokens.has_value());
    BOOST_TEST_REQUIRE(list.prompts[1].messages.size() == 2u);
    BOOST_TEST(list.prompts[1].messages[0].role == "system");
    BOOST_TEST(list.prompts[1].messages[0].content == "be brief");
    BOOST_TEST(list.prompts[1].messages[1].content == "second");
    BOOST_TEST((list.prompts[1].max_tokens == std::optional<unsigned>(7)));
    BOOST_TEST((list.prompts[2].max_tokens == std::optional<unsigned>(1'000'000)));
}

BOOST_AUTO_TEST_CASE(line_ends_bom_and_a_last_line_without_newline) {
    const auto r = lg::parse_prompts("\xEF\xBB\xBF{\"prompt\":\"a\"}\r\n{\"prompt\":\"b\\nc\"}\r\n"
                                     "{\"prompt\":\"\\u00e9\",\"extra\":{\"x\":[1]}}",
                                     "f");
    const lg::prompt_list& list = list_of(r);
    BOOST_TEST_REQUIRE(list.prompts.size() == 3u);
    BOOST_TEST(list.prompts[0].messages[0].content == "a");
    BOOST_TEST(list.prompts[1].messages[0].content == "b\nc");
    BOOST_TEST(list.prompts[2].messages[0].content == "\xC3\xA9");
}

BOOST_AUTO_TEST_CASE(every_bad_line_is_refused_with_its_line_number) {
    using E = lg::prompts_error;
    struct row {
        std::string_view line;
        E error;
        std::string_view says;
    };
    const row rows[] = {
        {"not json", E::not_json, "not JSON ("},
        {"{\"prompt\": \"x\"", E::not_json, "not JSON ("},
        {"{\"prompt\": \"x\"} trailing", E::not_json, "not JSON ("},
        {"{\"prompt\": \"\xFF\"}", E::not_json, "not JSON ("},
        {"[\"prompt\"]", E::not_object, "not a JSON object"},
        {"\"prompt\"", E::not_object, "not a JSON object"},
        {"42", E::not_object, "not a JSON object"},
        {"{}", E::no_prompt, "no \"prompt\" or \"messages\""},
        {"{\"text\": \"x\"}", E::no_prompt, "no \"prompt\" or \"messages\""},
        {"{\"prompt\": \"x\", \"messages\": []}", E::no_prompt, "both \"prompt\" and \"messages\""},
        {"{\"prompt\": 5}", E::bad_prompt, "\"prompt\" is not a string"},
        {"{\"prompt\": null}", E::bad_prompt, "\"prompt\" is not a string"},
        {"{\"messages\": \"hi\"}", E::bad_messages, "\"messages\" is not an array"},
        {"{\"messages\": []}", E::bad_messages, "\"messages\" is empty"},
        {"{\"messages\": [\"hi\"]}", E::bad_message, "message 1 is not an object"},
        {"{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"content\": \"b\"}]}",
         E::bad_message, "message 2 has no string \"role\""},
        {"{\"messages\": [{\"role\": 1, \"content\": \"b\"}]}", E::bad_message,
         "message 1 has no string \"role\""},
        {"{\"messages\": [{\"role\": \"user\"}]}", E::bad_message,
         "message 1 has no string \"content\""},
        {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]}",
         E::bad_message, "message 1 has no string \"content\""},
        {"{\"prompt\": \"x\", \"max_tokens\": 0}", E::bad_max_tokens,
         "\"max_tokens\" must be a whole number 1..1000000, not 0"},
        {"{\"prompt\": \"x\", \"max_tokens\": -3}", E::bad_max_tokens, "not -3"},
        {"{\"prompt\": \"x\", \"max_tokens\": 1000001}", E::bad_max_tokens, "not 1000001"},
        {"{\"prompt\": \"x\", \"max_tokens\": 5.0}", E::bad_max_tokens, "whole number"},
        {"{\"prompt\": \"x\", \"max_tokens\": \"5\"}", E::bad_max_tokens, "not \"5\""},
        {"{\"prompt\": \"x\", \"max_tokens\": 18446744073709551615}", E::bad_max_tokens,
         "whole number"},
    };
    for (const row& r : rows) {
        BOOST_TEST_CONTEXT(r.line) {
            // Two good lines and a blank one first: the bad line is line 4.
            const std::string text =
                "{\"prompt\":\"a\"}\n\n{\"prompt\":\"b\"}\n" + std::string(r.line) + "\n{}\n";
            const auto result = lg::parse_prompts(text, "bad.jsonl");
            const lg::prompts_problem& p = problem_of(result);
            BOOST_TEST((p.code == r.error));
            BOOST_TEST(p.line == 4u);
            BOOST_TEST(p.message.starts_with("bad.jsonl:4: "), p.message);
            BOOST_TEST(p.message.find(r.says) != std::string::npos, p.message);
            BOOST_TEST(p.message.find('\n') == std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(empty_files_are_refused) {
    for (const std::string_view text : {std::string_view(""), std::string_view("\n\n  \n\r\n")}) {
        const auto r = lg::parse_prompts(text, "e.jsonl");
        const lg::prompts_problem& p = problem_of(r);
        BOOST_TEST((p.code == lg::prompts_error::no_prompts));
        BOOST_TEST(p.line == 0u);
        BOOST_TEST(p.message.starts_with("e.jsonl: no prompts"));
    }
}

BOOST_AUTO_TEST_CASE(caps_on_lines_prompts_and_bytes) {
    lg::prompt_limits small;
    small.max_line = 20;
    small.max_prompts = 3;
    small.max_file = 100;
    // {"prompt":"123456"} is 19 bytes, {"prompt":"1234567"} 20, {"prompt":"12345678"} 21.
    BOOST_TEST(
        list_of(lg::parse_prompts("{\"prompt\":\"1234567\"}\r\n", "f", small)).prompts.size() ==
        1u);
    const auto long_line =
        lg::parse_prompts("{\"prompt\":\"1\"}\n{\"prompt\":\"12345678\"}\n", "f", small);
    BOOST_TEST((problem_of(long_line).code == lg::prompts_error::line_too_long));
    BOOST_TEST(problem_of(long_line).line == 2u);
    BOOST_TEST(problem_of(long_line).message == "f:2: line over 20 bytes");

    const auto many = lg::parse_prompts(
        "{\"prompt\":\"1\"}\n{\"prompt\":\"2\"}\n\n{\"prompt\":\"3\"}\n{\"prompt\":\"4\"}\n", "f",
        small);
    BOOST_TEST((problem_of(many).code == lg::prompts_error::too_many));
    BOOST_TEST(problem_of(many).message == "f:5: more than 3 prompts");
    // Three prompts and blank lines after them are fine.
    BOOST_TEST(list_of(lg::parse_prompts("{\"prompt\":\"1\"}\n{\"prompt\":\"2\"}\n"
                                         "{\"prompt\":\"3\"}\n\n\n",
                                         "f", small))
                   .prompts.size() == 3u);

    const std::string big(101, '\n');
    const auto large = lg::parse_prompts(big, "f", small);
    BOOST_TEST((problem_of(large).code == lg::prompts_error::file_too_large));
    BOOST_TEST(problem_of(large).message == "f: over 100 bytes");
    BOOST_TEST(problem_of(large).line == 0u);

    // The same caps when reading a file, whose blocks cut lines anywhere.
    temp_dir dir;
    BOOST_TEST((problem_of(lg::read_prompts(dir.write("large", big), small)).code ==
                lg::prompts_error::file_too_large));
    lg::prompt_limits short_lines;
    short_lines.max_line = 20;
    const auto file_line = lg::read_prompts(
        dir.write("long", "{\"prompt\":\"1\"}\n" + std::string(70'000, ' ') + "\n"), short_lines);
    BOOST_TEST((problem_of(file_line).code == lg::prompts_error::line_too_long));
    BOOST_TEST(problem_of(file_line).line == 2u);
    // An overlong last line without a newline.
    const auto last_line = lg::read_prompts(dir.write("last", std::string(21, 'x')), small);
    BOOST_TEST((problem_of(last_line).code == lg::prompts_error::line_too_long));
    BOOST_TEST(problem_of(last_line).line == 1u);
}

BOOST_AUTO_TEST_CASE(files_that_cannot_be_read) {
    temp_dir dir;
    const std::string missing = (dir.path() / "missing.jsonl").string();
    const auto none = lg::read_prompts(missing);
    BOOST_TEST((problem_of(none).code == lg::prompts_error::unreadable));
    BOOST_TEST(problem_of(none).message == missing + ": cannot read: " + std::strerror(ENOENT));
    const auto directory = lg::read_prompts(dir.path().string());
    BOOST_TEST((problem_of(directory).code == lg::prompts_error::unreadable));
    BOOST_TEST(problem_of(directory).message.starts_with(dir.path().string() + ": cannot read: "));
    const auto empty = lg::read_prompts(dir.write("empty.jsonl", ""));
    BOOST_TEST((problem_of(empty).code == lg::prompts_error::no_prompts));
    BOOST_TEST(problem_of(empty).message.ends_with("empty.jsonl: no prompts (the file is empty)"));
}

// A file of many blocks (a 64 KiB read cuts lines anywhere) reads as parsing it whole does, and
// the default caps hold at their edges: a line of exactly 1 MiB passes, one byte more does not.
BOOST_AUTO_TEST_CASE(big_files_read_as_parsed) {
    temp_dir dir;
    std::string text;
    constexpr std::size_t n = 100'000;
    for (std::size_t i = 0; i < n; ++i) {
        text += i % 2 ? "{\"prompt\":\"prompt " + std::to_string(i) + "\"}\n"
                      : "{\"messages\":[{\"role\":\"user\",\"content\":\"m " + std::to_string(i) +
                            "\"}],\"max_tokens\":" + std::to_string(i % 1000 + 1) + "}\r\n";
        if (i % 7 == 0) text += "\n";
    }
    const auto read = lg::read_prompts(dir.write("big.jsonl", text));
    const lg::prompt_list& list = list_of(read);
    BOOST_TEST_REQUIRE(list.prompts.size() == n);
    for (std::size_t i = 0; i < n; i += 9973) {
        BOOST_TEST(list.prompts[i].messages[0].content ==
                   (i % 2 ? "prompt " : "m ") + std::to_string(i));
        if (i % 2 == 0)
            BOOST_TEST((list.prompts[i].max_tokens == std::optional<unsigned>(i % 1000 + 1)));
    }
    const auto whole = lg::parse_prompts(text, "big");
    const lg::prompt_list& parsed = list_of(whole);
    BOOST_TEST(parsed.prompts.size() == n);
    BOOST_TEST(parsed.prompts.back().messages[0].content ==
               list.prompts.back().messages[0].content);

    // {"prompt":"xxx...x"} of exactly 1 MiB, then of 1 MiB + 1.
    const std::string head = "{\"prompt\":\"", tail = "\"}";
    const std::size_t fill = (std::size_t(1) << 20) - head.size() - tail.size();
    const std::string exact = head + std::string(fill, 'x') + tail;
    const std::string over = head + std::string(fill + 1, 'x') + tail;
    BOOST_TEST(list_of(lg::read_prompts(dir.write("exact", exact + "\r\n"))).prompts.size() == 1u);
    const auto too_long = lg::read_prompts(dir.write("over", "{\"prompt\":\"a\"}\n" + over));
    BOOST_TEST((problem_of(too_long).code == lg::prompts_error::line_too_long));
    BOOST_TEST(problem_of(too_long).message.ends_with("over:2: line over 1 MiB"));
}

BOOST_AUTO_TEST_CASE(default_caps) {
    const lg::prompt_limits d;
    BOOST_TEST(d.max_line == 1u << 20);
    BOOST_TEST(d.max_prompts == 1'000'000u);
    BOOST_TEST(d.max_file == std::uint64_t(256) << 20);
    // A million and one prompts: the count cap at its default.
    std::string text;
    text.reserve(1'000'001 * 13);
    for (int i = 0; i < 1'000'001; ++i)
        text += "{\"prompt\":\"\"}\n";
    const auto r = lg::parse_prompts(text, "million");
    BOOST_TEST((problem_of(r).code == lg::prompts_error::too_many));
    BOOST_TEST(problem_of(r).message == "million:1000001: more than 1000000 prompts");
}

BOOST_AUTO_TEST_CASE(error_codes_name_their_category) {
    const std::error_code ec = lg::prompts_error::line_too_long;
    BOOST_TEST(ec.category().name() == std::string("examples.prompts"));
    for (int e = static_cast<int>(lg::prompts_error::unreadable);
         e <= static_cast<int>(lg::prompts_error::bad_max_tokens); ++e) {
        const std::string m = lg::make_error_code(static_cast<lg::prompts_error>(e)).message();
        BOOST_TEST(!m.empty());
        BOOST_TEST(m.find("unknown") == std::string::npos, m);
    }
}

// ---------------------------------------------------------------------------------------------
// bodies

BOOST_AUTO_TEST_CASE(generated_prompts_are_deterministic_with_a_tag_per_request) {
    const std::string a0 = lg::generated_prompt(50, 7, 0);
    BOOST_TEST(a0 == lg::generated_prompt(50, 7, 0));
    const std::vector<std::string> w = words_of(a0);
    BOOST_TEST_REQUIRE(w.size() == 51u); // the tag and 50 words
    BOOST_TEST(w[0].size() == 16u);
    BOOST_TEST(w[0].find_first_not_of("0123456789abcdef") == std::string::npos);
    std::set<std::string> distinct(w.begin() + 1, w.end());
    BOOST_TEST(distinct.size() > 20u); // varied words, not one repeated
    for (std::size_t i = 1; i < w.size(); ++i)
        BOOST_TEST((w[i].size() >= 2 && w[i].size() <= 7));

    // Another request: another tag, the same words. Another seed: other words.
    const std::vector<std::string> a1 = words_of(lg::generated_prompt(50, 7, 1));
    BOOST_TEST(a1[0] != w[0]);
    BOOST_TEST(std::vector(a1.begin() + 1, a1.end()) == std::vector(w.begin() + 1, w.end()));
    const std::vector<std::string> b0 = words_of(lg::generated_prompt(50, 8, 0));
    BOOST_TEST(std::vector(b0.begin() + 1, b0.end()) != std::vector(w.begin() + 1, w.end()));
    std::set<std::string> tags;
    for (std::uint64_t k = 0; k < 1000; ++k)
        tags.insert(words_of(lg::generated_prompt(1, 7, k))[0]);
    BOOST_TEST(tags.size() == 1000u);
    BOOST_TEST(words_of(lg::generated_prompt(1, 7, 0)).size() == 2u);
    BOOST_TEST(words_of(lg::generated_prompt(lg::max_prompt_tokens, 7, 0)).size() ==
               lg::max_prompt_tokens + 1);
}

BOOST_AUTO_TEST_CASE(request_bodies_of_each_source) {
    lg::options o;
    o.model = "m\"odel";
    o.max_tokens = 9;
    o.stream = true;
    const lg::request_bodies fixed = lg::bodies_of(o);
    BOOST_TEST(!fixed.varies());
    BOOST_TEST(fixed.body(5) == lg::request_body(o));

    o.prompts = std::make_shared<const lg::prompt_list>(
        list_of(lg::parse_prompts(three_prompts, "three.jsonl")));
    const lg::request_bodies listed = lg::bodies_of(o);
    BOOST_TEST(listed.varies());
    const std::vector<std::string> expected = {"user: first", "system: be brief | user: second",
                                               "user: third"};
    for (std::uint64_t k = 0; k < 7; ++k) {
        BOOST_TEST_CONTEXT("request " << k) {
            const std::string body = listed.body(k);
            BOOST_TEST(body == lg::request_body(o, k));
            BOOST_TEST(conversation(body) == expected[k % 3]);
            const json::value v = json::parse(body);
            BOOST_TEST(v.at("model").as_string() == "m\"odel");
            BOOST_TEST(v.at("stream").as_bool());
            BOOST_TEST(v.at("max_tokens").to_number<unsigned>() == (k % 3 == 1   ? 7u
                                                                    : k % 3 == 2 ? 1'000'000u
                                                                                 : 9u));
        }
    }

    o.prompts.reset();
    o.input_tokens = 20;
    o.seed = 3;
    const lg::request_bodies generated = lg::bodies_of(o);
    BOOST_TEST(generated.varies());
    std::string reused;
    for (std::uint64_t k : {0ull, 1ull, 2ull, 1000ull, ~0ull}) {
        generated.body_of(k, reused);
        BOOST_TEST(reused == lg::request_body(o, k));
        const json::value v = json::parse(reused);
        BOOST_TEST(v.at("messages").at(0).at("content").as_string() ==
                   lg::generated_prompt(20, 3, k));
    }
}

// ---------------------------------------------------------------------------------------------
// options, command line, report

BOOST_AUTO_TEST_CASE(command_line_prompts_and_input_tokens) {
    temp_dir dir;
    const std::string file = dir.write("p.jsonl", three_prompts);
    const auto r = parse({"--url", "http://h", "--requests", "3", "--prompts", file});
    const auto& o = std::get<lg::command_line>(r).run;
    BOOST_TEST_REQUIRE(o.prompts != nullptr);
    BOOST_TEST(o.prompts->prompts.size() == 3u);
    BOOST_TEST(o.prompts->source == file);
    BOOST_TEST(lg::validate(o).empty());
    BOOST_TEST(lg::settings_of(o).prompts == "file:" + file + ", 3 prompts");

    const auto g = parse({"--url", "http://h", "--requests", "3", "--input-tokens", "512"});
    const auto& go = std::get<lg::command_line>(g).run;
    BOOST_TEST((go.input_tokens == std::optional<unsigned>(512)));
    BOOST_TEST(lg::settings_of(go).prompts == "generated, ~512 tokens");
    BOOST_TEST(lg::settings_of(
                   std::get<lg::command_line>(parse({"--url", "http://h", "--requests", "3"})).run)
                   .prompts == "fixed");

    using P = lg::usage_problem;
    const std::string bad = dir.write("bad.jsonl", "{\"prompt\":\"a\"}\n{\"messages\":[]}\n");
    const auto e = parse({"--url", "http://h", "--requests", "3", "--prompts", bad});
    BOOST_TEST((std::get<lg::usage_error>(e).problem == P::invalid_prompts));
    BOOST_TEST(std::get<lg::usage_error>(e).message ==
               "--prompts: " + bad + ":2: \"messages\" is empty");
    const auto missing = parse(
        {"--url", "http://h", "--requests", "3", "--prompts", (dir.path() / "none").string()});
    BOOST_TEST((std::get<lg::usage_error>(missing).problem == P::invalid_prompts));

    struct row {
        std::vector<std::string_view> args;
        P problem;
        std::string_view message;
    };
    const std::vector<row> rows = {
        {{"--prompts", file, "--prompt", "x"},
         P::inconsistent_options,
         "--prompts: cannot go with --prompt"},
        {{"--prompt", "x", "--prompts", file},
         P::inconsistent_options,
         "--prompts: cannot go with --prompt"},
        {{"--prompts", file, "--input-tokens", "5"},
         P::inconsistent_options,
         "--prompts: cannot go with --input-tokens"},
        {{"--input-tokens", "5", "--prompt", "x"},
         P::inconsistent_options,
         "--input-tokens: cannot go with --prompt"},
        {{"--input-tokens", "0"}, P::invalid_value, "--input-tokens: must be 1..1000000, not '0'"},
        {{"--input-tokens", "1000001"},
         P::invalid_value,
         "--input-tokens: must be 1..1000000, not '1000001'"},
        {{"--input-tokens", "x"}, P::invalid_value, "--input-tokens: must be 1..1000000, not 'x'"},
        {{"--prompts", ""}, P::invalid_value, "--prompts: must be a file name, not ''"},
        {{"--prompts"}, P::missing_value, "--prompts: needs a value"},
    };
    for (const row& x : rows) {
        std::vector<std::string_view> args = {"--url", "http://h", "--requests", "3"};
        args.insert(args.end(), x.args.begin(), x.args.end());
        BOOST_TEST_CONTEXT(x.message) {
            const auto out = parse(args);
            BOOST_TEST_REQUIRE(std::holds_alternative<lg::usage_error>(out));
            BOOST_TEST((std::get<lg::usage_error>(out).problem == x.problem));
            BOOST_TEST(std::get<lg::usage_error>(out).message == x.message);
        }
    }
}

BOOST_AUTO_TEST_CASE(validate_refuses_prompt_options_that_cannot_run) {
    lg::options o;
    o.url = examples::parse_base_url("http://127.0.0.1:1").value();
    o.requests = 1;
    o.input_tokens = 5;
    BOOST_TEST(lg::validate(o).empty());
    o.input_tokens = 0;
    BOOST_TEST(lg::validate(o) == "input tokens must be 1..1000000");
    o.input_tokens = lg::max_prompt_tokens + 1;
    BOOST_TEST(lg::validate(o) == "input tokens must be 1..1000000");
    o.input_tokens = 5;
    auto list = std::make_shared<lg::prompt_list>();
    o.prompts = list;
    BOOST_TEST(lg::validate(o) == "give a prompt list or generated prompts, not both");
    o.input_tokens.reset();
    BOOST_TEST(lg::validate(o) == "the prompt list is empty");
    BOOST_CHECK_THROW((void)lg::run(o), std::invalid_argument);
    list->prompts.push_back({});
    BOOST_TEST(lg::validate(o) == "a prompt of the list has no messages");
    list->prompts.back().messages.push_back({"user", "x"});
    BOOST_TEST(lg::validate(o).empty());
    list->prompts.back().max_tokens = 0;
    BOOST_TEST(lg::validate(o) == "a prompt's max_tokens must be 1..1000000");
}

BOOST_AUTO_TEST_CASE(report_names_the_prompts) {
    lg::options o;
    o.url = examples::parse_base_url("http://127.0.0.1:1").value();
    o.requests = 1;
    o.input_tokens = 300;
    const lg::report r(lg::settings_of(o));
    BOOST_TEST(lg::to_json(r).at("config").at("prompts").as_string() == "generated, ~300 tokens");
    BOOST_TEST(lg::summary(r).find("\n  prompts      generated, ~300 tokens\n") !=
               std::string::npos);
    const std::string help = lg::help_text();
    for (const std::string_view word : {"--prompts", "--input-tokens", "prompts (\"fixed\""})
        BOOST_TEST(help.find(word) != std::string::npos, word);
    auto one = std::make_shared<lg::prompt_list>();
    one->source = "one.jsonl";
    one->prompts.push_back({{{"user", "x"}}, std::nullopt});
    o.input_tokens.reset();
    o.prompts = one;
    BOOST_TEST(lg::settings_of(o).prompts == "file:one.jsonl, 1 prompt");
}

// ---------------------------------------------------------------------------------------------
// runs

std::vector<std::string> ok_responses(std::size_t n) {
    return std::vector<std::string>(
        n, loadgen_test::json_response(200, "OK", R"({"choices":[{"message":{"content":"hi"}}]})"));
}

// One connection sends its requests in order: the server sees the prompts cycle.
BOOST_AUTO_TEST_CASE(run_cycles_through_the_prompts_in_order) {
    loadgen_test::canned_server server(ok_responses(7));
    lg::options o;
    o.url = examples::parse_base_url("http://127.0.0.1:" + std::to_string(server.port())).value();
    o.prompts = std::make_shared<const lg::prompt_list>(
        list_of(lg::parse_prompts(three_prompts, "three.jsonl")));
    o.requests = 7;
    o.connections = 1;
    const lg::report r = lg::run(o);
    server.stop();
    BOOST_TEST(r.ok == 7u);
    BOOST_TEST_REQUIRE(server.requests.size() == 7u);
    for (std::size_t k = 0; k < 7; ++k) {
        BOOST_TEST(server.requests[k].body() == lg::request_body(o, k));
        BOOST_TEST(server.requests[k][examples::http::field::content_length] ==
                   std::to_string(server.requests[k].body().size()));
    }
    BOOST_TEST(lg::to_json(r).at("config").at("prompts").as_string() ==
               "file:three.jsonl, 3 prompts");
}

// Several connections in an open loop with a warm-up: every body the run sends is request k's
// for exactly one k, warm-up requests included.
BOOST_AUTO_TEST_CASE(run_sends_each_generated_body_once) {
    constexpr std::uint64_t warmup = 10, measured = 20;
    loadgen_test::canned_server server(ok_responses(warmup + measured));
    lg::options o;
    o.url = examples::parse_base_url("http://127.0.0.1:" + std::to_string(server.port())).value();
    o.input_tokens = 40;
    o.seed = 12;
    o.rate = 1000;
    o.arrival = lg::arrival_process::constant;
    o.warmup = std::chrono::milliseconds(10);
    o.requests = measured;
    o.connections = 3;
    const lg::report r = lg::run(o);
    server.stop();
    BOOST_TEST(r.requests == measured);
    BOOST_TEST(r.warmup_requests == warmup);
    std::multiset<std::string> sent;
    for (const auto& req : server.requests)
        sent.insert(req.body());
    std::multiset<std::string> expected;
    for (std::uint64_t k = 0; k < warmup + measured; ++k)
        expected.insert(lg::request_body(o, k));
    BOOST_TEST((sent == expected));
}

BOOST_AUTO_TEST_SUITE_END()

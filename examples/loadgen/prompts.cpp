#include "loadgen/prompts.hpp"

#include "common/seed.hpp"

#include <faultline/retry/backoff.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>
#include <stdexcept>

namespace examples::loadgen {

namespace {

class prompts_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "examples.prompts"; }
    std::string message(int v) const override {
        switch (static_cast<prompts_error>(v)) {
        case prompts_error::unreadable:
            return "cannot read the prompts file";
        case prompts_error::file_too_large:
            return "the prompts file is too large";
        case prompts_error::no_prompts:
            return "no prompts in the file";
        case prompts_error::line_too_long:
            return "a line of the prompts file is too long";
        case prompts_error::too_many:
            return "too many prompts";
        case prompts_error::not_json:
            return "a line is not JSON";
        case prompts_error::not_object:
            return "a line is not a JSON object";
        case prompts_error::no_prompt:
            return "a line has neither \"prompt\" nor \"messages\", or both";
        case prompts_error::bad_prompt:
            return "\"prompt\" is not a string";
        case prompts_error::bad_messages:
            return "\"messages\" is not a non-empty array";
        case prompts_error::bad_message:
            return "a message is not an object with string \"role\" and \"content\"";
        case prompts_error::bad_max_tokens:
            return "\"max_tokens\" is not a whole number 1..1000000";
        }
        return "examples.prompts: unknown error";
    }
};

std::string mib(std::uint64_t bytes) {
    if (bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes) + " bytes";
}

// Lines in, prompts out: the rules of the header comment, one line at a time.
class collector {
public:
    collector(std::string_view source, const prompt_limits& limits)
        : limits_(limits) {
        list_.source = std::string(source);
    }

    // Takes line `number_` + 1 (without its LF); false after a problem.
    bool line(std::string_view text) {
        ++number_;
        if (number_ == 1 && text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
        if (text.ends_with('\r')) text.remove_suffix(1);
        if (text.size() > limits_.max_line)
            return fail_line(prompts_error::line_too_long, "line over " + mib(limits_.max_line));
        if (text.find_first_not_of(" \t\r") == std::string_view::npos) return true;
        if (list_.prompts.size() >= limits_.max_prompts)
            return fail_line(prompts_error::too_many,
                             "more than " + std::to_string(limits_.max_prompts) + " prompts");
        return parse(text);
    }

    // The bytes of a line so far exceed the line limit: refuses it before it is complete.
    bool overlong() {
        ++number_;
        return fail_line(prompts_error::line_too_long, "line over " + mib(limits_.max_line));
    }

    bool fail_file(prompts_error e, const std::string& what) {
        problem_ = prompts_problem{e, 0, list_.source + ": " + what};
        return false;
    }

    std::variant<prompt_list, prompts_problem> finish() {
        if (problem_) return std::move(*problem_);
        if (list_.prompts.empty()) {
            fail_file(prompts_error::no_prompts, number_ == 0 ? "no prompts (the file is empty)"
                                                              : "no prompts (only blank lines)");
            return std::move(*problem_);
        }
        return std::move(list_);
    }

    [[nodiscard]] bool failed() const noexcept { return problem_.has_value(); }

private:
    bool fail_line(prompts_error e, const std::string& what) {
        problem_ =
            prompts_problem{e, number_, list_.source + ":" + std::to_string(number_) + ": " + what};
        return false;
    }

    bool parse(std::string_view text) {
        boost::system::error_code ec;
        const boost::json::value v = boost::json::parse(text, ec);
        if (ec) return fail_line(prompts_error::not_json, "not JSON (" + ec.message() + ")");
        const boost::json::object* o = v.if_object();
        if (!o) return fail_line(prompts_error::not_object, "not a JSON object");
        const boost::json::value* single = o->if_contains("prompt");
        const boost::json::value* messages = o->if_contains("messages");
        if (single && messages)
            return fail_line(prompts_error::no_prompt, "both \"prompt\" and \"messages\"");
        if (!single && !messages)
            return fail_line(prompts_error::no_prompt, "no \"prompt\" or \"messages\"");

        prompt p;
        if (single) {
            const boost::json::string* s = single->if_string();
            if (!s) return fail_line(prompts_error::bad_prompt, "\"prompt\" is not a string");
            p.messages.push_back(chat_message{"user", std::string(*s)});
        } else {
            const boost::json::array* a = messages->if_array();
            if (!a) return fail_line(prompts_error::bad_messages, "\"messages\" is not an array");
            if (a->empty()) return fail_line(prompts_error::bad_messages, "\"messages\" is empty");
            p.messages.reserve(a->size());
            for (std::size_t i = 0; i < a->size(); ++i) {
                const std::string which = "message " + std::to_string(i + 1);
                const boost::json::object* m = (*a)[i].if_object();
                if (!m) return fail_line(prompts_error::bad_message, which + " is not an object");
                const boost::json::value* role = m->if_contains("role");
                const boost::json::value* content = m->if_contains("content");
                if (!role || !role->is_string())
                    return fail_line(prompts_error::bad_message, which + " has no string \"role\"");
                if (!content || !content->is_string())
                    return fail_line(prompts_error::bad_message,
                                     which + " has no string \"content\"");
                p.messages.push_back(chat_message{std::string(role->get_string()),
                                                  std::string(content->get_string())});
            }
        }
        if (const boost::json::value* m = o->if_contains("max_tokens")) {
            std::uint64_t n = 0;
            if (m->is_uint64())
                n = m->get_uint64();
            else if (m->is_int64() && m->get_int64() > 0)
                n = static_cast<std::uint64_t>(m->get_int64());
            if (n < 1 || n > max_prompt_tokens)
                return fail_line(prompts_error::bad_max_tokens,
                                 "\"max_tokens\" must be a whole number 1..1000000, not " +
                                     boost::json::serialize(*m));
            p.max_tokens = static_cast<unsigned>(n);
        }
        list_.prompts.push_back(std::move(p));
        return true;
    }

    const prompt_limits& limits_;
    prompt_list list_;
    std::uint64_t number_ = 0; // lines seen
    std::optional<prompts_problem> problem_;
};

// Short, common English words: with the space before each, about one token apiece.
constexpr std::string_view words[] = {
    "the",   "of",    "and",   "to",     "in",    "is",    "you",     "that",   "it",    "he",
    "was",   "for",   "on",    "are",    "as",    "with",  "his",     "they",   "at",    "be",
    "this",  "have",  "from",  "or",     "one",   "had",   "by",      "word",   "but",   "not",
    "what",  "all",   "were",  "we",     "when",  "your",  "can",     "said",   "there", "use",
    "an",    "each",  "which", "she",    "do",    "how",   "their",   "if",     "will",  "up",
    "other", "about", "out",   "many",   "then",  "them",  "these",   "so",     "some",  "her",
    "would", "make",  "like",  "him",    "into",  "time",  "has",     "look",   "two",   "more",
    "write", "go",    "see",   "number", "no",    "way",   "could",   "people", "my",    "than",
    "first", "water", "been",  "call",   "who",   "oil",   "its",     "now",    "find",  "long",
    "down",  "day",   "did",   "get",    "come",  "made",  "may",     "part",   "over",  "new",
    "sound", "take",  "only",  "little", "work",  "know",  "place",   "year",   "live",  "me",
    "back",  "give",  "most",  "very",   "after", "thing", "our",     "just",   "name",  "good",
    "man",   "think", "say",   "great",  "where", "help",  "through", "much"};

constexpr std::string_view tag_placeholder = "0000000000000000";

void write_tag(char* at, std::uint64_t seed, std::uint64_t index) {
    constexpr char hex[] = "0123456789abcdef";
    std::uint64_t v = derived_seed(seed, index);
    for (int i = 15; i >= 0; --i, v >>= 4)
        at[i] = hex[v & 0xf];
}

std::string generated_text(unsigned tokens, std::uint64_t seed) {
    std::string out(tag_placeholder);
    out.reserve(tag_placeholder.size() + std::size_t(tokens) * 6);
    // A stream of its own: not the schedule's (seeded with `seed`) nor a connection's.
    faultline::splitmix64 g(derived_seed(seed, ~std::uint64_t{0}));
    for (unsigned i = 0; i < tokens; ++i) {
        out += ' ';
        out += words[g() % std::size(words)];
    }
    return out;
}

} // namespace

const std::error_category& prompts_category() noexcept {
    static const prompts_category_impl category;
    return category;
}

std::error_code make_error_code(prompts_error e) noexcept {
    return {static_cast<int>(e), prompts_category()};
}

std::variant<prompt_list, prompts_problem>
parse_prompts(std::string_view text, std::string_view source, const prompt_limits& limits) {
    collector c(source, limits);
    if (text.size() > limits.max_file) {
        c.fail_file(prompts_error::file_too_large, "over " + mib(limits.max_file));
        return c.finish();
    }
    while (!text.empty() && !c.failed()) {
        const std::size_t end = text.find('\n');
        const std::string_view line = text.substr(0, end);
        if (!c.line(line)) break;
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    }
    return c.finish();
}

std::variant<prompt_list, prompts_problem> read_prompts(const std::string& path,
                                                        const prompt_limits& limits) {
    collector c(path, limits);
    const auto cannot_read = [&](int error) {
        c.fail_file(prompts_error::unreadable, "cannot read: " + std::string(std::strerror(error)));
        return c.finish();
    };
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                               &std::fclose);
    if (!file) return cannot_read(errno);

    std::string pending; // the current line's bytes so far, at most max_line + 2
    std::array<char, 1 << 16> block;
    std::uint64_t total = 0;
    bool overlong = false; // the current line is already over the limit
    for (;;) {
        const std::size_t n = std::fread(block.data(), 1, block.size(), file.get());
        if (n == 0) {
            if (std::ferror(file.get())) return cannot_read(errno != 0 ? errno : EIO);
            break;
        }
        total += n;
        if (total > limits.max_file) {
            c.fail_file(prompts_error::file_too_large, "over " + mib(limits.max_file));
            return c.finish();
        }
        std::string_view rest(block.data(), n);
        while (!rest.empty()) {
            const std::size_t end = rest.find('\n');
            const std::string_view piece = rest.substr(0, end);
            // The limit plus a CR and a BOM still fit; anything longer is refused unseen.
            if (!overlong && pending.size() + piece.size() > limits.max_line + 4) {
                overlong = true;
                pending.clear();
            }
            if (!overlong) pending.append(piece);
            if (end == std::string_view::npos) break;
            if (overlong ? !c.overlong() : !c.line(pending)) return c.finish();
            pending.clear();
            overlong = false;
            rest.remove_prefix(end + 1);
        }
    }
    if (overlong) {
        c.overlong();
        return c.finish();
    }
    if (!pending.empty()) c.line(pending);
    return c.finish();
}

std::string chat_body(std::string_view model, const prompt& p, unsigned max_tokens, bool stream,
                      bool responses) {
    boost::json::array messages;
    messages.reserve(p.messages.size());
    for (const chat_message& m : p.messages)
        messages.push_back(boost::json::object{{"role", m.role}, {"content", m.content}});
    boost::json::object body{{"model", model},
                             {responses ? "input" : "messages", std::move(messages)}};
    if (const unsigned n = p.max_tokens.value_or(max_tokens); n != 0)
        body[responses ? "max_output_tokens" : "max_tokens"] = n;
    body["stream"] = stream;
    // A chat stream reports its usage only when asked: the server's own count of output tokens.
    // (A Responses stream ends with response.completed, which carries it.)
    if (stream && !responses) body["stream_options"] = boost::json::object{{"include_usage", true}};
    return boost::json::serialize(body);
}

std::string generated_prompt(unsigned tokens, std::uint64_t seed, std::uint64_t index) {
    std::string text = generated_text(tokens, seed);
    write_tag(text.data(), seed, index);
    return text;
}

request_bodies::request_bodies(std::string body) {
    bodies_.push_back(std::move(body));
}

request_bodies::request_bodies(std::string_view model, unsigned max_tokens, bool stream,
                               const prompt_list& list, bool responses) {
    if (list.prompts.empty()) throw std::invalid_argument("the prompt list is empty");
    bodies_.reserve(list.prompts.size());
    for (const prompt& p : list.prompts)
        bodies_.push_back(chat_body(model, p, max_tokens, stream, responses));
}

request_bodies::request_bodies(std::string_view model, unsigned max_tokens, bool stream,
                               unsigned tokens, std::uint64_t seed, bool responses)
    : generated_(true)
    , seed_(seed) {
    prompt p;
    p.messages.push_back(chat_message{"user", generated_text(tokens, seed)});
    bodies_.push_back(chat_body(model, p, max_tokens, stream, responses));
    // The model's quotes are escaped in the body, so this key is the message's.
    const std::string key = "\"content\":\"" + std::string(tag_placeholder);
    tag_at_ = bodies_.front().find(key) + key.size() - tag_placeholder.size();
}

void request_bodies::body_of(std::uint64_t k, std::string& out) const {
    out.assign(bodies_[generated_ ? 0 : static_cast<std::size_t>(k % bodies_.size())]);
    if (generated_) write_tag(out.data() + tag_at_, seed_, k);
}

std::string request_bodies::body(std::uint64_t k) const {
    std::string out;
    body_of(k, out);
    return out;
}

} // namespace examples::loadgen

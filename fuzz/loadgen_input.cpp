// Fuzzes the load harness's readers of untrusted files: a prompts file (`parse_prompts`, JSON
// lines) and a saved report (`read_saved_report`, for --compare), on arbitrary bytes.
// Invariants: no crash or sanitizer report; prompts either parse to at least one prompt, each
// with a request body that is valid JSON, or are refused with a `prompts_error` and a message
// naming the source; a report either reads back (and compares with itself) or is refused with
// a reason; two reports (the input's halves) compare.

#include "loadgen/prompts.hpp"
#include "loadgen/report.hpp"

#include <boost/json/parse.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    namespace lg = examples::loadgen;

    lg::prompt_limits small;
    small.max_line = 4096;
    small.max_prompts = 64;
    const auto prompts = lg::parse_prompts(text, "fuzz.jsonl", small);
    if (const auto* list = std::get_if<lg::prompt_list>(&prompts)) {
        if (list->prompts.empty() || list->prompts.size() > small.max_prompts) std::abort();
        for (const auto& p : list->prompts) {
            if (p.messages.empty()) std::abort();
            for (const bool responses : {false, true}) {
                boost::system::error_code ec;
                (void)boost::json::parse(lg::chat_body("m", p, 16, true, responses), ec);
                if (ec) std::abort();
            }
        }
    } else {
        const auto& problem = std::get<lg::prompts_problem>(prompts);
        if (problem.code.category() != lg::prompts_category() ||
            problem.message.rfind("fuzz.jsonl", 0) != 0)
            std::abort();
    }

    // The whole input as a report, and its two halves as two reports to compare.
    const auto saved = lg::read_saved_report(text);
    if (const auto* r = std::get_if<lg::saved_report>(&saved)) {
        if (lg::compare_summary(*r, *r).empty()) std::abort();
    } else if (std::get<std::string>(saved).empty()) {
        std::abort();
    }
    const auto a = lg::read_saved_report(text.substr(0, size / 2));
    const auto b = lg::read_saved_report(text.substr(size / 2));
    const auto* ra = std::get_if<lg::saved_report>(&a);
    const auto* rb = std::get_if<lg::saved_report>(&b);
    if (ra && rb && lg::compare_summary(*ra, *rb).empty()) std::abort();
    return 0;
}

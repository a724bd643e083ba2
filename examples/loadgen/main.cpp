// faultline-loadgen: benchmark any OpenAI-compatible server (see --help).

#include "common/cli.hpp"
#include "common/json.hpp"
#include "loadgen/loadgen.hpp"

#include <faultline/diagnose.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lg = examples::loadgen;

namespace {

constexpr std::string_view program = "faultline-loadgen";

// A report destination, opened before the run so that a mistyped path does not cost a run.
struct output {
    std::string name;
    std::FILE* file = nullptr;
    bool owned = false;

    output() = default;
    output(const output&) = delete;
    output& operator=(const output&) = delete;
    ~output() {
        if (owned && file) std::fclose(file);
    }

    bool open(const std::string& path) {
        name = path;
        if (path == "-") {
            file = stdout;
            return true;
        }
        file = std::fopen(path.c_str(), "wb");
        owned = file != nullptr;
        if (!file)
            std::fprintf(stderr, "%.*s: cannot write %s: %s\n", static_cast<int>(program.size()),
                         program.data(), path.c_str(), std::strerror(errno));
        return file != nullptr;
    }

    // Writes everything and, for a file, closes it; false (after a message) on any failure.
    bool write(std::string_view text) {
        bool good = std::fwrite(text.data(), 1, text.size(), file) == text.size();
        good = (owned ? std::fclose(file) == 0 : std::fflush(file) == 0) && good;
        owned = false;
        if (!good)
            std::fprintf(stderr, "%.*s: cannot write %s: %s\n", static_cast<int>(program.size()),
                         program.data(), name.c_str(), std::strerror(errno));
        return good;
    }
};

void warn(std::string_view what, const faultline::diagnosis& d) {
    const std::string_view cause = faultline::info(d.code).cause;
    std::fprintf(stderr, "%.*s: warning: %.*s: %.*s%s%s\n", static_cast<int>(program.size()),
                 program.data(), static_cast<int>(what.size()), what.data(),
                 static_cast<int>(cause.size()), cause.data(),
                 d.suggestion.empty() ? "" : " Try: ", d.suggestion.c_str());
}

// --compare A --compare B: the table on stdout, the overlaid chart to --svg.
int compare(const lg::command_line& cl) {
    std::vector<lg::saved_report> runs;
    for (const std::string& path : cl.compare) {
        std::ifstream in(path, std::ios::binary);
        std::string text;
        if (in) {
            std::ostringstream buffer;
            buffer << in.rdbuf();
            text = std::move(buffer).str();
        }
        if (!in) {
            std::fprintf(stderr, "%.*s: cannot read %s: %s\n", static_cast<int>(program.size()),
                         program.data(), path.c_str(), std::strerror(errno));
            return 1;
        }
        auto saved = lg::read_saved_report(text);
        if (const auto* problem = std::get_if<std::string>(&saved)) {
            std::fprintf(stderr, "%.*s: %s: %s\n", static_cast<int>(program.size()), program.data(),
                         path.c_str(), problem->c_str());
            return 1;
        }
        runs.push_back(std::move(std::get<lg::saved_report>(saved)));
    }
    output svg;
    if (cl.svg_path && !svg.open(*cl.svg_path)) return 1;
    const std::string table = lg::compare_summary(runs[0], runs[1]);
    std::fputs(table.c_str(), cl.svg_path == "-" ? stderr : stdout);
    if (!cl.svg_path) return std::fflush(stdout) == 0 ? 0 : 1;
    return svg.write(lg::render_compare_svg(runs[0].run, runs[1].run,
                                            "faultline-loadgen: A (solid) and B (dashed)"))
               ? 0
               : 1;
}

} // namespace

int main(int argc, char** argv) {
    const char* env_key = std::getenv("FAULTLINE_API_KEY");
    auto parsed = lg::parse_command_line(
        std::span<char*>(argv + 1, argc > 1 ? static_cast<std::size_t>(argc - 1) : 0),
        env_key ? std::optional<std::string_view>(env_key) : std::nullopt);
    if (const auto* e = std::get_if<lg::usage_error>(&parsed))
        return examples::print_usage_error(program, e->message);
    lg::command_line& cl = std::get<lg::command_line>(parsed);
    if (cl.help || cl.version) {
        const std::string text =
            cl.help ? lg::help_text() : std::string(program) + " " FAULTLINE_VERSION "\n";
        std::fwrite(text.data(), 1, text.size(), stdout);
        return std::fflush(stdout) == 0 ? 0 : 1;
    }

    if (!cl.compare.empty()) return compare(cl);

    // The mistakes behind most 404s and 401s, said before the run rather than read from it.
    faultline::base_url_options url_checks;
    url_checks.client_appends_v1 = lg::request_path(cl.run).starts_with("/v1/");
    for (const auto& d : faultline::diagnose_base_url(lg::settings_of(cl.run).url, url_checks))
        warn("--url", d);
    if (!cl.run.api_key.empty())
        for (const auto& d : faultline::diagnose_api_key(cl.run.api_key))
            warn("API key", d);

    output json, svg;
    if (cl.json_path && !json.open(*cl.json_path)) return 1;
    if (cl.svg_path && !svg.open(*cl.svg_path)) return 1;

    if (!cl.quiet)
        cl.run.on_progress = [](const lg::progress& p) {
            const std::string line = lg::format_progress(p);
            std::fputs(line.c_str(), stderr);
        };
    cl.run.stop_on_signals = true;

    lg::report rep;
    try {
        rep = lg::run(cl.run);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(program.size()), program.data(),
                     e.what());
        return 1;
    }

    const bool stdout_taken = cl.json_path == "-" || cl.svg_path == "-";
    const std::string text = lg::summary(rep);
    std::fputs(text.c_str(), stdout_taken ? stderr : stdout);
    std::fflush(stdout_taken ? stderr : stdout);

    bool written = true;
    if (cl.json_path)
        written = json.write(examples::to_plain_json(lg::to_json(rep)) + "\n") && written;
    if (cl.svg_path)
        written = svg.write(lg::render_svg(rep, lg::chart_title(rep.settings))) && written;
    if (!written) return 1;
    if (rep.requests != 0 && rep.ok == 0) {
        const std::string why = lg::no_success_reason(rep);
        std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(program.size()), program.data(),
                     why.c_str());
        return 3;
    }
    return 0;
}

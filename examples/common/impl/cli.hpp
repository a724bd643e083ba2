#ifndef FAULTLINE_EXAMPLES_COMMON_IMPL_CLI_HPP
#define FAULTLINE_EXAMPLES_COMMON_IMPL_CLI_HPP

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

namespace examples {

namespace detail {

// The --help layout of every program: usage line, description, options (in the order they
// were added, --version and --help last), footer. Each option's description may hold newlines;
// continuation lines are indented to the description column.
class help_formatter : public CLI::Formatter {
public:
    help_formatter(std::string usage, const CLI::Option* const* version)
        : usage_(std::move(usage))
        , version_(version) {}

    std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode) const override {
        std::vector<const CLI::Option*> options;
        for (const CLI::Option* o : app->get_options())
            if (o->nonpositional() && o != app->get_help_ptr() && o != *version_)
                options.push_back(o);
        if (*version_) options.push_back(*version_);
        if (app->get_help_ptr()) options.push_back(app->get_help_ptr());
        const auto label = [](const CLI::Option* o) {
            std::string s = o->get_name(false, true);
            if (o->get_type_size() != 0 && !o->get_type_name().empty())
                s += ' ' + o->get_type_name();
            return s;
        };
        std::size_t width = 0;
        for (const CLI::Option* o : options)
            width = std::max(width, label(o).size());
        width += 2;

        std::string out = "usage: " + usage_ + "\n";
        if (!app->get_description().empty()) out += "\n" + app->get_description() + "\n";
        std::optional<std::string> group;
        for (const CLI::Option* o : options) {
            // --version and --help close the last group, or open "options:" when alone.
            const bool common = o == app->get_help_ptr() || o == *version_;
            if (group ? !common && o->get_group() != *group : true) {
                group = o->get_group();
                out += "\n" + (*group == "Options" ? std::string("options") : *group) + ":\n";
            }
            std::string line = "  " + label(o);
            line.resize(2 + width, ' ');
            for (const char c : o->get_description()) {
                line += c;
                if (c == '\n') line.append(2 + width, ' ');
            }
            out += line + '\n';
        }
        if (!app->get_footer().empty()) out += "\n" + app->get_footer() + "\n";
        return out;
    }

private:
    std::string usage_;
    const CLI::Option* const* version_;
};

// "--attempts: 1 required INT missing" -> "--attempts".
inline std::string option_of(std::string_view message) {
    const std::size_t colon = message.find(':');
    return std::string(message.substr(0, colon == std::string_view::npos ? 0 : colon));
}

} // namespace detail

inline command_line::command_line(std::string program, std::string usage, std::string description,
                                  std::string footer)
    : program_(std::move(program))
    , usage_(program_ + " " + std::move(usage))
    , app_(std::move(description), program_) {
    app_.footer(std::move(footer));
    app_.set_help_flag("-h,--help", "this text");
    const std::string version_help = "the program's name and version";
    version_ = app_.add_flag("--version", version_help);
    // Unknown words are collected and reported by parse() in the common wording.
    app_.allow_extras();
    app_.formatter(std::make_shared<detail::help_formatter>(usage_, &version_));
}

inline void command_line::group(const std::string& name) {
    app_.option_defaults()->group(name);
}

inline void command_line::flag(const std::string& name, const std::string& help, bool& target) {
    app_.add_flag(name, target, help)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

inline void command_line::value(const std::string& name, const std::string& type,
                                const std::string& help,
                                std::function<void(const std::string&)> set) {
    app_.add_option_function<std::string>(
            name,
            [name, set = std::move(set)](const std::string& v) {
                try {
                    set(v);
                } catch (const bad_value& e) {
                    throw CLI::ValidationError(name, "must be " + e.must_be + ", not '" + v + "'");
                }
            },
            help)
        ->type_name(type)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

inline void command_line::repeated(const std::string& name, const std::string& type,
                                   const std::string& help,
                                   std::function<void(const std::string&)> add) {
    app_.add_option_function<std::vector<std::string>>(
            name,
            [name, add = std::move(add)](const std::vector<std::string>& values) {
                for (const std::string& v : values) {
                    try {
                        add(v);
                    } catch (const bad_value& e) {
                        throw CLI::ValidationError(name,
                                                   "must be " + e.must_be + ", not '" + v + "'");
                    }
                }
            },
            help)
        ->type_name(type)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

inline void command_line::text(const std::string& name, const std::string& type,
                               const std::string& help, std::string& target) {
    value(name, type, help, [&target](const std::string& v) { target = v; });
}

inline void command_line::text(const std::string& name, const std::string& type,
                               const std::string& help, std::optional<std::string>& target) {
    value(name, type, help, [&target](const std::string& v) { target = v; });
}

template <class Int>
void command_line::whole(const std::string& name, const std::string& type, const std::string& help,
                         std::uint64_t min, std::uint64_t max, Int& target) {
    static_assert(std::is_integral_v<Int>);
    value(name, type, help, [&target, min, max](const std::string& v) {
        target = static_cast<Int>(whole_in(v, min, max));
    });
}

template <class Int>
void command_line::whole(const std::string& name, const std::string& type, const std::string& help,
                         std::uint64_t min, std::uint64_t max, std::optional<Int>& target) {
    static_assert(std::is_integral_v<Int>);
    value(name, type, help, [&target, min, max](const std::string& v) {
        target = static_cast<Int>(whole_in(v, min, max));
    });
}

inline void command_line::duration(const std::string& name, const std::string& type,
                                   const std::string& help, std::chrono::milliseconds min,
                                   std::chrono::milliseconds max, const std::string& must_be,
                                   std::function<void(std::chrono::milliseconds)> set) {
    value(name, type, help, [min, max, must_be, set = std::move(set)](const std::string& v) {
        const auto d = parse_millis(v, max);
        if (!d || *d < min) throw bad_value{must_be};
        set(*d);
    });
}

inline void command_line::positional(const std::string& name, const std::string& help,
                                     std::function<void(const std::string&)> set) {
    app_.add_option_function<std::string>(name, std::move(set), help)
        ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
}

inline parse_outcome command_line::parse(std::span<char* const> args) {
    // CLI11 reads a vector back to front. It also reads "--key=" as "--key" followed by
    // whatever comes next; written out as "--key" "" it is the empty value it says.
    std::vector<std::string> words;
    words.reserve(args.size() + 1);
    for (auto it = args.rbegin(); it != args.rend(); ++it) {
        const std::string_view w = *it;
        if (w.size() > 3 && w.starts_with("--") && w.find('=') == w.size() - 1) {
            words.emplace_back();
            words.emplace_back(w.substr(0, w.size() - 1));
        } else {
            words.emplace_back(w);
        }
    }
    parse_outcome out;
    const auto asked = [&]() -> bool {
        if (version_->count() > 0) {
            out.what = parse_ending::version;
            return true;
        }
        if (app_.get_help_ptr()->count() > 0) {
            out.what = parse_ending::help;
            return true;
        }
        return false;
    };
    const auto usage = [&](usage_kind kind, std::string option, std::string message) {
        out.what = parse_ending::usage_error;
        out.kind = kind;
        out.option = std::move(option);
        out.message = std::move(message);
    };
    try {
        app_.parse(words);
    } catch (const CLI::CallForHelp&) {
        if (!asked()) out.what = parse_ending::help;
        return out;
    } catch (const CLI::ArgumentMismatch& e) {
        // Also thrown when an option's value is missing before --help was read; --help and
        // --version win only when they were read.
        if (asked()) return out;
        std::string option = detail::option_of(e.what());
        usage(usage_kind::missing_value, option, option + ": needs a value");
        return out;
    } catch (const CLI::ConversionError& e) {
        // "Could not convert: --stream = maybe": a flag given a value it cannot take.
        if (asked()) return out;
        const std::string_view m = e.what();
        const std::size_t from = m.find(": "), eq = m.find(" = ");
        if (from == std::string_view::npos || eq == std::string_view::npos || eq < from) {
            usage(usage_kind::invalid_value, "", std::string(m));
            return out;
        }
        std::string option(m.substr(from + 2, eq - from - 2));
        usage(usage_kind::invalid_value, option,
              option + ": takes no value, not '" + std::string(m.substr(eq + 3)) + "'");
        return out;
    } catch (const CLI::ValidationError& e) {
        if (asked()) return out;
        usage(usage_kind::invalid_value, detail::option_of(e.what()), e.what());
        return out;
    } catch (const CLI::ParseError& e) {
        if (asked()) return out;
        usage(usage_kind::other, detail::option_of(e.what()), e.what());
        return out;
    }
    if (asked()) return out;
    const std::vector<std::string> extra = app_.remaining();
    if (!extra.empty()) {
        const std::string& w = extra.front();
        if (w.size() > 1 && w.front() == '-')
            usage(usage_kind::unknown_option, w.substr(0, w.find('=')),
                  "unknown option '" + w + "'");
        else
            usage(usage_kind::unknown_option, "", "unexpected argument '" + w + "'");
    }
    return out;
}

inline int command_line::finish(const parse_outcome& p) const {
    switch (p.what) {
    case parse_ending::help: {
        const std::string h = help();
        std::fwrite(h.data(), 1, h.size(), stdout);
        return std::fflush(stdout) == 0 ? 0 : 1;
    }
    case parse_ending::version: {
        const std::string v = version() + '\n';
        std::fwrite(v.data(), 1, v.size(), stdout);
        return std::fflush(stdout) == 0 ? 0 : 1;
    }
    case parse_ending::usage_error:
        return fail(p.message);
    case parse_ending::run:
        break;
    }
    return 0;
}

inline int command_line::fail(std::string_view message) const {
    return print_usage_error(program_, message);
}

inline std::string command_line::help() const {
    return app_.help();
}

inline std::string command_line::version() const {
    // A subcommand ("faultline-inspect sse") reports its program's version.
    return program_.substr(0, program_.find(' ')) + " " FAULTLINE_VERSION;
}

inline std::uint64_t whole_in(std::string_view v, std::uint64_t min, std::uint64_t max) {
    const auto n = parse_uint(v, max);
    if (n && *n >= min) return *n;
    if (min == 0 && max == ~std::uint64_t(0)) throw bad_value{"a whole number"};
    throw bad_value{std::to_string(min) + ".." + std::to_string(max)};
}

inline int print_usage_error(std::string_view program, std::string_view message) {
    std::fprintf(stderr, "%.*s: %.*s (try --help)\n", static_cast<int>(program.size()),
                 program.data(), static_cast<int>(message.size()), message.data());
    return 2;
}

} // namespace examples

#endif

// faultline-client: chat completions that fail well (see client.hpp and --help).

#include "client/client.hpp"
#include "common/cli.hpp"
#include "common/json.hpp"

#include <cstdio>
#include <iostream>
#include <span>
#include <string>

int main(int argc, char** argv) {
    namespace cl = examples::client;
    std::span<char*> args(argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0));
    std::string why;
    auto parsed = cl::parse_options(args, why);
    if (!parsed) {
        if (parsed.error() == std::errc::operation_canceled) {
            std::fwrite(why.data(), 1, why.size(), stdout);
            return std::fflush(stdout) == 0 ? 0 : 1;
        }
        return examples::print_usage_error("faultline-client", why);
    }
    const cl::options& o = parsed.value();
    const bool json = o.json;
    const std::vector<cl::report> reports = cl::run(o);
    int status = 0;
    for (std::size_t i = 0; i < reports.size(); ++i) {
        const cl::report& r = reports[i];
        if (!r.ok) status = 1;
        if (json) {
            std::cout << examples::to_plain_json(r.to_json()) << '\n';
        } else {
            if (reports.size() > 1) std::cout << "--- request " << i + 1 << '\n';
            std::cout << r.to_text();
        }
    }
    return status;
}

// faultline-inspect classify: what faultline makes of one error response.

#include "commands.hpp"
#include "io.hpp"

#include "common/json.hpp"

#include <faultline/classify.hpp>

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace inspect {

namespace {

constexpr const char* description =
    R"(Reads a raw HTTP response body from FILE (or stdin when FILE is '-' or absent) and prints one
JSON object on one line:

  {"category": C, "code": E, "retryable": B, "retry_after_ms": N|null,
   "message": S, "type": S|null, "provider_code": S|N|null}

  category        one of invalid_request, authentication, insufficient_quota, permission,
                  not_found, context_length_exceeded, payload_too_large, rate_limited,
                  server_error, upstream_unavailable, timeout, content_filter, overloaded, unknown
  code            the precise faultline::error name (e.g. tpm_exceeded, no_available_channel)
  retryable       whether a client should retry (x-should-retry overrides the taxonomy)
  retry_after_ms  the wait the server asked for: retry-after-ms, Retry-After (seconds or
                  HTTP-date), Google RetryInfo, or x-ratelimit-reset-* on a 429; capped at 24 h
  message         the human message from the body, or the reason phrase when it has none
  type            the body's error type as sent
  provider_code   the body's error code as sent (string, integer or null))";

constexpr const char* footer =
    "exit status: 0 classified, 1 input could not be read, 2 usage error.";

} // namespace

int run_classify(std::span<char* const> args) {
    constexpr std::string_view tool = "classify";
    std::optional<unsigned> status;
    std::vector<std::pair<std::string, std::string>> headers;
    faultline::classify_options options;
    std::string path = "-";
    examples::command_line cl(
        "faultline-inspect classify",
        "--status N [--header 'Name: value']... [--now UNIX_SECONDS] [FILE|-]", description,
        footer);
    cl.whole("--status", "N",
             "HTTP status (0..999); 0 means no status: an error inside a stream or frame", 0, 999,
             status);
    cl.repeated("--header", "'N: V'", "a response header; repeat for several",
                [&headers](const std::string& v) {
                    const std::size_t colon = v.find(':');
                    if (colon == std::string::npos || colon == 0)
                        throw examples::bad_value{"'Name: value'"};
                    headers.emplace_back(v.substr(0, colon),
                                         std::string(faultline::detail::trim(
                                             std::string_view(v).substr(colon + 1))));
                });
    cl.value("--now", "SECONDS",
             "Unix time that Retry-After HTTP-dates are measured from (default: the clock)",
             [&options](const std::string& v) {
                 const auto n = examples::parse_uint(v, 253402300799); // 9999-12-31T23:59:59Z
                 if (!n) throw examples::bad_value{"Unix seconds (a whole number)"};
                 options.now = std::chrono::system_clock::time_point(
                     std::chrono::seconds(static_cast<std::int64_t>(*n)));
             });
    cl.positional("FILE", "the response body; '-' or absent: stdin",
                  [&path](const std::string& v) { path = v; });
    if (const examples::parse_outcome p = cl.parse(args); p.what != examples::parse_ending::run)
        return cl.finish(p);
    if (!status) return cl.fail("--status: is required");

    const auto body = read_input(path, tool);
    if (!body) return 1;
    const faultline::failure f = faultline::classify(*status, headers, *body, options);

    boost::json::object out;
    out["category"] = faultline::to_string(f.cat);
    out["code"] = faultline::to_string(f.code);
    out["retryable"] = f.retryable;
    if (f.retry_after)
        out["retry_after_ms"] = f.retry_after->count();
    else
        out["retry_after_ms"] = nullptr;
    out["message"] = f.message;
    if (f.type)
        out["type"] = faultline::detail::utf8_sanitized(*f.type);
    else
        out["type"] = nullptr;
    if (const auto* s = std::get_if<std::string>(&f.provider_code))
        out["provider_code"] = faultline::detail::utf8_sanitized(*s);
    else if (const auto* n = std::get_if<std::int64_t>(&f.provider_code))
        out["provider_code"] = *n;
    else
        out["provider_code"] = nullptr;
    const std::string line = examples::to_plain_json(out);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    return 0;
}

} // namespace inspect

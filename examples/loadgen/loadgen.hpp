#ifndef FAULTLINE_EXAMPLES_LOADGEN_LOADGEN_HPP
#define FAULTLINE_EXAMPLES_LOADGEN_LOADGEN_HPP

// faultline-loadgen as a library: N concurrent keep-alive connections sending chat completions
// to any OpenAI-compatible server for a time or a number of requests, every answer classified
// with faultline (`classify` for error responses, `sse::monitor` for streams, `retry_policy`
// for retries), folded into a `report` (report.hpp).
//
//     examples::loadgen::options o;
//     o.url = *examples::parse_base_url("http://127.0.0.1:8080");
//     o.duration = std::chrono::seconds(10);
//     o.stream = true;
//     examples::loadgen::report r = examples::loadgen::run(o);
//     std::cout << examples::loadgen::summary(r);
//
// The base URL is the server root: requests go to `url.target(path)`, i.e.
// http://127.0.0.1:8080 + /v1/chat/completions. An https URL is called over verified TLS
// (`options::tls`, one context for all connections); a certificate that does not verify makes
// every request a failure of category unknown, counted like any other. A run never fails because of
// what the server does: refused connections, timeouts and error statuses are measured like any
// other answer.

#include "common/http_client.hpp"
#include "loadgen/arrivals.hpp"
#include "loadgen/prompts.hpp"
#include "loadgen/report.hpp"

#include <faultline/retry/policy.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace examples::loadgen {

/// The most connections one run opens.
inline constexpr unsigned max_connections = 1024;

/// A retry policy that never retries (one attempt), the harness's default: it measures the
/// server, not a client's patience. Thread-safe.
[[nodiscard]] inline faultline::retry_policy no_retries() noexcept {
    faultline::retry_policy p;
    p.max_attempts = 1;
    return p;
}

/// The API the requests speak.
enum class api_kind : unsigned char {
    chat_completions, ///< POST /v1/chat/completions: {"model","messages","max_tokens","stream"}.
    responses,        ///< POST /v1/responses: {"model","input","max_output_tokens","stream"}.
};

/// "chat" or "responses". Thread-safe.
[[nodiscard]] std::string_view to_string(api_kind a) noexcept;

/// What to run. A plain value.
struct options {
    examples::base_url url; ///< The server root (see the header comment).
    /// The TLS client context of an https `url` (`examples::make_tls_client_context`: the
    /// system's store plus --ca-file), shared by all connections. Required for https, unused
    /// for http.
    std::shared_ptr<boost::asio::ssl::context> tls;
    std::string api_key;               ///< Sent as a Bearer token when not empty.
    std::string model = "gpt-sim";     ///< The request's "model".
    std::string prompt = "Say hello."; ///< The one user message, unless one of the two below.
    /// Requests cycle through these prompts (request k, counted in start order from 0 with
    /// the warm-up's, sends prompt k mod size), each body built once per run. Not with
    /// `input_tokens`.
    std::shared_ptr<const prompt_list> prompts;
    /// Each request sends a generated prompt of about this many tokens (1..max_prompt_tokens;
    /// see `generated_prompt`), the same words from `seed` after a tag that differs per
    /// request. Not with `prompts`.
    std::optional<unsigned> input_tokens;
    unsigned max_tokens = 32;          ///< The request's "max_tokens".
    bool stream = false;               ///< The request's "stream".
    unsigned connections = 8;          ///< 1 .. max_connections, one request at a time each.
    /// Open loop: requests are scheduled at this many per second (0 < rate <= `max_rate`) by
    /// `arrival`, whatever the server does, and `connections` bounds those in flight (a due
    /// request waits for a free connection). Latency counts from the scheduled time, so a
    /// server that falls behind shows it (no coordinated omission). None: closed loop, each
    /// connection sends its next request when the previous one ends.
    std::optional<double> rate;
    /// The gaps of an open-loop schedule (`arrival_schedule`, seeded with `seed`). Ignored
    /// without `rate`.
    arrival_process arrival = arrival_process::poisson;
    /// Stop starting requests this long after the warm-up. Requests still running then get
    /// `timeout` more, and are aborted (counted in `report::aborted`, nowhere else) after it.
    std::optional<std::chrono::milliseconds> duration;
    /// Stop after this many requests (measured ones: the warm-up's do not count). At least one
    /// of `duration` and `requests` is required.
    std::optional<std::uint64_t> requests;
    /// A warm-up first: requests that start (in an open loop, are scheduled) within this long
    /// of the start are sent but not measured, only counted in `report::warmup_requests`. The
    /// report's elapsed time, throughput and series, and `duration`, start at its end. Goes
    /// with either bound.
    std::optional<std::chrono::milliseconds> warmup;
    /// When `max_attempts` > 1, failed attempts are retried as the policy decides (retryable
    /// failures only; the server's Retry-After, as `faultline::classify` reads it, before the
    /// backoff), never waiting past the end of `duration`. Jitter comes from `seed`.
    faultline::retry_policy retry = no_retries();
    /// Pace requests by the server's rate-limit headers (`faultline::limit::pacer`, one for
    /// the run: x-ratelimit-*, anthropic-ratelimit-*, Retry-After on 429s), each counted as
    /// its body's bytes / 4 plus `max_tokens` tokens. A request waits for the pacer before
    /// each attempt; in a closed loop its latency counts from its first send (the figures
    /// describe the server), in an open loop from its scheduled time as always. A request
    /// held past the end of `duration` is counted in `report::aborted`. The waits are in
    /// `report::pacing_wait`.
    bool pace = false;
    /// Longest wait for connect, the response head and each body read.
    std::chrono::milliseconds timeout{30'000};
    api_kind api = api_kind::chat_completions; ///< The requests' API (and shape).
    /// Appended to `url`'s path; empty: the API's own (/v1/chat/completions, /v1/responses).
    std::string path;
    /// Called about once per `progress_interval` with a snapshot, on the run's executor (so
    /// never concurrently with itself). May be empty.
    std::function<void(const progress&)> on_progress;
    std::chrono::milliseconds progress_interval{1000}; ///< How often `on_progress` is called.
    /// Seed of the jitter generators; connection i uses a generator derived from it and i, so a
    /// run's retry delays are reproducible given the same failures. Also the seed of a Poisson
    /// arrival schedule.
    std::uint64_t seed = 1;
    /// Seconds kept in the report's series (see `time_series`).
    std::size_t max_series_seconds = time_series::default_max_seconds;
    /// `run` only: SIGINT/SIGTERM stop the run as the end of `duration` does (no new requests,
    /// running ones get `timeout`); a second signal aborts at once. The report says
    /// `interrupted`.
    bool stop_on_signals = false;
};

/// Why `o` cannot run, as one line ("connections must be 1..1024"); empty when it can.
/// Thread-safe.
[[nodiscard]] std::string validate(const options& o);

/// The path requests go to after the URL's: `o.path`, or else the API's own
/// (/v1/chat/completions, /v1/responses). Thread-safe.
[[nodiscard]] std::string request_path(const options& o);

/// The request body: for chat completions {"model","messages","max_tokens","stream"} (streams
/// add "stream_options":{"include_usage":true}), for the Responses API
/// {"model","input","max_output_tokens","stream"} (`input` the messages). With `prompts` or
/// `input_tokens`, the body of the run's request `k` (counted from 0 in the order requests
/// start). Thread-safe.
[[nodiscard]] std::string request_body(const options& o, std::uint64_t k = 0);

/// The bodies a run of `o` sends, built once. Thread-safe.
[[nodiscard]] request_bodies bodies_of(const options& o);

/// The report's configuration part for `o`. Thread-safe.
[[nodiscard]] run_settings settings_of(const options& o);

/// Runs `o` to the end on its own single-threaded `io_context`: one coroutine per connection,
/// each with one keep-alive `examples::http_connection`. Blocks. Throws
/// `std::invalid_argument` (with `validate`'s message) for options that cannot run, and
/// whatever a connection threw (`std::bad_alloc`). Thread-safe (runs share nothing).
[[nodiscard]] report run(const options& o);

/// As `run`, on the awaiting coroutine's executor (any executor, also a multi-threaded pool:
/// the run serialises itself on a strand). `stop_on_signals` is ignored. Thread-safe.
[[nodiscard]] boost::asio::awaitable<report> async_run(options o);

/// A command line, parsed.
struct command_line {
    options run;                          ///< What to run (url, load, retries, ...).
    std::optional<std::string> json_path; ///< --json: a file, or "-" for stdout.
    std::optional<std::string> svg_path;  ///< --svg: a file, or "-" for stdout.
    bool quiet = false;                   ///< --quiet: no progress lines.
    /// --compare, given twice: two saved JSON reports (A, B) to compare instead of a run.
    std::vector<std::string> compare;
    bool help = false;                    ///< --help: print `help_text()`, run nothing.
    bool version = false; ///< --version: print "faultline-loadgen <version>", run nothing.
};

/// What is wrong with a command line.
enum class usage_problem : unsigned char {
    unknown_option,  ///< An argument that is no option of faultline-loadgen.
    missing_value,   ///< An option that needs a value is the last argument.
    invalid_value,   ///< A value out of range or not of the option's form.
    invalid_url,     ///< --url is not http(s)://host[:port][/path].
    invalid_ca_file, ///< --ca-file cannot be read as PEM certificates, or the --url is not https.
    missing_url,     ///< No --url.
    missing_bound,   ///< Neither --duration nor --requests.
    conflicting_outputs, ///< --json - and --svg - both want stdout.
    invalid_compare,     ///< --compare not given exactly twice, or with --url or --json.
    /// --prompts names a file that cannot be read or holds a bad line (the message names the
    /// file, the line and the fault).
    invalid_prompts,
    /// Options that do not go together (--arrival without --rate, --prompts with --prompt or
    /// --input-tokens, --prompt with --input-tokens).
    inconsistent_options,
};

/// A usage error: which problem, and one line for stderr naming the option.
struct usage_error {
    usage_problem problem; ///< What kind of mistake.
    std::string message;   ///< One line, naming the option and the value, without a newline.
};

/// Parses the arguments after the program name (the conventions of `examples::command_line`:
/// `--opt value` or `--opt=value`, messages such as "--connections: must be 1..1024, not
/// '0'"). `env_api_key` is FAULTLINE_API_KEY, used when there is no --key. A command line
/// holding --help (or -h) parses as help, and one holding --version as version, whatever else
/// it holds. A repeated option's last value wins. Thread-safe.
[[nodiscard]] std::variant<command_line, usage_error>
parse_command_line(std::span<char* const> args, std::optional<std::string_view> env_api_key = {});

/// The --help text, options and JSON fields included. Thread-safe.
[[nodiscard]] std::string help_text();

} // namespace examples::loadgen

#endif

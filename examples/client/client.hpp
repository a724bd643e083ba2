#ifndef FAULTLINE_EXAMPLES_CLIENT_CLIENT_HPP
#define FAULTLINE_EXAMPLES_CLIENT_CLIENT_HPP

// faultline-client: a chat-completions client on Boost.Beast that fails well. Each call goes
// through `faultline::asio::async_run` (jittered backoff, the server's Retry-After, a retry
// budget, a fallback model), every error response through `faultline::classify`, every stream
// through `faultline::sse::monitor`; the report names each failure's category, code, message and
// fix.
//
//     examples::client::options o;
//     o.url = examples::parse_base_url("http://127.0.0.1:8080/v1").value();
//     o.api_key = "sk-demo-alice";
//     examples::client::report r = examples::client::run(o);
//     std::cout << r.to_text();
//
// The base URL is what the OpenAI SDKs take ("https://api.openai.com/v1"): the client appends
// /chat/completions. An https URL is called over verified TLS: the server's certificate must
// chain to the system's store or to --ca-file and name the URL's host; one that does not is a
// failure (category unknown, never retried). After a 404 the path it requested names the base URL
// to use: one without /v1, or with /v1 twice (reference 000; faultline::diagnose_request_target).

#include "common/http_client.hpp"

#include <faultline/asio/retry.hpp>
#include <faultline/classify.hpp>
#include <faultline/diagnose.hpp>
#include <faultline/limit/pacer.hpp>
#include <faultline/retry/budget.hpp>
#include <faultline/retry/policy.hpp>
#include <faultline/sse/monitor.hpp>

#include <boost/asio/ssl/context.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace examples::client {

/// What to ask and how to retry. A plain value.
struct options {
    base_url url;
    std::string raw_url; ///< As given, for the base-URL diagnosis.
    /// The TLS client context for an https `url` (`examples::make_tls_client_context`: the
    /// system's store plus --ca-file), shared by every request of a run. Null for http; null
    /// with an https URL fails each request with `tls_error::not_configured`.
    std::shared_ptr<boost::asio::ssl::context> tls;
    std::string api_key;
    std::string model = "gpt-sim";
    /// Where a request too long for `model` goes (`context_length_exceeded`): the call moves
    /// there at once, its attempts counted afresh (`faultline::asio::async_run` with two
    /// targets). Empty: none.
    std::string fallback_model;
    std::string prompt = "Say something about failing well.";
    std::uint64_t max_tokens = 0; ///< 0: not sent (the server's default).
    bool stream = false;
    /// Attempts, backoff, how long a server hint may be; defaults as `faultline::retry_policy`
    /// (4 attempts, full jitter from 1 s capped at 30 s, hints up to 60 s).
    faultline::retry_policy policy;
    /// Hedging (--hedge-after, --max-hedges): when no answer came within `hedge.delay`, the
    /// request is sent again on another connection, at most `hedge.max_hedges` times; the first
    /// answer wins and the others are cancelled (their connections closed). Hedges count
    /// against `budget` like retries. Default: off.
    faultline::hedge_policy hedge;
    /// A retry budget shared by every request of a run; none: no budget.
    std::optional<faultline::retry_budget_options> budget;
    std::chrono::milliseconds timeout{30'000}; ///< Longest silence from the server.
    std::size_t max_line = std::size_t(4) << 20;
    std::uint64_t requests = 1; ///< Requests made one after another.
    std::uint64_t parallel = 1; ///< Sequences run at once (each of `requests`).
    std::uint64_t seed = 0;     ///< Jitter seed; 0: random.
    /// Pace requests by the server's rate-limit headers (`faultline::limit::pacer`: OpenAI's
    /// x-ratelimit-*, Anthropic's anthropic-ratelimit-*, Retry-After on 429s), one pacer for
    /// every request of a run. A request waits until the pacer lets it go; a wait longer than
    /// `policy.max_server_delay` fails it at once (`rate_limited`, not retried).
    bool pace = false;
    bool json = false;          ///< Print JSON lines instead of text (the program's output).
    bool show_response = false; ///< Keep a transcript of each response (`report::responses`).
};

/// Reads the command line (everything after the program name; see `examples::command_line`
/// for the conventions). On a usage error returns `faultline::error::invalid_request` and puts
/// one line in `why` ("--attempts: must be 1..100, not '0'"). `--help` and `--version` return
/// `std::errc::operation_canceled` with the text to print (exit 0) in `why`. Thread-safe.
[[nodiscard]] faultline::result<options> parse_options(std::span<char* const> args,
                                                       std::string& why);

/// The text of --help. Thread-safe.
[[nodiscard]] std::string help_text();

/// One failed attempt.
struct attempt {
    unsigned number = 0;
    faultline::failure what;
    /// The wait before the next attempt, rounded up to whole milliseconds (a wait is never
    /// reported as none); 0 for the last.
    std::chrono::milliseconds delay{0};
    bool delay_from_server = false; ///< `delay` is the server's Retry-After (or kin).
    std::string fell_back_to;       ///< The model the call moved to after it, if it did.
};

/// The outcome of one request, after every retry.
struct report {
    bool ok = false;
    unsigned attempts = 0;
    unsigned status = 0;    ///< The last response's HTTP status; 0 when none came.
    std::string reply;      ///< The assistant's text (streamed deltas joined).
    std::string channel;    ///< `x-faultline-channel`, when the server names one.
    std::string model;      ///< The model of the last attempt (the fallback's after one).
    std::string request_id; ///< `x-request-id` of the last response.
    std::optional<faultline::failure> failure;              ///< Why it failed.
    std::optional<faultline::give_up_reason> gave_up;       ///< Why retrying stopped.
    std::error_code give_up_code;                           ///< `give_up_code(reason, last)`.
    std::vector<attempt> history;                           ///< Every failed attempt.
    std::optional<faultline::sse::terminal> stream_verdict; ///< For streams that started.
    std::size_t content_events = 0;
    unsigned hedges = 0;    ///< Attempts started beside a running one (`options::hedge`).
    bool hedge_won = false; ///< A hedge gave the answer.
    /// With `options::pace`: how long its attempts waited for the pacer, in all.
    std::chrono::milliseconds paced{0};
    std::vector<faultline::diagnosis> diagnosis; ///< Base-URL and key problems seen locally.
    /// With `options::show_response`: what the server sent, one transcript per attempt.
    std::vector<std::string> responses;

    /// Human-readable lines: each attempt, the result, category, code, message, fix.
    /// Thread-safe (const).
    [[nodiscard]] std::string to_text() const;
    /// Everything as one JSON object (see --help for the members). Thread-safe (const).
    [[nodiscard]] boost::json::object to_json() const;
};

/// What one request of `o` counts against a provider's windows: its prompt at four
/// characters a token plus `max_tokens` (0 when not sent: the server's default is unknown).
/// Thread-safe.
[[nodiscard]] faultline::limit::request_cost cost_of(const options& o) noexcept;

/// Makes one request (with its retries and hedges) on the caller's executor, which must run on
/// one thread (as `run`'s does); returns once every attempt it started has ended. `budget` and
/// `pacer` may be null (no budget, no pacing); `o`, `budget` and `pacer` must outlive the call, and
/// calls sharing a pacer must run on one thread (a pacer is not thread-safe). Thread-safe as far as
/// the budget is.
[[nodiscard]] boost::asio::awaitable<report>
call(const options& o, faultline::retry_budget<std::chrono::steady_clock>* budget,
     std::uint64_t seed, faultline::limit::pacer<std::chrono::steady_clock>* pacer = nullptr);

/// Runs `o.parallel` sequences of `o.requests` requests on a private io_context; reports in
/// the order the requests were made (sequence by sequence). Blocks. Thread-safe (runs share
/// nothing).
[[nodiscard]] std::vector<report> run(const options& o);

} // namespace examples::client

#endif

#ifndef FAULTLINE_EXAMPLES_LOADGEN_REPORT_HPP
#define FAULTLINE_EXAMPLES_LOADGEN_REPORT_HPP

// What faultline-loadgen measures and how it shows it: one `request_result` per request, folded
// into a `report` (totals, latency histograms, status / failure / verdict histograms and a
// per-second series), which renders as a human summary, JSON and an SVG chart.
//
//     examples::loadgen::report rep(settings);
//     rep.add(result, clock::now() - start);      // once per finished request
//     rep.finish(clock::now() - start);
//     std::fputs(summary(rep).c_str(), stdout);
//     std::string json = boost::json::serialize(to_json(rep));
//     std::string svg = render_svg(rep, chart_title(rep.settings));
//
// Memory is bounded whatever the run's length: histograms are fixed-size, the status map has at
// most 1000 keys (three-digit statuses), failure keys are (category, code) pairs of two enums,
// transport messages are capped at `report::max_transport_kinds`, and the series at
// `time_series::max_seconds()`.

#include "loadgen/arrivals.hpp"
#include "loadgen/histogram.hpp"
#include "loadgen/tokens.hpp"

#include <faultline/error.hpp>
#include <faultline/limit/pacer.hpp>
#include <faultline/sse/monitor.hpp>

#include <boost/json/object.hpp>

#include <array>
#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace examples::loadgen {

/// The class a finished request counts in; every request is exactly one of them.
enum class outcome : unsigned char {
    ok,        ///< A 2xx response, and for a stream the verdict `done`.
    throttled, ///< Ended with a 429.
    error,     ///< Anything else: other statuses, transport failures, bad stream endings.
};

/// Why a request failed, as `faultline::classify` (or `to_failure`, or the stream monitor) said.
struct failure_kind {
    faultline::category cat = faultline::category::unknown; ///< The class, as `failure::cat`.
    faultline::error code = faultline::error::unknown;      ///< The code, as `failure::code`.

    friend auto operator<=>(const failure_kind&, const failure_kind&) = default;
};

/// What one request (all its attempts) ended with.
struct request_result {
    /// The final attempt's HTTP status; 0 when no response head arrived (transport failure).
    unsigned status = 0;
    /// Why it failed; none when it succeeded (2xx and, for a stream, the verdict `done`).
    std::optional<failure_kind> failure;
    /// The transport error that ended the final attempt (refused, reset, timeout), if any.
    std::error_code transport;
    /// How the stream ended, for a stream request answered with a 2xx.
    std::optional<faultline::sse::terminal> verdict;
    /// From the start of the first attempt to the end of the final response, retry waits
    /// included: what the caller waited.
    std::chrono::nanoseconds latency{};
    /// Streams: from the start of the first attempt to the first content event.
    std::optional<std::chrono::nanoseconds> first_event;
    std::uint64_t events = 0;         ///< Streams: events of the final attempt.
    std::uint64_t content_events = 0; ///< Streams: content events of the final attempt.
    /// Streams: from the start of the first attempt to the first event carrying generated
    /// text (tokens.hpp says which do): the time to first token.
    std::optional<std::chrono::nanoseconds> first_token;
    std::uint64_t text_events = 0; ///< Streams: events of the final attempt carrying text.
    /// Streams: the gaps between consecutive text-carrying events of the final attempt, in
    /// order: inter-token latencies. A view of the caller's buffer, read by `report::add`.
    std::span<const std::chrono::nanoseconds> token_gaps;
    /// Gaps of this stream beyond those in `token_gaps` (a stream longer than the buffer's cap).
    std::uint64_t token_gaps_not_kept = 0;
    /// The token counts the final response reported (a body's or a stream's `usage`).
    token_usage usage;
    /// What the final response's rate-limit headers said (`faultline::limit::read_rate_limits`);
    /// none when it had none or no response came.
    std::optional<faultline::limit::rate_limit_report> rate_limits;
    /// Attempts that failed and were retried. Informational: a report counts retries as
    /// they happen, through `report::add_retry`.
    unsigned retries = 0;
    /// With pacing: how long the request's attempts waited for the pacer, in all.
    std::chrono::nanoseconds paced{};

    /// The class this result counts in. Thread-safe.
    [[nodiscard]] outcome kind() const noexcept {
        if (!failure) return outcome::ok;
        return status == 429 ? outcome::throttled : outcome::error;
    }

    /// Where `output_tokens()` comes from.
    enum class token_source : unsigned char {
        usage,   ///< The server's `usage`.
        counted, ///< A stream without usage: its text-carrying events, one token each.
        unknown, ///< Neither: a body without usage.
    };
    /// Whose count `output_tokens()` is. Thread-safe.
    [[nodiscard]] token_source output_token_source() const noexcept {
        if (usage.output) return token_source::usage;
        return verdict ? token_source::counted : token_source::unknown;
    }
    /// The tokens generated: the server's count, else a stream's text events; 0 when unknown.
    /// Thread-safe.
    [[nodiscard]] std::uint64_t output_tokens() const noexcept {
        if (usage.output) return *usage.output;
        return verdict ? text_events : 0;
    }
};

/// faultline's categories in order, as array indices (`category_index`).
inline constexpr std::size_t category_count =
    static_cast<std::size_t>(faultline::category::unknown);

/// `c`'s index in [0, category_count). Thread-safe.
[[nodiscard]] constexpr std::size_t category_index(faultline::category c) noexcept {
    const auto i = static_cast<std::size_t>(c);
    return i >= 1 && i <= category_count ? i - 1 : category_count - 1;
}

/// One second of a run, by completion time.
struct second_stats {
    std::uint64_t requests = 0;   ///< Requests that finished in this second.
    std::uint64_t ok = 0;         ///< ... of which `outcome::ok`,
    std::uint64_t throttled = 0;  ///< ... `outcome::throttled`,
    std::uint64_t errors = 0;     ///< ... `outcome::error`.
    std::uint64_t retries = 0;    ///< Attempts retried in this second.
    std::uint64_t status_429 = 0; ///< Every 429 response, retried attempts' included.
    std::uint64_t output_tokens = 0; ///< Tokens generated by the successes of this second.
    /// Failed requests of this second by category (`category_index`).
    std::array<std::uint64_t, category_count> failures{};
    /// Latency percentiles of the successes that finished in this second; none without any.
    std::optional<std::chrono::nanoseconds> p50, p99;
};

/// A per-second series with a cap on the seconds kept: the first `max_seconds()` seconds are
/// kept, later ones only counted in `dropped_seconds()` (the run's totals still include them).
/// Samples must arrive in completion order (one event loop guarantees that); one that arrives
/// for a second already closed counts in the open one. Not thread-safe.
class time_series {
public:
    /// One hour of seconds: at most about 300 KiB of rows.
    static constexpr std::size_t default_max_seconds = 3600;

    /// A series keeping at most `max_seconds` seconds (0 counts as 1). Not thread-safe.
    explicit time_series(std::size_t max_seconds = default_max_seconds);

    /// A request of class `o` and latency `latency` finished at `at` since the start; a
    /// failed one failed with category `failed`, a success generated `output_tokens`.
    /// Not thread-safe.
    void add(std::chrono::nanoseconds at, outcome o, std::chrono::nanoseconds latency,
             faultline::category failed = faultline::category::unknown,
             std::uint64_t output_tokens = 0);
    /// An attempt with HTTP status `status` failed at `at` and will be retried. Not thread-safe.
    void add_retry(std::chrono::nanoseconds at, unsigned status);
    /// Closes every second up to the end of a run of length `elapsed` (the last partial second
    /// included), so idle seconds show as empty rows. Not thread-safe.
    void finish(std::chrono::nanoseconds elapsed);

    /// Replaces the series by seconds read back from a report (`read_saved_report`): `rows`
    /// (at most `max_seconds()` are kept) and `dropped` seconds not kept. Not thread-safe.
    void restore(std::vector<second_stats> rows, std::uint64_t dropped);

    /// The closed seconds kept, second 0 first. Not thread-safe.
    [[nodiscard]] const std::vector<second_stats>& seconds() const noexcept { return rows_; }
    /// Closed seconds not kept because of the cap. Not thread-safe.
    [[nodiscard]] std::uint64_t dropped_seconds() const noexcept { return dropped_; }
    /// The cap. Not thread-safe.
    [[nodiscard]] std::size_t max_seconds() const noexcept { return max_; }
    /// Bytes held, heap included: at most a constant plus `max_seconds()` rows.
    /// Not thread-safe.
    [[nodiscard]] std::size_t footprint_bytes() const noexcept;

private:
    void advance(std::uint64_t second);
    void close_open();
    void reserve(std::size_t rows);

    std::size_t max_;
    std::vector<second_stats> rows_;
    std::uint64_t dropped_ = 0;
    std::uint64_t open_ = 0; // the second now accumulating
    second_stats current_;
    bool current_used_ = false;
    latency_histogram current_latency_;
};

/// The run's configuration as the report shows it (never the API key).
struct run_settings {
    std::string url;                                   ///< The base URL as given.
    std::string target;                                ///< The request target: base path + path.
    std::string model;                                 ///< The requests' "model".
    std::string api = "chat";                          ///< `to_string(options::api)`.
    bool stream = false;                               ///< The requests' "stream".
    unsigned connections = 0;                          ///< Concurrent connections.
    std::optional<std::chrono::milliseconds> duration; ///< `options::duration`.
    std::optional<std::chrono::milliseconds> warmup;   ///< `options::warmup`.
    std::optional<std::uint64_t> request_limit;        ///< `options::requests`.
    unsigned max_tokens = 0;                           ///< The requests' "max_tokens".
    unsigned max_attempts = 1;                         ///< Attempts per request, retries + 1.
    std::chrono::milliseconds timeout{};               ///< `options::timeout`.
    std::uint64_t seed = 0;                            ///< `options::seed`.
    /// Where the messages come from: "fixed", "generated, ~N tokens", "file:NAME, N prompts".
    std::string prompts = "fixed";
    std::optional<double> rate;             ///< `options::rate`: open loop.
    std::optional<arrival_process> arrival; ///< `options::arrival`, with a rate.
    bool pace = false;                      ///< `options::pace`.
};

/// What LLM-serving benchmarks report (vLLM's benchmark_serving, llmperf, genai-perf), over
/// successful requests only: a refusal's latency says nothing about serving. A value type.
/// Not thread-safe.
struct success_figures {
    latency_histogram e2e;  ///< End-to-end latency (`request_result::latency`).
    latency_histogram ttft; ///< Streams: time to first token.
    /// Streams: every gap between consecutive text-carrying events (per event, as vLLM
    /// measures it: a server sending two tokens per event shows one gap).
    latency_histogram itl;
    /// Streams with at least two output tokens: (e2e - ttft) / (output tokens - 1).
    latency_histogram tpot;
    quantity_histogram output_tokens;            ///< Tokens generated, per request.
    quantity_histogram output_tokens_per_second; ///< Per request: output tokens / e2e.
    std::uint64_t output_tokens_total = 0;       ///< Sum of `output_tokens()`.
    std::uint64_t input_tokens_total = 0;        ///< Sum of the prompt tokens servers reported.
    /// Successes by `request_result::output_token_source()`: usage, counted, unknown.
    std::array<std::uint64_t, 3> token_sources{};
    std::uint64_t itl_not_kept = 0; ///< Gaps of very long streams not recorded.
};

/// What the responses' rate-limit headers said over a run (every response, retried attempts'
/// included). A value type. Not thread-safe.
struct rate_limit_summary {
    /// One window (`faultline::limit::window`) over the run.
    struct window_summary {
        std::uint64_t responses = 0;                       ///< Responses reporting it.
        std::optional<std::uint64_t> limit;                ///< The last limit reported.
        std::optional<std::uint64_t> remaining_min;        ///< The least remaining reported.
        std::optional<std::chrono::nanoseconds> reset_max; ///< The longest reset reported.
    };
    std::uint64_t responses = 0;   ///< Responses with at least one rate-limit header.
    std::uint64_t ignored = 0;     ///< Header values present but unusable.
    latency_histogram retry_after; ///< `retry-after-ms` / `Retry-After` hints.
    std::array<window_summary, faultline::limit::window_count> windows{};

    /// Folds in one response's headers. Not thread-safe.
    void add(const faultline::limit::rate_limit_report& r);
};

/// Everything a run measured. Fold results in with `add`, `add_retry`, `add_aborted`, then
/// call `finish`. A value type. Not thread-safe.
struct report {
    /// Distinct transport messages kept; the rest count under "other".
    static constexpr std::size_t max_transport_kinds = 16;

    /// An empty report with empty settings. Not thread-safe.
    report();
    /// An empty report for `settings`, its series capped at `max_series_seconds`.
    /// Not thread-safe.
    explicit report(run_settings settings,
                    std::size_t max_series_seconds = time_series::default_max_seconds);

    run_settings settings;              ///< What ran.
    std::chrono::nanoseconds elapsed{}; ///< From the start (after warm-up) to the last end.
    bool interrupted = false;           ///< Stopped early by SIGINT/SIGTERM.
    std::uint64_t requests = 0;         ///< Requests finished (= ok + throttled + errors).
    std::uint64_t ok = 0;               ///< ... of class `outcome::ok`,
    std::uint64_t throttled = 0;        ///< ... `outcome::throttled`,
    std::uint64_t errors = 0;           ///< ... `outcome::error`.
    std::uint64_t retries = 0;          ///< Attempts that failed and were retried.
    std::uint64_t aborted = 0;          ///< Requests cut off at the end of the run, not counted.
    std::uint64_t warmup_requests = 0;  ///< Requests of the warm-up, in no other count.
    std::uint64_t events = 0;           ///< Stream events of every request.
    std::uint64_t content_events = 0;   ///< ... of which content events.
    latency_histogram latency;          ///< `request_result::latency` of every request.
    latency_histogram first_event;      ///< `request_result::first_event` of streams that had one.
    /// Open loop: each request's actual start minus its scheduled time. Empty in a closed loop.
    latency_histogram schedule_lag;
    /// With pacing (`run_settings::pace`): each request's `request_result::paced`, zeros
    /// included. Empty without pacing.
    latency_histogram pacing_wait;
    std::map<unsigned, std::uint64_t> statuses;            ///< Final status -> requests.
    std::map<unsigned, std::uint64_t> retried_statuses;    ///< Status of retried attempts.
    std::map<failure_kind, std::uint64_t> failures;        ///< Failed requests by class and code.
    std::map<std::string, std::uint64_t> transport_errors; ///< By the error's message.
    std::map<faultline::sse::terminal, std::uint64_t> stream_verdicts; ///< Of 2xx streams.
    success_figures successes;                                         ///< Of `ok` requests.
    rate_limit_summary rate_limits; ///< Every response's rate-limit headers.
    time_series series;             ///< Per second.

    /// Folds in a request that finished at `at` since the start. Not thread-safe.
    void add(const request_result& r, std::chrono::nanoseconds at);
    /// Folds in a failed attempt that will be retried (`r` as that attempt ended) at `at`.
    /// Not thread-safe.
    void add_retry(const request_result& r, std::chrono::nanoseconds at);
    /// Counts a request abandoned when the run ended. Not thread-safe.
    void add_aborted() noexcept { ++aborted; }
    /// Sets `elapsed` and closes the series. Not thread-safe.
    void finish(std::chrono::nanoseconds run_elapsed);

private:
    void add_success(const request_result& r);

public:
    /// Requests per second over `elapsed`; 0 for an empty run. Not thread-safe.
    [[nodiscard]] double requests_per_second() const noexcept;
    /// Stream events per second over `elapsed`; 0 for an empty run. Not thread-safe.
    [[nodiscard]] double events_per_second() const noexcept;
    /// Successful requests per second over `elapsed`; 0 for an empty run. Not thread-safe.
    [[nodiscard]] double successes_per_second() const noexcept;
    /// Tokens generated by successes per second over `elapsed`; 0 for an empty run.
    /// Not thread-safe.
    [[nodiscard]] double output_tokens_per_second() const noexcept;
};

/// What the progress callback sees about once a second.
struct progress {
    std::chrono::nanoseconds elapsed{}; ///< Since the start of the run.
    std::uint64_t requests = 0;         ///< Finished so far, as `report::requests`,
    std::uint64_t ok = 0;               ///< ... `report::ok`,
    std::uint64_t throttled = 0;        ///< ... `report::throttled`,
    std::uint64_t errors = 0;           ///< ... `report::errors`,
    std::uint64_t retries = 0;          ///< ... `report::retries`.
    double requests_per_second = 0;     ///< Over the interval since the previous snapshot.
};

/// Why a run without a single success failed, as one line: "no request succeeded: 40 of 40
/// failed, most often upstream_unavailable/upstream_unavailable (40: Connection refused)".
/// Not thread-safe.
[[nodiscard]] std::string no_success_reason(const report& r);

/// One progress line, newline-terminated:
/// "  3.0 s  12345 req  4115 req/s  ok 12000  429 300  err 45" (plus "  retries N" when any).
/// Thread-safe.
[[nodiscard]] std::string format_progress(const progress& p);

/// The report as JSON; the fields are listed in `help_text()` (loadgen.hpp). Not thread-safe.
[[nodiscard]] boost::json::object to_json(const report& r);

/// The human summary, several newline-terminated lines. Not thread-safe.
[[nodiscard]] std::string summary(const report& r);

/// "faultline-loadgen: <target URL>, <model>, <N> connections[, stream]". Thread-safe.
[[nodiscard]] std::string chart_title(const run_settings& s);

/// A self-contained SVG 1.1 document: latency over time (p50 and p99 per second; a log axis
/// when they span more than a factor of 20, else linear) above 429 responses per second (bars),
/// with axes, labels, a legend and `title` (escaped; bytes that are not valid UTF-8 or not
/// allowed in XML become U+FFFD). Not thread-safe.
[[nodiscard]] std::string render_svg(const report& r, std::string_view title);

/// A chart of two runs over each other (A solid, B dashed): successes and failures per second,
/// p50 and p99 latency of successes, output tokens per second; `title` as in `render_svg`.
/// Not thread-safe.
[[nodiscard]] std::string render_compare_svg(const report& a, const report& b,
                                             std::string_view title);

/// A report read back from the JSON `to_json` wrote (format 2): its settings, totals, elapsed
/// time and per-second series (histograms are not in the JSON: their percentiles are, in
/// `document`). A value type.
struct saved_report {
    report run;                   ///< Settings, totals, `elapsed`, the series' seconds.
    boost::json::object document; ///< The whole JSON object as read.
};

/// Reads a saved report, or says in one line what is wrong with it (not JSON, not a
/// faultline-loadgen report, another format, a member missing or of the wrong type).
/// Thread-safe.
[[nodiscard]] std::variant<saved_report, std::string> read_saved_report(std::string_view json_text);

/// A table of two runs' headline figures, B beside A with the ratio B / A (throughput,
/// success and failure counts, end-to-end, TTFT, ITL and TPOT percentiles of successes),
/// newline-terminated lines. Not thread-safe.
[[nodiscard]] std::string compare_summary(const saved_report& a, const saved_report& b);

/// `s` escaped for XML text and attribute values (& < > " '), invalid UTF-8 and characters XML
/// 1.0 forbids replaced by U+FFFD. Thread-safe.
[[nodiscard]] std::string xml_escape(std::string_view s);

} // namespace examples::loadgen

#endif

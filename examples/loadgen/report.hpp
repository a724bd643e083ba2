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

#include <faultline/error.hpp>
#include <faultline/sse/monitor.hpp>

#include <boost/json/object.hpp>

#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
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
    /// Attempts that failed and were retried. Informational: a report counts retries as
    /// they happen, through `report::add_retry`.
    unsigned retries = 0;

    /// The class this result counts in. Thread-safe.
    [[nodiscard]] outcome kind() const noexcept {
        if (!failure) return outcome::ok;
        return status == 429 ? outcome::throttled : outcome::error;
    }
};

/// One second of a run, by completion time.
struct second_stats {
    std::uint64_t requests = 0;   ///< Requests that finished in this second.
    std::uint64_t ok = 0;         ///< ... of which `outcome::ok`,
    std::uint64_t throttled = 0;  ///< ... `outcome::throttled`,
    std::uint64_t errors = 0;     ///< ... `outcome::error`.
    std::uint64_t retries = 0;    ///< Attempts retried in this second.
    std::uint64_t status_429 = 0; ///< Every 429 response, retried attempts' included.
    /// Latency percentiles of the requests that finished in this second; none without any.
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

    /// A request of class `o` and latency `latency` finished at `at` since the start.
    /// Not thread-safe.
    void add(std::chrono::nanoseconds at, outcome o, std::chrono::nanoseconds latency);
    /// An attempt with HTTP status `status` failed at `at` and will be retried. Not thread-safe.
    void add_retry(std::chrono::nanoseconds at, unsigned status);
    /// Closes every second up to the end of a run of length `elapsed` (the last partial second
    /// included), so idle seconds show as empty rows. Not thread-safe.
    void finish(std::chrono::nanoseconds elapsed);

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
    std::optional<double> rate;                        ///< `options::rate`: open loop.
    std::optional<arrival_process> arrival;            ///< `options::arrival`, with a rate.
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
    std::map<unsigned, std::uint64_t> statuses;            ///< Final status -> requests.
    std::map<unsigned, std::uint64_t> retried_statuses;    ///< Status of retried attempts.
    std::map<failure_kind, std::uint64_t> failures;        ///< Failed requests by class and code.
    std::map<std::string, std::uint64_t> transport_errors; ///< By the error's message.
    std::map<faultline::sse::terminal, std::uint64_t> stream_verdicts; ///< Of 2xx streams.
    time_series series;                                                ///< Per second.

    /// Folds in a request that finished at `at` since the start. Not thread-safe.
    void add(const request_result& r, std::chrono::nanoseconds at);
    /// Folds in a failed attempt that will be retried (`r` as that attempt ended) at `at`.
    /// Not thread-safe.
    void add_retry(const request_result& r, std::chrono::nanoseconds at);
    /// Counts a request abandoned when the run ended. Not thread-safe.
    void add_aborted() noexcept { ++aborted; }
    /// Sets `elapsed` and closes the series. Not thread-safe.
    void finish(std::chrono::nanoseconds run_elapsed);

    /// Requests per second over `elapsed`; 0 for an empty run. Not thread-safe.
    [[nodiscard]] double requests_per_second() const noexcept;
    /// Stream events per second over `elapsed`; 0 for an empty run. Not thread-safe.
    [[nodiscard]] double events_per_second() const noexcept;
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

/// `s` escaped for XML text and attribute values (& < > " '), invalid UTF-8 and characters XML
/// 1.0 forbids replaced by U+FFFD. Thread-safe.
[[nodiscard]] std::string xml_escape(std::string_view s);

} // namespace examples::loadgen

#endif

#ifndef FAULTLINE_EXAMPLES_GATEWAY_METRICS_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_METRICS_HPP

// The gateway's metrics, as Prometheus text (exposition format 0.0.4) at `GET /metrics`:
// requests by route, model and status; upstream calls by model, channel and outcome (`ok`, the
// faultline category of the failure, or `abandoned`); latency histograms of requests, upstream
// heads and whole upstream calls; failovers, and the failover pipeline's events (fallbacks by
// the category that caused them, give-ups by reason, through `route_events`); limit refusals by
// level, stream endings, circuit breaker states and the changes outcomes made to them, and the
// server's `stats`.
//
//     metrics_registry m(config);                      // every series, created here
//     m.answered(route::chat, 429);                    // on the request path: atomics only
//     m.upstream_failed("gpt", "ok-a", category::timeout, took);
//     std::string text;
//     m.render(text, scraped);                         // GET /metrics
//
// The models and channels are the configuration's, known at start, so every series exists
// before the first request: recording takes no lock and allocates nothing (a hash lookup of the
// model, a scan of its few channels, relaxed atomic adds). A name the configuration does not
// have is not recorded (a request for an unknown model counts under model "").

#include "gateway/config.hpp"
#include "gateway/gateway.hpp"
#include "gateway/limits.hpp"

#include <faultline/error.hpp>
#include <faultline/pipeline.hpp>
#include <faultline/retry/circuit_breaker.hpp>
#include <faultline/retry/policy.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace examples::gateway {

/// What `GET /metrics` answers with.
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// The path a request was for; `other` is any other path and a request that could not be read.
enum class route : unsigned char { chat, responses, models, metrics, other };

/// The route of a request target (its query ignored). Thread-safe.
[[nodiscard]] route route_of(std::string_view target) noexcept;

/// The route's label value: "/v1/chat/completions", "/v1/responses", "/v1/models", "/metrics",
/// "other".
/// Thread-safe.
[[nodiscard]] std::string_view to_string(route r) noexcept;

/// Which kind of limit refused a request: requests or tokens per minute, requests in flight,
/// a key's spend budget, a channel's adaptive concurrency limit.
enum class limit_kind : unsigned char { rate, concurrency, spend, adaptive };

/// "rate", "concurrency", "spend", "adaptive". Thread-safe.
[[nodiscard]] std::string_view to_string(limit_kind k) noexcept;

/// How a relayed stream ended, as the client saw it.
enum class stream_end : unsigned char {
    done,        ///< `[DONE]` relayed.
    error_chunk, ///< The upstream sent an error chunk; the gateway's followed by `[DONE]`.
    truncated,   ///< The upstream cut the stream; an error chunk + `[DONE]` ended it.
    cut,         ///< The upstream cut the stream and the gateway cut its own (`pass_cuts`).
    timeout,     ///< The upstream went quiet, or a stream time limit passed.
    overloaded,  ///< Over a stream memory budget.
    too_long,    ///< An upstream line too long to hold.
    abandoned,   ///< The client went away.
};

/// "done", "error_chunk", "truncated", "cut", "timeout", "overloaded", "too_long", "abandoned".
/// Thread-safe.
[[nodiscard]] std::string_view to_string(stream_end e) noexcept;

/// How a stream that failed with `failed` (none: it completed) ended; `upstream_fault` says
/// whether the upstream caused it. Thread-safe.
[[nodiscard]] stream_end stream_end_of(std::optional<faultline::error> failed, bool upstream_fault,
                                       bool pass_cuts, bool abandoned) noexcept;

/// `v` escaped as a label value: backslash, double quote and line feed as `\\`, `\"`, `\n`.
/// Thread-safe.
[[nodiscard]] std::string escape_label_value(std::string_view v);

/// A latency histogram with fixed buckets. Thread-safe and lock-free; a reading taken while
/// another thread observes may count that observation in its buckets but not yet in its sum.
class latency_histogram {
public:
    /// The buckets' upper bounds in seconds (`le`); `+Inf` follows. LLM calls last from
    /// milliseconds (a refusal) to minutes (a long stream).
    static constexpr std::array<double, 15> bounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                   2.5,   5,    10,    30,   60,  120,  300};

    void observe(std::chrono::nanoseconds d) noexcept;

    /// A reading: cumulative bucket counts (the last is `+Inf`, the count) and the sum.
    struct reading {
        std::array<std::uint64_t, bounds.size() + 1> cumulative{};
        std::chrono::nanoseconds sum{0};
        [[nodiscard]] std::uint64_t count() const noexcept { return cumulative.back(); }
    };
    [[nodiscard]] reading read() const noexcept;

private:
    std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets_{}; // not cumulative
    std::atomic<std::int64_t> sum_ns_{0};
};

/// A circuit breaker's state, read at scrape time: each model has one per channel.
struct breaker_reading {
    std::string model;
    std::string channel;
    faultline::circuit_state state = faultline::circuit_state::closed;
};

/// What the server reads for a scrape besides the registry's own series.
struct scrape {
    stats counters;
    std::uint64_t stream_bytes = 0; ///< Held by all relayed streams now.
    std::uint64_t body_bytes = 0;   ///< Held by all request bodies now.
    std::vector<breaker_reading> breakers;
    std::vector<adaptive_stats> adaptive;
};

/// The gateway's series. Thread-safe: every member may be called from any thread at once.
class metrics_registry {
public:
    /// Creates the series of `config`'s models and channels. `config` need not outlive it.
    explicit metrics_registry(const gateway_config& config);
    ~metrics_registry();
    metrics_registry(const metrics_registry&) = delete;
    metrics_registry& operator=(const metrics_registry&) = delete;

    /// An answer with `status` began (a stream: its head).
    void answered(route r, unsigned status) noexcept;
    /// A request ended after `took`, from its read to its answer's last byte. `model`: a chat
    /// request's model ("" or unknown: none).
    void request_done(route r, std::string_view model, std::chrono::nanoseconds took) noexcept;

    /// An upstream call's response head came `took` after the call began.
    void upstream_head(std::string_view model, std::string_view channel,
                       std::chrono::nanoseconds took) noexcept;
    /// An upstream call ended well, failed with a failure of category `c`, or was abandoned by
    /// its client, `took` after it began.
    void upstream_ok(std::string_view model, std::string_view channel,
                     std::chrono::nanoseconds took) noexcept;
    void upstream_failed(std::string_view model, std::string_view channel, faultline::category c,
                         std::chrono::nanoseconds took) noexcept;
    void upstream_abandoned(std::string_view model, std::string_view channel,
                            std::chrono::nanoseconds took) noexcept;
    /// A call to another channel of `model` after one failed.
    void failover(std::string_view model) noexcept;
    /// `model`'s failover pipeline moved a call to its next channel, after an attempt that
    /// ended with a failure of category `cause` (a channel skipped with its breaker open or at
    /// a limit: `upstream_unavailable`). Fed by `route_events`.
    void route_fallback(std::string_view model, faultline::category cause) noexcept;
    /// `model`'s failover pipeline gave a call up for `reason`. Fed by `route_events`.
    void route_gave_up(std::string_view model, faultline::give_up_reason reason) noexcept;
    /// A streamed upstream call ended, `took` after it began: the stream's ending and the
    /// call's outcome (the category of `failed`, or abandoned) together.
    void stream_call_ended(std::string_view model, std::string_view channel,
                           std::optional<faultline::error> failed, bool upstream_fault,
                           bool pass_cuts, bool abandoned, std::chrono::nanoseconds took) noexcept;
    /// An upstream outcome recorded on `model`'s circuit breaker of `channel` changed its state
    /// (`c`, as the breaker's `record*` returned it): opened it (from closed, or a failed probe
    /// from half-open) or closed it (a success once the cool-down is over). No change is not
    /// counted.
    void circuit_changed(std::string_view model, std::string_view channel,
                         faultline::circuit_change c) noexcept;
    /// A limit of kind `k` at level `l` refused a request (a channel's refusal counts even when
    /// another channel then takes the request).
    void limit_refused(level l, limit_kind k) noexcept;
    /// A relayed stream of `model` ended.
    void stream_ended(std::string_view model, stream_end e) noexcept;

    /// Appends every series to `out` in the text exposition format 0.0.4, with `s` read by the
    /// server for this scrape.
    void render(std::string& out, const scrape& s) const;

private:
    struct model_series;
    struct channel_series;
    [[nodiscard]] model_series* find(std::string_view model) const noexcept;
    [[nodiscard]] channel_series* find(std::string_view model,
                                       std::string_view channel) const noexcept;

    static constexpr unsigned min_status = 100, max_status = 599;
    // Answers per route, by status; request latency per route (chat: of requests that named no
    // model of the configuration; the models' own are in `models_`).
    std::unique_ptr<std::array<std::atomic<std::uint64_t>, max_status - min_status + 1>[]> answers_;
    std::unique_ptr<latency_histogram[]> route_latency_;
    std::vector<std::unique_ptr<model_series>> models_;
    std::unordered_map<std::string_view, model_series*> by_id_;           // keys owned by `models_`
    std::array<std::array<std::atomic<std::uint64_t>, 4>, 3> refusals_{}; // [level][kind]
};

/// The events sink of a model's failover pipeline (`faultline::pipeline<route_events>`): its
/// fallbacks and give-ups, counted as `route_fallback` and `route_gave_up` of `model`. The
/// registry must outlive the pipeline. A plain value; its calls are thread-safe.
struct route_events {
    metrics_registry* metrics = nullptr;
    std::string_view model;

    void operator()(const faultline::fallback_taken& e) const noexcept {
        metrics->route_fallback(model, e.cause.cat);
    }
    void operator()(const faultline::gave_up& e) const noexcept {
        metrics->route_gave_up(model, e.reason);
    }
};

} // namespace examples::gateway

#endif

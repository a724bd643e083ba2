#include "gateway/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>
#include <system_error>

namespace examples::gateway {

namespace {

using std::chrono::nanoseconds;

constexpr std::size_t categories = static_cast<std::size_t>(faultline::category::unknown);
// An upstream call's outcomes: ok, each category (by its value, from 1), abandoned.
constexpr std::size_t outcome_ok = 0, outcome_abandoned = categories + 1;
constexpr std::size_t outcomes = categories + 2;
constexpr std::size_t routes = 5, stream_ends = 8;
constexpr std::size_t give_up_reasons =
    static_cast<std::size_t>(faultline::give_up_reason::cancelled) + 1;

// A category's index in a per-category array (from 1; anything else counts as `unknown`).
std::size_t category_index(faultline::category c) noexcept {
    const auto i = static_cast<std::size_t>(c);
    return i < 1 || i > categories ? static_cast<std::size_t>(faultline::category::unknown) : i;
}

constexpr auto bounds_ns = [] {
    std::array<std::int64_t, latency_histogram::bounds.size()> out{};
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<std::int64_t>(latency_histogram::bounds[i] * 1e9 + 0.5);
    return out;
}();

void add(std::atomic<std::uint64_t>& a) noexcept {
    a.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t get(const std::atomic<std::uint64_t>& a) noexcept {
    return a.load(std::memory_order_relaxed);
}

void append_number(std::string& out, double v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_number(std::string& out, std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

double seconds(nanoseconds d) noexcept {
    return static_cast<double>(d.count()) / 1e9;
}

// Label pairs of one series, written as `{a="x",b="y"}`; values escaped.
struct labels {
    std::initializer_list<std::pair<std::string_view, std::string_view>> pairs;
};

void append_labels(std::string& out, labels ls, std::string_view le = {}) {
    if (ls.pairs.size() == 0 && le.empty()) return;
    out += '{';
    bool first = true;
    for (const auto& [name, value] : ls.pairs) {
        if (!first) out += ',';
        first = false;
        out.append(name).append("=\"").append(escape_label_value(value)).append("\"");
    }
    if (!le.empty()) out.append(first ? "" : ",").append("le=\"").append(le).append("\"");
    out += '}';
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

template <class Value>
void sample(std::string& out, std::string_view name, labels ls, Value v) {
    out.append(name);
    append_labels(out, ls);
    out += ' ';
    append_number(out, v);
    out += '\n';
}

void histogram(std::string& out, std::string_view name, labels ls, const latency_histogram& h) {
    const latency_histogram::reading r = h.read();
    const std::string bucket = std::string(name) + "_bucket";
    for (std::size_t i = 0; i <= latency_histogram::bounds.size(); ++i) {
        std::string le = "+Inf";
        if (i < latency_histogram::bounds.size()) {
            le.clear();
            append_number(le, latency_histogram::bounds[i]);
        }
        out.append(bucket);
        append_labels(out, ls, le);
        out += ' ';
        append_number(out, r.cumulative[i]);
        out += '\n';
    }
    sample(out, std::string(name) + "_sum", ls, seconds(r.sum));
    sample(out, std::string(name) + "_count", ls, r.count());
}

std::string_view outcome_name(std::size_t i) noexcept {
    if (i == outcome_ok) return "ok";
    if (i == outcome_abandoned) return "abandoned";
    return faultline::to_string(static_cast<faultline::category>(i));
}

} // namespace

route route_of(std::string_view target) noexcept {
    const std::string_view path = target.substr(0, target.find('?'));
    if (path == "/v1/chat/completions") return route::chat;
    if (path == "/v1/responses") return route::responses;
    if (path == "/v1/models") return route::models;
    if (path == "/metrics") return route::metrics;
    return route::other;
}

std::string_view to_string(route r) noexcept {
    switch (r) {
    case route::chat:
        return "/v1/chat/completions";
    case route::responses:
        return "/v1/responses";
    case route::models:
        return "/v1/models";
    case route::metrics:
        return "/metrics";
    case route::other:
        return "other";
    }
    return "other";
}

std::string_view to_string(limit_kind k) noexcept {
    switch (k) {
    case limit_kind::rate:
        return "rate";
    case limit_kind::concurrency:
        return "concurrency";
    case limit_kind::spend:
        return "spend";
    case limit_kind::adaptive:
        return "adaptive";
    }
    return "rate";
}

std::string_view to_string(stream_end e) noexcept {
    switch (e) {
    case stream_end::done:
        return "done";
    case stream_end::error_chunk:
        return "error_chunk";
    case stream_end::truncated:
        return "truncated";
    case stream_end::cut:
        return "cut";
    case stream_end::timeout:
        return "timeout";
    case stream_end::overloaded:
        return "overloaded";
    case stream_end::too_long:
        return "too_long";
    case stream_end::abandoned:
        return "abandoned";
    }
    return "done";
}

stream_end stream_end_of(std::optional<faultline::error> failed, bool upstream_fault,
                         bool pass_cuts, bool abandoned) noexcept {
    using faultline::error;
    if (abandoned) return stream_end::abandoned;
    if (!failed) return stream_end::done;
    switch (*failed) {
    case error::stream_truncated:
        if (upstream_fault) return pass_cuts ? stream_end::cut : stream_end::truncated;
        break;
    case error::stream_timeout:
        return stream_end::timeout;
    case error::upstream_timeout:
        // The upstream went quiet, or its error chunk said it timed out: a timeout either way.
        return stream_end::timeout;
    case error::sse_line_too_long:
    case error::sse_event_too_large:
        if (!upstream_fault) return stream_end::too_long;
        break;
    case error::overloaded:
        if (!upstream_fault) return stream_end::overloaded;
        break;
    default:
        break;
    }
    return stream_end::error_chunk;
}

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (const char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

void latency_histogram::observe(nanoseconds d) noexcept {
    const std::int64_t ns = std::max<std::int64_t>(d.count(), 0);
    const std::size_t i = static_cast<std::size_t>(
        std::lower_bound(bounds_ns.begin(), bounds_ns.end(), ns) - bounds_ns.begin());
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(ns, std::memory_order_relaxed);
}

latency_histogram::reading latency_histogram::read() const noexcept {
    reading r;
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        total += buckets_[i].load(std::memory_order_relaxed);
        r.cumulative[i] = total;
    }
    r.sum = nanoseconds(sum_ns_.load(std::memory_order_relaxed));
    return r;
}

struct metrics_registry::channel_series {
    std::string name;
    std::array<std::atomic<std::uint64_t>, outcomes> calls{};
    latency_histogram head, call;
    std::atomic<std::uint64_t> opened{0}, closed{0}; // its breaker, by recorded outcomes
};

struct metrics_registry::model_series {
    std::string id;
    latency_histogram latency; // its chat requests
    std::atomic<std::uint64_t> failovers{0};
    std::array<std::atomic<std::uint64_t>, categories + 1> fallbacks{}; // by cause, from 1
    std::array<std::atomic<std::uint64_t>, give_up_reasons> give_ups{};
    std::array<std::atomic<std::uint64_t>, stream_ends> streams{};
    std::vector<std::unique_ptr<channel_series>> channels;
};

metrics_registry::metrics_registry(const gateway_config& config)
    : answers_(
          std::make_unique<std::array<std::atomic<std::uint64_t>, max_status - min_status + 1>[]>(
              routes))
    , route_latency_(std::make_unique<latency_histogram[]>(routes)) {
    for (const model_config& m : config.models) {
        auto ms = std::make_unique<model_series>();
        ms->id = m.id;
        for (const std::string& ch : m.channels) {
            ms->channels.push_back(std::make_unique<channel_series>());
            ms->channels.back()->name = ch;
        }
        by_id_.emplace(ms->id, ms.get());
        models_.push_back(std::move(ms));
    }
}

metrics_registry::~metrics_registry() = default;

metrics_registry::model_series* metrics_registry::find(std::string_view model) const noexcept {
    const auto it = by_id_.find(model);
    return it == by_id_.end() ? nullptr : it->second;
}

metrics_registry::channel_series* metrics_registry::find(std::string_view model,
                                                         std::string_view channel) const noexcept {
    if (model_series* m = find(model))
        for (const auto& ch : m->channels)
            if (ch->name == channel) return ch.get();
    return nullptr;
}

void metrics_registry::answered(route r, unsigned status) noexcept {
    if (status >= min_status && status <= max_status)
        add(answers_[static_cast<std::size_t>(r)][status - min_status]);
}

void metrics_registry::request_done(route r, std::string_view model, nanoseconds took) noexcept {
    model_series* m = r == route::chat ? find(model) : nullptr;
    (m ? m->latency : route_latency_[static_cast<std::size_t>(r)]).observe(took);
}

void metrics_registry::upstream_head(std::string_view model, std::string_view channel,
                                     nanoseconds took) noexcept {
    if (channel_series* ch = find(model, channel)) ch->head.observe(took);
}

void metrics_registry::upstream_ok(std::string_view model, std::string_view channel,
                                   nanoseconds took) noexcept {
    if (channel_series* ch = find(model, channel)) {
        add(ch->calls[outcome_ok]);
        ch->call.observe(took);
    }
}

void metrics_registry::upstream_failed(std::string_view model, std::string_view channel,
                                       faultline::category c, nanoseconds took) noexcept {
    if (channel_series* ch = find(model, channel)) {
        add(ch->calls[category_index(c)]);
        ch->call.observe(took);
    }
}

void metrics_registry::circuit_changed(std::string_view model, std::string_view channel,
                                       faultline::circuit_change c) noexcept {
    if (!c) return;
    if (channel_series* ch = find(model, channel)) {
        if (c.to == faultline::circuit_state::open) add(ch->opened);
        if (c.to == faultline::circuit_state::closed) add(ch->closed);
    }
}

void metrics_registry::upstream_abandoned(std::string_view model, std::string_view channel,
                                          nanoseconds took) noexcept {
    if (channel_series* ch = find(model, channel)) {
        add(ch->calls[outcome_abandoned]);
        ch->call.observe(took);
    }
}

void metrics_registry::failover(std::string_view model) noexcept {
    if (model_series* m = find(model)) add(m->failovers);
}

void metrics_registry::route_fallback(std::string_view model, faultline::category cause) noexcept {
    if (model_series* m = find(model)) add(m->fallbacks[category_index(cause)]);
}

void metrics_registry::route_gave_up(std::string_view model,
                                     faultline::give_up_reason reason) noexcept {
    const auto i = static_cast<std::size_t>(reason);
    if (model_series* m = find(model); m && i < give_up_reasons) add(m->give_ups[i]);
}

void metrics_registry::stream_call_ended(std::string_view model, std::string_view channel,
                                         std::optional<faultline::error> failed,
                                         bool upstream_fault, bool pass_cuts, bool abandoned,
                                         nanoseconds took) noexcept {
    stream_ended(model, stream_end_of(failed, upstream_fault, pass_cuts, abandoned));
    if (abandoned)
        upstream_abandoned(model, channel, took);
    else if (failed)
        upstream_failed(model, channel, faultline::info(*failed).cat, took);
    else
        upstream_ok(model, channel, took);
}

void metrics_registry::limit_refused(level l, limit_kind k) noexcept {
    add(refusals_[static_cast<std::size_t>(l)][static_cast<std::size_t>(k)]);
}

void metrics_registry::stream_ended(std::string_view model, stream_end e) noexcept {
    if (model_series* m = find(model)) add(m->streams[static_cast<std::size_t>(e)]);
}

void metrics_registry::render(std::string& out, const scrape& s) const {
    constexpr std::array all_routes{route::chat, route::responses, route::models, route::metrics,
                                    route::other};

    // Counters appear once counted, except the outcome every series has (`ok`, `done`), so
    // that a rate over it exists from the start.
    family(out, "faultline_gateway_requests_total", "counter",
           "Answers by route and HTTP status (a stream counts when its head is sent).");
    for (const route r : all_routes)
        for (unsigned status = min_status; status <= max_status; ++status)
            if (const std::uint64_t n =
                    get(answers_[static_cast<std::size_t>(r)][status - min_status])) {
                const std::string code = std::to_string(status);
                sample(out, "faultline_gateway_requests_total",
                       {{{"route", to_string(r)}, {"code", code}}}, n);
            }

    family(out, "faultline_gateway_request_duration_seconds", "histogram",
           "Requests from their read to their answer's last byte, by route and, for chat "
           "completions, model (\"\": answered before a model was chosen).");
    for (const route r : all_routes)
        histogram(out, "faultline_gateway_request_duration_seconds",
                  {{{"route", to_string(r)}, {"model", ""}}},
                  route_latency_[static_cast<std::size_t>(r)]);
    for (const auto& m : models_)
        histogram(out, "faultline_gateway_request_duration_seconds",
                  {{{"route", to_string(route::chat)}, {"model", m->id}}}, m->latency);

    family(out, "faultline_gateway_upstream_calls_total", "counter",
           "Upstream calls by model, channel and outcome: ok, the faultline category of the "
           "failure, or abandoned (the client went away).");
    for (const auto& m : models_)
        for (const auto& ch : m->channels)
            for (std::size_t i = 0; i < outcomes; ++i)
                if (const std::uint64_t n = get(ch->calls[i]); n || i == outcome_ok)
                    sample(
                        out, "faultline_gateway_upstream_calls_total",
                        {{{"model", m->id}, {"channel", ch->name}, {"outcome", outcome_name(i)}}},
                        n);

    family(out, "faultline_gateway_upstream_head_seconds", "histogram",
           "Upstream calls from their start to the response head, by model and channel.");
    for (const auto& m : models_)
        for (const auto& ch : m->channels)
            histogram(out, "faultline_gateway_upstream_head_seconds",
                      {{{"model", m->id}, {"channel", ch->name}}}, ch->head);

    family(out, "faultline_gateway_upstream_call_seconds", "histogram",
           "Upstream calls from their start to their end (a stream's last byte), by model and "
           "channel.");
    for (const auto& m : models_)
        for (const auto& ch : m->channels)
            histogram(out, "faultline_gateway_upstream_call_seconds",
                      {{{"model", m->id}, {"channel", ch->name}}}, ch->call);

    family(out, "faultline_gateway_failovers_total", "counter",
           "Calls to another channel of the model after one failed.");
    for (const auto& m : models_)
        sample(out, "faultline_gateway_failovers_total", {{{"model", m->id}}}, get(m->failovers));

    family(out, "faultline_gateway_route_fallbacks_total", "counter",
           "Calls the model's failover pipeline moved to its next channel, by the faultline "
           "category of what ended the previous attempt (upstream_unavailable for a channel "
           "skipped: its breaker open, or at its adaptive or rate limit).");
    for (const auto& m : models_)
        for (std::size_t i = 1; i <= categories; ++i)
            if (const std::uint64_t n = get(m->fallbacks[i]))
                sample(out, "faultline_gateway_route_fallbacks_total",
                       {{{"model", m->id},
                         {"cause", faultline::to_string(static_cast<faultline::category>(i))}}},
                       n);

    family(out, "faultline_gateway_route_give_ups_total", "counter",
           "Calls the model's failover pipeline gave up, by reason (attempts_exhausted: every "
           "channel failed or was skipped; not_retryable: the upstream refused the request "
           "itself).");
    for (const auto& m : models_)
        for (std::size_t i = 0; i < give_up_reasons; ++i)
            if (const std::uint64_t n = get(m->give_ups[i]))
                sample(
                    out, "faultline_gateway_route_give_ups_total",
                    {{{"model", m->id},
                      {"reason", faultline::to_string(static_cast<faultline::give_up_reason>(i))}}},
                    n);

    family(out, "faultline_gateway_limit_refusals_total", "counter",
           "Requests refused by a limit, by level (token, user, upstream) and kind.");
    constexpr std::pair<level, limit_kind> refusal_kinds[] = {
        {level::key, limit_kind::rate},         {level::key, limit_kind::concurrency},
        {level::key, limit_kind::spend},        {level::user, limit_kind::rate},
        {level::user, limit_kind::concurrency}, {level::channel, limit_kind::rate},
        {level::channel, limit_kind::adaptive},
    };
    for (const auto& [l, k] : refusal_kinds)
        sample(out, "faultline_gateway_limit_refusals_total",
               {{{"level", to_string(l)}, {"kind", to_string(k)}}},
               get(refusals_[static_cast<std::size_t>(l)][static_cast<std::size_t>(k)]));

    family(out, "faultline_gateway_streams_total", "counter",
           "Relayed streams by model and how they ended.");
    for (const auto& m : models_)
        for (std::size_t i = 0; i < stream_ends; ++i)
            if (const std::uint64_t n = get(m->streams[i]); n || i == 0)
                sample(out, "faultline_gateway_streams_total",
                       {{{"model", m->id}, {"outcome", to_string(static_cast<stream_end>(i))}}}, n);

    family(out, "faultline_gateway_circuit_state", "gauge",
           "1 for the state each model's circuit breaker of a channel is in, 0 for the others.");
    for (const breaker_reading& b : s.breakers)
        for (const auto st : {faultline::circuit_state::closed, faultline::circuit_state::open,
                              faultline::circuit_state::half_open})
            sample(out, "faultline_gateway_circuit_state",
                   {{{"model", b.model}, {"channel", b.channel}, {"state", to_string(st)}}},
                   std::uint64_t{b.state == st});

    family(out, "faultline_gateway_circuit_changes_total", "counter",
           "Changes upstream outcomes made to each model's circuit breaker of a channel: opened "
           "(failures, or a failed probe) and closed (a success once the cool-down is over).");
    for (const auto& m : models_)
        for (const auto& ch : m->channels)
            for (const auto& [to, n] : {std::pair{faultline::circuit_state::open, &ch->opened},
                                        std::pair{faultline::circuit_state::closed, &ch->closed}})
                sample(out, "faultline_gateway_circuit_changes_total",
                       {{{"model", m->id}, {"channel", ch->name}, {"to", to_string(to)}}}, get(*n));

    if (!s.adaptive.empty()) {
        family(out, "faultline_gateway_adaptive_limit", "gauge",
               "Calls a channel's adaptive concurrency limit admits in flight now.");
        for (const adaptive_stats& a : s.adaptive)
            sample(out, "faultline_gateway_adaptive_limit", {{{"channel", a.channel}}}, a.limit);
        family(out, "faultline_gateway_adaptive_in_flight", "gauge",
               "Calls in flight to a channel with an adaptive concurrency limit.");
        for (const adaptive_stats& a : s.adaptive)
            sample(out, "faultline_gateway_adaptive_in_flight", {{{"channel", a.channel}}},
                   a.in_flight);
        family(out, "faultline_gateway_adaptive_refused_total", "counter",
               "Calls that skipped a channel at its adaptive concurrency limit.");
        for (const adaptive_stats& a : s.adaptive)
            sample(out, "faultline_gateway_adaptive_refused_total", {{{"channel", a.channel}}},
                   a.refused);
    }

    // The server's own counters (`stats`); those that are sums of the series above (answers by
    // status class, upstream calls, failovers) are left to them.
    const stats& c = s.counters;
    const auto one = [&out](std::string_view name, std::string_view type, std::string_view help,
                            std::uint64_t v) {
        family(out, name, type, help);
        sample(out, name, {{}}, v);
    };
    one("faultline_gateway_connections_total", "counter", "Connections accepted.", c.connections);
    one("faultline_gateway_open_connections", "gauge",
        "Connections open now (within max_connections).", c.open_connections);
    one("faultline_gateway_shed_connections_total", "counter",
        "Connections refused over max_connections.", c.shed_connections);
    one("faultline_gateway_read_timeouts_total", "counter",
        "Requests cut off by the header or body time limits.", c.read_timeouts);
    one("faultline_gateway_abandoned_total", "counter",
        "Requests whose client went away before the answer ended.", c.abandoned);
    one("faultline_gateway_streams_started_total", "counter",
        "Streams started (200, text/event-stream).", c.streams);
    one("faultline_gateway_stream_errors_total", "counter",
        "Streams ended with an error chunk or a cut.", c.stream_errors);
    one("faultline_gateway_stream_bytes", "gauge", "Bytes held by all relayed streams now.",
        s.stream_bytes);
    one("faultline_gateway_stream_bytes_peak", "gauge",
        "The most bytes one relayed stream held at once.", c.stream_bytes_peak);
    one("faultline_gateway_body_bytes", "gauge", "Bytes held by all request bodies now.",
        s.body_bytes);
    one("faultline_gateway_body_bytes_peak", "gauge",
        "The most bytes all request bodies held at once.", c.body_bytes_peak);
    one("faultline_gateway_bodies_refused_total", "counter",
        "Requests refused because their body would take all bodies over bodies_memory_budget.",
        c.bodies_refused);
    one("faultline_gateway_upstream_connections_total", "counter",
        "Connections opened to channels with a URL.", c.upstream_connections);
    one("faultline_gateway_priority_queued_total", "counter",
        "Requests that waited in the priority shedding queue.", c.queued);
    one("faultline_gateway_priority_shed_total", "counter",
        "Requests refused by priority shedding (503 overloaded).", c.shed);
    one("faultline_gateway_priority_waiting", "gauge",
        "Requests waiting in the priority shedding queue now.", c.waiting);
}

} // namespace examples::gateway

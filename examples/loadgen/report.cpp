#include "loadgen/report.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <stdexcept>

namespace examples::loadgen {

namespace {

using std::chrono::nanoseconds;

constexpr std::array<faultline::sse::terminal, 4> all_terminals{
    faultline::sse::terminal::done, faultline::sse::terminal::error,
    faultline::sse::terminal::eof_without_done, faultline::sse::terminal::malformed_json};

std::uint64_t second_of(nanoseconds at) noexcept {
    return at.count() <= 0 ? 0 : static_cast<std::uint64_t>(at.count() / 1'000'000'000);
}

[[gnu::format(printf, 2, 3)]] void appendf(std::string& out, const char* format, ...) {
    char buffer[512];
    va_list args;
    va_start(args, format);
    const int n = std::vsnprintf(buffer, sizeof buffer, format, args);
    va_end(args);
    if (n > 0) out.append(buffer, std::min(static_cast<std::size_t>(n), sizeof buffer - 1));
}

// Locale-independent fixed notation, which SVG coordinates need; scientific for a value whose
// fixed notation would not fit (a ratio of 1e100 has 101 digits).
std::string fixed(double v, int decimals) {
    char buffer[64];
    auto r = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::fixed, decimals);
    if (r.ec != std::errc{})
        r = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::scientific,
                          decimals);
    return std::string(buffer, r.ptr);
}

// At most three significant digits, no exponent below 1000: "2.5", "120", "0.04".
std::string short_number(double v) {
    char buffer[64];
    const auto r = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::general,
                                 v >= 1000 ? 6 : 3);
    return std::string(buffer, r.ptr);
}

std::string short_duration(double ns) {
    if (ns == 0) return "0";
    if (ns < 1e3) return short_number(ns) + " ns";
    if (ns < 1e6) return short_number(ns / 1e3) + " us";
    if (ns < 1e9) return short_number(ns / 1e6) + " ms";
    return short_number(ns / 1e9) + " s";
}

double to_ms(nanoseconds d) noexcept {
    return static_cast<double>(d.count()) / 1e6;
}

boost::json::value optional_ms(const std::optional<nanoseconds>& d) {
    if (!d) return nullptr;
    return to_ms(*d);
}

boost::json::object latency_json(const latency_histogram& h) {
    boost::json::object o;
    o["count"] = h.count();
    const bool any = h.count() != 0;
    const auto ms = [&](nanoseconds d) -> boost::json::value {
        if (!any) return nullptr;
        return to_ms(d);
    };
    o["min"] = ms(h.min());
    o["mean"] = ms(h.mean());
    o["p50"] = ms(h.percentile(50));
    o["p90"] = ms(h.percentile(90));
    o["p99"] = ms(h.percentile(99));
    o["p999"] = ms(h.percentile(99.9));
    o["max"] = ms(h.max());
    return o;
}

template <class Map>
boost::json::object status_json(const Map& m) {
    boost::json::object o;
    for (const auto& [status, n] : m)
        o[std::to_string(status)] = n;
    return o;
}

boost::json::object quantity_json(const quantity_histogram& h) {
    boost::json::object o;
    o["count"] = h.count();
    const bool any = h.count() != 0;
    const auto v = [&](double x) -> boost::json::value {
        if (!any) return nullptr;
        return x;
    };
    o["min"] = v(h.min());
    o["mean"] = v(h.mean());
    o["p50"] = v(h.percentile(50));
    o["p90"] = v(h.percentile(90));
    o["p99"] = v(h.percentile(99));
    o["max"] = v(h.max());
    return o;
}

// Nearest-rank percentiles of one figure over the run's whole seconds (the last, partial
// second and the seconds past the series' cap left out): {seconds, p50, p90, p99, max}.
template <class Figure>
boost::json::object per_second_json(const report& r, Figure figure) {
    const auto whole =
        static_cast<std::size_t>(std::max<std::int64_t>(r.elapsed.count(), 0) / 1'000'000'000);
    const std::vector<second_stats>& rows = r.series.seconds();
    std::vector<std::uint64_t> values;
    for (std::size_t i = 0; i < std::min(whole, rows.size()); ++i)
        values.push_back(figure(rows[i]));
    std::sort(values.begin(), values.end());
    boost::json::object o;
    o["seconds"] = values.size();
    const auto at = [&](double p) -> boost::json::value {
        if (values.empty()) return nullptr;
        const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
        const auto k = std::clamp<std::size_t>(static_cast<std::size_t>(rank), 1, values.size());
        return values[k - 1];
    };
    o["p50"] = at(50);
    o["p90"] = at(90);
    o["p99"] = at(99);
    o["max"] = values.empty() ? boost::json::value(nullptr) : boost::json::value(values.back());
    return o;
}

constexpr std::array<std::string_view, 3> token_source_names{"usage", "counted", "unknown"};

constexpr std::array<std::string_view, faultline::limit::window_count> window_names{
    "requests", "tokens", "input_tokens", "output_tokens"};

faultline::category category_at(std::size_t i) noexcept {
    return static_cast<faultline::category>(i + 1);
}

boost::json::object failures_json(const std::array<std::uint64_t, category_count>& by_category) {
    boost::json::object o;
    for (std::size_t i = 0; i < by_category.size(); ++i)
        if (by_category[i] != 0) o[faultline::to_string(category_at(i))] = by_category[i];
    return o;
}

std::string latency_line(const latency_histogram& h) {
    std::string out;
    appendf(out, "min %s  mean %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s",
            short_duration(static_cast<double>(h.min().count())).c_str(),
            short_duration(static_cast<double>(h.mean().count())).c_str(),
            short_duration(static_cast<double>(h.percentile(50).count())).c_str(),
            short_duration(static_cast<double>(h.percentile(90).count())).c_str(),
            short_duration(static_cast<double>(h.percentile(99).count())).c_str(),
            short_duration(static_cast<double>(h.percentile(99.9).count())).c_str(),
            short_duration(static_cast<double>(h.max().count())).c_str());
    return out;
}

// The warm-up's requests, which no other line counts; nothing without a warm-up.
std::string warmup_line(const report& r) {
    std::string out;
    if (!r.settings.warmup) return out;
    appendf(
        out, "  warm-up      %llu requests in the first %s, not measured\n",
        static_cast<unsigned long long>(r.warmup_requests),
        short_duration(static_cast<double>(std::chrono::nanoseconds(*r.settings.warmup).count()))
            .c_str());
    return out;
}

// An open loop's schedule and how late its requests started; nothing for a closed loop.
std::string arrivals_lines(const report& r) {
    std::string out;
    if (!r.settings.rate) return out;
    const std::string_view arrival =
        to_string(r.settings.arrival.value_or(arrival_process::poisson));
    appendf(out, "  open loop    %s arrivals, %s req/s\n", std::string(arrival).c_str(),
            short_number(*r.settings.rate).c_str());
    if (r.schedule_lag.count() != 0) out += "  start lag    " + latency_line(r.schedule_lag) + '\n';
    return out;
}

// What pacing by the rate-limit headers held requests back; nothing without pacing.
std::string pacing_line(const report& r) {
    if (!r.settings.pace || r.pacing_wait.count() == 0) return {};
    return "  paced        " + latency_line(r.pacing_wait) + '\n';
}

} // namespace

// ---------------------------------------------------------------------------------------------
// time_series

time_series::time_series(std::size_t max_seconds)
    : max_(max_seconds == 0 ? 1 : max_seconds) {}

void time_series::add(nanoseconds at, outcome o, nanoseconds latency, faultline::category failed,
                      std::uint64_t output_tokens) {
    advance(second_of(at));
    ++current_.requests;
    switch (o) {
    case outcome::ok:
        ++current_.ok;
        current_.output_tokens += output_tokens;
        current_latency_.record(latency);
        break;
    case outcome::throttled:
        ++current_.throttled;
        ++current_.status_429;
        ++current_.failures[category_index(failed)];
        break;
    case outcome::error:
        ++current_.errors;
        ++current_.failures[category_index(failed)];
        break;
    }
    current_used_ = true;
}

void time_series::add_retry(nanoseconds at, unsigned status) {
    advance(second_of(at));
    ++current_.retries;
    if (status == 429) ++current_.status_429;
    current_used_ = true;
}

void time_series::finish(nanoseconds elapsed) {
    std::uint64_t end = 0; // seconds the run covered, the last partial one included
    if (elapsed.count() > 0)
        end = static_cast<std::uint64_t>((elapsed.count() - 1) / 1'000'000'000) + 1;
    if (current_used_) end = std::max(end, open_ + 1);
    advance(end);
}

// Closes the open second and the empty ones up to `second`, which becomes the open one.
void time_series::advance(std::uint64_t second) {
    if (second <= open_) return;
    close_open();
    const std::uint64_t gap = second - open_;
    const std::uint64_t kept = std::min<std::uint64_t>(gap, max_ - rows_.size());
    reserve(rows_.size() + static_cast<std::size_t>(kept));
    rows_.resize(rows_.size() + static_cast<std::size_t>(kept));
    dropped_ += gap - kept;
    open_ = second;
}

// Grows geometrically but never past the cap, so the cap bounds the capacity too.
void time_series::reserve(std::size_t rows) {
    if (rows <= rows_.capacity()) return;
    rows_.reserve(std::min(max_, std::max({rows, std::size_t(64), rows_.capacity() * 2})));
}

void time_series::close_open() {
    if (current_latency_.count() != 0) {
        current_.p50 = current_latency_.percentile(50);
        current_.p99 = current_latency_.percentile(99);
    }
    if (rows_.size() < max_) {
        reserve(rows_.size() + 1);
        rows_.push_back(current_);
    } else {
        ++dropped_;
    }
    current_ = {};
    current_latency_.reset();
    current_used_ = false;
    ++open_;
}

void time_series::restore(std::vector<second_stats> rows, std::uint64_t dropped) {
    if (rows.size() > max_) {
        dropped += rows.size() - max_;
        rows.resize(max_);
    }
    rows_ = std::move(rows);
    dropped_ = dropped;
    open_ = rows_.size() + dropped;
    current_ = {};
    current_latency_.reset();
    current_used_ = false;
}

std::size_t time_series::footprint_bytes() const noexcept {
    return sizeof(*this) + rows_.capacity() * sizeof(second_stats) +
           (current_latency_.footprint_bytes() - sizeof(current_latency_));
}

// ---------------------------------------------------------------------------------------------
// report

report::report()
    : report(run_settings{}) {}

report::report(run_settings s, std::size_t max_series_seconds)
    : settings(std::move(s))
    , series(max_series_seconds) {}

void report::add(const request_result& r, nanoseconds at) {
    ++requests;
    if (settings.pace) pacing_wait.record(r.paced);
    switch (r.kind()) {
    case outcome::ok:
        ++ok;
        add_success(r);
        break;
    case outcome::throttled:
        ++throttled;
        break;
    case outcome::error:
        ++errors;
        break;
    }
    latency.record(r.latency);
    if (r.first_event) first_event.record(*r.first_event);
    ++statuses[r.status];
    if (r.failure) ++failures[*r.failure];
    if (r.transport) {
        std::string message = r.transport.message();
        if (transport_errors.size() >= max_transport_kinds && !transport_errors.contains(message))
            message = "other";
        ++transport_errors[message];
    }
    if (r.verdict) ++stream_verdicts[*r.verdict];
    if (r.rate_limits) rate_limits.add(*r.rate_limits);
    events += r.events;
    content_events += r.content_events;
    series.add(at, r.kind(), r.latency, r.failure ? r.failure->cat : faultline::category::unknown,
               r.failure ? 0 : r.output_tokens());
}

void report::add_success(const request_result& r) {
    success_figures& f = successes;
    f.e2e.record(r.latency);
    const std::uint64_t tokens = r.output_tokens();
    const auto source = r.output_token_source();
    ++f.token_sources[static_cast<std::size_t>(source)];
    if (r.usage.input) f.input_tokens_total += *r.usage.input;
    if (source != request_result::token_source::unknown) {
        f.output_tokens_total += tokens;
        f.output_tokens.record(static_cast<double>(tokens));
        if (r.latency.count() > 0)
            f.output_tokens_per_second.record(static_cast<double>(tokens) /
                                              (static_cast<double>(r.latency.count()) / 1e9));
    }
    if (r.first_token) {
        f.ttft.record(*r.first_token);
        if (tokens >= 2)
            f.tpot.record((r.latency - *r.first_token) / static_cast<std::int64_t>(tokens - 1));
    }
    for (const nanoseconds gap : r.token_gaps)
        f.itl.record(gap);
    f.itl_not_kept += r.token_gaps_not_kept;
}

void rate_limit_summary::add(const faultline::limit::rate_limit_report& r) {
    bool any = r.retry_after.has_value() || r.ignored != 0;
    if (r.retry_after) retry_after.record(*r.retry_after);
    ignored += r.ignored;
    for (std::size_t i = 0; i < windows.size(); ++i) {
        const faultline::limit::window_report& w = r.windows[i];
        if (!w.limit && !w.remaining && !w.reset) continue;
        any = true;
        window_summary& s = windows[i];
        ++s.responses;
        if (w.limit) s.limit = w.limit;
        if (w.remaining)
            s.remaining_min = std::min(s.remaining_min.value_or(*w.remaining), *w.remaining);
        if (w.reset) s.reset_max = std::max(s.reset_max.value_or(*w.reset), *w.reset);
    }
    if (any) ++responses;
}

void report::add_retry(const request_result& r, nanoseconds at) {
    ++retries;
    if (r.rate_limits) rate_limits.add(*r.rate_limits);
    ++retried_statuses[r.status];
    series.add_retry(at, r.status);
}

void report::finish(nanoseconds run_elapsed) {
    elapsed = run_elapsed;
    series.finish(run_elapsed);
}

double report::requests_per_second() const noexcept {
    if (elapsed.count() <= 0) return 0;
    return static_cast<double>(requests) / (static_cast<double>(elapsed.count()) / 1e9);
}

double report::events_per_second() const noexcept {
    if (elapsed.count() <= 0) return 0;
    return static_cast<double>(events) / (static_cast<double>(elapsed.count()) / 1e9);
}

double report::successes_per_second() const noexcept {
    if (elapsed.count() <= 0) return 0;
    return static_cast<double>(ok) / (static_cast<double>(elapsed.count()) / 1e9);
}

double report::output_tokens_per_second() const noexcept {
    if (elapsed.count() <= 0) return 0;
    return static_cast<double>(successes.output_tokens_total) /
           (static_cast<double>(elapsed.count()) / 1e9);
}

// ---------------------------------------------------------------------------------------------
// renderings

std::string no_success_reason(const report& r) {
    std::string out = "no request succeeded: " + std::to_string(r.requests - r.ok) + " of " +
                      std::to_string(r.requests) + " failed";
    const auto most = std::max_element(r.failures.begin(), r.failures.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
    if (most != r.failures.end()) {
        out += ", most often " + std::string(faultline::to_string(most->first.cat)) + "/" +
               std::string(faultline::to_string(most->first.code)) + " (" +
               std::to_string(most->second);
        const auto transport =
            std::max_element(r.transport_errors.begin(), r.transport_errors.end(),
                             [](const auto& a, const auto& b) { return a.second < b.second; });
        if (transport != r.transport_errors.end() && most->first.cat != faultline::category::rate_limited)
            out += ": " + transport->first;
        out += ")";
    }
    return out;
}

std::string format_progress(const progress& p) {
    std::string out;
    appendf(out, "%6.1f s  %8llu req  %7.0f req/s  ok %llu  429 %llu  err %llu",
            static_cast<double>(p.elapsed.count()) / 1e9,
            static_cast<unsigned long long>(p.requests), p.requests_per_second,
            static_cast<unsigned long long>(p.ok), static_cast<unsigned long long>(p.throttled),
            static_cast<unsigned long long>(p.errors));
    if (p.retries != 0) appendf(out, "  retries %llu", static_cast<unsigned long long>(p.retries));
    out += '\n';
    return out;
}

boost::json::object to_json(const report& r) {
    namespace json = boost::json;
    json::object config;
    config["url"] = r.settings.url;
    config["target"] = r.settings.target;
    config["model"] = r.settings.model;
    config["api"] = r.settings.api;
    config["stream"] = r.settings.stream;
    config["connections"] = r.settings.connections;
    config["duration_ms"] =
        r.settings.duration ? json::value(r.settings.duration->count()) : json::value(nullptr);
    config["warmup_ms"] =
        r.settings.warmup ? json::value(r.settings.warmup->count()) : json::value(nullptr);
    config["request_limit"] =
        r.settings.request_limit ? json::value(*r.settings.request_limit) : json::value(nullptr);
    config["max_tokens"] = r.settings.max_tokens;
    config["max_attempts"] = r.settings.max_attempts;
    config["timeout_ms"] = r.settings.timeout.count();
    config["seed"] = r.settings.seed;
    config["prompts"] = r.settings.prompts;
    config["rate"] = r.settings.rate ? json::value(*r.settings.rate) : json::value(nullptr);
    config["arrival"] =
        r.settings.arrival ? json::value(to_string(*r.settings.arrival)) : json::value(nullptr);
    config["pace"] = r.settings.pace;

    json::object o;
    o["tool"] = "faultline-loadgen";
    o["format"] = 2;
    o["config"] = std::move(config);
    o["interrupted"] = r.interrupted;
    o["elapsed_s"] = static_cast<double>(r.elapsed.count()) / 1e9;
    o["requests"] = r.requests;
    o["ok"] = r.ok;
    o["throttled"] = r.throttled;
    o["errors"] = r.errors;
    o["retries"] = r.retries;
    o["aborted"] = r.aborted;
    o["warmup_requests"] = r.warmup_requests;
    o["requests_per_second"] = r.requests_per_second();
    o["events"] = r.events;
    o["content_events"] = r.content_events;
    o["events_per_second"] = r.events_per_second();
    o["latency_ms"] = latency_json(r.latency);
    o["first_event_ms"] = latency_json(r.first_event);
    o["schedule_lag_ms"] =
        r.settings.rate ? json::value(latency_json(r.schedule_lag)) : json::value(nullptr);
    o["pacing_wait_ms"] =
        r.settings.pace ? json::value(latency_json(r.pacing_wait)) : json::value(nullptr);
    o["statuses"] = status_json(r.statuses);
    o["retried_statuses"] = status_json(r.retried_statuses);

    json::object categories, codes;
    json::array failures;
    for (const auto& [kind, n] : r.failures) {
        const std::string_view cat = faultline::to_string(kind.cat);
        const std::string_view code = faultline::to_string(kind.code);
        categories[cat] = categories.contains(cat) ? categories[cat].as_uint64() + n : n;
        codes[code] = codes.contains(code) ? codes[code].as_uint64() + n : n;
        failures.push_back(json::object{{"category", cat}, {"code", code}, {"count", n}});
    }
    o["categories"] = std::move(categories);
    o["codes"] = std::move(codes);
    o["failures"] = std::move(failures);

    json::object transport;
    for (const auto& [message, n] : r.transport_errors)
        transport[message] = n;
    o["transport_errors"] = std::move(transport);

    json::object verdicts;
    for (const auto t : all_terminals) {
        const auto it = r.stream_verdicts.find(t);
        verdicts[faultline::sse::to_string(t)] = it == r.stream_verdicts.end() ? 0 : it->second;
    }
    o["stream_verdicts"] = std::move(verdicts);

    const success_figures& f = r.successes;
    json::object sources;
    for (std::size_t i = 0; i < token_source_names.size(); ++i)
        sources[token_source_names[i]] = f.token_sources[i];
    json::object itl = latency_json(f.itl);
    itl["not_kept"] = f.itl_not_kept;
    o["successes"] =
        json::object{{"count", r.ok},
                     {"requests_per_second", r.successes_per_second()},
                     {"output_tokens", f.output_tokens_total},
                     {"input_tokens", f.input_tokens_total},
                     {"output_tokens_per_second", r.output_tokens_per_second()},
                     {"output_token_sources", std::move(sources)},
                     {"e2e_ms", latency_json(f.e2e)},
                     {"ttft_ms", latency_json(f.ttft)},
                     {"itl_ms", std::move(itl)},
                     {"tpot_ms", latency_json(f.tpot)},
                     {"output_tokens_per_request", quantity_json(f.output_tokens)},
                     {"request_output_tokens_per_s", quantity_json(f.output_tokens_per_second)},
                     {"requests_per_second_by_second",
                      per_second_json(r, [](const second_stats& s) { return s.ok; })},
                     {"output_tokens_per_second_by_second",
                      per_second_json(r, [](const second_stats& s) { return s.output_tokens; })}};

    const rate_limit_summary& rl = r.rate_limits;
    json::object windows;
    for (std::size_t i = 0; i < rl.windows.size(); ++i) {
        const rate_limit_summary::window_summary& w = rl.windows[i];
        if (w.responses == 0) continue;
        windows[window_names[i]] =
            json::object{{"responses", w.responses},
                         {"limit", w.limit ? json::value(*w.limit) : json::value(nullptr)},
                         {"remaining_min",
                          w.remaining_min ? json::value(*w.remaining_min) : json::value(nullptr)},
                         {"reset_max_ms", optional_ms(w.reset_max)}};
    }
    o["rate_limits"] = json::object{{"responses", rl.responses},
                                    {"ignored", rl.ignored},
                                    {"retry_after_ms", latency_json(rl.retry_after)},
                                    {"windows", std::move(windows)}};

    json::array seconds;
    std::uint64_t t = 0;
    for (const second_stats& s : r.series.seconds()) {
        seconds.push_back(json::object{{"t_s", t++},
                                       {"requests", s.requests},
                                       {"ok", s.ok},
                                       {"throttled", s.throttled},
                                       {"errors", s.errors},
                                       {"retries", s.retries},
                                       {"status_429", s.status_429},
                                       {"output_tokens", s.output_tokens},
                                       {"failures", failures_json(s.failures)},
                                       {"p50_ms", optional_ms(s.p50)},
                                       {"p99_ms", optional_ms(s.p99)}});
    }
    o["series"] = json::object{{"interval_s", 1},
                               {"max_seconds", r.series.max_seconds()},
                               {"dropped_seconds", r.series.dropped_seconds()},
                               {"seconds", std::move(seconds)}};
    return o;
}

std::string summary(const report& r) {
    std::string out;
    out += chart_title(r.settings);
    if (r.interrupted) out += " (interrupted)";
    out += '\n';
    const auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
    appendf(out, "  elapsed      %.2f s\n", static_cast<double>(r.elapsed.count()) / 1e9);
    out += "  prompts      " + r.settings.prompts + '\n';
    appendf(out, "  requests     %llu  %.1f req/s  (ok %llu, 429 %llu, errors %llu", u(r.requests),
            r.requests_per_second(), u(r.ok), u(r.throttled), u(r.errors));
    if (r.aborted != 0) appendf(out, "; %llu aborted at the end, not counted", u(r.aborted));
    out += ")\n";
    out += warmup_line(r);
    appendf(out, "  retries      %llu", u(r.retries));
    if (!r.retried_statuses.empty()) {
        out += "  (";
        const char* sep = "";
        for (const auto& [status, n] : r.retried_statuses) {
            appendf(out, "%s%u: %llu", sep, status, u(n));
            sep = ", ";
        }
        out += ')';
    }
    out += '\n';
    if (r.latency.count() != 0) out += "  latency      " + latency_line(r.latency) + '\n';
    out += arrivals_lines(r);
    out += pacing_line(r);
    if (r.settings.stream) {
        appendf(out, "  events       %llu  %.1f events/s  (content %llu)\n", u(r.events),
                r.events_per_second(), u(r.content_events));
        if (r.first_event.count() != 0)
            out += "  first event  " + latency_line(r.first_event) + '\n';
        out += "  streams    ";
        for (const auto t : all_terminals) {
            const auto it = r.stream_verdicts.find(t);
            const std::string_view name = faultline::sse::to_string(t);
            appendf(out, "  %.*s %llu", static_cast<int>(name.size()), name.data(),
                    u(it == r.stream_verdicts.end() ? 0 : it->second));
        }
        out += '\n';
    }
    if (r.ok != 0) {
        const success_figures& f = r.successes;
        appendf(out, "  successes    %llu  %.1f req/s", u(r.ok), r.successes_per_second());
        if (f.token_sources[0] + f.token_sources[1] != 0)
            appendf(out,
                    "  output tokens %llu  %.1f tokens/s  (usage %llu, counted %llu, unknown %llu)",
                    u(f.output_tokens_total), r.output_tokens_per_second(), u(f.token_sources[0]),
                    u(f.token_sources[1]), u(f.token_sources[2]));
        out += '\n';
        out += "    e2e        " + latency_line(f.e2e) + '\n';
        if (f.ttft.count() != 0) out += "    ttft       " + latency_line(f.ttft) + '\n';
        if (f.itl.count() != 0) out += "    itl        " + latency_line(f.itl) + '\n';
        if (f.tpot.count() != 0) out += "    tpot       " + latency_line(f.tpot) + '\n';
    }
    if (r.rate_limits.responses != 0) {
        const rate_limit_summary& rl = r.rate_limits;
        appendf(out, "  rate limits  %llu responses with headers", u(rl.responses));
        if (rl.retry_after.count() != 0)
            appendf(
                out, "; retry-after %llu times, p50 %s, max %s", u(rl.retry_after.count()),
                short_duration(static_cast<double>(rl.retry_after.percentile(50).count())).c_str(),
                short_duration(static_cast<double>(rl.retry_after.max().count())).c_str());
        for (std::size_t i = 0; i < rl.windows.size(); ++i) {
            const rate_limit_summary::window_summary& w = rl.windows[i];
            if (w.responses == 0) continue;
            appendf(out, "; %.*s", static_cast<int>(window_names[i].size()),
                    window_names[i].data());
            if (w.limit) appendf(out, " limit %llu", u(*w.limit));
            if (w.remaining_min) appendf(out, " least remaining %llu", u(*w.remaining_min));
        }
        if (rl.ignored != 0) appendf(out, "; %llu unusable values ignored", u(rl.ignored));
        out += '\n';
    }
    if (!r.statuses.empty()) {
        out += "  statuses   ";
        for (const auto& [status, n] : r.statuses)
            appendf(out, status == 0 ? "  %u (no response): %llu" : "  %u: %llu", status, u(n));
        out += '\n';
    }
    // Codes grouped under their category, both as faultline names them.
    const char* label = "  failures     ";
    for (auto it = r.failures.begin(); it != r.failures.end();) {
        const faultline::category cat = it->first.cat;
        std::uint64_t total = 0;
        std::string codes;
        for (; it != r.failures.end() && it->first.cat == cat; ++it) {
            total += it->second;
            const std::string_view code = faultline::to_string(it->first.code);
            appendf(codes, "%s%.*s %llu", codes.empty() ? "" : ", ", static_cast<int>(code.size()),
                    code.data(), u(it->second));
        }
        const std::string_view name = faultline::to_string(cat);
        appendf(out, "%s%.*s: %llu (%s)\n", label, static_cast<int>(name.size()), name.data(),
                u(total), codes.c_str());
        label = "               ";
    }
    label = "  transport    ";
    for (const auto& [message, n] : r.transport_errors) {
        appendf(out, "%s%s: %llu\n", label, message.c_str(), u(n));
        label = "               ";
    }
    if (r.series.dropped_seconds() != 0)
        appendf(out, "  series       first %zu s kept, %llu s after the cap not kept\n",
                r.series.max_seconds(), u(r.series.dropped_seconds()));
    return out;
}

std::string chart_title(const run_settings& s) {
    std::string out = "faultline-loadgen: ";
    std::string url = s.url;
    while (!url.empty() && url.back() == '/')
        url.pop_back();
    // The target already holds the base URL's path; show scheme and authority once.
    if (const auto scheme = url.find("://"); scheme != std::string::npos) {
        if (const auto slash = url.find('/', scheme + 3); slash != std::string::npos)
            url.resize(slash);
    }
    out += url + s.target + ", " + s.model + ", " + std::to_string(s.connections) +
           (s.connections == 1 ? " connection" : " connections");
    if (s.stream) out += ", stream";
    return out;
}

std::string xml_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    constexpr std::string_view replacement = "\xEF\xBF\xBD"; // U+FFFD
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            switch (b) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                if (b < 0x20 && b != '\t' && b != '\n' && b != '\r')
                    out += replacement;
                else
                    out += static_cast<char>(b);
            }
            ++i;
            continue;
        }
        // A well-formed UTF-8 sequence (no overlongs, surrogates or values past U+10FFFF), and
        // not one of the noncharacters U+FFFE/U+FFFF that XML 1.0 forbids.
        std::size_t len = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF)
            len = 2;
        else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            if (b == 0xE0) lo = 0xA0;
            if (b == 0xED) hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            if (b == 0xF0) lo = 0x90;
            if (b == 0xF4) hi = 0x8F;
        }
        bool valid = len != 0 && i + len <= s.size();
        for (std::size_t k = 1; valid && k < len; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            valid = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
        }
        if (valid && len == 3 && b == 0xEF && static_cast<unsigned char>(s[i + 1]) == 0xBF &&
            static_cast<unsigned char>(s[i + 2]) >= 0xBE)
            valid = false;
        if (valid) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out += replacement;
            ++i;
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// SVG

namespace {

// 1, 2 or 5 times a power of ten, near range / ticks.
double nice_step(double range, double ticks) {
    const double raw = range / ticks;
    if (!(raw > 0)) return 1;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    const double norm = raw / magnitude;
    return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * magnitude;
}

struct y_axis {
    bool log = false;
    double lo = 0, hi = 1; // data units; for `log`, powers of ten
    std::vector<double> ticks;

    // 0 at the top of a panel of height h, h at the bottom.
    [[nodiscard]] double offset(double v, double h) const {
        double f = 0;
        if (log)
            f = (std::log10(std::max(v, 1e-300)) - std::log10(lo)) /
                (std::log10(hi) - std::log10(lo));
        else
            f = (v - lo) / (hi - lo);
        return h - std::clamp(f, 0.0, 1.0) * h;
    }
};

y_axis linear_axis(double max_value, bool integers) {
    y_axis a;
    const double top = max_value > 0 ? max_value : 1;
    double step = nice_step(top, 4);
    if (integers) step = std::max(1.0, std::ceil(step));
    a.hi = std::ceil(top / step) * step;
    for (double t = 0; t <= a.hi + step / 2; t += step)
        a.ticks.push_back(t);
    return a;
}

y_axis latency_axis(double lo, double hi) {
    if (lo > 0 && hi / lo > 20) {
        y_axis a;
        a.log = true;
        const double d0 = std::floor(std::log10(lo));
        double d1 = std::ceil(std::log10(hi));
        if (d1 <= d0) d1 = d0 + 1;
        a.lo = std::pow(10.0, d0);
        a.hi = std::pow(10.0, d1);
        for (double d = d0; d <= d1; ++d) {
            const double decade = std::pow(10.0, d);
            a.ticks.push_back(decade);
            if (d1 - d0 <= 2 && d < d1) {
                a.ticks.push_back(2 * decade);
                a.ticks.push_back(5 * decade);
            }
        }
        return a;
    }
    return linear_axis(hi * 1.05, false);
}

constexpr double width = 960;
constexpr double left = 100, right = 30, plot_w = width - left - right;
constexpr double panel_gap = 70; // between one panel's bottom and the next one's top
constexpr const char* ok_colour = "#2ca02c";
constexpr const char* p50_colour = "#1f77b4";
constexpr const char* p99_colour = "#d62728";
constexpr const char* tokens_colour = "#9467bd";
constexpr const char* second_run_colour = "#ff7f0e";
// One colour per faultline category, in category order.
constexpr std::array<const char*, category_count> category_colours{
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78",
    "#ff7f0e", "#d62728", "#9467bd", "#c49c94", "#f7b6d2", "#dbdb8d", "#393b79"};

void text(std::string& out, double x, double y, std::string_view anchor, std::string_view body,
          std::string_view extra = {}) {
    out += "<text x=\"" + fixed(x, 1) + "\" y=\"" + fixed(y, 1) + "\" text-anchor=\"" +
           std::string(anchor) + "\"";
    if (!extra.empty()) out += " " + std::string(extra);
    out += ">" + xml_escape(body) + "</text>\n";
}

void line(std::string& out, double x1, double y1, double x2, double y2, std::string_view stroke,
          double stroke_width = 1, std::string_view dash = {}) {
    out += "<line x1=\"" + fixed(x1, 1) + "\" y1=\"" + fixed(y1, 1) + "\" x2=\"" + fixed(x2, 1) +
           "\" y2=\"" + fixed(y2, 1) + "\" stroke=\"" + std::string(stroke) + "\" stroke-width=\"" +
           fixed(stroke_width, 1) + "\"";
    if (!dash.empty()) out += " stroke-dasharray=\"" + std::string(dash) + "\"";
    out += "/>\n";
}

void swatch(std::string& out, double x, double y, std::string_view fill) {
    out += "<rect x=\"" + fixed(x, 1) + "\" y=\"" + fixed(y - 6, 1) +
           "\" width=\"12\" height=\"12\" fill=\"" + std::string(fill) + "\"/>\n";
}

// Ticks and grid lines of a y axis along a panel, labelled by `label`.
template <class Label>
void y_ticks(std::string& out, const y_axis& a, double top, double h, Label label) {
    for (const double t : a.ticks) {
        const double y = top + a.offset(t, h);
        line(out, left, y, left + plot_w, y, "#e6e6e6");
        line(out, left - 5, y, left, y, "#333");
        text(out, left - 8, y + 4, "end", label(t));
    }
}

void x_ticks(std::string& out, std::size_t seconds, double axis_y) {
    const double n = static_cast<double>(seconds);
    const double step = std::max(1.0, std::ceil(nice_step(n, 8)));
    for (double t = 0; t <= n + 1e-9; t += step) {
        const double x = left + t / n * plot_w;
        line(out, x, axis_y, x, axis_y + 5, "#333");
        text(out, x, axis_y + 18, "middle", short_number(t));
    }
}

void frame(std::string& out, double top, double h) {
    out += "<rect x=\"" + fixed(left, 1) + "\" y=\"" + fixed(top, 1) + "\" width=\"" +
           fixed(plot_w, 1) + "\" height=\"" + fixed(h, 1) + "\" fill=\"none\" stroke=\"#333\"/>\n";
}

void panel_label(std::string& out, double top, double h, std::string_view label) {
    text(out, 24, top + h / 2, "middle", label,
         "transform=\"rotate(-90 24 " + fixed(top + h / 2, 1) + ")\"");
}

// A value per second; none breaks a line.
using column = std::vector<std::optional<double>>;

// A polyline through `values` (one per second of `n`), broken where a value is missing.
std::string path_of(const column& values, std::size_t n, const y_axis& a, double top, double h) {
    std::string d;
    bool pen_down = false;
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (!values[i]) {
            pen_down = false;
            continue;
        }
        const double x = left + (static_cast<double>(i) + 0.5) / static_cast<double>(n) * plot_w;
        const double y = top + a.offset(*values[i], h);
        d += (pen_down ? " L" : (d.empty() ? "M" : " M")) + fixed(x, 1) + " " + fixed(y, 1);
        pen_down = true;
    }
    return d;
}

struct curve {
    column values;
    const char* colour;
    std::string_view dash; // "" solid
    std::string legend;
};

// A panel of lines over `n` seconds: its axis (a latency axis for durations in ns, else
// linear from 0), grid, frame, legend above it and the lines. Returns the panel's bottom.
double line_panel(std::string& out, double top, double h, std::size_t n,
                  const std::vector<curve>& curves, bool durations, std::string_view label,
                  std::string_view empty_note) {
    double lo = 0, hi = 0;
    bool any = false;
    for (const curve& c : curves)
        for (const auto& v : c.values) {
            if (!v) continue;
            const double x = durations ? std::max(1.0, *v) : *v;
            lo = any ? std::min(lo, x) : x;
            hi = any ? std::max(hi, x) : x;
            any = true;
        }
    const y_axis a = !any        ? linear_axis(durations ? 1e6 : 1, false)
                     : durations ? latency_axis(lo, hi)
                                 : linear_axis(hi * 1.05, false);
    if (durations)
        y_ticks(out, a, top, h, [](double v) { return short_duration(v); });
    else
        y_ticks(out, a, top, h, [](double v) { return short_number(v); });
    frame(out, top, h);
    x_ticks(out, n, top + h);
    panel_label(out, top, h, std::string(label) + (a.log ? " (log scale)" : ""));
    double lx = left;
    for (const curve& c : curves) {
        line(out, lx, top - 12, lx + 24, top - 12, c.colour, 2, c.dash);
        text(out, lx + 30, top - 8, "start", c.legend);
        lx += 40 + 7.0 * static_cast<double>(c.legend.size());
    }
    if (!any) {
        text(out, left + plot_w / 2, top + h / 2, "middle", empty_note);
        return top + h;
    }
    for (const curve& c : curves) {
        out += "<path d=\"" + path_of(c.values, n, a, top, h) + "\" fill=\"none\" stroke=\"" +
               c.colour + "\" stroke-width=\"1.5\"";
        if (!c.dash.empty()) out += " stroke-dasharray=\"" + std::string(c.dash) + "\"";
        out += "/>\n";
    }
    return top + h;
}

column latency_column(const std::vector<second_stats>& rows, bool p99) {
    column c;
    for (const second_stats& s : rows) {
        const auto& v = p99 ? s.p99 : s.p50;
        c.push_back(v ? std::optional<double>(static_cast<double>(v->count())) : std::nullopt);
    }
    return c;
}

template <class Figure>
column count_column(const std::vector<second_stats>& rows, Figure figure) {
    column c;
    for (const second_stats& s : rows)
        c.push_back(static_cast<double>(figure(s)));
    return c;
}

std::uint64_t failed(const second_stats& s) {
    std::uint64_t n = 0;
    for (const std::uint64_t v : s.failures)
        n += v;
    return n;
}

std::string svg_head(double height, std::string_view title) {
    std::string out;
    out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + fixed(width, 0) +
           "\" height=\"" + fixed(height, 0) + "\" viewBox=\"0 0 " + fixed(width, 0) + " " +
           fixed(height, 0) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    out += "<title>" + xml_escape(title) + "</title>\n";
    out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    text(out, width / 2, 26, "middle", title, "font-size=\"15\" font-weight=\"bold\"");
    return out;
}

void dropped_note(std::string& out, const report& r, double y) {
    if (r.series.dropped_seconds() != 0)
        text(out, width - right, y, "end",
             "first " + std::to_string(r.series.max_seconds()) + " s of " +
                 std::to_string(r.series.max_seconds() + r.series.dropped_seconds()) + " s");
}

} // namespace

std::string render_svg(const report& r, std::string_view title) {
    const std::vector<second_stats>& rows = r.series.seconds();
    const std::size_t n = std::max<std::size_t>(rows.size(), 1);
    constexpr double bars_top = 80, bars_h = 170, lat_h = 200, tok_h = 130;
    const double lat_top = bars_top + bars_h + panel_gap;
    const double tok_top = lat_top + lat_h + panel_gap;
    const double height = tok_top + tok_h + 60;

    std::string out = svg_head(height, title);
    out.reserve(8192 + rows.size() * 400);
    dropped_note(out, r, 50);

    // Requests finished per second: successes, then failures by category, stacked.
    std::array<bool, category_count> present{};
    std::uint64_t most = 0;
    for (const second_stats& s : rows) {
        most = std::max(most, s.ok + failed(s));
        for (std::size_t c = 0; c < category_count; ++c)
            present[c] = present[c] || s.failures[c] != 0;
    }
    const y_axis bars = linear_axis(static_cast<double>(most), true);
    y_ticks(out, bars, bars_top, bars_h, [](double v) { return short_number(v); });
    const double slot = plot_w / static_cast<double>(n);
    const double gap = slot > 4 ? 1 : 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        double below = 0; // requests already drawn in this second's column
        const auto block = [&](std::uint64_t count, const char* fill) {
            if (count == 0) return;
            const double y0 = bars_top + bars.offset(below, bars_h);
            below += static_cast<double>(count);
            const double y1 = bars_top + bars.offset(below, bars_h);
            out += "<rect x=\"" + fixed(left + static_cast<double>(i) * slot + gap, 2) + "\" y=\"" +
                   fixed(y1, 2) + "\" width=\"" + fixed(std::max(0.5, slot - 2 * gap), 2) +
                   "\" height=\"" + fixed(y0 - y1, 2) + "\" fill=\"" + fill + "\"/>\n";
        };
        block(rows[i].ok, ok_colour);
        for (std::size_t c = 0; c < category_count; ++c)
            block(rows[i].failures[c], category_colours[c]);
    }
    frame(out, bars_top, bars_h);
    x_ticks(out, n, bars_top + bars_h);
    panel_label(out, bars_top, bars_h, "requests per second");
    double lx = left;
    const auto legend = [&](const char* fill, std::string_view name) {
        swatch(out, lx, bars_top - 12, fill);
        text(out, lx + 18, bars_top - 8, "start", name);
        lx += 30 + 7.0 * static_cast<double>(name.size());
    };
    legend(ok_colour, "ok");
    for (std::size_t c = 0; c < category_count; ++c)
        if (present[c])
            legend(category_colours[c],
                   faultline::to_string(static_cast<faultline::category>(c + 1)));

    line_panel(out, lat_top, lat_h, n,
               {{latency_column(rows, false), p50_colour, {}, "p50 latency of successes"},
                {latency_column(rows, true), p99_colour, {}, "p99 latency of successes"}},
               true, "latency per second", "no successes");
    line_panel(out, tok_top, tok_h, n,
               {{count_column(rows, [](const second_stats& s) { return s.output_tokens; }),
                 tokens_colour,
                 {},
                 "output tokens per second"}},
               false, "tokens per second", "no output tokens");
    text(out, left + plot_w / 2, height - 20, "middle", "seconds since the start");
    out += "</svg>\n";
    return out;
}

std::string render_compare_svg(const report& a, const report& b, std::string_view title) {
    const auto& ra = a.series.seconds();
    const auto& rb = b.series.seconds();
    const std::size_t n = std::max<std::size_t>({ra.size(), rb.size(), 1});
    constexpr double top1 = 90, h1 = 170, h2 = 200, h3 = 130;
    const double top2 = top1 + h1 + panel_gap, top3 = top2 + h2 + panel_gap;
    const double height = top3 + h3 + 60;
    std::string out = svg_head(height, title);
    text(out, left, 52, "start", "solid: A " + chart_title(a.settings));
    text(out, left, 68, "start", "dashed: B " + chart_title(b.settings));
    const auto ok = [](const second_stats& s) { return s.ok; };
    const auto tokens = [](const second_stats& s) { return s.output_tokens; };
    line_panel(out, top1, h1, n,
               {{count_column(ra, ok), ok_colour, {}, "A successes"},
                {count_column(rb, ok), ok_colour, "6 4", "B successes"},
                {count_column(ra, failed), p99_colour, {}, "A failures"},
                {count_column(rb, failed), p99_colour, "6 4", "B failures"}},
               false, "requests per second", "no requests");
    line_panel(out, top2, h2, n,
               {{latency_column(ra, false), p50_colour, {}, "A p50"},
                {latency_column(rb, false), p50_colour, "6 4", "B p50"},
                {latency_column(ra, true), second_run_colour, {}, "A p99"},
                {latency_column(rb, true), second_run_colour, "6 4", "B p99"}},
               true, "latency of successes", "no successes");
    line_panel(out, top3, h3, n,
               {{count_column(ra, tokens), tokens_colour, {}, "A output tokens/s"},
                {count_column(rb, tokens), tokens_colour, "6 4", "B output tokens/s"}},
               false, "tokens per second", "no output tokens");
    text(out, left + plot_w / 2, height - 20, "middle", "seconds since the start");
    out += "</svg>\n";
    return out;
}

// ---------------------------------------------------------------------------------------------
// saved reports and comparisons

namespace {

namespace json = boost::json;

// Reads the members a comparison needs; throws std::runtime_error naming what is wrong.
struct saved_reader {
    const json::object& root;

    static const json::value& member(const json::object& o, std::string_view key,
                                     std::string_view where) {
        const json::value* v = o.if_contains(key);
        if (!v)
            throw std::runtime_error("no \"" + std::string(key) + "\" in " + std::string(where));
        return *v;
    }
    static const json::object& object(const json::object& o, std::string_view key,
                                      std::string_view where) {
        const json::value& v = member(o, key, where);
        if (!v.is_object())
            throw std::runtime_error("\"" + std::string(key) + "\" in " + std::string(where) +
                                     " is not an object");
        return v.get_object();
    }
    static std::uint64_t count(const json::object& o, std::string_view key,
                               std::string_view where) {
        const json::value& v = member(o, key, where);
        if (v.is_uint64()) return v.get_uint64();
        if (v.is_int64() && v.get_int64() >= 0) return static_cast<std::uint64_t>(v.get_int64());
        throw std::runtime_error("\"" + std::string(key) + "\" in " + std::string(where) +
                                 " is not a count");
    }
    static double number(const json::object& o, std::string_view key, std::string_view where) {
        const json::value& v = member(o, key, where);
        if (v.is_number()) return v.to_number<double>();
        throw std::runtime_error("\"" + std::string(key) + "\" in " + std::string(where) +
                                 " is not a number");
    }
    static std::optional<nanoseconds> optional_duration(const json::object& o, std::string_view key,
                                                        std::string_view where) {
        const json::value& v = member(o, key, where);
        if (v.is_null()) return std::nullopt;
        if (!v.is_number() || !(v.to_number<double>() >= 0) || v.to_number<double>() > 3.6e9)
            throw std::runtime_error("\"" + std::string(key) + "\" in " + std::string(where) +
                                     " is not a duration in ms");
        return nanoseconds(static_cast<std::int64_t>(std::llround(v.to_number<double>() * 1e6)));
    }
    static std::string text(const json::object& o, std::string_view key, std::string_view where) {
        const json::value& v = member(o, key, where);
        if (!v.is_string())
            throw std::runtime_error("\"" + std::string(key) + "\" in " + std::string(where) +
                                     " is not a string");
        return std::string(v.get_string());
    }
};

} // namespace

std::variant<saved_report, std::string> read_saved_report(std::string_view json_text) {
    boost::system::error_code ec;
    json::value v = json::parse(json_text, ec);
    if (ec) return "not JSON: " + ec.message();
    if (!v.is_object()) return std::string("not a JSON object");
    saved_report out;
    out.document = std::move(v.get_object());
    const json::object& o = out.document;
    using r = saved_reader;
    try {
        const json::value* tool = o.if_contains("tool");
        if (!tool || !tool->is_string() || tool->get_string() != "faultline-loadgen")
            return std::string(
                "not a faultline-loadgen report (\"tool\" is not \"faultline-loadgen\")");
        const std::uint64_t format = r::count(o, "format", "the report");
        if (format != 2)
            return "a report of format " + std::to_string(format) + "; this version reads format 2";
        const json::object& config = r::object(o, "config", "the report");
        run_settings& s = out.run.settings;
        s.url = r::text(config, "url", "config");
        s.target = r::text(config, "target", "config");
        s.model = r::text(config, "model", "config");
        const json::value& stream = r::member(config, "stream", "config");
        if (!stream.is_bool()) return std::string("\"stream\" in config is not true or false");
        s.stream = stream.get_bool();
        s.connections = static_cast<unsigned>(
            std::min<std::uint64_t>(r::count(config, "connections", "config"), 1u << 20));
        const double elapsed = r::number(o, "elapsed_s", "the report");
        if (!(elapsed >= 0) || elapsed > 1e9) return std::string("\"elapsed_s\" is out of range");
        out.run.elapsed = nanoseconds(static_cast<std::int64_t>(elapsed * 1e9));
        out.run.requests = r::count(o, "requests", "the report");
        out.run.ok = r::count(o, "ok", "the report");
        out.run.throttled = r::count(o, "throttled", "the report");
        out.run.errors = r::count(o, "errors", "the report");
        out.run.successes.output_tokens_total =
            r::count(r::object(o, "successes", "the report"), "output_tokens", "successes");

        const json::object& series = r::object(o, "series", "the report");
        const json::value& seconds = r::member(series, "seconds", "series");
        if (!seconds.is_array()) return std::string("\"seconds\" in series is not an array");
        std::vector<second_stats> rows;
        rows.reserve(
            std::min<std::size_t>(seconds.get_array().size(), out.run.series.max_seconds()));
        for (const json::value& row : seconds.get_array()) {
            if (rows.size() == out.run.series.max_seconds()) break;
            if (!row.is_object()) return std::string("a second of the series is not an object");
            const json::object& x = row.get_object();
            second_stats st;
            st.requests = r::count(x, "requests", "a second");
            st.ok = r::count(x, "ok", "a second");
            st.throttled = r::count(x, "throttled", "a second");
            st.errors = r::count(x, "errors", "a second");
            st.retries = r::count(x, "retries", "a second");
            st.status_429 = r::count(x, "status_429", "a second");
            st.output_tokens = r::count(x, "output_tokens", "a second");
            for (const auto& [name, n] : r::object(x, "failures", "a second")) {
                faultline::category c{};
                bool known = false;
                for (std::size_t i = 0; i < category_count && !known; ++i)
                    if (faultline::to_string(category_at(i)) == std::string_view(name)) {
                        c = category_at(i);
                        known = true;
                    }
                if (!known) return "unknown category \"" + std::string(name) + "\" in the series";
                if (!n.is_uint64() && !(n.is_int64() && n.get_int64() >= 0))
                    return std::string("a failure count in the series is not a count");
                st.failures[category_index(c)] = n.to_number<std::uint64_t>();
            }
            st.p50 = r::optional_duration(x, "p50_ms", "a second");
            st.p99 = r::optional_duration(x, "p99_ms", "a second");
            rows.push_back(st);
        }
        out.run.series.restore(std::move(rows), r::count(series, "dropped_seconds", "series"));
    } catch (const std::runtime_error& e) {
        return std::string(e.what());
    }
    return out;
}

std::string compare_summary(const saved_report& a, const saved_report& b) {
    std::string out;
    out += "A  " + chart_title(a.run.settings) + '\n';
    out += "B  " + chart_title(b.run.settings) + '\n';
    appendf(out, "  %-30s %14s %14s %9s\n", "", "A", "B", "B / A");
    const auto row = [&](std::string_view name, std::optional<double> x, std::optional<double> y,
                         std::string_view unit) {
        const auto cell = [](std::optional<double> v) {
            return v ? short_number(*v) : std::string("-");
        };
        std::string ratio = "-";
        if (x && y && *x != 0) ratio = fixed(*y / *x, 2) + "x";
        const std::string label =
            std::string(name) + (unit.empty() ? "" : " (" + std::string(unit) + ")");
        appendf(out, "  %-30s %14s %14s %9s\n", label.c_str(), cell(x).c_str(), cell(y).c_str(),
                ratio.c_str());
    };
    const auto at = [](const json::object& o,
                       std::initializer_list<std::string_view> path) -> std::optional<double> {
        const json::value* v = nullptr;
        const json::object* cur = &o;
        for (const std::string_view key : path) {
            if (!cur) return std::nullopt;
            v = cur->if_contains(key);
            if (!v) return std::nullopt;
            cur = v->is_object() ? &v->get_object() : nullptr;
        }
        if (!v || !v->is_number()) return std::nullopt;
        return v->to_number<double>();
    };
    const json::object& x = a.document;
    const json::object& y = b.document;
    const auto both = [&](std::string_view name, std::initializer_list<std::string_view> path,
                          std::string_view unit) { row(name, at(x, path), at(y, path), unit); };
    both("requests", {"requests"}, "");
    both("requests per second", {"requests_per_second"}, "");
    both("successes", {"successes", "count"}, "");
    both("successes per second", {"successes", "requests_per_second"}, "");
    both("throttled (429)", {"throttled"}, "");
    both("other errors", {"errors"}, "");
    both("output tokens per second", {"successes", "output_tokens_per_second"}, "");
    for (const std::string_view figure : {"e2e_ms", "ttft_ms", "itl_ms", "tpot_ms"})
        for (const std::string_view p : {"p50", "p99"}) {
            const std::string name =
                std::string(figure.substr(0, figure.size() - 3)) + " " + std::string(p);
            both(name, {"successes", figure, p}, "ms");
        }
    return out;
}

} // namespace examples::loadgen

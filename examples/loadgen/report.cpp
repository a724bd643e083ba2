#include "loadgen/report.hpp"

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdarg>
#include <cstdio>

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

// Locale-independent fixed notation, which SVG coordinates need.
std::string fixed(double v, int decimals) {
    char buffer[64];
    const auto r =
        std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::fixed, decimals);
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

} // namespace

// ---------------------------------------------------------------------------------------------
// time_series

time_series::time_series(std::size_t max_seconds)
    : max_(max_seconds == 0 ? 1 : max_seconds) {}

void time_series::add(nanoseconds at, outcome o, nanoseconds latency) {
    advance(second_of(at));
    ++current_.requests;
    switch (o) {
    case outcome::ok:
        ++current_.ok;
        break;
    case outcome::throttled:
        ++current_.throttled;
        ++current_.status_429;
        break;
    case outcome::error:
        ++current_.errors;
        break;
    }
    current_latency_.record(latency);
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
    switch (r.kind()) {
    case outcome::ok:
        ++ok;
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
    events += r.events;
    content_events += r.content_events;
    series.add(at, r.kind(), r.latency);
}

void report::add_retry(const request_result& r, nanoseconds at) {
    ++retries;
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

// ---------------------------------------------------------------------------------------------
// renderings

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

    json::object o;
    o["tool"] = "faultline-loadgen";
    o["format"] = 1;
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

constexpr double width = 960, height = 620;
constexpr double left = 100, right = 30, plot_w = width - left - right;
constexpr double lat_top = 70, lat_h = 290;
constexpr double bar_top = 420, bar_h = 120;
constexpr const char* p50_colour = "#1f77b4";
constexpr const char* p99_colour = "#d62728";
constexpr const char* bar_colour = "#ff7f0e";

void text(std::string& out, double x, double y, std::string_view anchor, std::string_view body,
          std::string_view extra = {}) {
    out += "<text x=\"" + fixed(x, 1) + "\" y=\"" + fixed(y, 1) + "\" text-anchor=\"" +
           std::string(anchor) + "\"";
    if (!extra.empty()) out += " " + std::string(extra);
    out += ">" + xml_escape(body) + "</text>\n";
}

void line(std::string& out, double x1, double y1, double x2, double y2, std::string_view stroke,
          double stroke_width = 1) {
    out += "<line x1=\"" + fixed(x1, 1) + "\" y1=\"" + fixed(y1, 1) + "\" x2=\"" + fixed(x2, 1) +
           "\" y2=\"" + fixed(y2, 1) + "\" stroke=\"" + std::string(stroke) + "\" stroke-width=\"" +
           fixed(stroke_width, 1) + "\"/>\n";
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

// One path per percentile; a second without responses breaks the line.
std::string latency_path(const std::vector<second_stats>& rows, const y_axis& a, bool p99) {
    std::string d;
    bool pen_down = false;
    const double n = static_cast<double>(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& v = p99 ? rows[i].p99 : rows[i].p50;
        if (!v) {
            pen_down = false;
            continue;
        }
        const double x = left + (static_cast<double>(i) + 0.5) / n * plot_w;
        const double y = lat_top + a.offset(static_cast<double>(v->count()), lat_h);
        d += (pen_down ? " L" : (d.empty() ? "M" : " M")) + fixed(x, 1) + " " + fixed(y, 1);
        pen_down = true;
    }
    return d;
}

} // namespace

std::string render_svg(const report& r, std::string_view title) {
    const std::vector<second_stats>& rows = r.series.seconds();
    const std::size_t n = std::max<std::size_t>(rows.size(), 1);

    std::string out;
    out.reserve(4096 + rows.size() * 160);
    out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + fixed(width, 0) +
           "\" height=\"" + fixed(height, 0) + "\" viewBox=\"0 0 " + fixed(width, 0) + " " +
           fixed(height, 0) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    out += "<title>" + xml_escape(title) + "</title>\n";
    out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    text(out, width / 2, 26, "middle", title, "font-size=\"15\" font-weight=\"bold\"");

    // Legend, above the latency panel.
    const double ly = 50;
    line(out, left, ly, left + 24, ly, p50_colour, 2);
    text(out, left + 30, ly + 4, "start", "p50 latency");
    line(out, left + 130, ly, left + 154, ly, p99_colour, 2);
    text(out, left + 160, ly + 4, "start", "p99 latency");
    out += "<rect x=\"" + fixed(left + 260, 1) + "\" y=\"" + fixed(ly - 6, 1) +
           "\" width=\"12\" height=\"12\" fill=\"" + bar_colour + "\"/>\n";
    text(out, left + 278, ly + 4, "start", "429 responses per second");
    if (r.series.dropped_seconds() != 0)
        text(out, width - right, ly + 4, "end",
             "first " + std::to_string(r.series.max_seconds()) + " s of " +
                 std::to_string(r.series.max_seconds() + r.series.dropped_seconds()) + " s");

    // Latency panel.
    double lo = 0, hi = 0;
    bool any = false;
    for (const second_stats& s : rows) {
        for (const auto& v : {s.p50, s.p99}) {
            if (!v) continue;
            const double ns = std::max(1.0, static_cast<double>(v->count()));
            lo = any ? std::min(lo, ns) : ns;
            hi = any ? std::max(hi, ns) : ns;
            any = true;
        }
    }
    const y_axis lat = any ? latency_axis(lo, hi) : linear_axis(1e6, false);
    y_ticks(out, lat, lat_top, lat_h, [](double v) { return short_duration(v); });
    frame(out, lat_top, lat_h);
    x_ticks(out, n, lat_top + lat_h);
    text(out, 24, lat_top + lat_h / 2, "middle",
         std::string("latency per second") + (lat.log ? " (log scale)" : ""),
         "transform=\"rotate(-90 24 " + fixed(lat_top + lat_h / 2, 1) + ")\"");
    if (any) {
        out += "<path d=\"" + latency_path(rows, lat, false) + "\" fill=\"none\" stroke=\"" +
               p50_colour + "\" stroke-width=\"1.5\"/>\n";
        out += "<path d=\"" + latency_path(rows, lat, true) + "\" fill=\"none\" stroke=\"" +
               p99_colour + "\" stroke-width=\"1.5\"/>\n";
    } else {
        text(out, left + plot_w / 2, lat_top + lat_h / 2, "middle", "no responses");
    }

    // 429 panel.
    std::uint64_t most = 0;
    for (const second_stats& s : rows)
        most = std::max(most, s.status_429);
    const y_axis bars = linear_axis(static_cast<double>(most), true);
    y_ticks(out, bars, bar_top, bar_h, [](double v) { return short_number(v); });
    const double slot = plot_w / static_cast<double>(n);
    const double gap = slot > 4 ? 1 : 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].status_429 == 0) continue;
        const double y = bar_top + bars.offset(static_cast<double>(rows[i].status_429), bar_h);
        out += "<rect x=\"" + fixed(left + static_cast<double>(i) * slot + gap, 2) + "\" y=\"" +
               fixed(y, 2) + "\" width=\"" + fixed(std::max(0.5, slot - 2 * gap), 2) +
               "\" height=\"" + fixed(bar_top + bar_h - y, 2) + "\" fill=\"" + bar_colour +
               "\"/>\n";
    }
    frame(out, bar_top, bar_h);
    x_ticks(out, n, bar_top + bar_h);
    text(out, 24, bar_top + bar_h / 2, "middle", "429 per second",
         "transform=\"rotate(-90 24 " + fixed(bar_top + bar_h / 2, 1) + ")\"");
    text(out, left + plot_w / 2, height - 20, "middle", "seconds since the start");
    out += "</svg>\n";
    return out;
}

} // namespace examples::loadgen

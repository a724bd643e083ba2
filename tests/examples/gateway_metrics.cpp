#include "gateway/metrics.hpp"

// The gateway's Prometheus metrics: the renderer on its own (escaping, cumulative buckets,
// counter values), then `GET /metrics` of a running gateway after requests whose every count is
// known, each scrape read by a checker of the text exposition format 0.0.4.

#include "gateway_fixture.hpp"

#include <faultline/envelope.hpp>
#include <faultline/pipeline.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/test/unit_test.hpp>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <thread>

namespace fl = faultline;
using namespace examples_test;
using http::verb;
using std::chrono::milliseconds;
using tcp = net::ip::tcp;

namespace {

const std::string alice = "sk-demo-alice";

// A scrape read by `parse_exposition`: every sample by its name and labels as written
// (`name{a="x",b="y"}`), or why the text is not valid exposition format.
struct exposition {
    std::map<std::string, double> samples;
    std::map<std::string, std::string> types; // family -> counter, gauge, histogram...
    std::string error;                        // "": valid

    // The sample's value; -1 when it is absent.
    [[nodiscard]] double operator[](const std::string& series) const {
        const auto it = samples.find(series);
        return it == samples.end() ? -1 : it->second;
    }
};

bool is_name_start(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool is_name_char(char c) {
    return is_name_start(c) || std::isdigit(static_cast<unsigned char>(c));
}

// A metric or label name at the start of `s`, removed from it; "" when there is none.
std::string take_name(std::string_view& s, bool label) {
    std::size_t n = 0;
    while (n < s.size() && (n == 0 ? is_name_start(s[n]) : is_name_char(s[n])) &&
           !(label && s[n] == ':'))
        ++n;
    std::string out(s.substr(0, n));
    s.remove_prefix(n);
    return out;
}

bool parse_value(std::string_view v, double& out) {
    if (v == "+Inf" || v == "-Inf" || v == "NaN") {
        out = v == "NaN" ? NAN : (v[0] == '-' ? -INFINITY : INFINITY);
        return true;
    }
    if (v.empty()) return false;
    const std::string text(v);
    char* end = nullptr;
    out = std::strtod(text.c_str(), &end);
    return end == text.c_str() + text.size() && text.find_first_of("xXiInN") == std::string::npos;
}

// Checks `text` line by line against the text exposition format 0.0.4 (`# HELP`, `# TYPE`
// before its samples, each family's lines together, label values escaped, one sample per series)
// and every histogram's buckets (increasing `le`, cumulative counts, `+Inf` equal to `_count`).
exposition parse_exposition(std::string_view text) {
    exposition x;
    const auto fail = [&](std::size_t line, const std::string& why) {
        if (x.error.empty()) x.error = "line " + std::to_string(line) + ": " + why;
    };
    if (!text.empty() && !text.ends_with('\n')) fail(0, "the text does not end with a line feed");
    std::set<std::string> finished; // families whose lines are over
    std::string current;            // the family of the lines now
    // Per histogram series (labels without le): the last bucket's le and count, and +Inf's.
    struct buckets {
        double le = -INFINITY;
        double count = 0;
        std::optional<double> inf;
    };
    std::map<std::string, buckets> histograms;
    std::size_t line_no = 0;
    const auto enter = [&](const std::string& family) {
        if (family == current) return;
        if (finished.count(family)) fail(line_no, "the lines of " + family + " are not together");
        if (!current.empty()) finished.insert(current);
        current = family;
    };
    while (!text.empty() && x.error.empty()) {
        ++line_no;
        const std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (line.empty()) continue;
        if (line.starts_with('#')) {
            std::string_view rest = line.substr(1);
            while (rest.starts_with(' '))
                rest.remove_prefix(1);
            const bool help = rest.starts_with("HELP "), type = rest.starts_with("TYPE ");
            if (!help && !type) continue; // a comment
            rest.remove_prefix(5);
            const std::string name = take_name(rest, false);
            if (name.empty() || !(rest.empty() || rest.starts_with(' ')))
                fail(line_no, "a bad metric name");
            enter(name);
            if (type) {
                const std::string_view t = rest.empty() ? rest : rest.substr(1);
                if (t != "counter" && t != "gauge" && t != "histogram" && t != "summary" &&
                    t != "untyped")
                    fail(line_no, "unknown type " + std::string(t));
                if (x.types.count(name)) fail(line_no, "a second TYPE for " + name);
                x.types[name] = std::string(t);
            } else if (rest.find('\\') != std::string_view::npos) {
                for (std::size_t i = rest.find('\\'); i != std::string_view::npos;
                     i = rest.find('\\', i + 2))
                    if (i + 1 >= rest.size() || (rest[i + 1] != '\\' && rest[i + 1] != 'n'))
                        fail(line_no, "a bad escape in HELP");
            }
            continue;
        }
        std::string_view rest = line;
        const std::string name = take_name(rest, false);
        if (name.empty()) {
            fail(line_no, "no metric name");
            break;
        }
        // The family: a histogram's samples carry a suffix.
        std::string family = name;
        std::string suffix;
        for (const char* s : {"_bucket", "_sum", "_count"})
            if (name.ends_with(s) && x.types.count(name.substr(0, name.size() - std::strlen(s))) &&
                x.types[name.substr(0, name.size() - std::strlen(s))] == "histogram") {
                family = name.substr(0, name.size() - std::strlen(s));
                suffix = s;
            }
        if (!x.types.count(family)) fail(line_no, "a sample before its TYPE: " + name);
        if (x.types[family] == "histogram" && suffix.empty())
            fail(line_no, "a histogram sample without _bucket, _sum or _count");
        enter(family);
        std::string labels_text; // as written, le left out
        std::optional<std::string> le;
        std::string key = name;
        if (rest.starts_with('{')) {
            const std::string_view all = rest;
            rest.remove_prefix(1);
            std::set<std::string> seen;
            while (!rest.starts_with('}')) {
                const std::string label = take_name(rest, true);
                if (label.empty() || !rest.starts_with("=\"")) {
                    fail(line_no, "a bad label");
                    break;
                }
                if (!seen.insert(label).second) fail(line_no, "label " + label + " twice");
                rest.remove_prefix(2);
                std::string value;
                bool closed = false;
                while (!rest.empty()) {
                    const char c = rest.front();
                    rest.remove_prefix(1);
                    if (c == '"') {
                        closed = true;
                        break;
                    }
                    if (c == '\n') fail(line_no, "a raw line feed in a label value");
                    if (c == '\\') {
                        if (rest.empty() || (rest[0] != '\\' && rest[0] != '"' && rest[0] != 'n'))
                            fail(line_no, "a bad escape in a label value");
                        value += rest.empty() ? '\\' : rest[0];
                        if (!rest.empty()) rest.remove_prefix(1);
                        continue;
                    }
                    value += c;
                }
                if (!closed) {
                    fail(line_no, "an unterminated label value");
                    break;
                }
                if (label == "le")
                    le = value;
                else
                    labels_text += label + "=" + value + ";";
                if (rest.starts_with(','))
                    rest.remove_prefix(1);
                else if (!rest.starts_with('}')) {
                    fail(line_no, "labels not separated by commas");
                    break;
                }
            }
            if (!x.error.empty()) break;
            rest.remove_prefix(1);
            key += std::string(all.substr(0, all.size() - rest.size()));
        }
        if (!rest.starts_with(' ')) {
            fail(line_no, "no space before the value");
            break;
        }
        rest.remove_prefix(1);
        const std::string_view value_text = rest.substr(0, rest.find(' '));
        double value = 0;
        if (!parse_value(value_text, value))
            fail(line_no, "a bad value " + std::string(value_text));
        if (value_text.size() < rest.size()) {
            double timestamp = 0;
            if (!parse_value(rest.substr(value_text.size() + 1), timestamp))
                fail(line_no, "a bad timestamp");
        }
        if (!x.samples.emplace(key, value).second) fail(line_no, "a second sample of " + key);
        if (suffix == "_bucket") {
            double bound = 0;
            if (!le || !parse_value(*le, bound)) {
                fail(line_no, "a bucket without a numeric le");
                break;
            }
            buckets& b = histograms[family + "|" + labels_text];
            if (bound <= b.le) fail(line_no, "le not increasing");
            if (value < b.count) fail(line_no, "bucket counts not cumulative");
            b.le = bound;
            b.count = value;
            if (std::isinf(bound)) b.inf = value;
        } else if (suffix == "_count") {
            const buckets& b = histograms[family + "|" + labels_text];
            if (!b.inf || *b.inf != value) fail(line_no, "+Inf is not _count: " + key);
        } else if (le) {
            fail(line_no, "le outside a bucket");
        }
    }
    for (const auto& [series, b] : histograms)
        if (!b.inf) fail(line_no, "a histogram without +Inf: " + series);
    return x;
}

// A configuration whose names need escaping.
gw::gateway_config odd_names() {
    gw::gateway_config c;
    c.channels.push_back(channel("a"));
    c.channels.push_back(channel("b\"\\\n"));
    c.models.push_back({"m", {"a", "b\"\\\n"}, 8192});
    c.models.push_back({"say \"hi\"\\n\n", {"a"}, 8192});
    return c;
}

std::string render(const gw::metrics_registry& m, const gw::scrape& s = {}) {
    std::string out;
    m.render(out, s);
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_metrics)

BOOST_AUTO_TEST_CASE(label_values_escape_backslash_quote_and_line_feed) {
    const std::pair<std::string_view, std::string_view> rows[] = {
        {"plain", "plain"},
        {"", ""},
        {"a\\b", "a\\\\b"},
        {"say \"hi\"", "say \\\"hi\\\""},
        {"two\nlines", "two\\nlines"},
        {"\\n", "\\\\n"}, // a backslash and an n, not a line feed
        {"tab\tand \xc3\xa9", "tab\tand \xc3\xa9"},
    };
    for (const auto& [in, out] : rows)
        BOOST_TEST(gw::escape_label_value(in) == out, in);
}

BOOST_AUTO_TEST_CASE(histogram_buckets_are_cumulative_and_le_inclusive) {
    gw::latency_histogram h;
    for (const milliseconds d : {milliseconds(3), milliseconds(5), milliseconds(7), milliseconds(7),
                                 milliseconds(2000), milliseconds(-1), milliseconds(1'000'000)})
        h.observe(d);
    const gw::latency_histogram::reading r = h.read();
    // le: 0.005 0.01 0.025 ... 1 2.5 ... 300 +Inf
    BOOST_TEST(r.cumulative[0] == 3u); // -1 ms (as 0), 3 ms, 5 ms exactly
    BOOST_TEST(r.cumulative[1] == 5u); // and the two 7 ms
    BOOST_TEST(r.cumulative[7] == 5u); // le 1
    BOOST_TEST(r.cumulative[8] == 6u); // le 2.5: the 2 s
    BOOST_TEST(r.cumulative[14] == 6u);
    BOOST_TEST(r.count() == 7u); // +Inf: the 1000 s
    BOOST_TEST(r.sum == milliseconds(3 + 5 + 7 + 7 + 2000 + 0 + 1'000'000));
    for (std::size_t i = 1; i < r.cumulative.size(); ++i)
        BOOST_TEST(r.cumulative[i] >= r.cumulative[i - 1]);
}

BOOST_AUTO_TEST_CASE(rendered_histogram_lines) {
    gw::gateway_config c;
    c.channels.push_back(channel("a"));
    c.models.push_back({"m", {"a"}, 8192});
    gw::metrics_registry m(c);
    m.request_done(gw::route::chat, "m", milliseconds(20));
    m.request_done(gw::route::chat, "m", milliseconds(1500));
    const std::string text = render(m);
    const std::string series = "faultline_gateway_request_duration_seconds";
    const std::string labels = R"(route="/v1/chat/completions",model="m")";
    for (const auto& [le, n] : {std::pair{"0.01", 0}, std::pair{"0.025", 1}, std::pair{"1", 1},
                                std::pair{"2.5", 2}, std::pair{"300", 2}, std::pair{"+Inf", 2}})
        BOOST_TEST(text.find(series + "_bucket{" + labels + ",le=\"" + le + "\"} " +
                             std::to_string(n) + "\n") != std::string::npos,
                   le);
    BOOST_TEST(text.find(series + "_sum{" + labels + "} 1.52\n") != std::string::npos);
    BOOST_TEST(text.find(series + "_count{" + labels + "} 2\n") != std::string::npos);
    BOOST_TEST(text.find("# TYPE " + series + " histogram\n") != std::string::npos);
    BOOST_TEST(parse_exposition(text).error == "");
}

BOOST_AUTO_TEST_CASE(counters_render_what_was_recorded) {
    gw::gateway_config c;
    c.channels.push_back(channel("a"));
    c.channels.push_back(channel("b"));
    c.models.push_back({"m", {"a", "b"}, 8192});
    gw::metrics_registry m(c);
    m.answered(gw::route::chat, 200);
    m.answered(gw::route::chat, 200);
    m.answered(gw::route::other, 404);
    m.answered(gw::route::chat, 42);  // no status: not counted
    m.answered(gw::route::chat, 600); // neither
    m.upstream_failed("m", "a", fl::category::upstream_unavailable, milliseconds(1));
    m.failover("m");
    m.upstream_head("m", "b", milliseconds(2));
    m.upstream_ok("m", "b", milliseconds(3));
    m.upstream_abandoned("m", "b", milliseconds(4));
    m.stream_call_ended("m", "b", fl::error::stream_truncated, true, false, false, milliseconds(5));
    m.limit_refused(gw::level::user, gw::limit_kind::rate);
    m.limit_refused(gw::level::user, gw::limit_kind::rate);
    m.limit_refused(gw::level::channel, gw::limit_kind::adaptive);
    using S = fl::circuit_state;
    m.circuit_changed("m", "a", {S::closed, S::open});
    m.circuit_changed("m", "a", {S::half_open, S::open}); // a failed probe
    m.circuit_changed("m", "a", {S::half_open, S::closed});
    m.circuit_changed("m", "a", {S::open, S::open}); // no change: not counted
    m.circuit_changed("m", "zzz", {S::closed, S::open});
    // Names the configuration does not have are not recorded.
    m.upstream_ok("m", "zzz", milliseconds(1));
    m.upstream_ok("zzz", "a", milliseconds(1));
    m.failover("zzz");
    m.request_done(gw::route::chat, "zzz", milliseconds(1)); // under model ""

    gw::scrape s;
    s.counters.connections = 7;
    s.counters.open_connections = 2;
    s.stream_bytes = 4096;
    s.breakers = {{"m", "a", fl::circuit_state::open}, {"m", "b", fl::circuit_state::closed}};
    s.adaptive = {{"b", 20, 3, 1}};
    const exposition x = parse_exposition(render(m, s));
    BOOST_TEST_REQUIRE(x.error == "");
    BOOST_TEST(x[R"(faultline_gateway_requests_total{route="/v1/chat/completions",code="200"})"] ==
               2);
    BOOST_TEST(x[R"(faultline_gateway_requests_total{route="other",code="404"})"] == 1);
    std::size_t request_series = 0;
    for (const auto& [k, v] : x.samples)
        request_series += k.starts_with("faultline_gateway_requests_total{");
    BOOST_TEST(request_series == 2u);
    BOOST_TEST(x[R"(faultline_gateway_upstream_calls_total{model="m",channel="a",outcome="ok"})"] ==
               0);
    BOOST_TEST(
        x[R"(faultline_gateway_upstream_calls_total{model="m",channel="a",outcome="upstream_unavailable"})"] ==
        1);
    BOOST_TEST(x[R"(faultline_gateway_upstream_calls_total{model="m",channel="b",outcome="ok"})"] ==
               1);
    BOOST_TEST(
        x[R"(faultline_gateway_upstream_calls_total{model="m",channel="b",outcome="abandoned"})"] ==
        1);
    BOOST_TEST(
        x[R"(faultline_gateway_upstream_calls_total{model="m",channel="b",outcome="server_error"})"] ==
        1); // stream_truncated
    BOOST_TEST(
        x[R"(faultline_gateway_upstream_calls_total{model="m",channel="b",outcome="timeout"})"] ==
        -1); // never counted: not rendered
    BOOST_TEST(x[R"(faultline_gateway_upstream_call_seconds_count{model="m",channel="b"})"] == 3);
    BOOST_TEST(x[R"(faultline_gateway_upstream_head_seconds_count{model="m",channel="b"})"] == 1);
    BOOST_TEST(x[R"(faultline_gateway_upstream_head_seconds_count{model="m",channel="a"})"] == 0);
    BOOST_TEST(x[R"(faultline_gateway_failovers_total{model="m"})"] == 1);
    BOOST_TEST(x[R"(faultline_gateway_streams_total{model="m",outcome="done"})"] == 0);
    BOOST_TEST(x[R"(faultline_gateway_streams_total{model="m",outcome="truncated"})"] == 1);
    BOOST_TEST(x[R"(faultline_gateway_limit_refusals_total{level="user",kind="rate"})"] == 2);
    BOOST_TEST(x[R"(faultline_gateway_limit_refusals_total{level="upstream",kind="adaptive"})"] ==
               1);
    BOOST_TEST(x[R"(faultline_gateway_limit_refusals_total{level="token",kind="spend"})"] == 0);
    BOOST_TEST(
        x[R"(faultline_gateway_request_duration_seconds_count{route="/v1/chat/completions",model=""})"] ==
        1);
    BOOST_TEST(x[R"(faultline_gateway_circuit_state{model="m",channel="a",state="open"})"] == 1);
    BOOST_TEST(x[R"(faultline_gateway_circuit_state{model="m",channel="a",state="closed"})"] == 0);
    BOOST_TEST(x[R"(faultline_gateway_circuit_state{model="m",channel="b",state="closed"})"] == 1);
    BOOST_TEST(x[R"(faultline_gateway_circuit_changes_total{model="m",channel="a",to="open"})"] ==
               2);
    BOOST_TEST(x[R"(faultline_gateway_circuit_changes_total{model="m",channel="a",to="closed"})"] ==
               1);
    BOOST_TEST(x[R"(faultline_gateway_circuit_changes_total{model="m",channel="b",to="open"})"] ==
               0);
    BOOST_TEST(x[R"(faultline_gateway_adaptive_limit{channel="b"})"] == 20);
    BOOST_TEST(x[R"(faultline_gateway_adaptive_in_flight{channel="b"})"] == 3);
    BOOST_TEST(x[R"(faultline_gateway_adaptive_refused_total{channel="b"})"] == 1);
    BOOST_TEST(x["faultline_gateway_connections_total"] == 7);
    BOOST_TEST(x["faultline_gateway_open_connections"] == 2);
    BOOST_TEST(x["faultline_gateway_stream_bytes"] == 4096);
    BOOST_TEST(x.types.at("faultline_gateway_open_connections") == "gauge");
    BOOST_TEST(x.types.at("faultline_gateway_upstream_calls_total") == "counter");
    BOOST_TEST(x.types.at("faultline_gateway_upstream_head_seconds") == "histogram");
}

// The gateway's failover pipeline reports through `route_events`: a real pipeline, set up as
// the gateway sets up a model's (one attempt per channel, each next channel a fallback).
BOOST_AUTO_TEST_CASE(the_failover_pipelines_events_are_counted_by_model) {
    gw::gateway_config c;
    for (const char* name : {"a", "b", "c"})
        c.channels.push_back(channel(name));
    c.models.push_back({"m", {"a", "b", "c"}, 8192});
    gw::metrics_registry m(c);
    fl::pipeline_options o;
    o.targets = 3;
    o.retry.max_attempts = 1;
    o.fallbacks = {{std::nullopt, 1}, {std::nullopt, 2}};
    const auto now = std::chrono::steady_clock::time_point{};

    fl::pipeline<gw::route_events> every_channel_fails(o, now, {&m, "m"}, nullptr,
                                                       fl::splitmix64{1});
    const fl::error failures[] = {fl::error::upstream_unavailable, fl::error::no_available_channel,
                                  fl::error::internal_error};
    for (const fl::error e : failures) {
        const fl::step st = every_channel_fails.next(now);
        BOOST_TEST_REQUIRE((st.what == fl::action::attempt));
        every_channel_fails.failed(st.attempt, fl::to_failure(e), now);
    }
    BOOST_TEST((every_channel_fails.next(now).what == fl::action::give_up));

    fl::pipeline<gw::route_events> refused(o, now, {&m, "m"}, nullptr, fl::splitmix64{1});
    refused.failed(refused.next(now).attempt, fl::to_failure(fl::error::context_length_exceeded),
                   now);
    fl::pipeline<gw::route_events> elsewhere(o, now, {&m, "zzz"}, nullptr, fl::splitmix64{1});
    elsewhere.failed(elsewhere.next(now).attempt, fl::to_failure(fl::error::internal_error), now);
    m.route_fallback("m", static_cast<fl::category>(200)); // out of range: unknown

    const exposition x = parse_exposition(render(m));
    BOOST_TEST_REQUIRE(x.error == "");
    BOOST_TEST(
        x[R"(faultline_gateway_route_fallbacks_total{model="m",cause="upstream_unavailable"})"] ==
        2); // a failed call and a skipped channel
    BOOST_TEST(x[R"(faultline_gateway_route_fallbacks_total{model="m",cause="unknown"})"] == 1);
    BOOST_TEST(x[R"(faultline_gateway_route_fallbacks_total{model="m",cause="server_error"})"] ==
               -1); // the last channel's failure moved nothing
    BOOST_TEST(
        x[R"(faultline_gateway_route_give_ups_total{model="m",reason="attempts_exhausted"})"] == 1);
    BOOST_TEST(x[R"(faultline_gateway_route_give_ups_total{model="m",reason="not_retryable"})"] ==
               1);
    double give_ups = 0;
    for (const auto& [k, v] : x.samples)
        if (k.starts_with("faultline_gateway_route_give_ups_total{")) give_ups += v;
    BOOST_TEST(give_ups == 2); // model "zzz" is not the configuration's: not recorded
    BOOST_TEST(x.types.at("faultline_gateway_route_give_ups_total") == "counter");
}

BOOST_AUTO_TEST_CASE(names_from_the_configuration_are_escaped) {
    const gw::gateway_config c = odd_names();
    gw::metrics_registry m(c);
    m.upstream_ok("m", "b\"\\\n", milliseconds(1));
    m.failover("say \"hi\"\\n\n");
    const std::string text = render(m);
    const exposition x = parse_exposition(text);
    BOOST_TEST_REQUIRE(x.error == "");
    BOOST_TEST(
        x[R"(faultline_gateway_upstream_calls_total{model="m",channel="b\"\\\n",outcome="ok"})"] ==
        1);
    BOOST_TEST(x[R"(faultline_gateway_failovers_total{model="say \"hi\"\\n\n"})"] == 1);
    // No label value ends a line early.
    for (std::size_t at = 0; (at = text.find('\n', at)) != std::string::npos; ++at)
        BOOST_TEST((at + 1 == text.size() || text[at + 1] == '#' ||
                    text.compare(at + 1, 18, "faultline_gateway_") == 0));
}

// The gateway records from several threads at once; every count arrives.
BOOST_AUTO_TEST_CASE(recording_from_threads_loses_nothing) {
    gw::gateway_config c;
    c.channels.push_back(channel("a"));
    c.models.push_back({"m", {"a"}, 8192});
    gw::metrics_registry m(c);
    constexpr int threads = 4, each = 5000;
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([&m, t] {
            for (int i = 0; i < each; ++i) {
                m.answered(gw::route::chat, 200);
                m.upstream_ok("m", "a", milliseconds(t));
                m.limit_refused(gw::level::key, gw::limit_kind::rate);
                std::string scraped;
                if (i % 1000 == 0) m.render(scraped, {}); // a scrape meanwhile
            }
        });
    for (auto& t : ts)
        t.join();
    const exposition x = parse_exposition(render(m));
    BOOST_TEST_REQUIRE(x.error == "");
    const double n = threads * each;
    BOOST_TEST(x[R"(faultline_gateway_requests_total{route="/v1/chat/completions",code="200"})"] ==
               n);
    BOOST_TEST(x[R"(faultline_gateway_upstream_calls_total{model="m",channel="a",outcome="ok"})"] ==
               n);
    BOOST_TEST(x[R"(faultline_gateway_upstream_call_seconds_count{model="m",channel="a"})"] == n);
    BOOST_TEST(x[R"(faultline_gateway_upstream_call_seconds_sum{model="m",channel="a"})"] ==
               each * (0 + 1 + 2 + 3) / 1000.0);
    BOOST_TEST(x[R"(faultline_gateway_limit_refusals_total{level="token",kind="rate"})"] == n);
}

// The checker itself: each flaw it exists to find, found.
BOOST_AUTO_TEST_CASE(checker_refuses_bad_exposition) {
    const std::string type = "# TYPE h histogram\n";
    const std::pair<std::string, std::string_view> rows[] = {
        {"x 1\n", "before its TYPE"},
        {"# TYPE x counter\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n", "a second sample"},
        {"# TYPE x counter\nx{a=\"say \"hi\"\"} 1\n", "labels not separated"},
        {"# TYPE x counter\nx{a=\"a\\tb\"} 1\n", "a bad escape"},
        {"# TYPE x counter\nx{a=\"1\" 1\n", "labels not separated"},
        {"# TYPE x counter\nx one\n", "a bad value"},
        {"# TYPE x counter\nx 1", "does not end with a line feed"},
        {"# TYPE x counter\n# TYPE y counter\ny 1\nx 1\n", "not together"},
        {"# TYPE x countr\nx 1\n", "unknown type"},
        {type + "h_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n",
         "not cumulative"},
        {type + "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
         "le not increasing"},
        {type + "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 2\n", "+Inf is not"},
        {type + "h_bucket{le=\"1\"} 1\nh_sum 1\n", "without +Inf"},
        {type + "h 1\n", "without _bucket"},
    };
    for (const auto& [text, why] : rows) {
        const std::string error = parse_exposition(text).error;
        BOOST_TEST(error.find(why) != std::string::npos, text << " -> " << error);
    }
    const exposition ok = parse_exposition(type + "h_bucket{le=\"1\",} 1\nh_bucket{le=\"+Inf\"} 2 "
                                                  "1700000000000\nh_sum 1.5e-3\nh_count 2\n");
    BOOST_TEST(ok.error == "");
}

BOOST_AUTO_TEST_CASE(stream_endings_by_failure) {
    using fl::error;
    struct row {
        std::optional<error> failed;
        bool upstream_fault, pass_cuts, abandoned;
        gw::stream_end expected;
    };
    const row rows[] = {
        {std::nullopt, false, false, false, gw::stream_end::done},
        {std::nullopt, false, false, true, gw::stream_end::abandoned},
        {error::internal_error, true, false, true, gw::stream_end::abandoned},
        {error::internal_error, true, false, false, gw::stream_end::error_chunk},
        {error::overloaded, true, false, false, gw::stream_end::error_chunk}, // the upstream's
        {error::overloaded, false, false, false, gw::stream_end::overloaded}, // a memory budget
        {error::stream_truncated, true, false, false, gw::stream_end::truncated},
        {error::stream_truncated, true, true, false, gw::stream_end::cut},
        {error::stream_timeout, false, false, false, gw::stream_end::timeout},
        {error::upstream_timeout, true, false, false, gw::stream_end::timeout},
        {error::sse_line_too_long, false, false, false, gw::stream_end::too_long},
        {error::sse_event_too_large, false, false, false, gw::stream_end::too_long},
    };
    for (const row& r : rows)
        BOOST_TEST(gw::to_string(gw::stream_end_of(r.failed, r.upstream_fault, r.pass_cuts,
                                                   r.abandoned)) == gw::to_string(r.expected),
                   (r.failed ? fl::to_string(*r.failed) : "none"));
}

BOOST_AUTO_TEST_CASE(routes_of_targets) {
    const std::pair<std::string_view, gw::route> rows[] = {
        {"/v1/chat/completions", gw::route::chat},
        {"/v1/chat/completions?x=1", gw::route::chat},
        {"/v1/responses", gw::route::responses},
        {"/v1/models", gw::route::models},
        {"/metrics", gw::route::metrics},
        {"/metrics?name[]=x", gw::route::metrics},
        {"/metrics/", gw::route::other},
        {"/v1/v1/chat/completions", gw::route::other},
        {"", gw::route::other},
    };
    for (const auto& [target, r] : rows)
        BOOST_TEST(gw::to_string(gw::route_of(target)) == gw::to_string(r), target);
}

BOOST_AUTO_TEST_CASE(config_reads_the_metrics_switch) {
    std::string why;
    const auto off = gw::parse_config(R"({"metrics": false})", why);
    BOOST_TEST_REQUIRE(off.has_value(), why);
    BOOST_TEST(!off.value().metrics);
    const auto absent = gw::parse_config("{}", why);
    BOOST_TEST_REQUIRE(absent.has_value(), why);
    BOOST_TEST(absent.value().metrics);
    const auto bad = gw::parse_config(R"({"metrics": "no"})", why);
    BOOST_TEST(!bad.has_value());
    BOOST_TEST(why.find("metrics") != std::string::npos, why);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// Requests on one keep-alive connection, in order: a request is read only once the one before
// has been handled to its end, so a scrape on the same connection sees every count of the
// requests before it.
struct call {
    verb method;
    std::string target;
    std::string key;
    std::string body;
};
std::vector<response> on_one_connection(gateway_fixture& g, std::vector<call> calls) {
    net::io_context io;
    std::vector<response> out;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            examples::http_connection c(io.get_executor(),
                                        examples::parse_base_url(g.url()).value());
            for (call& x : calls)
                out.push_back(co_await exchange(c, x.method, x.target, x.key, std::move(x.body)));
        },
        net::detached);
    io.run();
    return out;
}

call chat_call(std::string_view key, std::string body) {
    return {verb::post, "/v1/chat/completions", std::string(key), std::move(body)};
}

const call scrape_call{verb::get, "/metrics", "", ""};

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_metrics_e2e)

BOOST_AUTO_TEST_CASE(metrics_count_exactly_what_happened) {
    gateway_fixture g;
    const std::vector<response> r =
        on_one_connection(g, {
                                 chat_call(alice, chat_body("gpt-sim")),
                                 chat_call("sk-wrong", chat_body("gpt-sim")),
                                 chat_call("sk-demo-limited", chat_body("gpt-sim")),
                                 chat_call("sk-demo-limited", chat_body("gpt-sim")),
                                 chat_call("sk-demo-limited", chat_body("gpt-sim")),
                                 chat_call(alice, chat_body("sim-failover")),
                                 chat_call(alice, chat_body("sim-500")),
                                 chat_call(alice, chat_body("gpt-sim", true)),
                                 {verb::get, "/v1/models", alice, ""},
                                 scrape_call,
                                 scrape_call,
                             });
    BOOST_TEST_REQUIRE(r.size() == 11u);
    const unsigned statuses[] = {200, 401, 200, 200, 429, 200, 500, 200, 200, 200, 200};
    for (std::size_t i = 0; i < r.size(); ++i)
        BOOST_TEST(r[i].status == statuses[i], i << ": " << r[i].body);
    BOOST_TEST(r[5].header("x-faultline-failover") == "dead-1");
    BOOST_TEST(r[7].verdict == fl::sse::terminal::done);

    const response& first = r[9];
    BOOST_TEST(first.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
    const exposition x = parse_exposition(first.body);
    BOOST_TEST_REQUIRE(x.error == "", x.error << "\n" << first.body);

    const auto requests = [&](std::string_view route, unsigned code) {
        return x["faultline_gateway_requests_total{route=\"" + std::string(route) + "\",code=\"" +
                 std::to_string(code) + "\"}"];
    };
    const std::string chat = "/v1/chat/completions";
    BOOST_TEST(requests(chat, 200) == 5); // alice, limited twice, the failover, the stream
    BOOST_TEST(requests(chat, 401) == 1);
    BOOST_TEST(requests(chat, 429) == 1);
    BOOST_TEST(requests(chat, 500) == 1);
    BOOST_TEST(requests("/v1/models", 200) == 1);
    BOOST_TEST(requests("/metrics", 200) == -1); // this scrape is not over yet
    double answers = 0;
    for (const auto& [k, v] : x.samples)
        if (k.starts_with("faultline_gateway_requests_total{")) answers += v;
    BOOST_TEST(answers == 9);

    const auto calls = [&](std::string_view model, std::string_view channel,
                           std::string_view outcome) {
        return x["faultline_gateway_upstream_calls_total{model=\"" + std::string(model) +
                 "\",channel=\"" + std::string(channel) + "\",outcome=\"" + std::string(outcome) +
                 "\"}"];
    };
    BOOST_TEST(calls("gpt-sim", "ok-a", "ok") == 4);
    BOOST_TEST(calls("sim-failover", "dead-1", "ok") == 0);
    BOOST_TEST(calls("sim-failover", "dead-1", "upstream_unavailable") == 1);
    BOOST_TEST(calls("sim-failover", "ok-b", "ok") == 1);
    BOOST_TEST(calls("sim-500", "err-500", "server_error") == 1);
    BOOST_TEST(calls("sim-dead", "dead-2", "ok") == 0);
    BOOST_TEST(
        x[R"(faultline_gateway_upstream_head_seconds_count{model="gpt-sim",channel="ok-a"})"] == 4);
    BOOST_TEST(
        x[R"(faultline_gateway_upstream_call_seconds_count{model="gpt-sim",channel="ok-a"})"] == 4);
    BOOST_TEST(
        x[R"(faultline_gateway_upstream_head_seconds_count{model="sim-failover",channel="dead-1"})"] ==
        0); // refused: no head
    BOOST_TEST(
        x[R"(faultline_gateway_upstream_call_seconds_count{model="sim-failover",channel="dead-1"})"] ==
        1);
    BOOST_TEST(x[R"(faultline_gateway_failovers_total{model="sim-failover"})"] == 1);
    // The same moves, from the failover pipeline's events.
    BOOST_TEST(
        x[R"(faultline_gateway_route_fallbacks_total{model="sim-failover",cause="upstream_unavailable"})"] ==
        1);
    BOOST_TEST(
        x[R"(faultline_gateway_route_give_ups_total{model="sim-500",reason="attempts_exhausted"})"] ==
        1);
    BOOST_TEST(
        x[R"(faultline_gateway_route_give_ups_total{model="gpt-sim",reason="attempts_exhausted"})"] ==
        -1); // every call of gpt-sim succeeded
    BOOST_TEST(x[R"(faultline_gateway_failovers_total{model="gpt-sim"})"] == 0);
    BOOST_TEST(x[R"(faultline_gateway_failovers_total{model="sim-500"})"] == 0);
    BOOST_TEST(x[R"(faultline_gateway_limit_refusals_total{level="token",kind="rate"})"] == 1);
    double refusals = 0;
    for (const auto& [k, v] : x.samples)
        if (k.starts_with("faultline_gateway_limit_refusals_total{")) refusals += v;
    BOOST_TEST(refusals == 1);
    BOOST_TEST(x[R"(faultline_gateway_streams_total{model="gpt-sim",outcome="done"})"] == 1);
    BOOST_TEST(x["faultline_gateway_streams_started_total"] == 1);
    BOOST_TEST(x["faultline_gateway_stream_errors_total"] == 0);

    const auto duration_count = [&](std::string_view route, std::string_view model) {
        return x["faultline_gateway_request_duration_seconds_count{route=\"" + std::string(route) +
                 "\",model=\"" + std::string(model) + "\"}"];
    };
    BOOST_TEST(duration_count(chat, "gpt-sim") == 5); // the 429 included: it named gpt-sim
    BOOST_TEST(duration_count(chat, "") == 1);        // the 401
    BOOST_TEST(duration_count(chat, "sim-failover") == 1);
    BOOST_TEST(duration_count(chat, "sim-500") == 1);
    BOOST_TEST(duration_count("/v1/models", "") == 1);
    BOOST_TEST(duration_count("/metrics", "") == 0);

    BOOST_TEST(
        x[R"(faultline_gateway_circuit_state{model="gpt-sim",channel="ok-a",state="closed"})"] ==
        1);
    BOOST_TEST(
        x[R"(faultline_gateway_circuit_state{model="sim-500",channel="err-500",state="open"})"] ==
        0); // one failure of three
    BOOST_TEST(
        x[R"(faultline_gateway_circuit_changes_total{model="sim-500",channel="err-500",to="open"})"] ==
        0);
    // Every request came on one connection, the one still open.
    BOOST_TEST(x["faultline_gateway_connections_total"] == 1);
    BOOST_TEST(x["faultline_gateway_open_connections"] == 1);
    BOOST_TEST(x["faultline_gateway_shed_connections_total"] == 0);

    // The second scrape counts the first.
    const exposition y = parse_exposition(r[10].body);
    BOOST_TEST_REQUIRE(y.error == "", y.error);
    BOOST_TEST(y[R"(faultline_gateway_requests_total{route="/metrics",code="200"})"] == 1);
    BOOST_TEST(
        y[R"(faultline_gateway_request_duration_seconds_count{route="/metrics",model=""})"] == 1);
    BOOST_TEST(
        y[R"(faultline_gateway_upstream_calls_total{model="gpt-sim",channel="ok-a",outcome="ok"})"] ==
        4);
}

BOOST_AUTO_TEST_CASE(breaker_state_and_failures_of_a_dead_channel) {
    gateway_fixture g;
    std::vector<call> calls(3, chat_call(alice, chat_body("sim-dead")));
    calls.push_back(chat_call(alice, chat_body("sim-dead")));
    calls.push_back(scrape_call);
    const std::vector<response> r = on_one_connection(g, calls);
    BOOST_TEST_REQUIRE(r.size() == 5u);
    BOOST_TEST(r[2].status == 502u);
    BOOST_TEST(r[3].status == 503u); // no_available_channel: the breaker opened after 3
    const exposition x = parse_exposition(r[4].body);
    BOOST_TEST_REQUIRE(x.error == "", x.error);
    BOOST_TEST(
        x[R"(faultline_gateway_circuit_state{model="sim-dead",channel="dead-2",state="open"})"] ==
        1);
    BOOST_TEST(
        x[R"(faultline_gateway_circuit_state{model="sim-dead",channel="dead-2",state="closed"})"] ==
        0);
    BOOST_TEST(
        x[R"(faultline_gateway_circuit_changes_total{model="sim-dead",channel="dead-2",to="open"})"] ==
        1);
    BOOST_TEST(
        x[R"(faultline_gateway_circuit_changes_total{model="sim-dead",channel="dead-2",to="closed"})"] ==
        0);
    BOOST_TEST(
        x[R"(faultline_gateway_upstream_calls_total{model="sim-dead",channel="dead-2",outcome="upstream_unavailable"})"] ==
        3);
    BOOST_TEST(x[R"(faultline_gateway_requests_total{route="/v1/chat/completions",code="502"})"] ==
               3);
    BOOST_TEST(x[R"(faultline_gateway_requests_total{route="/v1/chat/completions",code="503"})"] ==
               1);
}

BOOST_AUTO_TEST_CASE(stream_endings_are_counted_by_model) {
    gateway_fixture g;
    const std::vector<response> r = on_one_connection(
        g, {chat_call(alice, chat_body("sim-midstream-error", true)),
            chat_call(alice, chat_body("sim-upstream-cutoff", true)), scrape_call});
    BOOST_TEST_REQUIRE(r.size() == 3u);
    const exposition x = parse_exposition(r[2].body);
    BOOST_TEST_REQUIRE(x.error == "", x.error);
    BOOST_TEST(
        x[R"(faultline_gateway_streams_total{model="sim-midstream-error",outcome="error_chunk"})"] ==
        1);
    BOOST_TEST(
        x[R"(faultline_gateway_streams_total{model="sim-upstream-cutoff",outcome="truncated"})"] ==
        1);
    BOOST_TEST(
        x[R"(faultline_gateway_streams_total{model="sim-upstream-cutoff",outcome="done"})"] == 0);
    BOOST_TEST(x["faultline_gateway_stream_errors_total"] == 2);
}

BOOST_AUTO_TEST_CASE(head_of_metrics_has_its_length_and_no_body) {
    gateway_fixture g;
    net::io_context io;
    tcp::socket s(io);
    s.connect({net::ip::make_address("127.0.0.1"), g.port()});
    net::write(s, net::buffer(std::string_view(
                      "HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")));
    std::string bytes;
    boost::system::error_code ec;
    net::read(s, net::dynamic_buffer(bytes), ec); // to the end: the gateway closes
    BOOST_TEST(bytes.starts_with("HTTP/1.1 200 "), bytes);
    BOOST_TEST(bytes.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") !=
               std::string::npos);
    BOOST_TEST(bytes.find("Content-Length: ") != std::string::npos);
    BOOST_TEST(bytes.ends_with("\r\n\r\n"), bytes); // the header only
}

BOOST_AUTO_TEST_CASE(other_methods_on_metrics_are_405) {
    gateway_fixture g;
    for (const verb method : {verb::post, verb::put, verb::delete_}) {
        const response r = g.request(method, "/metrics", "", "{}");
        BOOST_TEST(r.status == 405u);
        BOOST_TEST(r.header("allow") == "GET, HEAD");
        const auto env = fl::parse_envelope(r.body);
        BOOST_TEST_REQUIRE(env.has_value(), r.body);
        BOOST_TEST(std::get<std::string>(env.value().code) == "method_not_allowed");
    }
    // A key is not needed, and one that is wrong does not matter either.
    BOOST_TEST(g.request(verb::get, "/metrics", "sk-wrong").status == 200u);
    BOOST_TEST(g.request(verb::get, "/metrics?x=1", "").status == 200u);
}

BOOST_AUTO_TEST_CASE(metrics_switched_off_are_404) {
    gw::gateway_config c = test_config();
    c.metrics = false;
    gateway_fixture g(c);
    for (const verb method : {verb::get, verb::post}) {
        const response r = g.request(method, "/metrics", alice);
        BOOST_TEST(r.status == 404u, http::to_string(method));
    }
    const auto env = fl::parse_envelope(g.request(verb::get, "/metrics", "").body);
    BOOST_TEST_REQUIRE(env.has_value());
    BOOST_TEST(env.value().message.find("Unknown path /metrics") != std::string::npos);
    // The rest of the gateway is unchanged.
    BOOST_TEST(g.chat(alice, chat_body("gpt-sim")).status == 200u);
}

BOOST_AUTO_TEST_SUITE_END()

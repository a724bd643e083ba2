#include "loadgen/loadgen.hpp"

#include "canned_server.hpp"
#include "common/json.hpp"

#include <faultline/classify.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace lg = examples::loadgen;
namespace json = boost::json;
using namespace std::chrono_literals;
using std::chrono::nanoseconds;

namespace {

using loadgen_test::parse;

// ---------------------------------------------------------------------------------------------
// Helpers

// The nearest-rank percentile of sorted samples, as latency_histogram::percentile defines it.
std::int64_t exact_percentile(const std::vector<std::int64_t>& sorted, double p) {
    if (p <= 0) return sorted.front();
    if (p >= 100) return sorted.back();
    const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
    const auto r = std::clamp<std::size_t>(static_cast<std::size_t>(rank), 1, sorted.size());
    return sorted[r - 1];
}

void check_percentiles(const std::vector<std::int64_t>& samples) {
    lg::latency_histogram h;
    for (const auto v : samples)
        h.record(nanoseconds(v));
    std::vector<std::int64_t> sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    BOOST_TEST(h.count() == samples.size());
    BOOST_TEST(h.min().count() == sorted.front());
    BOOST_TEST(h.max().count() == sorted.back());
    const long double sum = std::accumulate(sorted.begin(), sorted.end(), 0.0L);
    const auto mean = static_cast<double>(sum / static_cast<long double>(sorted.size()));
    BOOST_TEST(std::abs(static_cast<double>(h.mean().count()) - mean) <= 1.0 + mean * 1e-12);
    for (const double p : {0.0, 0.1, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
        BOOST_TEST_CONTEXT("p" << p) {
            const std::int64_t exact = exact_percentile(sorted, p);
            const std::int64_t got = h.percentile(p).count();
            // The stated bound, in integers: |got - exact| <= exact / 256.
            BOOST_TEST(std::abs(got - exact) * 256 <= exact);
        }
    }
}

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        const std::size_t len = b < 0x80                 ? 1
                                : b >= 0xC2 && b <= 0xDF ? 2
                                : b >= 0xE0 && b <= 0xEF ? 3
                                : b >= 0xF0 && b <= 0xF4 ? 4
                                                         : 0;
        if (len == 0 || i + len > s.size()) return false;
        for (std::size_t k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

// A strict structural check of an XML document, enough for what render_svg writes: an optional
// prolog, one root, properly nested elements with matching names, quoted unique attributes,
// no '<' in text or values, and every '&' starting a predefined entity or a character
// reference. Returns what is wrong, or "" when nothing is.
std::string xml_problem(std::string_view d) {
    const auto name_char = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':' || c == '-' ||
               c == '.';
    };
    const auto check_text = [](std::string_view t) -> std::string {
        if (t.find('<') != std::string_view::npos) return "'<' in text";
        for (std::size_t a = t.find('&'); a != std::string_view::npos; a = t.find('&', a + 1)) {
            const std::size_t semi = t.find(';', a);
            if (semi == std::string_view::npos) return "unterminated reference";
            const std::string_view ref = t.substr(a + 1, semi - a - 1);
            static const std::set<std::string_view> named{"amp", "lt", "gt", "quot", "apos"};
            const bool numeric =
                ref.size() > 1 && ref[0] == '#' &&
                std::all_of(ref.begin() + 1, ref.end(), [](char c) {
                    return std::isxdigit(static_cast<unsigned char>(c)) || c == 'x';
                });
            if (!named.contains(ref) && !numeric)
                return "unknown entity &" + std::string(ref) + ";";
        }
        return {};
    };
    std::size_t i = 0;
    if (d.starts_with("<?xml")) {
        i = d.find("?>");
        if (i == std::string_view::npos) return "unterminated prolog";
        i += 2;
    }
    std::vector<std::string> open;
    bool root_seen = false;
    while (i < d.size()) {
        if (d[i] != '<') {
            const std::size_t next = std::min(d.find('<', i), d.size());
            const std::string_view text = d.substr(i, next - i);
            if (open.empty() && text.find_first_not_of(" \t\r\n") != std::string_view::npos)
                return "text outside the root";
            if (auto p = check_text(text); !p.empty()) return p;
            i = next;
            continue;
        }
        if (d.substr(i, 4) == "<!--") {
            const std::size_t end = d.find("-->", i);
            if (end == std::string_view::npos) return "unterminated comment";
            i = end + 3;
            continue;
        }
        const bool closing = i + 1 < d.size() && d[i + 1] == '/';
        std::size_t j = i + (closing ? 2 : 1);
        const std::size_t name_start = j;
        while (j < d.size() && name_char(d[j]))
            ++j;
        const std::string name(d.substr(name_start, j - name_start));
        if (name.empty()) return "tag without a name";
        if (closing) {
            while (j < d.size() && d[j] == ' ')
                ++j;
            if (j >= d.size() || d[j] != '>') return "bad closing tag </" + name;
            if (open.empty() || open.back() != name) return "</" + name + "> closes nothing open";
            open.pop_back();
            i = j + 1;
            continue;
        }
        if (open.empty() && root_seen) return "second root <" + name + ">";
        root_seen = true;
        std::set<std::string> attributes;
        for (;;) {
            const std::size_t before = j;
            while (j < d.size() && std::isspace(static_cast<unsigned char>(d[j])))
                ++j;
            if (j >= d.size()) return "unterminated tag <" + name;
            if (d.substr(j, 2) == "/>") {
                i = j + 2;
                break;
            }
            if (d[j] == '>') {
                open.push_back(name);
                i = j + 1;
                break;
            }
            if (j == before) return "no space before an attribute in <" + name;
            const std::size_t a = j;
            while (j < d.size() && name_char(d[j]))
                ++j;
            const std::string attribute(d.substr(a, j - a));
            if (attribute.empty() || j + 1 >= d.size() || d[j] != '=' ||
                (d[j + 1] != '"' && d[j + 1] != '\''))
                return "bad attribute in <" + name;
            if (!attributes.insert(attribute).second) return "duplicate attribute " + attribute;
            const char quote = d[j + 1];
            const std::size_t end = d.find(quote, j + 2);
            if (end == std::string_view::npos) return "unterminated attribute " + attribute;
            if (auto p = check_text(d.substr(j + 2, end - j - 2)); !p.empty()) return p;
            j = end + 1;
        }
    }
    if (!open.empty()) return "<" + open.back() + "> not closed";
    if (!root_seen) return "no root element";
    return {};
}

// The text between the first `<tag>` and `</tag>`.
std::string element_text(std::string_view doc, std::string_view tag) {
    const std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
    const std::size_t a = doc.find(open);
    const std::size_t b = doc.find(close, a);
    if (a == std::string_view::npos || b == std::string_view::npos) return "<missing>";
    return std::string(doc.substr(a + open.size(), b - a - open.size()));
}

std::size_t occurrences(std::string_view s, std::string_view what) {
    std::size_t n = 0;
    for (std::size_t at = s.find(what); at != std::string_view::npos; at = s.find(what, at + 1))
        ++n;
    return n;
}


lg::usage_problem problem_of(const std::vector<std::string_view>& args) {
    const auto r = parse(args);
    const auto* e = std::get_if<lg::usage_error>(&r);
    BOOST_TEST_REQUIRE(e != nullptr);
    // One clear line: not empty, no newline.
    BOOST_TEST(!e->message.empty());
    BOOST_TEST(e->message.find('\n') == std::string::npos);
    return e->problem;
}

lg::request_result result(unsigned status, std::optional<faultline::error> code,
                          nanoseconds latency) {
    lg::request_result r;
    r.status = status;
    if (code) r.failure = lg::failure_kind{faultline::info(*code).cat, *code};
    r.latency = latency;
    return r;
}

lg::run_settings sample_settings() {
    lg::options o;
    o.url = examples::parse_base_url("http://127.0.0.1:8080/gw").value();
    o.api_key = "sk-very-secret";
    o.model = "m<1>";
    o.stream = true;
    o.connections = 4;
    o.requests = 100;
    o.retry.max_attempts = 3;
    o.timeout = 5s;
    o.seed = 9;
    return lg::settings_of(o);
}

// The hand-built run the JSON, summary and SVG tests share: four requests and one retry.
lg::report sample_report() {
    lg::report r(sample_settings());
    lg::request_result ok = result(200, std::nullopt, 10ms);
    ok.verdict = faultline::sse::terminal::done;
    ok.events = 5;
    ok.content_events = 4;
    ok.first_event = 3ms;
    r.add(ok, 100ms);

    lg::request_result throttled = result(429, faultline::error::rpm_exceeded, 1ms);
    r.add_retry(throttled, 200ms);
    r.add(throttled, 1200ms);

    lg::request_result refused = result(0, faultline::error::upstream_unavailable, 2ms);
    refused.transport = std::make_error_code(std::errc::connection_refused);
    r.add(refused, 1300ms);

    lg::request_result cut = result(200, faultline::error::stream_truncated, 4ms);
    cut.verdict = faultline::sse::terminal::eof_without_done;
    cut.events = 2;
    cut.content_events = 2;
    cut.first_event = 1ms;
    r.add(cut, 2400ms);
    r.finish(2500ms);
    return r;
}

// ---------------------------------------------------------------------------------------------
using loadgen_test::canned_server;
using loadgen_test::json_response;

// A 200 event stream, one HTTP chunk per piece.
std::string sse_response(std::initializer_list<std::string_view> pieces) {
    std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n";
    for (auto p : pieces) {
        char size[16];
        std::snprintf(size, sizeof size, "%zx", p.size());
        out += std::string(size) + "\r\n" + std::string(p) + "\r\n";
    }
    return out + "0\r\n\r\n";
}

constexpr std::string_view content_event =
    "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
constexpr std::string_view done_event = "data: [DONE]\n\n";
constexpr std::string_view error_chunk =
    R"({"error":{"message":"The model is overloaded","type":"overloaded_error"}})";

lg::options loopback_options(std::uint16_t port, std::string_view prefix = "") {
    lg::options o;
    o.url =
        examples::parse_base_url("http://127.0.0.1:" + std::to_string(port) + std::string(prefix))
            .value();
    return o;
}

// A port nothing listens on: bound once, then closed.
std::uint16_t closed_port() {
    examples::net::io_context ioc;
    examples::tcp::acceptor a(ioc, {examples::net::ip::make_address("127.0.0.1"), 0});
    const std::uint16_t port = a.local_endpoint().port();
    a.close();
    return port;
}

} // namespace

BOOST_AUTO_TEST_SUITE(loadgen)

// ---------------------------------------------------------------------------------------------
// latency_histogram

BOOST_AUTO_TEST_CASE(histogram_percentiles_within_stated_error_of_sorted_samples) {
    std::mt19937_64 rng(20240611);
    // Latencies as servers show them: log-normal around 2 ms with a long tail.
    std::lognormal_distribution<double> lognormal(std::log(2e6), 1.2);
    std::vector<std::int64_t> samples;
    for (int i = 0; i < 200'000; ++i)
        samples.push_back(
            std::min<std::int64_t>(static_cast<std::int64_t>(lognormal(rng)), 3'600'000'000'000));
    check_percentiles(samples);

    // Uniform over the whole range, 1 us .. 1 h, in log space.
    std::uniform_real_distribution<double> exponent(3.0, std::log10(3.6e12));
    samples.clear();
    for (int i = 0; i < 50'000; ++i)
        samples.push_back(static_cast<std::int64_t>(std::pow(10.0, exponent(rng))));
    check_percentiles(samples);

    // Few samples, where rank rounding matters most.
    check_percentiles({5'000'000});
    check_percentiles({1'000, 2'000'000});
    check_percentiles({7, 900, 13'000, 250'000, 3'000'000, 41'000'000, 500'000'000});
}

BOOST_AUTO_TEST_CASE(histogram_is_exact_below_256_ns) {
    lg::latency_histogram h;
    for (int v = 0; v < 256; ++v)
        h.record(nanoseconds(v));
    // p = 100 (v - 1/2) / 256 has nearest rank v, with no rounding at the edge.
    for (int v = 1; v <= 256; ++v)
        BOOST_TEST(h.percentile(100.0 * (v - 0.5) / 256).count() == v - 1);
}

BOOST_AUTO_TEST_CASE(histogram_memory_does_not_grow_with_samples) {
    lg::latency_histogram h;
    const std::size_t empty = h.footprint_bytes();
    std::mt19937_64 rng(7);
    for (int i = 0; i < 1'000'000; ++i)
        h.record(nanoseconds(static_cast<std::int64_t>(rng() % 3'600'000'000'000)));
    BOOST_TEST(h.count() == 1'000'000u);
    BOOST_TEST(h.footprint_bytes() == empty);
    BOOST_TEST(lg::latency_histogram::bucket_count() == 4562u);
    BOOST_TEST(empty <= 40u * 1024);
}

BOOST_AUTO_TEST_CASE(histogram_clamps_beyond_one_hour_and_below_zero) {
    lg::latency_histogram h;
    h.record(2h);
    h.record(nanoseconds(-5));
    BOOST_TEST(h.count() == 2u);
    BOOST_TEST(h.clamped() == 1u);
    BOOST_TEST(h.min().count() == 0);
    BOOST_TEST((h.max() == 2h));
    BOOST_TEST((h.percentile(100) == 2h));
    BOOST_TEST(h.percentile(50).count() == 0);
    // The top bucket reports within the range, never above max().
    BOOST_TEST((h.percentile(99) <= 2h));
}

BOOST_AUTO_TEST_CASE(histogram_empty_reports_zero) {
    const lg::latency_histogram h;
    BOOST_TEST(h.count() == 0u);
    BOOST_TEST(h.percentile(99).count() == 0);
    BOOST_TEST(h.mean().count() == 0);
    BOOST_TEST(h.min().count() == 0);
    BOOST_TEST(h.max().count() == 0);
}

BOOST_AUTO_TEST_CASE(histogram_merge_equals_recording_everything_in_one) {
    std::mt19937_64 rng(3);
    lg::latency_histogram a, b, all;
    for (int i = 0; i < 10'000; ++i) {
        const nanoseconds v(static_cast<std::int64_t>(rng() % 100'000'000));
        (i % 3 == 0 ? a : b).record(v);
        all.record(v);
    }
    a.merge(b);
    BOOST_TEST(a.count() == all.count());
    BOOST_TEST((a.min() == all.min()));
    BOOST_TEST((a.max() == all.max()));
    for (double p : {1.0, 50.0, 99.0, 99.9})
        BOOST_TEST((a.percentile(p) == all.percentile(p)));
    a.reset();
    BOOST_TEST(a.count() == 0u);
    BOOST_TEST(a.percentile(50).count() == 0);
}

// ---------------------------------------------------------------------------------------------
// time_series

BOOST_AUTO_TEST_CASE(series_counts_each_second_by_completion_time) {
    lg::time_series s;
    s.add(100ms, lg::outcome::ok, 1ms);
    s.add(500ms, lg::outcome::throttled, 2ms);
    s.add(1200ms, lg::outcome::error, 8ms);
    s.add_retry(1500ms, 429);
    s.add_retry(1600ms, 503);
    s.add(4100ms, lg::outcome::ok, 3ms);
    s.finish(4500ms);
    const auto& rows = s.seconds();
    BOOST_TEST_REQUIRE(rows.size() == 5u);
    BOOST_TEST(rows[0].requests == 2u);
    BOOST_TEST(rows[0].ok == 1u);
    BOOST_TEST(rows[0].throttled == 1u);
    BOOST_TEST(rows[0].status_429 == 1u);
    BOOST_TEST_REQUIRE(rows[0].p50.has_value());
    // Of the second's successes only: the 429's 2 ms is not a serving latency.
    BOOST_TEST(std::abs(rows[0].p50->count() - 1'000'000) * 256 <= 1'000'000);
    BOOST_TEST(std::abs(rows[0].p99->count() - 1'000'000) * 256 <= 1'000'000);
    BOOST_TEST(rows[1].requests == 1u);
    BOOST_TEST(rows[1].errors == 1u);
    BOOST_TEST(rows[1].retries == 2u);
    BOOST_TEST(rows[1].status_429 == 1u);
    BOOST_TEST(!rows[1].p50.has_value()); // an error alone: no success latency
    for (std::size_t i : {2u, 3u}) {
        BOOST_TEST(rows[i].requests == 0u);
        BOOST_TEST(!rows[i].p50.has_value());
        BOOST_TEST(!rows[i].p99.has_value());
    }
    BOOST_TEST(rows[4].ok == 1u);
    BOOST_TEST(s.dropped_seconds() == 0u);
}

BOOST_AUTO_TEST_CASE(series_sample_for_a_closed_second_counts_in_the_open_one) {
    lg::time_series s;
    s.add(1500ms, lg::outcome::ok, 1ms);
    s.add(200ms, lg::outcome::ok, 1ms);
    s.finish(2s);
    BOOST_TEST_REQUIRE(s.seconds().size() == 2u);
    BOOST_TEST(s.seconds()[0].requests == 0u);
    BOOST_TEST(s.seconds()[1].requests == 2u);
}

BOOST_AUTO_TEST_CASE(series_keeps_at_most_max_seconds) {
    lg::time_series s(5);
    for (int t = 0; t < 10; ++t)
        s.add(std::chrono::seconds(t), lg::outcome::ok, 1ms);
    s.finish(10s);
    BOOST_TEST(s.seconds().size() == 5u);
    BOOST_TEST(s.dropped_seconds() == 5u);
    BOOST_TEST(s.max_seconds() == 5u);
    const std::size_t after_ten = s.footprint_bytes();
    // A long gap and many more seconds: nothing more is kept, nothing grows.
    for (int t = 10; t < 5000; t += 7)
        s.add(std::chrono::seconds(t), lg::outcome::error, 1ms);
    s.add(100'000s, lg::outcome::ok, 1ms);
    s.finish(100'001s);
    BOOST_TEST(s.seconds().size() == 5u);
    BOOST_TEST(s.dropped_seconds() == 100'001u - 5u);
    BOOST_TEST(s.footprint_bytes() == after_ten);
    for (const auto& row : s.seconds())
        BOOST_TEST(row.ok == 1u);
}

BOOST_AUTO_TEST_CASE(series_default_cap_bounds_a_day_long_run) {
    lg::time_series s;
    for (int t = 0; t < 86'400; t += 3)
        s.add(std::chrono::seconds(t), lg::outcome::ok, 1ms);
    s.finish(86'400s);
    BOOST_TEST(s.seconds().size() == lg::time_series::default_max_seconds);
    BOOST_TEST(s.dropped_seconds() == 86'400u - lg::time_series::default_max_seconds);
    BOOST_TEST(s.footprint_bytes() <=
               64u * 1024 + lg::time_series::default_max_seconds * sizeof(lg::second_stats));
}

BOOST_AUTO_TEST_CASE(series_of_an_empty_run_is_empty) {
    lg::time_series s;
    s.finish(0ns);
    BOOST_TEST(s.seconds().empty());
    lg::time_series t;
    t.finish(1ns);
    BOOST_TEST(t.seconds().size() == 1u);
}

// ---------------------------------------------------------------------------------------------
// report, JSON, summary

BOOST_AUTO_TEST_CASE(outcome_of_a_result) {
    BOOST_TEST((result(200, std::nullopt, 1ms).kind() == lg::outcome::ok));
    BOOST_TEST((result(429, faultline::error::rate_limited, 1ms).kind() == lg::outcome::throttled));
    BOOST_TEST(
        (result(429, faultline::error::insufficient_quota, 1ms).kind() == lg::outcome::throttled));
    BOOST_TEST((result(500, faultline::error::internal_error, 1ms).kind() == lg::outcome::error));
    BOOST_TEST((result(200, faultline::error::stream_truncated, 1ms).kind() == lg::outcome::error));
}

BOOST_AUTO_TEST_CASE(json_report_fields_and_values) {
    const lg::report r = sample_report();
    const json::object o = lg::to_json(r);
    const std::string text = json::serialize(o);

    BOOST_TEST(o.at("tool").as_string() == "faultline-loadgen");
    BOOST_TEST(o.at("format").as_int64() == 2);
    const json::object& config = o.at("config").as_object();
    BOOST_TEST(config.at("url").as_string() == "http://127.0.0.1:8080/gw");
    BOOST_TEST(config.at("target").as_string() == "/gw/v1/chat/completions");
    BOOST_TEST(config.at("model").as_string() == "m<1>");
    BOOST_TEST(config.at("stream").as_bool());
    BOOST_TEST(config.at("connections").to_number<int>() == 4);
    BOOST_TEST(config.at("duration_ms").is_null());
    BOOST_TEST(config.at("request_limit").to_number<int>() == 100);
    BOOST_TEST(config.at("max_attempts").to_number<int>() == 3);
    BOOST_TEST(config.at("timeout_ms").to_number<int>() == 5000);
    BOOST_TEST(config.at("seed").to_number<int>() == 9);
    BOOST_TEST(text.find("sk-very-secret") == std::string::npos);

    BOOST_TEST(!o.at("interrupted").as_bool());
    BOOST_TEST(o.at("elapsed_s").to_number<double>() == 2.5);
    BOOST_TEST(o.at("requests").to_number<int>() == 4);
    BOOST_TEST(o.at("ok").to_number<int>() == 1);
    BOOST_TEST(o.at("throttled").to_number<int>() == 1);
    BOOST_TEST(o.at("errors").to_number<int>() == 2);
    BOOST_TEST(o.at("retries").to_number<int>() == 1);
    BOOST_TEST(o.at("aborted").to_number<int>() == 0);
    BOOST_TEST(o.at("requests_per_second").to_number<double>() == 1.6);
    BOOST_TEST(o.at("events").to_number<int>() == 7);
    BOOST_TEST(o.at("content_events").to_number<int>() == 6);
    BOOST_TEST(o.at("events_per_second").to_number<double>() == 2.8);

    const json::object& latency = o.at("latency_ms").as_object();
    BOOST_TEST(latency.at("count").to_number<int>() == 4);
    BOOST_TEST(latency.at("min").to_number<double>() == 1.0);
    BOOST_TEST(latency.at("max").to_number<double>() == 10.0);
    BOOST_TEST(latency.at("mean").to_number<double>() == 4.25);
    // Nearest rank of {1, 2, 4, 10} ms: p50 is the 2nd, p90 and above the 4th.
    BOOST_TEST(std::abs(latency.at("p50").to_number<double>() - 2.0) <= 2.0 / 256);
    for (const char* p : {"p90", "p99", "p999"})
        BOOST_TEST(std::abs(latency.at(p).to_number<double>() - 10.0) <= 10.0 / 256);
    const json::object& first = o.at("first_event_ms").as_object();
    BOOST_TEST(first.at("count").to_number<int>() == 2);
    BOOST_TEST(first.at("min").to_number<double>() == 1.0);
    BOOST_TEST(first.at("max").to_number<double>() == 3.0);

    BOOST_TEST(json::serialize(o.at("statuses")) == R"({"0":1,"200":2,"429":1})");
    BOOST_TEST(json::serialize(o.at("retried_statuses")) == R"({"429":1})");
    const json::object& categories = o.at("categories").as_object();
    BOOST_TEST(categories.size() == 3u);
    BOOST_TEST(categories.at("rate_limited").to_number<int>() == 1);
    BOOST_TEST(categories.at("upstream_unavailable").to_number<int>() == 1);
    BOOST_TEST(categories.at("server_error").to_number<int>() == 1);
    const json::object& codes = o.at("codes").as_object();
    BOOST_TEST(codes.size() == 3u);
    BOOST_TEST(codes.at("rpm_exceeded").to_number<int>() == 1);
    BOOST_TEST(codes.at("upstream_unavailable").to_number<int>() == 1);
    BOOST_TEST(codes.at("stream_truncated").to_number<int>() == 1);
    const json::array& failures = o.at("failures").as_array();
    BOOST_TEST_REQUIRE(failures.size() == 3u);
    std::uint64_t failed = 0;
    for (const auto& f : failures) {
        BOOST_TEST(f.as_object().size() == 3u);
        failed += f.at("count").to_number<std::uint64_t>();
    }
    BOOST_TEST(failed == 3u);
    BOOST_TEST(json::serialize(o.at("transport_errors")) ==
               json::serialize(json::object{
                   {std::make_error_code(std::errc::connection_refused).message(), 1}}));
    BOOST_TEST(json::serialize(o.at("stream_verdicts")) ==
               R"({"done":1,"error":0,"eof_without_done":1,"malformed_json":0})");

    const json::object& series = o.at("series").as_object();
    BOOST_TEST(series.at("interval_s").to_number<int>() == 1);
    BOOST_TEST(series.at("max_seconds").to_number<int>() == 3600);
    BOOST_TEST(series.at("dropped_seconds").to_number<int>() == 0);
    const json::array& seconds = series.at("seconds").as_array();
    BOOST_TEST_REQUIRE(seconds.size() == 3u);
    BOOST_TEST(
        examples::to_plain_json(seconds[0]) ==
        R"({"t_s":0,"requests":1,"ok":1,"throttled":0,"errors":0,"retries":1,"status_429":1,"output_tokens":0,"failures":{},"p50_ms":10,"p99_ms":10})");
    BOOST_TEST(seconds[1].at("t_s").to_number<int>() == 1);
    BOOST_TEST(seconds[1].at("requests").to_number<int>() == 2);
    BOOST_TEST(seconds[1].at("throttled").to_number<int>() == 1);
    BOOST_TEST(seconds[1].at("errors").to_number<int>() == 1);
    BOOST_TEST(seconds[1].at("status_429").to_number<int>() == 1);
    BOOST_TEST(seconds[2].at("errors").to_number<int>() == 1);
}

BOOST_AUTO_TEST_CASE(json_of_an_empty_report_has_every_field_with_nulls) {
    const lg::report r;
    const json::object o = lg::to_json(r);
    BOOST_TEST(o.at("requests").to_number<int>() == 0);
    BOOST_TEST(o.at("requests_per_second").to_number<double>() == 0.0);
    BOOST_TEST(o.at("latency_ms").at("count").to_number<int>() == 0);
    for (const char* key : {"min", "mean", "p50", "p90", "p99", "p999", "max"})
        BOOST_TEST(o.at("latency_ms").at(key).is_null());
    BOOST_TEST(o.at("series").at("seconds").as_array().empty());
    BOOST_TEST(o.size() == lg::to_json(sample_report()).size());
}

BOOST_AUTO_TEST_CASE(help_documents_every_json_field) {
    const std::string help = lg::help_text();
    const json::object o = lg::to_json(sample_report());
    for (const auto& field : o)
        BOOST_TEST_CONTEXT(field.key()) {
            BOOST_TEST(help.find(field.key()) != std::string_view::npos);
        }
    for (const auto& field : o.at("config").as_object())
        BOOST_TEST(help.find(field.key()) != std::string_view::npos);
    for (const auto& field : o.at("latency_ms").as_object())
        BOOST_TEST(help.find(field.key()) != std::string_view::npos);
    for (const auto& field : o.at("series").as_object())
        BOOST_TEST(help.find(field.key()) != std::string_view::npos);
    for (const auto& field : o.at("series").at("seconds").as_array()[0].as_object())
        BOOST_TEST(help.find(field.key()) != std::string_view::npos);
    for (const std::string_view option :
         {"--url", "--key", "--model", "--connections", "--duration", "--requests", "--stream",
          "--max-tokens", "--prompt", "--retries", "--timeout", "--json", "--svg", "--quiet",
          "--path", "--seed", "FAULTLINE_API_KEY", "exit status"})
        BOOST_TEST(help.find(option) != std::string_view::npos);
}

BOOST_AUTO_TEST_CASE(summary_names_every_measure) {
    const std::string s = lg::summary(sample_report());
    for (const std::string_view line :
         {"faultline-loadgen: http://127.0.0.1:8080/gw/v1/chat/completions, m<1>, 4 connections, "
          "stream\n",
          "  elapsed      2.50 s\n", "  requests     4  1.6 req/s  (ok 1, 429 1, errors 2)\n",
          "  retries      1  (429: 1)\n", "  events       7  2.8 events/s  (content 6)\n",
          "  streams      done 1  error 0  eof_without_done 1  malformed_json 0\n",
          "  statuses     0 (no response): 1  200: 2  429: 1\n",
          "rate_limited: 1 (rpm_exceeded 1)\n", "server_error: 1 (stream_truncated 1)\n",
          "upstream_unavailable: 1 (upstream_unavailable 1)\n", "  latency      min 1 ms  ",
          "max 10 ms\n", "  first event  min 1 ms  "})
        BOOST_TEST_CONTEXT(line) {
            BOOST_TEST(s.find(line) != std::string::npos);
        }
    BOOST_TEST(s.find("Connection refused") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(transport_messages_are_capped) {
    lg::report r;
    for (int i = 0; i < 40; ++i) {
        lg::request_result x = result(0, faultline::error::upstream_unavailable, 1ms);
        x.transport = std::error_code(i + 1, std::generic_category());
        r.add(x, 1ms);
    }
    BOOST_TEST(r.transport_errors.size() == lg::report::max_transport_kinds + 1);
    BOOST_TEST(r.transport_errors.contains("other"));
    std::uint64_t total = 0;
    for (const auto& [message, n] : r.transport_errors)
        total += n;
    BOOST_TEST(total == 40u);
}

BOOST_AUTO_TEST_CASE(progress_line) {
    lg::progress p;
    p.elapsed = 3s;
    p.requests = 12345;
    p.ok = 12000;
    p.throttled = 300;
    p.errors = 45;
    p.requests_per_second = 4115.2;
    BOOST_TEST(lg::format_progress(p) ==
               "   3.0 s     12345 req     4115 req/s  ok 12000  429 300  err 45\n");
    p.retries = 7;
    BOOST_TEST(lg::format_progress(p) ==
               "   3.0 s     12345 req     4115 req/s  ok 12000  429 300  err 45  retries 7\n");
}

// ---------------------------------------------------------------------------------------------
// SVG

BOOST_AUTO_TEST_CASE(xml_escape_table) {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"plain", "plain"},
        {"a<b>&c", "a&lt;b&gt;&amp;c"},
        {"\"q\" 'a'", "&quot;q&quot; &apos;a&apos;"},
        {"tab\tnl\ncr\r", "tab\tnl\ncr\r"},
        {std::string_view("nul\0x", 5), "nul\xEF\xBF\xBDx"},
        {"bell\x07", "bell\xEF\xBF\xBD"},
        {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
        {"\xC0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD"},                 // overlong NUL
        {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, // surrogate
        {"\xF5\x80\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"cut \xE2\x82", "cut \xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xEF\xBF\xBE", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, // U+FFFE is no XML character
        {"\xEF\xBF\xBD", "\xEF\xBF\xBD"},
    };
    for (const auto& [in, out] : cases)
        BOOST_TEST_CONTEXT(in) {
            BOOST_TEST(lg::xml_escape(in) == out);
        }
}

BOOST_AUTO_TEST_CASE(xml_checker_rejects_what_it_must) {
    BOOST_TEST(xml_problem("<a><b/></a>").empty());
    BOOST_TEST(xml_problem(R"(<?xml version="1.0"?><a x="1" y='&lt;'>t &amp; &#233;</a>)").empty());
    for (std::string_view bad :
         {"<a><b></a></b>", "<a>&</a>", "<a>&nbsp;</a>", "<a x=1/>", "<a>x<</a>", "<a x=\"<\"/>",
          "<a x=\"1\" x=\"2\"/>", "<a>", "<a/><b/>", "text<a/>", ""})
        BOOST_TEST_CONTEXT(bad) {
            BOOST_TEST(!xml_problem(bad).empty());
        }
}

BOOST_AUTO_TEST_CASE(svg_is_well_formed_and_escapes_its_title) {
    const lg::report r = sample_report();
    const std::string title = "load <&> \"test\" \x01 \xFF";
    const std::string svg = lg::render_svg(r, title);
    BOOST_TEST(xml_problem(svg) == "");
    BOOST_TEST(valid_utf8(svg));
    BOOST_TEST(svg.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "));
    const std::string escaped = "load &lt;&amp;&gt; &quot;test&quot; \xEF\xBF\xBD \xEF\xBF\xBD";
    BOOST_TEST(element_text(svg, "title") == escaped);
    BOOST_TEST(occurrences(svg, escaped) == 2u); // <title> and the heading
    BOOST_TEST(svg.find("<&>") == std::string::npos);
    // Two latency lines and the tokens line; stacked bars: a success in second 0, a 429
    // (rate_limited) and a refusal (upstream_unavailable) in second 1, a cut stream in 2.
    BOOST_TEST(occurrences(svg, "<path ") == 3u);
    BOOST_TEST(occurrences(svg, "fill=\"#2ca02c\"") == 2u); // ok: legend swatch + 1 bar
    BOOST_TEST(occurrences(svg, "fill=\"#ff7f0e\"") == 2u); // rate_limited: swatch + 1 bar
    for (std::string_view label :
         {"p50 latency of successes", "p99 latency of successes", "requests per second",
          "rate_limited", "upstream_unavailable", "seconds since the start", "latency per second",
          "output tokens per second"})
        BOOST_TEST(svg.find(label) != std::string::npos, label);
    BOOST_TEST(svg.find(">permission<") == std::string::npos); // no legend for absent classes
    // {1..10} ms within a second spans a factor of 10: a linear axis.
    BOOST_TEST(svg.find("(log scale)") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(svg_uses_a_log_axis_for_wide_spreads) {
    lg::report r;
    r.add(result(200, std::nullopt, 1ms), 100ms);
    r.add(result(200, std::nullopt, 900ms), 1100ms);
    r.finish(2s);
    const std::string svg = lg::render_svg(r, lg::chart_title(r.settings));
    BOOST_TEST(xml_problem(svg) == "");
    BOOST_TEST(svg.find("(log scale)") != std::string::npos);
    BOOST_TEST(svg.find(">1 ms<") != std::string::npos);
    BOOST_TEST(svg.find(">1 s<") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(svg_of_an_empty_run_and_of_a_capped_series) {
    const std::string empty = lg::render_svg(lg::report{}, "");
    BOOST_TEST(xml_problem(empty) == "");
    BOOST_TEST(empty.find("no successes") != std::string::npos);
    BOOST_TEST(empty.find("no output tokens") != std::string::npos);

    lg::report capped(lg::run_settings{}, 3);
    for (int t = 0; t < 10; ++t)
        capped.add(result(429, faultline::error::rate_limited, 1ms), std::chrono::seconds(t));
    capped.finish(10s);
    const std::string svg = lg::render_svg(capped, "capped");
    BOOST_TEST(xml_problem(svg) == "");
    BOOST_TEST(occurrences(svg, "fill=\"#ff7f0e\"") == 4u); // legend swatch + 3 kept seconds
    BOOST_TEST(svg.find("first 3 s of 10 s") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(chart_title_shows_the_full_target_once) {
    lg::run_settings s = sample_settings();
    BOOST_TEST(lg::chart_title(s) ==
               "faultline-loadgen: http://127.0.0.1:8080/gw/v1/chat/completions, m<1>, 4 "
               "connections, stream");
    s.connections = 1;
    s.stream = false;
    s.url = "http://[::1]:80";
    s.target = "/v1/chat/completions";
    BOOST_TEST(lg::chart_title(s) ==
               "faultline-loadgen: http://[::1]:80/v1/chat/completions, m<1>, 1 connection");
}

// ---------------------------------------------------------------------------------------------
// options and command line

BOOST_AUTO_TEST_CASE(command_line_with_every_option) {
    const auto r = parse({"--url",
                          "http://127.0.0.1:8080/gw/",
                          "--key",
                          "k1",
                          "--model",
                          "m",
                          "--connections",
                          "16",
                          "--duration",
                          "10s",
                          "--requests",
                          "500",
                          "--stream",
                          "--max-tokens",
                          "7",
                          "--prompt",
                          "say \"x\"",
                          "--retries",
                          "3",
                          "--timeout",
                          "250ms",
                          "--json",
                          "-",
                          "--svg",
                          "chart.svg",
                          "--quiet",
                          "--path",
                          "/v2/x",
                          "--seed",
                          "42"},
                         "env-key");
    const auto* cl = std::get_if<lg::command_line>(&r);
    BOOST_TEST_REQUIRE(cl != nullptr);
    const lg::options& o = cl->run;
    BOOST_TEST(o.url.host == "127.0.0.1");
    BOOST_TEST(o.url.port == 8080);
    BOOST_TEST(o.url.target(o.path) == "/gw/v2/x");
    BOOST_TEST(o.api_key == "k1");
    BOOST_TEST(o.model == "m");
    BOOST_TEST(o.connections == 16u);
    BOOST_TEST((o.duration == 10s));
    BOOST_TEST((o.requests == std::optional<std::uint64_t>(500)));
    BOOST_TEST(o.stream);
    BOOST_TEST(o.max_tokens == 7u);
    BOOST_TEST(o.prompt == "say \"x\"");
    BOOST_TEST(o.retry.max_attempts == 4u);
    BOOST_TEST((o.timeout == 250ms));
    BOOST_TEST(o.seed == 42u);
    BOOST_TEST((cl->json_path == std::optional<std::string>("-")));
    BOOST_TEST((cl->svg_path == std::optional<std::string>("chart.svg")));
    BOOST_TEST(cl->quiet);
    BOOST_TEST(!cl->help);
    BOOST_TEST(lg::validate(o) == "");
}

BOOST_AUTO_TEST_CASE(command_line_defaults_and_environment_key) {
    const auto r = parse({"--url", "http://localhost:9000", "--requests", "1"}, "env-key");
    const auto& o = std::get<lg::command_line>(r).run;
    BOOST_TEST(o.api_key == "env-key");
    BOOST_TEST(o.connections == 8u);
    BOOST_TEST(o.model == "gpt-sim");
    BOOST_TEST(!o.stream);
    BOOST_TEST(!o.duration.has_value());
    BOOST_TEST(o.retry.max_attempts == 1u);
    BOOST_TEST((o.timeout == 30s));
    BOOST_TEST(o.path.empty()); // the API's own path
    BOOST_TEST(lg::request_path(o) == "/v1/chat/completions");
    const auto no_env = parse({"--url", "http://localhost:9000", "--duration", "2m"});
    BOOST_TEST(std::get<lg::command_line>(no_env).run.api_key.empty());
    BOOST_TEST((std::get<lg::command_line>(no_env).run.duration == 2min));
    // An explicit empty --key means no key, even with one in the environment.
    const auto empty_key = parse({"--url", "http://h", "--requests", "1", "--key", ""}, "env-key");
    BOOST_TEST(std::get<lg::command_line>(empty_key).run.api_key.empty());
}

BOOST_AUTO_TEST_CASE(command_line_help_wins) {
    const std::vector<std::vector<std::string_view>> lines = {
        {"--help"}, {"--connections", "0", "-h"}, {"--bogus", "--help"}};
    for (const auto& args : lines) {
        const auto r = parse(args);
        BOOST_TEST_REQUIRE(std::holds_alternative<lg::command_line>(r));
        BOOST_TEST(std::get<lg::command_line>(r).help);
    }
    const std::vector<std::vector<std::string_view>> versions = {
        {"--version"}, {"--connections", "0", "--version"}, {"--bogus", "--version"}};
    for (const auto& args : versions) {
        const auto r = parse(args);
        BOOST_TEST_REQUIRE(std::holds_alternative<lg::command_line>(r));
        BOOST_TEST(std::get<lg::command_line>(r).version);
        BOOST_TEST(!std::get<lg::command_line>(r).help);
    }
}

BOOST_AUTO_TEST_CASE(command_line_opt_equals_value) {
    const auto r = parse({"--url=http://127.0.0.1:8080", "--requests=5", "--connections=3",
                          "--timeout=2s", "--key=", "--json=-", "--retries=2"},
                         "env-key");
    const auto* cl = std::get_if<lg::command_line>(&r);
    BOOST_TEST_REQUIRE(cl != nullptr);
    BOOST_TEST(cl->run.url.port == 8080);
    BOOST_TEST((cl->run.requests == std::optional<std::uint64_t>(5)));
    BOOST_TEST(cl->run.connections == 3u);
    BOOST_TEST((cl->run.timeout == 2s));
    BOOST_TEST(cl->run.api_key.empty()); // "--key=" is an explicit empty key
    BOOST_TEST((cl->json_path == std::optional<std::string>("-")));
    BOOST_TEST(cl->run.retry.max_attempts == 3u);
}

BOOST_AUTO_TEST_CASE(command_line_every_bad_input_is_a_usage_error) {
    using P = lg::usage_problem;
    const std::string_view url = "http://127.0.0.1:8080";
    struct row {
        std::vector<std::string_view> args;
        P problem;
    };
    const row rows[] = {
        {{}, P::missing_url},
        {{"--requests", "5"}, P::missing_url},
        {{"--url", url}, P::missing_bound},
        {{"--url"}, P::missing_value},
        {{"--url", url, "--duration"}, P::missing_value},
        {{"--url", url, "--requests", "1", "--json"}, P::missing_value},
        {{"--url", url, "--requests", "1", "--bogus"}, P::unknown_option},
        {{"--url", url, "--requests", "1", "extra"}, P::unknown_option},
        {{"--url", "ftp://h", "--requests", "1"}, P::invalid_url},
        {{"--url", url, "--requests", "1", "--ca-file", "ca.pem"}, P::invalid_ca_file},
        {{"--url", "https://h", "--requests", "1", "--ca-file", "/nonexistent/ca.pem"},
         P::invalid_ca_file},
        {{"--url", "https://h", "--requests", "1", "--ca-file"}, P::missing_value},
        {{"--url", "http://", "--requests", "1"}, P::invalid_url},
        {{"--url", "http://h:99999", "--requests", "1"}, P::invalid_url},
        {{"--url", "http://h:port", "--requests", "1"}, P::invalid_url},
        {{"--url", "http://h/x?y=1", "--requests", "1"}, P::invalid_url},
        {{"--url", "", "--requests", "1"}, P::invalid_url},
        {{"--url", url, "--requests", "1", "--connections", "0"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--connections", "1025"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--connections", "-1"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--connections", "abc"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--connections", "1.5"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--connections", "+4"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--connections", ""}, P::invalid_value},
        {{"--url", url, "--duration", "0"}, P::invalid_value},
        {{"--url", url, "--duration", "0s"}, P::invalid_value},
        {{"--url", url, "--duration", "-5s"}, P::invalid_value},
        {{"--url", url, "--duration", "10x"}, P::invalid_value},
        {{"--url", url, "--duration", "s"}, P::invalid_value},
        {{"--url", url, "--duration", "1.5s"}, P::invalid_value},
        {{"--url", url, "--duration", "20000m"}, P::invalid_value},
        {{"--url", url, "--requests", "0"}, P::invalid_value},
        {{"--url", url, "--requests", "-1"}, P::invalid_value},
        {{"--url", url, "--requests", "1e3"}, P::invalid_value},
        {{"--url", url, "--requests", "99999999999999999999999"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--timeout", "0"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--timeout", "2h"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--timeout", "61m"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--max-tokens", "0"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--max-tokens", "1000001"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--retries", "101"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--retries", "-1"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--seed", "x"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--model", ""}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--path", "v1/chat"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--path", "/a b"}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--json", ""}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--svg", ""}, P::invalid_value},
        {{"--url", url, "--requests", "1", "--json", "-", "--svg", "-"}, P::conflicting_outputs},
    };
    for (const row& r : rows) {
        std::string context;
        for (auto a : r.args)
            context += std::string(a) + " ";
        BOOST_TEST_CONTEXT(context) {
            BOOST_TEST((problem_of(r.args) == r.problem));
        }
    }
}

BOOST_AUTO_TEST_CASE(usage_errors_name_the_option_and_value) {
    const auto r = parse({"--url", "http://h", "--requests", "1", "--connections", "0"});
    BOOST_TEST(std::get<lg::usage_error>(r).message == "--connections: must be 1..1024, not '0'");
    const auto e = parse({"--url=http://h", "--requests=1", "--connections=2000"});
    BOOST_TEST(std::get<lg::usage_error>(e).message ==
               "--connections: must be 1..1024, not '2000'");
    const auto u = parse({"--url", "ftp://h", "--requests", "1"});
    BOOST_TEST(std::get<lg::usage_error>(u).message ==
               "--url: must be http(s)://host[:port][/path], not 'ftp://h'");
    const auto m = parse({"--url", "http://h", "--timeout"});
    BOOST_TEST(std::get<lg::usage_error>(m).message == "--timeout: needs a value");
    const auto x = parse({"--url", "http://h", "--requests", "1", "--bogus"});
    BOOST_TEST(std::get<lg::usage_error>(x).message == "unknown option '--bogus'");
    BOOST_TEST(std::get<lg::usage_error>(parse({"--url", "http://h"})).message ==
               "give --duration, --requests or both");
    BOOST_TEST(std::get<lg::usage_error>(parse({"--requests", "1"})).message ==
               "--url: is required");
}

BOOST_AUTO_TEST_CASE(validate_and_run_refuse_options_that_cannot_run) {
    lg::options o = loopback_options(1);
    BOOST_TEST(!lg::validate(o).empty()); // no bound
    o.requests = 1;
    BOOST_TEST(lg::validate(o).empty());
    o.connections = 0;
    BOOST_TEST(lg::validate(o) == "connections must be 1..1024");
    BOOST_CHECK_THROW((void)lg::run(o), std::invalid_argument);
    o.connections = lg::max_connections + 1;
    BOOST_CHECK_THROW((void)lg::run(o), std::invalid_argument);
    o.connections = 1;
    o.path = "v1/chat/completions";
    BOOST_TEST(!lg::validate(o).empty());
    o.path = "/v1/chat/completions";
    o.timeout = 0ms;
    BOOST_TEST(!lg::validate(o).empty());
    o.timeout = 1s;
    o.url.host.clear();
    BOOST_TEST(!lg::validate(o).empty());
}

BOOST_AUTO_TEST_CASE(request_body_is_the_chat_completion) {
    lg::options o;
    o.model = "m-1";
    o.prompt = "line\n\"quoted\" \\ end";
    o.max_tokens = 5;
    o.stream = true;
    const json::value v = json::parse(lg::request_body(o));
    BOOST_TEST(v.at("model").as_string() == "m-1");
    BOOST_TEST(v.at("max_tokens").to_number<int>() == 5);
    BOOST_TEST(v.at("stream").as_bool());
    BOOST_TEST_REQUIRE(v.at("messages").as_array().size() == 1u);
    BOOST_TEST(v.at("messages").at(0).at("role").as_string() == "user");
    BOOST_TEST(v.at("messages").at(0).at("content").as_string() == o.prompt);
    BOOST_TEST(v.at("stream_options").at("include_usage").as_bool());
    BOOST_TEST(v.as_object().size() == 5u);
}

// ---------------------------------------------------------------------------------------------
// runs over loopback (no sleeping: every wait is a server's answer or a zero delay)

BOOST_AUTO_TEST_CASE(run_against_nothing_listening_reports_transport_failures) {
    lg::options o = loopback_options(closed_port());
    o.requests = 7;
    o.connections = 3;
    o.retry.max_attempts = 3;
    o.retry.delay = faultline::backoff::constant(0ns);
    const lg::report r = lg::run(o);
    BOOST_TEST(r.requests == 7u);
    BOOST_TEST(r.errors == 7u);
    BOOST_TEST(r.ok == 0u);
    BOOST_TEST(r.retries == 14u); // transport failures are retryable: 3 attempts each
    BOOST_TEST(r.statuses.size() == 1u);
    BOOST_TEST(r.statuses.at(0) == 7u);
    BOOST_TEST(r.retried_statuses.at(0) == 14u);
    BOOST_TEST(r.failures.size() == 1u);
    BOOST_TEST((r.failures.begin()->first.cat == faultline::category::upstream_unavailable));
    BOOST_TEST(r.transport_errors.size() == 1u);
    BOOST_TEST(r.latency.count() == 7u);
    std::uint64_t in_series = 0;
    for (const auto& s : r.series.seconds())
        in_series += s.requests;
    BOOST_TEST(in_series == 7u);
}

BOOST_AUTO_TEST_CASE(run_classifies_statuses_streams_and_retries) {
    canned_server server({
        json_response(
            429, "Too Many Requests",
            R"json({"error":{"message":"Rate limit reached for requests per min (RPM)","type":"requests","code":"rate_limit_exceeded"}})json",
            "Retry-After: 0\r\n"),
        sse_response({content_event, content_event, done_event}), // 1: ok after one retry
        sse_response({content_event, done_event}),                // 2: ok
        sse_response({content_event, "data: " + std::string(error_chunk) + "\n\n",
                      done_event}),                       // 3: error chunk
        sse_response({content_event}),                    // 4: cut off
        sse_response({"data: not json\n\n", done_event}), // 5: malformed
        json_response(
            401, "Unauthorized",
            R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}})"),
        // 6: not retryable
    });
    lg::options o = loopback_options(server.port(), "/gw");
    o.api_key = "sk-test";
    o.model = "canned";
    o.stream = true;
    o.connections = 1;
    o.requests = 6;
    o.retry.max_attempts = 2;
    o.retry.delay = faultline::backoff::constant(0ns);
    const lg::report r = lg::run(o);
    server.stop();

    BOOST_TEST(r.requests == 6u);
    BOOST_TEST(r.ok == 2u);
    BOOST_TEST(r.throttled == 0u);
    BOOST_TEST(r.errors == 4u);
    BOOST_TEST(r.retries == 1u);
    BOOST_TEST(r.aborted == 0u);
    BOOST_TEST(r.retried_statuses.at(429) == 1u);
    BOOST_TEST(r.statuses.at(200) == 5u);
    BOOST_TEST(r.statuses.at(401) == 1u);
    BOOST_TEST(r.stream_verdicts.at(faultline::sse::terminal::done) == 2u);
    BOOST_TEST(r.stream_verdicts.at(faultline::sse::terminal::error) == 1u);
    BOOST_TEST(r.stream_verdicts.at(faultline::sse::terminal::eof_without_done) == 1u);
    BOOST_TEST(r.stream_verdicts.at(faultline::sse::terminal::malformed_json) == 1u);
    // 3 + 2 + 3 + 1 + 2 events; content chunks 2 + 1 + 1 + 1.
    BOOST_TEST(r.events == 11u);
    BOOST_TEST(r.content_events == 5u);
    BOOST_TEST(r.first_event.count() == 4u);
    BOOST_TEST(r.first_event.max() <= r.latency.max());
    const faultline::failure chunk = faultline::classify(0, error_chunk);
    std::map<faultline::error, std::uint64_t> codes;
    for (const auto& [kind, n] : r.failures)
        codes[kind.code] += n;
    BOOST_TEST(codes.at(chunk.code) == 1u);
    BOOST_TEST(codes.at(faultline::error::stream_truncated) == 1u);
    BOOST_TEST(codes.at(faultline::error::malformed_json) == 1u);
    BOOST_TEST(codes.at(faultline::error::authentication) == 1u);
    BOOST_TEST(r.transport_errors.empty());

    BOOST_TEST_REQUIRE(server.requests.size() == 7u); // six requests, one of them twice
    for (const auto& req : server.requests) {
        BOOST_TEST(req.target() == "/gw/v1/chat/completions");
        BOOST_TEST(req.method() == examples::http::verb::post);
        BOOST_TEST(req[examples::http::field::authorization] == "Bearer sk-test");
        BOOST_TEST(req.body() == lg::request_body(o));
    }
    BOOST_TEST(r.settings.target == "/gw/v1/chat/completions");
}

BOOST_AUTO_TEST_CASE(a_2xx_that_is_not_a_json_object_is_no_success) {
    // A web page, a proxy's plain text, an empty body and a JSON array, each with a 200; then a
    // real completion.
    canned_server server({
        json_response(200, "OK", "<html><body>Welcome to nginx!</body></html>"),
        json_response(200, "OK", "upstream ok"),
        json_response(200, "OK", ""),
        json_response(200, "OK", "[1,2]"),
        json_response(200, "OK",
                      R"({"object":"chat.completion","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}})"),
    });
    lg::options o = loopback_options(server.port());
    o.connections = 1;
    o.requests = 5;
    const lg::report r = lg::run(o);
    server.stop();
    BOOST_TEST(r.ok == 1u);
    BOOST_TEST(r.errors == 4u);
    BOOST_TEST(r.successes.output_tokens_total == 4u);
    BOOST_TEST_REQUIRE(r.failures.size() == 1u);
    BOOST_TEST((r.failures.begin()->first.code == faultline::error::malformed_json));
    BOOST_TEST(r.failures.begin()->second == 4u);
}

BOOST_AUTO_TEST_CASE(a_run_without_successes_says_why_in_one_line) {
    lg::report r;
    BOOST_TEST(lg::no_success_reason(r) == "no request succeeded: 0 of 0 failed");
    r.add(result(0, faultline::error::upstream_unavailable, 1ms), 1ms);
    lg::request_result refused = result(0, faultline::error::upstream_unavailable, 1ms);
    refused.transport = std::make_error_code(std::errc::connection_refused);
    r.add(refused, 2ms);
    r.add(refused, 3ms);
    r.add(result(404, faultline::error::not_found, 1ms), 4ms);
    BOOST_TEST(lg::no_success_reason(r) ==
               "no request succeeded: 4 of 4 failed, most often "
               "upstream_unavailable/upstream_unavailable (3: " +
                   std::make_error_code(std::errc::connection_refused).message() + ")");
}

BOOST_AUTO_TEST_CASE(run_gives_up_on_a_retry_after_longer_than_the_policy_allows) {
    canned_server server({json_response(429, "Too Many Requests",
                                        R"({"error":{"message":"slow down","type":"requests"}})",
                                        "Retry-After: 3600\r\n")});
    lg::options o = loopback_options(server.port());
    o.connections = 1;
    o.requests = 1;
    o.retry.max_attempts = 5;
    const lg::report r = lg::run(o);
    server.stop();
    BOOST_TEST(r.requests == 1u);
    BOOST_TEST(r.throttled == 1u);
    BOOST_TEST(r.retries == 0u); // an hour is over max_server_delay: no parking
    BOOST_TEST(server.requests.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

#include <faultline/sse/writer.hpp>

#include "chunking.hpp"

#include <faultline/sse/parser.hpp>

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

namespace sse = faultline::sse;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

struct seen_event {
    std::string type, data;
    std::optional<std::string> id;
    bool operator==(const seen_event&) const = default;
};

std::ostream& operator<<(std::ostream& os, const seen_event& e) {
    return os << "{" << e.type << "|" << e.data << "|" << (e.id ? *e.id : "~") << "}";
}

struct collector {
    std::vector<seen_event> events;
    std::vector<long long> retries;
    void on_event(const sse::event& e) {
        events.push_back({std::string(e.type), std::string(e.data),
                          e.id ? std::optional<std::string>(std::string(*e.id)) : std::nullopt});
    }
    void on_retry(std::chrono::milliseconds ms) { retries.push_back(ms.count()); }
};

// Parses `wire` in every chunking; all must agree. Returns the one-piece result.
collector reparse(std::string_view wire) {
    collector ref;
    for (sse_test::chunking c : sse_test::all_chunkings) {
        sse::parser<collector> p;
        for (auto piece : sse_test::cut(wire, c))
            BOOST_TEST(!p.feed(piece).has_error());
        if (c == sse_test::chunking::all)
            ref = p.handler();
        else {
            BOOST_TEST(p.handler().events == ref.events, boost::test_tools::per_element());
            BOOST_TEST(p.handler().retries == ref.retries, boost::test_tools::per_element());
        }
        BOOST_TEST(!p.mid_event()); // every write is complete
    }
    return ref;
}

sse::outgoing_event ev(std::string_view data, std::string_view type = {},
                       std::optional<std::string_view> id = std::nullopt,
                       std::optional<std::chrono::milliseconds> retry = std::nullopt) {
    sse::outgoing_event e;
    e.data = data;
    e.type = type;
    e.id = id;
    e.retry = retry;
    return e;
}

} // namespace

BOOST_AUTO_TEST_SUITE(sse_writer)

BOOST_AUTO_TEST_CASE(data_event) {
    std::string out;
    sse::writer w(out);
    w.data(R"({"a":1})");
    BOOST_TEST(out == "data: {\"a\":1}\n\n");
    const auto got = reparse(out);
    BOOST_TEST(got.events.size() == 1u);
    BOOST_TEST(got.events[0].data == R"({"a":1})");
}

BOOST_AUTO_TEST_CASE(full_event) {
    std::string out;
    sse::writer w(out);
    BOOST_TEST(!w.event(ev("payload", "update", "42", 1500ms)));
    BOOST_TEST(out == "event: update\nid: 42\nretry: 1500\ndata: payload\n\n");
    const auto got = reparse(out);
    BOOST_TEST(got.events.size() == 1u);
    BOOST_TEST((got.events[0] == seen_event{"update", "payload", "42"}));
    BOOST_TEST(got.retries == std::vector<long long>{1500}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(line_breaks_in_data_become_data_lines) {
    std::string out;
    sse::writer w(out);
    w.data("a\rb\nc\r\nd\n\ne\r");
    BOOST_TEST(out == "data: a\ndata: b\ndata: c\ndata: d\ndata: \ndata: e\ndata: \n\n");
    const auto got = reparse(out);
    BOOST_TEST(got.events.size() == 1u);
    BOOST_TEST(got.events[0].data == "a\nb\nc\nd\n\ne\n");
}

BOOST_AUTO_TEST_CASE(data_injection_attempts_stay_data) {
    // Each tries to end the event and start a forged one, or to set a field.
    const std::vector<std::string> attacks{"x\n\ndata: forged",
                                           "x\r\rdata: forged",
                                           "x\r\n\r\nevent: error\ndata: {}",
                                           "x\nid: 666",
                                           "x\nretry: 1",
                                           "\n\n\n",
                                           "\r\n:\r\ndata: [DONE]",
                                           "x\n\revent: e\r\n",
                                           " leading space"};
    for (const auto& attack : attacks) {
        std::string out;
        sse::writer w(out);
        w.data(attack);
        BOOST_TEST(!w.event(ev(attack, "t", "1")));
        const auto got = reparse(out);
        BOOST_TEST_CONTEXT(attack) {
            BOOST_TEST(got.events.size() == 2u);
            BOOST_TEST(got.retries.empty());
            std::string normalized; // line breaks come back as LF
            for (std::size_t i = 0; i < attack.size(); ++i) {
                if (attack[i] == '\r') {
                    normalized.push_back('\n');
                    if (i + 1 < attack.size() && attack[i + 1] == '\n') ++i;
                } else
                    normalized.push_back(attack[i]);
            }
            for (const auto& e : got.events)
                BOOST_TEST(e.data == normalized);
            BOOST_TEST(got.events[0].type.empty());
            BOOST_TEST((got.events[1] == seen_event{"t", normalized, "1"}));
        }
    }
}

BOOST_AUTO_TEST_CASE(type_and_id_injection_is_rejected) {
    for (std::string_view bad : {"a\nb", "a\rb", "\r\n", "x\n\ndata: forged"}) {
        std::string out;
        sse::writer w(out);
        BOOST_TEST((w.event(ev("d", bad)) == std::errc::invalid_argument));
        BOOST_TEST((w.event(ev("d", "", bad)) == std::errc::invalid_argument));
        BOOST_TEST(out.empty());
        BOOST_TEST(!sse::is_safe_event_type(bad));
        BOOST_TEST(!sse::is_safe_event_id(bad));
    }
    std::string out;
    sse::writer w(out);
    // NUL: readers ignore such an id, so it is refused; in a type it is harmless.
    BOOST_TEST((w.event(ev("d", "", "1\0"s)) == std::errc::invalid_argument));
    BOOST_TEST(out.empty());
    BOOST_TEST(!w.event(ev("d", "t\0"s)));
    BOOST_TEST((w.event(ev("d", "", std::nullopt, -1ms)) == std::errc::invalid_argument));
    BOOST_TEST((w.retry(-5ms) == std::errc::invalid_argument));
    BOOST_TEST(!w.event(ev("d", "a:b c", "x: y")));
    const auto got = reparse(out);
    BOOST_TEST(got.events.size() == 2u);
    BOOST_TEST((got.events[1] == seen_event{"a:b c", "d", "x: y"}));
}

BOOST_AUTO_TEST_CASE(empty_values_round_trip) {
    std::string out;
    sse::writer w(out);
    BOOST_TEST(!w.event(ev("", "", "")));
    w.data("");
    const auto got = reparse(out);
    BOOST_TEST(got.events.size() == 2u);
    BOOST_TEST((got.events[0] == seen_event{"", "", ""}));
    BOOST_TEST((got.events[1] == seen_event{"", "", std::nullopt}));
}

BOOST_AUTO_TEST_CASE(heartbeats_are_comments) {
    std::string out;
    sse::writer w(out);
    w.heartbeat();
    w.heartbeat("");
    w.heartbeat("multi\nline\r\n\ndata: forged\n\n");
    BOOST_TEST(out.substr(0, 14) == ": keep-alive\n\n");
    const auto got = reparse(out);
    BOOST_TEST(got.events.empty());
}

BOOST_AUTO_TEST_CASE(error_chunk_then_done) {
    std::string out;
    sse::writer w(out);
    w.data("{}");
    w.error(faultline::error::upstream_timeout, "dial tcp 10.0.0.7: i/o timeout", "ev123");
    const auto got = reparse(out);
    BOOST_TEST(got.events.size() == 3u);
    BOOST_TEST(got.events[2].data == "[DONE]");
    const auto body = boost::json::parse(got.events[1].data).as_object();
    const auto& err = body.at("error").as_object();
    BOOST_TEST(err.at("code").as_string() == "upstream_timeout");
    // 5xx details are redacted (references 001/002).
    BOOST_TEST(err.at("message").as_string() == "Service temporarily unavailable");
    BOOST_TEST(err.at("event_id").as_string() == "ev123");

    std::string raw;
    sse::writer(raw).error(R"({"error":{"message":"stream interrupted"}})");
    BOOST_TEST(raw == "data: {\"error\":{\"message\":\"stream interrupted\"}}\n\ndata: [DONE]\n\n");
}

BOOST_AUTO_TEST_CASE(writes_append) {
    std::string out = "HTTP body so far|";
    sse::writer w(out);
    w.done();
    BOOST_TEST(out == "HTTP body so far|data: [DONE]\n\n");
    BOOST_TEST(&w.buffer() == &out);
}

BOOST_AUTO_TEST_SUITE_END()

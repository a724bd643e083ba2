#include <faultline/retry_after.hpp>

#include <boost/test/unit_test.hpp>

#include <map>
#include <vector>

namespace fl = faultline;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {
// Sun, 06 Nov 1994 08:49:37 GMT
const system_clock::time_point rfc_example = sys_days{1994y / November / 6} + 8h + 49min + 37s;
} // namespace

BOOST_AUTO_TEST_SUITE(retry_after)

BOOST_AUTO_TEST_CASE(http_dates_in_all_three_forms) {
    for (const char* s : {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                          "Sun Nov  6 08:49:37 1994", "  Sun, 06 Nov 1994 08:49:37 GMT  "}) {
        auto t = fl::parse_http_date(s);
        BOOST_TEST_CONTEXT(s) {
            BOOST_REQUIRE(t.has_value());
            BOOST_TEST((t.value() == rfc_example));
        }
    }
    auto y2k = fl::parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT");
    BOOST_REQUIRE(y2k.has_value());
    BOOST_TEST((y2k.value() == system_clock::time_point(sys_days{2000y / January / 1})));
}

BOOST_AUTO_TEST_CASE(bad_dates_are_invalid_retry_after) {
    for (const char* s : {"", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 31 Feb 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                          "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT",
                          "1994-11-06T08:49:37Z", "Sun Nov 6 08:49:37 1994",
                          "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:3x GMT"}) {
        auto t = fl::parse_http_date(s);
        BOOST_TEST_CONTEXT(s) {
            BOOST_REQUIRE(t.has_error());
            BOOST_TEST((t.error() == fl::error::invalid_retry_after));
        }
    }
}

BOOST_AUTO_TEST_CASE(retry_after_seconds_and_dates) {
    const auto now = rfc_example - 30s;
    BOOST_TEST(fl::parse_retry_after("120", now).value().count() == 120000);
    BOOST_TEST(fl::parse_retry_after("0", now).value().count() == 0);
    BOOST_TEST(fl::parse_retry_after(" 1.5 ", now).value().count() == 1500);
    BOOST_TEST(fl::parse_retry_after("0.0001", now).value().count() == 1); // never early
    BOOST_TEST(fl::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now).value().count() ==
               30000);
    // A date in the past means "now".
    BOOST_TEST(
        fl::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", rfc_example + 1h).value().count() ==
        0);
    // Hostile values saturate instead of overflowing.
    BOOST_TEST(fl::parse_retry_after("99999999", now).value().count() == 99999999000);
    BOOST_TEST(
        (fl::parse_retry_after("99999999999999999999999999", now).value() == milliseconds::max()));
    for (const char* bad : {"-1", "+5", "1e3", "soon", "1.", ".5", "5 s", "0x10", ""}) {
        auto r = fl::parse_retry_after(bad, now);
        BOOST_TEST_CONTEXT(bad) {
            BOOST_REQUIRE(r.has_error());
            BOOST_TEST((r.error() == fl::error::invalid_retry_after));
        }
    }
}

BOOST_AUTO_TEST_CASE(retry_after_ms) {
    BOOST_TEST(fl::parse_retry_after_ms("1500").value().count() == 1500);
    BOOST_TEST(fl::parse_retry_after_ms("1500.2").value().count() == 1501);
    BOOST_TEST(fl::parse_retry_after_ms("0").value().count() == 0);
    for (const char* bad : {"-20", "abc", "", "1,5"})
        BOOST_TEST(fl::parse_retry_after_ms(bad).has_error(), bad);
}

BOOST_AUTO_TEST_CASE(go_and_protobuf_durations) {
    struct row {
        const char* text;
        long long ms;
    };
    const row rows[] = {{"6m0s", 360000},
                        {"1.5s", 1500},
                        {"20ms", 20},
                        {"1h2m3s", 3723000},
                        {"0s", 0},
                        {"0", 0},
                        {"250us", 1},
                        {"1ns", 1},
                        {"30s", 30000},
                        {"0.5s", 500},
                        {"1.000340012s", 1001},
                        {"2h", 7200000},
                        {"7m12.5s", 432500},
                        {"1\xC2\xB5s", 1},
                        {"17ms", 17}};
    for (const auto& r : rows) {
        auto d = fl::parse_duration(r.text);
        BOOST_TEST_CONTEXT(r.text) {
            BOOST_REQUIRE(d.has_value());
            BOOST_TEST(d.value().count() == r.ms);
        }
    }
    for (const char* bad :
         {"", "-1s", "1", "s", "1x", "1.s", "1h-2m", "ms", "1 s", "1..5s", "h1"}) {
        auto d = fl::parse_duration(bad);
        BOOST_TEST_CONTEXT(bad) {
            BOOST_REQUIRE(d.has_error());
            BOOST_TEST((d.error() == fl::error::invalid_duration));
        }
    }
    BOOST_TEST((fl::parse_duration("99999999999999999999h").value() == milliseconds::max()));
}

BOOST_AUTO_TEST_CASE(sources_in_order_and_capped) {
    fl::retry_after_options o;
    o.now = rfc_example;
    fl::retry_hints h;
    BOOST_TEST(!fl::retry_after_from(h, o).has_value());

    h.reset_requests = "6m0s";
    h.reset_tokens = "1.5s";
    BOOST_TEST(fl::retry_after_from(h, o).value().count() == 360000); // neither exhausted: longer
    h.remaining_tokens = "0";
    h.remaining_requests = "12";
    BOOST_TEST(fl::retry_after_from(h, o).value().count() == 1500); // the exhausted one
    o.use_reset_headers = false;
    BOOST_TEST(!fl::retry_after_from(h, o).has_value());
    o.use_reset_headers = true;

    h.body_retry_delay = "38s";
    BOOST_TEST(fl::retry_after_from(h, o).value().count() == 38000);
    h.retry_after = "7";
    BOOST_TEST(fl::retry_after_from(h, o).value().count() == 7000);
    h.retry_after_ms = "250";
    BOOST_TEST(fl::retry_after_from(h, o).value().count() == 250);
    // Garbage in one source: the next one decides.
    h.retry_after_ms = "soon";
    BOOST_TEST(fl::retry_after_from(h, o).value().count() == 7000);
    // Capped.
    h.retry_after = "99999999";
    BOOST_TEST((fl::retry_after_from(h, o).value() == hours(24)));
    o.max = 30s;
    BOOST_TEST((fl::retry_after_from(h, o).value() == 30s));
}

BOOST_AUTO_TEST_CASE(collects_from_any_header_container) {
    const std::vector<std::pair<std::string, std::string>> v{
        {"Retry-After", "3"}, {"X-RateLimit-Reset-Tokens", "20ms"}, {"content-type", "x"}};
    const auto h = fl::collect_retry_hints(v);
    BOOST_TEST(h.retry_after == "3");
    BOOST_TEST(h.reset_tokens == "20ms");
    const std::map<std::string, std::string> m{{"RETRY-AFTER-MS", "10"}};
    BOOST_TEST(fl::collect_retry_hints(m).retry_after_ms == "10");
    BOOST_TEST(fl::collect_retry_hints(fl::no_headers{}).retry_after.empty());
}

BOOST_AUTO_TEST_SUITE_END()

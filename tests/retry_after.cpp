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
            BOOST_TEST((t.error() == fl::parse_error::invalid_retry_after));
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
            BOOST_TEST((r.error() == fl::parse_error::invalid_retry_after));
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
            BOOST_TEST((d.error() == fl::parse_error::invalid_duration));
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

// Regression: an HTTP-date after 2262 overflowed system_clock's nanoseconds into the past, so
// `Retry-After: Fri, 31 Dec 9999 23:59:59 GMT` meant "retry now" instead of a capped wait.
BOOST_AUTO_TEST_CASE(http_dates_after_2262_saturate_instead_of_wrapping_into_the_past) {
    const auto now = rfc_example;
    const auto far = fl::parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now);
    BOOST_REQUIRE(far.has_value());
    const auto expected_s =
        (sys_seconds{sys_days{9999y / December / 31}} + 23h + 59min + 59s) - floor<seconds>(now);
    BOOST_TEST(far.value().count() == expected_s.count() * 1000);
    BOOST_TEST((fl::parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT").value() ==
                system_clock::time_point::max()));
    // The first second past system_clock's range, and the asctime and RFC 850 forms.
    BOOST_TEST(fl::parse_retry_after("Tue, 12 Apr 2262 00:00:00 GMT", now).value() > 0ms);
    BOOST_TEST(fl::parse_retry_after("Tue Apr 12 00:00:00 2262", now).value() > 0ms);
    // Before system_clock's range: the past, 0 ms, and the earliest time point.
    BOOST_TEST(fl::parse_retry_after("Mon Jan  1 00:00:00 0001", now).value().count() == 0);
    BOOST_TEST((fl::parse_http_date("Mon Jan  1 00:00:00 0001").value() ==
                system_clock::time_point::min()));
    // And the cap applies, as to every other huge hint.
    fl::retry_hints h;
    h.retry_after = "Fri, 31 Dec 9999 23:59:59 GMT";
    fl::retry_after_options o;
    o.now = now;
    BOOST_TEST((fl::retry_after_from(h, o).value() == hours(24)));
}

BOOST_AUTO_TEST_CASE(rfc3339_reset_times) {
    const auto now = system_clock::time_point(sys_days{2026y / October / 21} + 7h + 27min + 30s);
    struct row {
        const char* text;
        long long ms;
    };
    const row rows[] = {{"2026-10-21T07:28:00Z", 30000},
                        {"2026-10-21t07:28:00z", 30000},
                        {"2026-10-21 07:28:00Z", 30000},
                        {"2026-10-21T07:27:30.0001Z", 1}, // rounded up, never early
                        {"2026-10-21T07:27:30.000000000001Z", 1},
                        {"2026-10-21T07:27:42.5Z", 12500},
                        {"2026-10-21T08:28:00+01:00", 30000},
                        {"2026-10-21T06:28:00-01:00", 30000},
                        {"2026-10-21T07:27:30Z", 0},
                        {"2026-10-21T07:00:00Z", 0}, // the past is now
                        {" 2026-10-21T07:28:00Z ", 30000}};
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.text) {
            const auto d = fl::parse_rfc3339_delay(r.text, now);
            BOOST_REQUIRE(d.has_value());
            BOOST_TEST(d.value().count() == r.ms);
        }
    }
    // Far beyond system_clock's range: a long wait, not the past.
    BOOST_TEST(fl::parse_rfc3339_delay("9999-12-31T23:59:59Z", now).value() > hours(24 * 365));
    for (const char* bad :
         {"", "2026-10-21", "2026-10-21T07:28:00", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
          "2026-10-21T24:00:00Z", "2026-10-21T07:28:00+0100", "2026-10-21T07:28:00+24:00",
          "2026-10-21T07:28:00.Z", "2026-10-21T07:28:00ZZ", "Wed, 21 Oct 2026 07:28:00 GMT",
          "2026-1-21T07:28:00Z", "+2026-10-21T07:28:00Z"}) {
        BOOST_TEST_CONTEXT(bad) {
            const auto d = fl::parse_rfc3339_delay(bad, now);
            BOOST_REQUIRE(d.has_error());
            BOOST_TEST((d.error() == fl::parse_error::invalid_retry_after));
        }
    }
}

BOOST_AUTO_TEST_CASE(retry_hints_in_messages) {
    struct row {
        const char* message;
        const char* delay;
    };
    // Messages from OpenAI and Gemini 429s quoted in GitHub issues (see tests/classify.cpp).
    const row rows[] = {
        {"Limit 10000, Used 8554, Requested 3082. Please try again in 9.816s. Visit", "9.816s"},
        {"Limit: 10000 / min. Please try again in 6ms. Visit", "6ms"},
        {"Requested 1. Please try again in 7m12s. Visit", "7m12s"},
        {"Requested 1. Please try again in 1m26.4s. Visit", "1m26.4s"},
        {"model: gemini-3-flash\nPlease retry in 58.217843437s.", "58.217843437s"},
        {"PLEASE TRY AGAIN IN 20MS", "20MS"},
        {"Please try again in 6m0s", "6m0s"},
        {"Please try again later.", ""},
        {"Please try again in a few minutes. Or retry in 3s.", "3s"},
        {"retry in", ""},
        {"", ""}};
    for (const auto& r : rows)
        BOOST_TEST(fl::find_message_retry_delay(r.message) == r.delay, r.message);
    // A hint parse_duration rejects is no hint: "20MS" is not a Go duration.
    fl::retry_hints h;
    h.message_retry_delay = "20MS";
    BOOST_TEST(!fl::retry_after_from(h, {}).has_value());
    h.message_retry_delay = "1.4s";
    BOOST_TEST(fl::retry_after_from(h, {}).value().count() == 1400);
    // Any header beats it.
    h.reset_tokens = "20ms";
    BOOST_TEST(fl::retry_after_from(h, {}).value().count() == 20);
}

BOOST_AUTO_TEST_CASE(anthropic_reset_headers) {
    fl::retry_after_options o;
    o.now = system_clock::time_point(sys_days{2026y / October / 21} + 7h + 27min + 30s);
    // docs.anthropic.com/en/api/rate-limits: requests, tokens, input-tokens, output-tokens,
    // each with -limit, -remaining and -reset (RFC 3339).
    const std::vector<std::pair<std::string, std::string>> v{
        {"anthropic-ratelimit-requests-limit", "4000"},
        {"anthropic-ratelimit-requests-remaining", "3201"},
        {"anthropic-ratelimit-requests-reset", "2026-10-21T07:28:00Z"},
        {"Anthropic-RateLimit-Output-Tokens-Remaining", "0"},
        {"Anthropic-RateLimit-Output-Tokens-Reset", "2026-10-21T07:27:35Z"},
        {"anthropic-ratelimit-tokens-reset", "2026-10-21T07:27:33Z"},
        {"anthropic-ratelimit-input-tokens-reset", "not a time"},
        {"anthropic-ratelimit-unified-reset", "1765944000"}};
    const auto h = fl::collect_retry_hints(v);
    BOOST_TEST(h.anthropic_reset[0] == "2026-10-21T07:28:00Z");
    BOOST_TEST(h.anthropic_remaining[0] == "3201");
    BOOST_TEST(h.anthropic_reset[1] == "2026-10-21T07:27:33Z");
    BOOST_TEST(h.anthropic_reset[2] == "not a time");
    BOOST_TEST(h.anthropic_remaining[3] == "0");
    // The exhausted window (output tokens) decides, not the longer requests window.
    BOOST_TEST(fl::retry_after_from(h, o).value().count() == 5000);
    // Nothing exhausted: the longest valid reset.
    auto none = h;
    none.anthropic_remaining[3] = "12";
    BOOST_TEST(fl::retry_after_from(none, o).value().count() == 30000);
    // Exhausted windows across providers: the longest of them.
    auto mixed = h;
    mixed.reset_tokens = "9s";
    mixed.remaining_tokens = "0";
    BOOST_TEST(fl::retry_after_from(mixed, o).value().count() == 9000);
    o.use_reset_headers = false;
    BOOST_TEST(!fl::retry_after_from(h, o).has_value());
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

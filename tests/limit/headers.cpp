#include <faultline/limit/headers.hpp>

#include <faultline/retry_after.hpp>

#include "header_value.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

namespace fl = faultline;
namespace lim = faultline::limit;
using namespace std::chrono_literals;

using faultline_test::find;

BOOST_AUTO_TEST_SUITE(headers)

BOOST_AUTO_TEST_CASE(go_durations_as_openai_sends_them) {
    const std::pair<std::chrono::nanoseconds, std::string_view> cases[] = {
        {0ns, "0s"},
        {-5s, "0s"},
        {1ns, "1ms"},
        {20ms, "20ms"},
        {19'000'001ns, "20ms"},
        {999ms, "999ms"},
        {1s, "1s"},
        {1500ms, "1.5s"},
        {1050ms, "1.05s"},
        {1001ms, "1.001s"},
        {59s, "59s"},
        {60s, "1m0s"},
        {6min, "6m0s"},
        {6min + 500ms, "6m0.5s"},
        {1h, "1h0m0s"},
        {3723s, "1h2m3s"},
        {100h, "100h0m0s"},
    };
    for (const auto& [d, text] : cases) {
        BOOST_TEST(lim::go_duration(d) == text);
        // What the client side of faultline parses back: never shorter than the wait.
        const auto parsed = fl::parse_duration(lim::go_duration(d));
        BOOST_TEST(parsed.has_value());
        BOOST_TEST(parsed.value() >= d);
    }
}

BOOST_AUTO_TEST_CASE(retry_after_is_whole_seconds_and_never_zero) {
    BOOST_TEST(lim::retry_after_seconds(0ns) == 1u);
    BOOST_TEST(lim::retry_after_seconds(1ns) == 1u);
    BOOST_TEST(lim::retry_after_seconds(1s) == 1u);
    BOOST_TEST(lim::retry_after_seconds(1s + 1ns) == 2u);
    BOOST_TEST(lim::retry_after_seconds(59'500ms) == 60u);
}

BOOST_AUTO_TEST_CASE(retry_after_headers_round_up_both_units) {
    struct row {
        std::chrono::nanoseconds wait;
        std::string seconds, millis;
    };
    const row rows[] = {{0ns, "1", "1"},      {1ns, "1", "1"},
                        {480ms, "1", "480"},  {480ms + 1ns, "1", "481"},
                        {30s, "30", "30000"}, {29'999'000'001ns, "30", "30000"},
                        {-5s, "1", "1"},      {2h, "7200", "7200000"}};
    for (const row& r : rows) {
        const auto h = lim::retry_after_headers(r.wait);
        BOOST_TEST_REQUIRE(h.size() == 2u);
        BOOST_TEST(h[0].first == "retry-after");
        BOOST_TEST(h[0].second == r.seconds);
        BOOST_TEST(h[1].first == "retry-after-ms");
        BOOST_TEST(h[1].second == r.millis);
    }
}

BOOST_AUTO_TEST_CASE(the_x_ratelimit_set) {
    lim::decision rq{true, 0ns, 60, 59, 1s, {}};
    lim::decision tk{true, 0ns, 150'000, 149'000, 400ms, {}};
    const auto hs = lim::rate_limit_headers(&rq, &tk);
    BOOST_TEST(hs.size() == 6u);
    BOOST_TEST(find(hs, "x-ratelimit-limit-requests") == "60");
    BOOST_TEST(find(hs, "x-ratelimit-remaining-requests") == "59");
    BOOST_TEST(find(hs, "x-ratelimit-reset-requests") == "1s");
    BOOST_TEST(find(hs, "x-ratelimit-limit-tokens") == "150000");
    BOOST_TEST(find(hs, "x-ratelimit-remaining-tokens") == "149000");
    BOOST_TEST(find(hs, "x-ratelimit-reset-tokens") == "400ms");
    BOOST_TEST(lim::rate_limit_headers(nullptr, &tk).size() == 3u);
    BOOST_TEST(lim::rate_limit_headers(nullptr, nullptr).empty());
}

BOOST_AUTO_TEST_SUITE_END()

#include <faultline/limit/headers.hpp>

#include <faultline/retry_after.hpp>

#include "header_value.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

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
        {999'999'999ns, "1s"},
        {59'999'000'001ns, "1m0s"},
        // The longest there is: rounded up, and every digit there.
        {std::chrono::nanoseconds::max(), "2562047h47m16.855s"},
        {std::chrono::nanoseconds::min(), "0s"},
    };
    for (const auto& [d, text] : cases) {
        BOOST_TEST(lim::go_duration(d) == text);
        BOOST_TEST(text.size() <= fl::detail::go_duration_size);
        // What the client side of faultline parses back: never shorter than the wait.
        const auto parsed = fl::parse_duration(lim::go_duration(d));
        BOOST_TEST(parsed.has_value());
        // (In whole milliseconds: the longest there is has no room for more in nanoseconds.)
        BOOST_TEST(parsed.value() >= std::chrono::ceil<std::chrono::milliseconds>(d));
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

// The visitor and the vector say the same, in the same order, up to the largest values a
// decision can hold (every digit, nothing cut off).
BOOST_AUTO_TEST_CASE(the_x_ratelimit_set_visited_without_a_copy) {
    constexpr auto most = std::numeric_limits<std::uint64_t>::max();
    const lim::decision decisions[] = {
        {true, 0ns, 60, 59, 1s, {}},
        {true, 0ns, most, most, std::chrono::nanoseconds::max(), {}},
        {false, 5s, 0, 0, -1s, {}},
        {true, 0ns, 1, 0, 1ns, {}},
    };
    for (const lim::decision& rq : decisions)
        for (const lim::decision& tk : decisions)
            for (int which = 0; which < 4; ++which) {
                const lim::decision* r = which & 1 ? &rq : nullptr;
                const lim::decision* t = which & 2 ? &tk : nullptr;
                std::vector<fl::header> visited;
                lim::for_each_rate_limit_header(r, t, [&](std::string_view n, std::string_view v) {
                    visited.emplace_back(std::string(n), std::string(v));
                });
                BOOST_TEST((visited == lim::rate_limit_headers(r, t)));
                BOOST_TEST(visited.size() == std::size_t((r ? 3 : 0) + (t ? 3 : 0)));
            }
    std::vector<fl::header> extreme;
    const lim::decision& big = decisions[1];
    lim::for_each_rate_limit_header(&big, &big, [&](std::string_view n, std::string_view v) {
        extreme.emplace_back(std::string(n), std::string(v));
    });
    BOOST_TEST(find(extreme, "x-ratelimit-limit-requests") == "18446744073709551615");
    BOOST_TEST(find(extreme, "x-ratelimit-remaining-tokens") == "18446744073709551615");
    BOOST_TEST(find(extreme, "x-ratelimit-reset-tokens") == "2562047h47m16.855s");
}

BOOST_AUTO_TEST_SUITE_END()

#include <faultline/limit/keyed.hpp>
#include <faultline/limit/refuse.hpp>

#include <faultline/envelope.hpp>
#include <faultline/retry_after.hpp>

#include "header_value.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

namespace fl = faultline;
namespace lim = faultline::limit;
using namespace std::chrono_literals;

using faultline_test::find;

BOOST_AUTO_TEST_SUITE(refuse)

BOOST_AUTO_TEST_CASE(a_refusal_becomes_a_429_with_its_code) {
    const std::pair<fl::error, std::string_view> codes[] = {
        {fl::error::rpm_exceeded, "rpm_exceeded"},
        {fl::error::tpm_exceeded, "tpm_exceeded"},
        {fl::error::concurrency_exceeded, "concurrency_exceeded"},
    };
    for (const auto& [code, wire] : codes) {
        lim::decision d{false, 1500ms, 60, 0, 6min, code};
        const auto r = lim::refuse(d, &d, nullptr);
        BOOST_TEST(r.status == 429u);
        BOOST_TEST((r.ec == code));
        BOOST_TEST(find(r.headers, "retry-after") == "2");
        BOOST_TEST(find(r.headers, "retry-after-ms") == "1500");
        BOOST_TEST(find(r.headers, "x-ratelimit-reset-requests") == "6m0s");
        BOOST_TEST(find(r.headers, "x-ratelimit-remaining-requests") == "0");
        const auto env = fl::parse_envelope(r.body);
        BOOST_TEST_REQUIRE(env.has_value());
        BOOST_TEST(std::get<std::string>(env.value().code) == wire);
        BOOST_TEST(env.value().type.value() == "rate_limit_error");
        BOOST_TEST(env.value().message.find("1.5s") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(a_tiny_wait_still_says_wait) {
    lim::decision d{false, 1ns, 1, 0, 1ns, fl::error::rpm_exceeded};
    const auto r = lim::refuse(d);
    BOOST_TEST(find(r.headers, "retry-after") == "1");
    BOOST_TEST(find(r.headers, "retry-after-ms") == "1");
    lim::decision zero{false, 0ns, 1, 0, 0ns, {}};
    const auto z = lim::refuse(zero);
    BOOST_TEST((z.ec == fl::error::rate_limited));
    BOOST_TEST(find(z.headers, "retry-after") == "1");
}

BOOST_AUTO_TEST_CASE(an_oversize_request_gets_no_retry_after) {
    lim::decision d{false, std::chrono::nanoseconds::max(), 10, 10,
                    0ns,   fl::error::request_exceeds_burst};
    const auto r = lim::refuse(d);
    BOOST_TEST(r.status == 429u);
    BOOST_TEST(find(r.headers, "retry-after") == "<absent>");
    const auto env = fl::parse_envelope(r.body);
    BOOST_TEST_REQUIRE(env.has_value());
    BOOST_TEST(std::get<std::string>(env.value().code) == "request_too_large");
}

// A keyed limiter at its key cap: a 503 that says what is full and when to come back.
// Regression: it said the shared Redis store could not be reached.
BOOST_AUTO_TEST_CASE(a_full_key_table_is_a_503_that_names_it) {
    lim::keyed_limiter<> k({.defaults = {lim::rate::per_minute(60), 60}, .max_keys = 1});
    const auto now = std::chrono::steady_clock::now();
    BOOST_TEST(k.try_acquire(1, 1, now).admitted);
    const lim::decision d = k.try_acquire(2, 1, now);
    BOOST_TEST_REQUIRE(!d.admitted);
    const auto r = lim::refuse(d);
    BOOST_TEST(r.status == 503u);
    BOOST_TEST((r.ec == fl::error::key_table_full));
    BOOST_TEST(find(r.headers, "retry-after") == "60");
    const auto env = fl::parse_envelope(r.body);
    BOOST_TEST_REQUIRE(env.has_value());
    BOOST_TEST(std::get<std::string>(env.value().code) == "key_table_full");
    // The envelope of a 5xx carries render's generic text; the response's message (for logs
    // and for callers building their own answer) says what is full.
    BOOST_TEST(r.message.find("max_keys") != std::string::npos, r.message);
    BOOST_TEST(r.message.find("Redis") == std::string::npos, r.message);
    BOOST_TEST(fl::is_retryable(r.ec));
}

BOOST_AUTO_TEST_SUITE_END()

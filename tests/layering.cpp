// The retry and limit headers (but limit/refuse.hpp, which renders an envelope) need no
// Boost.JSON: a program that only retries or limits does not pay for it, and a change that
// pulls it in again fails to compile here.

#include <faultline/failure.hpp>
#include <faultline/headers.hpp>
#include <faultline/limit/adaptive.hpp>
#include <faultline/limit/composite.hpp>
#include <faultline/limit/concurrency.hpp>
#include <faultline/limit/decision.hpp>
#include <faultline/limit/headers.hpp>
#include <faultline/limit/keyed.hpp>
#include <faultline/limit/pacer.hpp>
#include <faultline/limit/priority.hpp>
#include <faultline/limit/token_bucket.hpp>
#include <faultline/random.hpp>
#include <faultline/retry/backoff.hpp>
#include <faultline/retry/budget.hpp>
#include <faultline/retry/channel_pool.hpp>
#include <faultline/retry/circuit_breaker.hpp>
#include <faultline/retry/latency_percentile.hpp>
#include <faultline/retry/policy.hpp>
#include <faultline/retry/retry.hpp>

#ifdef BOOST_JSON_DETAIL_CONFIG_HPP
#error "a retry or limit header includes Boost.JSON"
#endif

#include <boost/test/unit_test.hpp>

BOOST_AUTO_TEST_SUITE(layering)

BOOST_AUTO_TEST_CASE(retry_and_limit_headers_compile_without_boost_json) {
    // The check is the #error above; this case makes the translation unit part of the run.
    const faultline::failure f = faultline::to_failure(faultline::error::rpm_exceeded);
    BOOST_TEST(f.retryable);
    BOOST_TEST(faultline::limit::go_duration(std::chrono::milliseconds(1500)) == "1.5s");
}

BOOST_AUTO_TEST_SUITE_END()

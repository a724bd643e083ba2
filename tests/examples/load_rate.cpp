// A short, bounded load run: faultline-loadgen against the gateway on 127.0.0.1 with a key
// limited to 200 requests per second. Offered load far above the limit, so the gateway's token
// bucket decides: the admitted count must match burst + rate x elapsed within 2%. The burst is
// 100 (half a second of tokens): a bucket that runs full loses refill for good, and a bucket of
// one token loses the gap between its refill and the next arrival on every admission; with 100,
// only a client stall of over half a second on a loaded machine could cost admissions.
#include "gateway_fixture.hpp"
#include "loadgen/loadgen.hpp"

#include <boost/test/unit_test.hpp>

using namespace examples_test;
namespace lg = examples::loadgen;

BOOST_AUTO_TEST_SUITE(load_rate)

BOOST_AUTO_TEST_CASE(admitted_rate_matches_the_configured_limit) {
    gw::gateway_config c = test_config();
    constexpr std::uint64_t per_second = 200;
    gw::key_config k;
    k.secret = "sk-load";
    k.id = "load";
    constexpr std::uint64_t burst = 100;
    k.limits.rpm = {per_second * 60, burst};
    c.keys.push_back(k);
    gateway_fixture g(c, clock_kind::real); // the bucket refills in real time here

    lg::options o;
    o.url = examples::parse_base_url(g.url()).value();
    o.api_key = "sk-load";
    o.connections = 4;
    o.duration = 2s;
    o.timeout = 5s;
    const lg::report r = lg::run(o);

    const double seconds = std::chrono::duration<double>(r.elapsed).count();
    const double expected = burst + per_second * seconds;
    BOOST_TEST_MESSAGE("load run: " << r.requests << " requests, " << r.ok << " admitted in "
                                    << seconds << " s (expected " << expected << ")");
    BOOST_TEST_REQUIRE(r.requests > 2 * r.ok); // the offered load really was above the limit
    BOOST_TEST(std::abs(double(r.ok) - expected) / expected <= 0.02);
    BOOST_TEST(r.ok + r.throttled == r.requests); // nothing but 200 and 429
    BOOST_TEST(r.statuses.at(429) == r.throttled);
}

BOOST_AUTO_TEST_SUITE_END()

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

// --pace: the gateway's x-ratelimit-* headers hold the run to the key's 20 requests a second
// (bursts of 4), so none is refused; the same run unpaced on a key like it meets 429s.
BOOST_AUTO_TEST_CASE(a_paced_run_stays_under_the_limit) {
    gw::gateway_config c = test_config();
    gw::key_config k;
    k.secret = "sk-paced";
    k.id = "paced";
    k.limits.rpm = {1200, 4};
    c.keys.push_back(k);
    k.secret = "sk-unpaced";
    k.id = "unpaced";
    c.keys.push_back(k);
    gateway_fixture g(c, clock_kind::real);

    lg::options o;
    o.url = examples::parse_base_url(g.url()).value();
    o.api_key = "sk-paced";
    o.connections = 2;
    o.requests = 20;
    o.timeout = 5s;
    o.pace = true;
    const lg::report paced = lg::run(o);
    BOOST_TEST(paced.ok == 20u);
    BOOST_TEST(paced.throttled == 0u);
    BOOST_TEST(paced.pacing_wait.count() == 20u);
    BOOST_TEST(paced.pacing_wait.max() > 0ns); // the limit was reached, and waited for
    const boost::json::object j = lg::to_json(paced);
    BOOST_TEST(j.at("config").at("pace").as_bool());
    BOOST_TEST(j.at("pacing_wait_ms").at("count").to_number<std::uint64_t>() == 20u);
    BOOST_TEST(lg::summary(paced).find("  paced        ") != std::string::npos);

    o.api_key = "sk-unpaced";
    o.pace = false;
    const lg::report unpaced = lg::run(o);
    BOOST_TEST(unpaced.throttled >= 1u);
    BOOST_TEST(unpaced.pacing_wait.count() == 0u);
    BOOST_TEST(lg::to_json(unpaced).at("pacing_wait_ms").is_null());
}

BOOST_AUTO_TEST_SUITE_END()

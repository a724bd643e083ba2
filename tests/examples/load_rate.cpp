// A bounded load run: faultline-loadgen against the gateway on 127.0.0.1 with a key limited to
// 200 requests per second in bursts of 100. The gateway's limits run on the fixture's manual
// clock, so what the token bucket admits is exact whatever the machine's speed: the burst while
// time stands still, rate x elapsed after the clock moves, never more than the burst after a long
// pause, and every refusal a 429.
#include "gateway_fixture.hpp"
#include "loadgen/loadgen.hpp"

#include <boost/test/unit_test.hpp>

using namespace examples_test;
namespace lg = examples::loadgen;

BOOST_AUTO_TEST_SUITE(load_rate)

BOOST_AUTO_TEST_CASE(admitted_count_matches_the_configured_limit) {
    gw::gateway_config c = test_config();
    constexpr std::uint64_t per_second = 200; // one request every 5 ms
    constexpr std::uint64_t burst = 100;
    gw::key_config k;
    k.secret = "sk-load";
    k.id = "load";
    k.limits.rpm = {per_second * 60, burst};
    c.keys.push_back(k);
    gateway_fixture g(c);

    lg::options o;
    o.url = examples::parse_base_url(g.url()).value();
    o.api_key = "sk-load";
    o.connections = 4;
    o.requests = 300; // offered load: three times what any step below can admit
    o.timeout = 5s;
    const auto run = [&](std::uint64_t admitted) {
        const lg::report r = lg::run(o);
        BOOST_TEST(r.requests == 300u);
        BOOST_TEST(r.ok == admitted);
        BOOST_TEST(r.throttled == 300 - admitted); // nothing but 200 and 429
        BOOST_TEST(r.statuses.at(429) == r.throttled);
    };
    run(burst);       // time stands still: the burst, then refusals
    g.advance(250ms); // 250 ms at 5 ms a request
    run(50);
    g.advance(10s); // a long pause refills to the burst, not beyond
    run(burst);
}

// --pace: the gateway's x-ratelimit-* headers hold the run to the key's 4 requests a second
// (bursts of 4), so none is refused; the same run unpaced on a key like it meets 429s. The
// bucket refills in real time, slowly enough that only requests taking a quarter of a second
// each could change the outcome.
BOOST_AUTO_TEST_CASE(a_paced_run_stays_under_the_limit) {
    gw::gateway_config c = test_config();
    gw::key_config k;
    k.secret = "sk-paced";
    k.id = "paced";
    k.limits.rpm = {240, 4};
    c.keys.push_back(k);
    k.secret = "sk-unpaced";
    k.id = "unpaced";
    c.keys.push_back(k);
    gateway_fixture g(c, clock_kind::real);

    lg::options o;
    o.url = examples::parse_base_url(g.url()).value();
    o.api_key = "sk-paced";
    o.connections = 2;
    o.requests = 12;
    o.timeout = 5s;
    o.pace = true;
    const lg::report paced = lg::run(o);
    BOOST_TEST(paced.ok == 12u);
    BOOST_TEST(paced.throttled == 0u);
    BOOST_TEST(paced.pacing_wait.count() == 12u);
    BOOST_TEST(paced.pacing_wait.max() > 0ns); // the limit was reached, and waited for
    const boost::json::object j = lg::to_json(paced);
    BOOST_TEST(j.at("config").at("pace").as_bool());
    BOOST_TEST(j.at("pacing_wait_ms").at("count").to_number<std::uint64_t>() == 12u);
    BOOST_TEST(lg::summary(paced).find("  paced        ") != std::string::npos);

    o.api_key = "sk-unpaced";
    o.pace = false;
    const lg::report unpaced = lg::run(o);
    BOOST_TEST(unpaced.throttled >= 1u);
    BOOST_TEST(unpaced.pacing_wait.count() == 0u);
    BOOST_TEST(lg::to_json(unpaced).at("pacing_wait_ms").is_null());
}

BOOST_AUTO_TEST_SUITE_END()

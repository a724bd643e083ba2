#include <faultline/limit/composite.hpp>

#include "manual_clock.hpp"

#include <boost/test/unit_test.hpp>

namespace fl = faultline;
namespace lim = faultline::limit;
using faultline_test::at;
using faultline_test::manual_clock;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(composite)

struct levels {
    lim::keyed_limiter<manual_clock> token_rpm{
        {.defaults = {lim::rate::per_minute(60), 5, lim::initial_fill::full,
                      fl::error::rpm_exceeded}},
        at(0s)};
    lim::keyed_limiter<manual_clock> token_tpm{
        {.defaults = {lim::rate::per_minute(6'000), 1'000, lim::initial_fill::full,
                      fl::error::tpm_exceeded}},
        at(0s)};
    lim::keyed_limiter<manual_clock> user_rpm{
        {.defaults = {lim::rate::per_minute(60), 3, lim::initial_fill::full,
                      fl::error::rpm_exceeded}},
        at(0s)};
    lim::token_bucket<manual_clock> upstream_rpm{
        {lim::rate::per_second(10), 100, lim::initial_fill::full, fl::error::rpm_exceeded}, at(0s)};

    auto acquire(std::uint64_t token, std::uint64_t user, std::uint64_t tokens,
                 manual_clock::time_point now) {
        return lim::acquire_all(now, lim::level(token_rpm, token),
                                lim::level(token_tpm, token, tokens), lim::level(user_rpm, user),
                                lim::level(upstream_rpm));
    }
};

BOOST_AUTO_TEST_CASE(admits_at_every_level) {
    levels l;
    const auto d = l.acquire(1, 7, 400, at(0s));
    BOOST_TEST(d.admitted);
    BOOST_TEST(d.refused == 4u);
    BOOST_TEST(d.retry_after == 0ns);
    BOOST_TEST(d.levels[0].remaining == 4u);
    BOOST_TEST(d.levels[1].remaining == 600u);
    BOOST_TEST(d.levels[2].remaining == 2u);
    BOOST_TEST(d.levels[3].remaining == 99u);
}

BOOST_AUTO_TEST_CASE(a_refusal_consumes_nothing_anywhere) {
    levels l;
    BOOST_TEST(l.acquire(1, 7, 800, at(0s)).admitted);
    // The token's TPM refuses 300 more: the token RPM must get its request back.
    const auto d = l.acquire(1, 7, 300, at(0s));
    BOOST_TEST(!d.admitted);
    BOOST_TEST(d.refused == 1u);
    BOOST_TEST((d.refusal().ec == fl::error::tpm_exceeded));
    BOOST_TEST(d.retry_after == 1s); // 100 tokens at 100/s
    BOOST_TEST(l.token_rpm.peek(1, 1, at(0s)).remaining == 3u);
    BOOST_TEST(l.user_rpm.peek(7, 1, at(0s)).remaining == 1u);
    BOOST_TEST(l.upstream_rpm.available(at(0s)) == 99u);
    BOOST_TEST(l.token_tpm.peek(1, 1, at(0s)).remaining == 199u);
}

BOOST_AUTO_TEST_CASE(a_late_refusal_rolls_back_every_earlier_level) {
    levels l;
    // Exhaust the user level through other tokens.
    for (std::uint64_t t = 10; t < 13; ++t)
        BOOST_TEST(l.acquire(t, 7, 10, at(0s)).admitted);
    const auto d = l.acquire(1, 7, 500, at(0s));
    BOOST_TEST(!d.admitted);
    BOOST_TEST(d.refused == 2u);
    BOOST_TEST((d.refusal().ec == fl::error::rpm_exceeded));
    BOOST_TEST(d.retry_after == 1s);
    BOOST_TEST(d.levels[3].admitted);     // what the upstream would have said
    BOOST_TEST(l.token_rpm.size() == 3u); // token 1 left no trace: it is full again
    BOOST_TEST(l.token_tpm.peek(1, 1'000, at(0s)).admitted);
    BOOST_TEST(l.upstream_rpm.available(at(0s)) == 97u);
}

BOOST_AUTO_TEST_CASE(the_wait_covers_every_level_that_would_refuse) {
    levels l;
    BOOST_TEST(l.acquire(1, 7, 1'000, at(0s)).admitted);
    for (int i = 0; i < 2; ++i)
        BOOST_TEST(l.acquire(2, 7, 1, at(0s)).admitted);
    // Token 1 has no TPM left (10 s for 1000) and user 7 no RPM left (1 s).
    const auto d = l.acquire(1, 7, 1'000, at(0s));
    BOOST_TEST(d.refused == 1u);
    BOOST_TEST(d.retry_after == 10s);
    BOOST_TEST(!d.levels[2].admitted);
    const auto e =
        lim::acquire_all(at(0s), lim::level(l.user_rpm, 7), lim::level(l.token_tpm, 1, 1'000));
    BOOST_TEST(e.refused == 0u);
    BOOST_TEST(e.retry_after == 10s);
}

BOOST_AUTO_TEST_CASE(an_oversize_request_is_reported_by_its_level) {
    levels l;
    const auto d = l.acquire(1, 7, 5'000, at(0s));
    BOOST_TEST(d.refused == 1u);
    BOOST_TEST((d.refusal().ec == fl::error::request_exceeds_burst));
    BOOST_TEST(l.token_rpm.peek(1, 1, at(0s)).remaining == 4u);
}

BOOST_AUTO_TEST_SUITE_END()

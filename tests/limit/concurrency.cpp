#include <faultline/limit/concurrency.hpp>

#include <boost/test/unit_test.hpp>

#include <utility>
#include <vector>

namespace fl = faultline;
namespace lim = faultline::limit;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(concurrency)

BOOST_AUTO_TEST_CASE(permits_are_bounded_and_returned_by_raii) {
    lim::concurrency_limiter c(2);
    {
        auto a = c.try_acquire();
        BOOST_TEST(static_cast<bool>(a));
        BOOST_TEST(a.result().remaining == 1u);
        auto b = c.try_acquire();
        BOOST_TEST(static_cast<bool>(b));
        auto x = c.try_acquire();
        BOOST_TEST(!x);
        BOOST_TEST((x.result().ec == fl::error::concurrency_exceeded));
        BOOST_TEST(x.result().retry_after == 1s);
        BOOST_TEST(x.result().limit == 2u);
        BOOST_TEST(c.in_flight() == 2u);
        a.release();
        a.release(); // idempotent
        BOOST_TEST(c.in_flight() == 1u);
        auto moved = std::move(b);
        BOOST_TEST(!b);
        BOOST_TEST(c.in_flight() == 1u);
    }
    BOOST_TEST(c.in_flight() == 0u);
    lim::permit p;
    p = c.try_acquire();
    p = c.try_acquire(); // the first is returned by the assignment
    BOOST_TEST(c.in_flight() == 1u);
    lim::concurrency_limiter none(0);
    BOOST_TEST(!none.try_acquire());
}

BOOST_AUTO_TEST_CASE(per_key_permits) {
    lim::keyed_concurrency_limiter c(1, 2s);
    auto a = c.try_acquire(1);
    BOOST_TEST(static_cast<bool>(a));
    const auto refused = c.try_acquire(1);
    BOOST_TEST(!refused);
    BOOST_TEST(refused.result().retry_after == 2s);
    auto b = c.try_acquire(2);
    BOOST_TEST(static_cast<bool>(b));
    BOOST_TEST(c.active_keys() == 2u);
    c.set_override(1, 3);
    std::vector<lim::permit> more;
    for (int i = 0; i < 2; ++i)
        more.push_back(c.try_acquire(1));
    BOOST_TEST(static_cast<bool>(more[1]));
    BOOST_TEST(!c.try_acquire(1));
    BOOST_TEST(c.in_flight(1) == 3u);
    more.clear();
    a.release();
    b.release();
    BOOST_TEST(c.in_flight(1) == 0u);
    BOOST_TEST(c.active_keys() == 0u); // no memory kept for idle keys
    c.clear_override(1);
    auto again = c.try_acquire(1);
    BOOST_TEST(!c.try_acquire(1));
}

BOOST_AUTO_TEST_SUITE_END()

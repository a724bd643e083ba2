#include <faultline/result.hpp>

#include <boost/test/unit_test.hpp>

namespace fl = faultline;

namespace {

fl::result<int> half(int x) {
    if (x % 2) return fl::error::invalid_request;
    return x / 2;
}

fl::result<int> quarter(int x) {
    FAULTLINE_TRY(auto h, half(x));
    return half(h);
}

} // namespace

BOOST_AUTO_TEST_SUITE(result)

BOOST_AUTO_TEST_CASE(try_propagates_the_error_code) {
    BOOST_TEST(quarter(8).value() == 2);
    auto r = quarter(6);
    BOOST_REQUIRE(r.has_error());
    BOOST_TEST((r.error() == fl::error::invalid_request));
    BOOST_TEST((r.error() == fl::category::invalid_request));
    BOOST_CHECK_THROW((void)r.value(), std::system_error);
}

BOOST_AUTO_TEST_SUITE_END()

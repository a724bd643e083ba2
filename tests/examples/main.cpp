// The one translation unit of the examples' test binary that defines its test module.
#define BOOST_TEST_MODULE faultline_examples
#include <boost/test/unit_test.hpp>

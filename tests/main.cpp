// The one translation unit that defines the test module; every other test file only adds cases.
#define BOOST_TEST_MODULE faultline
#include <boost/test/unit_test.hpp>

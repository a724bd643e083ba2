// examples/common/json.hpp: doubles as plain decimals, everything else as Boost.JSON writes it.
#include "common/json.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <charconv>
#include <cmath>
#include <limits>
#include <string>

namespace json = boost::json;

BOOST_AUTO_TEST_SUITE(examples_plain_json)

BOOST_AUTO_TEST_CASE(doubles_are_plain_shortest_decimals) {
    struct row {
        double value;
        std::string text;
    };
    const row rows[] = {
        {478.968, "478.968"},
        {499.106, "499.106"},
        {1e-7, "0.0000001"},
        {1e21, "1000000000000000000000"},
        {0.1, "0.1"},
        {-0.0, "-0"},
        {0.0, "0"},
        {5.0, "5"},
        {-250.0, "-250"},
        {1e15, "1000000000000000"},
        {123456.789, "123456.789"},
        {-3.25, "-3.25"},
        {0.30000000000000004, "0.30000000000000004"},
    };
    for (const row& r : rows) {
        const std::string out = examples::to_plain_json(json::value(r.value));
        BOOST_TEST(out == r.text);
        BOOST_TEST(out.find_first_of("eE") == std::string::npos);
        // Reads back as the same double (or, when whole, the same number).
        BOOST_TEST(json::parse(out).to_number<double>() == r.value);
    }
}

BOOST_AUTO_TEST_CASE(extreme_doubles_round_trip_without_exponents) {
    for (const double d :
         {std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(),
          std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::min(),
          -std::numeric_limits<double>::denorm_min()}) {
        const std::string out = examples::to_plain_json(json::value(d));
        BOOST_TEST(out.find_first_of("eE") == std::string::npos);
        // Boost.JSON 1.81's parser is not exact for 300-digit numbers: read back with from_chars.
        double back = 0;
        const auto r = std::from_chars(out.data(), out.data() + out.size(), back);
        BOOST_TEST((r.ec == std::errc() && r.ptr == out.data() + out.size()));
        BOOST_TEST(back == d);
    }
}

BOOST_AUTO_TEST_CASE(non_finite_doubles_are_null) {
    for (const double d :
         {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
          std::numeric_limits<double>::quiet_NaN()})
        BOOST_TEST(examples::to_plain_json(json::value(d)) == "null");
}

BOOST_AUTO_TEST_CASE(everything_else_as_boost_json_writes_it) {
    json::object o;
    o["p50_ms"] = 478.968;
    o["count"] = 3;
    o["big"] = std::uint64_t(18446744073709551615u);
    o["neg"] = std::int64_t(-9223372036854775807 - 1);
    o["ok"] = true;
    o["none"] = nullptr;
    o["text"] = "quote \" backslash \\ newline \n tab \t ctrl \x01 é";
    o["k\"ey"] = json::array{1.5, 2, json::object{{"x", 1e-7}}, json::array{}};
    o["empty"] = json::object{};
    const std::string out = examples::to_plain_json(o);
    BOOST_TEST(out == "{\"p50_ms\":478.968,\"count\":3,\"big\":18446744073709551615,"
                      "\"neg\":-9223372036854775808,\"ok\":true,\"none\":null,"
                      "\"text\":\"quote \\\" backslash \\\\ newline \\n tab \\t ctrl \\u0001 é\","
                      "\"k\\\"ey\":[1.5,2,{\"x\":0.0000001},[]],\"empty\":{}}");
    // The same document as Boost.JSON's serializer, apart from how doubles are spelt.
    BOOST_TEST(json::parse(out) == json::value(o));
}

BOOST_AUTO_TEST_SUITE_END()

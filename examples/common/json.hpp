#ifndef FAULTLINE_EXAMPLES_COMMON_JSON_HPP
#define FAULTLINE_EXAMPLES_COMMON_JSON_HPP

// The JSON the programs print: Boost.JSON's serializer, except that numbers held as doubles
// are written as plain decimals ("478.968", "0.0000001") where Boost.JSON writes exponents
// ("4.78968E2"). Not part of faultline's API.
//
//     boost::json::object o;
//     o["p50_ms"] = 478.968;
//     std::puts(examples::to_plain_json(o).c_str()); // {"p50_ms":478.968}
//
// Doubles are the shortest decimal that reads back as the same double (std::to_chars, fixed
// notation), so nothing is rounded; a whole double prints without a fraction ("5"), and -0.0
// as "-0". JSON has no infinity or NaN: those print as null. Strings, keys, integers, booleans
// and null are Boost.JSON's own output. Thread-safe.

#include <boost/json/value.hpp>

#include <string>

namespace examples {

/// Appends `v` as JSON to `out`, doubles as plain decimals.
void append_plain_json(std::string& out, const boost::json::value& v);

/// `v` as JSON, doubles as plain decimals.
[[nodiscard]] std::string to_plain_json(const boost::json::value& v);

} // namespace examples

#include "common/impl/json.hpp"

#endif

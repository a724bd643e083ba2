#ifndef FAULTLINE_EXAMPLES_COMMON_IMPL_JSON_HPP
#define FAULTLINE_EXAMPLES_COMMON_IMPL_JSON_HPP

#include <boost/json/serialize.hpp>

#include <charconv>
#include <cmath>

namespace examples {

inline void append_plain_json(std::string& out, const boost::json::value& v) {
    switch (v.kind()) {
    case boost::json::kind::object: {
        out += '{';
        bool first = true;
        for (const auto& member : v.get_object()) {
            if (!first) out += ',';
            first = false;
            out += boost::json::serialize(boost::json::string_view(member.key()));
            out += ':';
            append_plain_json(out, member.value());
        }
        out += '}';
        return;
    }
    case boost::json::kind::array: {
        out += '[';
        bool first = true;
        for (const auto& element : v.get_array()) {
            if (!first) out += ',';
            first = false;
            append_plain_json(out, element);
        }
        out += ']';
        return;
    }
    case boost::json::kind::double_: {
        const double d = v.get_double();
        if (!std::isfinite(d)) {
            out += "null";
            return;
        }
        // Fixed notation needs at most 1 + 309 integer digits for DBL_MAX, or "0." and 324
        // fraction digits for the smallest subnormal.
        char buf[400];
        const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
        out.append(buf, r.ptr);
        return;
    }
    case boost::json::kind::string:
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::bool_:
    case boost::json::kind::null:
        out += boost::json::serialize(v);
        return;
    }
}

inline std::string to_plain_json(const boost::json::value& v) {
    std::string out;
    append_plain_json(out, v);
    return out;
}

} // namespace examples

#endif

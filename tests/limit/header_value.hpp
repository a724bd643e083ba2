#ifndef FAULTLINE_TESTS_LIMIT_HEADER_VALUE_HPP
#define FAULTLINE_TESTS_LIMIT_HEADER_VALUE_HPP

// The value of the header named `name` in a list the limit headers build, or "<absent>".

#include <faultline/limit/headers.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace faultline_test {

[[nodiscard]] inline std::string find(const std::vector<faultline::header>& hs,
                                      std::string_view name) {
    for (const auto& [n, v] : hs)
        if (n == name) return v;
    return "<absent>";
}

} // namespace faultline_test

#endif

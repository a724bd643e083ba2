#ifndef FAULTLINE_RESULT_HPP
#define FAULTLINE_RESULT_HPP

#include <faultline/detail/config.hpp>

// `faultline::result<T>`: a value or a `std::error_code`, from Boost.Outcome.
//
//     faultline::result<int> parse_port(std::string_view s);
//     faultline::result<void> connect(std::string_view host, std::string_view port_text) {
//         FAULTLINE_TRY(auto port, parse_port(port_text));
//         ...
//         return faultline::success();
//     }

#include <faultline/error.hpp>

#include <boost/outcome/std_result.hpp>
#include <boost/outcome/try.hpp>

namespace faultline {

/// A `T` or a `std::error_code`. Accessing the value of a failed result throws
/// `std::system_error`; check `has_value()` (or use FAULTLINE_TRY) first.
template <class T>
using result = boost::outcome_v2::std_result<T>;

using boost::outcome_v2::success;

} // namespace faultline

/// Unwraps a result or returns its error from the enclosing function.
#define FAULTLINE_TRY(...) BOOST_OUTCOME_TRY(__VA_ARGS__)

#endif

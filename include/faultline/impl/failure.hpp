#ifndef FAULTLINE_IMPL_FAILURE_HPP
#define FAULTLINE_IMPL_FAILURE_HPP

#include <utility>

namespace faultline {

inline failure to_failure(std::error_code ec, std::string message) {
    failure f;
    f.cat = category_of(ec);
    f.retryable = is_retryable(ec);
    f.code = wire_error(ec);
    f.message = message.empty() ? ec.message() : std::move(message);
    return f;
}

} // namespace faultline

#endif

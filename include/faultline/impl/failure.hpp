#ifndef FAULTLINE_IMPL_FAILURE_HPP
#define FAULTLINE_IMPL_FAILURE_HPP

#include <utility>

namespace faultline {

inline failure to_failure(std::error_code ec, std::string message) {
    failure f;
    f.cat = category_of(ec);
    f.retryable = is_retryable(ec);
    if (ec.category() == error_category())
        f.code = info(static_cast<error>(ec.value())).code;
    else if (f.cat == category::timeout)
        f.code = error::upstream_timeout;
    else if (f.cat == category::upstream_unavailable)
        f.code = error::upstream_unavailable;
    else
        f.code = error::unknown;
    f.message = message.empty() ? ec.message() : std::move(message);
    return f;
}

} // namespace faultline

#endif

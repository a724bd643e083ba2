#ifndef FAULTLINE_HEADERS_HPP
#define FAULTLINE_HEADERS_HPP

#include <faultline/detail/config.hpp>

// HTTP headers as the toolkit passes them. What it writes (limit/headers.hpp's
// `x-ratelimit-*`, `Retry-After`) is a `header`, owning its strings; what it reads
// (`classify`, `retry_after`, `exchange`) is any range of name/value pairs or Beast
// `http::fields`, and `header_view` spells one pair inline:
//
//     for (const faultline::header& h : faultline::limit::retry_after_headers(wait))
//         res.set(h.first, h.second);
//     faultline::classify(429, {{"retry-after", "3"}}, body);  // an initializer_list<header_view>
//
// Needs no JSON.

#include <string>
#include <string_view>
#include <utility>

namespace faultline {

/// One header the toolkit writes: name (lower case) and value.
using header = std::pair<std::string, std::string>;

/// One header the toolkit reads, as views of the caller's name and value.
using header_view = std::pair<std::string_view, std::string_view>;

/// A header container with no headers, for `classify(status, no_headers{}, body)`.
struct no_headers {};

} // namespace faultline

#endif

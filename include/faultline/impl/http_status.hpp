#ifndef FAULTLINE_IMPL_HTTP_STATUS_HPP
#define FAULTLINE_IMPL_HTTP_STATUS_HPP

namespace faultline {

inline std::string_view reason_phrase(unsigned status) noexcept {
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 423:
        return "Locked";
    case 424:
        return "Failed Dependency";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 451:
        return "Unavailable For Legal Reasons";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 507:
        return "Insufficient Storage";
    case 508:
        return "Loop Detected";
    case 511:
        return "Network Authentication Required";
    case 520:
        return "Web Server Returned an Unknown Error";
    case 521:
        return "Web Server Is Down";
    case 522:
        return "Connection Timed Out";
    case 523:
        return "Origin Is Unreachable";
    case 524:
        return "A Timeout Occurred";
    case 529:
        return "Site Overloaded";
    default:
        return "Unknown Status";
    }
}

inline error error_from_status(unsigned status) noexcept {
    switch (status) {
    case 400:
        return error::invalid_request;
    case 401:
        return error::authentication;
    case 402:
        return error::insufficient_quota;
    case 403:
        return error::permission_denied;
    case 404:
        return error::not_found;
    case 408:
        return error::request_timeout;
    case 409:
        return error::conflict;
    case 413:
        return error::payload_too_large;
    case 429:
        return error::rate_limited;
    case 500:
        return error::internal_error;
    case 502:
        return error::upstream_unavailable;
    case 503:
        return error::upstream_unavailable;
    case 504:
        return error::upstream_timeout;
    case 522:
        return error::upstream_timeout;
    case 524:
        return error::upstream_timeout;
    case 520:
        return error::upstream_unavailable;
    case 521:
        return error::upstream_unavailable;
    case 523:
        return error::upstream_unavailable;
    case 529:
        return error::overloaded;
    default:
        break;
    }
    if (status >= 400 && status < 500) return error::invalid_request;
    if (status >= 500 && status < 600) return error::internal_error;
    return error::unknown;
}

inline category category_from_status(unsigned status) noexcept {
    return info(error_from_status(status)).cat;
}

inline bool is_retryable_status(unsigned status) noexcept {
    return status == 408 || status == 409 || status == 429 || (status >= 500 && status < 600);
}

inline unsigned status_of(error e) noexcept {
    return info(e).status;
}

} // namespace faultline

#endif

#include <faultline/http_status.hpp>

#include <boost/test/unit_test.hpp>

namespace fl = faultline;

BOOST_AUTO_TEST_SUITE(http_status)

BOOST_AUTO_TEST_CASE(status_to_error_table) {
    struct row {
        unsigned status;
        fl::error e;
        bool retryable;
    };
    const row rows[] = {
        {400, fl::error::invalid_request, false},
        {401, fl::error::authentication, false},
        {402, fl::error::insufficient_quota, false},
        {403, fl::error::permission_denied, false},
        {404, fl::error::not_found, false},
        {405, fl::error::invalid_request, false},
        {408, fl::error::request_timeout, true},
        {409, fl::error::conflict, true},
        {413, fl::error::payload_too_large, false},
        {422, fl::error::invalid_request, false},
        {429, fl::error::rate_limited, true},
        {500, fl::error::internal_error, true},
        {501, fl::error::internal_error, true},
        {502, fl::error::upstream_unavailable, true},
        {503, fl::error::upstream_unavailable, true},
        {504, fl::error::upstream_timeout, true},
        {520, fl::error::upstream_unavailable, true},
        {524, fl::error::upstream_timeout, true},
        {529, fl::error::overloaded, true},
        {599, fl::error::internal_error, true},
        {0, fl::error::unknown, false},
        {200, fl::error::unknown, false},
        {302, fl::error::unknown, false},
        {600, fl::error::unknown, false},
        {4294967295u, fl::error::unknown, false},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT("status " << r.status) {
            BOOST_TEST((fl::error_from_status(r.status) == r.e));
            BOOST_TEST((fl::category_from_status(r.status) == fl::info(r.e).cat));
            BOOST_TEST(fl::is_retryable_status(r.status) == r.retryable);
        }
    }
}

BOOST_AUTO_TEST_CASE(reason_phrases) {
    BOOST_TEST(fl::reason_phrase(429) == "Too Many Requests");
    BOOST_TEST(fl::reason_phrase(503) == "Service Unavailable");
    BOOST_TEST(fl::reason_phrase(529) == "Site Overloaded");
    BOOST_TEST(fl::reason_phrase(413) == "Content Too Large");
    BOOST_TEST(fl::reason_phrase(0) == "Unknown Status");
    BOOST_TEST(fl::reason_phrase(777) == "Unknown Status");
}

BOOST_AUTO_TEST_CASE(every_default_status_maps_back_to_its_category_class) {
    for (const auto& row : fl::error_table()) {
        BOOST_TEST_CONTEXT(row.name) {
            BOOST_TEST(fl::status_of(row.code) == row.status);
            BOOST_TEST(fl::reason_phrase(row.status) != "Unknown Status");
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

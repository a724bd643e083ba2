#include <faultline/error.hpp>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/test/unit_test.hpp>

#include <set>
#include <string>

namespace fl = faultline;

BOOST_AUTO_TEST_SUITE(error)

BOOST_AUTO_TEST_CASE(every_code_has_a_complete_row) {
    std::set<std::string_view> names;
    for (const auto& row : fl::error_table()) {
        BOOST_TEST_CONTEXT(row.name) {
            BOOST_TEST(!row.name.empty());
            BOOST_TEST(names.insert(row.name).second);
            BOOST_TEST(&fl::info(row.code) == &row);
            BOOST_TEST(fl::to_string(row.code) == row.name);
            BOOST_TEST(!row.type.empty());
            BOOST_TEST(!row.wire_code.empty());
            BOOST_TEST(!row.cause.empty());
            BOOST_TEST(!row.fix.empty());
            BOOST_TEST(row.status >= 400u);
            BOOST_TEST(row.status < 600u);
            // Causes and fixes are single lines a user can read in a log.
            BOOST_TEST(row.cause.find('\n') == std::string_view::npos);
            BOOST_TEST(row.fix.find('\n') == std::string_view::npos);
            fl::error parsed{};
            BOOST_TEST(fl::from_string(row.name, parsed));
            BOOST_TEST((parsed == row.code));

            const std::error_code ec = row.code;
            BOOST_TEST(ec.category().name() == std::string("faultline"));
            BOOST_TEST(ec.message() == std::string(row.cause));
            BOOST_TEST((ec == row.cat));
            BOOST_TEST((fl::category_of(ec) == row.cat));
            BOOST_TEST(fl::is_retryable(ec) == row.retryable);
            BOOST_TEST(static_cast<bool>(ec));
        }
    }
}

// Input and configuration errors are domains of their own: a category each, a class, a cause
// and fix, the `error` a call that met one is reported as, and no HTTP status of their own.
template <class Table>
void check_local_domain(const Table& table, const char* category_name) {
    std::set<std::string_view> names;
    for (const auto& row : table) {
        BOOST_TEST_CONTEXT(row.name) {
            BOOST_TEST(names.insert(row.name).second);
            BOOST_TEST(&fl::info(row.code) == &row);
            BOOST_TEST(fl::to_string(row.code) == row.name);
            BOOST_TEST(!row.cause.empty());
            BOOST_TEST(!row.fix.empty());
            BOOST_TEST(row.cause.find('\n') == std::string_view::npos);
            BOOST_TEST(row.fix.find('\n') == std::string_view::npos);
            decltype(row.code) parsed{};
            BOOST_TEST(fl::from_string(row.name, parsed));
            BOOST_TEST((parsed == row.code));

            const std::error_code ec = row.code;
            BOOST_TEST(ec.category().name() == std::string(category_name));
            BOOST_TEST((ec.category() != fl::error_category()));
            BOOST_TEST(ec.message() == std::string(row.cause));
            BOOST_TEST((ec == row.cat));
            BOOST_TEST((fl::category_of(ec) == row.cat));
            BOOST_TEST(!fl::is_retryable(ec));
            BOOST_TEST((fl::wire_error(ec) == row.reported_as));
            // What it is reported as belongs to the same class, so a client told either agrees.
            BOOST_TEST((fl::info(row.reported_as).cat == row.cat));
        }
    }
    using code = decltype(table[0].code);
    const std::error_code bogus = static_cast<code>(9999);
    BOOST_TEST((bogus == fl::category::unknown));
    BOOST_TEST(!fl::is_retryable(bogus));
    BOOST_TEST((fl::wire_error(bogus) == fl::error::unknown));
    BOOST_TEST(bogus.message() == std::string(category_name) + ": unknown error");
    BOOST_TEST(fl::to_string(static_cast<code>(0)) == "unknown");
}

BOOST_AUTO_TEST_CASE(parse_and_config_errors_are_domains_of_their_own) {
    check_local_domain(fl::parse_error_table(), "faultline.parse");
    check_local_domain(fl::config_error_table(), "faultline.config");
    // A configuration mistake is not a wire error, and has no status to give (it had: 404).
    fl::error e{};
    BOOST_TEST(!fl::from_string("base_url_trailing_slash", e));
    BOOST_TEST(!fl::from_string("invalid_retry_after", e));
    // The paths a wrong base URL produces are: what a server answers for them.
    BOOST_TEST((fl::wire_error(fl::config_error::base_url_duplicates_v1) ==
                fl::error::duplicated_v1_path));
    BOOST_TEST(fl::info(fl::error::duplicated_v1_path).status == 404u);
    BOOST_TEST((fl::wire_error(fl::config_error::api_key_empty) == fl::error::authentication));
    BOOST_TEST((fl::wire_error(fl::parse_error::malformed_json) == fl::error::malformed_json));
    BOOST_TEST((fl::wire_error(fl::parse_error::invalid_retry_after) == fl::error::unknown));
    // Same names in two domains are two codes.
    BOOST_TEST((std::error_code(fl::parse_error::malformed_json) !=
                std::error_code(fl::error::malformed_json)));
}

BOOST_AUTO_TEST_CASE(an_error_code_equals_only_its_own_category) {
    for (const auto& row : fl::error_table()) {
        const std::error_code ec = row.code;
        for (int c = 1; c <= static_cast<int>(fl::category::unknown); ++c) {
            const auto cat = static_cast<fl::category>(c);
            BOOST_TEST((ec == cat) == (cat == row.cat), row.name << " vs " << fl::to_string(cat));
        }
    }
}

// The retry rules of the reference documents and the major SDKs, code by code.
BOOST_AUTO_TEST_CASE(retry_rules) {
    using E = fl::error;
    for (E e :
         {E::invalid_request, E::authentication, E::insufficient_quota, E::spend_limit_exceeded,
          E::permission_denied, E::not_found, E::model_not_found, E::context_length_exceeded,
          E::payload_too_large, E::content_filter, E::request_exceeds_burst, E::deadline_exceeded})
        BOOST_TEST(!fl::info(e).retryable, fl::to_string(e));
    for (E e : {E::rate_limited, E::rpm_exceeded, E::tpm_exceeded, E::concurrency_exceeded,
                E::internal_error, E::upstream_unavailable, E::no_available_channel,
                E::upstream_timeout, E::request_timeout, E::conflict, E::overloaded,
                E::stream_interrupted, E::stream_truncated, E::circuit_open})
        BOOST_TEST(fl::info(e).retryable, fl::to_string(e));
}

// Reference 000/002 status columns.
BOOST_AUTO_TEST_CASE(default_statuses_match_the_references) {
    using E = fl::error;
    BOOST_TEST(fl::info(E::invalid_request).status == 400u);
    BOOST_TEST(fl::info(E::authentication).status == 401u);
    BOOST_TEST(fl::info(E::insufficient_quota).status == 402u);
    BOOST_TEST(fl::info(E::permission_denied).status == 403u);
    BOOST_TEST(fl::info(E::not_found).status == 404u);
    BOOST_TEST(fl::info(E::payload_too_large).status == 413u);
    BOOST_TEST(fl::info(E::rate_limited).status == 429u);
    BOOST_TEST(fl::info(E::spend_limit_exceeded).status == 429u);
    BOOST_TEST(fl::info(E::internal_error).status == 500u);
    BOOST_TEST(fl::info(E::upstream_unavailable).status == 502u);
    BOOST_TEST(fl::info(E::upstream_auth_failed).status == 502u);
    BOOST_TEST(fl::info(E::no_available_channel).status == 503u);
    BOOST_TEST(fl::info(E::upstream_timeout).status == 504u);
    BOOST_TEST(fl::info(E::overloaded).status == 529u);
    BOOST_TEST(fl::info(E::rate_limited).type == "rate_limit_error");
    BOOST_TEST(fl::info(E::authentication).type == "authentication_error");
    BOOST_TEST(fl::info(E::permission_denied).type == "permission_error");
    BOOST_TEST(fl::info(E::internal_error).type == "api_error");
}

BOOST_AUTO_TEST_CASE(category_names_round_trip) {
    for (int c = 1; c <= static_cast<int>(fl::category::unknown); ++c) {
        const auto cat = static_cast<fl::category>(c);
        fl::category back{};
        BOOST_TEST(fl::from_string(fl::to_string(cat), back));
        BOOST_TEST((back == cat));
        BOOST_TEST(fl::make_error_condition(cat).message() == std::string(fl::to_string(cat)));
    }
    fl::category c{};
    fl::error e{};
    BOOST_TEST(!fl::from_string("no_such_category", c));
    BOOST_TEST(!fl::from_string("no_such_error", e));
    BOOST_TEST(fl::to_string(static_cast<fl::category>(0)) == "unknown");
    BOOST_TEST(fl::to_string(static_cast<fl::error>(9999)) == "unknown");
}

BOOST_AUTO_TEST_CASE(values_outside_the_enum_are_unknown) {
    const std::error_code bogus(9999, fl::error_category());
    BOOST_TEST((bogus == fl::category::unknown));
    BOOST_TEST(!fl::is_retryable(bogus));
    BOOST_TEST(bogus.message() == "faultline: unknown error");
    BOOST_TEST(fl::condition_category().message(0) == "faultline: unknown category");
}

BOOST_AUTO_TEST_CASE(foreign_transport_errors) {
    const std::error_code timed_out = std::make_error_code(std::errc::timed_out);
    BOOST_TEST((timed_out == fl::category::timeout));
    BOOST_TEST(fl::is_retryable(timed_out));
    for (auto e :
         {std::errc::connection_reset, std::errc::connection_refused, std::errc::connection_aborted,
          std::errc::broken_pipe, std::errc::network_unreachable, std::errc::host_unreachable}) {
        const std::error_code ec = std::make_error_code(e);
        BOOST_TEST((ec == fl::category::upstream_unavailable), ec.message());
        BOOST_TEST(fl::is_retryable(ec));
    }
    // The system category compares through its generic condition.
    const std::error_code sys(ECONNRESET, std::system_category());
    BOOST_TEST((sys == fl::category::upstream_unavailable));

    const std::error_code other = std::make_error_code(std::errc::invalid_argument);
    BOOST_TEST((other == fl::category::unknown));
    BOOST_TEST(!fl::is_retryable(other));
    BOOST_TEST(!(other == fl::category::timeout));
}

BOOST_AUTO_TEST_CASE(asio_and_beast_errors) {
    const std::error_code asio_timeout = boost::system::error_code(boost::asio::error::timed_out);
    BOOST_TEST((asio_timeout == fl::category::timeout));
    const std::error_code asio_reset =
        boost::system::error_code(boost::asio::error::connection_reset);
    BOOST_TEST((asio_reset == fl::category::upstream_unavailable));
    const std::error_code asio_eof = boost::system::error_code(boost::asio::error::eof);
    BOOST_TEST((asio_eof == fl::category::upstream_unavailable));
    BOOST_TEST(fl::is_retryable(asio_eof));
    const std::error_code beast_timeout = boost::system::error_code(boost::beast::error::timeout);
    BOOST_TEST((beast_timeout == fl::category::timeout));
    const std::error_code partial =
        boost::system::error_code(boost::beast::http::error::partial_message);
    BOOST_TEST((partial == fl::category::upstream_unavailable));
    const std::error_code aborted =
        boost::system::error_code(boost::asio::error::operation_aborted);
    BOOST_TEST(!fl::is_retryable(aborted));
}

BOOST_AUTO_TEST_SUITE_END()

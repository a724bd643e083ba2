#include <faultline/envelope.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

namespace fl = faultline;
namespace json = boost::json;

BOOST_AUTO_TEST_SUITE(envelope)

BOOST_AUTO_TEST_CASE(serializes_the_openai_shape) {
    const auto env = fl::make_envelope(fl::error::model_not_found, "model \"x\" not found");
    BOOST_TEST(fl::serialize(env) ==
               R"({"error":{"message":"model \"x\" not found","type":"invalid_request_error",)"
               R"("param":null,"code":"model_not_found"}})");
}

// serialize writes envelopes without extra members directly; it must give exactly the bytes of
// the document tree that value_from builds.
BOOST_AUTO_TEST_CASE(direct_serialize_matches_the_document_tree) {
    std::vector<fl::error_envelope> cases(8);
    cases[0].message = "plain";
    cases[1].message = "quote \" backslash \\ control \x01\n tab\t \xc3\xa9 \xe2\x82\xac";
    cases[1].type = "t\"x";
    cases[1].param = "messages[0].content";
    cases[1].code = std::string("c\\d");
    cases[2].message = "bad utf-8 \xff\xc3 end";
    cases[2].type = "\xed\xa0\x80";
    cases[2].event_id = "\x80id";
    cases[3].code = std::int64_t{-9223372036854775807 - 1};
    cases[3].status = std::int64_t{9223372036854775807};
    cases[4].code = std::int64_t{429};
    cases[4].status = std::int64_t{-1};
    cases[4].event_id = "";
    cases[5].message = std::string(5000, 'x') + "\"";
    cases[6].message = std::string("nul \0 inside", 13);
    cases[7].type = "";
    cases[7].param = "";
    cases[7].code = std::string();
    for (const auto& env : cases) {
        const std::string direct = fl::serialize(env);
        BOOST_TEST(direct == json::serialize(json::value_from(env)));
        const auto back = fl::parse_envelope(direct);
        BOOST_TEST_REQUIRE(back.has_value());
        BOOST_TEST(fl::serialize(back.value()) == direct);
    }
}

BOOST_AUTO_TEST_CASE(round_trips_code_as_string_integer_or_null) {
    for (
        const char* body :
        {R"({"error":{"message":"m","type":"t","param":"p","code":"c"}})",
         R"({"error":{"message":"m","type":"t","param":null,"code":429}})",
         R"({"error":{"message":"m","type":null,"param":null,"code":null}})",
         R"({"error":{"message":"m","type":"api_error","param":null,"code":null,"status":500,"event_id":"ev1"}})",
         R"({"error":{"message":"m","type":"t","param":null,"code":-7,"metadata":{"provider":"x","raw":[1,2]},"innererror":{"code":"ResponsibleAIPolicyViolation"}}})"}) {
        BOOST_TEST_CONTEXT(body) {
            auto env = fl::parse_envelope(body);
            BOOST_REQUIRE(env.has_value());
            BOOST_TEST(fl::serialize(env.value()) == body);
            auto again = fl::parse_envelope(fl::serialize(env.value()));
            BOOST_REQUIRE(again.has_value());
            BOOST_TEST((again.value() == env.value()));
        }
    }
}

BOOST_AUTO_TEST_CASE(keeps_the_kind_of_each_code) {
    auto s = fl::parse_envelope(R"({"error":{"message":"","code":"429"}})");
    BOOST_REQUIRE(s.has_value());
    BOOST_TEST(std::get<std::string>(s.value().code) == "429");
    auto i = fl::parse_envelope(R"({"error":{"message":"","code":429}})");
    BOOST_REQUIRE(i.has_value());
    BOOST_TEST(std::get<std::int64_t>(i.value().code) == 429);
    auto n = fl::parse_envelope(R"({"error":{"message":""}})");
    BOOST_REQUIRE(n.has_value());
    BOOST_TEST(std::holds_alternative<std::monostate>(n.value().code));
}

BOOST_AUTO_TEST_CASE(members_of_unexpected_kinds_stay_in_extra) {
    auto env = fl::parse_envelope(
        R"({"error":{"message":{"detail":"x"},"type":7,"code":1.5,"status":"RESOURCE_EXHAUSTED"}})");
    BOOST_REQUIRE(env.has_value());
    const auto& e = env.value();
    BOOST_TEST(e.message.empty());
    BOOST_TEST(!e.type.has_value());
    BOOST_TEST(std::holds_alternative<std::monostate>(e.code));
    BOOST_TEST(!e.status.has_value());
    BOOST_TEST(e.extra.at("status").as_string() == "RESOURCE_EXHAUSTED");
    BOOST_TEST(e.extra.at("type").as_int64() == 7);
    BOOST_TEST(e.extra.at("code").as_double() == 1.5);
    BOOST_TEST(e.extra.at("message").as_object().at("detail").as_string() == "x");
    // Regression: members of unexpected kinds were dropped on the way back out.
    auto again = fl::parse_envelope(fl::serialize(e));
    BOOST_REQUIRE(again.has_value());
    BOOST_TEST((again.value() == e));
}

BOOST_AUTO_TEST_CASE(value_from_and_try_value_to) {
    fl::error_envelope env = fl::make_envelope(fl::error::rpm_exceeded, "slow down");
    env.event_id = "abc";
    const json::value jv = json::value_from(env);
    BOOST_TEST(jv.at("error").at("code").as_string() == "rpm_exceeded");
    BOOST_TEST(jv.at("error").at("event_id").as_string() == "abc");
    auto back = json::try_value_to<fl::error_envelope>(jv);
    BOOST_REQUIRE(back.has_value());
    BOOST_TEST((*back == env));
}

BOOST_AUTO_TEST_CASE(bad_input_gets_typed_errors) {
    struct row {
        const char* body;
        fl::parse_error e;
    };
    const row rows[] = {
        {"", fl::parse_error::malformed_json},
        {"not json", fl::parse_error::malformed_json},
        {R"({"error":{"message":"cut)", fl::parse_error::malformed_json},
        {"[1,2", fl::parse_error::malformed_json},
        {R"({"error":"just text"})", fl::parse_error::malformed_envelope},
        {R"({"error":null})", fl::parse_error::malformed_envelope},
        {R"({"message":"flat"})", fl::parse_error::malformed_envelope},
        {"[]", fl::parse_error::malformed_envelope},
        {"42", fl::parse_error::malformed_envelope},
        {"\"\xff\"", fl::parse_error::malformed_json}, // invalid UTF-8 inside a JSON string
    };
    for (const auto& r : rows) {
        auto env = fl::parse_envelope(r.body);
        BOOST_TEST_CONTEXT(r.body) {
            BOOST_REQUIRE(env.has_error());
            BOOST_TEST((env.error() == r.e));
        }
    }
    const std::string deep = std::string(100, '[') + std::string(100, ']');
    auto d = fl::parse_envelope(deep);
    BOOST_REQUIRE(d.has_error());
    BOOST_TEST((d.error() == fl::parse_error::json_too_deep));

    fl::parse_limits small;
    small.max_size = 10;
    auto big = fl::parse_envelope(R"({"error":{"message":"longer than ten"}})", small);
    BOOST_REQUIRE(big.has_error());
    BOOST_TEST((big.error() == fl::parse_error::malformed_envelope));
}

// Regression: parse_limits::max_depth had no ceiling, so a caller's huge limit let a
// document nested 100000 deep through to the recursive copy of `extra`, overflowing the stack.
BOOST_AUTO_TEST_CASE(max_depth_over_the_ceiling_is_clamped_not_trusted) {
    BOOST_TEST(fl::parse_limits{}.depth() == 32u);
    fl::parse_limits huge;
    huge.max_depth = static_cast<std::size_t>(-1);
    BOOST_TEST(huge.depth() == fl::parse_limits::max_depth_ceiling);
    huge.max_size = 1u << 22;
    const auto nested = [](std::size_t depth) {
        return R"({"error":{"message":"x","extra":)" + std::string(depth, '[') +
               std::string(depth, ']') + "}}";
    };
    // The envelope's own two levels plus `extra`'s arrays.
    const std::size_t fits = fl::parse_limits::max_depth_ceiling - 2;
    const auto ok = fl::parse_envelope(nested(fits), huge);
    BOOST_REQUIRE(ok.has_value());
    BOOST_TEST(ok.value().extra.contains("extra"));
    for (const std::size_t depth : {fits + 1, std::size_t{100000}, std::size_t{1} << 20}) {
        BOOST_TEST_CONTEXT(depth) {
            const auto r = fl::parse_envelope(nested(depth), huge);
            BOOST_REQUIRE(r.has_error());
            BOOST_TEST((r.error() == fl::parse_error::json_too_deep));
        }
    }
    // Below the ceiling, the caller's limit holds.
    fl::parse_limits shallow;
    shallow.max_depth = 4;
    BOOST_TEST(fl::parse_envelope(nested(3), shallow).has_error());
    BOOST_TEST(fl::parse_envelope(nested(2), shallow).has_value());
}

BOOST_AUTO_TEST_CASE(output_is_valid_json_whatever_the_bytes) {
    fl::error_envelope env;
    // Regression: the length was once written by hand and overran the literal.
    static constexpr char raw[] = "ctl\x01\x1f nul\0 bad\xff\xfe utf8 \xe2\x82";
    env.message.assign(raw, sizeof raw - 1);
    env.type = "t\xc3";
    env.code = std::string("\xed\xa0\x80"); // a UTF-16 surrogate encoded in UTF-8: invalid
    env.param = "\"quoted\"\n";
    env.extra.emplace("raw", "\xf0\x9f");
    const std::string out = fl::serialize(env);
    boost::system::error_code ec;
    const json::value jv = json::parse(out, ec); // the parser rejects invalid UTF-8
    BOOST_TEST_REQUIRE(!ec, out);
    BOOST_TEST(jv.at("error").at("param").as_string() == "\"quoted\"\n");
    const std::string_view msg(jv.at("error").at("message").as_string());
    BOOST_TEST(msg.find("bad\xEF\xBF\xBD\xEF\xBF\xBD utf8") != std::string_view::npos);
    BOOST_TEST(jv.at("error").at("code").as_string() == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

BOOST_AUTO_TEST_CASE(render_redacts_server_errors_and_adds_the_event_id) {
    const auto r =
        fl::render(fl::error::upstream_auth_failed, "vertex: token for sa@x.iam expired", "ev-123");
    BOOST_TEST(r.status == 502u);
    const json::value jv = json::parse(r.body);
    BOOST_TEST(jv.at("error").at("message").as_string() == "Service temporarily unavailable");
    BOOST_TEST(jv.at("error").at("code").as_string() == "upstream_auth_failed");
    BOOST_TEST(jv.at("error").at("type").as_string() == "upstream_error");
    BOOST_TEST(jv.at("error").at("event_id").as_string() == "ev-123");
    BOOST_TEST(r.body.find("vertex") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(render_keeps_client_error_messages) {
    fl::render_options opt;
    opt.include_status = true;
    const auto r = fl::render(fl::error::rpm_exceeded, "60 requests per minute", {}, opt);
    BOOST_TEST(r.status == 429u);
    const json::value jv = json::parse(r.body);
    BOOST_TEST(jv.at("error").at("message").as_string() == "60 requests per minute");
    BOOST_TEST(jv.at("error").at("status").as_int64() == 429);
    BOOST_TEST(!jv.at("error").as_object().contains("event_id"));

    fl::render_options plain;
    plain.redact_server_errors = false;
    const auto raw = fl::render(fl::error::internal_error, "db down", {}, plain);
    BOOST_TEST(json::parse(raw.body).at("error").at("message").as_string() == "db down");
}

BOOST_AUTO_TEST_CASE(render_names_the_param_when_given) {
    fl::render_options opt;
    opt.param = "max_tokens";
    const auto r = fl::render(fl::error::context_length_exceeded, "too long", {}, opt);
    BOOST_TEST(r.status == 400u);
    const json::value jv = json::parse(r.body);
    BOOST_TEST(jv.at("error").at("param").as_string() == "max_tokens");
    BOOST_TEST(jv.at("error").at("code").as_string() == "context_length_exceeded");
    // Without one, param is null (the OpenAI envelope always has the member).
    BOOST_TEST(json::parse(fl::render(fl::error::context_length_exceeded, "x").body)
                   .at("error")
                   .at("param")
                   .is_null());
    // A param with characters JSON must escape stays one string.
    opt.param = "messages[0].\"content\"";
    const auto escaped = fl::render(fl::error::invalid_request, "bad", {}, opt);
    BOOST_TEST(json::parse(escaped.body).at("error").at("param").as_string() ==
               "messages[0].\"content\"");
}

BOOST_AUTO_TEST_CASE(render_answers_a_status_and_code_other_than_the_codes_own) {
    // A 405: an invalid request whose status and code say what was wrong.
    fl::render_options opt;
    opt.include_status = true;
    opt.status = 405;
    opt.code = "method_not_allowed";
    const auto r = fl::render(fl::error::invalid_request, "use POST", "ev-1", opt);
    BOOST_TEST(r.status == 405u);
    const json::value jv = json::parse(r.body);
    BOOST_TEST(jv.at("error").at("status").as_int64() == 405);
    BOOST_TEST(jv.at("error").at("code").as_string() == "method_not_allowed");
    BOOST_TEST(jv.at("error").at("type").as_string() == "invalid_request_error");
    BOOST_TEST(jv.at("error").at("message").as_string() == "use POST");
    // Redaction follows the status answered: a client error answered as a 503 is a server's.
    opt.status = 503;
    opt.code.reset();
    const auto busy = fl::render(fl::error::invalid_request, "db at 10.0.0.7 down", {}, opt);
    BOOST_TEST(busy.status == 503u);
    BOOST_TEST(json::parse(busy.body).at("error").at("message").as_string() ==
               "Service temporarily unavailable");
    BOOST_TEST(json::parse(busy.body).at("error").at("code").as_string() == "invalid_request");
    // 0 is the code's own status again.
    opt.status = 0;
    const auto own = fl::render(fl::error::invalid_request, "db at 10.0.0.7 down", {}, opt);
    BOOST_TEST(own.status == 400u);
    BOOST_TEST(json::parse(own.body).at("error").at("status").as_int64() == 400);
    BOOST_TEST(json::parse(own.body).at("error").at("message").as_string() ==
               "db at 10.0.0.7 down");
}

BOOST_AUTO_TEST_CASE(render_envelope_is_what_render_serializes) {
    fl::render_options opt;
    opt.param = "model";
    opt.include_status = true;
    for (const fl::error e :
         {fl::error::model_not_found, fl::error::overloaded, fl::error::upstream_timeout}) {
        const fl::rendered_envelope env = fl::render_envelope(e, "m", "ev-2", opt);
        const fl::rendered_error r = fl::render(e, "m", "ev-2", opt);
        BOOST_TEST(env.status == r.status);
        BOOST_TEST(fl::serialize(env.envelope) == r.body);
        BOOST_TEST(env.envelope.param.value_or("") == "model");
        BOOST_TEST(env.envelope.event_id.value_or("") == "ev-2");
    }
}

BOOST_AUTO_TEST_CASE(render_maps_foreign_codes_by_category) {
    BOOST_TEST(fl::render(std::make_error_code(std::errc::timed_out), "x").status == 504u);
    BOOST_TEST(fl::render(std::make_error_code(std::errc::connection_refused), "x").status == 502u);
    BOOST_TEST(fl::render(std::make_error_code(std::errc::invalid_argument), "x").status == 500u);
    BOOST_TEST(fl::render(std::error_code(fl::error::tpm_exceeded), "x").status == 429u);
}

// A server's answer for a code and a client's account of the same code name the same wire
// error: one mapping (`wire_error`), whatever the code's origin.
BOOST_AUTO_TEST_CASE(render_and_to_failure_agree_on_every_code) {
    std::vector<std::error_code> codes = {
        std::make_error_code(std::errc::timed_out),
        std::make_error_code(std::errc::connection_reset),
        std::make_error_code(std::errc::broken_pipe),
        std::make_error_code(std::errc::invalid_argument),
        std::make_error_code(std::errc::not_enough_memory),
        std::error_code(12345, std::system_category()),
    };
    for (const fl::error_info& row : fl::error_table())
        codes.push_back(make_error_code(row.code));
    for (const fl::parse_error_info& row : fl::parse_error_table())
        codes.push_back(make_error_code(row.code));
    for (const fl::config_error_info& row : fl::config_error_table())
        codes.push_back(make_error_code(row.code));
    fl::render_options verbatim;
    verbatim.redact_server_errors = false;
    for (const std::error_code& ec : codes) {
        BOOST_TEST_CONTEXT(ec.category().name() << ":" << ec.value()) {
            const fl::failure f = fl::to_failure(ec);
            const fl::error wire = fl::wire_error(ec);
            BOOST_TEST((f.code == wire));
            const fl::rendered_error r = fl::render(ec, "m", {}, verbatim);
            BOOST_TEST(r.status == fl::info(wire).status);
            const auto body = json::parse(r.body).at("error");
            BOOST_TEST(body.at("code").as_string() == fl::info(wire).wire_code);
            BOOST_TEST(body.at("type").as_string() == fl::info(wire).type);
            // The failure's class and retryability are the wire code's own for foreign codes.
            if (ec.category() != fl::error_category()) {
                BOOST_TEST((f.cat == fl::info(wire).cat));
                BOOST_TEST(f.retryable == fl::info(wire).retryable);
            }
        }
    }
    // The foreign codes land where their class says.
    BOOST_TEST((fl::wire_error(std::make_error_code(std::errc::timed_out)) ==
                fl::error::upstream_timeout));
    BOOST_TEST((fl::wire_error(std::make_error_code(std::errc::connection_reset)) ==
                fl::error::upstream_unavailable));
    BOOST_TEST(
        (fl::wire_error(std::make_error_code(std::errc::invalid_argument)) == fl::error::unknown));
}

BOOST_AUTO_TEST_CASE(event_ids_are_hex_and_seeded) {
    std::mt19937_64 a(42), b(42);
    const std::string x = fl::make_event_id(a), y = fl::make_event_id(b);
    BOOST_TEST(x == y);
    BOOST_TEST(x.size() == 32u);
    BOOST_TEST(x.find_first_not_of("0123456789abcdef") == std::string::npos);
    BOOST_TEST(fl::make_event_id(a) != x);
}

BOOST_AUTO_TEST_SUITE_END()

#include <faultline/sse/error_scan.hpp>

#include "chunking.hpp"

#include <boost/json/error.hpp>
#include <boost/test/unit_test.hpp>

#include <optional>
#include <string>

namespace sse = faultline::sse;
using sse::scan_result;
using sse_test::chunking;

namespace {

scan_result scan_cut(sse::error_scanner& s, std::string_view doc, chunking c) {
    s.reset();
    for (const std::string_view piece : sse_test::cut(doc, c))
        s.write(piece);
    return s.finish();
}

struct row {
    const char* doc;
    scan_result want;
    const char* why;
};

// Every JSON shape the monitor meets. The error chunks' shapes come from the providers'
// documented streams: OpenAI's `{"error":{"message","type","param","code"}}` mid-stream chunk
// (reference 002), OpenRouter's `{"error":{"code":502,"message":…}}` (integer code), and vLLM's
// flat `{"object":"error","message":…}` which has no `error` member.
const row rows[] = {
    {R"({"error":{"message":"boom","type":"server_error"}})", scan_result::error, "openai chunk"},
    {R"({"id":"x","error":{"code":502,"message":"Provider returned error"}})", scan_result::error,
     "openrouter, error not first"},
    {R"({"error":"overloaded"})", scan_result::error, "error as a string"},
    {R"({"\u0065rror":{"message":"escaped key"}})", scan_result::error, "escaped key"},
    {R"({"err\u006Fr":{"m":1}})", scan_result::error, "escape at the end of the key"},
    {R"(  {"error" : { "x" : null } }  )", scan_result::error, "whitespace everywhere"},
    {R"({"error":null,"error":{"message":"second"}})", scan_result::error, "duplicate key"},
    {R"({"error":null})", scan_result::content, "null is falsy"},
    {R"({"error":false})", scan_result::content, "false is falsy"},
    {R"({"error":true})", scan_result::content, "true is not an error object"},
    {R"({"error":0})", scan_result::content, "zero"},
    {R"({"error":1.5e3})", scan_result::content, "number"},
    {R"({"error":""})", scan_result::content, "empty string"},
    {R"({"error":{}})", scan_result::content, "empty object"},
    {R"({"error":[]})", scan_result::content, "empty array"},
    {R"({"error":[{"message":"x"}]})", scan_result::content, "array is not an error object"},
    {R"({"errors":{"a":1}})", scan_result::content, "longer key"},
    {R"({"erro":{"a":1}})", scan_result::content, "shorter key"},
    {R"({"Error":{"a":1}})", scan_result::content, "case matters"},
    {R"({"choices":[{"delta":{"content":"error"}}]})", scan_result::content, "word in content"},
    {R"({"choices":[{"error":{"message":"nested"}}]})", scan_result::content, "nested key"},
    {R"({"a":{"error":{"message":"nested"}}})", scan_result::content, "nested object key"},
    {R"([{"error":{"message":"x"}}])", scan_result::content, "array at top level"},
    {R"("error")", scan_result::content, "string document"},
    {R"(42)", scan_result::content, "number document"},
    {R"({"a":[1,2,{"b":[true,false,null]}],"error":{"c":[]}})", scan_result::error,
     "after nested arrays"},
    {R"({"error":{"message":"x"})", scan_result::invalid, "unclosed object"},
    {R"({"error":{"message":"x"}}})", scan_result::invalid, "extra brace"},
    {R"({"error":{"message":"x"}} x)", scan_result::invalid, "extra data"},
    {R"({"id":"x",})", scan_result::invalid, "trailing comma"},
    {R"({"id":"\q"})", scan_result::invalid, "bad escape"},
    {"{\"id\":\"\xff\"}", scan_result::invalid, "invalid UTF-8"},
    {"", scan_result::invalid, "empty"},
    {"  \n ", scan_result::invalid, "blank"},
    {"[DONE]", scan_result::invalid, "the terminator is not JSON"},
    {R"({"a":1} {"b":2})", scan_result::invalid, "two documents"},
    {R"({"a":tru})", scan_result::invalid, "bad literal"},
};

} // namespace

BOOST_AUTO_TEST_SUITE(sse_error_scan)

BOOST_AUTO_TEST_CASE(every_shape_in_every_cut) {
    sse::error_scanner s;
    for (const row& r : rows)
        for (const chunking c : sse_test::all_chunkings) {
            BOOST_TEST_CONTEXT(r.why << " (" << sse_test::to_string(c) << ")") {
                BOOST_TEST(sse::to_string(scan_cut(s, r.doc, c)) == sse::to_string(r.want));
                BOOST_TEST((s.json_error().operator bool() == (r.want == scan_result::invalid)));
            }
        }
}

// `scan` hands the parser the whole document as its end in one call; the answers are the ones
// given piece by piece, from a scanner that has seen other documents before.
BOOST_AUTO_TEST_CASE(a_whole_document_scans_as_its_pieces_do) {
    sse::error_scanner s;
    for (int round = 0; round < 2; ++round)
        for (const row& r : rows) {
            BOOST_TEST_CONTEXT(r.why) {
                BOOST_TEST(sse::to_string(sse::error_scanner::scan(s, r.doc)) ==
                           sse::to_string(r.want));
                BOOST_TEST((s.json_error().operator bool() == (r.want == scan_result::invalid)));
                BOOST_TEST(s.size_bytes() == std::string_view(r.doc).size());
            }
        }
}

BOOST_AUTO_TEST_CASE(every_two_piece_cut_of_an_escaped_error_chunk) {
    const std::string doc =
        R"({"id":"c1","\u0065rror":{"message":"Rate \"limit\"","type":"rate_limit","code":429}})";
    sse::error_scanner s;
    for (std::size_t cut = 0; cut <= doc.size(); ++cut) {
        s.reset();
        s.write(std::string_view(doc).substr(0, cut));
        s.write(std::string_view(doc).substr(cut));
        BOOST_TEST_CONTEXT("cut at " << cut) {
            BOOST_TEST((s.finish() == scan_result::error));
            BOOST_TEST(s.summary().message == "Rate \"limit\"");
            BOOST_TEST(s.summary().type == "rate_limit");
            BOOST_TEST(s.summary().code == "429");
            BOOST_TEST(s.summary().code_is_number);
        }
    }
}

BOOST_AUTO_TEST_CASE(summary_keeps_the_error_members_fields_and_nothing_nested) {
    sse::error_scanner s;
    BOOST_TEST(
        (sse::error_scanner::scan(
             s, R"({"message":"top","error":{"message":"inner","code":"rate_limit_exceeded",)"
                R"("param":null,"details":{"message":"deeper","type":"t2"},"type":"tokens"}})") ==
         scan_result::error));
    BOOST_TEST(s.summary().message == "inner");
    BOOST_TEST(s.summary().type == "tokens");
    BOOST_TEST(s.summary().code == "rate_limit_exceeded");
    BOOST_TEST(!s.summary().code_is_number);
    BOOST_TEST((sse::error_scanner::scan(s, R"({"error":"plain words"})") == scan_result::error));
    BOOST_TEST(s.summary().message == "plain words");
    BOOST_TEST(s.summary().type.empty());
    BOOST_TEST((sse::error_scanner::scan(s, R"({"error":{"messages":"x","typo":"y"}})") ==
                scan_result::error));
    BOOST_TEST(s.summary().message.empty());
    BOOST_TEST(s.summary().type.empty());
}

BOOST_AUTO_TEST_CASE(summary_is_cut_at_its_budget) {
    sse::error_scanner s(64, 8);
    BOOST_TEST((sse::error_scanner::scan(s, R"({"error":{"message":")" + std::string(10000, 'm') +
                                                R"("}})") == scan_result::error));
    BOOST_TEST(s.summary().message == std::string(8, 'm'));
}

BOOST_AUTO_TEST_CASE(depth_limit_is_invalid_not_a_crash) {
    sse::error_scanner s(8);
    std::string deep(9, '[');
    deep += std::string(9, ']');
    BOOST_TEST((sse::error_scanner::scan(s, deep) == scan_result::invalid));
    BOOST_TEST((s.json_error() == boost::json::error::too_deep));
    std::string ok(8, '[');
    ok += std::string(8, ']');
    BOOST_TEST((sse::error_scanner::scan(s, ok) == scan_result::content));
    // Very deep input stops at the limit; it never recurses or grows with the input.
    sse::error_scanner d;
    BOOST_TEST((sse::error_scanner::scan(d, std::string(1'000'000, '[')) == scan_result::invalid));
}

BOOST_AUTO_TEST_CASE(error_is_known_before_the_document_ends) {
    sse::error_scanner s;
    s.reset();
    s.write(R"({"error":{"message":"x")");
    BOOST_TEST(s.error_seen());
    s.write("}"); // the document is still open
    BOOST_TEST((s.finish() == scan_result::invalid));
}

BOOST_AUTO_TEST_CASE(a_hundred_megabyte_value_in_pieces_is_scanned_without_holding_it) {
    sse::error_scanner s;
    s.reset();
    s.write(R"({"choices":[{"delta":{"images":[{"image_url":{"url":"data:image/png;base64,)");
    const std::string piece(64 * 1024, 'A');
    for (int i = 0; i < 1600; ++i) // 100 MiB
        s.write(piece);
    s.write(R"("}}]}}],"error":{"message":"after the image"}})");
    BOOST_TEST((s.finish() == scan_result::error));
    BOOST_TEST(s.summary().message == "after the image");
    BOOST_TEST(s.size_bytes() > std::size_t(100) << 20);
}

BOOST_AUTO_TEST_CASE(reset_reuses_the_scanner) {
    sse::error_scanner s;
    BOOST_TEST((sse::error_scanner::scan(s, "{") == scan_result::invalid));
    BOOST_TEST((sse::error_scanner::scan(s, R"({"error":{"a":1}})") == scan_result::error));
    BOOST_TEST((sse::error_scanner::scan(s, R"({"ok":1})") == scan_result::content));
    BOOST_TEST(s.summary().message.empty());
}

// The stop-reason reader: the string at a path of keys, in every cut of the document.
BOOST_AUTO_TEST_CASE(the_string_at_a_path_in_every_cut) {
    static constexpr std::string_view path[] = {"response", "incomplete_details", "reason"};
    struct at_row {
        std::string doc;
        std::optional<std::string> want;
        const char* why;
    };
    const std::string pad(3000, 'p');
    const at_row at_rows[] = {
        {R"({"type":"response.incomplete","response":{"status":"incomplete",)"
         R"("incomplete_details":{"reason":"max_output_tokens"}}})",
         "max_output_tokens", "OpenAI's response.incomplete"},
        {R"({"response":{"output":[{"text":")" + pad +
             R"("}],"incomplete_details":)"
             R"({"reason":"content_filter"}}})",
         "content_filter", "after a long member"},
        {R"({"re\u0073ponse":{"incomplete_details":{"re\u0061son":"x\"y"}}})", "x\"y",
         "escaped keys and value"},
        {R"({"response":{"incomplete_details":{"reason":"a","reason":"b"}}})", "a",
         "the first of duplicate keys"},
        {R"({"response":{"incomplete_details":{"reason":"a"},"incomplete_details":{"reason":"b"}}})",
         "a", "the first of duplicate objects"},
        {R"({"incomplete_details":{"reason":"top"},"response":{}})", std::nullopt,
         "the right key at the wrong depth"},
        {R"({"response":{"x":{"incomplete_details":{"reason":"deep"}}}})", std::nullopt,
         "the right keys one level deeper"},
        {R"({"response":[{"incomplete_details":{"reason":"in array"}}]})", std::nullopt,
         "through an array"},
        {R"({"response":{"incomplete_details":{"reason":7}}})", std::nullopt, "not a string"},
        {R"({"response":{"incomplete_details":null}})", std::nullopt, "null details"},
        {R"({"response":{"incomplete_detail":{"reason":"x"}}})", std::nullopt, "a shorter key"},
        {R"({"response":{"incomplete_detailsX":{"reason":"x"}}})", std::nullopt, "a longer key"},
        {R"({"response":{"incomplete_details":{"reason":"x"}})", std::nullopt, "unclosed"},
        {R"({"response":{"incomplete_details":{"reason":"x"}}} x)", std::nullopt, "extra data"},
        {R"(["response"])", std::nullopt, "not an object"},
        {"", std::nullopt, "empty"},
        {"  " + std::string(R"({"response":{"incomplete_details":{"reason":"ok"}}})") + "\n ", "ok",
         "whitespace around"},
        {R"({"response":{"incomplete_details":{"reason":")" + std::string(300, 'r') + R"("}}})",
         std::string(256, 'r'), "cut at 256 bytes"},
        {R"({"response":{"incomplete_details":{"reason":")" + std::string(255, 'r') +
             "\u00e9\u00e9" + R"("}}})",
         std::string(255, 'r'), "cut before a character that would cross 256 bytes"},
        {"{\"response\":{\"incomplete_details\":{\"reason\":\"a\xff"
         "b\"}}}",
         std::nullopt, "invalid UTF-8 is invalid JSON"},
    };
    sse::detail::string_at_scanner s(256, 64);
    for (const at_row& r : at_rows)
        for (const chunking c : sse_test::all_chunkings) {
            BOOST_TEST_CONTEXT(r.why << " (" << sse_test::to_string(c) << ")") {
                s.reset(path);
                for (const std::string_view piece : sse_test::cut(r.doc, c))
                    s.write(piece);
                BOOST_TEST((s.finish() == r.want));
            }
        }
    // Nesting deeper than the limit is invalid, whatever the path says.
    sse::detail::string_at_scanner shallow(256, 4);
    shallow.reset(path);
    shallow.write(R"({"response":{"incomplete_details":{"reason":"x","d":[[[[1]]]]}}})");
    BOOST_TEST(!shallow.finish());
}

BOOST_AUTO_TEST_SUITE_END()

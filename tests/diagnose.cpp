#include <faultline/diagnose.hpp>

#include <boost/test/unit_test.hpp>

namespace fl = faultline;

namespace {
std::string codes(const std::vector<fl::diagnosis>& d) {
    std::string s;
    for (const auto& x : d)
        s += std::string(fl::to_string(x.code)) + "=" + x.suggestion + ";";
    return s;
}
} // namespace

BOOST_AUTO_TEST_SUITE(diagnose)

BOOST_AUTO_TEST_CASE(base_urls) {
    struct row {
        const char* url;
        const char* expect;
    };
    const row rows[] = {
        {"https://api.example.com", ""},
        {"http://127.0.0.1:3000", ""},
        {"https://api.example.com/openai", ""},
        {"https://api.example.com/v1", "base_url_duplicates_v1=https://api.example.com;"},
        {"https://api.example.com/v1/", "base_url_trailing_slash=https://api.example.com/"
                                        "v1;base_url_duplicates_v1=https://api.example.com;"},
        {"https://api.example.com/", "base_url_trailing_slash=https://api.example.com;"},
        {"https://api.example.com/v1/v1", "base_url_duplicates_v1=https://api.example.com/"
                                          "v1;base_url_duplicates_v1=https://api.example.com;"},
        {" https://api.example.com\n", "base_url_whitespace=https://api.example.com;"},
        {"https://api.example.com\xE2\x80\x8B/v1",
         "base_url_whitespace=https://api.example.com/v1;base_url_duplicates_v1=https://"
         "api.example.com;"},
        {"api.example.com", "base_url_invalid=;"},
        {"ftp://x", "base_url_invalid=;"},
        {"https://", "base_url_invalid=;"},
        {"", "base_url_invalid=;"},
        {"HTTPS://API.EXAMPLE.COM", ""},
    };
    for (const auto& r : rows)
        BOOST_TEST(codes(fl::diagnose_base_url(r.url)) == r.expect, r.url);

    fl::base_url_options raw;
    raw.client_appends_v1 = false;
    BOOST_TEST(codes(fl::diagnose_base_url("https://api.example.com/v1", raw)) == "");
}

BOOST_AUTO_TEST_CASE(api_keys) {
    BOOST_TEST(codes(fl::diagnose_api_key("sk-optk-abc123")) == "");
    BOOST_TEST(codes(fl::diagnose_api_key("")) == "api_key_empty=;");
    BOOST_TEST(codes(fl::diagnose_api_key(" sk-abc\n")) == "api_key_whitespace=sk-abc;");
    BOOST_TEST(codes(fl::diagnose_api_key("sk-\xE2\x80\x8B"
                                          "abc")) == "api_key_invisible_character=sk-abc;");
    BOOST_TEST(codes(fl::diagnose_api_key("\xEF\xBB\xBFsk-abc")) ==
               "api_key_invisible_character=sk-abc;");
    BOOST_TEST(codes(fl::diagnose_api_key("sk-ab\xC2\xA0"
                                          "c")) == "api_key_invisible_character=sk-abc;");
    BOOST_TEST(codes(fl::diagnose_api_key("sk-a\tbc")) == "api_key_invisible_character=sk-abc;");
    BOOST_TEST(codes(fl::diagnose_api_key("\tsk-\x01x ")) ==
               "api_key_whitespace=sk-\x01x;api_key_invisible_character=sk-x;");
}

BOOST_AUTO_TEST_CASE(duplicated_v1_targets) {
    BOOST_TEST(fl::has_duplicated_v1("/v1/v1/chat/completions"));
    BOOST_TEST(fl::has_duplicated_v1("/v1/v1"));
    BOOST_TEST(fl::has_duplicated_v1("/proxy/v1/v1/models?x=1"));
    BOOST_TEST(!fl::has_duplicated_v1("/v1/chat/completions"));
    BOOST_TEST(!fl::has_duplicated_v1("/v1/v10/models"));
    BOOST_TEST(!fl::has_duplicated_v1("/v1/models?next=/v1/v1"));
    BOOST_TEST(!fl::has_duplicated_v1(""));
}

BOOST_AUTO_TEST_SUITE_END()

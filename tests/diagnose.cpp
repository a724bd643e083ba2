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
    // As the OpenAI SDKs use them: the base URL ends in /v1, the client appends /chat/completions.
    const row rows[] = {
        {"https://api.example.com", ""},
        {"http://127.0.0.1:3000", ""},
        {"https://api.example.com/openai", ""},
        {"https://api.example.com/v1", ""},
        {"https://api.example.com/v1/", "base_url_trailing_slash=https://api.example.com/v1;"},
        {"https://api.example.com/", "base_url_trailing_slash=https://api.example.com;"},
        {"https://api.example.com/v1/v1", "base_url_duplicates_v1=https://api.example.com/v1;"},
        {"https://api.example.com/v1/v1/", "base_url_trailing_slash=https://api.example.com/v1/"
                                           "v1;base_url_duplicates_v1=https://api.example.com/v1;"},
        {" https://api.example.com\n", "base_url_whitespace=https://api.example.com;"},
        {"https://api.example.com\xE2\x80\x8B/v1",
         "base_url_whitespace=https://api.example.com/v1;"},
        {"api.example.com", "base_url_invalid=;"},
        {"ftp://x", "base_url_invalid=;"},
        {"https://", "base_url_invalid=;"},
        {"", "base_url_invalid=;"},
        {"HTTPS://API.EXAMPLE.COM", ""},
    };
    for (const auto& r : rows)
        BOOST_TEST(codes(fl::diagnose_base_url(r.url)) == r.expect, r.url);
}

// The SDKs' documented defaults were reported as a duplicated /v1.
BOOST_AUTO_TEST_CASE(sdk_default_base_urls_are_not_flagged) {
    for (const char* url : {"https://api.openai.com/v1", "http://localhost:11434/v1",
                            "https://openrouter.ai/api/v1", "https://api.groq.com/openai/v1",
                            "https://generativelanguage.googleapis.com/v1beta/openai"})
        BOOST_TEST(codes(fl::diagnose_base_url(url)) == "", url);
}

BOOST_AUTO_TEST_CASE(base_urls_for_a_client_that_appends_v1) {
    struct row {
        const char* url;
        const char* expect;
    };
    const row rows[] = {
        {"https://api.example.com", ""},
        {"https://api.example.com/v1", "base_url_duplicates_v1=https://api.example.com;"},
        {"https://api.example.com/v1/", "base_url_trailing_slash=https://api.example.com/"
                                        "v1;base_url_duplicates_v1=https://api.example.com;"},
        {"https://api.example.com/v1/v1", "base_url_duplicates_v1=https://api.example.com/"
                                          "v1;base_url_duplicates_v1=https://api.example.com;"},
        {"https://api.example.com/v10", ""},
        {"https://v1", ""},
    };
    fl::base_url_options appends;
    appends.client_appends_v1 = true;
    for (const auto& r : rows)
        BOOST_TEST(codes(fl::diagnose_base_url(r.url, appends)) == r.expect, r.url);
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

BOOST_AUTO_TEST_CASE(request_targets) {
    struct row {
        const char* target;
        const char* origin;
        const char* sdk;     // the suggestion for an SDK; "" when the target says nothing
        const char* appends; // the suggestion for a client that appends /v1 itself
    };
    const row rows[] = {
        // The base URL had /v1 and the client added another.
        {"/v1/v1/chat/completions", "http://gw:8080", "base_url_duplicates_v1=http://gw:8080/v1;",
         "base_url_duplicates_v1=http://gw:8080;"},
        {"/v1/v1/models?limit=2", "", "base_url_duplicates_v1=/v1;", "base_url_duplicates_v1=;"},
        {"/proxy/v1/v1/chat/completions", "https://gw",
         "base_url_duplicates_v1=https://gw/proxy/v1;", "base_url_duplicates_v1=https://gw/proxy;"},
        {"/v1/v1", "http://gw", "base_url_duplicates_v1=http://gw/v1;",
         "base_url_duplicates_v1=http://gw;"},
        // The base URL lacked /v1 and the client appended only the endpoint.
        {"/chat/completions", "http://127.0.0.1:8080",
         "base_url_missing_v1=http://127.0.0.1:8080/v1;",
         "base_url_missing_v1=http://127.0.0.1:8080;"},
        {"/models", "http://gw", "base_url_missing_v1=http://gw/v1;",
         "base_url_missing_v1=http://gw;"},
        {"/embeddings?x=1", "", "base_url_missing_v1=/v1;", "base_url_missing_v1=;"},
        {"/api/chat/completions", "https://gw", "base_url_missing_v1=https://gw/api/v1;",
         "base_url_missing_v1=https://gw/api;"},
        {"//chat/completions", "http://gw", "base_url_missing_v1=http://gw/v1;",
         "base_url_missing_v1=http://gw;"},
        {"/responses", "http://gw", "base_url_missing_v1=http://gw/v1;",
         "base_url_missing_v1=http://gw;"},
        // Served paths, other version schemes, and paths that say nothing about /v1.
        {"/v1/chat/completions", "http://gw", "", ""},
        {"/proxy/v1/models", "http://gw", "", ""},
        {"/v1/v10/models", "http://gw", "", ""},
        {"/v2/chat/completions", "http://gw", "", ""},
        {"/v1beta/openai/chat/completions", "http://gw", "", ""},
        {"/v1/models?next=/v1/v1", "http://gw", "", ""},
        {"/metrics", "http://gw", "", ""},
        {"/", "http://gw", "", ""},
        {"", "http://gw", "", ""},
        {"/chatx", "http://gw", "", ""},
        {"/legacy/completions", "http://gw", "base_url_missing_v1=http://gw/legacy/v1;",
         "base_url_missing_v1=http://gw/legacy;"},
        {"?/chat/completions", "http://gw", "", ""},
        {"/v", "http://gw", "", ""},
        {"/v/models", "http://gw", "base_url_missing_v1=http://gw/v/v1;",
         "base_url_missing_v1=http://gw/v;"},
    };
    fl::base_url_options appends;
    appends.client_appends_v1 = true;
    for (const auto& r : rows) {
        const auto sdk = fl::diagnose_request_target(r.target, r.origin);
        BOOST_TEST((sdk ? codes({*sdk}) : std::string()) == r.sdk, r.target);
        const auto own = fl::diagnose_request_target(r.target, r.origin, appends);
        BOOST_TEST((own ? codes({*own}) : std::string()) == r.appends, r.target);
    }
}

BOOST_AUTO_TEST_SUITE_END()

#include <faultline/classify.hpp>

#include <boost/beast/http/fields.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace fl = faultline;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

using hdrs = std::vector<std::pair<std::string, std::string>>;

struct fixture {
    const char* name;
    unsigned status;
    hdrs headers;
    const char* body;
    fl::category cat;
    fl::error code;
    bool retryable;
    long long retry_after_ms; // -1: none
    const char* message;      // expected exactly
};

fl::classify_options at_fixed_time() {
    fl::classify_options o;
    o.now = system_clock::time_point(sys_days{2026y / October / 21} + 7h + 27min + 30s);
    return o;
}

// Bodies follow the providers' public documentation and the reference documents.
const fixture
    fixtures[] =
        {
            // --- OpenAI -------------------------------------------------------------------------
            {"openai 401 invalid key",
             401,
             {},
             R"({"error":{"message":"Incorrect API key provided: sk-abc. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})",
             fl::category::authentication,
             fl::error::authentication,
             false,
             -1,
             "Incorrect API key provided: sk-abc. You can find your API key at "
             "https://platform.openai.com/account/api-keys."},
            {"openai 429 tpm",
             429,
             {{"x-ratelimit-remaining-tokens", "0"},
              {"x-ratelimit-reset-tokens", "6m0s"},
              {"x-ratelimit-remaining-requests", "499"},
              {"x-ratelimit-reset-requests", "120ms"}},
             R"({"error":{"message":"Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 30000, Requested 512.","type":"tokens","param":null,"code":"rate_limit_exceeded"}})",
             fl::category::rate_limited,
             fl::error::tpm_exceeded,
             true,
             360000,
             "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit "
             "30000, Used 30000, Requested 512."},
            {"openai 429 rpm",
             429,
             {{"retry-after-ms", "1200"}, {"Retry-After", "2"}},
             R"({"error":{"message":"Rate limit reached for gpt-4o on requests per min (RPM): Limit 3, Used 3.","type":"requests","param":null,"code":"rate_limit_exceeded"}})",
             fl::category::rate_limited,
             fl::error::rpm_exceeded,
             true,
             1200,
             "Rate limit reached for gpt-4o on requests per min (RPM): Limit 3, Used 3."},
            {"openai 429 insufficient_quota is not retryable",
             429,
             {{"Retry-After", "20"}},
             R"({"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}})",
             fl::category::insufficient_quota,
             fl::error::insufficient_quota,
             false,
             20000,
             "You exceeded your current quota, please check your plan and billing details."},
            {"openai 400 context length",
             400,
             {},
             R"({"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130532 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}})",
             fl::category::context_length_exceeded,
             fl::error::context_length_exceeded,
             false,
             -1,
             "This model's maximum context length is 128000 tokens. However, your messages "
             "resulted in 130532 tokens."},
            {"openai 404 model",
             404,
             {},
             R"({"error":{"message":"The model `gpt-5-turbo` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}})",
             fl::category::not_found,
             fl::error::model_not_found,
             false,
             -1,
             "The model `gpt-5-turbo` does not exist or you do not have access to it."},
            {"openai 400 content policy",
             400,
             {},
             R"({"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error","param":null,"code":"content_policy_violation"}})",
             fl::category::content_filter,
             fl::error::content_filter,
             false,
             -1,
             "Your request was rejected as a result of our safety system."},
            {"openai 500",
             500,
             {{"x-should-retry", "true"}},
             R"({"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}})",
             fl::category::server_error,
             fl::error::internal_error,
             true,
             -1,
             "The server had an error while processing your request. Sorry about that!"},
            {"openai 503 with x-should-retry false",
             503,
             {{"x-should-retry", "false"}},
             R"({"error":{"message":"The engine is currently overloaded, please try again later.","type":"server_error","param":null,"code":null}})",
             fl::category::overloaded,
             fl::error::overloaded,
             false,
             -1,
             "The engine is currently overloaded, please try again later."},
            {"openai 409",
             409,
             {},
             R"({"error":{"message":"Lock timeout","type":"invalid_request_error","param":null,"code":null}})",
             fl::category::server_error,
             fl::error::conflict,
             true,
             -1,
             "Lock timeout"},
            // --- reference 000/001 gateway ---------------------------------------------------
            {"gateway 503 no channel with status member",
             503,
             {},
             R"({"error":{"message":"No available channel for model openai/unknown-model","type":"api_error","param":null,"code":"model_not_found","status":503}})",
             fl::category::upstream_unavailable,
             fl::error::no_available_channel,
             true,
             -1,
             "No available channel for model openai/unknown-model"},
            {"gateway 413 context",
             413,
             {},
             R"({"error":{"message":"input too large for model context","type":"context_length_exceeded","param":null,"code":"context_length_exceeded"}})",
             fl::category::context_length_exceeded,
             fl::error::context_length_exceeded,
             false,
             -1,
             "input too large for model context"},
            {"gateway 402 quota",
             402,
             {},
             R"({"error":{"message":"user quota is not enough","type":"insufficient_quota","param":null,"code":"insufficient_quota"}})",
             fl::category::insufficient_quota,
             fl::error::insufficient_quota,
             false,
             -1,
             "user quota is not enough"},
            {"gateway 403 permission",
             403,
             {},
             R"({"error":{"message":"Telegram verification required","type":"permission_error","param":null,"code":null}})",
             fl::category::permission,
             fl::error::permission_denied,
             false,
             -1,
             "Telegram verification required"},
            {"gateway 502 redacted overload",
             502,
             {},
             R"({"error":{"message":"Service temporarily unavailable","type":"api_error","param":null,"code":null}})",
             fl::category::upstream_unavailable,
             fl::error::upstream_unavailable,
             true,
             -1,
             "Service temporarily unavailable"},
            {"gateway 429 token-level",
             429,
             {{"Retry-After", "Wed, 21 Oct 2026 07:28:00 GMT"}},
             R"({"error":{"message":"token rate limit exceeded: 60 requests per minute","type":"rate_limit_error","param":null,"code":"rpm_exceeded"}})",
             fl::category::rate_limited,
             fl::error::rpm_exceeded,
             true,
             30000,
             "token rate limit exceeded: 60 requests per minute"},
            // --- reference 002 ---------------------------------------------------------------
            {"ref002 400 model_not_found",
             400,
             {},
             R"({"error":{"message":"model \"openai/gpt-4o\" not found","type":"invalid_request_error","code":"model_not_found"}})",
             fl::category::not_found,
             fl::error::model_not_found,
             false,
             -1,
             "model \"openai/gpt-4o\" not found"},
            {"ref002 402 insufficient_credit",
             402,
             {},
             R"({"error":{"message":"workspace credit balance is not positive","type":"invalid_request_error","code":"insufficient_credit"}})",
             fl::category::insufficient_quota,
             fl::error::insufficient_quota,
             false,
             -1,
             "workspace credit balance is not positive"},
            {"ref002 404 route",
             404,
             {},
             R"({"error":{"message":"no route","type":"invalid_request_error","code":"not_found"}})",
             fl::category::not_found,
             fl::error::not_found,
             false,
             -1,
             "no route"},
            {"ref002 429 spend limit is not retryable",
             429,
             {{"Retry-After", "60"}},
             R"({"error":{"message":"spend limit reached for key","type":"invalid_request_error","code":"spend_limit_exceeded"}})",
             fl::category::insufficient_quota,
             fl::error::spend_limit_exceeded,
             false,
             60000,
             "spend limit reached for key"},
            {"ref002 500 event_id",
             500,
             {},
             R"({"error":{"message":"internal error","type":"api_error","code":null,"event_id":"evt_8f2c"}})",
             fl::category::server_error,
             fl::error::internal_error,
             true,
             -1,
             "internal error"},
            {"ref002 502 vertex",
             502,
             {},
             R"({"error":{"message":"credential exchange failed","type":"upstream_error","code":"vertex_auth_failed"}})",
             fl::category::upstream_unavailable,
             fl::error::upstream_auth_failed,
             true,
             -1,
             "credential exchange failed"},
            {"ref002 503 no_supplier",
             503,
             {},
             R"({"error":{"message":"no provider available","type":"upstream_error","code":"no_supplier"}})",
             fl::category::upstream_unavailable,
             fl::error::no_available_channel,
             true,
             -1,
             "no provider available"},
            {"ref002 504",
             504,
             {},
             R"({"error":{"message":"upstream did not respond","type":"upstream_error","code":"upstream_timeout"}})",
             fl::category::timeout,
             fl::error::upstream_timeout,
             true,
             -1,
             "upstream did not respond"},
            {"ref002 stream error chunk",
             0,
             {},
             R"({"error":{"message":"stream interrupted","type":"upstream_error","code":"stream_error"}})",
             fl::category::server_error,
             fl::error::stream_interrupted,
             true,
             -1,
             "stream interrupted"},
            // --- reference 003 ---------------------------------------------------------------
            {"ref003 402 budget",
             402,
             {},
             R"({"error":{"message":"Key budget exhausted","type":"billing_error","code":"budget_exceeded"}})",
             fl::category::insufficient_quota,
             fl::error::spend_limit_exceeded,
             false,
             -1,
             "Key budget exhausted"},
            {"ref003 429 rpm",
             429,
             {},
             R"({"error":{"message":"Too many requests","type":"rate_limit_error","code":"rpm_exceeded"}})",
             fl::category::rate_limited,
             fl::error::rpm_exceeded,
             true,
             -1,
             "Too many requests"},
            {"ref003 400 context_exceeded",
             400,
             {},
             R"({"error":{"message":"Total tokens exceed the model's context window","type":"invalid_request_error","code":"context_exceeded"}})",
             fl::category::context_length_exceeded,
             fl::error::context_length_exceeded,
             false,
             -1,
             "Total tokens exceed the model's context window"},
            {"ref003 stream timeout chunk",
             0,
             {},
             R"({"error": {"message": "Upstream timeout", "type": "engine_error", "code": "timeout"}})",
             fl::category::timeout,
             fl::error::upstream_timeout,
             true,
             -1,
             "Upstream timeout"},
            {"ref003 413 audio",
             413,
             {},
             R"({"error":{"message":"Audio upload exceeds 75 MB","type":"invalid_request_error","code":null}})",
             fl::category::payload_too_large,
             fl::error::payload_too_large,
             false,
             -1,
             "Audio upload exceeds 75 MB"},
            // --- Anthropic ---------------------------------------------------------------------
            {"anthropic 529 overloaded",
             529,
             {},
             R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})",
             fl::category::overloaded,
             fl::error::overloaded,
             true,
             -1,
             "Overloaded"},
            {"anthropic 429",
             429,
             {{"retry-after", "17"}},
             R"({"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}})",
             fl::category::rate_limited,
             fl::error::rate_limited,
             true,
             17000,
             "Number of request tokens has exceeded your per-minute rate limit"},
            {"anthropic 400 prompt too long",
             400,
             {},
             R"({"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}})",
             fl::category::context_length_exceeded,
             fl::error::context_length_exceeded,
             false,
             -1,
             "prompt is too long: 208310 tokens > 200000 maximum"},
            {"anthropic 400 credit",
             400,
             {},
             R"({"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}})",
             fl::category::insufficient_quota,
             fl::error::insufficient_quota,
             false,
             -1,
             "Your credit balance is too low to access the Anthropic API."},
            {"anthropic 401",
             401,
             {},
             R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})",
             fl::category::authentication,
             fl::error::authentication,
             false,
             -1,
             "invalid x-api-key"},
            {"anthropic 413",
             413,
             {},
             R"({"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}})",
             fl::category::payload_too_large,
             fl::error::payload_too_large,
             false,
             -1,
             "Request exceeds the maximum allowed number of bytes."},
            {"anthropic 404",
             404,
             {},
             R"({"type":"error","error":{"type":"not_found_error","message":"model: claude-3-5-sonet"}})",
             fl::category::not_found,
             fl::error::not_found,
             false,
             -1,
             "model: claude-3-5-sonet"},
            {"anthropic stream event error",
             0,
             {},
             R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})",
             fl::category::overloaded,
             fl::error::overloaded,
             true,
             -1,
             "Overloaded"},
            // --- Google Gemini / Vertex
            // ------------------------------------------------------------
            {"gemini 429 retry info",
             429,
             {},
             R"({"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"38s"}]}})",
             fl::category::rate_limited,
             fl::error::rate_limited,
             true,
             38000,
             "You exceeded your current quota, please check your plan and billing details."},
            {"gemini wrapped in an array",
             429,
             {},
             R"([{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}])",
             fl::category::rate_limited,
             fl::error::rate_limited,
             true,
             -1,
             "Resource has been exhausted (e.g. check quota)."},
            {"gemini 400 bad key",
             400,
             {},
             R"({"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}})",
             fl::category::authentication,
             fl::error::authentication,
             false,
             -1,
             "API key not valid. Please pass a valid API key."},
            {"gemini 503 overloaded",
             503,
             {},
             R"({"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}})",
             fl::category::overloaded,
             fl::error::overloaded,
             true,
             -1,
             "The model is overloaded. Please try again later."},
            {"gemini 403",
             403,
             {},
             R"({"error":{"code":403,"message":"Permission denied on resource project x.","status":"PERMISSION_DENIED"}})",
             fl::category::permission,
             fl::error::permission_denied,
             false,
             -1,
             "Permission denied on resource project x."},
            {"vertex 504",
             504,
             {},
             R"({"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}})",
             fl::category::timeout,
             fl::error::upstream_timeout,
             true,
             -1,
             "Deadline expired before operation could complete."},
            {"gemini inside a stream, no status",
             0,
             {},
             R"({"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}})",
             fl::category::server_error,
             fl::error::internal_error,
             true,
             -1,
             "An internal error has occurred."},
            // --- Azure OpenAI --------------------------------------------------------------------
            {"azure 429 string code", 429, {{"retry-after", "5"}}, R"({"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-02-01 have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 5 seconds."}})", fl::category::rate_limited, fl::error::rate_limited, true, 5000, "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-02-01 have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 5 seconds."},
            {"azure content filter innererror",
             400,
             {},
             R"({"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}})",
             fl::category::content_filter,
             fl::error::content_filter,
             false,
             -1,
             "The response was filtered due to the prompt triggering Azure OpenAI's content "
             "management policy."},
            {"azure 404 deployment",
             404,
             {},
             R"({"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}})",
             fl::category::not_found,
             fl::error::model_not_found,
             false,
             -1,
             "The API deployment for this resource does not exist."},
            {"azure 429 string code without status",
             0,
             {},
             R"({"error":{"code":"429","message":"Rate limit is exceeded."}})",
             fl::category::rate_limited,
             fl::error::rate_limited,
             true,
             -1,
             "Rate limit is exceeded."},
            // --- OpenRouter, Mistral, vLLM
            // ------------------------------------------------------------
            {"openrouter 402 integer code",
             402,
             {},
             R"({"error":{"code":402,"message":"Insufficient credits. Add more using https://openrouter.ai/credits"}})",
             fl::category::insufficient_quota,
             fl::error::insufficient_quota,
             false,
             -1,
             "Insufficient credits. Add more using https://openrouter.ai/credits"},
            {"openrouter 429 integer code in a 200 stream",
             0,
             {},
             R"({"error":{"code":429,"message":"Provider returned error","metadata":{"provider_name":"X"}}})",
             fl::category::rate_limited,
             fl::error::rate_limited,
             true,
             -1,
             "Provider returned error"},
            {"openrouter 502",
             502,
             {},
             R"({"error":{"code":502,"message":"Provider returned error","metadata":{"raw":"upstream 500"}}})",
             fl::category::upstream_unavailable,
             fl::error::upstream_unavailable,
             true,
             -1,
             "Provider returned error"},
            {"mistral flat object",
             422,
             {},
             R"({"object":"error","message":"Input should be a valid integer","type":"invalid_request_error","param":null,"code":null})",
             fl::category::invalid_request,
             fl::error::invalid_request,
             false,
             -1,
             "Input should be a valid integer"},
            {"mistral 429 message only",
             429,
             {},
             R"({"message":"Requests rate limit exceeded"})",
             fl::category::rate_limited,
             fl::error::rate_limited,
             true,
             -1,
             "Requests rate limit exceeded"},
            {"vllm flat context",
             400,
             {},
             R"({"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.","type":"BadRequestError","param":null,"code":400})",
             fl::category::context_length_exceeded,
             fl::error::context_length_exceeded,
             false,
             -1,
             "This model's maximum context length is 4096 tokens. However, you requested 5000 "
             "tokens."},
            {"vllm nested 404",
             404,
             {},
             R"({"error":{"message":"The model `llama` does not exist.","type":"NotFoundError","param":null,"code":404}})",
             fl::category::not_found,
             fl::error::not_found,
             false,
             -1,
             "The model `llama` does not exist."},
            {"fastapi detail",
             401,
             {},
             R"({"detail":"Not authenticated"})",
             fl::category::authentication,
             fl::error::authentication,
             false,
             -1,
             "Not authenticated"},
            {"error as plain string",
             500,
             {},
             R"({"error":"upstream exploded"})",
             fl::category::server_error,
             fl::error::internal_error,
             true,
             -1,
             "upstream exploded"},
            {"error string with message beside",
             429,
             {},
             R"({"error":"Too Many Requests","message":"Slow down: 10 requests per minute"})",
             fl::category::rate_limited,
             fl::error::rpm_exceeded,
             true,
             -1,
             "Slow down: 10 requests per minute"},
            // --- proxies, broken bodies
            // ------------------------------------------------------------
            {"nginx html 502",
             502,
             {},
             "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 "
             "Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
             fl::category::upstream_unavailable,
             fl::error::upstream_unavailable,
             true,
             -1,
             "502 Bad Gateway"},
            {"cloudflare 524 html",
             524,
             {},
             "<!DOCTYPE html><html><head><title>example.com | 524: A timeout "
             "occurred</title></head><body><h1>A timeout occurred</h1></body></html>",
             fl::category::timeout,
             fl::error::upstream_timeout,
             true,
             -1,
             "example.com | 524: A timeout occurred"},
            {"html without title",
             503,
             {},
             "<html><body><h1>Service Unavailable</h1></body></html>",
             fl::category::upstream_unavailable,
             fl::error::upstream_unavailable,
             true,
             -1,
             "Service Unavailable"},
            {"html nothing readable",
             503,
             {{"Retry-After", "120"}},
             "<html><body></body></html>",
             fl::category::upstream_unavailable,
             fl::error::upstream_unavailable,
             true,
             120000,
             "Service Unavailable"},
            {"plain text",
             503,
             {},
             "upstream connect error or disconnect/reset before headers. reset reason: overflow",
             fl::category::upstream_unavailable,
             fl::error::upstream_unavailable,
             true,
             -1,
             "upstream connect error or disconnect/reset before headers. reset reason: overflow"},
            {"empty 429",
             429,
             {{"Retry-After", "1"}},
             "",
             fl::category::rate_limited,
             fl::error::rate_limited,
             true,
             1000,
             "Too Many Requests"},
            {"whitespace body 401",
             401,
             {},
             " \r\n\t ",
             fl::category::authentication,
             fl::error::authentication,
             false,
             -1,
             "Unauthorized"},
            {"truncated json",
             500,
             {},
             R"({"error":{"message":"The server had an err)",
             fl::category::server_error,
             fl::error::internal_error,
             true,
             -1,
             "Internal Server Error"},
            {"json without an error",
             400,
             {},
             R"({"id":"chatcmpl-1","choices":[]})",
             fl::category::invalid_request,
             fl::error::invalid_request,
             false,
             -1,
             "Bad Request"},
            {"falsy error member",
             400,
             {},
             R"({"error":null})",
             fl::category::invalid_request,
             fl::error::invalid_request,
             false,
             -1,
             "Bad Request"},
            {"number body",
             500,
             {},
             "42",
             fl::category::server_error,
             fl::error::internal_error,
             true,
             -1,
             "42"},
            {"no status no hints",
             0,
             {},
             R"({"error":{"message":"something odd"}})",
             fl::category::unknown,
             fl::error::unknown,
             false,
             -1,
             "something odd"},
            {"no status no body",
             0,
             {},
             "",
             fl::category::unknown,
             fl::error::unknown,
             false,
             -1,
             "The failure could not be recognised."},
            {"200 with an error body",
             200,
             {},
             R"({"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}})",
             fl::category::insufficient_quota,
             fl::error::insufficient_quota,
             false,
             -1,
             "quota"},
            {"garbage retry-after is ignored",
             429,
             {{"Retry-After", "soon"}},
             "",
             fl::category::rate_limited,
             fl::error::rate_limited,
             true,
             -1,
             "Too Many Requests"},
            {"hostile retry-after is capped",
             503,
             {{"Retry-After", "99999999"}},
             "",
             fl::category::upstream_unavailable,
             fl::error::upstream_unavailable,
             true,
             86400000,
             "Service Unavailable"},
            {"reset headers ignored outside rate limits",
             500,
             {{"x-ratelimit-reset-requests", "1s"}},
             "",
             fl::category::server_error,
             fl::error::internal_error,
             true,
             -1,
             "Internal Server Error"},
            {"overload words in a 400 are not overload",
             400,
             {},
             R"({"error":{"message":"the tool schema overloaded the parser","type":"invalid_request_error"}})",
             fl::category::invalid_request,
             fl::error::invalid_request,
             false,
             -1,
             "the tool schema overloaded the parser"},
            {"authentication type alone does not beat the status",
             403,
             {},
             R"({"error":{"message":"nope","type":"authentication_error"}})",
             fl::category::permission,
             fl::error::permission_denied,
             false,
             -1,
             "nope"},

            // --- wrapped one level deeper -------------------------------------------------------
            // Relays that nest the upstream's error object, {"error":{"error":{…}}}: the shape
            // gateway clients on GitHub test for (a Go SSE client's "nested error.error" frame
            // `{"error":{"error":{"message":"Overloaded","type":"overloaded_error"}}}`).
            {"relay nests the upstream error one level deeper",
             502,
             {},
             R"({"error":{"error":{"message":"Overloaded","type":"overloaded_error"}}})",
             fl::category::overloaded,
             fl::error::overloaded,
             true,
             -1,
             "Overloaded"},
            {"nested error keeps the relay's code and event id where the upstream has none",
             400,
             {},
             R"({"error":{"error":{"message":"Unsupported parameter: 'temperature'"},"code":"invalid_request","event_id":"evt_7"}})",
             fl::category::invalid_request,
             fl::error::invalid_request,
             false,
             -1,
             "Unsupported parameter: 'temperature'"},
            {"an inner error member that is no error object keeps the outer one",
             400,
             {},
             R"({"error":{"message":"bad tool schema","type":"invalid_request_error","error":{"path":"tools[0]"}}})",
             fl::category::invalid_request,
             fl::error::invalid_request,
             false,
             -1,
             "bad tool schema"},
            // continuedev/continue#10639: a gateway relays Gemini's whole 503 document as the
            // message, with its own code 503 and a "status" that is no Google status.
            {"gemini error document relayed as the message",
             503,
             {},
             R"({"error":{"message":"{\n  \"error\": {\n    \"code\": 503,\n    \"message\": \"This model is currently experiencing high demand. Spikes in demand are usually temporary. Please try again later.\",\n    \"status\": \"UNAVAILABLE\"\n  }\n}\n","code":503,"status":"Service Unavailable"}})",
             fl::category::overloaded,
             fl::error::overloaded,
             true,
             -1,
             "This model is currently experiencing high demand. Spikes in demand are usually "
             "temporary. Please try again later."},
            {"relayed error document without an HTTP status (continuedev/continue#10639)",
             0,
             {},
             R"({"error":{"message":"{\n  \"error\": {\n    \"code\": 503,\n    \"message\": \"This model is currently experiencing high demand. Spikes in demand are usually temporary. Please try again later.\",\n    \"status\": \"UNAVAILABLE\"\n  }\n}\n","code":503,"status":"Service Unavailable"}})",
             fl::category::overloaded,
             fl::error::overloaded,
             true,
             -1,
             "This model is currently experiencing high demand. Spikes in demand are usually "
             "temporary. Please try again later."},
            {"a message that is JSON but no error document stays the message",
             500,
             {},
             R"({"error":{"message":"[1, 2, 3]","type":"server_error"}})",
             fl::category::server_error,
             fl::error::internal_error,
             true,
             -1,
             "[1, 2, 3]"},
            {"a relayed document is unwrapped once, not again",
             502,
             {},
             R"({"error":{"message":"{\"error\":{\"message\":\"{\\\"error\\\":{\\\"message\\\":\\\"deepest\\\"}}\",\"type\":\"upstream_error\"}}"}})",
             fl::category::upstream_unavailable,
             fl::error::upstream_unavailable,
             true,
             -1,
             R"({"error":{"message":"deepest"}})"},

            // --- one-api / new-api quota codes --------------------------------------------------
            // popjane/free_chatgpt_api#26 (403, through a new-api deployment).
            {"new-api 403 insufficient_user_quota is not retryable",
             403,
             {},
             R"j({"error":{"message":"user quota is not enough (request id: 2024081922011112714735330169131)","type":"v_api_error","param":"","code":"insufficient_user_quota"}})j",
             fl::category::insufficient_quota,
             fl::error::insufficient_quota,
             false,
             -1,
             "user quota is not enough (request id: 2024081922011112714735330169131)"},
            {"one-api insufficient_user_quota relayed on 429 is not retryable",
             429,
             {{"Retry-After", "1"}},
             R"j({"error":{"message":"user quota is not enough (request id: 2024040323172594066980027391365)","type":"one_api_error","param":"","code":"insufficient_user_quota"}})j",
             fl::category::insufficient_quota,
             fl::error::insufficient_quota,
             false,
             1000,
             "user quota is not enough (request id: 2024040323172594066980027391365)"},
            // QuantumNous/new-api service/pre_consume_quota.go: ErrorCodePreConsumeTokenQuotaFailed
            // with http.StatusForbidden and "token quota is not enough, ...".
            {"new-api pre_consume_token_quota_failed is not retryable",
             403,
             {},
             R"({"error":{"message":"token quota is not enough, token remain quota: ＄0.000120, need quota: ＄0.002400","type":"new_api_error","param":"","code":"pre_consume_token_quota_failed"}})",
             fl::category::insufficient_quota,
             fl::error::insufficient_quota,
             false,
             -1,
             "token quota is not enough, token remain quota: ＄0.000120, need quota: ＄0.002400"},
            // new-api: fmt.Errorf("用户额度不足, 剩余额度: %s") with no code a client relayed.
            {"new-api quota message without a code",
             429,
             {},
             R"({"error":{"message":"用户额度不足, 剩余额度: ＄0.000000","type":"new_api_error"}})",
             fl::category::insufficient_quota,
             fl::error::insufficient_quota,
             false,
             -1,
             "用户额度不足, 剩余额度: ＄0.000000"},

            // --- a 429 that can never fit -------------------------------------------------------
            // Aider-AI/aider#1880 (OpenAI, relayed by litellm).
            {"openai 429 request too large for the tpm limit is not retryable",
             429,
             {{"x-ratelimit-remaining-tokens", "30000"}, {"x-ratelimit-reset-tokens", "0s"}},
             R"({"error":{"message":"Request too large for gpt-4o in organization org-2itOgSdqw0DhUYp0QyLhttLL on tokens per min (TPM): Limit 30000, Requested 36278. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}})",
             fl::category::payload_too_large,
             fl::error::payload_too_large,
             false,
             -1,
             "Request too large for gpt-4o in organization org-2itOgSdqw0DhUYp0QyLhttLL on tokens "
             "per min (TPM): Limit 30000, Requested 36278. The input or output tokens must be "
             "reduced in order to run successfully. Visit "
             "https://platform.openai.com/account/rate-limits to learn more."},

            // --- overload and hints in messages -------------------------------------------------
            // google-gemini/gemini-cli#5191, with the surrounding space a relay added.
            {"gemini 503 model is overloaded, message trimmed",
             503,
             {},
             R"({"error":{"code":503,"message":"  The model is overloaded. Please try again later.\n","status":"UNAVAILABLE"}})",
             fl::category::overloaded,
             fl::error::overloaded,
             true,
             -1,
             "The model is overloaded. Please try again later."},
            {"text body trimmed",
             502,
             {},
             "\r\n  upstream connect error or disconnect/reset before headers  \n",
             fl::category::upstream_unavailable,
             fl::error::upstream_unavailable,
             true,
             -1,
             "upstream connect error or disconnect/reset before headers"},
            // FoundationAgents/MetaGPT#523.
            {"openai 429 try again in seconds from the message",
             429,
             {},
             R"({"error":{"message":"Rate limit reached for gpt-4 in organization org-uVqpjtJiKqvVJMVfvpaounIh on tokens per min (TPM): Limit 10000, Used 8554, Requested 3082. Please try again in 9.816s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}})",
             fl::category::rate_limited,
             fl::error::tpm_exceeded,
             true,
             9816,
             "Rate limit reached for gpt-4 in organization org-uVqpjtJiKqvVJMVfvpaounIh on tokens "
             "per min (TPM): Limit 10000, Used 8554, Requested 3082. Please try again in 9.816s. "
             "Visit https://platform.openai.com/account/rate-limits to learn more."},
            // binary-husky/gpt_academic#1213.
            {"openai 429 try again in milliseconds from the message",
             429,
             {},
             R"({"error":{"message":"Rate limit reached for gpt-4 in organization org-RQ60lN38PaYNYPNEiYrSqwvj on tokens per min. Limit: 10000 / min. Please try again in 6ms. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}})",
             fl::category::rate_limited,
             fl::error::tpm_exceeded,
             true,
             6,
             "Rate limit reached for gpt-4 in organization org-RQ60lN38PaYNYPNEiYrSqwvj on tokens "
             "per min. Limit: 10000 / min. Please try again in 6ms. Visit "
             "https://platform.openai.com/account/rate-limits to learn more."},
            // continuedev/continue#11472, with a Retry-After header: the header wins.
            {"a header beats the message's hint",
             429,
             {{"Retry-After", "2"}},
             R"({"error":{"message":"Rate limit reached for gpt-4.1 in organization org-66tr5xhH5yhaqZAy6PAIy1Xi on tokens per min (TPM): Limit 30000, Used 18928, Requested 11159. Please try again in 174ms.","type":"tokens","code":"rate_limit_exceeded"}})",
             fl::category::rate_limited,
             fl::error::tpm_exceeded,
             true,
             2000,
             "Rate limit reached for gpt-4.1 in organization org-66tr5xhH5yhaqZAy6PAIy1Xi on "
             "tokens per min (TPM): Limit 30000, Used 18928, Requested 11159. Please try again in "
             "174ms."},
            // feder-cr/invisible_playwright_mcp#109 (requests per day).
            {"openai 429 try again in minutes from the message",
             429,
             {},
             R"({"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-xxxxxxxxx on requests per day (RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s. Visit https://platform.openai.com/account/rate-limits to learn more. You can increase your rate limit by adding a payment method to your account at https://platform.openai.com/account/billing.","type":"requests","param":null,"code":"rate_limit_exceeded"}})",
             fl::category::rate_limited,
             fl::error::rpm_exceeded,
             true,
             432000,
             "Rate limit reached for gpt-4o-mini in organization org-xxxxxxxxx on requests per day "
             "(RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s. Visit "
             "https://platform.openai.com/account/rate-limits to learn more. You can increase your "
             "rate limit by adding a payment method to your account at "
             "https://platform.openai.com/account/billing."},
            // Farrice/mes-knowledge-base swarm output: Gemini's 429 says "Please retry in
            // 58.217843437s." and RetryInfo says "58s"; RetryInfo is the structured one.
            {"gemini 429 RetryInfo beats the message's hint",
             429,
             {},
             R"({"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/rate-limit. \n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 5, model: gemini-3-flash\nPlease retry in 58.217843437s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"58s"}]}})",
             fl::category::rate_limited,
             fl::error::rate_limited,
             true,
             58000,
             "You exceeded your current quota, please check your plan and billing details. For "
             "more information on this error, head to: "
             "https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, "
             "head to: https://ai.dev/rate-limit. \n* Quota exceeded for metric: "
             "generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 5, "
             "model: gemini-3-flash\nPlease retry in 58.217843437s."},
            {"gemini 429 retry hint from the message without RetryInfo",
             429,
             {},
             R"({"error":{"code":429,"message":"Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 5, model: gemini-3-flash\nPlease retry in 58.217843437s.","status":"RESOURCE_EXHAUSTED"}})",
             fl::category::rate_limited,
             fl::error::rate_limited,
             true,
             58218,
             "Quota exceeded for metric: "
             "generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 5, "
             "model: gemini-3-flash\nPlease retry in 58.217843437s."},

            // --- Anthropic rate-limit headers ---------------------------------------------------
            // docs.anthropic.com/en/api/rate-limits: anthropic-ratelimit-*-reset are RFC 3339.
            {"anthropic 429 waits for the exhausted window",
             429,
             {{"anthropic-ratelimit-requests-limit", "4000"},
              {"anthropic-ratelimit-requests-remaining", "3201"},
              {"anthropic-ratelimit-requests-reset", "2026-10-21T07:28:00Z"},
              {"anthropic-ratelimit-input-tokens-limit", "20000"},
              {"anthropic-ratelimit-input-tokens-remaining", "0"},
              {"anthropic-ratelimit-input-tokens-reset", "2026-10-21T07:27:42.5Z"},
              {"anthropic-ratelimit-tokens-remaining", "0"},
              {"anthropic-ratelimit-tokens-reset", "2026-10-21T07:27:40Z"}},
             R"({"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization of 20,000 input tokens per minute."}})",
             fl::category::rate_limited,
             fl::error::tpm_exceeded,
             true,
             12500,
             "This request would exceed the rate limit for your organization of 20,000 input "
             "tokens per minute."},
            {"anthropic reset times say nothing for a 500",
             500,
             {{"anthropic-ratelimit-requests-remaining", "0"},
              {"anthropic-ratelimit-requests-reset", "2026-10-21T07:28:00Z"}},
             R"({"type":"error","error":{"type":"api_error","message":"Internal server error"}})",
             fl::category::server_error,
             fl::error::internal_error,
             true,
             -1,
             "Internal server error"},
};

} // namespace

BOOST_AUTO_TEST_SUITE(classify)

BOOST_AUTO_TEST_CASE(dialect_fixtures) {
    for (const auto& f : fixtures) {
        BOOST_TEST_CONTEXT(f.name) {
            const fl::failure r = fl::classify(f.status, f.headers, f.body, at_fixed_time());
            BOOST_TEST(fl::to_string(r.cat) == fl::to_string(f.cat));
            BOOST_TEST(fl::to_string(r.code) == fl::to_string(f.code));
            BOOST_TEST(r.retryable == f.retryable);
            BOOST_TEST(r.retry_after.has_value() == (f.retry_after_ms >= 0));
            if (r.retry_after && f.retry_after_ms >= 0)
                BOOST_TEST(r.retry_after->count() == f.retry_after_ms);
            BOOST_TEST(r.message == f.message);
            BOOST_TEST(r.status == f.status);
            BOOST_TEST((r.error_code() == f.cat));
        }
    }
}

BOOST_AUTO_TEST_CASE(keeps_type_provider_code_and_event_id_as_sent) {
    const auto a = fl::classify(402, R"({"error":{"code":402,"message":"x"}})");
    BOOST_TEST(std::get<std::int64_t>(a.provider_code) == 402);
    BOOST_TEST(!a.type.has_value());
    const auto b = fl::classify(429, R"({"error":{"code":"429","message":"x","type":"requests"}})");
    BOOST_TEST(std::get<std::string>(b.provider_code) == "429");
    BOOST_TEST(b.type.value() == "requests");
    const auto c = fl::classify(
        500, R"({"error":{"message":"x","type":"api_error","code":null,"event_id":"evt_1"}})");
    BOOST_TEST(std::holds_alternative<std::monostate>(c.provider_code));
    BOOST_TEST(c.event_id.value() == "evt_1");
}

BOOST_AUTO_TEST_CASE(beast_fields_and_inline_headers) {
    boost::beast::http::fields h;
    h.set(boost::beast::http::field::retry_after, "4");
    h.set("x-should-retry", "false");
    const auto a = fl::classify(503, h, "", at_fixed_time());
    BOOST_TEST(a.retry_after->count() == 4000);
    BOOST_TEST(!a.retryable);
    const auto b = fl::classify(429, {{"Retry-After", "2"}}, "", at_fixed_time());
    BOOST_TEST(b.retry_after->count() == 2000);
    const auto c = fl::classify(429, fl::no_headers{}, "", at_fixed_time());
    BOOST_TEST(!c.retry_after.has_value());
}

BOOST_AUTO_TEST_CASE(messages_are_valid_utf8_and_bounded) {
    const auto a = fl::classify(502, "bad \xff\xfe bytes from a proxy");
    BOOST_TEST(a.message == "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes from a proxy");
    fl::classify_options o;
    o.max_message = 10;
    const auto b = fl::classify(500, std::string(100, 'x'), o);
    BOOST_TEST(b.message == std::string(10, 'x') + "\xE2\x80\xA6");
    const auto c = fl::classify(500, "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", o);
    BOOST_TEST(c.message ==
               "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xE2\x80\xA6"); // cut between characters
}

BOOST_AUTO_TEST_CASE(deep_and_huge_bodies_do_not_hurt) {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    const auto a = fl::classify(500, deep);
    BOOST_TEST((a.code == fl::error::internal_error));
    BOOST_TEST(a.message == "Internal Server Error");
    const std::string big = R"({"error":{"message":")" + std::string(2 << 20, 'a') + R"("}})";
    const auto b = fl::classify(429, big);
    BOOST_TEST((b.code == fl::error::rate_limited));
    BOOST_TEST(b.message == "Too Many Requests"); // over parse_limits::max_size: not read as JSON
}

namespace {

// Resident and peak resident memory of this process, in bytes (Linux).
std::size_t resident_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    const int n = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    return n == 2 ? resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

std::size_t peak_resident_bytes() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<std::size_t>(u.ru_maxrss) * 1024;
}

// How much classify raises the process's peak memory for `body`, which must be resident
// already, so the peak starts at the current use and any copy of the body would show.
std::size_t peak_growth_classifying(unsigned status, const std::string& body, fl::failure& out) {
    const std::size_t before = peak_resident_bytes();
    BOOST_REQUIRE(resident_bytes() > 0);
    BOOST_REQUIRE_MESSAGE(before < resident_bytes() + (16u << 20),
                          "an earlier peak hides this measurement: " << before << " vs "
                                                                     << resident_bytes());
    out = fl::classify(status, body);
    return peak_resident_bytes() - before;
}

} // namespace

// Regression: classify copied, lower-cased and sanitized the whole body; a 100 MB text body
// cost 400-780 MB. Now it reads a bounded window, so memory does not grow with the body.
BOOST_AUTO_TEST_CASE(memory_does_not_grow_with_a_100_mb_body) {
    constexpr std::size_t size = 100u << 20;
    fl::failure f;
    {
        std::string text = "upstream exploded: ";
        text.append(size, 'x'); // written, so resident
        const std::size_t growth = peak_growth_classifying(502, text, f);
        BOOST_TEST(growth < (4u << 20), "text body raised the peak by " << growth << " bytes");
        BOOST_TEST((f.code == fl::error::upstream_unavailable));
        BOOST_TEST(f.message.size() == 4096 + 3); // cut and marked
        BOOST_TEST(f.message.starts_with("upstream exploded: xxx"));
    }
    {
        std::string json;
        json.reserve(size + 256); // built in place: a reallocation would raise the peak itself
        json = R"({"error":{"message":"insufficient_quota: )";
        json.append(size, 'a');
        json += R"(","type":"insufficient_quota"}})";
        const std::size_t growth = peak_growth_classifying(429, json, f);
        BOOST_TEST(growth < (4u << 20), "JSON body raised the peak by " << growth << " bytes");
        // Over parse_limits::max_size: not read, the status decides.
        BOOST_TEST((f.code == fl::error::rate_limited));
        BOOST_TEST(f.message == "Too Many Requests");
    }
    {
        // A body of nothing but space is not scanned to its end either.
        std::string blank(size, ' ');
        const std::size_t growth = peak_growth_classifying(503, blank, f);
        BOOST_TEST(growth < (4u << 20));
        BOOST_TEST(f.message == "Service Unavailable");
    }
}

BOOST_AUTO_TEST_CASE(only_the_message_window_is_searched) {
    // A signal past the message cut is not read: the status decides, the message is marked cut.
    fl::classify_options o;
    o.max_message = 64;
    const auto past =
        fl::classify(400, std::string(100, 'x') + " maximum context length exceeded", o);
    BOOST_TEST((past.code == fl::error::invalid_request));
    const auto within = fl::classify(400, "maximum context length " + std::string(100, 'x'), o);
    BOOST_TEST((within.code == fl::error::context_length_exceeded));
    // HTML past max_scan is not read.
    o.max_scan = 32;
    const auto html = fl::classify(502, "<html>" + std::string(40, ' ') + "<title>x</title>", o);
    BOOST_TEST(html.message == "Bad Gateway");
    // Phrases are found wherever they are in the window, whatever their case, and overlapping.
    const auto upper = fl::classify(503, "NO AVAILABLE CHANNEL for model gpt-4o");
    BOOST_TEST((upper.code == fl::error::no_available_channel));
    const auto deep = fl::classify(429, std::string(4000, 'q') + "tokens per min");
    BOOST_TEST((deep.code == fl::error::tpm_exceeded));
    const auto cut = fl::classify(429, std::string(4090, 'k') + "tokens per min");
    BOOST_TEST((cut.code == fl::error::rate_limited));
}

BOOST_AUTO_TEST_CASE(phrases_at_the_edges_of_the_window_and_in_any_case) {
    struct row {
        std::size_t max_message;
        std::string body;
        unsigned status;
        fl::error expected;
    };
    const std::string utf8 = "\xC3\xA9\xE6\xBC\xA2"; // "é漢", bytes with bit 5 set and not
    const std::vector<row> rows = {
        // Ending on the last byte of the window; one byte more and it is cut.
        {64, std::string(50, '.') + "context length", 400, fl::error::context_length_exceeded},
        {63, std::string(50, '.') + "context length", 400, fl::error::invalid_request},
        // The whole window is the phrase, and the window is shorter than one vector step.
        {14, "Context Length", 400, fl::error::context_length_exceeded},
        {13, "Context Length", 400, fl::error::invalid_request},
        // "maximum" at 4004, its key bytes "ximu" at 4006..4009: whole, cut after the key, and
        // cut inside the key.
        {4026, std::string(4000, '-') + "the maximum context length", 400,
         fl::error::context_length_exceeded},
        {4010, std::string(4000, '-') + "the maximum context length", 400,
         fl::error::invalid_request},
        {4008, std::string(4000, '-') + "the maximum context length", 400,
         fl::error::invalid_request},
        // Mixed case, next to non-ASCII bytes, across a 32-byte step.
        {4096, std::string(29, 'x') + utf8 + "InSuFfIcIeNt QuOtA" + utf8, 400,
         fl::error::insufficient_quota},
        {4096, utf8 + utf8 + "QUOTA IS NOT ENOUGH", 403, fl::error::insufficient_quota},
        {4096, "\xE9\xA2\x9D\xE5\xBA\xA6\xE4\xB8\x8D\xE8\xB6\xB3", 403,
         fl::error::insufficient_quota},
        // Bit 5 folds DEL onto '_' and CR onto '-': only the phrase's letters are folded.
        {4096, "insufficient\x7Fquota", 400, fl::error::invalid_request},
        {4096, "INSUFFICIENT_QUOTA", 400, fl::error::insufficient_quota},
        {4096, "Invalid X-API-Key", 400, fl::error::authentication},
        {4096,
         "Invalid X\x0D"
         "API-Key",
         400, fl::error::invalid_request},
        // A phrase whose start is before the first byte is no phrase ("ntext length" alone).
        {4096, "ntext length", 400, fl::error::invalid_request},
        // The anchor bytes of a phrase over and over, then the phrase itself last.
        {4096,
         [] {
             std::string s;
             while (s.size() < 4000)
                 s += "ximuxt lxt w";
             return s + "maximum context length";
         }(),
         400, fl::error::context_length_exceeded},
    };
    for (const auto& r : rows) {
        fl::classify_options o;
        o.max_message = r.max_message;
        BOOST_TEST_CONTEXT(r.body.substr(0, 80) << " / " << r.max_message) {
            BOOST_TEST((fl::classify(r.status, r.body, o).code == r.expected));
        }
    }
}

BOOST_AUTO_TEST_CASE(vector_phrase_search_agrees_with_the_scalar_one) {
    // Texts built from the phrases themselves in random case, cut short, between random
    // letters, spaces, marks and UTF-8: both searches give the same phrases at the same places.
    std::mt19937_64 rng(20261130);
    const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const std::string_view filler[] = {
        " ",    "x",    "t", "xt", "_", "-",  "\xC3\xA9", "\xE9\xA2\x9D",
        "\xFF", "\x7F", "@", "0",  "Q", "qu", "   "};
    std::size_t agreed = 0, with_hits = 0;
    for (int round = 0; round < 3000; ++round) {
        std::string text;
        const std::size_t pieces = pick(40);
        for (std::size_t k = 0; k < pieces; ++k) {
            if (pick(3) == 0) {
                std::string p(fl::detail::phrases[pick(fl::detail::phrase_count)].text);
                if (pick(3) == 0) p.resize(pick(p.size() + 1));
                for (auto& c : p)
                    if (pick(2) == 0 && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
                text += p;
            } else
                text += filler[pick(std::size(filler))];
        }
        const auto vec = fl::detail::find_phrases(text);
        const auto ref = fl::detail::find_phrases_scalar(text);
        BOOST_TEST_CONTEXT(round << ": " << text) {
            BOOST_TEST(vec.found == ref.found);
            for (std::size_t k = 0; k < fl::detail::phrase_count; ++k)
                if (ref.found >> k & 1) BOOST_TEST(vec.at[k] == ref.at[k]);
        }
        agreed += vec.found == ref.found;
        with_hits += ref.found != 0;
    }
    BOOST_TEST(agreed == 3000u);
    BOOST_TEST(with_hits > 1000u); // the texts do hold phrases
}

BOOST_AUTO_TEST_CASE(every_status_classifies) {
    for (unsigned s = 0; s < 1000; ++s) {
        const auto f = fl::classify(s, "");
        BOOST_TEST_CONTEXT(s) {
            if (s >= 400 && s < 600)
                BOOST_TEST((f.code == fl::error_from_status(s)));
            else
                BOOST_TEST((f.code == fl::error::unknown));
            BOOST_TEST(!f.message.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(transport_errors_and_local_decisions) {
    const auto t = fl::to_failure(std::make_error_code(std::errc::timed_out));
    BOOST_TEST((t.code == fl::error::upstream_timeout));
    BOOST_TEST((t.cat == fl::category::timeout));
    BOOST_TEST(t.retryable);
    const auto r = fl::to_failure(std::make_error_code(std::errc::connection_reset), "peer reset");
    BOOST_TEST((r.code == fl::error::upstream_unavailable));
    BOOST_TEST(r.message == "peer reset");
    const auto l = fl::to_failure(fl::error::tpm_exceeded);
    BOOST_TEST((l.cat == fl::category::rate_limited));
    BOOST_TEST(l.message == std::string(fl::info(fl::error::tpm_exceeded).cause));
    const auto o = fl::to_failure(std::make_error_code(std::errc::invalid_argument));
    BOOST_TEST((o.code == fl::error::unknown));
    BOOST_TEST(!o.retryable);
}

BOOST_AUTO_TEST_CASE(render_a_classified_upstream_failure) {
    const auto up = fl::classify(
        500, R"({"error":{"message":"pg: connection refused at 10.0.0.5","type":"api_error"}})");
    const auto r = fl::render(up, "evt_9");
    BOOST_TEST(r.status == 500u);
    BOOST_TEST(r.body.find("10.0.0.5") == std::string::npos);
    BOOST_TEST(r.body.find("evt_9") != std::string::npos);
    const auto q =
        fl::render(fl::classify(429, R"({"error":{"message":"slow down","code":"rpm_exceeded"}})"));
    BOOST_TEST(q.status == 429u);
    BOOST_TEST(q.body.find("slow down") != std::string::npos);
}

// Regression: a gateway's own stream error chunks (stream time limit, a line over its scanner
// limit) classified as generic server errors, losing the code the gateway sent.
BOOST_AUTO_TEST_CASE(error_chunks_a_server_renders_classify_back_to_their_code) {
    const fl::error codes[] = {fl::error::stream_interrupted, fl::error::stream_truncated,
                               fl::error::stream_timeout, fl::error::sse_line_too_long,
                               fl::error::sse_event_too_large};
    for (const fl::error e : codes) {
        fl::render_options o;
        o.include_status = true;
        const auto r = fl::render(e, "the stream failed", "evt_1", o);
        const auto f = fl::classify(0, r.body);
        BOOST_TEST((f.code == e), fl::to_string(e) << " came back as " << fl::to_string(f.code));
        BOOST_TEST(f.event_id.value_or("") == "evt_1");
    }
}

// Regression: a faultline gateway's 404 for a base URL with /v1 missing or doubled came back from
// classify as a plain not_found, losing which mistake the path showed.
BOOST_AUTO_TEST_CASE(base_url_404s_a_gateway_renders_classify_back_to_their_code) {
    for (const auto& [diagnosis, e] :
         {std::pair{fl::config_error::base_url_duplicates_v1, fl::error::duplicated_v1_path},
          std::pair{fl::config_error::base_url_missing_v1, fl::error::missing_v1_path}}) {
        BOOST_TEST((fl::wire_error(diagnosis) == e));
        const auto r = fl::render(diagnosis, "Use the base URL http://127.0.0.1:8080/v1.");
        BOOST_TEST(r.status == 404u);
        const auto f = fl::classify(r.status, r.body);
        BOOST_TEST((f.code == e), fl::to_string(e) << " came back as " << fl::to_string(f.code));
        BOOST_TEST(!f.retryable);
        BOOST_TEST((f.cat == fl::category::not_found));
    }
}

// --- event-stream bodies ---------------------------------------------------------------------
// Streams as servers send them: OpenAI chat completion chunks and the error chunk
// `data: {"error":{…}}` a gateway writes mid-stream (reference 001/003); Anthropic's
// `event: error` example from "Streaming Messages" (docs.anthropic.com/en/docs/
// build-with-claude/streaming); OpenAI Responses `response.failed` from the API reference
// "Streaming events" (platform.openai.com/docs/api-reference/responses-streaming).

namespace {

const std::string sse_chunk =
    "data: "
    R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o",)"
    R"("choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]})"
    "\n\n";
const hdrs sse_type{{"Content-Type", "text/event-stream; charset=utf-8"}};

} // namespace

BOOST_AUTO_TEST_CASE(event_stream_bodies) {
    const std::string ctx_error =
        R"(data: {"error":{"message":"This model's maximum context length is 8192 tokens.",)"
        R"("type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}})"
        "\n\n";
    const std::string table_bodies[] = {
        // 0: an error chunk then [DONE] inside a captured 200 stream
        sse_chunk + ctx_error + "data: [DONE]\n\n",
        // 1: a 4xx whose body is error chunks
        R"(data: {"error":{"message":"Rate limit reached for requests","type":"requests",)"
        R"("code":"rate_limit_exceeded"}})"
        "\n\ndata: [DONE]\n\n",
        // 2: Anthropic overloaded mid-stream
        "event: message_start\ndata: "
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\"}}\n\n"
        "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", "
        "\"message\": \"Overloaded\"}}\n\n",
        // 3: Responses response.failed
        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"status\":"
        "\"in_progress\",\"error\":null}}\n\nevent: response.failed\ndata: {\"type\":"
        "\"response.failed\",\"sequence_number\":3,\"response\":{\"id\":\"resp_1\",\"status\":"
        "\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"The model failed to "
        "generate a response.\"},\"incomplete_details\":null}}\n\n",
        // 4: a stream that ends without a terminator
        sse_chunk + sse_chunk,
        // 5: a complete stream
        sse_chunk + "data: [DONE]\n\n",
        // 6: an error chunk with nothing precise in it
        sse_chunk + "data: {\"error\":\"boom\"}\n\n",
        // 7: garbage where a chunk should be
        sse_chunk + "data: <html>502</html>\n\ndata: [DONE]\n\n",
        // 8: only a heartbeat comment
        ": keep-alive\n\n",
        // 9: cut inside the first line
        "data: {\"id\":\"chatcm",
    };
    struct row {
        const char* name;
        unsigned status;
        hdrs headers;
        std::size_t body;
        fl::error code;
        bool retryable;
        long long retry_after_ms;
        const char* message; // nullptr: the taxonomy's own text, not checked
    };
    const row rows[] = {
        {"error chunk in a 200 stream", 200, sse_type, 0, fl::error::context_length_exceeded, false,
         -1, "This model's maximum context length is 8192 tokens."},
        {"error chunk, prefix detection",
         200,
         {},
         0,
         fl::error::context_length_exceeded,
         false,
         -1,
         "This model's maximum context length is 8192 tokens."},
        {"429 of error chunks keeps Retry-After",
         429,
         {{"Retry-After", "3"}},
         1,
         fl::error::rpm_exceeded,
         true,
         3000,
         "Rate limit reached for requests"},
        {"anthropic event: error", 200, sse_type, 2, fl::error::overloaded, true, -1, "Overloaded"},
        {"anthropic event: error under 529",
         529,
         {},
         2,
         fl::error::overloaded,
         true,
         -1,
         "Overloaded"},
        {"responses response.failed",
         200,
         {},
         3,
         fl::error::internal_error,
         true,
         -1,
         "The model failed to generate a response."},
        {"truncated 200 stream", 200, sse_type, 4, fl::error::stream_truncated, true, -1, nullptr},
        {"truncated 200 stream, x-should-retry: false",
         200,
         {{"content-type", "text/event-stream"}, {"x-should-retry", "false"}},
         4,
         fl::error::stream_truncated,
         false,
         -1,
         nullptr},
        {"truncated stream under a 503: the status decides", 503, sse_type, 4,
         fl::error::upstream_unavailable, true, -1, "Service Unavailable"},
        {"complete 200 stream is nothing wrong", 200, sse_type, 5, fl::error::unknown, false, -1,
         "OK"},
        {"complete stream under a 500: the status decides",
         500,
         {},
         5,
         fl::error::internal_error,
         true,
         -1,
         "Internal Server Error"},
        {"vague error chunk", 200, {}, 6, fl::error::stream_interrupted, true, -1, "boom"},
        {"vague error chunk under a 502",
         502,
         {},
         6,
         fl::error::upstream_unavailable,
         true,
         -1,
         "boom"},
        {"malformed chunk", 200, sse_type, 7, fl::error::malformed_json, false, -1, nullptr},
        {"heartbeat only", 200, {}, 8, fl::error::stream_truncated, true, -1, nullptr},
        {"cut in the first line, content-type detection", 200, sse_type, 9,
         fl::error::stream_truncated, true, -1, nullptr},
    };
    for (const row& r : rows) {
        BOOST_TEST_CONTEXT(r.name) {
            const fl::failure f =
                fl::classify(r.status, r.headers, table_bodies[r.body], at_fixed_time());
            BOOST_TEST(fl::to_string(f.code) == fl::to_string(r.code));
            BOOST_TEST((f.cat == fl::info(r.code).cat));
            BOOST_TEST(f.retryable == r.retryable);
            BOOST_TEST(f.status == r.status);
            BOOST_TEST(f.retry_after.has_value() == (r.retry_after_ms >= 0));
            if (f.retry_after && r.retry_after_ms >= 0)
                BOOST_TEST(f.retry_after->count() == r.retry_after_ms);
            if (r.message) BOOST_TEST(f.message == r.message);
        }
    }
}

// Regression: an error body framed as an event stream was read as plain text, so the message
// was the raw `data: {...}` line and the code came from the status alone.
BOOST_AUTO_TEST_CASE(event_stream_error_body_was_read_as_text) {
    const auto f = fl::classify(
        400, "data: {\"error\":{\"message\":\"Invalid 'messages': empty array.\",\"type\":"
             "\"invalid_request_error\",\"code\":\"model_not_found\"}}\n\ndata: [DONE]\n\n");
    BOOST_TEST(f.message == "Invalid 'messages': empty array.");
    BOOST_TEST((f.code == fl::error::model_not_found));
    BOOST_TEST(f.type.value_or("") == "invalid_request_error");
}

BOOST_AUTO_TEST_CASE(documents_under_an_event_stream_type_are_not_streams) {
    // An error answered before the stream began, still labelled text/event-stream.
    const auto json = fl::classify(
        429, sse_type,
        R"({"error":{"message":"You exceeded your current quota","type":"insufficient_quota",)"
        R"("code":"insufficient_quota"}})");
    BOOST_TEST((json.code == fl::error::insufficient_quota));
    BOOST_TEST(json.message == "You exceeded your current quota");
    const auto html = fl::classify(502, sse_type, "<html><title>502 Bad Gateway</title></html>");
    BOOST_TEST(html.message == "502 Bad Gateway");
    // Text with no events at all under an error status is read as text.
    const auto text = fl::classify(503, sse_type, "upstream connect error");
    BOOST_TEST(text.message == "upstream connect error");
    // Without the header, a body that does not start with a field is not a stream.
    BOOST_TEST(fl::classify(200, "dat").code == fl::error::unknown);
    BOOST_TEST(fl::classify(200, sse_type, "dat").code == fl::error::stream_truncated);
}

// Regression: the data of an error event that is itself framed as a stream was read as a stream
// again, one nested monitor per level: a crafted body recursed until the stack overflowed.
BOOST_AUTO_TEST_CASE(stream_inside_an_error_event_recursed) {
    std::string body =
        "data: {\"error\":{\"message\":\"inner\",\"code\":\"context_length_exceeded\"}}\n\n";
    for (int level = 0; level < 2000; ++level) {
        std::string outer = "event: error\n";
        std::size_t start = 0;
        while (start < body.size()) { // every line of the inner stream becomes a data line
            const std::size_t end = body.find('\n', start);
            outer += "data: " + body.substr(start, end - start) + "\n";
            start = end + 1;
        }
        body = outer + "data:\n\n";
        if (body.size() > (512u << 10)) break;
    }
    const auto f = fl::classify(200, body);
    BOOST_TEST((f.code == fl::error::stream_interrupted));
    BOOST_TEST((fl::classify(500, body).code == fl::error::internal_error));
}

BOOST_AUTO_TEST_CASE(event_stream_bodies_hit_the_stream_limits) {
    // One 5 MiB line: over the SSE parser's 4 MiB max_line, a typed error, not a hang or a
    // silent cut.
    const std::string body = "data: " + std::string(5u << 20, 'x') + "\n\n";
    const auto f = fl::classify(200, body);
    BOOST_TEST((f.code == fl::error::sse_line_too_long));
    // Under an error status, the status decides.
    BOOST_TEST((fl::classify(500, body).code == fl::error::internal_error));
}

BOOST_AUTO_TEST_SUITE_END()

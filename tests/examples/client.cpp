// faultline-client against the gateway on 127.0.0.1: retries, Retry-After, budgets, stream
// verdicts and the report a user reads.
#include "client/client.hpp"

#include "common/version.hpp"
#include "gateway_fixture.hpp"
#include "holding_upstream.hpp"

#include <boost/test/unit_test.hpp>

namespace fl = faultline;
namespace cl = examples::client;
using namespace examples_test;

namespace {

// The base URL as the OpenAI SDKs take it: the server's /v1.
cl::options options_for(const gateway_fixture& g, std::string model, bool stream = false,
                        std::string url_suffix = "/v1") {
    cl::options o;
    o.raw_url = g.url() + url_suffix;
    o.url = examples::parse_base_url(o.raw_url).value();
    o.api_key = "sk-demo-alice";
    o.model = std::move(model);
    o.stream = stream;
    o.policy.delay = fl::backoff::exponential(1ms, 4ms); // real timers, no wait of note
    o.seed = 7;
    return o;
}

cl::report one(const cl::options& o) {
    std::vector<cl::report> r = cl::run(o);
    BOOST_TEST_REQUIRE(r.size() == 1u);
    return r[0];
}

// Parses a command line given as words.
fl::result<cl::options> parse(std::vector<std::string> words, std::string& why) {
    std::vector<char*> argv;
    for (auto& w : words)
        argv.push_back(w.data());
    return cl::parse_options(argv, why);
}

} // namespace

BOOST_AUTO_TEST_SUITE(client_e2e)

BOOST_AUTO_TEST_CASE(reply_and_stream) {
    gateway_fixture g;
    const cl::report r = one(options_for(g, "gpt-sim"));
    BOOST_TEST(r.ok);
    BOOST_TEST(r.attempts == 1u);
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.channel == "ok-a");
    BOOST_TEST(r.reply == "Failing well means saying what broke, whether to");

    const cl::report s = one(options_for(g, "gpt-sim", true));
    BOOST_TEST(s.ok);
    BOOST_TEST(s.stream_verdict.value() == fl::sse::terminal::done);
    BOOST_TEST(s.content_events == 9u);
    BOOST_TEST(s.reply == "Failing well means saying what broke, whether to");
    BOOST_TEST(s.to_text().find("result: OK after 1 attempt (HTTP 200, channel ok-a)") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(retries_a_flaky_upstream_until_it_answers) {
    gateway_fixture g;
    const cl::report r = one(options_for(g, "sim-flaky"));
    BOOST_TEST(r.ok);
    BOOST_TEST(r.attempts == 2u);
    BOOST_TEST_REQUIRE(r.history.size() == 1u);
    BOOST_TEST(r.history[0].what.status == 502u);
    BOOST_TEST(!r.history[0].delay_from_server);
    BOOST_TEST(r.history[0].delay <= 1ms);
}

// A jittered wait can be a fraction of a millisecond: rounded up, it is still reported as a
// wait (it read as none, and the report left out the retry's line, when it was cut to 0 ms).
BOOST_AUTO_TEST_CASE(a_wait_under_a_millisecond_is_reported_as_one) {
    gateway_fixture g;
    cl::options o = options_for(g, "sim-flaky");
    o.policy.delay = fl::backoff::exponential(300us, 300us);
    const cl::report r = one(o);
    BOOST_TEST(r.ok);
    BOOST_TEST_REQUIRE(r.history.size() == 1u);
    BOOST_TEST(r.history[0].delay == 1ms);
    BOOST_TEST(r.to_text().find("-> retry in 1 ms (jittered backoff)") != std::string::npos,
               r.to_text());
    BOOST_TEST(r.to_json().at("history").at(0).at("delay_ms").as_int64() == 1);
}

BOOST_AUTO_TEST_CASE(honours_the_servers_retry_after) {
    gw::gateway_config c = test_config();
    gw::channel_config ch;
    ch.name = "hint";
    ch.mode = gw::failure_mode::status;
    ch.status = 429;
    ch.pattern = "FS";
    ch.headers = {{"retry-after-ms", "25"}};
    c.channels.push_back(ch);
    c.models.push_back({"sim-hint", {"hint"}, 8192});
    gateway_fixture g(c);
    const cl::report r = one(options_for(g, "sim-hint"));
    BOOST_TEST(r.ok);
    BOOST_TEST_REQUIRE(r.history.size() == 1u);
    BOOST_TEST(r.history[0].what.code == fl::error::rate_limited);
    BOOST_TEST(r.history[0].delay_from_server);
    BOOST_TEST(r.history[0].delay.count() == 25);
}

BOOST_AUTO_TEST_CASE(a_server_delay_above_max_wait_gives_up_at_once) {
    gateway_fixture g;
    cl::options o = options_for(g, "sim-429");
    o.policy.max_server_delay = 1s; // the provider asks for 2 s
    const cl::report r = one(o);
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.attempts == 1u);
    BOOST_TEST(r.gave_up.value() == fl::give_up_reason::server_delay_too_long);
    BOOST_TEST(r.failure->retry_after.value().count() == 2000);
    BOOST_TEST(r.to_text().find("wait      2000 ms (server hint)") != std::string::npos);
}

// A key allowed 120 requests a minute in bursts of 3: the gateway's x-ratelimit-* headers tell
// a paced client how much is left, so six requests back to back all pass; the same requests
// unpaced meet the limit as 429s. The bucket refills in real time, slowly enough (one request
// every 500 ms) that only requests taking hundreds of milliseconds each could change the
// outcome.
BOOST_AUTO_TEST_CASE(pacing_by_the_servers_headers_meets_no_429) {
    gw::gateway_config c = test_config();
    gw::key_config k{"sk-paced", "paced-1", "", {{120, 3}, {0, 0}, 0}, {}};
    c.keys.push_back(k);
    k.secret = "sk-unpaced";
    k.id = "unpaced-1";
    c.keys.push_back(k);
    gateway_fixture g(c, clock_kind::real); // the bucket refills in real time here
    cl::options o = options_for(g, "gpt-sim");
    o.policy.max_attempts = 1; // every refusal shows
    o.requests = 6;
    o.api_key = "sk-paced";
    o.pace = true;
    const std::vector<cl::report> paced = cl::run(o);
    BOOST_TEST_REQUIRE(paced.size() == 6u);
    std::chrono::milliseconds waited{0};
    for (const cl::report& r : paced) {
        BOOST_TEST(r.ok, r.to_text());
        waited += r.paced;
    }
    // Three go at once, three more at 2 a second: 1.5 s less the requests' own time.
    BOOST_TEST(waited >= 500ms);
    BOOST_TEST(paced.back().to_json().at("paced_ms").as_int64() >= 0);

    o.api_key = "sk-unpaced";
    o.pace = false;
    const std::vector<cl::report> unpaced = cl::run(o);
    BOOST_TEST_REQUIRE(unpaced.size() == 6u);
    std::size_t refused = 0;
    for (const cl::report& r : unpaced) {
        refused += r.status == 429u;
        BOOST_TEST(r.paced.count() == 0);
    }
    BOOST_TEST(refused >= 1u);
}

// The pacer asks for more than --max-wait (a 429 saying 2 s, the client allowing 1 s): the
// next request fails at once, never sent, rate_limited and not retried.
BOOST_AUTO_TEST_CASE(a_pacing_wait_past_max_wait_fails_without_sending) {
    gateway_fixture g;
    cl::options o = options_for(g, "sim-429");
    o.policy.max_server_delay = 1s;
    o.policy.max_attempts = 1;
    o.requests = 2;
    o.pace = true;
    const std::vector<cl::report> r = cl::run(o);
    BOOST_TEST_REQUIRE(r.size() == 2u);
    BOOST_TEST(r[0].status == 429u);
    BOOST_TEST(!r[1].ok);
    BOOST_TEST(r[1].status == 0u); // nothing sent
    BOOST_TEST(r[1].failure->code == fl::error::rate_limited);
    BOOST_TEST(!r[1].failure->retryable);
    BOOST_TEST(r[1].failure->message.find("longer than --max-wait (1000 ms)") != std::string::npos,
               r[1].failure->message);
}

BOOST_AUTO_TEST_CASE(a_spend_limit_429_is_not_retried) {
    gateway_fixture g;
    cl::options o = options_for(g, "gpt-sim");
    o.api_key = "sk-demo-budget";
    o.requests = 2;
    const std::vector<cl::report> r = cl::run(o);
    BOOST_TEST_REQUIRE(r.size() == 2u);
    BOOST_TEST(r[0].ok);
    BOOST_TEST(!r[1].ok);
    BOOST_TEST(r[1].attempts == 1u);
    BOOST_TEST(r[1].status == 429u);
    BOOST_TEST(r[1].failure->code == fl::error::spend_limit_exceeded);
    BOOST_TEST(r[1].gave_up.value() == fl::give_up_reason::not_retryable);
}

// A request too long for its model moves at once to --fallback-model (async_run with two
// targets); without one it fails where it is, never retried.
BOOST_AUTO_TEST_CASE(a_request_too_long_for_its_model_falls_back_to_a_larger_one) {
    gw::gateway_config c = test_config();
    c.models.push_back({"gpt-sim-small", {"ok-a"}, 16});
    gateway_fixture g(c);
    cl::options o = options_for(g, "gpt-sim-small");
    o.max_tokens = 100; // 100 + the prompt > 16
    const cl::report alone = one(o);
    BOOST_TEST(!alone.ok);
    BOOST_TEST(alone.attempts == 1u);
    BOOST_TEST(alone.failure->code == fl::error::context_length_exceeded);
    BOOST_TEST(alone.gave_up.value() == fl::give_up_reason::not_retryable);
    BOOST_TEST(alone.model == "gpt-sim-small");

    o.fallback_model = "gpt-sim";
    const cl::report r = one(o);
    BOOST_TEST(r.ok);
    BOOST_TEST(r.attempts == 2u);
    BOOST_TEST(r.model == "gpt-sim");
    BOOST_TEST_REQUIRE(r.history.size() == 1u);
    BOOST_TEST(r.history[0].what.code == fl::error::context_length_exceeded);
    BOOST_TEST(r.history[0].fell_back_to == "gpt-sim");
    BOOST_TEST(r.to_text().find("-> fall back to model gpt-sim") != std::string::npos, r.to_text());
    BOOST_TEST(r.to_json().at("history").at(0).at("fallback_to").as_string() == "gpt-sim");

    // The fallback fails the same way: the call ends there, each model tried once.
    o.fallback_model = "gpt-sim-small";
    const cl::report twice = one(o);
    BOOST_TEST(!twice.ok);
    BOOST_TEST(twice.attempts == 2u);
    BOOST_TEST(twice.failure->code == fl::error::context_length_exceeded);
}

BOOST_AUTO_TEST_CASE(mid_stream_error_after_content_is_not_replayed_unless_allowed) {
    gateway_fixture g;
    const cl::report r = one(options_for(g, "sim-midstream-error", true));
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.attempts == 1u);
    BOOST_TEST(r.gave_up.value() == fl::give_up_reason::content_delivered);
    BOOST_TEST(r.failure->code == fl::error::stream_interrupted);
    BOOST_TEST(r.stream_verdict.value() == fl::sse::terminal::error);
    BOOST_TEST(r.content_events == 3u);

    cl::options replay = options_for(g, "sim-midstream-error", true);
    replay.policy.replayable = true;
    replay.policy.max_attempts = 3;
    const cl::report again = one(replay);
    BOOST_TEST(again.attempts == 3u);
    BOOST_TEST(again.gave_up.value() == fl::give_up_reason::attempts_exhausted);
}

BOOST_AUTO_TEST_CASE(a_cut_stream_is_reported_as_truncated) {
    gateway_fixture g;
    const cl::report r = one(options_for(g, "sim-cutoff", true));
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.stream_verdict.value() == fl::sse::terminal::eof_without_done);
    BOOST_TEST(r.failure->code == fl::error::stream_truncated);
    BOOST_TEST(
        r.to_text().find("fix       " + std::string(fl::info(fl::error::stream_truncated).fix)) !=
        std::string::npos);
}

BOOST_AUTO_TEST_CASE(its_own_line_limit_stops_a_huge_line) {
    gateway_fixture g; // the gateway relays the 6 MiB line in pieces
    cl::options o = options_for(g, "sim-huge-line", true);
    o.max_line = std::size_t(1) << 20;
    const cl::report r = one(o);
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.failure->code == fl::error::sse_line_too_long);
    BOOST_TEST(!r.failure->retryable);
}

// The SDKs' own convention, a base URL ending in /v1, was reported as a duplicated /v1.
BOOST_AUTO_TEST_CASE(a_base_url_ending_in_v1_is_not_flagged) {
    gateway_fixture g;
    const cl::report r = one(options_for(g, "gpt-sim"));
    BOOST_TEST(r.ok);
    BOOST_TEST(r.diagnosis.empty());
}

// Told to drop /v1, an SDK user got a bare 404 for /chat/completions.
BOOST_AUTO_TEST_CASE(a_base_url_without_v1_is_told_to_add_it) {
    gateway_fixture g;
    const cl::report r = one(options_for(g, "gpt-sim", false, ""));
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.status == 404u);
    BOOST_TEST(r.failure->cat == fl::category::not_found);
    BOOST_TEST(!r.failure->retryable);
    BOOST_TEST(r.failure->message.find("Use the base URL " + g.url() + "/v1.") !=
               std::string::npos);
    BOOST_TEST_REQUIRE(r.diagnosis.size() == 1u);
    BOOST_TEST(r.diagnosis[0].code == fl::config_error::base_url_missing_v1);
    BOOST_TEST(r.diagnosis[0].suggestion == g.url() + "/v1");
    BOOST_TEST(r.to_text().find("Try: " + g.url() + "/v1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_base_url_with_v1_twice_is_told_to_keep_one) {
    gateway_fixture g;
    const cl::report r = one(options_for(g, "gpt-sim", false, "/v1/v1/"));
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.status == 404u);
    BOOST_TEST(r.failure->cat == fl::category::not_found);
    // Seen in the URL before the request and in the 404's path after it: said once.
    std::string found;
    for (const auto& d : r.diagnosis)
        found += std::string(fl::to_string(d.code)) + "=" + d.suggestion + ";";
    BOOST_TEST(found == "base_url_trailing_slash=" + g.url() +
                            "/v1/v1;base_url_duplicates_v1=" + g.url() + "/v1;");
}

BOOST_AUTO_TEST_CASE(retry_budget_stops_retries_during_an_outage) {
    gateway_fixture g;
    cl::options o = options_for(g, "sim-dead");
    o.budget = fl::retry_budget_options{10s, 0.0, 0.1}; // one retry per 10 s in all
    o.requests = 2;
    const std::vector<cl::report> r = cl::run(o);
    BOOST_TEST_REQUIRE(r.size() == 2u);
    BOOST_TEST(r[0].attempts == 2u);
    BOOST_TEST(r[0].gave_up.value() == fl::give_up_reason::budget_exhausted);
    BOOST_TEST(r[0].give_up_code == fl::error::retry_budget_exhausted);
    BOOST_TEST(r[1].attempts == 1u);
    BOOST_TEST(r[1].gave_up.value() == fl::give_up_reason::budget_exhausted);
}

BOOST_AUTO_TEST_CASE(nothing_listening_is_a_retryable_transport_failure) {
    std::uint16_t port = 0;
    {
        net::io_context io;
        examples::tcp::acceptor a(io, {net::ip::make_address("127.0.0.1"), 0});
        port = a.local_endpoint().port();
    } // closed: connecting is refused
    cl::options o;
    o.raw_url = "http://127.0.0.1:" + std::to_string(port);
    o.url = examples::parse_base_url(o.raw_url).value();
    o.api_key = "k";
    o.policy.delay = fl::backoff::exponential(1ms, 2ms);
    o.policy.max_attempts = 2;
    const cl::report r = one(o);
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.attempts == 2u);
    BOOST_TEST(r.status == 0u);
    BOOST_TEST(r.failure->cat == fl::category::upstream_unavailable);
    BOOST_TEST(r.failure->retryable);
    BOOST_TEST(r.gave_up.value() == fl::give_up_reason::attempts_exhausted);
}

BOOST_AUTO_TEST_CASE(json_report) {
    gateway_fixture g;
    cl::options o = options_for(g, "sim-500");
    o.policy.max_attempts = 2; // below the breaker's threshold: both answers are the upstream's
    const cl::report r = one(o);
    const boost::json::object j = r.to_json();
    BOOST_TEST(j.at("ok").as_bool() == false);
    BOOST_TEST(j.at("status").to_number<unsigned>() == 500u);
    BOOST_TEST(j.at("category").as_string() == "server_error");
    BOOST_TEST(j.at("code").as_string() == "internal_error");
    BOOST_TEST(j.at("message").as_string() == "Service temporarily unavailable");
    BOOST_TEST(j.at("fix").as_string() == fl::info(fl::error::internal_error).fix);
    BOOST_TEST(j.at("gave_up").as_string() == "attempts_exhausted");
    BOOST_TEST(j.at("history").as_array().size() == 2u);
    BOOST_TEST(j.at("event_id").as_string().size() == 32u);
}

// The first calls are held and never answer; a hedge on a connection of its own gets the
// answer. Whichever attempt the upstream held first, the call ends with the other's answer and
// returns only once the held one has ended (its connection closed by the cancellation): the
// call's frame is not used after it returns (ASan would say).
BOOST_AUTO_TEST_CASE(a_hedge_on_its_own_connection_answers_for_a_held_attempt) {
    const std::string answer =
        R"({"id":"c","object":"chat.completion","choices":[{"index":0,"message":)"
        R"({"role":"assistant","content":"from the attempt not held"}}]})";
    for (const unsigned held : {1u, 2u}) {
        holding_upstream up(static_cast<int>(held), json_answer, answer);
        cl::options o;
        o.raw_url = up.url();
        o.url = examples::parse_base_url(o.raw_url).value();
        o.api_key = "k";
        o.seed = 7;
        o.hedge = {.delay = 1ms, .max_hedges = held};
        const cl::report r = one(o);
        BOOST_TEST(r.ok, held);
        BOOST_TEST(r.reply == "from the attempt not held");
        BOOST_TEST(r.hedges == held);
        BOOST_TEST(r.attempts == held + 1);
        BOOST_TEST(r.history.empty()); // the losers were cancelled, not failed
        BOOST_TEST(r.to_json().at("hedges").as_uint64() == held);
        BOOST_TEST(r.to_text().find(std::to_string(held) + " hedge") != std::string::npos);
        BOOST_TEST(up.wait_held(static_cast<int>(held)));
    }
}

// Without hedging no second connection is opened, however long the answer takes: the held call
// is cut off by --timeout and retried, and the retry is the one held no more.
BOOST_AUTO_TEST_CASE(without_hedging_a_held_attempt_is_waited_for) {
    const std::string answer =
        R"({"id":"c","object":"chat.completion","choices":[{"index":0,"message":)"
        R"({"role":"assistant","content":"retried"}}]})";
    holding_upstream up(1, json_answer, answer);
    cl::options o;
    o.raw_url = up.url();
    o.url = examples::parse_base_url(o.raw_url).value();
    o.api_key = "k";
    o.seed = 7;
    o.timeout = 50ms;
    o.policy.delay = fl::backoff::exponential(1ms, 4ms);
    const cl::report r = one(o);
    BOOST_TEST(r.ok);
    BOOST_TEST(r.hedges == 0u);
    BOOST_TEST(r.attempts == 2u);
    BOOST_TEST_REQUIRE(r.history.size() == 1u);
    BOOST_TEST(r.history[0].what.code == fl::error::upstream_timeout);
    BOOST_TEST(r.to_text().find("hedge") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(command_line) {
    std::string why;
    auto ok = parse({"--url", "http://127.0.0.1:9/", "--key", "k", "--stream", "--attempts", "2",
                     "--backoff-base", "250ms", "--backoff-cap", "2s", "--max-wait", "1m",
                     "--retry-budget", "0.2", "--requests", "3", "--json"},
                    why);
    BOOST_TEST_REQUIRE(ok.has_value(), why);
    const cl::options& o = ok.value();
    BOOST_TEST(o.url.port == 9u);
    BOOST_TEST(o.url.path == "");
    BOOST_TEST(o.stream);
    BOOST_TEST(o.json);
    BOOST_TEST(o.policy.max_attempts == 2u);
    BOOST_TEST(o.policy.delay.base == std::chrono::nanoseconds(250ms));
    BOOST_TEST(o.policy.delay.cap == std::chrono::nanoseconds(2s));
    BOOST_TEST(o.policy.max_server_delay == std::chrono::nanoseconds(60s));
    BOOST_TEST(o.budget->ratio == 0.2);
    BOOST_TEST(o.requests == 3u);
    BOOST_TEST(o.hedge.max_hedges == 0u); // hedging is off unless asked for

    auto hedged = parse({"--url", "http://x", "--hedge-after", "300ms"}, why);
    BOOST_TEST_REQUIRE(hedged.has_value(), why);
    BOOST_TEST(hedged.value().hedge.delay == std::chrono::nanoseconds(300ms));
    BOOST_TEST(hedged.value().hedge.max_hedges == 1u);
    auto three = parse({"--url", "http://x", "--max-hedges", "3", "--hedge-after", "1s"}, why);
    BOOST_TEST_REQUIRE(three.has_value(), why);
    BOOST_TEST(three.value().hedge.max_hedges == 3u);

    // --opt=value reads as --opt value; "--key=" is the empty key; the last --url wins.
    auto eq = parse({"--url=http://127.0.0.1:1/", "--url=http://127.0.0.1:9", "--attempts=2",
                     "--timeout=2s", "--key=", "--model=m", "--stream=false"},
                    why);
    BOOST_TEST_REQUIRE(eq.has_value(), why);
    BOOST_TEST(eq.value().url.port == 9u);
    BOOST_TEST(eq.value().policy.max_attempts == 2u);
    BOOST_TEST(eq.value().timeout == 2s);
    BOOST_TEST(eq.value().api_key == "");
    BOOST_TEST(eq.value().model == "m");
    BOOST_TEST(!eq.value().stream);

    std::string help;
    BOOST_TEST((parse({"--help"}, help).error() == std::errc::operation_canceled));
    BOOST_TEST(help == cl::help_text());
    BOOST_TEST(help.starts_with("usage: faultline-client --url BASE [options]\n"));
    std::string version;
    BOOST_TEST((parse({"--attempts", "0", "--version"}, version).error() ==
                std::errc::operation_canceled));
    BOOST_TEST(version == "faultline-client " FAULTLINE_VERSION "\n");
    struct row {
        std::vector<std::string> words;
        std::string why;
    };
    const row rows[] = {
        {{}, "--url: is required"},
        {{"--url", "ftp://x"}, "--url: must be an http or https URL"},
        {{"--url", "http://x:99999"}, "--url: must be an http or https URL"},
        {{"--url", "http://x", "--ca-file", "ca.pem"}, "--ca-file: needs an https --url"},
        {{"--url", "https://x", "--ca-file", "/nonexistent/ca.pem"},
         "--ca-file: cannot use '/nonexistent/ca.pem': No such file or directory"},
        {{"--url", "https://x", "--ca-file"}, "--ca-file: needs a value"},
        {{"--url", "http://x", "--attempts", "0"}, "--attempts: must be 1..100, not '0'"},
        {{"--url", "http://x", "--attempts=101"}, "--attempts: must be 1..100, not '101'"},
        {{"--url", "http://x", "--timeout", "0"}, "--timeout: must be a positive duration"},
        {{"--url", "http://x", "--timeout", "5h"}, "--timeout: must be a positive duration"},
        {{"--url", "http://x", "--backoff-base", "2s", "--backoff-cap", "1s"},
         "--backoff-cap: must not be below"},
        {{"--url", "http://x", "--retry-budget", "-1"}, "--retry-budget: must be a number"},
        {{"--url", "http://x", "--requests", "0"}, "--requests: must be 1..100000"},
        {{"--url", "http://x", "--max-hedges", "2"}, "--max-hedges: needs --hedge-after"},
        {{"--url", "http://x", "--hedge-after", "1s", "--max-hedges", "11"},
         "--max-hedges: must be 1..10, not '11'"},
        {{"--url", "http://x", "--hedge-after", "0"}, "--hedge-after: must be a positive"},
        {{"--url", "http://x", "--frobnicate"}, "unknown option '--frobnicate'"},
        {{"--url", "http://x", "--frobnicate=1"}, "unknown option '--frobnicate=1'"},
        {{"--url", "http://x", "stray"}, "unexpected argument 'stray'"},
        {{"--url", "http://x", "--stream=maybe"}, "--stream: takes no value, not 'maybe'"},
        {{"--url"}, "--url: needs a value"},
        {{"--url", "http://x", "--attempts"}, "--attempts: needs a value"},
    };
    for (const row& x : rows) {
        std::string w;
        const auto r = parse(x.words, w);
        BOOST_TEST(!r.has_value());
        BOOST_TEST(w.find(x.why) != std::string::npos, w);
    }
}

BOOST_AUTO_TEST_SUITE_END()

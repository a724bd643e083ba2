// Per-channel options of the gateway over real sockets: time limits of their own (first token,
// quiet, whole call) and adaptive concurrency limits. Upstreams are `faultline-upstream-sim`
// channels, or an upstream written here that holds a call until the test lets it go (no test
// waits on a timer of its own: every bound is the gateway's, with wide margins).
#include "gateway/gateway.hpp"

#include "gateway/adaptive.hpp"
#include "gateway_fixture.hpp"
#include "holding_upstream.hpp"

#include <faultline/envelope.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

namespace fl = faultline;
using namespace examples_test;
using tcp = net::ip::tcp;
namespace beast = boost::beast;

namespace examples::gateway {
inline std::ostream& boost_test_print_type(std::ostream& os, adaptive_kind k) {
    return os << to_string(k);
}
} // namespace examples::gateway

namespace {

const std::string alice = "sk-demo-alice";

// A configuration of `channels` and one model per entry of `models`, the gateway's own
// upstream time limit far beyond any test's bound (the client gives up after 10 s), so only a
// channel's own limits can end a call in time.
gw::gateway_config config_of(std::vector<gw::channel_config> channels,
                             std::vector<gw::model_config> models) {
    gw::gateway_config c = test_config();
    c.upstream_timeout = 60s;
    c.streaming_timeout = 60s;
    c.breaker.failure_threshold = 1000; // breakers stay out of these tests
    c.channels = std::move(channels);
    c.models = std::move(models);
    return c;
}

const gw::adaptive_stats& limit_of(const std::vector<gw::adaptive_stats>& all,
                                   std::string_view channel) {
    for (const auto& a : all)
        if (a.channel == channel) return a;
    BOOST_FAIL("no adaptive limit for channel " << channel);
    return all.front();
}

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_channels)

// --- configuration ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(channel_time_limits_and_adaptive_concurrency_are_read) {
    std::string why;
    const auto c = gw::parse_config(R"({
        "channels": [{"name": "a", "first_token_timeout_ms": 500, "idle_timeout_ms": 200,
                      "total_timeout_ms": 30000, "adaptive_concurrency": "gradient2",
                      "max_concurrency": 64, "min_concurrency": 2, "initial_concurrency": 8,
                      "adaptive_window_ms": 250, "adaptive_min_samples": 4,
                      "adaptive_probe_interval_ms": 30000},
                     {"name": "b", "adaptive_concurrency": "vegas"},
                     {"name": "c", "adaptive_concurrency": "aimd", "max_concurrency": 5},
                     {"name": "d", "adaptive_concurrency": "off"}],
        "models": [{"id": "m", "channels": ["a", "b", "c", "d"]}]
    })",
                                    why);
    BOOST_TEST_REQUIRE(c.has_value(), why);
    const gw::channel_config& a = c.value().channels[0];
    BOOST_TEST(a.first_token_timeout.value().count() == 500);
    BOOST_TEST(a.idle_timeout.value().count() == 200);
    BOOST_TEST(a.total_timeout.value().count() == 30000);
    BOOST_TEST(a.adaptive == gw::adaptive_kind::gradient2);
    BOOST_TEST(a.max_concurrency == 64u);
    BOOST_TEST(a.min_concurrency == 2u);
    BOOST_TEST(a.initial_concurrency == 8u);
    BOOST_TEST(a.adaptive_window.count() == 250);
    BOOST_TEST(a.adaptive_min_samples == 4u);
    BOOST_TEST(a.adaptive_probe_interval.count() == 30000);
    const gw::channel_config& b = c.value().channels[1];
    BOOST_TEST(!b.first_token_timeout);
    BOOST_TEST(!b.idle_timeout);
    BOOST_TEST(!b.total_timeout);
    BOOST_TEST(b.adaptive == gw::adaptive_kind::vegas);
    BOOST_TEST(b.adaptive_probe_interval.count() == 0); // off unless asked for
    BOOST_TEST(c.value().channels[2].adaptive == gw::adaptive_kind::aimd);
    BOOST_TEST(c.value().channels[3].adaptive == gw::adaptive_kind::off);

    // The policy's default bounds are pulled into the ones given: aimd's minimum of 20 under a
    // maximum of 5 starts, and stays, within [5, 5].
    net::io_context io;
    gw::server s(io.get_executor(), c.value());
    const auto limits = s.adaptive_limits();
    BOOST_TEST_REQUIRE(limits.size() == 3u);
    BOOST_TEST(limit_of(limits, "a").limit == 8u);
    BOOST_TEST(limit_of(limits, "b").limit == 20u); // vegas's initial limit
    BOOST_TEST(limit_of(limits, "c").limit == 5u);
}

BOOST_AUTO_TEST_CASE(bad_channel_time_limits_and_adaptive_options_say_why) {
    struct row {
        std::string channel; // the members after "name"
        std::string why;
    };
    const row rows[] = {
        {R"("first_token_timeout_ms": 0)", "first_token_timeout_ms must be 1..86400000"},
        {R"("idle_timeout_ms": 0)", "idle_timeout_ms must be 1..86400000"},
        {R"("total_timeout_ms": 0)", "total_timeout_ms must be 1..86400000"},
        {R"("total_timeout_ms": 86400001)",
         "channels[0].total_timeout_ms must be a whole number from 0 to 86400000"},
        {R"("idle_timeout_ms": -5)", "idle_timeout_ms must be a whole number"},
        {R"("first_token_timeout_ms": "1s")", "first_token_timeout_ms must be a whole number"},
        {R"("first_token_timeout_ms": 900, "total_timeout_ms": 800)",
         "first_token_timeout_ms must not exceed total_timeout_ms"},
        {R"("adaptive_concurrency": "fast")", "adaptive_concurrency must be one of aimd, vegas"},
        {R"("adaptive_concurrency": "")", "adaptive_concurrency must be one of"},
        {R"("adaptive_concurrency": 1)", "adaptive_concurrency must be a string"},
        {R"("adaptive_concurrency": "aimd", "min_concurrency": 10, "max_concurrency": 5)",
         "min_limit is greater than max_limit"},
        {R"("adaptive_concurrency": "vegas", "initial_concurrency": 2000)",
         "initial_limit is outside [min_limit, max_limit]"},
        {R"("adaptive_concurrency": "gradient2", "adaptive_window_ms": 0)",
         "min_window must be positive"},
        {R"("adaptive_concurrency": "aimd", "adaptive_min_samples": 0)", "min_samples at least 1"},
        {R"("adaptive_concurrency": "aimd", "max_concurrency": 1000001)",
         "max_concurrency must be a whole number from 0 to 1000000"},
        {R"("max_concurrency": 8)", "need adaptive_concurrency"},
        {R"("adaptive_probe_interval_ms": 30000)", "need adaptive_concurrency"},
        {R"("adaptive_concurrency": "aimd", "adaptive_probe_interval_ms": 30000)",
         "adaptive_probe_interval_ms needs vegas or gradient2"},
        {R"("adaptive_concurrency": "vegas", "adaptive_probe_interval_ms": -1)",
         "adaptive_probe_interval_ms must be a whole number"},
    };
    for (const row& x : rows) {
        const std::string json = R"({"channels": [{"name": "c", )" + x.channel +
                                 R"(}], "models": [{"id": "m", "channels": ["c"]}]})";
        std::string why;
        const auto c = gw::parse_config(json, why);
        BOOST_TEST(!c.has_value(), json);
        BOOST_TEST(why.find(x.why) != std::string::npos, json << " -> " << why);
        BOOST_TEST(why.find('\n') == std::string::npos, why);
    }
    // A configuration built in code is checked the same way, at the server's construction.
    gw::gateway_config c = config_of({channel("c")}, {{"m", {"c"}, 8192}});
    c.channels[0].idle_timeout = 0ms;
    BOOST_TEST(gw::validate(c).find("idle_timeout_ms") != std::string::npos);
    net::io_context io;
    BOOST_CHECK_THROW(gw::server(io.get_executor(), c), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(completions_teach_the_limit_only_about_the_upstream) {
    using fl::category;
    BOOST_TEST((gw::completion_of(std::nullopt) == gw::completion::success));
    for (category c : {category::timeout, category::server_error, category::upstream_unavailable,
                       category::overloaded, category::rate_limited})
        BOOST_TEST((gw::completion_of(c) == gw::completion::dropped), fl::to_string(c));
    for (category c :
         {category::invalid_request, category::authentication, category::insufficient_quota,
          category::permission, category::not_found, category::context_length_exceeded,
          category::payload_too_large, category::content_filter, category::unknown})
        BOOST_TEST((gw::completion_of(c) == gw::completion::ignored), fl::to_string(c));
}

// --- time limits -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_missed_first_token_fails_over_to_the_next_channel) {
    gw::channel_config stuck = channel("stuck", gw::failure_mode::timeout); // never answers
    stuck.first_token_timeout = 100ms;
    gateway_fixture g(config_of({stuck, channel("ok")},
                                {{"json", {"stuck", "ok"}, 8192}, {"sse", {"stuck", "ok"}, 8192}}));
    // Each model's first call starts at its first channel.
    for (const bool stream : {false, true}) {
        const response r = g.chat(alice, chat_body(stream ? "sse" : "json", stream));
        BOOST_TEST(!r.ec, r.ec.message());
        BOOST_TEST(r.status == 200u);
        BOOST_TEST(r.header("x-faultline-channel") == "ok");
        BOOST_TEST(r.header("x-faultline-failover") == "stuck");
        if (stream) BOOST_TEST(r.verdict == fl::sse::terminal::done);
    }
    BOOST_TEST(g.server().snapshot().failovers == 2u);
    bool logged = false;
    for (const std::string& line : g.log())
        logged = logged || (line.find("channel=stuck") != std::string::npos &&
                            line.find("first_token_timeout_ms") != std::string::npos);
    BOOST_TEST(logged);
}

BOOST_AUTO_TEST_CASE(a_missed_first_token_alone_is_a_504_upstream_timeout) {
    gw::channel_config stuck = channel("stuck", gw::failure_mode::timeout);
    stuck.first_token_timeout = 50ms;
    gateway_fixture g(config_of({stuck}, {{"m", {"stuck"}, 8192}}));
    const response r = g.chat(alice, chat_body("m", true));
    BOOST_TEST(!r.ec, r.ec.message());
    BOOST_TEST(r.status == 504u);
    const auto env = fl::parse_envelope(r.body);
    BOOST_TEST_REQUIRE(env.has_value(), r.body);
    BOOST_TEST(std::get<std::string>(env.value().code) == "upstream_timeout");
    BOOST_TEST(r.header("x-should-retry") == "true");
}

BOOST_AUTO_TEST_CASE(a_stream_head_without_content_is_held_and_fails_over) {
    // The upstream answers the head and a comment at once, then no content: the gateway has
    // sent its client nothing when the first-token limit passes, so the next channel answers.
    const std::string head_only = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n"
                                  "e\r\n: warming up\n\n\r\n";
    holding_upstream quiet(1, head_only);
    quiet.release(); // answered at once; the connection stays open without another byte
    gw::channel_config q = channel("quiet");
    q.url = quiet.url();
    q.first_token_timeout = 100ms;
    gateway_fixture g(config_of({q, channel("ok")}, {{"m", {"quiet", "ok"}, 8192}}));
    const response r = g.chat(alice, chat_body("m", true));
    BOOST_TEST(quiet.wait_held(1));
    BOOST_TEST(!r.ec, r.ec.message());
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.header("x-faultline-channel") == "ok");
    BOOST_TEST(r.header("x-faultline-failover") == "quiet");
    BOOST_TEST(r.verdict == fl::sse::terminal::done);
    BOOST_TEST(r.body.find("warming up") == std::string::npos); // nothing of the first call
    BOOST_TEST(g.server().snapshot().streams == 1u);
}

BOOST_AUTO_TEST_CASE(an_idle_upstream_mid_stream_ends_the_stream_with_an_error_chunk) {
    gw::channel_config slow = channel("slow", gw::failure_mode::slow);
    slow.chunks = 4;
    slow.chunk_interval = 1000ms; // the first chunk at once, then long quiet
    slow.idle_timeout = 100ms;
    gateway_fixture g(config_of({slow, channel("ok")}, {{"m", {"slow", "ok"}, 8192}}));
    const response r = g.chat(alice, chat_body("m", true));
    BOOST_TEST(!r.ec, r.ec.message());
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.header("x-faultline-channel") == "slow"); // content came: no failover
    BOOST_TEST(r.verdict == fl::sse::terminal::error);
    BOOST_REQUIRE(r.stream_failure);
    BOOST_TEST(r.stream_failure->code == fl::error::upstream_timeout);
    BOOST_TEST(r.stream_failure->cat == fl::category::timeout);
    BOOST_TEST(r.stream_failure->message.find("idle_timeout_ms") != std::string::npos);
    BOOST_TEST(r.content_events >= 1u);
    BOOST_TEST(r.content_events < 4u);
    BOOST_TEST(r.body.ends_with("data: [DONE]\n\n"));
    BOOST_TEST(g.server().snapshot().failovers == 0u);
}

BOOST_AUTO_TEST_CASE(a_total_time_limit_ends_a_slow_stream) {
    gw::channel_config slow = channel("slow", gw::failure_mode::slow);
    slow.chunks = 30;
    slow.chunk_interval = 50ms; // 1.5 s of stream, gaps longer than the 20 ms heartbeat
    slow.total_timeout = 250ms;
    gateway_fixture g(config_of({slow}, {{"m", {"slow"}, 8192}}));
    const response r = g.chat(alice, chat_body("m", true, 1000));
    BOOST_TEST(!r.ec, r.ec.message());
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.verdict == fl::sse::terminal::error);
    BOOST_REQUIRE(r.stream_failure);
    BOOST_TEST(r.stream_failure->code == fl::error::stream_timeout);
    BOOST_TEST(r.stream_failure->message.find("total_timeout_ms") != std::string::npos);
    BOOST_TEST(r.content_events < 30u);
    BOOST_TEST(r.body.ends_with("data: [DONE]\n\n"));
}

BOOST_AUTO_TEST_CASE(a_total_time_limit_before_any_answer_fails_over) {
    gw::channel_config stuck = channel("stuck", gw::failure_mode::timeout);
    stuck.total_timeout = 100ms;
    gateway_fixture g(config_of({stuck, channel("ok")}, {{"m", {"stuck", "ok"}, 8192}}));
    const response r = g.chat(alice, chat_body("m"));
    BOOST_TEST(!r.ec, r.ec.message());
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.header("x-faultline-failover") == "stuck");
}

// --- adaptive concurrency --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(timeouts_lower_a_channels_adaptive_limit) {
    // Every call to "stuck" misses its first token: a drop. Windows of 100 ms on the gateway's
    // manual clock, one completion each.
    gw::channel_config stuck = channel("stuck", gw::failure_mode::timeout);
    stuck.first_token_timeout = 50ms;
    stuck.adaptive = gw::adaptive_kind::aimd;
    stuck.min_concurrency = 1;
    stuck.initial_concurrency = 4;
    stuck.max_concurrency = 4;
    stuck.adaptive_window = 100ms;
    stuck.adaptive_min_samples = 1;
    gateway_fixture g(config_of({stuck, channel("ok")}, {{"m", {"stuck", "ok"}, 8192}}));
    BOOST_TEST(limit_of(g.server().adaptive_limits(), "stuck").limit == 4u);
    // The first call starts at "stuck"; the window it falls in is still open.
    response r = g.chat(alice, chat_body("m"));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.header("x-faultline-failover") == "stuck");
    BOOST_TEST(limit_of(g.server().adaptive_limits(), "stuck").limit == 4u);
    g.advance(200ms);
    // Round robin: of two calls, one starts at "stuck"; its drop closes the window.
    for (int i = 0; i < 2; ++i)
        BOOST_TEST(g.chat(alice, chat_body("m")).status == 200u);
    const gw::adaptive_stats a = limit_of(g.server().adaptive_limits(), "stuck");
    BOOST_TEST(a.limit == 3u); // 4 * 0.9, aimd's backoff
    BOOST_TEST(a.in_flight == 0u);
}

BOOST_AUTO_TEST_CASE(a_channel_at_its_adaptive_limit_is_skipped_then_503_overloaded) {
    // "held" takes one call at a time (a limit that cannot move: min = max = 1); its upstream
    // holds the first call until the test lets it go.
    holding_upstream up(1, json_answer);
    gw::channel_config held = channel("held");
    held.url = up.url();
    held.adaptive = gw::adaptive_kind::vegas;
    held.min_concurrency = held.initial_concurrency = held.max_concurrency = 1;
    gw::gateway_config c = config_of(
        {held, channel("ok")}, {{"held-only", {"held"}, 8192}, {"both", {"held", "ok"}, 8192}});
    gateway_fixture g(c);

    std::future<response> first =
        std::async(std::launch::async, [&] { return g.chat(alice, chat_body("held-only")); });
    BOOST_REQUIRE(up.wait_held(1));
    BOOST_TEST(limit_of(g.server().adaptive_limits(), "held").in_flight == 1u);

    // Whichever channel they start at, both calls end at "ok".
    for (int i = 0; i < 2; ++i) {
        const response r = g.chat(alice, chat_body("both"));
        BOOST_TEST(r.status == 200u);
        BOOST_TEST(r.header("x-faultline-channel") == "ok");
    }
    // No other channel: the gateway's own overload, with a time to come back.
    const response r = g.chat(alice, chat_body("held-only"));
    BOOST_TEST(r.status == 503u);
    const auto env = fl::parse_envelope(r.body);
    BOOST_TEST_REQUIRE(env.has_value(), r.body);
    BOOST_TEST(std::get<std::string>(env.value().code) == "overloaded");
    BOOST_TEST(r.header("retry-after") == "1");
    BOOST_TEST(r.header("x-should-retry") == "true");
    BOOST_TEST(limit_of(g.server().adaptive_limits(), "held").refused == 2u);

    up.release();
    const response held_r = first.get();
    BOOST_TEST(held_r.status == 200u);
    BOOST_TEST(held_r.header("x-faultline-channel") == "held");
    BOOST_TEST(limit_of(g.server().adaptive_limits(), "held").in_flight == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

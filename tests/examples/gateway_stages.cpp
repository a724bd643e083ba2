// The gateway's stages alone, without a socket: routing, authentication and reading a chat
// request (request.hpp), how errors are worded (`answers`), admission (admission.hpp, on a
// manual clock), the dispatch stage's walk over a model's channels (dispatch.hpp, on a manual
// clock), the relay of a stream's events (relay.hpp), and the bytes a reply or an upstream
// request is written as and the bytes read before the next read (common/wire.hpp), and the
// deadline that cancels a socket's reads (deadline.hpp, over a loopback pair, deadlines set in
// the past or an hour ahead so that no outcome depends on timing). The end-to-end suites
// (gateway*.cpp) cover the same paths over sockets.
#include "gateway/admission.hpp"
#include "gateway/connection.hpp"
#include "gateway/deadline.hpp"
#include "gateway/dispatch.hpp"
#include "gateway/relay.hpp"
#include "gateway/request.hpp"
#include "gateway/usage.hpp"

#include "common/wire.hpp"
#include "common/write_now.hpp"

#include <faultline/sse/monitor.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/optional.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace fl = faultline;
namespace gw = examples::gateway;
namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = boost::asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

const std::string alice = "sk-stage-alice";
const std::string bob = "sk-stage-bob";

gw::gateway_config stage_config() {
    gw::gateway_config c;
    gw::key_config a;
    a.secret = alice;
    a.id = "alice";
    a.priority = fl::limit::priority::high;
    gw::key_config b;
    b.secret = bob;
    b.id = "bob";
    b.priority = fl::limit::priority::low;
    c.keys = {a, b};
    c.default_max_tokens = 100;
    c.shedding.max_in_flight = 4;
    return c;
}

gw::http_request request(http::verb method, std::string_view target, std::string body = {},
                         std::string_view host = "gw.test:8080") {
    gw::http_request req{method, target, 11};
    if (!host.empty()) req.set(http::field::host, host);
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
}

json::object error_of(const gw::reply& r) {
    return json::parse(r.body).at("error").as_object();
}

std::string header(const gw::reply& r, std::string_view name) {
    for (const auto& [n, v] : r.headers)
        if (n == name) return v;
    return "<none>";
}

const gw::answers say{true};

std::variant<gw::reply, gw::route> route(const gw::http_request& req, bool metrics = true) {
    return gw::route_request(req, metrics, say, "req-1");
}

std::variant<gw::reply, gw::chat_fields> read(std::string body, gw::route r = gw::route::chat,
                                              const std::string& key = alice,
                                              std::string_view priority = {}) {
    static const gw::gateway_config config = stage_config();
    gw::http_request req = request(http::verb::post, "/v1/chat/completions", std::move(body));
    if (!priority.empty()) req.set("x-priority", priority);
    return gw::read_chat(req, r, *config.find_key(key), config, say, "req-1");
}

// The route as its label, "reply" when the request was answered.
std::string_view routed(const std::variant<gw::reply, gw::route>& v) {
    return std::holds_alternative<gw::route>(v) ? gw::to_string(std::get<gw::route>(v)) : "reply";
}

// The 400 `read` answered: its param ("" for null) and message.
std::pair<std::string, std::string> refusal(const std::variant<gw::reply, gw::chat_fields>& v) {
    BOOST_TEST_REQUIRE(std::holds_alternative<gw::reply>(v));
    const gw::reply& r = std::get<gw::reply>(v);
    BOOST_TEST(r.status == 400u);
    const json::object e = error_of(r);
    BOOST_TEST(e.at("code").as_string() == "invalid_request");
    return {e.at("param").is_null() ? "" : std::string(e.at("param").as_string()),
            std::string(e.at("message").as_string())};
}

// A stream fed through `sse::monitor<relay>` as the gateway relays it: what the client gets.
struct relayed {
    std::string out;
    fl::sse::writer w{out};
    fl::sse::monitor<gw::relay> m;
    explicit relayed(std::size_t max_line = 1 << 20)
        : m(std::chrono::steady_clock::time_point{}, options(max_line)) {
        m.handler().out = &w;
        m.handler().bytes = &out;
    }
    static fl::sse::monitor_options options(std::size_t max_line) {
        fl::sse::monitor_options o;
        o.limits.max_line = o.limits.max_event = max_line;
        return o;
    }
    void feed(std::string_view bytes) {
        BOOST_TEST(!m.feed(bytes, std::chrono::steady_clock::time_point{}));
    }
};

// The admission stage on a manual clock: `admit` runs on `io`, which the test polls (never
// runs to a deadline); a queued request is woken as a freed slot or the client watch wakes it.
struct admission_rig {
    using outcome = std::variant<gw::admission_stage::pass, gw::reply, gw::client_gone>;

    explicit admission_rig(gw::gateway_config c)
        : config(std::move(c))
        , metrics(config)
        , stage(
              config, say, metrics, [this] { return now; },
              [this](std::string_view line) { lines.emplace_back(line); }) {}

    // Starts an admission of `key` at priority `p`; its outcome lands in `out` once decided.
    void admit(const std::string& key, fl::limit::priority p, std::optional<outcome>& out,
               gw::client_watch& watch) {
        boost::asio::co_spawn(
            io,
            [&, p]() -> boost::asio::awaitable<void> {
                out = co_await stage.admit(io.get_executor(), *config.find_key(key), p, "req-a",
                                           watch);
            },
            boost::asio::detached);
        io.poll();
        io.restart();
    }
    void poll() {
        io.poll();
        io.restart();
    }

    boost::asio::io_context io;
    gw::clock::time_point now{std::chrono::hours(1)};
    gw::gateway_config config;
    gw::metrics_registry metrics;
    std::vector<std::string> lines;
    gw::admission_stage stage;
};

gw::gateway_config admission_config(std::uint64_t key_concurrency, std::uint64_t slots) {
    gw::gateway_config c = stage_config();
    c.keys[0].limits.concurrency = key_concurrency;
    c.shedding.max_in_flight = slots;
    c.shedding.max_waiters = 1;
    c.shedding.max_wait = std::chrono::milliseconds(500);
    return c;
}

bool holds_pass(const std::optional<admission_rig::outcome>& o) {
    return o && std::holds_alternative<gw::admission_stage::pass>(*o);
}

gw::admission channel_limited(std::chrono::nanoseconds wait) {
    gw::admission a;
    a.refused_level = gw::level::channel;
    a.refusal.ec = fl::error::rate_limited;
    a.refusal.retry_after = wait;
    a.refusal.limit = 10;
    a.by = "memory";
    return a;
}

// The dispatch stage over a model of three channels whose breakers open on one counted failure
// and stay open for 10 s of the manual clock.
struct walk_rig {
    static gw::gateway_config make_config() {
        gw::gateway_config c = stage_config();
        for (const char* name : {"ch-a", "ch-b", "ch-c"}) {
            gw::channel_config ch;
            ch.name = name;
            c.channels.push_back(ch);
        }
        c.models.push_back({"m", {"ch-a", "ch-b", "ch-c"}, 8192});
        c.breaker.failure_threshold = 1;
        c.breaker.cool_down = std::chrono::seconds(10);
        return c;
    }
    static std::vector<const gw::channel_config*> channels_of(const gw::gateway_config& c) {
        std::vector<const gw::channel_config*> out;
        for (const auto& ch : c.channels)
            out.push_back(&ch);
        return out;
    }

    // Every channel `walk` offers, each told `then` (which may end the walk); their names.
    template <class Then>
    std::vector<std::string> offered(gw::channel_walk& walk, Then then) {
        std::vector<std::string> names;
        while (const gw::channel_config* ch = walk.next(now)) {
            BOOST_TEST_REQUIRE(names.size() < 3u); // a channel once per walk at most
            names.push_back(ch->name);
            then(walk, *ch);
        }
        return names;
    }
    // How many channels a walk now passes over, their circuits open (each other channel is at
    // its rate limit, which leaves its breaker as it was).
    std::size_t open_channels() {
        gw::channel_walk walk(model, metrics, now);
        return 3 - offered(walk, [this](gw::channel_walk& w, const gw::channel_config&) {
                       w.at_rate_limit(channel_limited(std::chrono::seconds(1)), now);
                   }).size();
    }
    gw::reply answer(gw::channel_walk& walk) {
        return walk.answer(
            say, "req-1", [this](std::string_view l) { lines.emplace_back(l); }, now);
    }

    gw::gateway_config config = make_config();
    gw::metrics_registry metrics{config};
    gw::model_state model{config.models[0], channels_of(config), config.breaker};
    gw::clock::time_point now{std::chrono::hours(1)};
    std::vector<std::string> lines;
};

bool is_rotation_of_all_three(const std::vector<std::string>& names) {
    const std::vector<std::string> all{"ch-a", "ch-b", "ch-c", "ch-a", "ch-b"};
    if (names.size() != 3u) return false;
    for (std::size_t k = 0; k < 3; ++k)
        if (std::equal(names.begin(), names.end(), all.begin() + static_cast<std::ptrdiff_t>(k)))
            return true;
    return false;
}

// A stream relayed from channel "ch-s" as server.cpp drives it, on a manual clock from t0.
struct stream_rig {
    explicit stream_rig(std::optional<std::chrono::milliseconds> first_token = std::nullopt,
                        bool responses = false, std::size_t budget = std::size_t(1) << 20)
        : config(make_config(budget))
        , channel(make_channel(first_token))
        , limits(gw::call_limits::of(channel, config, t0))
        , relay(config, channel, say, "req-s", responses, limits, t0, memory,
                [this](std::string_view l) { lines.emplace_back(l); }) {}

    static gw::gateway_config make_config(std::size_t budget) {
        gw::gateway_config c = stage_config();
        c.upstream_timeout = std::chrono::milliseconds(2000);
        c.streaming_timeout = std::chrono::milliseconds(60'000);
        c.stream_memory_budget = budget;
        return c;
    }
    static gw::channel_config make_channel(std::optional<std::chrono::milliseconds> first) {
        gw::channel_config ch;
        ch.name = "ch-s";
        ch.first_token_timeout = first;
        return ch;
    }
    // What the client got so far (`out()` as sent).
    std::string sent() {
        std::string s = std::move(relay.out());
        relay.out().clear();
        return s;
    }

    gw::clock::time_point t0{std::chrono::hours(1)};
    gw::gateway_config config;
    gw::channel_config channel;
    gw::call_limits limits;
    std::atomic<std::size_t> total{0};
    std::atomic<std::uint64_t> peak{0};
    gw::memory_charge memory{total, peak, gw::peak_of::holder};
    std::vector<std::string> lines;
    gw::stream_relay relay;
};

const std::string chunk = R"(data: {"choices":[{"delta":{"content":"hi"}}]})"
                          "\n\n";

} // namespace

// A body written in pieces, the last of them failing when `fail` is set: what a file or a
// generated body looks like to Beast's serializer.
struct pieces_body {
    struct value_type {
        std::vector<std::string> pieces;
        bool fail = false;
    };
    static std::uint64_t size(const value_type& v) {
        std::uint64_t n = 0;
        for (const std::string& p : v.pieces)
            n += p.size();
        return n;
    }
    class writer {
    public:
        using const_buffers_type = boost::asio::const_buffer;
        template <bool isRequest, class Fields>
        writer(const http::header<isRequest, Fields>&, const value_type& v)
            : v_(v) {}
        void init(boost::beast::error_code& ec) { ec = {}; }
        boost::optional<std::pair<const_buffers_type, bool>> get(boost::beast::error_code& ec) {
            ec = {};
            if (v_.fail && i_ + 1 == v_.pieces.size()) {
                ec = boost::asio::error::no_buffer_space;
                return boost::none;
            }
            if (i_ == v_.pieces.size()) return boost::none;
            const std::string& p = v_.pieces[i_++];
            return std::make_pair(const_buffers_type(p.data(), p.size()), i_ < v_.pieces.size());
        }

    private:
        const value_type& v_;
        std::size_t i_ = 0;
    };
};

BOOST_AUTO_TEST_SUITE(gateway_stages)

// ---- usage ----------------------------------------------------------------------------------

// Each expectation is what the parsed document says (fuzz/examples_input.cpp checks the same
// against a parsed document on arbitrary bytes).
BOOST_AUTO_TEST_CASE(an_answers_tokens_are_read_as_its_parsed_document_says) {
    const std::pair<std::string_view, std::uint64_t> bodies[] = {
        {R"({"id":"c","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":5,"completion_tokens":8,"total_tokens":13}})",
         8},
        {R"({"object":"response","usage":{"input_tokens":5,"output_tokens":7}})", 7},
        // Both: the chat count.
        {R"({"usage":{"output_tokens":7,"completion_tokens":3}})", 3},
        // A count that is not a non-negative integer counts 0, and does not fall back.
        {R"({"usage":{"completion_tokens":"8","output_tokens":7}})", 0},
        {R"({"usage":{"completion_tokens":8.0}})", 0},
        {R"({"usage":{"completion_tokens":-1}})", 0},
        {R"({"usage":{"completion_tokens":null}})", 0},
        {R"({"usage":{"completion_tokens":{"n":8}}})", 0},
        {R"({"usage":{"completion_tokens":[8]}})", 0},
        {R"({"usage":{"completion_tokens":18446744073709551615}})", 18446744073709551615u},
        // A repeated key: its last value.
        {R"({"usage":{"completion_tokens":1,"completion_tokens":2}})", 2},
        {R"({"usage":{"completion_tokens":1},"usage":5})", 0},
        {R"({"usage":5,"usage":{"completion_tokens":4}})", 4},
        {R"({"usage":{"completion_tokens":1},"usage":{"output_tokens":6}})", 6},
        // Only the top level's usage, and only its own members.
        {R"({"choices":[{"usage":{"completion_tokens":9}}]})", 0},
        {R"({"x":{"usage":{"completion_tokens":9}}})", 0},
        {R"({"usage":{"details":{"completion_tokens":9}}})", 0},
        {R"({"usage":{"details":{"completion_tokens":9},"completion_tokens":2}})", 2},
        {R"({"usage":{"completion_tokens":2,"details":{"completion_tokens":9}},"after":1})", 2},
        {R"({"usage":{"completion_tokens":2},"x":{"completion_tokens":9}})", 2},
        {R"({"usage":{"completion_tokens":1},"x":{"usage":5}})", 1},
        {R"({"usage":{"completion_tokens":1},"x":[{"usage":{}}]})", 1},
        {R"({"usage":[{}],"y":{"completion_tokens":9}})", 0},
        {R"({"usage":[{"completion_tokens":9}]})", 0},
        // A key spelled with escapes is the same key.
        {R"({"usage":{"completion_tokens":11}})", 11},
        {R"({"usage":{"completion_tokens_long_name_past_thirty_two_chars":4}})", 0},
        // Not a document with usage.
        {R"([{"usage":{"completion_tokens":9}}])", 0},
        {R"("usage")", 0},
        {"", 0},
        {R"({"usage":{"completion_tokens":9})", 0},
        {R"({"usage":{"completion_tokens":9}} trailing)", 0},
        {R"({"usage":{"completion_tokens":9}}{})", 0},
        {std::string_view("{\"usage\":{\"completion_tokens\":9}}\0", 34), 0},
    };
    for (const auto& [body, expected] : bodies) {
        BOOST_TEST_CONTEXT(body) {
            BOOST_TEST(gw::completion_tokens_of(body) == expected);
        }
    }
    // Nesting past the parser's depth limit is refused as a document would be.
    std::string deep = R"({"usage":{"completion_tokens":9},"x":)";
    deep += std::string(100, '[') + std::string(100, ']') + "}";
    BOOST_TEST(gw::completion_tokens_of(deep) == 0u);
}

BOOST_AUTO_TEST_CASE(routing_names_the_base_url_when_v1_is_doubled_or_missing) {
    const auto doubled = route(request(http::verb::post, "/v1/v1/chat/completions"));
    BOOST_TEST_REQUIRE(std::holds_alternative<gw::reply>(doubled));
    const gw::reply& d = std::get<gw::reply>(doubled);
    BOOST_TEST(d.status == 404u);
    BOOST_TEST(error_of(d).at("code").as_string() == "duplicated_v1_path");
    BOOST_TEST(std::string(error_of(d).at("message").as_string()).find("http://gw.test:8080/v1") !=
               std::string::npos);
    BOOST_TEST(header(d, "x-should-retry") == "false");

    const auto missing = route(request(http::verb::post, "/chat/completions"));
    BOOST_TEST_REQUIRE(std::holds_alternative<gw::reply>(missing));
    BOOST_TEST(error_of(std::get<gw::reply>(missing)).at("code").as_string() == "missing_v1_path");

    // A Host that is not a plain host[:port] is the client's text: it is not put in the hint.
    const auto odd = route(request(http::verb::post, "/v1/v1/chat/completions", {}, "a b\"<x>"));
    const std::string message(error_of(std::get<gw::reply>(odd)).at("message").as_string());
    BOOST_TEST(message.find("<this server>") != std::string::npos);
    BOOST_TEST(message.find("a b") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(routing_answers_405_with_allow_and_says_405_in_the_envelope) {
    const auto get_chat = route(request(http::verb::get, "/v1/chat/completions"));
    BOOST_TEST_REQUIRE(std::holds_alternative<gw::reply>(get_chat));
    const gw::reply& r = std::get<gw::reply>(get_chat);
    BOOST_TEST(r.status == 405u);
    BOOST_TEST(header(r, "allow") == "POST");
    const json::object e = error_of(r);
    BOOST_TEST(e.at("status").as_int64() == 405);
    BOOST_TEST(e.at("code").as_string() == "method_not_allowed");
    BOOST_TEST(e.at("type").as_string() == "invalid_request_error");
    BOOST_TEST(!e.contains("event_id")); // a client error carries none

    const auto delete_models = route(request(http::verb::delete_, "/v1/models"));
    BOOST_TEST(header(std::get<gw::reply>(delete_models), "allow") == "GET, HEAD");
    // HEAD wherever GET is allowed, not where POST is.
    BOOST_TEST(routed(route(request(http::verb::head, "/v1/models"))) ==
               gw::to_string(gw::route::models));
    BOOST_TEST(std::get<gw::reply>(route(request(http::verb::head, "/v1/responses"))).status ==
               405u);
}

BOOST_AUTO_TEST_CASE(routing_knows_its_paths_and_ignores_queries) {
    BOOST_TEST(routed(route(request(http::verb::post, "/v1/chat/completions?x=1"))) ==
               gw::to_string(gw::route::chat));
    BOOST_TEST(routed(route(request(http::verb::post, "/v1/responses"))) ==
               gw::to_string(gw::route::responses));
    BOOST_TEST(routed(route(request(http::verb::get, "/metrics"))) ==
               gw::to_string(gw::route::metrics));
    // With metrics off, /metrics is a path like any unknown one.
    const auto off = route(request(http::verb::get, "/metrics"), false);
    BOOST_TEST(std::get<gw::reply>(off).status == 404u);
    BOOST_TEST(error_of(std::get<gw::reply>(off)).at("code").as_string() == "not_found");
    BOOST_TEST(std::get<gw::reply>(route(request(http::verb::get, "/v1/embeddings"))).status ==
               404u);
}

BOOST_AUTO_TEST_CASE(authentication_says_what_is_wrong_and_never_echoes_the_key) {
    const gw::gateway_config config = stage_config();
    const auto auth = [&](std::string_view value) {
        gw::http_request req = request(http::verb::post, "/v1/chat/completions");
        if (!value.empty()) req.set(http::field::authorization, value);
        return gw::authenticate(req, config, say, "req-1");
    };
    const auto message = [](const std::variant<gw::reply, const gw::key_config*>& v) {
        BOOST_TEST_REQUIRE(std::holds_alternative<gw::reply>(v));
        BOOST_TEST(std::get<gw::reply>(v).status == 401u);
        return std::string(error_of(std::get<gw::reply>(v)).at("message").as_string());
    };
    BOOST_TEST(message(auth("")).find("Missing API key") != std::string::npos);
    BOOST_TEST(message(auth("Basic " + alice)).find("Malformed Authorization") !=
               std::string::npos);
    BOOST_TEST(message(auth("Bearer ")).find("Malformed Authorization") != std::string::npos);
    const std::string wrong = message(auth("Bearer sk-stage-mallory"));
    BOOST_TEST(wrong.find("Incorrect API key") != std::string::npos);
    BOOST_TEST(wrong.find("mallory") == std::string::npos);
    // A key pasted with an invisible character: the diagnosis says so, the key is not repeated.
    const std::string pasted = message(auth("Bearer " + alice + "\xE2\x80\x8B"));
    BOOST_TEST(pasted.size() > std::string("Incorrect API key provided.").size());
    BOOST_TEST(pasted.find(alice) == std::string::npos);

    BOOST_TEST(std::get<const gw::key_config*>(auth("Bearer " + alice))->id == "alice");
    BOOST_TEST(std::get<const gw::key_config*>(auth("bearer " + bob))->id == "bob");
}

BOOST_AUTO_TEST_CASE(reading_a_chat_request_names_the_field_at_fault) {
    BOOST_TEST(refusal(read("{\"model\":")).first == "");
    BOOST_TEST(refusal(read("[1]")).second == "The request body must be a JSON object.");
    BOOST_TEST(refusal(read(R"({"messages":[{"content":"x"}]})")).first == "model");
    BOOST_TEST(refusal(read(R"({"model":"","messages":[{}]})")).first == "model");
    BOOST_TEST(refusal(read(R"({"model":"m","messages":[]})")).first == "messages");
    BOOST_TEST(refusal(read(R"({"model":"m","messages":"hi"})")).first == "messages");
    BOOST_TEST(refusal(read(R"({"model":"m","input":""})", gw::route::responses)).first == "input");
    BOOST_TEST(refusal(read(R"({"model":"m","messages":[{}],"stream":"yes"})")).first == "stream");
    for (const char* bad : {"0", "-1", "1000001", "1.5", "\"5\"", "true"})
        BOOST_TEST(
            refusal(read(std::string(R"({"model":"m","messages":[{}],"max_tokens":)") + bad + "}"))
                    .first == "max_tokens",
            bad);
    BOOST_TEST(
        refusal(read(R"({"model":"m","input":"x","max_output_tokens":0})", gw::route::responses))
            .first == "max_output_tokens");
    // Nesting past 32 levels is refused by the parser, not recursed into.
    std::string deep = R"({"model":"m","messages":[{"content":)" + std::string(40, '[') +
                       std::string(40, ']') + "}]}";
    BOOST_TEST(refusal(read(deep)).second.find("not valid JSON") != std::string::npos);
    // An x-priority that names no priority.
    BOOST_TEST(refusal(read(R"({"model":"m","messages":[{}]})", gw::route::chat, alice, "urgent"))
                   .second.find("x-priority") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(reading_a_chat_request_estimates_its_tokens_and_priority) {
    const auto fields = [](const std::variant<gw::reply, gw::chat_fields>& v) {
        BOOST_TEST_REQUIRE(std::holds_alternative<gw::chat_fields>(v));
        return std::get<gw::chat_fields>(v);
    };
    // Four a message, plus a token for each four bytes of content (rounded up).
    const gw::chat_fields two = fields(
        read(R"({"model":"m","messages":[{"content":"abcde"},{"role":"user"}],"stream":true})"));
    BOOST_TEST(two.model_id == "m");
    BOOST_TEST(two.stream);
    BOOST_TEST(!two.responses);
    BOOST_TEST(two.prompt_tokens == 4u + 2u + 4u);
    BOOST_TEST(two.max_tokens == 100u); // the configuration's default
    BOOST_TEST((two.priority == fl::limit::priority::high));
    // Content as parts counts by its JSON size: an image cannot slip past the limits.
    const std::string parts = R"([{"type":"image_url","image_url":{"url":"data:AAAA"}}])";
    const gw::chat_fields image =
        fields(read(R"({"model":"m","messages":[{"content":)" + parts + R"(}],"max_tokens":7})"));
    BOOST_TEST(image.prompt_tokens == 4u + (parts.size() + 3) / 4);
    BOOST_TEST(image.max_tokens == 7u);
    // The Responses API: a string input is one message; its own max tokens field.
    const gw::chat_fields r = fields(
        read(R"({"model":"m","input":"abcdefgh","max_output_tokens":9})", gw::route::responses));
    BOOST_TEST(r.responses);
    BOOST_TEST(r.prompt_tokens == 6u);
    BOOST_TEST(r.max_tokens == 9u);
    // x-priority lowers a key's priority, never raises it.
    const std::string body = R"({"model":"m","messages":[{}]})";
    BOOST_TEST((fields(read(body, gw::route::chat, alice, "very_low")).priority ==
                fl::limit::priority::very_low));
    BOOST_TEST((fields(read(body, gw::route::chat, bob, "critical")).priority ==
                fl::limit::priority::low));
}

BOOST_AUTO_TEST_CASE(answers_word_the_gateways_own_errors_and_the_upstreams) {
    // The gateway's own 503: Retry-After in seconds and milliseconds, the event id to find it by.
    const gw::reply busy = say.busy("full", "req-7", std::chrono::milliseconds(1500));
    BOOST_TEST(busy.status == 503u);
    BOOST_TEST(header(busy, "retry-after") == "2");
    BOOST_TEST(header(busy, "retry-after-ms") == "1500");
    BOOST_TEST(header(busy, "x-should-retry") == "true");
    json::object e = error_of(busy);
    BOOST_TEST(e.at("status").as_int64() == 503);
    BOOST_TEST(e.at("code").as_string() == "overloaded");
    BOOST_TEST(e.at("message").as_string() == "full"); // its own words are not redacted
    BOOST_TEST(e.at("event_id").as_string() == "req-7");

    // An upstream's 5xx is redacted, and its event id kept.
    fl::failure up = fl::to_failure(fl::error::upstream_unavailable);
    up.message = "connect 10.1.2.3:443 refused";
    up.retry_after = std::chrono::seconds(3);
    const gw::reply failed = say.failure(up, "req-8");
    BOOST_TEST(failed.status == 502u);
    e = error_of(failed);
    BOOST_TEST(std::string(e.at("message").as_string()).find("10.1.2.3") == std::string::npos);
    BOOST_TEST(e.at("event_id").as_string() == "req-8");
    BOOST_TEST(header(failed, "retry-after") == "3");

    // A stream's own error always carries the event id its log line repeats.
    const fl::rendered_envelope s = say.stream(fl::error::sse_line_too_long, "too long", "req-9");
    BOOST_TEST(s.envelope.event_id.value_or("") == "req-9");
    BOOST_TEST(s.envelope.message == "too long");
    // Without include_status the envelope has no status member.
    const gw::answers plain{false};
    BOOST_TEST(!error_of(plain.error(fl::error::not_found, "x", "")).contains("status"));
}

BOOST_AUTO_TEST_CASE(the_relay_passes_content_and_the_terminator_and_keeps_an_error_chunk) {
    relayed r;
    r.feed("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
           ": a comment is not relayed\n\n"
           "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"overloaded_error\","
           "\"code\":\"overloaded\"}}\n\n"
           "data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n");
    BOOST_TEST(r.out == "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n");
    BOOST_TEST(r.m.handler().finished);
    BOOST_TEST_REQUIRE(r.m.handler().upstream_error.has_value());
    BOOST_TEST(r.m.handler().upstream_error->code == fl::error::overloaded);
    BOOST_TEST(r.m.handler().sent == 1u);

    // A protocol's own terminator is relayed as sent, never replaced by a `[DONE]`.
    relayed responses;
    responses.feed("event: response.created\ndata: {\"type\":\"response.created\"}\n\n"
                   "event: response.completed\ndata: {\"type\":\"response.completed\"}\n\n");
    BOOST_TEST(responses.out ==
               "event: response.created\ndata: {\"type\":\"response.created\"}\n\n"
               "event: response.completed\ndata: {\"type\":\"response.completed\"}\n\n");
    BOOST_TEST(responses.m.handler().finished);
    BOOST_TEST(responses.m.handler().sent == 2u);

    // An event type that could break the framing is dropped, its data kept.
    relayed odd;
    odd.feed("event: a\rb\ndata: {}\n\ndata: [DONE]\n\n");
    BOOST_TEST(odd.out.find("\r") == std::string::npos);
    BOOST_TEST(odd.out.find("data: [DONE]\n\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_relay_passes_a_line_longer_than_its_limit_in_pieces) {
    relayed r(64);
    const std::string big(1000, 'A');
    r.feed("data: {\"b64\":\"" + big.substr(0, 300));
    BOOST_TEST(r.m.handler().mid_event);
    BOOST_TEST(r.out.size() < 400u); // the piece went out as it came
    const std::size_t first = r.out.size();
    r.out.clear(); // sent
    r.feed(big.substr(300) + "\"}\n\ndata: [DONE]\n\n");
    BOOST_TEST(!r.m.handler().mid_event);
    BOOST_TEST(first + r.out.size() == std::string("data: {\"b64\":\"").size() + big.size() +
                                           std::string("\"}\n\ndata: [DONE]\n\n").size());
    BOOST_TEST(r.m.handler().finished);
    BOOST_TEST(r.m.buffered_bytes() < 512u); // the whole line was never held
}

BOOST_AUTO_TEST_CASE(a_responses_error_event_says_what_the_envelope_says) {
    std::string out;
    fl::sse::writer w(out);
    fl::error_envelope env = fl::make_envelope(fl::error::context_length_exceeded, "too long");
    env.param = "input";
    gw::responses_error(w, env, 5);
    const std::string prefix = "event: error\ndata: ";
    BOOST_TEST_REQUIRE(out.substr(0, prefix.size()) == prefix);
    const json::value e = json::parse(out.substr(prefix.size()));
    BOOST_TEST(e.at("type").as_string() == "error");
    BOOST_TEST(e.at("code").as_string() == "context_length_exceeded");
    BOOST_TEST(e.at("message").as_string() == "too long");
    BOOST_TEST(e.at("param").as_string() == "input");
    BOOST_TEST(e.at("sequence_number").as_int64() == 5);
    BOOST_TEST(out.find("[DONE]") == std::string::npos);

    // A numeric code (as some providers send) gives way to the type; nothing at all is null.
    fl::error_envelope numeric;
    numeric.message = "m";
    numeric.type = "server_error";
    numeric.code = std::int64_t(500);
    out.clear();
    gw::responses_error(w, numeric, 0);
    BOOST_TEST(json::parse(out.substr(prefix.size())).at("code").as_string() == "server_error");
    out.clear();
    gw::responses_error(w, fl::error_envelope{}, 0);
    const json::value bare = json::parse(out.substr(prefix.size()));
    BOOST_TEST(bare.at("code").is_null());
    BOOST_TEST(bare.at("param").is_null());
}

BOOST_AUTO_TEST_CASE(a_memory_charge_never_takes_the_total_past_its_limit) {
    std::atomic<std::size_t> total{0};
    std::atomic<std::uint64_t> holder_peak{0}, total_peak{0};
    {
        gw::memory_charge a(total, holder_peak, gw::peak_of::holder);
        gw::memory_charge b(total, total_peak, gw::peak_of::total);
        BOOST_TEST(a.try_charge(600, 1000));
        BOOST_TEST(!b.try_charge(500, 1000)); // 1100 would pass it, even for a moment
        BOOST_TEST(b.held() == 0u);
        BOOST_TEST(total.load() == 600u);
        BOOST_TEST(b.try_charge(400, 1000));
        BOOST_TEST(total.load() == 1000u);
        BOOST_TEST(!a.try_charge(601, 1000));
        BOOST_TEST(a.try_charge(100, 1000));              // less is always within
        BOOST_TEST(!b.try_charge(std::size_t(-1), 1000)); // no overflow past the limit
        BOOST_TEST(a.charge(700) == 1100u);               // `charge` records, it does not refuse
        BOOST_TEST(holder_peak.load() == 700u);
        BOOST_TEST(total_peak.load() == 1000u);
    }
    BOOST_TEST(total.load() == 0u); // each holder gives back what it held
}

BOOST_AUTO_TEST_CASE(only_chunked_alone_is_a_framing_the_gateway_reads) {
    const auto te = [](std::initializer_list<std::string_view> values) {
        http::fields h;
        for (std::string_view v : values)
            h.insert(http::field::transfer_encoding, v);
        return gw::chunked_alone(h);
    };
    BOOST_TEST(te({"chunked"}));
    BOOST_TEST(te({" Chunked\t"}));
    BOOST_TEST(!te({}));
    BOOST_TEST(!te({"xchunked"}));
    BOOST_TEST(!te({"chunkedx"}));
    BOOST_TEST(!te({"gzip, chunked"}));
    BOOST_TEST(!te({"chunked, chunked"}));
    BOOST_TEST(!te({"chunked", "chunked"})); // two fields: their list is not `chunked` alone
    BOOST_TEST(!te({"identity"}));
}

BOOST_AUTO_TEST_CASE(admission_refuses_a_key_over_its_in_flight_limit_until_one_ends) {
    admission_rig rig(admission_config(1, 0));
    gw::client_watch watch(rig.io.get_executor());
    std::optional<admission_rig::outcome> first, second, third;
    rig.admit(alice, fl::limit::priority::high, first, watch);
    BOOST_TEST_REQUIRE(holds_pass(first));
    BOOST_TEST(!std::get<gw::admission_stage::pass>(*first).holds_slot()); // no shedding
    rig.admit(alice, fl::limit::priority::high, second, watch);
    BOOST_TEST_REQUIRE((second && std::holds_alternative<gw::reply>(*second)));
    const gw::reply& r = std::get<gw::reply>(*second);
    BOOST_TEST(r.status == 429u);
    BOOST_TEST(error_of(r).at("code").as_string() == "concurrency_exceeded");
    BOOST_TEST(
        std::string(error_of(r).at("message").as_string()).starts_with("token-level limit: 1 "));
    BOOST_TEST(header(r, "x-should-retry") == "true");
    rig.admit(bob, fl::limit::priority::low, third, watch); // another key: its own limit (none)
    BOOST_TEST(holds_pass(third));

    first.reset(); // the answer ended: its permit is back
    std::optional<admission_rig::outcome> again;
    rig.admit(alice, fl::limit::priority::high, again, watch);
    BOOST_TEST(holds_pass(again));
}

BOOST_AUTO_TEST_CASE(admission_queues_for_a_slot_and_takes_the_one_freed) {
    admission_rig rig(admission_config(0, 1));
    gw::client_watch watch(rig.io.get_executor()), waiting_watch(rig.io.get_executor());
    std::optional<admission_rig::outcome> first, second;
    rig.admit(alice, fl::limit::priority::high, first, watch);
    BOOST_TEST_REQUIRE(holds_pass(first));
    BOOST_TEST(std::get<gw::admission_stage::pass>(*first).holds_slot());
    rig.admit(bob, fl::limit::priority::low, second, waiting_watch);
    BOOST_TEST(!second); // waiting
    BOOST_TEST(rig.stage.waiting() == 1u);
    BOOST_TEST(rig.stage.queued() == 1u);
    BOOST_TEST(waiting_watch.wait != nullptr); // the watch can wake it

    rig.now += std::chrono::milliseconds(120);
    std::get<gw::admission_stage::pass>(*first).release(); // the first answer ended
    rig.poll();
    BOOST_TEST_REQUIRE(holds_pass(second));
    BOOST_TEST(std::get<gw::admission_stage::pass>(*second).holds_slot());
    BOOST_TEST(rig.stage.waiting() == 0u);
    BOOST_TEST(waiting_watch.wait == nullptr);
    BOOST_TEST(rig.lines.back() == "admitted priority=low key=bob event_id=req-a waited_ms=120");
    BOOST_TEST(rig.stage.shed() == 0u);
}

BOOST_AUTO_TEST_CASE(admission_sheds_past_the_queue_and_past_the_wait_limit) {
    admission_rig rig(admission_config(0, 1));
    gw::client_watch watch(rig.io.get_executor()), waiting_watch(rig.io.get_executor());
    std::optional<admission_rig::outcome> first, second, third;
    rig.admit(alice, fl::limit::priority::high, first, watch);
    rig.admit(bob, fl::limit::priority::low, second, waiting_watch);
    BOOST_TEST_REQUIRE(!second);

    // The queue holds one: a request of the same priority is refused on arrival.
    rig.admit(bob, fl::limit::priority::low, third, watch);
    BOOST_TEST_REQUIRE((third && std::holds_alternative<gw::reply>(*third)));
    const gw::reply& refused = std::get<gw::reply>(*third);
    BOOST_TEST(refused.status == 503u);
    BOOST_TEST(error_of(refused).at("code").as_string() == "overloaded");
    BOOST_TEST(
        std::string(error_of(refused).at("message").as_string()).find("refused on arrival") !=
        std::string::npos);
    BOOST_TEST(header(refused, "retry-after") != "<none>");

    // The waiter's deadline passes on the gateway's clock; the timer only wakes it to look.
    rig.now += std::chrono::milliseconds(501);
    waiting_watch.wait->cancel();
    rig.poll();
    BOOST_TEST_REQUIRE((second && std::holds_alternative<gw::reply>(*second)));
    const gw::reply& late = std::get<gw::reply>(*second);
    BOOST_TEST(late.status == 503u);
    BOOST_TEST(std::string(error_of(late).at("message").as_string())
                   .find("not served within the queue's wait limit") != std::string::npos);
    BOOST_TEST(rig.stage.shed() == 2u);
    BOOST_TEST(rig.stage.waiting() == 0u);
}

BOOST_AUTO_TEST_CASE(admission_of_a_client_gone_while_waiting_holds_nothing) {
    admission_rig rig(admission_config(1, 1));
    gw::client_watch watch(rig.io.get_executor()), waiting_watch(rig.io.get_executor());
    std::optional<admission_rig::outcome> first, second;
    rig.admit(alice, fl::limit::priority::high, first, watch);
    rig.admit(bob, fl::limit::priority::low, second, waiting_watch);
    BOOST_TEST_REQUIRE(!second);
    waiting_watch.gone = true; // what watch_client does when the client closes
    waiting_watch.wait->cancel();
    rig.poll();
    BOOST_TEST_REQUIRE((second && std::holds_alternative<gw::client_gone>(*second)));
    BOOST_TEST(rig.stage.waiting() == 0u);
    BOOST_TEST(rig.stage.abandoned() == 1u);
    BOOST_TEST(rig.lines.back().starts_with("abandoned priority=low key=bob"));

    // Releasing everything the first request held frees its key's permit and its slot at once.
    std::get<gw::admission_stage::pass>(*first).release();
    std::optional<admission_rig::outcome> next;
    rig.admit(alice, fl::limit::priority::high, next, watch);
    BOOST_TEST_REQUIRE(holds_pass(next));
    BOOST_TEST(std::get<gw::admission_stage::pass>(*next).holds_slot());
}

BOOST_AUTO_TEST_CASE(dispatch_walks_every_channel_once_and_answers_with_the_last_failure) {
    walk_rig rig;
    gw::channel_walk walk(rig.model, rig.metrics, rig.now);
    std::vector<std::string> from;
    const auto names = rig.offered(walk, [&](gw::channel_walk& w, const gw::channel_config& ch) {
        from.push_back(w.failed_over_from());
        w.failed(fl::to_failure(fl::error::rate_limited, ch.name + " is busy"), rig.now);
    });
    BOOST_TEST(is_rotation_of_all_three(names));
    BOOST_TEST_REQUIRE(from.size() == 3u);
    BOOST_TEST(from[0].empty());
    BOOST_TEST(from[1] == names[0]);
    BOOST_TEST(from[2] == names[1]);
    const gw::reply r = rig.answer(walk);
    BOOST_TEST(r.status == 429u);
    // An upstream's 429 is named as the upstream level's, with the channel that said it last.
    BOOST_TEST(std::string(error_of(r).at("message").as_string()) ==
               "upstream-level limit: the provider behind channel " + names[2] +
                   " said: " + names[2] + " is busy");
    BOOST_TEST(rig.lines.empty());

    // Each counted failure opened its channel's breaker: the next request finds none.
    BOOST_TEST(rig.open_channels() == 3u);
    gw::channel_walk later(rig.model, rig.metrics, rig.now);
    BOOST_TEST(later.next(rig.now) == nullptr);
    const gw::reply none = rig.answer(later);
    BOOST_TEST(none.status == 503u);
    BOOST_TEST(error_of(none).at("code").as_string() == "no_available_channel");
    BOOST_TEST(header(none, "retry-after") == "10");
    BOOST_TEST(rig.lines ==
               std::vector<std::string>{"no_available_channel model=m event_id=req-1"});
}

BOOST_AUTO_TEST_CASE(dispatch_ends_the_walk_at_a_failure_no_channel_would_answer_otherwise) {
    walk_rig rig;
    gw::channel_walk walk(rig.model, rig.metrics, rig.now);
    const auto names = rig.offered(walk, [&](gw::channel_walk& w, const gw::channel_config&) {
        w.failed(fl::to_failure(fl::error::context_length_exceeded, "too long"), rig.now);
    });
    BOOST_TEST(names.size() == 1u);
    const gw::reply r = rig.answer(walk);
    BOOST_TEST(r.status == 400u);
    BOOST_TEST(error_of(r).at("code").as_string() == "context_length_exceeded");
    BOOST_TEST(header(r, "x-should-retry") == "false");
    // The request's own fault says nothing of the channel: its breaker stays closed.
    BOOST_TEST(rig.open_channels() == 0u);
}

BOOST_AUTO_TEST_CASE(dispatch_passes_over_an_open_circuit_and_tries_it_again_after_its_cool_down) {
    walk_rig rig;
    rig.model.pool->operator[](1).record_failure(rig.now, fl::error::upstream_unavailable);
    gw::channel_walk walk(rig.model, rig.metrics, rig.now);
    const auto names = rig.offered(walk, [&](gw::channel_walk& w, const gw::channel_config&) {
        w.failed(fl::to_failure(fl::error::upstream_unavailable, "down"), rig.now);
    });
    BOOST_TEST(names.size() == 2u);
    BOOST_TEST((std::find(names.begin(), names.end(), "ch-b") == names.end()));
    const gw::reply r = rig.answer(walk);
    BOOST_TEST(error_of(r).at("code").as_string() == "upstream_unavailable");

    BOOST_TEST(rig.open_channels() == 3u);

    rig.now += std::chrono::seconds(10); // every cool-down over: each lets a probe through
    BOOST_TEST(rig.open_channels() == 0u);
}

BOOST_AUTO_TEST_CASE(dispatch_answers_channels_at_their_limits_with_the_limit_that_refused) {
    {
        walk_rig rig;
        gw::channel_walk walk(rig.model, rig.metrics, rig.now);
        const auto names = rig.offered(walk, [&](gw::channel_walk& w, const gw::channel_config&) {
            w.at_rate_limit(channel_limited(std::chrono::seconds(2)), rig.now);
        });
        BOOST_TEST(names.size() == 3u);
        const gw::reply r = rig.answer(walk);
        BOOST_TEST(r.status == 429u);
        BOOST_TEST(std::string(error_of(r).at("message").as_string())
                       .starts_with("upstream-level limit: every channel of model 'm' is at its "
                                    "limit. "));
        BOOST_TEST(header(r, "retry-after") == "2");
        BOOST_TEST(header(r, "x-should-retry") == "true");
        // A channel at its limit is not unhealthy: every breaker stays closed.
        BOOST_TEST(rig.open_channels() == 0u);
    }
    {
        walk_rig rig;
        fl::limit::decision full;
        full.ec = fl::error::concurrency_exceeded;
        full.retry_after = std::chrono::milliseconds(250);
        full.limit = 4;
        gw::channel_walk walk(rig.model, rig.metrics, rig.now);
        (void)rig.offered(walk, [&](gw::channel_walk& w, const gw::channel_config&) {
            w.at_adaptive_limit(full, rig.now);
        });
        const gw::reply r = rig.answer(walk);
        BOOST_TEST(r.status == 503u);
        BOOST_TEST(error_of(r).at("code").as_string() == "overloaded");
        BOOST_TEST(header(r, "retry-after") == "1");
        BOOST_TEST(rig.lines ==
                   std::vector<std::string>{
                       "overloaded model=m event_id=req-1: every channel at its adaptive limit"});
    }
    {
        // Mixed: an upstream's failure says more than a limit, a rate limit more than an
        // adaptive one.
        walk_rig rig;
        gw::channel_walk walk(rig.model, rig.metrics, rig.now);
        int k = 0;
        (void)rig.offered(walk, [&](gw::channel_walk& w, const gw::channel_config&) {
            if (k++ == 1)
                w.failed(fl::to_failure(fl::error::upstream_timeout, "slow"), rig.now);
            else
                w.at_adaptive_limit(fl::limit::decision{}, rig.now);
        });
        BOOST_TEST(error_of(rig.answer(walk)).at("code").as_string() == "upstream_timeout");
        walk_rig other;
        gw::channel_walk limited(other.model, other.metrics, other.now);
        k = 0;
        (void)other.offered(limited, [&](gw::channel_walk& w, const gw::channel_config&) {
            if (k++ == 2)
                w.at_rate_limit(channel_limited(std::chrono::seconds(1)), other.now);
            else
                w.at_adaptive_limit(fl::limit::decision{}, other.now);
        });
        BOOST_TEST(other.answer(limited).status == 429u);
    }
}

BOOST_AUTO_TEST_CASE(a_relayed_stream_passes_content_and_its_terminator) {
    stream_rig rig;
    using step = gw::stream_relay::step;
    BOOST_TEST(!rig.relay.holds_head()); // no first-token limit: the head goes at once
    rig.relay.head_sent();
    BOOST_TEST((rig.relay.take(chunk + chunk, rig.t0) == step::more));
    BOOST_TEST(rig.sent() == chunk + chunk);
    BOOST_TEST((rig.relay.take("data: [DONE]\n\n", rig.t0) == step::ended));
    BOOST_TEST(rig.sent() == "data: [DONE]\n\n");
    BOOST_TEST(rig.relay.ended());
    BOOST_TEST(!rig.relay.failed_with());
    BOOST_TEST(rig.relay.content_events() == 2u);
    BOOST_TEST(rig.relay.events() == 3u);
    BOOST_TEST(rig.lines.empty());
    BOOST_TEST(rig.total.load() > 0u); // charged while it lives
}

BOOST_AUTO_TEST_CASE(a_relayed_stream_holds_its_head_for_the_first_token_and_fails_whole_without) {
    using step = gw::stream_relay::step;
    {
        stream_rig rig(std::chrono::milliseconds(500));
        BOOST_TEST(rig.relay.holds_head());
        BOOST_TEST((rig.relay.deadline() == rig.t0 + std::chrono::milliseconds(500)));
        BOOST_TEST((rig.relay.take(": keep-alive\n\n", rig.t0 + std::chrono::milliseconds(100)) ==
                    step::more));
        BOOST_TEST(rig.relay.holds_head()); // a comment is not a token
        BOOST_TEST((rig.relay.take("", rig.t0 + std::chrono::milliseconds(500)) == step::unsent));
        BOOST_TEST_REQUIRE(rig.relay.unsent().has_value());
        BOOST_TEST((rig.relay.unsent()->code == fl::error::upstream_timeout));
        BOOST_TEST(rig.relay.unsent()->message ==
                   "Channel ch-s sent no content within 500 ms (first_token_timeout_ms).");
    }
    {
        stream_rig rig(std::chrono::milliseconds(500));
        BOOST_TEST((rig.relay.take(chunk, rig.t0 + std::chrono::milliseconds(499)) == step::more));
        BOOST_TEST(!rig.relay.holds_head()); // the first token came in time: the head can go
    }
}

BOOST_AUTO_TEST_CASE(a_relayed_stream_ends_in_its_protocols_words_when_the_upstream_goes_quiet) {
    using step = gw::stream_relay::step;
    {
        stream_rig rig;
        rig.relay.head_sent();
        BOOST_TEST((rig.relay.take(chunk, rig.t0) == step::more));
        (void)rig.sent();
        BOOST_TEST((rig.relay.deadline() == rig.t0 + std::chrono::milliseconds(2000)));
        BOOST_TEST((rig.relay.take("", rig.t0 + std::chrono::milliseconds(2000)) == step::ended));
        const std::string out = rig.sent();
        BOOST_TEST(out.find(R"("code":"upstream_timeout")") != std::string::npos);
        BOOST_TEST(out.find("The upstream sent nothing for 2000 ms.") != std::string::npos);
        BOOST_TEST(out.ends_with("data: [DONE]\n\n"));
        BOOST_TEST((rig.relay.failed_with() == fl::error::upstream_timeout));
        BOOST_TEST(rig.relay.upstream_fault());
        BOOST_TEST(rig.lines.size() == 1u);
        // Bytes after the limit are not relayed.
        BOOST_TEST(
            (rig.relay.take(chunk, rig.t0 + std::chrono::milliseconds(2001)) == step::ended));
        BOOST_TEST(rig.sent().empty());
    }
    {
        // The Responses API: an error event numbered after the events the client had.
        stream_rig rig(std::nullopt, true);
        rig.relay.head_sent();
        (void)rig.relay.take("event: response.created\ndata: {\"sequence_number\":0}\n\n", rig.t0);
        (void)rig.sent();
        BOOST_TEST((rig.relay.take("", rig.t0 + std::chrono::seconds(2)) == step::ended));
        const std::string out = rig.sent();
        BOOST_TEST(out.starts_with("event: error\n"));
        BOOST_TEST(out.find(R"("sequence_number":1)") != std::string::npos);
        BOOST_TEST(out.find("[DONE]") == std::string::npos);
    }
}

// A client slow to take what was relayed (here 5 s for one write, against a 2 s idle limit)
// does not make the upstream quiet: its bytes waited unread, and the idle time counts from the
// write's end.
BOOST_AUTO_TEST_CASE(a_slow_client_is_not_a_quiet_upstream) {
    using step = gw::stream_relay::step;
    stream_rig rig;
    rig.relay.head_sent();
    BOOST_TEST((rig.relay.take(chunk, rig.t0) == step::more));
    (void)rig.sent();
    rig.relay.sent(rig.t0 + std::chrono::seconds(5));
    BOOST_TEST((rig.relay.deadline() == rig.t0 + std::chrono::milliseconds(7000)));
    BOOST_TEST((rig.relay.take(chunk, rig.t0 + std::chrono::milliseconds(5001)) == step::more));
    BOOST_TEST(rig.sent() == chunk);
    BOOST_TEST(!rig.relay.failed_with());
}

BOOST_AUTO_TEST_CASE(a_relayed_stream_answers_an_upstream_error_chunk_and_a_cut) {
    using step = gw::stream_relay::step;
    {
        stream_rig rig;
        rig.relay.head_sent();
        BOOST_TEST(
            (rig.relay.take(chunk + R"(data: {"error":{"message":"The server is overloaded.",)"
                                    R"("type":"server_error","code":"overloaded"}})"
                                    "\n\n",
                            rig.t0) == step::ended));
        const std::string out = rig.sent();
        BOOST_TEST(out.starts_with(chunk));
        BOOST_TEST(out.find(R"("code":"overloaded")") != std::string::npos);
        BOOST_TEST((rig.relay.failed_with() == fl::error::overloaded));
        BOOST_TEST(rig.relay.upstream_fault());
        BOOST_TEST(rig.lines.at(0).starts_with("stream event_id=req-s upstream error chunk: "));
    }
    {
        stream_rig rig;
        rig.relay.head_sent();
        BOOST_TEST((rig.relay.take(chunk, rig.t0) == step::more));
        (void)rig.sent();
        rig.relay.cut();
        const std::string out = rig.sent();
        BOOST_TEST(out.find(R"("code":"stream_truncated")") != std::string::npos);
        BOOST_TEST((rig.relay.failed_with() == fl::error::stream_truncated));
        BOOST_TEST(rig.relay.upstream_fault());
        BOOST_TEST(rig.relay.ended());
    }
}

BOOST_AUTO_TEST_CASE(a_relayed_stream_over_its_memory_budget_ends_with_the_gateways_overload) {
    using step = gw::stream_relay::step;
    stream_rig rig(std::nullopt, false, 4096);
    rig.relay.head_sent();
    std::string many;
    while (many.size() < 8192)
        many += chunk;
    BOOST_TEST((rig.relay.take(many, rig.t0) == step::ended));
    const std::string out = rig.sent();
    BOOST_TEST(out.find(R"("code":"overloaded")") != std::string::npos);
    BOOST_TEST(out.find("over its memory budget of 4096 bytes (stream_memory_budget)") !=
               std::string::npos);
    BOOST_TEST((rig.relay.failed_with() == fl::error::overloaded));
    BOOST_TEST(!rig.relay.upstream_fault()); // the gateway's own limit
}

// A message serialized whole is the bytes Beast's own writer sends: the header, then the body in
// the framing the header says (a length, or chunks).
BOOST_AUTO_TEST_CASE(a_message_is_serialized_as_beasts_writer_sends_it) {
    const auto written = [](auto& m) {
        std::ostringstream os;
        os << m; // Beast's writer
        return os.str();
    };
    http::response<http::string_body> sized{http::status::too_many_requests, 11};
    sized.set(http::field::content_type, "application/json");
    sized.set("x-ratelimit-remaining-requests", "0");
    sized.body() = R"({"error":{"message":"slow down"}})";
    sized.prepare_payload();
    std::string out = "kept:";
    BOOST_TEST(!examples::serialize(sized, out));
    BOOST_TEST(out == "kept:" + written(sized)); // appended
    BOOST_TEST(out.find("Content-Length: 33\r\n") != std::string::npos);
    BOOST_TEST(out.ends_with("\r\n\r\n" + sized.body()));

    http::response<http::string_body> chunked{http::status::ok, 11};
    chunked.body() = "hello";
    chunked.chunked(true);
    out.clear();
    BOOST_TEST(!examples::serialize(chunked, out));
    BOOST_TEST(out == written(chunked));
    BOOST_TEST(out.ends_with("\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));

    // A body the serializer takes in pieces: every piece, in order; a piece that fails ends it
    // with the body's error, what came before it kept.
    http::response<pieces_body> pieced{http::status::ok, 11};
    pieced.body().pieces = {"one,", "two,", "three"};
    pieced.prepare_payload();
    out.clear();
    BOOST_TEST(!examples::serialize(pieced, out));
    BOOST_TEST(out.ends_with("Content-Length: 13\r\n\r\none,two,three"));
    pieced.body().fail = true;
    out.clear();
    BOOST_TEST((examples::serialize(pieced, out) == boost::asio::error::no_buffer_space));
    BOOST_TEST(out.ends_with("\r\n\r\none,two,"));

    // The gateway's upstream request: the header alone, with the length of a body sent after it.
    http::request<http::empty_body> head{http::verb::post, "/v1/chat/completions", 11};
    head.set(http::field::host, "127.0.0.1:8080");
    head.content_length(2);
    out.clear();
    BOOST_TEST(!examples::serialize(head, out));
    BOOST_TEST(out == written(head));
    BOOST_TEST(out.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"));
    BOOST_TEST(out.ends_with("Content-Length: 2\r\n\r\n"));
}

// The head comes from the fields' writer and the body after it as it is: the same bytes as
// Beast's writer for a method Beast has no name for, HTTP/1.0, a status with a reason of its own,
// and a HEAD answer (its head alone, with the length a GET would have had).
BOOST_AUTO_TEST_CASE(heads_and_bodies_are_the_bytes_beasts_writer_sends) {
    const auto written = [](auto& m) {
        std::ostringstream os;
        os << m;
        return os.str();
    };
    http::request<http::string_body> purge;
    purge.method_string("PURGE");
    purge.target("/cache?key=a%20b");
    purge.version(10);
    purge.set(http::field::host, "upstream");
    purge.body() = "{}";
    purge.prepare_payload();
    std::string out;
    BOOST_TEST(!examples::serialize(purge, out));
    BOOST_TEST(out == written(purge));
    BOOST_TEST(out.starts_with("PURGE /cache?key=a%20b HTTP/1.0\r\n"));
    BOOST_TEST(out.ends_with("\r\n\r\n{}"));

    http::response<http::string_body> overloaded{static_cast<http::status>(529), 11};
    overloaded.reason("Site Overloaded");
    overloaded.body() = R"({"error":{}})";
    overloaded.prepare_payload();
    out.clear();
    BOOST_TEST(!examples::serialize(overloaded, out));
    BOOST_TEST(out == written(overloaded));
    BOOST_TEST(out.starts_with("HTTP/1.1 529 Site Overloaded\r\n"));

    std::string head;
    BOOST_TEST(!examples::serialize(overloaded, head, true));
    BOOST_TEST(head == out.substr(0, out.size() - overloaded.body().size()));
    BOOST_TEST(head.ends_with("Content-Length: 12\r\n\r\n"));
}

// Fields from an arena are the same fields: a message whose fields outgrow the arena's buffer
// (here 256 bytes for 200 of them) takes the rest from the heap and is serialized whole.
BOOST_AUTO_TEST_CASE(fields_from_an_arena_serialize_as_any_fields_do_even_past_its_size) {
    examples::fields_arena<256> arena;
    http::response<http::string_body, examples::arena_fields> from_arena{
        std::piecewise_construct, std::make_tuple(), std::make_tuple(arena.allocator())};
    http::response<http::string_body> from_heap;
    const auto fill = [](auto& m) {
        m.result(http::status::ok);
        m.version(11);
        m.reason("OK");
        for (int i = 0; i < 200; ++i)
            m.set("x-field-" + std::to_string(i), std::string(std::size_t(i % 40), 'v'));
        m.set(http::field::content_type, "application/json");
        m.body() = R"({"ok":true})";
        m.prepare_payload();
    };
    fill(from_arena);
    fill(from_heap);
    std::string a, h;
    BOOST_TEST(!examples::serialize(from_arena, a));
    BOOST_TEST(!examples::serialize(from_heap, h));
    BOOST_TEST(a.size() > 256u * 10);
    BOOST_TEST(a == h);
    BOOST_TEST(std::distance(from_arena.begin(), from_arena.end()) == 202); // and Content-Length
}

BOOST_AUTO_TEST_CASE(bytes_already_buffered_are_parsed_up_to_the_end_of_one_message) {
    const auto fill = [](boost::beast::flat_buffer& b, std::string_view bytes) {
        b.commit(boost::asio::buffer_copy(b.prepare(bytes.size()), boost::asio::buffer(bytes)));
    };
    const auto left = [](const boost::beast::flat_buffer& b) {
        return std::string(static_cast<const char*>(b.data().data()), b.size());
    };
    const std::string first =
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    const std::string second = "GET /v1/models HTTP/1.1\r\n\r\n";

    // Two requests in one read: the first whole, the second left for the next parser.
    boost::beast::flat_buffer buffer;
    fill(buffer, first + second);
    http::request_parser<http::string_body> whole;
    boost::beast::error_code ec;
    std::size_t n = examples::parse_buffered(
        whole, buffer, [&] { return whole.is_done(); }, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(n == first.size());
    BOOST_TEST(whole.is_done());
    BOOST_TEST(whole.get().body() == "hello");
    BOOST_TEST(left(buffer) == second);

    // Up to the header only, when that is what the caller waits for.
    buffer.consume(buffer.size());
    fill(buffer, first);
    http::request_parser<http::string_body> head;
    n = examples::parse_buffered(
        head, buffer, [&] { return head.is_header_done(); }, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(head.is_header_done());
    BOOST_TEST(!head.is_done());
    BOOST_TEST(left(buffer) == "hello");
    BOOST_TEST(n == first.size() - 5);

    // Half a header: nothing parsed, nothing consumed, no error (a read follows).
    buffer.consume(buffer.size());
    fill(buffer, "POST /v1/chat/comp");
    http::request_parser<http::string_body> half;
    n = examples::parse_buffered(
        half, buffer, [&] { return half.is_done(); }, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(n == 0u);
    BOOST_TEST(left(buffer) == "POST /v1/chat/comp");

    // Garbage: the parser's own error.
    buffer.consume(buffer.size());
    fill(buffer, "\x01\x02 / HTTP/1.1\r\n\r\n");
    http::request_parser<http::string_body> bad;
    examples::parse_buffered(
        bad, buffer, [&] { return bad.is_done(); }, ec);
    BOOST_TEST((ec == http::error::bad_method));

    // A chunked body into a piece of four bytes: the piece fills, which is no error; the next
    // piece takes the rest, and the message ends.
    ec = {};
    buffer.consume(buffer.size());
    fill(buffer, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    http::response_parser<http::buffer_body> pieced;
    char piece[4];
    std::string body;
    for (int pieces = 0; pieces < 3 && !pieced.is_done(); ++pieces) {
        pieced.get().body().data = piece;
        pieced.get().body().size = sizeof piece;
        examples::parse_buffered(
            pieced, buffer, [&] { return pieced.is_done() || pieced.get().body().size == 0; }, ec);
        BOOST_TEST(!ec);
        body.append(piece, sizeof piece - pieced.get().body().size);
    }
    BOOST_TEST(pieced.is_done());
    BOOST_TEST(body == "hello");
    BOOST_TEST(buffer.size() == 0u);
}

// A loopback TCP pair for the socket deadline: `reader` reads what `writer` writes.
struct socket_pair {
    boost::asio::io_context io{1};
    tcp::socket reader{io};
    tcp::socket writer{io};
    socket_pair() {
        tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
        writer.connect(acceptor.local_endpoint());
        acceptor.accept(reader);
    }
    // Starts a one-byte read on `reader`; `out` holds its error once it ended.
    void read(std::optional<boost::system::error_code>& out) {
        reader.async_read_some(
            boost::asio::buffer(byte),
            [&out](const boost::system::error_code& ec, std::size_t) { out = ec; });
    }
    // Runs the handlers that are ready, the expired timers' among them, without waiting.
    void run_ready() {
        io.restart();
        for (int i = 0; i < 3; ++i)
            io.poll();
    }
    // Runs handlers until `out` is set (bounded: a read that never ends fails the test).
    bool run_until(const std::optional<boost::system::error_code>& out) {
        io.restart(); // an earlier run may have ended out of work
        for (int i = 0; i < 100 && !out; ++i)
            io.run_one_for(std::chrono::seconds(10));
        return out.has_value();
    }
    char byte[1] = {};
};

using sclock = std::chrono::steady_clock;

BOOST_AUTO_TEST_CASE(a_passed_socket_deadline_cancels_the_read_and_leaves_the_socket_open) {
    socket_pair p;
    gw::socket_deadline d(p.reader);
    d.arm(sclock::now() - 1ms, p.io.get_executor());
    std::optional<boost::system::error_code> first;
    p.read(first);
    BOOST_REQUIRE(p.run_until(first));
    BOOST_TEST((*first == boost::asio::error::operation_aborted));
    BOOST_TEST(d.fired());
    // The socket still reads: the deadline only cancelled.
    BOOST_TEST(p.reader.is_open());
    d.disarm();
    std::optional<boost::system::error_code> second;
    p.read(second);
    boost::asio::write(p.writer, boost::asio::buffer("x", 1));
    BOOST_REQUIRE(p.run_until(second));
    BOOST_TEST(!*second);
}

BOOST_AUTO_TEST_CASE(a_socket_deadline_moved_later_or_disarmed_cancels_nothing) {
    for (const bool disarm : {false, true}) {
        socket_pair p;
        gw::socket_deadline d(p.reader);
        // The timer is set for a moment already past; before its handler runs, the deadline
        // moves an hour on (or goes): the handler waits for the rest, or does nothing.
        d.arm(sclock::now() - 1ms, p.io.get_executor());
        if (disarm)
            d.disarm();
        else
            d.arm(sclock::now() + 1h, p.io.get_executor());
        std::optional<boost::system::error_code> r;
        p.read(r);
        p.run_ready(); // the expired timer's handler runs; the read stays pending
        BOOST_TEST(!r.has_value(), "disarm " << disarm);
        BOOST_TEST(!d.fired());
        boost::asio::write(p.writer, boost::asio::buffer("x", 1));
        BOOST_REQUIRE(p.run_until(r));
        BOOST_TEST(!*r, "disarm " << disarm);
    }
}

BOOST_AUTO_TEST_CASE(an_earlier_socket_deadline_replaces_a_later_pending_one) {
    socket_pair p;
    gw::socket_deadline d(p.reader);
    d.arm(sclock::now() + 1h, p.io.get_executor());
    d.arm(sclock::now() - 1ms, p.io.get_executor());
    std::optional<boost::system::error_code> r;
    p.read(r);
    BOOST_REQUIRE(p.run_until(r));
    BOOST_TEST((*r == boost::asio::error::operation_aborted));
    BOOST_TEST(d.fired());
}

BOOST_AUTO_TEST_CASE(a_handed_over_socket_deadline_ends_the_earlier_owners_wait) {
    socket_pair p;
    gw::socket_deadline d(p.reader);
    // The earlier owner's handlers run on an executor of their own, so that its expired
    // deadline's handler is queued there, not yet run, when the deadline is handed over.
    boost::asio::io_context earlier_owner;
    d.arm(sclock::now() - 1ms, earlier_owner.get_executor());
    std::optional<boost::system::error_code> r;
    p.read(r);
    p.run_ready(); // the timer expires: its handler goes to the earlier owner's queue
    d.hand_over();
    d.arm(sclock::now() + 1h, p.io.get_executor()); // the next owner's deadline
    BOOST_TEST(earlier_owner.poll() >= 1u); // the stale handler runs late and must do nothing:
    BOOST_TEST(earlier_owner.stopped());    // no wait of the deadline's is left bound there
    p.run_ready();
    BOOST_TEST(!r.has_value());
    BOOST_TEST(!d.fired());
    boost::asio::write(p.writer, boost::asio::buffer("x", 1));
    BOOST_REQUIRE(p.run_until(r));
    BOOST_TEST(!*r);
    // The next owner's own deadline works.
    d.arm(sclock::now() - 1ms, p.io.get_executor());
    std::optional<boost::system::error_code> again;
    p.read(again);
    BOOST_REQUIRE(p.run_until(again));
    BOOST_TEST((*again == boost::asio::error::operation_aborted));
    BOOST_TEST(d.fired());
}

BOOST_AUTO_TEST_CASE(a_socket_deadline_destroyed_with_its_wait_pending_leaves_the_read_alone) {
    socket_pair p;
    {
        gw::socket_deadline d(p.reader);
        d.arm(sclock::now() - 1ms, p.io.get_executor());
    }
    std::optional<boost::system::error_code> r;
    p.read(r);
    boost::asio::write(p.writer, boost::asio::buffer("x", 1));
    BOOST_REQUIRE(p.run_until(r));
    BOOST_TEST(!*r);
}

// write_now: what the send buffer takes goes out in the call; an async write completes through
// a posted handler even then.
BOOST_AUTO_TEST_CASE(a_write_the_send_buffer_takes_needs_no_pass_of_the_loop) {
    socket_pair p;
    const std::string bytes(300, 'x');
    constexpr int writes = 20;
    // The handlers run for `writes` writes of `bytes` in one coroutine (its start included).
    const auto handlers_for = [&](bool now) {
        std::optional<std::tuple<boost::system::error_code, std::size_t>> done;
        std::size_t written = 0;
        boost::asio::co_spawn(
            p.io,
            [&]() -> boost::asio::awaitable<void> {
                for (int i = 0; i < writes; ++i) {
                    if (now) {
                        // Made in a function that returned before it is awaited, as the
                        // gateway's `on_stream` does.
                        const auto make = [&] {
                            return examples::write_now(p.writer, boost::asio::buffer(bytes));
                        };
                        done = co_await make();
                    } else {
                        done = co_await boost::asio::async_write(
                            p.writer, boost::asio::buffer(bytes),
                            boost::asio::as_tuple(boost::asio::use_awaitable));
                    }
                    if (std::get<0>(*done)) break;
                    written += std::get<1>(*done);
                }
            },
            boost::asio::detached);
        p.io.restart();
        std::size_t handlers = 0;
        while (written < writes * bytes.size() && handlers < 1000 && !(done && std::get<0>(*done)))
            handlers += p.io.run_one_for(std::chrono::seconds(10));
        p.io.poll(); // the coroutine's own end, not counted
        BOOST_REQUIRE(done.has_value());
        BOOST_TEST(!std::get<0>(*done));
        BOOST_TEST(written == writes * bytes.size());
        std::string got(writes * bytes.size(), '\0');
        boost::asio::read(p.reader, boost::asio::buffer(got));
        BOOST_TEST(got == std::string(writes * bytes.size(), 'x'));
        return handlers;
    };
    const std::size_t posted = handlers_for(false);
    const std::size_t at_once = handlers_for(true);
    BOOST_TEST(posted >= std::size_t{writes}); // Asio posts each completion
    BOOST_TEST(at_once < std::size_t{writes} / 4);
}

BOOST_AUTO_TEST_CASE(a_write_larger_than_the_send_buffer_ends_asynchronously_and_whole) {
    socket_pair p;
    p.writer.set_option(tcp::socket::send_buffer_size(4096));
    p.reader.set_option(tcp::socket::receive_buffer_size(4096));
    std::string bytes(4 << 20, '\0'); // far more than both buffers hold
    for (std::size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<char>('a' + i % 26);
    std::optional<std::tuple<boost::system::error_code, std::size_t>> done;
    boost::asio::co_spawn(
        p.io,
        [&]() -> boost::asio::awaitable<void> {
            done = co_await examples::write_now(p.writer, boost::asio::buffer(bytes));
        },
        boost::asio::detached);
    std::string got;
    std::optional<boost::system::error_code> read_error;
    char piece[65536];
    std::function<void()> read_more = [&] {
        p.reader.async_read_some(boost::asio::buffer(piece),
                                 [&](const boost::system::error_code& ec, std::size_t n) {
                                     got.append(piece, n);
                                     if (ec)
                                         read_error = ec;
                                     else if (got.size() < bytes.size())
                                         read_more();
                                 });
    };
    read_more();
    p.io.restart();
    for (int i = 0; i < 100000 && !(done && got.size() == bytes.size()) && !read_error; ++i)
        p.io.run_one_for(std::chrono::seconds(10));
    BOOST_REQUIRE(done.has_value());
    BOOST_TEST(!std::get<0>(*done));
    BOOST_TEST(std::get<1>(*done) == bytes.size());
    BOOST_TEST(!read_error.has_value());
    BOOST_TEST((got == bytes)); // in order, nothing lost or repeated
}

BOOST_AUTO_TEST_CASE(a_write_to_a_closed_socket_fails_at_once) {
    socket_pair p;
    p.writer.close();
    boost::beast::error_code ec;
    const std::size_t n = examples::write_some_now(p.writer, boost::asio::buffer("x", 1), ec);
    BOOST_TEST(n == 0u);
    BOOST_TEST((ec == boost::asio::error::bad_descriptor));
}

// A stream's head goes out alone, its chunks after it: serialized with `header_only`, a chunked
// message has no terminator yet.
BOOST_AUTO_TEST_CASE(a_chunked_head_serialized_alone_has_no_terminator) {
    http::response<http::empty_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "text/event-stream");
    res.chunked(true);
    std::string head;
    BOOST_TEST(!examples::serialize(res, head, true));
    BOOST_TEST(head == "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n");
    std::string whole;
    BOOST_TEST(!examples::serialize(res, whole));
    BOOST_TEST(whole == head + "0\r\n\r\n");
}

BOOST_AUTO_TEST_SUITE_END()

// The gateway against hostile clients, over real sockets on 127.0.0.1: parallel requests racing
// a spend budget. No test sleeps.
#include "gateway/gateway.hpp"

#include "gateway_fixture.hpp"

#include <faultline/envelope.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/test/unit_test.hpp>

#include <memory>

namespace fl = faultline;
namespace beast = boost::beast;
using namespace examples_test;
using tcp = net::ip::tcp;

BOOST_AUTO_TEST_SUITE(gateway_hostile)

// --- the spend budget ----------------------------------------------------------------------

namespace {

// `n` requests at once, each on its own connection; the statuses in order of completion.
std::vector<response> parallel_chats(gateway_fixture& g, std::string_view key, std::string body,
                                     std::size_t n) {
    net::io_context io;
    std::vector<response> out;
    const auto url = examples::parse_base_url(g.url()).value();
    std::vector<std::unique_ptr<examples::http_connection>> conns;
    for (std::size_t i = 0; i < n; ++i) {
        conns.push_back(std::make_unique<examples::http_connection>(io.get_executor(), url));
        net::co_spawn(
            io,
            [&, c = conns.back().get()]() -> net::awaitable<void> {
                out.push_back(
                    co_await exchange(*c, http::verb::post, "/v1/chat/completions", key, body));
            },
            net::detached);
    }
    io.run();
    return out;
}

std::size_t admitted(const std::vector<response>& rs) {
    std::size_t n = 0;
    for (const response& r : rs) {
        if (r.status == 200) {
            ++n;
            continue;
        }
        BOOST_TEST(r.status == 429u);
        const auto env = fl::parse_envelope(r.body);
        BOOST_TEST_REQUIRE(env.has_value(), r.body);
        BOOST_TEST(std::get<std::string>(env.value().code) == "spend_limit_exceeded", r.body);
    }
    return n;
}

} // namespace

// Sixteen streams at once against sk-demo-budget (10 tokens): the check used to compare the
// tokens already spent with the budget and charge them only when a request ended, so every
// one of the sixteen passed. The first now reserves its estimate (5 + 256 tokens) until it ends.
BOOST_AUTO_TEST_CASE(parallel_requests_cannot_overrun_a_spend_budget) {
    gateway_fixture g;
    const std::vector<response> rs =
        parallel_chats(g, "sk-demo-budget", chat_body("sim-slow", true), 16);
    BOOST_TEST(rs.size() == 16u);
    BOOST_TEST(admitted(rs) == 1u);
    // The stream used 8 tokens (5 + 3 chunks): one more request passes, then the budget is spent.
    BOOST_TEST(g.chat("sk-demo-budget", chat_body("gpt-sim")).status == 200u);
    BOOST_TEST(g.chat("sk-demo-budget", chat_body("gpt-sim")).status == 429u);
}

// A budget several requests wide: each reserves 20 tokens (5 of prompt, max_tokens 15) and
// uses 8 (3 chunks). A request is admitted while the tokens spent and reserved are below the
// budget, so whatever the order, at least 3 and at most 9 (8 * 9 < 60 + 20) are admitted.
BOOST_AUTO_TEST_CASE(a_wider_budget_admits_its_worth_of_parallel_requests) {
    gw::gateway_config c = test_config();
    c.keys.push_back({"sk-budget-60", "budget-60", "", {}, 60});
    gateway_fixture g(c);
    const std::size_t n =
        admitted(parallel_chats(g, "sk-budget-60", chat_body("sim-slow", true, 15), 16));
    BOOST_TEST(n >= 3u);
    BOOST_TEST(n <= 9u);
}

BOOST_AUTO_TEST_SUITE_END()

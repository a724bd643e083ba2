// Priority shedding in the gateway (`shedding`), over real sockets: which requests wait, which
// are refused first and in what order the waiting ones are served, a priority from the key or
// lowered by `x-priority`, and the bad inputs. One slot, held by a call to an upstream the test
// holds, makes the overload; nothing here waits on a timer of its own (the gateway's log says
// when a request is queued, refused or admitted).
#include "gateway/gateway.hpp"

#include "gateway_fixture.hpp"
#include "holding_upstream.hpp"

#include <faultline/envelope.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <future>
#include <string>
#include <variant>
#include <vector>

namespace fl = faultline;
using namespace examples_test;
using fl::limit::priority;

namespace {

const std::string critical_key = "sk-prio-critical", low_key = "sk-prio-low",
                  default_key = "sk-prio-default";

// Keys of each priority, a model `held` on the test's upstream at `held_url` and a model
// `quick` the simulator answers at once; one slot, `waiters` places in the queue.
gw::gateway_config config_of(const std::string& held_url, std::size_t waiters = 8,
                             std::chrono::milliseconds max_wait = 60s) {
    gw::gateway_config c = test_config();
    c.upstream_timeout = 60s;
    c.breaker.failure_threshold = 1000;
    c.shedding.max_in_flight = 1;
    c.shedding.max_waiters = waiters;
    c.shedding.shed_start = 0.5; // thresholds 4, 5, 6, 7, 8 for very_low .. critical
    c.shedding.max_wait = max_wait;
    gw::key_config k;
    k.secret = critical_key;
    k.id = "prio-critical";
    k.priority = priority::critical;
    c.keys.push_back(k);
    k.secret = low_key;
    k.id = "prio-low";
    k.priority = priority::low;
    c.keys.push_back(k);
    k.secret = default_key;
    k.id = "prio-default";
    k.priority = priority::medium;
    c.keys.push_back(k);
    gw::channel_config held = channel("held");
    held.url = held_url;
    c.channels.push_back(held);
    c.channels.push_back(channel("quick"));
    c.models.push_back({"held", {"held"}, 8192});
    c.models.push_back({"quick", {"quick"}, 8192});
    return c;
}

extra_fields asking(std::string_view level) {
    return {{"x-priority", std::string(level)}};
}

// A 503 `overloaded` refusal from the shedder, with its retry hint.
void check_shed(const response& r) {
    BOOST_TEST(r.status == 503u);
    const auto env = fl::parse_envelope(r.body);
    BOOST_TEST_REQUIRE(env.has_value());
    const auto& code = env.value().code;
    BOOST_TEST(
        (std::holds_alternative<std::string>(code) && std::get<std::string>(code) == "overloaded"));
    BOOST_TEST(!r.header("retry-after").empty());
}

// The priorities of the "admitted ..." log lines, in order.
std::vector<std::string> admitted_order(const std::vector<std::string>& log) {
    std::vector<std::string> out;
    for (const std::string& line : log)
        if (line.starts_with("admitted priority=")) {
            const std::size_t from = line.find('=') + 1;
            out.push_back(line.substr(from, line.find(' ', from) - from));
        }
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_priority)

// The order of refusals and of service under overload. With the slot held: four very_low
// requests wait, a fifth is refused on arrival (its threshold is 4); low, medium, high and
// critical still wait; a high arrival at the full queue pushes out the newest very_low; a
// very_low and a low-priority key asking for critical are refused (the header cannot raise a
// key's priority). Once the slot is free, the waiters are served highest first, oldest first.
BOOST_AUTO_TEST_CASE(under_overload_the_lowest_priorities_are_refused_first_and_served_last) {
    holding_upstream up(1, json_answer);
    gateway_fixture gw(config_of(up.url()));
    const std::string held = chat_body("held"), quick = chat_body("quick");

    auto holder = std::async(std::launch::async, [&] { return gw.chat(critical_key, held); });
    BOOST_TEST_REQUIRE(up.wait_held(1));

    std::vector<std::future<response>> waiting;
    std::size_t queued = 0;
    const auto wait_in_queue = [&](std::string_view level) {
        waiting.push_back(std::async(std::launch::async, [&, level] {
            return gw.chat(critical_key, quick, asking(level));
        }));
        BOOST_TEST_REQUIRE(gw.wait_log("queued priority=" + std::string(level), 1));
        BOOST_TEST_REQUIRE(gw.wait_log("queued priority=", ++queued));
    };
    for (int i = 0; i < 4; ++i)
        wait_in_queue("very_low");
    check_shed(gw.chat(critical_key, quick, asking("very_low")));
    BOOST_TEST(gw.wait_log("reason=shed"));
    wait_in_queue("low");
    wait_in_queue("medium");
    wait_in_queue("high");
    wait_in_queue("critical");
    BOOST_TEST(gw.server().snapshot().waiting == 8u);

    // The queue is full: a high arrival displaces the newest very_low waiter.
    waiting.push_back(std::async(std::launch::async,
                                 [&] { return gw.chat(critical_key, quick, asking("high")); }));
    const response displaced = waiting[3].get();
    check_shed(displaced);
    BOOST_TEST(displaced.body.find("pushed out of the queue") != std::string::npos);
    BOOST_TEST_REQUIRE(gw.wait_log("queued priority=high", 2));

    check_shed(gw.chat(critical_key, quick, asking("very_low")));
    // The low key asks for critical and is treated as low: 5 waiters at or above low refuse it.
    const response capped = gw.chat(low_key, quick, asking("critical"));
    check_shed(capped);
    BOOST_TEST(capped.body.find("priority low") != std::string::npos);

    const gw::stats during = gw.server().snapshot();
    BOOST_TEST(during.queued == 9u);
    BOOST_TEST(during.shed == 4u);
    BOOST_TEST(during.waiting == 8u);

    up.release();
    BOOST_TEST(holder.get().status == 200u);
    for (std::size_t i = 0; i < waiting.size(); ++i)
        if (i != 3) BOOST_TEST(waiting[i].get().status == 200u);
    const std::vector<std::string> want{"critical", "high",     "high",     "medium",
                                        "low",      "very_low", "very_low", "very_low"};
    BOOST_TEST(admitted_order(gw.log()) == want, boost::test_tools::per_element());
    const gw::stats st = gw.server().snapshot();
    BOOST_TEST(st.waiting == 0u);
    BOOST_TEST(st.shed == 4u);
}

// Without a header a request has its key's priority; a header may lower it.
BOOST_AUTO_TEST_CASE(a_key_gives_the_priority_and_a_header_may_lower_it) {
    holding_upstream up(1, json_answer);
    gateway_fixture gw(config_of(up.url(), 4, 60s)); // thresholds 2, 2, 3, 3, 4
    auto holder =
        std::async(std::launch::async, [&] { return gw.chat(critical_key, chat_body("held")); });
    BOOST_TEST_REQUIRE(up.wait_held(1));

    std::vector<std::future<response>> waiting;
    for (std::size_t i = 1; i <= 2; ++i) {
        waiting.push_back(
            std::async(std::launch::async, [&] { return gw.chat(low_key, chat_body("quick")); }));
        BOOST_TEST_REQUIRE(gw.wait_log("queued priority=low key=prio-low", i));
    }
    // Two low waiters: a third low (threshold 2) is refused, a medium default key waits.
    check_shed(gw.chat(low_key, chat_body("quick")));
    waiting.push_back(
        std::async(std::launch::async, [&] { return gw.chat(default_key, chat_body("quick")); }));
    BOOST_TEST_REQUIRE(gw.wait_log("queued priority=medium key=prio-default"));
    // The critical key asking for low is low.
    const response lowered = gw.chat(critical_key, chat_body("quick"), asking("LOW "));
    check_shed(lowered);
    BOOST_TEST(lowered.body.find("priority low") != std::string::npos);

    up.release();
    BOOST_TEST(holder.get().status == 200u);
    for (auto& w : waiting)
        BOOST_TEST(w.get().status == 200u);
    const std::vector<std::string> want{"medium", "low", "low"};
    BOOST_TEST(admitted_order(gw.log()) == want, boost::test_tools::per_element());
}

// A waiter still queued at `max_wait` is refused. The gateway's clock decides: the test moves
// its manual clock past the deadline, and the waiter's next look (at most `max_wait` of real
// time later, 200 ms here) refuses it.
BOOST_AUTO_TEST_CASE(a_waiter_past_max_wait_is_refused) {
    holding_upstream up(1, json_answer);
    gateway_fixture gw(config_of(up.url(), 8, 200ms));
    auto holder =
        std::async(std::launch::async, [&] { return gw.chat(critical_key, chat_body("held")); });
    BOOST_TEST_REQUIRE(up.wait_held(1));
    auto waiter =
        std::async(std::launch::async, [&] { return gw.chat(default_key, chat_body("quick")); });
    BOOST_TEST_REQUIRE(gw.wait_log("queued priority=medium"));
    gw.advance(201ms);
    const response r = waiter.get();
    check_shed(r);
    BOOST_TEST(r.body.find("not served within") != std::string::npos);
    BOOST_TEST(gw.wait_log("shed priority=medium key=prio-default"));
    BOOST_TEST(gw.wait_log("reason=timed_out"));
    up.release();
    BOOST_TEST(holder.get().status == 200u);
    BOOST_TEST(gw.server().snapshot().waiting == 0u);
}

// A client that goes away while it waits leaves the queue at once: its place is free for the
// next arrival, and nothing is sent upstream for it.
BOOST_AUTO_TEST_CASE(a_client_gone_while_waiting_leaves_the_queue) {
    holding_upstream up(1, json_answer);
    gateway_fixture gw(config_of(up.url(), 1, 60s));
    auto holder =
        std::async(std::launch::async, [&] { return gw.chat(critical_key, chat_body("held")); });
    BOOST_TEST_REQUIRE(up.wait_held(1));
    {
        net::io_context io;
        net::ip::tcp::socket sock(io);
        sock.connect({net::ip::make_address("127.0.0.1"), gw.port()});
        const std::string body = chat_body("quick");
        const std::string req =
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            "Authorization: Bearer " +
            default_key +
            "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n" + body;
        net::write(sock, net::buffer(req));
        BOOST_TEST_REQUIRE(gw.wait_log("queued priority=medium"));
        BOOST_TEST(gw.server().snapshot().waiting == 1u);
    } // the socket closes
    BOOST_TEST_REQUIRE(gw.wait_log("abandoned priority=medium"));
    BOOST_TEST(gw.server().snapshot().waiting == 0u);
    BOOST_TEST(gw.server().snapshot().abandoned == 1u);
    auto next =
        std::async(std::launch::async, [&] { return gw.chat(default_key, chat_body("quick")); });
    BOOST_TEST_REQUIRE(gw.wait_log("queued priority=medium", 2));
    up.release();
    BOOST_TEST(holder.get().status == 200u);
    BOOST_TEST(next.get().status == 200u);
    BOOST_TEST(gw.server().snapshot().shed == 0u);
}

// Bad input: an x-priority naming no priority is a 400 naming the header; with shedding off
// the header means nothing and is not read.
BOOST_AUTO_TEST_CASE(an_unknown_priority_header_is_a_400) {
    holding_upstream up(0, json_answer);
    gateway_fixture gw(config_of(up.url()));
    for (const char* bad : {"urgent", "", "high,low", "5", "very low", "critical;q=1"}) {
        const response r = gw.chat(default_key, chat_body("quick"), asking(bad));
        BOOST_TEST(r.status == 400u, "x-priority: " << bad);
        BOOST_TEST(r.body.find("x-priority") != std::string::npos);
    }
    BOOST_TEST(gw.chat(default_key, chat_body("quick"), asking("very-high")).status == 200u);

    gw::gateway_config off = config_of(up.url());
    off.shedding.max_in_flight = 0;
    gateway_fixture plain(std::move(off));
    BOOST_TEST(plain.chat(default_key, chat_body("quick"), asking("urgent")).status == 200u);
    BOOST_TEST(plain.server().snapshot().queued == 0u);
}

// The configuration: the `shedding` block and a key's `priority`, each bad value refused with
// one line naming the member.
BOOST_AUTO_TEST_CASE(the_configuration_reads_and_checks_shedding) {
    std::string why;
    const auto good = gw::parse_config(
        R"({"shedding":{"max_in_flight":4,"max_waiters":10,"shed_start":0.25,"max_wait_ms":500,
            "header":false},
            "keys":[{"key":"sk-1","id":"one","priority":"high"},{"key":"sk-2","id":"two"}]})",
        why);
    BOOST_TEST_REQUIRE(good.has_value(), why);
    BOOST_TEST(good.value().shedding.max_in_flight == 4u);
    BOOST_TEST(good.value().shedding.max_waiters == 10u);
    BOOST_TEST(good.value().shedding.shed_start == 0.25);
    BOOST_TEST(good.value().shedding.max_wait.count() == 500);
    BOOST_TEST(!good.value().shedding.header);
    BOOST_TEST((good.value().keys[0].priority == priority::high));
    BOOST_TEST((good.value().keys[1].priority == priority::medium));

    const std::pair<const char*, const char*> bad[] = {
        {R"({"shedding":{"max_in_flight":4,"shed_start":1.5}})", "shed_start"},
        {R"({"shedding":{"max_in_flight":4,"shed_start":-0.1}})", "shed_start"},
        {R"({"shedding":{"max_in_flight":4,"shed_start":"half"}})", "shed_start"},
        {R"({"shedding":{"max_in_flight":4,"max_wait_ms":0}})", "max_wait_ms"},
        {R"({"shedding":{"max_in_flight":-1}})", "max_in_flight"},
        {R"({"shedding":{"max_in_flight":2000000}})", "max_in_flight"},
        {R"({"shedding":{"max_waiters":2000000}})", "max_waiters"},
        {R"({"shedding":{"max_in_flight":4,"header":"yes"}})", "header"},
        {R"({"shedding":{"max_in_flight":4,"queue":3}})", "queue"},
        {R"({"shedding":[]})", "shedding"},
        {R"({"keys":[{"key":"sk-1","id":"one","priority":"urgent"}]})", "priority"},
        {R"({"keys":[{"key":"sk-1","id":"one","priority":"High"}]})", "priority"},
        {R"({"keys":[{"key":"sk-1","id":"one","priority":"very-high"}]})", "priority"},
        {R"({"keys":[{"key":"sk-1","id":"one","priority":3}]})", "priority"},
    };
    for (const auto& [text, member] : bad) {
        const auto r = gw::parse_config(text, why);
        BOOST_TEST(!r.has_value(), text);
        BOOST_TEST(why.find(member) != std::string::npos, text << " -> " << why);
    }
}

BOOST_AUTO_TEST_SUITE_END()

#include <faultline/limit/redis.hpp>

#include "../support/redis_server.hpp"
#include "manual_clock.hpp"

#include <faultline/limit/composite.hpp>

#include <boost/test/unit_test.hpp>

#include <array>
#include <atomic>
#include <thread>

namespace fl = faultline;
namespace lim = faultline::limit;
using faultline_test::at;
using faultline_test::manual_clock;
using faultline_test::redis_server;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

lim::redis_options options_for(const redis_server& s,
                               lim::redis_failure f = lim::redis_failure::fail_closed) {
    lim::redis_options o;
    o.port = static_cast<std::uint16_t>(s.port());
    o.connect_timeout = 100ms;
    o.command_timeout = 100ms;
    o.reconnect_interval = 0ms;
    o.on_failure = f;
    return o;
}

// A refill so slow that no whole token comes back during a test.
const lim::bucket_config slow{lim::rate::per(1, 1h), 100};

// Redis' clock moves between calls while the in-memory bucket's does not: the backlog it sees
// is smaller by at most the wall time elapsed, so times may be shorter by that much, never
// longer, and whole-token figures are equal.
void check_same(const lim::decision& redis, const lim::decision& memory,
                std::chrono::nanoseconds elapsed) {
    BOOST_TEST(redis.admitted == memory.admitted);
    BOOST_TEST(redis.limit == memory.limit);
    BOOST_TEST(redis.remaining == memory.remaining);
    BOOST_TEST((redis.ec == memory.ec));
    BOOST_TEST(redis.reset <= memory.reset);
    BOOST_TEST(redis.reset >= memory.reset - elapsed);
    if (memory.retry_after == std::chrono::nanoseconds::max()) {
        BOOST_TEST((redis.retry_after == memory.retry_after));
    } else {
        BOOST_TEST(redis.retry_after <= memory.retry_after);
        BOOST_TEST(redis.retry_after >= memory.retry_after - elapsed);
    }
}

// Two Redis decisions taken at different moments: times differ by at most the elapsed time.
void check_close(const lim::decision& a, const lim::decision& b, std::chrono::nanoseconds elapsed) {
    BOOST_TEST(a.admitted == b.admitted);
    BOOST_TEST(a.limit == b.limit);
    BOOST_TEST(a.remaining == b.remaining);
    BOOST_TEST((a.ec == b.ec));
    BOOST_TEST((a.reset - b.reset <= elapsed && b.reset - a.reset <= elapsed));
    if (b.retry_after == std::chrono::nanoseconds::max())
        BOOST_TEST((a.retry_after == b.retry_after));
    else
        BOOST_TEST(
            (a.retry_after - b.retry_after <= elapsed && b.retry_after - a.retry_after <= elapsed));
}

} // namespace

BOOST_AUTO_TEST_SUITE(limit_redis)

BOOST_AUTO_TEST_CASE(invalid_options_are_refused_before_connecting) {
    // As every configured object (tests/construction.cpp): the constructor throws the code of
    // validate(options), which it checks before it reaches for the network.
    const auto with = [](auto change) {
        lim::redis_options o;
        change(o);
        return o;
    };
    const struct {
        const char* what;
        lim::redis_options o;
    } rows[] = {
        {"no host", with([](auto& o) { o.host.clear(); })},
        {"port 0", with([](auto& o) { o.port = 0; })},
        {"no connect timeout", with([](auto& o) { o.connect_timeout = 0ms; })},
        {"a negative command timeout", with([](auto& o) { o.command_timeout = -1ms; })},
        {"a negative reconnect interval", with([](auto& o) { o.reconnect_interval = -1ms; })},
        {"no connections", with([](auto& o) { o.connections = 0; })},
        {"1025 connections", with([](auto& o) { o.connections = 1025; })},
        {"no local keys", with([](auto& o) { o.local_max_keys = 0; })},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.what) {
            const std::error_code want = lim::validate(r.o);
            BOOST_TEST((want == std::errc::invalid_argument));
            try {
                lim::redis_limiter l(r.o);
                BOOST_ERROR("constructed from invalid options");
            } catch (const std::system_error& e) {
                BOOST_TEST((e.code() == want));
                BOOST_TEST(std::string_view(e.what()).find("basic_redis_limiter") !=
                           std::string_view::npos);
            }
        }
    }
    BOOST_TEST(!lim::validate(lim::redis_options{}));
    BOOST_TEST(!lim::validate(with([](auto& o) { o.reconnect_interval = 0ms; })));
}

BOOST_AUTO_TEST_CASE(instances_share_one_limit_exactly) {
    redis_server server;
    lim::redis_limiter a(options_for(server)), b(options_for(server)), c(options_for(server));
    std::array<lim::redis_limiter*, 3> instances{&a, &b, &c};
    int admitted = 0;
    for (int i = 0; i < 150; ++i) {
        for (auto* l : instances) {
            const auto d = l->try_acquire("shared", slow);
            BOOST_TEST((d.by == lim::decided_by::redis));
            if (d)
                ++admitted;
            else
                BOOST_TEST((d.ec == fl::error::rate_limited));
        }
    }
    BOOST_TEST(admitted == 100);
}

BOOST_AUTO_TEST_CASE(weighted_acquire_and_figures_equal_the_in_memory_bucket) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    // 7 per hour: the emission interval is not a whole number of nanoseconds.
    const lim::bucket_config cfg{lim::rate::per(7, 1h), 10, lim::initial_fill::full,
                                 fl::error::tpm_exceeded};
    lim::token_bucket<manual_clock> memory(cfg, at(0s));
    const std::uint64_t ns[] = {4, 7, 3, 1, 3, 2, 0, 10, 11};
    const auto start = steady::now();
    for (std::uint64_t n : ns) {
        const auto r = l.try_acquire("weighted", cfg, n);
        const auto m = memory.try_acquire(n, at(0s));
        BOOST_TEST((r.by == lim::decided_by::redis));
        check_same(r, m, steady::now() - start);
    }
}

BOOST_AUTO_TEST_CASE(an_empty_initial_fill_matches_too) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    const lim::bucket_config cfg{lim::rate::per(1, 1h), 5, lim::initial_fill::empty};
    lim::token_bucket<manual_clock> memory(cfg, at(0s));
    const auto start = steady::now();
    const auto r = l.try_acquire("empty", cfg, 2);
    check_same(r, memory.try_acquire(2, at(0s)), steady::now() - start);
    BOOST_TEST(!r.admitted);
    BOOST_TEST(server.command({"EXISTS", "faultline:empty"}) == "0");
}

BOOST_AUTO_TEST_CASE(more_than_the_burst_is_refused_without_touching_state) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    const auto over = l.try_acquire("k", slow, 101);
    BOOST_TEST(!over.admitted);
    BOOST_TEST((over.ec == fl::error::request_exceeds_burst));
    BOOST_TEST((over.retry_after == std::chrono::nanoseconds::max()));
    BOOST_TEST(over.remaining == 100u);
    BOOST_TEST(server.command({"EXISTS", "faultline:k"}) == "0");

    BOOST_TEST(l.try_acquire("k", slow, 30).admitted);
    const std::string before = server.command({"GET", "faultline:k"});
    const auto again = l.try_acquire("k", slow, 1000);
    BOOST_TEST((again.ec == fl::error::request_exceeds_burst));
    BOOST_TEST(again.remaining == 70u);
    BOOST_TEST(server.command({"GET", "faultline:k"}) == before);
}

BOOST_AUTO_TEST_CASE(zero_tokens_are_admitted_and_write_nothing) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    const auto d = l.try_acquire("zero", slow, 0);
    BOOST_TEST(d.admitted);
    BOOST_TEST(d.remaining == 100u);
    BOOST_TEST(server.command({"EXISTS", "faultline:zero"}) == "0");
}

BOOST_AUTO_TEST_CASE(levels_are_all_or_nothing_and_report_the_refusing_one) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    const lim::bucket_config token{lim::rate::per(1, 1h), 5, lim::initial_fill::full,
                                   fl::error::rpm_exceeded};
    const lim::bucket_config user{lim::rate::per(1, 1h), 3, lim::initial_fill::full,
                                  fl::error::tpm_exceeded};
    const lim::bucket_config upstream{lim::rate::per(1, 1h), 100};
    const std::string tk = lim::token_key("t1", "rpm"), uk = lim::user_key("u1", "tpm"),
                      up = lim::upstream_key("openai");
    BOOST_TEST(tk == "token:t1:rpm");
    BOOST_TEST(uk == "user:u1:tpm");
    BOOST_TEST(up == "upstream:openai");

    lim::token_bucket<manual_clock> mt(token, at(0s)), mu(user, at(0s)), mp(upstream, at(0s));
    const auto start = steady::now();
    for (int round = 0; round < 3; ++round) {
        const std::array<lim::redis_request, 3> levels{
            {{tk, token, 2}, {uk, user, 2}, {up, upstream, 1}}};
        const auto r = l.try_acquire_all(levels);
        const auto m =
            lim::acquire_all(at(0s), lim::level(mt, 2), lim::level(mu, 2), lim::level(mp, 1));
        BOOST_TEST((r.by == lim::decided_by::redis));
        BOOST_TEST(r.admitted == m.admitted);
        BOOST_TEST(r.refused == m.refused);
        BOOST_REQUIRE(r.levels.size() == 3u);
        for (std::size_t i = 0; i < 3; ++i)
            check_same(r.levels[i], m.levels[i], steady::now() - start);
        BOOST_TEST(r.retry_after <= m.retry_after);
    }
    // Round 1 admitted everywhere, round 2 was refused by the user level (1 left, 2 asked):
    // the token level kept 3 and the upstream 99.
    const std::array<lim::redis_request, 1> token_only{{{tk, token, 3}}};
    const auto t = l.try_acquire_all(token_only);
    BOOST_TEST(t.admitted);
    BOOST_TEST(t.levels[0].remaining == 0u);
    const auto u = l.try_acquire(up, upstream, 0);
    BOOST_TEST(u.remaining == 99u);
}

BOOST_AUTO_TEST_CASE(a_level_refused_for_size_refuses_the_whole_call) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    const std::array<lim::redis_request, 2> levels{
        {{"a", slow, 1}, {"b", {lim::rate::per(1, 1h), 2}, 3}}};
    const auto r = l.try_acquire_all(levels);
    BOOST_TEST(!r.admitted);
    BOOST_TEST(r.refused == 1u);
    BOOST_TEST((r.refusal().ec == fl::error::request_exceeds_burst));
    BOOST_TEST(server.command({"EXISTS", "faultline:a"}) == "0");
}

BOOST_AUTO_TEST_CASE(one_key_in_two_levels_is_consumed_in_order) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    const lim::bucket_config cfg{lim::rate::per(1, 1h), 5};
    const std::array<lim::redis_request, 2> twice{{{"same", cfg, 3}, {"same", cfg, 3}}};
    const auto r = l.try_acquire_all(twice);
    BOOST_TEST(!r.admitted);
    BOOST_TEST(r.refused == 1u);
    BOOST_TEST(r.levels[1].remaining == 2u);
    BOOST_TEST(l.try_acquire("same", cfg, 5).admitted); // nothing was consumed
    const std::array<lim::redis_request, 2> ok{{{"same2", cfg, 2}, {"same2", cfg, 3}}};
    const auto both = l.try_acquire_all(ok);
    BOOST_TEST(both.admitted);
    BOOST_TEST(both.levels[1].remaining == 0u);
}

BOOST_AUTO_TEST_CASE(every_written_key_gets_a_ttl_up_to_the_time_until_full) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    const std::array<lim::redis_request, 2> levels{{{"ttl-a", slow, 3}, {"ttl-b", slow, 1}}};
    const auto r = l.try_acquire_all(levels);
    BOOST_REQUIRE(r.admitted);
    for (std::size_t i = 0; i < 2; ++i) {
        const long long pttl =
            std::stoll(server.command({"PTTL", "faultline:" + std::string(levels[i].key)}));
        const auto full_ms =
            std::chrono::ceil<std::chrono::milliseconds>(r.levels[i].reset).count();
        BOOST_TEST(pttl > 0);
        BOOST_TEST(pttl <= full_ms);
    }
}

BOOST_AUTO_TEST_CASE(an_idle_key_expires_when_its_bucket_is_full) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    const lim::bucket_config fast{lim::rate::per(1, 2ms), 2}; // full again 2 ms after a use
    BOOST_TEST(l.try_acquire("brief", fast).admitted);
    // Waiting on an event (the key disappearing), bounded.
    bool gone = false;
    const auto until = steady::now() + 5s;
    while (!gone && steady::now() < until) {
        gone = server.command({"EXISTS", "faultline:brief"}) == "0";
        if (!gone) std::this_thread::sleep_for(1ms);
    }
    BOOST_TEST(gone);
}

BOOST_AUTO_TEST_CASE(a_flushed_script_is_loaded_again) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    BOOST_TEST(l.try_acquire("s", slow).admitted);
    BOOST_TEST(server.command({"SCRIPT", "FLUSH"}) == "OK");
    const auto d = l.try_acquire("s", slow);
    BOOST_TEST((d.by == lim::decided_by::redis));
    BOOST_TEST(d.remaining == 98u);
    BOOST_TEST(server.command({"SCRIPT", "FLUSH"}) == "OK");
    const std::array<lim::redis_request, 3> batch{{{"s", slow, 1}, {"s", slow, 1}, {"t", slow, 1}}};
    const auto all = l.try_acquire_batch(batch);
    BOOST_TEST((all[0].by == lim::decided_by::redis));
    BOOST_TEST(all[1].remaining == 96u);
    BOOST_TEST(all[2].remaining == 99u);
}

BOOST_AUTO_TEST_CASE(a_restart_applies_each_failure_policy_distinctly_then_recovers) {
    redis_server server;
    using limiter = lim::basic_redis_limiter<manual_clock>;
    auto opts = [&](lim::redis_failure f) {
        auto o = options_for(server, f);
        o.reconnect_interval = 1s;
        return o;
    };
    limiter closed(opts(lim::redis_failure::fail_closed), at(0s));
    limiter open(opts(lim::redis_failure::fail_open), at(0s));
    limiter local(opts(lim::redis_failure::local), at(0s));
    const lim::bucket_config cfg{lim::rate::per(1, 1h), 2};
    BOOST_TEST(closed.connected());
    BOOST_TEST((closed.try_acquire("r", cfg, 1, at(0s)).by == lim::decided_by::redis));

    server.stop();
    const auto c = closed.try_acquire("r", cfg, 1, at(1s));
    BOOST_TEST(!c.admitted);
    BOOST_TEST((c.by == lim::decided_by::fail_closed));
    BOOST_TEST((c.ec == fl::error::limiter_unavailable));
    BOOST_TEST(!!c.failure);
    BOOST_TEST(!closed.connected());

    const auto o = open.try_acquire("r", cfg, 1, at(1s));
    BOOST_TEST(o.admitted);
    BOOST_TEST((o.by == lim::decided_by::fail_open));
    BOOST_TEST(!!o.failure);

    // The local fallback has the same semantics: 2 admitted, then a refusal.
    const auto l1 = local.try_acquire("r", cfg, 1, at(1s));
    const auto l2 = local.try_acquire("r", cfg, 1, at(1s));
    const auto l3 = local.try_acquire("r", cfg, 1, at(1s));
    BOOST_TEST((l1.by == lim::decided_by::local));
    BOOST_TEST(l1.admitted);
    BOOST_TEST(l2.admitted);
    BOOST_TEST(!l3.admitted);
    BOOST_TEST((l3.by == lim::decided_by::local));
    BOOST_TEST((l3.ec == fl::error::rate_limited));

    // While backing off no call touches the network.
    const auto attempts = closed.connect_attempts();
    for (int i = 0; i < 10; ++i) {
        const auto d = closed.try_acquire("r", cfg, 1, at(1500ms));
        BOOST_TEST((d.failure == lim::redis_error::backing_off));
    }
    BOOST_TEST(closed.connect_attempts() == attempts);

    server.start();
    // Still inside the interval: still the policy.
    BOOST_TEST((closed.try_acquire("r", cfg, 1, at(1900ms)).by == lim::decided_by::fail_closed));
    // After it: one attempt, which succeeds (the restarted server has no state: a new bucket).
    const auto back = closed.try_acquire("r", cfg, 1, at(2100ms));
    BOOST_TEST((back.by == lim::decided_by::redis));
    BOOST_TEST(back.remaining == 1u);
    BOOST_TEST(closed.connect_attempts() == attempts + 1);
    BOOST_TEST(closed.connected());
    BOOST_TEST((open.try_acquire("r", cfg, 1, at(2100ms)).by == lim::decided_by::redis));
    BOOST_TEST((local.try_acquire("r", cfg, 1, at(2100ms)).by == lim::decided_by::redis));
}

BOOST_AUTO_TEST_CASE(a_quick_restart_is_absorbed_by_one_reconnection) {
    redis_server server;
    using limiter = lim::basic_redis_limiter<manual_clock>;
    auto o = options_for(server);
    o.reconnect_interval = 1h;
    limiter l(o, at(0s));
    BOOST_TEST((l.try_acquire("q", slow, 1, at(0s)).by == lim::decided_by::redis));
    server.stop();
    server.start();
    // The old connection is closed; the call reconnects at once, reloads the script and is
    // decided by Redis (a new server: a new bucket).
    const auto d = l.try_acquire("q", slow, 1, at(0s));
    BOOST_TEST((d.by == lim::decided_by::redis));
    BOOST_TEST(d.remaining == 99u);
    BOOST_TEST(l.connect_attempts() == 2u);
}

BOOST_AUTO_TEST_CASE(a_killed_server_costs_each_call_at_most_its_timeout) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    BOOST_TEST(l.try_acquire("k9", slow).admitted);
    server.kill9();
    for (int i = 0; i < 5; ++i) {
        const auto start = steady::now();
        const auto d = l.try_acquire("k9", slow);
        BOOST_TEST((steady::now() - start < 2s));
        BOOST_TEST((d.by == lim::decided_by::fail_closed));
        BOOST_TEST((d.ec == fl::error::limiter_unavailable));
    }
    const std::array<lim::redis_request, 2> batch{{{"a", slow, 1}, {"b", slow, 1}}};
    const auto all = l.try_acquire_batch(batch);
    BOOST_TEST((all[0].by == lim::decided_by::fail_closed));
    BOOST_TEST((all[1].by == lim::decided_by::fail_closed));
}

BOOST_AUTO_TEST_CASE(a_hung_server_times_out) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    BOOST_TEST(l.try_acquire("hung", slow).admitted);
    server.pause();
    const auto start = steady::now();
    const auto d = l.try_acquire("hung", slow);
    const auto elapsed = steady::now() - start;
    server.resume();
    BOOST_TEST((d.failure == lim::redis_error::timed_out));
    BOOST_TEST((d.by == lim::decided_by::fail_closed));
    BOOST_TEST(elapsed < 2s);
    // The next call reconnects (interval 0) and is decided by Redis again.
    BOOST_TEST((l.try_acquire("hung", slow).by == lim::decided_by::redis));
}

BOOST_AUTO_TEST_CASE(constructing_against_a_hung_server_is_bounded_by_the_timeouts) {
    redis_server server;
    server.pause(); // the kernel still accepts connections; nothing answers
    const auto start = steady::now();
    lim::redis_limiter l(options_for(server));
    const auto elapsed = steady::now() - start;
    const auto d = l.try_acquire("k", slow);
    const auto second = steady::now() - start - elapsed;
    server.resume();
    BOOST_TEST((elapsed < 2s));
    BOOST_TEST((second < 2s));
    BOOST_TEST(!l.connected());
    BOOST_TEST((d.by == lim::decided_by::fail_closed));
    BOOST_TEST((d.failure == lim::redis_error::timed_out));
}

BOOST_AUTO_TEST_CASE(foreign_data_is_a_typed_error_and_is_left_alone) {
    redis_server server;
    lim::redis_limiter closed(options_for(server));
    lim::redis_limiter open(options_for(server, lim::redis_failure::fail_open));
    const std::vector<std::vector<std::string>> corruptions = {
        {"SET", "faultline:x", "hello"},
        {"SET", "faultline:x", ""},
        {"SET", "faultline:x", "99999999999999999999:0:1"},
        {"SET", "faultline:x", "9007199254740993:0:1"},
        {"SET", "faultline:x", "1:5000:1"},
        {"SET", "faultline:x", "1:0:0"},
        {"SET", "faultline:x", "1:0:9999"},
        {"SET", "faultline:x", "-1:0:1"},
        {"SET", "faultline:x", "1.5:0:1"},
        {"SET", "faultline:x", std::string(1000, '7')},
        {"RPUSH", "faultline:x", "a"},
        {"HSET", "faultline:x", "f", "v"},
        {"SADD", "faultline:x", "m"},
    };
    for (const auto& cmd : corruptions) {
        BOOST_TEST_CONTEXT(cmd[0] << " " << cmd[2]) {
            server.command({"DEL", "faultline:x"});
            server.command(cmd);
            const std::string type = server.command({"TYPE", "faultline:x"});
            const auto c = closed.try_acquire("x", slow);
            BOOST_TEST((c.failure == lim::redis_error::foreign_data));
            BOOST_TEST((c.by == lim::decided_by::fail_closed));
            BOOST_TEST(!c.admitted);
            const auto o = open.try_acquire("x", slow);
            BOOST_TEST((o.by == lim::decided_by::fail_open));
            BOOST_TEST(o.admitted);
            BOOST_TEST(server.command({"TYPE", "faultline:x"}) == type);
            BOOST_TEST(closed.connected()); // the connection itself is fine
        }
    }
    // A refused level of a multi-level call that is foreign fails the whole call.
    server.command({"DEL", "faultline:x"});
    server.command({"SET", "faultline:x", "garbage"});
    const std::array<lim::redis_request, 2> levels{{{"fine", slow, 1}, {"x", slow, 1}}};
    const auto r = closed.try_acquire_all(levels);
    BOOST_TEST((r.failure == lim::redis_error::foreign_data));
    BOOST_TEST(server.command({"EXISTS", "faultline:fine"}) == "0");
}

BOOST_AUTO_TEST_CASE(a_state_far_in_the_future_reads_as_empty_not_beyond) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    // As after the server's clock stepped back by years: clamped to an empty bucket.
    server.command({"SET", "faultline:future", "9000000000000000:0:1"});
    const auto d = l.try_acquire("future", slow, 2);
    BOOST_TEST((d.by == lim::decided_by::redis));
    BOOST_TEST(!d.admitted);
    BOOST_TEST(d.remaining == 0u);
    BOOST_TEST((d.retry_after == 2h));
    BOOST_TEST((d.reset == 100h));
}

BOOST_AUTO_TEST_CASE(a_key_written_in_other_units_is_converted_rounding_up) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    const lim::bucket_config sevenths{lim::rate::per(7, 1h), 10}; // 1/7 ns units
    const lim::bucket_config whole{lim::rate::per(1, 1h), 10};    // ns units
    const auto start = steady::now();
    BOOST_TEST(l.try_acquire("units", sevenths).admitted);
    const auto d = l.try_acquire("units", whole, 0);
    const auto elapsed = steady::now() - start;
    // One token of 3600/7 s is 514285714285.714... ns of backlog, read as 514285714286 ns.
    BOOST_TEST(d.remaining == 9u);
    BOOST_TEST((d.reset <= 514'285'714'286ns));
    BOOST_TEST((d.reset >= 514'285'714'286ns - elapsed));
}

BOOST_AUTO_TEST_CASE(connection_refused_at_construction) {
    int port = 0;
    {
        redis_server server;
        port = server.port();
    } // the server is gone: its port refuses
    lim::redis_options o;
    o.port = static_cast<std::uint16_t>(port);
    o.connect_timeout = 100ms;
    o.reconnect_interval = 0ms;
    lim::redis_limiter l(o);
    BOOST_TEST(!l.connected());
    BOOST_TEST(l.connect_attempts() == 1u);
    const auto d = l.try_acquire("k", slow);
    BOOST_TEST((d.failure == lim::redis_error::connect_failed));
    BOOST_TEST((d.by == lim::decided_by::fail_closed));
    BOOST_TEST((d.ec == fl::error::limiter_unavailable));
    BOOST_TEST(d.limit == 100u);
}

BOOST_AUTO_TEST_CASE(invalid_or_out_of_range_configs_are_refused_at_once) {
    redis_server server;
    lim::redis_limiter l(options_for(server));
    const lim::bucket_config bad[] = {
        {lim::rate::per(0, 1s), 1},
        {lim::rate::per(1, 0s), 1},
        {lim::rate::per(1, 1s), 0},
        {lim::rate::per(1, 24h), 1000}, // valid in memory; burst * interval beyond 2^52 units
    };
    for (const auto& cfg : bad) {
        BOOST_TEST(!!lim::validate_for_redis(cfg));
        const auto d = l.try_acquire("bad", cfg);
        BOOST_TEST(!d.admitted);
        BOOST_TEST((d.by == lim::decided_by::invalid_config));
        BOOST_TEST((d.ec == lim::redis_error::config_out_of_range));
    }
    BOOST_TEST(!lim::validate_for_redis(slow));
    BOOST_TEST(server.command({"DBSIZE"}) == "0");
    BOOST_TEST(lim::make_error_code(lim::redis_error::timed_out).message() ==
               "Redis did not answer in time");
    BOOST_TEST((std::error_code(lim::redis_error::timed_out) == fl::category::timeout));
}

BOOST_AUTO_TEST_CASE(a_pipelined_batch_equals_the_same_decisions_one_by_one) {
    redis_server server;
    auto one_opts = options_for(server);
    one_opts.prefix = "one:";
    auto batch_opts = options_for(server);
    batch_opts.prefix = "batch:";
    lim::redis_limiter one(one_opts), batch(batch_opts);
    const lim::bucket_config small{lim::rate::per(7, 1h), 4, lim::initial_fill::full,
                                   fl::error::rpm_exceeded};
    const lim::bucket_config bad{lim::rate::per(1, 1s), 0};
    const std::vector<lim::redis_request> requests = {
        {"a", small, 1}, {"b", slow, 50}, {"a", small, 2}, {"a", small, 2}, {"c", small, 5},
        {"b", slow, 51}, {"d", bad, 1},   {"a", small, 1}, {"b", slow, 0},  {"e", small, 4},
    };
    const auto start = steady::now();
    std::vector<lim::redis_decision> expected;
    for (const auto& r : requests)
        expected.push_back(one.try_acquire(r.key, r.config, r.n));
    const auto got = batch.try_acquire_batch(requests);
    BOOST_REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        BOOST_TEST_CONTEXT("request " << i) {
            BOOST_TEST((got[i].by == expected[i].by));
            check_close(got[i], expected[i], steady::now() - start);
        }
    }
}

namespace readme {

// The README's example, compiled and run against the test server.
const lim::bucket_config token_rpm{lim::rate::per_minute(60), 60, lim::initial_fill::full,
                                   faultline::error::rpm_exceeded};
const lim::bucket_config user_tpm{lim::rate::per_minute(150'000), 150'000, lim::initial_fill::full,
                                  faultline::error::tpm_exceeded};

bool admit(lim::redis_limiter& limiter, std::string_view token_id, std::string_view user_id,
           std::uint64_t estimated_tokens) {
    const std::string tk = lim::token_key(token_id, "rpm"), uk = lim::user_key(user_id, "tpm");
    const lim::redis_request levels[] = {{tk, token_rpm, 1}, {uk, user_tpm, estimated_tokens}};
    const lim::redis_composite_decision d = limiter.try_acquire_all(levels);
    return d.admitted;
}

} // namespace readme

BOOST_AUTO_TEST_CASE(the_readme_example_admits_then_refuses_over_the_user_tpm) {
    redis_server server;
    lim::redis_limiter limiter({.host = "127.0.0.1",
                                .port = static_cast<std::uint16_t>(server.port()),
                                .command_timeout = std::chrono::milliseconds(50),
                                .prefix = "gw:",
                                .on_failure = lim::redis_failure::local});
    BOOST_TEST(readme::admit(limiter, "key-42", "alice", 100'000));
    BOOST_TEST(!readme::admit(limiter, "key-42", "alice", 100'000));
    BOOST_TEST(server.command({"EXISTS", "gw:user:alice:tpm"}) == "1");
    BOOST_TEST(server.command({"GET", "gw:token:key-42:rpm"}).find(':') != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(limit_concurrency_redis)

BOOST_AUTO_TEST_CASE(threads_sharing_one_limiter_admit_exactly_the_burst) {
    redis_server server;
    auto o = options_for(server);
    o.connections = 2;
    lim::redis_limiter l(o);
    const lim::bucket_config cfg{lim::rate::per(1, 1h), 200};
    std::atomic<int> admitted{0}, by_redis{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 100; ++i) {
                const auto d = l.try_acquire("threads", cfg);
                if (d.by == lim::decided_by::redis) ++by_redis;
                if (d) ++admitted;
            }
        });
    for (auto& t : threads)
        t.join();
    BOOST_TEST(by_redis.load() == 400);
    BOOST_TEST(admitted.load() == 200);
}

BOOST_AUTO_TEST_SUITE_END()

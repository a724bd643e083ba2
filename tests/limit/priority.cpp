#include <faultline/limit/priority.hpp>

#include <faultline/limit/adaptive.hpp>
#include <faultline/limit/concurrency.hpp>
#include <faultline/limit/refuse.hpp>

#include "manual_clock.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace fl = faultline;
namespace lim = faultline::limit;
using faultline_test::at;
using faultline_test::manual_clock;
using lim::priority;
using lim::refusal_reason;
using lim::ticket_state;
using namespace std::chrono_literals;

namespace {

using fixed = lim::prioritized_limiter<lim::concurrency_limiter, manual_clock>;
using ticket = fixed::ticket;

constexpr std::array<priority, lim::priority_count> all_priorities = {
    priority::very_low, priority::low, priority::medium, priority::high, priority::critical};

std::size_t index(priority p) {
    return static_cast<std::size_t>(p);
}

// A ticket that counts its `on_ready` calls.
struct watched {
    ticket t;
    int wakes = 0;
    watched() {
        t.on_ready([this] { ++wakes; });
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(limit_priority)

// --- parse_priority ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(parse_priority_accepts_every_name_and_spelling) {
    struct row {
        const char* text;
        priority want;
    };
    const row rows[] = {
        {"critical", priority::critical},   {"high", priority::high},
        {"medium", priority::medium},       {"low", priority::low},
        {"very_low", priority::very_low},   {"very-low", priority::very_low},
        {"VERY_LOW", priority::very_low},   {"Critical", priority::critical},
        {"very_high", priority::critical},  {"Very-High", priority::critical},
        {" high", priority::high},          {"high \t", priority::high},
        {"\t medium \t", priority::medium},
    };
    for (const row& r : rows) {
        BOOST_TEST_CONTEXT("value '" << r.text << "'") {
            const auto got = lim::parse_priority(r.text);
            BOOST_REQUIRE(got.has_value());
            BOOST_TEST(static_cast<int>(got.value()) == static_cast<int>(r.want));
        }
    }
    for (priority p : all_priorities) {
        const auto back = lim::parse_priority(lim::to_string(p));
        BOOST_REQUIRE(back.has_value());
        BOOST_TEST(static_cast<int>(back.value()) == static_cast<int>(p));
    }
}

BOOST_AUTO_TEST_CASE(parse_priority_refuses_everything_else_with_a_typed_error) {
    const std::string long_value(10'000, 'h');
    const std::string with_nul("high\0", 5);
    const std::string values[] = {"",          " ",        "\t\t",      "urgent",   "hi gh",
                                  "critical,", "highh",    "hig",       "0",        "4",
                                  "u=0",       "very low", "very__low", "veryhigh", "\"high\"",
                                  "high\r",    with_nul,   long_value,  "\xc3\xa9", "LOW;q=1"};
    for (const std::string& v : values) {
        BOOST_TEST_CONTEXT("value of " << v.size() << " bytes '" << v.substr(0, 20) << "'") {
            const auto got = lim::parse_priority(v);
            BOOST_REQUIRE(!got.has_value());
            BOOST_TEST((got.error() == lim::priority_error::invalid_priority));
            BOOST_TEST((got.error() == std::errc::invalid_argument));
            BOOST_TEST(got.error().message().find("critical, high") != std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(names_of_priorities_and_reasons) {
    BOOST_TEST(lim::to_string(priority::very_low) == "very_low");
    BOOST_TEST(lim::to_string(priority::critical) == "critical");
    BOOST_TEST(lim::to_string(refusal_reason::displaced) == "displaced");
    BOOST_TEST(lim::to_string(refusal_reason::timed_out) == "timed_out");
    BOOST_TEST(lim::to_string(static_cast<priority>(9)) == "unknown");
}

// --- options ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(options_are_validated_with_typed_errors) {
    struct row {
        const char* what;
        lim::priority_options o;
        lim::priority_error want;
    };
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const row rows[] = {
        {"shed_start below 0", {.shed_start = -0.01}, lim::priority_error::shed_start_out_of_range},
        {"shed_start above 1", {.shed_start = 1.01}, lim::priority_error::shed_start_out_of_range},
        {"shed_start NaN", {.shed_start = nan}, lim::priority_error::shed_start_out_of_range},
        {"max_wait zero", {.max_wait = 0ns}, lim::priority_error::max_wait_not_positive},
        {"max_wait negative", {.max_wait = -1ms}, lim::priority_error::max_wait_not_positive},
        {"refusal 400",
         {.refusal = fl::error::invalid_request},
         lim::priority_error::refusal_not_retryable},
        {"refusal quota",
         {.refusal = fl::error::insufficient_quota},
         lim::priority_error::refusal_not_retryable},
    };
    lim::concurrency_limiter inner(1);
    for (const row& r : rows) {
        BOOST_TEST_CONTEXT(r.what) {
            const std::error_code ec = lim::validate(r.o);
            BOOST_TEST((ec == r.want));
            BOOST_TEST((ec == std::errc::invalid_argument));
            BOOST_TEST(std::string(ec.category().name()) == "faultline.limit.priority");
            BOOST_TEST(!ec.message().empty());
            try {
                fixed l(inner, r.o);
                BOOST_FAIL("constructor accepted invalid options");
            } catch (const std::system_error& e) {
                BOOST_TEST((e.code() == r.want));
            }
        }
    }
    const lim::priority_options good[] = {
        {},
        {.max_waiters = 0},
        {.shed_start = 0.0},
        {.shed_start = 1.0},
        {.max_wait = 1ns},
        {.refusal = fl::error::overloaded},
        {.refusal = fl::error::no_available_channel},
    };
    for (const auto& o : good)
        BOOST_TEST(!lim::validate(o));
}

BOOST_AUTO_TEST_CASE(thresholds_ramp_from_shed_start_to_the_queue_bound) {
    lim::concurrency_limiter inner(1);
    struct row {
        lim::priority_options o;
        std::array<std::size_t, lim::priority_count> want;
    };
    const row rows[] = {
        {{}, {40, 45, 50, 55, 60}}, // failsafe-go's 2x / 3x of a limit of 20
        {{.max_waiters = 10, .shed_start = 0.5}, {5, 6, 7, 8, 10}},
        {{.max_waiters = 8, .shed_start = 1.0}, {8, 8, 8, 8, 8}},
        {{.max_waiters = 8, .shed_start = 0.0}, {0, 2, 4, 6, 8}},
        {{.max_waiters = 0}, {0, 0, 0, 0, 0}},
        {{.max_waiters = std::numeric_limits<std::size_t>::max(), .shed_start = 1.0},
         {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX}},
    };
    for (const row& r : rows) {
        fixed l(inner, r.o);
        for (priority p : all_priorities)
            BOOST_TEST(l.shed_threshold(p) == r.want[index(p)]);
    }
}

// --- admission, order, shedding ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(admits_at_once_while_the_inner_limiter_has_room) {
    lim::concurrency_limiter inner(2);
    fixed l(inner);
    watched a, b;
    BOOST_TEST((l.acquire(a.t, priority::very_low, at(0ms)) == ticket_state::admitted));
    BOOST_TEST((l.acquire(b.t, priority::low, at(0ms)) == ticket_state::admitted));
    BOOST_TEST(a.t.result().admitted);
    BOOST_TEST(a.t.result().limit == 2u);
    BOOST_TEST(inner.in_flight() == 2u);
    fixed::permit pa = a.t.take();
    BOOST_TEST(static_cast<bool>(pa));
    BOOST_TEST(!a.t.take()); // once
    pa.release(at(1ms));
    pa.release(at(1ms)); // idempotent
    BOOST_TEST(inner.in_flight() == 1u);
    BOOST_TEST(a.wakes == 0);
    BOOST_TEST(b.wakes == 0);
}

BOOST_AUTO_TEST_CASE(a_returned_permit_admits_the_highest_priority_then_the_oldest) {
    lim::concurrency_limiter inner(1);
    fixed l(inner);
    watched holder;
    BOOST_REQUIRE((l.acquire(holder.t, priority::critical, at(0ms)) == ticket_state::admitted));
    fixed::permit held = holder.t.take();

    // Arrival order: low1, high1, medium, high2, low2.
    std::array<watched, 5> w;
    const priority order[] = {priority::low, priority::high, priority::medium, priority::high,
                              priority::low};
    for (std::size_t i = 0; i < w.size(); ++i)
        BOOST_REQUIRE((l.acquire(w[i].t, order[i], at(1ms)) == ticket_state::waiting));
    BOOST_TEST(l.waiting() == 5u);
    BOOST_TEST(l.waiting(priority::high) == 2u);
    BOOST_TEST(l.waiting(priority::low) == 2u);
    BOOST_TEST((w[0].t.deadline() == at(1ms) + 1s));

    const std::size_t expected[] = {1, 3, 2, 0, 4}; // high1, high2, medium, low1, low2
    for (std::size_t k = 0; k < 5; ++k) {
        held.release(at(2ms + std::chrono::milliseconds(k)));
        const std::size_t i = expected[k];
        BOOST_TEST_CONTEXT("release " << k) {
            BOOST_TEST((w[i].t.state() == ticket_state::admitted));
            BOOST_TEST(w[i].wakes == 1);
            BOOST_TEST(l.waiting() == 4 - k);
            for (std::size_t j = k + 1; j < 5; ++j)
                BOOST_TEST((w[expected[j]].t.state() == ticket_state::waiting));
        }
        held = w[i].t.take();
        BOOST_TEST(static_cast<bool>(held));
    }
    held.release(at(10ms));
    BOOST_TEST(inner.in_flight() == 0u);
}

BOOST_AUTO_TEST_CASE(nobody_waits_when_max_waiters_is_zero) {
    lim::concurrency_limiter inner(1);
    fixed l(inner, {.max_waiters = 0});
    watched a, b;
    BOOST_REQUIRE((l.acquire(a.t, priority::low, at(0ms)) == ticket_state::admitted));
    BOOST_TEST((l.acquire(b.t, priority::critical, at(0ms)) == ticket_state::refused));
    BOOST_TEST((b.t.reason() == refusal_reason::shed));
    BOOST_TEST(b.t.result().ec == fl::error::concurrency_exceeded);
    BOOST_TEST(b.wakes == 0);
}

BOOST_AUTO_TEST_CASE(lower_priorities_are_shed_first_as_the_queue_fills) {
    lim::concurrency_limiter inner(1);
    fixed l(inner, {.max_waiters = 10, .shed_start = 0.5}); // thresholds 5 6 7 8 10
    ticket holder;
    BOOST_REQUIRE((l.acquire(holder, priority::critical, at(0ms)) == ticket_state::admitted));
    std::vector<std::unique_ptr<ticket>> q;
    auto arrive = [&](priority p) {
        q.push_back(std::make_unique<ticket>());
        return l.acquire(*q.back(), p, at(1ms));
    };
    for (int i = 0; i < 5; ++i)
        BOOST_REQUIRE((arrive(priority::very_low) == ticket_state::waiting));
    // Five waiters: very_low has reached its threshold, low has not.
    BOOST_TEST((arrive(priority::very_low) == ticket_state::refused));
    BOOST_TEST((q.back()->reason() == refusal_reason::shed));
    BOOST_TEST(q.back()->result().ec == fl::error::concurrency_exceeded);
    BOOST_TEST((q.back()->result().retry_after == std::chrono::nanoseconds(1s)));
    // A low arrival sees only the waiters it cannot push aside (low and above): none yet.
    for (int i = 0; i < 5; ++i)
        BOOST_TEST((arrive(priority::low) == ticket_state::waiting));
    BOOST_TEST(l.waiting() == 10u); // full
    ticket* newest_very_low = q[4].get();
    BOOST_TEST((arrive(priority::low) == ticket_state::waiting)); // 5 at or above low < 6
    BOOST_TEST((newest_very_low->reason() == refusal_reason::displaced));
    BOOST_TEST((q[3]->state() == ticket_state::waiting));
    BOOST_TEST(l.waiting() == 10u);
    BOOST_TEST(l.waiting(priority::low) == 6u);
    BOOST_TEST((arrive(priority::low) == ticket_state::refused)); // 6 at or above low
    BOOST_TEST((q.back()->reason() == refusal_reason::shed));
    BOOST_TEST((arrive(priority::very_low) == ticket_state::refused));
    BOOST_TEST((arrive(priority::medium) == ticket_state::waiting));
    BOOST_TEST((arrive(priority::high) == ticket_state::waiting));
    BOOST_TEST((arrive(priority::critical) == ticket_state::waiting));
    BOOST_TEST(l.waiting() == 10u);
    BOOST_TEST(l.waiting(priority::very_low) == 1u);
    // Refusal of a level implies refusal of every level below it.
    for (priority p : all_priorities) {
        if (p == priority::critical) break;
        const std::size_t above = l.waiting() - [&] {
            std::size_t below = 0;
            for (std::size_t i = 0; i < index(p); ++i)
                below += l.waiting(all_priorities[i]);
            return below;
        }();
        BOOST_TEST_CONTEXT(lim::to_string(p)) {
            const bool shed = above >= l.shed_threshold(p);
            BOOST_TEST((arrive(p) == (shed ? ticket_state::refused : ticket_state::waiting)));
            BOOST_TEST(l.waiting() <= 10u);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_higher_priority_arrival_displaces_the_newest_lowest_waiter) {
    lim::concurrency_limiter inner(1);
    fixed l(inner, {.max_waiters = 3, .shed_start = 1.0}); // every threshold 3
    watched holder;
    BOOST_REQUIRE((l.acquire(holder.t, priority::critical, at(0ms)) == ticket_state::admitted));
    watched low_old, low_new, medium, high, crit1, crit2, crit3, crit4, low_late;
    BOOST_REQUIRE((l.acquire(low_old.t, priority::low, at(1ms)) == ticket_state::waiting));
    BOOST_REQUIRE((l.acquire(medium.t, priority::medium, at(2ms)) == ticket_state::waiting));
    BOOST_REQUIRE((l.acquire(low_new.t, priority::low, at(3ms)) == ticket_state::waiting));

    // Full. A low arrival cannot push anyone aside.
    BOOST_TEST((l.acquire(low_late.t, priority::low, at(4ms)) == ticket_state::refused));
    BOOST_TEST((low_late.t.reason() == refusal_reason::shed));

    // A high arrival displaces the newest of the lowest priority.
    BOOST_TEST((l.acquire(high.t, priority::high, at(5ms)) == ticket_state::waiting));
    BOOST_TEST((low_new.t.state() == ticket_state::refused));
    BOOST_TEST((low_new.t.reason() == refusal_reason::displaced));
    BOOST_TEST(low_new.t.result().ec == fl::error::concurrency_exceeded);
    BOOST_TEST(low_new.wakes == 1);
    BOOST_TEST((low_old.t.state() == ticket_state::waiting));
    BOOST_TEST(l.waiting() == 3u);

    BOOST_TEST((l.acquire(crit1.t, priority::critical, at(6ms)) == ticket_state::waiting));
    BOOST_TEST((low_old.t.reason() == refusal_reason::displaced));
    BOOST_TEST((l.acquire(crit2.t, priority::critical, at(7ms)) == ticket_state::waiting));
    BOOST_TEST((medium.t.reason() == refusal_reason::displaced));
    BOOST_TEST((l.acquire(crit3.t, priority::critical, at(8ms)) == ticket_state::waiting));
    BOOST_TEST((high.t.reason() == refusal_reason::displaced));
    // Three critical waiters: a critical arrival has nobody below it to displace.
    BOOST_TEST((l.acquire(crit4.t, priority::critical, at(9ms)) == ticket_state::refused));
    BOOST_TEST((crit4.t.reason() == refusal_reason::shed));
    BOOST_TEST(crit4.wakes == 0);
    for (watched* w : {&low_old, &medium, &high})
        BOOST_TEST(w->wakes == 1);
    BOOST_TEST(l.waiting() == 3u);
    BOOST_TEST(l.waiting(priority::critical) == 3u);
}

// --- deadlines, cancellation --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(waiters_past_their_deadline_are_refused_on_the_next_call) {
    lim::concurrency_limiter inner(1);
    fixed l(inner, {.max_wait = 100ms});
    watched holder, a, b, c;
    BOOST_REQUIRE((l.acquire(holder.t, priority::high, at(0ms)) == ticket_state::admitted));
    fixed::permit held = holder.t.take();
    BOOST_REQUIRE((l.acquire(a.t, priority::low, at(0ms)) == ticket_state::waiting));
    BOOST_REQUIRE((l.acquire(b.t, priority::high, at(50ms)) == ticket_state::waiting));
    BOOST_TEST((a.t.deadline() == at(100ms)));
    BOOST_TEST((b.t.deadline() == at(150ms)));

    BOOST_TEST(l.expire(at(99ms)) == 0u);
    BOOST_TEST((a.t.state() == ticket_state::waiting));
    BOOST_TEST(l.expire(at(100ms)) == 1u);
    BOOST_TEST((a.t.state() == ticket_state::refused));
    BOOST_TEST((a.t.reason() == refusal_reason::timed_out));
    BOOST_TEST(a.t.result().ec == fl::error::concurrency_exceeded);
    BOOST_TEST(a.wakes == 1);
    // Time given out of order does not move the limiter's clock back.
    BOOST_TEST(l.expire(at(10ms)) == 0u);
    BOOST_TEST((b.t.state() == ticket_state::waiting));

    // An arrival is such a call too: b is refused before c is considered.
    BOOST_TEST((l.acquire(c.t, priority::very_low, at(150ms)) == ticket_state::waiting));
    BOOST_TEST((b.t.reason() == refusal_reason::timed_out));
    BOOST_TEST(b.wakes == 1);
    BOOST_TEST(l.waiting() == 1u);

    // And so is a release: c is overdue, the slot stays free.
    held.release(at(250ms));
    BOOST_TEST((c.t.reason() == refusal_reason::timed_out));
    BOOST_TEST(c.wakes == 1);
    BOOST_TEST(inner.in_flight() == 0u);
    BOOST_TEST(l.waiting() == 0u);
    BOOST_TEST(a.wakes + b.wakes + c.wakes == 3);
}

BOOST_AUTO_TEST_CASE(expire_admits_when_the_inner_limiter_freed_a_slot_behind_its_back) {
    lim::concurrency_limiter inner(1);
    fixed l(inner);
    watched a;
    lim::permit direct = inner.try_acquire(); // not through the wrapper
    BOOST_REQUIRE((l.acquire(a.t, priority::medium, at(0ms)) == ticket_state::waiting));
    direct.release(); // nobody is told
    BOOST_TEST((a.t.state() == ticket_state::waiting));
    BOOST_TEST(l.expire(at(1ms)) == 0u);
    BOOST_TEST((a.t.state() == ticket_state::admitted));
    BOOST_TEST(a.wakes == 1);
}

BOOST_AUTO_TEST_CASE(a_cancelled_or_destroyed_waiter_leaves_the_queue) {
    lim::concurrency_limiter inner(1);
    fixed l(inner);
    watched holder, a;
    BOOST_REQUIRE((l.acquire(holder.t, priority::high, at(0ms)) == ticket_state::admitted));
    BOOST_REQUIRE((l.acquire(a.t, priority::high, at(0ms)) == ticket_state::waiting));
    {
        watched gone;
        BOOST_REQUIRE((l.acquire(gone.t, priority::critical, at(0ms)) == ticket_state::waiting));
        BOOST_TEST(l.waiting() == 2u);
    }
    BOOST_TEST(l.waiting() == 1u);
    a.t.cancel();
    BOOST_TEST((a.t.state() == ticket_state::refused));
    BOOST_TEST((a.t.reason() == refusal_reason::cancelled));
    BOOST_TEST(a.wakes == 0);
    BOOST_TEST(l.waiting() == 0u);
    a.t.cancel(); // nothing to do
    // The ticket is reusable.
    holder.t.take().release(at(1ms));
    BOOST_TEST((l.acquire(a.t, priority::low, at(2ms)) == ticket_state::admitted));
    BOOST_TEST((a.t.reason() == refusal_reason::none));
}

BOOST_AUTO_TEST_CASE(an_admitted_ticket_destroyed_untaken_returns_its_slot) {
    lim::concurrency_limiter inner(1);
    fixed l(inner);
    watched waiter;
    {
        ticket first;
        BOOST_REQUIRE((l.acquire(first, priority::low, at(0ms)) == ticket_state::admitted));
        BOOST_REQUIRE((l.acquire(waiter.t, priority::low, at(0ms)) == ticket_state::waiting));
    }
    BOOST_TEST((waiter.t.state() == ticket_state::admitted));
    BOOST_TEST(inner.in_flight() == 1u);
    // Acquiring again on an admitted ticket returns the permit it still held.
    BOOST_TEST((l.acquire(waiter.t, priority::low, at(1ms)) == ticket_state::admitted));
    BOOST_TEST(inner.in_flight() == 1u);
}

// --- refusals on the wire ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(refusals_render_as_429_by_default_and_as_the_configured_code) {
    struct row {
        std::optional<fl::error> refusal;
        unsigned status;
        fl::error code;
    };
    const row rows[] = {
        {std::nullopt, 429, fl::error::concurrency_exceeded},
        {fl::error::no_available_channel, 503, fl::error::no_available_channel},
        {fl::error::overloaded, 529, fl::error::overloaded},
    };
    for (const row& r : rows) {
        lim::concurrency_limiter inner(1);
        fixed l(inner, {.max_waiters = 1, .refusal = r.refusal});
        ticket a, b, c;
        BOOST_REQUIRE((l.acquire(a, priority::low, at(0ms)) == ticket_state::admitted));
        BOOST_REQUIRE((l.acquire(b, priority::low, at(0ms)) == ticket_state::waiting));
        BOOST_REQUIRE((l.acquire(c, priority::high, at(0ms)) == ticket_state::waiting));
        BOOST_REQUIRE((b.reason() == refusal_reason::displaced));
        const lim::limit_response resp = lim::refuse(b.result());
        BOOST_TEST(resp.status == r.status);
        BOOST_TEST(resp.ec == r.code);
        BOOST_TEST(resp.body.find(std::string(fl::to_string(r.code))) != std::string::npos);
        const bool has_retry_after =
            std::any_of(resp.headers.begin(), resp.headers.end(),
                        [](const fl::header& h) { return h.first == "retry-after"; });
        BOOST_TEST(has_retry_after);
    }
}

// --- a simulated overload ----------------------------------------------------------------------

// K slots, a seeded stream of arrivals of mixed priorities at 2.5 times the capacity, service
// times of 20 to 60 ms, a 1 ms tick on a manual clock. Each tick: completions return their
// permits, `expire(now)` stands for the drivers' deadline timers, then the tick's arrivals.
// Tickets woken through `on_ready` are served as soon as the call that woke them returns.
BOOST_AUTO_TEST_CASE(simulated_overload_sheds_the_lowest_priorities_first_and_leaks_nothing) {
    constexpr std::uint64_t capacity = 8;
    constexpr int arrival_ms = 20'000;
    lim::concurrency_limiter inner(capacity);
    const lim::priority_options opts{}; // defaults: 60 waiters, shed from 40, 1 s
    fixed l(inner, opts);

    std::mt19937_64 rng(20240611);
    // Offered load: 2.5 x capacity (8 slots / 40 ms mean = 200/s; arrivals 500/s). Shares per
    // priority, very_low..critical: 30 25 20 15 10 %: critical alone is a quarter of capacity.
    std::discrete_distribution<int> pick({30, 25, 20, 15, 10});
    std::uniform_int_distribution<int> service_ms(20, 60);
    std::bernoulli_distribution arrives(0.5);

    struct request {
        ticket t;
        priority p = priority::very_low;
        int wakes = 0;
        bool queued = false;
        bool served = false;
        int decided_ms = -1;
    };
    std::vector<std::unique_ptr<request>> reqs;
    std::vector<request*> woken;
    struct running {
        int end_ms;
        fixed::permit permit;
    };
    std::vector<running> in_service;

    std::array<int, lim::priority_count> arrived{}, admitted{}, refused{};
    std::array<int, lim::priority_count> first_refusal_ms;
    first_refusal_ms.fill(-1);
    std::size_t max_seen_waiting = 0;

    auto serve_woken = [&](int now_ms) {
        for (request* r : woken) {
            if (r->t.state() == ticket_state::admitted) {
                BOOST_REQUIRE(!r->served);
                r->served = true;
                in_service.push_back({now_ms + service_ms(rng), r->t.take()});
            }
            r->decided_ms = now_ms;
        }
        woken.clear();
    };
    auto check = [&] {
        BOOST_REQUIRE(inner.in_flight() <= capacity);
        BOOST_REQUIRE(l.waiting() <= opts.max_waiters);
        std::size_t sum = 0;
        for (priority p : all_priorities)
            sum += l.waiting(p);
        BOOST_REQUIRE(sum == l.waiting());
        max_seen_waiting = std::max(max_seen_waiting, l.waiting());
    };

    int now_ms = 0;
    for (; now_ms < arrival_ms || !in_service.empty() || l.waiting() > 0; ++now_ms) {
        BOOST_REQUIRE(now_ms < arrival_ms + 10'000); // drains within max_wait + service
        const auto now = at(std::chrono::milliseconds(now_ms));
        for (std::size_t i = 0; i < in_service.size();) {
            if (in_service[i].end_ms <= now_ms) {
                in_service[i].permit.release(now);
                in_service[i] = std::move(in_service.back());
                in_service.pop_back();
                serve_woken(now_ms);
                check();
            } else {
                ++i;
            }
        }
        l.expire(now);
        serve_woken(now_ms);
        check();
        if (now_ms >= arrival_ms || !arrives(rng)) continue;
        reqs.push_back(std::make_unique<request>());
        request& r = *reqs.back();
        r.p = all_priorities[static_cast<std::size_t>(pick(rng))];
        r.t.on_ready([&woken, &r] {
            ++r.wakes;
            woken.push_back(&r);
        });
        ++arrived[index(r.p)];
        switch (l.acquire(r.t, r.p, now)) {
        case ticket_state::admitted:
            r.served = true;
            r.decided_ms = now_ms;
            in_service.push_back({now_ms + service_ms(rng), r.t.take()});
            break;
        case ticket_state::waiting:
            r.queued = true;
            break;
        case ticket_state::refused:
            r.decided_ms = now_ms;
            break;
        case ticket_state::idle:
            BOOST_FAIL("acquire left a ticket idle");
            break;
        }
        serve_woken(now_ms);
        check();
    }

    // Every request ended admitted (and served once) or refused, and was woken at most once:
    // exactly when it had waited.
    for (const auto& r : reqs) {
        const ticket_state s = r->t.state();
        BOOST_REQUIRE((s == ticket_state::admitted || s == ticket_state::refused));
        BOOST_REQUIRE(r->wakes == (r->queued ? 1 : 0));
        BOOST_REQUIRE(r->decided_ms >= 0);
        BOOST_REQUIRE(r->served == (s == ticket_state::admitted));
        const std::size_t i = index(r->p);
        if (s == ticket_state::admitted) {
            ++admitted[i];
        } else {
            BOOST_REQUIRE((r->t.reason() == refusal_reason::shed ||
                           r->t.reason() == refusal_reason::displaced ||
                           r->t.reason() == refusal_reason::timed_out));
            ++refused[i];
            if (first_refusal_ms[i] < 0 || r->decided_ms < first_refusal_ms[i])
                first_refusal_ms[i] = r->decided_ms;
        }
    }
    BOOST_TEST(inner.in_flight() == 0u);
    BOOST_TEST(l.waiting() == 0u);
    BOOST_TEST(max_seen_waiting <= opts.max_waiters);
    BOOST_TEST(max_seen_waiting >= l.shed_threshold(priority::very_low)); // it was overloaded

    std::array<double, lim::priority_count> refused_share{};
    for (std::size_t i = 0; i < lim::priority_count; ++i) {
        BOOST_TEST_MESSAGE(lim::to_string(all_priorities[i])
                           << ": arrived " << arrived[i] << " admitted " << admitted[i]
                           << " refused " << refused[i] << " first refusal at "
                           << first_refusal_ms[i] << " ms");
        BOOST_REQUIRE(arrived[i] > 500);
        BOOST_TEST(admitted[i] + refused[i] == arrived[i]);
        refused_share[i] = static_cast<double>(refused[i]) / arrived[i];
    }
    // Lower priorities are refused more, and first.
    for (std::size_t i = 1; i < lim::priority_count; ++i) {
        BOOST_TEST(refused_share[i] <= refused_share[i - 1]);
        if (refused[i] > 0) BOOST_TEST(first_refusal_ms[i] >= first_refusal_ms[i - 1]);
    }
    BOOST_TEST(refused_share[index(priority::very_low)] > 0.9);
    // Critical is a quarter of capacity: never refused.
    BOOST_TEST(refused[index(priority::critical)] == 0);
    BOOST_TEST(refused[index(priority::high)] <= arrived[index(priority::high)] / 100);
    // The slots stayed busy: admitted work is close to the capacity over the arrival period.
    int total_admitted = 0;
    for (int a : admitted)
        total_admitted += a;
    BOOST_TEST(total_admitted >= static_cast<int>(0.95 * 200 * arrival_ms / 1000));
}

// --- composition with adaptive_limiter ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(wraps_an_adaptive_limiter_and_follows_its_moving_limit) {
    using adaptive = lim::adaptive_limiter<lim::aimd, manual_clock>;
    adaptive inner(
        lim::aimd::make({.min_limit = 1, .initial_limit = 4, .max_limit = 8, .backoff_ratio = 0.5})
            .value(),
        {.min_window = 1ms, .max_window = 1ms, .min_samples = 1}, at(0ms));
    lim::prioritized_limiter<adaptive> l(inner, {.max_waiters = 4});
    static_assert(std::is_same_v<lim::prioritized_limiter<adaptive>::clock, manual_clock>);
    using tk = lim::prioritized_limiter<adaptive>::ticket;
    using pm = lim::prioritized_limiter<adaptive>::permit;

    std::array<tk, 4> first;
    std::array<pm, 4> held;
    for (std::size_t i = 0; i < 4; ++i) {
        BOOST_REQUIRE((l.acquire(first[i], priority::medium, at(0ms)) == ticket_state::admitted));
        held[i] = first[i].take();
    }
    tk low, high;
    int low_wakes = 0;
    low.on_ready([&] { ++low_wakes; });
    BOOST_REQUIRE((l.acquire(low, priority::low, at(0ms)) == ticket_state::waiting));
    BOOST_REQUIRE((l.acquire(high, priority::high, at(0ms)) == ticket_state::waiting));
    BOOST_TEST(low.result().ec == fl::error::concurrency_exceeded); // the inner's refusal
    BOOST_TEST(low.result().limit == 4u);

    // A success (500 us, a sample; the window is still open) admits the high waiter; its
    // adaptive permit starts when it was admitted, so its latency excludes the wait.
    held[0].on_success(at(500us));
    BOOST_REQUIRE((high.state() == ticket_state::admitted));
    pm high_permit = high.take();
    BOOST_TEST((high_permit.inner().start() == at(500us)));
    BOOST_TEST((low.state() == ticket_state::waiting));

    // A drop closes the window: aimd halves the limit to 2 with 4 in flight - 1 = 3.
    held[1].on_dropped(at(2ms));
    BOOST_TEST(inner.limit() == 2u);
    BOOST_TEST(inner.in_flight() == 3u);
    BOOST_TEST((low.state() == ticket_state::waiting)); // a slot returned, but over the limit
    held[2].release(at(3ms));
    BOOST_TEST((low.state() == ticket_state::waiting)); // 2 in flight, limit 2
    held[3].release(at(4ms));
    BOOST_TEST((low.state() == ticket_state::admitted)); // 1 in flight
    BOOST_TEST(low_wakes == 1);
    pm low_permit = low.take();
    BOOST_TEST(inner.in_flight() == 2u);

    // Full again (limit 2): an arrival waits, the queue bound and the shedding still apply.
    tk c;
    BOOST_TEST((l.acquire(c, priority::critical, at(5ms)) == ticket_state::waiting));
    low_permit.on_success(at(6ms));
    BOOST_TEST((c.state() == ticket_state::admitted));
    pm c_permit = c.take();
    BOOST_TEST(static_cast<bool>(c_permit));
    c_permit.release(at(7ms));
    high_permit.release(at(7ms));
    BOOST_TEST(inner.in_flight() == 0u);
    BOOST_TEST(l.waiting() == 0u);
}

// --- threads (CI runs this suite under TSan) -----------------------------------------------------

// Four threads share two slots and a queue of four. Each request either goes at once, waits
// (spinning on `state()` and calling `expire` with a shared clock that every call moves on, so
// deadlines pass whatever the scheduling) or is refused. Nothing may be lost or held twice.
BOOST_AUTO_TEST_CASE(threads_share_the_queue_without_losing_a_waiter) {
    constexpr int threads = 4;
    constexpr int per_thread = 4000;
    constexpr std::uint64_t capacity = 2;
    lim::concurrency_limiter inner(capacity);
    fixed l(inner, {.max_waiters = 4, .shed_start = 0.5, .max_wait = 200ns});
    std::atomic<std::int64_t> clock_ns{0};
    auto tick = [&] { return manual_clock::time_point(std::chrono::nanoseconds(++clock_ns)); };
    std::atomic<int> admitted{0}, refused{0}, over_capacity{0}, wakes{0}, queued{0};

    auto body = [&](int id) {
        for (int i = 0; i < per_thread; ++i) {
            ticket t;
            t.on_ready([&] { wakes.fetch_add(1, std::memory_order_relaxed); });
            const auto p = all_priorities[static_cast<std::size_t>((i + id) % 5)];
            ticket_state s = l.acquire(t, p, tick());
            if (s == ticket_state::waiting) {
                queued.fetch_add(1, std::memory_order_relaxed);
                while ((s = t.state()) == ticket_state::waiting)
                    l.expire(tick());
            }
            if (s == ticket_state::admitted) {
                fixed::permit held = t.take();
                if (!held || inner.in_flight() > capacity)
                    over_capacity.fetch_add(1, std::memory_order_relaxed);
                admitted.fetch_add(1, std::memory_order_relaxed);
                if (i % 3 == 0) std::this_thread::yield();
                held.release(tick());
            } else {
                refused.fetch_add(1, std::memory_order_relaxed);
            }
        }
    };
    std::vector<std::thread> ts;
    for (int id = 0; id < threads; ++id)
        ts.emplace_back(body, id);
    for (auto& t : ts)
        t.join();

    BOOST_TEST(admitted.load() + refused.load() == threads * per_thread);
    BOOST_TEST(over_capacity.load() == 0);
    BOOST_TEST(wakes.load() == queued.load()); // every waiter woken exactly once
    BOOST_TEST(inner.in_flight() == 0u);
    BOOST_TEST(l.waiting() == 0u);
    BOOST_TEST(admitted.load() > 0);
    BOOST_TEST_MESSAGE("threads: admitted " << admitted.load() << " refused " << refused.load()
                                            << " queued " << queued.load());
}

BOOST_AUTO_TEST_SUITE_END()

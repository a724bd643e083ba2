#include <faultline/asio/retry.hpp>
#include <faultline/limit/token_bucket.hpp>

#include <faultline/classify.hpp>

#include "support/held_permits.hpp"

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace fl = faultline;
namespace net = boost::asio;
using namespace std::chrono_literals;
using R = fl::give_up_reason;

namespace {

fl::retry_policy quick(unsigned attempts = 4) {
    fl::retry_policy p;
    p.delay = fl::backoff::exponential(1us, 8us); // real timers, no waiting of note
    p.max_attempts = attempts;
    return p;
}

fl::asio::async_retry_options<> seeded() {
    fl::asio::async_retry_options<> o;
    o.rng = fl::splitmix64{7};
    return o;
}

// An asynchronous operation that fails `failures` times (posting its completion), then yields
// `value`.
struct flaky {
    net::any_io_executor ex;
    int failures;
    int* calls;
    template <class Handler>
    void operator()(Handler&& h) {
        const int n = ++*calls;
        net::post(ex, [h = std::forward<Handler>(h), n, f = failures]() mutable {
            if (n <= f)
                std::move(h)(fl::result<int>(std::make_error_code(std::errc::timed_out)));
            else
                std::move(h)(fl::result<int>(n * 10));
        });
    }
};

// An attempt that answers only when cancelled: its handler's slot completes it with
// operation_aborted, as an Asio operation does.
template <class Handler>
void hold_until_cancelled(Handler h, bool* cancelled) {
    auto slot = net::get_associated_cancellation_slot(h);
    BOOST_TEST_REQUIRE(slot.is_connected());
    auto held = std::make_shared<std::optional<Handler>>(std::move(h));
    slot.assign([held, cancelled](net::cancellation_type) {
        *cancelled = true;
        auto h = std::move(**held);
        held->reset();
        net::get_associated_cancellation_slot(h).clear();
        std::move(h)(boost::system::error_code(net::error::operation_aborted), 0);
    });
}

// Counts what is allocated through it; every allocation must be given back.
template <class T>
struct counting_allocator {
    using value_type = T;
    long* live;
    long* total;
    counting_allocator(long* l, long* t) noexcept
        : live(l)
        , total(t) {}
    template <class U>
    counting_allocator(const counting_allocator<U>& o) noexcept
        : live(o.live)
        , total(o.total) {}
    T* allocate(std::size_t n) {
        ++*live;
        ++*total;
        return std::allocator<T>().allocate(n);
    }
    void deallocate(T* p, std::size_t n) noexcept {
        --*live;
        std::allocator<T>().deallocate(p, n);
    }
    template <class U>
    bool operator==(const counting_allocator<U>& o) const noexcept {
        return live == o.live;
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(asio_retry)

// A hedge answers while the first attempt hangs: the hedge's value completes the loop and the
// first attempt is cancelled through its own slot.
BOOST_AUTO_TEST_CASE(a_hedge_wins_and_the_slow_attempt_is_cancelled) {
    net::io_context io;
    fl::pipeline_options o;
    o.hedge = {1us, 1};
    bool first_cancelled = false;
    std::vector<std::string> seen;
    auto op = [&](fl::attempt_context& ctx, auto handler) {
        seen.push_back(std::to_string(ctx.attempt) + (ctx.hedge ? " hedge" : ""));
        if (ctx.attempt == 1) return hold_until_cancelled(std::move(handler), &first_cancelled);
        net::post(io, [h = std::move(handler)]() mutable {
            std::move(h)(boost::system::error_code(), 42);
        });
    };
    std::optional<fl::retry_result<int>> got;
    fl::asio::async_run<int>(io.get_executor(), o, op, seeded(),
                             [&](fl::retry_result<int> r) { got = std::move(r); });
    io.run();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST_REQUIRE(got->has_value());
    BOOST_TEST(got->value() == 42);
    BOOST_TEST(first_cancelled);
    BOOST_TEST((seen == std::vector<std::string>{"1", "2 hedge"}));
}

// The whole pipeline drives the operation: a context-length failure on target 0 falls back to
// target 1, whose retryable failure is retried there.
BOOST_AUTO_TEST_CASE(fallbacks_move_the_operation_to_another_target) {
    net::io_context io;
    fl::pipeline_options o;
    o.retry = quick();
    o.targets = 2;
    o.fallbacks = {{fl::category::context_length_exceeded, 1}};
    std::vector<std::size_t> targets;
    auto op = [&](fl::attempt_context& ctx, auto handler) {
        targets.push_back(ctx.target);
        const std::size_t n = targets.size();
        net::post(io, [h = std::move(handler), n]() mutable {
            if (n == 1)
                std::move(h)(fl::outcome<std::string>(fl::classify(
                    400, R"({"error":{"message":"maximum context length is 8192 tokens",)"
                         R"("code":"context_length_exceeded"}})")));
            else if (n == 2)
                std::move(h)(fl::result<std::string>(std::make_error_code(std::errc::timed_out)));
            else
                std::move(h)(fl::result<std::string>(std::string("long answer")));
        });
    };
    std::vector<std::string> went_on; // what on_retry was told after each failed attempt
    auto opts = seeded();
    opts.on_retry = [&](const fl::attempt_record& r) {
        went_on.push_back(std::to_string(r.attempt) +
                          (r.fallback_to ? " to " + std::to_string(*r.fallback_to) : " retry"));
    };
    std::optional<fl::retry_result<std::string>> got;
    fl::asio::async_run<std::string>(io.get_executor(), o, op, std::move(opts),
                                     [&](fl::retry_result<std::string> r) { got = std::move(r); });
    io.run();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST_REQUIRE(got->has_value());
    BOOST_TEST(got->value() == "long answer");
    BOOST_TEST((targets == std::vector<std::size_t>{0, 1, 1}));
    BOOST_TEST((went_on == std::vector<std::string>{"1 to 1", "2 retry"}));
}

// Cooldowns shared by every run: a target whose breaker is open is not called; the run fails
// over at once, and the outcome of the attempt it made is recorded on the target it used.
BOOST_AUTO_TEST_CASE(a_cooling_target_is_skipped_by_the_run) {
    net::io_context io;
    fl::pipeline_options o;
    o.retry = quick(1);
    o.targets = 2;
    o.fallbacks = {{std::nullopt, 1}};
    fl::circuit_breaker_options bo;
    bo.failure_threshold = 1;
    fl::channel_pool<> cooldowns(2, bo);
    cooldowns[0].record_failure(std::chrono::steady_clock::now(), fl::error::overloaded, 60s);
    std::vector<std::size_t> targets;
    auto op = [&](fl::attempt_context& ctx, auto handler) {
        targets.push_back(ctx.target);
        net::post(io, [h = std::move(handler)]() mutable {
            std::move(h)(fl::result<int>(make_error_code(fl::error::internal_error)));
        });
    };
    std::vector<std::string> went_on;
    auto opts = seeded();
    opts.cooldowns = &cooldowns;
    opts.on_retry = [&](const fl::attempt_record& r) {
        went_on.push_back(std::to_string(r.attempt) + " " +
                          std::string(fl::to_string(r.what.code)) +
                          (r.fallback_to ? " to " + std::to_string(*r.fallback_to) : " retry"));
    };
    std::optional<fl::retry_result<int>> got;
    fl::asio::async_run<int>(io.get_executor(), o, op, std::move(opts),
                             [&](fl::retry_result<int> r) { got = std::move(r); });
    io.run();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST_REQUIRE(!got->has_value());
    BOOST_TEST((got->error().last.code == fl::error::internal_error));
    BOOST_TEST((targets == std::vector<std::size_t>{1}));
    BOOST_TEST((went_on == std::vector<std::string>{"0 circuit_open to 1"}));
    // Target 1's failure was recorded there: its threshold-1 breaker is open now.
    BOOST_TEST((cooldowns[1].state(std::chrono::steady_clock::now()) == fl::circuit_state::open));

    fl::channel_pool<> one(1);
    auto short_pool = seeded();
    short_pool.cooldowns = &one;
    BOOST_CHECK_THROW(fl::asio::async_run<int>(io.get_executor(), o, op, std::move(short_pool),
                                               [](fl::retry_result<int>) {}),
                      std::system_error);
}

// The caller's own limit, asked before each attempt: a refusal whose wait the policy may not
// make ends the run with the limit's code, and the operation is not called again.
BOOST_AUTO_TEST_CASE(a_limit_the_policy_may_not_wait_for_ends_the_run) {
    net::io_context io;
    // One request every 1000 s: the retry finds the limit empty.
    fl::limit::token_bucket<> rate({fl::limit::rate::per_second(0.001), 1,
                                    fl::limit::initial_fill::full, fl::error::rpm_exceeded});
    int calls = 0;
    auto op = [&](fl::attempt_context&, auto handler) {
        ++calls;
        net::post(io, [h = std::move(handler)]() mutable {
            std::move(h)(fl::result<int>(make_error_code(fl::error::internal_error)));
        });
    };
    auto opts = seeded();
    opts.admission = [&](std::chrono::steady_clock::time_point now) {
        return rate.try_acquire(1, now);
    };
    fl::retry_policy p = quick();
    p.max_server_delay = 1s;
    std::optional<fl::retry_result<int>> got;
    fl::asio::async_retry<int>(io.get_executor(), p, op, std::move(opts),
                               [&](fl::retry_result<int> r) { got = std::move(r); });
    io.run();
    BOOST_TEST(calls == 1);
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST_REQUIRE(!got->has_value());
    BOOST_TEST((got->error().last.code == fl::error::rpm_exceeded));
    BOOST_TEST((got->error().reason == fl::give_up_reason::server_delay_too_long));
}

// A limit of calls in flight: the attempt that lost to a hedge gives its slot back when the run
// ends (the run cancels it), before the completion handler runs; each admitted attempt once.
BOOST_AUTO_TEST_CASE(a_limit_of_calls_in_flight_gets_each_slot_back) {
    net::io_context io;
    fl::pipeline_options o;
    o.hedge = {1us, 1};
    fl::limit::concurrency_limiter two(2);
    test_support::held_permits permits{&two};
    auto opts = seeded();
    permits.attach(opts);
    bool first_cancelled = false;
    auto op = [&](fl::attempt_context& ctx, auto handler) {
        if (ctx.attempt == 1) return hold_until_cancelled(std::move(handler), &first_cancelled);
        BOOST_TEST(two.in_flight() == 2u);
        net::post(io, [h = std::move(handler)]() mutable {
            std::move(h)(boost::system::error_code(), 42);
        });
    };
    std::optional<fl::retry_result<int>> got;
    std::uint64_t in_flight_at_completion = 99;
    fl::asio::async_run<int>(io.get_executor(), o, op, std::move(opts),
                             [&](fl::retry_result<int> r) {
                                 in_flight_at_completion = two.in_flight();
                                 got = std::move(r);
                             });
    io.run();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->value() == 42);
    BOOST_TEST(first_cancelled);
    BOOST_TEST(in_flight_at_completion == 0u);
    BOOST_TEST(permits.ended == 2);
}

// Cancelled while an attempt runs: the cancellation reaches the attempt, and the loop gives up
// with the attempt's failure once it has answered.
BOOST_AUTO_TEST_CASE(cancellation_reaches_the_attempt_in_flight) {
    net::io_context io;
    net::cancellation_signal signal;
    bool cancelled = false;
    auto op = [&](fl::attempt_context&, auto handler) {
        hold_until_cancelled(std::move(handler), &cancelled);
        net::post(io, [&] { signal.emit(net::cancellation_type::terminal); });
    };
    std::optional<fl::retry_result<int>> got;
    int completions = 0;
    fl::asio::async_retry<int>(
        io.get_executor(), quick(), op, seeded(),
        net::bind_cancellation_slot(signal.slot(), [&](fl::retry_result<int> r) {
            ++completions;
            got = std::move(r);
        }));
    io.run();
    BOOST_TEST(cancelled);
    BOOST_TEST(completions == 1);
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST_REQUIRE(!got->has_value());
    BOOST_TEST((got->error().reason == R::cancelled));
    BOOST_TEST(got->error().history.size() == 1u);
}

// The loop's state comes from the completion handler's associated allocator, and all of it is
// given back.
BOOST_AUTO_TEST_CASE(state_uses_the_handlers_allocator) {
    net::io_context io;
    long live = 0, total = 0;
    int calls = 0;
    std::optional<fl::retry_result<int>> got;
    fl::asio::async_retry<int>(
        io.get_executor(), quick(), flaky{io.get_executor(), 1, &calls}, seeded(),
        net::bind_allocator(counting_allocator<void>(&live, &total),
                            [&](fl::retry_result<int> r) { got = std::move(r); }));
    io.run();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->value() == 20);
    BOOST_TEST(total >= 3); // the state and one slot per attempt
    BOOST_TEST(live == 0);
}

// Hedged loops on an io_context run by two threads, their attempts answering from either: every
// loop completes once, with a value, and the losing attempts are cancelled (ThreadSanitizer runs
// this suite: .ci/tsan).
BOOST_AUTO_TEST_CASE(hedged_loops_on_a_threaded_io_context) {
    net::io_context io(2);
    fl::pipeline_options o;
    o.retry = quick();
    o.hedge = {1us, 2};
    constexpr int loops = 200;
    std::atomic<int> completed{0}, values{0}, cancelled{0};
    auto op = [&](fl::attempt_context& ctx, auto handler) {
        if (ctx.attempt == 1) { // hangs until cancelled
            auto slot = net::get_associated_cancellation_slot(handler);
            auto held = std::make_shared<std::optional<decltype(handler)>>(std::move(handler));
            slot.assign([held, &cancelled](net::cancellation_type) {
                cancelled.fetch_add(1);
                auto h = std::move(**held);
                held->reset();
                net::get_associated_cancellation_slot(h).clear();
                std::move(h)(boost::system::error_code(net::error::operation_aborted), 0);
            });
            return;
        }
        net::post(io, [h = std::move(handler), a = ctx.attempt]() mutable {
            if (a == 2)
                std::move(h)(boost::system::error_code(net::error::connection_reset), 0);
            else
                std::move(h)(boost::system::error_code(), static_cast<int>(a));
        });
    };
    for (int i = 0; i < loops; ++i)
        fl::asio::async_run<int>(io.get_executor(), o, op, seeded(), [&](fl::retry_result<int> r) {
            completed.fetch_add(1);
            if (r.has_value()) values.fetch_add(1);
        });
    std::thread other([&] { io.run(); });
    io.run();
    other.join();
    BOOST_TEST(completed.load() == loops);
    BOOST_TEST(values.load() == loops);
    BOOST_TEST(cancelled.load() == loops);
}

// Loops without hedges run on the io_context itself (no strand), run by two threads, with
// attempts answering from either: every loop completes once with its value (ThreadSanitizer runs
// this suite: .ci/tsan).
BOOST_AUTO_TEST_CASE(loops_without_hedges_on_a_threaded_io_context) {
    net::io_context io(2);
    constexpr int loops = 200;
    std::atomic<int> completed{0}, values{0};
    std::vector<int> calls(loops, 0);
    for (int i = 0; i < loops; ++i)
        fl::asio::async_retry<int>(io.get_executor(), quick(),
                                   flaky{io.get_executor(), 2, &calls[i]}, seeded(),
                                   [&](fl::retry_result<int> r) {
                                       completed.fetch_add(1);
                                       if (r.has_value() && r.value() == 30) values.fetch_add(1);
                                   });
    std::thread other([&] { io.run(); });
    io.run();
    other.join();
    BOOST_TEST(completed.load() == loops);
    BOOST_TEST(values.load() == loops);
}

// A loop without hedges touches nothing once its attempt is launched: the attempt may end, and
// the loop with it, on another thread while the launching thread is still inside the operation.
// Here the last attempt's operation stays inside its initiation until the whole loop has
// completed on the other thread, watching with relaxed loads (no happens-before for
// ThreadSanitizer): any read of the loop's state after the operation returns is a reported race.
BOOST_AUTO_TEST_CASE(a_loop_is_left_alone_once_its_attempt_is_launched) {
    net::io_context io(2);
    std::atomic<bool> completed{false};
    std::atomic<int> value{0};
    int calls = 0;
    auto op = [&](auto handler) {
        const int n = ++calls;
        net::post(io, [h = std::move(handler), n]() mutable {
            if (n < 3)
                std::move(h)(fl::result<int>(std::make_error_code(std::errc::timed_out)));
            else
                std::move(h)(fl::result<int>(n));
        });
        if (n == 3) // launched from a timer on one thread; the other takes the completion
            while (!completed.load(std::memory_order_relaxed))
                std::this_thread::yield();
    };
    fl::asio::async_retry<int>(
        io.get_executor(), quick(), op, seeded(), [&](fl::retry_result<int> r) {
            value.store(r.has_value() ? r.value() : -1, std::memory_order_relaxed);
            completed.store(true, std::memory_order_relaxed);
        });
    std::thread other([&] { io.run(); });
    io.run();
    other.join();
    BOOST_TEST(value.load() == 3);
}

// An operation that completes inline, inside its own initiation: the loop takes each result
// after the operation has returned, and the completion handler never runs inside `async_retry`.
BOOST_AUTO_TEST_CASE(inline_completions_are_taken_after_the_operation_returns) {
    net::io_context io;
    int calls = 0;
    bool inside_op = false, reentered = false, returned = false, completed_early = false;
    auto op = [&](auto handler) {
        if (inside_op) reentered = true;
        inside_op = true;
        ++calls;
        if (calls < 3)
            std::move(handler)(fl::result<int>(std::make_error_code(std::errc::timed_out)));
        else
            std::move(handler)(fl::result<int>(calls));
        inside_op = false;
    };
    std::optional<fl::retry_result<int>> got;
    int retries = 0;
    auto opts = seeded();
    opts.on_retry = [&](const fl::attempt_record&) { ++retries; };
    fl::asio::async_retry<int>(io.get_executor(), quick(), op, std::move(opts),
                               [&](fl::retry_result<int> r) {
                                   completed_early = !returned;
                                   got = std::move(r);
                               });
    returned = true;
    io.run();
    BOOST_TEST(!reentered);
    BOOST_TEST(!completed_early);
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->value() == 3);
    BOOST_TEST(retries == 2);
}

// An operation that completes from a thread of its own, outside the io_context: each result is
// posted to the io_context, where the loop goes on.
BOOST_AUTO_TEST_CASE(completions_from_a_foreign_thread_are_posted_to_the_executor) {
    net::io_context io;
    std::vector<std::thread> workers;
    std::atomic<int> calls{0};
    std::vector<std::thread::id> where;
    auto op = [&](auto handler) {
        where.push_back(std::this_thread::get_id());
        const int n = ++calls;
        workers.emplace_back([h = std::move(handler), n]() mutable {
            if (n < 3)
                std::move(h)(boost::system::error_code(net::error::connection_reset), 0);
            else
                std::move(h)(boost::system::error_code(), n);
        });
    };
    std::optional<fl::retry_result<int>> got;
    auto guard = net::make_work_guard(io);
    fl::asio::async_retry<int>(io.get_executor(), quick(), op, seeded(),
                               [&](fl::retry_result<int> r) {
                                   got = std::move(r);
                                   guard.reset();
                               });
    io.run();
    for (std::thread& t : workers)
        t.join();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->value() == 3);
    BOOST_TEST_REQUIRE(where.size() == 3u);
    for (const std::thread::id& id : where)
        BOOST_TEST((id == std::this_thread::get_id()));
}

BOOST_AUTO_TEST_CASE(invalid_pipeline_options_throw_before_starting) {
    net::io_context io;
    fl::pipeline_options o;
    o.targets = 0;
    int calls = 0;
    BOOST_CHECK_THROW(fl::asio::async_run<int>(io.get_executor(), o,
                                               flaky{io.get_executor(), 0, &calls},
                                               [](fl::retry_result<int>) {}),
                      std::system_error);
    BOOST_TEST(calls == 0);
}

BOOST_AUTO_TEST_CASE(callback_token) {
    net::io_context io;
    int calls = 0, retries = 0;
    auto opts = seeded();
    opts.on_retry = [&](const fl::attempt_record& r) {
        ++retries;
        BOOST_TEST(r.delay <= std::chrono::nanoseconds(8us));
    };
    std::optional<fl::retry_result<int>> got;
    fl::asio::async_retry<int>(io.get_executor(), quick(), flaky{io.get_executor(), 2, &calls},
                               std::move(opts),
                               [&](fl::retry_result<int> r) { got = std::move(r); });
    BOOST_TEST(!got);
    io.run();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->value() == 30);
    BOOST_TEST(calls == 3);
    BOOST_TEST(retries == 2);
}

BOOST_AUTO_TEST_CASE(use_future_token_gives_up_with_history) {
    net::io_context io;
    int calls = 0;
    auto fut = fl::asio::async_retry<int>(io.get_executor(), quick(3),
                                          flaky{io.get_executor(), 100, &calls}, seeded(),
                                          net::use_future);
    io.run();
    auto r = fut.get();
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().reason == R::attempts_exhausted));
    BOOST_TEST(r.error().history.size() == 3u);
    BOOST_TEST((r.error().error_code() == fl::category::timeout));
    BOOST_TEST(calls == 3);
}

BOOST_AUTO_TEST_CASE(use_awaitable_token_and_asio_style_completions) {
    net::io_context io;
    int calls = 0;
    std::optional<fl::retry_result<std::string>> got;
    // void(error_code, T) completions, taking the attempt context.
    auto op = [&](fl::attempt_context& ctx, auto handler) {
        ++calls;
        BOOST_TEST(ctx.attempt == static_cast<unsigned>(calls));
        net::post(io, [h = std::move(handler), n = calls]() mutable {
            if (n == 1)
                std::move(h)(boost::system::error_code(net::error::connection_reset),
                             std::string());
            else
                std::move(h)(boost::system::error_code(), std::string("ok"));
        });
    };
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            got = co_await fl::asio::async_retry<std::string>(io.get_executor(), quick(), op,
                                                              seeded(), net::use_awaitable);
        },
        net::detached);
    io.run();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->value() == "ok");
    BOOST_TEST(calls == 2);
}

BOOST_AUTO_TEST_CASE(classified_failures_and_server_hints) {
    net::io_context io;
    int calls = 0;
    std::optional<fl::retry_result<void>> got;
    auto op = [&](auto handler) {
        ++calls;
        net::post(io, [h = std::move(handler), n = calls]() mutable {
            if (n == 1)
                std::move(h)(fl::outcome<void>(fl::classify(429, {{"retry-after-ms", "0"}}, "")));
            else
                std::move(h)(fl::outcome<void>(fl::classify(400, R"({"error":{"message":"no"}})")));
        });
    };
    fl::asio::async_retry<void>(io.get_executor(), quick(), op, seeded(),
                                [&](fl::retry_result<void> r) { got = std::move(r); });
    io.run();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST_REQUIRE(!got->has_value());
    BOOST_TEST((got->error().reason == R::not_retryable));
    BOOST_TEST_REQUIRE(got->error().history.size() == 2u);
    BOOST_TEST(got->error().history[0].delay_from_server);
    BOOST_TEST(got->error().last.message == "no");
}

BOOST_AUTO_TEST_CASE(cancellation_aborts_the_wait) {
    net::io_context io;
    int calls = 0;
    auto p = quick(10);
    p.delay = fl::backoff::constant(1h); // would park the loop; cancellation must end it
    net::cancellation_signal signal;
    auto opts = seeded();
    opts.on_retry = [&](const fl::attempt_record&) {
        net::post(io, [&] { signal.emit(net::cancellation_type::terminal); });
    };
    std::optional<fl::retry_result<int>> got;
    fl::asio::async_retry<int>(
        io.get_executor(), p, flaky{io.get_executor(), 100, &calls}, std::move(opts),
        net::bind_cancellation_slot(signal.slot(),
                                    [&](fl::retry_result<int> r) { got = std::move(r); }));
    io.run(); // returns at once: the 1 h timer was cancelled
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST((got->error().reason == R::cancelled));
    BOOST_TEST((got->error().error_code() == std::errc::operation_canceled));
    BOOST_TEST((got->error().last.code == fl::error::upstream_timeout ||
                got->error().last.cat == fl::category::timeout));
    BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_CASE(deadline_and_budget) {
    net::io_context io;
    int calls = 0;
    auto p = quick(10);
    p.delay = fl::backoff::constant(1h);
    p.deadline = 1min; // a 1 h wait would pass it: give up at once
    std::optional<fl::retry_result<int>> got;
    fl::asio::async_retry<int>(io.get_executor(), p, flaky{io.get_executor(), 100, &calls},
                               seeded(), [&](fl::retry_result<int> r) { got = std::move(r); });
    io.run();
    BOOST_TEST((got->error().reason == R::deadline_exceeded));
    BOOST_TEST(calls == 1);

    fl::retry_budget<> budget({10s, 0.0, 0.1}); // floor: 1 retry
    auto opts = seeded();
    opts.budget = &budget;
    calls = 0;
    got.reset();
    io.restart();
    fl::asio::async_retry<int>(io.get_executor(), quick(10), flaky{io.get_executor(), 100, &calls},
                               std::move(opts),
                               [&](fl::retry_result<int> r) { got = std::move(r); });
    io.run();
    BOOST_TEST((got->error().reason == R::budget_exhausted));
    BOOST_TEST(calls == 2);
}

BOOST_AUTO_TEST_SUITE_END()

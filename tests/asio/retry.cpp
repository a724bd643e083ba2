#include <faultline/asio/retry.hpp>

#include <faultline/classify.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <boost/test/unit_test.hpp>

#include <optional>
#include <string>

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

} // namespace

BOOST_AUTO_TEST_SUITE(asio_retry)

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

// One rule for every configured object: `validate(options)` says what is wrong, the constructor
// throws `std::system_error` with that same code (its `what()` names the class), and a change
// at run time (`reconfigure`, `set_override`) returns that code and changes nothing.

#include <faultline/limit/adaptive.hpp>
#include <faultline/limit/concurrency.hpp>
#include <faultline/limit/keyed.hpp>
#include <faultline/limit/pacer.hpp>
#include <faultline/limit/priority.hpp>
#include <faultline/limit/token_bucket.hpp>
#include <faultline/pipeline.hpp>
#include <faultline/retry/budget.hpp>
#include <faultline/retry/channel_pool.hpp>
#include <faultline/retry/circuit_breaker.hpp>
#include <faultline/retry/latency_percentile.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace fl = faultline;
namespace lim = faultline::limit;
using namespace std::chrono_literals;
using tp = std::chrono::steady_clock::time_point;

namespace {

const double not_a_number = std::numeric_limits<double>::quiet_NaN();
const double infinity = std::numeric_limits<double>::infinity();

// `make()` must throw std::system_error with `want` (non-empty), naming `name` in what().
template <class Make>
void check_refused(const std::error_code& want, std::string_view name, Make make) {
    BOOST_TEST_REQUIRE(!!want, "validate accepted options the test calls invalid");
    try {
        make();
        BOOST_ERROR(name << " was constructed from invalid options");
    } catch (const std::system_error& e) {
        BOOST_TEST((e.code() == want), e.code().message());
        BOOST_TEST(std::string_view(e.what()).find(name) != std::string_view::npos, e.what());
    }
}

template <class Options>
struct row {
    const char* what;
    Options o;
};

// The default options with one change.
template <class Options, class Change>
Options with(Change change) {
    Options o;
    change(o);
    return o;
}

// For each row: `validate` refuses it with invalid_argument, then `check(options, code)`.
template <class Options, class Check>
void for_each_refused(const std::vector<row<Options>>& rows, Check check) {
    for (const row<Options>& r : rows) {
        BOOST_TEST_CONTEXT(r.what) {
            const std::error_code want = validate(r.o);
            BOOST_TEST((want == std::errc::invalid_argument));
            check(r.o, want);
        }
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(construction)

BOOST_AUTO_TEST_CASE(buckets_refuse_at_construction_what_reconfigure_refuses) {
    const std::vector<row<lim::bucket_config>> rows{
        {"no tokens", {lim::rate::per_second(0), 1}},
        {"no burst", {lim::rate::per_second(1), 0}},
        {"a negative period", {lim::rate::per(1, -1s), 1}},
        {"a rate above 1e10/s", {lim::rate::per(100, 1ns), 1}},
        {"burst * interval out of range", {lim::rate::per(1, 24h), 1'000'000'000}},
    };
    lim::dynamic_token_bucket<> live({lim::rate::per_second(10), 5}, tp{});
    (void)live.try_acquire(2, tp{});
    lim::keyed_limiter<> keyed({.defaults = {lim::rate::per_second(10), 5}}, tp{});
    (void)keyed.try_acquire(7, 2, tp{});
    for_each_refused(rows, [&](const lim::bucket_config& cfg, const std::error_code& want) {
        check_refused(want, "faultline::limit::token_bucket",
                      [&] { lim::token_bucket<> b(cfg, tp{}); });
        check_refused(want, "faultline::limit::dynamic_token_bucket",
                      [&] { lim::dynamic_token_bucket<> b(cfg, tp{}); });
        check_refused(want, "faultline::limit::keyed_limiter",
                      [&] { lim::keyed_limiter<> k({.defaults = cfg}, tp{}); });
        // At run time: the same code, and the limiter goes on as before.
        BOOST_TEST((live.reconfigure(cfg, tp{}) == want));
        BOOST_TEST(live.burst() == 5u);
        BOOST_TEST(live.available(tp{}) == 3u);
        BOOST_TEST((keyed.set_override(7, cfg, tp{}) == want));
        BOOST_TEST(keyed.peek(7, 3, tp{}).admitted);
        BOOST_TEST(!keyed.peek(7, 4, tp{}).admitted);
    });
}

BOOST_AUTO_TEST_CASE(keyed_limiters_refuse_caps_out_of_range_instead_of_clamping) {
    const lim::bucket_config ok{lim::rate::per_second(1), 1};
    const std::vector<row<lim::keyed_options>> rows{
        {"no keys", {.defaults = ok, .max_keys = 0}},
        {"more than 2^56 keys", {.defaults = ok, .max_keys = (std::size_t{1} << 56) + 1}},
        {"SIZE_MAX keys", {.defaults = ok, .max_keys = std::numeric_limits<std::size_t>::max()}},
        {"more than 2^16 shards", {.defaults = ok, .shards = (std::size_t{1} << 16) + 1}},
        {"SIZE_MAX shards", {.defaults = ok, .shards = std::numeric_limits<std::size_t>::max()}},
    };
    for_each_refused(rows, [](const lim::keyed_options& o, const std::error_code& want) {
        check_refused(want, "faultline::limit::keyed_limiter",
                      [&] { lim::keyed_limiter<> k(o, tp{}); });
    });
    // The limits themselves are accepted (2^16 shards: limit_keyed), and memory grows with use,
    // not with the cap.
    const lim::keyed_options most{.defaults = ok, .max_keys = std::size_t{1} << 56};
    BOOST_TEST(!lim::validate(most));
    BOOST_TEST(!lim::validate(lim::keyed_options{.defaults = ok, .shards = std::size_t{1} << 16}));
    lim::keyed_limiter<> k(most, tp{});
    for (std::uint64_t key = 0; key < 100; ++key)
        BOOST_TEST(k.try_acquire(key, 1, tp{}).admitted);
    BOOST_TEST(k.size() == 100u);
    BOOST_TEST(k.memory_bytes() < (std::size_t{1} << 20));
    BOOST_TEST(!lim::validate(lim::keyed_options{.defaults = ok, .max_keys = 1, .shards = 0}));
}

BOOST_AUTO_TEST_CASE(shedding_adaptive_and_pacing_limiters_name_themselves) {
    lim::concurrency_limiter inner(1);
    const lim::priority_options shed{.max_wait = 0ns};
    check_refused(lim::validate(shed), "faultline::limit::prioritized_limiter",
                  [&] { lim::prioritized_limiter<lim::concurrency_limiter> l(inner, shed); });
    const lim::adaptive_options adapt{.min_window = 0ns};
    check_refused(lim::validate(adapt), "faultline::limit::adaptive_limiter", [&] {
        lim::adaptive_limiter<lim::aimd> l(lim::aimd::make().value(), adapt, tp{});
    });
    const lim::pacer_options pace{.margin = not_a_number};
    check_refused(lim::validate(pace), "faultline::limit::pacer", [&] { lim::pacer<> p(pace); });
}

BOOST_AUTO_TEST_CASE(retry_budgets_refuse_what_they_used_to_sanitise) {
    const std::vector<row<fl::retry_budget_options>> rows{
        {"a window under 10 ns", {9ns, 0.2, 1.0}},   {"a negative window", {-5s, 0.2, 1.0}},
        {"a NaN ratio", {10s, not_a_number, 1.0}},   {"a negative ratio", {10s, -0.1, 1.0}},
        {"an infinite ratio", {10s, infinity, 1.0}}, {"a NaN floor", {10s, 0.2, not_a_number}},
        {"a negative floor", {10s, 0.2, -3.0}},      {"a floor above 1e9", {10s, 0.2, 2e9}},
    };
    for_each_refused(rows, [](const fl::retry_budget_options& o, const std::error_code& want) {
        check_refused(want, "faultline::retry_budget", [&] { fl::retry_budget<> b(o); });
    });
    // The edges are accepted and mean what they say.
    fl::retry_budget<> none({10ns, 0.0, 0.0});
    none.record_request(tp{});
    BOOST_TEST(!none.try_acquire_retry(tp{}));
    fl::retry_budget<> most({10s, 1e9, 1e9});
    most.record_request(tp{});
    BOOST_TEST(most.try_acquire_retry(tp{}));
}

BOOST_AUTO_TEST_CASE(latency_percentiles_name_themselves) {
    const fl::latency_percentile_options bad{.capacity = 8, .min_samples = 9};
    check_refused(fl::validate(bad), "faultline::latency_percentile",
                  [&] { fl::latency_percentile p(bad); });
}

BOOST_AUTO_TEST_CASE(breakers_and_pools_refuse_what_they_used_to_sanitise) {
    const auto with = [](auto change) { return ::with<fl::circuit_breaker_options>(change); };
    const std::vector<row<fl::circuit_breaker_options>> rows{
        {"a negative cool-down", with([](auto& o) { o.cool_down = -5s; })},
        {"a cap below the cool-down", with([](auto& o) { o.max_cool_down = o.cool_down - 1ns; })},
        {"no half-open probes", with([](auto& o) { o.half_open_probes = 0; })},
        {"a NaN failure rate", with([](auto& o) { o.failure_rate_threshold = not_a_number; })},
        {"a negative failure rate", with([](auto& o) { o.failure_rate_threshold = -0.1; })},
        {"a negative window", with([](auto& o) { o.window = -1s; })},
    };
    for_each_refused(rows, [](const fl::circuit_breaker_options& o, const std::error_code& want) {
        check_refused(want, "faultline::circuit_breaker", [&] { fl::circuit_breaker<> b(o); });
        check_refused(want, "faultline::channel_pool", [&] { fl::channel_pool<> p(2, o); });
    });
    // The edges: no window (each outcome alone), no cool-down, the rate rule off (> 1).
    const fl::circuit_breaker_options edge = with([](auto& o) {
        o.window = 0s;
        o.cool_down = 0s;
        o.max_cool_down = 0s;
        o.failure_rate_threshold = 2.0;
        o.failure_threshold = 1;
    });
    BOOST_TEST(!fl::validate(edge));
    fl::circuit_breaker<> b(edge);
    b.record_failure(tp{}, fl::error::upstream_unavailable, 1h);
    BOOST_TEST((b.state(tp{}) == fl::circuit_state::half_open)); // no cool-down: probe at once
    BOOST_TEST(b.try_acquire(tp{}).has_value());
}

BOOST_AUTO_TEST_CASE(pipelines_refuse_invalid_options_at_construction) {
    const auto with = [](auto change) { return ::with<fl::pipeline_options>(change); };
    const std::vector<row<fl::pipeline_options>> rows{
        {"no targets", with([](auto& o) { o.targets = 0; })},
        {"65 targets", with([](auto& o) { o.targets = 65; })},
        {"a fallback to no target", with([](auto& o) {
             o.fallbacks = {{fl::category::overloaded, 1}};
         })},
        {"hedging without a delay", with([](auto& o) {
             o.hedge = {0s, 1};
         })},
    };
    for_each_refused(rows, [](const fl::pipeline_options& o, const std::error_code& want) {
        check_refused(want, "faultline::pipeline", [&] { fl::pipeline<> p(o, tp{}); });
    });
}

BOOST_AUTO_TEST_SUITE_END()

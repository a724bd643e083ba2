// faultline-loadgen's open loop: the arrival schedule as a value (no clock, no sleeping), the
// options and command line that ask for it, its report fields, and runs over loopback that
// check counts, never times.
#include "loadgen/arrivals.hpp"

#include "canned_server.hpp"
#include "loadgen/loadgen.hpp"
#include "upstream-sim/sim.hpp"

#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace lg = examples::loadgen;
namespace json = boost::json;
using namespace std::chrono_literals;
using std::chrono::nanoseconds;

namespace {

using loadgen_test::parse;

// The first `n` due times of a schedule, in nanoseconds.
std::vector<std::int64_t> due_times(lg::arrival_schedule s, std::size_t n) {
    std::vector<std::int64_t> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        out.push_back(s.next().count());
    return out;
}

struct gap_stats {
    double mean = 0, cv = 0;
    std::int64_t smallest = 0;
};

// Mean and coefficient of variation of the gaps between `n + 1` due times.
gap_stats gaps_of(lg::arrival_schedule s, std::size_t n) {
    const std::vector<std::int64_t> t = due_times(std::move(s), n + 1);
    double sum = 0, sum_sq = 0;
    gap_stats out;
    out.smallest = std::numeric_limits<std::int64_t>::max();
    for (std::size_t i = 1; i < t.size(); ++i) {
        const std::int64_t gap = t[i] - t[i - 1];
        out.smallest = std::min(out.smallest, gap);
        sum += static_cast<double>(gap);
        sum_sq += static_cast<double>(gap) * static_cast<double>(gap);
    }
    const double count = static_cast<double>(n);
    out.mean = sum / count;
    out.cv = std::sqrt(sum_sq / count - out.mean * out.mean) / out.mean;
    return out;
}

// A 64-bit URBG that always returns `value`: the ends of exponential_gap's input.
struct fixed_bits {
    using result_type = std::uint64_t;
    std::uint64_t value;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return ~std::uint64_t{0}; }
    result_type operator()() const { return value; }
};


lg::options loopback(std::uint16_t port) {
    lg::options o;
    o.url = examples::parse_base_url("http://127.0.0.1:" + std::to_string(port)).value();
    return o;
}

std::vector<std::string> ok_responses(std::size_t n) {
    return std::vector<std::string>(
        n, loadgen_test::json_response(200, "OK", R"({"choices":[{"message":{"content":"hi"}}]})"));
}

// A simulated upstream answering every chat completion at once, on a thread of its own, and
// counting what it read.
class instant_upstream {
public:
    instant_upstream() {
        examples::upstream_sim::channel_config c;
        c.name = "a";
        sim_ = std::make_unique<examples::upstream_sim::sim_server>(io_.get_executor(),
                                                                    std::vector{c});
        port_ = sim_->listen().value();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~instant_upstream() {
        io_.stop();
        thread_.join();
    }
    instant_upstream(const instant_upstream&) = delete;
    instant_upstream& operator=(const instant_upstream&) = delete;

    [[nodiscard]] lg::options options() const {
        lg::options o;
        o.url =
            examples::parse_base_url("http://127.0.0.1:" + std::to_string(port_) + "/a").value();
        return o;
    }
    [[nodiscard]] std::uint64_t requests() const { return sim_->snapshot().requests; }

private:
    boost::asio::io_context io_;
    std::unique_ptr<examples::upstream_sim::sim_server> sim_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(loadgen_arrivals)

BOOST_AUTO_TEST_CASE(constant_schedule_is_exact) {
    const std::vector<std::int64_t> quarter = due_times({lg::arrival_process::constant, 4, 1}, 5);
    BOOST_TEST(quarter == (std::vector<std::int64_t>{0, 250'000'000, 500'000'000, 750'000'000,
                                                     1'000'000'000}),
               boost::test_tools::per_element());
    // k / R rounded to the nanosecond, from the index: no drift after a million requests.
    lg::arrival_schedule thirds(lg::arrival_process::constant, 3, 1);
    for (std::int64_t k = 0; k < 1'000'000; ++k) {
        const std::int64_t expected = (k * 1'000'000'000 + 1) / 3; // round(k * 1e9 / 3)
        const std::int64_t got = thirds.next().count();
        if (got != expected) {
            BOOST_TEST(got == expected, "request " << k);
            break;
        }
    }
    const std::vector<std::int64_t> fastest =
        due_times({lg::arrival_process::constant, lg::max_rate, 7}, 4);
    BOOST_TEST(fastest == (std::vector<std::int64_t>{0, 1000, 2000, 3000}),
               boost::test_tools::per_element());
    // The seed changes nothing for a constant schedule.
    BOOST_TEST(due_times({lg::arrival_process::constant, 7.5, 1}, 100) ==
                   due_times({lg::arrival_process::constant, 7.5, 99}, 100),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(poisson_schedule_is_a_function_of_the_seed) {
    const auto a = due_times({lg::arrival_process::poisson, 100, 42}, 1000);
    const auto b = due_times({lg::arrival_process::poisson, 100, 42}, 1000);
    const auto c = due_times({lg::arrival_process::poisson, 100, 43}, 1000);
    BOOST_TEST(a == b, boost::test_tools::per_element());
    BOOST_TEST(a.front() == 0);
    std::size_t same = 0;
    for (std::size_t i = 1; i < a.size(); ++i)
        same += a[i] == c[i];
    BOOST_TEST(same == 0u);
}

BOOST_AUTO_TEST_CASE(poisson_gaps_are_exponential_with_mean_one_over_the_rate) {
    constexpr std::size_t draws = 200'000;
    for (const double rate : {0.5, 250.0, 1000.0, lg::max_rate}) {
        for (const std::uint64_t seed : {1ull, 2ull, 0xdeadbeefull}) {
            BOOST_TEST_CONTEXT("rate " << rate << ", seed " << seed) {
                const gap_stats g = gaps_of({lg::arrival_process::poisson, rate, seed}, draws);
                const double expected_mean = 1e9 / rate;
                BOOST_TEST(std::abs(g.mean - expected_mean) <= 0.01 * expected_mean);
                BOOST_TEST(std::abs(g.cv - 1.0) <= 0.02);
                BOOST_TEST(g.smallest >= 1); // no zero or negative gap
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(exponential_gap_is_finite_and_positive_at_the_ends_of_its_input) {
    fixed_bits all_ones{~std::uint64_t{0}}; // u = 1: a zero gap, not a negative one
    BOOST_TEST(lg::arrival_schedule::exponential_gap(all_ones, 10) == 0.0);
    fixed_bits zero{0}; // u = 2^-53, the smallest: 53 ln 2 / rate, not infinity
    const double longest = lg::arrival_schedule::exponential_gap(zero, 10);
    BOOST_TEST(std::isfinite(longest));
    BOOST_TEST(std::abs(longest - 53 * std::log(2.0) / 10) <= 1e-12);
    // Gaps that round to 0 ns still advance the schedule by 1 ns.
    lg::arrival_schedule s(lg::arrival_process::poisson, lg::max_rate, 5);
    std::int64_t last = -1;
    for (int i = 0; i < 100'000; ++i) {
        const std::int64_t t = s.next().count();
        if (t <= last) {
            BOOST_TEST(t > last, "draw " << i);
            break;
        }
        last = t;
    }
}

BOOST_AUTO_TEST_CASE(tiny_rates_stay_finite) {
    lg::arrival_schedule s(lg::arrival_process::constant, 1e-300, 1);
    BOOST_TEST(s.next().count() == 0);
    const std::int64_t second = s.next().count();
    BOOST_TEST(second == 1'000'000'000'000'000'000);
    BOOST_TEST(s.next().count() == second + 1);
}

BOOST_AUTO_TEST_CASE(rates_that_are_not_rates_are_refused) {
    for (const double bad : {0.0, -1.0, -0.0, std::nan(""), std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity(), lg::max_rate * 1.000001}) {
        BOOST_TEST_CONTEXT(bad) {
            BOOST_TEST(!lg::rate_problem(bad).empty());
            BOOST_CHECK_THROW(lg::arrival_schedule(lg::arrival_process::poisson, bad, 1),
                              std::invalid_argument);
            lg::options o = loopback(1);
            o.requests = 1;
            o.rate = bad;
            BOOST_TEST(lg::validate(o) == "the rate must be a number in (0, 1000000]");
            BOOST_CHECK_THROW((void)lg::run(o), std::invalid_argument);
        }
    }
    for (const double good : {1e-9, 0.5, 1.0, 250.0, lg::max_rate})
        BOOST_TEST(lg::rate_problem(good).empty());
}

BOOST_AUTO_TEST_CASE(arrival_process_names) {
    BOOST_TEST(lg::to_string(lg::arrival_process::constant) == "constant");
    BOOST_TEST(lg::to_string(lg::arrival_process::poisson) == "poisson");
    BOOST_TEST((lg::parse_arrival_process("constant") == lg::arrival_process::constant));
    BOOST_TEST((lg::parse_arrival_process("poisson") == lg::arrival_process::poisson));
    for (const std::string_view bad : {"", "Poisson", "uniform", "constant "})
        BOOST_TEST(!lg::parse_arrival_process(bad).has_value());
}

BOOST_AUTO_TEST_CASE(command_line_rate_and_arrival) {
    const auto open =
        parse({"--url", "http://h", "--requests", "5", "--rate", "250.5", "--arrival", "constant"});
    const auto& o = std::get<lg::command_line>(open).run;
    BOOST_TEST((o.rate == std::optional<double>(250.5)));
    BOOST_TEST((o.arrival == lg::arrival_process::constant));
    BOOST_TEST(lg::validate(o).empty());
    const auto poisson = parse({"--url", "http://h", "--requests", "5", "--rate=1000000"});
    BOOST_TEST((std::get<lg::command_line>(poisson).run.arrival == lg::arrival_process::poisson));
    const auto closed = parse({"--url", "http://h", "--requests", "5"});
    BOOST_TEST(!std::get<lg::command_line>(closed).run.rate.has_value());

    using P = lg::usage_problem;
    for (const std::string_view bad :
         {"0", "-1", "nan", "NaN", "inf", "1000001", "1e7", "abc", "", "+5", "5/s"}) {
        BOOST_TEST_CONTEXT(bad) {
            const auto r = parse({"--url", "http://h", "--requests", "5", "--rate", bad});
            const auto* e = std::get_if<lg::usage_error>(&r);
            BOOST_TEST_REQUIRE(e != nullptr);
            BOOST_TEST((e->problem == P::invalid_value));
            BOOST_TEST(e->message.starts_with("--rate: must be a number of requests per second"));
        }
    }
    const auto bogus =
        parse({"--url", "http://h", "--requests", "5", "--rate", "5", "--arrival", "uniform"});
    BOOST_TEST((std::get<lg::usage_error>(bogus).problem == P::invalid_value));
    BOOST_TEST(std::get<lg::usage_error>(bogus).message ==
               "--arrival: must be constant or poisson, not 'uniform'");
    const auto alone = parse({"--url", "http://h", "--requests", "5", "--arrival", "constant"});
    BOOST_TEST((std::get<lg::usage_error>(alone).problem == P::inconsistent_options));
    BOOST_TEST(std::get<lg::usage_error>(alone).message == "--arrival: needs --rate");
    BOOST_TEST((std::get<lg::usage_error>(parse({"--url", "http://h", "--requests", "5", "--rate"}))
                    .problem == P::missing_value));
}

BOOST_AUTO_TEST_CASE(report_fields_of_an_open_and_a_closed_loop) {
    lg::options o = loopback(8080);
    o.requests = 10;
    const json::object closed = lg::to_json(lg::report(lg::settings_of(o)));
    BOOST_TEST(closed.at("config").at("rate").is_null());
    BOOST_TEST(closed.at("config").at("arrival").is_null());
    BOOST_TEST(closed.at("schedule_lag_ms").is_null());
    BOOST_TEST(lg::summary(lg::report(lg::settings_of(o))).find("open loop") == std::string::npos);

    o.rate = 2.5;
    o.arrival = lg::arrival_process::constant;
    lg::report r(lg::settings_of(o));
    r.schedule_lag.record(2ms);
    r.schedule_lag.record(4ms);
    const json::object open = lg::to_json(r);
    BOOST_TEST(open.at("config").at("rate").to_number<double>() == 2.5);
    BOOST_TEST(open.at("config").at("arrival").as_string() == "constant");
    const json::object& lag = open.at("schedule_lag_ms").as_object();
    BOOST_TEST(lag.at("count").to_number<int>() == 2);
    BOOST_TEST(lag.at("min").to_number<double>() == 2.0);
    BOOST_TEST(lag.at("max").to_number<double>() == 4.0);
    BOOST_TEST(open.size() == closed.size());
    const std::string s = lg::summary(r);
    BOOST_TEST(s.find("  open loop    constant arrivals, 2.5 req/s\n") != std::string::npos);
    BOOST_TEST(s.find("  start lag    min 2 ms  ") != std::string::npos);

    const std::string help = lg::help_text();
    for (const std::string_view word : {"--rate", "--arrival", "schedule_lag_ms", "rate|null",
                                        "arrival|null", "constant", "poisson"})
        BOOST_TEST(help.find(word) != std::string::npos, word);
}

// Every scheduled request is sent, answered and reported, and each has a start lag; only
// counts are checked (the rate is high enough that the run takes milliseconds).
BOOST_AUTO_TEST_CASE(open_loop_run_sends_and_reports_every_scheduled_request) {
    for (const auto process : {lg::arrival_process::constant, lg::arrival_process::poisson}) {
        for (const unsigned connections : {1u, 4u}) {
            BOOST_TEST_CONTEXT(lg::to_string(process) << ", " << connections << " connections") {
                constexpr std::uint64_t n = 60;
                loadgen_test::canned_server server(ok_responses(n));
                lg::options o = loopback(server.port());
                o.requests = n;
                o.connections = connections;
                o.rate = 20'000;
                o.arrival = process;
                o.seed = 11;
                const lg::report r = lg::run(o);
                server.stop();
                BOOST_TEST(server.requests.size() == n);
                BOOST_TEST(r.requests == n);
                BOOST_TEST(r.ok == n);
                BOOST_TEST(r.aborted == 0u);
                BOOST_TEST(r.latency.count() == n);
                BOOST_TEST(r.schedule_lag.count() == n);
                BOOST_TEST(r.schedule_lag.min().count() >= 0);
                BOOST_TEST((r.settings.rate == std::optional<double>(20'000)));
                BOOST_TEST((r.settings.arrival == process));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(closed_loop_run_records_no_schedule_lag) {
    constexpr std::uint64_t n = 10;
    loadgen_test::canned_server server(ok_responses(n));
    lg::options o = loopback(server.port());
    o.requests = n;
    o.connections = 2;
    const lg::report r = lg::run(o);
    server.stop();
    BOOST_TEST(r.requests == n);
    BOOST_TEST(r.schedule_lag.count() == 0u);
    BOOST_TEST(lg::to_json(r).at("schedule_lag_ms").is_null());
}

// ---------------------------------------------------------------------------------------------
// warm-up

BOOST_AUTO_TEST_CASE(warmup_split_by_when_a_request_starts) {
    using time_point = lg::warmup_split::time_point;
    const time_point start(10s);
    const lg::warmup_split split(start, 2000ms);
    BOOST_TEST((split.measured_from() == time_point(12s)));
    BOOST_TEST(!split.measured(start));
    BOOST_TEST(!split.measured(time_point(12s) - 1ns));
    BOOST_TEST(split.measured(time_point(12s)));
    BOOST_TEST(split.measured(time_point(1h)));
    const lg::warmup_split none(start, std::nullopt);
    BOOST_TEST((none.measured_from() == start));
    BOOST_TEST(none.measured(start));
    BOOST_TEST(!none.measured(start - 1ns)); // nothing starts before the run
}

BOOST_AUTO_TEST_CASE(command_line_and_validate_warmup) {
    const auto r = parse({"--url", "http://h", "--requests", "5", "--warmup", "2s"});
    BOOST_TEST((std::get<lg::command_line>(r).run.warmup == std::optional(2000ms)));
    const auto d = parse({"--url", "http://h", "--duration", "10s", "--warmup=250"});
    BOOST_TEST((std::get<lg::command_line>(d).run.warmup == std::optional(250ms)));
    BOOST_TEST(!std::get<lg::command_line>(parse({"--url", "http://h", "--requests", "5"}))
                    .run.warmup.has_value());
    for (const std::string_view bad : {"0", "0s", "-1s", "1.5s", "x", "", "20000m"}) {
        BOOST_TEST_CONTEXT(bad) {
            const auto e = parse({"--url", "http://h", "--requests", "5", "--warmup", bad});
            BOOST_TEST_REQUIRE(std::holds_alternative<lg::usage_error>(e));
            BOOST_TEST((std::get<lg::usage_error>(e).problem == lg::usage_problem::invalid_value));
        }
    }
    // A warm-up is no bound: a run still needs --duration or --requests.
    const auto unbounded = parse({"--url", "http://h", "--warmup", "1s"});
    BOOST_TEST((std::get<lg::usage_error>(unbounded).problem == lg::usage_problem::missing_bound));
    lg::options o = loopback(1);
    o.warmup = 1s;
    BOOST_TEST(lg::validate(o) == "give a duration, a request count or both");
    o.requests = 1;
    BOOST_TEST(lg::validate(o).empty());
    o.warmup = 0ms;
    BOOST_TEST(lg::validate(o) == "the warm-up must be positive");
    BOOST_CHECK_THROW((void)lg::run(o), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(report_fields_of_a_warmup) {
    lg::options o = loopback(8080);
    o.duration = 10s;
    lg::report none(lg::settings_of(o));
    BOOST_TEST(lg::to_json(none).at("config").at("warmup_ms").is_null());
    BOOST_TEST(lg::to_json(none).at("warmup_requests").to_number<int>() == 0);
    BOOST_TEST(lg::summary(none).find("warm-up") == std::string::npos);
    o.warmup = 1500ms;
    lg::report r(lg::settings_of(o));
    r.warmup_requests = 12;
    const json::object j = lg::to_json(r);
    BOOST_TEST(j.at("config").at("warmup_ms").to_number<int>() == 1500);
    BOOST_TEST(j.at("warmup_requests").to_number<int>() == 12);
    BOOST_TEST(
        lg::summary(r).find("  warm-up      12 requests in the first 1.5 s, not measured\n") !=
        std::string::npos);
    const std::string help = lg::help_text();
    for (const std::string_view word : {"--warmup", "warmup_ms", "warmup_requests"})
        BOOST_TEST(help.find(word) != std::string::npos, word);
}

// An open loop splits by scheduled time, so the split is exact whatever the machine's speed:
// constant arrivals every 0.5 ms and a 20 ms warm-up make requests 0..39 the warm-up's.
BOOST_AUTO_TEST_CASE(open_loop_warmup_is_split_by_schedule) {
    constexpr std::uint64_t warmup = 40, measured = 30;
    loadgen_test::canned_server server(ok_responses(warmup + measured));
    lg::options o = loopback(server.port());
    o.rate = 2000;
    o.arrival = lg::arrival_process::constant;
    o.warmup = 20ms;
    o.requests = measured;
    o.connections = 3;
    const lg::report r = lg::run(o);
    server.stop();
    BOOST_TEST(r.warmup_requests == warmup);
    BOOST_TEST(r.requests == measured);
    BOOST_TEST(r.ok == measured);
    BOOST_TEST(r.latency.count() == measured);
    BOOST_TEST(r.schedule_lag.count() == measured);
    BOOST_TEST(server.requests.size() == warmup + measured);
    std::uint64_t in_series = 0;
    for (const auto& second : r.series.seconds())
        in_series += second.requests;
    BOOST_TEST(in_series == measured);
}

// A closed loop's warm-up lasts a time, so how many requests it holds depends on the machine:
// only the invariants are checked.
BOOST_AUTO_TEST_CASE(closed_loop_warmup_counts_every_request_once) {
    instant_upstream upstream;
    lg::options o = upstream.options();
    o.warmup = 20ms;
    o.requests = 25;
    o.connections = 2;
    const lg::report r = lg::run(o);
    BOOST_TEST(r.requests == 25u);
    BOOST_TEST(r.ok == 25u);
    BOOST_TEST(r.latency.count() == 25u);
    BOOST_TEST(r.aborted == 0u);
    BOOST_TEST(r.requests + r.warmup_requests == upstream.requests());
}

BOOST_AUTO_TEST_SUITE_END()

// faultline-inspect backoff: what a backoff policy will do, before deploying it.

#include "commands.hpp"
#include "io.hpp"

#include "common/json.hpp"

#include <faultline/retry/backoff.hpp>

#include <boost/json/value.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace inspect {

namespace {

constexpr const char* description =
    R"(Samples K schedules of N retries of a backoff policy and prints, per retry, one JSON object on
one line:

  {"attempt": i, "min_ms": .., "p50_ms": .., "p90_ms": .., "max_ms": ..}

  attempt   1 for the delay before the first retry, 2 before the second, ...
  *_ms      the smallest, median, 90th percentile (nearest rank) and largest delay over the K
            schedules, in milliseconds: an integer when whole, else a plain decimal rounded
            to the microsecond (e.g. 499.106))";

constexpr const char* footer = "exit status: 0 printed, 2 usage error.";

boost::json::value ms(std::chrono::nanoseconds d) {
    if (d.count() % 1'000'000 == 0) return d.count() / 1'000'000;
    // Microsecond precision is plenty for a delay; printed as a plain decimal (499.106).
    return std::round(static_cast<double>(d.count()) / 1e3) / 1e3;
}

} // namespace

int run_backoff(std::span<char* const> args) {
    constexpr std::uint64_t max_ms = 86'400'000; // one day
    std::optional<faultline::backoff_kind> kind;
    std::optional<std::uint64_t> base, cap, attempts;
    std::optional<double> multiplier;
    std::uint64_t samples = 1000, seed = 1;
    examples::command_line cl("faultline-inspect backoff",
                              "--policy P --base MS --cap MS [--multiplier X] --attempts N "
                              "[--samples K] [--seed S]",
                              description, footer);
    cl.value("--policy", "P",
             "constant | exponential | full | equal | decorrelated\n"
             "(the last three are full, equal and decorrelated jitter)",
             [&kind](const std::string& v) {
                 faultline::backoff_kind k{};
                 if (!faultline::from_string(v, k))
                     throw examples::bad_value{
                         "constant, exponential, full, equal or decorrelated"};
                 kind = k;
             });
    cl.whole("--base", "MS", "first delay, or the constant delay (0..86400000)", 0, max_ms, base);
    cl.whole("--cap", "MS", "largest delay (>= base, <= 86400000); ignored by 'constant'", 0,
             max_ms, cap);
    cl.value("--multiplier", "X", "growth per retry, >= 1 (default 2; 3 for decorrelated)",
             [&multiplier](const std::string& v) {
                 multiplier = examples::parse_double(v, 1.0, 1e6);
                 if (!multiplier) throw examples::bad_value{"a number from 1 to 1000000"};
             });
    cl.whole("--attempts", "N", "retries to show (1..10000)", 1, 10'000, attempts);
    cl.whole("--samples", "K", "schedules to sample (1..1000000, default 1000)", 1, 1'000'000,
             samples);
    cl.whole("--seed", "S", "seed of the generator (default 1), so runs are reproducible", 0,
             UINT64_MAX, seed);
    if (const examples::parse_outcome p = cl.parse(args); p.what != examples::parse_ending::run)
        return cl.finish(p);
    if (!kind) return cl.fail("--policy: is required");
    if (!base) return cl.fail("--base: is required");
    if (!attempts) return cl.fail("--attempts: is required");
    if (!cap && *kind != faultline::backoff_kind::constant) return cl.fail("--cap: is required");
    if (*kind == faultline::backoff_kind::constant) cap = base;
    if (*cap < *base) return cl.fail("--cap: must not be below --base");
    // Bounded work: attempts * samples delays at most.
    if (*attempts * samples > 20'000'000)
        return cl.fail("--attempts times --samples: must not exceed 20000000");

    const faultline::backoff policy{
        *kind, std::chrono::milliseconds(*base), std::chrono::milliseconds(*cap),
        multiplier.value_or(*kind == faultline::backoff_kind::decorrelated_jitter ? 3.0 : 2.0)};

    // delays[attempt][sample]
    const auto n = static_cast<std::size_t>(*attempts);
    const auto k = static_cast<std::size_t>(samples);
    std::vector<std::vector<std::chrono::nanoseconds>> delays(
        n, std::vector<std::chrono::nanoseconds>(k));
    faultline::splitmix64 rng(seed);
    for (std::size_t s = 0; s < k; ++s) {
        std::chrono::nanoseconds previous{};
        for (std::size_t a = 0; a < n; ++a)
            delays[a][s] = previous =
                policy.next_delay(static_cast<unsigned>(a + 1), previous, rng);
    }
    const auto rank = [&](double q) {
        return static_cast<std::size_t>(std::ceil(q * static_cast<double>(k))) - 1;
    };
    for (std::size_t a = 0; a < n; ++a) {
        auto& d = delays[a];
        std::sort(d.begin(), d.end());
        boost::json::object out;
        out["attempt"] = a + 1;
        out["min_ms"] = ms(d.front());
        out["p50_ms"] = ms(d[rank(0.5)]);
        out["p90_ms"] = ms(d[rank(0.9)]);
        out["max_ms"] = ms(d.back());
        const std::string line = examples::to_plain_json(out) + '\n';
        std::fwrite(line.data(), 1, line.size(), stdout);
    }
    return 0;
}

} // namespace inspect

// faultline-inspect backoff: what a backoff policy will do, before deploying it.

#include "commands.hpp"
#include "io.hpp"

#include <faultline/retry/backoff.hpp>

#include <boost/json/serialize.hpp>
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

constexpr const char* backoff_help =
    R"(usage: faultline-inspect backoff --policy P --base MS --cap MS [--multiplier X] --attempts N [--samples K] [--seed S]

Samples K schedules of N retries of a backoff policy and prints, per retry, one JSON object on
one line:

  {"attempt": i, "min_ms": .., "p50_ms": .., "p90_ms": .., "max_ms": ..}

  attempt   1 for the delay before the first retry, 2 before the second, ...
  *_ms      the smallest, median, 90th percentile (nearest rank) and largest delay over the K
            schedules, in milliseconds: an integer when whole, else a number rounded to
            the microsecond (in Boost.JSON's exponent notation, e.g. 4.99106E2)

options:
  --policy P        constant | exponential | full | equal | decorrelated
                    (the last three are full, equal and decorrelated jitter)
  --base MS         first delay, or the constant delay (0..86400000)
  --cap MS          largest delay (>= base, <= 86400000); ignored by 'constant'
  --multiplier X    growth per retry, >= 1 (default 2; 3 for decorrelated)
  --attempts N      retries to show (1..10000)
  --samples K       schedules to sample (1..1000000, default 1000)
  --seed S          seed of the generator (default 1), so runs are reproducible
  --help            this text

exit status: 0 printed, 2 usage error.
)";

std::optional<double> parse_double(std::string_view s) {
    double v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v))
        return std::nullopt;
    return v;
}

boost::json::value ms(std::chrono::nanoseconds d) {
    if (d.count() % 1'000'000 == 0) return d.count() / 1'000'000;
    // Microsecond precision is plenty for a delay; Boost.JSON writes it as e.g. 4.99106E2.
    return std::round(static_cast<double>(d.count()) / 1e3) / 1e3;
}

} // namespace

int run_backoff(std::span<char*> args) {
    constexpr std::string_view tool = "backoff";
    constexpr std::uint64_t max_ms = 86'400'000; // one day
    std::optional<faultline::backoff_kind> kind;
    std::optional<std::uint64_t> base, cap, attempts;
    std::optional<double> multiplier;
    std::uint64_t samples = 1000, seed = 1;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        if (a == "--help" || a == "-h") {
            std::fputs(backoff_help, stdout);
            return 0;
        }
        if (a != "--policy" && a != "--base" && a != "--cap" && a != "--multiplier" &&
            a != "--attempts" && a != "--samples" && a != "--seed")
            return usage_error(tool, "unknown argument '" + std::string(a) + "'");
        const auto v = next_value(args, i);
        if (!v) return usage_error(tool, std::string(a) + " needs a value");
        if (a == "--policy") {
            faultline::backoff_kind k{};
            if (!faultline::from_string(*v, k))
                return usage_error(tool, "--policy must be constant, exponential, full, equal or "
                                         "decorrelated");
            kind = k;
        } else if (a == "--base") {
            if (!(base = parse_uint(*v, max_ms)))
                return usage_error(tool, "--base must be whole milliseconds from 0 to 86400000");
        } else if (a == "--cap") {
            if (!(cap = parse_uint(*v, max_ms)))
                return usage_error(tool, "--cap must be whole milliseconds from 0 to 86400000");
        } else if (a == "--multiplier") {
            multiplier = parse_double(*v);
            if (!multiplier || *multiplier < 1.0 || *multiplier > 1e6)
                return usage_error(tool, "--multiplier must be a number from 1 to 1000000");
        } else if (a == "--attempts") {
            attempts = parse_uint(*v, 10'000);
            if (!attempts || *attempts == 0)
                return usage_error(tool, "--attempts must be a whole number from 1 to 10000");
        } else if (a == "--samples") {
            const auto n = parse_uint(*v, 1'000'000);
            if (!n || *n == 0)
                return usage_error(tool, "--samples must be a whole number from 1 to 1000000");
            samples = *n;
        } else {
            const auto n = parse_uint(*v, UINT64_MAX);
            if (!n) return usage_error(tool, "--seed must be a whole number");
            seed = *n;
        }
    }
    if (!kind) return usage_error(tool, "--policy is required");
    if (!base) return usage_error(tool, "--base is required");
    if (!attempts) return usage_error(tool, "--attempts is required");
    if (!cap && *kind != faultline::backoff_kind::constant)
        return usage_error(tool, "--cap is required");
    if (*kind == faultline::backoff_kind::constant) cap = base;
    if (*cap < *base) return usage_error(tool, "--cap must not be below --base");
    // Bounded work: attempts * samples delays at most.
    if (*attempts * samples > 20'000'000)
        return usage_error(tool, "--attempts times --samples must not exceed 20000000");

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
        const std::string line = boost::json::serialize(out) + '\n';
        std::fwrite(line.data(), 1, line.size(), stdout);
    }
    return 0;
}

} // namespace inspect

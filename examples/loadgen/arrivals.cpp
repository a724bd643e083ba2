#include "loadgen/arrivals.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace examples::loadgen {

namespace {

constexpr double max_offset_ns = 1e18; // about 31 years

} // namespace

std::string_view to_string(arrival_process p) noexcept {
    switch (p) {
    case arrival_process::constant:
        return "constant";
    case arrival_process::poisson:
        return "poisson";
    }
    return "poisson";
}

std::optional<arrival_process> parse_arrival_process(std::string_view name) noexcept {
    if (name == "constant") return arrival_process::constant;
    if (name == "poisson") return arrival_process::poisson;
    return std::nullopt;
}

std::string_view rate_problem(double rate) noexcept {
    if (!(rate > 0 && rate <= max_rate)) return "the rate must be a number in (0, 1000000]";
    return {};
}

arrival_schedule::arrival_schedule(arrival_process process, double rate, std::uint64_t seed)
    : process_(process)
    , rate_(rate)
    , rng_(seed) {
    if (const std::string_view problem = rate_problem(rate); !problem.empty())
        throw std::invalid_argument(std::string(problem));
}

std::chrono::nanoseconds arrival_schedule::next() noexcept {
    double due_ns = 0;
    if (process_ == arrival_process::constant) {
        // From the index, not a running sum: no drift however long the run.
        due_ns = static_cast<double>(index_) * 1e9 / rate_;
    } else {
        due_ns = sum_ns_;
        sum_ns_ += exponential_gap(rng_, rate_) * 1e9;
    }
    ++index_;
    // Far past any run's end (a tiny rate's gaps): kept finite, and a time point can hold it.
    due_ns = std::min(due_ns, max_offset_ns);
    const auto rounded = static_cast<std::int64_t>(std::llround(due_ns));
    last_ns_ = std::max(rounded, last_ns_ + 1);
    return std::chrono::nanoseconds(last_ns_);
}

} // namespace examples::loadgen

#ifndef FAULTLINE_RETRY_IMPL_LATENCY_PERCENTILE_HPP
#define FAULTLINE_RETRY_IMPL_LATENCY_PERCENTILE_HPP

#include <algorithm>
#include <cmath>

namespace faultline {

inline std::error_code validate(const latency_percentile_options& o) noexcept {
    if (o.capacity == 0 || o.capacity > (std::size_t{1} << 20) ||
        !(o.percentile > 0.0 && o.percentile <= 1.0) || o.min_samples == 0 ||
        o.min_samples > o.capacity || o.refresh_every == 0)
        return std::make_error_code(std::errc::invalid_argument);
    return {};
}

inline latency_percentile::latency_percentile(latency_percentile_options options)
    : options_(options) {
    if (auto ec = validate(options_)) throw std::system_error(ec, "faultline::latency_percentile");
    samples_.resize(options_.capacity);
    scratch_.resize(options_.capacity);
}

inline void latency_percentile::record(std::chrono::nanoseconds latency) noexcept {
    const std::int64_t v = latency.count() > 0 ? latency.count() : 0;
    const std::lock_guard lock(mutex_);
    samples_[next_] = v;
    next_ = next_ + 1 == samples_.size() ? 0 : next_ + 1;
    if (size_ < samples_.size()) ++size_;
    ++since_refresh_;
    if (size_ < options_.min_samples) return;
    if (value_.load(std::memory_order_relaxed) < 0 || since_refresh_ >= options_.refresh_every)
        recompute_locked();
}

inline std::size_t latency_percentile::size() const noexcept {
    const std::lock_guard lock(mutex_);
    return size_;
}

inline void latency_percentile::recompute_locked() noexcept {
    // The ring fills from its start, so its first `size_` slots are the samples.
    const auto first = scratch_.begin();
    std::copy_n(samples_.begin(), size_, first);
    // Nearest rank: ceil(percentile * n), where a product within rounding of a whole number is
    // that number (0.07 * 100 is 7.000000000000001 in binary, and its rank is 7, not 8).
    const double exact = options_.percentile * static_cast<double>(size_);
    const double whole = std::round(exact);
    const double rank = std::abs(exact - whole) <= 1e-9 * exact ? whole : std::ceil(exact);
    const std::size_t k = std::clamp<std::size_t>(static_cast<std::size_t>(rank), 1, size_) - 1;
    std::nth_element(first, first + static_cast<std::ptrdiff_t>(k),
                     first + static_cast<std::ptrdiff_t>(size_));
    value_.store(first[static_cast<std::ptrdiff_t>(k)], std::memory_order_relaxed);
    since_refresh_ = 0;
}

} // namespace faultline

#endif

#include "loadgen/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace examples::loadgen {

namespace {

constexpr std::uint64_t sub_buckets = std::uint64_t(1) << latency_histogram::sub_bucket_bits;
constexpr auto highest_ns = static_cast<std::uint64_t>(latency_histogram::highest.count());

// Values below 2 * sub_buckets map to themselves; above, the power of two sets the shift and
// the top sub_bucket_bits + 1 bits of the value the bucket within it.
constexpr std::size_t index_of(std::uint64_t v) noexcept {
    const unsigned top = static_cast<unsigned>(std::bit_width(v | 1)) - 1;
    const unsigned shift =
        top > latency_histogram::sub_bucket_bits ? top - latency_histogram::sub_bucket_bits : 0;
    return static_cast<std::size_t>(shift * sub_buckets + (v >> shift));
}

struct bucket_range {
    std::uint64_t low;
    std::uint64_t width;
};

constexpr bucket_range range_of(std::size_t index) noexcept {
    if (index < 2 * sub_buckets) return {index, 1};
    const std::uint64_t shift = index / sub_buckets - 1;
    return {(index - shift * sub_buckets) << shift, std::uint64_t(1) << shift};
}

constexpr std::size_t buckets = index_of(highest_ns) + 1;

static_assert(index_of(127) == 127 && index_of(255) == 255 && index_of(256) == 256);
static_assert(range_of(index_of(1000)).low <= 1000 &&
              1000 < range_of(index_of(1000)).low + range_of(index_of(1000)).width);
static_assert(range_of(index_of(highest_ns)).low <= highest_ns);

} // namespace

latency_histogram::latency_histogram()
    : counts_(buckets, 0) {}

void latency_histogram::record(std::chrono::nanoseconds latency) noexcept {
    const std::uint64_t v = latency.count() < 0 ? 0 : static_cast<std::uint64_t>(latency.count());
    ++counts_[index_of(std::min(v, highest_ns))];
    if (v > highest_ns) ++clamped_;
    min_ns_ = count_ == 0 ? v : std::min(min_ns_, v);
    max_ns_ = count_ == 0 ? v : std::max(max_ns_, v);
    sum_ns_ += static_cast<double>(v);
    ++count_;
}

void latency_histogram::merge(const latency_histogram& other) noexcept {
    if (other.count_ == 0) return;
    for (std::size_t i = 0; i < buckets; ++i)
        counts_[i] += other.counts_[i];
    min_ns_ = count_ == 0 ? other.min_ns_ : std::min(min_ns_, other.min_ns_);
    max_ns_ = count_ == 0 ? other.max_ns_ : std::max(max_ns_, other.max_ns_);
    count_ += other.count_;
    clamped_ += other.clamped_;
    sum_ns_ += other.sum_ns_;
}

void latency_histogram::reset() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = clamped_ = min_ns_ = max_ns_ = 0;
    sum_ns_ = 0;
}

std::chrono::nanoseconds latency_histogram::min() const noexcept {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(min_ns_));
}

std::chrono::nanoseconds latency_histogram::max() const noexcept {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(max_ns_));
}

std::chrono::nanoseconds latency_histogram::mean() const noexcept {
    if (count_ == 0) return {};
    return std::chrono::nanoseconds(
        static_cast<std::int64_t>(std::llround(sum_ns_ / static_cast<double>(count_))));
}

std::chrono::nanoseconds latency_histogram::percentile(double p) const noexcept {
    if (count_ == 0) return {};
    if (!(p > 0)) return min();
    if (p >= 100) return max();
    const double exact_rank = std::ceil(p / 100.0 * static_cast<double>(count_));
    const auto rank = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(exact_rank), 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            const bucket_range r = range_of(i);
            const std::uint64_t middle = r.low + (r.width - 1) / 2;
            return std::chrono::nanoseconds(
                static_cast<std::int64_t>(std::clamp(middle, min_ns_, max_ns_)));
        }
    }
    return max();
}

std::size_t latency_histogram::bucket_count() noexcept {
    return buckets;
}

std::size_t latency_histogram::footprint_bytes() const noexcept {
    return sizeof(*this) + counts_.capacity() * sizeof(std::uint64_t);
}

} // namespace examples::loadgen

#ifndef FAULTLINE_EXAMPLES_LOADGEN_HISTOGRAM_HPP
#define FAULTLINE_EXAMPLES_LOADGEN_HISTOGRAM_HPP

// A latency histogram whose memory does not grow with the number of samples, so a load run of
// any length keeps exact counts and percentiles within a known error.
//
//     examples::loadgen::latency_histogram h;
//     h.record(std::chrono::microseconds(1830));
//     std::chrono::nanoseconds p99 = h.percentile(99.0); // within 1/256 of the exact value
//
// Buckets are log-linear, laid out as HdrHistogram lays them out: every value below 128 ns has
// its own bucket, and each power of two above is split into 128 equal buckets, so a bucket is
// at most 1/128 as wide as its lower bound. A percentile is reported as the middle of the bucket
// holding the nearest-rank sample, hence off by at most 1/256 (0.4 %) of that sample. The range
// is 0 .. 1 h (4562 buckets, 36 KiB); longer samples are counted in the top bucket, and `max()`
// stays exact.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace examples::loadgen {

/// Counts of latencies in log-linear buckets. A value type. Not thread-safe.
class latency_histogram {
public:
    /// log2 of the buckets per power of two.
    static constexpr unsigned sub_bucket_bits = 7;
    /// The largest value recorded precisely; longer samples land in the top bucket.
    static constexpr std::chrono::nanoseconds highest = std::chrono::hours(1);
    /// Upper bound of |reported - exact| / exact for any percentile of samples <= `highest`.
    static constexpr double relative_error = 1.0 / (2u << sub_bucket_bits);

    /// An empty histogram; allocates its fixed bucket array once. Not thread-safe.
    latency_histogram();

    /// Counts one sample; negative values count as 0. Never allocates. Not thread-safe.
    void record(std::chrono::nanoseconds latency) noexcept;
    /// Adds every sample of `other`. Not thread-safe.
    void merge(const latency_histogram& other) noexcept;
    /// Forgets every sample, keeping the bucket array. Not thread-safe.
    void reset() noexcept;

    /// Samples recorded. Not thread-safe.
    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
    /// Samples above `highest`. Not thread-safe.
    [[nodiscard]] std::uint64_t clamped() const noexcept { return clamped_; }
    /// The exact smallest sample; 0 when empty. Not thread-safe.
    [[nodiscard]] std::chrono::nanoseconds min() const noexcept;
    /// The exact largest sample; 0 when empty. Not thread-safe.
    [[nodiscard]] std::chrono::nanoseconds max() const noexcept;
    /// The exact mean, rounded to the nanosecond; 0 when empty. Not thread-safe.
    [[nodiscard]] std::chrono::nanoseconds mean() const noexcept;
    /// The nearest-rank `p`-th percentile (`p` in [0, 100]; out of range is clamped): the
    /// sample of rank max(1, ceil(p / 100 * count())) within `relative_error`, never below
    /// `min()` or above `max()`. 0 when empty. Not thread-safe.
    [[nodiscard]] std::chrono::nanoseconds percentile(double p) const noexcept;

    /// The number of buckets, the same for every histogram. Thread-safe.
    [[nodiscard]] static std::size_t bucket_count() noexcept;
    /// Bytes held by this histogram, heap included: constant, whatever was recorded.
    /// Not thread-safe.
    [[nodiscard]] std::size_t footprint_bytes() const noexcept;

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t clamped_ = 0;
    std::uint64_t min_ns_ = 0;
    std::uint64_t max_ns_ = 0;
    double sum_ns_ = 0; // double: a uint64 sum of hour-long samples overflows after ~5e6 of them
};

/// Counts of non-negative quantities (tokens, tokens per second) in a `latency_histogram`, at a
/// resolution of 1/1000 of the unit and with its relative error, up to 3.6e9 units. A value
/// type. Not thread-safe.
class quantity_histogram {
public:
    /// Counts one sample; a negative or NaN value counts as 0. Never allocates. Not thread-safe.
    void record(double value) noexcept {
        const double milli = value > 0 ? value * 1000.0 : 0.0;
        constexpr double top = static_cast<double>(latency_histogram::highest.count()) * 2;
        h_.record(
            std::chrono::nanoseconds(static_cast<std::int64_t>(milli < top ? milli + 0.5 : top)));
    }
    /// Samples recorded. Not thread-safe.
    [[nodiscard]] std::uint64_t count() const noexcept { return h_.count(); }
    /// As `latency_histogram`'s, in the unit recorded. Not thread-safe.
    [[nodiscard]] double min() const noexcept { return units(h_.min()); }
    [[nodiscard]] double max() const noexcept { return units(h_.max()); }
    [[nodiscard]] double mean() const noexcept { return units(h_.mean()); }
    [[nodiscard]] double percentile(double p) const noexcept { return units(h_.percentile(p)); }

private:
    static double units(std::chrono::nanoseconds milli) noexcept {
        return static_cast<double>(milli.count()) / 1000.0;
    }
    latency_histogram h_;
};

} // namespace examples::loadgen

#endif

#ifndef FAULTLINE_RETRY_LATENCY_PERCENTILE_HPP
#define FAULTLINE_RETRY_LATENCY_PERCENTILE_HPP

#include <faultline/detail/config.hpp>

// A percentile of recent latencies, shared by every call to one target: the hedge delay that
// follows how fast the target answers (the "tail at scale" backup request: hedge a call that has
// taken longer than, say, 95% of recent ones), instead of a fixed delay that is too short when
// the target slows down and too long when it is fast.
//
//     faultline::latency_percentile p95({.capacity = 1000, .percentile = 0.95});
//     faultline::pipeline_options o;
//     o.hedge = {.delay = 2s, .max_hedges = 1, .latencies = &p95}; // 2 s until p95 is known
//
// It keeps the last `capacity` samples. Its value is the nearest-rank percentile of them: the
// smallest sample that at least `percentile` of the samples do not exceed. It is none until
// `min_samples` have been recorded, then recomputed when a record brings the count to
// `min_samples` and after every `refresh_every` records since: reading it is one atomic load,
// and a record costs amortised O(capacity / refresh_every). Memory: two arrays of `capacity`
// samples, allocated once by the constructor.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <system_error>
#include <vector>

namespace faultline {

/// Settings of a `latency_percentile`.
struct latency_percentile_options {
    std::size_t capacity = 1000;     ///< Samples kept, the latest; 1 to 2^20.
    double percentile = 0.95;        ///< In (0, 1]; 1 is the largest sample.
    std::size_t min_samples = 20;    ///< No value below this many; 1 to `capacity`.
    std::size_t refresh_every = 100; ///< Records between recomputations; at least 1.
};

/// Empty if `o` is usable; `std::errc::invalid_argument` for a capacity of 0 or above 2^20, a
/// percentile outside (0, 1] or NaN, a `min_samples` of 0 or above the capacity, or a
/// `refresh_every` of 0. Thread-safe.
[[nodiscard]] std::error_code validate(const latency_percentile_options& o) noexcept;

/// A percentile of the latest latencies recorded. Thread-safe: many calls record and read it.
class latency_percentile {
public:
    /// Throws `std::system_error` with the code of `validate(options)` if that fails, and
    /// `std::bad_alloc` if its two arrays cannot be allocated.
    explicit latency_percentile(latency_percentile_options options = {});

    latency_percentile(const latency_percentile&) = delete;
    latency_percentile& operator=(const latency_percentile&) = delete;

    /// Records one latency (a negative one as 0), replacing the oldest when full. Thread-safe.
    void record(std::chrono::nanoseconds latency) noexcept;

    /// The percentile as last computed; none before `min_samples` records. Thread-safe.
    [[nodiscard]] std::optional<std::chrono::nanoseconds> value() const noexcept {
        const std::int64_t v = value_.load(std::memory_order_relaxed);
        if (v < 0) return std::nullopt;
        return std::chrono::nanoseconds(v);
    }

    /// Samples kept now (at most the capacity). Thread-safe.
    [[nodiscard]] std::size_t size() const noexcept;

    /// The options in force. Thread-safe.
    [[nodiscard]] const latency_percentile_options& options() const noexcept { return options_; }

private:
    void recompute_locked() noexcept;

    latency_percentile_options options_;
    mutable std::mutex mutex_;
    std::vector<std::int64_t> samples_; // a ring: the next record goes to `next_`
    std::vector<std::int64_t> scratch_; // reordered to find the percentile
    std::size_t next_ = 0;
    std::size_t size_ = 0;
    std::size_t since_refresh_ = 0;
    std::atomic<std::int64_t> value_{-1}; // -1: none yet
};

} // namespace faultline

#include <faultline/retry/impl/latency_percentile.hpp>

#endif

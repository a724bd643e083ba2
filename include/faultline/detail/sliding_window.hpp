#ifndef FAULTLINE_DETAIL_SLIDING_WINDOW_HPP
#define FAULTLINE_DETAIL_SLIDING_WINDOW_HPP

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace faultline {
namespace detail {

// K counters summed over a sliding window made of `Slots` equal slots: a count leaves the sum
// once its slot is more than a window old, so the window's edge is accurate to window/Slots.
// Memory is fixed; time only moves forward (an earlier `now` counts in the current slot).
// Not thread-safe.
template <std::size_t K, std::size_t Slots = 10>
class sliding_counts {
public:
    explicit sliding_counts(std::chrono::nanoseconds window) noexcept {
        const std::int64_t w = window.count();
        width_ = w >= static_cast<std::int64_t>(Slots) ? w / static_cast<std::int64_t>(Slots) : 1;
    }

    void advance(std::chrono::nanoseconds since_epoch) noexcept {
        const std::int64_t t = since_epoch.count();
        // Floor division so that negative time points (manual clocks) still move forward.
        std::int64_t e = t / width_;
        if (t % width_ != 0 && t < 0) --e;
        if (!started_) {
            started_ = true;
            epoch_ = e;
            return;
        }
        if (e <= epoch_) return;
        if (e - epoch_ >= static_cast<std::int64_t>(Slots)) {
            clear_counts();
        } else {
            // The totals are kept in a local: a slot's clearing store could alias them, and
            // each pass would otherwise wait for the previous pass's store to read them back.
            std::array<std::uint64_t, K> totals = totals_;
            for (std::int64_t s = epoch_ + 1; s <= e; ++s) {
                auto& slot = slots_[index(s)];
                for (std::size_t k = 0; k < K; ++k) {
                    totals[k] -= slot[k];
                    slot[k] = 0;
                }
            }
            totals_ = totals;
        }
        epoch_ = e;
    }

    void add(std::size_t k, std::uint64_t n = 1) noexcept {
        slots_[index(epoch_)][k] += n;
        totals_[k] += n;
    }

    [[nodiscard]] std::uint64_t total(std::size_t k) const noexcept { return totals_[k]; }

    void clear_counts() noexcept {
        slots_ = {};
        totals_ = {};
    }

private:
    [[nodiscard]] static std::size_t index(std::int64_t e) noexcept {
        const std::int64_t m = e % static_cast<std::int64_t>(Slots);
        return static_cast<std::size_t>(m < 0 ? m + static_cast<std::int64_t>(Slots) : m);
    }

    std::int64_t width_ = 1;
    std::int64_t epoch_ = 0;
    bool started_ = false;
    std::array<std::array<std::uint64_t, K>, Slots> slots_{};
    std::array<std::uint64_t, K> totals_{};
};

} // namespace detail
} // namespace faultline

#endif

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
        last_epoch_ = last_tick / width_;
    }

    void advance(std::chrono::nanoseconds since_epoch) noexcept {
        // Within the current slot (or earlier: time only moves forward), nothing to do; the
        // slot's end is kept so that this, the common case, needs no division.
        if (since_epoch.count() < slot_end_) return;
        move_to(since_epoch.count());
    }

    void add(std::size_t k, std::uint64_t n = 1) noexcept {
        slots_[cursor_][k] += n;
        totals_[k] += n;
    }

    [[nodiscard]] std::uint64_t total(std::size_t k) const noexcept { return totals_[k]; }

    void clear_counts() noexcept {
        slots_ = {};
        totals_ = {};
    }

private:
    static constexpr std::int64_t last_tick = std::numeric_limits<std::int64_t>::max();

    // Moves to the slot of `t` (at or after the current slot's end, or the first call). Within
    // a window of the current slot it steps slot by slot, clearing each: a division costs more
    // than the few steps a retry's wait or a request's gap takes.
    void move_to(std::int64_t t) noexcept {
        if (started_) {
            if (epoch_ == last_epoch_) return; // the clock's last slot: `t` is its last tick
            // The totals are kept in a local: a slot's clearing store could alias them, and each
            // pass would otherwise wait for the previous pass's store to read them back.
            std::array<std::uint64_t, K> totals = totals_;
            std::size_t i = cursor_;
            for (std::size_t s = 0; s < Slots; ++s) {
                i = i + 1 == Slots ? 0 : i + 1;
                for (std::size_t k = 0; k < K; ++k) {
                    totals[k] -= slots_[i][k];
                    slots_[i][k] = 0;
                }
                ++epoch_;
                // (epoch_ + 1) * width_ <= last_tick below the last epoch: no overflow.
                slot_end_ = epoch_ == last_epoch_ ? last_tick : slot_end_ + width_;
                if (t < slot_end_ || epoch_ == last_epoch_) {
                    totals_ = totals;
                    cursor_ = i;
                    return;
                }
            }
            // A window or more ahead: every slot was cleared on the way.
        }
        // Floor division, so that negative time points (manual clocks) still move forward.
        std::int64_t e = t / width_;
        if (t % width_ != 0 && t < 0) --e;
        clear_counts();
        started_ = true;
        epoch_ = e;
        cursor_ = index(e);
        // The slot ends at (e + 1) * width_, or at the clock's last tick when that is past it.
        slot_end_ = e < last_epoch_ ? (e + 1) * width_ : last_tick;
    }

    [[nodiscard]] static std::size_t index(std::int64_t e) noexcept {
        const std::int64_t m = e % static_cast<std::int64_t>(Slots);
        return static_cast<std::size_t>(m < 0 ? m + static_cast<std::int64_t>(Slots) : m);
    }

    std::int64_t width_ = 1;
    std::int64_t last_epoch_ = last_tick; // last_tick / width_
    std::int64_t epoch_ = 0;
    std::int64_t slot_end_ = std::numeric_limits<std::int64_t>::min(); // the first call moves
    std::size_t cursor_ = 0;                                           // index(epoch_)
    bool started_ = false;
    std::array<std::array<std::uint64_t, K>, Slots> slots_{};
    std::array<std::uint64_t, K> totals_{};
};

} // namespace detail
} // namespace faultline

#endif

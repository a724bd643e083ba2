#ifndef FAULTLINE_RANDOM_HPP
#define FAULTLINE_RANDOM_HPP

#include <faultline/detail/config.hpp>

// The randomness the toolkit draws (backoff jitter, an adaptive limit's probe times): one small
// generator, one way to turn its output into [0, 1), one way to seed it. Every component that
// draws takes its generator or seed from the caller, so a test passes a fixed one.
//
//     faultline::splitmix64 rng{42};
//     double u = faultline::uniform01(rng); // [0, 1)

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

namespace faultline {

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast 64-bit URBG, good enough for jitter.
/// Not cryptographic. Not thread-safe: one per thread or per retry loop.
class splitmix64 {
public:
    using result_type = std::uint64_t;
    constexpr explicit splitmix64(std::uint64_t seed = 0x9e3779b97f4a7c15ull) noexcept
        : state_(seed) {}
    [[nodiscard]] static constexpr result_type min() noexcept { return 0; }
    [[nodiscard]] static constexpr result_type max() noexcept {
        return std::numeric_limits<result_type>::max();
    }
    /// Not thread-safe.
    constexpr result_type operator()() noexcept {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }

private:
    std::uint64_t state_;
};

/// A seed that differs between calls, threads and processes: the next value of a per-thread
/// SplitMix64 stream seeded once from `std::random_device`, mixed with the steady clock (so that
/// processes forked from one parent part ways too). After a thread's first call, which opens the
/// random device, a call costs one clock read. Not for cryptography. Thread-safe.
[[nodiscard]] inline std::uint64_t random_seed() {
    thread_local splitmix64 stream = [] {
        std::random_device rd;
        return splitmix64((std::uint64_t{rd()} << 32) ^ rd());
    }();
    const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
    return stream() ^ static_cast<std::uint64_t>(ticks);
}

/// A `URBG` seeded with `random_seed()`, so that clients do not jitter in lockstep. Thread-safe.
template <class URBG>
[[nodiscard]] URBG random_seeded() {
    return URBG(static_cast<typename URBG::result_type>(random_seed()));
}

/// A uniform double in [0, 1) from one call of `g`: the top 53 bits of a 64-bit generator, all
/// 32 of a 32-bit one, else `std::generate_canonical` kept below 1. Thread-safe given a `g` the
/// caller owns.
template <class URBG>
[[nodiscard]] double uniform01(URBG& g) noexcept {
    using R = typename URBG::result_type;
    constexpr R lo = URBG::min();
    constexpr R hi = URBG::max();
    if constexpr (lo == 0 && hi == std::numeric_limits<std::uint64_t>::max()) {
        return static_cast<double>(static_cast<std::uint64_t>(g()) >> 11) * 0x1.0p-53;
    } else if constexpr (lo == 0 && hi == std::numeric_limits<std::uint32_t>::max()) {
        return static_cast<double>(static_cast<std::uint32_t>(g())) * 0x1.0p-32;
    } else {
        // generate_canonical may return 1.0 through rounding (LWG 2524); keep the interval open.
        const double u = std::generate_canonical<double, std::numeric_limits<double>::digits>(g);
        return u < 1.0 ? u : std::nextafter(1.0, 0.0);
    }
}

} // namespace faultline

#endif

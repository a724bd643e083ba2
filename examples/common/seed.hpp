#ifndef FAULTLINE_EXAMPLES_COMMON_SEED_HPP
#define FAULTLINE_EXAMPLES_COMMON_SEED_HPP

// Seeds for the many small generators the example programs use (one per connection, request or
// id). Not part of faultline's API.

#include <faultline/random.hpp>

#include <cstdint>

namespace examples {

/// A well-mixed seed for generator number `index` under `seed`. Seeds `seed + index * step`
/// would give SplitMix64 streams that are the same sequence shifted by a few draws, so that
/// neighbouring generators repeat each other's numbers. Thread-safe.
[[nodiscard]] inline std::uint64_t derived_seed(std::uint64_t seed, std::uint64_t index) noexcept {
    faultline::splitmix64 g(seed ^ (0xd1b54a32d192ed03ull * (index + 1)));
    return g();
}

} // namespace examples

#endif

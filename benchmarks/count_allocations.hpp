#ifndef FAULTLINE_BENCHMARKS_COUNT_ALLOCATIONS_HPP
#define FAULTLINE_BENCHMARKS_COUNT_ALLOCATIONS_HPP

// Counts every allocation of the program in `allocations`, through a replaced global operator
// new. Include it in one translation unit of a benchmark program only.

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::uint64_t> allocations{0};
} // namespace

// Not inlined, so the compiler sees operator new/delete pairs rather than a new paired with free.
[[gnu::noinline]] void* operator new(std::size_t n) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
    std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

#endif

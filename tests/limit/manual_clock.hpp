#ifndef FAULTLINE_TESTS_LIMIT_MANUAL_CLOCK_HPP
#define FAULTLINE_TESTS_LIMIT_MANUAL_CLOCK_HPP

// A clock the tests move by hand; every test passes `now` explicitly, built from it.

#include <chrono>
#include <cstdint>

namespace faultline_test {

struct manual_clock {
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<manual_clock>;
    static constexpr bool is_steady = true;
    // Only the default arguments read it; tests pass `now` explicitly.
    static time_point now() noexcept { return time_point(duration(0)); }
};

/// The instant `d` after the clock's epoch.
[[nodiscard]] inline manual_clock::time_point at(manual_clock::duration d) {
    return manual_clock::time_point(d);
}

} // namespace faultline_test

#endif

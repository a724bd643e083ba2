#ifndef FAULTLINE_TESTS_SUPPORT_PEAK_RSS_HPP
#define FAULTLINE_TESTS_SUPPORT_PEAK_RSS_HPP

// The process's resident memory from /proc/self/status (Linux), for tests that bound what a
// piece of work holds at its peak: reset the peak, do the work, compare the peak with the
// resident size before it. Memory, not time: such a test does not depend on the machine's load.

#include <cstddef>
#include <fstream>
#include <optional>
#include <string>

namespace test_support {

// Whether resident memory measures the code under test. AddressSanitizer keeps freed blocks in
// quarantine (256 MiB by default) and both it and ThreadSanitizer add shadow memory, so under
// them a bound on RSS would measure the sanitizer; the tests still check the bytes the code
// holds (`buffered_bytes`, `stream_bytes_peak`), which are exact, and the plain and release
// builds check RSS too.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool rss_measures_the_code = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool rss_measures_the_code = false;
#else
inline constexpr bool rss_measures_the_code = true;
#endif
#else
inline constexpr bool rss_measures_the_code = true;
#endif

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), or none where there is no /proc.
inline std::optional<std::size_t> status_kib(const std::string& field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.compare(0, field.size() + 1, field + ":") == 0)
            return static_cast<std::size_t>(std::stoull(line.substr(field.size() + 1)));
    return std::nullopt;
}

// Resets VmHWM to the current VmRSS (writing 5 to clear_refs, Linux 4.0+). False when the
// kernel refuses: the peak then cannot be measured.
inline bool reset_peak_rss() {
    std::ofstream out("/proc/self/clear_refs");
    out << "5";
    out.flush();
    return static_cast<bool>(out);
}

// How far the resident size rose above `before_kib` at its peak since the last reset, in bytes.
inline std::size_t peak_growth_bytes(std::size_t before_kib) {
    const std::size_t peak = status_kib("VmHWM").value_or(before_kib);
    return peak > before_kib ? (peak - before_kib) * 1024 : 0;
}

} // namespace test_support

#endif

// The monitor reaches the same per-event kinds, verdict, protocol and stop reason however its
// input is cut, and never crashes on any stream; a monitor that takes over-long events in
// fragments never crashes either, and its verdict has a failure exactly when it is not done.

#include "sse_common.hpp"

#include <faultline/sse/monitor.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <system_error>

namespace {

struct kinds {
    std::vector<faultline::sse::event_kind> seen;
    void on_event(const faultline::sse::event&, faultline::sse::event_kind k) { seen.push_back(k); }
};

// Takes events over the limits in fragments (lines of any size).
struct fragments {
    std::size_t bytes = 0;
    void on_event(const faultline::sse::event&, faultline::sse::event_kind) {}
    void on_fragment(const faultline::sse::event_fragment& f, faultline::sse::event_kind) {
        bytes += f.data.size();
    }
};

using clock = std::chrono::steady_clock;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    if (size < 3) return 0;
    faultline::sse::monitor_options o;
    o.limits.max_line = 256 + bytes[0] * 4;
    o.limits.max_event = 256 + bytes[1] * 8;
    o.validate_json = (bytes[2] & 1) != 0;
    const std::string_view in(reinterpret_cast<const char*>(bytes) + 3, size - 3);

    faultline::sse::monitor<kinds> whole(clock::time_point{}, o);
    (void)whole.feed(in, clock::time_point{});
    const faultline::sse::verdict a = whole.finish();
    if ((a.kind == faultline::sse::terminal::done) == a.failure.has_value())
        fuzz_sse::mismatch("a failure exactly when not done");

    faultline::sse::monitor<kinds> cut(clock::time_point{}, o);
    fuzz_sse::cutter c{static_cast<std::uint32_t>(size) | 1u, 16};
    for (std::size_t i = 0; i < in.size();) {
        const std::size_t len = std::min(c.next(), in.size() - i);
        if (cut.feed(in.substr(i, len), clock::time_point{})) break;
        i += len;
    }
    const faultline::sse::verdict b = cut.finish();
    if (a.kind != b.kind || a.error_code() != b.error_code()) fuzz_sse::mismatch("verdicts differ");
    if (a.protocol != b.protocol || a.stop_reason != b.stop_reason)
        fuzz_sse::mismatch("protocols or stop reasons differ");
    if (whole.handler().seen != cut.handler().seen) fuzz_sse::mismatch("event kinds differ");

    faultline::sse::monitor<fragments> pieces(clock::time_point{}, o);
    fuzz_sse::cutter c2{static_cast<std::uint32_t>(size) | 1u, 16};
    for (std::size_t i = 0; i < in.size();) {
        const std::size_t len = std::min(c2.next(), in.size() - i);
        if (pieces.feed(in.substr(i, len), clock::time_point{})) break;
        i += len;
    }
    const faultline::sse::verdict f = pieces.finish();
    if ((f.kind == faultline::sse::terminal::done) == f.failure.has_value())
        fuzz_sse::mismatch("a failure exactly when not done (fragments)");

    // With time limits, on a clock the input moves: a limit fires exactly from the instant
    // `next_deadline()` named, never before, and a stream it stopped stays stopped.
    o.idle_timeout = std::chrono::milliseconds(200);
    o.first_content_timeout = std::chrono::milliseconds(300);
    o.total_timeout = std::chrono::milliseconds(1000);
    faultline::sse::monitor<kinds> timed(clock::time_point{}, o);
    const auto step = std::chrono::milliseconds(1 + (bytes[2] >> 1));
    fuzz_sse::cutter c3{static_cast<std::uint32_t>(size) | 1u, 16};
    clock::time_point now{};
    for (std::size_t i = 0; i < in.size();) {
        const std::size_t len = std::min(c3.next(), in.size() - i);
        now += step * static_cast<int>(len % 4);
        const std::optional<clock::time_point> due = timed.next_deadline();
        const std::error_code ec = timed.feed(in.substr(i, len), now);
        const bool over = due && now >= *due;
        if (over != (timed.timed_out() != faultline::sse::timeout::none))
            fuzz_sse::mismatch(over ? "a limit past its deadline did not fire"
                                    : "a limit fired before its deadline");
        if (over) {
            if (ec != faultline::error::stream_timeout || timed.next_deadline() ||
                timed.feed("data: {}\n\n", now + step) != ec)
                fuzz_sse::mismatch("a stream stopped by a limit did not stay stopped");
            break;
        }
        if (ec) break;
        i += len;
    }
    const faultline::sse::verdict t = timed.finish();
    if (timed.timed_out() != faultline::sse::timeout::none &&
        t.kind != faultline::sse::terminal::error)
        fuzz_sse::mismatch("a timed-out stream's verdict is not an error");
    return 0;
}

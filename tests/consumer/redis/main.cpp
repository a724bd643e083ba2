// A consumer of faultline's Redis limiter: links hiredis through faultline::redis (CMake) or
// faultline-redis (pkg-config). No server listens on the port, so the decision must come from
// the failure policy, with the reason.

#include <faultline/limit/redis.hpp>

#include <cstdio>

int main() {
    using namespace faultline::limit;
    using namespace std::chrono_literals;
    redis_limiter shared(
        {.port = 1, .connect_timeout = 50ms, .on_failure = redis_failure::fail_open});
    const bucket_config rpm{rate::per_minute(60), 60, initial_fill::full,
                            faultline::error::rpm_exceeded};
    const redis_decision d = shared.try_acquire(token_key("consumer", "rpm"), rpm);
    const bool ok = d && d.by == decided_by::fail_open && d.failure;
    std::printf("redis consumer: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}

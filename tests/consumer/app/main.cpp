// A program that uses faultline the way a consumer project would: taxonomy, envelope, classify.
// Exits non-zero when anything comes out wrong.

#include <faultline.hpp>

#include <cstdio>
#include <string>

int main() {
    int failures = 0;
    const auto check = [&](bool ok, const char* what) {
        if (!ok) {
            std::fprintf(stderr, "consumer: FAILED %s\n", what);
            ++failures;
        }
    };

    const std::error_code ec = faultline::error::tpm_exceeded;
    check(ec == faultline::category::rate_limited, "tpm_exceeded is rate_limited");
    check(faultline::is_retryable(ec), "tpm_exceeded is retryable");

    const auto r =
        faultline::render(faultline::error::no_available_channel, "channel db-7 down", "evt-1");
    check(r.status == 503, "render status");
    check(r.body.find("Service temporarily unavailable") != std::string::npos, "render redacts");

    const auto f = faultline::classify(
        429, {{"Retry-After", "2"}},
        R"({"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rpm_exceeded"}})");
    check(f.code == faultline::error::rpm_exceeded, "classify code");
    check(f.retry_after && f.retry_after->count() == 2000, "classify retry_after");

    std::printf("consumer: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}

// The README's example: a client classifies a failed response and decides what to do; a server
// answers a failure without leaking its internals. Built and run by `meson test`.

#include <faultline.hpp>

#include <iostream>
#include <random>

int main() {
    // Client side: any status, headers and body, in any provider's dialect.
    const faultline::failure f = faultline::classify(
        429, {{"Retry-After", "2"}},
        R"json({"error":{"message":"Rate limit reached on tokens per min (TPM)","type":"tokens","code":"rate_limit_exceeded"}})json");
    std::cout << to_string(f.cat) << " / " << to_string(f.code) << ": " << f.message << '\n';
    if (f.retryable && f.retry_after)
        std::cout << "retry in " << f.retry_after->count() << " ms; fix: " << info(f.code).fix
                  << '\n';

    // Server side: a 5xx never shows the upstream's text; the event_id finds it in the logs.
    // Seeded per process: a fixed seed would give every copy of the program the same ids.
    std::mt19937_64 rng(std::random_device{}());
    const auto r =
        faultline::render(faultline::error::upstream_timeout, "dial tcp 10.0.0.7:443: i/o timeout",
                          faultline::make_event_id(rng));
    std::cout << "HTTP " << r.status << ' ' << r.body << '\n';
    return f.code == faultline::error::tpm_exceeded && r.status == 504 ? 0 : 1;
}

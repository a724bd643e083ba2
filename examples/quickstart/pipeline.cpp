// The README's pipeline example: one call, decided by the pipeline and judged by exchange. The
// upstream's answers are canned and time is simulated, so it runs at once. Built and run by
// `meson test`.

#include <faultline.hpp>

#include <chrono>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

struct answer {
    unsigned status;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

int main() {
    const answer answers[] = {
        {429,
         {{"Retry-After", "2"}},
         R"({"error":{"message":"Rate limit reached for requests","code":"rate_limit_exceeded"}})"},
        {400,
         {},
         R"({"error":{"message":"This model's maximum context length is 8192 tokens",)"
         R"("code":"context_length_exceeded"}})"},
        {200,
         {{"Content-Type", "application/json"}},
         R"({"choices":[{"message":{"content":"Hello"}}]})"},
    };
    const char* models[] = {"gpt-4o-mini", "gpt-4o-128k"};

    // Two targets; a prompt too long for the first goes to the second at once.
    faultline::pipeline_options o;
    o.targets = 2;
    o.fallbacks = {{faultline::category::context_length_exceeded, 1}};
    if (faultline::validate(o)) return 1;

    using clock = std::chrono::steady_clock;
    clock::time_point now{}; // simulated: a real client reads clock::now()
    faultline::pipeline<faultline::null_pipeline_events, clock> p(o, now);
    std::size_t call = 0;
    for (faultline::step s = p.next(now); !s.final(); s = p.next(now)) {
        if (s.what == faultline::action::wait) { // a real client sleeps (or awaits a timer)
            now += s.delay;
            continue;
        }
        // The call: send the request, hand what comes back to an exchange.
        const answer& a = answers[call++];
        faultline::exchange<> x(now);
        (void)x.head(a.status, a.headers, now);
        (void)x.body(a.body, now);
        const faultline::exchange_result& r = x.finish({}, now);
        std::cout << "attempt " << s.attempt << " on " << models[s.target] << ": "
                  << (r.ok() ? x.body() : to_string(r.failure->code)) << '\n';
        faultline::end_attempt(p, s.attempt, r, now); // its success or failure (and verdict)
    }
    return p.next(now).what == faultline::action::succeeded && call == 3 ? 0 : 1;
}

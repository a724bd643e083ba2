#include <faultline/limit/pacer.hpp>

#include "manual_clock.hpp"

#include <faultline/limit/headers.hpp>
#include <faultline/limit/token_bucket.hpp>
#include <faultline/retry/backoff.hpp>
#include <faultline/retry_after.hpp>

#include <boost/test/unit_test.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <queue>
#include <string>
#include <tuple>
#include <vector>

namespace fl = faultline;
namespace lim = faultline::limit;
using faultline_test::at;
using faultline_test::manual_clock;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

using fields = std::vector<std::pair<std::string, std::string>>;
using instant = manual_clock::time_point;
using test_pacer = lim::pacer<manual_clock>;

// The wall clock the simulated provider and the clients agree on: a fixed instant plus the
// manual clock.
const system_clock::time_point wall_base = sys_days{2026y / January / 5} + 9h;

system_clock::time_point wall(instant t) {
    return wall_base + duration_cast<system_clock::duration>(t.time_since_epoch());
}

std::int64_t ns_of(instant t) {
    return t.time_since_epoch().count();
}

// RFC 3339 in whole seconds, rounded up, as Anthropic sends its resets.
std::string rfc3339(system_clock::time_point t) {
    const auto s = ceil<seconds>(t);
    const auto day = floor<days>(s);
    const year_month_day ymd{day};
    const hh_mm_ss<seconds> hms{s - day};
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
    return buf;
}

std::uint64_t uniform(fl::splitmix64& g, std::uint64_t lo, std::uint64_t hi) {
    return lo + g() % (hi - lo + 1);
}
nanoseconds uniform(fl::splitmix64& g, nanoseconds lo, nanoseconds hi) {
    return nanoseconds(static_cast<std::int64_t>(uniform(g, static_cast<std::uint64_t>(lo.count()),
                                                         static_cast<std::uint64_t>(hi.count()))));
}

// ---- the simulated provider: hidden limits, answered with headers ------------------------

enum class dialect { openai, anthropic };

struct answer {
    unsigned status = 200;
    fields headers;
};

struct provider {
    struct window_state {
        std::uint64_t limit = 0, remaining = 0;
        std::int64_t reset_at = 0; // absolute, ns
    };
    struct snapshot {
        std::int64_t at = 0;
        window_state requests, tokens;
    };

    dialect d = dialect::openai;
    // Header lag: a response reports the state this long before it was generated, as a
    // provider whose counters are replicated lazily does.
    nanoseconds staleness{0};
    // Arrivals counted in [from, to).
    instant from{}, to = instant::max();
    std::uint64_t admitted = 0, admitted_tokens = 0, refused = 0;
    std::deque<snapshot> history;

    virtual ~provider() = default;
    virtual bool decide(std::uint64_t tokens, instant now, nanoseconds& retry_after) = 0;
    virtual snapshot state(instant now) = 0;

    // A bucket carries unspent capacity across the ends of the measured span, so its level
    // at both ends corrects what was admitted there; a fixed window's span is whole windows.
    virtual bool carries_over() const { return false; }
    bool measuring = false;
    std::array<double, 2> level_start{}, level_end{}; // requests, tokens

    // The share of what the limit let through in the span that was used.
    [[nodiscard]] double used(bool tokens, double limit_per_minute) const {
        const std::size_t i = tokens ? 1 : 0;
        double n = static_cast<double>(tokens ? admitted_tokens : admitted);
        if (carries_over()) n -= level_start[i] - level_end[i];
        const double minutes = duration<double, std::ratio<60>>(to - from).count();
        return n / (limit_per_minute * minutes);
    }

    answer handle(std::uint64_t tokens, instant now) {
        nanoseconds wait{0};
        const bool in_span = now >= from && now < to;
        const auto level = [&](std::array<double, 2>& into) {
            const snapshot st = state(now);
            into = {static_cast<double>(st.requests.remaining),
                    static_cast<double>(st.tokens.remaining)};
        };
        if (in_span && !measuring) {
            level(level_start);
            measuring = true;
        }
        const bool ok = decide(tokens, now, wait);
        if (in_span) level(level_end);
        if (in_span) {
            if (ok) {
                ++admitted;
                admitted_tokens += tokens;
            } else
                ++refused;
        }
        history.push_back(state(now));
        const std::int64_t horizon = ns_of(now) - staleness.count();
        while (history.size() >= 2 && history[1].at <= horizon)
            history.pop_front();
        const snapshot& s = history.front();
        answer a;
        a.status = ok ? 200 : 429;
        const auto reset = [&](const window_state& w) {
            return nanoseconds(std::max<std::int64_t>(0, w.reset_at - ns_of(now)));
        };
        if (d == dialect::openai) {
            lim::decision rq, tk;
            rq.limit = s.requests.limit;
            rq.remaining = s.requests.remaining;
            rq.reset = reset(s.requests);
            tk.limit = s.tokens.limit;
            tk.remaining = s.tokens.remaining;
            tk.reset = reset(s.tokens);
            a.headers = lim::rate_limit_headers(&rq, &tk);
            if (!ok)
                for (auto& h : lim::retry_after_headers(wait))
                    a.headers.push_back(h);
        } else {
            const auto trio = [&](std::string_view name, const window_state& w) {
                const std::string base = "anthropic-ratelimit-" + std::string(name);
                a.headers.emplace_back(base + "-limit", std::to_string(w.limit));
                a.headers.emplace_back(base + "-remaining", std::to_string(w.remaining));
                a.headers.emplace_back(base + "-reset", rfc3339(wall(now + reset(w))));
            };
            trio("requests", s.requests);
            trio("input-tokens", s.tokens);
            if (!ok)
                a.headers.emplace_back("retry-after",
                                       std::to_string(lim::retry_after_seconds(wait)));
        }
        return a;
    }
};

// A GCRA provider (OpenAI and Anthropic describe token buckets): a request bucket and a token
// bucket, each holding a minute's worth, built from faultline's own limiter.
struct gcra_provider final : provider {
    lim::dynamic_token_bucket<manual_clock> requests, tokens;

    static lim::bucket_config per_minute(std::uint64_t n) {
        return {lim::rate::per_minute(n), n, lim::initial_fill::full};
    }
    gcra_provider(std::uint64_t rpm, std::uint64_t tpm)
        : requests(per_minute(rpm), at(0ns))
        , tokens(per_minute(tpm), at(0ns)) {}

    bool carries_over() const override { return true; }

    void set_limits(std::uint64_t rpm, std::uint64_t tpm, instant now) {
        BOOST_REQUIRE(!requests.reconfigure(per_minute(rpm), now));
        BOOST_REQUIRE(!tokens.reconfigure(per_minute(tpm), now));
    }
    bool decide(std::uint64_t n, instant now, nanoseconds& retry_after) override {
        const lim::decision r = requests.try_acquire(1, now);
        if (!r) {
            retry_after = r.retry_after;
            return false;
        }
        const lim::decision t = tokens.try_acquire(n, now);
        if (!t) {
            requests.release(1, now);
            retry_after = t.retry_after;
            return false;
        }
        return true;
    }
    snapshot state(instant now) override {
        const auto describe = [&](const lim::decision& d) {
            return window_state{d.limit, d.remaining, ns_of(now) + d.reset.count()};
        };
        return {ns_of(now), describe(requests.peek(0, now)), describe(tokens.peek(0, now))};
    }
};

// A fixed-window provider: `rpm` requests and `tpm` tokens per window, counted from zero at
// each window's start.
struct window_provider final : provider {
    std::uint64_t rpm, tpm;
    nanoseconds length;
    std::int64_t index = -1;
    std::uint64_t used_requests = 0, used_tokens = 0;

    window_provider(std::uint64_t r, std::uint64_t t, nanoseconds w = 1min)
        : rpm(r)
        , tpm(t)
        , length(w) {}

    void roll(instant now) {
        const std::int64_t i = ns_of(now) / length.count();
        if (i != index) {
            index = i;
            used_requests = used_tokens = 0;
        }
    }
    std::int64_t end() const { return (index + 1) * length.count(); }
    bool decide(std::uint64_t n, instant now, nanoseconds& retry_after) override {
        roll(now);
        if (used_requests + 1 > rpm || used_tokens + n > tpm) {
            retry_after = nanoseconds(end() - ns_of(now));
            return false;
        }
        ++used_requests;
        used_tokens += n;
        return true;
    }
    snapshot state(instant now) override {
        roll(now);
        const auto left = [](std::uint64_t limit, std::uint64_t used) {
            return used >= limit ? 0 : limit - used;
        };
        return {ns_of(now),
                {rpm, left(rpm, used_requests), end()},
                {tpm, left(tpm, used_tokens), end()}};
    }
};

// ---- the simulated clients -----------------------------------------------------------------

struct client {
    bool paced = true;
    std::size_t concurrency = 32;
    std::uint64_t tokens_min = 100, tokens_max = 100;
    std::unique_ptr<test_pacer> p = std::make_unique<test_pacer>();
    std::uint64_t sent = 0, refused = 0, admitted = 0;

    [[nodiscard]] double refused_share() const {
        return sent == 0 ? 0 : static_cast<double>(refused) / static_cast<double>(sent);
    }
};

// A discrete-event simulation: each client keeps `concurrency` requests going, back to back;
// a request travels `uplink` to the provider, which decides on arrival; an admitted request
// takes `processing` before its response travels back, a refused one comes straight back.
// A paced client asks its pacer before each send and feeds it every response; a plain client
// sends at once and, on a 429, waits what the response asks (retry-after-ms, Retry-After),
// as the OpenAI SDKs do, else full-jitter backoff.
struct simulation {
    provider& server;
    std::vector<client*> clients;
    nanoseconds uplink_min = 20ms, uplink_max = 80ms;
    nanoseconds processing_min = 300ms, processing_max = 3s;
    fl::splitmix64 rng{0x5eed};
    std::vector<std::pair<instant, std::function<void(instant)>>> actions;

    simulation(provider& s, std::vector<client*> cs)
        : server(s)
        , clients(std::move(cs)) {}

    struct worker {
        explicit worker(client* cl)
            : c(cl) {}
        client* c;
        int phase = 0;
        bool retrying = false;
        unsigned attempt = 0;
        nanoseconds previous{0};
        std::uint64_t tokens = 0;
        lim::pacer_ticket ticket;
        answer response;
    };

    void run(instant end) {
        std::vector<worker> workers;
        for (client* c : clients)
            for (std::size_t i = 0; i < c->concurrency; ++i)
                workers.emplace_back(c);
        using event = std::tuple<std::int64_t, std::uint64_t, std::size_t>;
        std::priority_queue<event, std::vector<event>, std::greater<>> queue;
        std::uint64_t order = 0;
        const auto schedule = [&](instant t, std::size_t w) {
            queue.emplace(ns_of(t), order++, w);
        };
        for (std::size_t w = 0; w < workers.size(); ++w)
            schedule(at(0ns), w);
        std::size_t next_action = 0;
        const fl::backoff backoff = fl::backoff::full_jitter(1s, 30s);
        while (!queue.empty()) {
            const auto [t_ns, ord, index] = queue.top();
            queue.pop();
            (void)ord;
            const instant now = at(nanoseconds(t_ns));
            if (now >= end) break;
            while (next_action < actions.size() && actions[next_action].first <= now) {
                const auto& [when, act] = actions[next_action++];
                act(when);
            }
            worker& w = workers[index];
            client& c = *w.c;
            switch (w.phase) {
            case 0: // ready to send
                if (!w.retrying) w.tokens = uniform(rng, c.tokens_min, c.tokens_max);
                if (c.paced) {
                    w.ticket = c.p->reserve(lim::request_cost::flat(w.tokens), now);
                    if (!w.ticket) { // not yet: ask again after the wait
                        w.retrying = true;
                        schedule(now + w.ticket.wait, index);
                        break;
                    }
                }
                w.phase = 1;
                schedule(now, index);
                break;
            case 1: // sent
                ++c.sent;
                w.phase = 2;
                schedule(now + uniform(rng, uplink_min, uplink_max), index);
                break;
            case 2: // arrives
                w.response = server.handle(w.tokens, now);
                w.phase = 3;
                schedule(now + uniform(rng, uplink_min, uplink_max) +
                             (w.response.status == 200
                                  ? uniform(rng, processing_min, processing_max)
                                  : 0ns),
                         index);
                break;
            case 3: { // the response is back
                nanoseconds wait{0};
                if (c.paced)
                    c.p->observe(w.ticket, w.response.status, w.response.headers, now, wall(now));
                if (w.response.status == 429) {
                    ++c.refused;
                    w.retrying = true;
                    ++w.attempt;
                    if (!c.paced) {
                        fl::retry_after_options o;
                        o.now = wall(now);
                        o.use_reset_headers = false;
                        const auto hint =
                            fl::retry_after_from(fl::collect_retry_hints(w.response.headers), o);
                        wait = hint ? nanoseconds(*hint)
                                    : backoff.next_delay(w.attempt, w.previous, rng);
                        w.previous = wait;
                    }
                } else {
                    ++c.admitted;
                    w.retrying = false;
                    w.attempt = 0;
                }
                w.phase = 0;
                schedule(now + wait, index);
                break;
            }
            }
        }
    }
};

double share(std::uint64_t part, double whole) {
    return static_cast<double>(part) / whole;
}

// What one run measured, for the test's own message.
struct figures {
    double used = 0;    // admitted in the measured span / what the hidden limit allowed there
    double refused = 0; // the client's 429s / its requests, whole run
};

} // namespace

BOOST_AUTO_TEST_SUITE(pacer)

// ---- parsing ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(rate_limit_counts_are_digits_within_range) {
    BOOST_TEST(lim::parse_rate_limit_count("0").value() == 0u);
    BOOST_TEST(lim::parse_rate_limit_count(" 149984 ").value() == 149984u);
    BOOST_TEST(lim::parse_rate_limit_count("9007199254740992").value() ==
               lim::max_rate_limit_count);
    BOOST_TEST(lim::parse_rate_limit_count("0000000000000000000000000000000042").value() == 42u);
    for (const char* bad :
         {"", "  ", "-1", "+5", "1.5", "1e3", "0x10", "12a", "a12", "1 2", "9007199254740993",
          "18446744073709551616", "99999999999999999999999999999999999999999", "\xC2\xB2"}) {
        const auto r = lim::parse_rate_limit_count(bad);
        BOOST_TEST_CONTEXT(bad) {
            BOOST_REQUIRE(r.has_error());
            BOOST_TEST((r.error() == fl::parse_error::invalid_rate_limit_count));
        }
    }
    // The code reads as the other input errors do: not a reason to retry.
    const std::error_code ec = fl::parse_error::invalid_rate_limit_count;
    BOOST_TEST(!fl::is_retryable(ec));
    BOOST_TEST(!ec.message().empty());
}

BOOST_AUTO_TEST_CASE(openai_headers_every_window_and_go_durations) {
    const fields h = {
        {"X-RateLimit-Limit-Requests", "500"},     {"x-ratelimit-remaining-requests", "499"},
        {"x-ratelimit-reset-requests", "120ms"},   {"x-ratelimit-limit-tokens", "30000"},
        {"x-ratelimit-remaining-tokens", "29000"}, {"x-ratelimit-reset-tokens", "1h2m3.5s"},
        {"content-type", "application/json"}};
    const auto r = lim::read_rate_limits(h, wall_base);
    BOOST_TEST(r.ignored == 0u);
    BOOST_TEST(!r.first_error);
    BOOST_TEST(*r[lim::window::requests].limit == 500u);
    BOOST_TEST(*r[lim::window::requests].remaining == 499u);
    BOOST_TEST(r[lim::window::requests].reset->count() == nanoseconds(120ms).count());
    BOOST_TEST(*r[lim::window::tokens].remaining == 29000u);
    BOOST_TEST(r[lim::window::tokens].reset->count() == nanoseconds(3723500ms).count());
    BOOST_TEST(!r[lim::window::input_tokens].remaining.has_value());
    BOOST_TEST(!r.retry_after.has_value());
    for (const char* d : {"1s", "6m0s", "20ms"}) {
        const auto one = lim::read_rate_limits(fields{{"x-ratelimit-reset-tokens", d}}, wall_base);
        BOOST_TEST_CONTEXT(d) {
            BOOST_REQUIRE(one[lim::window::tokens].reset.has_value());
            BOOST_TEST(one[lim::window::tokens].reset->count() ==
                       nanoseconds(fl::parse_duration(d).value()).count());
        }
    }
}

BOOST_AUTO_TEST_CASE(anthropic_headers_reset_is_a_time_on_the_wall_clock) {
    const fields h = {{"anthropic-ratelimit-requests-limit", "50"},
                      {"anthropic-ratelimit-requests-remaining", "49"},
                      {"anthropic-ratelimit-requests-reset", "2026-01-05T09:00:01Z"},
                      {"anthropic-ratelimit-tokens-remaining", "90000"},
                      {"anthropic-ratelimit-input-tokens-limit", "40000"},
                      {"anthropic-ratelimit-input-tokens-remaining", "39000"},
                      {"anthropic-ratelimit-input-tokens-reset", "2026-01-05T09:00:30.5Z"},
                      {"anthropic-ratelimit-output-tokens-remaining", "8000"},
                      {"anthropic-ratelimit-output-tokens-reset", "2026-01-05T08:59:00Z"}};
    const auto r = lim::read_rate_limits(h, wall_base);
    BOOST_TEST(r.ignored == 0u);
    BOOST_TEST(*r[lim::window::requests].limit == 50u);
    BOOST_TEST(r[lim::window::requests].reset->count() == nanoseconds(1s).count());
    BOOST_TEST(*r[lim::window::tokens].remaining == 90000u);
    BOOST_TEST(*r[lim::window::input_tokens].limit == 40000u);
    BOOST_TEST(r[lim::window::input_tokens].reset->count() == nanoseconds(30500ms).count());
    // A reset in the past: already reset.
    BOOST_TEST(r[lim::window::output_tokens].reset->count() == 0);
}

BOOST_AUTO_TEST_CASE(bad_values_are_ignored_with_the_first_reason) {
    struct row {
        const char* name;
        const char* value;
        fl::parse_error why;
    };
    const row rows[] = {
        {"x-ratelimit-remaining-requests", "lots", fl::parse_error::invalid_rate_limit_count},
        {"x-ratelimit-remaining-requests", "-3", fl::parse_error::invalid_rate_limit_count},
        {"x-ratelimit-limit-tokens", "184467440737095516160",
         fl::parse_error::invalid_rate_limit_count},
        {"x-ratelimit-limit-tokens", "1e9", fl::parse_error::invalid_rate_limit_count},
        {"x-ratelimit-reset-tokens", "-1s", fl::parse_error::invalid_duration},
        {"x-ratelimit-reset-tokens", "soon", fl::parse_error::invalid_duration},
        {"x-ratelimit-reset-tokens", "1h-2m", fl::parse_error::invalid_duration},
        {"x-ratelimit-reset-requests", "", fl::parse_error::invalid_duration},
        {"anthropic-ratelimit-tokens-reset", "tomorrow", fl::parse_error::invalid_retry_after},
        {"anthropic-ratelimit-tokens-reset", "2026-13-05T09:00:00Z",
         fl::parse_error::invalid_retry_after},
        {"anthropic-ratelimit-tokens-remaining", "12.5", fl::parse_error::invalid_rate_limit_count},
        {"retry-after", "-5", fl::parse_error::invalid_retry_after},
        {"retry-after-ms", "fast", fl::parse_error::invalid_retry_after},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.name << ": " << r.value) {
            const fields h = {{r.name, r.value}, {"x-ratelimit-remaining-tokens", "77"}};
            const auto rep = lim::read_rate_limits(h, wall_base);
            BOOST_TEST(rep.ignored == 1u);
            BOOST_TEST((rep.first_error == r.why));
            BOOST_TEST(rep.first_ignored == std::string_view(r.name));
            // The good header still counts.
            BOOST_TEST(*rep[lim::window::tokens].remaining == 77u);
        }
    }
    // Several bad ones: all counted, the first one named.
    const fields many = {{"x-ratelimit-limit-requests", "x"},
                         {"x-ratelimit-reset-requests", "y"},
                         {"retry-after", "z"}};
    const auto rep = lim::read_rate_limits(many, wall_base);
    BOOST_TEST(rep.ignored == 3u);
    BOOST_TEST(rep.first_ignored == "x-ratelimit-limit-requests");
}

BOOST_AUTO_TEST_CASE(huge_waits_are_cut_to_max_wait_never_wrapped) {
    const nanoseconds max = 10min;
    const auto cut = [&](const char* name, const char* value) {
        const auto r = lim::read_rate_limits(fields{{name, value}}, wall_base, max);
        if (std::string_view(name).starts_with("retry")) return r.retry_after.value_or(-1ns);
        return r[lim::window::tokens].reset.value_or(-1ns);
    };
    BOOST_TEST(cut("x-ratelimit-reset-tokens", "99999999999999999999h").count() == max.count());
    BOOST_TEST(cut("x-ratelimit-reset-tokens", "2562047h47m16.854775807s").count() == max.count());
    // Past 2262, where system_clock's nanoseconds end.
    BOOST_TEST(cut("anthropic-ratelimit-tokens-reset", "9999-12-31T23:59:59Z").count() ==
               max.count());
    BOOST_TEST(cut("anthropic-ratelimit-tokens-reset", "2263-01-01T00:00:00+14:00").count() ==
               max.count());
    BOOST_TEST(cut("retry-after", "99999999").count() == max.count());
    BOOST_TEST(cut("retry-after", "99999999999999999999999999999").count() == max.count());
    BOOST_TEST(cut("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT").count() == max.count());
    BOOST_TEST(cut("retry-after-ms", "1e400").count() == -1); // not a number: ignored
    BOOST_TEST(cut("retry-after-ms", "184467440737095516150").count() == max.count());
    BOOST_TEST(cut("retry-after-ms", "1500").count() == nanoseconds(1500ms).count());
    // A negative cap reads as zero rather than as a wrapped wait.
    const auto r = lim::read_rate_limits(fields{{"retry-after", "5"}}, wall_base, -1s);
    BOOST_TEST(r.retry_after->count() == 0);
}

BOOST_AUTO_TEST_CASE(retry_after_ms_wins_and_a_bad_one_leaves_retry_after) {
    auto r =
        lim::read_rate_limits(fields{{"retry-after", "7"}, {"retry-after-ms", "250"}}, wall_base);
    BOOST_TEST(r.retry_after->count() == nanoseconds(250ms).count());
    r = lim::read_rate_limits(fields{{"retry-after", "7"}, {"retry-after-ms", "x"}}, wall_base);
    BOOST_TEST(r.retry_after->count() == nanoseconds(7s).count());
    BOOST_TEST(r.ignored == 1u);
    r = lim::read_rate_limits(fields{{"Retry-After", "Mon, 05 Jan 2026 09:00:30 GMT"}}, wall_base);
    BOOST_TEST(r.retry_after->count() == nanoseconds(30s).count());
    r = lim::read_rate_limits(fl::no_headers{}, wall_base);
    BOOST_TEST(!r.retry_after.has_value());
    BOOST_TEST(r.ignored == 0u);
}

namespace {

// A header value a hostile or broken server might send: numbers of any length and sign, Go
// durations, RFC 3339 times and HTTP-dates of any year, arbitrary bytes.
std::string garbage(fl::splitmix64& g) {
    static constexpr std::string_view units[] = {"h", "m", "s", "ms", "us", "\xC2\xB5s", "ns", ""};
    std::string v;
    const auto digits = [&](std::size_t n) {
        for (std::size_t i = 0; i < n; ++i)
            v += static_cast<char>('0' + g() % 10);
    };
    switch (g() % 6) {
    case 0: // counts, possibly signed, fractional or enormous
        if (g() % 4 == 0) v += "-+ "[g() % 3];
        digits(g() % 40);
        if (g() % 4 == 0) {
            v += '.';
            digits(g() % 5);
        }
        break;
    case 1: // Go durations
        for (std::size_t i = 0, n = g() % 4; i <= n; ++i) {
            if (g() % 8 == 0) v += '-';
            digits(1 + g() % 25);
            if (g() % 5 == 0) {
                v += '.';
                digits(g() % 12);
            }
            v += units[g() % std::size(units)];
        }
        break;
    case 2: { // RFC 3339, any year
        char b[64];
        std::snprintf(b, sizeof b, "%04u-%02u-%02uT%02u:%02u:%02u%s",
                      static_cast<unsigned>(g() % 10000), static_cast<unsigned>(g() % 14),
                      static_cast<unsigned>(g() % 33), static_cast<unsigned>(g() % 25),
                      static_cast<unsigned>(g() % 61), static_cast<unsigned>(g() % 62),
                      g() % 3 == 0 ? "+14:00" : (g() % 2 ? "Z" : ".999999999999Z"));
        v = b;
        break;
    }
    case 3: { // HTTP-dates, any year
        char b[64];
        std::snprintf(b, sizeof b, "Fri, %02u Dec %04u 23:59:59 GMT",
                      static_cast<unsigned>(g() % 32), static_cast<unsigned>(g() % 10000));
        v = b;
        break;
    }
    case 4: // bytes
        for (std::size_t i = 0, n = g() % 24; i < n; ++i)
            v += static_cast<char>(g() % 256);
        break;
    default: // small, plausible counts
        v = std::to_string(g() % 200);
    }
    return v;
}

} // namespace

// Seeded random headers, statuses and clock jumps (of up to 50 years) against one pacer: every
// wait stays within [0, max_wait] and every figure finite; the sanitizer builds check the rest.
BOOST_AUTO_TEST_CASE(random_headers_and_times_never_break_it) {
    static constexpr std::string_view names[] = {"x-ratelimit-limit-requests",
                                                 "x-ratelimit-remaining-requests",
                                                 "X-RateLimit-Reset-Requests",
                                                 "x-ratelimit-limit-tokens",
                                                 "x-ratelimit-remaining-tokens",
                                                 "x-ratelimit-reset-tokens",
                                                 "anthropic-ratelimit-requests-limit",
                                                 "anthropic-ratelimit-requests-remaining",
                                                 "anthropic-ratelimit-requests-reset",
                                                 "anthropic-ratelimit-input-tokens-remaining",
                                                 "anthropic-ratelimit-input-tokens-reset",
                                                 "anthropic-ratelimit-output-tokens-limit",
                                                 "anthropic-ratelimit-output-tokens-reset",
                                                 "retry-after",
                                                 "retry-after-ms"};
    fl::splitmix64 g{0xfa17};
    lim::pacer_options o;
    o.max_wait = 1h;
    test_pacer p(o);
    std::int64_t now = 0;
    std::vector<lim::pacer_ticket> sent;
    std::uint64_t ignored = 0;
    for (int i = 0; i < 20'000; ++i) {
        // Jumps of up to 50 years while below 100: the manual clock and the wall clock it
        // maps to (from 2026) both stay inside system_clock's range.
        constexpr std::int64_t year = std::int64_t{365} * 24 * 3600 * 1'000'000'000;
        if (g() % 500 == 0 && now < 100 * year)
            now += static_cast<std::int64_t>(g() % 50) * year;
        else
            now += static_cast<std::int64_t>(g() % 2'000'000'000);
        const instant t = at(nanoseconds(now));
        const auto cost = lim::request_cost::of(g() % 5000, g() % 5000);
        const auto ticket = p.reserve(cost, t);
        BOOST_REQUIRE(ticket.wait >= 0ns);
        BOOST_REQUIRE(ticket.wait <= o.max_wait);
        BOOST_REQUIRE(static_cast<bool>(ticket) == (ticket.wait == 0ns));
        if (ticket) sent.push_back(ticket);
        if (!sent.empty() && g() % 2 == 0) {
            fields h;
            for (std::size_t n = 0, k = g() % 8; n < k; ++n)
                h.emplace_back(names[g() % std::size(names)], garbage(g));
            const std::size_t pick = g() % sent.size();
            const unsigned status = g() % 3 == 0 ? 429 : (g() % 2 ? 200 : 500);
            const auto r = p.observe(sent[pick], status, h, t, wall(t) + hours(g() % 87'600));
            ignored += r.ignored;
            BOOST_REQUIRE((r.ignored == 0) == !r.first_error);
            sent.erase(sent.begin() + static_cast<std::ptrdiff_t>(pick));
        }
        for (auto w : {lim::window::requests, lim::window::tokens, lim::window::input_tokens,
                       lim::window::output_tokens}) {
            const auto v = p.view(w, t);
            BOOST_REQUIRE(std::isfinite(v.budget));
            BOOST_REQUIRE(v.until_reset >= 0ns);
            BOOST_REQUIRE(!std::isnan(v.pace));
            BOOST_REQUIRE(v.pace >= 0);
        }
    }
    BOOST_TEST(ignored > 300u); // the garbage was seen as such (652 with this seed)
}

// ---- options -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(options_are_validated) {
    BOOST_TEST(!lim::validate(lim::pacer_options{}));
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<lim::pacer_options> bad;
    for (double v : {-0.01, 0.51, nan, inf}) {
        lim::pacer_options o;
        o.margin = v;
        bad.push_back(o);
        o = {};
        o.refusal_reserve = v;
        bad.push_back(o);
    }
    for (double v : {-1.0, 0.91, nan}) {
        lim::pacer_options o;
        o.max_reserve = v;
        bad.push_back(o);
    }
    for (double v : {-0.1, 1.01, inf}) {
        lim::pacer_options o;
        o.reserve_decay = v;
        bad.push_back(o);
    }
    {
        lim::pacer_options o;
        o.max_wait = 0ns;
        bad.push_back(o);
        o.max_wait = -1s;
        bad.push_back(o);
        o = {};
        o.refusal_backoff = -1ns;
        bad.push_back(o);
        o = {};
        o.max_wait = 1s;
        o.refusal_backoff = 2s;
        bad.push_back(o);
    }
    for (const auto& o : bad) {
        BOOST_TEST((lim::validate(o) == std::errc::invalid_argument));
        BOOST_CHECK_THROW(test_pacer{o}, std::system_error);
    }
    lim::pacer_options edge;
    edge.margin = 0.5;
    edge.max_reserve = 0.9;
    edge.reserve_decay = 1;
    edge.refusal_backoff = edge.max_wait;
    BOOST_TEST(!lim::validate(edge));
}

// ---- the rule, step by step ----------------------------------------------------------------

namespace {
fields openai(std::uint64_t limit, std::uint64_t remaining, std::string reset) {
    return {{"x-ratelimit-limit-requests", std::to_string(limit)},
            {"x-ratelimit-remaining-requests", std::to_string(remaining)},
            {"x-ratelimit-reset-requests", std::move(reset)}};
}
} // namespace

BOOST_AUTO_TEST_CASE(without_rate_limit_headers_nothing_is_paced) {
    test_pacer p;
    for (int i = 0; i < 1000; ++i) {
        const auto t = p.reserve(lim::request_cost::flat(1000), at(1ms * i));
        BOOST_TEST(static_cast<bool>(t));
        p.observe(t, 200, fl::no_headers{}, at(1ms * i), wall(at(1ms * i)));
    }
    BOOST_TEST(p.view(lim::window::requests, at(1s)).pace ==
               std::numeric_limits<double>::infinity());
}

BOOST_AUTO_TEST_CASE(the_budget_is_spread_over_the_time_to_reset) {
    lim::pacer_options o;
    o.margin = 0;
    test_pacer p(o);
    const auto first = p.reserve({}, at(0s));
    // 10 left over the next 10 s: one a second.
    p.observe(first, 200, openai(100, 10, "10s"), at(0s), wall(at(0s)));
    // 10 left over the 10 s from the last send: one a second.
    auto a = p.reserve({}, at(0s));
    BOOST_TEST(!a); // not yet, and nothing reserved
    BOOST_TEST(a.wait.count() == nanoseconds(1s).count());
    BOOST_TEST(p.wait({}, at(0s)).count() == nanoseconds(1s).count());
    a = p.reserve({}, at(1s));
    BOOST_TEST(static_cast<bool>(a));
    BOOST_TEST(a.wait.count() == 0);
    // 9 left over the 9 s from `a`'s send: one a second still.
    const auto b = p.reserve({}, at(1s));
    BOOST_TEST(!b);
    BOOST_TEST(b.wait.count() == nanoseconds(1s).count());
    const auto v = p.view(lim::window::requests, at(1s));
    BOOST_TEST(v.known);
    BOOST_TEST(v.limit == 100u);
    BOOST_TEST(v.budget == 9.0); // 10 - a
    BOOST_TEST(v.until_reset.count() == nanoseconds(9s).count());
    BOOST_TEST(v.pace == 1.0);
}

BOOST_AUTO_TEST_CASE(requests_in_flight_count_against_what_the_headers_say) {
    lim::pacer_options o;
    o.margin = 0;
    test_pacer p(o);
    const auto first = p.reserve({}, at(0s));
    std::vector<lim::pacer_ticket> later;
    for (int i = 0; i < 3; ++i)
        later.push_back(p.reserve({}, at(0s)));
    // The first one's response says 4 left; three of ours went out after it.
    p.observe(first, 200, openai(100, 4, "60s"), at(1s), wall(at(1s)));
    BOOST_TEST(p.view(lim::window::requests, at(1s)).budget == 1.0);
    // The response to the last of them says 1 left: nothing of ours is uncounted.
    p.observe(later[2], 200, openai(100, 1, "59s"), at(1s), wall(at(1s)));
    BOOST_TEST(p.view(lim::window::requests, at(1s)).budget == 1.0);
    // An older response arriving late says more is left than the newer one did: ignored.
    p.observe(later[0], 200, openai(100, 3, "59s"), at(1s), wall(at(1s)));
    BOOST_TEST(p.view(lim::window::requests, at(1s)).budget == 1.0);
}

BOOST_AUTO_TEST_CASE(nothing_left_waits_for_the_reset_then_a_full_window) {
    lim::pacer_options o;
    o.margin = 0;
    test_pacer p(o);
    auto t = p.reserve({}, at(0s));
    p.observe(t, 200, openai(60, 0, "20s"), at(0s), wall(at(0s)));
    t = p.reserve({}, at(0s));
    BOOST_TEST(!t);
    BOOST_TEST(t.wait.count() == nanoseconds(20s).count());
    t = p.reserve({}, at(20s));
    BOOST_TEST(static_cast<bool>(t));
    // In the assumed fresh window, requests are spaced at its long-run rate: 60 over the 20 s
    // seen.
    const auto u = p.reserve({}, at(20s));
    BOOST_TEST(u.wait.count() == nanoseconds(20s).count() / 60 + 1);
}

BOOST_AUTO_TEST_CASE(a_429_blocks_for_its_retry_after_capped_and_learns_a_reserve) {
    lim::pacer_options o;
    o.max_wait = 1min;
    test_pacer p(o);
    const auto t1 = p.reserve({}, at(0s));
    const auto t2 = p.reserve({}, at(0s));
    fields h = openai(100, 50, "30s");
    h.emplace_back("retry-after", "2");
    p.observe(t1, 429, h, at(1s), wall(at(1s)));
    BOOST_TEST(p.refusals() == 1u);
    BOOST_TEST(p.reserve({}, at(1s)).wait.count() >= nanoseconds(2s).count());
    const double reserve = p.view(lim::window::requests, at(1s)).reserve;
    BOOST_TEST(reserve == o.refusal_reserve);
    // The second refusal of the same burst (sent before the first was seen) learns nothing new.
    p.observe(t2, 429, h, at(1s), wall(at(1s)));
    BOOST_TEST(p.view(lim::window::requests, at(1s)).reserve == reserve);
    // A hostile Retry-After is cut to max_wait.
    const auto t3 = p.reserve({}, at(10s));
    BOOST_REQUIRE(static_cast<bool>(t3));
    p.observe(t3, 429, fields{{"retry-after", "99999999"}}, at(10s), wall(at(10s)));
    BOOST_TEST(p.reserve({}, at(10s)).wait.count() == nanoseconds(1min).count());
    // Successes release the reserve.
    for (int i = 0; i < 1000; ++i) {
        const auto t = p.reserve({}, at(2h + 1s * i));
        BOOST_REQUIRE(static_cast<bool>(t));
        p.observe(t, 200, openai(100, 99, "600ms"), at(2h + 1s * i), wall(at(2h)));
    }
    BOOST_TEST(p.view(lim::window::requests, at(3h)).reserve < 0.01 * o.refusal_reserve);
}

BOOST_AUTO_TEST_CASE(a_429_without_a_hint_backs_off) {
    test_pacer p;
    const auto t = p.reserve({}, at(0s));
    p.observe(t, 429, fl::no_headers{}, at(0s), wall(at(0s)));
    BOOST_TEST(p.reserve({}, at(0s)).wait.count() == nanoseconds(1s).count());
}

BOOST_AUTO_TEST_CASE(a_request_above_the_limit_is_not_held) {
    test_pacer p;
    auto t = p.reserve(lim::request_cost::flat(10), at(0s));
    p.observe(t, 200,
              fields{{"x-ratelimit-limit-tokens", "100"},
                     {"x-ratelimit-remaining-tokens", "50"},
                     {"x-ratelimit-reset-tokens", "30s"}},
              at(0s), wall(at(0s)));
    // No wait makes 1000 tokens fit a 100-token window: the server decides at once.
    BOOST_TEST(static_cast<bool>(p.reserve(lim::request_cost::flat(1000), at(0s))));
    // 60 do not fit the 50 left (less the 1000 just counted) but fit the next window.
    BOOST_TEST(p.reserve(lim::request_cost::flat(60), at(0s)).wait.count() ==
               nanoseconds(30s).count());
}

BOOST_AUTO_TEST_CASE(a_refusal_despite_remaining_is_learnt_as_header_lag) {
    test_pacer p;
    const auto t1 = p.reserve({}, at(0s));
    p.observe(t1, 200, openai(100, 10, "60s"), at(0s), wall(at(0s)));
    auto t2 = p.reserve({}, at(0s));
    BOOST_TEST(!t2); // 10 over 60 s: about one each 6 s
    t2 = p.reserve({}, at(7s));
    BOOST_REQUIRE(static_cast<bool>(t2));
    // Refused, while the (lagging) headers still say 10 are left.
    fields h = openai(100, 10, "53s");
    h.emplace_back("retry-after", "1");
    p.observe(t2, 429, h, at(7s), wall(at(7s)));
    auto v = p.view(lim::window::requests, at(7s));
    BOOST_TEST(v.bias == 10.0);    // overstated by at least 10 - 1 + 1
    BOOST_TEST(v.reserve == 0.02); // and 2 % of the limit held back
    BOOST_TEST(v.budget == -12.0); // the refusal's word: nothing left
    BOOST_TEST(v.until_reset.count() == nanoseconds(1s).count()); // until its Retry-After
    BOOST_TEST(!p.reserve({}, at(7s)));
    // Then an assumed window at the long-run rate: 100 less the 2 % over the longest reset
    // seen, 60 s.
    const auto t3 = p.reserve({}, at(8s));
    BOOST_REQUIRE(static_cast<bool>(t3));
    const auto t4 = p.reserve({}, at(8s));
    BOOST_TEST(t4.wait.count() == static_cast<std::int64_t>(std::ceil(60e9 / (0.98 * 98))));
    // Later `remaining`s are read less the bias, which successes release.
    p.observe(t3, 200, openai(100, 40, "30s"), at(9s), wall(at(9s)));
    v = p.view(lim::window::requests, at(9s));
    BOOST_TEST(v.bias == 9.9, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(v.budget == 40 - 9.9 - 100 * 0.0198, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(a_refusal_is_laid_on_the_window_nearest_exhaustion) {
    test_pacer p;
    const auto t1 = p.reserve(lim::request_cost::flat(100), at(0s));
    fields h = {{"x-ratelimit-limit-requests", "1000"},
                {"x-ratelimit-remaining-requests", "900"},
                {"x-ratelimit-reset-requests", "6s"},
                {"x-ratelimit-limit-tokens", "10000"},
                {"x-ratelimit-remaining-tokens", "500"},
                {"x-ratelimit-reset-tokens", "57s"},
                {"retry-after-ms", "300"}};
    p.observe(t1, 429, h, at(0s), wall(at(0s)));
    BOOST_TEST(p.view(lim::window::requests, at(0s)).bias == 0.0);
    BOOST_TEST(p.view(lim::window::requests, at(0s)).reserve == 0.0);
    BOOST_TEST(p.view(lim::window::tokens, at(0s)).bias == 401.0); // 500 - 100 + 1
    BOOST_TEST(p.view(lim::window::tokens, at(0s)).reserve == 0.02);
    // Headers that show a window exhausted explain the refusal: no lag is learnt.
    const auto t2 = p.reserve(lim::request_cost::flat(100), at(1s));
    BOOST_REQUIRE(static_cast<bool>(t2));
    h[4].second = "50";
    p.observe(t2, 429, h, at(1s), wall(at(1s)));
    BOOST_TEST(p.view(lim::window::tokens, at(1s)).bias == 401.0);
    BOOST_TEST(p.view(lim::window::requests, at(1s)).bias == 0.0);
}

// Regression: with every window reporting more left than its limit, no window was "nearest"
// and the refusal was laid on one past the last.
BOOST_AUTO_TEST_CASE(a_refusal_with_remaining_above_the_limit_is_laid_on_a_window) {
    test_pacer p;
    const auto t = p.reserve({}, at(0s));
    p.observe(t, 429, openai(10, 50, "1s"), at(0s), wall(at(0s)));
    const auto v = p.view(lim::window::requests, at(0s));
    BOOST_TEST(v.bias == 2.5); // capped at max_reserve of the limit
    BOOST_TEST(v.reserve == 0.02);
    BOOST_TEST(p.refusals() == 1u);
}

BOOST_AUTO_TEST_CASE(headers_lagging_across_a_reset_change_nothing) {
    lim::pacer_options o;
    o.margin = 0;
    test_pacer p(o);
    const auto t1 = p.reserve({}, at(0s));
    p.observe(t1, 200, openai(10, 5, "10s"), at(0s), wall(at(0s)));
    auto t2 = p.reserve({}, at(9s));
    BOOST_REQUIRE(static_cast<bool>(t2));
    // Its response comes back after the reset, still showing the old window nearly spent.
    p.observe(t2, 200, openai(10, 1, "0s"), at(12s), wall(at(12s)));
    const auto v = p.view(lim::window::requests, at(12s));
    // The window assumed from 10 s to 20 s stands: 10 less ours since the observation.
    BOOST_TEST(v.until_reset.count() == nanoseconds(8s).count());
    BOOST_TEST(v.budget == 9.0);
    // A full bucket's "0s" with everything left is news, and taken.
    const auto t3 = p.reserve({}, at(12s));
    BOOST_REQUIRE(static_cast<bool>(t3));
    p.observe(t3, 200, openai(10, 10, "0s"), at(13s), wall(at(13s)));
    BOOST_TEST(p.view(lim::window::requests, at(13s)).until_reset.count() ==
               nanoseconds(10s).count());
}

// ---- the simulations -----------------------------------------------------------------------

namespace {

// Runs `clients` against `server` for 10 simulated minutes and measures minutes 2 to 10.
figures run_steady(provider& server, std::vector<client*> clients, double limit_per_minute,
                   bool tokens, std::uint64_t seed = 0x5eed) {
    server.from = at(2min);
    server.to = at(10min);
    simulation sim{server, std::move(clients)};
    sim.rng = fl::splitmix64{seed};
    sim.run(at(10min));
    figures f;
    f.used = server.used(tokens, limit_per_minute);
    std::uint64_t sent = 0, refused = 0;
    for (client* c : sim.clients) {
        sent += c->sent;
        refused += c->refused;
    }
    f.refused = share(refused, static_cast<double>(sent));
    return f;
}

} // namespace

// Hidden limit 600 RPM (GCRA, a minute's burst), 32 requests in flight per client, responses
// after 0.3-3 s plus 20-80 ms each way; "used" is corrected for the bucket's level at both
// ends of minutes 2-10. Measured (seed 0x5eed), pacer / plain retry-on-429 client:
//   header lag 0:     used 99.98 % / 99.98 %, refused 0 % / 89.0 % (8 refusals per success)
//   header lag 1 s:   used 99.98 %,           refused 0 %
//   header lag 5 s:   used 99.96 %,           refused 0 %
BOOST_AUTO_TEST_CASE(gcra_steady_state_uses_95_percent_refuses_1_percent_plain_wastes_most) {
    for (const nanoseconds lag : {nanoseconds(0), nanoseconds(1s), nanoseconds(5s)}) {
        gcra_provider server(600, 100'000'000);
        server.staleness = lag;
        client c;
        const figures f = run_steady(server, {&c}, 600, false);
        BOOST_TEST_MESSAGE("gcra lag " << duration_cast<milliseconds>(lag).count() << " ms: used "
                                       << f.used << ", refused " << f.refused);
        BOOST_TEST_CONTEXT("lag " << lag.count()) {
            BOOST_TEST(f.used >= 0.95);
            BOOST_TEST(f.refused <= 0.01);
        }
        if (lag == 0ns) {
            gcra_provider plain_server(600, 100'000'000);
            client plain;
            plain.paced = false;
            const figures g = run_steady(plain_server, {&plain}, 600, false);
            BOOST_TEST_MESSAGE("gcra plain: used " << g.used << ", refused " << g.refused);
            BOOST_TEST(g.refused >= 0.5);
            BOOST_TEST(g.refused >= 20 * f.refused);
        }
    }
}

// Hidden limit 600 per fixed one-minute window. Measured (seed 0x5eed), pacer / plain:
//   header lag 0:     used 98.75 % / 100 %, refused 0 % / 5.1 %
//   header lag 1 s:   used 100 %,           refused 0.23 %
BOOST_AUTO_TEST_CASE(fixed_window_steady_state_uses_95_percent_refuses_1_percent) {
    for (const nanoseconds lag : {nanoseconds(0), nanoseconds(1s)}) {
        window_provider server(600, 100'000'000);
        server.staleness = lag;
        client c;
        const figures f = run_steady(server, {&c}, 600, false);
        BOOST_TEST_MESSAGE("window lag " << duration_cast<milliseconds>(lag).count() << " ms: used "
                                         << f.used << ", refused " << f.refused);
        BOOST_TEST_CONTEXT("lag " << lag.count()) {
            BOOST_TEST(f.used >= 0.95);
            BOOST_TEST(f.refused <= 0.01);
        }
        if (lag == 0ns) {
            window_provider plain_server(600, 100'000'000);
            client plain;
            plain.paced = false;
            const figures g = run_steady(plain_server, {&plain}, 600, false);
            BOOST_TEST_MESSAGE("window plain: used " << g.used << ", refused " << g.refused);
            // An exact Retry-After (the window's end) keeps the plain client's waste to one
            // refusal per worker and window, all at the window's start: far more than none.
            BOOST_TEST(g.refused >= 0.04);
            BOOST_TEST(g.refused >= 10 * f.refused);
        }
    }
}

// Two pacers that do not know of each other share one 600 RPM key (GCRA, header lag 0.5 s).
// Measured (seed 0x5eed): together used 100 %, refused 0 %; 3192 and 3183 successes.
BOOST_AUTO_TEST_CASE(two_pacers_sharing_one_key_stay_under_it_together) {
    gcra_provider server(600, 100'000'000);
    server.staleness = 500ms;
    client a, b;
    const figures f = run_steady(server, {&a, &b}, 600, false);
    BOOST_TEST_MESSAGE("shared: used " << f.used << ", refused " << f.refused << ", a "
                                       << a.admitted << ", b " << b.admitted);
    BOOST_TEST(f.used >= 0.95);
    BOOST_TEST(f.refused <= 0.01);
    const double a_share = share(a.admitted, static_cast<double>(a.admitted + b.admitted));
    BOOST_TEST(a_share >= 0.3);
    BOOST_TEST(a_share <= 0.7);
}

// The hidden limit halves at minute 5 (600 -> 300 RPM), header lag 0.25 s. Measured (seed
// 0x5eed): GCRA refused none after the change and used 99.9 % of the new limit over minutes
// 6-10; fixed window refused none, used 99.0 %.
BOOST_AUTO_TEST_CASE(the_limit_halves_mid_run_and_the_pacer_follows) {
    for (const bool bucket : {true, false}) {
        std::unique_ptr<provider> server;
        gcra_provider* g = nullptr;
        window_provider* w = nullptr;
        if (bucket)
            server.reset(g = new gcra_provider(600, 100'000'000));
        else
            server.reset(w = new window_provider(600, 100'000'000));
        server->staleness = 250ms;
        server->from = at(6min);
        server->to = at(10min);
        client c;
        simulation sim{*server, {&c}};
        std::uint64_t refused_before = 0;
        sim.actions.emplace_back(at(5min), [&](instant now) {
            refused_before = c.refused;
            if (g) g->set_limits(300, 100'000'000, now);
            if (w) w->rpm = 300;
        });
        sim.run(at(10min));
        const std::uint64_t refused_after = c.refused - refused_before;
        const double used = server->used(false, 300);
        BOOST_TEST_MESSAGE((bucket ? "gcra" : "window")
                           << " halved: refused after " << refused_after << " of " << c.sent
                           << ", used " << used);
        BOOST_TEST_CONTEXT((bucket ? "gcra" : "window")) {
            BOOST_TEST(refused_after <= 10u);
            BOOST_TEST(c.refused_share() <= 0.01);
            BOOST_TEST(used >= 0.95);
            BOOST_TEST(used <= 1.01);
            BOOST_TEST(c.p->view(lim::window::requests, at(10min)).limit == 300u);
        }
    }
}

// Tokens bind, not requests: 600k TPM with requests of 200-1800 tokens (about 10 a second),
// 3000 RPM, header lag 0.25 s. Measured (seed 0x5eed): GCRA used 99.98 % of the TPM,
// refused 0 %; fixed window 98.6 %, 0 %; the requests limit 20 % used.
BOOST_AUTO_TEST_CASE(a_binding_tokens_limit_is_paced_by_cost) {
    for (const bool bucket : {true, false}) {
        std::unique_ptr<provider> server;
        if (bucket)
            server = std::make_unique<gcra_provider>(3000, 600'000);
        else
            server = std::make_unique<window_provider>(3000, 600'000);
        server->staleness = 250ms;
        client c;
        c.tokens_min = 200;
        c.tokens_max = 1800;
        const figures f = run_steady(*server, {&c}, 600'000, true);
        BOOST_TEST_MESSAGE((bucket ? "gcra" : "window")
                           << " tokens: used " << f.used << ", refused " << f.refused
                           << ", requests used " << share(server->admitted, 3000.0 * 8));
        BOOST_TEST_CONTEXT((bucket ? "gcra" : "window")) {
            BOOST_TEST(f.used >= 0.95);
            BOOST_TEST(f.refused <= 0.01);
            BOOST_TEST(share(server->admitted, 3000.0 * 8) < 0.5); // requests did not bind
        }
    }
}

// Anthropic's headers: resets as RFC 3339 times in whole seconds, input tokens binding
// (400k ITPM, 200-1800 tokens a request, 3000 RPM), Retry-After in whole seconds, header lag
// 0.25 s. Measured (seed 0x5eed): used 99.94 %, refused 0 %.
BOOST_AUTO_TEST_CASE(anthropic_headers_pace_the_same_way) {
    gcra_provider server(3000, 400'000);
    server.d = dialect::anthropic;
    server.staleness = 250ms;
    client c;
    c.tokens_min = 200;
    c.tokens_max = 1800;
    const figures f = run_steady(server, {&c}, 400'000, true);
    BOOST_TEST_MESSAGE("anthropic: used " << f.used << ", refused " << f.refused);
    BOOST_TEST(f.used >= 0.95);
    BOOST_TEST(f.refused <= 0.01);
    const auto v = c.p->view(lim::window::input_tokens, at(10min));
    BOOST_TEST(v.known);
    BOOST_TEST(v.limit == 400'000u);
}

// Harder settings, each 10 simulated minutes measured from minute 2, seed 0x5eed: header lag
// up to 5 s, up to four clients on one key, a limit of one request a second against 32
// requests in flight per client. Measured figures in the table (used, refused).
BOOST_AUTO_TEST_CASE(harder_settings_stay_within_bounds) {
    struct row {
        const char* name;
        bool bucket;
        std::uint64_t rpm;
        nanoseconds lag;
        std::size_t clients;
        double max_refused;
    };
    const row rows[] = {
        {"window, lag 5 s", false, 600, 5s, 1, 0.01},                 // 100 %, 0.30 %
        {"window, 4 clients, lag 0.5 s", false, 600, 500ms, 4, 0.01}, // 100 %, 0.37 %
        {"gcra, 4 clients, lag 0.5 s", true, 600, 500ms, 4, 0.01},    // 100 %, 0 %
        {"gcra, 60 rpm, lag 1 s", true, 60, 1s, 1, 0.01},             // 99.8 %, 0 %
        {"window, 60 rpm, lag 1 s", false, 60, 1s, 1, 0.01},          // 99.0 %, 0.34 %
        // The hardest here: two clients, 64 in flight against one a second, with headers a
        // second late. Most refusals are at the start, before anything was observed.
        {"window, 60 rpm, 2 clients, lag 1 s", false, 60, 1s, 2, 0.015}, // 96.9 %, 1.18 %
    };
    for (const auto& r : rows) {
        std::unique_ptr<provider> server;
        if (r.bucket)
            server = std::make_unique<gcra_provider>(r.rpm, 100'000'000);
        else
            server = std::make_unique<window_provider>(r.rpm, 100'000'000);
        server->staleness = r.lag;
        std::vector<std::unique_ptr<client>> owned;
        std::vector<client*> clients;
        for (std::size_t i = 0; i < r.clients; ++i) {
            owned.push_back(std::make_unique<client>());
            clients.push_back(owned.back().get());
        }
        const figures f = run_steady(*server, clients, static_cast<double>(r.rpm), false);
        BOOST_TEST_MESSAGE(r.name << ": used " << f.used << ", refused " << f.refused);
        BOOST_TEST_CONTEXT(r.name) {
            BOOST_TEST(f.used >= 0.95);
            BOOST_TEST(f.refused <= r.max_refused);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

#include "loadgen/loadgen.hpp"

#include "common/chat.hpp"
#include "common/cli.hpp"
#include "common/paced.hpp"
#include "common/seed.hpp"

#include <faultline/exchange.hpp>
#include <faultline/limit/pacer.hpp>
#include <faultline/pipeline.hpp>
#include <faultline/retry/backoff.hpp>
#include <faultline/sse/monitor.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <csignal>
#include <exception>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

namespace examples::loadgen {

namespace {

using clock = std::chrono::steady_clock;
constexpr auto nothrow = net::as_tuple(net::use_awaitable);

// Most inter-token gaps kept per stream (8 MiB); a longer stream's further gaps are counted.
constexpr std::size_t max_token_gaps = std::size_t(1) << 20;

// What one connection measures of its current attempt, reused from request to request so that
// a run allocates nothing per request once its buffers have grown.
struct attempt_scratch {
    token_reader reader;
    std::vector<std::chrono::nanoseconds> gaps;
    std::uint64_t gaps_not_kept = 0;
    std::optional<clock::time_point> first_content, first_token, last_token;
    std::uint64_t text_events = 0;
    token_usage usage;

    void reset() {
        gaps.clear();
        gaps_not_kept = 0;
        first_content.reset();
        first_token.reset();
        last_token.reset();
        text_events = 0;
        usage = {};
    }
};

// Watches a stream's events: the first content event, the tokens (events carrying generated
// text) and their gaps, and the usage the stream reports.
struct stream_watch {
    attempt_scratch* s;
    void on_event(const faultline::sse::event& e, faultline::sse::event_kind kind) {
        using faultline::sse::event_kind;
        if (kind != event_kind::content && kind != event_kind::done) return;
        const clock::time_point now = clock::now();
        if (kind == event_kind::content && !s->first_content) s->first_content = now;
        if (kind == event_kind::done && e.data == "[DONE]") return;
        const event_tokens t = s->reader.read(e.data);
        s->usage.update(t.usage);
        if (!t.text) return;
        ++s->text_events;
        if (!s->last_token) {
            s->first_token = now;
        } else if (s->gaps.size() < max_token_gaps) {
            s->gaps.push_back(now - *s->last_token);
        } else {
            ++s->gaps_not_kept;
        }
        s->last_token = now;
    }
};

// Everything the coroutines of one run share. They all run on one strand, so nothing here
// needs a lock.
struct run_state {
    run_state(const options& o, const net::any_io_executor& ex)
        : opts(o)
        , rep(settings_of(o), o.max_series_seconds)
        , wake(ex)
        , body(request_body(o))
        , bodies(bodies_of(o))
        , connections(o.connections, nullptr)
        , waits(o.connections, nullptr) {
        pipeline.retry = o.retry;
        if (o.pace) pacer.emplace();
    }

    const options& opts;
    faultline::pipeline_options pipeline; // the retry policy, for every request's pipeline
    report rep;
    net::steady_timer wake; // the supervisor's: progress ticks, the abort, last exits
    std::string body;
    request_bodies bodies;      // when they vary, request k's replaces `body`
    std::uint64_t sequence = 0; // requests started so far, the warm-up's included
    clock::time_point start;
    clock::time_point end;
    warmup_split split{clock::time_point{}, std::nullopt}; // set with `start`
    std::optional<arrival_schedule> schedule;              // open loop only
    std::optional<clock::time_point> next_due; // open loop: the next request's, once drawn
    std::optional<clock::time_point> stop_at;  // no request starts at or after it
    std::optional<clock::time_point> abort_at; // running requests are cut off at it
    std::uint64_t issued = 0;
    unsigned alive = 0;   // connection coroutines not yet finished
    unsigned helpers = 0; // the signal watcher
    bool aborting = false;
    std::exception_ptr failure;
    // Each connection's socket and retry timer, so an abort can cancel what they wait on.
    std::vector<http_connection*> connections;
    std::vector<net::steady_timer*> waits;
    std::optional<faultline::limit::pacer<clock>> pacer; // with `options::pace`
};

bool valid_path(std::string_view p) {
    return !p.empty() && p.front() == '/' && p.find_first_of(" \t\r\n#") == std::string_view::npos;
}

bool stopped(const run_state& s, clock::time_point now) {
    return s.stop_at && now >= *s.stop_at;
}

// Whether a request may start now; a warm-up one (not `measured`) counts against no limit.
bool take_ticket(run_state& s, bool measured) {
    if (s.aborting || stopped(s, clock::now())) return false;
    if (!measured) return true;
    if (s.opts.requests && s.issued >= *s.opts.requests) return false;
    ++s.issued;
    return true;
}

void abort_all(run_state& s) {
    s.aborting = true;
    for (http_connection* c : s.connections)
        if (c) c->close();
    for (net::steady_timer* t : s.waits)
        if (t) t->cancel();
}

struct attempt_end {
    request_result result;                     // all but latency, first_* and retries
    std::optional<faultline::failure> failure; // in full, for the retry decision
};

net::awaitable<attempt_end> attempt(run_state& s, http_connection& conn,
                                    http::request<http::string_body>& req, attempt_scratch& scratch,
                                    const faultline::limit::pacer_ticket& paced) {
    attempt_end a;
    scratch.reset();
    faultline::exchange<stream_watch, clock> x(clock::now(), {}, stream_watch{&scratch});
    exchange_options xo;
    xo.idle_timeout = s.opts.timeout;
    const exchange_result t = co_await conn.exchange(
        req,
        [&](const response_head& head) {
            (void)x.head(head.status, head.headers, clock::now());
            const faultline::limit::rate_limit_report limits =
                faultline::limit::read_rate_limits(head.headers, std::chrono::system_clock::now());
            if (paced) s.pacer->observe(paced, head.status, limits, clock::now());
            if (limits.retry_after || limits.ignored != 0 ||
                std::any_of(limits.windows.begin(), limits.windows.end(),
                            [](const auto& w) { return w.limit || w.remaining || w.reset; }))
                a.result.rate_limits = limits;
        },
        [&](std::string_view piece) { return x.body(piece, clock::now()); }, xo);
    const faultline::exchange_result& out = x.finish(t.ec, clock::now());

    request_result& r = a.result;
    r.status = out.status;
    r.transport = out.transport;
    if (out.stream) {
        r.verdict = out.stream->kind;
        r.events = x.monitor()->events();
        r.content_events = x.monitor()->content_events();
        r.text_events = scratch.text_events;
        r.token_gaps = scratch.gaps;
        r.token_gaps_not_kept = scratch.gaps_not_kept;
        r.usage = scratch.usage;
    }
    a.failure = out.failure;
    if (!out.stream && !out.failure && out.status / 100 == 2) {
        const event_tokens body = scratch.reader.read(x.body());
        r.usage = body.usage;
        // An OpenAI-compatible answer is a JSON object: an HTML page or a proxy's plain text
        // with a 200 is a failure, not a success with unknown tokens.
        if (!body.object)
            a.failure = faultline::to_failure(
                faultline::error::malformed_json,
                "the 2xx answer is not a JSON object: is the URL an OpenAI-compatible API?");
    }
    if (a.failure) r.failure = failure_kind{a.failure->cat, a.failure->code};
    co_return a;
}

// Waits until the run's pacer lets a request of `cost` go and reserves it in `ticket`, adding
// the time waited to `paced`; false when the run ends (or would end) first.
net::awaitable<bool> paced_start(run_state& s, net::steady_timer& wait,
                                 const faultline::limit::request_cost& cost,
                                 faultline::limit::pacer_ticket& ticket,
                                 std::chrono::nanoseconds& paced) {
    const auto run_ends = [&s](std::chrono::nanoseconds w, clock::time_point now) {
        return s.aborting || (s.stop_at && now + w >= *s.stop_at);
    };
    co_return !co_await examples::paced_start(*s.pacer, cost, wait, ticket, paced, run_ends);
}

// One request with its retries; none when pacing held its first attempt until the run ended.
net::awaitable<std::optional<request_result>>
one_request(run_state& s, http_connection& conn, net::steady_timer& wait,
            http::request<http::string_body>& req, faultline::splitmix64& rng,
            attempt_scratch& scratch, clock::time_point begin) {
    const faultline::limit::request_cost cost =
        faultline::limit::request_cost::of((req.body().size() + 3) / 4, s.opts.max_tokens);
    faultline::limit::pacer_ticket ticket;
    std::chrono::nanoseconds paced{0};
    if (s.pacer) {
        if (!co_await paced_start(s, wait, cost, ticket, paced)) co_return std::nullopt;
        if (!s.schedule) begin = clock::now(); // a closed loop measures from the first send
    }
    faultline::pipeline<faultline::null_pipeline_events, clock> p(s.pipeline, begin, {}, nullptr,
                                                                  faultline::splitmix64(rng()));
    request_result r;
    for (;;) {
        const faultline::step st = p.next(clock::now());
        if (st.what == faultline::action::attempt) {
            if (st.attempt > 1) { // a retry of `r`
                if (s.aborting || stopped(s, clock::now())) co_return r;
                if (s.split.measured(begin))
                    s.rep.add_retry(r, clock::now() - s.split.measured_from());
                if (s.pacer && !co_await paced_start(s, wait, cost, ticket, paced)) {
                    r.paced = paced;
                    co_return r;
                }
            }
            attempt_end a = co_await attempt(s, conn, req, scratch, ticket);
            const clock::time_point end = clock::now();
            r = std::move(a.result);
            r.retries = st.attempt - 1;
            r.paced = paced;
            r.latency = end - begin;
            if (scratch.first_content) r.first_event = *scratch.first_content - begin;
            if (scratch.first_token) r.first_token = *scratch.first_token - begin;
            if (!a.failure || s.aborting) co_return r;
            p.failed(st.attempt, std::move(*a.failure), end, r.content_events != 0);
            continue;
        }
        if (st.what != faultline::action::wait) co_return r; // gave up
        // A wait past the end of the run would only be cut off: report the failure instead.
        if (s.stop_at && clock::now() + st.delay >= *s.stop_at) co_return r;
        wait.expires_after(st.delay);
        co_await wait.async_wait(nothrow);
        if (s.aborting) co_return r;
    }
}

// A request a connection may send, and when it counts from: its scheduled time in an open
// loop (however late a connection comes free for it), else when the connection took it.
// Requests that begin during the warm-up are sent but not measured.
struct ticket {
    clock::time_point begin;
    bool measured = true;
    std::uint64_t sequence = 0; // which body it sends
};

// The next request for a free connection, once it is due (an open loop waits for its scheduled
// time on `wait`); none when the run sends no more.
net::awaitable<std::optional<ticket>> next_ticket(run_state& s, net::steady_timer& wait) {
    if (!s.schedule) {
        const clock::time_point now = clock::now();
        const bool measured = s.split.measured(now);
        if (!take_ticket(s, measured)) co_return std::nullopt;
        co_return ticket{now, measured, s.sequence++};
    }
    if (s.aborting || stopped(s, clock::now())) co_return std::nullopt;
    if (!s.next_due) s.next_due = s.start + s.schedule->next();
    const clock::time_point due = *s.next_due;
    const bool measured = s.split.measured(due);
    if (stopped(s, due)) co_return std::nullopt;
    if (measured) {
        if (s.opts.requests && s.issued >= *s.opts.requests) co_return std::nullopt;
        ++s.issued;
    }
    s.next_due.reset();
    const std::uint64_t sequence = s.sequence++;
    // A stop (the end of the duration, a signal) cancels the wait and is seen here.
    while (clock::now() < due) {
        wait.expires_at(due);
        co_await wait.async_wait(nothrow);
        if (s.aborting || stopped(s, due)) co_return std::nullopt;
    }
    co_return ticket{due, measured, sequence};
}

net::awaitable<void> connection(run_state& s, std::size_t index) {
    const auto ex = co_await net::this_coro::executor;
    http_connection conn(ex, s.opts.url, s.opts.tls.get());
    net::steady_timer wait(ex);
    s.connections[index] = &conn;
    s.waits[index] = &wait;
    struct unregister {
        run_state& s;
        std::size_t index;
        ~unregister() {
            s.connections[index] = nullptr;
            s.waits[index] = nullptr;
        }
    } guard{s, index};

    faultline::splitmix64 rng(derived_seed(s.opts.seed, index));
    attempt_scratch scratch;
    auto req =
        conn.make_request(http::verb::post, s.opts.url.target(request_path(s.opts)), s.opts.api_key, s.body);
    while (const std::optional<ticket> t = co_await next_ticket(s, wait)) {
        if (s.bodies.varies()) {
            s.bodies.body_of(t->sequence, req.body());
            req.prepare_payload();
        }
        const clock::time_point started = clock::now();
        const std::optional<request_result> r =
            co_await one_request(s, conn, wait, req, rng, scratch, t->begin);
        if (s.aborting || !r) {
            if (t->measured)
                s.rep.add_aborted();
            else
                ++s.rep.warmup_requests;
            break;
        }
        if (!t->measured) {
            ++s.rep.warmup_requests;
            continue;
        }
        s.rep.add(*r, clock::now() - s.split.measured_from());
        if (s.schedule) s.rep.schedule_lag.record(started - t->begin);
    }
    conn.close();
}

// The first signal stops the run as the end of its duration would; the next aborts it.
net::awaitable<void> watch_signals(run_state& s, net::signal_set& signals) {
    for (;;) {
        auto [ec, number] = co_await signals.async_wait(nothrow);
        (void)number;
        if (ec) co_return;
        s.rep.interrupted = true;
        const clock::time_point now = clock::now();
        if (stopped(s, now)) {
            abort_all(s);
            continue;
        }
        s.stop_at = now;
        s.abort_at = now + s.opts.timeout;
        for (net::steady_timer* t : s.waits)
            if (t) t->cancel();
        s.wake.cancel();
    }
}

net::awaitable<report> supervise(options o, bool handle_signals) {
    const auto ex = co_await net::this_coro::executor;
    run_state s(o, ex);
    s.start = clock::now();
    s.split = warmup_split(s.start, o.warmup);
    if (o.rate) s.schedule.emplace(o.arrival, *o.rate, o.seed);
    if (o.duration) {
        s.stop_at = s.split.measured_from() + *o.duration;
        s.abort_at = *s.stop_at + o.timeout;
    }
    const auto keep_failure = [&s](std::exception_ptr e) {
        if (!e) return;
        if (!s.failure) s.failure = e;
        abort_all(s);
    };

    std::optional<net::signal_set> signals;
    if (handle_signals && o.stop_on_signals) {
        signals.emplace(ex, SIGINT, SIGTERM);
        ++s.helpers;
        net::co_spawn(ex, watch_signals(s, *signals), [&s, keep_failure](std::exception_ptr e) {
            keep_failure(e);
            --s.helpers;
            s.wake.cancel();
        });
    }
    s.alive = o.connections;
    for (std::size_t i = 0; i < o.connections; ++i) {
        net::co_spawn(ex, connection(s, i), [&s, keep_failure](std::exception_ptr e) {
            keep_failure(e);
            if (--s.alive == 0) {
                s.end = clock::now();
                s.wake.cancel();
            }
        });
    }

    // Wakes for progress ticks and the abort; the last connection's exit (or the signal
    // watcher's) cancels the wait. Any wake re-reads the state, so a stale one is harmless.
    clock::time_point last_tick = s.start;
    clock::time_point next_tick = s.start + o.progress_interval;
    std::uint64_t last_requests = 0;
    for (;;) {
        if (s.alive == 0) {
            if (signals) {
                boost::system::error_code ignored;
                signals->cancel(ignored);
            }
            if (s.helpers == 0) break;
        }
        clock::time_point wake_at = s.alive == 0 ? clock::time_point::max() : next_tick;
        if (s.abort_at && !s.aborting) wake_at = std::min(wake_at, *s.abort_at);
        s.wake.expires_at(wake_at);
        co_await s.wake.async_wait(nothrow);

        const clock::time_point now = clock::now();
        if (s.abort_at && !s.aborting && now >= *s.abort_at) abort_all(s);
        if (s.alive != 0 && now >= next_tick) {
            progress p;
            p.elapsed = now - s.start;
            p.requests = s.rep.requests;
            p.ok = s.rep.ok;
            p.throttled = s.rep.throttled;
            p.errors = s.rep.errors;
            p.retries = s.rep.retries;
            const double seconds = std::chrono::duration<double>(now - last_tick).count();
            p.requests_per_second =
                seconds > 0 ? static_cast<double>(p.requests - last_requests) / seconds : 0;
            last_tick = now;
            last_requests = p.requests;
            while (next_tick <= now)
                next_tick += o.progress_interval;
            if (o.on_progress) {
                try {
                    o.on_progress(p);
                } catch (...) {
                    keep_failure(std::current_exception());
                }
            }
        }
    }
    if (s.failure) std::rethrow_exception(s.failure);
    s.rep.finish(std::max(s.end - s.split.measured_from(), clock::duration::zero()));
    co_return std::move(s.rep);
}

// Why the prompt options cannot run; empty when they can.
std::string prompts_problem_of(const options& o) {
    if (o.prompts && o.input_tokens) return "give a prompt list or generated prompts, not both";
    if (o.input_tokens && (*o.input_tokens == 0 || *o.input_tokens > max_prompt_tokens))
        return "input tokens must be 1.." + std::to_string(max_prompt_tokens);
    if (!o.prompts) return {};
    if (o.prompts->prompts.empty()) return "the prompt list is empty";
    for (const prompt& p : o.prompts->prompts) {
        if (p.messages.empty()) return "a prompt of the list has no messages";
        if (p.max_tokens && (*p.max_tokens == 0 || *p.max_tokens > max_prompt_tokens))
            return "a prompt's max_tokens must be 1.." + std::to_string(max_prompt_tokens);
    }
    return {};
}

// config.prompts: where the requests' messages come from.
std::string prompts_text(const options& o) {
    if (o.prompts) {
        const std::size_t n = o.prompts->prompts.size();
        return "file:" + o.prompts->source + ", " + std::to_string(n) +
               (n == 1 ? " prompt" : " prompts");
    }
    if (o.input_tokens) return "generated, ~" + std::to_string(*o.input_tokens) + " tokens";
    return "fixed";
}

std::string url_text(const base_url& u) {
    const bool v6 = u.host.find(':') != std::string::npos;
    return (u.tls ? "https://" : "http://") + (v6 ? "[" + u.host + "]" : u.host) + ":" +
           std::to_string(u.port) + u.path;
}

constexpr std::string_view description =
    R"(Benchmarks an OpenAI-compatible server: N concurrent keep-alive connections each send chat
completions, one at a time, for a duration or a number of requests (whichever ends first). At
the end it prints throughput, latency percentiles, a histogram of statuses and of faultline's
error categories and codes, retries and stream verdicts; --json and --svg write the same for
machines and people. Progress goes to stderr about once a second:

     3.0 s     12345 req     4115 req/s  ok 12000  429 300  err 45)";

constexpr std::string_view footer =
    R"(JSON report (one object; times in the unit their name ends with):
  tool, format            "faultline-loadgen", 2 (bumped when a field changes meaning)
  config                  url, target, model, api ("chat" or "responses"), stream,
                          connections, duration_ms|null, request_limit|null, max_tokens,
                          max_attempts, timeout_ms, seed,
                          rate|null (--rate, requests per second), arrival|null
                          ("constant" or "poisson" with --rate), warmup_ms|null,
                          prompts ("fixed", "generated, ~N tokens" with --input-tokens,
                          "file:NAME, N prompts" with --prompts) (never the API key)
  interrupted             stopped early by SIGINT/SIGTERM
  elapsed_s               start (the end of --warmup) to the end of the last request
  requests                finished requests = ok + throttled + errors
  ok                      2xx, and for a stream the verdict done
  throttled               ended with a 429
  errors                  anything else: other statuses, transport failures (status 0),
                          2xx streams that did not end with done
  retries                 attempts that failed and were retried
  aborted                 requests cut off at the end of the run (in no other count)
  warmup_requests         requests of the --warmup, sent but in no other count
  requests_per_second     requests / elapsed_s
  events, content_events  SSE events of the streams, and of those content chunks
  events_per_second       events / elapsed_s
  latency_ms              {count, min, mean, p50, p90, p99, p999, max}: first attempt's start
                          (with --rate, the request's scheduled time) to the end of the
                          response; null when count is 0; percentiles within 0.4 %
                          (log-linear histogram, 1 ns .. 1 h)
  first_event_ms          the same for the time to the first content event of streams
  schedule_lag_ms         with --rate, the same for each request's actual start minus its
                          scheduled time (the wait for a free connection); null without
  pacing_wait_ms          with --pace, the same for each request's waits for the pacer;
                          null without
  statuses                {"200": n, "429": n, "0": n, ...} final HTTP status of each request
  retried_statuses        the same for the attempts that were retried
  categories, codes       {name: n} faultline category and error code of failed requests
                          (classify() for error statuses, the verdict for streams, the
                          transport error otherwise)
  failures                [{category, code, count}] the two together
  transport_errors        {message: n} ("Connection refused"; at most 16, then "other")
  stream_verdicts         {done, error, eof_without_done, malformed_json}: counts
  successes               what LLM-serving benchmarks report, of ok requests only:
                          count, requests_per_second, output_tokens, input_tokens
                          (as servers reported), output_tokens_per_second (both over
                          elapsed_s), output_token_sources {usage, counted, unknown}
                          (the server's usage; else a stream's events carrying text;
                          else unknown and left out of token figures),
                          e2e_ms, ttft_ms (first event carrying text), itl_ms (gaps
                          between such events; not_kept: gaps past 1048576 in one
                          stream), tpot_ms ((e2e - ttft) / (tokens - 1), streams of 2+
                          tokens): as latency_ms;
                          output_tokens_per_request, request_output_tokens_per_s
                          (tokens / e2e): {count, min, mean, p50, p90, p99, max};
                          requests_per_second_by_second,
                          output_tokens_per_second_by_second: {seconds, p50, p90, p99,
                          max} over the whole seconds of the series
  rate_limits             every response's rate-limit headers: responses (with any),
                          ignored (unusable values), retry_after_ms (retry-after-ms or
                          Retry-After hints, as latency_ms), windows {requests, tokens,
                          input_tokens, output_tokens: {responses, limit (last seen),
                          remaining_min, reset_max_ms}} for the windows reported
  series                  {interval_s: 1, max_seconds: 3600, dropped_seconds,
                          seconds: [{t_s, requests, ok, throttled, errors, retries,
                          status_429, output_tokens, failures {category: n},
                          p50_ms|null, p99_ms|null}]} by completion second (the last
                          one may be partial); status_429 counts every 429 response,
                          retried ones included; p50/p99 are of the second's successes;
                          only the first max_seconds seconds are kept

exit status: 0 the run completed and at least one request succeeded, whatever else the
server answered; 3 the run completed but no request succeeded (an unreachable URL, a
certificate that does not verify, a server that is not OpenAI-compatible: a 2xx answer
that is not a JSON object counts as malformed_json): the report is still written, and one
line on stderr names the most frequent failure; 1 it could not run or the report could not be
written (an output file that cannot be opened is found before the run starts), or a
--compare file cannot be read or is not a faultline-loadgen report of format 2;
2 usage error, with one line on stderr. SIGINT/SIGTERM stop the run early and still report;
a second one aborts the requests still running.)";

// faultline-loadgen's options, bound to `cl`; `have_url` and `have_key` say what was given.
struct loadgen_command_line {
    examples::command_line parser{"faultline-loadgen",
                                  "--url URL (--duration D | --requests N) [options]",
                                  std::string(description), std::string(footer)};
    bool have_url = false, have_key = false, have_arrival = false, have_prompt = false;
    std::string ca_file;
    std::optional<std::string> prompts_file;

    explicit loadgen_command_line(command_line& cl) {
        options& o = cl.run;
        examples::command_line& p = parser;
        p.group("target");
        p.value("--url", "URL",
                "the server root, http(s)://host[:port][/prefix] (required). Requests go\n"
                "to URL + --path, so give http://127.0.0.1:8080, not .../v1. https\n"
                "verifies the server's certificate and host name, always.",
                [this, &o](const std::string& v) {
                    auto url = parse_base_url(v);
                    if (!url) throw bad_value{"http(s)://host[:port][/path]"};
                    o.url = std::move(url).value();
                    have_url = true;
                });
        p.text("--ca-file", "FILE",
               "also trust the CA certificates in this PEM file (besides the system's\n"
               "store) for an https --url, e.g. a private CA or a self-signed server",
               ca_file);
        p.value("--api", "A",
                "chat (default): chat completions, {\"model\",\"messages\",\"max_tokens\",...}\n"
                "to /v1/chat/completions; responses: the Responses API,\n"
                "{\"model\",\"input\",\"max_output_tokens\",...} to /v1/responses",
                [&o](const std::string& v) {
                    if (v == "chat")
                        o.api = api_kind::chat_completions;
                    else if (v == "responses")
                        o.api = api_kind::responses;
                    else
                        throw bad_value{"chat or responses"};
                });
        p.value("--path", "P",
                "request path after URL (default: the --api's, /v1/chat/completions or\n"
                "/v1/responses)",
                [&o](const std::string& v) {
                    if (!valid_path(v)) throw bad_value{"a path starting with '/'"};
                    o.path = v;
                });
        p.value("--key", "K",
                "API key, sent as \"Authorization: Bearer K\"; default: the environment\n"
                "variable FAULTLINE_API_KEY; no header when neither is set",
                [this, &o](const std::string& v) {
                    o.api_key = v;
                    have_key = true;
                });
        p.value("--model", "M", "the requests' \"model\" (default gpt-sim)",
                [&o](const std::string& v) {
                    if (v.empty()) throw bad_value{"a model name"};
                    o.model = v;
                });
        p.value("--prompt", "TEXT", "the one user message (default \"Say hello.\")",
                [this, &o](const std::string& v) {
                    o.prompt = v;
                    have_prompt = true;
                });
        p.value("--prompts", "FILE",
                "cycle through the prompts of a JSONL file, in order: one object per\n"
                "line, {\"prompt\": \"text\"} or {\"messages\": [{\"role\": \"system\",\n"
                "\"content\": \"...\"}, ...]}, optionally \"max_tokens\": N for that line;\n"
                "blank lines skipped; at most 1000000 prompts, 1 MiB a line, 256 MiB in\n"
                "all. A bad file is a usage error naming the line. Not with --prompt or\n"
                "--input-tokens.",
                [this](const std::string& v) {
                    if (v.empty()) throw bad_value{"a file name"};
                    prompts_file = v;
                });
        p.value("--input-tokens", "N",
                "send generated prompts of about N tokens, 1..1000000: N words drawn\n"
                "from --seed among 128 short common English words (a word and its space\n"
                "are about one token), after a 16-hex-digit tag that differs per request\n"
                "so that prefix caches do not answer every request alike",
                [&o](const std::string& v) {
                    o.input_tokens = static_cast<unsigned>(whole_in(v, 1, max_prompt_tokens));
                });
        p.whole("--max-tokens", "N", "the requests' \"max_tokens\", 1..1000000 (default 32)", 1,
                1'000'000, o.max_tokens);
        p.flag("--stream",
               "ask for streams (\"stream\": true); each stream's ending is checked with\n"
               "faultline's SSE monitor: done, error, eof_without_done or malformed_json",
               o.stream);
        p.group("load");
        p.whole("--connections", "N", "concurrent connections, 1..1024 (default 8)", 1,
                max_connections, o.connections);
        p.duration("--duration", "D",
                   "start no request after D: 500ms, 10s, 2m or plain milliseconds, up to\n"
                   "7 days, counted after --warmup. Requests still running then get\n"
                   "--timeout more, then are aborted (counted as \"aborted\", nowhere else).",
                   std::chrono::milliseconds(1), std::chrono::hours(24 * 7),
                   "a positive duration such as 500ms, 10s or 2m, at most 7 days",
                   [&o](std::chrono::milliseconds d) { o.duration = d; });
        p.whole("--requests", "N",
                "send N requests in all, 1..1000000000000, not counting --warmup's\n"
                "(--duration, --requests or both is required)",
                1, 1'000'000'000'000, o.requests);
        p.duration("--warmup", "D",
                   "first send requests for D (same forms as --duration) without measuring\n"
                   "them: they count only in \"warmup_requests\". A request belongs to the\n"
                   "warm-up when it starts (with --rate, is scheduled) within D of the\n"
                   "start; elapsed time, throughput and the series start at its end.",
                   std::chrono::milliseconds(1), std::chrono::hours(24 * 7),
                   "a positive duration such as 500ms, 10s or 2m, at most 7 days",
                   [&o](std::chrono::milliseconds d) { o.warmup = d; });
        p.value("--rate", "R",
                "open loop: schedule R requests per second, 0 < R <= 1000000 (e.g. 0.5,\n"
                "250), whatever the server does; --connections then bounds the requests in\n"
                "flight (a due request waits for a free connection) and latency counts from\n"
                "each request's scheduled time, so a server that falls behind shows it.\n"
                "Without --rate: closed loop, each connection sends its next request when\n"
                "the previous one ends.",
                [&o](const std::string& v) {
                    const auto rate = parse_double(v, 0, max_rate);
                    if (!rate || !(*rate > 0))
                        throw bad_value{"a number of requests per second in (0, 1000000]"};
                    o.rate = *rate;
                });
        p.value("--arrival", "A",
                "with --rate: constant (every 1/R) or poisson (exponential gaps of mean\n"
                "1/R drawn from --seed, the default)",
                [this, &o](const std::string& v) {
                    const auto process = parse_arrival_process(v);
                    if (!process) throw bad_value{"constant or poisson"};
                    o.arrival = *process;
                    have_arrival = true;
                });
        p.value("--retries", "N",
                "retry a failed request up to N times, 0..100 (default 0). Only failures\n"
                "faultline deems retryable (429 throttling, 408, 409, 5xx, 529, transport\n"
                "errors; never quota, auth or bad requests), after the server's\n"
                "Retry-After / retry-after-ms / x-ratelimit-reset-* (up to 60 s; longer\n"
                "gives up) or else full-jitter backoff from 1 s capped at 30 s; never a\n"
                "stream that already delivered content, never past the end of --duration.\n"
                "Latency then counts from the first attempt to the last response.",
                [&o](const std::string& v) {
                    o.retry.max_attempts = static_cast<unsigned>(whole_in(v, 0, 100)) + 1;
                });
        p.flag("--pace",
               "pace requests by the server's rate-limit headers (x-ratelimit-*,\n"
               "anthropic-ratelimit-*, Retry-After) so the run stays under its limit\n"
               "instead of meeting it as 429s. Each request counts as its body's bytes / 4\n"
               "plus --max-tokens tokens; the waits are reported as \"pacing_wait_ms\"\n"
               "(in a closed loop latency counts from each request's first send)",
               o.pace);
        p.duration("--timeout", "D",
                   "longest wait to connect, for the response head and for each body read\n"
                   "(same forms as --duration, up to 1 h; default 30s)",
                   std::chrono::milliseconds(1), std::chrono::hours(1),
                   "a positive duration such as 500ms, 10s or 2m, at most 1 h",
                   [&o](std::chrono::milliseconds d) { o.timeout = d; });
        p.whole("--seed", "S", "seed of the retry jitter and of --arrival poisson (default 1)", 0,
                std::numeric_limits<std::uint64_t>::max(), o.seed);
        p.group("output");
        const auto file = [](std::optional<std::string>& target) {
            return [&target](const std::string& v) {
                if (v.empty()) throw bad_value{"a file name or '-'"};
                target = v;
            };
        };
        p.value("--json", "FILE",
                "write the report as JSON to FILE; '-' writes it to stdout and moves the\n"
                "summary to stderr",
                file(cl.json_path));
        p.value("--svg", "FILE",
                "write an SVG chart to FILE ('-' for stdout): p50 and p99 latency per\n"
                "second (log axis when they span over 20x) above 429 responses per second",
                file(cl.svg_path));
        p.flag("--quiet", "no progress lines", cl.quiet);
        p.group("comparison");
        p.repeated("--compare", "FILE",
                   "give twice, A then B: compare two saved --json reports instead of\n"
                   "running (no --url): a table of B beside A with ratios on stdout,\n"
                   "and with --svg a chart of both runs' series over each other",
                   [&cl](const std::string& v) {
                       if (v.empty()) throw bad_value{"a file name"};
                       cl.compare.push_back(v);
                   });
    }
};

} // namespace

std::string validate(const options& o) {
    if (o.url.host.empty()) return "the URL has no host";
    if (o.connections == 0 || o.connections > max_connections)
        return "connections must be 1.." + std::to_string(max_connections);
    if (!o.duration && !o.requests) return "give a duration, a request count or both";
    if (o.duration && o.duration->count() <= 0) return "the duration must be positive";
    if (o.warmup && o.warmup->count() <= 0) return "the warm-up must be positive";
    if (o.requests && *o.requests == 0) return "the request count must be positive";
    if (o.rate)
        if (const std::string_view problem = rate_problem(*o.rate); !problem.empty())
            return std::string(problem);
    if (o.timeout.count() <= 0) return "the timeout must be positive";
    if (o.url.tls && !o.tls) return "an https URL needs a TLS client context (options::tls)";
    if (o.progress_interval.count() <= 0) return "the progress interval must be positive";
    if (!o.path.empty() && !valid_path(o.path))
        return "the path must start with '/' and hold no whitespace or '#'";
    if (std::string problem = prompts_problem_of(o); !problem.empty()) return problem;
    return {};
}

std::string_view to_string(api_kind a) noexcept {
    return a == api_kind::responses ? "responses" : "chat";
}

std::string request_path(const options& o) {
    if (!o.path.empty()) return o.path;
    return o.api == api_kind::responses ? "/v1/responses" : "/v1/chat/completions";
}

std::string request_body(const options& o, std::uint64_t k) {
    const bool responses = o.api == api_kind::responses;
    if (o.prompts && !o.prompts->prompts.empty()) {
        const auto& list = o.prompts->prompts;
        return chat_body(o.model, list[static_cast<std::size_t>(k % list.size())], o.max_tokens,
                         o.stream, responses);
    }
    prompt p;
    p.messages.push_back(chat_message{
        "user", o.input_tokens ? generated_prompt(*o.input_tokens, o.seed, k) : o.prompt});
    return chat_body(o.model, p, o.max_tokens, o.stream, responses);
}

request_bodies bodies_of(const options& o) {
    const bool responses = o.api == api_kind::responses;
    if (o.prompts && !o.prompts->prompts.empty())
        return request_bodies(o.model, o.max_tokens, o.stream, *o.prompts, responses);
    if (o.input_tokens)
        return request_bodies(o.model, o.max_tokens, o.stream, *o.input_tokens, o.seed, responses);
    return request_bodies(request_body(o));
}

run_settings settings_of(const options& o) {
    run_settings s;
    s.url = url_text(o.url);
    s.target = o.url.target(request_path(o));
    s.model = o.model;
    s.api = std::string(to_string(o.api));
    s.stream = o.stream;
    s.connections = o.connections;
    s.duration = o.duration;
    s.warmup = o.warmup;
    s.request_limit = o.requests;
    s.max_tokens = o.max_tokens;
    s.max_attempts = std::max(1u, o.retry.max_attempts);
    s.timeout = o.timeout;
    s.seed = o.seed;
    s.prompts = prompts_text(o);
    s.rate = o.rate;
    if (o.rate) s.arrival = o.arrival;
    s.pace = o.pace;
    return s;
}

report run(const options& o) {
    if (std::string problem = validate(o); !problem.empty()) throw std::invalid_argument(problem);
    net::io_context ioc(1);
    std::optional<report> out;
    std::exception_ptr failure;
    net::co_spawn(net::make_strand(ioc), supervise(o, true), [&](std::exception_ptr e, report r) {
        if (e)
            failure = e;
        else
            out.emplace(std::move(r));
    });
    ioc.run();
    if (failure) std::rethrow_exception(failure);
    return std::move(*out);
}

net::awaitable<report> async_run(options o) {
    if (std::string problem = validate(o); !problem.empty()) throw std::invalid_argument(problem);
    const auto ex = co_await net::this_coro::executor;
    co_return co_await net::co_spawn(net::make_strand(ex), supervise(std::move(o), false),
                                     net::use_awaitable);
}

std::string help_text() {
    command_line cl;
    return loadgen_command_line(cl).parser.help();
}

std::variant<command_line, usage_error>
parse_command_line(std::span<char* const> args, std::optional<std::string_view> env_api_key) {
    command_line cl;
    loadgen_command_line parser(cl);
    const parse_outcome p = parser.parser.parse(args);
    const auto fail = [](usage_problem problem, std::string message) {
        return usage_error{problem, std::move(message)};
    };
    switch (p.what) {
    case parse_ending::help:
        cl.help = true;
        return cl;
    case parse_ending::version:
        cl.version = true;
        return cl;
    case parse_ending::usage_error:
        switch (p.kind) {
        case usage_kind::unknown_option:
            return fail(usage_problem::unknown_option, p.message);
        case usage_kind::missing_value:
            return fail(usage_problem::missing_value, p.message);
        case usage_kind::invalid_value:
        case usage_kind::other:
            break;
        }
        return fail(p.option == "--url" ? usage_problem::invalid_url : usage_problem::invalid_value,
                    p.message);
    case parse_ending::run:
        break;
    }
    options& o = cl.run;
    if (!cl.compare.empty()) {
        if (cl.compare.size() != 2)
            return fail(usage_problem::invalid_compare, "--compare: give it twice (A and B), not " +
                                                            std::to_string(cl.compare.size()) +
                                                            " time" +
                                                            (cl.compare.size() == 1 ? "" : "s"));
        if (parser.have_url || cl.json_path)
            return fail(usage_problem::invalid_compare,
                        "--compare: compares saved reports; it runs nothing (no --url or --json)");
        return cl;
    }
    if (!parser.have_url) return fail(usage_problem::missing_url, "--url: is required");
    if (!o.duration && !o.requests)
        return fail(usage_problem::missing_bound, "give --duration, --requests or both");
    if (parser.have_arrival && !o.rate)
        return fail(usage_problem::inconsistent_options, "--arrival: needs --rate");
    if (parser.prompts_file && parser.have_prompt)
        return fail(usage_problem::inconsistent_options, "--prompts: cannot go with --prompt");
    if (parser.prompts_file && o.input_tokens)
        return fail(usage_problem::inconsistent_options,
                    "--prompts: cannot go with --input-tokens");
    if (o.input_tokens && parser.have_prompt)
        return fail(usage_problem::inconsistent_options, "--input-tokens: cannot go with --prompt");
    if (cl.json_path == "-" && cl.svg_path == "-")
        return fail(usage_problem::conflicting_outputs,
                    "--json - and --svg - cannot both write to stdout");
    if (!parser.have_key && env_api_key) o.api_key = std::string(*env_api_key);
    if (parser.prompts_file) {
        auto read = read_prompts(*parser.prompts_file);
        if (auto* problem = std::get_if<prompts_problem>(&read))
            return fail(usage_problem::invalid_prompts, "--prompts: " + problem->message);
        o.prompts = std::make_shared<const prompt_list>(std::get<prompt_list>(std::move(read)));
    }
    if (!o.url.tls && !parser.ca_file.empty())
        return fail(usage_problem::invalid_ca_file, "--ca-file: needs an https --url");
    if (o.url.tls) {
        auto tls = make_tls_client_context(parser.ca_file);
        if (!tls) {
            if (parser.ca_file.empty())
                return fail(usage_problem::invalid_url,
                            "--url: the system's certificate store cannot be used: " +
                                tls.error().message());
            return fail(usage_problem::invalid_ca_file,
                        "--ca-file: cannot use '" + parser.ca_file + "': " + tls.error().message());
        }
        o.tls = std::move(tls).value();
    }
    return cl;
}

} // namespace examples::loadgen

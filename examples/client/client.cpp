#include "client/client.hpp"

#include "common/chat.hpp"
#include "common/cli.hpp"
#include "common/paced.hpp"
#include "common/seed.hpp"

#include <faultline/exchange.hpp>
#include <faultline/http_status.hpp>
#include <faultline/random.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace examples::client {

namespace json = boost::json;
namespace sse = faultline::sse;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view description =
    R"(Sends chat completions to an OpenAI-compatible server and reports how each one ended: the reply,
or the failure's category, code, message and fix. Retries with jittered backoff, honours
Retry-After / retry-after-ms, watches streams for error chunks and cut-offs.)";

constexpr std::string_view footer =
    R"(JSON members: ok, attempts, status, reply, channel, request_id, category, code, retryable,
message, fix, retry_after_ms, gave_up, give_up_code, stream {verdict, content_events}, paced_ms,
history [{attempt, status, category, code, message, delay_ms, delay_from_server}],
diagnosis [{code, cause, fix, suggestion}].

Exit status: 0 when every request succeeded, 1 when one failed, 2 for usage errors.)";

// The command line of faultline-client, bound to `o` and the locals of parse_options.
struct client_command_line {
    examples::command_line cl{"faultline-client", "--url BASE [options]", std::string(description),
                              std::string(footer)};
    std::string url;
    std::string ca_file;
    std::optional<double> ratio;
    double floor = 1.0;
    unsigned max_hedges = 0; // --max-hedges; 0: not given

    explicit client_command_line(options& o) {
        constexpr auto day = std::chrono::milliseconds(86'400'000);
        const std::string duration = "a duration such as 250ms, 2s or 1m (at most a day)";
        cl.text("--url", "BASE",
                "the base URL as the OpenAI SDKs take it, e.g. http://127.0.0.1:8080/v1\n"
                "or https://api.example.com/v1 (the client appends /chat/completions;\n"
                "a 404 for a path with /v1 twice or without it names the base URL to\n"
                "use). https verifies the server's certificate and host name, always",
                url);
        cl.text("--ca-file", "FILE",
                "also trust the CA certificates in this PEM file (besides the system's\n"
                "store) for an https --url, e.g. a private CA or a self-signed server",
                ca_file);
        cl.text("--key", "KEY", "API key (default: $FAULTLINE_API_KEY)", o.api_key);
        cl.text("--model", "M", "model (default gpt-sim)", o.model);
        cl.text("--fallback-model", "M",
                "model for a request too long for --model (context_length_exceeded): the call "
                "moves there at once",
                o.fallback_model);
        cl.text("--prompt", "TEXT", "the user message", o.prompt);
        cl.whole("--max-tokens", "N", "max_tokens to send (default: not sent)", 0, 1'000'000,
                 o.max_tokens);
        cl.flag("--stream", "ask for a stream (SSE) and watch it", o.stream);
        cl.whole("--attempts", "N", "attempts in all, 1 = no retries (default 4)", 1, 100,
                 o.policy.max_attempts);
        cl.duration("--backoff-base", "T",
                    "first backoff delay (default 1s); T is 250ms, 2s, 1m or milliseconds",
                    milliseconds(0), day, duration,
                    [&o](milliseconds t) { o.policy.delay.base = t; });
        cl.duration("--backoff-cap", "T", "longest backoff delay (default 30s)", milliseconds(0),
                    day, duration, [&o](milliseconds t) { o.policy.delay.cap = t; });
        cl.duration("--max-wait", "T",
                    "longest server Retry-After to wait for; longer gives up (default 60s)",
                    milliseconds(0), day, duration,
                    [&o](milliseconds t) { o.policy.max_server_delay = t; });
        cl.duration("--deadline", "T",
                    "time budget of one request: no retry starts or waits past it\n"
                    "(default none; an attempt itself is bounded by --timeout per read)",
                    milliseconds(0), day, duration,
                    [&o](milliseconds t) { o.policy.deadline = t; });
        cl.value("--retry-budget", "R",
                 "share retries over all requests of this run: at most R retries per\n"
                 "request over 10 s (e.g. 0.2) plus --retry-floor per second",
                 [this](const std::string& v) {
                     if (!(ratio = parse_double(v, 0.0, 100.0)))
                         throw bad_value{"a number from 0 to 100"};
                 });
        cl.value("--retry-floor", "F",
                 "retries per second always allowed under a budget (default 1)",
                 [this](const std::string& v) {
                     const auto f = parse_double(v, 0.0, 1e6);
                     if (!f) throw bad_value{"a number from 0 to 1000000"};
                     floor = *f;
                 });
        cl.duration("--hedge-after", "T",
                    "send the request again on another connection when no answer came\n"
                    "in T; the first answer wins, the others are cancelled (default: off)",
                    milliseconds(1), day,
                    "a positive duration such as 250ms, 2s or 1m (at most a day)",
                    [&o](milliseconds t) {
                        o.hedge.delay = t;
                        if (o.hedge.max_hedges == 0) o.hedge.max_hedges = 1;
                    });
        cl.whole("--max-hedges", "N",
                 "hedges one request may start, with --hedge-after (default 1)", 1, 10, max_hedges);
        cl.duration("--timeout", "T", "longest silence from the server (default 30s)",
                    milliseconds(1), day,
                    "a positive duration such as 250ms, 2s or 1m (at most a day)",
                    [&o](milliseconds t) { o.timeout = t; });
        cl.whole("--max-line", "N", "longest stream line in bytes (default 4194304)", 1,
                 std::uint64_t(1) << 30, o.max_line);
        cl.whole("--requests", "N", "requests one after another (default 1)", 1, 100'000,
                 o.requests);
        cl.whole("--parallel", "N", "sequences of --requests run at once (default 1)", 1, 100'000,
                 o.parallel);
        cl.whole("--seed", "N", "jitter seed (default random)", 0, ~std::uint64_t(0), o.seed);
        cl.flag("--pace",
                "pace requests by the server's rate-limit headers (x-ratelimit-*,\n"
                "anthropic-ratelimit-*, Retry-After) to stay under its limit instead of\n"
                "meeting it as 429s; a wait past --max-wait fails the request",
                o.pace);
        cl.flag("--show-response",
                "print what the server sent for each attempt (status line, the\n"
                "headers that explain it, the body or stream, shortened)",
                o.show_response);
        cl.flag("--json", "print one JSON object per request instead of text", o.json);
    }
};

json::object failure_json(const faultline::failure& f) {
    json::object o;
    o["status"] = f.status;
    o["category"] = faultline::to_string(f.cat);
    o["code"] = faultline::to_string(f.code);
    o["message"] = f.message;
    return o;
}

// Collects the assistant's text from chat.completion.chunk events.
struct collector {
    std::string* text = nullptr;
    void on_event(const sse::event& e, sse::event_kind kind) {
        if (kind != sse::event_kind::content) return;
        boost::system::error_code ec;
        const json::value v = json::parse(e.data, ec);
        if (ec || !v.is_object()) return;
        const json::value* choices = v.as_object().if_contains("choices");
        if (!choices || !choices->is_array() || choices->as_array().empty()) return;
        const json::value& c0 = choices->as_array()[0];
        if (!c0.is_object()) return;
        const json::value* delta = c0.as_object().if_contains("delta");
        if (!delta || !delta->is_object()) return;
        if (const json::value* content = delta->as_object().if_contains("content");
            content && content->is_string())
            text->append(content->as_string().data(), content->as_string().size());
    }
};

// A successful attempt.
struct success {
    std::string reply;
};

// What the last response said about itself, whatever the outcome.
struct last_seen {
    std::vector<std::string>* transcripts = nullptr; // --show-response: one per attempt
    unsigned status = 0;
    std::string channel;
    std::string request_id;
    std::optional<sse::terminal> verdict;
    std::size_t content_events = 0;
};

// What the server sent, for people: the status line, the headers that explain a failure, and
// the body's lines (long lines and long streams shortened).
std::string transcript(const exchange_result& r, std::string_view body) {
    if (!r.head_received) return "  < (no response: " + r.ec.message() + ")\n";
    std::string out = "  < HTTP/1.1 " + std::to_string(r.head.status) + " " +
                      std::string(faultline::reason_phrase(r.head.status)) + "\n";
    for (const auto& f : r.head.headers) {
        const std::string name = f.name_string();
        std::string lower = name;
        for (char& c : lower)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower.starts_with("x-ratelimit-") || lower.starts_with("retry-after") ||
            lower.starts_with("x-faultline-") || lower == "x-should-retry" ||
            lower == "content-type")
            out += "  < " + name + ": " + std::string(f.value()) + "\n";
    }
    std::vector<std::string_view> lines;
    for (std::size_t at = 0; at < body.size();) {
        const std::size_t nl = std::min(body.find('\n', at), body.size());
        if (nl > at) lines.push_back(body.substr(at, nl - at));
        at = nl + 1;
    }
    constexpr std::size_t keep = 5, width = 150;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (lines.size() > 2 * keep + 1 && i == keep) {
            out += "  < ... " + std::to_string(lines.size() - 2 * keep) + " more lines ...\n";
            i = lines.size() - keep - 1;
            continue;
        }
        std::string_view l = lines[i];
        out += "  < ";
        if (l.size() > width)
            out += std::string(l.substr(0, width)) + "... (" + std::to_string(l.size()) + " bytes)";
        else
            out += l;
        out += '\n';
    }
    if (r.ec && r.head_received) out += "  < (connection ended: " + r.ec.message() + ")\n";
    return out;
}

// What to do about a TLS failure; "" for any other error. faultline files these under
// category unknown (not retryable): a retry meets the same certificate.
std::string tls_advice(const std::error_code& ec) {
    if (ec == tls_error::certificate_untrusted)
        return " Trust its CA with --ca-file FILE (PEM), or check that the URL names the server "
               "you mean.";
    if (ec == tls_error::certificate_host_mismatch)
        return " Use a host name or address the certificate names, or fix the certificate.";
    if (ec == tls_error::certificate_expired)
        return " The server's certificate must be renewed (or the local clock is wrong).";
    if (ec.category() == tls_category() ||
        std::string_view(ec.category().name()).starts_with("asio.ssl"))
        return " The TLS handshake failed: check that the server speaks https at this port.";
    return {};
}

std::string header(const response_head& h, std::string_view name) {
    const auto it = h.headers.find(name);
    return it == h.headers.end() ? std::string() : std::string(it->value());
}

std::string ms_text(std::chrono::nanoseconds d) {
    return std::to_string(std::chrono::duration_cast<milliseconds>(d).count()) + " ms";
}

// Waits until `pacer` lets a request of `cost` go and reserves it, adding the time waited to
// `paced`; a failure (rate_limited, not retryable) when it asks for more than `max_wait`.
net::awaitable<std::optional<faultline::failure>>
paced_start(faultline::limit::pacer<clock>& pacer, const faultline::limit::request_cost& cost,
            std::chrono::nanoseconds max_wait, faultline::limit::pacer_ticket& ticket,
            std::chrono::nanoseconds& paced) {
    net::steady_timer timer(co_await net::this_coro::executor);
    const auto too_long = [max_wait](std::chrono::nanoseconds w, clock::time_point) {
        return w > max_wait;
    };
    const std::optional<std::chrono::nanoseconds> refused =
        co_await examples::paced_start(pacer, cost, timer, ticket, paced, too_long);
    if (!refused) co_return std::nullopt;
    faultline::failure f = faultline::to_failure(
        faultline::error::rate_limited,
        "The server's rate-limit headers ask to wait " + ms_text(*refused) +
            " before this request, longer than --max-wait (" + ms_text(max_wait) + ").");
    f.retryable = false;
    f.retry_after = std::chrono::duration_cast<milliseconds>(*refused);
    co_return f;
}

net::awaitable<std::optional<faultline::outcome<success>>>
attempt_once(http_connection& conn, http::request<http::string_body>& req, const options& o,
             faultline::attempt_context& ctx, last_seen& seen,
             faultline::limit::pacer<clock>* pacer, std::chrono::nanoseconds& paced) {
    faultline::limit::pacer_ticket ticket;
    if (pacer)
        if (std::optional<faultline::failure> f =
                co_await paced_start(*pacer, cost_of(o), o.policy.max_server_delay, ticket, paced))
            co_return faultline::outcome<success>(std::move(*f));
    std::string text, raw; // raw: a stream's first bytes, for --show-response
    constexpr std::size_t max_raw = std::size_t(64) << 10;
    faultline::exchange_options xo;
    xo.monitor.limits.max_line = o.max_line;
    xo.monitor.limits.max_event = std::max(o.max_line, xo.monitor.limits.max_event);
    faultline::exchange<collector> x(clock::now(), xo, collector{&text});

    exchange_options eo;
    eo.idle_timeout = o.timeout;
    const exchange_result r = co_await conn.exchange(
        req,
        [&](const response_head& head) {
            (void)x.head(head.status, head.headers, clock::now());
            if (ticket) pacer->observe(ticket, head.status, head.headers, clock::now());
        },
        [&](std::string_view piece) -> std::error_code {
            if (seen.transcripts && x.streaming() && raw.size() < max_raw)
                raw.append(piece.substr(0, max_raw - raw.size()));
            const std::error_code ec = x.body(piece, clock::now());
            // Content reached the caller: a failure now must not be replayed blindly.
            if (x.content_delivered()) ctx.mark_content_delivered();
            return ec;
        },
        eo);
    const faultline::exchange_result& out = x.finish(r.ec, clock::now());

    std::vector<std::string>* transcripts = seen.transcripts;
    seen = {};
    seen.transcripts = transcripts;
    if (transcripts) transcripts->push_back(transcript(r, x.streaming() ? raw : x.body()));
    if (!r.head_received) {
        faultline::failure f = *out.failure;
        f.message = "No response from " + conn.url().host + ":" + std::to_string(conn.url().port) +
                    ": " + r.ec.message() + "." + tls_advice(r.ec);
        co_return faultline::outcome<success>(std::move(f));
    }
    seen.status = r.head.status;
    seen.channel = header(r.head, "x-faultline-channel");
    seen.request_id = header(r.head, "x-request-id");
    if (out.stream) {
        seen.verdict = out.stream->kind;
        seen.content_events = x.monitor()->content_events();
    }
    if (out.failure) co_return faultline::outcome<success>(*out.failure);
    if (x.streaming()) co_return faultline::outcome<success>(success{std::move(text)});
    boost::system::error_code jec;
    const json::value v = json::parse(x.body(), jec);
    const json::value* content = nullptr;
    if (!jec && v.is_object())
        if (const json::value* choices = v.as_object().if_contains("choices");
            choices && choices->is_array() && !choices->as_array().empty() &&
            choices->as_array()[0].is_object())
            if (const json::value* msg = choices->as_array()[0].as_object().if_contains("message");
                msg && msg->is_object())
                content = msg->as_object().if_contains("content");
    if (!content || !content->is_string()) {
        faultline::failure f = faultline::to_failure(faultline::error::malformed_json,
                                                     "The 200 response is not a chat completion.");
        f.status = 200;
        co_return faultline::outcome<success>(std::move(f));
    }
    co_return faultline::outcome<success>(success{std::string(content->as_string())});
}

} // namespace

faultline::limit::request_cost cost_of(const options& o) noexcept {
    return faultline::limit::request_cost::of((o.prompt.size() + 3) / 4, o.max_tokens);
}

std::string help_text() {
    options o;
    return client_command_line(o).cl.help();
}

faultline::result<options> parse_options(std::span<char* const> args, std::string& why) {
    options o;
    if (const char* k = std::getenv("FAULTLINE_API_KEY")) o.api_key = k;
    o.policy.max_server_delay = std::chrono::seconds(60);
    const auto fail = [&](std::string message) {
        why = std::move(message);
        return faultline::result<options>(faultline::error::invalid_request);
    };
    client_command_line c(o);
    const examples::parse_outcome p = c.cl.parse(args);
    switch (p.what) {
    case examples::parse_ending::help:
        why = c.cl.help();
        return std::make_error_code(std::errc::operation_canceled);
    case examples::parse_ending::version:
        why = c.cl.version() + '\n';
        return std::make_error_code(std::errc::operation_canceled);
    case examples::parse_ending::usage_error:
        return fail(p.message);
    case examples::parse_ending::run:
        break;
    }
    if (c.url.empty()) return fail("--url: is required");
    auto base = parse_base_url(c.url);
    if (!base)
        return fail("--url: must be an http or https URL such as http://127.0.0.1:8080/v1, not '" +
                    c.url + "'");
    o.url = std::move(base).value();
    o.raw_url = c.url;
    if (!o.url.tls && !c.ca_file.empty()) return fail("--ca-file: needs an https --url");
    if (o.url.tls) {
        auto tls = make_tls_client_context(c.ca_file);
        if (!tls) {
            if (c.ca_file.empty())
                return fail("--url: the system's certificate store cannot be used: " +
                            tls.error().message());
            return fail("--ca-file: cannot use '" + c.ca_file + "': " + tls.error().message());
        }
        o.tls = std::move(tls).value();
    }
    if (o.policy.delay.cap < o.policy.delay.base)
        return fail("--backoff-cap: must not be below --backoff-base");
    if (o.parallel * o.requests > 1'000'000)
        return fail("--requests x --parallel: must be at most 1000000");
    if (c.max_hedges != 0) {
        if (o.hedge.max_hedges == 0) return fail("--max-hedges: needs --hedge-after");
        o.hedge.max_hedges = c.max_hedges;
    }
    if (c.ratio)
        o.budget = faultline::retry_budget_options{std::chrono::seconds(10), *c.ratio, c.floor};
    return o;
}

net::awaitable<report> call(const options& o,
                            faultline::retry_budget<std::chrono::steady_clock>* budget,
                            std::uint64_t seed, faultline::limit::pacer<clock>* pacer) {
    const auto ex = co_await net::this_coro::executor;
    report rep;
    if (!o.raw_url.empty()) rep.diagnosis = faultline::diagnose_base_url(o.raw_url);
    for (auto& d : faultline::diagnose_api_key(o.api_key))
        rep.diagnosis.push_back(std::move(d));

    // A connection per attempt running at once: a hedge runs beside the attempt it hedges, on
    // a connection of its own. One that is free again serves a later attempt.
    struct lane {
        std::unique_ptr<http_connection> conn;
        bool busy = false;
    };
    std::vector<lane> lanes;
    lanes.push_back({std::make_unique<http_connection>(ex, o.url, o.tls.get())});
    // One request per target: the model, then the fallback model.
    const std::string* models[] = {&o.model, &o.fallback_model};
    std::vector<http::request<http::string_body>> reqs;
    for (const std::string* m : models)
        if (!m->empty())
            reqs.push_back(lanes[0].conn->make_request(
                http::verb::post, o.url.target("/chat/completions"), o.api_key,
                chat_request_body(*m, o.prompt, o.max_tokens, o.stream)));
    std::size_t last_target = 0;
    last_seen seen; // of the attempt that answered, else of the last one to end
    if (o.show_response) seen.transcripts = &rep.responses;
    std::chrono::nanoseconds paced{0};
    unsigned started = 0, running = 0;
    bool answered = false; // an attempt succeeded: the others lost
    // Cancelled when the last attempt ends: the call returns only then, since attempts that
    // lost to a hedge use this frame until they end.
    net::steady_timer all_ended(ex, clock::time_point::max());
    auto op = [&](faultline::attempt_context& ctx, auto handler) {
        const auto free =
            std::find_if(lanes.begin(), lanes.end(), [](const lane& l) { return !l.busy; });
        const std::size_t k = static_cast<std::size_t>(free - lanes.begin());
        if (free == lanes.end())
            lanes.push_back({std::make_unique<http_connection>(ex, o.url, o.tls.get())});
        lanes[k].busy = true;
        http_connection* conn = lanes[k].conn.get();
        ++started;
        ++running;
        if (ctx.hedge) ++rep.hedges;
        // An attempt that lost to another is cancelled: its connection closes, which ends it.
        auto slot = net::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) slot.assign([conn](net::cancellation_type) { conn->close(); });
        auto own = std::make_shared<last_seen>();
        own->transcripts = seen.transcripts;
        net::co_spawn(
            ex, attempt_once(*conn, reqs[ctx.target], o, ctx, *own, pacer, paced),
            [&, h = std::move(handler), k, own, target = ctx.target, hedge = ctx.hedge](
                std::exception_ptr e, std::optional<faultline::outcome<success>> r) mutable {
                lanes[k].busy = false;
                if (auto slot = net::get_associated_cancellation_slot(h); slot.is_connected())
                    slot.clear(); // the lane may serve another attempt now
                if (!answered) {
                    seen = std::move(*own);
                    last_target = target;
                    answered = !e && r && r->has_value();
                    rep.hedge_won = answered && hedge;
                }
                if (--running == 0) all_ended.cancel();
                if (e || !r)
                    std::move(h)(faultline::outcome<success>(
                        faultline::to_failure(std::make_error_code(std::errc::io_error),
                                              "The attempt failed inside the client.")));
                else
                    std::move(h)(std::move(*r));
            });
    };
    faultline::asio::async_retry_options<> ro;
    ro.rng = faultline::splitmix64(seed);
    ro.budget = budget;
    const auto record = [&models](const faultline::attempt_record& a) {
        return attempt{a.attempt, a.what, std::chrono::ceil<milliseconds>(a.delay),
                       a.delay_from_server, a.fallback_to ? *models[*a.fallback_to] : ""};
    };
    ro.on_retry = [&rep, &record](const faultline::attempt_record& a) {
        rep.history.push_back(record(a));
    };
    faultline::pipeline_options po;
    po.retry = o.policy;
    po.hedge = o.hedge;
    po.targets = reqs.size();
    if (reqs.size() > 1) po.fallbacks = {{faultline::category::context_length_exceeded, 1}};
    faultline::retry_result<success> r =
        co_await faultline::asio::async_run<success>(ex, po, op, std::move(ro), net::use_awaitable);
    if (running > 0) (void)co_await all_ended.async_wait(net::as_tuple(net::use_awaitable));
    rep.model = *models[last_target];
    rep.status = seen.status;
    rep.channel = seen.channel;
    rep.request_id = seen.request_id;
    rep.stream_verdict = seen.verdict;
    rep.content_events = seen.content_events;
    rep.paced = std::chrono::duration_cast<milliseconds>(paced);
    if (r) {
        rep.ok = true;
        rep.attempts = started;
        rep.reply = std::move(r.value().reply);
        co_return rep;
    }
    const faultline::retry_error& e = r.error();
    rep.history.clear();
    for (const auto& a : e.history)
        rep.history.push_back(record(a));
    rep.attempts = static_cast<unsigned>(e.history.size());
    rep.failure = e.last;
    if (e.last.status == 404) {
        // What was requested tells a base URL without /v1 from one with /v1 twice.
        const std::string_view typed =
            rep.diagnosis.empty() || rep.diagnosis.back().suggestion.empty()
                ? std::string_view(o.raw_url)
                : std::string_view(rep.diagnosis.back().suggestion);
        const std::size_t scheme = typed.find("://");
        const std::string_view origin =
            typed.substr(0, typed.find('/', scheme == typed.npos ? 0 : scheme + 3));
        auto d = faultline::diagnose_request_target(
            std::string_view(reqs[0].target().data(), reqs[0].target().size()), origin);
        bool known = false;
        for (const faultline::diagnosis& x : rep.diagnosis)
            known |= d && x.code == d->code && x.suggestion == d->suggestion;
        if (d && !known) rep.diagnosis.push_back(std::move(*d));
    }
    rep.gave_up = e.reason;
    rep.give_up_code = e.error_code();
    co_return rep;
}

std::vector<report> run(const options& o) {
    net::io_context io;
    std::optional<faultline::retry_budget<clock>> budget;
    if (o.budget) budget.emplace(*o.budget);
    std::optional<faultline::limit::pacer<clock>> pacer;
    if (o.pace) pacer.emplace();
    std::uint64_t seed = o.seed;
    if (seed == 0) seed = faultline::random_seed();
    std::vector<std::vector<report>> per(o.parallel);
    for (std::uint64_t p = 0; p < o.parallel; ++p)
        net::co_spawn(
            io,
            [&, p]() -> net::awaitable<void> {
                for (std::uint64_t i = 0; i < o.requests; ++i)
                    per[p].push_back(co_await call(o, budget ? &*budget : nullptr,
                                                   derived_seed(seed, p * o.requests + i),
                                                   pacer ? &*pacer : nullptr));
            },
            net::detached);
    io.run();
    std::vector<report> out;
    for (auto& v : per)
        for (auto& r : v)
            out.push_back(std::move(r));
    return out;
}

std::string report::to_text() const {
    std::string s;
    const auto sent = [&](std::size_t i) {
        if (i < responses.size()) s += responses[i];
    };
    for (const attempt& a : history) {
        sent(a.number - 1);
        s += "attempt " + std::to_string(a.number) + ": ";
        s +=
            a.what.status ? "HTTP " + std::to_string(a.what.status) : std::string("no HTTP status");
        s += ", " + std::string(faultline::to_string(a.what.cat)) + "/" +
             std::string(faultline::to_string(a.what.code)) + ": " + a.what.message;
        if (!a.fell_back_to.empty())
            s += "\n  -> fall back to model " + a.fell_back_to;
        else if (a.delay.count() > 0 || a.delay_from_server)
            s += "\n  -> retry in " + ms_text(a.delay) +
                 (a.delay_from_server ? " (the server's Retry-After)" : " (jittered backoff)");
        s += '\n';
    }
    if (ok) sent(attempts - 1);
    if (ok) {
        s += "result: OK after " + std::to_string(attempts) + " attempt" +
             (attempts == 1 ? "" : "s") + " (HTTP " + std::to_string(status) +
             (channel.empty() ? "" : ", channel " + channel) + ")\n";
        if (stream_verdict)
            s += "  stream    " + std::string(sse::to_string(*stream_verdict)) + ", " +
                 std::to_string(content_events) + " content events\n";
        s += "  reply     " + reply + "\n";
        if (hedges > 0)
            s += "  hedged    " + std::to_string(hedges) + " hedge" + (hedges == 1 ? "" : "s") +
                 " started; " + (hedge_won ? "a hedge" : "the first attempt") + " answered\n";
        if (paced.count() > 0)
            s += "  paced     " + ms_text(paced) + " waited for the server's rate-limit headers\n";
    } else if (failure) {
        const faultline::failure& f = *failure;
        s += "result: FAILED after " + std::to_string(attempts) + " attempt" +
             (attempts == 1 ? "" : "s") +
             (gave_up ? " (gave up: " + std::string(faultline::to_string(*gave_up)) + ")" : "") +
             "\n";
        s += "  status    " + (f.status ? std::to_string(f.status) : std::string("none")) + "\n";
        s += "  category  " + std::string(faultline::to_string(f.cat)) + "\n";
        s += "  code      " + std::string(faultline::to_string(f.code)) + "\n";
        s += "  retryable " + std::string(f.retryable ? "yes" : "no") + "\n";
        if (f.retry_after) s += "  wait      " + ms_text(*f.retry_after) + " (server hint)\n";
        s += "  message   " + f.message + "\n";
        s += "  fix       " + std::string(faultline::info(f.code).fix) + "\n";
        if (stream_verdict)
            s += "  stream    " + std::string(sse::to_string(*stream_verdict)) + " after " +
                 std::to_string(content_events) + " content events\n";
        if (f.event_id) s += "  event_id  " + *f.event_id + " (quote it to support)\n";
        if (paced.count() > 0)
            s += "  paced     " + ms_text(paced) + " waited for the server's rate-limit headers\n";
    }
    for (const faultline::diagnosis& d : diagnosis) {
        s += "  hint      " + std::string(faultline::info(d.code).cause) + " " +
             std::string(faultline::info(d.code).fix);
        if (!d.suggestion.empty()) s += " Try: " + d.suggestion;
        s += '\n';
    }
    return s;
}

json::object report::to_json() const {
    json::object o;
    o["ok"] = ok;
    o["attempts"] = attempts;
    o["status"] = status;
    if (ok) o["reply"] = reply;
    if (!model.empty()) o["model"] = model;
    if (!channel.empty()) o["channel"] = channel;
    if (!request_id.empty()) o["request_id"] = request_id;
    if (failure) {
        const faultline::failure& f = *failure;
        o["status"] = f.status;
        o["category"] = faultline::to_string(f.cat);
        o["code"] = faultline::to_string(f.code);
        o["retryable"] = f.retryable;
        o["message"] = f.message;
        o["fix"] = faultline::info(f.code).fix;
        if (f.retry_after) o["retry_after_ms"] = f.retry_after->count();
        if (f.event_id) o["event_id"] = *f.event_id;
    }
    if (gave_up) {
        o["gave_up"] = faultline::to_string(*gave_up);
        o["give_up_code"] = give_up_code.message();
    }
    if (stream_verdict)
        o["stream"] = json::object{{"verdict", sse::to_string(*stream_verdict)},
                                   {"content_events", content_events}};
    json::array h;
    for (const attempt& a : history) {
        json::object e = failure_json(a.what);
        e["attempt"] = a.number;
        e["delay_ms"] = a.delay.count();
        e["delay_from_server"] = a.delay_from_server;
        if (!a.fell_back_to.empty()) e["fallback_to"] = a.fell_back_to;
        h.push_back(std::move(e));
    }
    o["history"] = std::move(h);
    o["paced_ms"] = paced.count();
    o["hedges"] = hedges;
    o["hedge_won"] = hedge_won;
    json::array d;
    for (const faultline::diagnosis& x : diagnosis)
        d.push_back(json::object{{"code", faultline::to_string(x.code)},
                                 {"cause", faultline::info(x.code).cause},
                                 {"fix", faultline::info(x.code).fix},
                                 {"suggestion", x.suggestion}});
    o["diagnosis"] = std::move(d);
    return o;
}

} // namespace examples::client

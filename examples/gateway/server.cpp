#include "gateway/adaptive.hpp"
#include "gateway/admission.hpp"
#include "gateway/channel.hpp"
#include "gateway/connection.hpp"
#include "gateway/dispatch.hpp"
#include "gateway/gateway.hpp"
#include "gateway/metrics.hpp"
#include "gateway/relay.hpp"
#include "gateway/request.hpp"
#include "gateway/upstream.hpp"
#include "gateway/usage.hpp"

#include "common/listen.hpp"
#include "common/seed.hpp"
#include "common/wire.hpp"
#include "common/write_now.hpp"

#include <faultline/classify.hpp>
#include <faultline/diagnose.hpp>
#include <faultline/envelope.hpp>
#include <faultline/exchange.hpp>
#include <faultline/limit/headers.hpp>
#include <faultline/random.hpp>
#include <faultline/retry/backoff.hpp>
#include <faultline/retry/channel_pool.hpp>
#include <faultline/sse/monitor.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_cat.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <cctype>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>

namespace examples::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace sse = faultline::sse;
using tcp = net::ip::tcp;
using clock = std::chrono::steady_clock;
// Reads an `http_request`, its fields from the allocator it is built with.
using request_parser =
    http::request_parser<http::string_body, std::pmr::polymorphic_allocator<char>>;
using std::chrono::milliseconds;

namespace {

constexpr auto nothrow = net::as_tuple(net::use_awaitable);

// `body` (a chat request that parsed before) with `model` in place of its model.
std::string with_model(std::string_view body, const std::string& model) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return std::string(body);
    v.as_object()["model"] = model;
    return json::serialize(v);
}

} // namespace

struct server::impl : std::enable_shared_from_this<server::impl> {
    impl(net::any_io_executor ex, gateway_config c, server_options o)
        : config(std::move(c))
        , options(std::move(o))
        , executor(ex)
        , acceptor(connection_executor())
        , budgets(config)
        , channels(ex, config) {
        if (std::string why = validate(config); !why.empty()) throw std::invalid_argument(why);
        if (!options.clock) options.clock = [] { return clock::now(); };
        if (options.seed == 0) options.seed = faultline::random_seed();
        if (!options.limiter) options.limiter = make_memory_limiter(config, options.clock());
        if (const std::size_t n = options.limiter->blocking_calls())
            decisions = std::make_unique<net::thread_pool>(n);
        for (const auto& m : config.models) {
            std::vector<const channel_config*> channels;
            for (const auto& name : m.channels)
                channels.push_back(config.find_channel(name));
            models.try_emplace(m.id, m, std::move(channels), config.breaker);
        }
        for (const auto& ch : config.channels) {
            calls.emplace(ch.name, 0);
            if (auto limit = channel_concurrency::make(
                    ch, ch.total_timeout.value_or(config.streaming_timeout), options.clock()))
                adaptive.emplace(ch.name, std::move(limit));
        }
    }

    gateway_config config;
    server_options options;
    // Threads for rate-limit decisions that wait on the network (`blocking_calls()`); null when
    // the limiter never waits. Declared after `options`: joined before the limiter goes.
    std::unique_ptr<net::thread_pool> decisions;
    // The server's executor. On several threads the acceptor and each connection get a strand
    // of it (not of the acceptor's strand, which would run every connection through that one
    // strand too); on one thread nothing runs concurrently, and strands would only cost (an
    // allocation each time a type-erased strand is rebound, some seventy per request).
    net::any_io_executor executor;
    [[nodiscard]] net::any_io_executor connection_executor() const {
        return config.threads > 1 ? net::any_io_executor(net::make_strand(executor)) : executor;
    }
    tcp::acceptor acceptor;
    spend_budgets budgets;
    channel_clients channels;
    std::unordered_map<std::string, model_state> models;
    std::unordered_map<std::string, std::atomic<std::uint64_t>> calls; // per channel
    std::unordered_map<std::string, std::unique_ptr<channel_concurrency>> adaptive;
    std::atomic<std::uint64_t> ids{0};
    struct counters {
        std::atomic<std::uint64_t> connections{0}, requests{0}, ok{0}, client_errors{0},
            rate_limited{0}, server_errors{0}, streams{0}, stream_errors{0}, upstream_calls{0},
            failovers{0}, stream_bytes_peak{0}, body_bytes_peak{0}, bodies_refused{0}, abandoned{0};
    } count;
    std::atomic<std::size_t> stream_bytes{0}; // held by all relayed streams now
    std::atomic<std::size_t> body_bytes{0};   // held by all request bodies now
    std::atomic<std::size_t> open_connections{0};
    std::atomic<std::size_t> draining{0}; // connections in drain_and_close, held beyond the cap
    std::atomic<std::uint64_t> shed_connections{0}, read_timeouts{0};
    std::mutex log_mutex;
    metrics_registry metrics{config};
    answers say{config.include_status};
    // In-flight limits and priority shedding (admission.hpp).
    admission_stage admission_control{config, say, metrics, [this] { return options.clock(); },
                                      [this](std::string_view line) { log(line); }};

    // The rate limits' answer for `scope`. A decision that can wait on the network is made on
    // a decision thread; meanwhile the I/O thread serves others, and the request goes on on
    // its own executor.
    net::awaitable<admission> decide(const limit_scope& scope, std::uint64_t tokens) {
        if (!decisions) co_return options.limiter->acquire(scope, tokens, options.clock());
        co_return co_await net::co_spawn(
            decisions->get_executor(),
            [&]() -> net::awaitable<admission> {
                co_return options.limiter->acquire(scope, tokens, options.clock());
            },
            net::use_awaitable);
    }

    void log(std::string_view line) {
        if (!options.log) return;
        const std::lock_guard lock(log_mutex);
        options.log(line);
    }

    // A fresh id: event ids, x-request-id and completion ids.
    std::string next_id() {
        faultline::splitmix64 g(
            derived_seed(options.seed, ids.fetch_add(1, std::memory_order_relaxed)));
        return faultline::make_event_id(g);
    }

    void counted(unsigned status) {
        if (status < 300)
            count.ok.fetch_add(1, std::memory_order_relaxed);
        else if (status == 429)
            count.rate_limited.fetch_add(1, std::memory_order_relaxed);
        else if (status < 500)
            count.client_errors.fetch_add(1, std::memory_order_relaxed);
        else
            count.server_errors.fetch_add(1, std::memory_order_relaxed);
    }

    net::awaitable<void> accept_loop();
    net::awaitable<void> session(tcp::socket socket, connection_slot slot);
    // Answers a connection over `max_connections` with a 503 and closes it.
    net::awaitable<void> shed(tcp::socket socket);
    // How reading one request ended: a request to serve, a connection to close quietly (the
    // client closed it or went idle), or an answer to send before closing it.
    struct read_result {
        bool request = false;
        std::optional<reply> refusal;
    };
    // `body` is charged with what the request's body holds.
    net::awaitable<read_result> read_request(beast::tcp_stream& s, beast::flat_buffer& buffer,
                                             request_parser& parser, read_watch& watch, bool first,
                                             memory_charge& body);
    // Serves one request; whether the connection is kept for the next one. `watch` bounds the
    // wait for it when a chat's watch on the client goes on as that wait.
    net::awaitable<bool> handle(beast::tcp_stream& s, beast::flat_buffer& buffer, http_request& req,
                                read_watch& watch);
    // A chat request that passed every check made before limits: its fields, its key, its model,
    // its spend reservation.
    struct chat_request : chat_fields {
        const key_config* key = nullptr;
        model_state* model = nullptr;
        // The key's spend budget holds the estimate until the request ends; settled with the
        // tokens used (mutable: the request is otherwise read-only once prepared).
        mutable spend_budgets::reservation spend;
    };
    // The stages before admission: routing, authentication, the body (request.hpp), then the
    // model, context length and the spend budget: the reply that ends the request here, or the
    // request to serve.
    std::variant<reply, chat_request> prepare(const http_request& req,
                                              const std::string& request_id);
    // Ends the watch on a chat request's client once the request is answered (`keep`: the
    // answer keeps the connection). On a kept connection the watch's read goes on as the wait
    // for the next request, up to idle_timeout (`idle`). Whether the connection goes on, with
    // the next request's first bytes in `buffer`.
    net::awaitable<bool> end_watch(beast::tcp_stream& s, beast::flat_buffer& buffer,
                                   client_watch& watch, bool keep, read_watch& idle);
    net::awaitable<bool> serve_chat(beast::tcp_stream& s, http_request& req, const chat_request& cr,
                                    const std::string& request_id, client_watch& watch);
    // `limits`: the key's decisions, sent as `x-ratelimit-*` headers before `r.headers`.
    net::awaitable<bool> send(beast::tcp_stream& s, const http_request& req, reply& r,
                              const std::string& request_id, const key_limits* limits = nullptr);
    // How a relayed stream ended.
    struct stream_outcome {
        bool keep_alive = false;
        std::optional<faultline::error> failed_with; // none: the stream completed
        bool upstream_fault = false; // the failure was the upstream's (counts against its breaker)
        // A time limit passed before anything reached the client (its head held for the first
        // token): the call's failure, which the next channel may still answer.
        std::optional<faultline::failure> unsent;
    };
    // The channel's adaptive concurrency limit; null when it has none.
    channel_concurrency* adaptive_limit(const channel_config& ch) const {
        const auto it = adaptive.find(ch.name);
        return it == adaptive.end() ? nullptr : it->second.get();
    }
    net::awaitable<stream_outcome> stream(beast::tcp_stream& s, const http_request& req,
                                          channel_call& up, bool pass_cuts, bool responses,
                                          const key_limits& rate_limits, const header_list& headers,
                                          const std::string& request_id, std::uint64_t& completion,
                                          const channel_config& ch, const call_limits& limits);
    // The answer to GET /metrics.
    reply metrics_reply() const;
    // Every counter of `stats`, read now.
    stats counters_now() const noexcept;
};

stats server::impl::counters_now() const noexcept {
    const auto& c = count;
    const auto get = [](const std::atomic<std::uint64_t>& a) {
        return a.load(std::memory_order_relaxed);
    };
    stats st;
    st.connections = get(c.connections);
    st.requests = get(c.requests);
    st.ok = get(c.ok);
    st.client_errors = get(c.client_errors);
    st.rate_limited = get(c.rate_limited);
    st.server_errors = get(c.server_errors);
    st.streams = get(c.streams);
    st.stream_errors = get(c.stream_errors);
    st.upstream_calls = get(c.upstream_calls);
    st.failovers = get(c.failovers);
    st.stream_bytes_peak = get(c.stream_bytes_peak);
    st.body_bytes_peak = get(c.body_bytes_peak);
    st.bodies_refused = get(c.bodies_refused);
    st.open_connections = open_connections.load(std::memory_order_relaxed);
    st.shed_connections = get(shed_connections);
    st.read_timeouts = get(read_timeouts);
    st.upstream_connections = channels.connections_opened();
    st.abandoned = get(c.abandoned) + admission_control.abandoned();
    st.queued = admission_control.queued();
    st.shed = admission_control.shed();
    st.waiting = admission_control.waiting();
    return st;
}

reply server::impl::metrics_reply() const {
    scrape sc;
    sc.counters = counters_now();
    sc.stream_bytes = stream_bytes.load(std::memory_order_relaxed);
    sc.body_bytes = body_bytes.load(std::memory_order_relaxed);
    for (const model_config& m : config.models) {
        const model_state& ms = models.at(m.id);
        for (std::size_t ci = 0; ci < ms.channels.size(); ++ci)
            sc.breakers.push_back(
                {m.id, ms.channels[ci]->name, (*ms.pool)[ci].state(options.clock())});
    }
    for (const auto& ch : config.channels)
        if (const channel_concurrency* cc = adaptive_limit(ch))
            sc.adaptive.push_back({ch.name, cc->limit(), cc->in_flight(), cc->refused()});
    reply r{200, {}, {}, metrics_content_type};
    metrics.render(r.body, sc);
    return r;
}

// Runs on the acceptor's executor. With several threads it and each connection get a strand of
// their own: a session's socket, timers and coroutine never run concurrently.
net::awaitable<void> server::impl::accept_loop() {
    auto self = shared_from_this();
    net::steady_timer pause(acceptor.get_executor());
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(connection_executor(), nothrow);
        if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
        if (ec) {
            // Out of file descriptors (or a connection reset before it was accepted): the
            // backlog still holds the connection, so accepting again at once would spin.
            pause.expires_after(std::chrono::milliseconds(50));
            (void)co_await pause.async_wait(nothrow);
            continue;
        }
        count.connections.fetch_add(1, std::memory_order_relaxed);
        const auto ex = socket.get_executor();
        // Only this loop takes slots (sessions give them back), so the cap is never overrun.
        if (open_connections.load(std::memory_order_relaxed) >= config.max_connections) {
            shed_connections.fetch_add(1, std::memory_order_relaxed);
            // The answers are bounded too: a flood beyond them is closed without one.
            if (draining.load(std::memory_order_relaxed) < drains_at_once) {
                draining.fetch_add(1, std::memory_order_relaxed);
                net::co_spawn(ex, self->shed(std::move(socket)), net::detached);
            }
            continue;
        }
        open_connections.fetch_add(1, std::memory_order_relaxed);
        net::co_spawn(ex, self->session(std::move(socket), connection_slot(open_connections)),
                      net::detached);
    }
}

net::awaitable<void> server::impl::session(tcp::socket socket, connection_slot taken) {
    auto self = shared_from_this();
    // A local after `self`, so that a frame destroyed before it ended (the io_context stopped)
    // gives the slot back while the server still exists; parameters outlive locals.
    connection_slot slot = std::move(taken);
    beast::error_code nodelay_ec;
    // Stream events are small writes: without TCP_NODELAY, Nagle's algorithm holds each one
    // back until the client's delayed ACK, some 40 ms per event.
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    beast::tcp_stream s(std::move(socket));
    read_watch watch(s.socket());
    beast::flat_buffer buffer;
    for (bool first = true;; first = false) {
        // The request's fields (a dozen) from the coroutine's own memory, not an allocation
        // each; the arena outlives the request the parser gives away below.
        fields_arena<2048> arena;
        request_parser parser(std::piecewise_construct, std::make_tuple(),
                              std::make_tuple(arena.allocator()));
        parser.header_limit(16 * 1024);
        parser.body_limit(config.max_body);
        // Held until the request is answered: its body lives as long.
        memory_charge body(body_bytes, count.body_bytes_peak, peak_of::total);
        read_result rr = co_await read_request(s, buffer, parser, watch, first, body);
        if (rr.refusal) {
            // Bad input gets an answer before the connection closes.
            count.requests.fetch_add(1, std::memory_order_relaxed);
            const std::string id = next_id();
            http_request none;
            if (parser.is_header_done()) none.method(parser.get().method()); // HEAD: no body
            none.keep_alive(false);
            (void)co_await send(s, none, *rr.refusal, id);
            slot.release();
            if (draining.fetch_add(1, std::memory_order_relaxed) < drains_at_once)
                co_await drain_and_close(s);
            draining.fetch_sub(1, std::memory_order_relaxed);
            co_return;
        }
        if (!rr.request) break;
        http_request req = parser.release();
        count.requests.fetch_add(1, std::memory_order_relaxed);
        if (!co_await handle(s, buffer, req, watch)) break;
    }
    slot.release();
    beast::error_code ignored;
    s.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

net::awaitable<server::impl::read_result>
server::impl::read_request(beast::tcp_stream& s, beast::flat_buffer& buffer, request_parser& parser,
                           read_watch& watch, bool first, memory_charge& body) {
    // The watch, not the stream, keeps the time while reading; writes keep their own.
    s.expires_never();
    read_result out;
    const auto refuse = [&](faultline::error e, std::string message,
                            const faultline::render_options& o = {}) {
        out.refusal = say.error(e, message, "", o);
        return out;
    };
    // A read that failed: the client closed the connection (quietly closed here too), or an
    // answer for it.
    const auto failed = [&](const beast::error_code& ec) {
        if (ec == http::error::end_of_stream || ec == net::error::connection_reset ||
            ec == net::error::eof || ec == net::error::operation_aborted)
            return out;
        if (ec == http::error::body_limit)
            return refuse(faultline::error::payload_too_large, "The request body is larger than " +
                                                                   std::to_string(config.max_body) +
                                                                   " bytes.");
        return refuse(faultline::error::invalid_request,
                      "The request could not be read as HTTP/1.1: " + ec.message() + ".");
    };
    // A body that would take all bodies over their budget: refused before more of it is read.
    const auto over_budget = [&]() {
        body.charge(0);
        count.bodies_refused.fetch_add(1, std::memory_order_relaxed);
        out.refusal =
            say.busy("The gateway holds as many request bodies as its memory budget "
                     "allows (bodies_memory_budget, " +
                         std::to_string(config.bodies_memory_budget) + " bytes). Retry shortly.",
                     "");
        return out;
    };
    const auto timed_out = [&](std::string message) {
        read_timeouts.fetch_add(1, std::memory_order_relaxed);
        return refuse(faultline::error::request_timeout, std::move(message));
    };

    clock::time_point header_start = clock::now();
    if (!first && buffer.size() == 0) {
        // A kept-alive connection between requests: its header time starts with its next byte.
        watch.arm(header_start + config.idle_timeout);
        auto [ec, n] = co_await s.async_read_some(buffer.prepare(4096), nothrow);
        watch.disarm();
        buffer.commit(n);
        if (ec) co_return out;
        header_start = clock::now();
    }
    beast::error_code parsed_ec;
    parse_buffered(
        parser, buffer, [&] { return parser.is_header_done(); }, parsed_ec);
    if (parsed_ec) co_return failed(parsed_ec);
    if (!parser.is_header_done()) {
        watch.arm(header_start + config.header_timeout);
        auto [ec, n] = co_await http::async_read_header(s, buffer, parser, nothrow);
        watch.disarm();
        if (ec && watch.fired()) {
            // Silence from the start is an idle connection: closed without a word.
            if (buffer.size() == 0 && !parser.got_some()) co_return out;
            co_return timed_out("The request header did not arrive within " +
                                std::to_string(config.header_timeout.count()) +
                                " ms (header_timeout_ms).");
        }
        if (ec) co_return failed(ec);
    }

    // The body's framing: only a length or `chunked` alone says where a body ends. Another
    // coding, or both, would leave the rest of the bytes to be read as a second request.
    const arena_fields& h = parser.get();
    if (h.find(http::field::transfer_encoding) != h.end()) {
        if (h.find(http::field::content_length) != h.end())
            co_return refuse(faultline::error::invalid_request,
                             "The request has both Content-Length and Transfer-Encoding: its "
                             "length is ambiguous. Send one of them.");
        if (!chunked_alone(h))
            co_return refuse(faultline::error::invalid_request,
                             "Unsupported Transfer-Encoding: this server reads bodies sent with "
                             "Content-Length or with 'Transfer-Encoding: chunked' alone.");
    }
    // A body of known length is charged whole before any of it is read (the body reserves that
    // much at its first byte); one over max_body is left to the parser's 413.
    if (const auto length = parser.content_length();
        length && *length <= config.max_body &&
        !body.try_charge(static_cast<std::size_t>(*length), config.bodies_memory_budget))
        co_return over_budget();
    if (const auto expect = h.find(http::field::expect);
        expect != h.end() && parser.get().version() >= 11) {
        if (!beast::iequals(expect->value(), "100-continue")) {
            faultline::render_options o;
            o.status = 417;
            o.code = "expectation_failed";
            co_return refuse(faultline::error::invalid_request,
                             "Unsupported expectation: this server meets 'Expect: 100-continue' "
                             "only.",
                             o);
        }
        if (!parser.is_done()) {
            // The client waits for this before it sends the body.
            http::response<http::empty_body> go_on{http::status::continue_, 11};
            s.expires_after(std::chrono::seconds(30));
            auto [ec, n] = co_await http::async_write(s, go_on, nothrow);
            (void)n;
            s.expires_never();
            if (ec) co_return out;
        }
    }

    // The body: whole within body_timeout, and once the grace period is over, on average no
    // slower than the minimum rate. The watch wakes at the first moment either can fail, so
    // when it fires, one has.
    const clock::time_point body_start = clock::now();
    const clock::time_point body_deadline = body_start + config.body_timeout;
    const std::uint64_t rate = config.min_body_bytes_per_second;
    // A chunked body is charged with the bytes it has received (the string's capacity can run
    // ahead of them by its growth factor, which the budget does not count).
    const auto within_budget = [&] {
        return parser.content_length() ||
               body.try_charge(parser.get().body().size(), config.bodies_memory_budget);
    };
    std::uint64_t received = parse_buffered(
        parser, buffer, [&] { return parser.is_done(); }, parsed_ec);
    if (parsed_ec) co_return failed(parsed_ec);
    if (!within_budget()) co_return over_budget();
    while (!parser.is_done()) {
        clock::time_point wake = body_deadline;
        if (rate) {
            // When the average falls below the rate unless another byte comes (capped at a
            // day: far past any body time limit, and inside the clock's range).
            const auto due =
                std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(std::min(
                    (static_cast<double>(received) + 1) / static_cast<double>(rate), 86'400.0)));
            wake =
                std::min(wake, body_start + std::max<clock::duration>(config.body_rate_grace, due));
        }
        watch.arm(wake);
        auto [ec, n] = co_await http::async_read_some(s, buffer, parser, nothrow);
        watch.disarm();
        received += n;
        if (ec && watch.fired())
            co_return timed_out(
                wake == body_deadline
                    ? "The request body did not arrive within " +
                          std::to_string(config.body_timeout.count()) + " ms (body_timeout_ms)."
                    : "The request body arrived slower than " + std::to_string(rate) +
                          " bytes per second (min_body_bytes_per_second).");
        if (ec) co_return failed(ec);
        if (!within_budget()) co_return over_budget();
    }
    out.request = true;
    co_return out;
}

net::awaitable<void> server::impl::shed(tcp::socket socket) {
    auto self = shared_from_this();
    beast::tcp_stream s(std::move(socket));
    const std::string id = next_id();
    reply r = say.busy("The gateway has " + std::to_string(config.max_connections) +
                           " connections open, its limit (max_connections). Retry shortly.",
                       id);
    http_request none;
    none.keep_alive(false);
    (void)co_await send(s, none, r, id);
    co_await drain_and_close(s);
    draining.fetch_sub(1, std::memory_order_relaxed);
}

net::awaitable<bool> server::impl::send(beast::tcp_stream& s, const http_request& req, reply& r,
                                        const std::string& request_id, const key_limits* limits) {
    // The answer's fields (a dozen) from the coroutine's own memory, not an allocation each.
    fields_arena<2048> arena;
    http::response<http::string_body, arena_fields> res{std::piecewise_construct, std::make_tuple(),
                                                        std::make_tuple(arena.allocator())};
    res.result(static_cast<http::status>(r.status));
    res.version(11);
    res.reason(faultline::reason_phrase(r.status)); // Beast has no phrase for 529
    res.set(http::field::server, "faultline-gateway");
    res.set(http::field::content_type, r.content_type);
    res.set("x-request-id", request_id);
    if (limits)
        limits->for_each_header(
            [&res](std::string_view name, std::string_view value) { res.set(name, value); });
    for (auto& [name, value] : r.headers)
        res.set(name, value);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(r.body);
    res.prepare_payload();
    counted(r.status);
    metrics.answered(route_of({req.target().data(), req.target().size()}), r.status);
    if (options.log)
        log(std::string(req.method_string()) + " " + std::string(req.target()) + " " +
            std::to_string(r.status) + " id=" + request_id);
    s.expires_after(std::chrono::seconds(30));
    // A HEAD answer is the header only, Content-Length included: what a GET would have had.
    const bool head = req.method() == http::verb::head;
    std::string wire;
    wire.reserve(512 + (head ? 0 : res.body().size()));
    if (serialize(res, wire, head)) co_return false;
    auto [ec, n] = co_await write_now(s, net::buffer(wire));
    (void)n;
    co_return !ec && res.keep_alive();
}

std::variant<reply, server::impl::chat_request> server::impl::prepare(const http_request& req,
                                                                      const std::string& id) {
    std::variant<reply, route> routed = route_request(req, config.metrics, say, id);
    if (reply* r = std::get_if<reply>(&routed)) return std::move(*r);
    const route rt = std::get<route>(routed);
    if (rt == route::metrics) return metrics_reply(); // without a key, as vLLM and LiteLLM serve it

    std::variant<reply, const key_config*> authenticated = authenticate(req, config, say, id);
    if (reply* r = std::get_if<reply>(&authenticated)) return std::move(*r);
    const key_config* key = std::get<const key_config*>(authenticated);

    if (rt == route::models) {
        json::array data;
        for (const auto& m : config.models)
            data.push_back(
                json::object{{"id", m.id}, {"object", "model"}, {"owned_by", "faultline-gateway"}});
        return reply{
            200, json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}}), {}};
    }

    std::variant<reply, chat_fields> read = read_chat(req, rt, *key, config, say, id);
    if (reply* r = std::get_if<reply>(&read)) return std::move(*r);
    chat_request out;
    static_cast<chat_fields&>(out) = std::move(std::get<chat_fields>(read));
    out.key = key;
    const std::string_view prompt_param = out.responses ? "input" : "messages";
    const std::string_view max_param = out.responses ? "max_output_tokens" : "max_tokens";
    const auto mit = models.find(out.model_id);
    if (mit == models.end())
        return say.error(faultline::error::model_not_found,
                         "The model '" + out.model_id +
                             "' does not exist. GET /v1/models lists the models.",
                         id, param_named("model"));
    out.model = &mit->second;
    const std::uint64_t limit = out.model->model->context_tokens;
    if (out.prompt_tokens + out.max_tokens > limit)
        return say.error(faultline::error::context_length_exceeded,
                         "This model's maximum context length is " + std::to_string(limit) +
                             " tokens; the " + std::string(prompt_param) + " (about " +
                             std::to_string(out.prompt_tokens) + " tokens) plus " +
                             std::string(max_param) + " (" + std::to_string(out.max_tokens) +
                             ") exceed it.",
                         id, param_named(prompt_param));
    // Reserved before any upstream call, so that requests in flight count against the budget.
    std::optional<spend_budgets::reservation> spend =
        budgets.reserve(*key, out.prompt_tokens + out.max_tokens);
    if (!spend) metrics.limit_refused(level::key, limit_kind::spend);
    if (!spend)
        return say.error(faultline::error::spend_limit_exceeded,
                         "Spend limit reached for key " + key->id + " (" +
                             std::to_string(*key->budget_tokens) +
                             " tokens). Raise the key's budget; retrying will not help.",
                         id);
    out.spend = std::move(*spend);
    return out;
}

net::awaitable<bool> server::impl::handle(beast::tcp_stream& s, beast::flat_buffer& buffer,
                                          http_request& req, read_watch& watch) {
    const std::string id = next_id();
    const clock::time_point started = clock::now();
    std::variant<reply, chat_request> prepared = prepare(req, id);
    const route rt = route_of({req.target().data(), req.target().size()});
    if (reply* r = std::get_if<reply>(&prepared)) {
        const bool keep = co_await send(s, req, *r, id);
        metrics.request_done(rt, {}, clock::now() - started);
        co_return keep;
    }
    // A chat request is served while its client's connection is read: a client that goes away
    // cancels the upstream call at once (`buffer` keeps what the client sends meanwhile).
    const chat_request& cr = std::get<chat_request>(prepared);
    auto client = std::make_shared<client_watch>(s.get_executor());
    watch_client(s.socket(), buffer, client);
    const bool keep = co_await serve_chat(s, req, cr, id, *client);
    metrics.request_done(rt, cr.model->model->id, clock::now() - started);
    co_return co_await end_watch(s, buffer, *client, keep, watch);
}

net::awaitable<bool> server::impl::end_watch(beast::tcp_stream& s, beast::flat_buffer& buffer,
                                             client_watch& watch, bool keep, read_watch& idle) {
    if (watch.done) co_return keep && !watch.gone;
    if (!keep || buffer.size() != 0) {
        // Closing, or the next request is already here (pipelined behind this one): the watch's
        // read ends before the session reads on.
        beast::error_code ignored;
        s.socket().cancel(ignored);
        (void)co_await watch.finished.async_wait(nothrow);
        co_return keep && !watch.gone;
    }
    // The watch's read is the wait for the next request: it ends with the request's first bytes,
    // the client's close, or the idle deadline (closed quietly, as between any two requests).
    idle.arm(clock::now() + config.idle_timeout);
    (void)co_await watch.finished.async_wait(nothrow);
    idle.disarm();
    co_return !watch.gone && buffer.size() != 0;
}

// Every reply is a named local when it is sent: GCC 12 can destroy a temporary twice when it
// lives across a co_await in the same full-expression.
net::awaitable<bool> server::impl::serve_chat(beast::tcp_stream& s, http_request& req,
                                              const chat_request& cr, const std::string& id,
                                              client_watch& watch) {
    const key_config& key = *cr.key;
    model_state& ms = *cr.model;
    const std::string& model_id = ms.model->id;
    const std::uint64_t estimate = cr.prompt_tokens + cr.max_tokens;
    const user_config* user = key.user.empty() ? nullptr : config.find_user(key.user);

    // The key's and user's in-flight limits, then a priority slot: held until the answer ends.
    std::variant<admission_stage::pass, reply, client_gone> admitted =
        co_await admission_control.admit(s.get_executor(), key, cr.priority, id, watch);
    if (reply* refused = std::get_if<reply>(&admitted))
        co_return co_await send(s, req, *refused, id);
    if (std::holds_alternative<client_gone>(admitted)) co_return false; // counted there
    admission_stage::pass& held = std::get<admission_stage::pass>(admitted);

    // Channels as the dispatch stage walks them (dispatch.hpp). The key and user levels are
    // charged once per request, with the first channel that admits it; each further channel
    // only at its own level.
    const std::string completion_id = (cr.responses ? "resp-" : "chatcmpl-") + id.substr(0, 24);
    const call_info call{model_id,         cr.stream,
                         cr.prompt_tokens, cr.max_tokens,
                         completion_id,    static_cast<std::int64_t>(std::time(nullptr)),
                         cr.responses};
    key_limits rate_limits; // the key's decisions, once charged
    bool charged = false;   // key and user levels hold this request's estimate
    const auto refund_request = [&](std::uint64_t tokens) {
        if (config.limits_enabled && charged && tokens)
            options.limiter->refund({&key, user, nullptr}, 0, tokens, options.clock());
    };
    channel_walk walk(ms, metrics, options.clock());
    while (const channel_config* chosen = walk.next(options.clock())) {
        const channel_config& ch = *chosen;
        auto& breaker = walk.breaker();
        // The channel's adaptive limit first: a channel at it is skipped before any rate
        // limit is charged for it.
        channel_concurrency::slot slot;
        if (channel_concurrency* cc = adaptive_limit(ch)) {
            slot = cc->try_acquire(options.clock());
            if (!slot) {
                log("adaptive limit channel=" + ch.name + " event_id=" + id + " at " +
                    std::to_string(slot.refusal().limit) + " in flight: skipped");
                metrics.limit_refused(level::channel, limit_kind::adaptive);
                walk.at_adaptive_limit(slot.refusal(), options.clock());
                continue;
            }
        }
        if (config.limits_enabled) {
            const limit_scope scope{charged ? nullptr : &key, charged ? nullptr : user, &ch};
            admission a = co_await decide(scope, estimate);
            if (!a.admitted) {
                metrics.limit_refused(a.refused_level, limit_kind::rate);
                if (a.refused_level == level::channel) {
                    walk.at_rate_limit(std::move(a), options.clock());
                    continue;
                }
                breaker.record_neutral(options.clock());
                reply r =
                    limit_reply(say, a, std::string(to_string(a.refused_level)) + "-level limit: ");
                log("limit " + std::string(to_string(a.refused_level)) + " key=" + key.id +
                    " by=" + std::string(a.by) + " " + a.refusal.ec.message());
                co_return co_await send(s, req, r, id);
            }
            if (!charged) rate_limits = {a.key_requests, a.key_tokens};
            charged = true;
        }
        count.upstream_calls.fetch_add(1, std::memory_order_relaxed);
        if (!walk.failed_over_from().empty()) {
            count.failovers.fetch_add(1, std::memory_order_relaxed);
            metrics.failover(model_id);
        }
        const clock::time_point call_start = clock::now();
        const call_limits cl = call_limits::of(ch, config, call_start);
        std::string mapped; // the body with the upstream's name for the model
        if (!ch.upstream_model.empty()) mapped = with_model(req.body(), ch.upstream_model);
        std::unique_ptr<channel_call> up = channels.open(
            ch, {call, ch.upstream_model.empty() ? std::string_view(req.body()) : mapped, id},
            calls.at(ch.name).fetch_add(1, std::memory_order_relaxed));
        const watched_call watching(watch, up.get());

        // The channel's answer, judged by the library's one rule; a stream's events are judged
        // by the relay as they pass.
        faultline::exchange_options xo;
        xo.head_timeout = std::chrono::duration_cast<milliseconds>(cl.head - call_start);
        faultline::exchange<sse::null_monitor_handler, clock> x(call_start, xo);
        std::error_code transport = co_await up->head(cl.head);
        const clock::time_point head_at = clock::now();
        if (!transport) metrics.upstream_head(model_id, ch.name, head_at - call_start);
        if (transport == std::error_code(make_error_code(beast::error::timeout)))
            if (std::error_code own = x.check(head_at)) transport = own;
        const bool relayed = cr.stream && !transport && up->status() == 200;
        if (!transport && !x.head(up->status(), up->headers(), head_at) && !relayed) {
            // The whole body, each piece within the idle limit of the one before.
            for (;;) {
                const body_piece piece =
                    co_await up->next(std::min(clock::now() + cl.idle, cl.total));
                if (piece.ec || piece.end || piece.bytes.empty()) {
                    transport = piece.bytes.empty() && !piece.end && !piece.ec
                                    ? std::error_code(make_error_code(beast::error::timeout))
                                    : piece.ec;
                    break;
                }
                if ((transport = x.body(piece.bytes, clock::now()))) break;
            }
        }
        std::optional<faultline::failure> failed;
        if (!relayed || !x.head_received()) {
            failed = x.finish(transport, clock::now()).failure;
            if (failed && !x.head_received()) {
                if (failed->code == faultline::error::upstream_timeout &&
                    (ch.first_token_timeout || ch.total_timeout))
                    failed->message =
                        "No response head within " +
                        std::to_string(
                            std::chrono::duration_cast<milliseconds>(cl.head - call_start)
                                .count()) +
                        (ch.total_timeout && cl.head == cl.total ? " ms (total_timeout_ms)."
                                                                 : " ms (first_token_timeout_ms).");
                failed->message = "Channel " + ch.name + ": " + failed->message;
            }
        }
        if (watch.gone) {
            // The client went away: its permits and reservations go first, then the upstream
            // connection closes (so the upstream sees the cancel after they are free).
            count.abandoned.fetch_add(1, std::memory_order_relaxed);
            metrics.upstream_abandoned(model_id, ch.name, clock::now() - call_start);
            breaker.record_neutral(options.clock());
            slot.complete(completion::ignored, options.clock());
            log("client went away event_id=" + id + ": the call to channel " + ch.name +
                " was cancelled");
            held.release();
            cr.spend.settle(cr.prompt_tokens);
            refund_request(estimate);
            if (config.limits_enabled)
                options.limiter->refund({nullptr, nullptr, &ch}, 0, estimate, options.clock());
            co_return false;
        }
        if (!failed) {
            header_list headers;
            headers.emplace_back("x-faultline-channel", ch.name);
            if (!walk.failed_over_from().empty())
                headers.emplace_back("x-faultline-failover", walk.failed_over_from());
            std::uint64_t completion = 0;
            bool keep = false;
            if (cr.stream) {
                const bool pass_cuts =
                    ch.pass_cuts || (ch.url.empty() && ch.mode == failure_mode::cutoff);
                const stream_outcome o =
                    co_await stream(s, req, *up, pass_cuts, cr.responses, rate_limits, headers, id,
                                    completion, ch, cl);
                if (o.unsent) {
                    failed = o.unsent; // nothing reached the client: the next channel may answer
                } else {
                    keep = o.keep_alive;
                    if (watch.gone) {
                        count.abandoned.fetch_add(1, std::memory_order_relaxed);
                        log("client went away event_id=" + id + " during its stream from channel " +
                            ch.name);
                    }
                    // A stream counts for or against its channel once it is over: an upstream
                    // that fails mid-stream must open its breaker like one that fails at once.
                    if (!o.failed_with) {
                        metrics.circuit_changed(model_id, ch.name,
                                                breaker.record_success(options.clock()));
                        slot.complete(completion::success, options.clock());
                    } else if (o.upstream_fault && !watch.gone) {
                        metrics.circuit_changed(
                            model_id, ch.name,
                            breaker.record_failure(options.clock(), *o.failed_with));
                        slot.complete(completion_of(faultline::info(*o.failed_with).cat),
                                      options.clock());
                    } else {
                        breaker.record_neutral(options.clock());
                        slot.complete(completion::ignored, options.clock());
                    }
                    metrics.stream_call_ended(model_id, ch.name, o.failed_with, o.upstream_fault,
                                              pass_cuts, watch.gone, clock::now() - call_start);
                }
            } else {
                metrics.circuit_changed(model_id, ch.name, breaker.record_success(options.clock()));
                slot.complete(completion::success, options.clock());
                metrics.upstream_ok(model_id, ch.name, clock::now() - call_start);
                reply r{200, std::string(x.body()), std::move(headers)};
                keep = co_await send(s, req, r, id, &rate_limits);
                // Counted once the answer is out: the client does not wait for it.
                completion = completion_tokens_of(x.body());
            }
            if (!failed) {
                const std::uint64_t used = cr.prompt_tokens + completion;
                cr.spend.settle(used);
                if (config.limits_enabled && estimate > used)
                    options.limiter->refund({&key, user, &ch}, 0, estimate - used, options.clock());
                co_return keep;
            }
        }
        faultline::failure& f = *failed;
        metrics.upstream_failed(model_id, ch.name, f.cat, clock::now() - call_start);
        slot.complete(completion_of(f.cat), options.clock());
        // The channel was called (its request counts); the tokens were not used there.
        if (config.limits_enabled)
            options.limiter->refund({nullptr, nullptr, &ch}, 0, estimate, options.clock());
        log("upstream channel=" + ch.name + " event_id=" + id + " " +
            std::string(faultline::to_string(f.code)) + ": " + f.message);
        // The next channel, unless `f` is not retryable (the upstream refused the request
        // itself: no channel will take it).
        walk.failed(std::move(f), options.clock());
    }
    refund_request(estimate); // nothing was served
    reply r = walk.answer(
        say, id, [this](std::string_view line) { log(line); }, options.clock());
    co_return co_await send(s, req, r, id);
}

net::awaitable<server::impl::stream_outcome>
server::impl::stream(beast::tcp_stream& s, const http_request& req, channel_call& up,
                     bool pass_cuts, bool responses, const key_limits& rate_limits,
                     const header_list& headers, const std::string& id, std::uint64_t& completion,
                     const channel_config& ch, const call_limits& limits) {
    fields_arena<2048> arena; // the head's fields, as in `send`
    http::response<http::empty_body, arena_fields> res{std::piecewise_construct, std::make_tuple(),
                                                       std::make_tuple(arena.allocator())};
    res.result(http::status::ok);
    res.version(11);
    res.set(http::field::server, "faultline-gateway");
    res.set(http::field::content_type, "text/event-stream");
    res.set(http::field::cache_control, "no-cache");
    res.set("x-accel-buffering", "no"); // nginx: do not buffer (reference 003)
    res.set("x-request-id", id);
    rate_limits.for_each_header(
        [&res](std::string_view name, std::string_view value) { res.set(name, value); });
    for (auto& [name, value] : headers)
        res.set(name, value);
    res.keep_alive(req.keep_alive());
    res.chunked(true);
    stream_outcome result;
    memory_charge memory(stream_bytes, count.stream_bytes_peak, peak_of::holder);
    const clock::time_point relay_start = clock::now();
    stream_relay rl(config, ch, say, id, responses, limits, relay_start, memory,
                    [this](std::string_view line) { log(line); });
    const auto send_head = [&]() -> net::awaitable<bool> {
        if (rl.head_is_out()) co_return true;
        rl.head_sent();
        count.streams.fetch_add(1, std::memory_order_relaxed);
        counted(200);
        metrics.answered(responses ? route::responses : route::chat, 200);
        s.expires_after(std::chrono::seconds(30));
        std::string head;
        (void)serialize(res, head, true); // a header: nothing can fail
        auto [ec, n] = co_await write_now(s, net::buffer(head));
        (void)n;
        co_return !ec;
    };
    // With a first-token limit the relay holds the head for the first content event.
    if (!rl.holds_head() && !co_await send_head()) co_return result;
    // What the relay has for the client, as one chunk (the head first, once it is not held).
    const auto flush = [&]() -> net::awaitable<bool> {
        std::string& out = rl.out();
        if (out.empty()) co_return true;
        if (rl.holds_head()) co_return true;
        if (!co_await send_head()) co_return false;
        s.expires_after(std::chrono::seconds(30));
        const auto chunk = http::make_chunk(net::buffer(out));
        auto [ec, n] = co_await write_now(s, chunk);
        (void)n;
        out.clear();
        co_return !ec;
    };
    const auto outcome = [&]() -> stream_outcome& {
        result.failed_with = rl.failed_with();
        result.upstream_fault = rl.upstream_fault();
        return result;
    };

    clock::time_point last_write = relay_start;
    while (!rl.ended()) {
        // The monitor's next limit, or the next heartbeat once the head is out.
        clock::time_point wake = rl.deadline();
        if (rl.head_is_out()) wake = std::min(wake, last_write + config.heartbeat);
        const body_piece piece = co_await up.next(wake);
        const clock::time_point now = clock::now();
        if (piece.ec || piece.end) {
            if (piece.ec)
                log("stream event_id=" + id + " upstream read ended: " + piece.ec.message());
            break;
        }
        const stream_relay::step st = rl.take(piece.bytes, now);
        if (st == stream_relay::step::unsent) {
            result.unsent = rl.unsent(); // nothing reached the client: the next channel may answer
            co_return result;
        }
        if (piece.bytes.empty()) {
            // The upstream was quiet until `wake`, and no limit is over: a heartbeat is due.
            if (st == stream_relay::step::more && rl.head_is_out() &&
                now >= last_write + config.heartbeat) {
                rl.heartbeat();
                last_write = now;
            }
        } else if (!rl.out().empty()) {
            last_write = clock::now();
        }
        if (rl.ended()) break; // its last events go out with the terminator, in one write
        if (!co_await flush()) co_return outcome();
        // The upstream's bytes that came while they were written waited unread: the write's
        // time was no silence of the upstream's. (A heartbeat says nothing of the upstream.)
        if (!piece.bytes.empty()) rl.sent(clock::now());
    }
    // Tokens used: the content events relayed.
    completion = rl.content_events();
    if (!rl.ended()) {
        if (pass_cuts) {
            // A gateway whose own time limit or proxy drops the stream: the client gets no
            // terminator and no error (reference 000, "streaming response cuts off").
            count.stream_errors.fetch_add(1, std::memory_order_relaxed);
            log("stream event_id=" + id + " cut without a terminator (pass_cuts)");
            if (!co_await send_head()) co_return outcome();
            beast::error_code ignored;
            s.socket().shutdown(tcp::socket::shutdown_both, ignored);
            s.close();
            result.failed_with = faultline::error::stream_truncated;
            result.upstream_fault = true;
            co_return result;
        }
        rl.cut();
    }
    const std::optional<faultline::error>& failed_with = rl.failed_with();
    if (failed_with) count.stream_errors.fetch_add(1, std::memory_order_relaxed);
    if (options.log)
        log(std::string(req.method_string()) + " " + std::string(req.target()) + " 200 stream " +
            std::string(failed_with ? faultline::to_string(*failed_with) : "done") +
            " events=" + std::to_string(rl.events()) + " id=" + id);
    outcome();
    if (!co_await send_head()) co_return result;
    // What the relay still has (the last events, or the error that ends a cut stream) and the
    // terminator, in one write.
    s.expires_after(std::chrono::seconds(30));
    const std::string& out = rl.out();
    beast::error_code ec;
    if (!out.empty()) {
        const auto last =
            beast::buffers_cat(http::make_chunk(net::buffer(out)), http::make_chunk_last());
        auto [wec, n] = co_await write_now(s, last);
        (void)n;
        ec = wec;
    } else {
        const auto last = http::make_chunk_last();
        auto [wec, n] = co_await write_now(s, last);
        (void)n;
        ec = wec;
    }
    result.keep_alive = !ec && req.keep_alive();
    if (!failed_with) {
        // After the terminator the upstream's body ends at once as a rule: read to its end so
        // that the connection can carry another call (a few reads, briefly; else it is closed).
        for (int i = 0; i < 4; ++i) {
            const body_piece rest = co_await up.next(clock::now() + milliseconds(100));
            if (rest.ec || rest.end || rest.bytes.empty()) break;
        }
    }
    co_return result;
}

server::server(net::any_io_executor ex, gateway_config config, server_options options)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(config), std::move(options))) {}

server::~server() {
    close();
}

faultline::result<std::uint16_t> server::listen() {
    auto& a = impl_->acceptor;
    const faultline::result<std::uint16_t> port =
        examples::open_listener(a, impl_->config.host, impl_->config.port);
    if (port) net::co_spawn(a.get_executor(), impl_->accept_loop(), net::detached);
    return port;
}

void server::close() {
    net::post(impl_->acceptor.get_executor(), [self = impl_] {
        beast::error_code ignored;
        self->acceptor.close(ignored);
    });
}

stats server::snapshot() const noexcept {
    return impl_->counters_now();
}

std::vector<adaptive_stats> server::adaptive_limits() const {
    std::vector<adaptive_stats> out;
    for (const auto& ch : impl_->config.channels)
        if (const channel_concurrency* cc = impl_->adaptive_limit(ch))
            out.push_back({ch.name, cc->limit(), cc->in_flight(), cc->refused()});
    return out;
}

const gateway_config& server::config() const noexcept {
    return impl_->config;
}

} // namespace examples::gateway

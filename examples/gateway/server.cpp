#include "gateway/adaptive.hpp"
#include "gateway/channel.hpp"
#include "gateway/gateway.hpp"
#include "gateway/metrics.hpp"
#include "gateway/upstream.hpp"

#include "common/listen.hpp"
#include "common/seed.hpp"

#include <faultline/classify.hpp>
#include <faultline/diagnose.hpp>
#include <faultline/envelope.hpp>
#include <faultline/exchange.hpp>
#include <faultline/limit/refuse.hpp>
#include <faultline/pipeline.hpp>
#include <faultline/random.hpp>
#include <faultline/retry/backoff.hpp>
#include <faultline/retry/channel_pool.hpp>
#include <faultline/sse/monitor.hpp>
#include <faultline/sse/writer.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <cctype>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <variant>

namespace examples::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace sse = faultline::sse;
using tcp = net::ip::tcp;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr auto nothrow = net::as_tuple(net::use_awaitable);

// How long a connection being closed after an error answer is read (and its bytes dropped), so
// that closing with unread bytes does not reset it before the client read the answer.
constexpr auto drain_time = std::chrono::seconds(1);
// Connections being drained at once, beyond `max_connections` (the 503s over it, the closes
// after bad requests): past them a connection is closed at once, so that a flood of either
// holds at most this many more sockets.
constexpr std::size_t drains_at_once = 64;
constexpr std::size_t drain_bytes = std::size_t(16) << 20;

// Reads what a client still sends after its connection's last answer until it closes, bounded
// in bytes and time, then closes the socket.
net::awaitable<void> drain_and_close(beast::tcp_stream& s) {
    beast::error_code ignored;
    s.socket().shutdown(tcp::socket::shutdown_send, ignored);
    s.expires_after(drain_time);
    std::size_t drained = 0;
    char scratch[16 * 1024];
    while (drained < drain_bytes) {
        auto [ec, got] = co_await s.async_read_some(net::buffer(scratch), nothrow);
        drained += got;
        if (ec) break;
    }
    s.close();
}

using header_list = std::vector<std::pair<std::string, std::string>>;

// One answer that is not a stream.
struct reply {
    unsigned status = 200;
    std::string body;
    header_list headers;
    std::string_view content_type = "application/json";
};

// Tells clients outright whether to retry (the OpenAI SDKs read it): a 429 for a spend limit
// or a request larger than the bucket must not be retried, whatever its status says.
std::pair<std::string, std::string> should_retry(bool yes) {
    return {"x-should-retry", yes ? "true" : "false"};
}

// "http://" + the request's Host, for a hint that names a URL; empty when the Host is missing or
// is not a plain host[:port] (it is the client's text, put into a message).
std::string origin_of(const http::request<http::string_body>& req) {
    const auto h = req.find(http::field::host);
    if (h == req.end() || h->value().empty() || h->value().size() > 261) return {};
    for (const char c : h->value())
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
              c == '[' || c == ']' || c == '_'))
            return {};
    return "http://" + std::string(h->value());
}

// A model, its channels in failover order, and their circuit breakers.
struct model_state {
    const model_config* model;
    std::vector<const channel_config*> channels;
    std::unique_ptr<faultline::channel_pool<clock>> pool;
    // One attempt per channel; a retryable failure moves the call to the next channel not yet
    // tried, one that is not retryable ends it. Target k is the k-th channel from the one the
    // pool picks for the call.
    faultline::pipeline_options failover;

    model_state(const model_config& m, std::vector<const channel_config*> chs,
                const faultline::circuit_breaker_options& breaker)
        : model(&m)
        , channels(std::move(chs))
        , pool(std::make_unique<faultline::channel_pool<clock>>(channels.size(), breaker)) {
        failover.targets = channels.size();
        failover.retry.max_attempts = 1;
        for (std::size_t k = 1; k < channels.size(); ++k)
            failover.fallbacks.push_back({std::nullopt, k});
    }
};

// Re-emits the upstream's events to the client, as a relay does: content as it comes; the
// terminator; an upstream error chunk is kept for the gateway to answer in its own words.
struct relay {
    sse::writer* out = nullptr;
    std::optional<faultline::failure> upstream_error;
    bool finished = false;
    bool fragment_error = false;  // an error chunk too large to hold: the monitor has its failure
    std::string* bytes = nullptr; // what `out` writes into, for fragments passed through as is
    bool mid_event = false;       // a fragmented event is partly relayed
    std::uint64_t sent = 0;       // events passed to the client whole

    void on_event(const sse::event& e, sse::event_kind kind) {
        if (finished) return;
        switch (kind) {
        case sse::event_kind::done:
            // The terminator as the upstream sent it: `[DONE]`, or a protocol's own last event
            // (`response.completed`, `message_stop`), which a made-up `[DONE]` would replace.
            if (e.type.empty())
                out->done();
            else
                (void)out->event(
                    {e.data, sse::is_safe_event_type(e.type) ? e.type : "", std::nullopt, {}});
            ++sent;
            finished = true;
            return;
        case sse::event_kind::error:
            finished = true; // the monitor's `on_error` brings its failure next
            return;
        case sse::event_kind::content:
        case sse::event_kind::malformed_json:
        case sse::event_kind::empty:
            ++sent;
            if (e.type.empty() && !e.id)
                out->data(e.data);
            else
                (void)out->event(
                    {e.data, sse::is_safe_event_type(e.type) ? e.type : "", std::nullopt, {}});
            return;
        }
    }

    // An event too large to hold, relayed piece by piece as the upstream sends it: the client
    // gets the same event, never the whole line in the gateway's memory. Its kind is known only
    // at its end, so an error chunk this large reaches the client as sent, then the gateway's
    // own error chunk follows.
    // The failure the monitor found in an error event; the first one is answered.
    void on_error(const sse::event&, const faultline::failure& f) {
        if (!upstream_error) upstream_error = f;
    }

    void on_fragment(const sse::event_fragment& f, sse::event_kind kind) {
        if (finished) return;
        mid_event = !f.last;
        if (f.first) {
            if (!f.type.empty() && sse::is_safe_event_type(f.type))
                bytes->append("event: ").append(f.type).append("\n");
            bytes->append("data: ");
        }
        std::string_view d = f.data;
        // A '\n' joins two data lines: it starts a new `data:` line on the way out.
        for (std::size_t nl; (nl = d.find('\n')) != std::string_view::npos; d.remove_prefix(nl + 1))
            bytes->append(d.substr(0, nl)).append("\ndata: ");
        bytes->append(d);
        if (!f.last) return;
        bytes->append("\n\n");
        ++sent;
        if (kind == sse::event_kind::done) {
            finished = true; // the terminator itself went out above, as sent
        } else if (kind == sse::event_kind::error) {
            fragment_error = true;
            finished = true;
        }
    }
};

// The Responses API's mid-stream error (OpenAI's streaming guide): `event: error` whose data is
// `{"type":"error","code","message","param","sequence_number"}`, saying what the envelope `body`
// (one the gateway rendered) says. No `[DONE]` follows: none ends a Responses stream.
// `sequence` is the number of events the client had before it: the upstream numbers its events
// from 0, and this one takes the place of the next (or of the upstream's own error event).
void responses_error(sse::writer& w, std::string_view body, std::uint64_t sequence) {
    json::object e{{"type", "error"}, {"code", nullptr}, {"message", ""}, {"param", nullptr}};
    if (const auto env = faultline::parse_envelope(body)) {
        const faultline::error_envelope& v = env.value();
        e["message"] = v.message;
        if (const auto* code = std::get_if<std::string>(&v.code))
            e["code"] = *code;
        else if (v.type)
            e["code"] = *v.type;
        if (v.param) e["param"] = *v.param;
    }
    e["sequence_number"] = sequence;
    (void)w.event({json::serialize(e), "error", std::nullopt, {}});
}

// Bytes held by one relayed stream or one request body, charged against the whole process's
// total; `peak` keeps the largest one holding (`peak_of::holder`) or the largest total.
enum class peak_of : unsigned char { holder, total };
class memory_charge {
public:
    memory_charge(std::atomic<std::size_t>& total, std::atomic<std::uint64_t>& peak, peak_of kind)
        : total_(total)
        , peak_(peak)
        , kind_(kind) {}
    memory_charge(const memory_charge&) = delete;
    memory_charge& operator=(const memory_charge&) = delete;
    ~memory_charge() { total_.fetch_sub(held_, std::memory_order_relaxed); }

    // Charges what the holder holds now; returns the whole process's total.
    std::size_t charge(std::size_t held) {
        std::size_t total;
        if (held >= held_)
            total = total_.fetch_add(held - held_, std::memory_order_relaxed) + (held - held_);
        else
            total = total_.fetch_sub(held_ - held, std::memory_order_relaxed) - (held_ - held);
        held_ = held;
        note_peak(total);
        return total;
    }
    // As `charge`, only if the total stays within `limit`: the budget is never passed, not even
    // for a moment. Otherwise nothing changes.
    bool try_charge(std::size_t held, std::size_t limit) {
        std::size_t total = total_.load(std::memory_order_relaxed);
        std::size_t after = 0;
        do {
            const std::size_t others = total - held_;
            if (held > limit || others > limit - held) return false;
            after = others + held;
        } while (!total_.compare_exchange_weak(total, after, std::memory_order_relaxed));
        held_ = held;
        note_peak(after);
        return true;
    }
    [[nodiscard]] std::size_t held() const noexcept { return held_; }

private:
    std::atomic<std::size_t>& total_;
    std::atomic<std::uint64_t>& peak_;
    peak_of kind_;
    std::size_t held_ = 0;

    void note_peak(std::size_t total) {
        const std::uint64_t now = kind_ == peak_of::holder ? held_ : total;
        std::uint64_t p = peak_.load(std::memory_order_relaxed);
        while (now > p && !peak_.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
        }
    }
};

// `r` answered with `status` rather than its code's own (a 405, the gateway's own 503): the
// envelope's `status`, when it has one, and `code`, when given, say so too.
void restatus(reply& r, unsigned status, std::string_view code = {}) {
    r.status = status;
    auto env = faultline::parse_envelope(r.body);
    if (!env) return;
    if (env.value().status) env.value().status = status;
    if (!code.empty()) env.value().code = std::string(code);
    r.body = faultline::serialize(env.value());
}

// One of the `max_connections` slots, held by a session. Given back before the session's socket
// is shut down, so a client that saw its connection end finds the slot free again.
class connection_slot {
public:
    explicit connection_slot(std::atomic<std::size_t>& open) noexcept
        : open_(&open) {}
    connection_slot(connection_slot&& o) noexcept
        : open_(std::exchange(o.open_, nullptr)) {}
    connection_slot& operator=(connection_slot&&) = delete;
    ~connection_slot() { release(); }
    void release() noexcept {
        if (open_) std::exchange(open_, nullptr)->fetch_sub(1, std::memory_order_relaxed);
    }

private:
    std::atomic<std::size_t>* open_;
};

// Cancels a socket's pending reads at a deadline without closing it: a Beast tcp_stream's own
// timeout closes the socket at once, before the session could give back its slot or answer
// 408. Used on the session's strand only; a completion of an earlier arming that was already
// queued when the watch was re-armed or disarmed is ignored.
class read_watch {
public:
    explicit read_watch(tcp::socket& socket)
        : timer_(socket.get_executor())
        , state_(std::make_shared<state>()) {
        state_->socket = &socket;
    }
    read_watch(const read_watch&) = delete;
    read_watch& operator=(const read_watch&) = delete;
    ~read_watch() { state_->socket = nullptr; }

    void arm(clock::time_point at) {
        state_->fired = false;
        timer_.expires_at(at);
        timer_.async_wait([st = state_, generation = ++state_->generation](beast::error_code ec) {
            if (ec || generation != st->generation || !st->socket) return;
            st->fired = true;
            beast::error_code ignored;
            st->socket->cancel(ignored);
        });
    }
    void disarm() {
        ++state_->generation;
        timer_.cancel();
    }
    // Whether the deadline cancelled the read since the last `arm`.
    [[nodiscard]] bool fired() const noexcept { return state_->fired; }

private:
    struct state {
        tcp::socket* socket = nullptr;
        std::uint64_t generation = 0;
        bool fired = false;
    };
    net::steady_timer timer_;
    std::shared_ptr<state> state_;
};

// Whether a request's Transfer-Encoding fields, all of them together, are `chunked` alone: the
// only coding this server decodes. Anything else leaves the body's length unknown (RFC 9112
// §6.1 and §6.3).
// The client's side of a request being served: whether it went away, and the upstream call to
// cancel when it does. Shared by the request and the coroutine reading the client's socket.
struct client_watch {
    explicit client_watch(const net::any_io_executor& ex)
        : finished(ex, clock::time_point::max()) {}
    bool gone = false;            // the client closed or reset the connection
    bool done = false;            // the watch ended
    channel_call* call = nullptr; // the upstream call in progress, if any
    net::steady_timer* wait = nullptr; // a wait for a slot (priority shedding), if any
    net::steady_timer finished;   // cancelled when the watch ends: what the request awaits
};

// Makes `call` the watch's call for the scope.
class watched_call {
public:
    watched_call(client_watch& w, channel_call* call)
        : w_(w) {
        w_.call = call;
        if (w_.gone) call->cancel();
    }
    ~watched_call() { w_.call = nullptr; }
    watched_call(const watched_call&) = delete;
    watched_call& operator=(const watched_call&) = delete;

private:
    client_watch& w_;
};

// Reads the client's connection while its request is served. End of file or a reset: the
// client went away, and the call in progress is cancelled. Bytes (a pipelined request) stay in
// `buffer` for the session, and the watch ends. A cancelled read ends it quietly.
net::awaitable<void> watch_client(tcp::socket& socket, beast::flat_buffer& buffer,
                                  std::shared_ptr<client_watch> w) {
    auto [ec, n] = co_await socket.async_read_some(buffer.prepare(4096), nothrow);
    buffer.commit(n);
    if (ec && ec != net::error::operation_aborted) {
        w->gone = true;
        if (w->call) w->call->cancel();
        if (w->wait) w->wait->cancel();
    }
    w->done = true;
    w->finished.cancel();
}

// `body` (a chat request that parsed before) with `model` in place of its model.
std::string with_model(std::string_view body, const std::string& model) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return std::string(body);
    v.as_object()["model"] = model;
    return json::serialize(v);
}

// `usage.completion_tokens` of a completion; 0 when it has none.
std::uint64_t completion_tokens_of(std::string_view body) {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return 0;
    const json::value* usage = v.as_object().if_contains("usage");
    if (!usage || !usage->is_object()) return 0;
    // Chat completions count `completion_tokens`, the Responses API `output_tokens`.
    const json::value* n = usage->as_object().if_contains("completion_tokens");
    if (!n) n = usage->as_object().if_contains("output_tokens");
    if (!n) return 0;
    if (n->is_uint64()) return n->as_uint64();
    if (n->is_int64() && n->as_int64() >= 0) return static_cast<std::uint64_t>(n->as_int64());
    return 0;
}

bool chunked_alone(const http::fields& h) {
    const auto [first, last] = h.equal_range(http::field::transfer_encoding);
    if (first == last || std::next(first) != last) return false;
    std::string_view v(first->value().data(), first->value().size());
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
        v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
        v.remove_suffix(1);
    return beast::iequals(v, "chunked");
}

} // namespace

// Priority shedding over the slots of `shedding_config::max_in_flight`.
using shedder = faultline::limit::prioritized_limiter<faultline::limit::concurrency_limiter>;

faultline::limit::priority_options priority_options_of(const shedding_config& c) {
    faultline::limit::priority_options o;
    o.max_waiters = c.max_waiters;
    o.shed_start = c.shed_start;
    o.max_wait = c.max_wait;
    o.refusal = faultline::error::overloaded;
    return o;
}

struct server::impl : std::enable_shared_from_this<server::impl> {
    impl(net::any_io_executor ex, gateway_config c, server_options o)
        : config(std::move(c))
        , options(std::move(o))
        , acceptor(net::make_strand(ex))
        , concurrency(config)
        , budgets(config)
        , channels(ex, config) {
        if (std::string why = validate(config); !why.empty()) throw std::invalid_argument(why);
        if (config.shedding.enabled()) {
            shed_slots = std::make_unique<faultline::limit::concurrency_limiter>(
                config.shedding.max_in_flight, std::chrono::seconds(1),
                faultline::error::overloaded);
            shedding = std::make_unique<shedder>(*shed_slots, priority_options_of(config.shedding));
        }
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
    tcp::acceptor acceptor;
    concurrency_limits concurrency;
    spend_budgets budgets;
    channel_clients channels;
    std::unordered_map<std::string, model_state> models;
    std::unordered_map<std::string, std::atomic<std::uint64_t>> calls; // per channel
    std::unordered_map<std::string, std::unique_ptr<channel_concurrency>> adaptive;
    // Priority shedding (`config.shedding`); null when off. The slots outlive the shedder.
    std::unique_ptr<faultline::limit::concurrency_limiter> shed_slots;
    std::unique_ptr<shedder> shedding;
    std::atomic<std::uint64_t> ids{0};
    struct counters {
        std::atomic<std::uint64_t> connections{0}, requests{0}, ok{0}, client_errors{0},
            rate_limited{0}, server_errors{0}, streams{0}, stream_errors{0}, upstream_calls{0},
            failovers{0}, stream_bytes_peak{0}, body_bytes_peak{0}, bodies_refused{0}, abandoned{0},
            shed{0}, queued{0};
    } count;
    std::atomic<std::size_t> stream_bytes{0}; // held by all relayed streams now
    std::atomic<std::size_t> body_bytes{0};   // held by all request bodies now
    std::atomic<std::size_t> open_connections{0};
    std::atomic<std::size_t> draining{0}; // connections in drain_and_close, held beyond the cap
    std::atomic<std::uint64_t> shed_connections{0}, read_timeouts{0};
    std::mutex log_mutex;
    metrics_registry metrics{config};

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
                                             http::request_parser<http::string_body>& parser,
                                             read_watch& watch, bool first, memory_charge& body);
    net::awaitable<bool> handle(beast::tcp_stream& s, beast::flat_buffer& buffer,
                                http::request<http::string_body>& req);
    // A chat request that passed every check made before limits.
    struct chat_request {
        const key_config* key = nullptr;
        model_state* model = nullptr;
        bool stream = false;
        bool responses = false; // POST /v1/responses: the Responses API, not chat completions
        std::uint64_t prompt_tokens = 0;
        std::uint64_t max_tokens = 0;
        // Under priority shedding: the key's, or lower as its x-priority header asks.
        faultline::limit::priority priority = faultline::limit::priority::medium;
        // The key's spend budget holds the estimate until the request ends; settled with the
        // tokens used (mutable: the request is otherwise read-only once prepared).
        mutable spend_budgets::reservation spend;
    };
    // Routing, authentication, the body, the model, context length and the spend budget: the
    // reply that ends the request here, or the request to serve.
    std::variant<reply, chat_request> prepare(const http::request<http::string_body>& req,
                                              const std::string& request_id);
    // Serves a chat request while watching the client's connection (`buffer` keeps what the
    // client sends meanwhile): a client that goes away cancels the upstream call at once.
    net::awaitable<bool> chat(beast::tcp_stream& s, beast::flat_buffer& buffer,
                              http::request<http::string_body>& req, const chat_request& cr,
                              const std::string& request_id);
    net::awaitable<bool> serve_chat(beast::tcp_stream& s, http::request<http::string_body>& req,
                                    const chat_request& cr, const std::string& request_id,
                                    client_watch& watch);
    net::awaitable<bool> send(beast::tcp_stream& s, const http::request<http::string_body>& req,
                              reply& r, const std::string& request_id);
    // Priority shedding: a slot for the request in `slot`, after a wait in the queue if need be;
    // or the 503 refusing it; or nothing with `slot` empty when the client went away meanwhile.
    net::awaitable<std::optional<reply>> take_slot(const net::any_io_executor& ex,
                                                   const chat_request& cr,
                                                   const std::string& request_id,
                                                   client_watch& watch, shedder::permit& slot);
    // How a relayed stream ended.
    struct stream_outcome {
        bool keep_alive = false;
        std::optional<faultline::error> failed_with; // none: the stream completed
        bool upstream_fault = false; // the failure was the upstream's (counts against its breaker)
        // A time limit passed before anything reached the client (its head held for the first
        // token): the call's failure, which the next channel may still answer.
        std::optional<faultline::failure> unsent;
    };
    // One call's time limits, from the channel's own or the gateway's.
    struct call_limits {
        clock::time_point head;                       // the response head by then
        milliseconds idle;                            // longest quiet once the head came
        clock::time_point total;                      // the whole call by then (max: none)
        std::optional<clock::time_point> first_token; // a stream's first content by then
    };
    call_limits limits_of(const channel_config& ch, clock::time_point start) const {
        call_limits l;
        l.total = ch.total_timeout ? start + *ch.total_timeout : clock::time_point::max();
        l.head =
            std::min(start + ch.first_token_timeout.value_or(config.upstream_timeout), l.total);
        l.idle = ch.idle_timeout.value_or(config.upstream_timeout);
        if (ch.first_token_timeout) l.first_token = start + *ch.first_token_timeout;
        return l;
    }
    // The channel's adaptive concurrency limit; null when it has none.
    channel_concurrency* adaptive_limit(const channel_config& ch) const {
        const auto it = adaptive.find(ch.name);
        return it == adaptive.end() ? nullptr : it->second.get();
    }
    net::awaitable<stream_outcome> stream(beast::tcp_stream& s,
                                          const http::request<http::string_body>& req,
                                          channel_call& up, bool pass_cuts, bool responses,
                                          const header_list& headers, const std::string& request_id,
                                          std::uint64_t& completion, const channel_config& ch,
                                          const call_limits& limits);
    // The 429 for a refused admission, the level named in the message.
    reply limit_reply(const admission& a, const std::string& prefix) const;

    reply error_reply(faultline::error e, std::string_view message, const std::string& request_id,
                      std::optional<std::string_view> param = std::nullopt) const;
    reply failure_reply(const faultline::failure& f, const std::string& request_id) const;
    // The gateway's own 503 when it is full (connections, request bodies): `overloaded`,
    // `Retry-After: 1`.
    reply busy_reply(std::string_view message, const std::string& request_id) const {
        reply r = error_reply(faultline::error::overloaded, message, request_id);
        restatus(r, 503);
        r.headers.emplace_back("retry-after", "1");
        return r;
    }
    // The answer to GET /metrics.
    reply metrics_reply() const;
    faultline::render_options render_opts(bool redact) const {
        faultline::render_options o;
        o.redact_server_errors = redact;
        o.include_status = config.include_status;
        return o;
    }
};

reply server::impl::error_reply(faultline::error e, std::string_view message,
                                const std::string& request_id,
                                std::optional<std::string_view> param) const {
    // The gateway's own messages hold nothing internal: they reach the client even for a 5xx.
    faultline::render_options o = render_opts(false);
    o.param = param; // the offending field, as OpenAI names it in `error.param`
    const faultline::rendered_error r = faultline::render(
        e, message, faultline::status_of(e) >= 500 ? std::string_view(request_id) : "", o);
    return {r.status, r.body, {should_retry(faultline::info(e).retryable)}};
}

reply server::impl::failure_reply(const faultline::failure& f,
                                  const std::string& request_id) const {
    const faultline::rendered_error r = faultline::render(f, request_id, render_opts(true));
    reply out{r.status, r.body, {should_retry(f.retryable)}};
    if (f.retry_after) {
        const auto h = faultline::limit::retry_after_headers(*f.retry_after);
        out.headers.insert(out.headers.end(), h.begin(), h.end());
    }
    return out;
}

reply server::impl::limit_reply(const admission& a, const std::string& prefix) const {
    const faultline::limit::decision* rq = a.key_requests ? &*a.key_requests : nullptr;
    const faultline::limit::decision* tk = a.key_tokens ? &*a.key_tokens : nullptr;
    faultline::limit::limit_response lr = faultline::limit::refuse(a.refusal, rq, tk);
    reply r{lr.status, {}, std::move(lr.headers)};
    r.body = faultline::render(lr.ec, prefix + lr.message, "", render_opts(false)).body;
    r.headers.push_back(should_retry(faultline::is_retryable(lr.ec)));
    return r;
}

net::awaitable<std::optional<reply>>
server::impl::take_slot(const net::any_io_executor& ex, const chat_request& cr,
                        const std::string& id, client_watch& watch, shedder::permit& slot) {
    using faultline::limit::ticket_state;
    const std::string level(faultline::limit::to_string(cr.priority));
    // The timer is shared with the ticket's callback, which may run after this frame is gone.
    auto wake = std::make_shared<net::steady_timer>(ex);
    shedder::ticket t;
    t.on_ready([wake, ex] { net::post(ex, [wake] { wake->cancel(); }); });
    const clock::time_point arrived = options.clock();
    const bool queued = shedding->acquire(t, cr.priority, arrived) == ticket_state::waiting;
    if (queued) {
        count.queued.fetch_add(1, std::memory_order_relaxed);
        log("queued priority=" + level + " key=" + cr.key->id + " event_id=" + id +
            " waiting=" + std::to_string(shedding->waiting()));
        watch.wait = wake.get();
        while (t.state() == ticket_state::waiting && !watch.gone) {
            // The deadline is on the gateway's clock; the timer only wakes this loop to look.
            wake->expires_after(
                std::max<clock::duration>(t.deadline() - options.clock(), milliseconds(1)));
            (void)co_await wake->async_wait(nothrow);
            shedding->expire(options.clock());
        }
        watch.wait = nullptr;
        t.cancel(); // the client went away while it waited (nothing if decided)
    }
    if (watch.gone) {
        count.abandoned.fetch_add(1, std::memory_order_relaxed);
        log("abandoned priority=" + level + " key=" + cr.key->id + " event_id=" + id +
            ": the client went away while it waited");
        if (t.state() == ticket_state::admitted) t.take().release(options.clock());
        co_return std::nullopt;
    }
    if (t.state() == ticket_state::admitted) {
        slot = t.take();
        if (queued)
            log("admitted priority=" + level + " key=" + cr.key->id + " event_id=" + id +
                " waited_ms=" +
                std::to_string(
                    std::chrono::duration_cast<milliseconds>(options.clock() - arrived).count()));
        co_return std::nullopt;
    }
    count.shed.fetch_add(1, std::memory_order_relaxed);
    const faultline::limit::decision& d = t.result();
    const std::string_view why = faultline::limit::to_string(t.reason());
    log("shed priority=" + level + " key=" + cr.key->id + " event_id=" + id +
        " reason=" + std::string(why));
    reply r = error_reply(
        faultline::error::overloaded,
        "The gateway is overloaded: " + std::to_string(d.limit) +
            " requests in service and more waiting; lower priorities are refused first. This "
            "request (priority " +
            level + ") was " +
            (t.reason() == faultline::limit::refusal_reason::shed
                 ? std::string("refused on arrival")
             : t.reason() == faultline::limit::refusal_reason::displaced
                 ? std::string("pushed out of the queue by a higher priority")
                 : std::string("not served within the queue's wait limit")) +
            ". Retry shortly.",
        id);
    restatus(r, 503);
    const auto h = faultline::limit::retry_after_headers(d.retry_after);
    r.headers.insert(r.headers.end(), h.begin(), h.end());
    co_return r;
}

reply server::impl::metrics_reply() const {
    scrape sc;
    stats& st = sc.counters;
    const auto get = [](const std::atomic<std::uint64_t>& a) {
        return a.load(std::memory_order_relaxed);
    };
    st.connections = get(count.connections);
    st.streams = get(count.streams);
    st.stream_errors = get(count.stream_errors);
    st.stream_bytes_peak = get(count.stream_bytes_peak);
    st.body_bytes_peak = get(count.body_bytes_peak);
    st.bodies_refused = get(count.bodies_refused);
    st.abandoned = get(count.abandoned);
    st.open_connections = open_connections.load(std::memory_order_relaxed);
    st.shed_connections = get(shed_connections);
    st.read_timeouts = get(read_timeouts);
    st.upstream_connections = channels.connections_opened();
    st.queued = get(count.queued);
    st.shed = get(count.shed);
    st.waiting = shedding ? shedding->waiting() : 0;
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

// Runs on the acceptor's strand. Each connection gets a strand of its own: with several threads
// running the io_context, a session's socket, timers and coroutine never run concurrently.
net::awaitable<void> server::impl::accept_loop() {
    auto self = shared_from_this();
    net::steady_timer pause(acceptor.get_executor());
    for (;;) {
        auto [ec, socket] =
            co_await acceptor.async_accept(net::make_strand(acceptor.get_executor()), nothrow);
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
        http::request_parser<http::string_body> parser;
        parser.header_limit(16 * 1024);
        parser.body_limit(config.max_body);
        // Held until the request is answered: its body lives as long.
        memory_charge body(body_bytes, count.body_bytes_peak, peak_of::total);
        read_result rr = co_await read_request(s, buffer, parser, watch, first, body);
        if (rr.refusal) {
            // Bad input gets an answer before the connection closes.
            count.requests.fetch_add(1, std::memory_order_relaxed);
            const std::string id = next_id();
            http::request<http::string_body> none;
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
        http::request<http::string_body> req = parser.release();
        count.requests.fetch_add(1, std::memory_order_relaxed);
        if (!co_await handle(s, buffer, req)) break;
    }
    slot.release();
    beast::error_code ignored;
    s.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

net::awaitable<server::impl::read_result>
server::impl::read_request(beast::tcp_stream& s, beast::flat_buffer& buffer,
                           http::request_parser<http::string_body>& parser, read_watch& watch,
                           bool first, memory_charge& body) {
    // The watch, not the stream, keeps the time while reading; writes keep their own.
    s.expires_never();
    read_result out;
    const auto refuse = [&](faultline::error e, std::string message) {
        out.refusal = error_reply(e, message, "");
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
            busy_reply("The gateway holds as many request bodies as its memory budget "
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
    watch.arm(header_start + config.header_timeout);
    {
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
    const http::fields& h = parser.get();
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
            refuse(faultline::error::invalid_request,
                   "Unsupported expectation: this server meets 'Expect: 100-continue' only.");
            restatus(*out.refusal, 417, "expectation_failed");
            co_return out;
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
    std::uint64_t received = 0;
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
        // A chunked body is charged with the bytes it has received (the string's capacity can
        // run ahead of them by its growth factor, which the budget does not count).
        if (!parser.content_length() &&
            !body.try_charge(parser.get().body().size(), config.bodies_memory_budget))
            co_return over_budget();
    }
    out.request = true;
    co_return out;
}

net::awaitable<void> server::impl::shed(tcp::socket socket) {
    auto self = shared_from_this();
    beast::tcp_stream s(std::move(socket));
    const std::string id = next_id();
    reply r = busy_reply("The gateway has " + std::to_string(config.max_connections) +
                             " connections open, its limit (max_connections). Retry shortly.",
                         id);
    http::request<http::string_body> none;
    none.keep_alive(false);
    (void)co_await send(s, none, r, id);
    co_await drain_and_close(s);
    draining.fetch_sub(1, std::memory_order_relaxed);
}

net::awaitable<bool> server::impl::send(beast::tcp_stream& s,
                                        const http::request<http::string_body>& req, reply& r,
                                        const std::string& request_id) {
    http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
    res.reason(faultline::reason_phrase(r.status)); // Beast has no phrase for 529
    res.set(http::field::server, "faultline-gateway");
    res.set(http::field::content_type, r.content_type);
    res.set("x-request-id", request_id);
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
    if (req.method() == http::verb::head) {
        // The header only, Content-Length included: what a GET would have had.
        http::response_serializer<http::string_body> sr{res};
        auto [ec, n] = co_await http::async_write_header(s, sr, nothrow);
        (void)n;
        co_return !ec && res.keep_alive();
    }
    auto [ec, n] = co_await http::async_write(s, res, nothrow);
    (void)n;
    co_return !ec && res.keep_alive();
}

std::variant<reply, server::impl::chat_request>
server::impl::prepare(const http::request<http::string_body>& req, const std::string& id) {
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));

    // A path with /v1 twice or not at all is a base URL that does not match its client: say
    // which base URL to use, built from the Host the client sent.
    const std::string origin = origin_of(req);
    if (auto d = faultline::diagnose_request_target(path, origin)) {
        const std::string here = origin.empty() ? "<this server>" : "";
        std::string message = "Unknown path " + std::string(path);
        if (d->code == faultline::config_error::base_url_duplicates_v1) {
            faultline::base_url_options appends;
            appends.client_appends_v1 = true;
            message +=
                ": the base URL ends in /v1 and the client added /v1 again. Use the base URL " +
                here + d->suggestion + " with an OpenAI SDK (it appends /chat/completions), or " +
                here + faultline::diagnose_request_target(path, origin, appends)->suggestion +
                " with a client that appends /v1 itself.";
        } else {
            message += ": the base URL lacks /v1 (an OpenAI SDK appends only /chat/completions). "
                       "Use the base URL " +
                       here + d->suggestion + ".";
        }
        return error_reply(faultline::wire_error(d->code), message, id);
    }
    const bool responses_path = path == "/v1/responses";
    const bool chat_path = path == "/v1/chat/completions" || responses_path;
    const bool models_path = path == "/v1/models";
    const bool metrics_path = config.metrics && path == "/metrics";
    if (!chat_path && !models_path && !metrics_path)
        return error_reply(faultline::error::not_found,
                           "Unknown path " + std::string(path) +
                               ". This gateway serves POST /v1/chat/completions, POST "
                               "/v1/responses and GET /v1/models.",
                           id);
    // HEAD wherever GET is allowed (RFC 9110 §9.3.2); `send` leaves its body out.
    const http::verb want = chat_path ? http::verb::post : http::verb::get;
    if (req.method() != want && !(want == http::verb::get && req.method() == http::verb::head)) {
        const std::string allow = want == http::verb::get ? "GET, HEAD" : "POST";
        reply r = error_reply(faultline::error::invalid_request,
                              "Method not allowed: use " + std::string(http::to_string(want)) +
                                  " " + std::string(path) + ".",
                              id);
        restatus(r, 405, "method_not_allowed");
        r.headers.emplace_back("allow", allow);
        return r;
    }

    if (metrics_path) return metrics_reply(); // without a key, as vLLM and LiteLLM serve it

    // Authentication. The key is never echoed back; its shape problems are.
    const auto auth = req.find(http::field::authorization);
    std::string_view presented;
    if (auth != req.end()) {
        const std::string_view v(auth->value().data(), auth->value().size());
        if (v.size() > 7 && beast::iequals(v.substr(0, 7), "Bearer ")) presented = v.substr(7);
    }
    const key_config* key = presented.empty() ? nullptr : config.find_key(presented);
    if (!key) {
        std::string message =
            auth == req.end() ? "Missing API key. Send it as 'Authorization: Bearer <key>'."
            : presented.empty()
                ? "Malformed Authorization header. Send 'Authorization: Bearer <key>'."
                : "Incorrect API key provided.";
        if (!presented.empty())
            for (const faultline::diagnosis& d : faultline::diagnose_api_key(presented))
                message += " " + std::string(faultline::info(d.code).cause) + " " +
                           std::string(faultline::info(d.code).fix);
        return error_reply(faultline::error::authentication, message, id);
    }

    if (models_path) {
        json::array data;
        for (const auto& m : config.models)
            data.push_back(
                json::object{{"id", m.id}, {"object", "model"}, {"owned_by", "faultline-gateway"}});
        return reply{
            200, json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}}), {}};
    }

    // The request body.
    boost::system::error_code jec;
    json::parse_options po;
    po.max_depth = 32;
    const json::value body = json::parse(req.body(), jec, {}, po);
    const auto bad = [&](std::string message, std::string_view param) {
        return error_reply(faultline::error::invalid_request, message, id,
                           param.empty() ? std::nullopt : std::optional<std::string_view>(param));
    };
    if (jec) return bad("The request body is not valid JSON: " + jec.message() + ".", {});
    if (!body.is_object()) return bad("The request body must be a JSON object.", {});
    const json::object& o = body.as_object();
    const json::value* model_v = o.if_contains("model");
    if (!model_v || !model_v->is_string() || model_v->as_string().empty())
        return bad("'model' is required and must be a string.", "model");
    // The prompt: chat completions' `messages`, or the Responses API's `input` (a string, or
    // items shaped like messages).
    const std::string_view prompt_param = responses_path ? "input" : "messages";
    const json::value* prompt = o.if_contains(prompt_param);
    if (responses_path) {
        if (!prompt || !((prompt->is_string() && !prompt->as_string().empty()) ||
                         (prompt->is_array() && !prompt->as_array().empty())))
            return bad("'input' must be a non-empty string or array.", "input");
    } else if (!prompt || !prompt->is_array() || prompt->as_array().empty()) {
        return bad("'messages' must be a non-empty array.", "messages");
    }
    chat_request out;
    out.responses = responses_path;
    out.key = key;
    out.priority = key->priority;
    if (config.shedding.enabled() && config.shedding.header)
        if (const auto h = req.find("x-priority"); h != req.end()) {
            const auto asked = faultline::limit::parse_priority(
                std::string_view(h->value().data(), h->value().size()));
            if (!asked)
                return error_reply(faultline::error::invalid_request,
                                   "The x-priority header must be one of very_low, low, medium, "
                                   "high, critical.",
                                   id);
            // A client may lower its priority, never raise it above its key's.
            out.priority = std::min(asked.value(), key->priority);
        }
    if (const json::value* v = o.if_contains("stream"); v && !v->is_null()) {
        if (!v->is_bool()) return bad("'stream' must be a boolean.", "stream");
        out.stream = v->as_bool();
    }
    out.max_tokens = config.default_max_tokens;
    const std::string_view max_param = responses_path ? "max_output_tokens" : "max_tokens";
    if (const json::value* v = o.if_contains(max_param); v && !v->is_null()) {
        const bool whole =
            (v->is_uint64() && v->as_uint64() > 0) || (v->is_int64() && v->as_int64() > 0);
        if (!whole || (v->is_uint64() ? v->as_uint64() : std::uint64_t(v->as_int64())) > 1'000'000)
            return bad("'" + std::string(max_param) + "' must be a whole number from 1 to 1000000.",
                       max_param);
        out.max_tokens =
            v->is_uint64() ? v->as_uint64() : static_cast<std::uint64_t>(v->as_int64());
    }
    // About four bytes per token, plus a few per message: enough for limits and budgets. Content
    // given as parts (text, images) counts by its JSON size, so it cannot slip past the limits.
    // A string input counts as one message.
    if (prompt->is_string()) {
        out.prompt_tokens = 4 + (prompt->as_string().size() + 3) / 4;
    } else {
        for (const json::value& m : prompt->as_array()) {
            out.prompt_tokens += 4;
            if (const json::object* mo = m.if_object())
                if (const json::value* c = mo->if_contains("content"); c && !c->is_null())
                    out.prompt_tokens +=
                        ((c->is_string() ? c->as_string().size() : json::serialize(*c).size()) +
                         3) /
                        4;
        }
    }
    const std::string model_id(model_v->as_string());
    const auto mit = models.find(model_id);
    if (mit == models.end())
        return error_reply(faultline::error::model_not_found,
                           "The model '" + model_id +
                               "' does not exist. GET /v1/models lists the models.",
                           id, "model");
    out.model = &mit->second;
    const std::uint64_t limit = out.model->model->context_tokens;
    if (out.prompt_tokens + out.max_tokens > limit)
        return error_reply(
            faultline::error::context_length_exceeded,
            "This model's maximum context length is " + std::to_string(limit) + " tokens; the " +
                std::string(responses_path ? "input" : "messages") + " (about " +
                std::to_string(out.prompt_tokens) + " tokens) plus " + std::string(max_param) +
                " (" + std::to_string(out.max_tokens) + ") exceed it.",
            id, prompt_param);
    // Reserved before any upstream call, so that requests in flight count against the budget.
    std::optional<spend_budgets::reservation> spend =
        budgets.reserve(*key, out.prompt_tokens + out.max_tokens);
    if (!spend) metrics.limit_refused(level::key, limit_kind::spend);
    if (!spend)
        return error_reply(faultline::error::spend_limit_exceeded,
                           "Spend limit reached for key " + key->id + " (" +
                               std::to_string(*key->budget_tokens) +
                               " tokens). Raise the key's budget; retrying will not help.",
                           id);
    out.spend = std::move(*spend);
    return out;
}

net::awaitable<bool> server::impl::handle(beast::tcp_stream& s, beast::flat_buffer& buffer,
                                          http::request<http::string_body>& req) {
    const std::string id = next_id();
    const clock::time_point started = clock::now();
    std::variant<reply, chat_request> prepared = prepare(req, id);
    const route rt = route_of({req.target().data(), req.target().size()});
    if (reply* r = std::get_if<reply>(&prepared)) {
        const bool keep = co_await send(s, req, *r, id);
        metrics.request_done(rt, {}, clock::now() - started);
        co_return keep;
    }
    const chat_request& cr = std::get<chat_request>(prepared);
    const bool keep = co_await chat(s, buffer, req, cr, id);
    metrics.request_done(rt, cr.model->model->id, clock::now() - started);
    co_return keep;
}

net::awaitable<bool> server::impl::chat(beast::tcp_stream& s, beast::flat_buffer& buffer,
                                        http::request<http::string_body>& req,
                                        const chat_request& cr, const std::string& id) {
    auto watch = std::make_shared<client_watch>(s.get_executor());
    net::co_spawn(s.get_executor(), watch_client(s.socket(), buffer, watch), net::detached);
    const bool keep = co_await serve_chat(s, req, cr, id, *watch);
    if (!watch->done) {
        // End the watch's read before the session reads the next request.
        beast::error_code ignored;
        s.socket().cancel(ignored);
        (void)co_await watch->finished.async_wait(nothrow);
    }
    co_return keep && !watch->gone;
}

// Every reply is a named local when it is sent: GCC 12 can destroy a temporary twice when it
// lives across a co_await in the same full-expression.
net::awaitable<bool> server::impl::serve_chat(beast::tcp_stream& s,
                                              http::request<http::string_body>& req,
                                              const chat_request& cr, const std::string& id,
                                              client_watch& watch) {
    const key_config& key = *cr.key;
    model_state& ms = *cr.model;
    const std::string& model_id = ms.model->id;
    const std::uint64_t estimate = cr.prompt_tokens + cr.max_tokens;
    const user_config* user = key.user.empty() ? nullptr : config.find_user(key.user);

    concurrency_limits::permits permits;
    if (config.limits_enabled) {
        permits = concurrency.acquire(key, user);
        if (permits.refused) {
            metrics.limit_refused(*permits.refused, limit_kind::concurrency);
            faultline::limit::limit_response lr = faultline::limit::refuse(permits.refusal);
            reply r = error_reply(faultline::error::concurrency_exceeded,
                                  std::string(to_string(*permits.refused)) +
                                      "-level limit: " + std::to_string(permits.refusal.limit) +
                                      " requests in flight at once. Wait for one to finish, or "
                                      "lower your concurrency.",
                                  id);
            r.headers.insert(r.headers.end(), lr.headers.begin(), lr.headers.end());
            co_return co_await send(s, req, r, id);
        }
    }
    // Priority shedding: a slot held until the answer ends, returned on the gateway's clock.
    struct returned_at_end {
        shedder::permit slot;
        const server_options& options;
        ~returned_at_end() { slot.release(options.clock()); }
    } shed_slot{{}, options};
    if (shedding) {
        std::optional<reply> refused =
            co_await take_slot(s.get_executor(), cr, id, watch, shed_slot.slot);
        if (refused) {
            reply r = std::move(*refused);
            co_return co_await send(s, req, r, id);
        }
        if (!shed_slot.slot) co_return false; // the client went away while it waited
    }

    // Channels: the pool's next healthy one first, then the others in order, as the model's
    // failover pipeline moves the call. A channel that cannot take it (its breaker open, at its
    // adaptive or rate limit) is a retryable failure of its target: the call moves on, as from an
    // upstream that failed. The key and user levels are charged once per request, with the first
    // channel that admits it; each further channel only at its own level.
    const std::string completion_id = (cr.responses ? "resp-" : "chatcmpl-") + id.substr(0, 24);
    const call_info call{model_id,         cr.stream,
                         cr.prompt_tokens, cr.max_tokens,
                         completion_id,    static_cast<std::int64_t>(std::time(nullptr)),
                         cr.responses};
    const std::size_t n = ms.channels.size();
    std::optional<faultline::failure> last;
    std::string last_channel;
    std::optional<admission> channel_refusal;
    std::optional<faultline::limit::decision> adaptive_refusal;
    header_list limit_headers;
    bool charged = false; // key and user levels hold this request's estimate
    const auto refund_request = [&](std::uint64_t tokens) {
        if (config.limits_enabled && charged && tokens)
            options.limiter->refund({&key, user, nullptr}, 0, tokens, options.clock());
    };
    const faultline::result<std::size_t> first = ms.pool->pick(options.clock());
    // No jitter is drawn (one attempt per channel): a fixed seed spares a random_device read.
    faultline::pipeline<faultline::null_pipeline_events, clock> route(
        ms.failover, options.clock(), {}, nullptr, faultline::splitmix64{});
    faultline::step st = route.next(options.clock());
    const auto skipped = [&](std::string_view why) {
        route.failed(
            st.attempt,
            faultline::to_failure(faultline::error::no_available_channel, std::string(why)),
            options.clock());
    };
    for (; first && st.what == faultline::action::attempt; st = route.next(options.clock())) {
        const std::size_t ci = (first.value() + st.target) % n;
        auto& breaker = (*ms.pool)[ci];
        // The first channel's breaker admitted the call inside pick(); ask the others here.
        if (st.target != 0 && !breaker.try_acquire(options.clock())) {
            skipped("circuit open");
            continue;
        }
        const channel_config& ch = *ms.channels[ci];
        // The channel's adaptive limit first: a channel at it is skipped before any rate
        // limit is charged for it.
        channel_concurrency::slot slot;
        if (channel_concurrency* cc = adaptive_limit(ch)) {
            slot = cc->try_acquire(options.clock());
            if (!slot) {
                breaker.record_neutral(options.clock());
                log("adaptive limit channel=" + ch.name + " event_id=" + id + " at " +
                    std::to_string(slot.refusal().limit) + " in flight: skipped");
                adaptive_refusal = slot.refusal();
                metrics.limit_refused(level::channel, limit_kind::adaptive);
                skipped("at its adaptive limit");
                continue;
            }
        }
        if (config.limits_enabled) {
            const limit_scope scope{charged ? nullptr : &key, charged ? nullptr : user, &ch};
            admission a = co_await decide(scope, estimate);
            if (!a.admitted) {
                metrics.limit_refused(a.refused_level, limit_kind::rate);
                breaker.record_neutral(options.clock());
                if (a.refused_level == level::channel) {
                    channel_refusal = std::move(a);
                    skipped("at its rate limit");
                    continue;
                }
                reply r =
                    limit_reply(a, std::string(to_string(a.refused_level)) + "-level limit: ");
                log("limit " + std::string(to_string(a.refused_level)) + " key=" + key.id +
                    " by=" + std::string(a.by) + " " + a.refusal.ec.message());
                co_return co_await send(s, req, r, id);
            }
            if (!charged)
                limit_headers = faultline::limit::rate_limit_headers(
                    a.key_requests ? &*a.key_requests : nullptr,
                    a.key_tokens ? &*a.key_tokens : nullptr);
            charged = true;
        }
        count.upstream_calls.fetch_add(1, std::memory_order_relaxed);
        if (last) count.failovers.fetch_add(1, std::memory_order_relaxed);
        if (last) metrics.failover(model_id);
        const clock::time_point call_start = clock::now();
        const call_limits cl = limits_of(ch, call_start);
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
            permits = {};
            cr.spend.settle(cr.prompt_tokens);
            refund_request(estimate);
            if (config.limits_enabled)
                options.limiter->refund({nullptr, nullptr, &ch}, 0, estimate, options.clock());
            co_return false;
        }
        if (!failed) {
            header_list headers = limit_headers;
            headers.emplace_back("x-faultline-channel", ch.name);
            if (!last_channel.empty()) headers.emplace_back("x-faultline-failover", last_channel);
            std::uint64_t completion = 0;
            bool keep = false;
            if (cr.stream) {
                const bool pass_cuts =
                    ch.pass_cuts || (ch.url.empty() && ch.mode == failure_mode::cutoff);
                const stream_outcome o = co_await stream(s, req, *up, pass_cuts, cr.responses,
                                                         headers, id, completion, ch, cl);
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
                        breaker.record_success(options.clock());
                        slot.complete(completion::success, options.clock());
                    } else if (o.upstream_fault && !watch.gone) {
                        breaker.record_failure(options.clock(), *o.failed_with);
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
                breaker.record_success(options.clock());
                slot.complete(completion::success, options.clock());
                metrics.upstream_ok(model_id, ch.name, clock::now() - call_start);
                completion = completion_tokens_of(x.body());
                reply r{200, std::string(x.body()), std::move(headers)};
                keep = co_await send(s, req, r, id);
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
        breaker.record(f, options.clock());
        metrics.upstream_failed(model_id, ch.name, f.cat, clock::now() - call_start);
        slot.complete(completion_of(f.cat), options.clock());
        // The channel was called (its request counts); the tokens were not used there.
        if (config.limits_enabled)
            options.limiter->refund({nullptr, nullptr, &ch}, 0, estimate, options.clock());
        log("upstream channel=" + ch.name + " event_id=" + id + " " +
            std::string(faultline::to_string(f.code)) + ": " + f.message);
        // The next channel, unless `f` is not retryable (the upstream refused the request
        // itself: no channel will take it).
        route.failed(st.attempt, f, options.clock());
        last = std::move(f);
        last_channel = ch.name;
    }
    refund_request(estimate); // nothing was served
    reply r;
    if (last) {
        if (last->cat == faultline::category::rate_limited)
            last->message = "upstream-level limit: the provider behind channel " + last_channel +
                            " said: " + last->message;
        r = failure_reply(*last, id);
    } else if (channel_refusal) {
        r = limit_reply(*channel_refusal, "upstream-level limit: every channel of model '" +
                                              model_id + "' is at its limit. ");
    } else if (adaptive_refusal) {
        // The upstreams are at the load they take now: the gateway's own overload, as its
        // connection limit answers it.
        r = error_reply(faultline::error::overloaded,
                        "Every channel of model " + model_id +
                            " is at its adaptive concurrency limit. Retry shortly.",
                        id);
        restatus(r, 503);
        const auto h = faultline::limit::retry_after_headers(adaptive_refusal->retry_after);
        r.headers.insert(r.headers.end(), h.begin(), h.end());
        log("overloaded model=" + model_id + " event_id=" + id +
            ": every channel at its adaptive limit");
    } else {
        const auto wait = ms.pool->retry_after(options.clock());
        r = error_reply(faultline::error::no_available_channel,
                        "No available channel for model " + model_id +
                            ": every channel's circuit is open.",
                        id);
        log("no_available_channel model=" + model_id + " event_id=" + id);
        if (wait.count() > 0) {
            const auto h = faultline::limit::retry_after_headers(wait);
            r.headers.insert(r.headers.end(), h.begin(), h.end());
        }
    }
    co_return co_await send(s, req, r, id);
}

net::awaitable<server::impl::stream_outcome>
server::impl::stream(beast::tcp_stream& s, const http::request<http::string_body>& req,
                     channel_call& up, bool pass_cuts, bool responses, const header_list& headers,
                     const std::string& id, std::uint64_t& completion, const channel_config& ch,
                     const call_limits& limits) {
    http::response<http::empty_body> res{http::status::ok, 11};
    res.set(http::field::server, "faultline-gateway");
    res.set(http::field::content_type, "text/event-stream");
    res.set(http::field::cache_control, "no-cache");
    res.set("x-accel-buffering", "no"); // nginx: do not buffer (reference 003)
    res.set("x-request-id", id);
    for (auto& [name, value] : headers)
        res.set(name, value);
    res.keep_alive(req.keep_alive());
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    stream_outcome result;
    // With a first-token limit the head waits for the first content event: until then the
    // client has seen nothing, and a channel that misses it can be replaced by the next.
    const bool hold_head = limits.first_token.has_value();
    bool head_sent = false;
    const auto send_head = [&]() -> net::awaitable<bool> {
        if (head_sent) co_return true;
        head_sent = true;
        count.streams.fetch_add(1, std::memory_order_relaxed);
        counted(200);
        metrics.answered(responses ? route::responses : route::chat, 200);
        s.expires_after(std::chrono::seconds(30));
        auto [ec, n] = co_await http::async_write_header(s, sr, nothrow);
        (void)n;
        co_return !ec;
    };
    if (!hold_head && !co_await send_head()) co_return result;

    std::string out;
    sse::writer w(out);
    sse::monitor_options mo;
    // A quarter of the budget for a line held whole, a quarter for an event's data; longer ones
    // pass in pieces. The rest is the output buffer, one upstream piece at a time.
    mo.limits.max_line = config.stream_memory_budget / 4;
    mo.limits.max_event = config.stream_memory_budget / 4;
    relay rl{&w, std::nullopt, false};
    memory_charge memory(stream_bytes, count.stream_bytes_peak, peak_of::holder);
    sse::monitor<relay> m(clock::now(), mo, rl);
    m.handler().bytes = &out;

    const auto flush = [&]() -> net::awaitable<bool> {
        if (out.empty()) co_return true;
        if (!head_sent) {
            if (m.content_events() == 0 && !m.handler().finished) co_return true; // held
            if (!co_await send_head()) co_return false;
        }
        s.expires_after(std::chrono::seconds(30));
        const auto chunk = http::make_chunk(net::buffer(out));
        auto [ec, n] = co_await net::async_write(s, chunk, nothrow);
        (void)n;
        out.clear();
        co_return !ec;
    };
    std::optional<faultline::error>& failed_with = result.failed_with;
    // An error ends the stream in its protocol's words: chat completions' error chunk and
    // `[DONE]`, or the Responses API's error event.
    const auto write_error = [&](std::string_view body) {
        if (responses)
            responses_error(w, body, m.handler().sent);
        else
            w.error(body);
    };
    // Our own errors carry no upstream text: their messages (and fixes) go to the client.
    // `upstream` says whether the upstream caused it (a cut, silence) or the gateway's own limit.
    const auto own_error = [&](faultline::error e, std::string message, bool upstream) {
        if (m.handler().mid_event) {
            // Half an event is out and SSE cannot take it back: end it (the client sees its
            // data cut short) so that the error chunk is an event of its own.
            out.append("\n\n");
            m.handler().mid_event = false;
        }
        m.handler().finished = true;
        failed_with = e;
        result.upstream_fault = upstream;
        write_error(faultline::render(e, message, id, render_opts(false)).body);
        log("stream event_id=" + id + " " + std::string(faultline::to_string(e)) + ": " + message);
    };

    const clock::time_point deadline = limits.total != clock::time_point::max()
                                           ? limits.total
                                           : clock::now() + config.streaming_timeout;
    clock::time_point last_write = clock::now(), last_piece = clock::now();
    bool ended = false; // an error chunk or the terminator was written
    while (!ended) {
        const bool awaiting_first = limits.first_token && m.content_events() == 0;
        clock::time_point wake = std::min(deadline, last_piece + limits.idle);
        if (head_sent) wake = std::min(wake, last_write + config.heartbeat);
        if (awaiting_first) wake = std::min(wake, *limits.first_token);
        const body_piece piece = co_await up.next(wake);
        clock::time_point now = clock::now();
        if (piece.ec || piece.end) {
            if (piece.ec)
                log("stream event_id=" + id + " upstream read ended: " + piece.ec.message());
            break;
        }
        if (piece.bytes.empty()) {
            // The upstream was quiet until `wake`. (The stream's time limit is checked here,
            // while it waits: a stream whose bytes keep flowing is not cut mid-line by it.)
            std::optional<faultline::error> timed_out;
            std::string why;
            bool upstream = true;
            if (now >= deadline) {
                timed_out = faultline::error::stream_timeout;
                why = ch.total_timeout
                          ? "The call exceeded channel " + ch.name + "'s time limit of " +
                                std::to_string(ch.total_timeout->count()) +
                                " ms (total_timeout_ms)."
                          : "The stream exceeded the gateway's streaming time limit of " +
                                std::to_string(config.streaming_timeout.count()) +
                                " ms (streaming_timeout). Raise it for long generations.";
                upstream = false;
            } else if (awaiting_first && now >= *limits.first_token) {
                timed_out = faultline::error::upstream_timeout;
                why = "Channel " + ch.name + " sent no content within " +
                      std::to_string(ch.first_token_timeout->count()) +
                      " ms (first_token_timeout_ms).";
            } else if (now >= last_piece + limits.idle) {
                timed_out = faultline::error::upstream_timeout;
                why = "The upstream sent nothing for " + std::to_string(limits.idle.count()) +
                      (ch.idle_timeout ? " ms (idle_timeout_ms)." : " ms.");
            } else if (head_sent && now >= last_write + config.heartbeat) {
                w.heartbeat();
                last_write = now;
            }
            if (timed_out && !head_sent) {
                // Nothing reached the client: the call fails as a whole, and may fail over.
                result.unsent = faultline::to_failure(make_error_code(*timed_out), why);
                co_return result;
            }
            if (timed_out) {
                own_error(*timed_out, why, upstream);
                ended = true;
            }
            if (!co_await flush()) co_return result;
            continue;
        }
        last_piece = now;
        if (std::error_code ec = m.feed(piece.bytes, last_piece)) {
            // Without monitor timeouts, only the line and event limits stop a feed.
            // Data lines of any length pass in pieces: only an event type or id line this
            // long is refused.
            own_error(
                ec == faultline::error::sse_event_too_large ? faultline::error::sse_event_too_large
                                                            : faultline::error::sse_line_too_long,
                "An upstream event type or id line exceeded " + std::to_string(mo.limits.max_line) +
                    " bytes, a quarter of the stream's memory budget "
                    "(stream_memory_budget); it was not relayed.",
                false);
            ended = true;
        } else if (m.handler().fragment_error) {
            // An error chunk too large to hold: the monitor classified what it kept of it.
            const sse::verdict v = m.finish();
            failed_with = v.failure ? v.failure->code : faultline::error::stream_interrupted;
            result.upstream_fault = true;
            write_error(faultline::render(v.failure.value_or(faultline::to_failure(
                                              faultline::error::stream_interrupted)),
                                          id, render_opts(true))
                            .body);
            log("stream event_id=" + id + " upstream error chunk of a line too large to hold");
            ended = true;
        } else if (m.handler().upstream_error) {
            failed_with = m.handler().upstream_error->code;
            result.upstream_fault = true;
            write_error(faultline::render(*m.handler().upstream_error, id, render_opts(true)).body);
            log("stream event_id=" + id +
                " upstream error chunk: " + m.handler().upstream_error->message);
            ended = true;
        } else if (m.handler().finished) {
            ended = true;
        }
        if (!out.empty()) last_write = clock::now();
        if (!ended) {
            const std::size_t held = m.buffered_bytes() + out.capacity();
            const std::size_t total = memory.charge(held);
            if (held > config.stream_memory_budget || total > config.streams_memory_budget) {
                own_error(faultline::error::overloaded,
                          held > config.stream_memory_budget
                              ? "The stream needed " + std::to_string(held) +
                                    " bytes of buffers, over its memory budget of " +
                                    std::to_string(config.stream_memory_budget) +
                                    " bytes (stream_memory_budget)."
                              : "The gateway's streams hold " + std::to_string(total) +
                                    " bytes, its memory budget for streams (" +
                                    "streams_memory_budget); retry shortly.",
                          false);
                ended = true;
            }
        }
        if (!co_await flush()) co_return result;
    }
    // Tokens used: the content events relayed.
    completion = m.content_events();
    if (!ended) {
        if (pass_cuts) {
            // A gateway whose own time limit or proxy drops the stream: the client gets no
            // terminator and no error (reference 000, "streaming response cuts off").
            count.stream_errors.fetch_add(1, std::memory_order_relaxed);
            log("stream event_id=" + id + " cut without a terminator (pass_cuts)");
            if (!co_await send_head()) co_return result;
            beast::error_code ignored;
            s.socket().shutdown(tcp::socket::shutdown_both, ignored);
            s.close();
            failed_with = faultline::error::stream_truncated;
            result.upstream_fault = true;
            co_return result;
        }
        own_error(faultline::error::stream_truncated,
                  "The upstream closed the stream before it completed; the reply is incomplete.",
                  true);
        if (!co_await flush()) co_return result;
    }
    if (failed_with) count.stream_errors.fetch_add(1, std::memory_order_relaxed);
    if (options.log)
        log(std::string(req.method_string()) + " " + std::string(req.target()) + " 200 stream " +
            std::string(failed_with ? faultline::to_string(*failed_with) : "done") +
            " events=" + std::to_string(m.events()) + " id=" + id);
    if (!co_await send_head()) co_return result;
    s.expires_after(std::chrono::seconds(30));
    const auto last_chunk = http::make_chunk_last();
    auto [ec, n] = co_await net::async_write(s, last_chunk, nothrow);
    (void)n;
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
    const auto& c = impl_->count;
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
    st.open_connections = impl_->open_connections.load(std::memory_order_relaxed);
    st.shed_connections = get(impl_->shed_connections);
    st.read_timeouts = get(impl_->read_timeouts);
    st.upstream_connections = impl_->channels.connections_opened();
    st.abandoned = get(c.abandoned);
    st.queued = get(c.queued);
    st.shed = get(c.shed);
    st.waiting = impl_->shedding ? impl_->shedding->waiting() : 0;
    return st;
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

#include "gateway/channel.hpp"
#include "gateway/deadline.hpp"

#include "common/http_client.hpp"
#include "common/wire.hpp"
#include "common/write_now.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/empty_body.hpp>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include <sys/socket.h>

namespace examples::gateway {

namespace ssl = net::ssl;
using clock = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = net::as_tuple(net::use_awaitable);

// What a cancelled call's waits return.
std::error_code aborted() {
    return std::error_code(make_error_code(net::error::operation_aborted));
}

// ---- simulated ------------------------------------------------------------------------------

// A channel without a URL: its simulated reply, released at the times a socket would deliver it.
class simulated_call final : public channel_call {
public:
    simulated_call(net::any_io_executor ex, upstream_reply reply)
        : timer_(std::move(ex))
        , reply_(std::move(reply))
        , start_(clock::now()) {}

    void cancel() noexcept override {
        cancelled_ = true;
        timer_.cancel();
    }

    net::awaitable<std::error_code> head(clock::time_point deadline) override {
        if (cancelled_) co_return aborted();
        if (reply_.transport) co_return reply_.transport;
        const clock::time_point at = start_ + reply_.latency;
        co_await wait_until(std::min(at, deadline));
        if (cancelled_) co_return aborted();
        if (at > deadline) co_return make_error_code(beast::error::timeout);
        status_ = reply_.status;
        headers_ = reply_.headers;
        co_return std::error_code{};
    }

    net::awaitable<body_piece> next(clock::time_point wake) override {
        if (cancelled_) co_return body_piece{aborted(), {}, false};
        if (reply_.pieces.empty() && !reply_.closes_early) {
            // A whole body: all of it with the head.
            if (!body_given_) {
                body_given_ = true;
                if (!reply_.body.empty()) co_return body_piece{{}, reply_.body, false};
            }
            co_return body_piece{{}, {}, true};
        }
        if (piece_ == reply_.pieces.size()) {
            if (reply_.closes_early)
                co_return body_piece{
                    std::error_code(make_error_code(http::error::partial_message)), {}, false};
            co_return body_piece{{}, {}, true};
        }
        const upstream_piece& p = reply_.pieces[piece_];
        const clock::time_point due = start_ + p.at;
        if (due > wake) {
            co_await wait_until(wake);
            if (cancelled_) co_return body_piece{aborted(), {}, false};
            co_return body_piece{};
        }
        co_await wait_until(due);
        if (cancelled_) co_return body_piece{aborted(), {}, false};
        if (++repeat_ == p.repeat) {
            repeat_ = 0;
            ++piece_;
        }
        co_return body_piece{{}, p.bytes, false};
    }

private:
    net::awaitable<void> wait_until(clock::time_point at) {
        if (at <= clock::now()) co_return;
        timer_.expires_at(at);
        (void)co_await timer_.async_wait(nothrow);
    }

    net::steady_timer timer_;
    upstream_reply reply_;
    clock::time_point start_;
    bool body_given_ = false;
    std::size_t piece_ = 0;
    std::size_t repeat_ = 0;
    bool cancelled_ = false;
};

// ---- over the network -----------------------------------------------------------------------

// One connection to an upstream, plain or TLS, with a deadline that cancels its pending
// operation.
struct connection {
    connection(const net::any_io_executor& ex, ssl::context* tls) {
        if (tls)
            secure.emplace(ex, *tls);
        else
            plain.emplace(ex);
        deadline.emplace(socket());
        // Beast reads as much as the buffer has room for, at least 512 bytes: reserved, a
        // stream's events that arrived together are read, and relayed, in one go.
        buffer.reserve(read_room);
    }
    static constexpr std::size_t read_room = 16 * 1024;

    tcp::socket& socket() { return secure ? secure->next_layer() : *plain; }

    // Runs `op(stream)` on whichever stream this is.
    template <class Op>
    auto on_stream(Op op) {
        return secure ? op(*secure) : op(*plain);
    }

    void close() noexcept {
        beast::error_code ignored;
        socket().shutdown(tcp::socket::shutdown_both, ignored);
        socket().close(ignored);
    }

    std::optional<tcp::socket> plain;
    std::optional<ssl::stream<tcp::socket>> secure;
    // Used on the strand of the call that holds the connection; handed over when the
    // connection goes back to its pool.
    std::optional<socket_deadline> deadline;
    beast::flat_buffer buffer;
};

// Cancels `c`'s pending operation at `at` while it lives; handlers run on `strand` (the
// coroutine's), so none races the operation's own completion.
class deadline_guard {
public:
    deadline_guard(connection& c, clock::time_point at, const net::any_io_executor& strand)
        : c_(c) {
        c_.deadline->arm(at, strand);
    }
    ~deadline_guard() { c_.deadline->disarm(); }
    deadline_guard(const deadline_guard&) = delete;
    deadline_guard& operator=(const deadline_guard&) = delete;

    // The error an operation ended with, as the deadline explains it.
    [[nodiscard]] beast::error_code explain(beast::error_code ec) const {
        if (ec == net::error::operation_aborted && c_.deadline->fired())
            return beast::error::timeout;
        return ec;
    }

private:
    connection& c_;
};

bool is_ip_literal(const std::string& host) {
    beast::error_code ec;
    (void)net::ip::make_address(host, ec);
    return !ec;
}

} // namespace

// A channel with a URL: where it is, how to authenticate, its TLS context and idle connections.
struct channel_endpoint {
    const channel_config* ch = nullptr;
    base_url url;
    std::string host_header;
    std::string authorization; // "Bearer …", or "" (never logged)
    std::optional<ssl::context> tls;
    std::mutex mutex;
    std::vector<std::shared_ptr<connection>> idle;
    std::atomic<std::uint64_t>* opened = nullptr;

    // An idle connection the upstream has not closed, or null.
    std::shared_ptr<connection> take() {
        for (;;) {
            std::shared_ptr<connection> c;
            {
                const std::lock_guard lock(mutex);
                if (idle.empty()) return nullptr;
                c = std::move(idle.back());
                idle.pop_back();
            }
            // A connection the upstream closed while idle reads as end of file (or has stray
            // bytes): either way it must not carry a request.
            // One non-blocking peek: nothing to read (EAGAIN) is the only healthy answer.
            char byte = 0;
            const ssize_t got =
                ::recv(c->socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return c;
            c->close();
        }
    }

    void give(std::shared_ptr<connection> c) {
        c->deadline->hand_over(); // the next call may run on another strand
        const std::lock_guard lock(mutex);
        if (idle.size() < ch->max_idle_connections) {
            idle.push_back(std::move(c));
            return;
        }
        c->close();
    }
};

namespace {

class http_call final : public channel_call {
public:
    http_call(net::any_io_executor ex, channel_endpoint& ep, const channel_request& r)
        : ex_(std::move(ex))
        , ep_(ep) {
        // Serialized once, the body after the header: a request that leaves in one write (and
        // again as it was, on a fresh connection, when a kept-alive one turns out closed).
        fields_arena<1024> arena; // its fields, not an allocation each
        http::request<http::empty_body, arena_fields> req{
            std::piecewise_construct, std::make_tuple(), std::make_tuple(arena.allocator())};
        req.method(http::verb::post);
        req.target(ep.url.target(r.call.responses ? "/responses" : "/chat/completions"));
        req.version(11);
        req.set(http::field::host, ep.host_header);
        req.set(http::field::user_agent, "faultline-gateway");
        req.set(http::field::content_type, "application/json");
        req.set(http::field::accept, r.call.stream ? "text/event-stream" : "application/json");
        if (!ep.authorization.empty()) req.set(http::field::authorization, ep.authorization);
        if (!r.request_id.empty()) req.set("x-request-id", r.request_id);
        req.keep_alive(true);
        req.content_length(r.body.size());
        wire_.reserve(512 + r.body.size());
        (void)serialize(req, wire_); // a header and an empty body: nothing can fail
        wire_.append(r.body);
    }

    ~http_call() override {
        // A body not read to its end leaves the connection mid-response: close it, which is
        // also how the upstream learns that the call was abandoned.
        if (conn_) conn_->close();
    }

    void cancel() noexcept override {
        cancelled_ = true;
        if (conn_) {
            beast::error_code ignored;
            conn_->socket().cancel(ignored);
        }
    }

    net::awaitable<std::error_code> head(clock::time_point deadline) override {
        const net::any_io_executor strand = co_await net::this_coro::executor;
        // A kept-alive connection can still be closed by the upstream between the check in
        // take() and the write: then one fresh connection is tried, as long as no byte of the
        // response came (the request was not acted on). Later failures are the caller's.
        for (int round = 0; round < 2; ++round) {
            if (cancelled_) co_return aborted();
            conn_ = ep_.take();
            const bool reused = conn_ != nullptr;
            if (!reused) {
                if (std::error_code ec = co_await connect(deadline, strand)) {
                    conn_.reset();
                    co_return ec;
                }
            }
            beast::error_code ec;
            {
                if (cancelled_) co_return aborted();
                deadline_guard guard(*conn_, deadline, strand);
                auto [wec, n] = co_await conn_->on_stream([&](auto& s) {
                    if constexpr (std::is_same_v<std::decay_t<decltype(s)>, tcp::socket>)
                        return write_now(s, net::buffer(wire_));
                    else
                        return net::async_write(s, net::buffer(wire_), nothrow);
                });
                (void)n;
                ec = guard.explain(wec);
            }
            if (!ec) {
                parser_.emplace(std::piecewise_construct, std::make_tuple(),
                                std::make_tuple(head_arena_.allocator()));
                parser_->body_limit(boost::none); // the caller bounds what it keeps
                deadline_guard guard(*conn_, deadline, strand);
                auto [hec, n] = co_await conn_->on_stream([&](auto& s) {
                    return http::async_read_header(s, conn_->buffer, *parser_, nothrow);
                });
                (void)n;
                ec = guard.explain(hec);
                if (!ec) break;
            }
            conn_->close();
            conn_.reset();
            const bool stale = ec == net::error::connection_reset ||
                               ec == net::error::broken_pipe || ec == net::error::eof ||
                               ec == http::error::end_of_stream;
            if (!(reused && stale && round == 0)) co_return ec;
        }
        status_ = parser_->get().result_int();
        const auto& fields = parser_->get().base();
        headers_.reserve(static_cast<std::size_t>(std::distance(fields.begin(), fields.end())));
        for (const auto& f : fields)
            headers_.emplace_back(std::string(f.name_string()), std::string(f.value()));
        co_return std::error_code{};
    }

    net::awaitable<body_piece> next(clock::time_point wake) override {
        if (pending_) {
            body_piece p{*pending_, {}, false};
            pending_.reset();
            co_return p;
        }
        if (cancelled_) co_return body_piece{aborted(), {}, false};
        if (!conn_) co_return body_piece{{}, {}, true};
        const net::any_io_executor strand = co_await net::this_coro::executor;
        for (;;) {
            if (parser_->is_done()) {
                if (parser_->keep_alive())
                    ep_.give(std::move(conn_));
                else
                    conn_->close();
                conn_.reset();
                co_return body_piece{{}, {}, true};
            }
            parser_->get().body().data = piece_;
            parser_->get().body().size = sizeof piece_;
            beast::error_code ec;
            {
                deadline_guard guard(*conn_, wake, strand);
                auto [rec, n] = co_await conn_->on_stream([&](auto& s) {
                    return http::async_read_some(s, conn_->buffer, *parser_, nothrow);
                });
                (void)n;
                ec = guard.explain(rec);
            }
            if (ec == http::error::need_buffer) ec = {};
            // A read stops at the end of one chunk: the chunks already received follow at once
            // (up to the piece's size), so that a stream's events that came together are
            // relayed together, in one write. (The parser's eager mode would instead wait for
            // more input after the last complete chunk.)
            if (!ec)
                examples::parse_buffered(
                    *parser_, conn_->buffer,
                    [&] { return parser_->is_done() || parser_->get().body().size == 0; }, ec);
            const std::size_t got = sizeof piece_ - parser_->get().body().size;
            const std::string_view bytes(piece_, got);
            if (ec == beast::error::timeout) co_return body_piece{{}, bytes, false}; // wake came
            if (ec) {
                conn_->close();
                conn_.reset();
                if (!got) co_return body_piece{ec, {}, false};
                pending_ = ec;
            }
            if (got) co_return body_piece{{}, bytes, false};
        }
    }

private:
    net::awaitable<std::error_code> connect(clock::time_point deadline,
                                            const net::any_io_executor& strand) {
        const clock::time_point until = std::min(deadline, clock::now() + ep_.ch->connect_timeout);
        tcp::resolver resolver(ex_);
        auto [rec, endpoints] =
            co_await resolver.async_resolve(ep_.url.host, std::to_string(ep_.url.port), nothrow);
        if (rec) co_return rec;
        if (cancelled_) co_return aborted();
        conn_ = std::make_shared<connection>(ex_, ep_.tls ? &*ep_.tls : nullptr);
        ep_.opened->fetch_add(1, std::memory_order_relaxed);
        {
            deadline_guard guard(*conn_, until, strand);
            auto [cec, where] = co_await net::async_connect(conn_->socket(), endpoints, nothrow);
            (void)where;
            if (beast::error_code ec = guard.explain(cec)) co_return ec;
        }
        beast::error_code nodelay;
        conn_->socket().set_option(tcp::no_delay(true), nodelay); // an optimisation only
        if (cancelled_) co_return aborted();
        if (!conn_->secure) co_return std::error_code{};
        ssl::stream<tcp::socket>& s = *conn_->secure;
        if (!is_ip_literal(ep_.url.host) &&
            !SSL_set_tlsext_host_name(s.native_handle(), ep_.url.host.c_str()))
            co_return std::error_code(static_cast<int>(::ERR_get_error()),
                                      net::error::get_ssl_category());
        s.set_verify_callback(ssl::host_name_verification(ep_.url.host));
        deadline_guard guard(*conn_, until, strand);
        auto [hec] = co_await s.async_handshake(ssl::stream_base::client, nothrow);
        co_return guard.explain(hec);
    }

    net::any_io_executor ex_;
    channel_endpoint& ep_;
    std::string wire_; // the request, as sent
    std::shared_ptr<connection> conn_;
    // The answer's head: its fields from `head_arena_`, not an allocation each (a second
    // parser, after a stale pooled connection, takes more of it, then of the heap).
    fields_arena<1024> head_arena_;
    std::optional<http::response_parser<http::buffer_body, std::pmr::polymorphic_allocator<char>>>
        parser_;
    std::optional<std::error_code> pending_; // an error that came with the last bytes
    bool cancelled_ = false;
    char piece_[16 * 1024];
};

} // namespace

struct channel_clients::impl {
    net::any_io_executor ex;
    std::unordered_map<const channel_config*, std::unique_ptr<channel_endpoint>> endpoints;
    std::atomic<std::uint64_t> opened{0};
};

channel_clients::channel_clients(net::any_io_executor ex, const gateway_config& config)
    : impl_(std::make_unique<impl>()) {
    impl_->ex = std::move(ex);
    for (const channel_config& ch : config.channels) {
        if (ch.url.empty()) continue;
        auto ep = std::make_unique<channel_endpoint>();
        ep->ch = &ch;
        auto url = parse_base_url(ch.url);
        if (!url) throw std::invalid_argument("channel '" + ch.name + "': url is not a base URL");
        ep->url = std::move(url).value();
        const bool default_port = ep->url.port == (ep->url.tls ? 443 : 80);
        const bool v6 = ep->url.host.find(':') != std::string::npos;
        ep->host_header = v6 ? "[" + ep->url.host + "]" : ep->url.host;
        if (!default_port) ep->host_header += ":" + std::to_string(ep->url.port);
        if (!ch.api_key_env.empty()) {
            const char* key = std::getenv(ch.api_key_env.c_str());
            if (!key || !*key)
                throw std::invalid_argument("channel '" + ch.name + "': the environment variable " +
                                            ch.api_key_env + " (api_key_env) is not set");
            ep->authorization = "Bearer " + std::string(key);
        }
        if (ep->url.tls) {
            ep->tls.emplace(ssl::context::tls_client);
            ep->tls->set_verify_mode(ssl::verify_peer);
            beast::error_code ec;
            ep->tls->set_default_verify_paths(ec);
            if (ec)
                throw std::invalid_argument("channel '" + ch.name +
                                            "': the system's certificate store: " + ec.message());
            if (!ch.ca_file.empty()) {
                ep->tls->load_verify_file(ch.ca_file, ec);
                if (ec)
                    throw std::invalid_argument("channel '" + ch.name + "': ca_file " + ch.ca_file +
                                                ": " + ec.message());
            }
        }
        ep->opened = &impl_->opened;
        impl_->endpoints.emplace(&ch, std::move(ep));
    }
}

channel_clients::~channel_clients() = default;

std::unique_ptr<channel_call>
channel_clients::open(const channel_config& ch, const channel_request& request, std::uint64_t n) {
    if (ch.url.empty())
        return std::make_unique<simulated_call>(impl_->ex, simulate(ch, request.call, n));
    return std::make_unique<http_call>(impl_->ex, *impl_->endpoints.at(&ch), request);
}

std::uint64_t channel_clients::connections_opened() const noexcept {
    return impl_->opened.load(std::memory_order_relaxed);
}

} // namespace examples::gateway

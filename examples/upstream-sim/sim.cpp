#include "upstream-sim/sim.hpp"

#include "gateway/connection.hpp"
#include "gateway/upstream.hpp"

#include "common/listen.hpp"

#include <faultline/envelope.hpp>
#include <faultline/http_status.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <stdexcept>
#include <variant>

namespace examples::upstream_sim {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace gw = examples::gateway;
using tcp = net::ip::tcp;
using clock = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = net::as_tuple(net::use_awaitable);

// After an answer that ends a connection (a bad request, a body over the limit) what the client
// still sends is read and dropped (`gw::drain_then_close`, bounded by `gw::drain_time` and
// `gw::drain_bytes`). A TLS close_notify exchange is bounded by the same time.
constexpr std::size_t header_limit = 16 * 1024;
constexpr std::uint64_t default_max_tokens = 256; // the gateway's default too

using header_list = std::vector<std::pair<std::string, std::string>>;

// The two kinds of connection. Everything that differs between them is in the overloads below
// (`finish`); the rest is written once, as templates over the stream, on the TCP layer that
// `beast::get_lowest_layer` finds under either.
using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// Ends a connection after its last answer. Over TLS the close_notify exchange comes first, so
// that the client can tell an answer that ended from one that was cut.
net::awaitable<void> finish(plain_stream& s) {
    beast::error_code ignored;
    s.socket().shutdown(tcp::socket::shutdown_both, ignored);
    s.close();
    co_return;
}

net::awaitable<void> finish(tls_stream& s) {
    beast::get_lowest_layer(s).expires_after(gw::drain_time);
    (void)co_await s.async_shutdown(nothrow);
    beast::get_lowest_layer(s).close();
}

// Tells the client that no more bytes come, while its own are still read. Over TLS the client
// learns it from the answer's `Connection: close` instead: a TCP half-close would cut the TLS
// stream without close_notify.
void end_writes(plain_stream& s) {
    beast::error_code ignored;
    s.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void end_writes(tls_stream&) {}

// Drops a connection with a TCP reset: SO_LINGER with a zero timeout makes close() send RST,
// as a crashed upstream or a firewall does.
template <class Stream>
void reset(Stream& s) {
    beast::error_code ignored;
    auto& socket = beast::get_lowest_layer(s).socket();
    socket.set_option(net::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
}

// Ends the simulator's side, reads and drops what the client still sends, then closes.
template <class Stream>
net::awaitable<void> drain_and_close(Stream& s) {
    end_writes(s);
    co_await gw::drain_then_close(s);
}

// A response that is not a stream.
struct answer {
    unsigned status = 200;
    header_list headers;
    std::string body;
};

answer error_answer(faultline::error e, std::string_view message, unsigned status = 0,
                    std::string_view code = {}) {
    faultline::error_envelope env = faultline::make_envelope(e, message);
    if (!code.empty()) env.code = std::string(code);
    return {status ? status : faultline::status_of(e), {}, faultline::serialize(env)};
}

// The framing is the sim's to set: a channel's configured headers cannot override it.
bool framing_header(std::string_view name) {
    return beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding") ||
           beast::iequals(name, "connection");
}

// Characters a channel name may hold: RFC 3986's unreserved ones, so that it is one path
// segment as written.
bool path_safe(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

// What a chat request asks for.
struct chat_call {
    std::string model;
    bool stream = false;
    std::uint64_t prompt_tokens = 0;
    std::uint64_t max_tokens = default_max_tokens;
};

// Why a chat request's body is refused: the message of its 400 and the field at fault.
struct refusal {
    std::string message;
    std::string param;
};

// What both APIs' request bodies share: a JSON object (at most 32 deep) with a string
// `model`, an optional boolean `stream` and an optional whole `max_key` (1..1000000) read
// into `out`; on success the object, for the API's own members.
std::variant<const json::object*, refusal> read_common(const json::value& body,
                                                      const boost::system::error_code& ec,
                                                      std::string_view max_key, chat_call& out) {
    if (ec) return refusal{"The request body is not valid JSON: " + ec.message() + ".", {}};
    if (!body.is_object()) return refusal{"The request body must be a JSON object.", {}};
    const json::object& o = body.as_object();
    const json::value* model = o.if_contains("model");
    if (!model || !model->is_string() || model->as_string().empty())
        return refusal{"'model' is required and must be a string.", "model"};
    out.model = std::string(model->as_string());
    if (const json::value* v = o.if_contains("stream"); v && !v->is_null()) {
        if (!v->is_bool()) return refusal{"'stream' must be a boolean.", "stream"};
        out.stream = v->as_bool();
    }
    if (const json::value* v = o.if_contains(max_key); v && !v->is_null()) {
        const bool whole =
            (v->is_uint64() && v->as_uint64() > 0) || (v->is_int64() && v->as_int64() > 0);
        const std::uint64_t n = !whole           ? 0
                                : v->is_uint64() ? v->as_uint64()
                                                 : static_cast<std::uint64_t>(v->as_int64());
        if (!whole || n > 1'000'000)
            return refusal{"'" + std::string(max_key) + "' must be a whole number from 1 to 1000000.",
                           std::string(max_key)};
        out.max_tokens = n;
    }
    return &o;
}

// Prompt tokens of messages (or Responses input items) as the gateway estimates them: four per
// message plus a quarter of its content's bytes (content given as parts counts by its JSON
// size).
std::uint64_t prompt_tokens_of(const json::array& messages) {
    std::uint64_t tokens = 0;
    for (const json::value& m : messages) {
        tokens += 4;
        if (const json::object* mo = m.if_object())
            if (const json::value* c = mo->if_contains("content"); c && !c->is_null())
                tokens +=
                    ((c->is_string() ? c->as_string().size() : json::serialize(*c).size()) + 3) / 4;
    }
    return tokens;
}

json::value parse_body(std::string_view text, boost::system::error_code& ec) {
    json::parse_options po;
    po.max_depth = 32;
    return json::parse(text, ec, {}, po);
}

// Reads a chat request's body the way the gateway does, prompt tokens included.
std::variant<chat_call, refusal> read_chat(std::string_view text) {
    boost::system::error_code ec;
    const json::value body = parse_body(text, ec);
    chat_call out;
    const auto common = read_common(body, ec, "max_tokens", out);
    if (const refusal* bad = std::get_if<refusal>(&common)) return *bad;
    const json::object& o = *std::get<const json::object*>(common);
    const json::value* messages = o.if_contains("messages");
    if (!messages || !messages->is_array() || messages->as_array().empty())
        return refusal{"'messages' must be a non-empty array.", "messages"};
    out.prompt_tokens = prompt_tokens_of(messages->as_array());
    return out;
}

// Reads a Responses API request's body (`POST /v1/responses`): `input` a non-empty string or
// array of items, `max_output_tokens` for `max_tokens`; a string input counts as one message.
std::variant<chat_call, refusal> read_responses(std::string_view text) {
    boost::system::error_code ec;
    const json::value body = parse_body(text, ec);
    chat_call out;
    const auto common = read_common(body, ec, "max_output_tokens", out);
    if (const refusal* bad = std::get_if<refusal>(&common)) return *bad;
    const json::object& o = *std::get<const json::object*>(common);
    const json::value* input = o.if_contains("input");
    if (input && input->is_string() && !input->as_string().empty())
        out.prompt_tokens = 4 + (input->as_string().size() + 3) / 4;
    else if (input && input->is_array() && !input->as_array().empty())
        out.prompt_tokens = prompt_tokens_of(input->as_array());
    else
        return refusal{"'input' must be a non-empty string or array.", "input"};
    return out;
}

// What a request path names: a channel and one of its routes.
struct route {
    enum kind_t { none, chat, responses, models } kind = none;
    std::string_view channel;
};

route route_of(std::string_view path) {
    if (!path.starts_with('/')) return {};
    path.remove_prefix(1);
    const std::size_t slash = path.find('/');
    if (slash == 0 || slash == std::string_view::npos) return {};
    const std::string_view rest = path.substr(slash);
    if (rest == "/v1/chat/completions") return {route::chat, path.substr(0, slash)};
    if (rest == "/v1/responses") return {route::responses, path.substr(0, slash)};
    if (rest == "/v1/models") return {route::models, path.substr(0, slash)};
    return {};
}

// How a request's handling left its connection.
enum class next { read_again, close, closed };

} // namespace

std::uint64_t stats::calls_to(std::string_view channel) const noexcept {
    for (const auto& [name, n] : calls)
        if (name == channel) return n;
    return 0;
}

std::string validate(const std::vector<channel_config>& channels) {
    for (std::size_t i = 0; i < channels.size(); ++i) {
        const std::string& name = channels[i].name;
        if (name.empty()) return "channels[" + std::to_string(i) + "]: the name is empty";
        if (!std::all_of(name.begin(), name.end(), path_safe))
            return "channels[" + std::to_string(i) + "]: the name '" + name +
                   "' must be letters, digits, '-', '.', '_' or '~' (it is a path segment)";
        for (std::size_t j = 0; j < i; ++j)
            if (channels[j].name == name)
                return "channels[" + std::to_string(i) + "]: the name '" + name +
                       "' is already channels[" + std::to_string(j) + "]'s";
    }
    return {};
}

faultline::result<std::shared_ptr<ssl::context>> make_tls_context(const std::string& cert_file,
                                                                  const std::string& key_file) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                     ssl::context::single_dh_use);
    boost::system::error_code ec;
    if (ctx->use_certificate_chain_file(cert_file, ec); ec) return std::error_code(ec);
    // OpenSSL checks here that the key belongs to the certificate.
    if (ctx->use_private_key_file(key_file, ssl::context::pem, ec); ec) return std::error_code(ec);
    return ctx;
}

struct sim_server::impl : std::enable_shared_from_this<sim_server::impl> {
    impl(net::any_io_executor ex, std::vector<channel_config> c, sim_options o)
        : executor(ex)
        , channels(std::move(c))
        , options(std::move(o))
        , acceptor(net::make_strand(ex))
        , calls(channels.size()) {
        if (std::string why = validate(channels); !why.empty()) throw std::invalid_argument(why);
        using std::chrono::milliseconds;
        if (options.hold_limit < milliseconds(0))
            throw std::invalid_argument("hold_limit must not be negative");
        if (options.read_timeout <= milliseconds(0) || options.write_timeout <= milliseconds(0))
            throw std::invalid_argument("read_timeout and write_timeout must be positive");
        if (options.max_body == 0) throw std::invalid_argument("max_body must be positive");
    }

    net::any_io_executor executor;
    const std::vector<channel_config> channels;
    const sim_options options;
    tcp::acceptor acceptor;
    std::vector<std::atomic<std::uint64_t>> calls; // per channel, as `channels`
    std::atomic<std::uint64_t> connections{0}, requests{0};

    [[nodiscard]] const channel_config* find(std::string_view name, std::size_t& index) const {
        for (index = 0; index < channels.size(); ++index)
            if (channels[index].name == name) return &channels[index];
        return nullptr;
    }

    net::awaitable<void> accept_loop();
    net::awaitable<void> session(tcp::socket socket);
    template <class Stream>
    net::awaitable<void> serve(Stream& s);
    template <class Stream>
    net::awaitable<next> handle(Stream& s, const http::request<http::string_body>& req,
                                clock::time_point read_at);
    template <class Stream>
    net::awaitable<bool> send(Stream& s, answer& a, bool keep_alive);
    template <class Stream>
    net::awaitable<next> stream(Stream& s, const http::request<http::string_body>& req,
                                const gw::upstream_reply& up, clock::time_point start);
    template <class Stream>
    net::awaitable<void> hold(Stream& s, clock::time_point until);
};

net::awaitable<void> sim_server::impl::accept_loop() {
    auto self = shared_from_this();
    net::steady_timer pause(acceptor.get_executor());
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(net::make_strand(executor), nothrow);
        if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
        if (ec) {
            // Out of file descriptors: the backlog still holds the connection, so accepting
            // again at once would spin.
            pause.expires_after(std::chrono::milliseconds(50));
            (void)co_await pause.async_wait(nothrow);
            continue;
        }
        connections.fetch_add(1, std::memory_order_relaxed);
        const auto ex = socket.get_executor();
        net::co_spawn(ex, self->session(std::move(socket)), net::detached);
    }
}

net::awaitable<void> sim_server::impl::session(tcp::socket socket) {
    auto self = shared_from_this();
    // Stream pieces are small writes at set times: Nagle's algorithm would hold each one back
    // until the client's delayed ACK.
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (!options.tls) {
        plain_stream s(std::move(socket));
        co_await serve(s);
        co_return;
    }
    tls_stream s(std::move(socket), *options.tls);
    beast::get_lowest_layer(s).expires_after(options.read_timeout);
    auto [ec] = co_await s.async_handshake(ssl::stream_base::server, nothrow);
    if (ec) {
        beast::get_lowest_layer(s).close();
        co_return;
    }
    co_await serve(s);
}

template <class Stream>
net::awaitable<void> sim_server::impl::serve(Stream& s) {
    auto& lowest = beast::get_lowest_layer(s);
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(header_limit);
        parser.body_limit(options.max_body);
        lowest.expires_after(options.read_timeout);
        auto [ec, n] = co_await http::async_read(s, buffer, parser, nothrow);
        (void)n;
        const clock::time_point read_at = clock::now();
        if (ec) {
            // A client that closed, went quiet or cut its request gets no answer: it would not
            // read one.
            if (!parser.got_some() || ec == http::error::end_of_stream ||
                ec == http::error::partial_message || ec == beast::error::timeout ||
                ec == net::error::eof || ec == net::error::connection_reset ||
                ec == net::error::operation_aborted || ec == ssl::error::stream_truncated) {
                lowest.close();
                co_return;
            }
            requests.fetch_add(1, std::memory_order_relaxed);
            answer a =
                ec == http::error::body_limit
                    ? error_answer(faultline::error::payload_too_large,
                                   "The request body is larger than " +
                                       std::to_string(options.max_body) + " bytes.")
                    : error_answer(faultline::error::invalid_request,
                                   "The request could not be read as HTTP/1.1: " + ec.message() +
                                       ".");
            if (co_await send(s, a, false)) co_await drain_and_close(s);
            lowest.close();
            co_return;
        }
        requests.fetch_add(1, std::memory_order_relaxed);
        const http::request<http::string_body> req = parser.release();
        switch (co_await handle(s, req, read_at)) {
        case next::read_again:
            continue;
        case next::close:
            co_await finish(s);
            co_return;
        case next::closed:
            co_return;
        }
    }
}

template <class Stream>
net::awaitable<next> sim_server::impl::handle(Stream& s,
                                              const http::request<http::string_body>& req,
                                              clock::time_point read_at) {
    const bool keep_alive = req.keep_alive();
    const auto answered = [keep_alive](bool sent) {
        return !sent ? next::closed : keep_alive ? next::read_again : next::close;
    };
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    const route r = route_of(path);
    std::size_t index = 0;
    const channel_config* ch = r.kind == route::none ? nullptr : find(r.channel, index);
    if (!ch) {
        answer a = error_answer(
            faultline::error::not_found,
            r.kind == route::none
                ? "Unknown path " + std::string(path) +
                      ". This server serves POST /<channel>/v1/chat/completions, POST "
                      "/<channel>/v1/responses and GET /<channel>/v1/models."
                : "Unknown channel '" + std::string(r.channel) + "'.");
        co_return answered(co_await send(s, a, keep_alive));
    }
    const http::verb want = r.kind == route::models ? http::verb::get : http::verb::post;
    if (req.method() != want) {
        answer a = error_answer(faultline::error::invalid_request,
                                "Method not allowed: use " + std::string(http::to_string(want)) +
                                    " " + std::string(path) + ".",
                                405, "method_not_allowed");
        a.headers.emplace_back("allow", std::string(http::to_string(want)));
        co_return answered(co_await send(s, a, keep_alive));
    }
    if (r.kind == route::models) {
        answer a{200,
                 {},
                 json::serialize(json::object{
                     {"object", "list"},
                     {"data", json::array{json::object{{"id", ch->name},
                                                       {"object", "model"},
                                                       {"owned_by", "faultline-upstream-sim"}}}}})};
        co_return answered(co_await send(s, a, keep_alive));
    }

    const bool responses = r.kind == route::responses;
    std::variant<chat_call, refusal> read =
        responses ? read_responses(req.body()) : read_chat(req.body());
    if (refusal* bad = std::get_if<refusal>(&read)) {
        faultline::error_envelope env =
            faultline::make_envelope(faultline::error::invalid_request, bad->message);
        if (!bad->param.empty()) env.param = bad->param;
        answer a{400, {}, faultline::serialize(env)};
        co_return answered(co_await send(s, a, keep_alive));
    }
    const chat_call& cc = std::get<chat_call>(read);
    const std::uint64_t n = calls[index].fetch_add(1, std::memory_order_relaxed);
    const std::string completion_id =
        (responses ? "resp-" : "chatcmpl-") + ch->name + "-" + std::to_string(n);
    const gw::call_info call{cc.model,         cc.stream,
                             cc.prompt_tokens, cc.max_tokens,
                             completion_id,    static_cast<std::int64_t>(std::time(nullptr)),
                             responses};
    const gw::upstream_reply up = gw::simulate(*ch, call, n);
    if (up.transport) {
        reset(s);
        co_return next::closed;
    }
    if (up.latency >= options.hold_limit) {
        co_await hold(s, read_at + options.hold_limit);
        co_return next::closed;
    }
    if (up.latency.count() > 0) {
        net::steady_timer timer(s.get_executor());
        timer.expires_at(read_at + up.latency);
        (void)co_await timer.async_wait(nothrow);
    }
    if (call.stream && up.status == 200) co_return co_await stream(s, req, up, read_at);
    answer a{up.status, up.headers, up.body};
    co_return answered(co_await send(s, a, keep_alive));
}

template <class Stream>
net::awaitable<bool> sim_server::impl::send(Stream& s, answer& a, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(a.status), 11};
    res.reason(faultline::reason_phrase(a.status)); // Beast has no phrase for 529
    res.set(http::field::server, "faultline-upstream-sim");
    res.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : a.headers)
        if (!framing_header(name)) res.set(name, value);
    res.keep_alive(keep_alive);
    res.body() = std::move(a.body);
    res.prepare_payload();
    beast::get_lowest_layer(s).expires_after(options.write_timeout);
    auto [ec, n] = co_await http::async_write(s, res, nothrow);
    (void)n;
    co_return !ec;
}

template <class Stream>
net::awaitable<next>
sim_server::impl::stream(Stream& s, const http::request<http::string_body>& req,
                         const gw::upstream_reply& up, clock::time_point start) {
    auto& lowest = beast::get_lowest_layer(s);
    http::response<http::empty_body> res{http::status::ok, 11};
    res.set(http::field::server, "faultline-upstream-sim");
    res.set(http::field::content_type, "text/event-stream");
    res.set(http::field::cache_control, "no-cache");
    for (const auto& [name, value] : up.headers)
        if (!framing_header(name)) res.set(name, value);
    res.keep_alive(req.keep_alive());
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    lowest.expires_after(options.write_timeout);
    if (auto [ec, n] = co_await http::async_write_header(s, sr, nothrow); ec) {
        lowest.close();
        co_return next::closed;
    }
    net::steady_timer timer(s.get_executor());
    for (const gw::upstream_piece& piece : up.pieces) {
        // An empty chunk would be the last one: the stream would end early.
        if (piece.bytes.empty()) continue;
        if (const clock::time_point due = start + piece.at; clock::now() < due) {
            timer.expires_at(due);
            (void)co_await timer.async_wait(nothrow);
        }
        const auto chunk = http::make_chunk(net::buffer(piece.bytes));
        for (std::size_t rep = 0; rep < piece.repeat; ++rep) {
            lowest.expires_after(options.write_timeout);
            auto [ec, n] = co_await net::async_write(s, chunk, nothrow);
            (void)n;
            if (ec) {
                lowest.close();
                co_return next::closed;
            }
        }
    }
    if (up.closes_early) {
        // The upstream went away mid-stream: no last chunk, so the client's HTTP parser sees
        // the body end early.
        co_await finish(s);
        co_return next::closed;
    }
    const auto last = http::make_chunk_last();
    lowest.expires_after(options.write_timeout);
    auto [ec, n] = co_await net::async_write(s, last, nothrow);
    (void)n;
    if (ec) {
        lowest.close();
        co_return next::closed;
    }
    co_return req.keep_alive() ? next::read_again : next::close;
}

// A call that is never answered: the connection stays open until the client gives up (what it
// sends meanwhile is dropped) or `until`, then it is closed.
template <class Stream>
net::awaitable<void> sim_server::impl::hold(Stream& s, clock::time_point until) {
    auto& lowest = beast::get_lowest_layer(s);
    char scratch[4096];
    for (;;) {
        lowest.expires_at(until);
        auto [ec, n] = co_await s.async_read_some(net::buffer(scratch), nothrow);
        (void)n;
        if (ec) break;
    }
    beast::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest.close();
}

sim_server::sim_server(net::any_io_executor ex, std::vector<channel_config> channels,
                       sim_options options)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(channels), std::move(options))) {}

sim_server::~sim_server() {
    close();
}

faultline::result<std::uint16_t> sim_server::listen() {
    auto& a = impl_->acceptor;
    const faultline::result<std::uint16_t> port =
        examples::open_listener(a, impl_->options.host, impl_->options.port);
    if (port) net::co_spawn(a.get_executor(), impl_->accept_loop(), net::detached);
    return port;
}

void sim_server::close() {
    net::post(impl_->acceptor.get_executor(), [self = impl_] {
        beast::error_code ignored;
        self->acceptor.close(ignored);
    });
}

stats sim_server::snapshot() const {
    stats out;
    out.connections = impl_->connections.load(std::memory_order_relaxed);
    out.requests = impl_->requests.load(std::memory_order_relaxed);
    out.calls.reserve(impl_->channels.size());
    for (std::size_t i = 0; i < impl_->channels.size(); ++i)
        out.calls.emplace_back(impl_->channels[i].name,
                               impl_->calls[i].load(std::memory_order_relaxed));
    return out;
}

bool sim_server::tls() const noexcept {
    return impl_->options.tls != nullptr;
}

} // namespace examples::upstream_sim

// The example gateway end to end over loopback: what faultline's limits cost per request.
// Two gateways run in this process, the same configuration with limits on and off; a Beast
// client on the benchmark thread sends requests over one keep-alive connection. The "off" rows
// are the baseline: the difference per request is the toolkit's share (keys, users and the
// upstream channel each with requests- and tokens-per-minute buckets taken all or nothing, plus
// in-flight permits, rate-limit headers, refunds).
//
//     build-bench/benchmarks/bench-gateway --benchmark_format=json
//
// Rows: chat (a JSON completion), stream (9 events + [DONE] relayed through the SSE monitor),
// refused (every request answered 429 by the key's bucket: the refusal path).

#include "gateway/gateway.hpp"
#include "common/chat.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <benchmark/benchmark.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace gw = examples::gateway;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

// Limits at every level, far above what one connection can send: every request is admitted
// and pays for every bucket.
gw::gateway_config bench_config(bool limits) {
    gw::gateway_config c = gw::demo_config();
    c.port = 0;
    c.limits_enabled = limits;
    const gw::level_limits wide{{6'000'000'000, 0}, {600'000'000'000, 0}, 1024};
    c.users.push_back({"bench", wide});
    c.keys.push_back({"sk-bench", "bench", "bench", wide, {}});
    for (auto& ch : c.channels)
        if (ch.name == "ok-a") ch.limits = {wide.rpm, wide.tpm, 0};
    return c;
}

// A gateway on its own thread, for the whole run.
class running_gateway {
public:
    explicit running_gateway(bool limits)
        : server_(io_.get_executor(), bench_config(limits)) {
        port_ = server_.listen().value();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~running_gateway() {
        io_.stop();
        thread_.join();
    }
    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

private:
    net::io_context io_;
    gw::server server_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

running_gateway& gateway(bool limits) {
    static running_gateway on(true), off(false);
    return limits ? on : off;
}

void run(benchmark::State& state, std::string_view key, bool stream, unsigned expect,
         int warmup = 0) {
    const bool limits = state.range(0) != 0;
    net::io_context io;
    beast::tcp_stream s(io);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), gateway(limits).port()));
    s.socket().set_option(tcp::no_delay(true));
    http::request<http::string_body> req{http::verb::post, "/v1/chat/completions", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::authorization, "Bearer " + std::string(key));
    req.set(http::field::content_type, "application/json");
    req.body() = examples::chat_request_body("gpt-sim", "hi", 0, stream);
    req.prepare_payload();
    beast::flat_buffer buffer;
    for (int i = 0; i < warmup; ++i) { // use up what a limited key may send
        http::write(s, req);
        http::response<http::string_body> res;
        http::read(s, buffer, res);
    }
    std::size_t bytes = 0;
    for (auto _ : state) {
        http::write(s, req);
        http::response<http::string_body> res;
        http::read(s, buffer, res);
        if (res.result_int() != expect) {
            state.SkipWithError(("unexpected status " + std::to_string(res.result_int())).c_str());
            break;
        }
        bytes += res.body().size();
        benchmark::DoNotOptimize(res);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
    state.SetLabel(limits ? "limits on" : "limits off (baseline)");
}

void BM_chat(benchmark::State& state) {
    run(state, "sk-bench", false, 200);
}
void BM_stream(benchmark::State& state) {
    run(state, "sk-bench", true, 200);
}
// sk-demo-limited admits 2 requests a minute: after those, every request is a 429 (with limits
// off, every one is a 200: the baseline then is a served request).
void BM_refused(benchmark::State& state) {
    run(state, "sk-demo-limited", false, state.range(0) ? 429 : 200, 2);
}

} // namespace

BENCHMARK(BM_chat)->ArgName("limits")->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_stream)->ArgName("limits")->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_refused)->ArgName("limits")->Arg(0)->Arg(1)->UseRealTime();

BENCHMARK_MAIN();

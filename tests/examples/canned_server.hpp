#ifndef FAULTLINE_TESTS_EXAMPLES_CANNED_SERVER_HPP
#define FAULTLINE_TESTS_EXAMPLES_CANNED_SERVER_HPP

// What the load harness's tests share: a loopback HTTP server that answers from a list, and
// command lines built from words.

#include "common/http_client.hpp"
#include "loadgen/loadgen.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

namespace loadgen_test {

// A loopback HTTP server answering each request with the next canned response, in order, and
// closing the connection when it has none left.
class canned_server {
public:
    explicit canned_server(std::vector<std::string> responses)
        : responses_(std::move(responses))
        , acceptor_(ioc_, {examples::net::ip::make_address("127.0.0.1"), 0}) {
        examples::net::co_spawn(ioc_, accept(), examples::net::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }
    canned_server(const canned_server&) = delete;
    canned_server& operator=(const canned_server&) = delete;
    ~canned_server() { stop(); }

    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

    // Stops serving; afterwards `requests` may be read.
    void stop() {
        ioc_.stop();
        if (thread_.joinable()) thread_.join();
    }

    std::vector<examples::http::request<examples::http::string_body>> requests;

private:
    examples::net::awaitable<void> accept() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(
                examples::net::as_tuple(examples::net::use_awaitable));
            if (ec) co_return;
            examples::net::co_spawn(ioc_, serve(std::move(socket)), examples::net::detached);
        }
    }

    examples::net::awaitable<void> serve(examples::tcp::socket socket) {
        constexpr auto nothrow = examples::net::as_tuple(examples::net::use_awaitable);
        examples::beast::flat_buffer buffer;
        for (;;) {
            examples::http::request<examples::http::string_body> req;
            auto [ec, n] = co_await examples::http::async_read(socket, buffer, req, nothrow);
            (void)n;
            if (ec || next_ == responses_.size()) co_return;
            requests.push_back(req);
            auto [wec, m] = co_await examples::net::async_write(
                socket, examples::net::buffer(responses_[next_++]), nothrow);
            (void)m;
            if (wec) co_return;
        }
    }

    std::vector<std::string> responses_;
    std::size_t next_ = 0;
    examples::net::io_context ioc_;
    examples::tcp::acceptor acceptor_;
    std::thread thread_;
};

inline std::string json_response(unsigned status, std::string_view reason, std::string_view body,
                                 std::string_view extra_headers = {}) {
    return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n" + std::string(extra_headers) + "\r\n" + std::string(body);
}

// Command lines as the mutable argv a program gets.
struct argv_builder {
    std::vector<std::string> storage;
    std::vector<char*> pointers;
    explicit argv_builder(const std::vector<std::string_view>& args) {
        for (auto a : args)
            storage.emplace_back(a);
        for (auto& s : storage)
            pointers.push_back(s.data());
    }
    std::span<char*> span() { return pointers; }
};

// faultline-loadgen's parse of `args` (the words after the program name).
inline std::variant<examples::loadgen::command_line, examples::loadgen::usage_error>
parse(const std::vector<std::string_view>& args,
      std::optional<std::string_view> env = std::nullopt) {
    argv_builder a(args);
    return examples::loadgen::parse_command_line(a.span(), env);
}

} // namespace loadgen_test

#endif

#ifndef FAULTLINE_TESTS_EXAMPLES_HOLDING_UPSTREAM_HPP
#define FAULTLINE_TESTS_EXAMPLES_HOLDING_UPSTREAM_HPP

// An upstream the test holds: it keeps calls waiting until the test lets them go, so a test can
// fill a gateway's slots and queues without waiting on a timer of its own.

#include "gateway_fixture.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace examples_test {

// An upstream at a URL: the first `held` calls it reads and holds until `release()`, then
// sends each `answer` as raw bytes (an event stream's head and first bytes, say) and keeps the
// connection open until it is destroyed; later calls get a completion at once (`later`, a chat
// completion's JSON; by default one with no choices). Destroying it releases whatever it still
// holds.
class holding_upstream {
public:
    holding_upstream(int held, std::string answer,
                     std::string later = R"({"id":"c","object":"chat.completion","choices":[]})")
        : acceptor_(io_, {net::ip::make_address("127.0.0.1"), 0})
        , release_(released_.get_future().share())
        , close_(closing_.get_future().share())
        , thread_([this, held, answer = std::move(answer), later = std::move(later)] {
            serve(held, answer, later);
        }) {}
    ~holding_upstream() {
        release();
        closing_.set_value();
        stopping_ = true;
        boost::beast::error_code ec;
        net::ip::tcp::socket poke(io_); // wakes the accept still waiting
        poke.connect(acceptor_.local_endpoint(), ec);
        thread_.join();
    }
    holding_upstream(const holding_upstream&) = delete;
    holding_upstream& operator=(const holding_upstream&) = delete;

    [[nodiscard]] std::string url() const {
        return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/v1";
    }
    /// Waits (10 s at most) until `n` calls are held.
    [[nodiscard]] bool wait_held(int n) {
        std::unique_lock lock(m_);
        return cv_.wait_for(lock, 10s, [&] { return reached_ >= n; });
    }
    void release() {
        std::call_once(once_, [this] { released_.set_value(); });
    }

private:
    void serve(int held, const std::string& answer, const std::string& later) {
        std::vector<std::thread> holders;
        for (int i = 0;; ++i) {
            auto s = std::make_shared<net::ip::tcp::socket>(io_);
            boost::beast::error_code ec;
            acceptor_.accept(*s, ec);
            if (ec || stopping_) break;
            if (i < held) {
                holders.emplace_back([this, s, answer] {
                    boost::beast::flat_buffer b;
                    http::request<http::string_body> req;
                    boost::beast::error_code rec;
                    http::read(*s, b, req, rec);
                    {
                        const std::lock_guard lock(m_);
                        ++reached_;
                    }
                    cv_.notify_all();
                    release_.wait();
                    net::write(*s, net::buffer(answer), rec);
                    close_.wait();
                });
                continue;
            }
            boost::beast::flat_buffer b;
            http::request<http::string_body> req;
            http::read(*s, b, req, ec);
            http::response<http::string_body> res{http::status::ok, 11};
            res.set(http::field::content_type, "application/json");
            res.body() = later;
            res.keep_alive(false);
            res.prepare_payload();
            http::write(*s, res, ec);
        }
        for (auto& t : holders)
            t.join();
    }

    net::io_context io_;
    net::ip::tcp::acceptor acceptor_;
    std::promise<void> released_;
    std::shared_future<void> release_;
    std::promise<void> closing_;
    std::shared_future<void> close_;
    std::atomic<bool> stopping_{false};
    std::once_flag once_;
    std::mutex m_;
    std::condition_variable cv_;
    int reached_ = 0;
    std::thread thread_;
};

inline const std::string completion_json = R"({"id":"c","object":"chat.completion","choices":[]})";
inline const std::string json_answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                       "Content-Length: " +
                                       std::to_string(completion_json.size()) +
                                       "\r\nConnection: close\r\n\r\n" + completion_json;

} // namespace examples_test

#endif

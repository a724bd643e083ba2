#ifndef FAULTLINE_TESTS_SUPPORT_REDIS_SERVER_HPP
#define FAULTLINE_TESTS_SUPPORT_REDIS_SERVER_HPP

// A private redis-server on 127.0.0.1 for tests and benchmarks: a free port from the kernel,
// no persistence, a temporary directory; started by the constructor (waits until it answers
// PING, at most 5 s), killed by the destructor. Can be stopped, restarted and `kill -9`'d.
//
// FAULTLINE_REDIS_SERVER is the path meson found; empty means redis-server is missing, and
// the constructor throws so that every test using it fails.

#include <hiredis/hiredis.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FAULTLINE_REDIS_SERVER
#define FAULTLINE_REDIS_SERVER ""
#endif

namespace faultline_test {

class redis_server {
public:
    redis_server() {
        path_ = FAULTLINE_REDIS_SERVER;
        if (path_.empty())
            throw std::runtime_error("redis-server was not found when the build was configured");
        char tmpl[] = "/tmp/faultline-redis-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
        for (int attempt = 0; attempt < 5; ++attempt) {
            port_ = free_port();
            if (launch()) return;
        }
        std::filesystem::remove_all(dir_);
        throw std::runtime_error("could not start redis-server");
    }
    ~redis_server() {
        kill9();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    [[nodiscard]] int port() const noexcept { return port_; }
    [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

    /// SIGTERM and wait for the process (SIGKILL after 5 s).
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (::waitpid(pid_, nullptr, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > until) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, nullptr, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        pid_ = -1;
    }
    /// SIGKILL and reap.
    void kill9() noexcept {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    /// SIGSTOP / SIGCONT: a server that accepts nothing and answers nothing.
    void pause() const noexcept {
        if (pid_ > 0) ::kill(pid_, SIGSTOP);
    }
    void resume() const noexcept {
        if (pid_ > 0) ::kill(pid_, SIGCONT);
    }
    /// Starts again on the same port (empty: no persistence). Throws if it cannot.
    void start() {
        if (pid_ > 0) return;
        for (int attempt = 0; attempt < 50; ++attempt)
            if (launch()) return;
        throw std::runtime_error("could not restart redis-server on its port");
    }

    /// Runs one command on a fresh connection; the reply as text (integers in decimal, nil as
    /// "(nil)", errors as "ERR..."). For inspecting and corrupting keys in tests.
    std::string command(const std::vector<std::string>& args) const {
        redisContext* c = redisConnect("127.0.0.1", port_);
        if (c == nullptr || c->err) {
            if (c) redisFree(c);
            throw std::runtime_error("cannot connect to the test redis-server");
        }
        std::vector<const char*> argv;
        std::vector<size_t> len;
        for (const auto& a : args) {
            argv.push_back(a.data());
            len.push_back(a.size());
        }
        auto* r = static_cast<redisReply*>(
            redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), len.data()));
        std::string out;
        if (r == nullptr) {
            redisFree(c);
            throw std::runtime_error("test redis-server did not answer");
        }
        switch (r->type) {
        case REDIS_REPLY_INTEGER:
            out = std::to_string(r->integer);
            break;
        case REDIS_REPLY_NIL:
            out = "(nil)";
            break;
        case REDIS_REPLY_ARRAY:
            out = "(array)";
            break;
        default:
            out.assign(r->str, r->len);
            break;
        }
        freeReplyObject(r);
        redisFree(c);
        return out;
    }

private:
    static int free_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) throw std::runtime_error("socket failed");
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        socklen_t len = sizeof a;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            ::close(fd);
            throw std::runtime_error("bind to port 0 failed");
        }
        ::close(fd);
        return ntohs(a.sin_port);
    }

    static bool ping(int port) {
        const timeval tv{0, 200'000};
        redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
        bool ok = false;
        if (c != nullptr && !c->err) {
            auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
            ok = r != nullptr && r->type == REDIS_REPLY_STATUS && std::string(r->str) == "PONG";
            if (r) freeReplyObject(r);
        }
        if (c) redisFree(c);
        return ok;
    }

    // Starts the server on port_; true once it answers PING, false if it exited (port taken).
    bool launch() {
        const std::string port = std::to_string(port_);
        std::vector<std::string> args = {path_,    "--port",       port,
                                         "--bind", "127.0.0.1",    "--save",
                                         "",       "--appendonly", "no",
                                         "--dir",  dir_,           "--daemonize",
                                         "no",     "--logfile",    dir_ + "/redis.log"};
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            // Dies with the test process even if that one crashes before its destructors run.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        pid_ = pid;
        // Waiting on an event (the server answering), bounded.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (std::chrono::steady_clock::now() < until) {
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            if (ping(port_)) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        kill9();
        return false;
    }

    std::string path_;
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

} // namespace faultline_test

#endif

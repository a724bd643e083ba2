#ifndef FAULTLINE_EXAMPLES_GATEWAY_LIMITS_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_LIMITS_HPP

// The gateway's rate limits at three levels (reference 000: token-level, user-level and the
// upstream): requests and tokens per minute at each, taken all or nothing, in memory
// (`faultline::limit::keyed_limiter` + `acquire_all`) or shared by several gateway processes in
// Redis (`faultline::limit::redis_limiter`). In-flight limits are per process.

#include "gateway/config.hpp"

#include <faultline/limit/concurrency.hpp>
#include <faultline/limit/decision.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace examples::gateway {

/// Which level said no.
enum class level { key, user, channel };

/// "token", "user", "upstream" — the reference documents' names for the levels. Thread-safe.
[[nodiscard]] std::string_view to_string(level l) noexcept;

/// The answer over every level. A plain value.
struct admission {
    bool admitted = false;
    level refused_level = level::key;
    faultline::limit::decision refusal; ///< The refusing level's decision (its `ec`, wait).
    /// The key's own request and token decisions (what `x-ratelimit-*` report), when limited.
    std::optional<faultline::limit::decision> key_requests, key_tokens;
    /// Who decided: "memory", "redis", "fail_open", "fail_closed", "local".
    std::string_view by = "memory";
};

/// The levels one acquisition or refund touches; a null level is skipped. A request's first
/// attempt takes the key, user and channel together; a failover attempt only the new channel.
struct limit_scope {
    const key_config* key = nullptr;
    const user_config* user = nullptr;
    const channel_config* channel = nullptr;
};

/// Rate limits over every level. Implementations are thread-safe.
class rate_limiter {
public:
    using time_point = std::chrono::steady_clock::time_point;
    virtual ~rate_limiter() = default;

    /// One request of `tokens` estimated tokens: admitted at every level of `scope` or at none.
    /// Thread-safe.
    [[nodiscard]] virtual admission acquire(const limit_scope& scope, std::uint64_t tokens,
                                            time_point now) = 0;

    /// Gives back `requests` and `tokens` taken earlier (tokens estimated but not used, a call
    /// the upstream never served) to every level of `scope`; a store that cannot give back
    /// ignores it. Thread-safe.
    virtual void refund(const limit_scope& scope, std::uint64_t requests, std::uint64_t tokens,
                        time_point now) = 0;

    /// "memory" or "redis host:port". Thread-safe.
    [[nodiscard]] virtual std::string describe() const = 0;

    /// How many `acquire` calls can wait on the network at once (the store's connections), or 0
    /// when `acquire` never waits (in memory). The server makes calls that can wait on threads
    /// of their own, never on an I/O thread; `refund` never waits. Thread-safe.
    [[nodiscard]] virtual std::size_t blocking_calls() const noexcept { return 0; }
};

/// In-process limits for every key, user and channel of `config`. Thread-safe.
[[nodiscard]] std::unique_ptr<rate_limiter> make_memory_limiter(const gateway_config& config,
                                                                rate_limiter::time_point now);

#ifdef FAULTLINE_EXAMPLES_REDIS
/// Limits held in Redis at `host:port` (keys prefixed `prefix`), shared by every gateway that
/// uses the same server; while Redis cannot be reached each process decides alone with
/// in-memory buckets of the same limits (`redis_failure::local`). One connection per I/O thread
/// of `config` (`blocking_calls()`), the first opened at once, the others when first used;
/// `timeout` bounds a connection attempt and the commands of one decision, each. Thread-safe.
[[nodiscard]] std::unique_ptr<rate_limiter>
make_redis_limiter(const gateway_config& config, std::string host, std::uint16_t port,
                   std::string prefix = "faultline-gateway:",
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(100));
#endif

/// In-flight limits per key and per user (per process). Thread-safe.
class concurrency_limits {
public:
    /// Not thread-safe (construction).
    explicit concurrency_limits(const gateway_config& config);

    /// Permits for the key and its user, or the refusal (`concurrency_exceeded`) and its level.
    /// Thread-safe.
    struct permits {
        faultline::limit::permit key, user;
        std::optional<level> refused;
        faultline::limit::decision refusal;
    };
    [[nodiscard]] permits acquire(const key_config& key, const user_config* user);

private:
    faultline::limit::keyed_concurrency_limiter keys_, users_;
};

/// The keys' spend budgets (`key_config::budget_tokens`), per process. A request reserves its
/// token estimate before the upstream is called and settles the tokens it used when it ends, so
/// requests in flight count against the budget: a key is admitted while the tokens it has spent
/// plus those reserved are below its budget. Requests at once can therefore pass the budget by at
/// most one request's estimate, never by one estimate each. Thread-safe.
class spend_budgets {
public:
    /// Tokens of one key reserved by one request. Gives back what it holds when destroyed
    /// unless settled. Move-only; not thread-safe (one request's).
    class reservation {
    public:
        reservation() = default;
        reservation(reservation&& o) noexcept;
        reservation& operator=(reservation&& o) noexcept;
        ~reservation();

        /// Charges `used` tokens in place of the reserved estimate; a second call does nothing.
        void settle(std::uint64_t used) noexcept;

    private:
        friend class spend_budgets;
        reservation(std::atomic<std::uint64_t>* committed, std::uint64_t tokens) noexcept
            : committed_(committed)
            , tokens_(tokens) {}
        std::atomic<std::uint64_t>* committed_ = nullptr; // null: no budget, or settled
        std::uint64_t tokens_ = 0;
    };

    /// For the keys of `config`, which must outlive it. Not thread-safe (construction).
    explicit spend_budgets(const gateway_config& config);

    /// Reserves `estimate` tokens of `key`'s budget; none when the key's spent and reserved
    /// tokens have reached its budget (the request is refused: `spend_limit_exceeded`). A key
    /// without a budget gets an empty reservation. `key` must be one of the configuration's.
    [[nodiscard]] std::optional<reservation> reserve(const key_config& key,
                                                     std::uint64_t estimate) noexcept;

    /// Tokens `key` has spent plus those reserved now.
    [[nodiscard]] std::uint64_t committed(const key_config& key) const noexcept;

private:
    const key_config* keys_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> committed_; // per key: spent + reserved
};

} // namespace examples::gateway

#endif

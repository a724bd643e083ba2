#ifndef FAULTLINE_LIMIT_REDIS_HPP
#define FAULTLINE_LIMIT_REDIS_HPP

#include <faultline/detail/config.hpp>

// Token buckets whose state lives in Redis, so that every instance of a gateway shares one
// limit. Needs hiredis (`dependency('faultline-redis')`); not part of <faultline.hpp>.
//
//     using namespace faultline::limit;
//     redis_limiter shared({.host = "10.0.0.5", .port = 6379,
//                           .on_failure = redis_failure::fail_closed});
//     const bucket_config rpm{rate::per_minute(60), 60, initial_fill::full,
//                             faultline::error::rpm_exceeded};
//     redis_decision d = shared.try_acquire(token_key(token_id, "rpm"), rpm);
//     if (!d) return reply_429(d.ec, d.retry_after);   // d.by: redis, fail_closed, ...
//
// Semantics are `token_bucket`'s (GCRA, see limit/token_bucket.hpp) with Redis' own clock
// (`TIME`, microseconds): rate, burst, weighted acquire, exact `retry_after`, `remaining`,
// `reset`, `request_exceeds_burst` for n > burst (state untouched). Each decision is one
// atomic Lua script, sent with EVALSHA (reloaded once on NOSCRIPT); several levels
// (`try_acquire_all`) are checked and consumed in the same script: all or nothing.
//
// Storage: one string per key, "<TAT µs>:<remainder in 1/u ns>:<u>" (the theoretical arrival
// time, exact to the limiter's unit), written with a TTL equal to the time until the bucket is
// full again (rounded up to the millisecond, at least 1 ms): an idle key disappears, and an
// absent key reads as a new bucket (with `initial_fill::empty`, an expired key starts empty
// again, as the keyed limiter's evicted keys do). The script uses integer values below 2^53 only
// (Lua numbers are doubles): configurations whose burst * (period / tokens) reaches 2^52 units are
// refused with `redis_error::config_out_of_range`. A server clock that steps back can make a
// bucket look at most empty (its backlog is clamped to the burst), never fuller.
//
// Foreign data: a key holding something faultline did not write (another type, text, numbers
// out of range) is never overwritten; the decision reports `redis_error::foreign_data` and the
// failure policy applies to it, as for an unreachable server.
//
// Failures: while Redis cannot be reached (refused, timed out, connection lost), decisions
// follow `redis_options::on_failure` and say so in `redis_decision::by`. After a failure no
// call touches the network until `reconnect_interval` has passed; then one call tries again
// (connect + SCRIPT LOAD + the script). A connection the server closed (a restart) is
// replaced once within the call that finds it closed, so a quick restart costs no decision. A call
// blocks at most connect_timeout + command_timeout (the commands of one call share one
// command_timeout), plus the time spent waiting for its connection's mutex; a pipelined batch's
// timeout applies to each blocking read.
//
// Redis Cluster: the keys of one multi-level call must hash to one slot (use a `{tag}`).

#include <faultline/limit/decision.hpp>
#include <faultline/limit/keyed.hpp>
#include <faultline/limit/token_bucket.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <vector>

struct redisContext;

namespace faultline::limit {

namespace detail_redis {
class call_budget;
} // namespace detail_redis

/// Why Redis could not decide. An error-code enum (`std::error_code ec = redis_error::...`).
enum class redis_error : int {
    connect_failed = 1,  ///< Could not connect (refused, unreachable, connect timeout).
    timed_out,           ///< A command got no reply within `command_timeout`.
    connection_lost,     ///< The connection failed mid-command (reset, EOF, protocol error).
    backing_off,         ///< Down at the last attempt; not retried before `reconnect_interval`.
    foreign_data,        ///< A key holds data faultline did not write (type, text, range).
    unexpected_reply,    ///< Redis answered something the script cannot have sent.
    config_out_of_range, ///< Invalid config, or figures that would reach 2^52 in the script.
};

/// The `std::error_category` of `redis_error` ("faultline.redis"). Thread-safe.
[[nodiscard]] const std::error_category& redis_error_category() noexcept;
/// `e` as a `std::error_code`; compares equal to `category::timeout` (timed_out),
/// `invalid_request` (config_out_of_range), `server_error` (foreign_data, unexpected_reply) or
/// `upstream_unavailable` (the rest). Thread-safe.
[[nodiscard]] std::error_code make_error_code(redis_error e) noexcept;

/// What a limiter does while Redis cannot decide.
enum class redis_failure {
    fail_closed, ///< Refuse, `ec = error::limiter_unavailable`.
    fail_open,   ///< Admit, unlimited.
    local,       ///< Decide with in-memory buckets of the same config, per instance.
};

/// Who took a decision.
enum class decided_by {
    redis,          ///< The shared bucket in Redis.
    fail_open,      ///< Admitted because Redis could not decide.
    fail_closed,    ///< Refused because Redis could not decide (`error::limiter_unavailable`).
    local,          ///< This instance's in-memory fallback bucket.
    invalid_config, ///< Refused at once: the config is invalid or out of range.
};

/// The verdict (a `decision`) plus who took it and, when not Redis, why. A plain value.
struct redis_decision : decision {
    decided_by by = decided_by::redis;
    /// Empty when `by == decided_by::redis`; otherwise the `redis_error` that made Redis
    /// unusable for this call (or `config_out_of_range`).
    std::error_code failure;
};

/// The verdict over several levels (as `composite_decision`). A plain value.
struct redis_composite_decision {
    bool admitted = false;
    /// Index of the level that refused; `levels.size()` when admitted. 0 for fail_closed.
    std::size_t refused = 0;
    /// When refused: the time until every level would admit; zero when admitted.
    std::chrono::nanoseconds retry_after{0};
    /// Each level's decision, as `composite_decision::levels`.
    std::vector<decision> levels;
    decided_by by = decided_by::redis;
    std::error_code failure;

    /// The refusing level's decision. Only when refused. Thread-safe (a plain value).
    [[nodiscard]] const decision& refusal() const noexcept { return levels[refused]; }
    /// Whether every level admitted. Thread-safe (a plain value).
    [[nodiscard]] explicit operator bool() const noexcept { return admitted; }
};

/// One level of a multi-level or batch call: `n` tokens of `key`'s bucket configured by
/// `config`. Refers to its key's characters, which must outlive the call.
struct redis_request {
    std::string_view key;
    bucket_config config;
    std::uint64_t n = 1;
};

/// How to reach Redis and what to do when it cannot be reached. A plain value.
struct redis_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::chrono::milliseconds connect_timeout{200};
    std::chrono::milliseconds command_timeout{200};
    /// After a failure, the least time before the next attempt to reach Redis.
    std::chrono::milliseconds reconnect_interval{1000};
    /// Prepended to every key.
    std::string prefix = "faultline:";
    redis_failure on_failure = redis_failure::fail_closed;
    /// Connections, each with its own mutex; a call uses one. >= 1.
    std::size_t connections = 1;
    /// Key cap of each local fallback table (`redis_failure::local`).
    std::size_t local_max_keys = 1u << 16;
};

/// Empty if `o` is usable; `std::errc::invalid_argument` for no host, port 0, a connect or
/// command timeout that is not positive, a negative reconnect interval, `connections` outside
/// 1..1024, or `local_max_keys` outside 1..2^56. Thread-safe.
[[nodiscard]] std::error_code validate(const redis_options& o) noexcept;

/// Key helpers: "token:<id>[:<limit>]", "user:<id>[:<limit>]", "upstream:<id>[:<limit>]".
/// Pass an id or a hash of an API key, never the secret itself. Thread-safe.
[[nodiscard]] std::string token_key(std::string_view token_id, std::string_view limit = {});
[[nodiscard]] std::string user_key(std::string_view user_id, std::string_view limit = {});
[[nodiscard]] std::string upstream_key(std::string_view upstream, std::string_view limit = {});

/// Empty if `c` is usable by a Redis limiter: `validate(c)` and the 2^52 bound of the script.
/// Thread-safe.
[[nodiscard]] std::error_code validate_for_redis(const bucket_config& c) noexcept;

/// A client of shared buckets in one Redis server. `Clock` schedules reconnection attempts and
/// drives the local fallback; Redis' own clock drives the shared buckets.
template <class Clock = std::chrono::steady_clock>
class basic_redis_limiter {
public:
    using clock = Clock;
    using time_point = typename Clock::time_point;

    /// Connects (bounded by `connect_timeout`). Does not throw when Redis is unreachable: the
    /// failure policy applies until a later attempt succeeds; see `connected()`. Throws
    /// `std::system_error` with the code of `validate(options)` if that fails. Not thread-safe
    /// (construction).
    explicit basic_redis_limiter(redis_options options, time_point now = Clock::now());
    /// Closes the connections. Not thread-safe (no call may be running).
    ~basic_redis_limiter();
    basic_redis_limiter(const basic_redis_limiter&) = delete;
    basic_redis_limiter& operator=(const basic_redis_limiter&) = delete;

    /// Takes `n` tokens from `key`'s shared bucket, or none. One round trip. Thread-safe.
    [[nodiscard]] redis_decision try_acquire(std::string_view key, const bucket_config& config,
                                             std::uint64_t n = 1, time_point now = Clock::now());

    /// Takes from every level or from none, atomically, in one round trip; reports which
    /// level refused (levels tried in order, as `acquire_all`). Thread-safe.
    [[nodiscard]] redis_composite_decision try_acquire_all(std::span<const redis_request> levels,
                                                           time_point now = Clock::now());

    /// Independent single-level decisions, pipelined: one round trip for all. The i-th
    /// answer is what `try_acquire(requests[i]...)` made in that order would be. If the
    /// connection fails midway, the requests without a reply are decided by the failure
    /// policy (Redis may have applied some of them). Thread-safe.
    [[nodiscard]] std::vector<redis_decision>
    try_acquire_batch(std::span<const redis_request> requests, time_point now = Clock::now());

    /// Whether the last call found Redis reachable. Thread-safe.
    [[nodiscard]] bool connected() const noexcept { return up_.load(std::memory_order_acquire); }
    /// Connection attempts made so far (successful or not). Thread-safe.
    [[nodiscard]] std::uint64_t connect_attempts() const noexcept {
        return attempts_.load(std::memory_order_relaxed);
    }
    /// The options. Thread-safe.
    [[nodiscard]] const redis_options& options() const noexcept { return options_; }

private:
    struct connection {
        std::mutex m;
        redisContext* ctx = nullptr; // guarded by m
        std::string sha;             // guarded by m
    };
    [[nodiscard]] connection& pick() noexcept;
    [[nodiscard]] std::error_code ensure(connection& c, time_point now,
                                         detail_redis::call_budget& budget);
    void fail(connection& c, time_point now) noexcept;
    [[nodiscard]] std::error_code load_script(connection& c, detail_redis::call_budget& budget);
    [[nodiscard]] redis_composite_decision fallback(std::span<const redis_request> levels,
                                                    std::error_code why, time_point now);
    [[nodiscard]] keyed_limiter<Clock>& local_for(const bucket_config& c, time_point now);

    redis_options options_;
    std::unique_ptr<connection[]> pool_;
    std::atomic<std::size_t> next_{0};
    std::atomic<bool> up_{false};
    std::atomic<std::uint64_t> attempts_{0};
    std::atomic<std::int64_t> retry_at_ns_{0}; // no network before this instant (Clock ns)

    using config_key = std::tuple<std::uint64_t, std::int64_t, std::uint64_t, int, int>;
    std::mutex local_m_;
    std::map<config_key, std::unique_ptr<keyed_limiter<Clock>>> local_; // guarded by local_m_
};

using redis_limiter = basic_redis_limiter<>;

} // namespace faultline::limit

template <>
struct std::is_error_code_enum<faultline::limit::redis_error> : std::true_type {};

#include <faultline/limit/impl/redis.hpp>

#endif

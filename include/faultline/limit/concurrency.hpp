#ifndef FAULTLINE_LIMIT_CONCURRENCY_HPP
#define FAULTLINE_LIMIT_CONCURRENCY_HPP

#include <faultline/detail/config.hpp>

// In-flight limits (reference 001: "RPM/TPM/concurrency"): at most `max` requests at once,
// globally or per key, each held by an RAII permit.
//
//     faultline::limit::concurrency_limiter streams(64);
//     auto p = streams.try_acquire();
//     if (!p) return reply_429(p.result());   // error::concurrency_exceeded
//     serve();                                // the permit returns when `p` goes out of scope
//
// A refusal's `retry_after` is the configured hint (default 1 s): when a slot frees is not
// knowable in advance.

#include <faultline/error.hpp>
#include <faultline/limit/decision.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace faultline::limit {

/// A held slot; returns it when destroyed (or on `release()`). Movable, not copyable.
/// Not thread-safe (one owner), the limiter it refers to is.
class permit {
public:
    permit() noexcept = default;
    permit(permit&& o) noexcept;
    permit& operator=(permit&& o) noexcept;
    permit(const permit&) = delete;
    permit& operator=(const permit&) = delete;
    ~permit() { release(); }

    /// Whether a slot is held. Not thread-safe.
    [[nodiscard]] explicit operator bool() const noexcept { return owner_ != nullptr; }
    /// The decision that created this permit (admitted, or why not). Not thread-safe.
    [[nodiscard]] const decision& result() const noexcept { return decision_; }
    /// Returns the slot now; idempotent. Not thread-safe.
    void release() noexcept;

private:
    friend class concurrency_limiter;
    friend class keyed_concurrency_limiter;
    using release_fn = void (*)(void*, std::uint64_t) noexcept;
    permit(void* owner, release_fn fn, std::uint64_t key, const decision& d) noexcept
        : owner_(owner)
        , fn_(fn)
        , key_(key)
        , decision_(d) {}

    void* owner_ = nullptr;
    release_fn fn_ = nullptr;
    std::uint64_t key_ = 0;
    decision decision_;
};

/// At most `max` in flight. Lock-free: one CAS to admit, a load to refuse, one atomic
/// decrement to release.
class concurrency_limiter {
public:
    /// `max == 0` refuses everything. Not thread-safe (construction).
    explicit concurrency_limiter(std::uint64_t max,
                                 std::chrono::nanoseconds retry_hint = std::chrono::seconds(1),
                                 error refusal = error::concurrency_exceeded) noexcept
        : max_(max)
        , retry_hint_(retry_hint)
        , refusal_(refusal) {}

    /// A permit if fewer than `max` are held, else an empty one whose `result()` says why.
    /// Thread-safe, lock-free.
    [[nodiscard]] permit try_acquire() noexcept;
    /// Permits held now. Thread-safe.
    [[nodiscard]] std::uint64_t in_flight() const noexcept {
        return in_flight_.load(std::memory_order_acquire);
    }
    /// The maximum. Thread-safe.
    [[nodiscard]] std::uint64_t max() const noexcept { return max_; }

private:
    static void give_back(void* self, std::uint64_t) noexcept;

    std::uint64_t max_;
    std::chrono::nanoseconds retry_hint_;
    error refusal_;
    alignas(64) std::atomic<std::uint64_t> in_flight_{0};
};

/// At most `max` in flight per key (API token, user, channel). Memory is proportional to the
/// keys that hold permits: a key's counter is dropped when its last permit returns.
class keyed_concurrency_limiter {
public:
    /// Not thread-safe (construction).
    explicit keyed_concurrency_limiter(
        std::uint64_t max_per_key, std::chrono::nanoseconds retry_hint = std::chrono::seconds(1),
        std::size_t shards = 64, error refusal = error::concurrency_exceeded);

    /// A permit for `key`, or an empty one. Thread-safe (locks one shard).
    [[nodiscard]] permit try_acquire(std::uint64_t key);
    /// Gives `key` its own maximum. Thread-safe (locks one shard).
    void set_override(std::uint64_t key, std::uint64_t max);
    /// Back to the default maximum. Thread-safe (locks one shard).
    void clear_override(std::uint64_t key);
    /// Permits held by `key`. Thread-safe (locks one shard).
    [[nodiscard]] std::uint64_t in_flight(std::uint64_t key) const;
    /// Keys holding at least one permit. Thread-safe (locks one shard at a time).
    [[nodiscard]] std::size_t active_keys() const;

private:
    struct shard {
        mutable std::mutex m;
        std::unordered_map<std::uint64_t, std::uint64_t> held;
        std::unordered_map<std::uint64_t, std::uint64_t> overrides;
    };
    [[nodiscard]] shard& shard_of(std::uint64_t key) const noexcept;
    static void give_back(void* self, std::uint64_t key) noexcept;

    std::uint64_t max_;
    std::chrono::nanoseconds retry_hint_;
    error refusal_;
    std::size_t mask_;
    std::unique_ptr<shard[]> shards_;
};

} // namespace faultline::limit

#include <faultline/limit/impl/concurrency.hpp>

#endif

#ifndef FAULTLINE_LIMIT_KEYED_HPP
#define FAULTLINE_LIMIT_KEYED_HPP

#include <faultline/detail/config.hpp>

// Per-key token buckets (per API token, user, model or channel) with bounded memory.
//
//     using namespace faultline::limit;
//     keyed_limiter<> per_token({.defaults = {rate::per_minute(60), 60, initial_fill::full,
//                                             faultline::error::rpm_exceeded},
//                                .max_keys = 1'000'000});
//     per_token.set_override(vip_token_id, {rate::per_minute(600), 600});
//     if (decision d = per_token.try_acquire(token_id); !d) return reply_429(d);
//
// Keys are 64-bit ids (database ids, or `key_of(text)`, a 64-bit hash: two texts with the
// same hash share one bucket). Every key has the semantics of `token_bucket` (a new key starts
// full) with the default configuration or its override.
//
// Memory: keys live in sharded open-addressing tables of 16-byte slots (key, TAT), at most
// `max_keys` of them over all shards (one shared count, so uneven hashing never refuses a key
// below the cap). A shard's table grows with its peak and never shrinks, at a load factor of
// 3/8 to 3/4: 21 to 43 bytes a key at the peak. A key whose bucket is full again (idle for at
// least its refill time) carries no information and is evicted by a CLOCK hand per shard:
// every operation moves it two slots; a new key at the cap moves it up to `eviction_budget`
// slots in its own shard and, if that frees nothing and its shard holds under half its share
// of keys, as many in another shard (each in turn), then tries once more. So a key's work
// under locks is its lookup's probes plus at most 3 * eviction_budget + 4 slots, each read at
// most twice (a sweep tests its slots together first, and goes slot by slot only when one is
// idle); never a scan of a shard (`stats().slots_examined` counts every read).
//
// At the cap, when the hand finds no idle key, the new key is refused with
// `error::key_table_full` (`retry_after` and `reset`: the default burst's refill time;
// `remaining` 0) or, with `fail_open`, admitted untracked. The slot is claimed before anything
// is computed, so such a refusal costs the lookup and the hand's bounded sweep only. A table full
// of live keys refuses new ones until some go idle; idle keys anywhere are found within about
// (table slots / eviction_budget) arrivals. Overrides are kept apart and never evicted.
//
// Hostile keys: whoever picks key ids (user ids, texts through `key_of`) could pick ids that
// all land in one shard on one home slot if the table's hash were a fixed function: one probe
// cluster, walked under the shard's lock by every lookup there. The hash is splitmix64's
// finaliser over the key xor a per-limiter random seed (`keyed_options::hash_seed`), so where a
// key lands cannot be known from outside. It is a fast mixer, not a cryptographic PRF: it
// stops keys computed offline, not an attacker who can measure the table's timing at length.
// `key_of` itself is unseeded (stable across processes); ids that collide there share a bucket.
//
// Concurrency: one mutex per shard (`shards`, a power of two); no lock is shared by all keys.
// The key count is one atomic, touched only when a key is added or evicted.

#include <faultline/limit/token_bucket.hpp>
#include <faultline/random.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace faultline::limit {

/// Options of a keyed limiter. A plain value.
struct keyed_options {
    bucket_config defaults;          ///< Rate, burst and refusal code of keys without override.
    std::size_t max_keys = 1u << 20; ///< Hard cap on tracked keys, over all shards: 1 to 2^56.
    std::size_t shards = 64;         ///< Rounded up to a power of two; 0 (one shard) to 2^16.
    bool fail_open = false;          ///< At the cap: admit untracked keys instead of refusing.
    /// Seeds the table's hash. 0 (the default) draws a seed from `std::random_device`, which is
    /// what makes crafted keys harmless; set one only to reproduce a layout.
    std::uint64_t hash_seed = 0;
};

/// Empty if `o` is usable: the code of `validate(o.defaults)` if that fails, else
/// `std::errc::invalid_argument` for `max_keys` outside 1..2^56 or more than 2^16 shards.
/// Thread-safe.
[[nodiscard]] std::error_code validate(const keyed_options& o) noexcept;

/// Counters of a keyed limiter since construction, summed over shards.
struct keyed_stats {
    std::uint64_t inserted = 0; ///< Keys that started being tracked.
    std::uint64_t evicted = 0;  ///< Keys dropped because their bucket was full again.
    std::uint64_t refused = 0;  ///< New keys turned away (or admitted untracked) at the cap.
    /// Slots read or moved while holding a shard's lock: lookups' probes, the hand's sweep,
    /// deletion's shifts and rehashing. The work bound of the table, countable in tests.
    std::uint64_t slots_examined = 0;
};

template <class Clock = std::chrono::steady_clock>
class keyed_limiter {
public:
    using clock = Clock;
    using time_point = typename Clock::time_point;

    /// Slots the CLOCK hand may examine in one shard for a new key arriving at the cap.
    static constexpr std::size_t eviction_budget = 8;

    /// Throws `std::system_error` with the code of `validate(options)` if that fails.
    /// Not thread-safe.
    explicit keyed_limiter(const keyed_options& options, time_point now = Clock::now());

    /// As `token_bucket::try_acquire`, on the bucket of `key`. Thread-safe (locks one shard).
    [[nodiscard]] decision try_acquire(std::uint64_t key, std::uint64_t n = 1,
                                       time_point now = Clock::now());
    /// What `try_acquire` would answer, consuming nothing. Thread-safe (locks one shard).
    [[nodiscard]] decision peek(std::uint64_t key, std::uint64_t n = 1,
                                time_point now = Clock::now());
    /// As `token_bucket::release`. Thread-safe (locks one shard).
    void release(std::uint64_t key, std::uint64_t n, time_point now = Clock::now());

    /// Gives `key` its own configuration (its `fill` is ignored); a tracked key keeps the
    /// tokens it has, clamped to the new burst. `std::errc::invalid_argument` for an invalid
    /// config. Thread-safe (locks one shard).
    std::error_code set_override(std::uint64_t key, const bucket_config& config,
                                 time_point now = Clock::now());
    /// Back to the defaults (tokens kept, clamped). Thread-safe (locks one shard).
    void clear_override(std::uint64_t key, time_point now = Clock::now());

    /// Sweeps every shard, evicting keys whose bucket is full; returns how many. Thread-safe
    /// (locks one shard at a time).
    std::size_t evict_idle(time_point now = Clock::now());
    /// Keys tracked now. Thread-safe (reads one atomic).
    [[nodiscard]] std::size_t size() const noexcept;
    /// Counters since construction. Thread-safe (locks one shard at a time).
    [[nodiscard]] keyed_stats stats() const;
    /// Bytes held by the tables and overrides (not counting allocator overhead). Thread-safe.
    [[nodiscard]] std::size_t memory_bytes() const;

    /// A 64-bit key for a text id (API key, user name, model). Thread-safe.
    [[nodiscard]] static std::uint64_t key_of(std::string_view text) noexcept;

private:
    struct slot {
        std::uint64_t key;
        std::uint64_t tat; // 0: empty
    };
    struct profile {
        detail::gcra_fast_params p; // divisions by c and u without a hardware divide
        error refusal;
    };
    // Aligned so that two shards' locks never share a cache line.
    struct alignas(64) shard {
        mutable std::mutex m;
        std::vector<slot> slots; // power-of-two size
        std::size_t size = 0;
        std::size_t cursor = 0; // the CLOCK hand
        std::unordered_map<std::uint64_t, profile> overrides;
        keyed_stats stats;
    };
    enum class outcome { done, at_cap, at_cap_sparse };

    [[nodiscard]] std::uint64_t mix(std::uint64_t k) const noexcept;
    [[nodiscard]] shard& shard_of(std::uint64_t h) const noexcept;
    [[nodiscard]] const profile& profile_of(const shard& s, std::uint64_t key) const noexcept;
    [[nodiscard]] std::uint64_t now_units(std::int64_t t, const profile& pr) const noexcept {
        return detail::gcra_units(t, pr.p.u);
    }
    [[nodiscard]] std::int64_t ns(time_point now) const noexcept;
    void prefetch(const shard& s, std::uint64_t h) const noexcept;
    [[nodiscard]] std::size_t find(shard& s, std::uint64_t key, std::uint64_t h) const noexcept;
    void erase_at(shard& s, std::size_t i) noexcept;
    std::size_t sweep(shard& s, std::size_t count, std::int64_t t) noexcept;
    template <bool Overrides>
    std::size_t sweep_as(shard& s, std::size_t count, std::int64_t t) noexcept;
    [[nodiscard]] bool reserve() noexcept;
    bool insert(shard& s, std::uint64_t key, std::uint64_t h, std::uint64_t tat, std::int64_t t);
    void grow(shard& s);
    [[nodiscard]] outcome acquire_locked(std::uint64_t key, std::uint64_t h, std::uint64_t n,
                                         std::int64_t t, decision& d);
    std::size_t help_sweep(std::int64_t t);

    profile defaults_;
    decision at_cap_; // the refusal of a new key at the cap, prepared once
    std::int64_t epoch_ns_;
    std::uint64_t seed_;
    std::size_t max_keys_;
    std::size_t slot_cap_;
    unsigned shard_shift_;
    bool fail_open_;
    std::unique_ptr<shard[]> shards_;
    std::size_t shard_count_;
    alignas(64) std::atomic<std::size_t> count_{0};
    std::atomic<std::size_t> help_next_{0};
    std::atomic<std::uint64_t> refused_{0};
};

} // namespace faultline::limit

#include <faultline/limit/impl/keyed.hpp>

#endif

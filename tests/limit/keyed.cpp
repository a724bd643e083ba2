#include <faultline/limit/keyed.hpp>

#include "manual_clock.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace fl = faultline;
namespace lim = faultline::limit;
using faultline_test::at;
using faultline_test::manual_clock;
using namespace std::chrono_literals;

// The limiter under test with a fixed hash seed, so that where keys land (which the cap and
// eviction tests depend on) is the same in every run; the default seed is random.
struct keyed_t : lim::keyed_limiter<manual_clock> {
    keyed_t(lim::keyed_options o, time_point now)
        : keyed_limiter(seeded(o), now) {}
    static lim::keyed_options seeded(lim::keyed_options o) {
        if (o.hash_seed == 0) o.hash_seed = 0x5eed'0f'fa'17'11'5eedull;
        return o;
    }
};

namespace {

// splitmix64's finaliser undone: the key to send for a chosen output of the unseeded hash.
std::uint64_t unxorshift(std::uint64_t y, unsigned shift) {
    std::uint64_t x = y;
    for (unsigned i = 0; i < 64 / shift + 1; ++i)
        x = y ^ (x >> shift);
    return x;
}
std::uint64_t inverse(std::uint64_t odd) { // modulo 2^64, by Newton's iteration
    std::uint64_t x = odd;
    for (int i = 0; i < 6; ++i)
        x *= 2 - odd * x;
    return x;
}
std::uint64_t unmix(std::uint64_t h) {
    std::uint64_t x = unxorshift(h, 31);
    x = unxorshift(x * inverse(0x94d049bb133111ebull), 27);
    x = unxorshift(x * inverse(0xbf58476d1ce4e5b9ull), 30);
    return x - 0x9e3779b97f4a7c15ull;
}

} // namespace

BOOST_AUTO_TEST_SUITE(keyed)

BOOST_AUTO_TEST_CASE(keys_have_independent_buckets) {
    keyed_t k({.defaults = {lim::rate::per_second(1), 2, lim::initial_fill::full,
                            fl::error::rpm_exceeded}},
              at(0s));
    BOOST_TEST(k.try_acquire(1, 2, at(0s)).admitted);
    const auto d = k.try_acquire(1, 1, at(0s));
    BOOST_TEST(!d.admitted);
    BOOST_TEST((d.ec == fl::error::rpm_exceeded));
    BOOST_TEST(d.retry_after == 1s);
    BOOST_TEST(k.try_acquire(2, 2, at(0s)).admitted);
    BOOST_TEST(k.try_acquire(1, 1, at(1s)).admitted);
    BOOST_TEST(k.peek(1, 1, at(1s)).retry_after == 1s);
    BOOST_TEST((k.try_acquire(3, 3, at(0s)).ec == fl::error::request_exceeds_burst));
    BOOST_TEST(k.try_acquire(3, 0, at(0s)).admitted);
    BOOST_TEST(k.size() == 2u);
}

BOOST_AUTO_TEST_CASE(idle_keys_are_evicted_and_come_back_full) {
    keyed_t k({.defaults = {lim::rate::per_second(10), 10}}, at(0s));
    for (std::uint64_t key = 0; key < 1000; ++key)
        BOOST_TEST(k.try_acquire(key, 5, at(0s)).admitted);
    BOOST_TEST(k.size() == 1000u);
    BOOST_TEST(k.evict_idle(at(499ms)) == 0u); // not yet full again
    BOOST_TEST(k.size() == 1000u);
    BOOST_TEST(k.evict_idle(at(500ms)) == 1000u); // refill time passed: nothing to remember
    BOOST_TEST(k.size() == 0u);
    BOOST_TEST(k.peek(7, 10, at(500ms)).admitted);
}

BOOST_AUTO_TEST_CASE(eviction_is_incremental_on_the_hot_path) {
    keyed_t k({.defaults = {lim::rate::per_second(1000), 1}, .shards = 1}, at(0s));
    for (std::uint64_t key = 0; key < 100; ++key)
        BOOST_TEST(k.try_acquire(key, 1, at(0s)).admitted);
    BOOST_TEST(k.size() == 100u);
    // Later, traffic on one key sweeps the idle others two slots at a time.
    for (int i = 0; i < 200; ++i)
        (void)k.try_acquire(1'000'000, 1, at(1s) + i * 1ms);
    BOOST_TEST(k.size() <= 1u);
}

BOOST_AUTO_TEST_CASE(the_key_cap_is_hard) {
    keyed_t k({.defaults = {lim::rate::per_second(1), 1}, .max_keys = 8, .shards = 1}, at(0s));
    for (std::uint64_t key = 0; key < 8; ++key)
        BOOST_TEST(k.try_acquire(key, 1, at(0s)).admitted);
    const auto d = k.try_acquire(100, 1, at(0s));
    BOOST_TEST(!d.admitted);
    BOOST_TEST((d.ec == fl::error::key_table_full));
    BOOST_TEST(d.retry_after == 1s);
    BOOST_TEST(d.reset == 1s); // nothing can be had before then
    BOOST_TEST(d.remaining == 0u);
    BOOST_TEST(d.limit == 1u);
    BOOST_TEST(k.size() == 8u);
    // Once the others are idle, the new key gets in.
    BOOST_TEST(k.try_acquire(100, 1, at(1s)).admitted);
    (void)k.evict_idle(at(1s));
    BOOST_TEST(k.size() == 1u); // only the new key is not full

    keyed_t open(
        {.defaults = {lim::rate::per_second(1), 1}, .max_keys = 2, .shards = 1, .fail_open = true},
        at(0s));
    for (std::uint64_t key = 0; key < 10; ++key)
        BOOST_TEST(open.try_acquire(key, 1, at(0s)).admitted);
    BOOST_TEST(open.size() == 2u);
    const auto mem = open.memory_bytes();
    for (std::uint64_t key = 10; key < 100'000; ++key)
        (void)open.try_acquire(key, 1, at(0s));
    BOOST_TEST(open.memory_bytes() == mem); // no growth past the cap
}

BOOST_AUTO_TEST_CASE(overrides_per_key) {
    keyed_t k({.defaults = {lim::rate::per_minute(60), 1}}, at(0s));
    BOOST_TEST(k.try_acquire(42, 1, at(0s)).admitted);
    BOOST_TEST(!k.set_override(
        42, {lim::rate::per_minute(600), 10, lim::initial_fill::full, fl::error::tpm_exceeded},
        at(0s)));
    BOOST_TEST(k.peek(42, 1, at(0s)).remaining == 0u); // tokens kept: none
    BOOST_TEST(k.try_acquire(42, 10, at(1s)).admitted);
    const auto d = k.try_acquire(42, 1, at(1s));
    BOOST_TEST((d.ec == fl::error::tpm_exceeded));
    BOOST_TEST(d.retry_after == 100ms);
    BOOST_TEST(k.try_acquire(43, 1, at(1s)).admitted); // others keep the defaults
    BOOST_TEST(!k.try_acquire(43, 1, at(1s)).admitted);
    // Overrides survive eviction.
    BOOST_TEST(k.evict_idle(at(1h)) == 2u);
    BOOST_TEST(k.try_acquire(42, 10, at(1h)).admitted);
    k.clear_override(42, at(1h));
    BOOST_TEST(k.peek(42, 1, at(1h)).remaining == 0u); // clamped to the default burst
    BOOST_TEST(k.peek(42, 1, at(1h)).limit == 1u);
    BOOST_TEST(
        (k.set_override(42, {lim::rate::per_second(1), 0}, at(1h)) == std::errc::invalid_argument));
}

// At the cap the hand judges each key by its own configuration: default keys idle after 1 s
// make room, an overridden key refilling at 1 a minute is still live and stays.
BOOST_AUTO_TEST_CASE(the_hand_at_the_cap_judges_overridden_keys_by_their_override) {
    keyed_t k({.defaults = {lim::rate::per_second(1), 1}, .max_keys = 4, .shards = 1}, at(0s));
    BOOST_TEST(!k.set_override(42, {lim::rate::per_minute(1), 1}, at(0s)));
    for (const std::uint64_t key : {1u, 2u, 3u, 42u})
        BOOST_TEST(k.try_acquire(key, 1, at(0s)).admitted);
    BOOST_TEST(!k.try_acquire(100, 1, at(500ms)).admitted); // nothing idle yet
    for (std::uint64_t key = 100; key < 103; ++key)
        BOOST_TEST(k.try_acquire(key, 1, at(1s)).admitted); // each replaces an idle default key
    BOOST_TEST(k.size() == 4u);
    BOOST_TEST(!k.try_acquire(103, 1, at(1s)).admitted); // 42 is not idle: the cap holds
    const auto d = k.peek(42, 1, at(1s));
    BOOST_TEST(!d.admitted); // still tracked, with its override's debt
    BOOST_TEST(d.retry_after == 59s);
}

BOOST_AUTO_TEST_CASE(release_returns_tokens_and_forgets_full_keys) {
    keyed_t k({.defaults = {lim::rate::per_minute(60), 100}}, at(0s));
    BOOST_TEST(k.try_acquire(5, 80, at(0s)).admitted);
    k.release(5, 30, at(0s));
    BOOST_TEST(k.peek(5, 1, at(0s)).remaining == 49u);
    k.release(5, 1000, at(0s));
    BOOST_TEST(k.size() == 0u);
    k.release(6, 10, at(0s)); // an unknown key is full already
    BOOST_TEST(k.size() == 0u);
}

BOOST_AUTO_TEST_CASE(a_clock_going_backwards_never_refills_a_key) {
    keyed_t k({.defaults = {lim::rate::per_second(1), 1}}, at(100s));
    BOOST_TEST(k.try_acquire(9, 1, at(100s)).admitted);
    BOOST_TEST(!k.try_acquire(9, 1, at(50s)).admitted);
    BOOST_TEST(k.evict_idle(at(50s)) == 0u);
    BOOST_TEST(k.try_acquire(9, 1, at(101s)).admitted);
}

BOOST_AUTO_TEST_CASE(text_keys_hash_stably) {
    BOOST_TEST(keyed_t::key_of("sk-abc") == keyed_t::key_of("sk-abc"));
    BOOST_TEST(keyed_t::key_of("sk-abc") != keyed_t::key_of("sk-abd"));
    BOOST_TEST(keyed_t::key_of("") == 0xcbf29ce484222325ull);
}

BOOST_AUTO_TEST_CASE(invalid_defaults_throw) {
    BOOST_CHECK_THROW(keyed_t({.defaults = {lim::rate::per_second(0), 1}}, at(0s)),
                      std::system_error);
}

BOOST_AUTO_TEST_CASE(too_many_shards_throw_invalid_argument) {
    // Regression: a shard count past 2^63 reached std::bit_ceil, undefined behaviour.
    for (const std::size_t shards : {(std::size_t{1} << 16) + 1, SIZE_MAX}) {
        try {
            keyed_t k({.defaults = {lim::rate::per_second(1), 1}, .shards = shards}, at(0s));
            BOOST_ERROR("constructed with " << shards << " shards");
        } catch (const std::system_error& e) {
            BOOST_TEST((e.code() == std::errc::invalid_argument));
        }
    }
    keyed_t most({.defaults = {lim::rate::per_second(1), 1}, .shards = 1u << 16}, at(0s));
    BOOST_TEST(most.try_acquire(1, 1, at(0s)).admitted);
}

// The work bound per new key at the cap (keyed.hpp): the hand's two slots and its budget in
// the key's shard, another shard's budget, a second try (two slots and a budget), each slot
// read at most twice, and the lookups' probes (a few each at a load factor <= 3/4; 16 allowed
// for both).
constexpr std::uint64_t max_slots_per_new_key = 2 * (3 * keyed_t::eviction_budget + 4) + 16;
// A table of live keys: the hand never finds an idle slot, so each slot is read once.
constexpr std::uint64_t max_slots_per_refused_key = 3 * keyed_t::eviction_budget + 4 + 16;

BOOST_AUTO_TEST_CASE(a_new_key_flood_into_a_full_table_scans_no_shard) {
    // Regression: a new key at a full shard swept the whole shard under its lock, then was
    // refused anyway; a flood of new keys became lock-held CPU for every client.
    constexpr std::uint64_t cap = 4096, flood = 100'000;
    keyed_t k({.defaults = {lim::rate::per_minute(1), 1}, .max_keys = cap, .shards = 8}, at(0s));
    for (std::uint64_t key = 0; key < cap; ++key)
        BOOST_TEST_REQUIRE(k.try_acquire(key, 1, at(0s)).admitted);
    const lim::keyed_stats before = k.stats();
    std::uint64_t refused = 0;
    for (std::uint64_t key = cap; key < cap + flood; ++key) {
        const auto d = k.try_acquire(key, 1, at(1s)); // every tracked key is still live
        refused += !d.admitted && d.ec == fl::error::key_table_full && d.retry_after == 60s;
    }
    const lim::keyed_stats after = k.stats();
    BOOST_TEST(refused == flood);
    BOOST_TEST(k.size() == cap);
    BOOST_TEST(after.inserted == before.inserted);
    BOOST_TEST(after.refused - before.refused == flood);
    BOOST_TEST(after.slots_examined - before.slots_examined <= flood * max_slots_per_refused_key);
    // The old keys are untouched.
    BOOST_TEST(!k.try_acquire(7, 1, at(1s)).admitted);
    BOOST_TEST((k.try_acquire(7, 1, at(1s)).ec == fl::error::rate_limited)); // its own bucket
}

BOOST_AUTO_TEST_CASE(a_new_key_flood_into_a_full_table_of_idle_keys_replaces_them) {
    constexpr std::uint64_t cap = 4096, flood = 100'000;
    keyed_t k({.defaults = {lim::rate::per_minute(1), 1}, .max_keys = cap, .shards = 8}, at(0s));
    for (std::uint64_t key = 0; key < cap; ++key)
        BOOST_TEST_REQUIRE(k.try_acquire(key, 1, at(0s)).admitted);
    const lim::keyed_stats before = k.stats();
    // Each new key arrives a minute after the one `cap` before it: the oldest are idle again.
    std::uint64_t admitted = 0;
    for (std::uint64_t i = 0; i < flood; ++i)
        admitted += k.try_acquire(cap + i, 1, at(60s) + (i / cap) * 60s).admitted;
    const lim::keyed_stats after = k.stats();
    BOOST_TEST(k.size() <= cap);
    BOOST_TEST(admitted + (after.refused - before.refused) == flood);
    BOOST_TEST(admitted >= flood * 9 / 10);
    BOOST_TEST(after.inserted - before.inserted == admitted);
    BOOST_TEST(after.slots_examined - before.slots_examined <= flood * max_slots_per_new_key);
}

// Hostile input: the table's hash was a fixed, public, invertible function, so whoever
// chooses key ids (user ids, texts through key_of) could send keys that all land in one shard
// on one home slot, one probe cluster that every lookup there walks under the shard's lock.
// 4096 such keys made each lookup read about 2000 slots. The hash is now seeded per limiter.
BOOST_AUTO_TEST_CASE(keys_crafted_against_the_hash_do_not_crowd_one_slot) {
    constexpr std::uint64_t n = 4096;
    std::vector<std::uint64_t> crafted;
    for (std::uint64_t i = 0; i < n; ++i)
        crafted.push_back(unmix(i << 20)); // shard 0, home slot 0 in any table up to 2^20
    // The library's default: a random seed, unknown to whoever crafted the keys.
    lim::keyed_limiter<manual_clock> k(
        {.defaults = {lim::rate::per_minute(1), 1}, .max_keys = 1u << 16}, at(0s));
    for (const std::uint64_t key : crafted)
        BOOST_TEST_REQUIRE(k.try_acquire(key, 1, at(0s)).admitted);
    const lim::keyed_stats before = k.stats();
    for (const std::uint64_t key : crafted)
        BOOST_TEST_REQUIRE(!k.peek(key, 1, at(0s)).admitted); // each still has its own bucket
    const lim::keyed_stats after = k.stats();
    const double per_lookup =
        static_cast<double>(after.slots_examined - before.slots_examined) / static_cast<double>(n);
    BOOST_TEST_MESSAGE("crafted keys: " << per_lookup << " slots read per lookup");
    BOOST_TEST(per_lookup < 4.0);
}

BOOST_AUTO_TEST_CASE(max_keys_live_keys_fit_however_they_hash) {
    // Regression: the cap was split evenly over the shards, so the shard that hashing filled
    // first refused keys while the table held fewer than max_keys.
    for (const std::size_t shards : {1u, 8u, 64u}) {
        keyed_t k({.defaults = {lim::rate::per_minute(1), 1}, .max_keys = 4096, .shards = shards},
                  at(0s));
        std::size_t admitted = 0;
        for (std::uint64_t key = 0; key < 4096; ++key)
            admitted += k.try_acquire(key * 0x9e3779b97f4a7c15ull, 1, at(0s)).admitted;
        BOOST_TEST(admitted == 4096u);
        BOOST_TEST(k.size() == 4096u);
        BOOST_TEST((k.try_acquire(1'000'003, 1, at(0s)).ec == fl::error::key_table_full));
        BOOST_TEST(k.size() == 4096u);
    }
}

BOOST_AUTO_TEST_CASE(idle_keys_in_other_shards_make_room) {
    // Eight keys in 64 shards: a new key mostly lands in a shard with nothing to evict, so its
    // own hand cannot help; the hand it moves in another shard finds the idle keys. The hands
    // cover the 64 shards' 16 slots in about 64 * 16 / eviction_budget = 128 arrivals (a key
    // landing in a shard that holds keys moves no other hand): all are found within two such
    // laps whatever the layout, checked over 64 hash seeds.
    constexpr std::uint64_t lap = 64 * 16 / keyed_t::eviction_budget;
    std::uint64_t slowest = 0;
    for (std::uint64_t seed = 1; seed <= 64; ++seed) {
        keyed_t k({.defaults = {lim::rate::per_second(1), 1},
                   .max_keys = 8,
                   .shards = 64,
                   .hash_seed = seed},
                  at(0s));
        for (std::uint64_t key = 0; key < 8; ++key)
            BOOST_TEST_REQUIRE(k.try_acquire(key, 1, at(0s)).admitted);
        BOOST_TEST((k.try_acquire(100, 1, at(0s)).ec == fl::error::key_table_full));
        std::uint64_t admitted = 0, last = 0;
        for (std::uint64_t key = 200; key < 200 + 4 * lap; ++key)
            if (k.try_acquire(key, 1, at(1s)).admitted) {
                ++admitted;
                last = key - 200;
            }
        BOOST_TEST(admitted == 8u, "seed " << seed); // the eight idle keys replaced
        BOOST_TEST(last < 2 * lap, "seed " << seed);
        BOOST_TEST(k.size() == 8u);
        slowest = std::max(slowest, last);
    }
    BOOST_TEST_MESSAGE("the last idle key was replaced by arrival " << slowest << " at worst");
}

BOOST_AUTO_TEST_CASE(stats_count_inserts_evictions_and_refusals) {
    keyed_t k({.defaults = {lim::rate::per_second(1), 1}, .max_keys = 2, .shards = 1}, at(0s));
    BOOST_TEST(k.stats().inserted == 0u);
    BOOST_TEST(k.try_acquire(1, 1, at(0s)).admitted);
    BOOST_TEST(k.try_acquire(2, 1, at(0s)).admitted);
    BOOST_TEST(!k.try_acquire(3, 1, at(0s)).admitted);
    BOOST_TEST(!k.try_acquire(1, 1, at(0s)).admitted); // a known key's refusal is not counted
    lim::keyed_stats s = k.stats();
    BOOST_TEST(s.inserted == 2u);
    BOOST_TEST(s.refused == 1u);
    BOOST_TEST(s.evicted == 0u);
    BOOST_TEST(s.slots_examined > 0u);
    BOOST_TEST(k.evict_idle(at(1s)) == 2u);
    k.release(3, 1, at(1s)); // untracked: nothing to count
    BOOST_TEST(k.try_acquire(4, 1, at(1s)).admitted);
    k.release(4, 1, at(1s)); // full again: forgotten
    s = k.stats();
    BOOST_TEST(s.inserted == 3u);
    BOOST_TEST(s.evicted == 3u);
    BOOST_TEST(k.size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// Named for the TSan run in CI (.ci/tsan runs `limit_concurrency*`).
BOOST_AUTO_TEST_SUITE(limit_concurrency_keyed)

BOOST_AUTO_TEST_CASE(a_new_key_flood_from_several_threads_keeps_the_cap_and_the_count) {
    // Threads flood disjoint new keys into a small table while instants advance, so keys are
    // added, refused, evicted by their own shard's hand and by another shard's, all at once.
    constexpr std::uint64_t cap = 512, per_thread = 20'000;
    constexpr int threads = 4;
    keyed_t k({.defaults = {lim::rate::per_second(1), 1}, .max_keys = cap, .shards = 16}, at(0s));
    std::vector<std::uint64_t> admitted(threads, 0);
    std::vector<std::size_t> largest(threads, 0);
    {
        std::vector<std::jthread> pool;
        for (int id = 0; id < threads; ++id)
            pool.emplace_back([&, id] {
                for (std::uint64_t i = 0; i < per_thread; ++i) {
                    const std::uint64_t key = i * threads + static_cast<std::uint64_t>(id);
                    // A second per 1024 arrivals of this thread: older keys go idle.
                    admitted[id] +=
                        k.try_acquire(key, 1, at(1s * static_cast<std::int64_t>(i / 1024)))
                            .admitted;
                    largest[id] = std::max(largest[id], k.size());
                }
            });
    }
    const lim::keyed_stats st = k.stats();
    std::uint64_t total = 0;
    for (int id = 0; id < threads; ++id) {
        total += admitted[id];
        BOOST_TEST(largest[id] <= cap);
    }
    BOOST_TEST(k.size() <= cap);
    BOOST_TEST(st.inserted - st.evicted == k.size());
    BOOST_TEST(st.inserted == total); // every admitted new key was tracked (fail closed)
    BOOST_TEST(st.refused == threads * per_thread - total);
    BOOST_TEST(total >= cap);
    const std::size_t left = k.size();
    BOOST_TEST(k.evict_idle(at(1h)) == left);
    BOOST_TEST(k.size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

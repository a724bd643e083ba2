#include <faultline/limit/keyed.hpp>

#include "manual_clock.hpp"

#include <boost/test/unit_test.hpp>

namespace fl = faultline;
namespace lim = faultline::limit;
using faultline_test::at;
using faultline_test::manual_clock;
using namespace std::chrono_literals;
using keyed_t = lim::keyed_limiter<manual_clock>;

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
    BOOST_TEST((d.ec == fl::error::limiter_unavailable));
    BOOST_TEST(d.retry_after == 1s);
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

BOOST_AUTO_TEST_SUITE_END()

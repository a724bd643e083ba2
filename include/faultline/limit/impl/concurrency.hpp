#ifndef FAULTLINE_LIMIT_IMPL_CONCURRENCY_HPP
#define FAULTLINE_LIMIT_IMPL_CONCURRENCY_HPP

#include <bit>
#include <utility>

namespace faultline::limit {

inline permit::permit(permit&& o) noexcept
    : owner_(std::exchange(o.owner_, nullptr))
    , fn_(o.fn_)
    , key_(o.key_)
    , decision_(o.decision_) {}

inline permit& permit::operator=(permit&& o) noexcept {
    if (this != &o) {
        release();
        owner_ = std::exchange(o.owner_, nullptr);
        fn_ = o.fn_;
        key_ = o.key_;
        decision_ = o.decision_;
    }
    return *this;
}

inline void permit::release() noexcept {
    if (void* owner = std::exchange(owner_, nullptr)) fn_(owner, key_);
}

inline permit concurrency_limiter::try_acquire() noexcept {
    std::uint64_t cur = in_flight_.load(std::memory_order_acquire);
    for (;;) {
        decision d;
        d.limit = max_;
        if (cur >= max_) {
            d.ec = refusal_;
            d.retry_after = retry_hint_;
            return permit(nullptr, nullptr, 0, d);
        }
        if (in_flight_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel,
                                             std::memory_order_acquire)) {
            d.admitted = true;
            d.remaining = max_ - cur - 1;
            return permit(this, &give_back, 0, d);
        }
    }
}

inline void concurrency_limiter::give_back(void* self, std::uint64_t) noexcept {
    static_cast<concurrency_limiter*>(self)->in_flight_.fetch_sub(1, std::memory_order_acq_rel);
}

inline keyed_concurrency_limiter::keyed_concurrency_limiter(std::uint64_t max_per_key,
                                                            std::chrono::nanoseconds retry_hint,
                                                            std::size_t shards, error refusal)
    : max_(max_per_key)
    , retry_hint_(retry_hint)
    , refusal_(refusal)
    , mask_(std::bit_ceil(shards == 0 ? std::size_t{1} : shards) - 1)
    , shards_(std::make_unique<shard[]>(mask_ + 1)) {}

inline auto keyed_concurrency_limiter::shard_of(std::uint64_t key) const noexcept -> shard& {
    const std::uint64_t h = (key ^ (key >> 29)) * 0x9e3779b97f4a7c15ull;
    return shards_[static_cast<std::size_t>(h >> 40) & mask_];
}

inline permit keyed_concurrency_limiter::try_acquire(std::uint64_t key) {
    shard& s = shard_of(key);
    const std::lock_guard lock(s.m);
    const auto o = s.overrides.find(key);
    const std::uint64_t max = o == s.overrides.end() ? max_ : o->second;
    decision d;
    d.limit = max;
    const auto it = s.held.find(key);
    const std::uint64_t cur = it == s.held.end() ? 0 : it->second;
    if (cur >= max) {
        d.ec = refusal_;
        d.retry_after = retry_hint_;
        d.remaining = 0;
        return permit(nullptr, nullptr, key, d);
    }
    if (it == s.held.end())
        s.held.emplace(key, 1);
    else
        ++it->second;
    d.admitted = true;
    d.remaining = max - cur - 1;
    return permit(this, &give_back, key, d);
}

inline void keyed_concurrency_limiter::give_back(void* self, std::uint64_t key) noexcept {
    auto* me = static_cast<keyed_concurrency_limiter*>(self);
    shard& s = me->shard_of(key);
    const std::lock_guard lock(s.m);
    const auto it = s.held.find(key);
    if (it == s.held.end()) return;
    if (--it->second == 0) s.held.erase(it);
}

inline void keyed_concurrency_limiter::set_override(std::uint64_t key, std::uint64_t max) {
    shard& s = shard_of(key);
    const std::lock_guard lock(s.m);
    s.overrides[key] = max;
}

inline void keyed_concurrency_limiter::clear_override(std::uint64_t key) {
    shard& s = shard_of(key);
    const std::lock_guard lock(s.m);
    s.overrides.erase(key);
}

inline std::uint64_t keyed_concurrency_limiter::in_flight(std::uint64_t key) const {
    shard& s = shard_of(key);
    const std::lock_guard lock(s.m);
    const auto it = s.held.find(key);
    return it == s.held.end() ? 0 : it->second;
}

inline std::size_t keyed_concurrency_limiter::active_keys() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i <= mask_; ++i) {
        const std::lock_guard lock(shards_[i].m);
        n += shards_[i].held.size();
    }
    return n;
}

} // namespace faultline::limit

#endif

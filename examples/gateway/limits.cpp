#include "gateway/limits.hpp"

#include <faultline/limit/composite.hpp>
#include <faultline/limit/keyed.hpp>

#ifdef FAULTLINE_EXAMPLES_REDIS
#include <faultline/limit/redis.hpp>
#endif

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

namespace examples::gateway {

namespace lim = faultline::limit;
using clock = std::chrono::steady_clock;

std::string_view to_string(level l) noexcept {
    switch (l) {
    case level::key:
        return "token";
    case level::user:
        return "user";
    case level::channel:
        return "upstream";
    }
    return "token";
}

namespace {

lim::bucket_config bucket(const rate_limit& r, faultline::error refusal) {
    return {lim::rate::per_minute(r.per_minute), r.capacity(), lim::initial_fill::full, refusal};
}

// The six buckets of one request, in the order they are tried: the levels most likely to say
// no first, so that rollbacks stay rare.
struct level_spec {
    level which;
    const rate_limit* limit;
    bool tokens;
    std::string_view id;
};

std::vector<level_spec> levels_of(const limit_scope& scope) {
    std::vector<level_spec> out;
    out.reserve(6);
    const auto add = [&out](level w, const level_limits& l, std::string_view id) {
        if (l.rpm.enabled()) out.push_back({w, &l.rpm, false, id});
        if (l.tpm.enabled()) out.push_back({w, &l.tpm, true, id});
    };
    if (scope.key) add(level::key, scope.key->limits, scope.key->id);
    if (scope.user) add(level::user, scope.user->limits, scope.user->id);
    if (scope.channel) add(level::channel, scope.channel->limits, scope.channel->name);
    return out;
}

lim::decision admit() {
    lim::decision d;
    d.admitted = true;
    return d;
}

// A keyed limiter level that may be absent (no limit configured there): then it admits.
struct optional_level {
    lim::keyed_limiter<clock>* limiter = nullptr;
    std::uint64_t key = 0;
    std::uint64_t n = 0;

    [[nodiscard]] lim::decision acquire(clock::time_point now) const {
        return limiter ? limiter->try_acquire(key, n, now) : admit();
    }
    [[nodiscard]] lim::decision peek(clock::time_point now) const {
        return limiter ? limiter->peek(key, n, now) : admit();
    }
    void rollback(clock::time_point now) const {
        if (limiter) limiter->release(key, n, now);
    }
};

class memory_limiter final : public rate_limiter {
public:
    memory_limiter(const gateway_config& c, time_point now) {
        // One keyed limiter per level and kind; every configured id gets its own override, so
        // the defaults are never used.
        const lim::keyed_options opts{.defaults = {lim::rate::per_minute(1), 1,
                                                   lim::initial_fill::full,
                                                   faultline::error::rate_limited},
                                      .max_keys = 1u << 16,
                                      .shards = 16,
                                      .fail_open = false};
        for (auto& l : limiters_)
            l = std::make_unique<lim::keyed_limiter<clock>>(opts, now);
        const auto configure = [&](level w, const level_limits& l, std::string_view id) {
            if (l.rpm.enabled())
                (void)of(w, false).set_override(lim::keyed_limiter<clock>::key_of(id),
                                                bucket(l.rpm, faultline::error::rpm_exceeded), now);
            if (l.tpm.enabled())
                (void)of(w, true).set_override(lim::keyed_limiter<clock>::key_of(id),
                                               bucket(l.tpm, faultline::error::tpm_exceeded), now);
        };
        for (const auto& k : c.keys)
            configure(level::key, k.limits, k.id);
        for (const auto& u : c.users)
            configure(level::user, u.limits, u.id);
        for (const auto& ch : c.channels)
            configure(level::channel, ch.limits, ch.name);
    }

    admission acquire(const limit_scope& scope, std::uint64_t tokens, time_point now) override {
        const auto slot = [&](level w, const level_limits* l, bool tok, std::string_view id) {
            if (!l || !(tok ? l->tpm : l->rpm).enabled()) return optional_level{};
            return optional_level{&of(w, tok), lim::keyed_limiter<clock>::key_of(id),
                                  tok ? tokens : 1};
        };
        const level_limits* kl = scope.key ? &scope.key->limits : nullptr;
        const level_limits* ul = scope.user ? &scope.user->limits : nullptr;
        const level_limits* cl = scope.channel ? &scope.channel->limits : nullptr;
        // Views of the configured names (a `cond ? std::string : ""` would be a temporary).
        const std::string_view kid =
            scope.key ? std::string_view(scope.key->id) : std::string_view();
        const std::string_view uid =
            scope.user ? std::string_view(scope.user->id) : std::string_view();
        const std::string_view cid =
            scope.channel ? std::string_view(scope.channel->name) : std::string_view();
        const auto d = lim::acquire_all(
            now, slot(level::key, kl, false, kid), slot(level::key, kl, true, kid),
            slot(level::user, ul, false, uid), slot(level::user, ul, true, uid),
            slot(level::channel, cl, false, cid), slot(level::channel, cl, true, cid));
        admission a;
        a.admitted = d.admitted;
        if (!d.admitted) {
            constexpr level by_index[] = {level::key,  level::key,     level::user,
                                          level::user, level::channel, level::channel};
            a.refused_level = by_index[d.refused];
            a.refusal = d.refusal();
            a.refusal.retry_after = d.retry_after;
        }
        // A refusal rolled back the levels before it: report the key's buckets as they are now.
        const auto key_view = [&](bool tok, std::size_t i) {
            if (d.admitted || i >= d.refused) return d.levels[i];
            return of(level::key, tok).peek(lim::keyed_limiter<clock>::key_of(kid), 0, now);
        };
        if (kl && kl->rpm.enabled()) a.key_requests = key_view(false, 0);
        if (kl && kl->tpm.enabled()) a.key_tokens = key_view(true, 1);
        return a;
    }

    void refund(const limit_scope& scope, std::uint64_t requests, std::uint64_t tokens,
                time_point now) override {
        for (const level_spec& s : levels_of(scope)) {
            const std::uint64_t n = s.tokens ? tokens : requests;
            if (n) of(s.which, s.tokens).release(lim::keyed_limiter<clock>::key_of(s.id), n, now);
        }
    }

    std::string describe() const override { return "memory"; }

private:
    lim::keyed_limiter<clock>& of(level w, bool tokens) {
        return *limiters_[static_cast<std::size_t>(w) * 2 + tokens];
    }

    std::unique_ptr<lim::keyed_limiter<clock>> limiters_[6];
};

#ifdef FAULTLINE_EXAMPLES_REDIS

class redis_limiter final : public rate_limiter {
public:
    redis_limiter(std::string host, std::uint16_t port, std::string prefix,
                  std::chrono::milliseconds timeout, std::size_t connections)
        : where_("redis " + host + ":" + std::to_string(port))
        , redis_({.host = std::move(host),
                  .port = port,
                  .connect_timeout = timeout,
                  .command_timeout = timeout,
                  .reconnect_interval = std::chrono::milliseconds(1000),
                  .prefix = std::move(prefix),
                  .on_failure = lim::redis_failure::local,
                  .connections = connections}) {}

    admission acquire(const limit_scope& scope, std::uint64_t tokens, time_point now) override {
        const std::vector<level_spec> specs = levels_of(scope);
        std::vector<std::string> names;
        std::vector<lim::redis_request> requests;
        names.reserve(specs.size());
        requests.reserve(specs.size());
        for (const level_spec& s : specs) {
            const std::string kind = s.tokens ? "tpm" : "rpm";
            names.push_back(s.which == level::key    ? lim::token_key(s.id, kind)
                            : s.which == level::user ? lim::user_key(s.id, kind)
                                                     : lim::upstream_key(s.id, kind));
        }
        for (std::size_t i = 0; i < specs.size(); ++i)
            requests.push_back(
                {names[i],
                 bucket(*specs[i].limit, specs[i].tokens ? faultline::error::tpm_exceeded
                                                         : faultline::error::rpm_exceeded),
                 specs[i].tokens ? tokens : 1});
        admission a;
        if (requests.empty()) {
            a.admitted = true;
            a.by = "redis";
            return a;
        }
        const lim::redis_composite_decision d = redis_.try_acquire_all(requests, now);
        a.admitted = d.admitted;
        // In the order of `decided_by`.
        constexpr std::string_view by_name[] = {"redis", "fail_open", "fail_closed", "local",
                                                "invalid_config"};
        a.by = by_name[static_cast<std::size_t>(d.by)];
        if (!d.admitted) {
            const std::size_t i = d.refused < specs.size() ? d.refused : 0;
            a.refused_level = specs[i].which;
            a.refusal = d.levels.empty() ? lim::decision{} : d.refusal();
            if (!a.refusal.ec)
                a.refusal.ec = d.failure ? d.failure : faultline::error::limiter_unavailable;
            a.refusal.retry_after = d.retry_after;
        }
        for (std::size_t i = 0; i < specs.size() && i < d.levels.size(); ++i)
            if (specs[i].which == level::key)
                (specs[i].tokens ? a.key_tokens : a.key_requests) = d.levels[i];
        return a;
    }

    // Redis buckets have no give-back: the estimate stays charged (conservative).
    void refund(const limit_scope&, std::uint64_t, std::uint64_t, time_point) override {}

    std::string describe() const override { return where_; }

    std::size_t blocking_calls() const noexcept override { return redis_.options().connections; }

private:
    std::string where_;
    lim::redis_limiter redis_;
};

#endif

} // namespace

std::unique_ptr<rate_limiter> make_memory_limiter(const gateway_config& config,
                                                  rate_limiter::time_point now) {
    return std::make_unique<memory_limiter>(config, now);
}

#ifdef FAULTLINE_EXAMPLES_REDIS
std::unique_ptr<rate_limiter> make_redis_limiter(const gateway_config& config, std::string host,
                                                 std::uint16_t port, std::string prefix,
                                                 std::chrono::milliseconds timeout) {
    return std::make_unique<redis_limiter>(std::move(host), port, std::move(prefix), timeout,
                                           std::max(1u, config.threads));
}
#endif

concurrency_limits::concurrency_limits(const gateway_config& config)
    : keys_(std::numeric_limits<std::uint64_t>::max())
    , users_(std::numeric_limits<std::uint64_t>::max()) {
    for (const auto& k : config.keys)
        if (k.limits.concurrency)
            keys_.set_override(lim::keyed_limiter<>::key_of(k.id), k.limits.concurrency);
    for (const auto& u : config.users)
        if (u.limits.concurrency)
            users_.set_override(lim::keyed_limiter<>::key_of(u.id), u.limits.concurrency);
}

concurrency_limits::permits concurrency_limits::acquire(const key_config& key,
                                                        const user_config* user) {
    permits p;
    if (key.limits.concurrency) {
        p.key = keys_.try_acquire(lim::keyed_limiter<>::key_of(key.id));
        if (!p.key) {
            p.refused = level::key;
            p.refusal = p.key.result();
            return p;
        }
    }
    if (user && user->limits.concurrency) {
        p.user = users_.try_acquire(lim::keyed_limiter<>::key_of(user->id));
        if (!p.user) {
            p.refused = level::user;
            p.refusal = p.user.result();
            p.key.release();
        }
    }
    return p;
}

spend_budgets::spend_budgets(const gateway_config& config)
    : keys_(config.keys.data())
    , committed_(std::make_unique<std::atomic<std::uint64_t>[]>(config.keys.size())) {}

std::optional<spend_budgets::reservation> spend_budgets::reserve(const key_config& key,
                                                                 std::uint64_t estimate) noexcept {
    if (!key.budget_tokens) return reservation{};
    std::atomic<std::uint64_t>& c = committed_[static_cast<std::size_t>(&key - keys_)];
    // One compare-and-swap decides: two requests can never both see the same headroom.
    std::uint64_t now = c.load(std::memory_order_relaxed);
    do {
        if (now >= *key.budget_tokens) return std::nullopt;
    } while (!c.compare_exchange_weak(now, now + estimate, std::memory_order_relaxed));
    return reservation{&c, estimate};
}

std::uint64_t spend_budgets::committed(const key_config& key) const noexcept {
    return committed_[static_cast<std::size_t>(&key - keys_)].load(std::memory_order_relaxed);
}

spend_budgets::reservation::reservation(reservation&& o) noexcept
    : committed_(std::exchange(o.committed_, nullptr))
    , tokens_(o.tokens_) {}

spend_budgets::reservation& spend_budgets::reservation::operator=(reservation&& o) noexcept {
    if (this != &o) {
        settle(0);
        committed_ = std::exchange(o.committed_, nullptr);
        tokens_ = o.tokens_;
    }
    return *this;
}

spend_budgets::reservation::~reservation() {
    settle(0);
}

void spend_budgets::reservation::settle(std::uint64_t used) noexcept {
    if (!committed_) return;
    if (used >= tokens_)
        committed_->fetch_add(used - tokens_, std::memory_order_relaxed);
    else
        committed_->fetch_sub(tokens_ - used, std::memory_order_relaxed);
    committed_ = nullptr;
}

} // namespace examples::gateway

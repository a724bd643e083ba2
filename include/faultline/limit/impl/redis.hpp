#ifndef FAULTLINE_LIMIT_IMPL_REDIS_HPP
#define FAULTLINE_LIMIT_IMPL_REDIS_HPP

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <limits>
#include <string>
#include <sys/time.h>
#include <utility>

#include <pthread.h>

namespace faultline::limit {

namespace detail_redis {

/// Every figure the script handles stays below 2^53 when tau does below 2^52: a backlog is at
/// most tau, a backlog plus a cost at most 2 * tau.
inline constexpr std::uint64_t max_tau = std::uint64_t{1} << 52;

// The decision script. KEYS: one per level. ARGV: five per level: c (units per token), u (units
// per ns), tau (burst * c), cost (n * c, or -1 when n > burst), empty (1: a new key starts
// empty). Replies {refused (0-based, #KEYS when admitted), backlog of level 1, ...}: the
// backlog in units before that level's request, which the client turns into a decision with
// the same arithmetic as the in-memory buckets. A value is "<TAT µs>:<remainder>:<u>", the
// remainder in 1/u ns below one µs.
inline constexpr std::string_view script = R"lua(
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local function divmod(a, d)
  local q = math.floor(a / d)
  local r = a - q * d
  if r < 0 then q = q - 1; r = r + d elseif r >= d then q = q + 1; r = r - d end
  return q, r
end
local stored = {}
local function load(k)
  local s = stored[k]
  if s ~= nil then return s end
  local v = redis.pcall('GET', k)
  if v == false then s = false
  elseif type(v) ~= 'string' or #v > 40 then return nil
  else
    local a, b, c = string.match(v, '^(%d+):(%d+):(%d+)$')
    if not a or #a > 16 or #b > 9 or #c > 3 then return nil end
    local us, rem, u = tonumber(a), tonumber(b), tonumber(c)
    if us >= 9007199254740992 or u < 1 or u > 256 or rem >= 1000 * u then return nil end
    s = {us, rem, u}
  end
  stored[k] = s
  return s
end
local function backlog(st, cu, tau, empty)
  if not st then
    if empty == 1 then return tau end
    return 0
  end
  local dt = st[1] - now
  if dt < 0 then return 0 end
  if dt > math.floor(tau / (1000 * cu)) + 1 then return tau end
  local r = st[2]
  if st[3] ~= cu then r = math.ceil(r * cu / st[3]) end
  local b = dt * 1000 * cu + r
  if b > tau then b = tau end
  return b
end
local out = {n}
local refused = n
local pending = {}
for i = 1, n do
  local k = KEYS[i]
  local j = (i - 1) * 5
  local cu, tau = tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3])
  local cost, empty = tonumber(ARGV[j + 4]), tonumber(ARGV[j + 5])
  local st
  if refused == n and pending[k] then st = pending[k] else st = load(k) end
  if st == nil then return redis.error_reply('FAULTLINE_FOREIGN ' .. k) end
  local b = backlog(st, cu, tau, empty)
  out[i + 1] = b
  if refused == n then
    if cost < 0 or b + cost > tau then
      refused = i - 1
    elseif cost > 0 then
      local q, r = divmod(b + cost, 1000 * cu)
      pending[k] = {now + q, r, cu, b + cost}
    end
  end
end
if refused == n then
  for k, p in pairs(pending) do
    local ms, r = divmod(p[4], p[3] * 1000000)
    if r > 0 then ms = ms + 1 end
    if ms < 1 then ms = 1 end
    redis.call('SET', k, string.format('%.0f:%.0f:%.0f', p[1], p[2], p[3]), 'PX',
               string.format('%.0f', ms))
  end
end
out[1] = refused
return out
)lua";

class category_impl : public std::error_category {
public:
    const char* name() const noexcept override { return "faultline.redis"; }
    std::string message(int v) const override {
        switch (static_cast<redis_error>(v)) {
        case redis_error::connect_failed:
            return "cannot connect to Redis";
        case redis_error::timed_out:
            return "Redis did not answer in time";
        case redis_error::connection_lost:
            return "the Redis connection failed";
        case redis_error::backing_off:
            return "Redis was unreachable; waiting to reconnect";
        case redis_error::foreign_data:
            return "a limiter key holds data faultline did not write";
        case redis_error::unexpected_reply:
            return "unexpected reply from Redis";
        case redis_error::config_out_of_range:
            return "bucket configuration invalid or out of the Redis limiter's range";
        }
        return "unknown faultline.redis error";
    }
    std::error_condition default_error_condition(int v) const noexcept override {
        switch (static_cast<redis_error>(v)) {
        case redis_error::timed_out:
            return faultline::category::timeout;
        case redis_error::config_out_of_range:
            return faultline::category::invalid_request;
        case redis_error::foreign_data:
        case redis_error::unexpected_reply:
            return faultline::category::server_error;
        default:
            return faultline::category::upstream_unavailable;
        }
    }
};

struct reply_deleter {
    void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

// hiredis writes with write(2): a peer that closed its socket raises SIGPIPE, whose default
// action ends the process. Blocking it in this thread for the duration of the I/O and
// consuming what it raised leaves the process' signal disposition untouched.
class sigpipe_guard {
public:
    sigpipe_guard() noexcept {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        sigset_t pending;
        sigemptyset(&pending);
        sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
        pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    }
    ~sigpipe_guard() {
        if (!was_pending_) {
            sigset_t pending;
            sigemptyset(&pending);
            sigpending(&pending);
            if (sigismember(&pending, SIGPIPE) == 1) {
                const timespec zero{0, 0};
                while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR) {
                }
            }
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    sigpipe_guard(const sigpipe_guard&) = delete;
    sigpipe_guard& operator=(const sigpipe_guard&) = delete;

private:
    sigset_t pipe_;
    sigset_t old_;
    bool was_pending_ = false;
};

[[nodiscard]] inline timeval to_timeval(std::chrono::microseconds d) noexcept {
    const auto us = std::max<std::int64_t>(d.count(), 1);
    return timeval{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
}

/// One call's share of `command_timeout`: every command after the first gets only what is
/// left, so a call (connect aside) never blocks longer than one timeout, however many commands
/// it needs (SCRIPT LOAD, EVALSHA, a reload after NOSCRIPT). Restores the full socket timeout
/// when it shortened it.
class call_budget {
public:
    call_budget(redisContext*& ctx, std::chrono::milliseconds full) noexcept
        : ctx_(ctx)
        , full_(full)
        , deadline_(std::chrono::steady_clock::now() + full) {}
    ~call_budget() {
        if (shortened_ && ctx_ != nullptr) redisSetTimeout(ctx_, to_timeval(full_));
    }
    call_budget(const call_budget&) = delete;
    call_budget& operator=(const call_budget&) = delete;

    /// A fresh connection: its full timeout is set and the budget starts now.
    void restart() noexcept {
        deadline_ = std::chrono::steady_clock::now() + full_;
        first_ = true;
        shortened_ = false;
    }
    /// Before a blocking command; false when the budget is spent.
    [[nodiscard]] bool arm() noexcept {
        if (first_) {
            first_ = false;
            return true;
        }
        const auto left = std::chrono::ceil<std::chrono::microseconds>(
            deadline_ - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        redisSetTimeout(ctx_, to_timeval(left));
        shortened_ = true;
        return true;
    }

private:
    redisContext*& ctx_;
    std::chrono::milliseconds full_;
    std::chrono::steady_clock::time_point deadline_;
    bool first_ = true;
    bool shortened_ = false;
};

/// The code for a failed command on `c` (hiredis sets `c->err`; errno says whether it was
/// the socket timeout).
[[nodiscard]] inline std::error_code io_error(const redisContext* c, int saved_errno) noexcept {
    if (c != nullptr && c->err == REDIS_ERR_IO &&
        (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT))
        return redis_error::timed_out;
    return redis_error::connection_lost;
}

[[nodiscard]] inline bool reply_starts(const redisReply* r, std::string_view prefix) noexcept {
    return r->type == REDIS_REPLY_ERROR && r->str != nullptr &&
           std::string_view(r->str, r->len).starts_with(prefix);
}

[[nodiscard]] inline bool reply_has(const redisReply* r, std::string_view text) noexcept {
    return r->type == REDIS_REPLY_ERROR && r->str != nullptr &&
           std::string_view(r->str, r->len).find(text) != std::string_view::npos;
}

/// A level's parameters in the script's terms.
struct level_params {
    detail::gcra_params p;
    std::int64_t cost; // -1: n > burst
    error refusal;
    bool empty;
};

[[nodiscard]] inline std::error_code params_for(const bucket_config& c, std::uint64_t n,
                                                level_params& out) noexcept {
    if (detail::params_of(c, out.p) || out.p.tau >= max_tau)
        return redis_error::config_out_of_range;
    out.cost = n > out.p.burst ? -1 : static_cast<std::int64_t>(n * out.p.c);
    out.refusal = c.refusal;
    out.empty = c.fill == initial_fill::empty;
    return {};
}

/// The arguments of one EVALSHA; owns the text the argv pointers refer to.
struct command {
    std::vector<std::string> text;
    std::vector<const char*> argv;
    std::vector<std::size_t> len;

    void build(const std::string& sha, const std::string& prefix,
               std::span<const redis_request> levels, std::span<const level_params> ps) {
        text.clear();
        text.reserve(3 + levels.size() * 6);
        text.emplace_back("EVALSHA");
        text.push_back(sha);
        text.push_back(std::to_string(levels.size()));
        for (const auto& l : levels) {
            std::string k;
            k.reserve(prefix.size() + l.key.size());
            k.append(prefix).append(l.key);
            text.push_back(std::move(k));
        }
        for (const auto& p : ps) {
            text.push_back(std::to_string(p.p.c));
            text.push_back(std::to_string(p.p.u));
            text.push_back(std::to_string(p.p.tau));
            text.push_back(std::to_string(p.cost));
            text.emplace_back(p.empty ? "1" : "0");
        }
        argv.clear();
        len.clear();
        for (const auto& s : text) {
            argv.push_back(s.data());
            len.push_back(s.size());
        }
    }
    void set_sha(const std::string& sha) {
        text[1] = sha;
        argv[1] = text[1].data();
        len[1] = text[1].size();
    }
};

[[nodiscard]] inline decision admitted_with(std::uint64_t backlog_after,
                                            const detail::gcra_params& p) noexcept {
    decision d;
    d.admitted = true;
    detail::gcra_describe(d, backlog_after, p);
    return d;
}

/// What level `lp` answers for backlog `b` as a peek (consuming nothing).
[[nodiscard]] inline decision peek_of(std::uint64_t b, std::uint64_t n,
                                      const level_params& lp) noexcept {
    if (lp.cost < 0) return detail::gcra_oversize(b, lp.p);
    const auto cost = static_cast<std::uint64_t>(lp.cost);
    if (b + cost > lp.p.tau) return detail::gcra_refusal(b, n, lp.p, lp.refusal);
    return admitted_with(b + cost, lp.p);
}

/// Turns the script's reply into the composite verdict; an error for a reply it cannot be.
[[nodiscard]] inline std::error_code decode(const redisReply* r,
                                            std::span<const redis_request> levels,
                                            std::span<const level_params> ps,
                                            redis_composite_decision& out) {
    const std::size_t n = levels.size();
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n + 1) return redis_error::unexpected_reply;
    for (std::size_t i = 0; i <= n; ++i)
        if (r->element[i]->type != REDIS_REPLY_INTEGER || r->element[i]->integer < 0)
            return redis_error::unexpected_reply;
    const auto refused = static_cast<std::size_t>(r->element[0]->integer);
    if (refused > n) return redis_error::unexpected_reply;
    out.levels.assign(n, decision{});
    for (std::size_t i = 0; i < n; ++i) {
        const auto b = static_cast<std::uint64_t>(r->element[i + 1]->integer);
        if (b > ps[i].p.tau) return redis_error::unexpected_reply;
        const std::uint64_t cost = ps[i].cost < 0 ? 0 : static_cast<std::uint64_t>(ps[i].cost);
        if (i < refused) {
            out.levels[i] = admitted_with(b + cost, ps[i].p);
        } else if (i == refused) {
            out.levels[i] = ps[i].cost < 0
                                ? detail::gcra_oversize(b, ps[i].p)
                                : detail::gcra_refusal(b, levels[i].n, ps[i].p, ps[i].refusal);
            out.retry_after = out.levels[i].retry_after;
        } else {
            out.levels[i] = peek_of(b, levels[i].n, ps[i]);
            if (!out.levels[i].admitted)
                out.retry_after = std::max(out.retry_after, out.levels[i].retry_after);
        }
    }
    out.admitted = refused == n;
    out.refused = refused;
    out.by = decided_by::redis;
    out.failure.clear();
    return {};
}

[[nodiscard]] inline std::string make_key(std::string_view kind, std::string_view id,
                                          std::string_view limit) {
    std::string k;
    k.reserve(kind.size() + id.size() + limit.size() + 2);
    k.append(kind).append(":").append(id);
    if (!limit.empty()) k.append(":").append(limit);
    return k;
}

template <class Clock>
[[nodiscard]] std::int64_t ns_of(typename Clock::time_point t) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

} // namespace detail_redis

inline const std::error_category& redis_error_category() noexcept {
    static const detail_redis::category_impl c;
    return c;
}

inline std::error_code make_error_code(redis_error e) noexcept {
    return {static_cast<int>(e), redis_error_category()};
}

inline std::string token_key(std::string_view token_id, std::string_view limit) {
    return detail_redis::make_key("token", token_id, limit);
}
inline std::string user_key(std::string_view user_id, std::string_view limit) {
    return detail_redis::make_key("user", user_id, limit);
}
inline std::string upstream_key(std::string_view upstream, std::string_view limit) {
    return detail_redis::make_key("upstream", upstream, limit);
}

inline std::error_code validate(const redis_options& o) noexcept {
    if (o.host.empty() || o.port == 0 || o.connect_timeout.count() <= 0 ||
        o.command_timeout.count() <= 0 || o.reconnect_interval.count() < 0 || o.connections == 0 ||
        o.connections > 1024 || o.local_max_keys == 0 || o.local_max_keys > (std::size_t{1} << 56))
        return std::make_error_code(std::errc::invalid_argument);
    return {};
}

inline std::error_code validate_for_redis(const bucket_config& c) noexcept {
    detail_redis::level_params lp;
    return detail_redis::params_for(c, 1, lp);
}

// --- basic_redis_limiter --------------------------------------------------------------------

template <class Clock>
basic_redis_limiter<Clock>::basic_redis_limiter(redis_options options, time_point now)
    : options_(std::move(options)) {
    if (auto ec = validate(options_))
        throw std::system_error(ec, "faultline::limit::basic_redis_limiter");
    pool_ = std::make_unique<connection[]>(options_.connections);
    retry_at_ns_.store(std::numeric_limits<std::int64_t>::min());
    connection& c = pool_[0];
    const std::lock_guard lock(c.m);
    detail_redis::call_budget budget(c.ctx, options_.command_timeout);
    (void)ensure(c, now, budget);
}

template <class Clock>
basic_redis_limiter<Clock>::~basic_redis_limiter() {
    for (std::size_t i = 0; i < options_.connections; ++i)
        if (pool_[i].ctx != nullptr) redisFree(pool_[i].ctx);
}

template <class Clock>
typename basic_redis_limiter<Clock>::connection& basic_redis_limiter<Clock>::pick() noexcept {
    if (options_.connections == 1) return pool_[0];
    return pool_[next_.fetch_add(1, std::memory_order_relaxed) % options_.connections];
}

// Called with c.m held.
template <class Clock>
void basic_redis_limiter<Clock>::fail(connection& c, time_point now) noexcept {
    if (c.ctx != nullptr) {
        redisFree(c.ctx);
        c.ctx = nullptr;
    }
    const auto interval =
        std::chrono::duration_cast<std::chrono::nanoseconds>(options_.reconnect_interval).count();
    retry_at_ns_.store(detail_redis::ns_of<Clock>(now) + interval, std::memory_order_release);
    up_.store(false, std::memory_order_release);
}

// Called with c.m held.
template <class Clock>
std::error_code basic_redis_limiter<Clock>::load_script(connection& c,
                                                        detail_redis::call_budget& budget) {
    if (!budget.arm()) return redis_error::timed_out;
    const char* argv[] = {"SCRIPT", "LOAD", detail_redis::script.data()};
    const std::size_t len[] = {6, 4, detail_redis::script.size()};
    errno = 0;
    detail_redis::reply_ptr r(static_cast<redisReply*>(redisCommandArgv(c.ctx, 3, argv, len)));
    if (!r) return detail_redis::io_error(c.ctx, errno);
    if (r->type != REDIS_REPLY_STRING) return redis_error::unexpected_reply;
    c.sha.assign(r->str, r->len);
    return {};
}

// Called with c.m held. Empty when `c` is connected with the script loaded.
template <class Clock>
std::error_code basic_redis_limiter<Clock>::ensure(connection& c, time_point now,
                                                   detail_redis::call_budget& budget) {
    if (detail_redis::ns_of<Clock>(now) < retry_at_ns_.load(std::memory_order_acquire))
        return redis_error::backing_off;
    if (c.ctx != nullptr) return {};
    attempts_.fetch_add(1, std::memory_order_relaxed);
    redisContext* ctx = redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                                detail_redis::to_timeval(options_.connect_timeout));
    if (ctx == nullptr || ctx->err != 0 ||
        redisSetTimeout(ctx, detail_redis::to_timeval(options_.command_timeout)) != REDIS_OK) {
        if (ctx != nullptr) redisFree(ctx);
        fail(c, now);
        return redis_error::connect_failed;
    }
    c.ctx = ctx;
    budget.restart();
    if (auto ec = load_script(c, budget)) {
        fail(c, now);
        return ec;
    }
    up_.store(true, std::memory_order_release);
    return {};
}

template <class Clock>
keyed_limiter<Clock>& basic_redis_limiter<Clock>::local_for(const bucket_config& c,
                                                            time_point now) {
    const config_key k{c.refill.tokens, c.refill.period.count(), c.burst, static_cast<int>(c.fill),
                       static_cast<int>(c.refusal)};
    const std::lock_guard lock(local_m_);
    auto& slot = local_[k];
    if (!slot) {
        keyed_options o;
        o.defaults = c;
        o.max_keys = options_.local_max_keys;
        o.shards = 16;
        slot = std::make_unique<keyed_limiter<Clock>>(o, now);
    }
    return *slot;
}

template <class Clock>
redis_composite_decision basic_redis_limiter<Clock>::fallback(std::span<const redis_request> levels,
                                                              std::error_code why, time_point now) {
    redis_composite_decision out;
    out.failure = why;
    out.levels.assign(levels.size(), decision{});
    switch (options_.on_failure) {
    case redis_failure::fail_open:
        out.by = decided_by::fail_open;
        out.admitted = true;
        out.refused = levels.size();
        for (std::size_t i = 0; i < levels.size(); ++i) {
            decision& d = out.levels[i];
            d.admitted = true;
            d.limit = levels[i].config.burst;
            d.remaining = levels[i].n >= d.limit ? 0 : d.limit - levels[i].n;
        }
        return out;
    case redis_failure::fail_closed:
        out.by = decided_by::fail_closed;
        out.refused = 0;
        out.retry_after = options_.reconnect_interval;
        for (std::size_t i = 0; i < levels.size(); ++i) {
            decision& d = out.levels[i];
            d.limit = levels[i].config.burst;
            d.ec = error::limiter_unavailable;
            d.retry_after = options_.reconnect_interval;
        }
        return out;
    case redis_failure::local:
        break;
    }
    out.by = decided_by::local;
    std::vector<keyed_limiter<Clock>*> lims;
    std::vector<std::uint64_t> keys;
    for (const auto& l : levels) {
        lims.push_back(&local_for(l.config, now));
        keys.push_back(keyed_limiter<Clock>::key_of(l.key));
    }
    std::size_t i = 0;
    for (; i < levels.size(); ++i) {
        out.levels[i] = lims[i]->try_acquire(keys[i], levels[i].n, now);
        if (!out.levels[i].admitted) break;
    }
    out.refused = i;
    out.admitted = i == levels.size();
    if (out.admitted) return out;
    out.retry_after = out.levels[i].retry_after;
    for (std::size_t j = 0; j < i; ++j)
        lims[j]->release(keys[j], levels[j].n, now);
    for (std::size_t j = i + 1; j < levels.size(); ++j) {
        out.levels[j] = lims[j]->peek(keys[j], levels[j].n, now);
        if (!out.levels[j].admitted)
            out.retry_after = std::max(out.retry_after, out.levels[j].retry_after);
    }
    return out;
}

template <class Clock>
redis_composite_decision
basic_redis_limiter<Clock>::try_acquire_all(std::span<const redis_request> levels, time_point now) {
    std::vector<detail_redis::level_params> ps(levels.size());
    for (std::size_t i = 0; i < levels.size(); ++i) {
        if (auto ec = detail_redis::params_for(levels[i].config, levels[i].n, ps[i])) {
            redis_composite_decision out;
            out.by = decided_by::invalid_config;
            out.failure = ec;
            out.refused = i;
            out.retry_after = std::chrono::nanoseconds::max();
            out.levels.assign(levels.size(), decision{});
            out.levels[i].ec = ec;
            out.levels[i].retry_after = std::chrono::nanoseconds::max();
            return out;
        }
    }
    if (levels.empty()) {
        redis_composite_decision out;
        out.admitted = true;
        return out;
    }
    std::error_code why;
    {
        connection& c = pick();
        const std::lock_guard lock(c.m);
        const detail_redis::sigpipe_guard guard;
        detail_redis::call_budget budget(c.ctx, options_.command_timeout);
        why = ensure(c, now, budget);
        if (!why) {
            detail_redis::command cmd;
            cmd.build(c.sha, options_.prefix, levels, ps);
            bool reloaded = false, reconnected = false;
            for (;;) {
                if (!budget.arm()) {
                    why = redis_error::timed_out;
                    break;
                }
                errno = 0;
                detail_redis::reply_ptr r(static_cast<redisReply*>(redisCommandArgv(
                    c.ctx, static_cast<int>(cmd.argv.size()), cmd.argv.data(), cmd.len.data())));
                if (!r) {
                    why = detail_redis::io_error(c.ctx, errno);
                    if (why == make_error_code(redis_error::connection_lost) && !reconnected) {
                        // A connection the server closed (it restarted, or dropped idle
                        // clients): one fresh connection before giving up. A timeout is not
                        // retried: the server may be executing the script.
                        reconnected = true;
                        redisFree(c.ctx);
                        c.ctx = nullptr;
                        if ((why = ensure(c, now, budget))) break;
                        cmd.set_sha(c.sha);
                        continue;
                    }
                    fail(c, now);
                    break;
                }
                if (!reloaded && detail_redis::reply_starts(r.get(), "NOSCRIPT")) {
                    reloaded = true;
                    if ((why = load_script(c, budget))) {
                        if (why != make_error_code(redis_error::unexpected_reply)) fail(c, now);
                        break;
                    }
                    cmd.set_sha(c.sha);
                    continue;
                }
                up_.store(true, std::memory_order_release);
                if (detail_redis::reply_has(r.get(), "FAULTLINE_FOREIGN")) {
                    why = redis_error::foreign_data;
                    break;
                }
                redis_composite_decision out;
                why = detail_redis::decode(r.get(), levels, ps, out);
                if (!why) return out;
                break;
            }
        }
    }
    return fallback(levels, why, now);
}

template <class Clock>
redis_decision basic_redis_limiter<Clock>::try_acquire(std::string_view key,
                                                       const bucket_config& config, std::uint64_t n,
                                                       time_point now) {
    const redis_request level{key, config, n};
    redis_composite_decision all = try_acquire_all(std::span(&level, 1), now);
    redis_decision d;
    static_cast<decision&>(d) = all.levels[0];
    d.by = all.by;
    d.failure = all.failure;
    return d;
}

template <class Clock>
std::vector<redis_decision>
basic_redis_limiter<Clock>::try_acquire_batch(std::span<const redis_request> requests,
                                              time_point now) {
    const std::size_t count = requests.size();
    std::vector<redis_decision> out(count);
    std::vector<detail_redis::level_params> ps(count);
    std::vector<std::error_code> why(count); // per request; empty when decided
    std::vector<bool> done(count, false);
    auto set = [&](std::size_t i, const redis_composite_decision& all) {
        static_cast<decision&>(out[i]) = all.levels[0];
        out[i].by = all.by;
        out[i].failure = all.failure;
        done[i] = true;
    };
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < count; ++i) {
        if (auto ec = detail_redis::params_for(requests[i].config, requests[i].n, ps[i])) {
            out[i].by = decided_by::invalid_config;
            out[i].failure = ec;
            out[i].ec = ec;
            out[i].retry_after = std::chrono::nanoseconds::max();
            done[i] = true;
        } else {
            todo.push_back(i);
        }
    }
    {
        connection& c = pick();
        const std::lock_guard lock(c.m);
        const detail_redis::sigpipe_guard guard;
        detail_redis::call_budget budget(c.ctx, options_.command_timeout);
        std::error_code down = ensure(c, now, budget);
        std::vector<detail_redis::command> cmds(count);
        for (int attempt = 0; !down && !todo.empty() && attempt < 2; ++attempt) {
            if (!budget.arm()) {
                down = redis_error::timed_out;
                break;
            }
            for (std::size_t i : todo) {
                cmds[i].build(c.sha, options_.prefix, requests.subspan(i, 1),
                              std::span(ps).subspan(i, 1));
                redisAppendCommandArgv(c.ctx, static_cast<int>(cmds[i].argv.size()),
                                       cmds[i].argv.data(), cmds[i].len.data());
            }
            std::vector<std::size_t> noscript;
            for (std::size_t i : todo) {
                void* raw = nullptr;
                errno = 0;
                if (down || redisGetReply(c.ctx, &raw) != REDIS_OK || raw == nullptr) {
                    if (!down) {
                        down = detail_redis::io_error(c.ctx, errno);
                        fail(c, now);
                    }
                    why[i] = down;
                    continue;
                }
                detail_redis::reply_ptr r(static_cast<redisReply*>(raw));
                up_.store(true, std::memory_order_release);
                if (attempt == 0 && detail_redis::reply_starts(r.get(), "NOSCRIPT")) {
                    noscript.push_back(i);
                    continue;
                }
                if (detail_redis::reply_has(r.get(), "FAULTLINE_FOREIGN")) {
                    why[i] = redis_error::foreign_data;
                    continue;
                }
                redis_composite_decision one;
                if (auto ec = detail_redis::decode(r.get(), requests.subspan(i, 1),
                                                   std::span(ps).subspan(i, 1), one))
                    why[i] = ec;
                else
                    set(i, one);
            }
            todo = std::move(noscript);
            if (!down && !todo.empty()) {
                if ((down = load_script(c, budget))) {
                    if (down != make_error_code(redis_error::unexpected_reply)) fail(c, now);
                }
            }
        }
        for (std::size_t i : todo)
            why[i] = down ? down : make_error_code(redis_error::unexpected_reply);
    }
    for (std::size_t i = 0; i < count; ++i) {
        if (done[i]) continue;
        set(i, fallback(requests.subspan(i, 1),
                        why[i] ? why[i] : make_error_code(redis_error::connection_lost), now));
    }
    return out;
}

} // namespace faultline::limit

#endif

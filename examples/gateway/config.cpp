#include "gateway/config.hpp"
#include "gateway/adaptive.hpp"

#include "common/http_client.hpp"

#include <faultline/envelope.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <fstream>
#include <set>
#include <sstream>

namespace examples::gateway {

namespace {

constexpr std::array<std::pair<failure_mode, std::string_view>, 9> mode_names{{
    {failure_mode::none, "none"},
    {failure_mode::status, "status"},
    {failure_mode::timeout, "timeout"},
    {failure_mode::dead, "dead"},
    {failure_mode::midstream_error, "midstream_error"},
    {failure_mode::upstream_cutoff, "upstream_cutoff"},
    {failure_mode::cutoff, "cutoff"},
    {failure_mode::huge_line, "huge_line"},
    {failure_mode::slow, "slow"},
}};

constexpr std::array<std::pair<adaptive_kind, std::string_view>, 3> adaptive_names{{
    {adaptive_kind::aimd, "aimd"},
    {adaptive_kind::vegas, "vegas"},
    {adaptive_kind::gradient2, "gradient2"},
}};

// The longest any time limit may be: a day.
constexpr std::int64_t max_millis = 86'400'000;

template <class T>
const T* find_by(const std::vector<T>& v, std::string_view name, std::string T::*member) {
    for (const T& x : v)
        if (x.*member == name) return &x;
    return nullptr;
}

level_limits limits(std::uint64_t rpm, std::uint64_t tpm, std::uint64_t concurrency = 0) {
    return {{rpm, 0}, {tpm, 0}, concurrency};
}

channel_config channel(std::string name, failure_mode mode) {
    channel_config c;
    c.name = std::move(name);
    c.mode = mode;
    return c;
}

} // namespace

std::string_view to_string(failure_mode m) noexcept {
    for (const auto& [mode, name] : mode_names)
        if (mode == m) return name;
    return "none";
}

bool from_string(std::string_view s, failure_mode& out) noexcept {
    for (const auto& [mode, name] : mode_names)
        if (name == s) {
            out = mode;
            return true;
        }
    return false;
}

std::string_view to_string(adaptive_kind k) noexcept {
    for (const auto& [kind, name] : adaptive_names)
        if (kind == k) return name;
    return "off";
}

bool from_string(std::string_view s, adaptive_kind& out) noexcept {
    for (const auto& [kind, name] : adaptive_names)
        if (name == s) {
            out = kind;
            return true;
        }
    return false;
}

const key_config* gateway_config::find_key(std::string_view secret) const noexcept {
    return find_by(keys, secret, &key_config::secret);
}
const user_config* gateway_config::find_user(std::string_view id) const noexcept {
    return find_by(users, id, &user_config::id);
}
const model_config* gateway_config::find_model(std::string_view id) const noexcept {
    return find_by(models, id, &model_config::id);
}
const channel_config* gateway_config::find_channel(std::string_view name) const noexcept {
    return find_by(channels, name, &channel_config::name);
}

gateway_config demo_config() {
    using std::chrono::milliseconds;
    gateway_config c;
    // Short enough that the demo shows heartbeats, timeouts and stream time limits in seconds.
    c.upstream_timeout = milliseconds(1500);
    c.streaming_timeout = milliseconds(3000);
    c.heartbeat = milliseconds(400);

    c.users = {
        {"alice", limits(600, 200'000, 16)},
        {"bob", limits(600, 200'000)},
        {"carol", limits(600, 200'000)},
        {"dave", limits(3, 200'000)}, // user-level: 3 requests/min over both of dave's keys
    };
    key_config k;
    k = {"sk-demo-alice", "alice-1", "alice", limits(300, 100'000, 8), {}};
    c.keys.push_back(k);
    k = {"sk-demo-limited", "bob-limited", "bob", limits(2, 100'000), {}}; // token-level RPM
    c.keys.push_back(k);
    k = {"sk-demo-dave-1", "dave-1", "dave", limits(60, 100'000), {}};
    c.keys.push_back(k);
    k = {"sk-demo-dave-2", "dave-2", "dave", limits(60, 100'000), {}};
    c.keys.push_back(k);
    k = {"sk-demo-tpm", "carol-tpm", "carol", limits(60, 1'000), {}}; // token-level TPM
    c.keys.push_back(k);
    k = {"sk-demo-solo", "alice-solo", "alice", limits(60, 100'000, 1), {}}; // one in flight
    c.keys.push_back(k);
    k = {"sk-demo-budget", "alice-budget", "alice", limits(60, 100'000), 10}; // spend cap
    c.keys.push_back(k);

    channel_config ch = channel("ok-a", failure_mode::none);
    c.channels.push_back(ch);
    c.channels.push_back(channel("ok-b", failure_mode::none));
    ch = channel("ok-limited", failure_mode::none);
    ch.limits = limits(1, 0); // the gateway's own limit towards this upstream
    c.channels.push_back(ch);
    c.channels.push_back(channel("dead-1", failure_mode::dead));
    c.channels.push_back(channel("dead-2", failure_mode::dead));

    ch = channel("err-500", failure_mode::status);
    ch.status = 500;
    ch.body =
        R"json({"error":{"message":"panic: index out of range [3] with length 3 at worker.go:88 (10.0.3.7:9000)","type":"server_error","param":null,"code":null}})json";
    c.channels.push_back(ch);
    ch = channel("err-502", failure_mode::status);
    ch.status = 502;
    ch.body = "<html><head><title>502 Bad "
              "Gateway</title></head><body><center>nginx</center></body></html>";
    ch.headers = {{"Content-Type", "text/html"}};
    c.channels.push_back(ch);
    ch = channel("err-529", failure_mode::status);
    ch.status = 529;
    ch.body =
        R"json({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})json";
    c.channels.push_back(ch);
    ch = channel("upstream-429", failure_mode::status);
    ch.status = 429;
    ch.headers = {{"Retry-After", "2"}};
    ch.body =
        R"json({"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}})json";
    c.channels.push_back(ch);
    ch = channel("flaky", failure_mode::status);
    ch.status = 503;
    ch.pattern = "FS"; // every other call fails
    ch.body =
        R"json({"error":{"message":"upstream connect error or disconnect/reset before headers","type":"server_error","param":null,"code":null}})json";
    c.channels.push_back(ch);
    c.channels.push_back(channel("slow-head", failure_mode::timeout));
    c.channels.push_back(channel("midstream", failure_mode::midstream_error));
    c.channels.push_back(channel("upstream-cut", failure_mode::upstream_cutoff));
    ch = channel("cut", failure_mode::cutoff);
    ch.pass_cuts = true;
    c.channels.push_back(ch);
    c.channels.push_back(channel("huge", failure_mode::huge_line));
    ch = channel("slow", failure_mode::slow);
    ch.chunks = 3;
    ch.chunk_interval = milliseconds(700); // > heartbeat: comments keep the stream alive
    c.channels.push_back(ch);
    ch = channel("long", failure_mode::slow);
    ch.chunks = 20;
    ch.chunk_interval = milliseconds(300); // 6 s > streaming_timeout
    c.channels.push_back(ch);

    const auto model = [&c](std::string id, std::vector<std::string> channels) {
        c.models.push_back({std::move(id), std::move(channels), 8192});
    };
    model("gpt-sim", {"ok-a"});
    model("sim-failover", {"dead-1", "ok-b"});
    model("sim-upstream-limited", {"ok-limited"});
    model("sim-dead", {"dead-2"});
    model("sim-500", {"err-500"});
    model("sim-502", {"err-502"});
    model("sim-529", {"err-529"});
    model("sim-429", {"upstream-429"});
    model("sim-flaky", {"flaky"});
    model("sim-timeout", {"slow-head"});
    model("sim-midstream-error", {"midstream"});
    model("sim-upstream-cutoff", {"upstream-cut"});
    model("sim-cutoff", {"cut"});
    model("sim-huge-line", {"huge"});
    model("sim-slow", {"slow"});
    model("sim-long", {"long"});
    return c;
}

std::string validate(const gateway_config& c) {
    if (c.threads == 0 || c.threads > 256) return "threads must be 1..256";
    if (c.upstream_timeout.count() <= 0 || c.streaming_timeout.count() <= 0 ||
        c.heartbeat.count() <= 0)
        return "upstream_timeout_ms, streaming_timeout_ms and heartbeat_ms must be positive";
    if (c.stream_memory_budget < 1024 || c.max_body == 0)
        return "stream_memory_budget must be at least 1024 and max_body positive";
    if (c.streams_memory_budget < c.stream_memory_budget)
        return "streams_memory_budget must be at least stream_memory_budget";
    if (c.bodies_memory_budget < c.max_body)
        return "bodies_memory_budget must be at least max_body";
    if (c.max_connections == 0 || c.max_connections > 1'000'000)
        return "max_connections must be 1..1000000";
    if (c.header_timeout.count() <= 0 || c.idle_timeout.count() <= 0 || c.body_timeout.count() <= 0)
        return "header_timeout_ms, idle_timeout_ms and body_timeout_ms must be positive";
    if (c.min_body_bytes_per_second > (std::uint64_t(1) << 30))
        return "min_body_bytes_per_second must be at most 1073741824";
    if (c.body_rate_grace.count() < 0) return "body_rate_grace_ms must not be negative";
    if (faultline::validate(c.breaker))
        return "breaker: the options fail faultline::validate(circuit_breaker_options)";
    if (c.shedding.enabled()) {
        const shedding_config& sh = c.shedding;
        if (sh.max_in_flight > 1'000'000) return "shedding.max_in_flight must be 0..1000000";
        if (sh.max_waiters > 1'000'000) return "shedding.max_waiters must be 0..1000000";
        if (!(sh.shed_start >= 0.0 && sh.shed_start <= 1.0))
            return "shedding.shed_start must be from 0 to 1";
        if (sh.max_wait.count() <= 0 || sh.max_wait.count() > max_millis)
            return "shedding.max_wait_ms must be 1..86400000 (a day)";
    }
    const auto check_rate = [](const rate_limit& r) {
        return r.per_minute <= 6'000'000'000'000ull && r.burst <= (std::uint64_t(1) << 40);
    };
    const auto check_level = [&](const level_limits& l) {
        return check_rate(l.rpm) && check_rate(l.tpm);
    };
    std::set<std::string_view> seen;
    for (const auto& u : c.users) {
        if (u.id.empty() || !seen.insert(u.id).second)
            return "user id empty or repeated: '" + u.id + "'";
        if (!check_level(u.limits)) return "user '" + u.id + "': limit out of range";
    }
    seen.clear();
    std::set<std::string_view> ids;
    for (const auto& k : c.keys) {
        if (k.secret.empty() || !seen.insert(k.secret).second)
            return "key secret empty or repeated (key id '" + k.id + "')";
        if (k.id.empty() || !ids.insert(k.id).second)
            return "key id empty or repeated: '" + k.id + "'";
        if (!k.user.empty() && !c.find_user(k.user))
            return "key '" + k.id + "' names an unknown user '" + k.user + "'";
        if (!check_level(k.limits)) return "key '" + k.id + "': limit out of range";
    }
    seen.clear();
    for (const auto& ch : c.channels) {
        if (ch.name.empty() || !seen.insert(ch.name).second)
            return "channel name empty or repeated: '" + ch.name + "'";
        if (ch.pattern.find_first_not_of("FS") != std::string::npos)
            return "channel '" + ch.name + "': pattern may hold only 'F' and 'S'";
        if (ch.mode == failure_mode::status && (ch.status < 400 || ch.status > 599))
            return "channel '" + ch.name + "': status must be 400..599";
        if (ch.chunks == 0 || ch.chunks > 100'000)
            return "channel '" + ch.name + "': chunks must be 1..100000";
        if (ch.line_bytes > (std::size_t(1) << 30))
            return "channel '" + ch.name + "': line_bytes above 1 GiB";
        if (!check_level(ch.limits)) return "channel '" + ch.name + "': limit out of range";
        if (!ch.url.empty() && !parse_base_url(ch.url))
            return "channel '" + ch.name +
                   "': url must be an http:// or https:// base URL "
                   "without query or fragment";
        if (ch.url.empty() &&
            !(ch.api_key_env.empty() && ch.ca_file.empty() && ch.upstream_model.empty()))
            return "channel '" + ch.name + "': api_key_env, ca_file and upstream_model need a url";
        if (!ch.ca_file.empty() && ch.url.rfind("https://", 0) != 0)
            return "channel '" + ch.name + "': ca_file needs an https url";
        if (ch.connect_timeout.count() <= 0)
            return "channel '" + ch.name + "': connect_timeout_ms must be positive";
        if (ch.max_idle_connections > 1024)
            return "channel '" + ch.name + "': max_idle_connections must be at most 1024";
        for (const auto& [t, what] : {std::pair{&ch.first_token_timeout, "first_token_timeout_ms"},
                                      std::pair{&ch.idle_timeout, "idle_timeout_ms"},
                                      std::pair{&ch.total_timeout, "total_timeout_ms"}})
            if (*t && (t->value().count() <= 0 || t->value().count() > max_millis))
                return "channel '" + ch.name + "': " + what +
                       " must be 1..86400000 (a day); leave it out for the gateway's own";
        if (ch.first_token_timeout && ch.total_timeout && ch.first_token_timeout > ch.total_timeout)
            return "channel '" + ch.name +
                   "': first_token_timeout_ms must not exceed total_timeout_ms";
        if (std::string why = check_adaptive(ch); !why.empty()) return why;
    }
    seen.clear();
    for (const auto& m : c.models) {
        if (m.id.empty() || !seen.insert(m.id).second)
            return "model id empty or repeated: '" + m.id + "'";
        if (m.channels.empty()) return "model '" + m.id + "' has no channels";
        if (m.channels.size() > 64)
            return "model '" + m.id + "' has more than 64 channels"; // the pipeline's targets
        for (const auto& name : m.channels)
            if (!c.find_channel(name))
                return "model '" + m.id + "' names an unknown channel '" + name + "'";
    }
    return {};
}

void route_channels(gateway_config& c, std::string_view base, std::string_view ca_file) {
    while (!base.empty() && base.back() == '/')
        base.remove_suffix(1);
    for (channel_config& ch : c.channels) {
        if (!ch.url.empty()) continue;
        ch.url = std::string(base) + "/" + ch.name + "/v1";
        if (ch.url.rfind("https://", 0) == 0) ch.ca_file = std::string(ca_file);
    }
}

// ---- JSON ---------------------------------------------------------------------------------

namespace {

namespace json = boost::json;

// Reads one JSON object member by member, remembering the path for error lines and refusing
// members it was not asked for.
class object_reader {
public:
    object_reader(const json::value& v, std::string path, std::string& why)
        : path_(std::move(path))
        , why_(why) {
        if (!v.is_object()) {
            fail("must be an object");
            return;
        }
        obj_ = &v.as_object();
    }

    [[nodiscard]] bool ok() const noexcept { return why_.empty(); }

    void uint(std::string_view name, std::uint64_t& out, std::uint64_t max) {
        if (const json::value* v = take(name)) {
            if (v->is_uint64() && v->as_uint64() <= max)
                out = v->as_uint64();
            else if (v->is_int64() && v->as_int64() >= 0 && std::uint64_t(v->as_int64()) <= max)
                out = static_cast<std::uint64_t>(v->as_int64());
            else
                fail_member(name, "must be a whole number from 0 to " + std::to_string(max));
        }
    }
    template <class Int>
    void number(std::string_view name, Int& out, std::uint64_t max) {
        std::uint64_t v = out;
        uint(name, v, max);
        out = static_cast<Int>(v);
    }
    void millis(std::string_view name, std::chrono::milliseconds& out) {
        std::uint64_t v = static_cast<std::uint64_t>(out.count());
        uint(name, v, max_millis);
        out = std::chrono::milliseconds(static_cast<std::int64_t>(v));
    }
    /// A time limit that is none when absent (`validate` refuses 0).
    void millis(std::string_view name, std::optional<std::chrono::milliseconds>& out) {
        std::uint64_t v = std::uint64_t(-1);
        uint(name, v, max_millis);
        if (v != std::uint64_t(-1)) out = std::chrono::milliseconds(static_cast<std::int64_t>(v));
    }
    /// A number from 0 to 1.
    void fraction(std::string_view name, double& out) {
        if (const json::value* v = take(name)) {
            const double d = v->is_double()   ? v->as_double()
                             : v->is_int64()  ? static_cast<double>(v->as_int64())
                             : v->is_uint64() ? static_cast<double>(v->as_uint64())
                                              : -1.0;
            if (d >= 0.0 && d <= 1.0)
                out = d;
            else
                fail_member(name, "must be a number from 0 to 1");
        }
    }
    void boolean(std::string_view name, bool& out) {
        if (const json::value* v = take(name)) {
            if (v->is_bool())
                out = v->as_bool();
            else
                fail_member(name, "must be true or false");
        }
    }
    void string(std::string_view name, std::string& out) {
        if (const json::value* v = take(name)) {
            if (v->is_string())
                out = std::string(v->as_string());
            else
                fail_member(name, "must be a string");
        }
    }
    /// An array member; `each(value, path)` for every element.
    template <class F>
    void array(std::string_view name, F each) {
        if (const json::value* v = take(name)) {
            if (!v->is_array()) return fail_member(name, "must be an array");
            std::size_t i = 0;
            for (const json::value& e : v->as_array()) {
                if (!ok()) return;
                each(e, path_ + "." + std::string(name) + "[" + std::to_string(i++) + "]");
            }
        }
    }
    /// An object member, read by `read(reader)`.
    template <class F>
    void object(std::string_view name, F read) {
        if (const json::value* v = take(name)) {
            object_reader r(*v, path_ + "." + std::string(name), why_);
            if (r.ok()) {
                read(r);
                r.finish();
            }
        }
    }
    /// Fails on any member not taken.
    void finish() {
        if (!ok() || !obj_) return;
        for (const auto& m : *obj_)
            if (!taken_.contains(m.key())) return fail_member(m.key(), "is not a known member");
    }
    /// A member as it is, taken; null when absent.
    [[nodiscard]] const json::value* raw(std::string_view name) { return take(name); }
    void fail(std::string_view what) {
        if (ok()) why_ = path_ + " " + std::string(what);
    }
    void fail_member(std::string_view name, std::string_view what) {
        if (ok()) why_ = path_ + "." + std::string(name) + " " + std::string(what);
    }

private:
    const json::value* take(std::string_view name) {
        if (!ok() || !obj_) return nullptr;
        taken_.insert(std::string(name));
        const auto it = obj_->find(name);
        return it == obj_->end() ? nullptr : &it->value();
    }

    const json::object* obj_ = nullptr;
    std::string path_;
    std::string& why_;
    std::set<std::string, std::less<>> taken_;
};

void read_limits(object_reader& r, level_limits& l) {
    constexpr std::uint64_t max_rate = 6'000'000'000'000ull; // 1e11 per second
    r.uint("rpm", l.rpm.per_minute, max_rate);
    r.uint("rpm_burst", l.rpm.burst, std::uint64_t(1) << 40);
    r.uint("tpm", l.tpm.per_minute, max_rate);
    r.uint("tpm_burst", l.tpm.burst, std::uint64_t(1) << 40);
    r.uint("concurrency", l.concurrency, 1'000'000);
}

void read_strings(const json::value& v, const std::string& path, std::vector<std::string>& out,
                  std::string& why) {
    if (!v.is_string()) {
        if (why.empty()) why = path + " must be a string";
        return;
    }
    out.emplace_back(v.as_string());
}

} // namespace

faultline::result<gateway_config> parse_config(std::string_view text, std::string& why) {
    why.clear();
    boost::system::error_code jec;
    json::parse_options po;
    po.max_depth = 16;
    const json::value root = json::parse(text, jec, {}, po);
    if (jec) {
        why = "config is not valid JSON: " + jec.message();
        return faultline::parse_error::malformed_json;
    }
    gateway_config c;
    object_reader r(root, "config", why);
    r.object("listen", [&](object_reader& l) {
        l.string("host", c.host);
        l.number("port", c.port, 65535);
    });
    r.number("threads", c.threads, 256);
    r.boolean("limits_enabled", c.limits_enabled);
    r.millis("upstream_timeout_ms", c.upstream_timeout);
    r.millis("streaming_timeout_ms", c.streaming_timeout);
    r.millis("heartbeat_ms", c.heartbeat);
    r.number("stream_memory_budget", c.stream_memory_budget, std::uint64_t(1) << 30);
    r.number("streams_memory_budget", c.streams_memory_budget, std::uint64_t(1) << 40);
    r.number("max_body", c.max_body, std::uint64_t(1) << 30);
    r.number("bodies_memory_budget", c.bodies_memory_budget, std::uint64_t(1) << 40);
    r.number("max_connections", c.max_connections, 1'000'000);
    r.millis("header_timeout_ms", c.header_timeout);
    r.millis("idle_timeout_ms", c.idle_timeout);
    r.millis("body_timeout_ms", c.body_timeout);
    r.uint("min_body_bytes_per_second", c.min_body_bytes_per_second, std::uint64_t(1) << 30);
    r.millis("body_rate_grace_ms", c.body_rate_grace);
    r.uint("default_max_tokens", c.default_max_tokens, 1'000'000);
    r.boolean("include_status", c.include_status);
    r.boolean("metrics", c.metrics);
    r.object("breaker", [&](object_reader& b) {
        b.number("failure_threshold", c.breaker.failure_threshold, 1'000'000);
        b.number("minimum_calls", c.breaker.minimum_calls, 1'000'000);
        std::chrono::milliseconds cool(
            std::chrono::duration_cast<std::chrono::milliseconds>(c.breaker.cool_down));
        b.millis("cool_down_ms", cool);
        c.breaker.cool_down = cool;
        // A server's Retry-After may stretch the cool-down to 5 minutes, or to a longer one.
        c.breaker.max_cool_down = std::max<std::chrono::nanoseconds>(std::chrono::minutes(5), cool);
    });
    r.object("shedding", [&](object_reader& sh) {
        sh.uint("max_in_flight", c.shedding.max_in_flight, 1'000'000);
        sh.number("max_waiters", c.shedding.max_waiters, 1'000'000);
        sh.fraction("shed_start", c.shedding.shed_start);
        sh.millis("max_wait_ms", c.shedding.max_wait);
        sh.boolean("header", c.shedding.header);
    });
    r.array("users", [&](const json::value& v, const std::string& path) {
        user_config u;
        object_reader o(v, path, why);
        o.string("id", u.id);
        read_limits(o, u.limits);
        o.finish();
        c.users.push_back(std::move(u));
    });
    r.array("keys", [&](const json::value& v, const std::string& path) {
        key_config k;
        object_reader o(v, path, why);
        o.string("key", k.secret);
        o.string("id", k.id);
        o.string("user", k.user);
        read_limits(o, k.limits);
        std::uint64_t budget = std::uint64_t(-1);
        o.uint("budget_tokens", budget, std::uint64_t(1) << 62);
        if (budget != std::uint64_t(-1)) k.budget_tokens = budget;
        std::string level;
        o.string("priority", level);
        if (o.ok() && !level.empty()) {
            // The canonical names only: a configuration says exactly what it means.
            const auto p = faultline::limit::parse_priority(level);
            if (!p || faultline::limit::to_string(p.value()) != level)
                o.fail_member("priority", "must be one of very_low, low, medium, high, critical");
            else
                k.priority = p.value();
        }
        o.finish();
        c.keys.push_back(std::move(k));
    });
    r.array("channels", [&](const json::value& v, const std::string& path) {
        channel_config ch;
        object_reader o(v, path, why);
        o.string("name", ch.name);
        std::string mode = "none";
        o.string("mode", mode);
        if (o.ok() && !from_string(mode, ch.mode))
            o.fail_member("mode", "must be one of none, status, timeout, dead, midstream_error, "
                                  "upstream_cutoff, cutoff, huge_line, slow");
        o.string("pattern", ch.pattern);
        o.number("status", ch.status, 999);
        o.string("body", ch.body);
        if (const json::value* h = o.raw("headers")) {
            // Headers keep their order and any name: read them directly.
            if (!h->is_object())
                o.fail_member("headers", "must be an object");
            else
                for (const auto& m : h->as_object()) {
                    if (!m.value().is_string()) {
                        o.fail_member("headers." + std::string(m.key()), "must be a string");
                        break;
                    }
                    ch.headers.emplace_back(m.key(), m.value().as_string());
                }
        }
        o.millis("latency_ms", ch.latency);
        o.number("chunks", ch.chunks, 100'000);
        o.millis("chunk_interval_ms", ch.chunk_interval);
        o.number("fail_after", ch.fail_after, 100'000);
        o.number("line_bytes", ch.line_bytes, std::uint64_t(1) << 30);
        read_limits(o, ch.limits);
        o.string("url", ch.url);
        o.string("api_key_env", ch.api_key_env);
        o.string("upstream_model", ch.upstream_model);
        o.string("ca_file", ch.ca_file);
        o.millis("connect_timeout_ms", ch.connect_timeout);
        o.number("max_idle_connections", ch.max_idle_connections, 1024);
        o.boolean("pass_cuts", ch.pass_cuts);
        o.millis("first_token_timeout_ms", ch.first_token_timeout);
        o.millis("idle_timeout_ms", ch.idle_timeout);
        o.millis("total_timeout_ms", ch.total_timeout);
        std::string adaptive = "off";
        o.string("adaptive_concurrency", adaptive);
        if (o.ok() && adaptive != "off" && !from_string(adaptive, ch.adaptive))
            o.fail_member("adaptive_concurrency", "must be one of aimd, vegas, gradient2, off");
        o.uint("min_concurrency", ch.min_concurrency, 1'000'000);
        o.uint("initial_concurrency", ch.initial_concurrency, 1'000'000);
        o.uint("max_concurrency", ch.max_concurrency, 1'000'000);
        o.millis("adaptive_window_ms", ch.adaptive_window);
        o.uint("adaptive_min_samples", ch.adaptive_min_samples, 1'000'000);
        o.millis("adaptive_probe_interval_ms", ch.adaptive_probe_interval);
        o.finish();
        c.channels.push_back(std::move(ch));
    });
    r.array("models", [&](const json::value& v, const std::string& path) {
        model_config m;
        object_reader o(v, path, why);
        o.string("id", m.id);
        o.array("channels", [&](const json::value& e, const std::string& p) {
            read_strings(e, p, m.channels, why);
        });
        o.uint("context_tokens", m.context_tokens, std::uint64_t(1) << 40);
        o.finish();
        c.models.push_back(std::move(m));
    });
    r.finish();
    if (why.empty()) why = validate(c);
    if (!why.empty()) return faultline::error::invalid_request;
    return c;
}

faultline::result<gateway_config> read_config_file(const std::string& path, std::string& why) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        why = "cannot open '" + path + "'";
        return faultline::error::invalid_request;
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto parsed = parse_config(text.str(), why);
    if (!parsed) why = path + ": " + why;
    return parsed;
}

} // namespace examples::gateway

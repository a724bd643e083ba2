#ifndef FAULTLINE_EXAMPLES_GATEWAY_CONFIG_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_CONFIG_HPP

// What the example gateway serves and how its simulated upstream channels fail: API keys and
// their users, limits at each level, models and the channels behind them. Built in
// (`demo_config()`) or read from JSON (`parse_config`); the README's "Gateway" section documents
// every member.

#include <faultline/limit/priority.hpp>
#include <faultline/result.hpp>
#include <faultline/retry/circuit_breaker.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace examples::gateway {

/// A per-minute limit: `per_minute` tokens (or requests) per minute, bursts up to `burst`
/// (0: a whole minute's worth). `per_minute == 0` means no limit at this level.
struct rate_limit {
    std::uint64_t per_minute = 0;
    std::uint64_t burst = 0;

    [[nodiscard]] bool enabled() const noexcept { return per_minute != 0; }
    [[nodiscard]] std::uint64_t capacity() const noexcept { return burst ? burst : per_minute; }
};

/// The limits of one level (a key, a user or a channel).
struct level_limits {
    rate_limit rpm;                ///< Requests per minute.
    rate_limit tpm;                ///< Tokens (prompt estimate + max_tokens) per minute.
    std::uint64_t concurrency = 0; ///< Requests in flight at once; 0: no limit.
};

/// A user: several keys share its limits.
struct user_config {
    std::string id;
    level_limits limits;
};

/// An API key.
struct key_config {
    std::string secret; ///< What clients send after "Bearer ".
    std::string id;     ///< A name for logs, headers and Redis keys; never the secret.
    std::string user;   ///< The user it belongs to; "" for none.
    level_limits limits;
    /// Tokens the key may spend in all; when used up, 429 `spend_limit_exceeded` (not
    /// retryable). None: no budget.
    std::optional<std::uint64_t> budget_tokens;
    /// Its requests' priority under priority shedding (`gateway_config::shedding`), and the
    /// highest an `x-priority` header on them may ask for.
    faultline::limit::priority priority = faultline::limit::priority::medium;
};

/// How a simulated upstream channel behaves on the calls its `pattern` marks as failing.
enum class failure_mode {
    none,            ///< Always answers well.
    status,          ///< Answers `status` with `body` and `headers` (a 429, a 5xx, ...).
    timeout,         ///< Never answers: the gateway's `upstream_timeout` ends the call.
    dead,            ///< The connection is refused.
    midstream_error, ///< Streams `fail_after` chunks, then an error chunk and `[DONE]`.
    upstream_cutoff, ///< Streams `fail_after` chunks, then closes without `[DONE]`.
    cutoff,          ///< As upstream_cutoff, and the gateway passes the cut on to its client
                     ///< (a gateway whose own stream timeout or proxy drops the stream).
    huge_line,       ///< Streams one event whose line is `line_bytes` long (a base64 image).
    slow,            ///< Streams with `chunk_interval` gaps (heartbeats, stream timeouts).
};

/// The mode's name ("midstream_error"), and back. Thread-safe.
[[nodiscard]] std::string_view to_string(failure_mode m) noexcept;
[[nodiscard]] bool from_string(std::string_view s, failure_mode& out) noexcept;

/// How a channel's in-flight limit adapts to the latency it observes
/// (`faultline::limit::adaptive_limiter` with one of its policies); `off`: no adaptive limit.
enum class adaptive_kind { off, aimd, vegas, gradient2 };

/// The kind's name ("gradient2"), and back ("off" is no kind a configuration names). Thread-safe.
[[nodiscard]] std::string_view to_string(adaptive_kind k) noexcept;
[[nodiscard]] bool from_string(std::string_view s, adaptive_kind& out) noexcept;

/// One upstream channel (simulated, or at a URL).
struct channel_config {
    std::string name;
    failure_mode mode = failure_mode::none;
    /// Which calls fail, cycling by call number: 'F' fails, 'S' succeeds ("FFS": two of every
    /// three fail). Empty: every call fails (when `mode` is not `none`).
    std::string pattern;
    unsigned status = 500; ///< For `failure_mode::status`.
    std::string body;      ///< Upstream error body ("": OpenAI shape).
    std::vector<std::pair<std::string, std::string>> headers; ///< e.g. Retry-After.
    std::chrono::milliseconds latency{0};          ///< Until the head arrives, every call.
    unsigned chunks = 8;                           ///< Content chunks of a reply.
    std::chrono::milliseconds chunk_interval{0};   ///< Between stream chunks.
    unsigned fail_after = 3;                       ///< Chunks before a mid-stream failure.
    std::size_t line_bytes = std::size_t(6) << 20; ///< For `huge_line`.
    level_limits limits;                           ///< The gateway's limits towards it.

    /// The channel's OpenAI-compatible base URL (`http://` or `https://`, with its `/v1`; the
    /// gateway appends `/chat/completions`). "": the channel is simulated in the gateway's own
    /// process by the fields above; with a URL those describe nothing the gateway does (the
    /// upstream, e.g. `faultline-upstream-sim`, decides how it answers).
    std::string url;
    /// The environment variable holding the channel's API key, sent as `Authorization: Bearer`.
    /// "": no key. The key itself is never in the configuration, a log line or an error.
    std::string api_key_env;
    /// The model name the upstream knows ("": the gateway's model id).
    std::string upstream_model;
    /// A PEM file of extra certificate authorities for an https URL (a self-signed local
    /// upstream), trusted beside the system store. Certificates are always verified.
    std::string ca_file;
    std::chrono::milliseconds connect_timeout{2000}; ///< TCP connect and TLS handshake.
    /// Idle keep-alive connections the gateway keeps to this channel; more are closed.
    std::size_t max_idle_connections = 16;
    /// When the upstream cuts a stream (no `[DONE]`), cut the client's stream too instead of
    /// ending it with an error chunk: a proxy that does not read SSE, as some gateways are.
    /// Simulated `cutoff` channels behave so.
    bool pass_cuts = false;

    /// Time limits of a call to this channel; none: the gateway's (`upstream_timeout` for the
    /// first two, `streaming_timeout` for a stream's whole time). A first token missed is a
    /// retryable `upstream_timeout` that fails over to the next channel; the others end a
    /// stream already relaying with an error chunk (README, "Per-channel time limits").
    /// From sending the request to the response head, and for a stream to its first content
    /// event (the gateway holds its own head until then).
    std::optional<std::chrono::milliseconds> first_token_timeout;
    /// Longest quiet between upstream bytes once the head came.
    std::optional<std::chrono::milliseconds> idle_timeout;
    /// From sending the request to the end of the answer (stream included).
    std::optional<std::chrono::milliseconds> total_timeout;

    /// An adaptive in-flight limit towards this channel: a call it refuses skips the channel.
    adaptive_kind adaptive = adaptive_kind::off;
    /// Its bounds and start; 0: the policy's default (clamped into [min, max]).
    std::uint64_t min_concurrency = 0;
    std::uint64_t initial_concurrency = 0;
    std::uint64_t max_concurrency = 0;
    /// How long the limiter gathers completions before the policy moves the limit, and how
    /// many it needs at least (`faultline::limit::adaptive_options`).
    std::chrono::milliseconds adaptive_window{1000};
    std::uint64_t adaptive_min_samples = 10;
    /// Re-measures vegas's and gradient2's latency baseline at a low limit this often
    /// (`faultline::limit::probe_options`, Envoy's other defaults); 0: never.
    std::chrono::milliseconds adaptive_probe_interval{0};
};

/// A model and the channels that serve it, in failover order.
struct model_config {
    std::string id;
    std::vector<std::string> channels;
    std::uint64_t context_tokens = 8192; ///< Prompt estimate + max_tokens above this: 400.
};

/// Priority shedding in front of the upstreams (`faultline::limit::prioritized_limiter` over a
/// `concurrency_limiter`): at most `max_in_flight` chat requests are served at once, all models
/// together; more wait in a bounded queue, and as it fills, lower priorities are refused first
/// (503 `overloaded`, with `Retry-After`). A request's priority is its key's, or lower when its
/// `x-priority` header asks for lower (README, "Priority shedding").
struct shedding_config {
    /// Requests served at once; 0: no shedding (the other members are then ignored).
    std::uint64_t max_in_flight = 0;
    std::size_t max_waiters = 60;  ///< Requests waiting at once, all priorities together.
    double shed_start = 2.0 / 3.0; ///< Share of `max_waiters` where `very_low` is refused.
    std::chrono::milliseconds max_wait{1000}; ///< Longest a request waits before a 503.
    /// Whether `x-priority` is read (an unknown value is a 400; a value above the key's
    /// priority is lowered to it). False: the key's priority alone.
    bool header = true;

    [[nodiscard]] bool enabled() const noexcept { return max_in_flight != 0; }
};

/// Everything the gateway is configured with. A plain value.
struct gateway_config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080; ///< 0: an ephemeral port, printed at start.
    unsigned threads = 1;      ///< Threads running the io_context.
    bool limits_enabled = true;
    std::chrono::milliseconds upstream_timeout{2000};     ///< Upstream head or next chunk.
    std::chrono::milliseconds streaming_timeout{300'000}; ///< A whole stream (STREAMING_TIMEOUT).
    std::chrono::milliseconds heartbeat{15'000};          ///< Comment after this much quiet.
    /// Memory one relayed stream may hold in buffers (its scanner and its output), in bytes.
    /// Lines of any length pass in pieces within it; only an event type or id line longer
    /// than a quarter of it is refused (`sse_line_too_long`).
    std::size_t stream_memory_budget = std::size_t(1) << 20;
    /// Memory all relayed streams together may hold, in bytes; a stream that would take the
    /// total over it ends with `overloaded` (retryable).
    std::size_t streams_memory_budget = std::size_t(256) << 20;
    std::size_t max_body = std::size_t(1) << 20; ///< Request bodies above: 413.
    /// Memory the request bodies of all connections together may hold, in bytes, each until its
    /// request is answered. A body with a Content-Length is charged that much once its header
    /// is read, and refused before any of it is read if it does not fit; a chunked body is
    /// charged with the bytes received so far, and refused when the next piece does not fit.
    /// Refused: 503 (`overloaded`, `Retry-After: 1`) and the connection closed.
    std::size_t bodies_memory_budget = std::size_t(128) << 20;
    /// Connections open at once. A connection beyond it is answered 503 (`overloaded`,
    /// `Retry-After: 1`) and closed; past 64 such answers in progress, closed at once.
    std::size_t max_connections = 512;
    /// From a connection's accept (or the first byte of a later request on it) to the end of
    /// the request's header; after it the connection is closed (408 if part of a header came).
    std::chrono::milliseconds header_timeout{10'000};
    /// A kept-alive connection waiting for its next request; then it is closed.
    std::chrono::milliseconds idle_timeout{120'000};
    /// From the end of a header to the end of its body; after it, 408 and the connection closed.
    std::chrono::milliseconds body_timeout{60'000};
    /// A body arriving slower than this on average since its header, once `body_rate_grace`
    /// has passed: 408 and the connection closed. 0: no minimum.
    std::uint64_t min_body_bytes_per_second = 1024;
    std::chrono::milliseconds body_rate_grace{5'000};
    std::uint64_t default_max_tokens = 256;
    /// Whether 5xx bodies repeat the status in `error.status`, as some gateways do.
    bool include_status = true;
    /// Whether `GET /metrics` serves the Prometheus metrics (without an API key); false: 404.
    bool metrics = true;
    faultline::circuit_breaker_options breaker{
        .failure_threshold = 3,
        .failure_rate_threshold = 0.5,
        .minimum_calls = 20,
        .window = std::chrono::seconds(60),
        .cool_down = std::chrono::seconds(30),
        .max_cool_down = std::chrono::minutes(5),
        .half_open_probes = 1,
        .open_on_retry_after = false,
    };
    shedding_config shedding;
    std::vector<user_config> users;
    std::vector<key_config> keys;
    std::vector<channel_config> channels;
    std::vector<model_config> models;

    /// Lookups by secret, id or name; null when absent. Thread-safe.
    [[nodiscard]] const key_config* find_key(std::string_view secret) const noexcept;
    [[nodiscard]] const user_config* find_user(std::string_view id) const noexcept;
    [[nodiscard]] const model_config* find_model(std::string_view id) const noexcept;
    [[nodiscard]] const channel_config* find_channel(std::string_view name) const noexcept;
};

/// The built-in configuration the demo and the tests use: one model per failure of the reference
/// documents (see the README's table). Thread-safe.
[[nodiscard]] gateway_config demo_config();

/// Sends every channel without a `url` to `base` + "/" + its name + "/v1" (a
/// `faultline-upstream-sim` serving the same channels), trusting `ca_file` ("": none) when
/// `base` is https. The channels keep their failure fields: the simulator reads them. Thread-safe.
void route_channels(gateway_config& c, std::string_view base, std::string_view ca_file = {});

/// Reads a configuration from JSON (members as in the README; unknown members are errors).
/// On failure returns `faultline::error::invalid_request` (or `parse_error::malformed_json`) and
/// puts one line saying where and why in `why`. Thread-safe.
[[nodiscard]] faultline::result<gateway_config> parse_config(std::string_view json,
                                                             std::string& why);

/// Reads a configuration from the JSON file at `path` (as `parse_config`). On failure puts one
/// line in `why`: "cannot open 'PATH'", or "PATH: " and `parse_config`'s reason. Thread-safe.
[[nodiscard]] faultline::result<gateway_config> read_config_file(const std::string& path,
                                                                 std::string& why);

/// Checks references (a key's user, a model's channels), duplicates and ranges; the first
/// problem as one line, or "" when the configuration is usable. Thread-safe.
[[nodiscard]] std::string validate(const gateway_config& c);

} // namespace examples::gateway

#endif

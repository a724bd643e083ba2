#ifndef FAULTLINE_EXAMPLES_GATEWAY_DISPATCH_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_DISPATCH_HPP

// The dispatch stage: which of a model's channels an admitted chat request calls next, and what
// its client is told when none served it. The model's failover pipeline moves the call: the
// pool's next healthy channel first, then the others in order. A channel that cannot take the
// call (its breaker open, at its adaptive or rate limit) is a retryable failure of its target,
// as an upstream's failure is; a failure that is not retryable (the upstream refused the request
// itself) ends the walk. Sans I/O, on the gateway's clock: server.cpp makes the calls and the
// rate-limit decisions (which may wait on the network) and says here how each ended. Tested
// alone, on a manual clock, in tests/examples/gateway_stages.cpp; over sockets in
// gateway_channels.cpp.

#include "gateway/config.hpp"
#include "gateway/limits.hpp"
#include "gateway/metrics.hpp"
#include "gateway/request.hpp"

#include <faultline/failure.hpp>
#include <faultline/limit/decision.hpp>
#include <faultline/pipeline.hpp>
#include <faultline/retry/channel_pool.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace examples::gateway {

using clock = std::chrono::steady_clock;

/// A model, its channels in failover order, and their circuit breakers (shared by every request
/// for the model).
struct model_state {
    const model_config* model;
    std::vector<const channel_config*> channels;
    std::unique_ptr<faultline::channel_pool<clock>> pool;
    /// One attempt per channel; a retryable failure moves the call to the next channel not yet
    /// tried, one that is not retryable ends it. Target k is the k-th channel from the one the
    /// pool picks for the call.
    faultline::pipeline_options failover;

    /// `channels` in failover order (not empty); throws `std::system_error` if `breaker` fails
    /// `faultline::validate`.
    model_state(const model_config& m, std::vector<const channel_config*> channels,
                const faultline::circuit_breaker_options& breaker);
};

/// The 429 for a refused admission: `prefix` (which level refused) before the limit's message,
/// the `x-ratelimit-*` headers of the key's own decisions, Retry-After and `x-should-retry`.
[[nodiscard]] reply limit_reply(const answers& say, const admission& refused,
                                std::string_view prefix);

/// One request's walk over its model's channels. `model` and `metrics` must outlive it. Not
/// thread-safe (one request's); the model's breakers it records on are.
class channel_walk {
public:
    using log_fn = std::function<void(std::string_view)>;

    /// Picks the first channel: the pool's next one whose breaker admits the call. The
    /// pipeline's fallbacks and give-ups are counted for /metrics (`route_events`).
    channel_walk(model_state& model, metrics_registry& metrics, clock::time_point now);

    /// The next channel to call, its breaker admitting the call (`breaker()`: record there how
    /// the call ended, or through `failed`), or null when the walk is over (then `answer`).
    /// Channels whose breaker is open are passed over.
    [[nodiscard]] const channel_config* next(clock::time_point now);
    /// The breaker of the channel `next` returned.
    [[nodiscard]] faultline::circuit_breaker<clock>& breaker() noexcept;

    /// The channel `next` returned is at its adaptive concurrency limit (`refusal`): passed
    /// over, its breaker unmoved.
    void at_adaptive_limit(const faultline::limit::decision& refusal, clock::time_point now);
    /// The channel `next` returned is at its own rate limit (`refused.refused_level` is
    /// `level::channel`): passed over, its breaker unmoved.
    void at_rate_limit(admission refused, clock::time_point now);
    /// The call on the channel `next` returned failed with `f`: its breaker records `f`, and the
    /// walk moves on unless `f` is not retryable.
    void failed(faultline::failure f, clock::time_point now);

    /// The channel whose failure moved the call to the current one; empty while none failed.
    [[nodiscard]] const std::string& failed_over_from() const noexcept { return last_channel_; }

    /// What the client is told when the walk is over and no channel answered, in this order:
    /// the last channel's failure (an upstream's 429 named as the upstream level's), the
    /// channels' rate limits (429), their adaptive limits (the gateway's own 503 `overloaded`),
    /// else `no_available_channel` (503, every circuit open, with the Retry-After of the first
    /// to close). `log` gets a line for the two 503s.
    [[nodiscard]] reply answer(const answers& say, std::string_view request_id, const log_fn& log,
                               clock::time_point now);

private:
    // A channel that could not take the call: a retryable failure of its target.
    void passed_over(std::string_view why, clock::time_point now);

    model_state* model_;
    faultline::result<std::size_t> first_;
    // No jitter is drawn (one attempt per channel): a fixed seed spares a random_device read.
    faultline::pipeline<route_events, clock> route_;
    faultline::step step_;
    std::size_t channel_ = 0; // index into model_->channels of the current channel
    std::optional<faultline::failure> last_;
    std::string last_channel_;
    std::optional<admission> channel_refusal_;
    std::optional<faultline::limit::decision> adaptive_refusal_;
};

} // namespace examples::gateway

#endif

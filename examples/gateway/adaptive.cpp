#include "gateway/adaptive.hpp"

#include <algorithm>
#include <stdexcept>
#include <type_traits>

namespace examples::gateway {

namespace lim = faultline::limit;

namespace {

// The policy's options with the channel's bounds: each bound it does not set keeps the policy's
// default, pulled into the bounds it does set.
template <class Options>
Options bounded(const channel_config& ch, Options o) {
    if (ch.max_concurrency) o.max_limit = ch.max_concurrency;
    o.min_limit = ch.min_concurrency ? ch.min_concurrency : std::min(o.min_limit, o.max_limit);
    o.initial_limit = ch.initial_concurrency ? ch.initial_concurrency
                                             : std::clamp(o.initial_limit, o.min_limit,
                                                          std::max(o.min_limit, o.max_limit));
    return o;
}

lim::adaptive_options window_of(const channel_config& ch) {
    lim::adaptive_options o;
    o.min_window = o.max_window = ch.adaptive_window;
    o.min_samples = ch.adaptive_min_samples;
    o.probe.interval = ch.adaptive_probe_interval;
    return o;
}

// Calls `f` with the policy `ch` names, made from its options, or with the reason it cannot be.
template <class F>
auto with_policy(const channel_config& ch, std::chrono::milliseconds call_limit, F f) {
    switch (ch.adaptive) {
    case adaptive_kind::vegas:
        return f(lim::vegas::make(bounded(ch, lim::vegas_options{})));
    case adaptive_kind::gradient2:
        return f(lim::gradient2::make(bounded(ch, lim::gradient2_options{})));
    case adaptive_kind::aimd:
    case adaptive_kind::off:
        break;
    }
    lim::aimd_options o = bounded(ch, lim::aimd_options{});
    // A call slower than its time limit is cut and dropped: only drops lower the limit.
    o.timeout = call_limit;
    return f(lim::aimd::make(o));
}

} // namespace

completion completion_of(std::optional<faultline::category> c) noexcept {
    if (!c) return completion::success;
    switch (*c) {
    case faultline::category::timeout:
    case faultline::category::server_error:
    case faultline::category::upstream_unavailable:
    case faultline::category::overloaded:
    case faultline::category::rate_limited:
        return completion::dropped;
    default:
        return completion::ignored;
    }
}

std::string check_adaptive(const channel_config& ch) {
    if (ch.adaptive == adaptive_kind::off) {
        if (ch.min_concurrency || ch.initial_concurrency || ch.max_concurrency ||
            ch.adaptive_probe_interval.count() != 0)
            return "channel '" + ch.name +
                   "': min_concurrency, initial_concurrency, max_concurrency and "
                   "adaptive_probe_interval_ms need adaptive_concurrency";
        return {};
    }
    if (ch.adaptive == adaptive_kind::aimd && ch.adaptive_probe_interval.count() != 0)
        return "channel '" + ch.name +
               "': adaptive_probe_interval_ms needs vegas or gradient2 (aimd has no latency "
               "baseline to re-measure)";
    std::error_code ec = lim::validate(window_of(ch));
    if (!ec)
        ec = with_policy(ch, std::chrono::milliseconds(1),
                         [](const auto& made) { return made ? std::error_code() : made.error(); });
    if (!ec) return {};
    return "channel '" + ch.name + "': adaptive_concurrency " +
           std::string(to_string(ch.adaptive)) + " refused (" + ec.message() +
           "; min/initial/max_limit are min_/initial_/max_concurrency, min_window is "
           "adaptive_window_ms, min_samples adaptive_min_samples)";
}

std::unique_ptr<channel_concurrency> channel_concurrency::make(const channel_config& ch,
                                                               std::chrono::milliseconds call_limit,
                                                               clock::time_point now) {
    if (ch.adaptive == adaptive_kind::off) return nullptr;
    if (std::string why = check_adaptive(ch); !why.empty()) throw std::invalid_argument(why);
    auto out = std::make_unique<channel_concurrency>();
    with_policy(ch, call_limit, [&](const auto& made) {
        using policy = typename std::decay_t<decltype(made)>::value_type;
        out->limiter_ = std::make_unique<limiter<policy>>(made.value(), window_of(ch), now);
        return 0;
    });
    return out;
}

channel_concurrency::slot channel_concurrency::try_acquire(clock::time_point now) noexcept {
    slot s;
    std::visit(
        [&](auto& l) {
            auto p = l->try_acquire(now);
            if (!p) {
                s.refusal_ = p.result();
                refused_.fetch_add(1, std::memory_order_relaxed);
            } else {
                s.permit_ = std::move(p);
            }
        },
        limiter_);
    return s;
}

std::uint64_t channel_concurrency::limit() const noexcept {
    return std::visit([](const auto& l) { return l->limit(); }, limiter_);
}

std::uint64_t channel_concurrency::in_flight() const noexcept {
    return std::visit([](const auto& l) { return l->in_flight(); }, limiter_);
}

channel_concurrency::slot::operator bool() const noexcept {
    return std::visit(
        [](const auto& p) {
            if constexpr (std::is_same_v<std::decay_t<decltype(p)>, std::monostate>)
                return false;
            else
                return static_cast<bool>(p);
        },
        permit_);
}

void channel_concurrency::slot::complete(completion c, clock::time_point now) noexcept {
    std::visit(
        [&](auto& p) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(p)>, std::monostate>) {
                if (c == completion::success)
                    p.on_success(now);
                else if (c == completion::dropped)
                    p.on_dropped(now);
                else
                    p.on_ignore();
            }
        },
        permit_);
}

} // namespace examples::gateway

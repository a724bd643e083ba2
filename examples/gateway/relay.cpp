#include "gateway/relay.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <string_view>
#include <variant>

namespace examples::gateway {

namespace sse = faultline::sse;
namespace json = boost::json;

void relay::on_event(const sse::event& e, sse::event_kind kind) {
    if (finished) return;
    switch (kind) {
    case sse::event_kind::done:
        // The terminator as the upstream sent it: `[DONE]`, or a protocol's own last event
        // (`response.completed`, `message_stop`), which a made-up `[DONE]` would replace.
        if (e.type.empty())
            out->done();
        else
            (void)out->event(
                {e.data, sse::is_safe_event_type(e.type) ? e.type : "", std::nullopt, {}});
        ++sent;
        finished = true;
        return;
    case sse::event_kind::error:
        finished = true; // the monitor's `on_error` brings its failure next
        return;
    case sse::event_kind::content:
    case sse::event_kind::malformed_json:
    case sse::event_kind::empty:
        ++sent;
        if (e.type.empty() && !e.id)
            out->data(e.data);
        else
            (void)out->event(
                {e.data, sse::is_safe_event_type(e.type) ? e.type : "", std::nullopt, {}});
        return;
    }
}

void relay::on_error(const sse::event&, const faultline::failure& f) {
    if (!upstream_error) upstream_error = f;
}

void relay::on_fragment(const sse::event_fragment& f, sse::event_kind kind) {
    if (finished) return;
    mid_event = !f.last;
    if (f.first) {
        if (!f.type.empty() && sse::is_safe_event_type(f.type))
            bytes->append("event: ").append(f.type).append("\n");
        bytes->append("data: ");
    }
    std::string_view d = f.data;
    // A '\n' joins two data lines: it starts a new `data:` line on the way out.
    for (std::size_t nl; (nl = d.find('\n')) != std::string_view::npos; d.remove_prefix(nl + 1))
        bytes->append(d.substr(0, nl)).append("\ndata: ");
    bytes->append(d);
    if (!f.last) return;
    bytes->append("\n\n");
    ++sent;
    if (kind == sse::event_kind::done) {
        finished = true; // the terminator itself went out above, as sent
    } else if (kind == sse::event_kind::error) {
        fragment_error = true;
        finished = true;
    }
}

void responses_error(sse::writer& w, const faultline::error_envelope& env, std::uint64_t sequence) {
    json::object e{
        {"type", "error"}, {"code", nullptr}, {"message", env.message}, {"param", nullptr}};
    if (const auto* code = std::get_if<std::string>(&env.code))
        e["code"] = *code;
    else if (env.type)
        e["code"] = *env.type;
    if (env.param) e["param"] = *env.param;
    e["sequence_number"] = sequence;
    (void)w.event({json::serialize(e), "error", std::nullopt, {}});
}

} // namespace examples::gateway

#include "gateway/request.hpp"

#include <faultline/diagnose.hpp>
#include <faultline/limit/headers.hpp>

#include <boost/beast/core/string.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cctype>

namespace examples::gateway {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

// "http://" + the request's Host, for a hint that names a URL; empty when the Host is missing or
// is not a plain host[:port] (it is the client's text, put into a message).
std::string origin_of(const http_request& req) {
    const auto h = req.find(http::field::host);
    if (h == req.end() || h->value().empty() || h->value().size() > 261) return {};
    for (const char c : h->value())
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
              c == '[' || c == ']' || c == '_'))
            return {};
    return "http://" + std::string(h->value());
}

} // namespace

faultline::render_options param_named(std::string_view field) {
    faultline::render_options o;
    if (!field.empty()) o.param = field;
    return o;
}

std::pair<std::string, std::string> should_retry(bool yes) {
    return {"x-should-retry", yes ? "true" : "false"};
}

faultline::rendered_envelope answers::own(faultline::error e, std::string_view message,
                                          std::string_view request_id,
                                          faultline::render_options o) const {
    o.redact_server_errors = false;
    o.include_status = include_status_;
    const bool server_side = (o.status != 0 ? o.status : faultline::status_of(e)) >= 500;
    return faultline::render_envelope(e, message, server_side ? request_id : "", o);
}

faultline::rendered_envelope answers::stream(faultline::error e, std::string_view message,
                                             std::string_view request_id) const {
    faultline::render_options o;
    o.redact_server_errors = false;
    o.include_status = include_status_;
    return faultline::render_envelope(e, message, request_id, o);
}

faultline::rendered_envelope answers::upstream(const faultline::failure& f,
                                               std::string_view request_id) const {
    faultline::render_options o;
    o.include_status = include_status_;
    return faultline::render_envelope(faultline::wire_error(f.code), f.message, request_id, o);
}

reply answers::error(faultline::error e, std::string_view message, std::string_view request_id,
                     faultline::render_options o) const {
    faultline::rendered_envelope r = own(e, message, request_id, o);
    return {
        r.status, faultline::serialize(r.envelope), {should_retry(faultline::info(e).retryable)}};
}

reply answers::failure(const faultline::failure& f, std::string_view request_id) const {
    const faultline::rendered_envelope r = upstream(f, request_id);
    reply out{r.status, faultline::serialize(r.envelope), {should_retry(f.retryable)}};
    if (f.retry_after) {
        const auto h = faultline::limit::retry_after_headers(*f.retry_after);
        out.headers.insert(out.headers.end(), h.begin(), h.end());
    }
    return out;
}

reply answers::busy(std::string_view message, std::string_view request_id,
                    std::chrono::nanoseconds retry_after) const {
    faultline::render_options o;
    o.status = 503;
    reply r = error(faultline::error::overloaded, message, request_id, o);
    const auto h = faultline::limit::retry_after_headers(retry_after);
    r.headers.insert(r.headers.end(), h.begin(), h.end());
    return r;
}

std::variant<reply, route> route_request(const http_request& req, bool metrics, const answers& say,
                                         std::string_view id) {
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));

    // A path with /v1 twice or not at all is a base URL that does not match its client: say
    // which base URL to use, built from the Host the client sent.
    const std::string origin = origin_of(req);
    if (auto d = faultline::diagnose_request_target(path, origin)) {
        const std::string here = origin.empty() ? "<this server>" : "";
        std::string message = "Unknown path " + std::string(path);
        if (d->code == faultline::config_error::base_url_duplicates_v1) {
            faultline::base_url_options appends;
            appends.client_appends_v1 = true;
            message +=
                ": the base URL ends in /v1 and the client added /v1 again. Use the base URL " +
                here + d->suggestion + " with an OpenAI SDK (it appends /chat/completions), or " +
                here + faultline::diagnose_request_target(path, origin, appends)->suggestion +
                " with a client that appends /v1 itself.";
        } else {
            message += ": the base URL lacks /v1 (an OpenAI SDK appends only /chat/completions). "
                       "Use the base URL " +
                       here + d->suggestion + ".";
        }
        return say.error(faultline::wire_error(d->code), message, id);
    }
    const route r = route_of(path);
    if (r == route::other || (r == route::metrics && !metrics))
        return say.error(faultline::error::not_found,
                         "Unknown path " + std::string(path) +
                             ". This gateway serves POST /v1/chat/completions, POST "
                             "/v1/responses and GET /v1/models.",
                         id);
    const bool chat = r == route::chat || r == route::responses;
    const http::verb want = chat ? http::verb::post : http::verb::get;
    if (req.method() != want && !(!chat && req.method() == http::verb::head)) {
        faultline::render_options o;
        o.status = 405;
        o.code = "method_not_allowed";
        reply out = say.error(faultline::error::invalid_request,
                              "Method not allowed: use " + std::string(http::to_string(want)) +
                                  " " + std::string(path) + ".",
                              id, o);
        out.headers.emplace_back("allow", chat ? "POST" : "GET, HEAD");
        return out;
    }
    return r;
}

std::variant<reply, const key_config*> authenticate(const http_request& req,
                                                    const gateway_config& config,
                                                    const answers& say, std::string_view id) {
    const auto auth = req.find(http::field::authorization);
    std::string_view presented;
    if (auth != req.end()) {
        const std::string_view v(auth->value().data(), auth->value().size());
        if (v.size() > 7 && boost::beast::iequals(v.substr(0, 7), "Bearer "))
            presented = v.substr(7);
    }
    if (const key_config* key = presented.empty() ? nullptr : config.find_key(presented))
        return key;
    std::string message =
        auth == req.end()   ? "Missing API key. Send it as 'Authorization: Bearer <key>'."
        : presented.empty() ? "Malformed Authorization header. Send 'Authorization: Bearer <key>'."
                            : "Incorrect API key provided.";
    if (!presented.empty())
        for (const faultline::diagnosis& d : faultline::diagnose_api_key(presented))
            message += " " + std::string(faultline::info(d.code).cause) + " " +
                       std::string(faultline::info(d.code).fix);
    return say.error(faultline::error::authentication, message, id);
}

std::variant<reply, chat_fields> read_chat(const http_request& req, route r, const key_config& key,
                                           const gateway_config& config, const answers& say,
                                           std::string_view id) {
    const bool responses = r == route::responses;
    const auto bad = [&](std::string message, std::string_view field) {
        return say.error(faultline::error::invalid_request, message, id, param_named(field));
    };
    boost::system::error_code jec;
    json::parse_options po;
    po.max_depth = 32;
    unsigned char scratch[4096]; // a typical request's document, without a call to malloc
    json::monotonic_resource mr(scratch, sizeof scratch);
    const json::value body = json::parse(req.body(), jec, &mr, po);
    if (jec) return bad("The request body is not valid JSON: " + jec.message() + ".", {});
    if (!body.is_object()) return bad("The request body must be a JSON object.", {});
    const json::object& o = body.as_object();
    const json::value* model_v = o.if_contains("model");
    if (!model_v || !model_v->is_string() || model_v->as_string().empty())
        return bad("'model' is required and must be a string.", "model");
    // The prompt: chat completions' `messages`, or the Responses API's `input` (a string, or
    // items shaped like messages).
    const json::value* prompt = o.if_contains(responses ? "input" : "messages");
    if (responses) {
        if (!prompt || !((prompt->is_string() && !prompt->as_string().empty()) ||
                         (prompt->is_array() && !prompt->as_array().empty())))
            return bad("'input' must be a non-empty string or array.", "input");
    } else if (!prompt || !prompt->is_array() || prompt->as_array().empty()) {
        return bad("'messages' must be a non-empty array.", "messages");
    }
    chat_fields out;
    out.model_id = model_v->as_string();
    out.responses = responses;
    out.priority = key.priority;
    if (config.shedding.enabled() && config.shedding.header)
        if (const auto h = req.find("x-priority"); h != req.end()) {
            const auto asked = faultline::limit::parse_priority(
                std::string_view(h->value().data(), h->value().size()));
            if (!asked)
                return bad("The x-priority header must be one of very_low, low, medium, high, "
                           "critical.",
                           {});
            // A client may lower its priority, never raise it above its key's.
            out.priority = std::min(asked.value(), key.priority);
        }
    if (const json::value* v = o.if_contains("stream"); v && !v->is_null()) {
        if (!v->is_bool()) return bad("'stream' must be a boolean.", "stream");
        out.stream = v->as_bool();
    }
    out.max_tokens = config.default_max_tokens;
    const std::string_view max_param = responses ? "max_output_tokens" : "max_tokens";
    if (const json::value* v = o.if_contains(max_param); v && !v->is_null()) {
        const bool whole =
            (v->is_uint64() && v->as_uint64() > 0) || (v->is_int64() && v->as_int64() > 0);
        if (!whole || (v->is_uint64() ? v->as_uint64() : std::uint64_t(v->as_int64())) > 1'000'000)
            return bad("'" + std::string(max_param) + "' must be a whole number from 1 to 1000000.",
                       max_param);
        out.max_tokens =
            v->is_uint64() ? v->as_uint64() : static_cast<std::uint64_t>(v->as_int64());
    }
    // A string input counts as one message.
    if (prompt->is_string()) {
        out.prompt_tokens = 4 + (prompt->as_string().size() + 3) / 4;
    } else {
        for (const json::value& m : prompt->as_array()) {
            out.prompt_tokens += 4;
            if (const json::object* mo = m.if_object())
                if (const json::value* c = mo->if_contains("content"); c && !c->is_null())
                    out.prompt_tokens +=
                        ((c->is_string() ? c->as_string().size() : json::serialize(*c).size()) +
                         3) /
                        4;
        }
    }
    return out;
}

} // namespace examples::gateway

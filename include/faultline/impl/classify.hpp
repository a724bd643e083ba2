#ifndef FAULTLINE_IMPL_CLASSIFY_HPP
#define FAULTLINE_IMPL_CLASSIFY_HPP

#include <faultline/detail/ascii.hpp>
#include <faultline/detail/utf8.hpp>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <charconv>

namespace faultline {
namespace detail {

struct hint {
    std::string_view text; // lower case
    error e;
};

// `code`, `type`, Google `status`, Azure `innererror.code` and Google `ErrorInfo.reason` values
// as providers send them, compared case-insensitively.
inline constexpr hint wire_hints[] = {
    {"invalid_request_error", error::invalid_request},
    {"invalid_request", error::invalid_request},
    {"badrequesterror", error::invalid_request},
    {"invalid_argument", error::invalid_request},
    {"failed_precondition", error::invalid_request},
    {"out_of_range", error::invalid_request},
    {"authentication_error", error::authentication},
    {"authenticationerror", error::authentication},
    {"unauthenticated", error::authentication},
    {"invalid_api_key", error::authentication},
    {"incorrect_api_key", error::authentication},
    {"api_key_invalid", error::authentication},
    {"missing_api_key", error::authentication},
    {"insufficient_quota", error::insufficient_quota},
    {"insufficient_credit", error::insufficient_quota},
    {"insufficient_credits", error::insufficient_quota},
    {"insufficient_balance", error::insufficient_quota},
    {"billing_hard_limit_reached", error::insufficient_quota},
    {"billing_not_active", error::insufficient_quota},
    {"payment_required", error::insufficient_quota},
    {"spend_limit_exceeded", error::spend_limit_exceeded},
    {"budget_exceeded", error::spend_limit_exceeded},
    {"budget_exhausted", error::spend_limit_exceeded},
    {"permission_error", error::permission_denied},
    {"permissiondeniederror", error::permission_denied},
    {"permission_denied", error::permission_denied},
    {"forbidden", error::permission_denied},
    {"unsupported_country_region_territory", error::permission_denied},
    {"not_found", error::not_found},
    {"not_found_error", error::not_found},
    {"notfounderror", error::not_found},
    {"unknown_url", error::not_found},
    {"model_not_found", error::model_not_found},
    {"deploymentnotfound", error::model_not_found},
    {"context_length_exceeded", error::context_length_exceeded},
    {"context_exceeded", error::context_length_exceeded},
    {"context_window_exceeded", error::context_length_exceeded},
    {"request_too_large", error::payload_too_large},
    {"payload_too_large", error::payload_too_large},
    {"request_entity_too_large", error::payload_too_large},
    {"rate_limit_error", error::rate_limited},
    {"ratelimiterror", error::rate_limited},
    {"rate_limit_exceeded", error::rate_limited},
    {"rate_limited", error::rate_limited},
    {"too_many_requests", error::rate_limited},
    {"resource_exhausted", error::rate_limited},
    {"rpm_exceeded", error::rpm_exceeded},
    {"requests", error::rpm_exceeded},
    {"tpm_exceeded", error::tpm_exceeded},
    {"tokens", error::tpm_exceeded},
    {"concurrency_exceeded", error::concurrency_exceeded},
    {"concurrency_limit_exceeded", error::concurrency_exceeded},
    {"too_many_concurrent_requests", error::concurrency_exceeded},
    {"content_filter", error::content_filter},
    {"content_filtered", error::content_filter},
    {"content_policy_violation", error::content_filter},
    {"responsibleaipolicyviolation", error::content_filter},
    {"moderation_blocked", error::content_filter},
    {"api_error", error::internal_error},
    {"server_error", error::internal_error},
    {"internal_error", error::internal_error},
    {"internal", error::internal_error},
    {"internalservererror", error::internal_error},
    {"engine_error", error::internal_error},
    {"upstream_error", error::upstream_unavailable},
    {"upstream_unavailable", error::upstream_unavailable},
    {"service_unavailable", error::upstream_unavailable},
    {"unavailable", error::upstream_unavailable},
    {"bad_gateway", error::upstream_unavailable},
    {"serviceunavailableerror", error::upstream_unavailable},
    {"vertex_auth_failed", error::upstream_auth_failed},
    {"upstream_auth_failed", error::upstream_auth_failed},
    {"no_supplier", error::no_available_channel},
    {"no_available_channel", error::no_available_channel},
    {"no_available_channels", error::no_available_channel},
    {"upstream_timeout", error::upstream_timeout},
    {"timeout", error::upstream_timeout},
    {"timeout_error", error::upstream_timeout},
    {"deadline_exceeded", error::upstream_timeout},
    {"gateway_timeout", error::upstream_timeout},
    {"apitimeouterror", error::upstream_timeout},
    {"request_timeout", error::request_timeout},
    {"conflict", error::conflict},
    {"aborted", error::conflict},
    {"overloaded_error", error::overloaded},
    {"overloaded", error::overloaded},
    {"stream_error", error::stream_interrupted},
    {"stream_interrupted", error::stream_interrupted},
    {"stream_truncated", error::stream_truncated},
    {"stream_timeout", error::stream_timeout},
    {"sse_line_too_long", error::sse_line_too_long},
    {"sse_event_too_large", error::sse_event_too_large},
};

// Phrases in human messages, lower case. Signals first: they beat the status.
inline constexpr hint message_signals[] = {
    {"maximum context length", error::context_length_exceeded},
    {"context length", error::context_length_exceeded},
    {"context window", error::context_length_exceeded},
    {"prompt is too long", error::context_length_exceeded},
    {"input is too long", error::context_length_exceeded},
    {"exceeds the maximum number of tokens", error::context_length_exceeded},
    {"credit balance is too low", error::insufficient_quota},
    {"insufficient credit", error::insufficient_quota},
    {"insufficient balance", error::insufficient_quota},
    {"insufficient quota", error::insufficient_quota},
    {"insufficient_quota", error::insufficient_quota},
    {"billing hard limit", error::insufficient_quota},
    {"spend limit", error::spend_limit_exceeded},
    {"budget exceeded", error::spend_limit_exceeded},
    {"content management policy", error::content_filter},
    {"content policy", error::content_filter},
    {"content filter", error::content_filter},
    {"safety system", error::content_filter},
    {"incorrect api key", error::authentication},
    {"invalid api key", error::authentication},
    {"api key not valid", error::authentication},
    {"invalid x-api-key", error::authentication},
    {"invalid_api_key", error::authentication},
    {"overloaded", error::overloaded},
};

inline constexpr hint message_refinements[] = {
    {"no available channel", error::no_available_channel},
    {"no available supplier", error::no_available_channel},
    {"no available provider", error::no_available_channel},
    {"tokens per min", error::tpm_exceeded},
    {"requests per min", error::rpm_exceeded},
    {"concurrent requests", error::concurrency_exceeded},
    {"concurrency limit", error::concurrency_exceeded},
    {"timed out", error::upstream_timeout},
    {"timeout", error::upstream_timeout},
};

[[nodiscard]] inline std::optional<error> wire_hint(std::string_view s) noexcept {
    s = trim(s);
    if (s.empty()) return std::nullopt;
    for (const auto& h : wire_hints)
        if (iequals(s, h.text)) return h.e;
    return std::nullopt;
}

// Body signals that beat the status: the same request can never succeed (quota, spend,
// context, content), or the provider says outright it is overloaded.
[[nodiscard]] inline bool is_signal(error e) noexcept {
    switch (e) {
    case error::insufficient_quota:
    case error::spend_limit_exceeded:
    case error::context_length_exceeded:
    case error::content_filter:
    case error::overloaded:
        return true;
    default:
        return false;
    }
}

[[nodiscard]] inline bool is_invalid_key_code(std::string_view s) noexcept {
    s = trim(s);
    return iequals(s, "invalid_api_key") || iequals(s, "incorrect_api_key") ||
           iequals(s, "api_key_invalid") || iequals(s, "missing_api_key");
}

[[nodiscard]] inline bool is_generic(error e) noexcept {
    switch (e) {
    case error::invalid_request:
    case error::not_found:
    case error::rate_limited:
    case error::internal_error:
    case error::upstream_unavailable:
    case error::unknown:
        return true;
    default:
        return false;
    }
}

// A client error the body may name where the status is a generic 4xx.
[[nodiscard]] inline bool is_client_error(error e) noexcept {
    const unsigned s = info(e).status;
    return s >= 400 && s < 500 && !info(e).retryable;
}

struct body_view {
    error_envelope env;
    bool json = false;     // the body parsed as JSON
    bool envelope = false; // an error object (or error text) was found in it
    std::string text;      // message from a non-JSON body (HTML title, text)
    std::string google_status, inner_code, retry_delay;
    std::vector<std::string> reasons; // Google ErrorInfo.reason values
};

[[nodiscard]] inline std::string_view as_sv(const boost::json::string& s) noexcept {
    return {s.data(), s.size()};
}

inline void read_google_details(const boost::json::value& details, body_view& b) {
    const auto* arr = details.if_array();
    if (!arr) return;
    for (const auto& d : *arr) {
        const auto* o = d.if_object();
        if (!o) continue;
        const auto* t = o->if_contains("@type");
        if (!t || !t->is_string()) continue;
        const std::string_view type = as_sv(t->get_string());
        if (type.ends_with("google.rpc.RetryInfo")) {
            if (const auto* r = o->if_contains("retryDelay"); r && r->is_string())
                b.retry_delay.assign(as_sv(r->get_string()));
        } else if (type.ends_with("google.rpc.ErrorInfo")) {
            if (const auto* r = o->if_contains("reason"); r && r->is_string())
                b.reasons.emplace_back(as_sv(r->get_string()));
        }
    }
}

inline void read_error_object(const boost::json::object& err, body_view& b,
                              std::string_view skip = {}) {
    b.env = envelope_from_object(err, skip);
    b.envelope = true;
    if (const auto* s = b.env.extra.if_contains("status"); s && s->is_string())
        b.google_status.assign(as_sv(s->get_string()));
    if (const auto* d = b.env.extra.if_contains("details")) read_google_details(*d, b);
    if (const auto* inner = b.env.extra.if_contains("innererror"); inner && inner->is_object())
        if (const auto* c = inner->get_object().if_contains("code"); c && c->is_string())
            b.inner_code.assign(as_sv(c->get_string()));
    if (b.env.message.empty())
        if (const auto* m = b.env.extra.if_contains("message"); m && !m->is_null())
            b.env.message = boost::json::serialize(*m);
}

inline void read_json(const boost::json::value& root, body_view& b) {
    const boost::json::value* v = &root;
    if (const auto* arr = root.if_array()) { // Google sometimes wraps the error in an array
        v = nullptr;
        for (const auto& e : *arr)
            if (e.is_object()) {
                v = &e;
                break;
            }
        if (!v) return;
    }
    const auto* o = v->if_object();
    if (!o) return;
    if (const auto* e = o->if_contains("error")) {
        if (e->is_object() && !e->get_object().empty())
            return read_error_object(e->get_object(), b);
        if (e->is_string() && !e->get_string().empty()) {
            // {"error":"text"}, sometimes with a longer "message" beside it.
            read_error_object(*o, b, "error");
            if (b.env.message.empty()) b.env.message.assign(as_sv(e->get_string()));
            return;
        }
    }
    const auto* obj = o->if_contains("object");
    const bool flat = (obj && obj->is_string() && obj->get_string() == "error") ||
                      (o->contains("message") && !o->contains("choices"));
    if (flat) {
        return read_error_object(*o, b, "object");
    }
    if (const auto* d = o->if_contains("detail"); d && d->is_string()) { // FastAPI servers
        b.env.message.assign(as_sv(d->get_string()));
        b.envelope = true;
    }
}

// The <title> (else first <h1>) of an HTML page: what a proxy's error page says.
[[nodiscard]] inline std::string_view html_heading(std::string_view body) noexcept {
    for (std::string_view tag : {std::string_view("title"), std::string_view("h1")}) {
        std::size_t pos = 0;
        while (pos < body.size()) {
            const std::size_t lt = body.find('<', pos);
            if (lt == std::string_view::npos) break;
            std::string_view rest = body.substr(lt + 1);
            if (rest.size() > tag.size() && iequals(rest.substr(0, tag.size()), tag) &&
                (rest[tag.size()] == '>' || rest[tag.size()] == ' ')) {
                const std::size_t gt = body.find('>', lt);
                if (gt == std::string_view::npos) break;
                const std::size_t end = body.find('<', gt + 1);
                const std::string_view inner = trim(body.substr(
                    gt + 1, end == std::string_view::npos ? std::string_view::npos : end - gt - 1));
                if (!inner.empty()) return inner;
            }
            pos = lt + 1;
        }
    }
    return {};
}

inline body_view read_body(std::string_view body, const parse_limits& limits) {
    body_view b;
    const std::string_view t = trim(body);
    if (t.empty()) return b;
    if (t.front() == '{' || t.front() == '[') {
        // Over the limit is not read at all: its text is JSON, not a message.
        if (t.size() > limits.max_size) return b;
        boost::system::error_code ec;
        unsigned char buf[4096];
        boost::json::monotonic_resource mr(buf, sizeof buf);
        boost::json::parse_options opt;
        opt.max_depth = limits.max_depth;
        const boost::json::value jv = boost::json::parse(t, ec, &mr, opt);
        if (!ec) {
            b.json = true;
            read_json(jv, b);
        }
        // Truncated or invalid JSON carries no trustworthy text: the status decides.
        return b;
    }
    if (t.front() == '<') {
        b.text.assign(html_heading(t));
        return b;
    }
    b.text.assign(t);
    return b;
}

// Cuts at a UTF-8 boundary and marks the cut.
inline void bound_message(std::string& m, std::size_t max) {
    if (m.size() <= max) return;
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(m[cut]) & 0xC0) == 0x80)
        --cut;
    m.resize(cut);
    m.append("\xE2\x80\xA6");
}

[[nodiscard]] inline std::optional<error> code_as_status(const wire_code& code) noexcept {
    std::int64_t n = 0;
    if (const auto* i = std::get_if<std::int64_t>(&code))
        n = *i;
    else if (const auto* s = std::get_if<std::string>(&code)) {
        const std::string_view v = trim(*s);
        const auto r = std::from_chars(v.data(), v.data() + v.size(), n);
        if (r.ec != std::errc() || r.ptr != v.data() + v.size()) return std::nullopt;
    } else
        return std::nullopt;
    if (n < 400 || n >= 600) return std::nullopt;
    return error_from_status(static_cast<unsigned>(n));
}

struct header_facts {
    retry_hints hints;
    std::string_view should_retry;
    std::string_view content_type;
    bool inside_stream = false; // the body came out of an event stream: never read as one again
};

// An event-stream body classified from its events; nothing when `body` is not one. Defined in
// impl/classify_stream.hpp (it needs sse::monitor, which needs this header).
[[nodiscard]] inline std::optional<failure> classify_event_stream(unsigned status,
                                                                  const header_facts& headers,
                                                                  std::string_view body,
                                                                  const classify_options& options);

inline failure classify_impl(unsigned status, const header_facts& headers, std::string_view body,
                             const classify_options& options) {
    if (!headers.inside_stream)
        if (auto f = classify_event_stream(status, headers, body, options)) return std::move(*f);
    body_view b = read_body(body, options.json);
    const error_envelope& env = b.env;

    // Wire hints in order of trust: code, Azure inner code, Google reason and status, type.
    std::array<std::optional<error>, 8> wire{};
    std::size_t n = 0;
    if (const auto* s = std::get_if<std::string>(&env.code)) wire[n++] = wire_hint(*s);
    wire[n++] = wire_hint(b.inner_code);
    for (std::size_t i = 0; i < b.reasons.size() && i < 2; ++i)
        wire[n++] = wire_hint(b.reasons[i]);
    wire[n++] = wire_hint(b.google_status);
    if (env.type) wire[n++] = wire_hint(*env.type);

    const std::string_view message =
        !env.message.empty() ? std::string_view(env.message) : std::string_view(b.text);
    // Lower-cased once, so each phrase is one memchr-driven find.
    std::string lowered(message);
    for (char& c : lowered)
        c = ascii_lower(c);
    const bool status_error = status >= 400 && status < 600;
    const bool overload_plausible = !status_error || status == 429 || status >= 500;

    std::optional<error> chosen;
    // 1. Unambiguous body signals.
    for (std::size_t i = 0; i < n && !chosen; ++i)
        if (wire[i] && is_signal(*wire[i]) && (*wire[i] != error::overloaded || overload_plausible))
            chosen = wire[i];
    if (!chosen) {
        // An invalid-key code is a signal; a bare "authentication_error" type is only a hint.
        const auto* code = std::get_if<std::string>(&env.code);
        bool invalid_key = code && is_invalid_key_code(*code);
        for (const auto& r : b.reasons)
            invalid_key = invalid_key || is_invalid_key_code(r);
        if (invalid_key) chosen = error::authentication;
    }
    for (std::size_t i = 0; !chosen && i < std::size(message_signals); ++i)
        if (lowered.find(message_signals[i].text) != std::string::npos &&
            (message_signals[i].e != error::overloaded || overload_plausible))
            chosen = message_signals[i].e;

    // 2./3. The status, or the body's hints without one, refined within the class.
    if (!chosen) {
        error base = error::unknown;
        std::size_t first = 0;
        if (status_error) {
            base = error_from_status(status);
        } else {
            for (; first < n && !wire[first]; ++first) {
            }
            if (first < n)
                base = *wire[first++];
            else if (auto s = code_as_status(env.code))
                base = *s;
        }
        const bool generic_4xx = status_error && base == error::invalid_request;
        const auto refines = [&](error h) {
            if (info(h).cat == info(base).cat) return is_generic(base) && !is_generic(h);
            return generic_4xx && is_client_error(h);
        };
        error result = base;
        for (std::size_t i = status_error ? 0 : first; i < n; ++i)
            if (wire[i] && refines(*wire[i])) {
                result = *wire[i];
                break;
            }
        if (result == base && base != error::unknown)
            for (const auto& h : message_refinements)
                if (lowered.find(h.text) != std::string::npos && refines(h.e)) {
                    result = h.e;
                    break;
                }
        chosen = result;
    }

    failure f;
    f.code = *chosen;
    f.cat = info(f.code).cat;
    f.retryable = info(f.code).retryable;
    f.status = status;
    const std::string_view should = trim(headers.should_retry);
    if (iequals(should, "true"))
        f.retryable = true;
    else if (iequals(should, "false"))
        f.retryable = false;

    if (!message.empty())
        append_utf8_sanitized(f.message, message);
    else if (status != 0)
        f.message.assign(reason_phrase(status));
    else
        f.message.assign(info(f.code).cause);
    bound_message(f.message, options.max_message);

    f.type = env.type;
    f.provider_code = env.code;
    f.event_id = env.event_id;

    retry_hints hints = headers.hints;
    hints.body_retry_delay = b.retry_delay;
    retry_after_options ro;
    ro.now = options.now ? *options.now : std::chrono::system_clock::now();
    ro.max = options.max_retry_after;
    ro.use_reset_headers = f.cat == category::rate_limited;
    f.retry_after = retry_after_from(hints, ro);
    return f;
}

template <class Headers>
header_facts collect_header_facts(const Headers& headers) {
    header_facts h;
    h.hints = collect_retry_hints(headers);
    for_each_header(headers, [&](std::string_view name, std::string_view value) {
        if (iequals(name, "x-should-retry")) h.should_retry = value;
        if (iequals(name, "content-type")) h.content_type = value;
    });
    return h;
}

} // namespace detail

template <class Headers>
failure classify(unsigned status, const Headers& headers, std::string_view body,
                 const classify_options& options) {
    return detail::classify_impl(status, detail::collect_header_facts(headers), body, options);
}

inline failure classify(unsigned status, std::initializer_list<header> headers,
                        std::string_view body, const classify_options& options) {
    return detail::classify_impl(status, detail::collect_header_facts(headers), body, options);
}

inline failure classify(unsigned status, std::string_view body, const classify_options& options) {
    return detail::classify_impl(status, {}, body, options);
}

inline failure to_failure(std::error_code ec, std::string message) {
    failure f;
    f.cat = category_of(ec);
    f.retryable = is_retryable(ec);
    if (ec.category() == error_category())
        f.code = info(static_cast<error>(ec.value())).code;
    else if (f.cat == category::timeout)
        f.code = error::upstream_timeout;
    else if (f.cat == category::upstream_unavailable)
        f.code = error::upstream_unavailable;
    else
        f.code = error::unknown;
    f.message = message.empty() ? ec.message() : std::move(message);
    return f;
}

inline rendered_error render(const failure& f, std::string_view event_id,
                             const render_options& options) {
    return render(f.code, f.message, event_id, options);
}

} // namespace faultline

#endif

#ifndef FAULTLINE_IMPL_ENVELOPE_HPP
#define FAULTLINE_IMPL_ENVELOPE_HPP

#include <faultline/detail/utf8.hpp>
#include <faultline/http_status.hpp>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

#include <charconv>
#include <limits>
#include <optional>
#include <string>

namespace faultline {
namespace detail {

inline boost::json::string json_string(std::string_view s, boost::json::storage_ptr sp) {
    if (is_valid_utf8(s)) return boost::json::string(s, std::move(sp));
    return boost::json::string(utf8_sanitized(s), std::move(sp));
}

// Strings a caller put into `extra` by hand may hold any bytes; parsed ones are valid already.
inline boost::json::value sanitized_copy(const boost::json::value& v, boost::json::storage_ptr sp) {
    switch (v.kind()) {
    case boost::json::kind::string: {
        const auto& s = v.get_string();
        return json_string(std::string_view(s.data(), s.size()), std::move(sp));
    }
    case boost::json::kind::array: {
        boost::json::array out(sp);
        out.reserve(v.get_array().size());
        for (const auto& e : v.get_array())
            out.push_back(sanitized_copy(e, sp));
        return out;
    }
    case boost::json::kind::object: {
        boost::json::object out(sp);
        out.reserve(v.get_object().size());
        for (const auto& kv : v.get_object()) {
            const std::string_view key(kv.key().data(), kv.key().size());
            if (is_valid_utf8(key))
                out.insert_or_assign(key, sanitized_copy(kv.value(), sp));
            else
                out.insert_or_assign(utf8_sanitized(key), sanitized_copy(kv.value(), sp));
        }
        return out;
    }
    default:
        return boost::json::value(v, std::move(sp));
    }
}

inline void fill_error_object(boost::json::object& o, const error_envelope& env) {
    const auto sp = o.storage();
    o.reserve(6 + env.extra.size());
    // A member sent with an unexpected kind lives in `extra`; it goes back out as it came.
    const auto kept = [&](std::string_view key) {
        const auto* v = env.extra.if_contains(key);
        if (v) o.emplace(key, sanitized_copy(*v, sp));
        return v != nullptr;
    };
    if (!env.message.empty() || !kept("message"))
        o.emplace("message", json_string(env.message, sp));
    if (env.type)
        o.emplace("type", json_string(*env.type, sp));
    else if (!kept("type"))
        o.emplace("type", nullptr);
    if (env.param)
        o.emplace("param", json_string(*env.param, sp));
    else if (!kept("param"))
        o.emplace("param", nullptr);
    if (const auto* s = std::get_if<std::string>(&env.code))
        o.emplace("code", json_string(*s, sp));
    else if (const auto* i = std::get_if<std::int64_t>(&env.code))
        o.emplace("code", *i);
    else if (!kept("code"))
        o.emplace("code", nullptr);
    if (env.status) o.emplace("status", *env.status);
    if (env.event_id) o.emplace("event_id", json_string(*env.event_id, sp));
    for (const auto& kv : env.extra) {
        const std::string_view key(kv.key().data(), kv.key().size());
        if (o.contains(key)) continue; // the typed members are the truth
        const boost::json::value v = sanitized_copy(kv.value(), sp);
        if (is_valid_utf8(key))
            o.emplace(key, v);
        else
            o.emplace(utf8_sanitized(key), v);
    }
}

// Reads one error object leniently: every member but `skip` lands somewhere, nothing is coerced.
inline error_envelope envelope_from_object(const boost::json::object& err,
                                           std::string_view skip = {}) {
    error_envelope env;
    for (const auto& kv : err) {
        const std::string_view key(kv.key().data(), kv.key().size());
        if (!skip.empty() && key == skip) continue;
        const boost::json::value& v = kv.value();
        bool taken = true;
        if (key == "message" && v.is_string())
            env.message.assign(v.get_string().data(), v.get_string().size());
        else if (key == "type" && v.is_string())
            env.type.emplace(v.get_string().data(), v.get_string().size());
        else if (key == "type" && v.is_null())
            env.type.reset();
        else if (key == "param" && v.is_string())
            env.param.emplace(v.get_string().data(), v.get_string().size());
        else if (key == "param" && v.is_null())
            env.param.reset();
        else if (key == "code" && v.is_string())
            env.code.emplace<std::string>(v.get_string().data(), v.get_string().size());
        else if (key == "code" && v.is_int64())
            env.code = v.get_int64();
        else if (key == "code" && v.is_uint64() &&
                 v.get_uint64() <=
                     static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            env.code = static_cast<std::int64_t>(v.get_uint64());
        else if (key == "code" && v.is_null())
            env.code = std::monostate{};
        else if (key == "status" && v.is_int64())
            env.status = v.get_int64();
        else if (key == "status" && v.is_uint64() &&
                 v.get_uint64() <=
                     static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            env.status = static_cast<std::int64_t>(v.get_uint64());
        else if (key == "event_id" && v.is_string())
            env.event_id.emplace(v.get_string().data(), v.get_string().size());
        else
            taken = false;
        if (!taken) env.extra.insert_or_assign(key, v);
    }
    return env;
}

inline std::error_code json_error(const boost::system::error_code& ec) noexcept {
    if (ec == boost::json::error::too_deep) return parse_error::json_too_deep;
    return parse_error::malformed_json;
}

inline boost::json::parse_options strict_options(const parse_limits& limits) noexcept {
    boost::json::parse_options opt;
    opt.max_depth = limits.depth();
    return opt;
}

} // namespace detail

inline void tag_invoke(boost::json::value_from_tag, boost::json::value& jv,
                       const error_envelope& env) {
    boost::json::object outer(jv.storage());
    boost::json::object inner(jv.storage());
    detail::fill_error_object(inner, env);
    outer.emplace("error", std::move(inner));
    jv = std::move(outer);
}

inline boost::json::result<error_envelope> tag_invoke(boost::json::try_value_to_tag<error_envelope>,
                                                      const boost::json::value& jv) {
    const auto* o = jv.if_object();
    const auto* err = o ? o->if_contains("error") : nullptr;
    if (!err || !err->is_object()) return std::error_code(parse_error::malformed_envelope);
    return detail::envelope_from_object(err->get_object());
}

namespace detail {

// Appends `s` as a JSON string escaped by Boost.JSON; invalid UTF-8 becomes U+FFFD.
inline void append_json_string(std::string& out, boost::json::serializer& sr, std::string_view s) {
    std::string fixed;
    if (!is_valid_utf8(s)) {
        fixed = utf8_sanitized(s);
        s = fixed;
    }
    sr.reset(s);
    char buf[256];
    while (!sr.done())
        out.append(sr.read(buf, sizeof buf));
}

inline void append_json_int(std::string& out, std::int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

} // namespace detail

inline std::string serialize(const error_envelope& env) {
    if (env.extra.empty()) {
        // The common case needs no document tree: the members go out in the same order
        // `fill_error_object` gives them, each string escaped by Boost.JSON's serializer.
        std::string out;
        out.reserve(96 + env.message.size() + (env.type ? env.type->size() : 0) +
                    (env.param ? env.param->size() : 0));
        boost::json::serializer sr;
        const auto text = [&](std::string_view name, const std::optional<std::string>& v) {
            out.append(name);
            if (v)
                detail::append_json_string(out, sr, *v);
            else
                out.append("null");
        };
        out.append(R"({"error":{"message":)");
        detail::append_json_string(out, sr, env.message);
        text(R"(,"type":)", env.type);
        text(R"(,"param":)", env.param);
        out.append(R"(,"code":)");
        if (const auto* s = std::get_if<std::string>(&env.code))
            detail::append_json_string(out, sr, *s);
        else if (const auto* i = std::get_if<std::int64_t>(&env.code))
            detail::append_json_int(out, *i);
        else
            out.append("null");
        if (env.status) {
            out.append(R"(,"status":)");
            detail::append_json_int(out, *env.status);
        }
        if (env.event_id) text(R"(,"event_id":)", env.event_id);
        out.append("}}");
        return out;
    }
    unsigned char buf[2048];
    boost::json::monotonic_resource mr(buf, sizeof buf);
    boost::json::value jv(&mr);
    tag_invoke(boost::json::value_from_tag{}, jv, env);
    return boost::json::serialize(jv);
}

inline result<error_envelope> parse_envelope(std::string_view body, const parse_limits& limits) {
    if (body.size() > limits.max_size) return parse_error::malformed_envelope;
    boost::system::error_code ec;
    unsigned char buf[4096];
    boost::json::monotonic_resource mr(buf, sizeof buf);
    const boost::json::value jv = boost::json::parse(body, ec, &mr, detail::strict_options(limits));
    if (ec) return detail::json_error(ec);
    // The envelope's own members use the default resource, never the stack buffer's.
    auto r = boost::json::try_value_to<error_envelope>(jv);
    if (!r) return std::error_code(r.error());
    return std::move(*r);
}

inline error_envelope make_envelope(error e, std::string_view message) {
    const error_info& row = info(e);
    error_envelope env;
    env.message.assign(message);
    env.type.emplace(row.type);
    env.code.emplace<std::string>(row.wire_code);
    return env;
}

inline rendered_envelope render_envelope(error e, std::string_view message,
                                         std::string_view event_id, const render_options& options) {
    const unsigned status = options.status != 0 ? options.status : info(e).status;
    const bool redact = options.redact_server_errors && status >= 500;
    rendered_envelope out{status, make_envelope(e, redact ? options.redacted_message : message)};
    error_envelope& env = out.envelope;
    if (options.code) env.code.emplace<std::string>(*options.code);
    if (!event_id.empty()) env.event_id.emplace(event_id);
    if (options.param) env.param.emplace(*options.param);
    if (options.include_status) env.status = status;
    return out;
}

inline rendered_error render(error e, std::string_view message, std::string_view event_id,
                             const render_options& options) {
    const rendered_envelope r = render_envelope(e, message, event_id, options);
    return {r.status, serialize(r.envelope)};
}

inline rendered_error render(std::error_code ec, std::string_view message,
                             std::string_view event_id, const render_options& options) {
    return render(wire_error(ec), message, event_id, options);
}

template <class URBG>
std::string make_event_id(URBG& g) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string id(32, '0');
    for (char& c : id)
        c = hex[static_cast<std::uint64_t>(g() - URBG::min()) & 15u];
    return id;
}

} // namespace faultline

#endif

#ifndef FAULTLINE_EXAMPLES_GATEWAY_REQUEST_HPP
#define FAULTLINE_EXAMPLES_GATEWAY_REQUEST_HPP

// The gateway's first stages. Each is a function of the request and the configuration alone
// (no socket, no shared state), so each is tested alone (tests/examples/gateway_request.cpp):
//
//  - `answers`: how the gateway words an error, its envelope built once (no render, parse and
//    serialize round trip for a 405 or the gateway's own 503);
//  - `route_request`: the path and the method: the route, or the 404 (with the base-URL
//    diagnosis, reference 000) or the 405 that ends the request;
//  - `authenticate`: the key presented as `Authorization: Bearer <key>`, or the 401;
//  - `read_chat`: a chat completions or Responses request's body and `x-priority`: model,
//    stream, max tokens, the prompt's token estimate, the priority; or the 400 naming the field.
//
// The stages after them: the model and spend budget (server.cpp), admission (admission.hpp),
// dispatch (server.cpp) and the relay (relay.hpp).

#include "common/wire.hpp"
#include "gateway/config.hpp"
#include "gateway/metrics.hpp"

#include <faultline/envelope.hpp>
#include <faultline/failure.hpp>
#include <faultline/headers.hpp>
#include <faultline/limit/headers.hpp>
#include <faultline/limit/priority.hpp>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace examples::gateway {

/// A client's request. Its fields come from the allocator it is built with: the session reads
/// each request into a `fields_arena` of its own (a default-built one uses the heap).
using http_request = boost::beast::http::request<boost::beast::http::string_body, arena_fields>;
using header_list = std::vector<faultline::header>;

/// The decisions a request's key was admitted with: its answer's `x-ratelimit-*` headers.
struct key_limits {
    std::optional<faultline::limit::decision> requests, tokens;

    /// Calls `f(name, value)` for each header, without allocating. Thread-safe.
    template <class F>
    void for_each_header(F&& f) const {
        faultline::limit::for_each_rate_limit_header(requests ? &*requests : nullptr,
                                                     tokens ? &*tokens : nullptr, f);
    }
};

/// One answer that is not a stream.
struct reply {
    unsigned status = 200;
    std::string body;
    header_list headers;
    std::string_view content_type = "application/json";
};

/// `x-should-retry`, which tells clients outright whether to retry (the OpenAI SDKs read it): a
/// 429 for a spend limit or a request larger than the bucket must not be retried, whatever its
/// status says.
[[nodiscard]] std::pair<std::string, std::string> should_retry(bool yes);

/// Render options naming `field` as the error's `param`; none when `field` is empty.
[[nodiscard]] faultline::render_options param_named(std::string_view field);

/// How the gateway words errors, the same way on every path. Thread-safe.
class answers {
public:
    /// `include_status`: the status repeated in the envelope (`gateway_config::include_status`).
    explicit answers(bool include_status) noexcept
        : include_status_(include_status) {}

    /// The gateway's own error. Its message holds nothing internal, so it reaches the client
    /// even for a 5xx; a 5xx carries `request_id` as its `event_id`. `o` names the param, or a
    /// status and code other than `e`'s own (its redaction and `include_status` are set here).
    [[nodiscard]] faultline::rendered_envelope own(faultline::error e, std::string_view message,
                                                   std::string_view request_id,
                                                   faultline::render_options o = {}) const;
    /// The gateway's own error ending a stream it relays: as `own`, always with `request_id` as
    /// its `event_id` (the log line that says why repeats it).
    [[nodiscard]] faultline::rendered_envelope stream(faultline::error e, std::string_view message,
                                                      std::string_view request_id) const;
    /// An upstream's failure as the client gets it: a 5xx's message is redacted (the cause goes
    /// to the log), its `event_id` is `request_id`.
    [[nodiscard]] faultline::rendered_envelope upstream(const faultline::failure& f,
                                                        std::string_view request_id) const;

    /// `own` as an answer, with `x-should-retry` from `e`'s retryability.
    [[nodiscard]] reply error(faultline::error e, std::string_view message,
                              std::string_view request_id, faultline::render_options o = {}) const;
    /// `upstream` as an answer, with `x-should-retry` and the failure's Retry-After.
    [[nodiscard]] reply failure(const faultline::failure& f, std::string_view request_id) const;
    /// The gateway's own 503 when it is full (connections, bodies, shedding, adaptive limits):
    /// `overloaded` with `Retry-After` (whole seconds, at least 1) and `retry-after-ms`.
    [[nodiscard]] reply busy(std::string_view message, std::string_view request_id,
                             std::chrono::nanoseconds retry_after = std::chrono::seconds(1)) const;

private:
    bool include_status_;
};

/// The path and method of a request: its route, or the answer that ends it (404 for an unknown
/// path, with the base URL to use when /v1 is doubled or missing; 405 with `Allow` for a method
/// the path does not take). HEAD is allowed wherever GET is (RFC 9110 §9.3.2). `metrics`: whether
/// `GET /metrics` is served (`gateway_config::metrics`).
[[nodiscard]] std::variant<reply, route> route_request(const http_request& req, bool metrics,
                                                       const answers& say,
                                                       std::string_view request_id);

/// The key a request presents (`Authorization: Bearer <key>`), or the 401 saying what is wrong
/// with what it sent (missing, malformed, or a key with stray whitespace or invisible
/// characters), never the key itself.
[[nodiscard]] std::variant<reply, const key_config*> authenticate(const http_request& req,
                                                                  const gateway_config& config,
                                                                  const answers& say,
                                                                  std::string_view request_id);

/// A chat completions or Responses request, read from its body and headers.
struct chat_fields {
    std::string model_id;
    bool stream = false;
    bool responses = false; ///< POST /v1/responses: `input` and `max_output_tokens`
    /// About four bytes a token plus four a message; content given as parts (text, images)
    /// counts by its JSON size, so it cannot slip past limits and budgets.
    std::uint64_t prompt_tokens = 0;
    std::uint64_t max_tokens = 0; ///< as asked, or `default_max_tokens`
    /// The key's, or lower as `x-priority` asks (under priority shedding with `header` on).
    faultline::limit::priority priority = faultline::limit::priority::medium;
};

/// Reads the body of a request routed to `r` (chat or responses) from `key`, or answers 400 with
/// the field at fault as `param`: JSON that does not parse (depth 32 at most), `model`,
/// `messages` or `input`, `stream`, `max_tokens` or `max_output_tokens` (1 to 1000000), an
/// `x-priority` that names no priority.
[[nodiscard]] std::variant<reply, chat_fields>
read_chat(const http_request& req, route r, const key_config& key, const gateway_config& config,
          const answers& say, std::string_view request_id);

} // namespace examples::gateway

#endif

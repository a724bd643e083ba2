// Fuzzes classify, envelope parsing, every retry-after parser and the base-URL / request-target
// diagnoses on arbitrary bytes.
// Invariants: no crash or sanitizer report; both phrase searches agree; messages are valid UTF-8
// and bounded; whatever parse_envelope accepts serializes to JSON that parses back to the same
// envelope.

#include <faultline/classify.hpp>
#include <faultline/detail/utf8.hpp>
#include <faultline/diagnose.hpp>

#include <boost/json/parse.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const unsigned status = (static_cast<unsigned>(data[0]) << 8 | data[1]) % 1000;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);

    // The first line (up to 64 bytes) doubles as every hint header's value.
    const std::string_view line = rest.substr(0, std::min(rest.find('\n'), std::size_t(64)));
    const std::vector<std::pair<std::string_view, std::string_view>> headers{
        {"Retry-After", line},
        {"retry-after-ms", line},
        {"x-ratelimit-reset-tokens", line},
        {"x-ratelimit-remaining-tokens", "0"},
        {"anthropic-ratelimit-tokens-reset", line},
        {"anthropic-ratelimit-tokens-remaining", "0"},
        {"x-should-retry", line}};
    faultline::classify_options opt;
    opt.now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
    opt.max_message = 512;
    const faultline::failure f = faultline::classify(status, headers, rest, opt);
    if (!faultline::detail::is_valid_utf8(f.message) || f.message.size() > 512 + 3) std::abort();
    if (f.cat != faultline::info(f.code).cat) std::abort();
    // The vector phrase search finds what the scalar one does, at the same places.
    {
        const auto vec = faultline::detail::find_phrases(rest);
        const auto ref = faultline::detail::find_phrases_scalar(rest);
        if (vec.found != ref.found) std::abort();
        for (std::size_t k = 0; k < faultline::detail::phrase_count; ++k)
            if ((ref.found >> k & 1) && vec.at[k] != ref.at[k]) std::abort();
    }
    if (f.retry_after && (f.retry_after->count() < 0 || *f.retry_after > opt.max_retry_after))
        std::abort();

    (void)faultline::parse_retry_after_ms(line);
    (void)faultline::parse_duration(line);
    (void)faultline::parse_rfc3339_delay(line, *opt.now);
    if (auto r = faultline::parse_retry_after(line, *opt.now); r && r.value().count() < 0)
        std::abort();
    const std::string_view hint = faultline::find_message_retry_delay(rest);
    if (!hint.empty() &&
        (hint.data() < rest.data() || hint.data() + hint.size() > rest.data() + rest.size()))
        std::abort();

    if (auto env = faultline::parse_envelope(rest)) {
        const std::string out = faultline::serialize(env.value());
        auto back = faultline::parse_envelope(out);
        if (!back || !(back.value() == env.value())) std::abort();
    }
    // A request target's diagnosis is one of the two 404 codes, with the base URL to use.
    for (const bool appends : {false, true}) {
        const faultline::base_url_options bo{appends};
        if (const auto d = faultline::diagnose_request_target(line, "http://127.0.0.1:8080", bo))
            if ((d->code != faultline::config_error::base_url_duplicates_v1 &&
                 d->code != faultline::config_error::base_url_missing_v1) ||
                !d->suggestion.starts_with("http://127.0.0.1:8080"))
                std::abort();
        (void)faultline::diagnose_base_url(line, bo);
    }
    (void)faultline::diagnose_api_key(line);

    const auto r = faultline::render(f, "evt");
    boost::system::error_code ec;
    (void)boost::json::parse(r.body, ec);
    if (ec) std::abort();
    return 0;
}

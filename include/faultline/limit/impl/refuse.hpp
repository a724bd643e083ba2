#ifndef FAULTLINE_LIMIT_IMPL_REFUSE_HPP
#define FAULTLINE_LIMIT_IMPL_REFUSE_HPP

namespace faultline::limit {

inline limit_response refuse(const decision& refusal, const decision* requests,
                             const decision* tokens) {
    limit_response r;
    r.ec = refusal.ec ? refusal.ec : std::error_code(error::rate_limited);
    const bool never = refusal.ec == error::request_exceeds_burst;
    if (never) {
        r.message = "The request needs more than the limit allows at once (" +
                    std::to_string(refusal.limit) + "); split it or raise the limit.";
    } else {
        r.message =
            r.ec.message() + " Please try again in " + go_duration(refusal.retry_after) + ".";
    }
    const rendered_error rendered = render(r.ec, r.message);
    r.status = rendered.status;
    r.body = rendered.body;
    if (!never) r.headers = retry_after_headers(refusal.retry_after);
    for (auto& h : rate_limit_headers(requests, tokens))
        r.headers.push_back(std::move(h));
    return r;
}

} // namespace faultline::limit

#endif

#ifndef FAULTLINE_EXAMPLES_COMMON_IMPL_TLS_HPP
#define FAULTLINE_EXAMPLES_COMMON_IMPL_TLS_HPP

#include <boost/system/error_code.hpp>

#include <openssl/err.h>

#include <utility>

namespace examples {

namespace detail {

class tls_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "examples.tls"; }
    std::string message(int v) const override {
        switch (static_cast<tls_error>(v)) {
        case tls_error::not_configured:
            return "https URL, but the connection has no TLS context";
        case tls_error::certificate_untrusted:
            return "certificate verify failed: the server's certificate is not signed by a "
                   "trusted CA (self-signed, or an issuer in neither the system's store nor the "
                   "CA file)";
        case tls_error::certificate_host_mismatch:
            return "certificate verify failed: the server's certificate does not name the URL's "
                   "host";
        case tls_error::certificate_expired:
            return "certificate verify failed: the server's certificate has expired or is not "
                   "valid yet";
        case tls_error::certificate_rejected:
            return "certificate verify failed: the server's certificate was rejected";
        }
        return "examples.tls: unknown error";
    }
};

// The host name check of `ssl::host_name_verification`, which also records a mismatch as
// OpenSSL's own verification error: without that the handshake fails with the verification
// result "ok", and the mismatch could not be told from other failures.
class verify_host {
public:
    verify_host(std::string host, bool ip)
        : check_(host)
        , ip_(ip) {}

    bool operator()(bool preverified, boost::asio::ssl::verify_context& ctx) {
        if (!preverified) return false; // OpenSSL's own error stands
        if (check_(preverified, ctx)) return true;
        X509_STORE_CTX_set_error(ctx.native_handle(), ip_ ? X509_V_ERR_IP_ADDRESS_MISMATCH
                                                          : X509_V_ERR_HOSTNAME_MISMATCH);
        return false;
    }

private:
    boost::asio::ssl::host_name_verification check_;
    bool ip_;
};

[[nodiscard]] inline tls_error verify_failure(long result) noexcept {
    switch (result) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return tls_error::certificate_host_mismatch;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return tls_error::certificate_expired;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
        return tls_error::certificate_untrusted;
    default:
        return tls_error::certificate_rejected;
    }
}

} // namespace detail

inline const std::error_category& tls_category() noexcept {
    static const detail::tls_category_impl instance;
    return instance;
}

inline std::error_code make_error_code(tls_error e) noexcept {
    return {static_cast<int>(e), tls_category()};
}

inline faultline::result<std::shared_ptr<boost::asio::ssl::context>>
make_tls_client_context(const std::string& ca_file) {
    namespace ssl = boost::asio::ssl;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ctx->set_verify_mode(ssl::verify_peer);
    boost::system::error_code ec;
    if (ctx->set_default_verify_paths(ec); ec) return std::error_code(ec);
    if (!ca_file.empty())
        if (ctx->load_verify_file(ca_file, ec); ec) return std::error_code(ec);
    return ctx;
}

template <class NextLayer>
std::error_code prepare_tls_client(boost::asio::ssl::stream<NextLayer>& s,
                                   const std::string& host) {
    namespace ssl = boost::asio::ssl;
    boost::system::error_code ec;
    (void)boost::asio::ip::make_address(host, ec);
    const bool ip = !ec;
    ec.clear();
    if (!ip) {
        ::ERR_clear_error();
        if (!SSL_set_tlsext_host_name(s.native_handle(), host.c_str()))
            return std::error_code(static_cast<int>(::ERR_get_error()),
                                   boost::asio::error::get_ssl_category());
    }
    if (s.set_verify_mode(ssl::verify_peer, ec); ec) return ec;
    if (s.set_verify_callback(detail::verify_host(host, ip), ec); ec) return ec;
    return {};
}

template <class NextLayer>
std::error_code explain_handshake(boost::asio::ssl::stream<NextLayer>& s, std::error_code ec) {
    // The verification result stays "ok" unless a certificate was checked and refused.
    const long result = SSL_get_verify_result(s.native_handle());
    if (ec && result != X509_V_OK) return detail::verify_failure(result);
    return ec;
}

} // namespace examples

#endif

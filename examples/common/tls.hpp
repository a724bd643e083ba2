#ifndef FAULTLINE_EXAMPLES_COMMON_TLS_HPP
#define FAULTLINE_EXAMPLES_COMMON_TLS_HPP

// Verified TLS for the examples' HTTP client (http_client.hpp): a client context that trusts the
// system's certificate store and, optionally, a PEM file of CA certificates; the per-connection
// setup (SNI, the host name check); and `tls_error`, the codes a certificate that does not verify
// becomes, so that a report can say why ("not signed by a trusted CA", "does not name the host")
// instead of OpenSSL's one "certificate verify failed".
//
//     auto ctx = examples::make_tls_client_context("ca.pem");   // result<shared_ptr<context>>
//     examples::http_connection c(ex, *examples::parse_base_url("https://127.0.0.1:8443/v1"),
//                                 ctx.value().get());
//
// There is no way to turn verification off: a server whose certificate does not verify gets no
// request. Not part of faultline's API.

#include <faultline/result.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>
#include <system_error>
#include <type_traits>

namespace examples {

/// Why a TLS connection was not made. Each is a failure no retry mends: the certificate or the
/// configuration must change.
enum class tls_error {
    /// An https URL, but the connection was given no TLS context (never a plain connection
    /// instead).
    not_configured = 1,
    /// The certificate does not chain to a trusted CA: self-signed, or its issuer is in neither
    /// the system's store nor the CA file.
    certificate_untrusted,
    /// The certificate verifies but names neither the URL's host name nor its IP address.
    certificate_host_mismatch,
    /// The certificate (or one in its chain) has expired or is not valid yet.
    certificate_expired,
    /// The certificate failed verification for another reason (a bad signature, a wrong
    /// purpose, a chain too long).
    certificate_rejected,
};

/// The category of `tls_error`, named "examples.tls". Thread-safe.
[[nodiscard]] const std::error_category& tls_category() noexcept;

/// `tls_error` as a `std::error_code`. Thread-safe.
[[nodiscard]] std::error_code make_error_code(tls_error e) noexcept;

/// A client context: TLS 1.2 or later, peer verification, the system's certificate store and,
/// when `ca_file` is not empty, the CA certificates in that PEM file as well. The error comes
/// from OpenSSL or the file system (a missing file, a file without a certificate). Share one
/// context among connections. Thread-safe.
[[nodiscard]] faultline::result<std::shared_ptr<boost::asio::ssl::context>>
make_tls_client_context(const std::string& ca_file = {});

/// Prepares `s` for a handshake with `host`: peer verification (whatever the context says), SNI
/// for a host name, and the check that the certificate names `host` (RFC 2818). The error is
/// OpenSSL's. Not thread-safe (one stream).
template <class NextLayer>
[[nodiscard]] std::error_code prepare_tls_client(boost::asio::ssl::stream<NextLayer>& s,
                                                 const std::string& host);

/// The error of a failed client handshake on `s`: a `tls_error` when the peer's certificate did
/// not verify, `ec` itself otherwise (a reset, a timeout, a protocol error). Not thread-safe.
template <class NextLayer>
[[nodiscard]] std::error_code explain_handshake(boost::asio::ssl::stream<NextLayer>& s,
                                                std::error_code ec);

} // namespace examples

template <>
struct std::is_error_code_enum<examples::tls_error> : std::true_type {};

#include "common/impl/tls.hpp"

#endif

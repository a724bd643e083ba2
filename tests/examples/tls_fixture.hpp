#ifndef FAULTLINE_TESTS_EXAMPLES_TLS_FIXTURE_HPP
#define FAULTLINE_TESTS_EXAMPLES_TLS_FIXTURE_HPP

// A self-signed certificate for "localhost" and 127.0.0.1, made at run time with OpenSSL's C API
// (a P-256 key, SHA-256, valid from an hour ago for a day) and written as PEM files to a fresh
// temporary directory that the fixture removes; and TLS contexts around it: a server's, and a
// client's that trusts this certificate alone and verifies its peer.
//
//     examples_test::tls_files tls;
//     auto server = tls.server_context();               // or pass cert_file()/key_file()
//     boost::asio::ssl::context client = tls.client_context();

#include <boost/asio/ssl/context.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

namespace examples_test {

class tls_files {
public:
    /// Throws `std::runtime_error` if OpenSSL or the file system fails.
    tls_files() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "faultline-tls-XXXXXX").string();
        if (!::mkdtemp(pattern.data()))
            throw std::system_error(errno, std::generic_category(), "mkdtemp");
        dir_ = pattern;
        cert_file_ = (dir_ / "cert.pem").string();
        key_file_ = (dir_ / "key.pem").string();
        try {
            write_files();
        } catch (...) {
            remove();
            throw;
        }
    }
    ~tls_files() { remove(); }
    tls_files(const tls_files&) = delete;
    tls_files& operator=(const tls_files&) = delete;

    /// The certificate (PEM), also the client's only trust anchor.
    [[nodiscard]] const std::string& cert_file() const noexcept { return cert_file_; }
    /// The unencrypted private key (PEM).
    [[nodiscard]] const std::string& key_file() const noexcept { return key_file_; }

    /// A server context holding the certificate and key.
    [[nodiscard]] std::shared_ptr<boost::asio::ssl::context> server_context() const {
        namespace ssl = boost::asio::ssl;
        auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
        ctx->use_certificate_chain_file(cert_file_);
        ctx->use_private_key_file(key_file_, ssl::context::pem);
        return ctx;
    }

    /// A client context that trusts this certificate alone and verifies the peer; the caller
    /// still sets SNI and the host name check on each stream.
    [[nodiscard]] boost::asio::ssl::context client_context() const {
        namespace ssl = boost::asio::ssl;
        ssl::context ctx(ssl::context::tls_client);
        ctx.load_verify_file(cert_file_);
        ctx.set_verify_mode(ssl::verify_peer);
        return ctx;
    }

private:
    template <class T, void (*Free)(T*)>
    struct deleter {
        void operator()(T* p) const noexcept { Free(p); }
    };
    using key_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
    using cert_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;

    static void check(bool ok, const char* what) {
        if (!ok) throw std::runtime_error(std::string("tls_files: ") + what + " failed");
    }

    static void add_extension(X509* cert, int nid, const char* value) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        check(ext != nullptr, "X509V3_EXT_conf_nid");
        const int added = X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
        check(added == 1, "X509_add_ext");
    }

    static void write_pem(const std::string& path, auto write) {
        BIO* bio = BIO_new_file(path.c_str(), "w");
        check(bio != nullptr, "BIO_new_file");
        const bool ok = write(bio);
        BIO_free(bio);
        check(ok, "PEM write");
    }

    void write_files() {
        const key_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
        check(key != nullptr, "EVP_PKEY_Q_keygen");
        const cert_ptr cert(X509_new());
        check(cert != nullptr, "X509_new");
        X509* x = cert.get();
        check(X509_set_version(x, 2) == 1, "X509_set_version"); // v3, for the extensions
        check(ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1, "serial number");
        check(X509_gmtime_adj(X509_getm_notBefore(x), -3600) != nullptr, "notBefore");
        check(X509_gmtime_adj(X509_getm_notAfter(x), 86'400) != nullptr, "notAfter");
        check(X509_set_pubkey(x, key.get()) == 1, "X509_set_pubkey");
        X509_NAME* name = X509_get_subject_name(x);
        check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                         reinterpret_cast<const unsigned char*>("localhost"), -1,
                                         -1, 0) == 1,
              "subject");
        check(X509_set_issuer_name(x, name) == 1, "issuer");
        // Its own CA: a client that trusts it alone can verify it.
        add_extension(x, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(x, NID_key_usage, "critical,digitalSignature,keyCertSign");
        add_extension(x, NID_subject_key_identifier, "hash");
        add_extension(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
        check(X509_sign(x, key.get(), EVP_sha256()) > 0, "X509_sign");
        write_pem(cert_file_, [&](BIO* b) { return PEM_write_bio_X509(b, x) == 1; });
        write_pem(key_file_, [&](BIO* b) {
            return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr) ==
                   1;
        });
    }

    void remove() noexcept {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }

    std::filesystem::path dir_;
    std::string cert_file_;
    std::string key_file_;
};

} // namespace examples_test

#endif

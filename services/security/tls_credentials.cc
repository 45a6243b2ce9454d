#include "services/security/tls_credentials.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/security/flag_file.h"

namespace tally::security {

absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        const std::string& flag) {
  absl::StatusOr<std::string> read = ReadFlagFile(path, flag);
  if (!read.ok()) return read.status();
  std::string pem = *std::move(read);
  // gRPC would only fail later, at the first handshake, with a vaguer
  // message; a file without a PEM block is certainly wrong.
  if (!absl::StrContains(pem, "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": not a PEM file"));
  }
  return pem;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options, const TlsFlagNames& names) {
  const bool any_file = !options.cert_file.empty() ||
                        !options.key_file.empty() ||
                        !options.client_ca_file.empty();
  if (options.insecure) {
    if (any_file) {
      return absl::InvalidArgumentError(
          absl::StrCat(names.insecure, " conflicts with ", names.cert, ", ",
                       names.key, " and ", names.client_ca));
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.cert_file.empty() || options.key_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS needs ", names.cert, " and ", names.key, " (PEM files); ",
        names.insecure, " serves plain text, for local demos only"));
  }
  absl::StatusOr<std::string> cert = ReadPemFile(options.cert_file, names.cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile(options.key_file, names.key);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!options.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca =
        ReadPemFile(options.client_ca_file, names.client_ca);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    // Verified when presented, not required: watchers without a
    // certificate may read the feed, while Ingest demands an identity.
    ssl.client_certificate_request =
        GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  } else {
    ssl.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  }
  return grpc::SslServerCredentials(ssl);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const ClientTlsOptions& options,
                       const TlsFlagNames& names) {
  const bool any_file = !options.ca_file.empty() ||
                        !options.cert_file.empty() || !options.key_file.empty();
  if (options.insecure) {
    if (any_file) {
      return absl::InvalidArgumentError(
          absl::StrCat(names.insecure, " conflicts with ", names.ca, ", ",
                       names.cert, " and ", names.key));
    }
    return grpc::InsecureChannelCredentials();
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a client certificate needs both ", names.cert, " and ", names.key));
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile(options.ca_file, names.ca);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
  }
  if (!options.cert_file.empty()) {
    absl::StatusOr<std::string> cert =
        ReadPemFile(options.cert_file, names.cert);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPemFile(options.key_file, names.key);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace tally::security

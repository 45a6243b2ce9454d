// gRPC credentials from PEM files. A process speaks TLS unless it is told
// --insecure; a server given neither key material nor --insecure refuses
// to start, so plain text is always a visible choice. Files are read once
// at start (a renewed certificate needs a restart).
#ifndef TALLY_SERVICES_SECURITY_TLS_CREDENTIALS_H_
#define TALLY_SERVICES_SECURITY_TLS_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace tally::security {

struct ServerTlsOptions {
  // PEM certificate chain and private key of the server.
  std::string cert_file;
  std::string key_file;
  // PEM CA bundle for client certificates. When set, a client presenting a
  // certificate must present one this CA signed (else the handshake
  // fails); a client may also present none, and calls that need an
  // identity check for one (see collector_identities.h). Empty: client
  // certificates are not requested.
  std::string client_ca_file;
  // Plain text. Conflicts with the files above.
  bool insecure = false;
};

struct ClientTlsOptions {
  // PEM CA bundle that verifies the server; empty: the system roots.
  std::string ca_file;
  // Client certificate and key (mutual TLS); both or neither.
  std::string cert_file;
  std::string key_file;
  // Plain text. Conflicts with the files above.
  bool insecure = false;
};

// Flag names used in error messages, so that each binary's messages name
// its own flags.
struct TlsFlagNames {
  std::string cert = "--tls_cert";
  std::string key = "--tls_key";
  std::string ca = "--tls_ca";
  std::string client_ca = "--tls_client_ca";
  std::string insecure = "--insecure";
};

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options, const TlsFlagNames& names = {});

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const ClientTlsOptions& options,
                       const TlsFlagNames& names = {});

// Reads a whole file; the error names the path and the flag.
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        const std::string& flag);

}  // namespace tally::security

#endif  // TALLY_SERVICES_SECURITY_TLS_CREDENTIALS_H_

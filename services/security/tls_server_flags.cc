// --tls_cert and --tls_key: linked into the binaries that serve gRPC.
#include <string>

#include "absl/flags/flag.h"
#include "services/security/tls_flags.h"

ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain of this server");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");

namespace tally::security {

ServerTlsOptions ServerTlsFromFlags() {
  ServerTlsOptions options;
  options.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.key_file = absl::GetFlag(FLAGS_tls_key);
  options.insecure = InsecureFromFlags();
  return options;
}

}  // namespace tally::security

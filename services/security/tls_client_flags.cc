// --tls_ca: linked into the binaries that call a gRPC server.
#include <string>

#include "absl/flags/flag.h"
#include "services/security/tls_flags.h"

ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA that verifies the servers this process calls; default: "
          "the system roots");

namespace tally::security {

ClientTlsOptions ClientTlsFromFlags() {
  ClientTlsOptions options;
  options.ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.insecure = InsecureFromFlags();
  return options;
}

}  // namespace tally::security

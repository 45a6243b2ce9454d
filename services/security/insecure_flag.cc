// --insecure: every binary that speaks gRPC has it.
#include "absl/flags/flag.h"
#include "services/security/tls_flags.h"

ABSL_FLAG(bool, insecure, false,
          "plain text instead of TLS on every gRPC connection this process "
          "serves or makes (local demos only)");

namespace tally::security {

bool InsecureFromFlags() { return absl::GetFlag(FLAGS_insecure); }

}  // namespace tally::security

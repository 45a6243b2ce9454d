// The TLS flags, declared once for every binary (the four servers and
// tallyctl), and their mapping onto tls_credentials' options:
//   --tls_cert, --tls_key   the certificate a server presents
//   --tls_ca                the CA that verifies the servers a process calls
//   --insecure              plain text instead of all of them
//
// Each group is defined in its own file, so a binary has exactly the flags
// of the functions it calls: the gateway (no server certificate) calls only
// ClientTlsFromFlags and has no --tls_cert. Flags a single binary has (the
// aggregator's --tls_client_ca, the collector's --client_cert) stay in its
// main.cc.
//
// Read after flag parsing, on the main thread.
#ifndef TALLY_SERVICES_SECURITY_TLS_FLAGS_H_
#define TALLY_SERVICES_SECURITY_TLS_FLAGS_H_

#include "services/security/tls_credentials.h"

namespace tally::security {

// --tls_cert, --tls_key and --insecure (tls_server_flags.cc).
ServerTlsOptions ServerTlsFromFlags();

// --tls_ca and --insecure (tls_client_flags.cc).
ClientTlsOptions ClientTlsFromFlags();

// --insecure (insecure_flag.cc).
bool InsecureFromFlags();

}  // namespace tally::security

#endif  // TALLY_SERVICES_SECURITY_TLS_FLAGS_H_

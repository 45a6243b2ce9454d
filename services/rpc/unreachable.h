// Saying, in words a person can act on, that a call never reached its
// server: which address was tried, why it failed ("connection refused",
// "unknown host", a TLS mismatch) and what to check. tallyctl prints it;
// the collector, relay and gateway log it about their upstream.
//
// gRPC reports all of these as UNAVAILABLE (or DEADLINE_EXCEEDED while
// still connecting) with the transport's text; a server's own UNAVAILABLE
// ("the relay has no complete snapshot") is not an unreachable server and
// is left alone. Pure functions; any thread.
#ifndef TALLY_SERVICES_RPC_UNREACHABLE_H_
#define TALLY_SERVICES_RPC_UNREACHABLE_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"

namespace tally::rpc {

struct Unreachable {
  enum class Kind {
    kAddress,  // nothing answers there: check the address, start the server
    kTls,      // something answers, but TLS does not agree: check the flags
  };
  Kind kind = Kind::kAddress;
  // A few words: "connection refused", "unknown host", "no answer",
  // "TLS handshake failed: the server may run without TLS", ...
  std::string reason;
};

// Why the call that ended with `status` did not reach a server; nullopt
// when a server answered it. `channel` (may be null) is the call's
// channel: a deadline that expired while it was not connected means "no
// answer"; without it a deadline is always the server's.
std::optional<Unreachable> Diagnose(const grpc::Status& status,
                                    grpc::Channel* channel = nullptr);

// "no aggregator at 127.0.0.1:7400 (connection refused)": `what` is the
// kind of server that was expected there.
std::string NoServerAt(absl::string_view what, absl::string_view address,
                       const Unreachable& unreachable);

// What to check for a TLS mismatch, for a client that used `insecure`.
std::string TlsHint(const Unreachable& unreachable, bool insecure);

// What a server that cannot reach its upstream logs to check, given the
// flag that names the upstream's address: "start it, or check
// --aggregator", or for a TLS mismatch the TLS flags of both ends.
std::string UpstreamHint(const Unreachable& unreachable,
                         absl::string_view address_flag);

}  // namespace tally::rpc

#endif  // TALLY_SERVICES_RPC_UNREACHABLE_H_

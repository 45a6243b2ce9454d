#include "services/rpc/unreachable.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tally::rpc {
namespace {

using Kind = Unreachable::Kind;

struct Pattern {
  const char* text;  // in gRPC's transport message
  Kind kind;
  const char* reason;
};

// The transport's words (gRPC 1.51, OpenSSL 3) and ours, most specific
// first.
constexpr Pattern kPatterns[] = {
    {"Connection refused", Kind::kAddress, "connection refused"},
    {"DNS resolution failed", Kind::kAddress, "unknown host"},
    {"No route to host", Kind::kAddress, "no route to host"},
    {"Network is unreachable", Kind::kAddress, "network unreachable"},
    {"Connection timed out", Kind::kAddress, "no answer"},
    {"wrong version number", Kind::kTls,
     "TLS handshake failed: the server may run without TLS"},
    {"certificate verify failed", Kind::kTls,
     "its TLS certificate is not signed by a trusted CA"},
    {"not in peer certificate", Kind::kTls,
     "its TLS certificate does not name this address"},
    {"andshake failed", Kind::kTls, "TLS handshake failed"},
    {"Socket closed", Kind::kTls,
     "the connection closed before the first call: the server may require "
     "TLS"},
    {"Connection reset", Kind::kTls,
     "the connection closed before the first call: the server may require "
     "TLS"},
};

}  // namespace

std::optional<Unreachable> Diagnose(const grpc::Status& status,
                                    grpc::Channel* channel) {
  const std::string& message = status.error_message();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    // Connection failures carry the transport's text; a server's own
    // UNAVAILABLE does not.
    const bool connecting =
        absl::StrContains(message, "failed to connect to all addresses") ||
        absl::StrContains(message, "DNS resolution failed");
    if (!connecting) return std::nullopt;
    for (const Pattern& pattern : kPatterns) {
      if (absl::StrContains(message, pattern.text)) {
        return Unreachable{pattern.kind, pattern.reason};
      }
    }
    return Unreachable{Kind::kAddress, "cannot connect"};
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
      channel != nullptr &&
      channel->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY) {
    return Unreachable{Kind::kAddress, "no answer"};
  }
  return std::nullopt;
}

std::string NoServerAt(absl::string_view what, absl::string_view address,
                       const Unreachable& unreachable) {
  return absl::StrCat("no ", what, " at ", address, " (", unreachable.reason,
                      ")");
}

std::string TlsHint(const Unreachable& unreachable, bool insecure) {
  if (absl::StrContains(unreachable.reason, "without TLS")) {
    return "pass --insecure if it runs without TLS";
  }
  if (insecure) return "pass --tls_ca instead of --insecure if it runs TLS";
  return "check --tls_ca (the CA that signed its certificate)";
}

std::string UpstreamHint(const Unreachable& unreachable,
                         absl::string_view address_flag) {
  if (unreachable.kind == Unreachable::Kind::kTls) {
    return "check that both ends agree on TLS: the CA of --tls_ca here signed "
           "its certificate, or both run --insecure";
  }
  return absl::StrCat("start it, or check ", address_flag);
}

}  // namespace tally::rpc

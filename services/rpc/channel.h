// The one place tally makes gRPC channels: the collectors' forwarder, the
// relay's and the gateway's upstreams, tallyctl, the benchmark driver and
// the tests all call MakeChannel, so message sizes, keepalive (keepalive.h)
// and reconnect behaviour are set once.
//
// Channels connect lazily: a server that is not there shows up as
// UNAVAILABLE on calls (see unreachable.h for saying so to a person), never
// as an error here. Thread-safe: channels are shared by any number of
// calls and threads.
#ifndef TALLY_SERVICES_RPC_CHANNEL_H_
#define TALLY_SERVICES_RPC_CHANNEL_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "services/rpc/keepalive.h"

namespace tally::rpc {

// Every member has a default, so that callers name only what they set
// ({.credentials = tls}).
struct ChannelOptions {
  // TLS (services/security); null: plain text.
  std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr;
  int max_message_bytes = kMaxMessageBytes;
  // Backoff of the channel's own reconnection attempts. Zero: gRPC's
  // defaults (1 s, growing to 2 min). A client that runs its own retry loop
  // sets both, so that the channel never holds a restarted server back for
  // longer than the client's own backoff would.
  absl::Duration min_reconnect_backoff = absl::ZeroDuration();
  absl::Duration max_reconnect_backoff = absl::ZeroDuration();
  // A connection of its own instead of one shared with other channels to
  // the same target: N channels are then N TCP connections, as N real
  // collectors would open (the benchmark driver).
  bool own_connection = false;
  // Further integer channel arguments (GRPC_ARG_... name, value) for a
  // special transport, such as a test playing a client with a tiny receive
  // window. Each replaces the default of the same name.
  std::vector<std::pair<std::string, int>> extra_int_args = {};
};

// A channel to `target` (HOST:PORT, or any gRPC target name).
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           const ChannelOptions& options = {});

}  // namespace tally::rpc

#endif  // TALLY_SERVICES_RPC_CHANNEL_H_

// The gateway's gRPC side: channels to the aggregator for reads, and to
// the feed (the aggregator or a relay) for watches, matched with the
// servers' message size and keepalive settings, a deadline on every call,
// and the upstream's health. Either may be a list of replicas of a
// replicated aggregator (rpc::Replicas): a read that finds a replica
// unreachable is tried on the next one, and a watch that fails makes the
// next watch go to the next replica.
#ifndef TALLY_SERVICES_GATEWAY_UPSTREAM_H_
#define TALLY_SERVICES_GATEWAY_UPSTREAM_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "services/rpc/replicas.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/feed.grpc.pb.h"
#include "tally/v1/log.grpc.pb.h"

namespace tally::gateway {

class Upstream {
 public:
  // Channels connect lazily: a missing upstream shows up as UNAVAILABLE
  // on calls, not as a start failure (the gateway may start first). Each
  // address may be a list (HOST:PORT,HOST:PORT). `credentials`: TLS
  // towards both upstreams; null: plain text.
  Upstream(const std::string& aggregator_address,
           const std::string& feed_address, absl::Duration rpc_timeout,
           std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

  // How a call to the aggregator ended, and the text of its HTTP error
  // (empty when OK; see NoteCall).
  struct Outcome {
    grpc::Status status;
    std::string error;
  };
  // Runs `call` on an aggregator replica (the current one, then each other
  // while the answer is UNAVAILABLE), each attempt with a fresh context
  // (UnaryContext), and notes the outcome (NoteCall).
  Outcome CallAggregator(
      const std::function<grpc::Status(v1::Aggregator::Stub& stub,
                                       grpc::ClientContext* context)>& call);
  // The same for the aggregator's transparency log (tally.v1.Log).
  Outcome CallLog(
      const std::function<grpc::Status(v1::Log::Stub& stub,
                                       grpc::ClientContext* context)>& call);
  // The feed replica the next watch goes to.
  rpc::Replicas::Target feed_target() { return feeds_.Current(); }

  // A context whose deadline is the unary timeout from now.
  std::unique_ptr<grpc::ClientContext> UnaryContext() const;

  // grpc.health.v1.Health/Check of the aggregator (overall health, service
  // ""): OK when a replica answers SERVING; UNAVAILABLE naming the state
  // otherwise, or the call's own error. Noted like CallAggregator.
  Outcome CheckHealth();

  // Which upstream a call went to.
  enum class Target { kAggregator, kFeed };
  // Notes how a call to `target` (on replica `used`) ended and returns the
  // text of an HTTP error for it (empty for OK): for an upstream that could
  // not be reached, "no aggregator at HOST:PORT (connection refused)",
  // logged once with what to check until a call gets through again; else
  // the call's own message. A replica that could not serve makes the next
  // call go to the next one.
  std::string NoteCall(Target target, const rpc::Replicas::Target& used,
                       const grpc::Status& status);

  // Counts live watch calls (UpstreamWatch registers itself). A call's
  // context holds a reference to its channel and may be destroyed on a
  // gRPC callback thread; if that were the channel's last reference, gRPC
  // would tear down its callback threads from one of them. So the
  // destructor waits until every registered call is gone.
  void AddWatch();
  void RemoveWatch();

  ~Upstream();

 private:
  // CallAggregator and CallLog: `call` on each replica's channel in turn.
  Outcome CallReplicas(const std::function<grpc::Status(
                           const std::shared_ptr<grpc::Channel>& channel,
                           grpc::ClientContext* context)>& call);
  // One replica's health (see CheckHealth).
  grpc::Status CheckHealthOf(const std::shared_ptr<grpc::Channel>& channel);

  const absl::Duration rpc_timeout_;
  absl::Mutex mu_;
  size_t live_watches_ ABSL_GUARDED_BY(mu_) = 0;
  // Whether the last call to each target found it unreachable (logged).
  bool aggregator_unreachable_ ABSL_GUARDED_BY(mu_) = false;
  bool feed_unreachable_ ABSL_GUARDED_BY(mu_) = false;
  rpc::Replicas aggregators_;
  rpc::Replicas feeds_;
};

}  // namespace tally::gateway

#endif  // TALLY_SERVICES_GATEWAY_UPSTREAM_H_

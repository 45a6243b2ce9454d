// The gateway's gRPC side: a channel to the aggregator for reads, one to
// the feed (the aggregator or a relay) for watches, matched with the
// servers' message size and keepalive settings, a deadline on every call,
// and the upstream's health.
#ifndef TALLY_SERVICES_GATEWAY_UPSTREAM_H_
#define TALLY_SERVICES_GATEWAY_UPSTREAM_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/feed.grpc.pb.h"

namespace tally::gateway {

class Upstream {
 public:
  // Channels connect lazily: a missing upstream shows up as UNAVAILABLE
  // on calls, not as a start failure (the gateway may start first).
  // `credentials`: TLS towards both upstreams; null: plain text.
  Upstream(const std::string& aggregator_address,
           const std::string& feed_address, absl::Duration rpc_timeout,
           std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

  v1::Aggregator::Stub* aggregator() { return aggregator_.get(); }
  v1::Feed::Stub* feed() { return feed_.get(); }

  // A context whose deadline is the unary timeout from now.
  std::unique_ptr<grpc::ClientContext> UnaryContext() const;

  // grpc.health.v1.Health/Check of the aggregator (overall health, service
  // ""): OK when it answers SERVING; UNAVAILABLE naming the state
  // otherwise, or the call's own error.
  grpc::Status CheckHealth();

  // Which upstream a call went to.
  enum class Target { kAggregator, kFeed };
  // Notes how a call to `target` ended and returns the text of an HTTP
  // error for it (empty for OK): for an upstream that could not be reached,
  // "no aggregator at HOST:PORT (connection refused)", logged once with
  // what to check until a call gets through again; else the call's own
  // message.
  std::string NoteCall(Target target, const grpc::Status& status);

  // Counts live watch calls (UpstreamWatch registers itself). A call's
  // context holds a reference to its channel and may be destroyed on a
  // gRPC callback thread; if that were the channel's last reference, gRPC
  // would tear down its callback threads from one of them. So the
  // destructor waits until every registered call is gone.
  void AddWatch();
  void RemoveWatch();

  ~Upstream();

 private:
  const absl::Duration rpc_timeout_;
  const std::string aggregator_address_;
  const std::string feed_address_;
  absl::Mutex mu_;
  size_t live_watches_ ABSL_GUARDED_BY(mu_) = 0;
  // Whether the last call to each target found it unreachable (logged).
  bool aggregator_unreachable_ ABSL_GUARDED_BY(mu_) = false;
  bool feed_unreachable_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<grpc::Channel> aggregator_channel_;
  std::shared_ptr<grpc::Channel> feed_channel_;
  std::unique_ptr<v1::Aggregator::Stub> aggregator_;
  std::unique_ptr<v1::Feed::Stub> feed_;
};

}  // namespace tally::gateway

#endif  // TALLY_SERVICES_GATEWAY_UPSTREAM_H_

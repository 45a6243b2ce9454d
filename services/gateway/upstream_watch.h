// One Feed.Watch call for one SSE client, on gRPC's callback API so that
// waiting for upstream messages takes no thread of its own: the HTTP worker
// that serves the client pulls messages with a timeout (for keepalives).
// At most `queue_limit` messages wait; beyond that reading pauses and HTTP/2
// flow control pushes back on the upstream, which resynchronises a watcher
// that stays behind (a slow browser never slows anyone else).
#ifndef TALLY_SERVICES_GATEWAY_UPSTREAM_WATCH_H_
#define TALLY_SERVICES_GATEWAY_UPSTREAM_WATCH_H_

#include <cstddef>
#include <deque>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "services/gateway/upstream.h"
#include "services/rpc/replicas.h"
#include "tally/v1/feed.grpc.pb.h"

namespace tally::gateway {

class UpstreamWatch : public grpc::ClientReadReactor<v1::WatchResponse> {
 public:
  // Starts the call on `upstream`'s feed; it runs until the upstream ends
  // it, `deadline` passes or Cancel. `upstream` must outlive it (its
  // destructor waits for every call started on it).
  static std::shared_ptr<UpstreamWatch> Start(Upstream* upstream,
                                              const v1::WatchRequest& request,
                                              absl::Duration deadline,
                                              size_t queue_limit);

  enum class Next { kMessage, kTimeout, kEnded };
  // Waits up to `timeout` for the next message (into `message`). kEnded
  // once every message has been taken and the call is over: `status` then
  // holds its final status.
  Next Take(absl::Duration timeout, v1::WatchResponse* message,
            grpc::Status* status);

  // Ends the call (the server is stopping, or the client went away).
  // Safe at any time, more than once. A caller that stops taking must
  // cancel: a paused call would otherwise never finish.
  void Cancel();

  // Reading is paused because the queue is full (for tests and stats).
  bool paused();

  // The feed replica the call went to.
  const rpc::Replicas::Target& target() const { return target_; }

  ~UpstreamWatch() override;

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  UpstreamWatch(Upstream* upstream, size_t queue_limit)
      : registration_(upstream), queue_limit_(queue_limit) {}

  // Declared first, so destroyed last: after the context (and its channel
  // reference) is gone, the upstream stops counting this call.
  struct Registration {
    explicit Registration(Upstream* upstream) : upstream(upstream) {
      upstream->AddWatch();
    }
    ~Registration() { upstream->RemoveWatch(); }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    Upstream* const upstream;
  };
  Registration registration_;
  const size_t queue_limit_;
  rpc::Replicas::Target target_;
  std::unique_ptr<v1::Feed::Stub> stub_;
  grpc::ClientContext context_;
  v1::WatchRequest request_;
  v1::WatchResponse incoming_;  // the read in flight

  absl::Mutex mu_;
  std::deque<v1::WatchResponse> queue_ ABSL_GUARDED_BY(mu_);
  // Until reads are over, either a read is in flight (or about to start)
  // or reading is paused because the queue is full; Take restarts it.
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  // No read will start again: the last one failed, or Cancel came while
  // paused. The hold taken in Start is released exactly then.
  bool reads_over_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  // Keeps the reactor alive until OnDone, whoever else lets go of it.
  std::shared_ptr<UpstreamWatch> self_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tally::gateway

#endif  // TALLY_SERVICES_GATEWAY_UPSTREAM_WATCH_H_

// tally.v1.Feed as the relay serves it: every call goes to the WatchHub of
// the current upstream snapshot. The hub is replaced when the relay has to
// re-snapshot from its upstream (the upstream said compacted, or
// resynchronised the relay): the old hub's streams then end (OK) and their
// clients resume by revision, which the new hub answers with compacted, so
// they re-snapshot (see docs/ARCHITECTURE.md, the relay section).
#ifndef TALLY_SERVICES_RELAY_FEED_SERVICE_H_
#define TALLY_SERVICES_RELAY_FEED_SERVICE_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/feed/watch_hub.h"
#include "services/relay/relay_state.h"
#include "tally/v1/feed.grpc.pb.h"

namespace tally::relay {

class FeedService : public v1::Feed::CallbackService {
 public:
  // `ahead_wait`: how long a call resuming from a revision the relay does
  // not have yet waits for it (the relay may trail its upstream by a few
  // events) before it is refused like the aggregator refuses it.
  FeedService(RelayState* state, feed::WatchHubOptions options,
              absl::Duration ahead_wait);
  ~FeedService() override;

  // Starts serving `state`'s current snapshot with a fresh hub.
  void Install();
  // Ends every stream of the current hub and refuses calls (UNAVAILABLE)
  // until the next Install. Blocks until the hub's streams are done.
  void Withdraw();
  // A new upstream event, already applied to the state.
  void Publish(std::shared_ptr<const v1::Event> event);
  // Withdraws for good.
  void Shutdown();

  size_t watcher_count() const;
  uint64_t resync_count() const;

  grpc::ServerWriteReactor<v1::WatchResponse>* Watch(
      grpc::CallbackServerContext* context,
      const v1::WatchRequest* request) override;

 private:
  std::shared_ptr<feed::WatchHub> hub() const;

  RelayState* const state_;
  const feed::WatchHubOptions options_;
  const absl::Duration ahead_wait_;
  mutable absl::Mutex mu_;
  std::shared_ptr<feed::WatchHub> hub_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // Revision the current hub has published (what it can serve).
  uint64_t published_ ABSL_GUARDED_BY(mu_) = 0;
  // Resyncs counted by hubs already replaced.
  uint64_t old_resyncs_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tally::relay

#endif  // TALLY_SERVICES_RELAY_FEED_SERVICE_H_

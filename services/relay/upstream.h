// The relay's one Feed.Watch on its upstream (an aggregator or another
// relay), run by a dedicated thread with a synchronous reader.
//
// It subscribes to everything (all contests and scopes, station updates
// included; the hub filters per downstream watcher). The first stream
// starts from revision 0: the snapshot is assembled and installed, then
// every event is applied in order and published. After a failure it
// reconnects and resumes from its last revision, so downstream watchers see
// no gap and no reordering. The upstream may be a list of replicas (of a
// replicated aggregator, whose replicas number events identically): a
// stream that fails before delivering anything moves to the next replica
// at once; the relay backs off exponentially only after every replica
// failed in turn. When the upstream
// says compacted (the relay was away longer than the upstream's retained
// log) or resynchronises the relay (it fell behind), the relay takes the
// fresh snapshot and replaces its feed (see feed_service.h).
//
// A stream that delivers nothing for `idle_timeout` is cancelled and
// re-opened: the upstream's progress notifications (requested at a fraction
// of that) keep a healthy stream busy.
#ifndef TALLY_SERVICES_RELAY_UPSTREAM_H_
#define TALLY_SERVICES_RELAY_UPSTREAM_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "services/relay/feed_service.h"
#include "services/relay/relay_state.h"
#include "services/rpc/replicas.h"

namespace tally::relay {

struct UpstreamOptions {
  // HOST:PORT, or the replicas' addresses separated by commas.
  std::string address;
  // Events kept by the relay: how much history to fetch with a snapshot.
  uint64_t retained_events = 10000;
  int max_message_bytes = 64 << 20;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  absl::Duration idle_timeout = absl::Seconds(30);
  // TLS towards the upstream; null: plain text.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

class Upstream {
 public:
  // `on_serving(true)` once a snapshot is installed, `(false)` while a
  // replacement is pending without a feed.
  Upstream(UpstreamOptions options, RelayState* state, FeedService* feed,
           std::function<void(bool)> on_serving);
  ~Upstream();

  void Start();
  // Cancels the stream and joins the threads.
  void Stop();

  // Streams opened since start (1 + reconnections).
  uint64_t connections() const;
  // Times the relay had to take a fresh snapshot after the first.
  uint64_t resnapshots() const;

 private:
  // One stream from `from`; returns why it ended. `received`: whether it
  // delivered any message.
  absl::Status RunStream(const rpc::Replicas::Target& upstream, uint64_t from,
                         bool* received);
  void Loop();
  void WatchdogLoop();
  void Install(feed::SnapshotView view);
  // The upstream's events up to `revision` (at most the retained number),
  // read on a second, short stream; empty when they cannot be had.
  std::vector<std::shared_ptr<const v1::Event>> Backfill(uint64_t revision);

  const UpstreamOptions options_;
  RelayState* const state_;
  FeedService* const feed_;
  const std::function<void(bool)> on_serving_;
  rpc::Replicas upstreams_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  grpc::ClientContext* backfill_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Time last_message_ ABSL_GUARDED_BY(mu_);
  uint64_t connections_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t resnapshots_ ABSL_GUARDED_BY(mu_) = 0;
  bool installed_once_ ABSL_GUARDED_BY(mu_) = false;
  // The upstream said compacted: the next stream starts from 0 (the current
  // state keeps being served until the fresh snapshot is complete).
  bool need_snapshot_ ABSL_GUARDED_BY(mu_) = false;

  std::thread thread_;
  std::thread watchdog_;
};

}  // namespace tally::relay

#endif  // TALLY_SERVICES_RELAY_UPSTREAM_H_

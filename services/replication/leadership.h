// Leader election for one replica, on etcd's election recipe: grant a
// lease, keep it alive, campaign with it (the value names this replica
// and its address), and once elected report the fence (leader key and its
// create revision, the epoch) until the lease is lost or the owner steps
// down; then resign, and campaign again with a new lease.
//
// Being "leader" here only means etcd elected this replica; whether its
// writes still count is decided by etcd at every write (the fence, see
// log_writer.h). Losing the lease (no renewal confirmed within its TTL) is
// reported so the replica stops taking Ingest: liveness, never safety.
//
// Threading: one thread of its own; the callbacks run on it and must not
// block for long. Accessors are thread-safe.
#ifndef TALLY_SERVICES_REPLICATION_LEADERSHIP_H_
#define TALLY_SERVICES_REPLICATION_LEADERSHIP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/etcd/client.h"
#include "services/replication/cluster_keys.h"
#include "services/replication/log_writer.h"
#include "tally/v1/replication.pb.h"

namespace tally::replication {

struct LeadershipOptions {
  // Lease TTL: how long a dead leader keeps its key (the failover time).
  int64_t lease_ttl_seconds = 2;
  // After stepping down, wait this long before campaigning again, so that
  // another replica takes over.
  absl::Duration step_down_pause = absl::Seconds(3);
};

class Leadership {
 public:
  struct Callbacks {
    // Elected: writes fenced by `fence` commit while it holds.
    std::function<void(const Fence& fence)> elected;
    // No longer leader (lease lost, stepped down, or stopping).
    std::function<void(const std::string& why)> lost;
  };

  Leadership(etcd::Client* client, ClusterKeys keys, v1::LeaderInfo self,
             LeadershipOptions options, Callbacks callbacks);
  ~Leadership();  // Stop()

  void Start();
  // Resigns if leading and stops campaigning.
  void Stop();
  // Campaign only while eligible (a replica that cannot apply the log must
  // not lead). Starts eligible.
  void SetEligible(bool eligible);
  // Gives up leadership now (resigns) and campaigns again after the pause.
  void StepDown(const std::string& why);

  bool leading() const;

 private:
  void Run();
  // One term: lease, campaign, lead until lost. Returns why it ended.
  std::string Term();

  etcd::Client* const client_;
  const ClusterKeys keys_;
  const v1::LeaderInfo self_;
  const LeadershipOptions options_;
  const Callbacks callbacks_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool eligible_ ABSL_GUARDED_BY(mu_) = true;
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  std::string step_down_ ABSL_GUARDED_BY(mu_);  // non-empty: requested
  etcd::Cancellation* campaign_cancel_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

}  // namespace tally::replication

#endif  // TALLY_SERVICES_REPLICATION_LEADERSHIP_H_

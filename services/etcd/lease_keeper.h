// Keeps one etcd lease alive: renews it every third of its TTL (each
// renewal a short LeaseKeepAlive exchange with a deadline, on the member in
// use, moving to the next member after a failure) and tells its owner when
// the lease is lost: etcd answered that it expired, or no renewal was
// confirmed for a whole TTL.
//
// "Alive" is judged by this process's monotonic clock and is used only for
// liveness (a leader that cannot renew steps down and stops serving
// Ingest). Safety never depends on it: writes are fenced by etcd itself on
// the leader key's create revision, so a leader whose clock or scheduler
// lies cannot commit once its key is gone.
//
// Threading: one renewal thread; the accessors are thread-safe.
#ifndef TALLY_SERVICES_ETCD_LEASE_KEEPER_H_
#define TALLY_SERVICES_ETCD_LEASE_KEEPER_H_

#include <chrono>
#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/etcd/client.h"

namespace tally::etcd {

class LeaseKeeper {
 public:
  // Starts renewing `lease` (granted just before: its TTL counts from now).
  LeaseKeeper(Client* client, Client::Lease lease);
  // Stops renewing (the lease then expires unless revoked).
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  int64_t id() const { return lease_.id; }
  int64_t ttl_seconds() const { return lease_.ttl_seconds; }
  bool lost() const;
  // Waits until the lease is lost or `timeout` passes; true when lost.
  bool WaitLost(absl::Duration timeout) const;
  // The last error seen while renewing (for logs); empty if none.
  std::string last_error() const;

 private:
  using Clock = std::chrono::steady_clock;
  void Run();
  // One renewal; on success the new expiry estimate.
  absl::StatusOr<Clock::time_point> RenewOnce();

  Client* const client_;
  const Client::Lease lease_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool lost_ ABSL_GUARDED_BY(mu_) = false;
  Clock::time_point valid_until_ ABSL_GUARDED_BY(mu_);
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace tally::etcd

#endif  // TALLY_SERVICES_ETCD_LEASE_KEEPER_H_

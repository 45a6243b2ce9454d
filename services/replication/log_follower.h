// Applies the commit log in order, on every replica (the leader included):
// reads the rounds after the last applied one with a linearizable Range
// (page by page), then watches the log from the Range's revision, and
// calls `apply` for each round in index order. After any error (a member
// died, the watch was compacted, an apply failed) it starts over from the
// position `applied_position` reports, which is what the store holds.
//
// A round whose index is not the next one means the rounds in between were
// truncated away while this replica was not applying: it cannot continue
// from the log and stops in the kBehind state (its store must be replaced
// by a copy of a peer's).
//
// Threading: one thread of its own; `apply` runs on it. Accessors are
// thread-safe.
#ifndef TALLY_SERVICES_REPLICATION_LOG_FOLLOWER_H_
#define TALLY_SERVICES_REPLICATION_LOG_FOLLOWER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/etcd/client.h"
#include "services/etcd/watch_stream.h"
#include "services/replication/cluster_keys.h"
#include "storage/aggregator_store.h"
#include "tally/v1/replication.pb.h"

namespace tally::replication {

class LogFollower {
 public:
  // Applies one round; its position is {round.index, etcd revision}. An
  // error makes the follower start over from applied_position().
  using ApplyFn = std::function<absl::Status(const v1::ReplicatedRound& round,
                                             const storage::LogPosition& at)>;
  // The position of the last round durably applied (the store's).
  using PositionFn = std::function<storage::LogPosition()>;

  enum class State { kApplying, kBehind, kStopped };

  LogFollower(etcd::Client* client, ClusterKeys keys, ApplyFn apply,
              PositionFn applied_position);
  ~LogFollower();  // Stop()

  void Start();
  void Stop();

  State state() const;
  // Why the follower is kBehind, or the last error it recovered from.
  std::string last_error() const;
  // Index of the last round applied by this follower's thread (or the
  // start position).
  uint64_t applied_index() const;
  // Waits until applied_index() >= index; false on timeout or when the
  // follower cannot get there (kBehind, stopped).
  bool WaitApplied(uint64_t index, absl::Duration timeout) const;

 private:
  void Run();
  // Catches up by Range, then watches; returns why it stopped.
  absl::Status Follow();
  absl::Status ApplyKv(const mvccpb::KeyValue& kv);

  etcd::Client* const client_;
  const ClusterKeys keys_;
  const ApplyFn apply_;
  const PositionFn applied_position_;

  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kApplying;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t applied_index_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  etcd::WatchStream* watch_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t next_index_ = 1;  // follower thread only
  std::thread thread_;
};

}  // namespace tally::replication

#endif  // TALLY_SERVICES_REPLICATION_LOG_FOLLOWER_H_

// Ingest that follows the leader of a replicated deployment, as collectors
// given --aggregator A,B,C do: each stream (one region's collector) sends
// one batch at a time at a paced rate; when its stream fails it finds the
// leader (the `tally-leader` trailing metadata of a refusal, else the next
// replica), resumes after the welcome's cursor, and goes on. Every
// acknowledgement's time is recorded, so the benchmark can measure the
// time from a leader kill to the first acknowledgement after it.
#ifndef TALLY_CLIENTS_BENCH_FAILOVER_LOAD_H_
#define TALLY_CLIENTS_BENCH_FAILOVER_LOAD_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/bench/workload.h"

namespace tally::bench {

struct FailoverLoadOptions {
  // Every replica's address.
  std::vector<std::string> replicas;
  // Protocols per second over all streams.
  double rate = 2000;
  uint32_t batch = 16;
  std::string collector_prefix = "failover";
};

class FailoverLoad {
 public:
  // Stream r sends by_region[r] (in order; the stream stops at its end).
  FailoverLoad(FailoverLoadOptions options, std::vector<std::string> region_ids,
               std::vector<std::vector<const EncodedProtocol*>> by_region);
  ~FailoverLoad();  // Stop()

  void Start();
  void Stop();

  uint64_t acked() const { return acked_.load(); }
  uint64_t reconnects() const { return reconnects_.load(); }
  // Times of every acknowledgement, in no particular order.
  std::vector<absl::Time> AckTimes() const;
  // The first acknowledgement at or after `t` (InfiniteFuture if none).
  absl::Time FirstAckAfter(absl::Time t) const;

 private:
  void RunStream(size_t region);

  const FailoverLoadOptions options_;
  const std::vector<std::string> region_ids_;
  const std::vector<std::vector<const EncodedProtocol*>> by_region_;
  size_t streams_ = 0;  // regions with protocols
  absl::Time start_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> acked_{0};
  std::atomic<uint64_t> reconnects_{0};
  mutable absl::Mutex mu_;
  std::vector<absl::Time> ack_times_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace tally::bench

#endif  // TALLY_CLIENTS_BENCH_FAILOVER_LOAD_H_

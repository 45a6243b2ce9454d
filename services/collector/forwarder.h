// The forwarder (docs/ARCHITECTURE.md, "The collectors"): streams the outbox
// to the aggregator's Ingest and deletes entries only once the aggregator
// has acknowledged them as durable. On any error it reconnects and resumes
// after the aggregator's last applied sequence, so an outage only grows the
// outbox. With several aggregator replicas (a list of addresses) it follows
// the leader: a follower's refusal names the leader, which it connects to
// at once; an unreachable replica sends it to the next one; it backs off
// exponentially only after every replica failed in turn.
#ifndef TALLY_SERVICES_COLLECTOR_FORWARDER_H_
#define TALLY_SERVICES_COLLECTOR_FORWARDER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "services/collector/outbox_writer.h"
#include "services/rpc/replicas.h"
#include "storage/collector_store.h"
#include "tally/v1/aggregator.grpc.pb.h"

namespace tally::collector {

struct ForwarderOptions {
  // HOST:PORT, or the replicas' addresses separated by commas.
  std::string aggregator_address = "127.0.0.1:7400";
  std::string collector_id;
  std::string region_id;
  // Entries per batch (also capped by the aggregator's welcome).
  uint32_t max_batch_entries = 512;
  // Batches sent and not yet acknowledged.
  uint32_t max_inflight_batches = 4;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // How long the welcome, and an acknowledgement of a batch, may take
  // before the stream is abandoned and reopened.
  absl::Duration welcome_timeout = absl::Seconds(10);
  absl::Duration ack_timeout = absl::Seconds(60);
  int max_message_bytes = 64 << 20;
  // TLS (with the collector's client certificate) to the aggregator.
  // Null: plain text.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

class Forwarder {
 public:
  Forwarder(storage::CollectorStore* store, ForwarderOptions options);
  ~Forwarder();

  void Start();
  // Abandons the current stream (unacknowledged entries stay in the
  // outbox and are resent after the next start) and joins.
  void Stop();
  // New entries are in the outbox: send them now.
  void Notify();

  bool connected() const { return connected_.load(); }
  std::string last_error() const;
  const RateMeter& forward_rate() const { return forward_rate_; }

 private:
  struct Session;
  void Run();
  // One stream from connect to its end; OK only when stopping.
  // `welcomed`: the aggregator answered the hello. `next`: what to do
  // after it (see Run).
  enum class After { kBackOff, kRetryNow };
  absl::Status RunSession(bool* welcomed, After* next);
  void ReadAcks(Session* session);
  // Records the link's state (OK: forwarding) and logs it when it changed.
  // `welcomed`: whether the aggregator answered the session's hello.
  void SetError(const absl::Status& status, bool welcomed,
                const rpc::Replicas::Target& target);
  // Sleeps `delay` unless stopped first; false when stopping.
  bool Sleep(absl::Duration delay);

  storage::CollectorStore* const store_;
  const ForwarderOptions options_;
  rpc::Replicas aggregators_;
  RateMeter forward_rate_;
  std::atomic<bool> connected_{false};
  std::mt19937_64 random_;

  mutable absl::Mutex mu_;
  absl::CondVar wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* current_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  // Whether the current healthy stream has been logged.
  bool forwarding_logged_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace tally::collector

#endif  // TALLY_SERVICES_COLLECTOR_FORWARDER_H_

// A thin, synchronous client of etcd's v3 gRPC API: the calls replication
// needs (KV, leases, the election recipe, maintenance) and nothing more.
// Debian ships no C++ etcd client; the API is plain gRPC over the vendored
// protos in proto/etcd.
//
// Endpoints: the client talks to one member at a time. A call that fails
// with UNAVAILABLE or DEADLINE_EXCEEDED (member down or partitioned, "no
// leader", a timed-out proposal) is retried once on each other member, so
// one dead member never fails a call. Callers must therefore only issue
// requests whose repetition is harmless (a fenced Txn that compares the key's
// create revision, a Put of the same value, a Campaign with the same lease):
// every request in tally is of that kind.
//
// Every call has a deadline (ClientOptions::request_timeout), except
// Campaign, which blocks until elected or cancelled.
//
// Thread-safe: any number of threads may call at once.
#ifndef TALLY_SERVICES_ETCD_CLIENT_H_
#define TALLY_SERVICES_ETCD_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcd/etcdserver/api/v3election/v3electionpb/v3election.grpc.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace tally::etcd {

struct ClientOptions {
  // host:port of each member's client URL. At least one.
  std::vector<std::string> endpoints;
  // Null: plain text (etcd's default on loopback).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Deadline of every call but Campaign.
  absl::Duration request_timeout = absl::Seconds(5);
  // Watch responses may carry many log entries at once.
  int max_receive_message_bytes = 256 << 20;
};

// Lets another thread abandon a blocking call (Campaign, a watch).
class Cancellation {
 public:
  // Cancels the call in progress and every later one.
  void Cancel();
  bool cancelled() const;

 private:
  friend class Client;
  friend class WatchStream;
  // Registers the context of a call about to start; false when cancelled
  // already (the call must not start).
  bool Attach(grpc::ClientContext* context);
  void Detach();

  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* current_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// Maps an etcd gRPC status to absl, naming the operation and the member.
absl::Status FromGrpc(const grpc::Status& status, absl::string_view operation,
                      absl::string_view endpoint);

class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  // --- KV ------------------------------------------------------------------
  absl::StatusOr<etcdserverpb::RangeResponse> Range(
      const etcdserverpb::RangeRequest& request);
  absl::StatusOr<etcdserverpb::PutResponse> Put(
      const etcdserverpb::PutRequest& request);
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRange(
      const etcdserverpb::DeleteRangeRequest& request);
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(
      const etcdserverpb::TxnRequest& request);
  // Compacts the key history below `revision` (physical: waits until the
  // space is reclaimable by defragmentation).
  absl::Status Compact(int64_t revision, bool physical);

  // --- Leases --------------------------------------------------------------
  struct Lease {
    int64_t id = 0;
    int64_t ttl_seconds = 0;
  };
  absl::StatusOr<Lease> GrantLease(int64_t ttl_seconds);
  absl::Status RevokeLease(int64_t id);

  // --- Election (etcd's server-side election recipe) -----------------------
  // Blocks until this lease's key is the oldest of the election `name`;
  // returns the leader key, whose `rev` (its create revision) is the
  // fencing epoch. Fails when the lease expires or `cancel` fires.
  absl::StatusOr<v3electionpb::LeaderKey> Campaign(const std::string& name,
                                                   int64_t lease,
                                                   const std::string& value,
                                                   Cancellation* cancel);
  // The current leader's key and value; nullopt when there is none.
  absl::StatusOr<std::optional<mvccpb::KeyValue>> Leader(
      const std::string& name);
  absl::Status Resign(const v3electionpb::LeaderKey& leader);

  // --- Maintenance (one member each) ---------------------------------------
  absl::StatusOr<etcdserverpb::StatusResponse> MemberStatus(size_t endpoint);
  absl::Status Defragment(size_t endpoint);

  size_t endpoint_count() const { return members_.size(); }
  const std::string& endpoint(size_t i) const { return members_[i].address; }
  // The comma-separated endpoints, for messages.
  const std::string& endpoints_text() const { return endpoints_text_; }
  const ClientOptions& options() const { return options_; }

  // Streams (watch, lease keep-alive) run on the member in use; after a
  // stream fails, NextEndpoint moves every later call to the next member.
  size_t current_endpoint() const { return current_.load(); }
  std::shared_ptr<grpc::Channel> channel(size_t endpoint) const {
    return members_[endpoint].channel;
  }
  void NextEndpoint(size_t failed);

 private:
  struct Member {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease;
    std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
    std::unique_ptr<v3electionpb::Election::Stub> election;
  };

  explicit Client(ClientOptions options);

  // Runs `call` on the current member and, after UNAVAILABLE, once on each
  // other member. `call(member, context)` returns the gRPC status.
  template <typename Call>
  absl::Status WithFailover(absl::string_view operation, Call call);

  const ClientOptions options_;
  std::vector<Member> members_;
  std::string endpoints_text_;
  std::atomic<size_t> current_{0};
};

// "host:port,host:port" -> endpoints; an empty item or a missing port is
// an error naming it.
absl::StatusOr<std::vector<std::string>> ParseEndpoints(absl::string_view text);

// The smallest key greater than every key starting with `prefix` (etcd's
// range_end for a prefix query).
std::string PrefixEnd(absl::string_view prefix);

}  // namespace tally::etcd

#endif  // TALLY_SERVICES_ETCD_CLIENT_H_

// A server given as a list of replicas ("HOST:PORT,HOST:PORT,..."), as
// --aggregator, --upstream and --feed may be (docs/ARCHITECTURE.md,
// "Replication"): one channel per address, made when first used, and the
// replica to use now. A single address is a list of one.
//
//  - Reads and watches go to any replica: a call that finds its replica
//    unreachable (UNAVAILABLE), or a replica that cannot serve it yet,
//    moves on to the next one (Next, CallAny).
//  - Ingest goes to the leader: a follower refuses the stream with
//    FAILED_PRECONDITION and names the leader's address in the trailing
//    metadata `tally-leader` (kLeaderMetadata); Follow moves there, also to
//    an address that is not in the list (a leader advertises itself).
//
// Thread-safe: any number of callers.
#ifndef TALLY_SERVICES_RPC_REPLICAS_H_
#define TALLY_SERVICES_RPC_REPLICAS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "services/rpc/channel.h"

namespace tally::rpc {

// The trailing metadata key with which a follower names the leader.
inline constexpr char kLeaderMetadata[] = "tally-leader";

// "A,B,C" -> addresses; an empty item is an error naming `flag`.
absl::StatusOr<std::vector<std::string>> ParseAddressList(
    absl::string_view list, absl::string_view flag);

class Replicas {
 public:
  Replicas(std::vector<std::string> addresses, ChannelOptions options);

  struct Target {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
  };
  // The replica to use now.
  Target Current();
  // Every replica of the list, in order.
  std::vector<Target> All();

  // A call on `failed` did not get through: the next replica of the list
  // becomes current (unless another caller moved on already). Returns true
  // when every replica of the list has failed since the last success: time
  // for the caller's backoff.
  bool Next(const std::string& failed);
  // A call on `address` worked: it stays current and the round of
  // failures is over.
  void Succeeded(const std::string& address);
  // After a call ended: when its server named the leader in the trailing
  // metadata, the leader becomes current and its address is returned;
  // otherwise empty.
  std::string Follow(const grpc::ClientContext& finished_call);

  size_t size() const { return addresses_.size(); }
  const std::vector<std::string>& addresses() const { return addresses_; }
  // "A,B,C" for messages.
  std::string text() const;

 private:
  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& address)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<std::string> addresses_;
  const ChannelOptions options_;
  absl::Mutex mu_;
  std::string current_ ABSL_GUARDED_BY(mu_);
  size_t failures_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<std::string, std::shared_ptr<grpc::Channel>>> channels_
      ABSL_GUARDED_BY(mu_);
};

// Calls `call(channel)` on the current replica and, while the answer is
// UNAVAILABLE (that replica cannot be reached or cannot serve), on each
// other one once; returns the first other answer, or the last UNAVAILABLE.
// `call` makes a fresh ClientContext each time.
template <typename Call>
grpc::Status CallAny(Replicas& replicas, Call call) {
  grpc::Status status;
  for (size_t attempt = 0; attempt < replicas.size(); ++attempt) {
    Replicas::Target target = replicas.Current();
    status = call(target.channel);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      replicas.Succeeded(target.address);
      return status;
    }
    replicas.Next(target.address);
  }
  return status;
}

}  // namespace tally::rpc

#endif  // TALLY_SERVICES_RPC_REPLICAS_H_

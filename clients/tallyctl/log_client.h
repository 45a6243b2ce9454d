// The client side of tally.v1.Log shared by tallyctl audit, prove and
// witness: calls with deadlines, signed heads checked against the log key,
// proofs fetched and verified, leaves read page by page, and the state
// files those commands keep between runs.
//
// Errors are absl::Status values whose message names the call ("Log.
// GetLeaves: UNAVAILABLE: ...") or the check that failed. One LogClient
// per thread.
#ifndef TALLY_CLIENTS_TALLYCTL_LOG_CLIENT_H_
#define TALLY_CLIENTS_TALLYCTL_LOG_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/tallyctl/grpc_client.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"
#include "services/transparency/ed25519.h"
#include "services/transparency/merkle.h"
#include "tally/v1/log.grpc.pb.h"

namespace tally::cli {

class LogClient {
 public:
  // `server` names the log's server in errors (DescribeUnreachable).
  LogClient(std::shared_ptr<grpc::Channel> channel, ServerRef server,
            absl::Duration timeout);

  absl::StatusOr<v1::GetTreeHeadResponse> GetTreeHead(uint64_t revision);
  absl::StatusOr<v1::GetPublicKeysResponse> GetPublicKeys();
  absl::StatusOr<std::vector<transparency::Hash>> GetConsistencyProof(
      uint64_t first, uint64_t second);
  absl::StatusOr<v1::GetInclusionProofResponse> GetInclusionProof(
      const v1::GetInclusionProofRequest& request);
  absl::StatusOr<v1::AddCosignatureResponse> AddCosignature(
      uint64_t tree_size, const std::string& signature_line);
  absl::StatusOr<v1::GetCosignaturesResponse> GetCosignatures(
      uint64_t tree_size);

  // Reads leaves [start, end) in pages (as large as the server serves),
  // calling fn(index of the page's first leaf, its leaves) for each, in
  // order. A page that is empty, or a server that stops short of `end`,
  // is an error naming the index.
  absl::Status ReadLeaves(
      uint64_t start, uint64_t end,
      const std::function<absl::Status(uint64_t, std::vector<std::string>&)>&
          fn);

 private:
  std::unique_ptr<grpc::ClientContext> Context() const;
  // The call's status as an absl::Status with the same code: "Log.<call>:
  // <code>: <message>", or the sentence saying the server is unreachable.
  absl::Status CallStatus(const grpc::Status& status,
                          const std::string& call) const;

  std::shared_ptr<grpc::Channel> channel_;
  ServerRef server_;
  std::unique_ptr<v1::Log::Stub> stub_;
  absl::Duration timeout_;
};

// The served head checked: well formed, signed by `key`, of the revision
// asked for (unless 0). PermissionDenied naming the key when the signature
// fails.
absl::StatusOr<v1::GetTreeHeadResponse> VerifiedHead(
    LogClient& log, uint64_t revision,
    const transparency::Ed25519PublicKey& key);

// Fetches and verifies the consistency proof from `older` to `newer`
// (older.tree_size <= newer.tree_size). FailedPrecondition when the log's
// proof does not tie the two roots: the heads cannot both be true.
absl::Status CheckConsistency(LogClient& log, const v1::TreeHead& older,
                              const v1::TreeHead& newer,
                              std::vector<transparency::Hash>* proof = nullptr);

// Leaf `index` of the tree of `head`, proven by an inclusion proof to that
// head's root; the leaf data on success.
absl::StatusOr<std::string> ProvenLeaf(LogClient& log, uint64_t index,
                                       const v1::TreeHead& head);

// State files: binary protobuf, replaced atomically (temporary file in the
// same directory, synced, renamed, directory synced), so a crash leaves the
// old state or the new one. ReadStateFile returns false when the file does
// not exist.
absl::Status WriteStateFile(const std::string& path,
                            const google::protobuf::Message& state);
absl::StatusOr<bool> ReadStateFile(const std::string& path,
                                   google::protobuf::Message* state);

}  // namespace tally::cli

#endif  // TALLY_CLIENTS_TALLYCTL_LOG_CLIENT_H_

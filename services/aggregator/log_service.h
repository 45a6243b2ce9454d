// tally.v1.Log on the aggregator: the transparency log's signed heads (and
// their C2SP checkpoints with every witness cosignature held), its leaves,
// inclusion and consistency proofs, the log's and the witnesses' public
// keys, and the witnesses' cosignatures (docs/ARCHITECTURE.md, "The
// transparency log").
//
// Everything is read from the store (safe beside the committer's writes);
// the latest head and revision come from the state under its reader lock,
// so a call never sees a head whose round is not durable. A tree size is
// valid up to the store's log size at the time of the call.
//
// Bad input gets a precise status: INVALID_ARGUMENT for a malformed
// request (an empty range, first > second, a leaf named neither by index
// nor by contest and station), OUT_OF_RANGE for a tree size or leaf range
// beyond the current tree, NOT_FOUND for a revision not yet made, an
// unknown contest or station, or a version that is not a leaf of the tree
// asked about, PERMISSION_DENIED for a cosignature by a witness the log
// does not know, FAILED_PRECONDITION for one that does not verify over the
// log's checkpoint of that size. DATA_LOSS when the store is damaged.
//
// Thread-safe: handlers run on gRPC's threads at once.
#ifndef TALLY_SERVICES_AGGREGATOR_LOG_SERVICE_H_
#define TALLY_SERVICES_AGGREGATOR_LOG_SERVICE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/aggregator/aggregator_state.h"
#include "services/transparency/note.h"
#include "storage/aggregator_store.h"
#include "tally/v1/log.grpc.pb.h"

namespace tally::aggregator {

struct LogServiceOptions {
  // Witnesses whose cosignatures are accepted (note verifier keys of type
  // cosignature/v1), by name.
  std::vector<transparency::NoteVerifierKey> witnesses;
  // Leaves per GetLeaves page, and the page's bound in bytes of leaf data.
  uint64_t max_leaves_per_page = 1024;
  size_t max_page_bytes = 4 << 20;
};

// Reads a witness key file: one note verifier key a line (C2SP
// tlog-cosignature, type 0x04), blank lines and "#" comments ignored.
// Errors name the file and line; a name given twice is an error.
absl::StatusOr<std::vector<transparency::NoteVerifierKey>> LoadWitnessKeys(
    const std::string& path);

class LogService : public v1::Log::CallbackService {
 public:
  LogService(AggregatorState* state, storage::AggregatorStore* store,
             LogServiceOptions options);

  grpc::ServerUnaryReactor* GetTreeHead(
      grpc::CallbackServerContext* context,
      const v1::GetTreeHeadRequest* request,
      v1::GetTreeHeadResponse* response) override;
  grpc::ServerUnaryReactor* GetLeaves(grpc::CallbackServerContext* context,
                                      const v1::GetLeavesRequest* request,
                                      v1::GetLeavesResponse* response) override;
  grpc::ServerUnaryReactor* GetInclusionProof(
      grpc::CallbackServerContext* context,
      const v1::GetInclusionProofRequest* request,
      v1::GetInclusionProofResponse* response) override;
  grpc::ServerUnaryReactor* GetConsistencyProof(
      grpc::CallbackServerContext* context,
      const v1::GetConsistencyProofRequest* request,
      v1::GetConsistencyProofResponse* response) override;
  grpc::ServerUnaryReactor* GetPublicKeys(
      grpc::CallbackServerContext* context,
      const v1::GetPublicKeysRequest* request,
      v1::GetPublicKeysResponse* response) override;
  grpc::ServerUnaryReactor* AddCosignature(
      grpc::CallbackServerContext* context,
      const v1::AddCosignatureRequest* request,
      v1::AddCosignatureResponse* response) override;
  grpc::ServerUnaryReactor* GetCosignatures(
      grpc::CallbackServerContext* context,
      const v1::GetCosignaturesRequest* request,
      v1::GetCosignaturesResponse* response) override;

  // The handlers' work, as absl::Status (the gRPC methods only convert).
  absl::Status TreeHead(uint64_t revision, v1::GetTreeHeadResponse* response);
  absl::Status Leaves(const v1::GetLeavesRequest& request,
                      v1::GetLeavesResponse* response);
  absl::Status InclusionProof(const v1::GetInclusionProofRequest& request,
                              v1::GetInclusionProofResponse* response);
  absl::Status ConsistencyProof(const v1::GetConsistencyProofRequest& request,
                                v1::GetConsistencyProofResponse* response);
  absl::Status Cosign(const v1::AddCosignatureRequest& request,
                      v1::AddCosignatureResponse* response);
  absl::Status Cosignatures(uint64_t tree_size,
                            v1::GetCosignaturesResponse* response);

 private:
  // The latest signed head (empty before the first counted round).
  v1::SignedTreeHead LatestHead() const;
  // The latest head of a tree of exactly `tree_size` leaves; NOT_FOUND
  // when no revision had that size.
  absl::StatusOr<v1::SignedTreeHead> HeadOfSize(uint64_t tree_size);
  // The head's checkpoint signed by the log, with the held cosignatures.
  absl::StatusOr<std::string> CheckpointNote(const v1::TreeHead& head);
  // The leaf named by the request's contest, station and version, below
  // `tree_size`.
  absl::StatusOr<uint64_t> FindLeaf(const v1::GetInclusionProofRequest& request,
                                    uint64_t tree_size);
  absl::StatusOr<std::string> ReadLeafData(uint64_t index);

  AggregatorState* const state_;
  storage::AggregatorStore* const store_;
  const LogServiceOptions options_;
  const std::string origin_;
};

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_LOG_SERVICE_H_

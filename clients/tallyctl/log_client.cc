#include "clients/tallyctl/log_client.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/rpc/status.h"
#include "services/transparency/durable_file.h"
#include "services/transparency/tree_head.h"

namespace tally::cli {

using transparency::Hash;

LogClient::LogClient(std::shared_ptr<grpc::Channel> channel, ServerRef server,
                     absl::Duration timeout)
    : channel_(std::move(channel)),
      server_(std::move(server)),
      stub_(v1::Log::NewStub(channel_)),
      timeout_(timeout) {}

absl::Status LogClient::CallStatus(const grpc::Status& status,
                                   const std::string& call) const {
  if (status.ok()) return absl::OkStatus();
  const absl::Status converted = rpc::FromGrpc(status);
  if (std::optional<std::string> unreachable =
          DescribeUnreachable(status, server_, channel_.get());
      unreachable.has_value()) {
    return absl::Status(converted.code(), *unreachable);
  }
  return absl::Status(
      converted.code(),
      absl::StrCat(call, ": ", rpc::CodeName(status.error_code()), ": ",
                   converted.message()));
}

std::unique_ptr<grpc::ClientContext> LogClient::Context() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  return context;
}

absl::StatusOr<v1::GetTreeHeadResponse> LogClient::GetTreeHead(
    uint64_t revision) {
  v1::GetTreeHeadRequest request;
  request.set_revision(revision);
  v1::GetTreeHeadResponse response;
  grpc::Status status = stub_->GetTreeHead(Context().get(), request, &response);
  if (!status.ok()) return CallStatus(status, "Log.GetTreeHead");
  return response;
}

absl::StatusOr<v1::GetPublicKeysResponse> LogClient::GetPublicKeys() {
  v1::GetPublicKeysResponse response;
  grpc::Status status = stub_->GetPublicKeys(
      Context().get(), v1::GetPublicKeysRequest(), &response);
  if (!status.ok()) return CallStatus(status, "Log.GetPublicKeys");
  return response;
}

absl::StatusOr<std::vector<Hash>> LogClient::GetConsistencyProof(
    uint64_t first, uint64_t second) {
  v1::GetConsistencyProofRequest request;
  request.set_first(first);
  request.set_second(second);
  v1::GetConsistencyProofResponse response;
  grpc::Status status =
      stub_->GetConsistencyProof(Context().get(), request, &response);
  if (!status.ok()) return CallStatus(status, "Log.GetConsistencyProof");
  std::vector<Hash> proof;
  for (const std::string& bytes : response.proof()) {
    absl::StatusOr<Hash> hash =
        transparency::HashFromBytes(bytes, "a consistency proof hash");
    if (!hash.ok()) return hash.status();
    proof.push_back(*hash);
  }
  return proof;
}

absl::StatusOr<v1::GetInclusionProofResponse> LogClient::GetInclusionProof(
    const v1::GetInclusionProofRequest& request) {
  v1::GetInclusionProofResponse response;
  grpc::Status status =
      stub_->GetInclusionProof(Context().get(), request, &response);
  if (!status.ok()) return CallStatus(status, "Log.GetInclusionProof");
  return response;
}

absl::StatusOr<v1::AddCosignatureResponse> LogClient::AddCosignature(
    uint64_t tree_size, const std::string& signature_line) {
  v1::AddCosignatureRequest request;
  request.set_tree_size(tree_size);
  request.set_signature_line(signature_line);
  v1::AddCosignatureResponse response;
  grpc::Status status =
      stub_->AddCosignature(Context().get(), request, &response);
  if (!status.ok()) return CallStatus(status, "Log.AddCosignature");
  return response;
}

absl::StatusOr<v1::GetCosignaturesResponse> LogClient::GetCosignatures(
    uint64_t tree_size) {
  v1::GetCosignaturesRequest request;
  request.set_tree_size(tree_size);
  v1::GetCosignaturesResponse response;
  grpc::Status status =
      stub_->GetCosignatures(Context().get(), request, &response);
  if (!status.ok()) return CallStatus(status, "Log.GetCosignatures");
  return response;
}

absl::Status LogClient::ReadLeaves(
    uint64_t start, uint64_t end,
    const std::function<absl::Status(uint64_t, std::vector<std::string>&)>&
        fn) {
  std::vector<std::string> page;
  while (start < end) {
    v1::GetLeavesRequest request;
    request.set_start(start);
    request.set_end(end);
    v1::GetLeavesResponse response;
    grpc::Status status = stub_->GetLeaves(Context().get(), request, &response);
    if (!status.ok()) {
      return CallStatus(status,
                        absl::StrCat("Log.GetLeaves from leaf ", start));
    }
    if (response.leaf_data_size() == 0 || response.start() != start ||
        start + response.leaf_data_size() > end) {
      return absl::DataLossError(absl::StrCat(
          "Log.GetLeaves from leaf ", start, " answered ",
          response.leaf_data_size(), " leaves from ", response.start()));
    }
    page.clear();
    page.reserve(response.leaf_data_size());
    for (std::string& leaf : *response.mutable_leaf_data()) {
      page.push_back(std::move(leaf));
    }
    const uint64_t count = page.size();
    if (absl::Status status = fn(start, page); !status.ok()) return status;
    start += count;
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::GetTreeHeadResponse> VerifiedHead(
    LogClient& log, uint64_t revision,
    const transparency::Ed25519PublicKey& key) {
  absl::StatusOr<v1::GetTreeHeadResponse> response = log.GetTreeHead(revision);
  if (!response.ok()) return response.status();
  if (absl::Status status =
          transparency::VerifySignedTreeHead(response->signed_head(), key);
      !status.ok()) {
    return status;
  }
  if (revision != 0 && response->signed_head().head().revision() != revision) {
    return absl::DataLossError(
        absl::StrCat("asked for the head of revision ", revision,
                     ", the log served revision ",
                     response->signed_head().head().revision()));
  }
  return response;
}

absl::Status CheckConsistency(LogClient& log, const v1::TreeHead& older,
                              const v1::TreeHead& newer,
                              std::vector<Hash>* proof_out) {
  absl::StatusOr<std::vector<Hash>> proof =
      log.GetConsistencyProof(older.tree_size(), newer.tree_size());
  if (!proof.ok()) return proof.status();
  if (proof_out != nullptr) *proof_out = *proof;
  absl::StatusOr<Hash> old_root =
      transparency::HashFromBytes(older.root_hash(), "root_hash");
  absl::StatusOr<Hash> new_root =
      transparency::HashFromBytes(newer.root_hash(), "root_hash");
  if (!old_root.ok()) return old_root.status();
  if (!new_root.ok()) return new_root.status();
  absl::Status status = transparency::VerifyConsistency(
      older.tree_size(), newer.tree_size(), *old_root, *new_root, *proof);
  if (!status.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the head of revision ", older.revision(), " (tree size ",
                     older.tree_size(), ") and the head of revision ",
                     newer.revision(), " (tree size ", newer.tree_size(),
                     ") are not consistent: ", status.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ProvenLeaf(LogClient& log, uint64_t index,
                                       const v1::TreeHead& head) {
  v1::GetInclusionProofRequest request;
  request.set_leaf_index(index);
  request.set_tree_size(head.tree_size());
  absl::StatusOr<v1::GetInclusionProofResponse> response =
      log.GetInclusionProof(request);
  if (!response.ok()) return response.status();
  std::vector<Hash> path;
  for (const std::string& bytes : response->audit_path()) {
    absl::StatusOr<Hash> hash =
        transparency::HashFromBytes(bytes, "an audit path hash");
    if (!hash.ok()) return hash.status();
    path.push_back(*hash);
  }
  absl::StatusOr<Hash> root =
      transparency::HashFromBytes(head.root_hash(), "root_hash");
  if (!root.ok()) return root.status();
  if (response->leaf_index() != index) {
    return absl::DataLossError(absl::StrCat("asked for leaf ", index,
                                            ", the log served leaf ",
                                            response->leaf_index()));
  }
  if (absl::Status status = transparency::VerifyInclusion(
          index, head.tree_size(),
          transparency::HashLeaf(response->leaf_data()), path, *root);
      !status.ok()) {
    return absl::DataLossError(absl::StrCat(
        "leaf ", index, " as served is not in the tree of revision ",
        head.revision(), ": ", status.message()));
  }
  return std::move(*response->mutable_leaf_data());
}

absl::Status WriteStateFile(const std::string& path,
                            const google::protobuf::Message& state) {
  std::string bytes;
  if (!state.SerializeToString(&bytes)) {
    return absl::InternalError(absl::StrCat(path, ": cannot encode the state"));
  }
  return transparency::WriteFileDurably(path, bytes, 0600,
                                        transparency::Existing::kReplace);
}

absl::StatusOr<bool> ReadStateFile(const std::string& path,
                                   google::protobuf::Message* state) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return false;
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (!state->ParseFromString(content.str())) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": not a ", state->GetDescriptor()->full_name(), " state file"));
  }
  return true;
}

}  // namespace tally::cli

#include "services/aggregator/log_service.h"

#include <fstream>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/aggregator/store_node_reader.h"
#include "services/common/echo.h"
#include "services/rpc/status.h"
#include "services/transparency/checkpoint.h"
#include "services/transparency/cosignature.h"
#include "services/transparency/log_entry.h"
#include "services/transparency/merkle.h"
#include "services/transparency/tree_head.h"

namespace tally::aggregator {
namespace {

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context,
                                const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(rpc::ToGrpc(status));
  return reactor;
}

void AddHashes(const std::vector<transparency::Hash>& hashes,
               google::protobuf::RepeatedPtrField<std::string>* out) {
  out->Reserve(static_cast<int>(hashes.size()));
  for (const transparency::Hash& hash : hashes) {
    out->Add(transparency::HashBytes(hash));
  }
}

}  // namespace

absl::StatusOr<std::vector<transparency::NoteVerifierKey>> LoadWitnessKeys(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the witness key file ", path));
  }
  std::vector<transparency::NoteVerifierKey> keys;
  absl::flat_hash_set<std::string> names;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || absl::StartsWith(text, "#")) continue;
    absl::StatusOr<transparency::NoteVerifierKey> key =
        transparency::ParseVerifierKey(text);
    if (!key.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", number, ": not a witness key: ", key.status().message()));
    }
    if (key->type != transparency::kNoteTypeCosignatureV1) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", number, ": witness ", key->name,
          " has an Ed25519 signing key, not a cosignature/v1 key (type 0x04)"));
    }
    if (!names.insert(key->name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", number, ": witness ", key->name, " is listed twice"));
    }
    keys.push_back(*std::move(key));
  }
  return keys;
}

LogService::LogService(AggregatorState* state, storage::AggregatorStore* store,
                       LogServiceOptions options)
    : state_(state),
      store_(store),
      options_(std::move(options)),
      origin_(transparency::LogOrigin(state->index().definition().id())) {}

v1::SignedTreeHead LogService::LatestHead() const {
  absl::ReaderMutexLock lock(&state_->mu);
  return state_->signed_head();
}

absl::StatusOr<v1::SignedTreeHead> LogService::HeadOfSize(uint64_t tree_size) {
  absl::StatusOr<std::optional<uint64_t>> revision =
      store_->RevisionOfTreeSize(tree_size);
  if (!revision.ok()) return revision.status();
  if (!revision->has_value()) {
    return absl::NotFoundError(
        absl::StrCat("no tree head has ", tree_size, " leaves"));
  }
  absl::StatusOr<std::optional<v1::SignedTreeHead>> head =
      store_->LoadTreeHead(**revision);
  if (!head.ok()) return head.status();
  if (!head->has_value()) {
    return absl::DataLossError(
        absl::StrCat("the tree head of revision ", **revision, " is missing"));
  }
  return **std::move(head);
}

absl::StatusOr<std::string> LogService::CheckpointNote(
    const v1::TreeHead& head) {
  absl::StatusOr<std::string> note =
      transparency::SignCheckpoint(origin_, head, state_->log_signing().key);
  if (!note.ok()) return note.status();
  absl::StatusOr<std::vector<v1::Cosignature>> cosignatures =
      store_->LoadCosignatures(head.tree_size());
  if (!cosignatures.ok()) return cosignatures.status();
  for (const v1::Cosignature& cosignature : *cosignatures) {
    note->append(cosignature.signature_line());
  }
  return note;
}

absl::Status LogService::TreeHead(uint64_t revision,
                                  v1::GetTreeHeadResponse* response) {
  const v1::SignedTreeHead latest = LatestHead();
  const uint64_t current = latest.head().revision();
  if (!latest.has_head()) {
    return absl::NotFoundError(
        "nothing has been counted yet: the log has no tree head");
  }
  if (revision > current) {
    return absl::NotFoundError(absl::StrCat("revision ", revision,
                                            " is not made yet (the latest is ",
                                            current, ")"));
  }
  if (revision == 0 || revision == current) {
    *response->mutable_signed_head() = latest;
  } else {
    absl::StatusOr<std::optional<v1::SignedTreeHead>> head =
        store_->LoadTreeHead(revision);
    if (!head.ok()) return head.status();
    if (!head->has_value()) {
      return absl::DataLossError(
          absl::StrCat("the tree head of revision ", revision, " is missing"));
    }
    *response->mutable_signed_head() = **std::move(head);
  }
  absl::StatusOr<std::string> note =
      CheckpointNote(response->signed_head().head());
  if (!note.ok()) return note.status();
  response->set_checkpoint(*std::move(note));
  return absl::OkStatus();
}

absl::StatusOr<std::string> LogService::ReadLeafData(uint64_t index) {
  absl::StatusOr<std::vector<v1::ProtocolVersion>> leaves =
      store_->ReadLeaves(index, index + 1);
  if (!leaves.ok()) return leaves.status();
  return transparency::LeafData(transparency::LogEntryOf(leaves->front()));
}

absl::Status LogService::Leaves(const v1::GetLeavesRequest& request,
                                v1::GetLeavesResponse* response) {
  const uint64_t size = store_->log_size();
  if (request.start() >= request.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "start ", request.start(), " must be below end ", request.end()));
  }
  if (request.end() > size) {
    return absl::OutOfRangeError(absl::StrCat(
        "end ", request.end(), " is beyond the tree's ", size, " leaves"));
  }
  const uint64_t end =
      std::min(request.end(), request.start() + options_.max_leaves_per_page);
  absl::StatusOr<std::vector<v1::ProtocolVersion>> leaves =
      store_->ReadLeaves(request.start(), end);
  if (!leaves.ok()) return leaves.status();
  size_t bytes = 0;
  for (const v1::ProtocolVersion& leaf : *leaves) {
    std::string data = transparency::LeafData(transparency::LogEntryOf(leaf));
    bytes += data.size();
    // At least one leaf, then only while the page stays under its bound.
    if (response->leaf_data_size() > 0 && bytes > options_.max_page_bytes) {
      break;
    }
    response->add_leaf_data(std::move(data));
  }
  response->set_start(request.start());
  response->set_tree_size(size);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> LogService::FindLeaf(
    const v1::GetInclusionProofRequest& request, uint64_t tree_size) {
  if (request.contest_id().empty() || request.station_id() == 0) {
    return absl::InvalidArgumentError(
        "name the leaf: leaf_index, or contest_id and station_id (and "
        "optionally version)");
  }
  const ElectionIndex& index = state_->index();
  const ContestInfo* contest = index.FindContest(request.contest_id());
  if (contest == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("contest ", common::QuoteEcho(request.contest_id()),
                     " is not in the election"));
  }
  if (index.FindStation(request.station_id()) == nullptr) {
    return absl::NotFoundError(absl::StrCat("station ", request.station_id(),
                                            " is not in the election"));
  }
  const storage::ProtocolKey key{static_cast<uint16_t>(contest->index),
                                 request.station_id()};
  const std::string what = absl::StrCat("contest ", request.contest_id(),
                                        " station ", request.station_id());
  std::optional<uint64_t> leaf;
  if (request.version() != 0) {
    absl::StatusOr<std::optional<v1::ProtocolVersion>> version =
        store_->GetVersion(key, request.version());
    if (!version.ok()) return version.status();
    if (!version->has_value() || !(*version)->has_leaf_index()) {
      return absl::NotFoundError(
          absl::StrCat(what, " has no accepted version ", request.version()));
    }
    leaf = (*version)->leaf_index();
    if (*leaf >= tree_size) {
      return absl::NotFoundError(
          absl::StrCat("version ", request.version(), " of ", what, " is leaf ",
                       *leaf, ", not in the tree of ", tree_size, " leaves"));
    }
    return *leaf;
  }
  // The version counted at tree_size: the last accepted below it.
  absl::StatusOr<std::vector<v1::ProtocolVersion>> history =
      store_->History(key);
  if (!history.ok()) return history.status();
  for (const v1::ProtocolVersion& version : *history) {
    if (version.has_leaf_index() && version.leaf_index() < tree_size &&
        (!leaf.has_value() || version.leaf_index() > *leaf)) {
      leaf = version.leaf_index();
    }
  }
  if (!leaf.has_value()) {
    return absl::NotFoundError(absl::StrCat(
        what, " has no counted version in the tree of ", tree_size, " leaves"));
  }
  return *leaf;
}

absl::Status LogService::InclusionProof(
    const v1::GetInclusionProofRequest& request,
    v1::GetInclusionProofResponse* response) {
  const uint64_t current = store_->log_size();
  uint64_t size = request.tree_size();
  std::optional<v1::SignedTreeHead> head;
  if (size == 0) {
    head = LatestHead();
    if (!head->has_head()) {
      return absl::NotFoundError(
          "nothing has been counted yet: the log has no tree head");
    }
    size = head->head().tree_size();
  } else if (size > current) {
    return absl::OutOfRangeError(absl::StrCat(
        "tree size ", size, " is beyond the tree's ", current, " leaves"));
  }
  uint64_t leaf = 0;
  if (request.has_leaf_index()) {
    leaf = request.leaf_index();
    if (leaf >= size) {
      return absl::NotFoundError(absl::StrCat(
          "leaf ", leaf, " is not in the tree of ", size, " leaves"));
    }
  } else {
    absl::StatusOr<uint64_t> found = FindLeaf(request, size);
    if (!found.ok()) return found.status();
    leaf = *found;
  }
  StoreNodeReader reader(*store_);
  absl::StatusOr<std::vector<transparency::Hash>> path =
      transparency::InclusionProof(reader, leaf, size);
  if (!path.ok()) return path.status();
  absl::StatusOr<std::string> data = ReadLeafData(leaf);
  if (!data.ok()) return data.status();
  if (!head.has_value()) {
    absl::StatusOr<v1::SignedTreeHead> of_size = HeadOfSize(size);
    if (of_size.ok()) {
      head = *std::move(of_size);
    } else if (!absl::IsNotFound(of_size.status())) {
      return of_size.status();
    }
  }
  response->set_leaf_index(leaf);
  response->set_tree_size(size);
  response->set_leaf_data(*std::move(data));
  AddHashes(*path, response->mutable_audit_path());
  if (head.has_value()) *response->mutable_signed_head() = *std::move(head);
  return absl::OkStatus();
}

absl::Status LogService::ConsistencyProof(
    const v1::GetConsistencyProofRequest& request,
    v1::GetConsistencyProofResponse* response) {
  const uint64_t current = store_->log_size();
  if (request.first() > request.second()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "first ", request.first(), " is above second ", request.second()));
  }
  if (request.second() > current) {
    return absl::OutOfRangeError(absl::StrCat("second ", request.second(),
                                              " is beyond the tree's ", current,
                                              " leaves"));
  }
  StoreNodeReader reader(*store_);
  absl::StatusOr<std::vector<transparency::Hash>> proof =
      transparency::ConsistencyProof(reader, request.first(), request.second());
  if (!proof.ok()) return proof.status();
  response->set_first(request.first());
  response->set_second(request.second());
  AddHashes(*proof, response->mutable_proof());
  return absl::OkStatus();
}

absl::Status LogService::Cosign(const v1::AddCosignatureRequest& request,
                                v1::AddCosignatureResponse* response) {
  if (request.tree_size() == 0) {
    return absl::InvalidArgumentError(
        "tree_size: name the size of the checkpoint cosigned");
  }
  absl::StatusOr<transparency::NoteSignature> signature =
      transparency::ParseSignatureLine(request.signature_line());
  if (!signature.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("signature_line: ", signature.status().message()));
  }
  const transparency::NoteVerifierKey* witness = nullptr;
  for (const transparency::NoteVerifierKey& key : options_.witnesses) {
    if (key.name == signature->name) witness = &key;
  }
  if (witness == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(
        "witness ", common::QuoteEcho(signature->name),
        " is not one of the log's witnesses (--log_witness_keys)"));
  }
  absl::StatusOr<v1::SignedTreeHead> head = HeadOfSize(request.tree_size());
  if (!head.ok()) return head.status();
  absl::StatusOr<transparency::Checkpoint> checkpoint =
      transparency::CheckpointOf(origin_, head->head());
  if (!checkpoint.ok()) return checkpoint.status();
  const std::string text = transparency::FormatCheckpoint(*checkpoint);
  if (absl::Status verified =
          transparency::VerifyCosignature(witness->key, text, *signature);
      !verified.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the cosignature of witness ", witness->name,
                     " does not verify over the log's checkpoint of size ",
                     request.tree_size(), ": ", verified.message()));
  }
  absl::StatusOr<uint64_t> timestamp =
      transparency::CosignatureTimestamp(*signature);
  if (!timestamp.ok()) return timestamp.status();
  v1::Cosignature cosignature;
  cosignature.set_witness_name(witness->name);
  cosignature.set_timestamp(*timestamp);
  cosignature.set_signature_line(transparency::FormatSignatureLine(*signature));
  if (absl::Status saved =
          store_->SaveCosignature(request.tree_size(), cosignature);
      !saved.ok()) {
    return saved;
  }
  absl::StatusOr<std::vector<v1::Cosignature>> all =
      store_->LoadCosignatures(request.tree_size());
  if (!all.ok()) return all.status();
  response->set_cosignatures(static_cast<uint32_t>(all->size()));
  return absl::OkStatus();
}

absl::Status LogService::Cosignatures(uint64_t tree_size,
                                      v1::GetCosignaturesResponse* response) {
  if (tree_size == 0) {
    const v1::SignedTreeHead latest = LatestHead();
    if (!latest.has_head()) {
      return absl::NotFoundError(
          "nothing has been counted yet: the log has no tree head");
    }
    tree_size = latest.head().tree_size();
  } else if (tree_size > store_->log_size()) {
    return absl::OutOfRangeError(absl::StrCat("tree size ", tree_size,
                                              " is beyond the tree's ",
                                              store_->log_size(), " leaves"));
  }
  absl::StatusOr<std::vector<v1::Cosignature>> all =
      store_->LoadCosignatures(tree_size);
  if (!all.ok()) return all.status();
  response->set_tree_size(tree_size);
  for (v1::Cosignature& cosignature : *all) {
    *response->add_cosignatures() = std::move(cosignature);
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* LogService::GetTreeHead(
    grpc::CallbackServerContext* context, const v1::GetTreeHeadRequest* request,
    v1::GetTreeHeadResponse* response) {
  return Reply(context, TreeHead(request->revision(), response));
}

grpc::ServerUnaryReactor* LogService::GetLeaves(
    grpc::CallbackServerContext* context, const v1::GetLeavesRequest* request,
    v1::GetLeavesResponse* response) {
  return Reply(context, Leaves(*request, response));
}

grpc::ServerUnaryReactor* LogService::GetInclusionProof(
    grpc::CallbackServerContext* context,
    const v1::GetInclusionProofRequest* request,
    v1::GetInclusionProofResponse* response) {
  return Reply(context, InclusionProof(*request, response));
}

grpc::ServerUnaryReactor* LogService::GetConsistencyProof(
    grpc::CallbackServerContext* context,
    const v1::GetConsistencyProofRequest* request,
    v1::GetConsistencyProofResponse* response) {
  return Reply(context, ConsistencyProof(*request, response));
}

grpc::ServerUnaryReactor* LogService::GetPublicKeys(
    grpc::CallbackServerContext* context, const v1::GetPublicKeysRequest*,
    v1::GetPublicKeysResponse* response) {
  const transparency::Ed25519PublicKey& key =
      state_->log_signing().key.public_key();
  response->set_origin(origin_);
  v1::LogPublicKey* log_key = response->add_log_keys();
  log_key->set_key_id(key.KeyId());
  log_key->set_public_key(key.raw());
  log_key->set_public_key_pem(key.ToPem());
  log_key->set_note_verifier_key(
      transparency::FormatVerifierKey(transparency::MakeVerifierKey(
          origin_, transparency::kNoteTypeEd25519, key)));
  for (const transparency::NoteVerifierKey& witness : options_.witnesses) {
    v1::WitnessPublicKey* out = response->add_witnesses();
    out->set_name(witness.name);
    out->set_verifier_key(transparency::FormatVerifierKey(witness));
  }
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* LogService::AddCosignature(
    grpc::CallbackServerContext* context,
    const v1::AddCosignatureRequest* request,
    v1::AddCosignatureResponse* response) {
  return Reply(context, Cosign(*request, response));
}

grpc::ServerUnaryReactor* LogService::GetCosignatures(
    grpc::CallbackServerContext* context,
    const v1::GetCosignaturesRequest* request,
    v1::GetCosignaturesResponse* response) {
  return Reply(context, Cosignatures(request->tree_size(), response));
}

}  // namespace tally::aggregator

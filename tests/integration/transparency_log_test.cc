// The transparency log served by the real tally-aggregator, checked with
// the real tallyctl (docs/ARCHITECTURE.md, "The transparency log"): a whole
// reference night with corrections and duplicates audited and proved, the
// feed's signed heads, a witness's cosignature, precise statuses for bad
// Log calls, and tampering with the stored data detected with a message
// that names it.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "services/domain/election_index.h"
#include "services/domain/proto_json.h"
#include "services/rpc/channel.h"
#include "services/transparency/cosignature.h"
#include "services/transparency/ed25519.h"
#include "services/transparency/merkle.h"
#include "services/transparency/note.h"
#include "services/transparency/tree_head.h"
#include "storage/key_encoding.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/feed.grpc.pb.h"
#include "tally/v1/log.grpc.pb.h"
#include "tests/support/feed_client.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally {
namespace {

using ::testing::HasSubstr;
using testing::IngestSession;
using ::testing::Not;

constexpr uint64_t kSeed = 20230319;
constexpr size_t kBatch = 256;
constexpr absl::Duration kStartTimeout = absl::Minutes(2);
constexpr absl::Duration kCallTimeout = absl::Seconds(60);
constexpr absl::Duration kCommandTimeout = absl::Minutes(10);
constexpr char kWitnessName[] = "test-witness";

// Every column family of a stopped aggregator's store, opened raw to
// change it behind the aggregator's back.
class RawStore {
 public:
  explicit RawStore(const std::string& path) {
    std::vector<std::string> names;
    EXPECT_TRUE(
        rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names)
            .ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const std::string& name : names) {
      descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    rocksdb::DB* db = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(rocksdb::DBOptions(), path,
                                                descriptors, &handles_, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
    for (size_t i = 0; i < names.size() && s.ok(); ++i) {
      by_name_[names[i]] = handles_[i];
    }
  }
  ~RawStore() {
    if (db_ == nullptr) return;
    for (rocksdb::ColumnFamilyHandle* handle : handles_) {
      db_->DestroyColumnFamilyHandle(handle);
    }
    db_->Close().PermitUncheckedError();
  }

  std::string Get(const std::string& family, const std::string& key) {
    std::string value;
    const rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), by_name_.at(family), key, &value);
    EXPECT_TRUE(s.ok()) << family << ": " << s.ToString();
    return value;
  }
  void Put(const std::string& family, const std::string& key,
           const std::string& value) {
    rocksdb::WriteOptions write;
    write.sync = true;
    EXPECT_TRUE(db_->Put(write, by_name_.at(family), key, value).ok());
  }
  void Delete(const std::string& family, const std::string& key) {
    rocksdb::WriteOptions write;
    write.sync = true;
    EXPECT_TRUE(db_->Delete(write, by_name_.at(family), key).ok());
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name_;
};

class TransparencyLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::ReferenceElection& ref = testing::Reference(kSeed);
    ASSERT_TRUE(ref.status.ok()) << ref.status;
    ref_ = &ref;
    data_dir_ = testing::MakeTempDir("tlog");
    // The witness's key, known to the log before it starts.
    absl::StatusOr<transparency::Ed25519PrivateKey> witness =
        transparency::Ed25519PrivateKey::Generate();
    ASSERT_TRUE(witness.ok()) << witness.status();
    witness_key_path_ = data_dir_ + ".witness.pem";
    ASSERT_TRUE(
        transparency::WritePrivateKeyFile(witness_key_path_, *witness).ok());
    witnesses_path_ = data_dir_ + ".witnesses";
    std::ofstream(witnesses_path_)
        << "# the test's witness\n"
        << transparency::FormatVerifierKey(transparency::MakeVerifierKey(
               kWitnessName, transparency::kNoteTypeCosignatureV1,
               witness->public_key()))
        << "\n";
  }

  void TearDown() override { testing::RemoveTempDirUnlessFailed(data_dir_); }

  std::vector<std::string> ServerArgs() const {
    return {"--data_dir",   data_dir_,    "--listen",
            "127.0.0.1:0",  "--insecure", "--log_witness_keys",
            witnesses_path_};
  }

  absl::StatusOr<testing::Server> Start(const std::string& label) {
    return testing::StartServer(AGGREGATOR_PATH, ServerArgs(),
                                absl::StrCat(data_dir_, ".", label, ".log"),
                                kStartTimeout);
  }

  // The key the aggregator generated on first start.
  std::string LogKeyPath() const { return data_dir_ + "/log_signing_key.pem"; }

  absl::StatusOr<testing::CommandResult> Tallyctl(
      const std::string& command, const std::string& address,
      std::vector<std::string> args) {
    std::vector<std::string> all = {
        command,      "--aggregator",     address,
        "--insecure", "--log_public_key", LogKeyPath()};
    all.insert(all.end(), args.begin(), args.end());
    return testing::RunCommand(TALLYCTL_PATH, all, kCommandTimeout);
  }

  // The protocols of `regions` regions (all of them when 0), after the
  // first `skip` in region id order, through one
  // collector per region, in batches: version 1 of every protocol, then a
  // correction (version 2, same figures) of every 37th and a resend of
  // every 41st version 1 (a duplicate: no leaf). Returns the protocols
  // accepted.
  uint64_t PlayNight(const std::string& address, size_t regions,
                     size_t skip = 0) {
    std::map<std::string, std::vector<v1::StationProtocol>> by_region;
    for (const v1::StationProtocol& protocol : ref_->truth) {
      const v1::PollingStation* station =
          ref_->index->FindStation(protocol.station_id());
      by_region[station->region_id()].push_back(protocol);
    }
    uint64_t accepted = 0;
    size_t played = 0;
    for (auto& [region, protocols] : by_region) {
      if (skip > 0) {
        --skip;
        continue;
      }
      if (regions != 0 && played++ >= regions) break;
      std::vector<v1::StationProtocol> extra;
      for (size_t i = 0; i < protocols.size(); ++i) {
        if (i % 37 == 0) {
          v1::StationProtocol correction = protocols[i];
          correction.set_version(2);
          extra.push_back(correction);
        }
        if (i % 41 == 0) extra.push_back(protocols[i]);
      }
      protocols.insert(protocols.end(), extra.begin(), extra.end());
      absl::StatusOr<std::unique_ptr<IngestSession>> session =
          IngestSession::Open(address, "collector-" + region, region,
                              absl::Minutes(5));
      EXPECT_TRUE(session.ok()) << session.status();
      if (!session.ok()) return accepted;
      uint64_t seq = (*session)->welcome().last_applied_seq() + 1;
      for (size_t start = 0; start < protocols.size(); start += kBatch) {
        const std::vector<v1::StationProtocol> batch(
            protocols.begin() + start,
            protocols.begin() + std::min(protocols.size(), start + kBatch));
        absl::StatusOr<v1::IngestAck> ack =
            (*session)->Send(testing::Entries(batch, seq));
        EXPECT_TRUE(ack.ok()) << ack.status();
        if (!ack.ok()) return accepted;
        seq += batch.size();
        for (const v1::ProtocolResult& result : ack->results()) {
          accepted += result.outcome() == v1::OUTCOME_ACCEPTED;
        }
      }
      EXPECT_TRUE((*session)->Close().ok());
    }
    return accepted;
  }

  absl::StatusOr<transparency::Ed25519PublicKey> LogKey() const {
    return transparency::ReadPublicKeyFile(LogKeyPath());
  }

  const testing::ReferenceElection* ref_ = nullptr;
  std::string data_dir_;
  std::string witness_key_path_;
  std::string witnesses_path_;
};

std::unique_ptr<grpc::ClientContext> Context() {
  return testing::DeadlineContext(kCallTimeout);
}

TEST_F(TransparencyLogTest, WholeNightIsAuditedProvedAndCosigned) {
  absl::StatusOr<testing::Server> server = Start("night");
  ASSERT_TRUE(server.ok()) << server.status();
  const uint64_t accepted = PlayNight(server->address, 0);
  ASSERT_GT(accepted, ref_->truth.size());
  auto log = v1::Log::NewStub(rpc::MakeChannel(server->address));

  // Every accepted version is one leaf, and the head of the latest
  // revision is signed by the key the aggregator generated.
  v1::GetTreeHeadResponse head;
  ASSERT_TRUE(log->GetTreeHead(Context().get(), {}, &head).ok());
  absl::StatusOr<transparency::Ed25519PublicKey> key = LogKey();
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE(
      transparency::VerifySignedTreeHead(head.signed_head(), *key).ok());
  EXPECT_EQ(head.signed_head().head().tree_size(), accepted);
  std::printf(
      "night: %llu leaves at revision %llu\n",
      static_cast<unsigned long long>(accepted),
      static_cast<unsigned long long>(head.signed_head().head().revision()));

  // The auditor recomputes the root, every total and allocation.
  absl::StatusOr<testing::CommandResult> audit =
      Tallyctl("audit", server->address, {});
  ASSERT_TRUE(audit.ok()) << audit.status();
  EXPECT_EQ(audit->exit_code, 0) << audit->output;
  EXPECT_THAT(audit->output, HasSubstr(absl::StrCat(accepted, " leaves")));
  EXPECT_THAT(audit->output, HasSubstr("equal GetResults"));
  std::printf("%s", audit->output.c_str());

  // A corrected station's inclusion proof.
  const uint32_t station = ref_->truth.front().station_id();
  absl::StatusOr<testing::CommandResult> prove =
      Tallyctl("prove", server->address, {"--station", absl::StrCat(station)});
  ASSERT_TRUE(prove.ok()) << prove.status();
  EXPECT_EQ(prove->exit_code, 0) << prove->output;

  // The feed's snapshot and its next event carry their revision's head.
  {
    testing::WatchClient watch(rpc::MakeChannel(server->address),
                               testing::FromRevision(0));
    absl::StatusOr<v1::WatchResponse> first =
        watch.Next(testing::kMessageTimeout);
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE(first->has_snapshot());
    const v1::SignedTreeHead& signed_head = first->snapshot().signed_head();
    EXPECT_EQ(signed_head.head().revision(), first->snapshot().revision());
    EXPECT_TRUE(transparency::VerifySignedTreeHead(signed_head, *key).ok());
  }

  // A witness checks and cosigns the checkpoint; the log then serves its
  // cosignature, in the checkpoint too.
  absl::StatusOr<testing::CommandResult> witness =
      Tallyctl("witness", server->address,
               {"--once", "--state", data_dir_ + ".witness-state", "--key",
                witness_key_path_, "--witness_name", kWitnessName});
  ASSERT_TRUE(witness.ok()) << witness.status();
  EXPECT_EQ(witness->exit_code, 0) << witness->output;
  v1::GetCosignaturesResponse cosignatures;
  ASSERT_TRUE(log->GetCosignatures(Context().get(), {}, &cosignatures).ok());
  ASSERT_EQ(cosignatures.cosignatures_size(), 1);
  EXPECT_EQ(cosignatures.cosignatures(0).witness_name(), kWitnessName);
  ASSERT_TRUE(log->GetTreeHead(Context().get(), {}, &head).ok());
  EXPECT_THAT(head.checkpoint(),
              HasSubstr(cosignatures.cosignatures(0).signature_line()));

  testing::ExpectCleanStop(*server);
}

TEST_F(TransparencyLogTest, LogCallsRefuseBadInputPrecisely) {
  absl::StatusOr<testing::Server> server = Start("bad-input");
  ASSERT_TRUE(server.ok()) << server.status();
  auto log = v1::Log::NewStub(rpc::MakeChannel(server->address));

  v1::GetTreeHeadResponse head;
  grpc::Status status = log->GetTreeHead(Context().get(), {}, &head);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("nothing has been counted"));

  const uint64_t accepted = PlayNight(server->address, 1);
  ASSERT_GT(accepted, 2u);
  ASSERT_TRUE(log->GetTreeHead(Context().get(), {}, &head).ok());
  const uint64_t size = head.signed_head().head().tree_size();
  const uint64_t revision = head.signed_head().head().revision();

  v1::GetTreeHeadRequest future;
  future.set_revision(revision + 1);
  status = log->GetTreeHead(Context().get(), future, &head);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("is not made yet"));

  v1::GetLeavesResponse leaves;
  v1::GetLeavesRequest empty;
  empty.set_start(5);
  empty.set_end(5);
  status = log->GetLeaves(Context().get(), empty, &leaves);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::GetLeavesRequest beyond;
  beyond.set_start(0);
  beyond.set_end(size + 1);
  status = log->GetLeaves(Context().get(), beyond, &leaves);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(status.error_message(), HasSubstr(absl::StrCat(size)));
  v1::GetLeavesRequest all;
  all.set_end(size);
  ASSERT_TRUE(log->GetLeaves(Context().get(), all, &leaves).ok());
  EXPECT_GT(leaves.leaf_data_size(), 0);
  EXPECT_EQ(leaves.tree_size(), size);

  v1::GetInclusionProofResponse proof;
  status = log->GetInclusionProof(Context().get(), {}, &proof);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::GetInclusionProofRequest unknown_contest;
  unknown_contest.set_contest_id("no-such-contest");
  unknown_contest.set_station_id(ref_->truth.front().station_id());
  status = log->GetInclusionProof(Context().get(), unknown_contest, &proof);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("no-such-contest"));
  v1::GetInclusionProofRequest unknown_station;
  unknown_station.set_contest_id(ref_->truth.front().contest_id());
  unknown_station.set_station_id(4000000000u);
  status = log->GetInclusionProof(Context().get(), unknown_station, &proof);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  v1::GetInclusionProofRequest past_leaf;
  past_leaf.set_leaf_index(size);
  status = log->GetInclusionProof(Context().get(), past_leaf, &proof);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  v1::GetInclusionProofRequest big_tree;
  big_tree.set_leaf_index(0);
  big_tree.set_tree_size(size + 1);
  status = log->GetInclusionProof(Context().get(), big_tree, &proof);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  v1::GetInclusionProofRequest version_nine;
  version_nine.set_contest_id(ref_->truth.front().contest_id());
  version_nine.set_station_id(ref_->truth.front().station_id());
  version_nine.set_version(9);
  status = log->GetInclusionProof(Context().get(), version_nine, &proof);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("no accepted version 9"));

  // A proof by leaf index verifies against the head of its tree size.
  v1::GetInclusionProofRequest first_leaf;
  first_leaf.set_leaf_index(0);
  ASSERT_TRUE(log->GetInclusionProof(Context().get(), first_leaf, &proof).ok());
  std::vector<transparency::Hash> path;
  for (const std::string& hash : proof.audit_path()) {
    path.push_back(*transparency::HashFromBytes(hash, "path"));
  }
  EXPECT_TRUE(transparency::VerifyInclusion(
                  0, proof.tree_size(),
                  transparency::HashLeaf(proof.leaf_data()), path,
                  *transparency::HashFromBytes(
                      proof.signed_head().head().root_hash(), "root"))
                  .ok());

  v1::GetConsistencyProofResponse consistency;
  v1::GetConsistencyProofRequest backwards;
  backwards.set_first(2);
  backwards.set_second(1);
  status = log->GetConsistencyProof(Context().get(), backwards, &consistency);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::GetConsistencyProofRequest too_far;
  too_far.set_first(1);
  too_far.set_second(size + 1);
  status = log->GetConsistencyProof(Context().get(), too_far, &consistency);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);

  // Cosignatures: a stranger, a malformed line, one that does not verify.
  absl::StatusOr<transparency::Ed25519PrivateKey> stranger =
      transparency::Ed25519PrivateKey::Generate();
  ASSERT_TRUE(stranger.ok());
  ASSERT_TRUE(log->GetTreeHead(Context().get(), {}, &head).ok());
  absl::StatusOr<transparency::Checkpoint> checkpoint =
      transparency::CheckpointOf(
          transparency::LogOrigin(ref_->index->definition().id()),
          head.signed_head().head());
  ASSERT_TRUE(checkpoint.ok());
  const std::string text = transparency::FormatCheckpoint(*checkpoint);
  v1::AddCosignatureResponse added;
  v1::AddCosignatureRequest by_stranger;
  by_stranger.set_tree_size(size);
  by_stranger.set_signature_line(transparency::FormatSignatureLine(
      *transparency::Cosign(text, "stranger", *stranger, 1700000000)));
  status = log->AddCosignature(Context().get(), by_stranger, &added);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::AddCosignatureRequest garbage;
  garbage.set_tree_size(size);
  garbage.set_signature_line("not a signature line");
  status = log->AddCosignature(Context().get(), garbage, &added);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::AddCosignatureRequest forged;
  forged.set_tree_size(size);
  forged.set_signature_line(transparency::FormatSignatureLine(
      *transparency::Cosign(text, kWitnessName, *stranger, 1700000000)));
  status = log->AddCosignature(Context().get(), forged, &added);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  testing::ExpectCleanStop(*server);
}

TEST_F(TransparencyLogTest, TamperingWithTheStoreIsNamed) {
  {
    absl::StatusOr<testing::Server> server = Start("fill");
    ASSERT_TRUE(server.ok()) << server.status();
    ASSERT_GT(PlayNight(server->address, 2), 10u);
    testing::ExpectCleanStop(*server);
  }
  const std::string leaf_key = storage::EncodeRevision(7);

  // 1. One stored protocol's figures changed: its digest no longer matches,
  //    and its leaf (the LogEntry of the stored version) hashes otherwise.
  std::string original_protocol;
  std::string version_key;
  {
    RawStore raw(data_dir_);
    version_key = raw.Get("log_leaves", leaf_key);
    original_protocol = raw.Get("protocols", version_key);
    v1::ProtocolVersion changed;
    ASSERT_TRUE(changed.ParseFromString(original_protocol));
    ASSERT_GT(changed.protocol().votes_size(), 0);
    v1::ChoiceVotes* votes = changed.mutable_protocol()->mutable_votes(0);
    votes->set_votes(votes->votes() + 1);
    raw.Put("protocols", version_key, changed.SerializeAsString());
  }
  absl::StatusOr<testing::CommandResult> verify = testing::RunCommand(
      TALLYCTL_PATH, {"verify", "--db", data_dir_}, kCommandTimeout);
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_EQ(verify->exit_code, 1) << verify->output;
  EXPECT_THAT(verify->output, HasSubstr("stored digest"));
  {
    absl::StatusOr<testing::Server> server = Start("changed-protocol");
    ASSERT_TRUE(server.ok()) << server.status();
    absl::StatusOr<testing::CommandResult> audit =
        Tallyctl("audit", server->address, {});
    ASSERT_TRUE(audit.ok()) << audit.status();
    EXPECT_EQ(audit->exit_code, 1) << audit->output;
    EXPECT_THAT(audit->output, HasSubstr("leaf 7 (contest "));
    EXPECT_THAT(audit->output,
                HasSubstr("the protocol's content does not match its digest"));
    EXPECT_THAT(audit->output, HasSubstr("the signed head says"));
    testing::ExpectCleanStop(*server);
  }

  // 2. A leaf deleted.
  {
    RawStore raw(data_dir_);
    raw.Put("protocols", version_key, original_protocol);
    raw.Delete("log_leaves", leaf_key);
  }
  {
    absl::StatusOr<testing::Server> server = Start("deleted-leaf");
    ASSERT_TRUE(server.ok()) << server.status();
    absl::StatusOr<testing::CommandResult> audit =
        Tallyctl("audit", server->address, {});
    ASSERT_TRUE(audit.ok()) << audit.status();
    EXPECT_EQ(audit->exit_code, 1) << audit->output;
    EXPECT_THAT(audit->output, HasSubstr("log_leaves leaf 7"));
    EXPECT_THAT(audit->output, HasSubstr("missing"));
    testing::ExpectCleanStop(*server);
  }

  // 3. A total changed: the stored totals no longer digest to what the
  //    latest head signed, and the aggregator refuses to serve them.
  {
    RawStore raw(data_dir_);
    raw.Put("log_leaves", leaf_key, version_key);
    const std::string totals_key =
        storage::EncodeTotalsKey(storage::TotalsKey{0, 1, 0});
    v1::Totals totals;
    ASSERT_TRUE(totals.ParseFromString(raw.Get("totals", totals_key)));
    totals.set_invalid(totals.invalid() + 1);
    raw.Put("totals", totals_key, totals.SerializeAsString());
  }
  std::vector<std::string> args = ServerArgs();
  absl::StatusOr<testing::CommandResult> refused =
      testing::RunCommand(AGGREGATOR_PATH, args, kStartTimeout);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->exit_code, 1) << refused->output;
  EXPECT_THAT(refused->output,
              HasSubstr("a stored total was changed after it was signed"));
}

// An operator who copies the store, starts a second aggregator on the copy
// and lets the two count different protocols under the same key shows two
// histories: a witness that has cosigned one refuses the other, naming
// the split view and writing both heads as evidence.
TEST_F(TransparencyLogTest, WitnessReportsASplitViewFromACopiedStore) {
  {
    absl::StatusOr<testing::Server> server = Start("before-copy");
    ASSERT_TRUE(server.ok()) << server.status();
    ASSERT_GT(PlayNight(server->address, 1), 0u);
    testing::ExpectCleanStop(*server);
  }
  const std::string copy = data_dir_ + ".copy";
  std::filesystem::copy(data_dir_, copy,
                        std::filesystem::copy_options::recursive);
  absl::StatusOr<testing::Server> original = Start("original");
  ASSERT_TRUE(original.ok()) << original.status();
  std::vector<std::string> args = ServerArgs();
  args[1] = copy;
  absl::StatusOr<testing::Server> forked = testing::StartServer(
      AGGREGATOR_PATH, args, data_dir_ + ".forked.log", kStartTimeout);
  ASSERT_TRUE(forked.ok()) << forked.status();

  const std::vector<std::string> witness_args = {
      "--once",     "--state",         data_dir_ + ".witness-state",
      "--key",      witness_key_path_, "--witness_name",
      kWitnessName, "--evidence",      data_dir_ + ".evidence.json"};
  absl::StatusOr<testing::CommandResult> cosigned =
      Tallyctl("witness", original->address, witness_args);
  ASSERT_TRUE(cosigned.ok()) << cosigned.status();
  ASSERT_EQ(cosigned->exit_code, 0) << cosigned->output;

  ASSERT_GT(PlayNight(original->address, 1, 1), 0u);
  ASSERT_GT(PlayNight(forked->address, 1, 2), 0u);
  cosigned = Tallyctl("witness", original->address, witness_args);
  ASSERT_TRUE(cosigned.ok()) << cosigned.status();
  ASSERT_EQ(cosigned->exit_code, 0) << cosigned->output;

  absl::StatusOr<testing::CommandResult> split =
      Tallyctl("witness", forked->address, witness_args);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->exit_code, 1) << split->output;
  EXPECT_THAT(split->output, HasSubstr("SPLIT VIEW"));
  std::ifstream evidence_file(data_dir_ + ".evidence.json");
  std::stringstream evidence_json;
  evidence_json << evidence_file.rdbuf();
  v1::SplitViewEvidence evidence;
  ASSERT_TRUE(ParseJson(evidence_json.str(), &evidence).ok())
      << evidence_json.str();
  EXPECT_NE(evidence.earlier().head().root_hash(),
            evidence.later().head().root_hash());
  absl::StatusOr<transparency::Ed25519PublicKey> key = LogKey();
  ASSERT_TRUE(key.ok());
  // Both heads are the log key's: the operator signed two histories.
  EXPECT_TRUE(
      transparency::VerifySignedTreeHead(evidence.earlier(), *key).ok());
  EXPECT_TRUE(transparency::VerifySignedTreeHead(evidence.later(), *key).ok());

  testing::ExpectCleanStop(*forked);
  testing::ExpectCleanStop(*original);
  std::filesystem::remove_all(copy);
}

// Without --log_signing_key the first start generates the key in the data
// directory and logs its fingerprint; later starts use it; a start with
// another key is refused, naming both fingerprints.
TEST_F(TransparencyLogTest, SigningKeyIsKeptAndAnotherIsRefused) {
  std::string fingerprint;
  {
    absl::StatusOr<testing::Server> server = Start("first-start");
    ASSERT_TRUE(server.ok()) << server.status();
    absl::StatusOr<transparency::Ed25519PublicKey> key = LogKey();
    ASSERT_TRUE(key.ok()) << key.status();
    fingerprint = key->Fingerprint();
    EXPECT_THAT(server->process.log(),
                HasSubstr("generated the transparency log's signing key"));
    EXPECT_THAT(server->process.log(), HasSubstr(fingerprint));
    testing::ExpectCleanStop(*server);
  }
  {
    absl::StatusOr<testing::Server> server = Start("second-start");
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_THAT(server->process.log(), Not(HasSubstr("generated")));
    EXPECT_THAT(server->process.log(), HasSubstr(fingerprint));
    testing::ExpectCleanStop(*server);
  }
  absl::StatusOr<transparency::Ed25519PrivateKey> other =
      transparency::Ed25519PrivateKey::Generate();
  ASSERT_TRUE(other.ok());
  const std::string other_path = data_dir_ + ".other-key.pem";
  ASSERT_TRUE(transparency::WritePrivateKeyFile(other_path, *other).ok());
  std::vector<std::string> args = ServerArgs();
  args.push_back("--log_signing_key");
  args.push_back(other_path);
  absl::StatusOr<testing::CommandResult> refused =
      testing::RunCommand(AGGREGATOR_PATH, args, kStartTimeout);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->exit_code, 1) << refused->output;
  EXPECT_THAT(refused->output, HasSubstr(fingerprint));
  EXPECT_THAT(refused->output, HasSubstr(other->public_key().Fingerprint()));

  // The store's own key, given by its file, is accepted.
  args.back() = LogKeyPath();
  absl::StatusOr<testing::Server> server = testing::StartServer(
      AGGREGATOR_PATH, args, data_dir_ + ".given-key.log", kStartTimeout);
  ASSERT_TRUE(server.ok()) << server.status();
  testing::ExpectCleanStop(*server);
}

}  // namespace
}  // namespace tally

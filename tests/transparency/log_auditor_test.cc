// The auditor's recomputation over a whole reference night: the log's
// leaves, built as the aggregator appends them (accepted versions only, in
// commit order), give back the Merkle root, the exact truth of every
// contest and scope, and the same results whether audited in one run or
// incrementally from a saved state. Each kind of tampering is named.
#include "clients/audit/log_auditor.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "clients/simulator/night_generator.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/domain/protocol_digest.h"
#include "services/transparency/log_entry.h"
#include "services/transparency/totals_digest.h"
#include "tests/support/reference_election.h"

namespace tally::audit {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using transparency::Hash;

// The reference election and a night of it, as the log would hold it.
struct Night {
  absl::Status status;
  const ElectionIndex* index = nullptr;
  std::vector<v1::StationProtocol> truth;
  std::vector<std::string> leaves;
  // Tree size at the end of each revision.
  std::vector<uint64_t> revision_ends;
};

// The aggregator's acceptance rule (DESIGN.md section 4) applied to the
// night's submissions in order; every accepted version becomes a leaf.
// Rounds of 97 submissions are revisions.
void BuildLeaves(Night* night, const std::vector<sim::Submission>& plan) {
  absl::flat_hash_map<std::pair<std::string, uint32_t>, uint32_t> counted;
  absl::flat_hash_map<std::string, uint64_t> sequences;
  uint64_t revision = 1;
  size_t in_round = 0;
  for (const sim::Submission& submission : plan) {
    v1::StationProtocol protocol = submission.protocol;
    const v1::PollingStation* station =
        night->index->FindStation(protocol.station_id());
    const std::string collector = "collector-" + station->region_id();
    const uint64_t seq = ++sequences[collector];
    uint32_t& version = counted[{protocol.contest_id(), protocol.station_id()}];
    if (protocol.version() > version) {
      version = protocol.version();
      protocol.set_digest(ProtocolDigest(protocol));
      v1::LogEntry entry;
      entry.set_revision(revision);
      entry.set_collector_id(collector);
      entry.set_collector_seq(seq);
      *entry.mutable_protocol() = protocol;
      entry.mutable_accepted_at()->set_seconds(1679300000 + revision);
      night->leaves.push_back(transparency::LeafData(entry));
    }
    if (++in_round == 97) {
      night->revision_ends.push_back(night->leaves.size());
      ++revision;
      in_round = 0;
    }
  }
  night->revision_ends.push_back(night->leaves.size());
}

Night* BuildNight() {
  auto* night = new Night;
  const testing::ReferenceElection& reference =
      testing::Reference(2023, testing::Truth::kOfficialResult);
  night->status = reference.status;
  if (!night->status.ok()) return night;
  night->index = reference.index.get();
  night->truth = reference.truth;
  sim::NightOptions options;
  options.seed = 2023;
  options.correction_percent = 6;
  options.duplicate_percent = 4;
  BuildLeaves(night, sim::PlanNight(*night->index, night->truth, options));
  return night;
}

const Night& TheNight() {
  static const Night* const night = BuildNight();
  return *night;
}

#define ASSERT_NIGHT(night)        \
  const Night& night = TheNight(); \
  ASSERT_TRUE(night.status.ok()) << night.status

Hash RootOf(const std::vector<std::string>& leaves, size_t size) {
  transparency::MerkleFrontier frontier;
  for (size_t i = 0; i < size; ++i) {
    frontier.Append(transparency::HashLeaf(leaves[i]));
  }
  return frontier.Root();
}

v1::SignedTreeHead HeadAt(const Night& night, uint64_t revision,
                          uint64_t size) {
  v1::SignedTreeHead head;
  head.mutable_head()->set_revision(revision);
  head.mutable_head()->set_tree_size(size);
  head.mutable_head()->set_root_hash(
      transparency::HashBytes(RootOf(night.leaves, size)));
  return head;
}

TEST(LogAuditorTest, AWholeNightGivesBackTheRootAndTheTruth) {
  ASSERT_NIGHT(night);
  LogAuditor auditor(*night.index);
  for (const std::string& leaf : night.leaves) auditor.AddLeaf(leaf);
  auditor.Finish();
  EXPECT_THAT(auditor.findings(), ::testing::IsEmpty());
  EXPECT_EQ(auditor.size(), night.leaves.size());
  EXPECT_GT(auditor.corrections(), 0u);
  EXPECT_EQ(auditor.Root(), RootOf(night.leaves, night.leaves.size()));

  // Every scope of every contest equals the truth, summed independently.
  const std::vector<v1::Totals> totals = auditor.Totals();
  for (const v1::Totals& entry : totals) {
    v1::Totals truth = sim::SumTruth(*night.index, night.truth,
                                     entry.contest_id(), entry.scope());
    truth.set_revision(entry.revision());
    std::string differences;
    MessageDifferencer differ;
    differ.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differ.Compare(truth, entry)) << differences;
    EXPECT_GT(entry.revision(), 0u);
  }
  EXPECT_EQ(auditor.TotalsDigest(), transparency::TotalsDigest(totals));
  // Final allocations: every seat of the house.
  uint32_t seats = 0;
  for (const v1::SeatAllocation& allocation : auditor.Allocations()) {
    EXPECT_FALSE(allocation.provisional());
    for (const v1::ChoiceSeats& choice : allocation.choices()) {
      seats += choice.seats();
    }
  }
  EXPECT_EQ(seats, 98u);
}

TEST(LogAuditorTest, IncrementalAuditsAgreeWithOneRun) {
  ASSERT_NIGHT(night);
  LogAuditor whole(*night.index);
  for (const std::string& leaf : night.leaves) whole.AddLeaf(leaf);
  whole.Finish();

  // Three runs, each continuing from the state the previous one saved.
  const size_t cuts[] = {night.revision_ends[40], night.revision_ends[150],
                         night.leaves.size()};
  const uint64_t revisions[] = {41, 151, night.revision_ends.size()};
  v1::AuditState state;
  size_t begin = 0;
  uint64_t reads = 0;
  for (int run = 0; run < 3; ++run) {
    LogAuditor auditor(*night.index);
    if (run > 0) {
      ASSERT_TRUE(auditor.Restore(state).ok());
      EXPECT_EQ(auditor.size(), begin);
    }
    auditor.set_leaf_reader([&](uint64_t index) -> absl::StatusOr<std::string> {
      ++reads;
      EXPECT_LT(index, begin);
      return night.leaves[index];
    });
    for (size_t i = begin; i < cuts[run]; ++i) auditor.AddLeaf(night.leaves[i]);
    auditor.Finish();
    EXPECT_THAT(auditor.findings(), ::testing::IsEmpty());
    EXPECT_EQ(auditor.Root(), RootOf(night.leaves, cuts[run]));
    state = auditor.State(HeadAt(night, revisions[run], cuts[run]), "digest");
    // The state survives serialization.
    v1::AuditState copy;
    ASSERT_TRUE(copy.ParseFromString(state.SerializeAsString()));
    state = copy;
    begin = cuts[run];
    if (run == 2) {
      EXPECT_EQ(auditor.TotalsDigest(), whole.TotalsDigest());
      const std::vector<v1::Totals> a = auditor.Totals();
      const std::vector<v1::Totals> b = whole.Totals();
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_TRUE(MessageDifferencer::Equals(a[i], b[i]));
      }
    }
  }
  // Corrections of protocols counted in an earlier run read their old
  // leaf again.
  EXPECT_GT(reads, 0u);
}

// Runs the auditor over the night with `change` applied to one leaf's
// entry (re-encoded), and returns the findings.
std::vector<std::string> FindingsWith(
    const Night& night, size_t leaf,
    const std::function<void(v1::LogEntry*)>& change) {
  LogAuditor auditor(*night.index);
  for (size_t i = 0; i < night.leaves.size(); ++i) {
    if (i != leaf) {
      auditor.AddLeaf(night.leaves[i]);
      continue;
    }
    absl::StatusOr<v1::LogEntry> entry =
        transparency::ParseLeafData(night.leaves[i]);
    EXPECT_TRUE(entry.ok());
    change(&*entry);
    auditor.AddLeaf(transparency::LeafData(*entry));
  }
  auditor.Finish();
  return auditor.findings();
}

TEST(LogAuditorTest, EveryKindOfTamperingIsNamed) {
  ASSERT_NIGHT(night);
  const size_t leaf = night.leaves.size() / 2;

  // A vote moved, the digest left: the content no longer matches it.
  std::vector<std::string> findings =
      FindingsWith(night, leaf, [](v1::LogEntry* entry) {
        v1::ChoiceVotes* votes = entry->mutable_protocol()->mutable_votes(0);
        votes->set_votes(votes->votes() + 1);
      });
  ASSERT_THAT(findings, ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(findings[0],
              ContainsRegex("^leaf [0-9]+ \\(contest .*, station [0-9]+, "
                            "version [0-9]+, revision [0-9]+\\): the "
                            "protocol's content does not match its digest"));
  EXPECT_THAT(findings[0], HasSubstr(absl::StrCat("leaf ", leaf, " ")));

  // An outbox entry applied twice.
  findings = FindingsWith(
      night, leaf, [](v1::LogEntry* entry) { entry->set_collector_seq(1); });
  ASSERT_THAT(findings, ::testing::SizeIs(1));
  EXPECT_THAT(findings[0], HasSubstr("was applied twice"));

  // A revision out of commit order.
  findings = FindingsWith(night, leaf, [](v1::LogEntry* entry) {
    entry->set_revision(entry->revision() + 1000);
  });
  ASSERT_THAT(findings, ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(findings[0], HasSubstr("not in commit order"));

  // A protocol counted although validation refuses it (a choice the
  // contest does not have), with a matching digest.
  findings = FindingsWith(night, leaf, [](v1::LogEntry* entry) {
    v1::StationProtocol* protocol = entry->mutable_protocol();
    v1::ChoiceVotes* votes = protocol->add_votes();
    votes->set_choice_id("no-such-choice");
    votes->set_votes(5);
    protocol->set_digest(ProtocolDigest(*protocol));
  });
  ASSERT_THAT(findings, ::testing::SizeIs(1));
  EXPECT_THAT(findings[0], HasSubstr("validation refuses it"));

  // An older version after a newer one.
  findings = FindingsWith(night, leaf, [&](v1::LogEntry* entry) {
    // Make this leaf a repeat of the first leaf's protocol.
    absl::StatusOr<v1::LogEntry> first =
        transparency::ParseLeafData(night.leaves[0]);
    *entry->mutable_protocol() = first->protocol();
  });
  ASSERT_THAT(findings, ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(findings[0], HasSubstr("does not supersede the counted version"));

  // Bytes that are no LogEntry.
  LogAuditor auditor(*night.index);
  auditor.AddLeaf("\xff\xff\xff\xff");
  ASSERT_THAT(auditor.findings(), ::testing::SizeIs(1));
  EXPECT_EQ(auditor.findings()[0],
            "leaf 0: leaf data is not a tally.v1.LogEntry");
}

TEST(LogAuditorTest, BlockPrefixRootsLocateAChangedLeaf) {
  ASSERT_NIGHT(night);
  LogAuditor auditor(*night.index);
  for (const std::string& leaf : night.leaves) auditor.AddLeaf(leaf);
  const uint64_t blocks = night.leaves.size() / kBlockLeaves;
  ASSERT_GT(blocks, 3u);
  for (uint64_t b : {uint64_t{1}, uint64_t{2}, uint64_t{3}, blocks}) {
    absl::StatusOr<Hash> root = auditor.BlockPrefixRoot(b);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(*root, RootOf(night.leaves, b * kBlockLeaves)) << b;
  }
  EXPECT_FALSE(auditor.BlockPrefixRoot(blocks + 1).ok());
  EXPECT_FALSE(auditor.BlockPrefixRoot(0).ok());
}

TEST(LogAuditorTest, AStateOfAnotherElectionIsRefused) {
  ASSERT_NIGHT(night);
  v1::AuditState state;
  state.mutable_head()->mutable_head()->set_tree_size(3);
  v1::AuditedProtocol* protocol = state.add_protocols();
  protocol->set_contest_id("no-such-contest");
  LogAuditor auditor(*night.index);
  // Three leaves need two frontier hashes.
  EXPECT_THAT(auditor.Restore(state).message(), HasSubstr("frontier"));
  state.add_frontier(std::string(32, 'a'));
  state.add_frontier(std::string(32, 'b'));
  EXPECT_THAT(auditor.Restore(state).message(),
              HasSubstr("does not fit the definition"));
}

}  // namespace
}  // namespace tally::audit

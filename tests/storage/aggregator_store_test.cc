// The aggregator's RocksDB store and its consistency check, against a real
// RocksDB in a fresh directory per test.
#include "storage/aggregator_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/domain/definition_digest.h"
#include "services/domain/election_index.h"
#include "services/domain/protocol_digest.h"
#include "services/domain/totals_book.h"
#include "storage/consistency_check.h"
#include "storage/key_encoding.h"
#include "tally/v1/election.pb.h"
#include "tests/support/mini_election.h"

namespace tally::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::MiniElection;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr uint64_t kU32Max = std::numeric_limits<uint32_t>::max();

// --- Key encoding ------------------------------------------------------------

TEST(KeyEncodingTest, ProtocolAndVersionKeysRoundTrip) {
  const ProtocolKey key{0xBEEF, 0xDEADBEEF};
  const std::string encoded = EncodeProtocolKey(key);
  EXPECT_EQ(encoded, std::string("\xBE\xEF\xDE\xAD\xBE\xEF", 6));
  absl::StatusOr<ProtocolKey> decoded = DecodeProtocolKey(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, key);

  const std::string version = EncodeVersionKey(key, 0x01020304);
  ASSERT_EQ(version.size(), kVersionKeySize);
  EXPECT_EQ(version.substr(0, 6), encoded);  // the protocol key is a prefix
  absl::StatusOr<VersionKey> v = DecodeVersionKey(version);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->protocol, key);
  EXPECT_EQ(v->version, 0x01020304u);
}

TEST(KeyEncodingTest, TotalsRevisionAndConflictKeysRoundTrip) {
  const TotalsKey totals{7, v1::SCOPE_KIND_DISTRICT, 70000};
  absl::StatusOr<TotalsKey> t = DecodeTotalsKey(EncodeTotalsKey(totals));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, totals);

  for (uint64_t revision : {uint64_t{0}, uint64_t{1}, kU32Max + 1,
                            std::numeric_limits<uint64_t>::max()}) {
    absl::StatusOr<uint64_t> r = DecodeRevision(EncodeRevision(revision));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, revision);
  }

  const ConflictKey conflict{{3, 101}, 2, (uint64_t{1} << 40) + 5};
  const std::string encoded = EncodeConflictKey(conflict);
  EXPECT_EQ(encoded.size(), kConflictKeySize);
  absl::StatusOr<ConflictKey> c = DecodeConflictKey(encoded);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, conflict);
}

TEST(KeyEncodingTest, LatestValueRoundTrips) {
  LatestValue value;
  value.version = 42;
  for (size_t i = 0; i < value.digest.size(); ++i) {
    value.digest[i] = static_cast<uint8_t>(255 - i);
  }
  value.has_anomalies = true;
  const std::string encoded = EncodeLatestValue(value);
  ASSERT_EQ(encoded.size(), kLatestValueSize);
  EXPECT_EQ(encoded.back(), '\x01');
  absl::StatusOr<LatestValue> decoded = DecodeLatestValue(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->version, 42u);
  EXPECT_EQ(decoded->digest, value.digest);
  EXPECT_TRUE(decoded->has_anomalies);

  value.has_anomalies = false;
  decoded = DecodeLatestValue(EncodeLatestValue(value));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_FALSE(decoded->has_anomalies);
}

// Bytewise order of the encodings must be the numeric order of the fields.
TEST(KeyEncodingTest, EncodingsSortNumerically) {
  EXPECT_LT(EncodeProtocolKey({0, 255}), EncodeProtocolKey({0, 256}));
  EXPECT_LT(EncodeProtocolKey({0, static_cast<uint32_t>(kU32Max)}),
            EncodeProtocolKey({1, 0}));
  EXPECT_LT(EncodeProtocolKey({255, 9}), EncodeProtocolKey({256, 0}));
  EXPECT_LT(EncodeVersionKey({0, 101}, 255), EncodeVersionKey({0, 101}, 256));
  EXPECT_LT(EncodeVersionKey({0, 101}, static_cast<uint32_t>(kU32Max)),
            EncodeVersionKey({0, 102}, 1));
  EXPECT_LT(EncodeRevision(kU32Max), EncodeRevision(kU32Max + 1));
  EXPECT_LT(EncodeRevision(255), EncodeRevision(256));
  EXPECT_LT(EncodeTotalsKey({0, v1::SCOPE_KIND_REGION, 255}),
            EncodeTotalsKey({0, v1::SCOPE_KIND_REGION, 256}));
  EXPECT_LT(EncodeTotalsKey({0, v1::SCOPE_KIND_DISTRICT, 0}),
            EncodeTotalsKey({1, v1::SCOPE_KIND_NATIONAL, 0}));
  EXPECT_LT(EncodeConflictKey({{0, 101}, 1, kU32Max}),
            EncodeConflictKey({{0, 101}, 1, kU32Max + 1}));
  EXPECT_LT(EncodeConflictKey({{0, 101}, 1, kU32Max + 1}),
            EncodeConflictKey({{0, 101}, 2, 0}));
}

TEST(KeyEncodingTest, DecodersRejectWrongLengths) {
  EXPECT_EQ(DecodeProtocolKey(std::string(5, '\0')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeProtocolKey(std::string(7, '\0')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeVersionKey(std::string(6, '\0')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeTotalsKey(std::string(8, '\0')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeRevision("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeConflictKey(std::string(10, '\0')).status().code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status latest = DecodeLatestValue(std::string(36, '\0')).status();
  EXPECT_EQ(latest.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(latest.message()),
              HasSubstr("latest value: 36 bytes, want 37"));
}

TEST(KeyEncodingTest, LatestValueRejectsUnknownFlags) {
  std::string encoded = EncodeLatestValue(LatestValue{});
  encoded.back() = '\x03';
  const absl::Status s = DecodeLatestValue(encoded).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("flag bits 0x2"));
}

TEST(KeyEncodingTest, PrefixSuccessorBoundsThePrefix) {
  EXPECT_EQ(PrefixSuccessor(std::string("\x00\x01", 2)),
            std::string("\x00\x02", 2));
  EXPECT_EQ(PrefixSuccessor(std::string("\x00\xff", 2)),
            std::string("\x01", 1));
  EXPECT_EQ(PrefixSuccessor(std::string("\xff\xff", 2)), "");
  const std::string prefix = EncodeProtocolKey({0, 255});
  EXPECT_LT(EncodeVersionKey({0, 255}, static_cast<uint32_t>(kU32Max)),
            PrefixSuccessor(prefix));
  EXPECT_LE(PrefixSuccessor(prefix), EncodeVersionKey({0, 256}, 0));
}

// --- Fixtures
// ------------------------------------------------------------------

// The mini election (tests/support/mini_election.h): contest 0 is the
// national party list, contest 1 the single mandate of d-1 (stations 101
// and 102).
constexpr uint16_t kList = 0;
constexpr uint16_t kSmd = 1;

// A protocol that passes every accounting check: the ballots found are the
// votes plus against-all plus invalid, all issued, the rest cancelled.
v1::StationProtocol MakeProtocol(
    const ElectionIndex& index, const std::string& contest, uint32_t station,
    uint32_t version,
    const std::vector<std::pair<std::string, uint64_t>>& votes,
    uint64_t against_all = 0, uint64_t invalid = 0) {
  v1::StationProtocol p;
  p.set_contest_id(contest);
  p.set_station_id(station);
  p.set_version(version);
  uint64_t sum = against_all + invalid;
  for (const auto& [id, count] : votes) {
    v1::ChoiceVotes* line = p.add_votes();
    line->set_choice_id(id);
    line->set_votes(count);
    sum += count;
  }
  const uint64_t registered = index.FindStation(station)->registered_voters();
  v1::BallotAccounting* a = p.mutable_accounting();
  a->set_registered_voters(registered);
  a->set_ballots_received(registered);
  a->set_ballots_issued(sum);
  a->set_ballots_found(sum);
  a->set_invalid(invalid);
  a->set_against_all(against_all);
  a->set_unused_cancelled(registered - sum);
  p.set_submitted_by("collector-north");
  p.set_digest(ProtocolDigest(p));
  return p;
}

LatestValue LatestOf(const v1::StationProtocol& p) {
  LatestValue latest;
  latest.version = p.version();
  const std::string digest = ProtocolDigest(p);
  std::copy(digest.begin(), digest.end(), latest.digest.begin());
  return latest;
}

TotalsKey KeyOf(const TotalsAddress& address) {
  return TotalsKey{address.contest, static_cast<uint8_t>(address.scope_kind),
                   address.scope_index};
}

// Builds commits the way the aggregator's committer does: accepted
// protocols, their latest entries, the totals they changed and one event,
// so that a store written through it is consistent.
class TestCommitter {
 public:
  // Holds the fixture's pointer, not the store, so that it follows a
  // reopen.
  TestCommitter(const std::unique_ptr<AggregatorStore>& store,
                const ElectionIndex& index)
      : store_(store), index_(index), book_(index) {}

  CommitBatch Prepare(const std::vector<v1::StationProtocol>& protocols,
                      const std::string& collector = "collector-north",
                      uint64_t sequence = 0) {
    CommitBatch batch;
    batch.revision = store_->revision() + 1;
    v1::Event event;
    event.set_revision(batch.revision);
    for (const v1::StationProtocol& p : protocols) {
      const ProtocolKey key{
          static_cast<uint16_t>(index_.FindContest(p.contest_id())->index),
          p.station_id()};
      const auto previous = counted_.find(key);
      book_.Apply(previous == counted_.end() ? nullptr : &previous->second,
                  false, p, false);
      v1::ProtocolVersion version;
      *version.mutable_protocol() = p;
      version.set_revision(batch.revision);
      version.set_collector_id(collector);
      version.set_collector_seq(sequence);
      batch.protocols.push_back({key, version});
      batch.latest.emplace_back(key, LatestOf(p));
      v1::StationUpdate* update = event.add_stations();
      update->set_contest_id(p.contest_id());
      update->set_station_id(p.station_id());
      update->set_version(p.version());
      counted_[key] = p;
    }
    book_.StampChanged(batch.revision);
    for (uint32_t entry : book_.TakeChanged()) {
      v1::Totals totals = book_.ToProto(entry);
      *event.add_totals() = totals;
      batch.totals.emplace_back(KeyOf(book_.address(entry)), totals);
    }
    batch.event = std::move(event);
    if (sequence > 0) batch.cursors.emplace_back(collector, sequence);
    return batch;
  }

  absl::Status Accept(const std::vector<v1::StationProtocol>& protocols,
                      const std::string& collector = "collector-north",
                      uint64_t sequence = 0) {
    return store_->Commit(Prepare(protocols, collector, sequence));
  }

  const TotalsBook& book() const { return book_; }

 private:
  const std::unique_ptr<AggregatorStore>& store_;
  const ElectionIndex& index_;
  TotalsBook book_;
  absl::flat_hash_map<ProtocolKey, v1::StationProtocol> counted_;
};

class AggregatorStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("tally_store_", info->test_suite_name(), "_",
                        info->name(), "_", getpid());
    std::filesystem::remove_all(dir_);
    auto index = ElectionIndex::Build(MiniElection());
    ASSERT_TRUE(index.ok()) << index.status();
    index_ = std::move(*index);
    OpenStore();
  }

  void TearDown() override {
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void OpenStore() {
    absl::StatusOr<std::unique_ptr<AggregatorStore>> store =
        AggregatorStore::Open(dir_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  void Reopen() {
    store_.reset();
    OpenStore();
  }

  v1::StationProtocol List(uint32_t station, uint32_t version, uint64_t a,
                           uint64_t b, uint64_t c) {
    return MakeProtocol(*index_, "list", station, version,
                        {{"party-a", a}, {"party-b", b}, {"party-c", c}},
                        /*against_all=*/5, /*invalid=*/3);
  }
  v1::StationProtocol Smd(uint32_t station, uint32_t version, uint64_t x,
                          uint64_t y) {
    return MakeProtocol(*index_, "smd-1", station, version,
                        {{"cand-x", x}, {"cand-y", y}}, 0, /*invalid=*/2);
  }

  // Events [from, to] as their revisions.
  std::vector<uint64_t> EventRevisions(uint64_t from, uint64_t to,
                                       size_t limit = 1000) {
    std::vector<uint64_t> revisions;
    absl::Status s = store_->ReadEvents(from, to, [&](v1::Event event) {
      revisions.push_back(event.revision());
      return revisions.size() < limit;
    });
    EXPECT_TRUE(s.ok()) << s;
    return revisions;
  }

  // Commits `n` revisions, each a new version of station 201's list
  // protocol.
  void CommitRevisions(TestCommitter& committer, uint32_t n) {
    for (uint32_t i = 1; i <= n; ++i) {
      ASSERT_TRUE(committer.Accept({List(201, i, 100 + i, 50, 20)}).ok());
    }
  }

  // Opens the closed store's directory with plain RocksDB, as a tool that
  // bypasses the store would, and puts one raw value.
  void PutRaw(const std::string& family, const std::string& key,
              const std::string& value) {
    store_.reset();
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const char* name :
         {"default", "protocols", "latest", "totals", "events", "conflicts",
          "meta", "log_leaves", "log_nodes", "tree_heads", "tree_sizes",
          "cosignatures"}) {
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir_.string(), families,
                                  &handles, &raw)
                    .ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::ColumnFamilyHandle* target = nullptr;
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      if (h->GetName() == family) target = h;
    }
    ASSERT_NE(target, nullptr);
    EXPECT_TRUE(db->Put(rocksdb::WriteOptions(), target, key, value).ok());
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      EXPECT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    }
    EXPECT_TRUE(db->Close().ok());
    db.reset();
    OpenStore();
  }

  std::filesystem::path dir_;
  std::unique_ptr<ElectionIndex> index_;
  std::unique_ptr<AggregatorStore> store_;
};

// --- Start-up
// --------------------------------------------------------------------

TEST_F(AggregatorStoreTest, EmptyStoreStartsAtZero) {
  EXPECT_EQ(store_->revision(), 0u);
  EXPECT_EQ(store_->oldest_event_revision(), 1u);
  absl::StatusOr<std::optional<v1::ElectionDefinition>> definition =
      store_->LoadDefinition();
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_FALSE(definition->has_value());
  auto cursors = store_->LoadCursors();
  ASSERT_TRUE(cursors.ok()) << cursors.status();
  EXPECT_THAT(*cursors, IsEmpty());
  int seen = 0;
  EXPECT_TRUE(store_
                  ->ForEachTotals([&](const TotalsKey&, v1::Totals) {
                    ++seen;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_TRUE(store_
                  ->ForEachLatest([&](const ProtocolKey&, const LatestValue&) {
                    ++seen;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(seen, 0);
  EXPECT_THAT(EventRevisions(0, 100), IsEmpty());
  auto history = store_->History({kList, 101});
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_THAT(*history, IsEmpty());
}

TEST_F(AggregatorStoreTest, MissingStoreWithoutCreateIsAnError) {
  StoreOptions options;
  options.create_if_missing = false;
  const std::string path = (dir_ / "absent").string();
  auto store = AggregatorStore::Open(path, options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(AggregatorStoreTest, OpeningAFileIsAClearError) {
  const std::filesystem::path file = dir_ / "not-a-db";
  std::ofstream(file) << "plain file";
  auto store = AggregatorStore::Open(file.string());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr(file.string() + "): exists and is not a directory"));
}

TEST_F(AggregatorStoreTest, SecondOpenOfALiveStoreFails) {
  auto second = AggregatorStore::Open(dir_.string());
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(
      std::string(second.status().message()),
      HasSubstr("cannot open the aggregator store in " + dir_.string() + ": "));
}

TEST_F(AggregatorStoreTest, DefinitionSavedLoadedAndDigested) {
  const v1::ElectionDefinition definition = MiniElection();
  ASSERT_TRUE(store_->SaveDefinition(definition).ok());
  absl::StatusOr<std::string> digest = DefinitionDigest(definition);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(digest->size(), 64u);
  EXPECT_EQ(digest->find_first_not_of("0123456789abcdef"), std::string::npos);

  Reopen();
  auto loaded = store_->LoadDefinition();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->SerializeAsString(), definition.SerializeAsString());
  auto stored_digest = store_->LoadDefinitionDigest();
  ASSERT_TRUE(stored_digest.ok()) << stored_digest.status();
  EXPECT_EQ(stored_digest->value_or(""), *digest);

  // Saving the same definition again is harmless; another one is refused.
  EXPECT_TRUE(store_->SaveDefinition(definition).ok());
  v1::ElectionDefinition other = definition;
  other.set_name("Another election");
  absl::StatusOr<std::string> other_digest = DefinitionDigest(other);
  ASSERT_TRUE(other_digest.ok());
  EXPECT_NE(*other_digest, *digest);
  const absl::Status refused = store_->SaveDefinition(other);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()), HasSubstr(*digest));
}

TEST_F(AggregatorStoreTest, CorruptedDefinitionIsDataLoss) {
  ASSERT_TRUE(store_->SaveDefinition(MiniElection()).ok());
  PutRaw("meta", "definition", "\xff\xff\xff garbage");
  const absl::Status s = store_->LoadDefinition().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr("meta/definition"));
}

TEST_F(AggregatorStoreTest, BumpEpochIncrementsAcrossReopen) {
  auto first = store_->BumpEpoch();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 1u);
  auto second = store_->BumpEpoch();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, 2u);
  Reopen();
  auto third = store_->BumpEpoch();
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(*third, 3u);
  EXPECT_EQ(store_->revision(), 0u);  // the epoch is not a revision
}

// --- Commit and reads
// ---------------------------------------------------------------

TEST_F(AggregatorStoreTest, CommitThenReopenRestoresEverything) {
  TestCommitter committer(store_, *index_);
  ASSERT_TRUE(committer
                  .Accept({List(101, 1, 300, 200, 100), Smd(101, 1, 60, 40)},
                          "collector-north", 7)
                  .ok());
  ASSERT_TRUE(
      committer.Accept({List(201, 1, 10, 20, 30)}, "collector-south", 3).ok());
  EXPECT_EQ(store_->revision(), 2u);

  Reopen();
  EXPECT_EQ(store_->revision(), 2u);
  EXPECT_EQ(store_->oldest_event_revision(), 1u);

  auto cursors = store_->LoadCursors();
  ASSERT_TRUE(cursors.ok()) << cursors.status();
  EXPECT_THAT(*cursors, UnorderedElementsAre(Pair("collector-north", 7u),
                                             Pair("collector-south", 3u)));

  std::vector<std::pair<std::pair<uint16_t, uint32_t>, uint32_t>> latest;
  ASSERT_TRUE(
      store_
          ->ForEachLatest(
              [&](const ProtocolKey& key, const LatestValue& value) {
                latest.push_back({{key.contest, key.station}, value.version});
                EXPECT_FALSE(value.has_anomalies);
                return absl::OkStatus();
              })
          .ok());
  // Key order: contest first, then station.
  EXPECT_THAT(latest, ElementsAre(Pair(Pair(kList, 101u), 1u),
                                  Pair(Pair(kList, 201u), 1u),
                                  Pair(Pair(kSmd, 101u), 1u)));

  // The stored totals equal the committer's book, entry for entry.
  absl::flat_hash_map<std::string, std::string> stored;
  ASSERT_TRUE(store_
                  ->ForEachTotals([&](const TotalsKey& key, v1::Totals t) {
                    stored[EncodeTotalsKey(key)] = t.SerializeAsString();
                    return absl::OkStatus();
                  })
                  .ok());
  // list: national, r-north, r-south, d-1, d-2; smd-1: d-1. smd-2 (d-2)
  // has no protocol yet: nothing is stored for it.
  EXPECT_EQ(stored.size(), 6u);
  const TotalsBook& book = committer.book();
  for (uint32_t entry = 0; entry < book.size(); ++entry) {
    const std::string key = EncodeTotalsKey(KeyOf(book.address(entry)));
    if (!stored.contains(key)) {
      EXPECT_EQ(book.ToProto(entry).stations_reported(), 0u) << entry;
      continue;
    }
    EXPECT_EQ(stored[key], book.ToProto(entry).SerializeAsString()) << entry;
  }
  v1::Totals national;
  ASSERT_TRUE(national.ParseFromString(
      stored[EncodeTotalsKey({kList, v1::SCOPE_KIND_NATIONAL, 0})]));
  EXPECT_EQ(national.choices(0).votes(), 310u);
  EXPECT_EQ(national.stations_reported(), 2u);
  EXPECT_EQ(national.revision(), 2u);

  std::vector<v1::Event> events;
  ASSERT_TRUE(store_
                  ->ReadEvents(1, 2,
                               [&](v1::Event e) {
                                 events.push_back(std::move(e));
                                 return true;
                               })
                  .ok());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].revision(), 1u);
  EXPECT_EQ(events[0].stations_size(), 2);
  EXPECT_EQ(events[1].revision(), 2u);
  EXPECT_EQ(events[1].stations(0).station_id(), 201u);

  auto version = store_->GetVersion({kSmd, 101}, 1);
  ASSERT_TRUE(version.ok()) << version.status();
  ASSERT_TRUE(version->has_value());
  EXPECT_EQ((*version)->protocol().votes(0).votes(), 60u);
  EXPECT_EQ((*version)->collector_seq(), 7u);
  EXPECT_EQ((*version)->revision(), 1u);
}

TEST_F(AggregatorStoreTest, HistoryIsOldestFirstAndPerProtocol) {
  TestCommitter committer(store_, *index_);
  ASSERT_TRUE(committer.Accept({List(101, 1, 1, 1, 1)}).ok());
  ASSERT_TRUE(committer.Accept({List(102, 1, 9, 9, 9)}).ok());
  ASSERT_TRUE(committer.Accept({List(101, 2, 2, 2, 2)}).ok());
  ASSERT_TRUE(
      committer.Accept({List(101, 3, 3, 3, 3), Smd(101, 1, 5, 5)}).ok());

  auto history = store_->History({kList, 101});
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*history)[i].protocol().version(), i + 1);
    EXPECT_EQ((*history)[i].protocol().station_id(), 101u);
    EXPECT_EQ((*history)[i].protocol().contest_id(), "list");
  }
  EXPECT_EQ((*history)[1].revision(), 3u);

  auto smd = store_->History({kSmd, 101});
  ASSERT_TRUE(smd.ok());
  ASSERT_EQ(smd->size(), 1u);
  EXPECT_EQ((*smd)[0].protocol().contest_id(), "smd-1");

  auto none = store_->History({kList, 201});
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());
}

// Stations 255 and 256 are not in the definition, so the versions around
// the byte boundary are committed directly, without a committer.
TEST_F(AggregatorStoreTest, HistorySeparatesStations255And256) {
  CommitBatch batch;
  batch.revision = 1;
  for (uint32_t station : {255u, 256u}) {
    for (uint32_t version : {1u, 256u, 2u}) {
      v1::ProtocolVersion v;
      v.mutable_protocol()->set_contest_id("list");
      v.mutable_protocol()->set_station_id(station);
      v.mutable_protocol()->set_version(version);
      batch.protocols.push_back({{kList, station}, v});
    }
  }
  ASSERT_TRUE(store_->Commit(batch).ok());
  for (uint32_t station : {255u, 256u}) {
    auto history = store_->History({kList, station});
    ASSERT_TRUE(history.ok()) << history.status();
    std::vector<uint32_t> versions;
    for (const v1::ProtocolVersion& v : *history) {
      EXPECT_EQ(v.protocol().station_id(), station);
      versions.push_back(v.protocol().version());
    }
    EXPECT_THAT(versions, ElementsAre(1u, 2u, 256u));
  }
  std::vector<std::pair<uint32_t, uint32_t>> all;
  ASSERT_TRUE(
      store_
          ->ForEachProtocolVersion([&](const ProtocolKey& key, uint32_t version,
                                       const v1::ProtocolVersion&) {
            all.emplace_back(key.station, version);
            return absl::OkStatus();
          })
          .ok());
  EXPECT_THAT(all,
              ElementsAre(Pair(255u, 1u), Pair(255u, 2u), Pair(255u, 256u),
                          Pair(256u, 1u), Pair(256u, 2u), Pair(256u, 256u)));
}

TEST_F(AggregatorStoreTest, GetVersionOfMissingVersionIsNullopt) {
  TestCommitter committer(store_, *index_);
  ASSERT_TRUE(committer.Accept({List(101, 1, 1, 2, 3)}).ok());
  auto missing_version = store_->GetVersion({kList, 101}, 2);
  ASSERT_TRUE(missing_version.ok()) << missing_version.status();
  EXPECT_FALSE(missing_version->has_value());
  auto missing_station = store_->GetVersion({kList, 102}, 1);
  ASSERT_TRUE(missing_station.ok());
  EXPECT_FALSE(missing_station->has_value());
  auto present = store_->GetVersion({kList, 101}, 1);
  ASSERT_TRUE(present.ok());
  EXPECT_TRUE(present->has_value());
}

TEST_F(AggregatorStoreTest, CorruptedProtocolIsDataLossNamingTheKey) {
  TestCommitter committer(store_, *index_);
  ASSERT_TRUE(committer.Accept({List(101, 1, 1, 2, 3)}).ok());
  PutRaw("protocols", EncodeVersionKey({kList, 101}, 1), "\x0a\xff");
  const absl::Status get = store_->GetVersion({kList, 101}, 1).status();
  EXPECT_EQ(get.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(get.message()),
              HasSubstr("protocols (contest 0, station 101) version 1"));
  const absl::Status history = store_->History({kList, 101}).status();
  EXPECT_EQ(history.code(), absl::StatusCode::kDataLoss);
}

TEST_F(AggregatorStoreTest, MalformedLatestKeyIsDataLoss) {
  PutRaw("latest", "short", EncodeLatestValue(LatestValue{}));
  const absl::Status s = store_->ForEachLatest(
      [](const ProtocolKey&, const LatestValue&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr("ForEachLatest"));
}

TEST_F(AggregatorStoreTest, ReadEventsHonoursRangeAndEarlyStop) {
  TestCommitter committer(store_, *index_);
  CommitRevisions(committer, 6);
  EXPECT_THAT(EventRevisions(1, 6), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(EventRevisions(2, 4), ElementsAre(2, 3, 4));
  EXPECT_THAT(EventRevisions(5, std::numeric_limits<uint64_t>::max()),
              ElementsAre(5, 6));
  EXPECT_THAT(EventRevisions(0, 0), IsEmpty());
  EXPECT_THAT(EventRevisions(4, 3), IsEmpty());
  EXPECT_THAT(EventRevisions(7, 100), IsEmpty());
  EXPECT_THAT(EventRevisions(1, 6, /*limit=*/2), ElementsAre(1, 2));
}

TEST_F(AggregatorStoreTest, CompactionDropsOldEventsAndSurvivesReopen) {
  TestCommitter committer(store_, *index_);
  CommitRevisions(committer, 5);
  CommitBatch batch = committer.Prepare({List(201, 6, 1, 1, 1)});
  batch.compact_events_below = 4;
  ASSERT_TRUE(store_->Commit(batch).ok());
  EXPECT_EQ(store_->oldest_event_revision(), 4u);
  EXPECT_THAT(EventRevisions(1, 10), ElementsAre(4, 5, 6));

  Reopen();
  EXPECT_EQ(store_->revision(), 6u);
  EXPECT_EQ(store_->oldest_event_revision(), 4u);
  EXPECT_THAT(EventRevisions(0, 10), ElementsAre(4, 5, 6));

  // An older bound never moves the oldest retained revision back.
  CommitBatch older = committer.Prepare({List(201, 7, 1, 1, 1)});
  older.compact_events_below = 2;
  ASSERT_TRUE(store_->Commit(older).ok());
  EXPECT_EQ(store_->oldest_event_revision(), 4u);
  EXPECT_THAT(EventRevisions(0, 10), ElementsAre(4, 5, 6, 7));
}

TEST_F(AggregatorStoreTest, CompactionCannotPassTheNextRevision) {
  TestCommitter committer(store_, *index_);
  CommitRevisions(committer, 2);
  CommitBatch batch = committer.Prepare({List(201, 3, 1, 1, 1)});
  batch.compact_events_below = 5;  // revision 3: at most 4 is allowed
  const absl::Status s = store_->Commit(batch);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->revision(), 2u);
  EXPECT_THAT(EventRevisions(0, 10), ElementsAre(1, 2));

  // Compacting everything: none retained, the next revision is the oldest.
  CommitBatch all;
  all.revision = 0;
  all.compact_events_below = 3;
  ASSERT_TRUE(store_->Commit(all).ok());
  EXPECT_EQ(store_->oldest_event_revision(), 3u);
  EXPECT_THAT(EventRevisions(0, 10), IsEmpty());
}

TEST_F(AggregatorStoreTest, ConflictsAreListed) {
  TestCommitter committer(store_, *index_);
  ASSERT_TRUE(committer.Accept({List(101, 1, 1, 2, 3)}).ok());
  // Two different refused contents for the same version, in two commits:
  // the revision in the key keeps both.
  for (uint64_t votes : {9u, 8u}) {
    CommitBatch batch = committer.Prepare({List(102, votes - 7, 4, 5, 6)});
    v1::ProtocolVersion refused;
    *refused.mutable_protocol() = List(101, 1, votes, 9, 9);
    batch.conflicts.push_back({{kList, 101}, refused});
    ASSERT_TRUE(store_->Commit(batch).ok());
  }

  std::vector<std::pair<uint32_t, uint64_t>> seen;
  ASSERT_TRUE(store_
                  ->ForEachConflict([&](const ProtocolKey& key,
                                        const v1::ProtocolVersion& v) {
                    EXPECT_EQ(key.contest, kList);
                    seen.emplace_back(key.station,
                                      v.protocol().votes(0).votes());
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_THAT(seen, ElementsAre(Pair(101u, 9u), Pair(101u, 8u)));
  // Conflicts never reach the history.
  auto history = store_->History({kList, 101});
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ((*history)[0].protocol().votes(0).votes(), 1u);
}

TEST_F(AggregatorStoreTest, CursorOnlyCommitKeepsRevisionAndWritesNoEvent) {
  TestCommitter committer(store_, *index_);
  ASSERT_TRUE(
      committer.Accept({List(101, 1, 1, 2, 3)}, "collector-north", 1).ok());
  CommitBatch batch;
  batch.cursors.emplace_back("collector-north", 9);
  ASSERT_TRUE(store_->Commit(batch).ok());
  EXPECT_EQ(store_->revision(), 1u);
  Reopen();
  EXPECT_EQ(store_->revision(), 1u);
  EXPECT_THAT(EventRevisions(0, 100), ElementsAre(1));
  auto cursors = store_->LoadCursors();
  ASSERT_TRUE(cursors.ok());
  EXPECT_THAT(*cursors, ElementsAre(Pair("collector-north", 9u)));
}

// The revision at which each contest became decided is kept in meta with
// the round that changed it, apart from the cursors; 0 (re-opened) is kept
// as 0.
TEST_F(AggregatorStoreTest, DecidedRevisionsSurviveReopen) {
  auto decided = store_->LoadDecidedRevisions();
  ASSERT_TRUE(decided.ok()) << decided.status();
  EXPECT_THAT(*decided, IsEmpty());
  CommitBatch batch;
  batch.cursors.emplace_back("collector-north", 4);
  batch.decided_revisions.emplace_back("smd-1", 3);
  batch.decided_revisions.emplace_back("list", 5);
  ASSERT_TRUE(store_->Commit(batch).ok());
  CommitBatch reopened;
  reopened.decided_revisions.emplace_back("smd-1", 0);
  ASSERT_TRUE(store_->Commit(reopened).ok());
  Reopen();
  decided = store_->LoadDecidedRevisions();
  ASSERT_TRUE(decided.ok()) << decided.status();
  EXPECT_THAT(*decided,
              UnorderedElementsAre(Pair("smd-1", 0u), Pair("list", 5u)));
  auto cursors = store_->LoadCursors();
  ASSERT_TRUE(cursors.ok()) << cursors.status();
  EXPECT_THAT(*cursors, ElementsAre(Pair("collector-north", 4u)));
}

// Commit writes keys sorted (for the memtable's insert hints): the order
// within a batch must not matter, and a protocol corrected twice in one
// round keeps its last version in `latest`. ForEachLatestChunk hands the
// records over in key order, in chunks of the requested size.
TEST_F(AggregatorStoreTest, UnsortedRoundKeepsLastCorrectionAndChunksInOrder) {
  TestCommitter committer(store_, *index_);
  ASSERT_TRUE(committer
                  .Accept({List(201, 1, 1, 2, 3), Smd(101, 1, 5, 6),
                           List(101, 1, 7, 8, 9), List(201, 2, 2, 2, 3),
                           List(201, 3, 3, 2, 3)})
                  .ok());
  Reopen();
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> chunks;
  ASSERT_TRUE(store_
                  ->ForEachLatestChunk(
                      2,
                      [&](AggregatorStore::LatestRecords records) {
                        chunks.emplace_back();
                        for (const auto& [key, value] : records) {
                          chunks.back().emplace_back(
                              key.contest * 1000 + key.station, value.version);
                        }
                        return absl::OkStatus();
                      })
                  .ok());
  const uint32_t list = kList * 1000;
  const uint32_t smd = kSmd * 1000;
  EXPECT_THAT(chunks, ElementsAre(ElementsAre(Pair(list + 101, 1u),
                                              Pair(list + 201, 3u)),
                                  ElementsAre(Pair(smd + 101, 1u))));
  // Every version is kept, whatever the order it was written in.
  auto history = store_->History({kList, 201});
  ASSERT_TRUE(history.ok()) << history.status();
  std::vector<uint32_t> versions;
  for (const v1::ProtocolVersion& v : *history) {
    versions.push_back(v.protocol().version());
  }
  EXPECT_THAT(versions, ElementsAre(1u, 2u, 3u));
  // An error from fn stops the scan and is returned.
  int calls = 0;
  const absl::Status stopped =
      store_->ForEachLatestChunk(1, [&](AggregatorStore::LatestRecords) {
        ++calls;
        return absl::CancelledError("enough");
      });
  EXPECT_EQ(stopped.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

TEST_F(AggregatorStoreTest, CommitRefusesInconsistentBatches) {
  TestCommitter committer(store_, *index_);
  ASSERT_TRUE(committer.Accept({List(101, 1, 1, 2, 3)}).ok());

  CommitBatch replay = committer.Prepare({List(102, 1, 1, 1, 1)});
  replay.revision = 1;  // does not advance
  replay.event->set_revision(1);
  EXPECT_EQ(store_->Commit(replay).code(), absl::StatusCode::kInvalidArgument);

  CommitBatch mislabelled = committer.Prepare({List(102, 1, 1, 1, 1)});
  mislabelled.event->set_revision(99);
  const absl::Status s = store_->Commit(mislabelled);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("event carries revision 99"));

  CommitBatch eventless_revision;
  eventless_revision.event.emplace();
  EXPECT_EQ(store_->Commit(eventless_revision).code(),
            absl::StatusCode::kInvalidArgument);

  CommitBatch wrong_station = committer.Prepare({List(102, 1, 1, 1, 1)});
  wrong_station.protocols[0].key.station = 201;
  EXPECT_EQ(store_->Commit(wrong_station).code(),
            absl::StatusCode::kInvalidArgument);

  // Nothing of the refused batches was written.
  EXPECT_EQ(store_->revision(), 1u);
  auto history = store_->History({kList, 102});
  ASSERT_TRUE(history.ok());
  EXPECT_THAT(*history, IsEmpty());
  EXPECT_THAT(EventRevisions(0, 100), ElementsAre(1));
}

// --- Verification
// ------------------------------------------------------------------

TEST_F(AggregatorStoreTest, VerifyConsistentStore) {
  TestCommitter committer(store_, *index_);
  ASSERT_TRUE(committer
                  .Accept({List(101, 1, 300, 200, 100), Smd(101, 1, 60, 40),
                           List(202, 1, 30, 20, 10)})
                  .ok());
  ASSERT_TRUE(committer.Accept({List(101, 2, 310, 190, 100)}).ok());
  ASSERT_TRUE(committer.Accept({Smd(102, 1, 7, 8), Smd(101, 2, 61, 39)}).ok());

  Reopen();
  absl::StatusOr<VerifyReport> report = VerifyStore(*store_, *index_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->differences, IsEmpty());
  EXPECT_EQ(report->revision, 3u);
  EXPECT_EQ(report->protocol_versions, 6u);
  EXPECT_EQ(report->protocols_counted, 4u);
  // list: national, 2 regions, 2 districts; smd-1 and smd-2: their district.
  EXPECT_EQ(report->totals_compared, 7u);
}

TEST_F(AggregatorStoreTest, VerifyEmptyStore) {
  absl::StatusOr<VerifyReport> report = VerifyStore(*store_, *index_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->differences, IsEmpty());
  EXPECT_EQ(report->protocol_versions, 0u);
  EXPECT_EQ(report->protocols_counted, 0u);
}

TEST_F(AggregatorStoreTest, VerifyReportsACorruptedTotal) {
  TestCommitter committer(store_, *index_);
  CommitBatch batch = committer.Prepare({List(101, 1, 300, 200, 100)});
  // The region total of r-north claims one vote more for party-b.
  bool changed = false;
  for (auto& [key, totals] : batch.totals) {
    if (key.contest == kList && key.scope_kind == v1::SCOPE_KIND_REGION &&
        key.scope_index == 0) {
      totals.mutable_choices(1)->set_votes(201);
      changed = true;
    }
  }
  ASSERT_TRUE(changed);
  ASSERT_TRUE(store_->Commit(batch).ok());

  absl::StatusOr<VerifyReport> report = VerifyStore(*store_, *index_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->differences,
              ElementsAre(HasSubstr("list/region/r-north: votes[party-b] 200 "
                                    "!= 201")));
  EXPECT_EQ(report->protocols_counted, 1u);
}

TEST_F(AggregatorStoreTest, VerifyReportsATotalWrittenBehindTheStore) {
  TestCommitter committer(store_, *index_);
  ASSERT_TRUE(committer.Accept({Smd(102, 1, 70, 30)}).ok());
  const uint32_t entry = committer.book().ContestEntry(kSmd);
  v1::Totals wrong = committer.book().ToProto(entry);
  wrong.set_invalid(wrong.invalid() + 5);
  PutRaw("totals", EncodeTotalsKey(KeyOf(committer.book().address(entry))),
         wrong.SerializeAsString());

  absl::StatusOr<VerifyReport> report = VerifyStore(*store_, *index_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->differences,
              ElementsAre(HasSubstr("smd-1/district/d-1: invalid 2 != 7")));
}

TEST_F(AggregatorStoreTest, VerifyReportsLatestPointingAtMissingVersion) {
  TestCommitter committer(store_, *index_);
  ASSERT_TRUE(committer.Accept({List(101, 1, 1, 2, 3)}).ok());
  CommitBatch dangling;
  LatestValue latest = LatestOf(List(101, 5, 1, 2, 3));
  dangling.latest.emplace_back(ProtocolKey{kList, 101}, latest);
  ASSERT_TRUE(store_->Commit(dangling).ok());

  absl::StatusOr<VerifyReport> report = VerifyStore(*store_, *index_);
  ASSERT_TRUE(report.ok()) << report.status();
  // The station is no longer counted, so the stored totals are too high.
  EXPECT_THAT(report->differences,
              ::testing::Contains(HasSubstr(
                  "latest list station 101 version 5: version is not stored")));
  EXPECT_THAT(report->differences,
              ::testing::Contains(
                  HasSubstr("list/national: stations_reported 0 != 1")));
  EXPECT_EQ(report->protocols_counted, 0u);
}

TEST_F(AggregatorStoreTest, VerifyReportsADigestMismatch) {
  TestCommitter committer(store_, *index_);
  CommitBatch batch = committer.Prepare({List(201, 1, 1, 2, 3)});
  batch.latest[0].second.digest[0] ^= 0x01;
  ASSERT_TRUE(store_->Commit(batch).ok());
  absl::StatusOr<VerifyReport> report = VerifyStore(*store_, *index_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->differences, ::testing::Contains(HasSubstr(
                                       "latest list station 201 version 1: "
                                       "digest")));
  EXPECT_THAT(report->differences,
              ::testing::Contains(HasSubstr("!= recomputed")));
}

TEST_F(AggregatorStoreTest, VerifyReportsAnEventGap) {
  TestCommitter committer(store_, *index_);
  CommitRevisions(committer, 2);
  CommitBatch skip = committer.Prepare({List(201, 3, 1, 1, 1)});
  skip.revision = 4;  // revision 3 never gets an event
  skip.event->set_revision(4);
  for (auto& [key, totals] : skip.totals) totals.set_revision(4);
  ASSERT_TRUE(store_->Commit(skip).ok());
  absl::StatusOr<VerifyReport> report = VerifyStore(*store_, *index_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->differences,
              ElementsAre("events: expected revision 3, found 4"));
}

// The transparency log's records go into the round's batch: leaves name
// their stored versions, nodes and heads are read back, the size of the
// log follows, and a batch that does not extend the stored log is refused
// before anything is written.
TEST_F(AggregatorStoreTest, LogRecordsAreCommittedWithTheRound) {
  TestCommitter committer(store_, *index_);
  CommitBatch batch = committer.Prepare(
      {List(201, 1, 10, 20, 30), List(202, 1, 5, 5, 5)}, "collector-north", 1);
  CommitBatch::LogAppend log;
  log.first_leaf = 0;
  for (size_t i = 0; i < batch.protocols.size(); ++i) {
    batch.protocols[i].value.set_leaf_index(i);
    log.leaves.push_back({batch.protocols[i].key,
                          batch.protocols[i].value.protocol().version()});
  }
  std::array<uint8_t, 32> zero{};
  std::array<uint8_t, 32> one{};
  one.fill(1);
  log.nodes = {{{0, 0}, zero}, {{0, 1}, one}, {{1, 0}, one}};
  log.head.mutable_head()->set_revision(batch.revision);
  log.head.mutable_head()->set_tree_size(2);
  batch.log = log;
  ASSERT_TRUE(store_->Commit(batch).ok());
  EXPECT_EQ(store_->log_size(), 2u);

  std::vector<std::array<uint8_t, 32>> hashes;
  ASSERT_TRUE(store_->ReadLogNodes({{0, 1}, {1, 0}}, &hashes).ok());
  EXPECT_EQ(hashes, (std::vector<std::array<uint8_t, 32>>{one, one}));
  const absl::Status missing = store_->ReadLogNodes({{2, 0}}, &hashes);
  EXPECT_EQ(missing.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(missing.message(), HasSubstr("log_nodes level 2 index 0"));

  absl::StatusOr<std::vector<v1::ProtocolVersion>> leaves =
      store_->ReadLeaves(0, 2);
  ASSERT_TRUE(leaves.ok()) << leaves.status();
  ASSERT_EQ(leaves->size(), 2u);
  EXPECT_EQ((*leaves)[1].protocol().station_id(), 202u);
  EXPECT_EQ((*leaves)[1].leaf_index(), 1u);

  absl::StatusOr<std::optional<v1::SignedTreeHead>> head =
      store_->LoadTreeHead(batch.revision);
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->head().tree_size(), 2u);
  absl::StatusOr<std::optional<uint64_t>> of_size =
      store_->RevisionOfTreeSize(2);
  ASSERT_TRUE(of_size.ok() && of_size->has_value());
  EXPECT_EQ(**of_size, batch.revision);

  // Leaves again from 0: the log would not be append-only.
  CommitBatch again = committer.Prepare({List(102, 1, 1, 1, 1)});
  CommitBatch::LogAppend overlap;
  overlap.first_leaf = 0;
  overlap.leaves.push_back({again.protocols[0].key, 1});
  overlap.head.mutable_head()->set_revision(again.revision);
  overlap.head.mutable_head()->set_tree_size(1);
  again.log = overlap;
  const absl::Status refused = store_->Commit(again);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("do not extend the stored log"));
  EXPECT_EQ(store_->log_size(), 2u);

  // Reopened: the size is kept.
  Reopen();
  EXPECT_EQ(store_->log_size(), 2u);
}

}  // namespace
}  // namespace tally::storage

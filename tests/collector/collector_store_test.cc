// CollectorStore on a real RocksDB: append, read, acknowledge, reopen.
#include "storage/collector_store.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tally::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

class CollectorStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat(
               "collector_store_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<CollectorStore>> opened =
        CollectorStore::Open(dir_.string());
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = *std::move(opened);
  }

  static v1::StationProtocol Protocol(uint32_t station, uint32_t version) {
    v1::StationProtocol protocol;
    protocol.set_contest_id("mazhilis-list");
    protocol.set_station_id(station);
    protocol.set_version(version);
    protocol.mutable_accounting()->set_ballots_found(station * 10 + version);
    return protocol;
  }

  static std::vector<uint64_t> Seqs(const std::vector<v1::OutboxEntry>& e) {
    std::vector<uint64_t> out;
    for (const v1::OutboxEntry& entry : e) out.push_back(entry.seq());
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<CollectorStore> store_;
};

TEST_F(CollectorStoreTest, NewStoreIsEmpty) {
  EXPECT_EQ(store_->last_seq(), 0u);
  EXPECT_EQ(store_->acked_seq(), 0u);
  EXPECT_EQ(store_->depth(), 0u);
  absl::StatusOr<std::vector<v1::OutboxEntry>> read = store_->ReadFrom(0, 10);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->empty());
}

TEST_F(CollectorStoreTest, AppendNumbersEntriesContiguously) {
  absl::StatusOr<uint64_t> first =
      store_->Append({Protocol(1, 1), Protocol(2, 1)}, {});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 1u);
  first = store_->Append({Protocol(3, 1)}, {});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 3u);
  EXPECT_EQ(store_->last_seq(), 3u);
  EXPECT_EQ(store_->depth(), 3u);

  absl::StatusOr<std::vector<v1::OutboxEntry>> read = store_->ReadFrom(0, 10);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_THAT(Seqs(*read), ElementsAre(1, 2, 3));
  EXPECT_EQ((*read)[1].protocol().station_id(), 2u);
  EXPECT_EQ((*read)[2].protocol().accounting().ballots_found(), 31u);

  read = store_->ReadFrom(1, 1);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_THAT(Seqs(*read), ElementsAre(2));
  read = store_->ReadFrom(3, 10);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->empty());
}

TEST_F(CollectorStoreTest, AckDeletesUpToTheSequence) {
  std::vector<v1::StationProtocol> protocols;
  for (uint32_t s = 1; s <= 5; ++s) protocols.push_back(Protocol(s, 1));
  ASSERT_TRUE(store_->Append(protocols, {}).ok());
  ASSERT_TRUE(store_->AckUpTo(3).ok());
  EXPECT_EQ(store_->acked_seq(), 3u);
  EXPECT_EQ(store_->depth(), 2u);
  absl::StatusOr<std::vector<v1::OutboxEntry>> read = store_->ReadFrom(0, 10);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_THAT(Seqs(*read), ElementsAre(4, 5));
  // An older acknowledgement changes nothing.
  ASSERT_TRUE(store_->AckUpTo(2).ok());
  EXPECT_EQ(store_->acked_seq(), 3u);
  EXPECT_EQ(store_->depth(), 2u);
  ASSERT_TRUE(store_->AckUpTo(5).ok());
  EXPECT_EQ(store_->depth(), 0u);
  read = store_->ReadFrom(0, 10);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->empty());
  // Numbering continues after acknowledged entries.
  absl::StatusOr<uint64_t> first = store_->Append({Protocol(9, 1)}, {});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 6u);
}

TEST_F(CollectorStoreTest, AckBeyondLastSeqRaisesNumbering) {
  ASSERT_TRUE(store_->Append({Protocol(1, 1)}, {}).ok());
  ASSERT_TRUE(store_->AckUpTo(40).ok());
  EXPECT_EQ(store_->last_seq(), 40u);
  EXPECT_EQ(store_->depth(), 0u);
  absl::StatusOr<uint64_t> first = store_->Append({Protocol(2, 1)}, {});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 41u);
  Reopen();
  EXPECT_EQ(store_->last_seq(), 41u);
  EXPECT_EQ(store_->acked_seq(), 40u);
}

TEST_F(CollectorStoreTest, ReopenRestoresSequencesOutboxAndLatest) {
  CollectorLatest a{1, {}};
  a.digest.fill(0xab);
  CollectorLatest b{3, {}};
  b.digest[0] = 7;
  b.digest[31] = 9;
  ASSERT_TRUE(store_
                  ->Append({Protocol(1, 1), Protocol(2, 3), Protocol(3, 1)},
                           {{ProtocolKey{0, 1}, a}, {ProtocolKey{2, 2}, b}})
                  .ok());
  ASSERT_TRUE(store_->AckUpTo(1).ok());
  Reopen();
  EXPECT_EQ(store_->last_seq(), 3u);
  EXPECT_EQ(store_->acked_seq(), 1u);
  EXPECT_EQ(store_->depth(), 2u);
  absl::StatusOr<std::vector<v1::OutboxEntry>> read = store_->ReadFrom(0, 10);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_THAT(Seqs(*read), ElementsAre(2, 3));
  EXPECT_EQ((*read)[0].protocol().version(), 3u);

  std::vector<std::pair<std::pair<uint16_t, uint32_t>, CollectorLatest>> seen;
  ASSERT_TRUE(store_
                  ->ForEachLatest([&](const ProtocolKey& key,
                                      const CollectorLatest& value) {
                    seen.push_back({{key.contest, key.station}, value});
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_THAT(seen, ElementsAre(Pair(Pair(0, 1), a), Pair(Pair(2, 2), b)));
}

TEST_F(CollectorStoreTest, LatestUpdateOverwrites) {
  CollectorLatest v1{1, {}};
  CollectorLatest v2{2, {}};
  v2.digest[5] = 1;
  ASSERT_TRUE(store_->Append({Protocol(1, 1)}, {{ProtocolKey{1, 1}, v1}}).ok());
  ASSERT_TRUE(store_->Append({Protocol(1, 2)}, {{ProtocolKey{1, 1}, v2}}).ok());
  Reopen();
  std::vector<CollectorLatest> seen;
  ASSERT_TRUE(store_
                  ->ForEachLatest(
                      [&](const ProtocolKey&, const CollectorLatest& value) {
                        seen.push_back(value);
                        return absl::OkStatus();
                      })
                  .ok());
  EXPECT_THAT(seen, ElementsAre(v2));
}

TEST_F(CollectorStoreTest, DefinitionDigestBindsTheStore) {
  absl::StatusOr<std::optional<std::string>> digest =
      store_->LoadDefinitionDigest();
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_FALSE(digest->has_value());
  ASSERT_TRUE(store_->SaveDefinitionDigest("abc").ok());
  ASSERT_TRUE(store_->SaveDefinitionDigest("abc").ok());
  Reopen();
  absl::Status other = store_->SaveDefinitionDigest("def");
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(other.message(), HasSubstr("abc"));
}

TEST_F(CollectorStoreTest, LatestValueEncodingRoundTripsAndRejectsBadSizes) {
  CollectorLatest value{0x01020304, {}};
  for (size_t i = 0; i < value.digest.size(); ++i) value.digest[i] = i;
  const std::string bytes = EncodeCollectorLatest(value);
  ASSERT_EQ(bytes.size(), kCollectorLatestSize);
  EXPECT_EQ(bytes[0], 0x01);
  EXPECT_EQ(bytes[3], 0x04);
  absl::StatusOr<CollectorLatest> decoded = DecodeCollectorLatest(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, value);
  EXPECT_EQ(DecodeCollectorLatest(bytes.substr(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CollectorStoreTest, OpenRefusesAFile) {
  const std::string file = dir_.string() + ".file";
  { std::ofstream(file) << "x"; }
  absl::StatusOr<std::unique_ptr<CollectorStore>> opened =
      CollectorStore::Open(file);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace tally::storage

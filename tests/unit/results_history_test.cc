// ResultsHistory: the figures of each retained revision are the last
// change at or below it, entries that stop changing keep their value
// across trims and sweeps, and revisions beyond the retained ones go.
#include "services/aggregator/results_history.h"

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "services/domain/totals_book.h"
#include "tally/v1/feed.pb.h"
#include "tests/support/mini_election.h"

namespace tally::aggregator {
namespace {

class ResultsHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
        ElectionIndex::Build(testing::MiniElection());
    ASSERT_TRUE(index.ok()) << index.status();
    index_ = *std::move(index);
    book_ = std::make_unique<TotalsBook>(*index_);
    for (const ContestInfo& contest : index_->contests()) {
      allocations_.emplace_back().set_contest_id(contest.contest->id());
    }
    ASSERT_GE(book_->size(), 3u);
  }

  // A commit at `revision` that changed `entries`: each total marked with
  // the revision, and the first contest's seats set to it.
  v1::Event Commit(uint64_t revision, const std::vector<uint32_t>& entries) {
    v1::Event event;
    event.set_revision(revision);
    for (uint32_t entry : entries) {
      v1::Totals totals = book_->ToProto(entry);
      totals.set_revision(revision);
      *event.add_totals() = std::move(totals);
    }
    v1::SeatAllocation* allocation = event.add_allocations();
    allocation->set_contest_id(index_->contests().front().contest->id());
    allocation->set_seats(static_cast<uint32_t>(revision));
    return event;
  }

  std::unique_ptr<ElectionIndex> index_;
  std::unique_ptr<TotalsBook> book_;
  std::vector<v1::SeatAllocation> allocations_;
};

TEST_F(ResultsHistoryTest, EachRetainedRevisionHasItsOwnFigures) {
  ResultsHistory history;
  history.set_retained(3);
  history.Reset(10, *book_, allocations_);
  EXPECT_EQ(history.oldest(), 10u);
  EXPECT_EQ(history.newest(), 10u);
  for (uint64_t r = 11; r <= 16; ++r) {
    std::vector<uint32_t> entries = {0};
    if (r == 12) entries.push_back(1);
    history.Record(Commit(r, entries), *book_, *index_);
  }
  EXPECT_EQ(history.newest(), 16u);
  EXPECT_EQ(history.oldest(), 14u);
  for (uint64_t r = 14; r <= 16; ++r) {
    EXPECT_EQ(history.TotalsAt(0, r).revision(), r);
    EXPECT_EQ(history.AllocationAt(0, r).seats(), r);
    // Changed at 12 only: that value holds for every later revision.
    EXPECT_EQ(history.TotalsAt(1, r).revision(), 12u);
    // Never changed: the figures of the reset.
    EXPECT_EQ(history.TotalsAt(2, r).revision(), 0u);
  }
}

TEST_F(ResultsHistoryTest, QuietEntriesSurviveTrimsAndSweeps) {
  ResultsHistory history;
  history.set_retained(8);
  history.Reset(0, *book_, allocations_);
  history.Record(Commit(1, {0, 1}), *book_, *index_);
  for (uint64_t r = 2; r <= 200; ++r) {
    history.Record(Commit(r, {0}), *book_, *index_);
  }
  EXPECT_EQ(history.oldest(), 193u);
  for (uint64_t r = 193; r <= 200; ++r) {
    EXPECT_EQ(history.TotalsAt(0, r).revision(), r);
    EXPECT_EQ(history.TotalsAt(1, r).revision(), 1u);
  }
}

TEST_F(ResultsHistoryTest, ResetForgetsEverything) {
  ResultsHistory history;
  history.Reset(0, *book_, allocations_);
  history.Record(Commit(1, {0}), *book_, *index_);
  history.Reset(5, *book_, allocations_);
  EXPECT_EQ(history.oldest(), 5u);
  EXPECT_EQ(history.newest(), 5u);
  EXPECT_EQ(history.TotalsAt(0, 5).revision(), 0u);
  EXPECT_EQ(history.AllocationAt(0, 5).seats(), 0u);
}

}  // namespace
}  // namespace tally::aggregator

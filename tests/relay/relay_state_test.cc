// RelayState: the relay's in-memory state and event ring.
#include "services/relay/relay_state.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tally::relay {
namespace {

v1::Totals TotalsOf(const std::string& contest, v1::ScopeKind kind,
                    const std::string& id, uint64_t cast) {
  v1::Totals t;
  t.set_contest_id(contest);
  t.mutable_scope()->set_kind(kind);
  t.mutable_scope()->set_id(id);
  t.set_ballots_cast(cast);
  return t;
}

std::shared_ptr<const v1::Event> EventAt(uint64_t revision, uint64_t cast) {
  auto event = std::make_shared<v1::Event>();
  event->set_revision(revision);
  *event->add_totals() = TotalsOf("c", v1::SCOPE_KIND_NATIONAL, "", cast);
  event->mutable_progress()->set_protocols_counted(revision);
  // A stand-in for the log's signed head of the revision.
  event->mutable_signed_head()->set_signature("head " +
                                              std::to_string(revision));
  return event;
}

std::vector<uint64_t> Revisions(RelayState& state, uint64_t from, uint64_t to) {
  std::vector<uint64_t> out;
  state.Read(from, to, [&](const v1::Event& e) {
    out.push_back(e.revision());
    return true;
  });
  return out;
}

TEST(RelayStateTest, EventsReplaceTotalsInPlaceAndMustFollowEachOther) {
  RelayState state(4);
  EXPECT_FALSE(state.Apply(EventAt(1, 1)).ok());  // no snapshot yet
  feed::SnapshotView view;
  view.revision = 10;
  view.totals = {TotalsOf("c", v1::SCOPE_KIND_NATIONAL, "", 5),
                 TotalsOf("c", v1::SCOPE_KIND_REGION, "r", 2)};
  view.signed_head.set_signature("head 10");
  state.Reset(view);
  EXPECT_TRUE(state.complete());
  // The snapshot's signed head is served unchanged.
  EXPECT_EQ(state.Snapshot().signed_head.signature(), "head 10");
  EXPECT_EQ(state.oldest_revision(), 11u);

  EXPECT_FALSE(state.Apply(EventAt(12, 7)).ok());  // a gap
  EXPECT_FALSE(state.Apply(EventAt(10, 7)).ok());  // a repeat
  ASSERT_TRUE(state.Apply(EventAt(11, 7)).ok());
  feed::SnapshotView now = state.Snapshot();
  EXPECT_EQ(now.revision, 11u);
  ASSERT_EQ(now.totals.size(), 2u);  // same order, national replaced
  EXPECT_EQ(now.totals[0].ballots_cast(), 7u);
  EXPECT_EQ(now.totals[1].scope().id(), "r");
  EXPECT_EQ(now.progress.protocols_counted(), 11u);
  // So is the head of the last event.
  EXPECT_EQ(now.signed_head.signature(), "head 11");
}

TEST(RelayStateTest, TheRingKeepsTheLastEventsInOrder) {
  RelayState state(4);
  feed::SnapshotView view;
  view.revision = 0;
  state.Reset(view);
  for (uint64_t r = 1; r <= 10; ++r)
    ASSERT_TRUE(state.Apply(EventAt(r, r)).ok());
  EXPECT_EQ(state.oldest_revision(), 7u);
  EXPECT_EQ(Revisions(state, 7, 10), (std::vector<uint64_t>{7, 8, 9, 10}));
  EXPECT_EQ(Revisions(state, 3, 8), (std::vector<uint64_t>{7, 8}));
  EXPECT_EQ(Revisions(state, 11, 20), std::vector<uint64_t>{});
}

TEST(RelayStateTest, HistoryGivenWithASnapshotSeedsTheRing) {
  RelayState state(3);
  feed::SnapshotView view;
  view.revision = 20;
  // 15..20 with a hole before 17: only the run ending at 20 counts, and
  // only as many as are retained.
  std::vector<std::shared_ptr<const v1::Event>> history = {
      EventAt(15, 0), EventAt(17, 0), EventAt(18, 0), EventAt(19, 0),
      EventAt(20, 0)};
  state.Reset(view, history);
  EXPECT_EQ(state.oldest_revision(), 18u);
  EXPECT_EQ(Revisions(state, 1, 20), (std::vector<uint64_t>{18, 19, 20}));
  // History not ending at the snapshot is useless.
  state.Reset(view, {EventAt(18, 0), EventAt(19, 0)});
  EXPECT_EQ(state.oldest_revision(), 21u);
  ASSERT_TRUE(state.Apply(EventAt(21, 0)).ok());
  EXPECT_EQ(Revisions(state, 1, 30), (std::vector<uint64_t>{21}));
}

}  // namespace
}  // namespace tally::relay

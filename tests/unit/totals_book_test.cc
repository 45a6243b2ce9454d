// TotalsBook: incremental totals per (contest, scope).
#include "services/domain/totals_book.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "tally/v1/election.pb.h"
#include "tally/v1/protocol.pb.h"
#include "tally/v1/results.pb.h"
#include "tests/support/mini_election.h"

namespace tally {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The mini election (tests/support/mini_election.h) with 3 districts (d-1
// and d-2 in the north, d-3 in the south) and 6 stations. Entry layout:
// list national 0, regions 1-2, districts 3-5; smd-1 6, smd-2 7, smd-3 8.
v1::ElectionDefinition SmallDefinition(bool with_district_contests = true) {
  testing::MiniLayout layout;
  layout.districts = {
      {"d-1", "r-north"}, {"d-2", "r-north"}, {"d-3", "r-south"}};
  layout.stations = {
      {101, "r-north", "d-1", 1000}, {102, "r-north", "d-1", 800},
      {103, "r-north", "d-2", 500},  {201, "r-south", "d-3", 1200},
      {202, "r-south", "d-3", 600},  {203, "r-south", "d-3", 900}};
  layout.district_contests = with_district_contests;
  return testing::MiniElection(layout);
}

std::unique_ptr<ElectionIndex> BuildIndex(v1::ElectionDefinition definition) {
  absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
      ElectionIndex::Build(std::move(definition));
  EXPECT_TRUE(index.ok()) << index.status();
  return index.ok() ? std::move(*index) : nullptr;
}

// A protocol whose ballots found are the sum of its lines.
v1::StationProtocol Protocol(
    const std::string& contest, uint32_t station, uint32_t version,
    const std::vector<std::pair<std::string, uint64_t>>& votes,
    uint64_t against_all, uint64_t invalid, uint64_t issued,
    uint64_t registered) {
  v1::StationProtocol p;
  p.set_contest_id(contest);
  p.set_station_id(station);
  p.set_version(version);
  uint64_t found = against_all + invalid;
  for (const auto& [id, count] : votes) {
    v1::ChoiceVotes* line = p.add_votes();
    line->set_choice_id(id);
    line->set_votes(count);
    found += count;
  }
  v1::BallotAccounting* a = p.mutable_accounting();
  a->set_registered_voters(registered);
  a->set_ballots_received(issued + 10);
  a->set_ballots_issued(issued);
  a->set_ballots_found(found);
  a->set_invalid(invalid);
  a->set_against_all(against_all);
  a->set_unused_cancelled(10);
  return p;
}

v1::Scope MakeScope(v1::ScopeKind kind, const std::string& id = "") {
  v1::Scope scope;
  scope.set_kind(kind);
  scope.set_id(id);
  return scope;
}

std::vector<uint64_t> VotesOf(const v1::Totals& totals) {
  std::vector<uint64_t> votes;
  for (const v1::ChoiceTotal& c : totals.choices()) votes.push_back(c.votes());
  return votes;
}

// Every count of a Totals message, expected counts included, revision not.
std::vector<uint64_t> CountsOf(const v1::Totals& t) {
  std::vector<uint64_t> counts = VotesOf(t);
  for (uint64_t x :
       {t.against_all(), t.invalid(), t.ballots_cast(), t.ballots_issued(),
        t.registered_voters(), t.registered_voters_expected(),
        uint64_t{t.stations_reported()}, uint64_t{t.stations_expected()},
        uint64_t{t.stations_with_anomalies()}}) {
    counts.push_back(x);
  }
  return counts;
}

class TotalsBookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    index_ = BuildIndex(SmallDefinition());
    ASSERT_NE(index_, nullptr);
    book_ = std::make_unique<TotalsBook>(*index_);
  }

  v1::Totals At(uint32_t entry) const { return book_->ToProto(entry); }

  std::unique_ptr<ElectionIndex> index_;
  std::unique_ptr<TotalsBook> book_;
};

TEST_F(TotalsBookTest, StartsAtZeroWithExpectedCountsPerScope) {
  ASSERT_EQ(book_->size(), 9u);
  struct Expected {
    uint32_t entry;
    std::string contest;
    v1::ScopeKind kind;
    std::string scope_id;
    uint32_t stations;
    uint64_t voters;
  };
  const std::vector<Expected> expected = {
      {0, "list", v1::SCOPE_KIND_NATIONAL, "", 6, 5000},
      {1, "list", v1::SCOPE_KIND_REGION, "r-north", 3, 2300},
      {2, "list", v1::SCOPE_KIND_REGION, "r-south", 3, 2700},
      {3, "list", v1::SCOPE_KIND_DISTRICT, "d-1", 2, 1800},
      {4, "list", v1::SCOPE_KIND_DISTRICT, "d-2", 1, 500},
      {5, "list", v1::SCOPE_KIND_DISTRICT, "d-3", 3, 2700},
      {6, "smd-1", v1::SCOPE_KIND_DISTRICT, "d-1", 2, 1800},
      {7, "smd-2", v1::SCOPE_KIND_DISTRICT, "d-2", 1, 500},
      {8, "smd-3", v1::SCOPE_KIND_DISTRICT, "d-3", 3, 2700},
  };
  for (const Expected& e : expected) {
    SCOPED_TRACE(e.entry);
    const v1::Totals t = At(e.entry);
    EXPECT_EQ(t.contest_id(), e.contest);
    EXPECT_EQ(t.scope().kind(), e.kind);
    EXPECT_EQ(t.scope().id(), e.scope_id);
    EXPECT_EQ(t.stations_expected(), e.stations);
    EXPECT_EQ(t.registered_voters_expected(), e.voters);
    EXPECT_EQ(t.stations_reported(), 0u);
    EXPECT_EQ(t.ballots_cast(), 0u);
    EXPECT_EQ(t.revision(), 0u);
    EXPECT_EQ(t.choices_size(), e.contest == "list" ? 3 : 2);
    for (const v1::ChoiceTotal& c : t.choices()) EXPECT_EQ(c.votes(), 0u);
  }
  EXPECT_THAT(book_->TakeChanged(), IsEmpty());
}

TEST_F(TotalsBookTest, FirstReportUpdatesNationalRegionAndDistrict) {
  const v1::StationProtocol p = Protocol(
      "list", 102, 1, {{"party-a", 300}, {"party-b", 200}, {"party-c", 100}},
      50, 10, 670, 800);
  book_->Apply(nullptr, false, p, false);
  for (uint32_t entry : {0u, 1u, 3u}) {
    SCOPED_TRACE(entry);
    const v1::Totals t = At(entry);
    EXPECT_THAT(VotesOf(t), ElementsAre(300, 200, 100));
    EXPECT_EQ(t.against_all(), 50u);
    EXPECT_EQ(t.invalid(), 10u);
    EXPECT_EQ(t.ballots_cast(), 660u);
    EXPECT_EQ(t.ballots_issued(), 670u);
    EXPECT_EQ(t.registered_voters(), 800u);
    EXPECT_EQ(t.stations_reported(), 1u);
    EXPECT_EQ(t.stations_with_anomalies(), 0u);
  }
  for (uint32_t entry : {2u, 4u, 5u, 6u, 7u, 8u}) {
    SCOPED_TRACE(entry);
    EXPECT_EQ(At(entry).stations_reported(), 0u);
    EXPECT_EQ(At(entry).ballots_cast(), 0u);
  }
  EXPECT_THAT(book_->TakeChanged(), ElementsAre(0, 1, 3));

  // A district contest touches its own entry only.
  book_->Apply(nullptr, false,
               Protocol("smd-1", 101, 1, {{"cand-x", 40}, {"cand-y", 60}}, 0, 5,
                        105, 1000),
               false);
  EXPECT_THAT(book_->TakeChanged(), ElementsAre(6));
  EXPECT_THAT(VotesOf(At(6)), ElementsAre(40, 60));
  EXPECT_EQ(At(6).ballots_cast(), 105u);
  EXPECT_EQ(At(3).ballots_cast(), 660u);  // the list is untouched
}

TEST_F(TotalsBookTest, CorrectionAppliesTheDifferenceOnly) {
  const v1::StationProtocol first = Protocol(
      "list", 101, 1, {{"party-a", 500}, {"party-b", 300}, {"party-c", 100}},
      20, 30, 960, 1000);
  const v1::StationProtocol other = Protocol(
      "list", 103, 1, {{"party-a", 100}, {"party-b", 100}, {"party-c", 100}}, 0,
      0, 300, 500);
  const v1::StationProtocol corrected = Protocol(
      "list", 101, 2, {{"party-a", 450}, {"party-b", 350}, {"party-c", 90}}, 25,
      31, 960, 1010);
  book_->Apply(nullptr, false, first, false);
  book_->Apply(nullptr, false, other, false);
  book_->Apply(&first, false, corrected, false);

  const v1::Totals national = At(0);
  EXPECT_THAT(VotesOf(national), ElementsAre(550, 450, 190));
  EXPECT_EQ(national.against_all(), 25u);
  EXPECT_EQ(national.invalid(), 31u);
  EXPECT_EQ(national.ballots_cast(), 946u + 300u);
  EXPECT_EQ(national.ballots_issued(), 1260u);
  EXPECT_EQ(national.registered_voters(), 1510u);
  EXPECT_EQ(national.stations_reported(), 2u);
  // d-1 holds only station 101: exactly the corrected protocol.
  EXPECT_THAT(VotesOf(At(3)), ElementsAre(450, 350, 90));
  EXPECT_EQ(At(3).stations_reported(), 1u);
  EXPECT_EQ(At(3).registered_voters(), 1010u);
  // d-2 holds station 103 only and did not change.
  EXPECT_THAT(VotesOf(At(4)), ElementsAre(100, 100, 100));
  EXPECT_EQ(At(1).stations_reported(), 2u);
}

TEST_F(TotalsBookTest, AnomalyCountFollowsTheCurrentVersionsFlag) {
  const auto version = [](uint32_t station, uint32_t v, uint64_t a) {
    return Protocol("list", station, v, {{"party-a", a}}, 0, 0, a, 1000);
  };
  const v1::StationProtocol s1v1 = version(201, 1, 10);
  const v1::StationProtocol s1v2 = version(201, 2, 11);
  const v1::StationProtocol s1v3 = version(201, 3, 12);
  const v1::StationProtocol s1v4 = version(201, 4, 13);
  const v1::StationProtocol s2v1 = version(202, 1, 20);

  book_->Apply(nullptr, false, s1v1, true);
  EXPECT_EQ(At(0).stations_with_anomalies(), 1u);
  book_->Apply(&s1v1, true, s1v2, false);  // flagged -> clean
  EXPECT_EQ(At(0).stations_with_anomalies(), 0u);
  book_->Apply(&s1v2, false, s1v3, true);  // clean -> flagged
  EXPECT_EQ(At(0).stations_with_anomalies(), 1u);
  book_->Apply(nullptr, false, s2v1, true);
  EXPECT_EQ(At(0).stations_with_anomalies(), 2u);
  EXPECT_EQ(At(5).stations_with_anomalies(), 2u);
  book_->Apply(&s1v3, true, s1v4, true);  // flagged -> flagged
  EXPECT_EQ(At(0).stations_with_anomalies(), 2u);
  EXPECT_EQ(At(2).stations_with_anomalies(), 2u);
  EXPECT_EQ(At(1).stations_with_anomalies(), 0u);
  EXPECT_EQ(At(0).stations_reported(), 2u);
  EXPECT_THAT(VotesOf(At(0)), ElementsAre(33, 0, 0));
}

TEST_F(TotalsBookTest, TakeChangedAndStampChanged) {
  const v1::StationProtocol north =
      Protocol("list", 101, 1, {{"party-a", 1}}, 0, 0, 1, 1000);
  const v1::StationProtocol north2 =
      Protocol("list", 101, 2, {{"party-a", 2}}, 0, 0, 2, 1000);
  const v1::StationProtocol south =
      Protocol("list", 203, 1, {{"party-b", 1}}, 0, 0, 1, 900);
  book_->Apply(nullptr, false, south, false);
  book_->Apply(nullptr, false, north, false);
  book_->Apply(&north, false, north2, false);  // same entries again
  book_->StampChanged(7);
  EXPECT_THAT(book_->TakeChanged(), ElementsAre(0, 1, 2, 3, 5));
  EXPECT_THAT(book_->TakeChanged(), IsEmpty());
  for (uint32_t entry = 0; entry < book_->size(); ++entry) {
    const bool touched = entry <= 3 || entry == 5;
    EXPECT_EQ(At(entry).revision(), touched ? 7u : 0u) << entry;
  }

  const v1::StationProtocol smd =
      Protocol("smd-2", 103, 1, {{"cand-y", 5}}, 0, 0, 5, 500);
  book_->Apply(nullptr, false, smd, false);
  book_->StampChanged(8);
  EXPECT_THAT(book_->TakeChanged(), ElementsAre(7));
  EXPECT_EQ(At(7).revision(), 8u);
  EXPECT_EQ(At(0).revision(), 7u);
  // Stamping with nothing changed touches nothing.
  book_->StampChanged(9);
  EXPECT_EQ(At(7).revision(), 8u);
}

TEST_F(TotalsBookTest, FindEveryScopeKindAndUnknownIds) {
  EXPECT_EQ(book_->Find("list", MakeScope(v1::SCOPE_KIND_UNSPECIFIED)), 0u);
  EXPECT_EQ(book_->Find("list", MakeScope(v1::SCOPE_KIND_NATIONAL)), 0u);
  EXPECT_EQ(book_->Find("list", MakeScope(v1::SCOPE_KIND_REGION, "r-north")),
            1u);
  EXPECT_EQ(book_->Find("list", MakeScope(v1::SCOPE_KIND_REGION, "r-south")),
            2u);
  EXPECT_EQ(book_->Find("list", MakeScope(v1::SCOPE_KIND_DISTRICT, "d-2")), 4u);
  EXPECT_EQ(book_->Find("list", MakeScope(v1::SCOPE_KIND_DISTRICT, "d-3")), 5u);
  EXPECT_EQ(book_->Find("smd-2", MakeScope(v1::SCOPE_KIND_DISTRICT, "d-2")),
            7u);
  EXPECT_EQ(book_->Find("smd-3", MakeScope(v1::SCOPE_KIND_DISTRICT, "d-3")),
            8u);

  const std::vector<std::pair<std::string, v1::Scope>> missing = {
      {"nope", MakeScope(v1::SCOPE_KIND_NATIONAL)},
      {"list", MakeScope(v1::SCOPE_KIND_REGION, "r-east")},
      {"list", MakeScope(v1::SCOPE_KIND_REGION, "")},
      {"list", MakeScope(v1::SCOPE_KIND_DISTRICT, "d-9")},
      {"list", MakeScope(v1::SCOPE_KIND_NATIONAL, "r-north")},
      {"smd-2", MakeScope(v1::SCOPE_KIND_NATIONAL)},
      {"smd-2", MakeScope(v1::SCOPE_KIND_REGION, "r-north")},
      {"smd-2", MakeScope(v1::SCOPE_KIND_DISTRICT, "d-1")},
      {"list", MakeScope(static_cast<v1::ScopeKind>(9), "d-1")},
  };
  for (const auto& [contest, scope] : missing) {
    EXPECT_EQ(book_->Find(contest, scope), std::nullopt)
        << contest << " " << scope.ShortDebugString();
  }

  // Addresses, contest entries and per-contest ranges agree with Find.
  EXPECT_EQ(book_->address(0), (TotalsAddress{0, v1::SCOPE_KIND_NATIONAL, 0}));
  EXPECT_EQ(book_->address(2), (TotalsAddress{0, v1::SCOPE_KIND_REGION, 1}));
  EXPECT_EQ(book_->address(4), (TotalsAddress{0, v1::SCOPE_KIND_DISTRICT, 1}));
  EXPECT_EQ(book_->address(8), (TotalsAddress{3, v1::SCOPE_KIND_DISTRICT, 2}));
  EXPECT_EQ(book_->ContestEntry(0), 0u);
  EXPECT_EQ(book_->ContestEntry(2), 7u);
  EXPECT_THAT(book_->EntriesOf(0), ElementsAre(0, 1, 2, 3, 4, 5));
  EXPECT_THAT(book_->EntriesOf(3), ElementsAre(8));
  for (uint32_t entry = 0; entry < book_->size(); ++entry) {
    const v1::Totals t = At(entry);
    EXPECT_EQ(book_->Find(t.contest_id(), t.scope()), entry);
  }
}

TEST_F(TotalsBookTest, ToProtoListsEveryChoiceInContestOrder) {
  // Lines in reverse order, party-b missing.
  book_->Apply(nullptr, false,
               Protocol("list", 201, 1, {{"party-c", 7}, {"party-a", 9}}, 1, 2,
                        19, 1200),
               false);
  const v1::Totals t = At(2);
  ASSERT_EQ(t.choices_size(), 3);
  EXPECT_EQ(t.choices(0).choice_id(), "party-a");
  EXPECT_EQ(t.choices(0).votes(), 9u);
  EXPECT_EQ(t.choices(1).choice_id(), "party-b");
  EXPECT_EQ(t.choices(1).votes(), 0u);
  EXPECT_EQ(t.choices(2).choice_id(), "party-c");
  EXPECT_EQ(t.choices(2).votes(), 7u);
  EXPECT_EQ(t.scope().kind(), v1::SCOPE_KIND_REGION);
  EXPECT_EQ(t.scope().id(), "r-south");
  EXPECT_EQ(t.contest_id(), "list");
  EXPECT_EQ(t.ballots_cast(), 19u);
}

TEST_F(TotalsBookTest, ToProtoCarriesTheSharesOfTheContestsBase) {
  // The mini list names no share base: list votes. Before any report the
  // base is 0 and no share is set.
  const v1::Totals before = At(0);
  EXPECT_EQ(before.share_base(), v1::VOTE_BASE_LIST_VOTES);
  for (const v1::ChoiceTotal& choice : before.choices()) {
    EXPECT_FALSE(choice.has_share()) << choice.choice_id();
  }
  book_->Apply(nullptr, false,
               Protocol("list", 201, 1, {{"party-c", 7}, {"party-a", 9}}, 4, 2,
                        22, 1200),
               false);
  const v1::Totals t = At(0);
  EXPECT_EQ(t.choices(0).share().numerator(), 9u);
  EXPECT_EQ(t.choices(0).share().denominator(), 16u);
  EXPECT_EQ(t.choices(0).share().decimal(), "0.562500");
  EXPECT_EQ(t.choices(1).share().numerator(), 0u);
  EXPECT_EQ(t.choices(1).share().denominator(), 16u);
  EXPECT_FALSE(t.has_against_all_share());

  // The same counts under a definition that publishes shares of votes +
  // against all.
  v1::ElectionDefinition definition = SmallDefinition();
  definition.mutable_contests(0)->mutable_rule()->set_share_base(
      v1::VOTE_BASE_VALID_VOTES);
  std::unique_ptr<ElectionIndex> index = BuildIndex(std::move(definition));
  ASSERT_NE(index, nullptr);
  TotalsBook book(*index);
  book.Apply(nullptr, false,
             Protocol("list", 201, 1, {{"party-c", 7}, {"party-a", 9}}, 4, 2,
                      22, 1200),
             false);
  const v1::Totals valid = book.ToProto(0);
  EXPECT_EQ(valid.share_base(), v1::VOTE_BASE_VALID_VOTES);
  EXPECT_EQ(valid.choices(0).share().numerator(), 9u);
  EXPECT_EQ(valid.choices(0).share().denominator(), 20u);
  EXPECT_EQ(valid.choices(2).share().numerator(), 7u);
  EXPECT_EQ(valid.against_all_share().numerator(), 4u);
  EXPECT_EQ(valid.against_all_share().denominator(), 20u);
  EXPECT_EQ(valid.against_all_share().decimal(), "0.200000");
}

void ApplySome(TotalsBook* book) {
  const v1::StationProtocol a = Protocol(
      "list", 101, 1, {{"party-a", 10}, {"party-b", 20}, {"party-c", 30}}, 4, 5,
      70, 1000);
  const v1::StationProtocol b = Protocol(
      "list", 101, 2, {{"party-a", 11}, {"party-b", 20}, {"party-c", 30}}, 4, 5,
      70, 1000);
  book->Apply(nullptr, false, a, true);
  book->Apply(&a, true, b, true);
  book->Apply(nullptr, false,
              Protocol("list", 202, 1, {{"party-b", 99}}, 0, 1, 100, 600),
              false);
  book->Apply(
      nullptr, false,
      Protocol("smd-3", 203, 1, {{"cand-x", 3}, {"cand-y", 4}}, 0, 0, 7, 900),
      true);
}

TEST_F(TotalsBookTest, RestoreRoundTrip) {
  ApplySome(book_.get());
  book_->StampChanged(42);
  book_->TakeChanged();
  TotalsBook restored(*index_);
  for (uint32_t entry = 0; entry < book_->size(); ++entry) {
    ASSERT_TRUE(restored.Restore(At(entry)).ok()) << entry;
  }
  EXPECT_THAT(restored.Differences(*book_), IsEmpty());
  EXPECT_THAT(book_->Differences(restored), IsEmpty());
  for (uint32_t entry = 0; entry < book_->size(); ++entry) {
    EXPECT_TRUE(MessageDifferencer::Equals(restored.ToProto(entry), At(entry)))
        << entry;
  }
  // Restoring is not a change to publish.
  EXPECT_THAT(restored.TakeChanged(), IsEmpty());

  // Choice lines in any order, zero lines left out.
  v1::Totals shuffled = At(0);
  shuffled.clear_choices();
  for (const auto& [id, votes] :
       {std::pair{"party-c", 30}, std::pair{"party-b", 119}}) {
    v1::ChoiceTotal* c = shuffled.add_choices();
    c->set_choice_id(id);
    c->set_votes(votes);
  }
  TotalsBook other(*index_);
  ASSERT_TRUE(other.Restore(shuffled).ok());
  EXPECT_THAT(VotesOf(other.ToProto(0)), ElementsAre(0, 119, 30));
  EXPECT_EQ(other.ToProto(0).revision(), 42u);
}

// What a rebuild after a failed commit relies on: a reset book is a new
// one (counts and revisions zero, expected counts kept, nothing pending),
// and restoring the stored totals into it gives the stored state back.
TEST_F(TotalsBookTest, ResetGivesANewBookAndRestoresLikeOne) {
  ApplySome(book_.get());
  book_->StampChanged(7);
  book_->TakeChanged();
  std::vector<v1::Totals> stored;
  for (uint32_t entry = 0; entry < book_->size(); ++entry) {
    stored.push_back(At(entry));
  }
  // A round applied in memory and then abandoned.
  book_->Apply(nullptr, false,
               Protocol("list", 203, 1, {{"party-c", 5}}, 0, 0, 5, 900), false);
  book_->Reset();
  TotalsBook fresh(*index_);
  EXPECT_THAT(book_->Differences(fresh), IsEmpty());
  EXPECT_THAT(book_->TakeChanged(), IsEmpty());
  for (const v1::Totals& totals : stored) {
    ASSERT_TRUE(book_->Restore(totals).ok()) << totals.ShortDebugString();
  }
  for (uint32_t entry = 0; entry < book_->size(); ++entry) {
    EXPECT_TRUE(MessageDifferencer::Equals(At(entry), stored[entry])) << entry;
  }
}

TEST_F(TotalsBookTest, RestoreRejectsWhatTheDefinitionDoesNotHave) {
  ApplySome(book_.get());
  const v1::Totals good = At(1);
  struct Case {
    std::string name;
    std::function<void(v1::Totals*)> mutate;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"unknown contest", [](v1::Totals* t) { t->set_contest_id("nope"); },
       "unknown contest \"nope\""},
      {"unknown region",
       [](v1::Totals* t) { t->mutable_scope()->set_id("r-east"); },
       "is not kept"},
      {"scope not kept",
       [](v1::Totals* t) {
         t->set_contest_id("smd-1");
         t->mutable_scope()->set_kind(v1::SCOPE_KIND_NATIONAL);
         t->mutable_scope()->clear_id();
       },
       "is not kept"},
      {"unknown choice",
       [](v1::Totals* t) { t->mutable_choices(1)->set_choice_id("party-z"); },
       "unknown choice \"party-z\""},
      {"duplicate choice",
       [](v1::Totals* t) { t->mutable_choices(2)->set_choice_id("party-a"); },
       "choice \"party-a\" appears twice"},
      {"expected stations", [](v1::Totals* t) { t->set_stations_expected(4); },
       "do not match the definition"},
      {"reported beyond expected",
       [](v1::Totals* t) { t->set_stations_reported(4); },
       "anomalies <= reported <= expected"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::Totals bad = good;
    c.mutate(&bad);
    TotalsBook target(*index_);
    const absl::Status status = target.Restore(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
    // A failed restore leaves the entry untouched.
    EXPECT_EQ(target.ToProto(1).stations_reported(), 0u);
  }
}

TEST_F(TotalsBookTest, DifferencesNameEachChangedCount) {
  TotalsBook other(*index_);
  ApplySome(book_.get());
  ApplySome(&other);
  EXPECT_THAT(book_->Differences(other), IsEmpty());

  // One more invalid ballot at station 202 (r-south, d-3).
  const v1::StationProtocol before =
      Protocol("list", 202, 1, {{"party-b", 99}}, 0, 1, 100, 600);
  const v1::StationProtocol after =
      Protocol("list", 202, 2, {{"party-b", 99}}, 0, 2, 100, 600);
  other.Apply(&before, false, after, false);
  EXPECT_THAT(book_->Differences(other),
              ElementsAre("list/national: invalid 6 != 7",
                          "list/national: ballots_cast 170 != 171",
                          "list/region/r-south: invalid 1 != 2",
                          "list/region/r-south: ballots_cast 100 != 101",
                          "list/district/d-3: invalid 1 != 2",
                          "list/district/d-3: ballots_cast 100 != 101"));
  // Revisions are not compared.
  other.StampChanged(5);
  other.TakeChanged();
  other.Apply(&after, false, before, false);
  EXPECT_THAT(book_->Differences(other), IsEmpty());

  const v1::StationProtocol votes_changed =
      Protocol("smd-3", 203, 2, {{"cand-x", 4}, {"cand-y", 4}}, 0, 0, 7, 900);
  other.Apply(std::make_unique<v1::StationProtocol>(
                  Protocol("smd-3", 203, 1, {{"cand-x", 3}, {"cand-y", 4}}, 0,
                           0, 7, 900))
                  .get(),
              true, votes_changed, false);
  EXPECT_THAT(
      book_->Differences(other),
      ElementsAre("smd-3/district/d-3: votes[cand-x] 3 != 4",
                  "smd-3/district/d-3: ballots_cast 7 != 8",
                  "smd-3/district/d-3: stations_with_anomalies 1 != 0"));
}

TEST_F(TotalsBookTest, ChainOfCorrectionsEndsAtTheLastVersion) {
  std::vector<v1::StationProtocol> versions;
  for (uint32_t v = 1; v <= 50; ++v) {
    // Lines out of the contest's order take the hash path.
    versions.push_back(Protocol("list", 203, v,
                                {{"party-c", v}, {"party-a", 2 * v}}, v, 1,
                                4 * v + 1, 900));
  }
  const v1::StationProtocol smd =
      Protocol("smd-1", 102, 1, {{"cand-x", 3}, {"cand-y", 4}}, 0, 0, 7, 800);
  auto flagged = [](size_t i) { return i % 2 == 1; };
  book_->Apply(nullptr, false, versions[0], flagged(0));
  for (size_t i = 1; i < versions.size(); ++i) {
    book_->Apply(&versions[i - 1], flagged(i - 1), versions[i], flagged(i));
  }
  book_->Apply(nullptr, false, smd, true);
  book_->StampChanged(3);
  EXPECT_THAT(VotesOf(At(0)), ElementsAre(100, 0, 50));
  EXPECT_EQ(At(0).stations_with_anomalies(), 1u);  // version 50 flagged
  EXPECT_THAT(book_->TakeChanged(), ElementsAre(0, 2, 5, 6));
}

// Ballot caps: register + 5% same-day additions per station, from the
// definition: 101 1,050; 102 840; 103 525; 201 1,260; 202 630; 203 945.
TEST_F(TotalsBookTest, BallotCapsComeFromTheDefinitionNotFromProtocols) {
  EXPECT_EQ(At(0).ballot_cap_expected(), 5250u);  // national
  EXPECT_EQ(At(1).ballot_cap_expected(), 2415u);  // r-north
  EXPECT_EQ(At(5).ballot_cap_expected(), 2835u);  // d-3
  EXPECT_EQ(At(6).ballot_cap_expected(), 1890u);  // smd-1
  for (uint32_t entry = 0; entry < book_->size(); ++entry) {
    EXPECT_EQ(At(entry).ballot_cap_reported(), 0u) << entry;
  }
  // A registered line above the register does not change the cap counted.
  const v1::StationProtocol first =
      Protocol("list", 101, 1, {{"party-a", 900}}, 0, 0, 1040, 1050);
  book_->Apply(nullptr, false, first, false);
  EXPECT_EQ(At(0).ballot_cap_reported(), 1050u);
  EXPECT_EQ(At(1).ballot_cap_reported(), 1050u);
  EXPECT_EQ(At(3).ballot_cap_reported(), 1050u);
  EXPECT_EQ(At(2).ballot_cap_reported(), 0u);
  // Corrections keep it: the station has reported once.
  const v1::StationProtocol second =
      Protocol("list", 101, 2, {{"party-a", 10}}, 0, 0, 10, 1000);
  book_->Apply(&first, false, second, false);
  EXPECT_EQ(At(0).ballot_cap_reported(), 1050u);
  book_->Apply(nullptr, false,
               Protocol("smd-1", 102, 1, {{"cand-x", 5}}, 0, 0, 5, 800), false);
  EXPECT_EQ(At(6).ballot_cap_reported(), 840u);
  EXPECT_EQ(At(0).ballot_cap_reported(), 1050u);

  // Restored as stored; the reported cap is cleared by Reset.
  TotalsBook restored(*index_);
  ASSERT_TRUE(restored.Restore(At(0)).ok());
  EXPECT_EQ(restored.ToProto(0).ballot_cap_reported(), 1050u);
  book_->Reset();
  EXPECT_EQ(At(0).ballot_cap_reported(), 0u);
  EXPECT_EQ(At(0).ballot_cap_expected(), 5250u);
}

TEST_F(TotalsBookTest, RestoreChecksTheBallotCaps) {
  book_->Apply(nullptr, false,
               Protocol("list", 101, 1, {{"party-a", 900}}, 0, 0, 900, 1000),
               false);
  v1::Totals stored = At(0);
  TotalsBook target(*index_);
  // Stored before the fields existed: accepted, the reported cap 0 (which
  // only widens the ranges).
  v1::Totals old = stored;
  old.clear_ballot_cap_expected();
  old.clear_ballot_cap_reported();
  ASSERT_TRUE(target.Restore(old).ok());
  EXPECT_EQ(target.ToProto(0).ballot_cap_expected(), 5250u);
  EXPECT_EQ(target.ToProto(0).ballot_cap_reported(), 0u);

  v1::Totals bad = stored;
  bad.set_ballot_cap_expected(5251);
  EXPECT_THAT(target.Restore(bad).message(), HasSubstr("expected ballot cap"));
  bad = stored;
  bad.set_ballot_cap_reported(5251);
  EXPECT_THAT(target.Restore(bad).message(), HasSubstr("reported ballot cap"));
  EXPECT_THAT(target.Differences(*book_),
              ::testing::Contains(HasSubstr("ballot_cap_reported 0 != 1050")));
}

TEST(TotalsBookNoDistrictTest, StationWithoutDistrictHasNoDistrictEntry) {
  v1::ElectionDefinition d = SmallDefinition(/*with_district_contests=*/false);
  v1::PollingStation* abroad = d.add_stations();
  abroad->set_id(301);
  abroad->set_region_id("r-south");
  abroad->set_registered_voters(77);
  abroad->set_abroad(true);
  std::unique_ptr<ElectionIndex> index = BuildIndex(std::move(d));
  ASSERT_NE(index, nullptr);
  TotalsBook book(*index);
  ASSERT_EQ(book.size(), 6u);
  EXPECT_EQ(book.ToProto(0).stations_expected(), 7u);
  EXPECT_EQ(book.ToProto(2).stations_expected(), 4u);
  EXPECT_EQ(book.ToProto(2).registered_voters_expected(), 2777u);
  EXPECT_EQ(book.ToProto(5).stations_expected(), 3u);

  book.Apply(nullptr, false,
             Protocol("list", 301, 1, {{"party-a", 50}}, 0, 0, 50, 77), false);
  EXPECT_THAT(book.TakeChanged(), ElementsAre(0, 2));
  EXPECT_EQ(book.ToProto(2).stations_reported(), 1u);
  EXPECT_EQ(book.ToProto(5).stations_reported(), 0u);
}

// --- Randomized: incremental totals equal a recomputation from scratch. ---

struct Key {
  std::string contest;
  uint32_t station;
  friend bool operator<(const Key& a, const Key& b) {
    return std::tie(a.contest, a.station) < std::tie(b.contest, b.station);
  }
};

struct Latest {
  v1::StationProtocol protocol;
  bool anomalies = false;
};

// Totals recomputed from the latest protocols, written independently of the
// book: keyed by "contest/scope".
std::map<std::string, v1::Totals> Recompute(
    const v1::ElectionDefinition& d, const std::map<Key, Latest>& latest) {
  std::map<std::string, v1::Totals> out;
  auto scopes_of = [&](const v1::Contest& contest,
                       const v1::PollingStation& station) {
    std::vector<std::pair<std::string, std::string>> scopes;  // kind, id
    if (!contest.district_id().empty()) {
      if (station.district_id() == contest.district_id()) {
        scopes.push_back({"district", contest.district_id()});
      }
      return scopes;
    }
    scopes.push_back({"national", ""});
    scopes.push_back({"region", station.region_id()});
    if (!station.district_id().empty()) {
      scopes.push_back({"district", station.district_id()});
    }
    return scopes;
  };
  auto key_of = [](const std::string& contest, const std::string& kind,
                   const std::string& id) {
    return kind == "national" ? absl::StrCat(contest, "/national")
                              : absl::StrCat(contest, "/", kind, "/", id);
  };
  auto entry = [&](const v1::Contest& contest, const std::string& kind,
                   const std::string& id) -> v1::Totals& {
    v1::Totals& t = out[key_of(contest.id(), kind, id)];
    if (t.choices_size() == 0) {
      for (const v1::Choice& c : contest.choices()) {
        t.add_choices()->set_choice_id(c.id());
      }
    }
    return t;
  };
  for (const v1::Contest& contest : d.contests()) {
    for (const v1::PollingStation& station : d.stations()) {
      for (const auto& [kind, id] : scopes_of(contest, station)) {
        v1::Totals& t = entry(contest, kind, id);
        t.set_stations_expected(t.stations_expected() + 1);
        t.set_registered_voters_expected(t.registered_voters_expected() +
                                         station.registered_voters());
      }
    }
  }
  for (const auto& [key, last] : latest) {
    const v1::Contest* contest = nullptr;
    for (const v1::Contest& c : d.contests()) {
      if (c.id() == key.contest) contest = &c;
    }
    const v1::PollingStation* station = nullptr;
    for (const v1::PollingStation& s : d.stations()) {
      if (s.id() == key.station) station = &s;
    }
    const v1::StationProtocol& p = last.protocol;
    for (const auto& [kind, id] : scopes_of(*contest, *station)) {
      v1::Totals& t = entry(*contest, kind, id);
      for (const v1::ChoiceVotes& line : p.votes()) {
        for (v1::ChoiceTotal& c : *t.mutable_choices()) {
          if (c.choice_id() == line.choice_id()) {
            c.set_votes(c.votes() + line.votes());
          }
        }
      }
      const v1::BallotAccounting& a = p.accounting();
      t.set_against_all(t.against_all() + a.against_all());
      t.set_invalid(t.invalid() + a.invalid());
      t.set_ballots_cast(t.ballots_cast() + a.ballots_found());
      t.set_ballots_issued(t.ballots_issued() + a.ballots_issued());
      t.set_registered_voters(t.registered_voters() + a.registered_voters());
      t.set_stations_reported(t.stations_reported() + 1);
      if (last.anomalies) {
        t.set_stations_with_anomalies(t.stations_with_anomalies() + 1);
      }
    }
  }
  return out;
}

std::string KeyOf(const v1::Totals& t) {
  switch (t.scope().kind()) {
    case v1::SCOPE_KIND_REGION:
      return absl::StrCat(t.contest_id(), "/region/", t.scope().id());
    case v1::SCOPE_KIND_DISTRICT:
      return absl::StrCat(t.contest_id(), "/district/", t.scope().id());
    default:
      return absl::StrCat(t.contest_id(), "/national");
  }
}

TEST(TotalsBookRandomTest, IncrementalEqualsRecomputation) {
  const v1::ElectionDefinition definition = SmallDefinition();
  std::unique_ptr<ElectionIndex> index = BuildIndex(definition);
  ASSERT_NE(index, nullptr);
  TotalsBook book(*index);
  std::mt19937_64 rng(20230319);
  auto uniform = [&rng](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };

  // Every (contest, station) pair that may report.
  std::vector<Key> keys;
  for (const v1::Contest& c : definition.contests()) {
    for (const v1::PollingStation& s : definition.stations()) {
      if (c.district_id().empty() || c.district_id() == s.district_id()) {
        keys.push_back({c.id(), s.id()});
      }
    }
  }
  std::map<Key, Latest> latest;
  uint64_t corrections = 0;
  for (int step = 1; step <= 600; ++step) {
    const Key& key = keys[uniform(0, keys.size() - 1)];
    const v1::Contest* contest = nullptr;
    for (const v1::Contest& c : definition.contests()) {
      if (c.id() == key.contest) contest = &c;
    }
    // Random lines in random order; some choices left out.
    std::vector<std::pair<std::string, uint64_t>> votes;
    for (const v1::Choice& c : contest->choices()) {
      if (uniform(0, 4) != 0) votes.push_back({c.id(), uniform(0, 900)});
    }
    std::shuffle(votes.begin(), votes.end(), rng);
    const uint64_t against =
        contest->against_all_on_ballot() ? uniform(0, 40) : 0;
    auto it = latest.find(key);
    const uint32_t version =
        it == latest.end() ? 1 : it->second.protocol.version() + 1;
    v1::StationProtocol p =
        Protocol(key.contest, key.station, version, votes, against,
                 uniform(0, 30), uniform(0, 3000), uniform(1, 1500));
    const bool anomalies = uniform(0, 3) == 0;
    if (it == latest.end()) {
      book.Apply(nullptr, false, p, anomalies);
      latest.emplace(key, Latest{std::move(p), anomalies});
    } else {
      book.Apply(&it->second.protocol, it->second.anomalies, p, anomalies);
      it->second = Latest{std::move(p), anomalies};
      ++corrections;
    }
    if (step > 24 && step % 50 != 0) continue;  // early steps: partial states

    // Every entry equals the recomputation; every recomputed scope exists.
    const std::map<std::string, v1::Totals> expected =
        Recompute(definition, latest);
    ASSERT_EQ(expected.size(), book.size());
    for (uint32_t entry = 0; entry < book.size(); ++entry) {
      const v1::Totals t = book.ToProto(entry);
      const auto e = expected.find(KeyOf(t));
      ASSERT_NE(e, expected.end()) << KeyOf(t);
      EXPECT_EQ(CountsOf(t), CountsOf(e->second))
          << "step " << step << " " << KeyOf(t);
    }
    // Recording the book and restoring it elsewhere loses nothing.
    TotalsBook copy(*index);
    for (uint32_t entry = 0; entry < book.size(); ++entry) {
      ASSERT_TRUE(copy.Restore(book.ToProto(entry)).ok());
    }
    EXPECT_THAT(copy.Differences(book), IsEmpty());
  }
  // The run exercised both first reports and corrections.
  EXPECT_GT(corrections, 300u);
  EXPECT_EQ(latest.size(), keys.size());
}

}  // namespace
}  // namespace tally

// Single-seat methods: plurality (with "against all") and absolute majority
// with a runoff of the top two.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/domain/seat_allocation.h"

namespace tally::seats {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

using Votes = std::vector<std::pair<std::string, uint64_t>>;

Input MakeInput(Method method, const Votes& votes) {
  Input input;
  input.method = method;
  input.seats = 1;
  input.tie_rule = TieRule::kLowestId;
  for (const auto& [id, v] : votes) input.choices.push_back({id, v});
  return input;
}

Result MustAllocate(const Input& input) {
  absl::StatusOr<Result> result = Allocate(input);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : Result{};
}

std::string Winner(const Result& result) {
  for (const ChoiceResult& choice : result.choices) {
    if (choice.seats == 1) return choice.id;
  }
  return "";
}

uint32_t SeatsWithExtra(Input input, const std::string& id, uint64_t extra) {
  input.compute_margin = false;
  for (ChoiceVotes& choice : input.choices) {
    if (choice.id == id) choice.votes += extra;
  }
  return MustAllocate(input).SeatsOf(id);
}

void ExpectMarginIsExact(const Input& input, const Result& result) {
  ASSERT_TRUE(result.last_seat.has_value());
  const std::string& runner_up = result.last_seat->runner_up;
  const uint64_t margin = result.last_seat->margin_votes;
  ASSERT_GT(margin, 0u);
  EXPECT_EQ(SeatsWithExtra(input, runner_up, margin - 1), 0u);
  EXPECT_EQ(SeatsWithExtra(input, runner_up, margin), 1u);
}

uint64_t Fnv(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// --- Plurality.

TEST(Plurality, MostVotesWins) {
  Input input =
      MakeInput(Method::kPlurality, {{"a", 120}, {"b", 100}, {"c", 30}});
  input.against_all = 40;
  input.invalid = 10;
  const Result result = MustAllocate(input);
  EXPECT_EQ(result.status, Status::kAllocated);
  EXPECT_EQ(Winner(result), "a");
  EXPECT_EQ(result.quota, (Rational{120, 300}));  // of ballots cast
  EXPECT_EQ(result.threshold_base_votes, 300u);
  ASSERT_TRUE(result.last_seat.has_value());
  EXPECT_EQ(result.last_seat->winner, "a");
  EXPECT_EQ(result.last_seat->runner_up, "b");
  // A tie at 120 would go to "a" (lowest id): b needs 21.
  EXPECT_EQ(result.last_seat->margin_votes, 21u);
  ExpectMarginIsExact(input, result);
  EXPECT_THAT(result.tie_breaks, IsEmpty());
}

TEST(Plurality, MarginWhenATieWouldGoToTheSecond) {
  // Same votes, but the second's id sorts first: a tie at 120 goes to it.
  const Input input =
      MakeInput(Method::kPlurality, {{"m", 120}, {"b", 100}, {"c", 30}});
  const Result result = MustAllocate(input);
  EXPECT_EQ(result.last_seat->runner_up, "b");
  EXPECT_EQ(result.last_seat->margin_votes, 20u);
  ExpectMarginIsExact(input, result);
}

TEST(Plurality, TieByLotIsReproducibleAndOrderIndependent) {
  for (const std::string seed : {"", "alpha", "district-7", "2023"}) {
    const std::string expected =
        Fnv(seed + ":north") < Fnv(seed + ":south") ? "north" : "south";
    for (bool reversed : {false, true}) {
      Votes v = {{"north", 700}, {"south", 700}, {"east", 5}};
      if (reversed) std::swap(v[0], v[1]);
      Input input = MakeInput(Method::kPlurality, v);
      input.tie_rule = TieRule::kLot;
      input.tie_seed = seed;
      const Result result = MustAllocate(input);
      EXPECT_EQ(Winner(result), expected) << "seed \"" << seed << "\"";
      ASSERT_THAT(result.tie_breaks, SizeIs(1));
      EXPECT_THAT(result.tie_breaks[0], HasSubstr("seat 1: equal votes 700"));
      EXPECT_THAT(result.tie_breaks[0], HasSubstr("by lot"));
      // The loser of the lot needs one vote.
      EXPECT_EQ(result.last_seat->margin_votes, 1u);
    }
  }
}

TEST(Plurality, TieByLowestId) {
  const Result result = MustAllocate(
      MakeInput(Method::kPlurality, {{"m", 50}, {"k", 50}, {"z", 50}}));
  EXPECT_EQ(Winner(result), "k");
  EXPECT_EQ(result.last_seat->runner_up, "m");
  ASSERT_THAT(result.tie_breaks, SizeIs(1));
  EXPECT_EQ(result.tie_breaks[0],
            "seat 1: equal votes 50 between k, m and z; k took it over m and "
            "z by lowest id");
}

TEST(Plurality, AgainstAllPrevails) {
  Input input = MakeInput(Method::kPlurality, {{"a", 120}, {"b", 100}});
  input.against_all = 121;
  const Result result = MustAllocate(input);
  EXPECT_EQ(result.status, Status::kAgainstAllPrevailed);
  EXPECT_EQ(Winner(result), "");
  EXPECT_FALSE(result.last_seat.has_value());

  input.against_all = 120;  // equal is not more
  const Result equal = MustAllocate(input);
  EXPECT_EQ(equal.status, Status::kAllocated);
  EXPECT_EQ(Winner(equal), "a");
}

TEST(Plurality, NoVotes) {
  Input input = MakeInput(Method::kPlurality, {{"a", 0}, {"b", 0}});
  input.invalid = 3;
  const Result result = MustAllocate(input);
  EXPECT_EQ(result.status, Status::kNoVotes);
  EXPECT_EQ(Winner(result), "");
  EXPECT_FALSE(result.last_seat.has_value());
}

TEST(Plurality, SingleCandidateHasNoRunnerUp) {
  const Result result = MustAllocate(MakeInput(Method::kPlurality, {{"a", 3}}));
  EXPECT_EQ(Winner(result), "a");
  EXPECT_EQ(result.last_seat->runner_up, "");
  EXPECT_EQ(result.last_seat->margin_votes, 0u);
}

TEST(Plurality, ExactlyOneSeat) {
  Input input = MakeInput(Method::kPlurality, {{"a", 3}, {"b", 2}});
  input.seats = 2;
  const absl::StatusOr<Result> result = Allocate(input);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(),
            "plurality allocates exactly 1 seat (got 2)");
}

// --- Absolute majority.

TEST(AbsoluteMajority, MoreThanHalfWins) {
  Input input =
      MakeInput(Method::kAbsoluteMajority, {{"a", 60}, {"b", 30}, {"c", 10}});
  input.majority_base = VoteBase::kListVotes;
  const Result result = MustAllocate(input);
  EXPECT_EQ(result.status, Status::kAllocated);
  EXPECT_EQ(Winner(result), "a");
  EXPECT_EQ(result.quota, (Rational{3, 5}));
  EXPECT_EQ(result.threshold_base_votes, 100u);
  EXPECT_EQ(result.threshold_votes, 51u);
  EXPECT_THAT(result.runoff, IsEmpty());
  EXPECT_EQ(result.last_seat->runner_up, "b");
  // b + 41 = 71 of 141: 142 > 141, and a (60) is left behind.
  EXPECT_EQ(result.last_seat->margin_votes, 41u);
  ExpectMarginIsExact(input, result);
}

TEST(AbsoluteMajority, ExactlyHalfIsNotAMajority) {
  Input input =
      MakeInput(Method::kAbsoluteMajority, {{"a", 50}, {"b", 30}, {"c", 20}});
  input.majority_base = VoteBase::kListVotes;
  const Result result = MustAllocate(input);
  EXPECT_EQ(result.status, Status::kRunoffRequired);
  EXPECT_EQ(Winner(result), "");
  EXPECT_THAT(result.runoff, ElementsAre("a", "b"));
  EXPECT_FALSE(result.last_seat.has_value());
  EXPECT_THAT(result.tie_breaks, IsEmpty());

  input.choices[0].votes = 51;  // 51 of 101
  EXPECT_EQ(Winner(MustAllocate(input)), "a");
}

TEST(AbsoluteMajority, RunoffSecondPlaceTieByLowestId) {
  Input input =
      MakeInput(Method::kAbsoluteMajority, {{"c", 30}, {"a", 40}, {"b", 30}});
  const Result result = MustAllocate(input);
  EXPECT_EQ(result.status, Status::kRunoffRequired);
  EXPECT_THAT(result.runoff, ElementsAre("a", "b"));
  ASSERT_THAT(result.tie_breaks, SizeIs(1));
  EXPECT_EQ(result.tie_breaks[0],
            "runoff place 2: equal votes 30 between b and c; b took it over "
            "c by lowest id");
}

TEST(AbsoluteMajority, RunoffTieByLot) {
  for (const std::string seed : {"r1", "r2", "r3"}) {
    const std::string second = Fnv(seed + ":x") < Fnv(seed + ":y") ? "x" : "y";
    for (bool reversed : {false, true}) {
      Votes v = {{"x", 30}, {"y", 30}, {"w", 35}};
      if (reversed) std::swap(v[0], v[1]);
      Input input = MakeInput(Method::kAbsoluteMajority, v);
      input.tie_rule = TieRule::kLot;
      input.tie_seed = seed;
      const Result result = MustAllocate(input);
      EXPECT_THAT(result.runoff, ElementsAre("w", second)) << seed;
    }
  }
}

TEST(AbsoluteMajority, ThreeWayTieForTheRunoff) {
  const Result result = MustAllocate(
      MakeInput(Method::kAbsoluteMajority, {{"c", 10}, {"b", 10}, {"a", 10}}));
  EXPECT_THAT(result.runoff, ElementsAre("a", "b"));
  ASSERT_THAT(result.tie_breaks, SizeIs(1));
  EXPECT_THAT(result.tie_breaks[0], HasSubstr("runoff places 1-2"));
}

TEST(AbsoluteMajority, EachMajorityBase) {
  struct Case {
    VoteBase base;
    uint64_t base_votes;
    uint64_t needed;
    Status status;
  };
  // a 55, b 45, against all 5, invalid 10.
  for (const Case& c :
       {Case{VoteBase::kListVotes, 100, 51, Status::kAllocated},
        Case{VoteBase::kValidVotes, 105, 53, Status::kAllocated},
        Case{VoteBase::kBallotsCast, 115, 58, Status::kRunoffRequired}}) {
    Input input = MakeInput(Method::kAbsoluteMajority, {{"a", 55}, {"b", 45}});
    input.against_all = 5;
    input.invalid = 10;
    input.majority_base = c.base;
    const Result result = MustAllocate(input);
    EXPECT_EQ(result.status, c.status) << c.base_votes;
    EXPECT_EQ(result.threshold_base_votes, c.base_votes);
    EXPECT_EQ(result.threshold_votes, c.needed);
    EXPECT_EQ(result.quota, (Rational{55, c.base_votes}));
    EXPECT_EQ(Winner(result), c.status == Status::kAllocated ? "a" : "");
  }
}

TEST(AbsoluteMajority, LoneCandidateWithoutMajorityGoesToRunoffAlone) {
  Input input = MakeInput(Method::kAbsoluteMajority, {{"solo", 40}});
  input.against_all = 60;
  input.majority_base = VoteBase::kValidVotes;
  const Result result = MustAllocate(input);
  EXPECT_EQ(result.status, Status::kRunoffRequired);
  EXPECT_THAT(result.runoff, ElementsAre("solo"));
}

}  // namespace
}  // namespace tally::seats

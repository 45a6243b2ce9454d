// Seat allocation: official and textbook results, thresholds, ties, the
// last-seat margin, input validation, method names and percent parsing.
#include "services/domain/seat_allocation.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tally::seats {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

using Votes = std::vector<std::pair<std::string, uint64_t>>;

Input MakeInput(Method method, uint32_t seats, const Votes& votes) {
  Input input;
  input.method = method;
  input.seats = seats;
  input.tie_rule = TieRule::kLowestId;
  for (const auto& [id, v] : votes) input.choices.push_back({id, v});
  return input;
}

Result MustAllocate(const Input& input) {
  absl::StatusOr<Result> result = Allocate(input);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : Result{};
}

std::vector<uint32_t> SeatList(const Result& result) {
  std::vector<uint32_t> seats;
  for (const ChoiceResult& choice : result.choices) {
    seats.push_back(choice.seats);
  }
  return seats;
}

// Seats of `id` after giving it `extra` more votes, everything else equal.
uint32_t SeatsWithExtra(Input input, const std::string& id, uint64_t extra) {
  input.compute_margin = false;
  for (ChoiceVotes& choice : input.choices) {
    if (choice.id == id) choice.votes += extra;
  }
  return MustAllocate(input).SeatsOf(id);
}

// The margin is exact: one vote fewer does not gain a seat, the margin does.
void ExpectMarginIsExact(const Input& input, const Result& result) {
  ASSERT_TRUE(result.last_seat.has_value());
  const LastSeat& last = *result.last_seat;
  ASSERT_FALSE(last.runner_up.empty());
  ASSERT_GT(last.margin_votes, 0u);
  const uint32_t held = result.SeatsOf(last.runner_up);
  EXPECT_EQ(SeatsWithExtra(input, last.runner_up, last.margin_votes - 1), held)
      << last.runner_up << " margin " << last.margin_votes;
  EXPECT_GT(SeatsWithExtra(input, last.runner_up, last.margin_votes), held)
      << last.runner_up << " margin " << last.margin_votes;
}

uint64_t Fnv(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// --- Kazakhstan, Mazhilis, 19 March 2023: the official party-list result.

Input Mazhilis2023(VoteBase base) {
  Input input = MakeInput(Method::kHare, 69,
                          {{"amanat", 3431510},
                           {"auyl", 693938},
                           {"respublica", 547154},
                           {"aq-jol", 535139},
                           {"peoples-party", 432920},
                           {"jsdp", 331058},
                           {"baytaq", 146431}});
  input.against_all = 248291;
  input.invalid = 155419;
  input.threshold = {5, 100};
  input.threshold_base = base;
  input.tie_rule = TieRule::kLot;
  input.tie_seed = "kz-2023";
  return input;
}

TEST(Mazhilis2023, OfficialSeatsOnBallotsCast) {
  const Input input = Mazhilis2023(VoteBase::kBallotsCast);
  const Result result = MustAllocate(input);
  EXPECT_EQ(result.status, Status::kAllocated);
  EXPECT_THAT(SeatList(result), ElementsAre(40, 8, 6, 6, 5, 4, 0));
  // 6118150 list votes + 248291 against all + 155419 invalid.
  EXPECT_EQ(result.threshold_base_votes, 6521860u);
  EXPECT_EQ(result.threshold_votes, 326093u);  // 5% exactly
  std::vector<bool> passed;
  for (const ChoiceResult& c : result.choices)
    passed.push_back(c.passed_threshold);
  EXPECT_THAT(passed, ElementsAre(true, true, true, true, true, true, false));
  // Hare quota over the passing lists only (Baytaq excluded).
  EXPECT_EQ(result.quota, (Rational{5971719, 69}));
  EXPECT_EQ(result.choices[6].quotient, (Rational{0, 1}));
  // JSDP 3.825..., Amanat 39.649... take the two remainder seats; Amanat's
  // remainder is the smaller one, Respublica's (0.322) is next in line.
  EXPECT_EQ(result.choices[5].remainder, (Rational{126355, 153121}));
  EXPECT_EQ(result.choices[0].remainder, (Rational{1292383, 1990573}));
  EXPECT_EQ(result.choices[0].quotient,
            (Rational{uint64_t{3431510} * 69, 5971719}.Reduced()));
  ASSERT_TRUE(result.last_seat.has_value());
  EXPECT_EQ(result.last_seat->winner, "amanat");
  EXPECT_EQ(result.last_seat->runner_up, "respublica");
  ExpectMarginIsExact(input, result);
  EXPECT_THAT(result.tie_breaks, IsEmpty());
}

TEST(Mazhilis2023, SamePassingSetOnValidAndListVotes) {
  for (VoteBase base : {VoteBase::kValidVotes, VoteBase::kListVotes}) {
    const Result result = MustAllocate(Mazhilis2023(base));
    EXPECT_THAT(SeatList(result), ElementsAre(40, 8, 6, 6, 5, 4, 0));
    for (size_t i = 0; i < 6; ++i) {
      EXPECT_TRUE(result.choices[i].passed_threshold) << i;
    }
    EXPECT_FALSE(result.choices[6].passed_threshold);
  }
  EXPECT_EQ(MustAllocate(Mazhilis2023(VoteBase::kValidVotes)).threshold_votes,
            318323u);  // ceil(6366441 / 20)
  EXPECT_EQ(MustAllocate(Mazhilis2023(VoteBase::kListVotes)).threshold_votes,
            305908u);  // ceil(6118150 / 20)
}

TEST(Mazhilis2023, InputOrderDoesNotMatter) {
  const Input input = Mazhilis2023(VoteBase::kBallotsCast);
  const Result reference = MustAllocate(input);
  std::mt19937_64 rng(2023);
  for (int round = 0; round < 5; ++round) {
    Input shuffled = input;
    std::shuffle(shuffled.choices.begin(), shuffled.choices.end(), rng);
    const Result result = MustAllocate(shuffled);
    for (const ChoiceResult& c : reference.choices) {
      EXPECT_EQ(result.SeatsOf(c.id), c.seats) << c.id;
    }
    EXPECT_EQ(result.last_seat->runner_up, reference.last_seat->runner_up);
    EXPECT_EQ(result.last_seat->margin_votes,
              reference.last_seat->margin_votes);
  }
}

// --- Textbook examples.

// Wikipedia, "Largest remainders method": 100000 votes, 10 seats.
Votes Colours() {
  return {{"yellows", 47000}, {"whites", 16000}, {"reds", 15800},
          {"greens", 12000},  {"blues", 6100},   {"pinks", 3100}};
}

TEST(LargestRemainder, HareTextbook) {
  const Result result = MustAllocate(MakeInput(Method::kHare, 10, Colours()));
  EXPECT_THAT(SeatList(result), ElementsAre(5, 2, 1, 1, 1, 0));
  EXPECT_EQ(result.quota, (Rational{10000, 1}));
  EXPECT_EQ(result.choices[0].quotient, (Rational{47, 10}));
  EXPECT_EQ(result.choices[0].remainder, (Rational{7, 10}));
  EXPECT_EQ(result.choices[4].remainder, (Rational{61, 100}));
  // Remainder seats: yellows .70, blues .61, whites .60; reds .58 is next.
  EXPECT_EQ(result.last_seat->winner, "whites");
  EXPECT_EQ(result.last_seat->runner_up, "reds");
}

TEST(LargestRemainder, DroopTextbook) {
  const Result result = MustAllocate(MakeInput(Method::kDroop, 10, Colours()));
  EXPECT_THAT(SeatList(result), ElementsAre(5, 2, 2, 1, 0, 0));
  EXPECT_EQ(result.quota, (Rational{9091, 1}));  // floor(100000 / 11) + 1
  EXPECT_EQ(result.choices[1].quotient, (Rational{16000, 9091}));
  EXPECT_EQ(result.choices[1].remainder, (Rational{6909, 9091}));
  EXPECT_EQ(result.last_seat->winner, "reds");
  EXPECT_EQ(result.last_seat->runner_up, "blues");
}

TEST(LargestRemainder, DroopFloorsFillEverySeat) {
  // V = 100, q = 34: 60 -> 1 r 26, 40 -> 1 r 6. No remainder seat; the
  // weakest holder (smallest remainder) is reported as the last seat.
  const Input input = MakeInput(Method::kDroop, 2, {{"a", 60}, {"b", 40}});
  const Result result = MustAllocate(input);
  EXPECT_THAT(SeatList(result), ElementsAre(1, 1));
  EXPECT_EQ(result.last_seat->winner, "b");
  EXPECT_EQ(result.last_seat->runner_up, "a");
  // a = 81: V = 121, q = 41, both remainders 40/41, a wins on votes.
  EXPECT_EQ(result.last_seat->margin_votes, 21u);
  ExpectMarginIsExact(input, result);
}

TEST(LargestRemainder, DroopWithFewVotesRepeatsTheRemainderOrder) {
  // V = 11, q = 2: floors 2 and 3, five seats left for two lists. The zero
  // vote list takes part (no threshold) but never gets a seat.
  const Result result = MustAllocate(
      MakeInput(Method::kDroop, 10, {{"a", 5}, {"b", 6}, {"c", 0}}));
  EXPECT_EQ(result.status, Status::kAllocated);
  EXPECT_THAT(SeatList(result), ElementsAre(5, 5, 0));
}

// Wikipedia, "D'Hondt method": 230000 votes, 8 seats.
Votes Wiki() {
  return {{"a", 100000}, {"b", 80000}, {"c", 30000}, {"d", 20000}};
}

TEST(HighestAverages, DHondtTextbook) {
  const Input input = MakeInput(Method::kDHondt, 8, Wiki());
  const Result result = MustAllocate(input);
  EXPECT_THAT(SeatList(result), ElementsAre(4, 3, 1, 0));
  EXPECT_EQ(result.quota, (Rational{25000, 1}));  // a's 4th seat
  EXPECT_EQ(result.choices[0].quotient, (Rational{20000, 1}));
  EXPECT_EQ(result.choices[1].quotient, (Rational{20000, 1}));
  EXPECT_EQ(result.choices[2].quotient, (Rational{15000, 1}));
  EXPECT_EQ(result.choices[3].quotient, (Rational{20000, 1}));
  EXPECT_EQ(result.last_seat->winner, "a");
  // Seat 9: a, b and d all at 20000; a has the most votes.
  EXPECT_EQ(result.last_seat->runner_up, "a");
  // a's 5th quotient must beat b's 3rd (26666.67): 5 * 26666.67 < 133334.
  EXPECT_EQ(result.last_seat->margin_votes, 33334u);
  ExpectMarginIsExact(input, result);
  // The three-way tie at 20000 is for seat 9, not a seat of this house.
  EXPECT_THAT(result.tie_breaks, IsEmpty());
}

TEST(HighestAverages, SainteLagueTextbook) {
  const Input input = MakeInput(Method::kSainteLague, 8, Wiki());
  const Result result = MustAllocate(input);
  EXPECT_THAT(SeatList(result), ElementsAre(3, 3, 1, 1));
  EXPECT_EQ(result.quota, (Rational{16000, 1}));  // b: 80000 / 5
  EXPECT_EQ(result.choices[0].quotient, (Rational{100000, 7}));
  EXPECT_EQ(result.last_seat->winner, "b");
  EXPECT_EQ(result.last_seat->runner_up, "a");
  // At 112000, a's 16000 ties b's last quotient and a has more votes.
  EXPECT_EQ(result.last_seat->margin_votes, 12000u);
  ExpectMarginIsExact(input, result);
}

TEST(HighestAverages, ModifiedSainteLagueTextbook) {
  // Quotients: a 71428.6, 33333.3, 20000, 14285.7; b 57142.9, 26666.7, 16000;
  // c 21428.6; d 14285.7 (20000 / 1.4). Seat 8 is an exact tie between a's
  // 4th (100000/7) and d's 1st (100000/7): a wins on votes.
  const Input input = MakeInput(Method::kModifiedSainteLague, 8, Wiki());
  const Result result = MustAllocate(input);
  EXPECT_THAT(SeatList(result), ElementsAre(4, 3, 1, 0));
  EXPECT_EQ(result.quota, (Rational{100000, 7}));
  EXPECT_EQ(result.choices[3].quotient, (Rational{100000, 7}));
  EXPECT_EQ(result.choices[2].quotient, (Rational{10000, 1}));
  EXPECT_EQ(result.last_seat->winner, "a");
  EXPECT_EQ(result.last_seat->runner_up, "d");
  EXPECT_EQ(result.last_seat->margin_votes, 1u);
  ExpectMarginIsExact(input, result);
  ASSERT_THAT(result.tie_breaks, SizeIs(1));
  EXPECT_THAT(result.tie_breaks[0], HasSubstr("seat 8"));
  EXPECT_THAT(result.tie_breaks[0], HasSubstr("more votes (100000 vs 20000)"));
}

TEST(HighestAverages, SainteLagueFavoursSmallerPartiesThanDHondt) {
  // 7 seats, 53/24/23. D'Hondt: 53, 26.5, 24, 23, 17.7, 13.25, 12 -> 4/2/1.
  // Sainte-Lague: 53, 24, 23, 17.7, 10.6, 8, 7.67 -> 3/2/2.
  const Votes v = {{"x", 53}, {"y", 24}, {"z", 23}};
  EXPECT_THAT(SeatList(MustAllocate(MakeInput(Method::kDHondt, 7, v))),
              ElementsAre(4, 2, 1));
  EXPECT_THAT(SeatList(MustAllocate(MakeInput(Method::kSainteLague, 7, v))),
              ElementsAre(3, 2, 2));
}

// --- Thresholds.

TEST(Threshold, ExactlyAtThresholdPassesOneBelowFails) {
  Input input = MakeInput(Method::kHare, 20, {{"a", 50}, {"b", 950}});
  input.threshold = {5, 100};
  Result at = MustAllocate(input);
  EXPECT_EQ(at.threshold_votes, 50u);
  EXPECT_TRUE(at.choices[0].passed_threshold);
  EXPECT_EQ(at.choices[0].seats, 1u);

  input.choices = {{"a", 49}, {"b", 951}};
  Result below = MustAllocate(input);
  EXPECT_EQ(below.threshold_votes, 50u);
  EXPECT_FALSE(below.choices[0].passed_threshold);
  EXPECT_EQ(below.choices[0].seats, 0u);
  EXPECT_EQ(below.choices[1].seats, 20u);
}

TEST(Threshold, FractionalThresholdOnBallotsCast) {
  // 0.667% of 3000 ballots = 20.01: 21 passes, 20 does not.
  Input input =
      MakeInput(Method::kDHondt, 5, {{"a", 21}, {"b", 20}, {"c", 2000}});
  input.against_all = 400;
  input.invalid = 559;
  input.threshold = {667, 100000};
  input.threshold_base = VoteBase::kBallotsCast;
  const Result result = MustAllocate(input);
  EXPECT_EQ(result.threshold_base_votes, 3000u);
  EXPECT_EQ(result.threshold_votes, 21u);
  EXPECT_TRUE(result.choices[0].passed_threshold);
  EXPECT_FALSE(result.choices[1].passed_threshold);
}

TEST(Threshold, NobodyPasses) {
  Input input = MakeInput(Method::kHare, 5, {{"a", 10}, {"b", 10}});
  input.against_all = 1000;
  input.threshold = {5, 100};
  input.threshold_base = VoteBase::kValidVotes;
  const Result result = MustAllocate(input);
  EXPECT_EQ(result.status, Status::kNoListPassed);
  EXPECT_THAT(SeatList(result), ElementsAre(0, 0));
  EXPECT_FALSE(result.last_seat.has_value());
  EXPECT_EQ(result.threshold_votes, 51u);  // ceil(1020 / 20)
}

TEST(Threshold, NoVotesAtAll) {
  for (Method method : {Method::kHare, Method::kDroop, Method::kDHondt,
                        Method::kSainteLague, Method::kModifiedSainteLague}) {
    Input input = MakeInput(method, 3, {{"a", 0}, {"b", 0}});
    input.against_all = 7;  // against all alone fills no seat
    const Result result = MustAllocate(input);
    EXPECT_EQ(result.status, Status::kNoVotes) << MethodName(method);
    EXPECT_THAT(SeatList(result), ElementsAre(0, 0));
    EXPECT_FALSE(result.choices[0].passed_threshold);
    EXPECT_FALSE(result.last_seat.has_value());
  }
}

// --- Ties.

TEST(Ties, LotIsDeterministicAndOrderIndependent) {
  for (const std::string seed : {"s1", "s2", "s3", "2023-03-19"}) {
    const std::string expected =
        Fnv(seed + ":left") < Fnv(seed + ":right") ? "left" : "right";
    for (Method method : {Method::kHare, Method::kDroop, Method::kDHondt,
                          Method::kSainteLague, Method::kModifiedSainteLague}) {
      for (bool reversed : {false, true}) {
        Votes v = {{"left", 500}, {"right", 500}};
        if (reversed) std::swap(v[0], v[1]);
        Input input = MakeInput(method, 1, v);
        input.tie_rule = TieRule::kLot;
        input.tie_seed = seed;
        const Result result = MustAllocate(input);
        EXPECT_EQ(result.SeatsOf(expected), 1u)
            << seed << " " << MethodName(method);
        ASSERT_THAT(result.tie_breaks, SizeIs(1));
        EXPECT_THAT(result.tie_breaks[0], HasSubstr("by lot"));
        EXPECT_THAT(result.tie_breaks[0],
                    HasSubstr("\"" + seed + ":" + expected));
        EXPECT_EQ(result.last_seat->winner, expected);
        // The loser needs one vote to win outright.
        EXPECT_EQ(result.last_seat->margin_votes, 1u);
      }
    }
  }
}

TEST(Ties, LotDependsOnTheSeed) {
  // Over several seeds both choices win at least once: it is a real lot.
  int left_wins = 0;
  for (int s = 0; s < 16; ++s) {
    Input input = MakeInput(Method::kHare, 1, {{"left", 5}, {"right", 5}});
    input.tie_rule = TieRule::kLot;
    input.tie_seed = "seed-" + std::to_string(s);
    left_wins += static_cast<int>(MustAllocate(input).SeatsOf("left"));
  }
  EXPECT_GT(left_wins, 0);
  EXPECT_LT(left_wins, 16);
}

TEST(Ties, LowestIdWins) {
  for (Method method : {Method::kHare, Method::kDroop, Method::kDHondt,
                        Method::kSainteLague, Method::kModifiedSainteLague}) {
    Input input =
        MakeInput(method, 2, {{"zeta", 30}, {"beta", 30}, {"alpha", 30}});
    const Result result = MustAllocate(input);
    EXPECT_THAT(SeatList(result), ElementsAre(0, 1, 1)) << MethodName(method);
    ASSERT_THAT(result.tie_breaks, SizeIs(1));
    EXPECT_THAT(result.tie_breaks[0],
                HasSubstr("between alpha, beta and zeta"));
    EXPECT_THAT(result.tie_breaks[0], HasSubstr("over zeta by lowest id"));
    EXPECT_EQ(result.last_seat->runner_up, "zeta");
  }
}

TEST(Ties, EqualRemaindersGoToMoreVotes) {
  // V = 160, quota 80: a 1.5, b 0.5 - equal remainders, a has more votes.
  const Result result =
      MustAllocate(MakeInput(Method::kHare, 2, {{"b", 40}, {"a", 120}}));
  EXPECT_THAT(SeatList(result), ElementsAre(0, 2));
  ASSERT_THAT(result.tie_breaks, SizeIs(1));
  EXPECT_EQ(result.tie_breaks[0],
            "seat 2: equal remainder 1/2 (0.500000) between a and b; a took it "
            "over b by more votes (120 vs 40)");
}

TEST(Ties, TieBetweenSeatedChoicesIsNotReported) {
  // Both tied choices get a seat: the tie decided nothing.
  const Result result = MustAllocate(
      MakeInput(Method::kDHondt, 2, {{"a", 100}, {"b", 100}, {"c", 10}}));
  EXPECT_THAT(SeatList(result), ElementsAre(1, 1, 0));
  EXPECT_THAT(result.tie_breaks, IsEmpty());
}

// --- Last-seat margin by hand.

TEST(Margin, DHondtDominantParty) {
  // a holds all 3 seats and cannot gain: b (a's 3rd quotient is 333.3) is
  // the runner-up and needs 334 votes.
  const Input input = MakeInput(Method::kDHondt, 3, {{"a", 1000}, {"b", 10}});
  const Result result = MustAllocate(input);
  EXPECT_THAT(SeatList(result), ElementsAre(3, 0));
  EXPECT_EQ(result.last_seat->winner, "a");
  EXPECT_EQ(result.last_seat->runner_up, "b");
  EXPECT_EQ(result.last_seat->margin_votes, 324u);
  ExpectMarginIsExact(input, result);
}

TEST(Margin, HareWithQuotaShift) {
  // a 60, b 40, 2 seats: 1 + 1. a gains b's remainder seat at a = 120 where
  // both remainders are 1/2 and a wins on votes (the quota moves with a).
  const Input input = MakeInput(Method::kHare, 2, {{"a", 60}, {"b", 40}});
  const Result result = MustAllocate(input);
  EXPECT_THAT(SeatList(result), ElementsAre(1, 1));
  EXPECT_EQ(result.last_seat->winner, "b");
  EXPECT_EQ(result.last_seat->runner_up, "a");
  EXPECT_EQ(result.last_seat->margin_votes, 60u);
  ExpectMarginIsExact(input, result);
}

TEST(Margin, ThresholdShiftCounts) {
  // 10% of 88 list votes: c (10) passes. Hare, 2 seats: a 1.25, b 0.52,
  // c 0.23 -> a 1, b 1; a is next in line. At a = 69 the base is 102, c
  // drops below 10.2, and over 92 votes a (1.5) and b (0.5) tie on the
  // remainder, a winning on votes. With the base held fixed a would need 24.
  Input input = MakeInput(Method::kHare, 2, {{"a", 55}, {"b", 23}, {"c", 10}});
  input.threshold = {10, 100};
  const Result result = MustAllocate(input);
  EXPECT_THAT(SeatList(result), ElementsAre(1, 1, 0));
  EXPECT_TRUE(result.choices[2].passed_threshold);
  EXPECT_EQ(result.last_seat->winner, "b");
  EXPECT_EQ(result.last_seat->runner_up, "a");
  EXPECT_EQ(result.last_seat->margin_votes, 14u);
  ExpectMarginIsExact(input, result);
  Input more = input;
  more.choices[0].votes += 14;
  const Result after = MustAllocate(more);
  EXPECT_FALSE(after.choices[2].passed_threshold);
  EXPECT_THAT(SeatList(after), ElementsAre(2, 0, 0));
}

TEST(Margin, NotComputedWhenDisabled) {
  Input input = MakeInput(Method::kDHondt, 3, {{"a", 1000}, {"b", 10}});
  input.compute_margin = false;
  const Result result = MustAllocate(input);
  EXPECT_EQ(result.last_seat->runner_up, "b");
  EXPECT_EQ(result.last_seat->margin_votes, 0u);
}

TEST(Margin, NoRunnerUpWhenOneChoiceHoldsEverything) {
  const Result result =
      MustAllocate(MakeInput(Method::kSainteLague, 4, {{"only", 9}}));
  EXPECT_THAT(SeatList(result), ElementsAre(4));
  EXPECT_EQ(result.last_seat->winner, "only");
  EXPECT_EQ(result.last_seat->runner_up, "");
  EXPECT_EQ(result.last_seat->margin_votes, 0u);
}

// --- Scale.

TEST(Scale, HareApportionsTwelveMillionOverTenThousandStations) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint64_t> size(50, 3000);
  Input input;
  input.method = Method::kHare;
  input.seats = 12000000;
  input.tie_rule = TieRule::kLowestId;
  uint64_t total = 0;
  for (int i = 0; i < 10000; ++i) {
    input.choices.push_back({"station-" + std::to_string(i), size(rng)});
    total += input.choices.back().votes;
  }
  const Result result = MustAllocate(input);
  uint64_t sum = 0;
  for (const ChoiceResult& c : result.choices) {
    sum += c.seats;
    const unsigned __int128 exact =
        static_cast<unsigned __int128>(c.votes) * input.seats;
    EXPECT_GE(c.seats, static_cast<uint64_t>(exact / total));
    EXPECT_LE(c.seats, static_cast<uint64_t>((exact + total - 1) / total));
  }
  EXPECT_EQ(sum, 12000000u);
}

TEST(Scale, LargestVotesAndSeats) {
  const uint64_t half = uint64_t{1} << 39;
  Input input =
      MakeInput(Method::kHare, 4294967295u, {{"a", half + 1}, {"b", half - 1}});
  input.compute_margin = false;
  const Result result = MustAllocate(input);
  EXPECT_EQ(uint64_t{result.choices[0].seats} + result.choices[1].seats,
            4294967295u);
  EXPECT_EQ(result.choices[0].seats, 2147483648u);
  input.method = Method::kDroop;
  const Result droop = MustAllocate(input);
  EXPECT_EQ(uint64_t{droop.choices[0].seats} + droop.choices[1].seats,
            4294967295u);
}

// --- Validation.

struct BadInput {
  std::string name;
  Input input;
  std::string message;
};

std::vector<BadInput> BadInputs() {
  std::vector<BadInput> cases;
  Input ok = MakeInput(Method::kHare, 3, {{"a", 10}, {"b", 5}});
  Input in = ok;
  in.seats = 0;
  cases.push_back({"zero seats", in, "seats must be >= 1 (got 0)"});
  in = ok;
  in.choices.push_back({"a", 1});
  cases.push_back({"duplicate", in, "duplicate choice id \"a\""});
  in = ok;
  in.choices[1].id = "";
  cases.push_back({"empty id", in, "choice 2 has an empty id"});
  in = ok;
  in.choices.clear();
  cases.push_back({"no choices", in, "no choices"});
  in = ok;
  in.threshold = {101, 100};
  cases.push_back(
      {"threshold", in, "threshold must be between 0% and 100% (got 101/100)"});
  in = ok;
  in.threshold = {1, 0};
  cases.push_back(
      {"threshold den", in, "threshold must be between 0% and 100% (got 1/0)"});
  in = ok;
  in.method = Method::kPlurality;
  cases.push_back(
      {"plurality", in, "plurality allocates exactly 1 seat (got 3)"});
  in = ok;
  in.method = Method::kAbsoluteMajority;
  cases.push_back(
      {"majority", in, "absolute-majority allocates exactly 1 seat (got 3)"});
  in = ok;
  in.method = Method::kDHondt;
  in.seats = 100001;
  cases.push_back(
      {"divisor seats", in, "seats must be <= 100000 for dhondt (got 100001)"});
  in = ok;
  in.choices[0].votes = (uint64_t{1} << 40) + 1;
  cases.push_back({"votes", in,
                   "choice \"a\" has 1099511627777 votes, more than "
                   "1099511627776"});
  in = ok;
  in.choices[0].votes = uint64_t{1} << 40;
  in.invalid = 1;
  cases.push_back({"total", in,
                   "total of choice votes, against all and invalid ballots "
                   "exceeds 1099511627776"});
  in = ok;
  in.against_all = ~uint64_t{0};
  cases.push_back({"against all overflow", in,
                   "total of choice votes, against all and invalid ballots "
                   "exceeds 1099511627776"});
  in = ok;
  in.method = static_cast<Method>(42);
  cases.push_back({"method", in, "unknown allocation method 42"});
  return cases;
}

TEST(Validation, EveryErrorNamesTheProblem) {
  for (const BadInput& bad : BadInputs()) {
    const absl::StatusOr<Result> result = Allocate(bad.input);
    ASSERT_FALSE(result.ok()) << bad.name;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
        << bad.name;
    EXPECT_EQ(result.status().message(), bad.message) << bad.name;
  }
}

TEST(Validation, HundredThousandDivisorSeatsAreAccepted) {
  Input input =
      MakeInput(Method::kSainteLague, 100000, {{"a", 700000}, {"b", 300000}});
  input.compute_margin = false;
  const Result result = MustAllocate(input);
  EXPECT_THAT(SeatList(result), ElementsAre(70000, 30000));
}

TEST(ResultTest, SeatsOfUnknownIdIsZero) {
  const Result result = MustAllocate(MakeInput(Method::kHare, 1, {{"a", 1}}));
  EXPECT_EQ(result.SeatsOf("a"), 1u);
  EXPECT_EQ(result.SeatsOf("nobody"), 0u);
}

// --- Names and percentages.

TEST(Names, MethodRoundTrip) {
  for (Method method : {Method::kHare, Method::kDroop, Method::kDHondt,
                        Method::kSainteLague, Method::kModifiedSainteLague,
                        Method::kPlurality, Method::kAbsoluteMajority}) {
    absl::StatusOr<Method> parsed = ParseMethod(MethodName(method));
    ASSERT_TRUE(parsed.ok()) << MethodName(method);
    EXPECT_EQ(*parsed, method);
  }
  EXPECT_EQ(MethodName(Method::kModifiedSainteLague), "modified-sainte-lague");
  EXPECT_EQ(*ParseMethod("DHondt"), Method::kDHondt);
  const absl::StatusOr<Method> bad = ParseMethod("d'hondt");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("\"d'hondt\""));
}

TEST(Percent, ParsesExactDecimals) {
  EXPECT_EQ(ParsePercent("5")->ToString(), "1/20");
  EXPECT_EQ(ParsePercent("5.0")->ToString(), "1/20");
  EXPECT_EQ(ParsePercent("3.25")->ToString(), "13/400");
  EXPECT_EQ(ParsePercent("0.667")->ToString(), "667/100000");
  EXPECT_EQ(ParsePercent("100")->ToString(), "1/1");
  EXPECT_EQ(ParsePercent("100.000")->ToString(), "1/1");
  EXPECT_EQ(ParsePercent("0")->ToString(), "0/1");
  EXPECT_EQ(ParsePercent("007")->ToString(), "7/100");
}

TEST(Percent, RejectsEverythingElse) {
  for (const std::string text :
       {"", "-5", "100.01", "101", "1000", "abc", "5%", " 5", "5.", ".5",
        "1.2.3", "5e1", "+5", "0.12345678901234567"}) {
    const absl::StatusOr<Rational> parsed = ParsePercent(text);
    ASSERT_FALSE(parsed.ok()) << "\"" << text << "\"";
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(),
                HasSubstr("threshold percent \"" + text + "\""));
  }
  EXPECT_THAT(ParsePercent("").status().message(), HasSubstr("empty"));
  EXPECT_THAT(ParsePercent("-5").status().message(), HasSubstr("negative"));
  EXPECT_THAT(ParsePercent("100.5").status().message(),
              HasSubstr("more than 100"));
}

}  // namespace
}  // namespace tally::seats

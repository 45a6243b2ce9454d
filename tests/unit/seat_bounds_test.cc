// SeatBounds: guaranteed seat ranges while ballots are outstanding.
#include "services/domain/seat_bounds.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/domain/seat_allocation.h"

namespace tally::seats {
namespace {

constexpr Method kAllMethods[] = {Method::kHare,
                                  Method::kDroop,
                                  Method::kDHondt,
                                  Method::kSainteLague,
                                  Method::kModifiedSainteLague,
                                  Method::kPlurality,
                                  Method::kAbsoluteMajority};

bool SingleWinner(Method m) {
  return m == Method::kPlurality || m == Method::kAbsoluteMajority;
}

bool Divisor(Method m) {
  return m == Method::kDHondt || m == Method::kSainteLague ||
         m == Method::kModifiedSainteLague;
}

Input MakeInput(Method method, uint32_t seats,
                const std::vector<uint64_t>& votes, uint64_t against_all = 0,
                uint64_t invalid = 0, Rational threshold = {0, 1},
                VoteBase base = VoteBase::kListVotes) {
  Input input;
  input.method = method;
  input.seats = seats;
  for (size_t i = 0; i < votes.size(); ++i) {
    input.choices.push_back(
        {std::string(1, static_cast<char>('a' + i)), votes[i]});
  }
  input.against_all = against_all;
  input.invalid = invalid;
  input.threshold = threshold;
  input.threshold_base = base;
  input.majority_base = base;
  input.tie_rule = TieRule::kLowestId;
  input.compute_margin = false;
  return input;
}

std::vector<uint32_t> SeatsOf(const Input& input) {
  absl::StatusOr<Result> result = Allocate(input);
  EXPECT_TRUE(result.ok()) << result.status();
  std::vector<uint32_t> seats;
  if (!result.ok()) return seats;
  for (const ChoiceResult& c : result->choices) seats.push_back(c.seats);
  return seats;
}

std::vector<SeatRange> Bounds(const Input& input, uint64_t outstanding) {
  absl::StatusOr<std::vector<SeatRange>> bounds =
      SeatBounds(input, outstanding);
  EXPECT_TRUE(bounds.ok()) << bounds.status();
  return bounds.ok() ? *bounds : std::vector<SeatRange>();
}

// "[min,max]" per choice, for readable failures.
std::vector<std::string> Text(const std::vector<SeatRange>& ranges) {
  std::vector<std::string> out;
  for (const SeatRange& r : ranges) {
    out.push_back(absl::StrCat("[", r.min, ",", r.max, "]"));
  }
  return out;
}

// Outstanding ballots spread over the choices, against all (index n) and
// invalid (index n + 1).
Input WithExtra(const Input& input, const std::vector<uint64_t>& extra) {
  Input out = input;
  const size_t n = input.choices.size();
  for (size_t i = 0; i < n; ++i) out.choices[i].votes += extra[i];
  out.against_all += extra[n];
  out.invalid += extra[n + 1];
  return out;
}

std::string Describe(const Input& input, uint64_t outstanding) {
  std::string text =
      absl::StrCat(MethodName(input.method), " seats ", input.seats, " votes");
  for (const ChoiceVotes& c : input.choices)
    absl::StrAppend(&text, " ", c.votes);
  absl::StrAppend(&text, " aa ", input.against_all, " inv ", input.invalid,
                  " thr ", input.threshold.ToString(), " base ",
                  static_cast<int>(input.threshold_base), " O ", outstanding);
  return text;
}

// --- Exactness at zero and hand-checked examples ---------------------------

TEST(SeatBoundsTest, NothingOutstandingGivesTheAllocationExactly) {
  std::mt19937_64 rng(7);
  auto uniform = [&rng](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  for (Method method : kAllMethods) {
    for (int round = 0; round < 40; ++round) {
      std::vector<uint64_t> votes(uniform(1, 6));
      for (uint64_t& v : votes) v = uniform(0, 5000);
      const uint32_t seats =
          SingleWinner(method) ? 1 : static_cast<uint32_t>(uniform(1, 30));
      const Input input =
          MakeInput(method, seats, votes, uniform(0, 800), uniform(0, 300),
                    Rational{uniform(0, 10), 100}, VoteBase::kBallotsCast);
      const std::vector<uint32_t> seats_now = SeatsOf(input);
      const std::vector<SeatRange> ranges = Bounds(input, 0);
      ASSERT_EQ(ranges.size(), seats_now.size());
      for (size_t i = 0; i < ranges.size(); ++i) {
        EXPECT_EQ(ranges[i].min, seats_now[i]) << Describe(input, 0);
        EXPECT_EQ(ranges[i].max, seats_now[i]) << Describe(input, 0);
      }
    }
  }
}

TEST(SeatBoundsTest, PluralityOvertakingAndTheTieRule) {
  const Input input = MakeInput(Method::kPlurality, 1, {100, 90});
  // b reaches 95: cannot catch up.
  EXPECT_THAT(Text(Bounds(input, 5)), ::testing::ElementsAre("[1,1]", "[0,0]"));
  // b reaches 100: an exact tie, which the lowest id ("a") wins.
  EXPECT_THAT(Text(Bounds(input, 10)),
              ::testing::ElementsAre("[1,1]", "[0,0]"));
  EXPECT_THAT(Text(Bounds(input, 11)),
              ::testing::ElementsAre("[0,1]", "[0,1]"));
}

TEST(SeatBoundsTest, PluralityAgainstAllCanPrevail) {
  const Input input = MakeInput(Method::kPlurality, 1, {100, 50}, 95);
  EXPECT_THAT(Text(Bounds(input, 5)), ::testing::ElementsAre("[1,1]", "[0,0]"));
  // 101 against all beats a's 100: nobody is elected.
  EXPECT_THAT(Text(Bounds(input, 6)), ::testing::ElementsAre("[0,1]", "[0,0]"));
}

TEST(SeatBoundsTest, AbsoluteMajorityOverBallotsCast) {
  const Input input = MakeInput(Method::kAbsoluteMajority, 1, {60, 40}, 0, 0,
                                {0, 1}, VoteBase::kBallotsCast);
  // 2 * 60 = 120 > 100 + 19 ballots: a keeps its majority.
  EXPECT_THAT(Text(Bounds(input, 19)),
              ::testing::ElementsAre("[1,1]", "[0,0]"));
  EXPECT_THAT(Text(Bounds(input, 20)),
              ::testing::ElementsAre("[0,1]", "[0,0]"));
  // b needs 2 (40 + x) > 100 + x: x = 21.
  EXPECT_THAT(Text(Bounds(input, 21)),
              ::testing::ElementsAre("[0,1]", "[0,1]"));
  // A lone candidate measured against list votes cannot lose.
  const Input alone = MakeInput(Method::kAbsoluteMajority, 1, {10});
  EXPECT_THAT(Text(Bounds(alone, 1000)), ::testing::ElementsAre("[1,1]"));
}

TEST(SeatBoundsTest, DHondtQuotientsAndTieByVotes) {
  const Input input = MakeInput(Method::kDHondt, 2, {600, 400});
  EXPECT_THAT(SeatsOf(input), ::testing::ElementsAre(1, 1));
  EXPECT_THAT(Text(Bounds(input, 199)),
              ::testing::ElementsAre("[1,1]", "[1,1]"));
  // a at 800: its second quotient 400 ties b's first and wins by votes.
  EXPECT_THAT(Text(Bounds(input, 200)),
              ::testing::ElementsAre("[1,2]", "[0,1]"));
  // b at 1199: a's 600 still beats b's second quotient 599.5.
  EXPECT_THAT(Text(Bounds(input, 799)),
              ::testing::ElementsAre("[1,2]", "[0,1]"));
  // b at 1200: its second quotient 600 ties a's first and wins by votes.
  EXPECT_THAT(Text(Bounds(input, 800)),
              ::testing::ElementsAre("[0,2]", "[0,2]"));
}

TEST(SeatBoundsTest, DHondtManyQuotientsFromNothing) {
  // The rivals must win all 10 seats with quotients of at least 100: 1000
  // votes, however split (a rival's tie with a's 100 goes to more votes).
  const Input input = MakeInput(Method::kDHondt, 10, {100, 0, 0});
  EXPECT_THAT(Text(Bounds(input, 999)),
              ::testing::ElementsAre("[1,10]", "[0,9]", "[0,9]"));
  EXPECT_THAT(Text(Bounds(input, 1000)),
              ::testing::ElementsAre("[0,10]", "[0,10]", "[0,10]"));
  EXPECT_THAT(SeatsOf(WithExtra(input, {0, 1000, 0, 0, 0})),
              ::testing::ElementsAre(0, 10, 0));
}

TEST(SeatBoundsTest, DHondtThresholdPushOut) {
  // 50 of 1000 ballots is exactly 5%: c passes and wins the tied seats.
  const Input input = MakeInput(Method::kDHondt, 20, {500, 450, 50}, 0, 0,
                                {5, 100}, VoteBase::kBallotsCast);
  EXPECT_THAT(SeatsOf(input), ::testing::ElementsAre(10, 9, 1));
  const std::vector<SeatRange> one = Bounds(input, 1);
  ASSERT_EQ(one.size(), 3u);
  // One invalid ballot more pushes c under 5%; all to c still wins one.
  EXPECT_EQ(one[2].min, 0u);
  EXPECT_EQ(one[2].max, 1u);
  EXPECT_EQ(SeatsOf(WithExtra(input, {0, 0, 0, 0, 1}))[2], 0u);
}

TEST(SeatBoundsTest, HareQuotaArithmetic) {
  // Quotas 6, 3, 1 now; 100 more ballots. a keeps floor(600*10/1100) = 5
  // and its quotient cannot pass 700*10/1100 = 6.36, whose remainder seat
  // the others' claims rule out: [5,6]. c's quotient never drops below
  // 0.909 (remainder .909) and a and b together cannot both have larger
  // remainders: c keeps its seat. b: floor(3000/1100) = 2 up to
  // ceil(4000/1100) = 4.
  const Input input = MakeInput(Method::kHare, 10, {600, 300, 100});
  EXPECT_THAT(SeatsOf(input), ::testing::ElementsAre(6, 3, 1));
  EXPECT_THAT(Text(Bounds(input, 100)),
              ::testing::ElementsAre("[5,6]", "[2,4]", "[1,2]"));
  // Each end is reached: all to c gives a 5 seats, all to b gives b 4,
  // all to c gives c 2 (V = 1100: 5.45, 2.73, 1.82).
  EXPECT_THAT(SeatsOf(WithExtra(input, {0, 0, 100, 0, 0})),
              ::testing::ElementsAre(5, 3, 2));
  EXPECT_THAT(SeatsOf(WithExtra(input, {0, 100, 0, 0, 0})),
              ::testing::ElementsAre(5, 4, 1));
}

TEST(SeatBoundsTest, BeyondTheVoteLimitTheRangeIsTrivial) {
  const Input input =
      MakeInput(Method::kDHondt, 5, {uint64_t{1} << 39, uint64_t{1} << 38});
  EXPECT_THAT(Text(Bounds(input, uint64_t{1} << 40)),
              ::testing::ElementsAre("[0,5]", "[0,5]"));
}

TEST(SeatBoundsTest, InvalidInputIsAnError) {
  Input input = MakeInput(Method::kHare, 0, {1, 2});
  EXPECT_EQ(SeatBounds(input, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  input = MakeInput(Method::kPlurality, 2, {1, 2});
  EXPECT_EQ(SeatBounds(input, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// --- Randomized soundness ---------------------------------------------------

class Random {
 public:
  explicit Random(uint64_t seed) : rng_(seed) {}
  uint64_t Uniform(uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_);
  }
  std::mt19937_64& engine() { return rng_; }

 private:
  std::mt19937_64 rng_;
};

Input RandomInput(Random& r, uint64_t scale) {
  const Method method = kAllMethods[r.Uniform(0, 6)];
  std::vector<uint64_t> votes(r.Uniform(1, 6));
  for (uint64_t& v : votes) v = r.Uniform(0, 3) == 0 ? 0 : r.Uniform(0, scale);
  static constexpr Rational kThresholds[] = {{0, 1}, {0, 1}, {5, 100}, {1, 10},
                                             {1, 4}, {1, 3}, {1, 1}};
  static constexpr VoteBase kBases[] = {
      VoteBase::kListVotes, VoteBase::kValidVotes, VoteBase::kBallotsCast};
  const uint32_t seats =
      SingleWinner(method) ? 1 : static_cast<uint32_t>(r.Uniform(1, 12));
  Input input = MakeInput(method, seats, votes, r.Uniform(0, scale / 4),
                          r.Uniform(0, scale / 8), kThresholds[r.Uniform(0, 6)],
                          kBases[r.Uniform(0, 2)]);
  input.majority_base = kBases[r.Uniform(0, 2)];
  input.tie_rule = r.Uniform(0, 1) == 0 ? TieRule::kLot : TieRule::kLowestId;
  input.tie_seed = "seed";
  return input;
}

// A way to spread at most `outstanding` ballots over n + 2 places.
std::vector<uint64_t> RandomSpread(Random& r, size_t places,
                                   uint64_t outstanding) {
  std::vector<uint64_t> extra(places, 0);
  switch (r.Uniform(0, 3)) {
    case 0: {  // everything to one place
      extra[r.Uniform(0, places - 1)] = outstanding;
      break;
    }
    case 1: {  // split between two places
      const uint64_t part = r.Uniform(0, outstanding);
      extra[r.Uniform(0, places - 1)] += part;
      extra[r.Uniform(0, places - 1)] += outstanding - part;
      break;
    }
    default: {  // random composition of a random total
      const uint64_t total =
          r.Uniform(0, 1) == 0 ? outstanding : r.Uniform(0, outstanding);
      std::vector<uint64_t> cuts = {0, total};
      for (size_t i = 0; i + 1 < places; ++i)
        cuts.push_back(r.Uniform(0, total));
      std::sort(cuts.begin(), cuts.end());
      std::shuffle(extra.begin(), extra.end(), r.engine());
      for (size_t i = 0; i < places; ++i) extra[i] = cuts[i + 1] - cuts[i];
      break;
    }
  }
  return extra;
}

TEST(SeatBoundsRandomTest, SampledOutcomesLieWithinTheBounds) {
  Random r(20230319);
  int checked = 0;
  for (int round = 0; round < 400; ++round) {
    const uint64_t scale = round % 3 == 0 ? 20 : round % 3 == 1 ? 300 : 5000;
    const Input input = RandomInput(r, scale);
    uint64_t total = input.against_all + input.invalid;
    for (const ChoiceVotes& c : input.choices) total += c.votes;
    const uint64_t outstanding =
        r.Uniform(0, 2) == 0 ? r.Uniform(1, 5) : r.Uniform(1, total + 10);
    const std::vector<SeatRange> ranges = Bounds(input, outstanding);
    const std::vector<uint32_t> now = SeatsOf(input);
    const size_t n = input.choices.size();
    ASSERT_EQ(ranges.size(), n);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_LE(ranges[i].min, now[i]) << Describe(input, outstanding);
      ASSERT_GE(ranges[i].max, now[i]) << Describe(input, outstanding);
      ASSERT_LE(ranges[i].max, input.seats);
    }

    // Everything to each single place, then random spreads.
    std::vector<std::vector<uint64_t>> spreads;
    for (size_t place = 0; place < n + 2; ++place) {
      std::vector<uint64_t> extra(n + 2, 0);
      extra[place] = outstanding;
      spreads.push_back(std::move(extra));
    }
    for (int s = 0; s < 150; ++s)
      spreads.push_back(RandomSpread(r, n + 2, outstanding));

    for (const std::vector<uint64_t>& extra : spreads) {
      const std::vector<uint32_t> seats = SeatsOf(WithExtra(input, extra));
      for (size_t i = 0; i < n; ++i) {
        ASSERT_GE(seats[i], ranges[i].min)
            << Describe(input, outstanding) << " choice " << i;
        ASSERT_LE(seats[i], ranges[i].max)
            << Describe(input, outstanding) << " choice " << i;
      }
      ++checked;
    }
    // Where the bound is exact by construction, it is attained.
    for (size_t i = 0; i < n; ++i) {
      if (Divisor(input.method) || SingleWinner(input.method)) {
        EXPECT_EQ(ranges[i].max, SeatsOf(WithExtra(input, spreads[i]))[i])
            << Describe(input, outstanding) << " choice " << i;
      }
    }
  }
  EXPECT_GT(checked, 50000);
}

// Every outcome of a small case, enumerated: the bounds contain the true
// range, and equal it where the method's bound is exact.
void ForEachSpread(size_t places, uint64_t left, std::vector<uint64_t>* extra,
                   size_t at, const std::function<void()>& visit) {
  if (at == places) {
    visit();
    return;
  }
  for (uint64_t x = 0; x <= left; ++x) {
    (*extra)[at] = x;
    ForEachSpread(places, left - x, extra, at + 1, visit);
  }
  (*extra)[at] = 0;
}

TEST(SeatBoundsRandomTest, ExhaustiveSmallCases) {
  Random r(42);
  for (int round = 0; round < 300; ++round) {
    Input input = RandomInput(r, 12);
    input.choices.resize(std::min<size_t>(input.choices.size(), 3));
    if (!SingleWinner(input.method)) {
      input.seats = static_cast<uint32_t>(r.Uniform(1, 4));
    }
    const uint64_t outstanding = r.Uniform(1, 5);
    const size_t n = input.choices.size();
    const std::vector<SeatRange> ranges = Bounds(input, outstanding);
    ASSERT_EQ(ranges.size(), n);
    std::vector<uint32_t> lo(n, UINT32_MAX), hi(n, 0);
    std::vector<uint64_t> extra(n + 2, 0);
    ForEachSpread(n + 2, outstanding, &extra, 0, [&] {
      const std::vector<uint32_t> seats = SeatsOf(WithExtra(input, extra));
      for (size_t i = 0; i < n; ++i) {
        lo[i] = std::min(lo[i], seats[i]);
        hi[i] = std::max(hi[i], seats[i]);
      }
    });
    for (size_t i = 0; i < n; ++i) {
      const std::string where =
          absl::StrCat(Describe(input, outstanding), " choice ", i);
      ASSERT_LE(ranges[i].min, lo[i]) << where;
      ASSERT_GE(ranges[i].max, hi[i]) << where;
      if (SingleWinner(input.method)) {
        EXPECT_EQ(ranges[i].min, lo[i]) << where;
      }
      if (SingleWinner(input.method) || Divisor(input.method)) {
        EXPECT_EQ(ranges[i].max, hi[i]) << where;
      }
    }
  }
}

// Divisor methods without a threshold: the worst case for p gives p
// nothing and splits every outstanding ballot between the two rivals, so
// the true minimum is found by trying every split.
uint32_t WorstSplit(const Input& input, size_t p, uint64_t outstanding) {
  const size_t first = (p + 1) % 3, second = (p + 2) % 3;
  uint32_t worst = UINT32_MAX;
  for (uint64_t x = 0; x <= outstanding; ++x) {
    std::vector<uint64_t> extra(5, 0);
    extra[first] = x;
    extra[second] = outstanding - x;
    worst = std::min(worst, SeatsOf(WithExtra(input, extra))[p]);
  }
  return worst;
}

Input RandomDivisorInput(Random& r, int round) {
  static constexpr Method kDivisors[] = {Method::kDHondt, Method::kSainteLague,
                                         Method::kModifiedSainteLague};
  std::vector<uint64_t> votes(3);
  for (uint64_t& v : votes) v = r.Uniform(0, 3) == 0 ? 0 : r.Uniform(0, 500);
  return MakeInput(kDivisors[round % 3],
                   static_cast<uint32_t>(r.Uniform(1, 10)), votes);
}

// The bound never exceeds the true minimum, and the relaxation (ties and
// sub-vote rounding) costs a seat only rarely.
TEST(SeatBoundsRandomTest, DivisorMinAgainstEveryRivalSplit) {
  Random r(1403);
  int cases = 0, loose = 0;
  for (int round = 0; round < 90; ++round) {
    const Input input = RandomDivisorInput(r, round);
    const uint64_t outstanding = r.Uniform(1, 300);
    const std::vector<SeatRange> ranges = Bounds(input, outstanding);
    ASSERT_EQ(ranges.size(), 3u);
    for (size_t p = 0; p < 3; ++p) {
      const uint32_t worst = WorstSplit(input, p, outstanding);
      ASSERT_LE(ranges[p].min, worst)
          << Describe(input, outstanding) << " choice " << p;
      ++cases;
      if (ranges[p].min < worst) ++loose;
    }
  }
  EXPECT_LE(loose * 20, cases) << loose << " of " << cases << " loose";
}

// At the smallest outstanding count that can cost p a seat (found by
// bisection: the true minimum only falls as more ballots are outstanding),
// the bound has dropped, and it dropped at most a ballot per rival earlier.
TEST(SeatBoundsRandomTest, DivisorMinAtTheCriticalOutstandingCount) {
  Random r(2024);
  int cases = 0, early = 0;
  uint64_t max_early = 0;
  for (int round = 0; round < 45; ++round) {
    const Input input = RandomDivisorInput(r, round);
    const uint32_t now = SeatsOf(input)[0];
    constexpr uint64_t kLimit = 500;
    if (now == 0 || WorstSplit(input, 0, kLimit) == now) continue;
    uint64_t lo = 0, hi = kLimit;  // worst(lo) == now > worst(hi)
    while (hi - lo > 1) {
      const uint64_t mid = lo + (hi - lo) / 2;
      (WorstSplit(input, 0, mid) < now ? hi : lo) = mid;
    }
    const uint32_t worst = WorstSplit(input, 0, hi);
    EXPECT_LE(Bounds(input, hi)[0].min, worst) << Describe(input, hi);
    ++cases;
    // The first count at which the bound drops (it only falls as well).
    uint64_t bound_lo = 0, bound_hi = hi;
    while (bound_hi - bound_lo > 1) {
      const uint64_t mid = bound_lo + (bound_hi - bound_lo) / 2;
      (Bounds(input, mid)[0].min < now ? bound_hi : bound_lo) = mid;
    }
    max_early = std::max(max_early, hi - bound_hi);
    if (bound_hi < hi) ++early;
  }
  EXPECT_GE(cases, 20);
  // Real-valued costs save the adversary less than a vote per rival.
  EXPECT_LE(max_early, 2u) << early << " of " << cases << " early";
}

// A national-scale list election: bounds stay sound and become informative
// as the outstanding share shrinks.
TEST(SeatBoundsRandomTest, NationalScaleListElection) {
  const std::vector<uint64_t> votes = {3'400'000, 600'000, 500'000, 470'000,
                                       360'000,   280'000, 130'000};
  Random r(69);
  for (Method method : {Method::kHare, Method::kDroop, Method::kDHondt,
                        Method::kSainteLague, Method::kModifiedSainteLague}) {
    const Input input = MakeInput(method, 69, votes, 190'000, 110'000, {5, 100},
                                  VoteBase::kBallotsCast);
    const std::vector<uint32_t> now = SeatsOf(input);
    uint32_t previous_width = UINT32_MAX;
    for (uint64_t outstanding : {6'000'000, 600'000, 60'000, 6'000, 60}) {
      const std::vector<SeatRange> ranges = Bounds(input, outstanding);
      uint32_t width = 0;
      for (size_t i = 0; i < votes.size(); ++i) {
        ASSERT_LE(ranges[i].min, now[i]);
        ASSERT_GE(ranges[i].max, now[i]);
        width += ranges[i].max - ranges[i].min;
      }
      EXPECT_LE(width, previous_width)
          << MethodName(method) << " " << outstanding;
      previous_width = width;
      for (int s = 0; s < 30; ++s) {
        const std::vector<uint32_t> seats = SeatsOf(
            WithExtra(input, RandomSpread(r, votes.size() + 2, outstanding)));
        for (size_t i = 0; i < votes.size(); ++i) {
          ASSERT_GE(seats[i], ranges[i].min) << MethodName(method);
          ASSERT_LE(seats[i], ranges[i].max) << MethodName(method);
        }
      }
    }
    // 60 ballots among 6 million cannot move more than a seat or two.
    EXPECT_LE(previous_width, 2u * votes.size()) << MethodName(method);
    // The leader keeps a majority of the seats whatever 60 ballots do.
    EXPECT_GE(Bounds(input, 60)[0].min, 35u) << MethodName(method);
  }
}

}  // namespace
}  // namespace tally::seats

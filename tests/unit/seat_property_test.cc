// Randomised properties of seat allocation, checked against references
// written independently of the library: thousands of seeded inputs per
// method (party counts 1..12, seats 1..200, votes 0..10^6 with skewed,
// many-equal and tiny profiles, thresholds 0..10% on every base).
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/domain/seat_allocation.h"

namespace tally::seats {
namespace {

using u128 = unsigned __int128;

constexpr int kCasesPerMethod = 3000;
// Every kMarginEvery-th allocated case also checks the last-seat margin.
constexpr int kMarginEvery = 15;

uint64_t Fnv(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t Uniform(std::mt19937_64& rng, uint64_t lo, uint64_t hi) {
  return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
}

std::vector<uint64_t> RandomVotes(std::mt19937_64& rng, size_t parties) {
  std::vector<uint64_t> votes(parties);
  switch (Uniform(rng, 0, 4)) {
    case 0:  // uniform
      for (uint64_t& v : votes) v = Uniform(rng, 0, 1000000);
      break;
    case 1: {  // one dominant list, a tail of small ones
      for (uint64_t& v : votes) v = Uniform(rng, 0, 20000);
      votes[Uniform(rng, 0, parties - 1)] = Uniform(rng, 200000, 1000000);
      break;
    }
    case 2: {  // many equal counts: exact ties everywhere
      const uint64_t unit = Uniform(rng, 1, 100000);
      for (uint64_t& v : votes) v = unit * Uniform(rng, 0, 3);
      break;
    }
    case 3:  // tiny counts: more seats than votes, Droop's corner
      for (uint64_t& v : votes) v = Uniform(rng, 0, 12);
      break;
    default:  // geometric
      for (size_t i = 0; i < parties; ++i) {
        votes[i] =
            (uint64_t{1000000} >> std::min<size_t>(i, 19)) + Uniform(rng, 0, 3);
      }
      break;
  }
  return votes;
}

Input RandomInput(std::mt19937_64& rng, Method method, int case_number) {
  Input input;
  input.method = method;
  input.seats = static_cast<uint32_t>(Uniform(rng, 1, 200));
  const size_t parties = Uniform(rng, 1, 12);
  const std::vector<uint64_t> votes = RandomVotes(rng, parties);
  for (size_t i = 0; i < parties; ++i) {
    input.choices.push_back({absl::StrCat("p", i), votes[i]});
  }
  input.against_all = Uniform(rng, 0, 3) == 0 ? 0 : Uniform(rng, 0, 100000);
  input.invalid = Uniform(rng, 0, 3) == 0 ? 0 : Uniform(rng, 0, 50000);
  if (Uniform(rng, 0, 2) != 0) {
    input.threshold = {Uniform(rng, 0, 100), 1000};  // 0% .. 10%
  }
  input.threshold_base = static_cast<VoteBase>(Uniform(rng, 0, 2));
  input.tie_rule = Uniform(rng, 0, 1) == 0 ? TieRule::kLot : TieRule::kLowestId;
  input.tie_seed = absl::StrCat("seed-", case_number % 7);
  input.compute_margin = false;
  return input;
}

// --- Independent reference pieces.

uint64_t ListVotes(const Input& input) {
  uint64_t sum = 0;
  for (const ChoiceVotes& c : input.choices) sum += c.votes;
  return sum;
}

uint64_t ThresholdBase(const Input& input) {
  uint64_t base = ListVotes(input);
  if (input.threshold_base != VoteBase::kListVotes) base += input.against_all;
  if (input.threshold_base == VoteBase::kBallotsCast) base += input.invalid;
  return base;
}

bool Passes(const Input& input, uint64_t votes) {
  return u128{votes} * input.threshold.den >=
         u128{input.threshold.num} * ThresholdBase(input);
}

// The documented tie order: more votes, then the rule.
bool WinsTie(const Input& input, const ChoiceVotes& a, const ChoiceVotes& b) {
  if (a.votes != b.votes) return a.votes > b.votes;
  if (input.tie_rule == TieRule::kLot) {
    const uint64_t ha = Fnv(input.tie_seed + ":" + a.id);
    const uint64_t hb = Fnv(input.tie_seed + ":" + b.id);
    if (ha != hb) return ha < hb;
  }
  return a.id < b.id;
}

// Highest averages by brute force: every quotient v / d(k), k < S, of every
// passing choice, sorted, the best S taken. Divisors scaled by 5 so that
// modified Sainte-Lague's 1.4 is the integer 7.
std::vector<uint32_t> DivisorReference(const Input& input) {
  struct Q {
    uint64_t num;
    uint64_t den;
    size_t party;
  };
  std::vector<Q> all;
  for (size_t p = 0; p < input.choices.size(); ++p) {
    const uint64_t v = input.choices[p].votes;
    if (!Passes(input, v)) continue;
    for (uint64_t k = 0; k < input.seats; ++k) {
      uint64_t den = 0;
      switch (input.method) {
        case Method::kDHondt:
          den = 5 * (k + 1);
          break;
        case Method::kSainteLague:
          den = 5 * (2 * k + 1);
          break;
        default:
          den = k == 0 ? 7 : 5 * (2 * k + 1);
          break;
      }
      all.push_back({5 * v, den, p});
    }
  }
  std::sort(all.begin(), all.end(), [&](const Q& a, const Q& b) {
    const u128 l = u128{a.num} * b.den;
    const u128 r = u128{b.num} * a.den;
    if (l != r) return l > r;
    if (a.party == b.party) return a.den < b.den;
    return WinsTie(input, input.choices[a.party], input.choices[b.party]);
  });
  std::vector<uint32_t> seats(input.choices.size(), 0);
  for (size_t i = 0; i < input.seats && i < all.size(); ++i) {
    ++seats[all[i].party];
  }
  return seats;
}

Result MustAllocate(const Input& input) {
  absl::StatusOr<Result> result = Allocate(input);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : Result{};
}

std::string Describe(const Input& input) {
  std::string out =
      MethodName(input.method) + " seats=" + std::to_string(input.seats) +
      " threshold=" + input.threshold.ToString() +
      " base=" + std::to_string(static_cast<int>(input.threshold_base)) +
      " against=" + std::to_string(input.against_all) +
      " invalid=" + std::to_string(input.invalid) + " votes:";
  for (const ChoiceVotes& c : input.choices) {
    out += " " + c.id + "=" + std::to_string(c.votes);
  }
  return out;
}

// --- Property checks.

void CheckStatusAndThreshold(const Input& input, const Result& result) {
  uint64_t passing_with_votes = 0;
  for (const ChoiceVotes& c : input.choices) {
    if (c.votes > 0 && Passes(input, c.votes)) ++passing_with_votes;
  }
  const Status expected = ListVotes(input) == 0     ? Status::kNoVotes
                          : passing_with_votes == 0 ? Status::kNoListPassed
                                                    : Status::kAllocated;
  ASSERT_EQ(result.status, expected);
  EXPECT_EQ(result.threshold_base_votes, ThresholdBase(input));
  // threshold_votes is the smallest passing count.
  EXPECT_TRUE(Passes(input, result.threshold_votes));
  if (result.threshold_votes > 0) {
    EXPECT_FALSE(Passes(input, result.threshold_votes - 1));
  }
  uint64_t total = 0;
  for (size_t i = 0; i < input.choices.size(); ++i) {
    const ChoiceResult& c = result.choices[i];
    EXPECT_EQ(c.id, input.choices[i].id);
    total += c.seats;
    if (expected != Status::kNoVotes) {
      EXPECT_EQ(c.passed_threshold, Passes(input, c.votes)) << c.id;
    }
    if (!c.passed_threshold) {
      EXPECT_EQ(c.seats, 0u) << c.id;
    }
  }
  EXPECT_EQ(total, expected == Status::kAllocated ? input.seats : 0u);
}

void CheckLargestRemainder(const Input& input, const Result& result) {
  uint64_t total = 0;  // V: votes of passing choices
  uint64_t with_votes = 0;
  for (const ChoiceVotes& c : input.choices) {
    if (!Passes(input, c.votes)) continue;
    total += c.votes;
    if (c.votes > 0) ++with_votes;
  }
  const uint64_t s = input.seats;
  const uint64_t droop = total / (s + 1) + 1;
  uint64_t floors = 0;
  for (const ChoiceVotes& c : input.choices) {
    if (Passes(input, c.votes)) {
      floors += input.method == Method::kHare
                    ? static_cast<uint64_t>(u128{c.votes} * s / total)
                    : c.votes / droop;
    }
  }
  for (size_t i = 0; i < input.choices.size(); ++i) {
    const uint64_t v = input.choices[i].votes;
    const uint32_t seats = result.choices[i].seats;
    if (!Passes(input, v)) continue;
    if (v == 0) {
      EXPECT_EQ(seats, 0u);
    }
    if (input.method == Method::kHare) {
      // Quota rule: floor or ceiling of the exact share.
      const u128 exact = u128{v} * s;
      EXPECT_GE(seats, static_cast<uint64_t>(exact / total));
      EXPECT_LE(seats, static_cast<uint64_t>((exact + total - 1) / total));
    } else {
      EXPECT_GE(seats, v / droop);
      // Only one remainder seat each unless the Droop floors leave more
      // seats than there are choices with votes.
      if (s - floors <= with_votes) {
        EXPECT_LE(seats, v / droop + 1);
      }
    }
  }
  if (input.method == Method::kHare) {
    EXPECT_EQ(result.quota, (Rational{total, s}));
  } else {
    EXPECT_EQ(result.quota, (Rational{droop, 1}));
  }
}

void CheckDivisor(const Input& input, const Result& result) {
  const std::vector<uint32_t> reference = DivisorReference(input);
  for (size_t i = 0; i < input.choices.size(); ++i) {
    EXPECT_EQ(result.choices[i].seats, reference[i]) << input.choices[i].id;
  }
  // House monotone: one more seat never costs anyone a seat.
  Input bigger = input;
  ++bigger.seats;
  const Result more = MustAllocate(bigger);
  uint64_t gained = 0;
  for (size_t i = 0; i < input.choices.size(); ++i) {
    EXPECT_GE(more.choices[i].seats, result.choices[i].seats)
        << input.choices[i].id;
    gained += more.choices[i].seats - result.choices[i].seats;
  }
  EXPECT_EQ(gained, 1u);
  // The seat S+1 goes to the reported runner-up, unless that choice would
  // hold every seat (then the runner-up is someone else).
  ASSERT_TRUE(result.last_seat.has_value());
  for (size_t i = 0; i < input.choices.size(); ++i) {
    if (more.choices[i].seats > result.choices[i].seats &&
        result.choices[i].seats < input.seats) {
      EXPECT_EQ(result.last_seat->runner_up, input.choices[i].id);
    }
  }
}

void CheckOrderIndependence(const Input& input, const Result& result,
                            std::mt19937_64& rng) {
  Input shuffled = input;
  std::shuffle(shuffled.choices.begin(), shuffled.choices.end(), rng);
  const Result other = MustAllocate(shuffled);
  EXPECT_EQ(other.status, result.status);
  EXPECT_EQ(other.quota, result.quota);
  for (const ChoiceResult& c : result.choices) {
    EXPECT_EQ(other.SeatsOf(c.id), c.seats) << c.id;
  }
  EXPECT_EQ(other.last_seat.has_value(), result.last_seat.has_value());
  if (other.last_seat.has_value() && result.last_seat.has_value()) {
    EXPECT_EQ(other.last_seat->winner, result.last_seat->winner);
    EXPECT_EQ(other.last_seat->runner_up, result.last_seat->runner_up);
  }
  EXPECT_EQ(other.tie_breaks, result.tie_breaks);
}

uint32_t SeatsWithExtra(const Input& input, const std::string& id,
                        uint64_t extra) {
  Input changed = input;
  changed.compute_margin = false;
  for (ChoiceVotes& c : changed.choices) {
    if (c.id == id) c.votes += extra;
  }
  return MustAllocate(changed).SeatsOf(id);
}

// Returns true when a margin was checked.
bool CheckMargin(const Input& input) {
  Input with_margin = input;
  with_margin.compute_margin = true;
  const Result result = MustAllocate(with_margin);
  if (!result.last_seat.has_value() || result.last_seat->runner_up.empty()) {
    return false;
  }
  const std::string& who = result.last_seat->runner_up;
  const uint64_t margin = result.last_seat->margin_votes;
  EXPECT_GT(margin, 0u);
  if (margin == 0) return false;
  const uint32_t held = result.SeatsOf(who);
  EXPECT_EQ(SeatsWithExtra(input, who, margin - 1), held) << who;
  EXPECT_GT(SeatsWithExtra(input, who, margin), held) << who;
  return true;
}

class ListMethodProperties : public ::testing::TestWithParam<Method> {};

TEST_P(ListMethodProperties, HoldForSeededRandomInputs) {
  const Method method = GetParam();
  std::mt19937_64 rng(0x5ea7 + static_cast<uint64_t>(method));
  int allocated = 0;
  int margins = 0;
  for (int n = 0; n < kCasesPerMethod; ++n) {
    const Input input = RandomInput(rng, method, n);
    SCOPED_TRACE(Describe(input));
    const Result result = MustAllocate(input);
    ASSERT_NO_FATAL_FAILURE(CheckStatusAndThreshold(input, result));
    CheckOrderIndependence(input, result, rng);
    if (result.status != Status::kAllocated) continue;
    ++allocated;
    if (method == Method::kHare || method == Method::kDroop) {
      CheckLargestRemainder(input, result);
    } else {
      CheckDivisor(input, result);
    }
    if (allocated % kMarginEvery == 0 && CheckMargin(input)) ++margins;
    if (::testing::Test::HasFailure()) break;  // one readable trace
  }
  // The generator must exercise the interesting paths.
  EXPECT_GT(allocated, kCasesPerMethod / 2);
  EXPECT_GT(margins, kCasesPerMethod / kMarginEvery / 3);
}

INSTANTIATE_TEST_SUITE_P(
    AllListMethods, ListMethodProperties,
    ::testing::Values(Method::kHare, Method::kDroop, Method::kDHondt,
                      Method::kSainteLague, Method::kModifiedSainteLague),
    [](const ::testing::TestParamInfo<Method>& info) {
      std::string name = MethodName(info.param);
      name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
      return name;
    });

TEST(ListMethodProperties, LargeDivisorHousesMatchTheReference) {
  // Houses of thousands of seats, where the sequential order matters most.
  std::mt19937_64 rng(5000);
  for (Method method :
       {Method::kDHondt, Method::kSainteLague, Method::kModifiedSainteLague}) {
    for (int n = 0; n < 20; ++n) {
      Input input = RandomInput(rng, method, n);
      input.seats = static_cast<uint32_t>(Uniform(rng, 1000, 5000));
      SCOPED_TRACE(Describe(input));
      const Result result = MustAllocate(input);
      if (result.status != Status::kAllocated) continue;
      const std::vector<uint32_t> reference = DivisorReference(input);
      for (size_t i = 0; i < input.choices.size(); ++i) {
        EXPECT_EQ(result.choices[i].seats, reference[i]);
      }
    }
  }
}

TEST(ListMethodProperties, RandomTiesAreReported) {
  // Equal-vote profiles must produce reported ties; every report names the
  // rule that decided it.
  std::mt19937_64 rng(99);
  int reported = 0;
  for (int n = 0; n < 500; ++n) {
    Input input;
    input.method = static_cast<Method>(Uniform(rng, 0, 4));
    input.seats = static_cast<uint32_t>(Uniform(rng, 1, 20));
    const uint64_t unit = Uniform(rng, 1, 1000);
    const uint64_t count = Uniform(rng, 2, 6);
    for (uint64_t i = 0; i < count; ++i) {
      input.choices.push_back({"c" + std::to_string(i), unit});
    }
    input.tie_rule = n % 2 == 0 ? TieRule::kLot : TieRule::kLowestId;
    input.compute_margin = false;
    const Result result = MustAllocate(input);
    // All choices are equal: a tie decides something exactly when the seats
    // cannot be shared equally.
    const bool split = input.seats % input.choices.size() != 0;
    EXPECT_EQ(result.tie_breaks.size(), split ? 1u : 0u) << Describe(input);
    for (const std::string& note : result.tie_breaks) {
      EXPECT_NE(note.find(input.tie_rule == TieRule::kLot ? "by lot"
                                                          : "by lowest id"),
                std::string::npos)
          << note;
      ++reported;
    }
  }
  EXPECT_GT(reported, 100);
}

TEST(SingleWinnerProperties, HoldForSeededRandomInputs) {
  std::mt19937_64 rng(4242);
  for (int n = 0; n < 2000; ++n) {
    Input input = RandomInput(
        rng, n % 2 == 0 ? Method::kPlurality : Method::kAbsoluteMajority, n);
    input.seats = 1;
    input.majority_base = static_cast<VoteBase>(Uniform(rng, 0, 2));
    SCOPED_TRACE(Describe(input));
    const Result result = MustAllocate(input);
    CheckOrderIndependence(input, result, rng);
    if (ListVotes(input) == 0) {
      EXPECT_EQ(result.status, Status::kNoVotes);
      continue;
    }
    std::vector<size_t> order(input.choices.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return WinsTie(input, input.choices[a], input.choices[b]);
    });
    const ChoiceVotes& top = input.choices[order[0]];
    uint64_t base = ListVotes(input);
    if (input.majority_base != VoteBase::kListVotes) base += input.against_all;
    if (input.majority_base == VoteBase::kBallotsCast) base += input.invalid;
    if (input.method == Method::kPlurality) {
      if (input.against_all > top.votes) {
        EXPECT_EQ(result.status, Status::kAgainstAllPrevailed);
        EXPECT_EQ(result.SeatsOf(top.id), 0u);
      } else {
        EXPECT_EQ(result.status, Status::kAllocated);
        EXPECT_EQ(result.SeatsOf(top.id), 1u);
      }
    } else if (2 * top.votes > base) {
      EXPECT_EQ(result.status, Status::kAllocated);
      EXPECT_EQ(result.SeatsOf(top.id), 1u);
    } else {
      EXPECT_EQ(result.status, Status::kRunoffRequired);
      ASSERT_GE(result.runoff.size(), 1u);
      EXPECT_EQ(result.runoff[0], top.id);
      if (order.size() > 1) {
        ASSERT_EQ(result.runoff.size(), 2u);
        EXPECT_EQ(result.runoff[1], input.choices[order[1]].id);
      }
    }
    if (result.status == Status::kAllocated && n % 5 == 0) CheckMargin(input);
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace tally::seats

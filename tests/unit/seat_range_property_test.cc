// Soundness of the published seat ranges, through the real path: protocols
// accepted by ValidateProtocol, summed by TotalsBook, published by
// PublishedAllocation. For every method, thousands of seeded cases: a random
// small election (2..7 stations of 1..60 registered voters, sometimes
// hundreds; same-day additions of 0..100%; a random threshold and bases;
// "against all" on the ballot or not; a national or a district contest), a
// random set of stations reported with random accepted protocols (their
// registered lines anywhere validation allows, above the register too),
// then completions of the stations still to report:
//  - at the edge of what validation accepts: every station at its cap, all
//    ballots to one choice (each in turn), to against all, or invalid;
//  - nobody votes;
//  - random completions (random amounts up to the cap, split at random);
//  - when a ballot-bounding rule is ANOMALY, floods far beyond the cap that
//    break only that rule.
// The final seats of each completion must lie within the ranges published
// before it. Deterministic: fixed seeds.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/domain/contest_allocation.h"
#include "services/domain/election_index.h"
#include "services/domain/protocol_validation.h"
#include "services/domain/totals_book.h"
#include "tests/support/mini_election.h"

namespace tally {
namespace {

constexpr int kCasesPerMethod = 4000;
// Random completions per case, besides the edges.
constexpr int kRandomCompletions = 4;

uint64_t Uniform(std::mt19937_64& rng, uint64_t lo, uint64_t hi) {
  return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
}

bool IsListMethod(v1::AllocationMethod method) {
  return method != v1::ALLOCATION_METHOD_PLURALITY &&
         method != v1::ALLOCATION_METHOD_ABSOLUTE_MAJORITY;
}

// Where a station's counted ballots go: votes per choice, against all,
// invalid.
struct Ballots {
  std::vector<uint64_t> votes;
  uint64_t against_all = 0;
  uint64_t invalid = 0;

  uint64_t Counted() const {
    uint64_t sum = against_all + invalid;
    for (uint64_t v : votes) sum += v;
    return sum;
  }
};

// The ballot-bounding rule a case sets to ANOMALY, if any.
enum class Unbounded { kNo, kVotesSum, kFoundLeIssued, kIssuedLeRegistered };

struct Case {
  v1::ElectionDefinition definition;
  std::unique_ptr<ElectionIndex> index;
  const v1::Contest* contest = nullptr;
  std::vector<const v1::PollingStation*> stations;  // voting in the contest
  Unbounded unbounded = Unbounded::kNo;
  bool registered_anomaly = false;  // registered_matches is ANOMALY

  size_t choices() const {
    return static_cast<size_t>(contest->choices_size());
  }
  // Validation's cap, written out independently of the library.
  uint64_t Cap(const v1::PollingStation& station) const {
    const uint64_t r = station.registered_voters();
    return r + r * definition.validation().same_day_additions_basis_points() /
                   10000;
  }
};

v1::Severity RandomRejecting(std::mt19937_64& rng) {
  return Uniform(rng, 0, 1) == 0 ? v1::SEVERITY_UNSPECIFIED
                                 : v1::SEVERITY_REJECT;
}

Case MakeCase(std::mt19937_64& rng, v1::AllocationMethod method) {
  testing::MiniLayout layout;
  layout.districts = {{"d-1", "r-north"}, {"d-2", "r-south"}};
  layout.district_contests = false;
  const size_t stations = Uniform(rng, 2, 7);
  const bool large = Uniform(rng, 0, 7) == 0;
  for (size_t i = 0; i < stations; ++i) {
    const bool north = i == 0 || (i != 1 && Uniform(rng, 0, 1) == 0);
    layout.stations.push_back(
        {static_cast<uint32_t>(101 + i), north ? "r-north" : "r-south",
         north ? "d-1" : "d-2", Uniform(rng, 1, large ? 900 : 60)});
  }
  Case c;
  c.definition = testing::MiniElection(layout);
  v1::Contest& contest = *c.definition.mutable_contests(0);
  contest.mutable_rule()->set_method(method);
  contest.mutable_rule()->clear_threshold_percent();
  if (IsListMethod(method)) {
    contest.set_kind(v1::CONTEST_KIND_PARTY_LIST);
    contest.set_seats(static_cast<uint32_t>(Uniform(rng, 1, 9)));
    if (Uniform(rng, 0, 2) != 0) {
      contest.mutable_rule()->set_threshold_percent(
          absl::StrCat(Uniform(rng, 1, 30)));
    }
  } else {
    contest.set_kind(method == v1::ALLOCATION_METHOD_PLURALITY
                         ? v1::CONTEST_KIND_SINGLE_MANDATE
                         : v1::CONTEST_KIND_PRESIDENTIAL_MAJORITY);
    contest.set_seats(1);
  }
  contest.mutable_rule()->set_threshold_base(
      static_cast<v1::VoteBase>(Uniform(rng, 0, 3)));
  contest.mutable_rule()->set_majority_base(
      static_cast<v1::VoteBase>(Uniform(rng, 0, 3)));
  contest.mutable_rule()->set_tie_rule(Uniform(rng, 0, 1) == 0
                                           ? v1::TIE_RULE_LOWEST_ID
                                           : v1::TIE_RULE_UNSPECIFIED);
  contest.mutable_rule()->set_tie_seed(
      absl::StrCat("seed-", Uniform(rng, 0, 9)));
  contest.set_against_all_on_ballot(Uniform(rng, 0, 1) == 0);
  const size_t choices = Uniform(rng, 1, 5);
  while (static_cast<size_t>(contest.choices_size()) > choices) {
    contest.mutable_choices()->RemoveLast();
  }
  for (size_t i = static_cast<size_t>(contest.choices_size()); i < choices;
       ++i) {
    v1::Choice* choice = contest.add_choices();
    choice->set_id(std::string("party-") + static_cast<char>('a' + i));
    choice->set_name(absl::StrCat("Party ", i));
  }
  if (Uniform(rng, 0, 2) == 0) contest.set_district_id("d-1");

  v1::ValidationPolicy& policy = *c.definition.mutable_validation();
  static constexpr uint32_t kBasisPoints[] = {0, 0, 500, 1000, 3333, 10000};
  policy.set_same_day_additions_basis_points(
      kBasisPoints[Uniform(rng, 0, std::size(kBasisPoints) - 1)]);
  policy.set_votes_sum(RandomRejecting(rng));
  policy.set_found_le_issued(RandomRejecting(rng));
  policy.set_issued_le_registered(RandomRejecting(rng));
  // Rules that never bound the counted ballots: ANOMALY at random.
  auto any = [&rng] {
    return Uniform(rng, 0, 2) == 0 ? v1::SEVERITY_ANOMALY
                                   : RandomRejecting(rng);
  };
  policy.set_issued_le_received(any());
  policy.set_unused_balance(any());
  policy.set_registered_matches(any());
  c.registered_anomaly = policy.registered_matches() == v1::SEVERITY_ANOMALY;
  switch (Uniform(rng, 0, 9)) {
    case 0:
      c.unbounded = Unbounded::kVotesSum;
      policy.set_votes_sum(v1::SEVERITY_ANOMALY);
      break;
    case 1:
      c.unbounded = Unbounded::kFoundLeIssued;
      policy.set_found_le_issued(v1::SEVERITY_ANOMALY);
      break;
    case 2:
      c.unbounded = Unbounded::kIssuedLeRegistered;
      policy.set_issued_le_registered(v1::SEVERITY_ANOMALY);
      break;
    default:
      break;
  }

  absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
      ElectionIndex::Build(c.definition);
  EXPECT_TRUE(index.ok()) << index.status();
  if (!index.ok()) return c;
  c.index = *std::move(index);
  c.contest = &c.index->definition().contests(0);
  for (const v1::PollingStation& station : c.index->definition().stations()) {
    if (c.index->StationVotesIn(station, *c.contest)) {
      c.stations.push_back(&station);
    }
  }
  return c;
}

// A protocol of `station` counting `ballots`, accepted by validation: the
// accounting lines as tight as the cap allows. `beyond` marks ballots past
// the cap, which only the case's ANOMALY rule lets through.
v1::StationProtocol Protocol(std::mt19937_64& rng, const Case& c,
                             const v1::PollingStation& station,
                             const Ballots& ballots) {
  v1::StationProtocol protocol;
  protocol.set_contest_id(c.contest->id());
  protocol.set_station_id(station.id());
  protocol.set_version(1);
  for (size_t i = 0; i < c.choices(); ++i) {
    v1::ChoiceVotes* line = protocol.add_votes();
    line->set_choice_id(c.contest->choices(static_cast<int>(i)).id());
    line->set_votes(ballots.votes[i]);
  }
  v1::BallotAccounting& a = *protocol.mutable_accounting();
  a.set_against_all(ballots.against_all);
  a.set_invalid(ballots.invalid);
  const uint64_t counted = ballots.Counted();
  const uint64_t cap = c.Cap(station);
  const uint64_t registered = station.registered_voters();
  uint64_t found = counted;
  uint64_t issued = counted;
  if (counted > cap) {
    switch (c.unbounded) {
      case Unbounded::kVotesSum:  // the box holds fewer than counted
        found = issued = cap;
        break;
      case Unbounded::kFoundLeIssued:  // more found than issued
        issued = cap;
        break;
      default:  // kIssuedLeRegistered: issued past the register
        break;
    }
  } else if (cap > counted && Uniform(rng, 0, 1) == 0) {
    issued = Uniform(rng, counted, cap);  // some issued ballots not found
  }
  // Anywhere in [register, cap] that covers the issued ballots (issued past
  // the cap is issued_le_registered's ANOMALY, with the line still valid).
  uint64_t registered_line = std::max(registered, std::min(issued, cap));
  if (registered_line < cap && Uniform(rng, 0, 1) == 0) {
    registered_line = Uniform(rng, registered_line, cap);
  }
  if (c.registered_anomaly && Uniform(rng, 0, 3) == 0) {
    registered_line = cap + Uniform(rng, 1, 50);  // flagged, accepted
  }
  a.set_registered_voters(registered_line);
  a.set_ballots_found(found);
  a.set_ballots_issued(issued);
  const uint64_t unused = Uniform(rng, 0, 20);
  a.set_ballots_received(issued + unused);
  a.set_unused_cancelled(unused);
  return protocol;
}

// `total` ballots of a station split at random over the places a ballot can
// go (against all only when on the ballot).
Ballots RandomSplit(std::mt19937_64& rng, const Case& c, uint64_t total) {
  Ballots b;
  b.votes.assign(c.choices(), 0);
  const size_t places = c.choices() + 2;
  // A few favoured places take most of the ballots.
  std::vector<uint64_t> weights(places);
  for (uint64_t& w : weights) w = Uniform(rng, 0, 3) == 0 ? 20 : 1;
  if (!c.contest->against_all_on_ballot()) weights[c.choices()] = 0;
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  for (uint64_t i = 0; i < total; ++i) {
    const size_t place = pick(rng);
    if (place < c.choices()) {
      ++b.votes[place];
    } else if (place == c.choices()) {
      ++b.against_all;
    } else {
      ++b.invalid;
    }
  }
  return b;
}

// Every ballot to one place: a choice (< choices), against all, invalid.
Ballots AllTo(const Case& c, size_t place, uint64_t total) {
  Ballots b;
  b.votes.assign(c.choices(), 0);
  if (place < c.choices()) {
    b.votes[place] = total;
  } else if (place == c.choices()) {
    b.against_all = total;
  } else {
    b.invalid = total;
  }
  return b;
}

struct Counted {
  const v1::PollingStation* station;
  v1::StationProtocol protocol;
  bool anomalies;
};

// Validates and applies; the protocol must be accepted.
bool Count(const Case& c, const v1::StationProtocol& protocol,
           TotalsBook* book) {
  const ProtocolVerdict verdict = ValidateProtocol(*c.index, protocol);
  EXPECT_TRUE(verdict.accepted())
      << verdict.status << "\n"
      << protocol.ShortDebugString() << "\npolicy "
      << c.definition.validation().ShortDebugString();
  if (!verdict.accepted()) return false;
  book->Apply(nullptr, false, protocol, verdict.has_anomalies());
  return true;
}

std::string Describe(const Case& c, const v1::SeatAllocation& published,
                     const v1::Totals& before, const v1::Totals& after,
                     const v1::SeatAllocation& final_allocation) {
  return absl::StrCat("contest ", c.contest->ShortDebugString(), "\npolicy ",
                      c.definition.validation().ShortDebugString(), "\nbefore ",
                      before.ShortDebugString(), "\npublished ",
                      published.ShortDebugString(), "\nafter ",
                      after.ShortDebugString(), "\nfinal ",
                      final_allocation.ShortDebugString());
}

struct Stats {
  int cases = 0;
  int completions = 0;
  int unbounded = 0;
  // Capped cases with at least one range wider than a point, and with at
  // least one point range (a choice's seats decided while stations are
  // outstanding): the ranges are exercised, neither trivial nor final.
  int open_ranges = 0;
  int point_ranges = 0;
  int failures = 0;
};

void RunCase(std::mt19937_64& rng, v1::AllocationMethod method, Stats* stats) {
  Case c = MakeCase(rng, method);
  if (c.index == nullptr) {
    ++stats->failures;
    return;
  }
  ++stats->cases;
  // Stations reported now, in a random order; at least one outstanding,
  // often exactly one (late in the night, where ranges close).
  std::vector<const v1::PollingStation*> order = c.stations;
  std::shuffle(order.begin(), order.end(), rng);
  const size_t reported = Uniform(rng, 0, 1) == 0
                              ? order.size() - 1
                              : Uniform(rng, 0, order.size() - 1);
  std::vector<v1::StationProtocol> counted;
  TotalsBook book(*c.index);
  const uint64_t basis =
      c.definition.validation().same_day_additions_basis_points();
  uint64_t outstanding_cap = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const v1::PollingStation& station = *order[i];
    if (i >= reported) {
      const uint64_t r = station.registered_voters();
      outstanding_cap += r + r * basis / 10000;
      continue;
    }
    const uint64_t total = Uniform(rng, 0, c.Cap(station));
    counted.push_back(Protocol(rng, c, station, RandomSplit(rng, c, total)));
    if (!Count(c, counted.back(), &book)) {
      ++stats->failures;
      return;
    }
  }
  const uint32_t entry = book.ContestEntry(0);
  const v1::Totals before = book.ToProto(entry);
  const v1::SeatAllocation published =
      PublishedAllocation(*c.contest, c.definition.validation(), before);
  ASSERT_EQ(published.status() == v1::ALLOCATION_STATUS_UNSPECIFIED, false)
      << published.ShortDebugString();
  if (c.unbounded == Unbounded::kNo) {
    EXPECT_EQ(published.range_basis(), v1::RANGE_BASIS_BALLOT_CAP);
    EXPECT_EQ(published.outstanding_ballots(), outstanding_cap);
  } else {
    ++stats->unbounded;
    EXPECT_EQ(published.range_basis(), v1::RANGE_BASIS_UNBOUNDED);
  }
  if (c.unbounded == Unbounded::kNo) {
    bool open = false, point = false;
    for (const v1::ChoiceSeats& choice : published.choices()) {
      (choice.min_seats() != choice.max_seats() ? open : point) = true;
    }
    stats->open_ranges += open;
    stats->point_ranges += point;
  }

  // Completions: per outstanding station, the ballots it reports.
  using Completion = std::vector<Ballots>;
  const std::vector<const v1::PollingStation*> rest(
      order.begin() + static_cast<std::ptrdiff_t>(reported), order.end());
  std::vector<Completion> completions;
  auto at_cap = [&](size_t place, uint64_t factor, uint64_t extra) {
    Completion completion;
    for (const v1::PollingStation* station : rest) {
      completion.push_back(AllTo(c, place, c.Cap(*station) * factor + extra));
    }
    return completion;
  };
  for (size_t place = 0; place < c.choices() + 2; ++place) {
    if (place == c.choices() && !c.contest->against_all_on_ballot()) continue;
    completions.push_back(at_cap(place, 1, 0));
    if (c.unbounded != Unbounded::kNo) {
      completions.push_back(at_cap(place, 3, Uniform(rng, 1, 200)));
    }
  }
  completions.push_back(at_cap(0, 0, 0));  // nobody votes
  for (int r = 0; r < kRandomCompletions; ++r) {
    Completion completion;
    for (const v1::PollingStation* station : rest) {
      const uint64_t cap = c.Cap(*station);
      const uint64_t total =
          Uniform(rng, 0, 1) == 0 ? cap : Uniform(rng, 0, cap);
      completion.push_back(RandomSplit(rng, c, total));
    }
    completions.push_back(std::move(completion));
  }

  for (const Completion& completion : completions) {
    TotalsBook final_book(*c.index);
    for (const v1::StationProtocol& protocol : counted) {
      ASSERT_TRUE(Count(c, protocol, &final_book));
    }
    for (size_t i = 0; i < rest.size(); ++i) {
      if (!Count(c, Protocol(rng, c, *rest[i], completion[i]), &final_book)) {
        ++stats->failures;
        return;
      }
    }
    ++stats->completions;
    const v1::Totals after = final_book.ToProto(entry);
    const v1::SeatAllocation final_allocation =
        PublishedAllocation(*c.contest, c.definition.validation(), after);
    EXPECT_EQ(final_allocation.range_basis(), v1::RANGE_BASIS_FINAL);
    bool inside = final_allocation.choices_size() == published.choices_size();
    for (int i = 0; inside && i < published.choices_size(); ++i) {
      const v1::ChoiceSeats& range = published.choices(i);
      const uint32_t seats = final_allocation.choices(i).seats();
      inside = range.min_seats() <= seats && seats <= range.max_seats();
    }
    if (!inside) {
      ++stats->failures;
      if (stats->failures <= 3) {
        ADD_FAILURE() << "final seats outside the published ranges\n"
                      << Describe(c, published, before, after,
                                  final_allocation);
      }
      return;
    }
  }
}

class SeatRangeProperty
    : public ::testing::TestWithParam<v1::AllocationMethod> {};

TEST_P(SeatRangeProperty, FinalSeatsLieWithinThePublishedRanges) {
  const v1::AllocationMethod method = GetParam();
  std::mt19937_64 rng(0x5eed0000u + static_cast<uint64_t>(method));
  Stats stats;
  for (int i = 0; i < kCasesPerMethod; ++i) {
    RunCase(rng, method, &stats);
    if (HasFatalFailure()) return;
  }
  EXPECT_EQ(stats.failures, 0);
  EXPECT_EQ(stats.cases, kCasesPerMethod);
  // The cases must exercise the ranges, not only points and floods.
  EXPECT_GT(stats.open_ranges, kCasesPerMethod / 4);
  EXPECT_GT(stats.point_ranges, kCasesPerMethod / 20);
  EXPECT_GT(stats.unbounded, kCasesPerMethod / 20);
  RecordProperty("completions", stats.completions);
  std::printf(
      "%s: %d cases, %d completions; capped with an open range %d, "
      "with a decided choice %d; unbounded %d\n",
      v1::AllocationMethod_Name(method).c_str(), stats.cases, stats.completions,
      stats.open_ranges, stats.point_ranges, stats.unbounded);
}

INSTANTIATE_TEST_SUITE_P(
    EveryMethod, SeatRangeProperty,
    ::testing::Values(v1::ALLOCATION_METHOD_HARE, v1::ALLOCATION_METHOD_DROOP,
                      v1::ALLOCATION_METHOD_DHONDT,
                      v1::ALLOCATION_METHOD_SAINTE_LAGUE,
                      v1::ALLOCATION_METHOD_MODIFIED_SAINTE_LAGUE,
                      v1::ALLOCATION_METHOD_PLURALITY,
                      v1::ALLOCATION_METHOD_ABSOLUTE_MAJORITY),
    [](const ::testing::TestParamInfo<v1::AllocationMethod>& info) {
      std::string name = v1::AllocationMethod_Name(info.param);
      name.erase(std::remove(name.begin(), name.end(), '_'), name.end());
      return name;
    });

}  // namespace
}  // namespace tally

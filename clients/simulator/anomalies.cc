#include "clients/simulator/anomalies.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/domain/ballot_cap.h"
#include "services/domain/seeded_random.h"

namespace tally::sim {
namespace {

using u128 = unsigned __int128;

// part / whole in whole percent, rounded half up.
uint64_t RoundPercent(uint64_t part, uint64_t whole) {
  return static_cast<uint64_t>((u128{200} * part + whole) / (u128{2} * whole));
}

// The count nearest to `percent`% of `whole` (half up).
uint64_t NearestCount(uint64_t whole, uint64_t percent) {
  return static_cast<uint64_t>((u128{2} * whole * percent + 100) / 200);
}

v1::ChoiceVotes* VoteLine(v1::StationProtocol* protocol,
                          const std::string& choice_id) {
  for (v1::ChoiceVotes& line : *protocol->mutable_votes()) {
    if (line.choice_id() == choice_id) return &line;
  }
  v1::ChoiceVotes* line = protocol->add_votes();
  line->set_choice_id(choice_id);
  return line;
}

void Stuff(const std::string& leader, uint64_t cap,
           v1::StationProtocol* protocol) {
  v1::BallotAccounting& a = *protocol->mutable_accounting();
  const uint64_t ceiling = std::min(a.registered_voters(), cap);
  if (a.ballots_issued() >= ceiling) return;
  const uint64_t added = (ceiling - a.ballots_issued()) * 7 / 10;
  if (added == 0) return;
  a.set_ballots_received(a.ballots_received() + added);
  a.set_ballots_issued(a.ballots_issued() + added);
  a.set_ballots_found(a.ballots_found() + added);
  v1::ChoiceVotes* line = VoteLine(protocol, leader);
  line->set_votes(line->votes() + added);
}

// Whether the protocol was rewritten (false: no whole percentage fits its
// accounting, and it is left as it was).
bool RoundNumbers(const std::string& leader, uint64_t cap,
                  v1::StationProtocol* protocol) {
  v1::BallotAccounting a = protocol->accounting();
  const uint64_t registered = a.registered_voters();
  if (registered == 0 || a.ballots_issued() == 0) return false;
  uint64_t turnout = RoundPercent(a.ballots_issued(), registered);
  uint64_t issued = NearestCount(registered, turnout);
  while (issued > std::min(registered, cap) && turnout > 0) {
    issued = NearestCount(registered, --turnout);
  }
  // Found ballots move with issued ones (found <= issued stays true).
  const int64_t shift =
      static_cast<int64_t>(issued) - static_cast<int64_t>(a.ballots_issued());
  const int64_t found = static_cast<int64_t>(a.ballots_found()) + shift;
  const uint64_t fixed = a.invalid() + a.against_all();
  if (found < static_cast<int64_t>(fixed)) return false;
  const uint64_t old_valid = a.ballots_found() - a.invalid();
  const uint64_t valid = static_cast<uint64_t>(found) - a.invalid();
  const uint64_t for_choices = valid - a.against_all();

  uint64_t leader_votes = 0;
  uint64_t others = 0;
  for (const v1::ChoiceVotes& line : protocol->votes()) {
    if (line.choice_id() == leader) {
      leader_votes = line.votes();
    } else {
      others += line.votes();
    }
  }
  if (old_valid == 0 || valid == 0) return false;
  uint64_t share = RoundPercent(leader_votes, old_valid);
  uint64_t written = NearestCount(valid, share);
  while (written > for_choices && share > 0) {
    written = NearestCount(valid, --share);
  }
  if (written > for_choices) return false;
  const uint64_t rest = for_choices - written;
  if (rest > 0 && others == 0) return false;  // nobody else to give them to

  // The other choices share `rest` in their old proportions (largest
  // remainder, ties to the earlier line).
  std::vector<std::pair<u128, size_t>> remainders;
  uint64_t given = 0;
  for (int i = 0; i < protocol->votes_size(); ++i) {
    v1::ChoiceVotes& line = *protocol->mutable_votes(i);
    if (line.choice_id() == leader) continue;
    const u128 exact = u128{rest} * line.votes();
    const uint64_t floor = static_cast<uint64_t>(exact / others);
    remainders.emplace_back(exact % others, static_cast<size_t>(i));
    line.set_votes(floor);
    given += floor;
  }
  std::stable_sort(
      remainders.begin(), remainders.end(),
      [](const auto& x, const auto& y) { return x.first > y.first; });
  for (size_t k = 0; given < rest && k < remainders.size(); ++k, ++given) {
    v1::ChoiceVotes& line =
        *protocol->mutable_votes(static_cast<int>(remainders[k].second));
    line.set_votes(line.votes() + 1);
  }
  VoteLine(protocol, leader)->set_votes(written);

  a.set_ballots_issued(issued);
  a.set_ballots_found(static_cast<uint64_t>(found));
  if (issued > a.ballots_received()) {
    a.set_ballots_received(issued + a.unused_cancelled());
  } else {
    a.set_unused_cancelled(a.ballots_received() - issued);
  }
  *protocol->mutable_accounting() = a;
  return true;
}

}  // namespace

absl::StatusOr<Anomaly> ParseAnomaly(absl::string_view text) {
  const std::vector<std::string> parts = absl::StrSplit(text, ':');
  Anomaly anomaly;
  if (parts.size() < 2 || parts[1].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "anomaly \"", text,
        "\": expected stuffing:REGION[:PERCENT] or round_numbers:REGION"));
  }
  anomaly.region_id = parts[1];
  if (parts[0] == "stuffing") {
    anomaly.kind = Anomaly::Kind::kStuffing;
    if (parts.size() > 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("anomaly \"", text, "\": too many fields"));
    }
    if (parts.size() == 3 && (!absl::SimpleAtoi(parts[2], &anomaly.percent) ||
                              anomaly.percent < 1 || anomaly.percent > 100)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "anomaly \"", text, "\": PERCENT must be a whole number 1..100"));
    }
  } else if (parts[0] == "round_numbers") {
    anomaly.kind = Anomaly::Kind::kRoundNumbers;
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "anomaly \"", text, "\": round_numbers takes a region only"));
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("anomaly \"", text, "\": unknown kind \"", parts[0],
                     "\" (stuffing or round_numbers)"));
  }
  return anomaly;
}

absl::StatusOr<uint64_t> PlantAnomaly(const ElectionIndex& index,
                                      const Anomaly& anomaly, uint64_t seed,
                                      std::vector<v1::StationProtocol>* truth) {
  if (index.FindRegion(anomaly.region_id) == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "anomaly region \"", anomaly.region_id, "\" is not in the election"));
  }
  // Each contest's leading choice over the whole night (first on a tie).
  absl::flat_hash_map<std::string, std::vector<uint64_t>> sums;
  for (const v1::StationProtocol& protocol : *truth) {
    const ContestInfo* contest = index.FindContest(protocol.contest_id());
    if (contest == nullptr) continue;
    std::vector<uint64_t>& votes = sums[protocol.contest_id()];
    votes.resize(static_cast<size_t>(contest->contest->choices_size()), 0);
    for (int i = 0; i < protocol.votes_size(); ++i) {
      const int position = ChoicePosition(*contest, protocol.votes(i), i);
      if (position >= 0)
        votes[static_cast<size_t>(position)] += protocol.votes(i).votes();
    }
  }
  absl::flat_hash_map<std::string, std::string> leaders;
  for (const auto& [contest_id, votes] : sums) {
    if (votes.empty()) continue;
    const size_t best = static_cast<size_t>(
        std::max_element(votes.begin(), votes.end()) - votes.begin());
    leaders[contest_id] = index.FindContest(contest_id)
                              ->contest->choices(static_cast<int>(best))
                              .id();
  }

  // The region's stations, ascending id; stuffing picks a seeded share.
  std::vector<uint32_t> stations;
  for (const v1::PollingStation& station : index.definition().stations()) {
    if (station.region_id() == anomaly.region_id)
      stations.push_back(station.id());
  }
  std::sort(stations.begin(), stations.end());
  if (anomaly.kind == Anomaly::Kind::kStuffing) {
    SplitMix64 rng(
        seed ^ Fnv1a64(absl::StrCat("anomaly/stuffing/", anomaly.region_id)));
    for (size_t i = stations.size(); i > 1; --i) {
      std::swap(stations[i - 1], stations[rng.Below(i)]);
    }
    const size_t chosen =
        std::max<size_t>(1, (stations.size() * anomaly.percent + 50) / 100);
    stations.resize(std::min(chosen, stations.size()));
  }
  const absl::flat_hash_set<uint32_t> selected(stations.begin(),
                                               stations.end());

  const v1::ValidationPolicy& policy = index.definition().validation();
  absl::flat_hash_set<uint32_t> changed;
  for (v1::StationProtocol& protocol : *truth) {
    if (!selected.contains(protocol.station_id())) continue;
    const auto leader = leaders.find(protocol.contest_id());
    const v1::PollingStation* station =
        index.FindStation(protocol.station_id());
    if (leader == leaders.end() || station == nullptr) continue;
    const uint64_t cap = StationBallotCap(*station, policy);
    if (anomaly.kind == Anomaly::Kind::kStuffing) {
      const uint64_t before = protocol.accounting().ballots_issued();
      Stuff(leader->second, cap, &protocol);
      if (protocol.accounting().ballots_issued() != before) {
        changed.insert(protocol.station_id());
      }
    } else if (RoundNumbers(leader->second, cap, &protocol)) {
      changed.insert(protocol.station_id());
    }
  }
  return static_cast<uint64_t>(changed.size());
}

}  // namespace tally::sim

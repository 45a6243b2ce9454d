// The election-night generator.
//
// Truth. Every station gets one "base" turnout shared by all contests it
// votes in, so that the same voters fill in the national list ballot and
// their district's ballot:
//  - A national contest with a target splits its ballots found T =
//    sum(votes) + against all + invalid over the stations exactly (largest
//    remainder, capped at each station's register and re-apportioned when a
//    cap binds); ballots issued beyond T (a target's ballots_issued > T)
//    follow the ballots found, capped at the register.
//    Without regional figures (ResultTarget.region_turnout_percent empty)
//    the weights are registered voters x a seeded station factor (70..130%)
//    x a seeded region factor (85..115%). With them, the regions come
//    first: region r with register R_r gets the ballots issued I_r
//    apportioned exactly with weights R_r x (f_r + delta), f_r its figure
//    (a region without one: the national turnout x its region factor) and
//    delta the one shift that makes the national sum exact (delta = T_issued
//    / R - sum(R_r f_r) / R): the same deviation for every region, which is
//    the smallest possible largest deviation (0.24 points for 2023, whose
//    figures average 53.95% over the definition's registers against the
//    national 54.19%). The ballots found follow I_r; inside a region the
//    stations split them by register x station factor (drawn in 1/1000 of
//    a percent here: whole-percent factors times a region's scaling would
//    put many turnouts on whole percentages, a false forensics sign).
//  - The category totals (each choice, against all, invalid) go first to
//    the regions and then to the districts inside each region. Each level
//    draws a seeded bias per (part, category): regions 60..140%, the leading
//    choice 65..140% (its regional share ends up between about 40 and 70%),
//    districts 85..115% (leader 90..110%). Iterative proportional fitting
//    (fixed point, 24 rounds) turns "part size x category share x bias"
//    into a table whose rows sum to the parts' ballots and columns to the
//    categories; the parts then take, in shuffled order, their exact
//    ballots from what is left with weights "fitted value x left / fitted
//    still unserved" (largest remainder, capped), the last part exactly
//    what is left. Row and column sums are exact at every level.
//  - Inside a district the stations draw their ballots one by one without
//    replacement from the district's pool, each station with its own
//    triangular bias per category (60..140%, mode 100%): a ballot's
//    category is drawn with chances "left of the category x the station's
//    bias". The leader's share at stations spreads about 5 points around
//    the region's; the last station takes exactly what is left.
//  - The first targeted national contest (definition order) fixes the base
//    turnout of every station; contests without a target (every district
//    contest, and national contests without a target) reuse it. With no
//    target at all the base turnout is default_turnout_percent with a
//    seeded region offset (+-5 points) and station offset (+-8 points).
//    Their results are random: per contest a Dirichlet-like draw of choice
//    weights, small against-all and invalid shares, and per-region and
//    per-station jitter; each station's ballots are split by largest
//    remainder over its jittered weights. A contest with a known winner
//    (ResultTarget.winners) gets the same draw, except that the winner's
//    strength is twice the strongest other choice's and its region bias is
//    at least 100%, so that it leads in every region and wins.
//
// Reporting order (PlanNight). A station reports all its contests at one
// time (each protocol within 5 minutes of it): its region's polls close
// (the region's time zone, or the election's, at polls_close_local_time on
// the polling day; seconds after the earliest close, so UTC+6 regions
// report an hour before UTC+5 ones) + 20 minutes + up to 90 minutes by the
// rank of its register among all stations (larger stations count longer)
// + a seeded wait: up to an hour uniformly and a long tail (the square of a
// uniform draw over 4 hours, / 4 hours). Smaller stations therefore tend
// to come first within a window, not in a strict order. A wrong first
// version is corrected 5 to 60 minutes later; a resend follows its
// original within 30 minutes. Submissions are sorted by time (stable).
// As the regions and sizes arrive the provisional list seats move several
// times before they settle (night_generator_test replays the night).
//
// Randomness. SplitMix64 streams keyed by the seed and a purpose ("turnout",
// "categories/<contest>", "plan", "plan/times", ...), integers mapped to
// ranges by Lemire's exact multiply-and-reject method; no std
// distributions and no floating point, so the output is the same on every
// platform. The polls-close offsets come from the time zone database
// (absl::LoadTimeZone); a zone it cannot load counts as closing first.
#include "clients/simulator/night_generator.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "services/domain/seat_allocation.h"
#include "services/domain/seeded_random.h"
#include "services/domain/vote_shares.h"
#include "tally/v1/results.pb.h"

namespace tally::sim {
namespace {

// The largest count a protocol may carry (protocol_validation.cc).
constexpr uint64_t kMaxCount = uint64_t{1} << 40;
// Ballot boxes are delivered in packs of this many ballots.
constexpr uint64_t kBallotPack = 50;

uint64_t MulDiv(uint64_t a, uint64_t b, uint64_t c) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(a) * b / c);
}

// Apportion with a cap per part (sum of caps >= total). A part over its cap
// is fixed at the cap and the rest is re-apportioned over the others; parts
// whose weights are all zero share by their caps.
absl::StatusOr<std::vector<uint64_t>> CappedApportion(
    uint64_t total, const std::vector<uint64_t>& weights,
    const std::vector<uint64_t>& caps) {
  std::vector<uint64_t> parts(weights.size(), 0);
  unsigned __int128 room = 0;
  for (uint64_t cap : caps) room += cap;
  if (room < total) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot place ", total, " ballots: room for only ",
                     static_cast<uint64_t>(room)));
  }
  std::vector<size_t> active;
  for (size_t i = 0; i < caps.size(); ++i) {
    if (caps[i] > 0) active.push_back(i);
  }
  uint64_t remaining = total;
  while (remaining > 0 && !active.empty()) {
    std::vector<uint64_t> w(active.size());
    bool any = false;
    for (size_t j = 0; j < active.size(); ++j) {
      w[j] = weights[active[j]];
      any = any || w[j] > 0;
    }
    if (!any) {
      for (size_t j = 0; j < active.size(); ++j) w[j] = caps[active[j]];
    }
    absl::StatusOr<std::vector<uint64_t>> split =
        seats::Apportion(remaining, w);
    if (!split.ok()) return split.status();
    std::vector<size_t> next;
    for (size_t j = 0; j < active.size(); ++j) {
      const size_t i = active[j];
      if ((*split)[j] > caps[i]) {
        parts[i] = caps[i];
        remaining -= caps[i];
      } else {
        next.push_back(i);
      }
    }
    if (next.size() == active.size()) {
      for (size_t j = 0; j < active.size(); ++j) parts[active[j]] = (*split)[j];
      remaining = 0;
    }
    active = std::move(next);
  }
  if (remaining != 0) return absl::InternalError("capped apportionment failed");
  return parts;
}

// Largest remainder for the small per-station splits of contests without
// a target (exactness across stations is not needed there).
std::vector<uint64_t> SplitByWeights(uint64_t total,
                                     const std::vector<uint64_t>& weights) {
  std::vector<uint64_t> parts(weights.size(), 0);
  unsigned __int128 sum = 0;
  for (uint64_t w : weights) sum += w;
  if (total == 0 || sum == 0) return parts;
  std::vector<unsigned __int128> remainder(weights.size());
  uint64_t given = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const unsigned __int128 product =
        static_cast<unsigned __int128>(total) * weights[i];
    parts[i] = static_cast<uint64_t>(product / sum);
    remainder[i] = product % sum;
    given += parts[i];
  }
  std::vector<size_t> order(weights.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return remainder[a] > remainder[b];
  });
  for (size_t j = 0; given < total; ++j, ++given) ++parts[order[j]];
  return parts;
}

// The stations in id order, grouped by region and (within the region) by
// district: the pools of the category draw.
struct Layout {
  std::vector<const v1::PollingStation*> stations;
  std::vector<uint32_t> region_of;  // per station
  std::vector<uint32_t> group_of;   // per station
  uint32_t regions = 0;
  // Group -> station positions (ascending id); region -> groups.
  std::vector<std::vector<size_t>> group_stations;
  std::vector<std::vector<uint32_t>> region_groups;
};

Layout BuildLayout(const ElectionIndex& index) {
  const v1::ElectionDefinition& definition = index.definition();
  Layout layout;
  for (const v1::PollingStation& station : definition.stations()) {
    layout.stations.push_back(&station);
  }
  std::sort(layout.stations.begin(), layout.stations.end(),
            [](const v1::PollingStation* a, const v1::PollingStation* b) {
              return a->id() < b->id();
            });
  absl::flat_hash_map<std::string, uint32_t> region_index;
  for (const v1::Region& region : definition.regions()) {
    region_index.emplace(region.id(), layout.regions++);
  }
  // A validated definition has at least one region and names only known
  // ones; region 0 stands in otherwise.
  layout.regions = std::max<uint32_t>(layout.regions, 1);
  layout.region_groups.resize(layout.regions);
  absl::flat_hash_map<std::pair<uint32_t, std::string>, uint32_t> group_index;
  for (size_t s = 0; s < layout.stations.size(); ++s) {
    const v1::PollingStation& station = *layout.stations[s];
    const auto it = region_index.find(station.region_id());
    const uint32_t region = it == region_index.end() ? 0 : it->second;
    const auto [group, added] = group_index.emplace(
        std::make_pair(region, station.district_id()),
        static_cast<uint32_t>(layout.group_stations.size()));
    if (added) {
      layout.group_stations.emplace_back();
      layout.region_groups[region].push_back(group->second);
    }
    layout.group_stations[group->second].push_back(s);
    layout.region_of.push_back(region);
    layout.group_of.push_back(group->second);
  }
  return layout;
}

// Ballots of one contest at each station (indexed by station position;
// stations not voting in the contest stay zero).
struct Turnout {
  std::vector<uint64_t> found;
  std::vector<uint64_t> issued;
};

// Category counts of one contest: per station position, the contest's
// choices in order, then against all, then invalid.
struct ContestCounts {
  size_t categories = 0;
  std::vector<uint64_t> counts;  // stations x categories

  uint64_t* Row(size_t station) { return &counts[station * categories]; }
  const uint64_t* Row(size_t station) const {
    return &counts[station * categories];
  }
};

absl::Status CheckTarget(const ElectionIndex& index,
                         const v1::ResultTarget& target,
                         absl::flat_hash_set<std::string>* seen) {
  const std::string where =
      absl::StrCat("target for contest \"", target.contest_id(), "\"");
  const ContestInfo* info = index.FindContest(target.contest_id());
  if (info == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the contest is not defined in the election"));
  }
  if (!info->contest->district_id().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": only national contests can have a target"));
  }
  if (!seen->insert(target.contest_id()).second) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the contest has more than one target"));
  }
  for (const auto& [choice, votes] : target.votes()) {
    if (!info->choice_index.contains(choice)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": choice \"", choice, "\" is not on the ballot"));
    }
    if (votes > kMaxCount) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": votes of \"", choice, "\" exceed ", kMaxCount));
    }
  }
  for (const v1::Choice& choice : info->contest->choices()) {
    if (!target.votes().contains(choice.id())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": votes for choice \"", choice.id(), "\" are missing"));
    }
  }
  if (target.against_all() > 0 && !info->contest->against_all_on_ballot()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": against_all is ", target.against_all(),
                     " but the contest has no \"against all\" line"));
  }
  if (target.against_all() > kMaxCount || target.invalid() > kMaxCount ||
      target.ballots_issued() > kMaxCount) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": a count exceeds ", kMaxCount));
  }
  return absl::OkStatus();
}

// The target's category totals in ContestCounts order.
std::vector<uint64_t> TargetTotals(const v1::Contest& contest,
                                   const v1::ResultTarget& target) {
  std::vector<uint64_t> totals;
  for (const v1::Choice& choice : contest.choices()) {
    totals.push_back(target.votes().at(choice.id()));
  }
  totals.push_back(target.against_all());
  totals.push_back(target.invalid());
  return totals;
}

// Splits category `totals` over children of the given `sizes` (same sum)
// so that child i's share of category c follows the category's overall
// share times bias[i][c] (percent), exactly: see the file comment. Returns
// children x categories.
absl::StatusOr<std::vector<std::vector<uint64_t>>> RakeSplit(
    const std::vector<uint64_t>& totals, const std::vector<uint64_t>& sizes,
    const std::vector<std::vector<uint64_t>>& bias, SplitMix64* rng) {
  const size_t k = totals.size();
  const size_t m = sizes.size();
  // Iterative proportional fitting in fixed point (units of 2^-16 ballot):
  // start from size x total x bias, then alternately scale the columns to
  // the totals and the rows to the sizes.
  constexpr int kShift = 16;
  const uint64_t grand =
      std::accumulate(totals.begin(), totals.end(), uint64_t{0});
  std::vector<std::vector<uint64_t>> fit(m, std::vector<uint64_t>(k, 0));
  for (size_t i = 0; i < m && grand > 0; ++i) {
    for (size_t c = 0; c < k; ++c) {
      fit[i][c] =
          MulDiv(sizes[i] << kShift, totals[c], grand) * bias[i][c] / 100;
    }
  }
  for (int round = 0; round < 24; ++round) {
    for (size_t c = 0; c < k; ++c) {
      unsigned __int128 column = 0;
      for (size_t i = 0; i < m; ++i) column += fit[i][c];
      if (column == 0) continue;
      for (size_t i = 0; i < m; ++i) {
        fit[i][c] = static_cast<uint64_t>(
            static_cast<unsigned __int128>(fit[i][c]) *
            (static_cast<unsigned __int128>(totals[c]) << kShift) / column);
      }
    }
    for (size_t i = 0; i < m; ++i) {
      unsigned __int128 row = 0;
      for (size_t c = 0; c < k; ++c) row += fit[i][c];
      if (row == 0) continue;
      for (size_t c = 0; c < k; ++c) {
        fit[i][c] = static_cast<uint64_t>(
            static_cast<unsigned __int128>(fit[i][c]) *
            (static_cast<unsigned __int128>(sizes[i]) << kShift) / row);
      }
    }
  }
  // Exact integers: the children in shuffled order each take their size
  // from what is left, with weights "fitted value x what is left of the
  // category / what the children not yet served were fitted"; the last
  // child gets exactly what is left.
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), size_t{0});
  Shuffle(&order, rng);
  std::vector<unsigned __int128> expected(k, 0);
  for (size_t i = 0; i < m; ++i) {
    for (size_t c = 0; c < k; ++c) expected[c] += fit[i][c];
  }
  std::vector<uint64_t> remaining = totals;
  std::vector<std::vector<uint64_t>> parts(m);
  for (const size_t child : order) {
    std::vector<uint64_t> weights(k, 0);
    for (size_t c = 0; c < k; ++c) {
      if (expected[c] > 0) {
        weights[c] = static_cast<uint64_t>(
            static_cast<unsigned __int128>(fit[child][c]) * remaining[c] /
            expected[c]);
      }
      expected[c] -= fit[child][c];
    }
    absl::StatusOr<std::vector<uint64_t>> part =
        CappedApportion(sizes[child], weights, remaining);
    if (!part.ok()) return part.status();
    for (size_t c = 0; c < k; ++c) remaining[c] -= (*part)[c];
    parts[child] = *std::move(part);
  }
  return parts;
}

// Seeded biases, percent, children x categories: each uniform in [lo, hi],
// except the `leader` column's, uniform in [leader_lo, leader_hi].
std::vector<std::vector<uint64_t>> DrawBiases(size_t children, size_t k,
                                              uint64_t lo, uint64_t hi,
                                              size_t leader, uint64_t leader_lo,
                                              uint64_t leader_hi,
                                              SplitMix64* rng) {
  std::vector<std::vector<uint64_t>> bias(children, std::vector<uint64_t>(k));
  for (auto& row : bias) {
    for (size_t c = 0; c < k; ++c) {
      row[c] = c == leader ? rng->Uniform(leader_lo, leader_hi)
                           : rng->Uniform(lo, hi);
    }
  }
  return bias;
}

// Draws the stations' ballots one by one, without replacement, from the
// pool (whose total equals the stations' ballots), each station with its
// own seeded bias per category (triangular, 60..140%, mode 100%: the sum of
// two uniform draws): a ballot of category c comes with a chance in
// proportion to what is left of c x the station's bias for c. Stations
// differ from their district by more than sampling alone. The leader's
// bias also falls with the station's register (+20 points for the district's
// smallest, -20 for its largest), as a rural vote differs from a town's;
// with the small stations reporting first, the leader's provisional share
// drifts down during the night. The last station takes exactly what is
// left.
void DrawStations(const Layout& layout, const std::vector<size_t>& stations,
                  const std::vector<uint64_t>& found, size_t leader,
                  std::vector<uint64_t> pool, SplitMix64* rng,
                  ContestCounts* counts) {
  const size_t k = pool.size();
  uint64_t left = std::accumulate(pool.begin(), pool.end(), uint64_t{0});
  // Rank of each station by its register in the district (0 = smallest;
  // not by its ballots, which would tie the share to the turnout).
  std::vector<size_t> by_size(stations.size());
  std::iota(by_size.begin(), by_size.end(), size_t{0});
  std::stable_sort(by_size.begin(), by_size.end(), [&](size_t a, size_t b) {
    return layout.stations[stations[a]]->registered_voters() <
           layout.stations[stations[b]]->registered_voters();
  });
  std::vector<uint64_t> rank(stations.size());
  for (size_t i = 0; i < by_size.size(); ++i) rank[by_size[i]] = i;
  const uint64_t last = std::max<size_t>(stations.size(), 2) - 1;
  std::vector<uint64_t> bias(k);
  for (size_t i = 0; i < stations.size(); ++i) {
    const size_t s = stations[i];
    uint64_t* row = counts->Row(s);
    const uint64_t ballots = found[s];
    for (uint64_t& b : bias) b = 60 + rng->Below(41) + rng->Below(41);
    // Small stations favour the leader, large ones less: +20 points for
    // the smallest down to -20 for the largest.
    if (leader < k) bias[leader] = bias[leader] + 20 - rank[i] * 40 / last;
    if (ballots == left) {  // the last station takes what is left
      for (size_t c = 0; c < k; ++c) row[c] += pool[c];
      std::fill(pool.begin(), pool.end(), 0);
      left = 0;
      continue;
    }
    for (uint64_t b = 0; b < ballots; ++b) {
      uint64_t weight = 0;
      for (size_t c = 0; c < k; ++c) weight += pool[c] * bias[c];
      uint64_t u = rng->Below(weight);
      size_t c = 0;
      while (u >= pool[c] * bias[c]) {
        u -= pool[c] * bias[c];
        ++c;
      }
      --pool[c];
      ++row[c];
      --left;
    }
  }
}

// Ballots found and issued per station for a targeted national contest.
// `region_ppm`: per region, the published turnout in parts per million of
// the register, or -1 (no figure); empty: no region has one.
absl::StatusOr<Turnout> TargetTurnout(const Layout& layout,
                                      const std::string& contest_id,
                                      uint64_t found_total,
                                      uint64_t issued_total,
                                      const std::vector<int64_t>& region_ppm,
                                      uint64_t seed) {
  SplitMix64 rng = StreamFor(seed, absl::StrCat("turnout/", contest_id));
  std::vector<uint64_t> region_factor(layout.regions);
  for (uint64_t& f : region_factor) f = rng.Uniform(85, 115);
  const size_t n = layout.stations.size();
  std::vector<uint64_t> weights(n);
  std::vector<uint64_t> registered(n);
  std::vector<uint64_t> station_factor(n);
  for (size_t s = 0; s < n; ++s) {
    registered[s] = layout.stations[s]->registered_voters();
    // Per cent without regional figures (the nights before them stay the
    // same); per hundred thousand with them, so that no region's scaling
    // can put many stations' turnouts on whole percentages.
    station_factor[s] = region_ppm.empty() ? rng.Uniform(70, 130)
                                           : rng.Uniform(70'000, 130'000);
    weights[s] =
        registered[s] * station_factor[s] * region_factor[layout.region_of[s]];
  }
  Turnout turnout;
  if (region_ppm.empty()) {
    absl::StatusOr<std::vector<uint64_t>> found =
        CappedApportion(found_total, weights, registered);
    if (!found.ok()) return found.status();
    turnout.found = *std::move(found);
    std::vector<uint64_t> room(n);
    for (size_t s = 0; s < n; ++s) room[s] = registered[s] - turnout.found[s];
    absl::StatusOr<std::vector<uint64_t>> extra =
        CappedApportion(issued_total - found_total, turnout.found, room);
    if (!extra.ok()) return extra.status();
    turnout.issued = turnout.found;
    for (size_t s = 0; s < n; ++s) turnout.issued[s] += (*extra)[s];
    return turnout;
  }

  // Regions first: the figure f (ppm) of each region, or for a region
  // without one the national turnout times its seeded factor. The national
  // ballots issued T over the registers R cannot meet every figure when
  // sum(R_r f_r) != T: each region gets f_r + delta, the same shift for
  // all, which is the smallest possible largest deviation; issued_r is
  // apportioned exactly with weights R_r (f_r + delta), capped at R_r.
  std::vector<uint64_t> region_registered(layout.regions, 0);
  std::vector<std::vector<size_t>> region_stations(layout.regions);
  for (size_t s = 0; s < n; ++s) {
    region_registered[layout.region_of[s]] += registered[s];
    region_stations[layout.region_of[s]].push_back(s);
  }
  const uint64_t total_registered = std::accumulate(
      region_registered.begin(), region_registered.end(), uint64_t{0});
  if (total_registered == 0) {
    return absl::InvalidArgumentError("no registered voters");
  }
  constexpr uint64_t kPpm = 1'000'000;
  const uint64_t national_ppm = MulDiv(issued_total, kPpm, total_registered);
  std::vector<uint64_t> figure(layout.regions);
  __int128 weighted = 0;  // sum R_r f_r
  for (uint32_t r = 0; r < layout.regions; ++r) {
    figure[r] = r < region_ppm.size() && region_ppm[r] >= 0
                    ? static_cast<uint64_t>(region_ppm[r])
                    : std::min(kPpm, national_ppm * region_factor[r] / 100);
    weighted += static_cast<__int128>(region_registered[r]) * figure[r];
  }
  // delta * R = T * 1e6 - sum R_r f_r; weight_r = R_r (f_r R + delta R) / R.
  const __int128 shift = static_cast<__int128>(issued_total) * kPpm - weighted;
  std::vector<uint64_t> region_weight(layout.regions);
  for (uint32_t r = 0; r < layout.regions; ++r) {
    const __int128 adjusted =
        static_cast<__int128>(figure[r]) * total_registered + shift;
    region_weight[r] =
        adjusted <= 0 ? 0
                      : static_cast<uint64_t>(
                            static_cast<unsigned __int128>(adjusted) *
                            region_registered[r] / total_registered / kPpm);
  }
  absl::StatusOr<std::vector<uint64_t>> region_issued =
      CappedApportion(issued_total, region_weight, region_registered);
  if (!region_issued.ok()) return region_issued.status();
  absl::StatusOr<std::vector<uint64_t>> region_found =
      CappedApportion(found_total, *region_issued, *region_issued);
  if (!region_found.ok()) return region_found.status();

  // Then the stations of each region: found by register x station factor
  // (capped at the register), the ballots issued beyond them in proportion
  // to the ballots found.
  turnout.found.assign(n, 0);
  turnout.issued.assign(n, 0);
  for (uint32_t r = 0; r < layout.regions; ++r) {
    const std::vector<size_t>& members = region_stations[r];
    std::vector<uint64_t> w;
    std::vector<uint64_t> caps;
    for (size_t s : members) {
      w.push_back(registered[s] * station_factor[s]);
      caps.push_back(registered[s]);
    }
    absl::StatusOr<std::vector<uint64_t>> found =
        CappedApportion((*region_found)[r], w, caps);
    if (!found.ok()) return found.status();
    std::vector<uint64_t> room(members.size());
    for (size_t j = 0; j < members.size(); ++j) room[j] = caps[j] - (*found)[j];
    absl::StatusOr<std::vector<uint64_t>> extra =
        CappedApportion((*region_issued)[r] - (*region_found)[r], *found, room);
    if (!extra.ok()) return extra.status();
    for (size_t j = 0; j < members.size(); ++j) {
      turnout.found[members[j]] = (*found)[j];
      turnout.issued[members[j]] = (*found)[j] + (*extra)[j];
    }
  }
  return turnout;
}

// The exact split of a target's categories over every station: regions,
// then districts, then stations (see the file comment).
absl::StatusOr<ContestCounts> TargetCounts(const Layout& layout,
                                           const std::string& contest_id,
                                           const std::vector<uint64_t>& totals,
                                           const Turnout& turnout,
                                           uint64_t seed) {
  SplitMix64 rng = StreamFor(seed, absl::StrCat("categories/", contest_id));
  const size_t k = totals.size();
  // The leading choice (the most votes; against all and invalid, the last
  // two categories, never lead).
  size_t leader = 0;
  for (size_t c = 0; c + 2 < k; ++c) {
    if (totals[c] > totals[leader]) leader = c;
  }
  ContestCounts out;
  out.categories = k;
  out.counts.assign(layout.stations.size() * k, 0);
  std::vector<uint64_t> group_size(layout.group_stations.size(), 0);
  for (size_t s = 0; s < layout.stations.size(); ++s) {
    group_size[layout.group_of[s]] += turnout.found[s];
  }
  std::vector<uint64_t> region_size(layout.regions, 0);
  for (uint32_t r = 0; r < layout.regions; ++r) {
    for (uint32_t g : layout.region_groups[r]) region_size[r] += group_size[g];
  }
  absl::StatusOr<std::vector<std::vector<uint64_t>>> regions = RakeSplit(
      totals, region_size,
      DrawBiases(layout.regions, k, 60, 140, leader, 65, 140, &rng), &rng);
  if (!regions.ok()) return regions.status();
  for (uint32_t r = 0; r < layout.regions; ++r) {
    const std::vector<uint32_t>& groups = layout.region_groups[r];
    std::vector<uint64_t> sizes;
    for (uint32_t g : groups) sizes.push_back(group_size[g]);
    absl::StatusOr<std::vector<std::vector<uint64_t>>> pools = RakeSplit(
        (*regions)[r], sizes,
        DrawBiases(groups.size(), k, 85, 115, leader, 90, 110, &rng), &rng);
    if (!pools.ok()) return pools.status();
    for (size_t j = 0; j < groups.size(); ++j) {
      DrawStations(layout, layout.group_stations[groups[j]], turnout.found,
                   leader, std::move((*pools)[j]), &rng, &out);
    }
  }
  return out;
}

// Base turnout without any target: default percent with region and station
// offsets, in per mille; every ballot issued is found.
Turnout DefaultTurnout(const Layout& layout, uint32_t percent, uint64_t seed) {
  SplitMix64 rng = StreamFor(seed, "turnout");
  std::vector<int64_t> region_offset(layout.regions);
  for (int64_t& o : region_offset)
    o = static_cast<int64_t>(rng.Below(101)) - 50;
  Turnout turnout;
  for (size_t s = 0; s < layout.stations.size(); ++s) {
    const int64_t offset = static_cast<int64_t>(rng.Below(161)) - 80;
    const int64_t per_mille = std::clamp<int64_t>(
        int64_t{percent} * 10 + region_offset[layout.region_of[s]] + offset, 0,
        1000);
    const uint64_t issued = MulDiv(layout.stations[s]->registered_voters(),
                                   static_cast<uint64_t>(per_mille), 1000);
    turnout.found.push_back(issued);
    turnout.issued.push_back(issued);
  }
  return turnout;
}

// A plausible random result for a contest without a target, on the base
// turnout.
// `winner`: the index of the choice that must win, or -1.
ContestCounts RandomCounts(const ElectionIndex& index, const Layout& layout,
                           const v1::Contest& contest, const Turnout& turnout,
                           uint64_t seed, int winner) {
  SplitMix64 rng = StreamFor(seed, absl::StrCat("result/", contest.id()));
  const size_t choices = static_cast<size_t>(contest.choices_size());
  const size_t k = choices + 2;
  // Dirichlet-like: squared uniform draws give a few strong choices and a
  // tail of weak ones.
  std::vector<uint64_t> strength(choices);
  for (uint64_t& w : strength) {
    const uint64_t u = rng.Uniform(10, 100);
    w = u * u;
  }
  if (winner >= 0) {
    uint64_t strongest_other = 1;
    for (size_t c = 0; c < choices; ++c) {
      if (c != static_cast<size_t>(winner)) {
        strongest_other = std::max(strongest_other, strength[c]);
      }
    }
    strength[winner] = 2 * strongest_other;
  }
  const uint64_t strength_sum =
      std::accumulate(strength.begin(), strength.end(), uint64_t{0});
  const uint64_t against_ppm =
      contest.against_all_on_ballot() ? rng.Uniform(10'000, 40'000) : 0;
  const uint64_t invalid_ppm = rng.Uniform(10'000, 30'000);
  std::vector<uint64_t> base(k);
  const uint64_t valid_ppm = 1'000'000 - against_ppm - invalid_ppm;
  for (size_t c = 0; c < choices; ++c) {
    base[c] =
        std::max<uint64_t>(1, MulDiv(valid_ppm, strength[c], strength_sum));
  }
  base[choices] = against_ppm;
  base[choices + 1] = invalid_ppm;
  std::vector<std::vector<uint64_t>> region_bias(layout.regions,
                                                 std::vector<uint64_t>(k));
  for (auto& row : region_bias) {
    for (uint64_t& b : row) b = rng.Uniform(70, 130);
    if (winner >= 0) row[winner] = std::max<uint64_t>(row[winner], 100);
  }

  ContestCounts out;
  out.categories = k;
  out.counts.assign(layout.stations.size() * k, 0);
  std::vector<uint64_t> weights(k);
  for (size_t s = 0; s < layout.stations.size(); ++s) {
    if (!index.StationVotesIn(*layout.stations[s], contest)) continue;
    const std::vector<uint64_t>& bias = region_bias[layout.region_of[s]];
    for (size_t c = 0; c < k; ++c) {
      weights[c] = base[c] * bias[c] * rng.Uniform(80, 120);
    }
    const std::vector<uint64_t> parts =
        SplitByWeights(turnout.found[s], weights);
    std::copy(parts.begin(), parts.end(), out.Row(s));
  }
  return out;
}

// Ballots received: the register rounded up to whole packs plus a reserve
// of 0..2 packs; never below the ballots issued.
std::vector<uint64_t> BallotsReceived(const Layout& layout, uint64_t seed) {
  SplitMix64 rng = StreamFor(seed, "received");
  std::vector<uint64_t> received;
  received.reserve(layout.stations.size());
  for (const v1::PollingStation* station : layout.stations) {
    const uint64_t registered = station->registered_voters();
    const uint64_t packs = (registered + kBallotPack - 1) / kBallotPack;
    const uint64_t value = (packs + rng.Below(3)) * kBallotPack;
    received.push_back(std::max(registered, std::min(value, kMaxCount)));
  }
  return received;
}

void AppendProtocols(const Layout& layout, const v1::Contest& contest,
                     const ElectionIndex& index, const Turnout& turnout,
                     const ContestCounts& counts,
                     const std::vector<uint64_t>& received,
                     std::vector<v1::StationProtocol>* out) {
  const size_t choices = static_cast<size_t>(contest.choices_size());
  for (size_t s = 0; s < layout.stations.size(); ++s) {
    const v1::PollingStation& station = *layout.stations[s];
    if (!index.StationVotesIn(station, contest)) continue;
    const uint64_t* row = counts.Row(s);
    v1::StationProtocol& protocol = out->emplace_back();
    protocol.set_contest_id(contest.id());
    protocol.set_station_id(station.id());
    protocol.set_version(1);
    v1::BallotAccounting* a = protocol.mutable_accounting();
    a->set_registered_voters(station.registered_voters());
    a->set_ballots_received(received[s]);
    a->set_ballots_issued(turnout.issued[s]);
    a->set_ballots_found(turnout.found[s]);
    a->set_against_all(row[choices]);
    a->set_invalid(row[choices + 1]);
    a->set_unused_cancelled(received[s] - turnout.issued[s]);
    for (size_t c = 0; c < choices; ++c) {
      v1::ChoiceVotes* line = protocol.add_votes();
      line->set_choice_id(contest.choices(static_cast<int>(c)).id());
      line->set_votes(row[c]);
    }
  }
}

struct TargetPlan {
  Turnout turnout;
  ContestCounts counts;
};

absl::StatusOr<TargetPlan> PlanTarget(const Layout& layout,
                                      const v1::ElectionDefinition& definition,
                                      const v1::Contest& contest,
                                      const v1::ResultTarget& target,
                                      uint64_t registered, uint64_t seed) {
  const std::vector<uint64_t> totals = TargetTotals(contest, target);
  unsigned __int128 sum = 0;
  for (uint64_t t : totals) sum += t;
  const std::string where =
      absl::StrCat("target for contest \"", contest.id(), "\"");
  if (sum > registered) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", static_cast<uint64_t>(sum),
                     " ballots exceed the registered voters ", registered));
  }
  const uint64_t found = static_cast<uint64_t>(sum);
  const uint64_t issued = std::max(found, target.ballots_issued());
  if (issued > registered) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ballots_issued ", issued,
                     " exceeds the registered voters ", registered));
  }
  if (issued > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ballots_issued ", issued, " exceeds ",
                     std::numeric_limits<uint32_t>::max()));
  }
  std::vector<int64_t> region_ppm;
  if (!target.region_turnout_percent().empty()) {
    region_ppm.assign(layout.regions, -1);
    absl::flat_hash_map<std::string, uint32_t> region_index;
    for (const v1::Region& region : definition.regions()) {
      region_index.emplace(region.id(),
                           static_cast<uint32_t>(region_index.size()));
    }
    for (const auto& [region_id, text] : target.region_turnout_percent()) {
      const auto it = region_index.find(region_id);
      if (it == region_index.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": region_turnout_percent names region \"",
                         region_id, "\", which is not defined"));
      }
      absl::StatusOr<Rational> share = seats::ParsePercent(text);
      if (!share.ok() || share->num > share->den) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": region_turnout_percent of \"", region_id, "\" is \"",
            text, "\", not a percentage from 0 to 100"));
      }
      region_ppm[it->second] =
          static_cast<int64_t>(MulDiv(share->num, 1'000'000, share->den));
    }
  }
  TargetPlan plan;
  absl::StatusOr<Turnout> turnout =
      TargetTurnout(layout, contest.id(), found, issued, region_ppm, seed);
  if (!turnout.ok()) return turnout.status();
  plan.turnout = *std::move(turnout);
  absl::StatusOr<ContestCounts> counts =
      TargetCounts(layout, contest.id(), totals, plan.turnout, seed);
  if (!counts.ok()) return counts.status();
  plan.counts = *std::move(counts);
  return plan;
}

// Makes a wrong first version that still passes validation: a few votes
// move from one line to another (ballots found unchanged). Without any vote
// to move, the ballots received (and so the unused) are off by a pack.
v1::StationProtocol WrongVersion(const v1::StationProtocol& truth,
                                 SplitMix64* rng) {
  v1::StationProtocol wrong = truth;
  wrong.set_version(1);
  v1::BallotAccounting* a = wrong.mutable_accounting();
  const int lines = wrong.votes_size();
  // Donors: choice lines 0..lines-1, against all (lines), invalid (lines+1).
  std::vector<int> donors;
  for (int i = 0; i < lines; ++i) {
    if (wrong.votes(i).votes() > 0) donors.push_back(i);
  }
  if (a->against_all() > 0) donors.push_back(lines);
  if (a->invalid() > 0) donors.push_back(lines + 1);
  if (donors.empty() || lines == 0) {
    a->set_ballots_received(a->ballots_received() + kBallotPack);
    a->set_unused_cancelled(a->unused_cancelled() + kBallotPack);
    return wrong;
  }
  const int donor = donors[rng->Below(donors.size())];
  // Recipients: another choice line, or the invalid line. Never against
  // all, which may not be on the ballot.
  std::vector<int> recipients;
  for (int i = 0; i < lines; ++i) {
    if (i != donor) recipients.push_back(i);
  }
  if (donor != lines + 1) recipients.push_back(lines + 1);
  const int recipient = recipients[rng->Below(recipients.size())];
  auto value = [&](int line) -> uint64_t {
    if (line < lines) return wrong.votes(line).votes();
    return line == lines ? a->against_all() : a->invalid();
  };
  auto set = [&](int line, uint64_t v) {
    if (line < lines) {
      wrong.mutable_votes(line)->set_votes(v);
    } else if (line == lines) {
      a->set_against_all(v);
    } else {
      a->set_invalid(v);
    }
  };
  const uint64_t moved = rng->Uniform(1, std::min<uint64_t>(9, value(donor)));
  set(donor, value(donor) - moved);
  set(recipient, value(recipient) + moved);
  return wrong;
}

// Picks exactly floor(n * percent / 100) distinct indices.
std::vector<bool> PickShare(size_t n, uint32_t percent, SplitMix64* rng) {
  const size_t count = static_cast<size_t>(
      static_cast<uint64_t>(n) * std::min<uint32_t>(percent, 100) / 100);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::vector<bool> picked(n, false);
  for (size_t i = 0; i < count; ++i) {
    std::swap(order[i], order[i + rng->Below(n - i)]);
    picked[order[i]] = true;
  }
  return picked;
}

// The known winners of the targets (ResultTarget.winners): contest id ->
// choice index. Each contest must be a single-seat contest without a target
// of its own, named by one target only, and the choice on its ballot.
absl::StatusOr<absl::flat_hash_map<std::string, int>> CheckWinners(
    const ElectionIndex& index, const std::vector<v1::ResultTarget>& targets,
    const absl::flat_hash_set<std::string>& targeted) {
  absl::flat_hash_map<std::string, int> winners;
  for (const v1::ResultTarget& target : targets) {
    for (const auto& [contest_id, choice_id] : target.winners()) {
      const std::string where =
          absl::StrCat("target for contest \"", target.contest_id(),
                       "\": winner of contest \"", contest_id, "\"");
      const ContestInfo* info = index.FindContest(contest_id);
      if (info == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": the contest is not defined in the election"));
      }
      if (info->contest->seats() != 1 ||
          info->contest->kind() == v1::CONTEST_KIND_PARTY_LIST) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": only single-seat contests have a winner"));
      }
      if (targeted.contains(contest_id)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": the contest has a target, which decides its winner"));
      }
      const auto choice = info->choice_index.find(choice_id);
      if (choice == info->choice_index.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": choice \"", choice_id, "\" is not on the ballot"));
      }
      if (!winners.try_emplace(contest_id, static_cast<int>(choice->second))
               .second) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": the contest has more than one winner"));
      }
    }
  }
  return winners;
}

// Seconds from the earliest polls close to each region's (definition
// order): the region's zone (or the election's) at the polling day's
// polls_close_local_time (20:00 when unset). A zone or date that cannot be
// read counts as closing with the earliest.
std::vector<int64_t> RegionCloseOffsets(
    const v1::ElectionDefinition& definition, uint32_t regions) {
  std::vector<int64_t> close(regions, 0);
  absl::CivilDay day;
  const bool dated = absl::ParseCivilTime(definition.date(), &day);
  int hour = 20;
  int minute = 0;
  const std::string& clock = definition.polls_close_local_time();
  if (clock.size() == 5 && clock[2] == ':') {
    hour = (clock[0] - '0') * 10 + (clock[1] - '0');
    minute = (clock[3] - '0') * 10 + (clock[4] - '0');
  }
  std::vector<bool> known(regions, false);
  for (int r = 0;
       r < definition.regions_size() && static_cast<uint32_t>(r) < regions;
       ++r) {
    const v1::Region& region = definition.regions(r);
    const std::string& name = region.time_zone().empty()
                                  ? definition.time_zone()
                                  : region.time_zone();
    absl::TimeZone zone;
    if (!dated || !absl::LoadTimeZone(name, &zone)) continue;
    const absl::Time at = absl::FromCivil(
        absl::CivilSecond(day.year(), day.month(), day.day(), hour, minute, 0),
        zone);
    close[r] = absl::ToUnixSeconds(at);
    known[r] = true;
  }
  int64_t earliest = std::numeric_limits<int64_t>::max();
  for (uint32_t r = 0; r < regions; ++r) {
    if (known[r]) earliest = std::min(earliest, close[r]);
  }
  for (uint32_t r = 0; r < regions; ++r) {
    close[r] = known[r] ? close[r] - earliest : 0;
  }
  return close;
}

}  // namespace

absl::StatusOr<std::vector<v1::StationProtocol>> GenerateTruth(
    const ElectionIndex& index, const NightOptions& options) {
  if (options.default_turnout_percent > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("default_turnout_percent must be at most 100 (got ",
                     options.default_turnout_percent, ")"));
  }
  absl::flat_hash_set<std::string> seen;
  absl::flat_hash_map<std::string, const v1::ResultTarget*> targets;
  for (const v1::ResultTarget& target : options.targets) {
    if (absl::Status status = CheckTarget(index, target, &seen); !status.ok()) {
      return status;
    }
    targets[target.contest_id()] = &target;
  }
  absl::StatusOr<absl::flat_hash_map<std::string, int>> winners =
      CheckWinners(index, options.targets, seen);
  if (!winners.ok()) return winners.status();

  const Layout layout = BuildLayout(index);
  const auto& contests = index.definition().contests();
  // Targeted contests first: the first one (definition order) fixes the
  // base turnout of every other contest.
  std::vector<TargetPlan> plans;
  absl::flat_hash_map<std::string, size_t> planned;
  for (const v1::Contest& contest : contests) {
    const auto it = targets.find(contest.id());
    if (it == targets.end()) continue;
    absl::StatusOr<TargetPlan> plan =
        PlanTarget(layout, index.definition(), contest, *it->second,
                   index.registered_voters(), options.seed);
    if (!plan.ok()) return plan.status();
    planned[contest.id()] = plans.size();
    plans.push_back(*std::move(plan));
  }
  const Turnout base =
      plans.empty() ? DefaultTurnout(layout, options.default_turnout_percent,
                                     options.seed)
                    : plans.front().turnout;

  const std::vector<uint64_t> received = BallotsReceived(layout, options.seed);
  std::vector<v1::StationProtocol> truth;
  for (const v1::Contest& contest : contests) {
    const auto it = planned.find(contest.id());
    if (it != planned.end()) {
      const TargetPlan& plan = plans[it->second];
      AppendProtocols(layout, contest, index, plan.turnout, plan.counts,
                      received, &truth);
    } else {
      const ContestCounts counts = RandomCounts(
          index, layout, contest, base, options.seed,
          winners->contains(contest.id()) ? winners->at(contest.id()) : -1);
      AppendProtocols(layout, contest, index, base, counts, received, &truth);
    }
  }
  return truth;
}

std::vector<Submission> PlanNight(const ElectionIndex& index,
                                  const std::vector<v1::StationProtocol>& truth,
                                  const NightOptions& options) {
  SplitMix64 rng = StreamFor(options.seed, "plan");
  const size_t n = truth.size();
  const std::vector<bool> corrected =
      PickShare(n, options.correction_percent, &rng);
  const std::vector<bool> repeated =
      PickShare(n, options.duplicate_percent, &rng);

  // Every station reports once for all its contests, at its region's polls
  // close + 20 minutes + up to 90 minutes by its size (the rank of its
  // register among all stations: counting takes longer where more voted)
  // + a seeded wait: up to an hour uniformly plus a long tail (the square
  // of a uniform draw over 4 hours). Each protocol of the station follows
  // within 5 minutes.
  const Layout layout = BuildLayout(index);
  const std::vector<int64_t> close =
      RegionCloseOffsets(index.definition(), layout.regions);
  const size_t stations = layout.stations.size();
  std::vector<size_t> by_size(stations);
  std::iota(by_size.begin(), by_size.end(), size_t{0});
  std::stable_sort(by_size.begin(), by_size.end(), [&](size_t a, size_t b) {
    return layout.stations[a]->registered_voters() <
           layout.stations[b]->registered_voters();
  });
  std::vector<uint64_t> size_rank(stations);
  for (size_t i = 0; i < stations; ++i) size_rank[by_size[i]] = i;
  absl::flat_hash_map<uint32_t, uint64_t> station_time;
  station_time.reserve(stations);
  {
    SplitMix64 times = StreamFor(options.seed, "plan/times");
    constexpr uint64_t kTail = 4 * 3600;
    for (size_t s = 0; s < stations; ++s) {
      const uint64_t tail = times.Below(kTail + 1);
      const uint64_t wait = 20 * 60 + size_rank[s] * 90 * 60 / stations +
                            times.Below(3600 + 1) + tail * tail / kTail;
      station_time[layout.stations[s]->id()] =
          static_cast<uint64_t>(close[layout.region_of[s]]) + wait;
    }
  }

  // A follow-up (the correction after the wrong version, a resend after
  // the original) comes strictly later. Sorting by time gives the reporting
  // order.
  enum class Kind { kWrong, kTruth, kResend };
  struct Entry {
    uint64_t time;
    size_t protocol;
    Kind kind;
  };
  std::vector<Entry> entries;
  std::vector<v1::StationProtocol> wrong(n);
  for (size_t i = 0; i < n; ++i) {
    const auto at = station_time.find(truth[i].station_id());
    uint64_t time =
        (at == station_time.end() ? 0 : at->second) + rng.Below(5 * 60 + 1);
    if (corrected[i]) {
      wrong[i] = WrongVersion(truth[i], &rng);
      entries.push_back({time, i, Kind::kWrong});
      time += rng.Uniform(5 * 60, 60 * 60);
    }
    entries.push_back({time, i, Kind::kTruth});
    if (repeated[i]) {
      entries.push_back({time + rng.Uniform(1, 30 * 60), i, Kind::kResend});
    }
  }
  // Stable: equal times keep creation order (never a follow-up before its
  // original, which has a strictly smaller time).
  std::stable_sort(
      entries.begin(), entries.end(),
      [](const Entry& a, const Entry& b) { return a.time < b.time; });

  std::vector<Submission> plan;
  plan.reserve(entries.size());
  for (const Entry& entry : entries) {
    Submission& submission = plan.emplace_back();
    submission.seconds_after_close = entry.time;
    if (entry.kind == Kind::kWrong) {
      submission.protocol = std::move(wrong[entry.protocol]);
      continue;
    }
    submission.protocol = truth[entry.protocol];
    if (corrected[entry.protocol]) {
      submission.protocol.set_version(truth[entry.protocol].version() + 1);
    }
    submission.duplicate = entry.kind == Kind::kResend;
  }
  return plan;
}

v1::Totals SumTruth(const ElectionIndex& index,
                    const std::vector<v1::StationProtocol>& truth,
                    const std::string& contest_id, const v1::Scope& scope) {
  v1::Totals totals;
  totals.set_contest_id(contest_id);
  *totals.mutable_scope() = scope;
  const ContestInfo* info = index.FindContest(contest_id);
  if (info == nullptr) return totals;
  const v1::Contest& contest = *info->contest;
  auto in_scope = [&](const v1::PollingStation& station) {
    switch (scope.kind()) {
      case v1::SCOPE_KIND_REGION:
        return station.region_id() == scope.id();
      case v1::SCOPE_KIND_DISTRICT:
        return station.district_id() == scope.id();
      default:
        return true;
    }
  };
  // The register plus the allowed same-day additions, rounded down: the
  // most validation accepts from the station.
  const uint64_t basis_points =
      index.definition().validation().same_day_additions_basis_points();
  auto cap_of = [basis_points](const v1::PollingStation& station) {
    const uint64_t registered = station.registered_voters();
    return registered + registered * basis_points / 10000;
  };
  std::vector<uint64_t> votes(static_cast<size_t>(contest.choices_size()), 0);
  for (const v1::StationProtocol& protocol : truth) {
    if (protocol.contest_id() != contest_id) continue;
    const v1::PollingStation* station =
        index.FindStation(protocol.station_id());
    if (station == nullptr || !in_scope(*station)) continue;
    for (const v1::ChoiceVotes& line : protocol.votes()) {
      const auto it = info->choice_index.find(line.choice_id());
      if (it != info->choice_index.end()) votes[it->second] += line.votes();
    }
    const v1::BallotAccounting& a = protocol.accounting();
    totals.set_against_all(totals.against_all() + a.against_all());
    totals.set_invalid(totals.invalid() + a.invalid());
    totals.set_ballots_cast(totals.ballots_cast() + a.ballots_found());
    totals.set_ballots_issued(totals.ballots_issued() + a.ballots_issued());
    totals.set_registered_voters(totals.registered_voters() +
                                 a.registered_voters());
    totals.set_ballot_cap_reported(totals.ballot_cap_reported() +
                                   cap_of(*station));
    totals.set_stations_reported(totals.stations_reported() + 1);
  }
  for (int c = 0; c < contest.choices_size(); ++c) {
    v1::ChoiceTotal* line = totals.add_choices();
    line->set_choice_id(contest.choices(c).id());
    line->set_votes(votes[static_cast<size_t>(c)]);
  }
  for (const v1::PollingStation& station : index.definition().stations()) {
    if (!index.StationVotesIn(station, contest) || !in_scope(station)) continue;
    totals.set_registered_voters_expected(totals.registered_voters_expected() +
                                          station.registered_voters());
    totals.set_ballot_cap_expected(totals.ballot_cap_expected() +
                                   cap_of(station));
    totals.set_stations_expected(totals.stations_expected() + 1);
  }
  SetShares(contest, &totals);
  return totals;
}

}  // namespace tally::sim

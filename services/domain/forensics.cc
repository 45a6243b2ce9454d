#include "services/domain/forensics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "absl/strings/str_format.h"

namespace tally {
namespace {

// Benford's law for the second significant digit d:
// sum over first digits k = 1..9 of log10(1 + 1 / (10 k + d)).
std::array<double, 10> SecondDigitLaw() {
  std::array<double, 10> law{};
  for (int d = 0; d < 10; ++d) {
    for (int k = 1; k <= 9; ++k) law[d] += std::log10(1.0 + 1.0 / (10 * k + d));
  }
  return law;
}

int SecondDigit(uint64_t votes) {
  while (votes >= 100) votes /= 10;
  return static_cast<int>(votes % 10);
}

// Whether `part` is the count nearest to a whole percentage of `whole`:
// p = part / whole in percent rounded half up, and whole * p / 100 rounded
// half up gives `part` back. What a commission writes when it reports a
// chosen percentage rather than a count.
bool IsWholePercent(uint64_t part, uint64_t whole) {
  if (whole == 0) return false;
  using u128 = unsigned __int128;
  const u128 p = (u128{200} * part + whole) / (u128{2} * whole);
  const u128 nearest = (u128{2} * whole * p + 100) / 200;
  return nearest == part;
}

uint32_t PercentBin(uint64_t part, uint64_t whole) {
  const auto percent =
      static_cast<uint64_t>(static_cast<unsigned __int128>(part) * 100 / whole);
  return static_cast<uint32_t>(
      std::min<uint64_t>(percent, kFingerprintBins - 1));
}

int64_t Scaled(uint64_t part, uint64_t whole) {
  return static_cast<int64_t>(static_cast<unsigned __int128>(part) *
                              kRegressionScale / whole);
}

void AddChance(IntegerPercentTally& tally, uint64_t part, uint64_t whole,
               int sign) {
  const int64_t p = IntegerPercentChance(whole);
  tally.stations += static_cast<uint64_t>(sign);
  if (IsWholePercent(part, whole))
    tally.observed += static_cast<uint64_t>(sign);
  tally.expected += sign * p;
  tally.variance += sign * ((p * (kProbabilityOne - p)) >> 32);
}

std::string Percent(double fraction) {
  return absl::StrFormat("%.1f%%", 100.0 * fraction);
}

}  // namespace

int64_t IntegerPercentChance(uint64_t n) {
  if (n == 0) return 0;
  // The whole percentages 0..100 give min(101, n + 1) distinct nearest
  // counts among the n + 1 possible ones.
  const uint64_t nearest_counts = std::min<uint64_t>(101, n + 1);
  return static_cast<int64_t>(
      (static_cast<unsigned __int128>(nearest_counts) << 32) / (n + 1));
}

double IntegerPercentTally::ExpectedCount() const {
  return static_cast<double>(expected) / static_cast<double>(kProbabilityOne);
}

double IntegerPercentTally::ZScore() const {
  if (variance <= 0) return 0;
  const double sd = std::sqrt(static_cast<double>(variance) /
                              static_cast<double>(kProbabilityOne));
  return (static_cast<double>(observed) - ExpectedCount()) / sd;
}

std::optional<Regression> ChoiceForensics::TurnoutShareRegression() const {
  if (regression_stations < 3) return std::nullopt;
  const absl::int128 n = regression_stations;
  const absl::int128 sxx = n * sum_xx - sum_x * sum_x;
  const absl::int128 syy = n * sum_yy - sum_y * sum_y;
  const absl::int128 sxy = n * sum_xy - sum_x * sum_y;
  if (sxx <= 0 || syy <= 0) return std::nullopt;
  const double vx = static_cast<double>(sxx);
  const double vy = static_cast<double>(syy);
  const double cov = static_cast<double>(sxy);
  return Regression{cov / vx, cov / std::sqrt(vx * vy)};
}

namespace {

// The weighted median bin of a 100-bin histogram (the lowest bin holding
// half the weight).
uint32_t MedianBin(const std::array<uint64_t, kFingerprintBins>& histogram,
                   uint64_t total) {
  uint64_t seen = 0;
  for (uint32_t b = 0; b < kFingerprintBins; ++b) {
    seen += histogram[b];
    if (2 * seen >= total) return b;
  }
  return kFingerprintBins - 1;
}

// median + sigmas x max(1.4826 MAD, 1), as a bin (rounded up).
uint32_t RobustCut(const std::array<uint64_t, kFingerprintBins>& histogram,
                   uint64_t total, double sigmas) {
  const uint32_t median = MedianBin(histogram, total);
  std::array<uint64_t, kFingerprintBins> deviations{};
  for (uint32_t b = 0; b < kFingerprintBins; ++b) {
    deviations[b > median ? b - median : median - b] += histogram[b];
  }
  const double sd =
      std::max(1.4826 * static_cast<double>(MedianBin(deviations, total)), 1.0);
  return median + static_cast<uint32_t>(std::ceil(sigmas * sd));
}

}  // namespace

ChoiceForensics::Tail ChoiceForensics::FingerprintTail(double sigmas) const {
  std::array<uint64_t, kFingerprintBins> turnout{};
  std::array<uint64_t, kFingerprintBins> share{};
  uint64_t total = 0;
  for (const auto& [bin, weight] : fingerprint) {
    turnout[bin / kFingerprintBins] += weight;
    share[bin % kFingerprintBins] += weight;
    total += weight;
  }
  Tail tail;
  if (total == 0) return tail;
  tail.turnout_from = RobustCut(turnout, total, sigmas);
  tail.share_from = RobustCut(share, total, sigmas);
  uint64_t beyond = 0;
  for (const auto& [bin, weight] : fingerprint) {
    if (bin / kFingerprintBins >= tail.turnout_from &&
        bin % kFingerprintBins >= tail.share_from) {
      beyond += weight;
    }
  }
  tail.fraction = static_cast<double>(beyond) / static_cast<double>(total);
  return tail;
}

uint64_t ChoiceForensics::SecondDigitSamples() const {
  return std::accumulate(second_digits.begin(), second_digits.end(),
                         uint64_t{0});
}

double ChoiceForensics::SecondDigitChiSquare() const {
  static const std::array<double, 10> law = SecondDigitLaw();
  const double samples = static_cast<double>(SecondDigitSamples());
  if (samples == 0) return 0;
  double chi2 = 0;
  for (int d = 0; d < 10; ++d) {
    const double expected = samples * law[d];
    const double gap = static_cast<double>(second_digits[d]) - expected;
    chi2 += gap * gap / expected;
  }
  return chi2;
}

std::optional<size_t> ScopeForensics::Leader() const {
  std::optional<size_t> leader;
  for (size_t c = 0; c < choices.size(); ++c) {
    if (choices[c].votes == 0) continue;
    if (!leader || choices[c].votes > choices[*leader].votes) leader = c;
  }
  return leader;
}

std::vector<ForensicsFlag> EvaluateForensics(
    const ScopeForensics& statistics, const v1::Contest& contest,
    const ForensicsThresholds& thresholds) {
  std::vector<ForensicsFlag> flags;
  auto choice_id = [&](size_t c) -> std::string {
    return c < static_cast<size_t>(contest.choices_size())
               ? contest.choices(static_cast<int>(c)).id()
               : std::string();
  };
  auto choice_name = [&](size_t c) -> std::string {
    return c < static_cast<size_t>(contest.choices_size())
               ? contest.choices(static_cast<int>(c)).name()
               : std::string("?");
  };
  auto severity = [](double value, double strong) {
    return value >= strong ? ForensicsSeverity::kStrong
                           : ForensicsSeverity::kWarning;
  };
  const std::optional<size_t> leader = statistics.Leader();

  auto integer_flag = [&](const IntegerPercentTally& tally,
                          ForensicsFlagKind kind, const std::string& id,
                          const std::string& what) {
    if (tally.stations < thresholds.integer_min_stations) return;
    const double z = tally.ZScore();
    if (z < thresholds.integer_z_warning) return;
    flags.push_back(ForensicsFlag{
        kind, severity(z, thresholds.integer_z_strong), id,
        absl::StrFormat("%d of %d stations report %s as a whole percentage; "
                        "%.1f expected from their sizes (z = %.1f)",
                        tally.observed, tally.stations, what,
                        tally.ExpectedCount(), z)});
  };
  integer_flag(statistics.integer_turnout, ForensicsFlagKind::kIntegerTurnout,
               "", "their turnout");
  if (leader) {
    integer_flag(statistics.choices[*leader].integer_share,
                 ForensicsFlagKind::kIntegerShare, choice_id(*leader),
                 absl::StrCat("the share of ", choice_name(*leader)));
  }

  for (size_t c = 0; c < statistics.choices.size(); ++c) {
    const ChoiceForensics& choice = statistics.choices[c];
    const uint64_t samples = choice.SecondDigitSamples();
    if (samples < thresholds.second_digit_min_samples) continue;
    const double chi2 = choice.SecondDigitChiSquare();
    const double effect = chi2 / static_cast<double>(samples);
    if (chi2 < thresholds.second_digit_chi2_warning ||
        effect < thresholds.second_digit_min_effect) {
      continue;
    }
    const bool strong = chi2 >= thresholds.second_digit_chi2_strong &&
                        effect >= thresholds.second_digit_strong_effect;
    flags.push_back(ForensicsFlag{
        ForensicsFlagKind::kSecondDigit,
        strong ? ForensicsSeverity::kStrong : ForensicsSeverity::kWarning,
        choice_id(c),
        absl::StrFormat("the second digits of %s's %d station counts depart "
                        "from Benford's second-digit law (chi-square %.1f, 9 "
                        "degrees of freedom)",
                        choice_name(c), samples, chi2)});
  }

  if (leader) {
    const ChoiceForensics& choice = statistics.choices[*leader];
    const std::optional<Regression> fit = choice.TurnoutShareRegression();
    if (fit && choice.regression_stations >= thresholds.slope_min_stations &&
        fit->correlation >= thresholds.slope_min_correlation &&
        fit->slope >= thresholds.slope_warning) {
      flags.push_back(ForensicsFlag{
          ForensicsFlagKind::kTurnoutShareSlope,
          severity(fit->slope, thresholds.slope_strong), choice_id(*leader),
          absl::StrFormat("the share of %s rises by %.2f points per point of "
                          "turnout over %d stations (correlation %.2f)",
                          choice_name(*leader), fit->slope,
                          choice.regression_stations, fit->correlation)});
    }
  }

  if (leader && statistics.stations >= thresholds.tail_min_stations) {
    const ChoiceForensics& choice = statistics.choices[*leader];
    const ChoiceForensics::Tail tail =
        choice.FingerprintTail(thresholds.tail_sigmas);
    if (tail.fraction >= thresholds.tail_fraction_warning) {
      flags.push_back(ForensicsFlag{
          ForensicsFlagKind::kFingerprintTail,
          severity(tail.fraction, thresholds.tail_fraction_strong),
          choice_id(*leader),
          absl::StrFormat(
              "%s of the ballots were cast at stations with a turnout of %d%% "
              "or more and a share of %d%% or more for %s, far above the "
              "bulk of the stations on both at once",
              Percent(tail.fraction), tail.turnout_from, tail.share_from,
              choice_name(*leader))});
    }
  }

  const double stations = static_cast<double>(statistics.stations);
  auto outlier_flag = [&](uint64_t count, double warning, double strong,
                          ForensicsFlagKind kind, const std::string& id,
                          const std::string& what) {
    if (count < thresholds.outlier_min_stations || stations == 0) return;
    const double fraction = static_cast<double>(count) / stations;
    if (fraction < warning) return;
    flags.push_back(ForensicsFlag{
        kind, severity(fraction, strong), id,
        absl::StrFormat("%d of %d stations (%s) %s", count, statistics.stations,
                        Percent(fraction), what)});
  };
  outlier_flag(
      statistics.full_turnout, thresholds.full_turnout_fraction_warning,
      thresholds.full_turnout_fraction_strong, ForensicsFlagKind::kFullTurnout,
      "", "issued a ballot to every registered voter");
  for (size_t c = 0; c < statistics.choices.size(); ++c) {
    outlier_flag(statistics.choices[c].stations_95,
                 thresholds.unanimous_fraction_warning,
                 thresholds.unanimous_fraction_strong,
                 ForensicsFlagKind::kUnanimousStations, choice_id(c),
                 absl::StrCat("give ", choice_name(c),
                              " 95% or more of the valid ballots"));
  }
  return flags;
}

ForensicsBook::ForensicsBook(const TotalsBook& layout) : layout_(layout) {
  Reset();
}

void ForensicsBook::Reset() {
  entries_.assign(layout_.size(), ScopeForensics());
  for (uint32_t e = 0; e < entries_.size(); ++e) {
    const ContestInfo& contest =
        layout_.index().contests()[layout_.address(e).contest];
    entries_[e].choices.resize(
        static_cast<size_t>(contest.contest->choices_size()));
  }
}

void ForensicsBook::Apply(const v1::StationProtocol* previous,
                          const v1::StationProtocol& current) {
  const ContestInfo* contest =
      layout_.index().FindContest(current.contest_id());
  if (contest == nullptr) return;
  if (previous != nullptr && (previous->station_id() != current.station_id() ||
                              previous->contest_id() != current.contest_id())) {
    return;
  }
  if (previous != nullptr) Add(*previous, *contest, -1);
  Add(current, *contest, 1);
}

void ForensicsBook::Add(const v1::StationProtocol& protocol,
                        const ContestInfo& contest, int sign) {
  uint32_t targets[3];
  const size_t count = layout_.EntriesFor(protocol, targets);
  if (count == 0) return;
  const size_t choices = static_cast<size_t>(contest.contest->choices_size());
  // A protocol's votes by choice position (validated: no repeats).
  std::vector<uint64_t> votes(choices, 0);
  for (int i = 0; i < protocol.votes_size(); ++i) {
    const int position = ChoicePosition(contest, protocol.votes(i), i);
    if (position >= 0) {
      votes[static_cast<size_t>(position)] = protocol.votes(i).votes();
    }
  }
  const v1::BallotAccounting& lines = protocol.accounting();
  const uint64_t registered = lines.registered_voters();
  const uint64_t issued = std::min(lines.ballots_issued(), registered);
  const uint64_t valid = lines.ballots_found() >= lines.invalid()
                             ? lines.ballots_found() - lines.invalid()
                             : 0;
  const uint64_t step = static_cast<uint64_t>(sign);  // -1 wraps: subtracts
  const bool has_turnout = registered > 0;
  const bool has_shares = has_turnout && valid > 0;
  const int64_t turnout_scaled = has_turnout ? Scaled(issued, registered) : 0;
  const uint32_t turnout_bin = has_turnout ? PercentBin(issued, registered) : 0;

  for (size_t t = 0; t < count; ++t) {
    ScopeForensics& scope = entries_[targets[t]];
    scope.stations += step;
    if (has_turnout) {
      AddChance(scope.integer_turnout, issued, registered, sign);
      if (issued == registered) scope.full_turnout += step;
    }
    for (size_t c = 0; c < choices; ++c) {
      ChoiceForensics& choice = scope.choices[c];
      const uint64_t v = votes[c];
      choice.votes += step * v;
      if (v >= 10) choice.second_digits[SecondDigit(v)] += step;
      if (!has_shares) continue;
      AddChance(choice.integer_share, v, valid, sign);
      if (static_cast<unsigned __int128>(v) * 100 >=
          static_cast<unsigned __int128>(valid) * 95) {
        choice.stations_95 += step;
      }
      if (issued > 0) {
        const uint32_t bin = turnout_bin * kFingerprintBins +
                             PercentBin(std::min(v, valid), valid);
        auto it = choice.fingerprint.try_emplace(bin, 0).first;
        it->second += step * issued;
        if (it->second == 0) choice.fingerprint.erase(it);
      }
      const absl::int128 x = turnout_scaled;
      const absl::int128 y = Scaled(std::min(v, valid), valid);
      choice.regression_stations += step;
      choice.sum_x += sign * x;
      choice.sum_y += sign * y;
      choice.sum_xx += sign * x * x;
      choice.sum_yy += sign * y * y;
      choice.sum_xy += sign * x * y;
    }
  }
}

}  // namespace tally

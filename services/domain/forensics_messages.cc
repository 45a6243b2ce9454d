#include "services/domain/forensics_messages.h"

#include <algorithm>
#include <utility>

namespace tally {
namespace {

v1::ForensicsFlagKind KindMessage(ForensicsFlagKind kind) {
  switch (kind) {
    case ForensicsFlagKind::kIntegerTurnout:
      return v1::FORENSICS_FLAG_KIND_INTEGER_TURNOUT;
    case ForensicsFlagKind::kIntegerShare:
      return v1::FORENSICS_FLAG_KIND_INTEGER_SHARE;
    case ForensicsFlagKind::kSecondDigit:
      return v1::FORENSICS_FLAG_KIND_SECOND_DIGIT;
    case ForensicsFlagKind::kTurnoutShareSlope:
      return v1::FORENSICS_FLAG_KIND_TURNOUT_SHARE_SLOPE;
    case ForensicsFlagKind::kFingerprintTail:
      return v1::FORENSICS_FLAG_KIND_FINGERPRINT_TAIL;
    case ForensicsFlagKind::kFullTurnout:
      return v1::FORENSICS_FLAG_KIND_FULL_TURNOUT;
    case ForensicsFlagKind::kUnanimousStations:
      return v1::FORENSICS_FLAG_KIND_UNANIMOUS_STATIONS;
  }
  return v1::FORENSICS_FLAG_KIND_UNSPECIFIED;
}

void SetIntegerPercent(const IntegerPercentTally& tally,
                       v1::IntegerPercentStatistic* out) {
  out->set_stations(tally.stations);
  out->set_observed(tally.observed);
  out->set_expected(tally.ExpectedCount());
  out->set_z_score(tally.ZScore());
}

}  // namespace

v1::ForensicsFlag FlagMessage(const ForensicsFlag& flag) {
  v1::ForensicsFlag out;
  out.set_kind(KindMessage(flag.kind));
  out.set_severity(flag.severity == ForensicsSeverity::kStrong
                       ? v1::FORENSICS_SEVERITY_STRONG
                       : v1::FORENSICS_SEVERITY_WARNING);
  out.set_choice_id(flag.choice_id);
  out.set_message(flag.message);
  return out;
}

std::vector<v1::ForensicsFlag> FlagMessages(
    const std::vector<ForensicsFlag>& flags) {
  std::vector<v1::ForensicsFlag> out;
  out.reserve(flags.size());
  for (const ForensicsFlag& flag : flags) out.push_back(FlagMessage(flag));
  return out;
}

v1::ScopeForensics ScopeForensicsMessage(const ScopeForensics& statistics,
                                         const v1::Contest& contest,
                                         const v1::Scope& scope,
                                         uint64_t revision,
                                         double tail_sigmas) {
  v1::ScopeForensics out;
  out.set_contest_id(contest.id());
  *out.mutable_scope() = scope;
  out.set_revision(revision);
  out.set_stations(statistics.stations);
  SetIntegerPercent(statistics.integer_turnout, out.mutable_integer_turnout());
  out.set_full_turnout(statistics.full_turnout);
  const size_t choices = std::min(statistics.choices.size(),
                                  static_cast<size_t>(contest.choices_size()));
  for (size_t c = 0; c < choices; ++c) {
    const ChoiceForensics& choice = statistics.choices[c];
    v1::ChoiceForensics* message = out.add_choices();
    message->set_choice_id(contest.choices(static_cast<int>(c)).id());
    message->set_votes(choice.votes);
    SetIntegerPercent(choice.integer_share, message->mutable_integer_share());
    for (uint64_t count : choice.second_digits) {
      message->add_second_digits(count);
    }
    message->set_second_digit_chi_square(choice.SecondDigitChiSquare());
    message->set_regression_stations(choice.regression_stations);
    if (const std::optional<Regression> fit = choice.TurnoutShareRegression()) {
      message->set_turnout_share_slope(fit->slope);
      message->set_turnout_share_correlation(fit->correlation);
    }
    message->set_stations_95(choice.stations_95);
  }
  const std::optional<size_t> leader = statistics.Leader();
  if (leader && *leader < choices) {
    out.set_leader_choice_id(contest.choices(static_cast<int>(*leader)).id());
    const ChoiceForensics::Tail tail =
        statistics.choices[*leader].FingerprintTail(tail_sigmas);
    out.set_leader_tail_fraction(tail.fraction);
    out.set_tail_turnout_from(tail.turnout_from);
    out.set_tail_share_from(tail.share_from);
    std::vector<std::pair<uint32_t, uint64_t>> cells(
        statistics.choices[*leader].fingerprint.begin(),
        statistics.choices[*leader].fingerprint.end());
    std::sort(cells.begin(), cells.end());
    for (const auto& [bin, weight] : cells) {
      v1::FingerprintCell* cell = out.add_fingerprint();
      cell->set_turnout_bin(bin / kFingerprintBins);
      cell->set_share_bin(bin % kFingerprintBins);
      cell->set_ballots_issued(weight);
    }
  }
  return out;
}

}  // namespace tally

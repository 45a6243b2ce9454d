#include "clients/tallyctl/forensics_view.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tally::cli {
namespace {

constexpr char kShades[] = " .:-=+*#%@";
constexpr int kShadeCount = sizeof(kShades) - 1;

std::string KindName(v1::ForensicsFlagKind kind) {
  switch (kind) {
    case v1::FORENSICS_FLAG_KIND_INTEGER_TURNOUT:
      return "whole-percent turnout";
    case v1::FORENSICS_FLAG_KIND_INTEGER_SHARE:
      return "whole-percent share";
    case v1::FORENSICS_FLAG_KIND_SECOND_DIGIT:
      return "second digits";
    case v1::FORENSICS_FLAG_KIND_TURNOUT_SHARE_SLOPE:
      return "share rises with turnout";
    case v1::FORENSICS_FLAG_KIND_FINGERPRINT_TAIL:
      return "high turnout and share together";
    case v1::FORENSICS_FLAG_KIND_FULL_TURNOUT:
      return "100% turnout";
    case v1::FORENSICS_FLAG_KIND_UNANIMOUS_STATIONS:
      return "near-unanimous stations";
    default:
      return "unknown";
  }
}

std::string SeverityName(v1::ForensicsSeverity severity) {
  return severity == v1::FORENSICS_SEVERITY_STRONG ? "STRONG" : "warning";
}

std::string FlagLine(const v1::ForensicsFlag& flag) {
  return absl::StrCat("  [", SeverityName(flag.severity()), "] ",
                      KindName(flag.kind()), ": ", flag.message(), "\n");
}

}  // namespace

std::string RenderHeatMap(const v1::ScopeForensics& forensics) {
  constexpr int kBinsPerRow = 100 / kHeatMapRows;
  constexpr int kBinsPerColumn = 100 / kHeatMapColumns;
  std::vector<std::array<uint64_t, kHeatMapColumns>> cells(kHeatMapRows);
  for (auto& row : cells) row.fill(0);
  uint64_t heaviest = 0;
  for (const v1::FingerprintCell& cell : forensics.fingerprint()) {
    const int row = std::min<int>(
        static_cast<int>(cell.turnout_bin()) / kBinsPerRow, kHeatMapRows - 1);
    const int column =
        std::min<int>(static_cast<int>(cell.share_bin()) / kBinsPerColumn,
                      kHeatMapColumns - 1);
    uint64_t& sum =
        cells[static_cast<size_t>(row)][static_cast<size_t>(column)];
    sum += cell.ballots_issued();
    heaviest = std::max(heaviest, sum);
  }
  std::string out;
  const double top = std::log1p(static_cast<double>(heaviest));
  for (int row = kHeatMapRows - 1; row >= 0; --row) {
    // Label every other row with the lower edge of its turnout band.
    if (row % 2 == 1) {
      absl::StrAppend(&out, "      |");
    } else {
      absl::StrAppend(&out, absl::StrFormat("%4d%% |", row * kBinsPerRow));
    }
    for (int column = 0; column < kHeatMapColumns; ++column) {
      const uint64_t sum =
          cells[static_cast<size_t>(row)][static_cast<size_t>(column)];
      int shade = 0;
      if (sum > 0 && top > 0) {
        // Any ballots at all show; the heaviest cell is the darkest.
        shade = 1 + static_cast<int>(std::log1p(static_cast<double>(sum)) /
                                         top * (kShadeCount - 2) +
                                     0.5);
        shade = std::min(shade, kShadeCount - 1);
      }
      out.push_back(kShades[shade]);
    }
    out.push_back('\n');
  }
  absl::StrAppend(&out, "      +", std::string(kHeatMapColumns, '-'), "\n");
  absl::StrAppend(&out, "       0%", std::string(kHeatMapColumns / 2 - 4, ' '),
                  "50%", std::string(kHeatMapColumns / 2 - 5, ' '), "100%\n");
  return out;
}

std::string RenderForensics(const ElectionNames& names,
                            const v1::GetForensicsResponse& response) {
  const v1::ScopeForensics& f = response.forensics();
  const std::string& contest = f.contest_id();
  std::string out = absl::StrFormat(
      "Warning signs: %s, %s, revision %d, %d stations counted\n", contest,
      names.scope(f.scope()), f.revision(), f.stations());
  absl::StrAppend(&out,
                  "Statistical signals for observers, never proof: a flag "
                  "says a pattern is unusual, not that anything was "
                  "falsified.\n\n");
  if (!f.leader_choice_id().empty()) {
    absl::StrAppend(&out, "Turnout (rows) x share of ",
                    names.choice(contest, f.leader_choice_id()),
                    " (columns), stations weighted by ballots issued:\n",
                    RenderHeatMap(f), "\n");
  }
  const v1::IntegerPercentStatistic& turnout = f.integer_turnout();
  absl::StrAppend(
      &out,
      absl::StrFormat("whole-percent turnouts  %d of %d stations, %.1f "
                      "expected, z = %.1f\n",
                      turnout.observed(), turnout.stations(),
                      turnout.expected(), turnout.z_score()),
      absl::StrFormat("100%% turnout           %d stations\n\n",
                      f.full_turnout()));
  absl::StrAppend(&out, absl::StrFormat("%-28s %12s %9s %7s %9s %7s %6s %5s\n",
                                        "choice", "votes", "whole-%", "z",
                                        "2BL chi2", "slope", "corr", ">=95%"));
  for (const v1::ChoiceForensics& choice : f.choices()) {
    std::string name = names.choice(contest, choice.choice_id());
    if (name.size() > 28) name.resize(28);
    const std::string slope =
        choice.has_turnout_share_slope()
            ? absl::StrFormat("%.2f", choice.turnout_share_slope())
            : std::string("-");
    const std::string correlation =
        choice.has_turnout_share_correlation()
            ? absl::StrFormat("%.2f", choice.turnout_share_correlation())
            : std::string("-");
    absl::StrAppend(
        &out, absl::StrFormat("%-28s %12s %9d %7.1f %9.1f %7s %6s %5d\n", name,
                              Grouped(choice.votes()),
                              choice.integer_share().observed(),
                              choice.integer_share().z_score(),
                              choice.second_digit_chi_square(), slope,
                              correlation, choice.stations_95()));
  }
  absl::StrAppend(&out, "\n");
  if (response.flags().empty()) {
    absl::StrAppend(&out, "No warning signs in this scope.\n");
  } else {
    absl::StrAppend(&out, "Flags in this scope:\n");
    for (const v1::ForensicsFlag& flag : response.flags()) {
      absl::StrAppend(&out, FlagLine(flag));
    }
  }
  std::vector<const v1::ScopeFlags*> elsewhere;
  for (const v1::ScopeFlags& flagged : response.flagged_scopes()) {
    if (flagged.contest_id() == contest &&
        flagged.scope().kind() == f.scope().kind() &&
        flagged.scope().id() == f.scope().id()) {
      continue;
    }
    elsewhere.push_back(&flagged);
  }
  if (!elsewhere.empty()) {
    absl::StrAppend(&out, "\nFlagged elsewhere:\n");
    for (const v1::ScopeFlags* flagged : elsewhere) {
      absl::StrAppend(&out, flagged->contest_id(), ", ",
                      names.scope(flagged->scope()), ":\n");
      for (const v1::ForensicsFlag& flag : flagged->flags()) {
        absl::StrAppend(&out, FlagLine(flag));
      }
    }
  }
  return out;
}

std::string RenderFlagChange(const ElectionNames& names, uint64_t revision,
                             const v1::ScopeFlags& flags) {
  const std::string where =
      absl::StrCat(flags.contest_id(), ", ", names.scope(flags.scope()));
  if (flags.flags().empty()) {
    return absl::StrFormat("revision %d: %s is no longer flagged\n", revision,
                           where);
  }
  std::string out =
      absl::StrFormat("revision %d: warning signs in %s\n", revision, where);
  for (const v1::ForensicsFlag& flag : flags.flags()) {
    absl::StrAppend(&out, FlagLine(flag));
  }
  return out;
}

}  // namespace tally::cli

// The election forensics on whole simulated nights of the reference
// election (services/domain/forensics.h, clients/simulator/anomalies.h):
// clean nights raise (almost) no flags, and planted signatures are found in
// the region they were planted in. These rates are how the thresholds of
// ForensicsThresholds were chosen; the test prints them (docs/ARCHITECTURE.md
// "Election forensics" quotes them).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clients/simulator/anomalies.h"
#include "clients/simulator/night_generator.h"
#include "gtest/gtest.h"
#include "services/domain/forensics.h"
#include "services/domain/protocol_validation.h"
#include "services/domain/totals_book.h"
#include "tests/support/reference_election.h"

namespace tally {
namespace {

constexpr uint64_t kSeeds = 20;

// Seeds FirstSeed() .. FirstSeed() + kSeeds - 1: 1 unless the environment
// sets TALLY_FORENSICS_FIRST_SEED (calibration mode: the out-of-sample
// seeds 101-120 of docs/ARCHITECTURE.md are TALLY_FORENSICS_FIRST_SEED=101;
// the rates are printed, and the checks still apply).
uint64_t FirstSeed() {
  const char* text = std::getenv("TALLY_FORENSICS_FIRST_SEED");
  if (text == nullptr || *text == '\0') return 1;
  return std::strtoull(text, nullptr, 10);
}

const testing::ReferenceElection& Ref() {
  return testing::Reference(2023, testing::Truth::kOfficialResult);
}

// The largest value of each statistic over every (region, seed): of the
// leading choice, and the second digits of any choice with 100 counts.
struct Maxima {
  double slope = -1;
  double correlation = -1;
  double z_turnout = -100;
  double z_share = -100;
  double chi2 = 0;
  // The largest effect (chi-square / counts) of a second-digit test whose
  // chi-square reaches the warning threshold.
  double effect = 0;
  double tail = 0;
};

// The smallest value of each statistic of the leading choice over the
// seeds, in one region (the planted one).
struct Minima {
  double slope = 100;
  double correlation = 100;
  double z_turnout = 1e9;
  double z_share = 1e9;
  double tail = 100;
};

// Per region of the first (nationwide) contest, and for the whole country:
// in how many seeds it was flagged, and by which kinds.
struct Outcome {
  Maxima maxima;
  Minima planted;  // of PlantedRegion()
  std::map<std::string, uint64_t> flagged_seeds;
  std::map<std::string, std::map<ForensicsFlagKind, uint64_t>> kinds;
  uint64_t pairs = 0;
  uint64_t flagged_pairs = 0;
};

std::string PlantedRegion() {
  return Ref().index->definition().regions(0).id();
}

Outcome RunNights(const std::optional<std::string>& anomaly) {
  const testing::ReferenceElection& ref = Ref();
  const ElectionIndex& index = *ref.index;
  const ContestInfo& contest = index.contests().front();
  const ForensicsThresholds thresholds;
  Outcome outcome;
  for (uint64_t seed = FirstSeed(); seed < FirstSeed() + kSeeds; ++seed) {
    sim::NightOptions options;
    options.seed = seed;
    options.targets = {ref.target};
    absl::StatusOr<std::vector<v1::StationProtocol>> truth =
        sim::GenerateTruth(index, options);
    EXPECT_TRUE(truth.ok()) << truth.status();
    if (!truth.ok()) return outcome;
    if (anomaly.has_value()) {
      absl::StatusOr<sim::Anomaly> parsed = sim::ParseAnomaly(*anomaly);
      EXPECT_TRUE(parsed.ok()) << parsed.status();
      if (!parsed.ok()) return outcome;
      absl::StatusOr<uint64_t> planted =
          sim::PlantAnomaly(index, *parsed, seed, &*truth);
      EXPECT_TRUE(planted.ok()) << planted.status();
      EXPECT_GT(planted.value_or(0), 0u);
    }
    TotalsBook totals(index);
    ForensicsBook book(totals);
    for (const v1::StationProtocol& protocol : *truth) {
      book.Apply(nullptr, protocol);
    }
    // Every region, then the whole country (as "national").
    std::vector<v1::Scope> scopes;
    for (const v1::Region& region : index.definition().regions()) {
      v1::Scope scope;
      scope.set_kind(v1::SCOPE_KIND_REGION);
      scope.set_id(region.id());
      scopes.push_back(scope);
    }
    scopes.emplace_back().set_kind(v1::SCOPE_KIND_NATIONAL);
    for (const v1::Scope& scope : scopes) {
      const std::string name =
          scope.id().empty() ? std::string("national") : scope.id();
      const std::optional<uint32_t> entry =
          totals.Find(contest.contest->id(), scope);
      EXPECT_TRUE(entry.has_value()) << name;
      if (!entry.has_value()) continue;
      const std::vector<ForensicsFlag> flags =
          EvaluateForensics(book.entry(*entry), *contest.contest);
      const ScopeForensics& statistics = book.entry(*entry);
      if (const std::optional<size_t> leader = statistics.Leader()) {
        const ChoiceForensics& choice = statistics.choices[*leader];
        Maxima& m = outcome.maxima;
        if (const std::optional<Regression> fit =
                choice.TurnoutShareRegression()) {
          m.slope = std::max(m.slope, fit->slope);
          m.correlation = std::max(m.correlation, fit->correlation);
        }
        m.z_turnout =
            std::max(m.z_turnout, statistics.integer_turnout.ZScore());
        m.z_share = std::max(m.z_share, choice.integer_share.ZScore());
        m.tail = std::max(m.tail, choice.FingerprintTail(3.0).fraction);
        for (const ChoiceForensics& any : statistics.choices) {
          const uint64_t samples = any.SecondDigitSamples();
          if (samples >= 100) {
            const double chi2 = any.SecondDigitChiSquare();
            m.chi2 = std::max(m.chi2, chi2);
            if (chi2 >= thresholds.second_digit_chi2_warning) {
              m.effect =
                  std::max(m.effect, chi2 / static_cast<double>(samples));
            }
          }
        }
        if (name == PlantedRegion()) {
          Minima& p = outcome.planted;
          const std::optional<Regression> fit = choice.TurnoutShareRegression();
          p.slope = std::min(p.slope, fit.has_value() ? fit->slope : 0.0);
          p.correlation =
              std::min(p.correlation, fit.has_value() ? fit->correlation : 0.0);
          p.z_turnout =
              std::min(p.z_turnout, statistics.integer_turnout.ZScore());
          p.z_share = std::min(p.z_share, choice.integer_share.ZScore());
          p.tail = std::min(p.tail, choice.FingerprintTail(3.0).fraction);
        }
      }
      ++outcome.pairs;
      if (flags.empty()) continue;
      ++outcome.flagged_pairs;
      ++outcome.flagged_seeds[name];
      for (const ForensicsFlag& flag : flags) {
        ++outcome.kinds[name][flag.kind];
      }
    }
  }
  return outcome;
}

void Print(const std::string& name, const Outcome& outcome) {
  std::printf(
      "forensics %s (seeds %llu-%llu): %llu of %llu (region, seed) "
      "pairs flagged\n",
      name.c_str(), static_cast<unsigned long long>(FirstSeed()),
      static_cast<unsigned long long>(FirstSeed() + kSeeds - 1),
      static_cast<unsigned long long>(outcome.flagged_pairs),
      static_cast<unsigned long long>(outcome.pairs));
  const Maxima& m = outcome.maxima;
  std::printf(
      "  maxima: slope %.3f correlation %.3f z(turnout) %.2f z(share) %.2f "
      "second-digit chi2 %.1f (effect %.3f) tail %.4f\n",
      m.slope, m.correlation, m.z_turnout, m.z_share, m.chi2, m.effect, m.tail);
  const Minima& p = outcome.planted;
  std::printf(
      "  %s minima: slope %.3f correlation %.3f z(turnout) %.2f z(share) "
      "%.2f tail %.4f\n",
      PlantedRegion().c_str(), p.slope, p.correlation, p.z_turnout, p.z_share,
      p.tail);
  for (const auto& [region, seeds] : outcome.flagged_seeds) {
    std::printf("  %s flagged in %llu of %llu seeds; kinds:", region.c_str(),
                static_cast<unsigned long long>(seeds),
                static_cast<unsigned long long>(kSeeds));
    for (const auto& [kind, count] : outcome.kinds.at(region)) {
      std::printf(" %d x%llu", static_cast<int>(kind),
                  static_cast<unsigned long long>(count));
    }
    std::printf("\n");
  }
}

TEST(AnomalyTest, ParsesAndRefusesWithAReason) {
  absl::StatusOr<sim::Anomaly> stuffing = sim::ParseAnomaly("stuffing:r-1:12");
  ASSERT_TRUE(stuffing.ok()) << stuffing.status();
  EXPECT_EQ(stuffing->kind, sim::Anomaly::Kind::kStuffing);
  EXPECT_EQ(stuffing->region_id, "r-1");
  EXPECT_EQ(stuffing->percent, 12u);
  EXPECT_EQ(sim::ParseAnomaly("stuffing:r-1")->percent, 5u);
  EXPECT_EQ(sim::ParseAnomaly("round_numbers:r-2")->kind,
            sim::Anomaly::Kind::kRoundNumbers);
  for (const char* bad :
       {"", "stuffing", "stuffing:", "stuffing:r:0", "stuffing:r:101",
        "stuffing:r:x", "round_numbers:r:5", "ballots:r"}) {
    EXPECT_EQ(sim::ParseAnomaly(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(AnomalyTest, PlantedProtocolsStillPassValidation) {
  const testing::ReferenceElection& ref = Ref();
  ASSERT_TRUE(ref.status.ok()) << ref.status;
  const std::string region = PlantedRegion();
  for (const std::string& text :
       {"stuffing:" + region + ":20", "round_numbers:" + region}) {
    std::vector<v1::StationProtocol> truth = ref.truth;
    absl::StatusOr<uint64_t> planted =
        sim::PlantAnomaly(*ref.index, *sim::ParseAnomaly(text), 2023, &truth);
    ASSERT_TRUE(planted.ok()) << planted.status();
    EXPECT_GT(*planted, 0u) << text;
    uint64_t changed = 0;
    for (size_t i = 0; i < truth.size(); ++i) {
      const ProtocolVerdict verdict = ValidateProtocol(*ref.index, truth[i]);
      ASSERT_TRUE(verdict.accepted())
          << text << ": " << verdict.status << " " << truth[i].DebugString();
      if (truth[i].SerializeAsString() != ref.truth[i].SerializeAsString()) {
        ++changed;
      }
    }
    EXPECT_GE(changed, *planted) << text;
  }
  EXPECT_EQ(sim::PlantAnomaly(
                *ref.index, *sim::ParseAnomaly("stuffing:nowhere"), 1, nullptr)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(ForensicsNightTest, CleanNightsAreRarelyFlagged) {
  ASSERT_TRUE(Ref().status.ok()) << Ref().status;
  const Outcome outcome = RunNights(std::nullopt);
  Print("clean", outcome);
  ASSERT_GT(outcome.pairs, 0u);
  EXPECT_LE(outcome.flagged_pairs * 20, outcome.pairs)
      << "more than 5% of (region, seed) pairs flagged";
  for (const auto& [region, seeds] : outcome.flagged_seeds) {
    EXPECT_LE(seeds * 20, kSeeds) << region << " flagged in " << seeds << " of "
                                  << kSeeds << " clean nights";
  }
}

TEST(ForensicsNightTest, StuffingInOneRegionIsFound) {
  ASSERT_TRUE(Ref().status.ok()) << Ref().status;
  const std::string region = PlantedRegion();
  const Outcome outcome = RunNights("stuffing:" + region + ":5");
  Print("stuffing:" + region + ":5", outcome);
  const auto it = outcome.flagged_seeds.find(region);
  EXPECT_GE(it == outcome.flagged_seeds.end() ? 0 : it->second, 19u);
}

TEST(ForensicsNightTest, RoundNumbersInOneRegionAreFound) {
  ASSERT_TRUE(Ref().status.ok()) << Ref().status;
  const std::string region = PlantedRegion();
  const Outcome outcome = RunNights("round_numbers:" + region);
  Print("round_numbers:" + region, outcome);
  const auto it = outcome.flagged_seeds.find(region);
  EXPECT_GE(it == outcome.flagged_seeds.end() ? 0 : it->second, 19u);
}

}  // namespace
}  // namespace tally

// Station protocol validation (identity and ballot accounting) and the
// protocol content digest.
#include "services/domain/protocol_validation.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "services/domain/protocol_digest.h"
#include "tally/v1/election.pb.h"
#include "tally/v1/protocol.pb.h"
#include "tests/support/mini_election.h"

namespace tally {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::MiniElection;

constexpr uint64_t kTooLarge = (uint64_t{1} << 40) + 1;

std::unique_ptr<ElectionIndex> BuildIndex(v1::ElectionDefinition d) {
  auto index = ElectionIndex::Build(std::move(d));
  EXPECT_TRUE(index.ok()) << index.status();
  return index.ok() ? std::move(*index) : nullptr;
}

void SetVotes(v1::StationProtocol* p,
              std::vector<std::pair<std::string, uint64_t>> lines) {
  p->clear_votes();
  for (const auto& [id, votes] : lines) {
    v1::ChoiceVotes* line = p->add_votes();
    line->set_choice_id(id);
    line->set_votes(votes);
  }
}

// Station 101 (register 1000, cap 1050), party list: every check passes.
//   votes 400 + 200 + 75 = 675, + against all 15 + invalid 10 = 700 found;
//   700 found <= 700 issued <= 1000 received; 1000 - 700 = 300 unused.
v1::StationProtocol ValidProtocol() {
  v1::StationProtocol p;
  p.set_contest_id("list");
  p.set_station_id(101);
  p.set_version(1);
  v1::BallotAccounting* a = p.mutable_accounting();
  a->set_registered_voters(1000);
  a->set_ballots_received(1000);
  a->set_ballots_issued(700);
  a->set_ballots_found(700);
  a->set_invalid(10);
  a->set_against_all(15);
  a->set_unused_cancelled(300);
  SetVotes(&p, {{"party-a", 400}, {"party-b", 200}, {"party-c", 75}});
  return p;
}

TEST(ProtocolValidationTest, ValidProtocolIsAcceptedWithoutFindings) {
  const auto index = BuildIndex(MiniElection());
  const ProtocolVerdict verdict = ValidateProtocol(*index, ValidProtocol());
  EXPECT_TRUE(verdict.accepted()) << verdict.status;
  EXPECT_FALSE(verdict.has_anomalies());
  EXPECT_THAT(verdict.findings, IsEmpty());
}

TEST(ProtocolValidationTest, DistrictContestAtItsOwnStationIsAccepted) {
  const auto index = BuildIndex(MiniElection());
  v1::StationProtocol p = ValidProtocol();
  p.set_contest_id("smd-1");
  p.set_station_id(102);
  p.mutable_accounting()->set_registered_voters(800);
  p.mutable_accounting()->set_ballots_received(800);
  p.mutable_accounting()->set_against_all(0);
  p.mutable_accounting()->set_unused_cancelled(100);
  SetVotes(&p, {{"cand-x", 500}, {"cand-y", 190}});  // 690 + 10 = 700
  const ProtocolVerdict verdict =
      ValidateProtocol(*index, p, ValidationContext{"r-north"});
  EXPECT_TRUE(verdict.accepted()) << verdict.status;
  EXPECT_THAT(verdict.findings, IsEmpty());
}

// --- table: every rule, with its exact code, rule name and message

using ProtocolMutation = std::function<void(v1::StationProtocol*)>;

struct RuleCase {
  std::string name;
  ProtocolMutation mutate;
  std::string caller_region;
  absl::StatusCode code;
  std::string rule;  // of the first (status-giving) finding
  std::string field;
  std::string message;  // substring of the finding's message
  size_t findings;      // how many findings in all
};

void PrintTo(const RuleCase& c, std::ostream* os) { *os << c.name; }

std::vector<RuleCase> IdentityCases() {
  using absl::StatusCode;
  return {
      {"ContestRequired", [](auto* p) { p->clear_contest_id(); }, "",
       StatusCode::kInvalidArgument, "contest_required", "contest_id",
       "contest_id is required", 1},
      {"UnknownContest", [](auto* p) { p->set_contest_id("senate"); }, "",
       StatusCode::kNotFound, "unknown_contest", "contest_id",
       "contest \"senate\" is not defined in the election", 1},
      {"StationRequired", [](auto* p) { p->set_station_id(0); }, "",
       StatusCode::kInvalidArgument, "station_required", "station_id",
       "station_id is required (>= 1)", 1},
      {"UnknownStation", [](auto* p) { p->set_station_id(999); }, "",
       StatusCode::kNotFound, "unknown_station", "station_id",
       "station 999 is not defined in the election", 1},
      {"StationOutsideCallersRegion", [](auto*) {}, "r-south",
       StatusCode::kPermissionDenied, "station_outside_region", "station_id",
       "station 101 belongs to region \"r-north\", not to the caller's "
       "region \"r-south\"",
       1},
      {"StationNotInDistrictContest",
       [](auto* p) {
         p->set_contest_id("smd-2");
         p->mutable_accounting()->set_against_all(0);
         SetVotes(p, {{"cand-x", 690}});
       },
       "", StatusCode::kInvalidArgument, "station_not_in_contest", "station_id",
       "station 101 (district \"d-1\") does not vote in contest \"smd-2\" "
       "(district \"d-2\")",
       1},
      {"VersionRequired", [](auto* p) { p->set_version(0); }, "",
       StatusCode::kInvalidArgument, "version_required", "version",
       "version is required (>= 1)", 1},
      {"AccountingRequired", [](auto* p) { p->clear_accounting(); }, "",
       StatusCode::kInvalidArgument, "accounting_required", "accounting",
       "the ballot accounting lines are required", 1},
      {"UnknownChoice",
       [](auto* p) { p->mutable_votes(2)->set_choice_id("party-z"); }, "",
       StatusCode::kInvalidArgument, "unknown_choice",
       "votes[choice_id=party-z]",
       "choice \"party-z\" is not on the ballot of contest \"list\"", 1},
      {"ChoiceOfAnotherContest",
       [](auto* p) { p->mutable_votes(0)->set_choice_id("cand-x"); }, "",
       StatusCode::kInvalidArgument, "unknown_choice",
       "votes[choice_id=cand-x]",
       "choice \"cand-x\" is not on the ballot of contest \"list\"", 1},
      {"RepeatedChoice",
       [](auto* p) {
         SetVotes(p, {{"party-a", 400},
                      {"party-b", 200},
                      {"party-a", 0},
                      {"party-c", 75}});
       },
       "", StatusCode::kInvalidArgument, "repeated_choice",
       "votes[choice_id=party-a]", "choice \"party-a\" appears more than once",
       1},
      {"AgainstAllNotOnBallot",
       [](auto* p) {
         p->set_contest_id("smd-1");
         SetVotes(p, {{"cand-x", 400}, {"cand-y", 275}});
       },
       "", StatusCode::kInvalidArgument, "against_all_not_on_ballot",
       "accounting.against_all",
       "against_all is 15 but contest \"smd-1\" has no \"against all\" line "
       "on the ballot",
       1},
      {"DigestMismatch", [](auto* p) { p->set_digest(std::string(32, '\0')); },
       "", StatusCode::kInvalidArgument, "digest_mismatch", "digest",
       "supplied digest " + std::string(64, '0') +
           " does not match the content digest ",
       1},
      {"DigestOfOtherContent",
       [](auto* p) {
         p->set_digest(ProtocolDigest(*p));
         p->mutable_votes(0)->set_votes(401);  // changed after digesting
         p->mutable_votes(1)->set_votes(199);
       },
       "", StatusCode::kInvalidArgument, "digest_mismatch", "digest",
       "does not match the content digest", 1},
      {"VoteCountTooLarge",
       [](auto* p) { p->mutable_votes(0)->set_votes(kTooLarge); }, "",
       StatusCode::kInvalidArgument, "count_too_large",
       "votes[choice_id=party-a]",
       "count 1099511627777 exceeds the limit 1099511627776", 1},
      {"AccountingCountTooLarge",
       [](auto* p) {
         p->mutable_accounting()->set_ballots_received(kTooLarge);
         p->mutable_accounting()->set_unused_cancelled(kTooLarge);
       },
       "", StatusCode::kInvalidArgument, "count_too_large",
       "accounting.ballots_received",
       "count 1099511627777 exceeds the limit 1099511627776", 2},
      {"SeveralFormProblemsAreAllListed",
       [](auto* p) {
         p->set_version(0);
         p->mutable_votes(2)->set_choice_id("party-z");
         p->set_digest("bogus");
       },
       "", StatusCode::kInvalidArgument, "version_required", "version",
       "version is required (>= 1)", 3},
      {"AccountingIsNotJudgedWithBadLines",
       [](auto* p) {
         p->mutable_votes(2)->set_choice_id("party-z");
         p->mutable_accounting()->set_unused_cancelled(1);  // would fail too
       },
       "", StatusCode::kInvalidArgument, "unknown_choice",
       "votes[choice_id=party-z]", "is not on the ballot", 1},
  };
}

std::vector<RuleCase> AccountingCases() {
  using absl::StatusCode;
  constexpr StatusCode kInvalid = StatusCode::kInvalidArgument;
  return {
      {"VotesSum", [](auto* p) { p->mutable_votes(0)->set_votes(420); }, "",
       kInvalid, "votes_sum", "accounting.ballots_found",
       "votes 695 + against all 15 + invalid 10 = 720 but ballots_found is "
       "700",
       1},
      {"FoundLeIssued",
       [](auto* p) {
         p->mutable_accounting()->set_ballots_issued(690);
         p->mutable_accounting()->set_unused_cancelled(310);
       },
       "", kInvalid, "found_le_issued", "accounting.ballots_found",
       "ballots_found 700 exceeds ballots_issued 690", 1},
      {"IssuedLeReceived",
       [](auto* p) { p->mutable_accounting()->set_ballots_received(650); }, "",
       kInvalid, "issued_le_received", "accounting.ballots_issued",
       "ballots_issued 700 exceeds ballots_received 650", 1},
      {"IssuedLeRegisteredLine",
       [](auto* p) {
         p->mutable_accounting()->set_ballots_issued(1010);
         p->mutable_accounting()->set_ballots_received(1310);
       },
       "", kInvalid, "issued_le_registered", "accounting.ballots_issued",
       "ballots_issued 1010 exceeds registered_voters 1000", 1},
      {"IssuedLeRegisteredBoundedByDefinition",
       [](auto* p) {
         p->mutable_accounting()->set_registered_voters(1100);
         p->mutable_accounting()->set_ballots_issued(1060);
         p->mutable_accounting()->set_ballots_received(1360);
       },
       "", kInvalid, "issued_le_registered", "accounting.ballots_issued",
       "ballots_issued 1060 exceeds the station's register 1000 plus allowed "
       "same-day additions 50 = 1050",
       2},  // and registered_matches
      {"UnusedBalance",
       [](auto* p) { p->mutable_accounting()->set_unused_cancelled(299); }, "",
       kInvalid, "unused_balance", "accounting.unused_cancelled",
       "ballots_received 1000 - ballots_issued 700 = 300 but "
       "unused_cancelled is 299",
       1},
      {"RegisteredBelowDefinition",
       [](auto* p) { p->mutable_accounting()->set_registered_voters(999); }, "",
       kInvalid, "registered_matches", "accounting.registered_voters",
       "registered_voters 999 is below the station's register 1000", 1},
      {"RegisteredAboveAllowedAdditions",
       [](auto* p) { p->mutable_accounting()->set_registered_voters(1051); },
       "", kInvalid, "registered_matches", "accounting.registered_voters",
       "registered_voters 1051 exceeds the station's register 1000 plus "
       "allowed same-day additions 50 = 1050",
       1},
      {"EveryAccountingRuleAtOnce",
       [](auto* p) {
         v1::BallotAccounting* a = p->mutable_accounting();
         a->set_registered_voters(900);  // below 1000
         a->set_ballots_received(800);
         a->set_ballots_issued(950);  // > received, > registered line
         a->set_ballots_found(960);   // > issued, != 700 counted
       },
       "", kInvalid, "votes_sum", "accounting.ballots_found",
       "votes 675 + against all 15 + invalid 10 = 700 but ballots_found is "
       "960",
       5},  // unused_balance is moot when issued > received
  };
}

class ProtocolRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(ProtocolRuleTest, RejectsWithCodeRuleFieldAndMessage) {
  const RuleCase& c = GetParam();
  const auto index = BuildIndex(MiniElection());
  v1::StationProtocol p = ValidProtocol();
  c.mutate(&p);
  const ProtocolVerdict verdict =
      ValidateProtocol(*index, p, ValidationContext{c.caller_region});

  EXPECT_EQ(verdict.status.code(), c.code) << verdict.status;
  EXPECT_FALSE(verdict.accepted());
  EXPECT_FALSE(verdict.has_anomalies());
  ASSERT_EQ(verdict.findings.size(), c.findings);
  const v1::Finding& first = verdict.findings[0];
  EXPECT_EQ(first.rule(), c.rule);
  EXPECT_EQ(first.field(), c.field);
  EXPECT_THAT(first.message(), HasSubstr(c.message));
  EXPECT_EQ(first.severity(), v1::SEVERITY_REJECT);
  // "field: message (rule name)".
  EXPECT_EQ(verdict.status.message(),
            c.field + ": " + first.message() + " (rule " + c.rule + ")");
  EXPECT_THAT(std::string(verdict.status.message()), HasSubstr(c.message));
}

std::string CaseName(const ::testing::TestParamInfo<RuleCase>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Identity, ProtocolRuleTest,
                         ::testing::ValuesIn(IdentityCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(Accounting, ProtocolRuleTest,
                         ::testing::ValuesIn(AccountingCases()), CaseName);

// Sets the policy field named like the rule (the rule names are the
// ValidationPolicy field names: this fails if one is not).
void SetSeverity(v1::ValidationPolicy* policy, const std::string& rule,
                 v1::Severity severity) {
  const auto* field = policy->GetDescriptor()->FindFieldByName(rule);
  ASSERT_NE(field, nullptr) << "no ValidationPolicy field " << rule;
  policy->GetReflection()->SetEnumValue(policy, field, severity);
}

class AnomalyTest : public ::testing::TestWithParam<RuleCase> {};

// With every failing rule configured as ANOMALY, the same protocol is
// accepted and each finding is kept with severity ANOMALY.
TEST_P(AnomalyTest, AnomalySeverityAcceptsWithFindings) {
  const RuleCase& c = GetParam();
  v1::StationProtocol p = ValidProtocol();
  c.mutate(&p);
  const std::vector<v1::Finding> rejected =
      ValidateProtocol(*BuildIndex(MiniElection()), p).findings;
  ASSERT_EQ(rejected.size(), c.findings);

  v1::ElectionDefinition d = MiniElection();
  for (const v1::Finding& f : rejected) {
    SetSeverity(d.mutable_validation(), f.rule(), v1::SEVERITY_ANOMALY);
  }
  const ProtocolVerdict verdict = ValidateProtocol(*BuildIndex(d), p);
  EXPECT_TRUE(verdict.accepted()) << verdict.status;
  EXPECT_TRUE(verdict.has_anomalies());
  ASSERT_EQ(verdict.findings.size(), rejected.size());
  for (size_t i = 0; i < rejected.size(); ++i) {
    EXPECT_EQ(verdict.findings[i].rule(), rejected[i].rule());
    EXPECT_EQ(verdict.findings[i].field(), rejected[i].field());
    EXPECT_EQ(verdict.findings[i].message(), rejected[i].message());
    EXPECT_EQ(verdict.findings[i].severity(), v1::SEVERITY_ANOMALY);
  }
}

INSTANTIATE_TEST_SUITE_P(Accounting, AnomalyTest,
                         ::testing::ValuesIn(AccountingCases()), CaseName);

TEST(ProtocolValidationTest, ExplicitRejectSeverityRejects) {
  v1::ElectionDefinition d = MiniElection();
  d.mutable_validation()->set_unused_balance(v1::SEVERITY_REJECT);
  v1::StationProtocol p = ValidProtocol();
  p.mutable_accounting()->set_unused_cancelled(299);
  const ProtocolVerdict verdict = ValidateProtocol(*BuildIndex(d), p);
  EXPECT_EQ(verdict.status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProtocolValidationTest, MixedSeveritiesRejectOnTheRejectingRule) {
  v1::ElectionDefinition d = MiniElection();
  d.mutable_validation()->set_votes_sum(v1::SEVERITY_ANOMALY);
  v1::StationProtocol p = ValidProtocol();
  p.mutable_votes(0)->set_votes(420);                 // votes_sum
  p.mutable_accounting()->set_unused_cancelled(299);  // unused_balance
  const ProtocolVerdict verdict = ValidateProtocol(*BuildIndex(d), p);
  EXPECT_EQ(verdict.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(verdict.status.message()),
              HasSubstr("(rule unused_balance)"));
  ASSERT_EQ(verdict.findings.size(), 2u);
  EXPECT_EQ(verdict.findings[0].rule(), "votes_sum");
  EXPECT_EQ(verdict.findings[0].severity(), v1::SEVERITY_ANOMALY);
  EXPECT_EQ(verdict.findings[1].rule(), "unused_balance");
  EXPECT_EQ(verdict.findings[1].severity(), v1::SEVERITY_REJECT);
}

TEST(ProtocolValidationTest, IdentityRulesIgnoreTheAccountingPolicy) {
  v1::ElectionDefinition d = MiniElection();
  for (const char* rule :
       {"votes_sum", "found_le_issued", "issued_le_received",
        "issued_le_registered", "unused_balance", "registered_matches"}) {
    SetSeverity(d.mutable_validation(), rule, v1::SEVERITY_ANOMALY);
  }
  v1::StationProtocol p = ValidProtocol();
  p.mutable_votes(0)->set_choice_id("party-z");
  const ProtocolVerdict verdict = ValidateProtocol(*BuildIndex(d), p);
  EXPECT_EQ(verdict.status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(verdict.findings.size(), 1u);
  EXPECT_EQ(verdict.findings[0].severity(), v1::SEVERITY_REJECT);
}

// --- same-day additions

ProtocolVerdict WithRegisteredLine(uint32_t basis_points, uint64_t line) {
  v1::ElectionDefinition d = MiniElection();
  d.mutable_validation()->set_same_day_additions_basis_points(basis_points);
  v1::StationProtocol p = ValidProtocol();
  p.mutable_accounting()->set_registered_voters(line);
  return ValidateProtocol(*BuildIndex(d), p);
}

TEST(SameDayAdditionsTest, NoAdditionsMeansExactlyTheRegister) {
  EXPECT_TRUE(WithRegisteredLine(0, 1000).accepted());
  const ProtocolVerdict over = WithRegisteredLine(0, 1001);
  EXPECT_FALSE(over.accepted());
  EXPECT_THAT(std::string(over.status.message()),
              HasSubstr("registered_voters 1001 exceeds the station's "
                        "register 1000 plus allowed same-day additions 0 = "
                        "1000"));
}

TEST(SameDayAdditionsTest, AllowedShareIsRoundedDown) {
  // 3.33% of 1000 = 33.3 -> 33 voters.
  EXPECT_TRUE(WithRegisteredLine(333, 1033).accepted());
  EXPECT_FALSE(WithRegisteredLine(333, 1034).accepted());
  // 5% of 1000 = 50 exactly: the bound itself is allowed.
  EXPECT_TRUE(WithRegisteredLine(500, 1050).accepted());
  EXPECT_FALSE(WithRegisteredLine(500, 1051).accepted());
}

TEST(SameDayAdditionsTest, IssuedMayUseTheAdditions) {
  v1::StationProtocol p = ValidProtocol();
  v1::BallotAccounting* a = p.mutable_accounting();
  a->set_registered_voters(1050);
  a->set_ballots_received(1100);
  a->set_ballots_issued(1050);
  a->set_ballots_found(1050);
  a->set_unused_cancelled(50);
  SetVotes(&p, {{"party-a", 750}, {"party-b", 200}, {"party-c", 75}});
  const ProtocolVerdict verdict =
      ValidateProtocol(*BuildIndex(MiniElection()), p);
  EXPECT_TRUE(verdict.accepted()) << verdict.status;
  EXPECT_THAT(verdict.findings, IsEmpty());
}

TEST(SameDayAdditionsTest, HugeBasisPointsDoNotOverflow) {
  // 4294967295 bp of 1000 voters is about 429 million: no wrap-around.
  EXPECT_TRUE(WithRegisteredLine(UINT32_MAX, 400'000'000).accepted());
}

// --- digest

v1::StationProtocol TinyProtocol() {
  v1::StationProtocol p;
  p.set_contest_id("c");
  p.set_station_id(258);  // 0x00000102
  p.set_version(3);
  v1::BallotAccounting* a = p.mutable_accounting();
  a->set_registered_voters(1);
  a->set_ballots_received(2);
  a->set_ballots_issued(3);
  a->set_ballots_found(4);
  a->set_invalid(5);
  a->set_against_all(6);
  a->set_unused_cancelled(7);
  SetVotes(&p, {{"b", 0x0102}, {"a", 9}});
  return p;
}

std::string U32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
          static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string U64(uint64_t v) {
  return U32(static_cast<uint32_t>(v >> 32)) + U32(static_cast<uint32_t>(v));
}

TEST(ProtocolDigestTest, CanonicalBytesFollowTheDocumentedLayout) {
  std::string expected = "tally.v1.StationProtocol\n";
  expected += U32(1) + "c";
  expected += U32(258) + U32(3);
  for (uint64_t line = 1; line <= 7; ++line) expected += U64(line);
  expected += U32(2);
  expected += U32(1) + "a" + U64(9);  // sorted by choice id
  expected += U32(1) + "b" + U64(0x0102);
  EXPECT_EQ(CanonicalProtocolBytes(TinyProtocol()), expected);
}

TEST(ProtocolDigestTest, KnownVector) {
  // SHA-256 of the bytes in CanonicalBytesFollowTheDocumentedLayout (and of
  // ValidProtocol's), cross-checked with an independent SHA-256 tool;
  // pinned so that any change of the encoding is noticed.
  EXPECT_EQ(HexEncode(ProtocolDigest(TinyProtocol())),
            "4c30fe5e6e37fc9d37016e5d45d208677cdf0b51489b9643c690c373ff5e5c85");
  EXPECT_EQ(HexEncode(ProtocolDigest(ValidProtocol())),
            "1c5c9c981ad81521cbbb74f1fbbdab926d4ace575278bb1d03a6e3b0d7b03f9c");
  EXPECT_EQ(ProtocolDigest(ValidProtocol()).size(), 32u);
}

TEST(ProtocolDigestTest, VoteLineOrderDoesNotMatter) {
  v1::StationProtocol p = ValidProtocol();
  v1::StationProtocol q = ValidProtocol();
  std::reverse(q.mutable_votes()->begin(), q.mutable_votes()->end());
  ASSERT_NE(p.votes(0).choice_id(), q.votes(0).choice_id());
  EXPECT_EQ(ProtocolDigest(p), ProtocolDigest(q));
  EXPECT_TRUE(SameContent(p, q));
}

TEST(ProtocolDigestTest, ZeroVoteLineEqualsMissingLine) {
  v1::StationProtocol p = ValidProtocol();
  v1::StationProtocol q = ValidProtocol();
  v1::ChoiceVotes* zero = q.add_votes();
  zero->set_choice_id("party-d");
  zero->set_votes(0);
  EXPECT_EQ(ProtocolDigest(p), ProtocolDigest(q));
}

TEST(ProtocolDigestTest, ProvenanceDoesNotMatter) {
  v1::StationProtocol p = ValidProtocol();
  v1::StationProtocol q = ValidProtocol();
  q.set_submitted_by("clerk-17");
  q.mutable_signed_at()->set_seconds(1679241600);
  q.set_digest("anything");
  EXPECT_EQ(ProtocolDigest(p), ProtocolDigest(q));
  EXPECT_TRUE(SameContent(p, q));
}

TEST(ProtocolDigestTest, EveryContentChangeChangesTheDigest) {
  const std::vector<std::pair<std::string, ProtocolMutation>> changes = {
      {"contest_id", [](auto* p) { p->set_contest_id("smd-1"); }},
      {"station_id", [](auto* p) { p->set_station_id(102); }},
      {"version", [](auto* p) { p->set_version(2); }},
      {"registered_voters",
       [](auto* p) { p->mutable_accounting()->set_registered_voters(1001); }},
      {"ballots_received",
       [](auto* p) { p->mutable_accounting()->set_ballots_received(1001); }},
      {"ballots_issued",
       [](auto* p) { p->mutable_accounting()->set_ballots_issued(701); }},
      {"ballots_found",
       [](auto* p) { p->mutable_accounting()->set_ballots_found(701); }},
      {"invalid", [](auto* p) { p->mutable_accounting()->set_invalid(11); }},
      {"against_all",
       [](auto* p) { p->mutable_accounting()->set_against_all(16); }},
      {"unused_cancelled",
       [](auto* p) { p->mutable_accounting()->set_unused_cancelled(301); }},
      {"votes", [](auto* p) { p->mutable_votes(1)->set_votes(201); }},
      {"choice_id", [](auto* p) { p->mutable_votes(1)->set_choice_id("x"); }},
      {"swapped votes",
       [](auto* p) {
         p->mutable_votes(0)->set_votes(200);
         p->mutable_votes(1)->set_votes(400);
       }},
      {"extra line",
       [](auto* p) {
         v1::ChoiceVotes* line = p->add_votes();
         line->set_choice_id("party-d");
         line->set_votes(1);
       }},
  };
  const v1::StationProtocol base = ValidProtocol();
  const std::string base_digest = ProtocolDigest(base);
  std::vector<std::string> seen = {base_digest};
  for (const auto& [name, change] : changes) {
    v1::StationProtocol p = ValidProtocol();
    change(&p);
    const std::string digest = ProtocolDigest(p);
    EXPECT_NE(digest, base_digest) << name;
    EXPECT_FALSE(SameContent(base, p)) << name;
    EXPECT_EQ(std::count(seen.begin(), seen.end(), digest), 0) << name;
    seen.push_back(digest);
  }
}

TEST(ProtocolDigestTest, LengthPrefixesSeparateFields) {
  // Without length prefixes "ab"+"c" and "a"+"bc" would encode alike.
  v1::StationProtocol p = TinyProtocol();
  v1::StationProtocol q = TinyProtocol();
  SetVotes(&p, {{"ab", 1}, {"c", 1}});
  SetVotes(&q, {{"a", 1}, {"bc", 1}});
  EXPECT_FALSE(SameContent(p, q));
}

TEST(ProtocolDigestTest, HexEncodeIsLowercase) {
  EXPECT_EQ(HexEncode(std::string("\x00\xff\x10\xab", 4)), "00ff10ab");
  EXPECT_EQ(HexEncode(""), "");
}

TEST(ProtocolDigestTest, SuppliedCorrectDigestIsAccepted) {
  v1::StationProtocol p = ValidProtocol();
  p.set_digest(ProtocolDigest(p));
  const ProtocolVerdict verdict =
      ValidateProtocol(*BuildIndex(MiniElection()), p);
  EXPECT_TRUE(verdict.accepted()) << verdict.status;
}

}  // namespace
}  // namespace tally

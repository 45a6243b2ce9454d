#include "tests/support/election_checks.h"

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "clients/simulator/night_generator.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/domain/composition.h"
#include "services/domain/proto_json.h"
#include "services/domain/rational.h"
#include "services/domain/vote_shares.h"
#include "services/rpc/status.h"
#include "tests/support/ingest_session.h"

namespace tally::testing {
namespace {

using ::google::protobuf::util::MessageDifferencer;

constexpr char kList[] = "mazhilis-list";

}  // namespace

absl::StatusOr<v1::GetResultsResponse> AllResults(v1::Aggregator::Stub& stub,
                                                  absl::Duration timeout) {
  v1::GetResultsRequest request;
  request.set_all_scopes(true);
  v1::GetResultsResponse response;
  grpc::Status status =
      stub.GetResults(DeadlineContext(timeout).get(), request, &response);
  if (!status.ok()) return rpc::FromGrpc(status);
  return response;
}

size_t ExpectedScopeCount(const ElectionIndex& index) {
  const v1::ElectionDefinition& definition = index.definition();
  size_t count = 0;
  for (const v1::Contest& contest : definition.contests()) {
    count += contest.district_id().empty()
                 ? 1 + definition.regions_size() + definition.districts_size()
                 : 1;
  }
  return count;
}

void ExpectAllTotalsEqualTruth(const ReferenceElection& ref,
                               const v1::GetResultsResponse& results) {
  ASSERT_EQ(static_cast<size_t>(results.results_size()),
            ExpectedScopeCount(*ref.index));
  std::set<std::pair<std::string, std::string>> seen;
  for (const v1::ContestResults& entry : results.results()) {
    v1::Totals actual = entry.totals();
    const std::string label = absl::StrCat(actual.contest_id(), " ",
                                           actual.scope().ShortDebugString());
    EXPECT_TRUE(
        seen.emplace(actual.contest_id(), actual.scope().SerializeAsString())
            .second)
        << "reported twice: " << label;
    EXPECT_GT(actual.revision(), 0u) << label;
    actual.clear_revision();
    const v1::Totals expected = sim::SumTruth(
        *ref.index, ref.truth, actual.contest_id(), actual.scope());
    EXPECT_GT(expected.stations_expected(), 0u) << label;
    std::string differences;
    MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differencer.Compare(expected, actual)) << label << ":\n"
                                                       << differences;
  }
}

void ExpectOfficialListSeats(const v1::GetResultsResponse& results) {
  const v1::SeatAllocation* allocation = nullptr;
  for (const v1::ContestResults& entry : results.results()) {
    if (entry.totals().contest_id() == kList && entry.has_allocation()) {
      allocation = &entry.allocation();
    }
  }
  ASSERT_NE(allocation, nullptr) << "no allocation for " << kList;
  EXPECT_EQ(allocation->status(), v1::ALLOCATION_STATUS_ALLOCATED);
  EXPECT_EQ(allocation->seats(), 69u);
  EXPECT_FALSE(allocation->provisional());
  std::map<std::string, uint32_t> seats;
  for (const v1::ChoiceSeats& choice : allocation->choices()) {
    seats[choice.choice_id()] = choice.seats();
    // Final: the bounds collapse onto the result.
    EXPECT_EQ(choice.min_seats(), choice.seats()) << choice.choice_id();
    EXPECT_EQ(choice.max_seats(), choice.seats()) << choice.choice_id();
  }
  const std::map<std::string, uint32_t> official = {
      {"amanat", 40}, {"auyl", 8}, {"respublica", 6}, {"aq-jol", 6},
      {"qhp", 5},     {"jsdp", 4}, {"baytaq", 0}};
  EXPECT_EQ(seats, official);
}

void ExpectOfficialComposition(const ReferenceElection& ref,
                               const v1::GetResultsResponse& results) {
  std::ifstream in(TALLY_SOURCE_DIR
                   "/deploy/elections/kz-2023.composition.json");
  ASSERT_TRUE(in.good()) << "cannot read kz-2023.composition.json";
  std::stringstream text;
  text << in.rdbuf();
  v1::ChamberComposition official;
  ASSERT_TRUE(ParseJson(text.str(), &official).ok());
  std::vector<const v1::SeatAllocation*> allocations;
  for (const v1::ContestResults& entry : results.results()) {
    if (entry.has_allocation()) allocations.push_back(&entry.allocation());
  }
  v1::ChamberComposition actual =
      ComputeComposition(ref.index->definition(), allocations);
  EXPECT_GT(actual.revision(), 0u);
  actual.clear_revision();
  for (v1::PartySeats& party : *actual.mutable_parties()) party.clear_colour();
  std::string differences;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differencer.Compare(official, actual)) << differences;
}

namespace {

// A share in percent, rounded half up to the decimals of `like` ("53.90":
// two), the way the commission's figures are written.
std::string PercentLike(const v1::Rational& share, const std::string& like) {
  const size_t point = like.find('.');
  const int digits = point == std::string::npos
                         ? 0
                         : static_cast<int>(like.size() - point - 1);
  return Rational{share.numerator() * 100, share.denominator()}.ToDecimal(
      digits);
}

}  // namespace

void ExpectOfficialPercentages(const ReferenceElection& ref,
                               const v1::GetResultsResponse& results) {
  const std::string& contest_id = ref.target.contest_id();
  const ContestInfo* info = ref.index->FindContest(contest_id);
  ASSERT_NE(info, nullptr) << contest_id;
  const v1::Contest* contest = info->contest;
  const v1::Totals* totals = nullptr;
  for (const v1::ContestResults& entry : results.results()) {
    if (entry.totals().contest_id() == contest_id &&
        entry.totals().scope().kind() == v1::SCOPE_KIND_NATIONAL) {
      totals = &entry.totals();
    }
  }
  ASSERT_NE(totals, nullptr) << "no national totals of " << contest_id;
  ASSERT_EQ(static_cast<int>(ref.target.percent_size()), totals->choices_size())
      << "the official result file lists a percentage for every choice";
  // The base the definition names, from the official counts: the votes for
  // the choices, plus against all, plus invalid ballots.
  const v1::VoteBase share_base =
      ResolvedVoteBase(contest->rule().share_base());
  EXPECT_EQ(totals->share_base(), share_base);
  uint64_t base = 0;
  for (const auto& [choice, votes] : ref.target.votes()) base += votes;
  if (share_base != v1::VOTE_BASE_LIST_VOTES) base += ref.target.against_all();
  if (share_base == v1::VOTE_BASE_BALLOTS_CAST) base += ref.target.invalid();
  for (const v1::ChoiceTotal& choice : totals->choices()) {
    const auto official = ref.target.percent().find(choice.choice_id());
    ASSERT_NE(official, ref.target.percent().end()) << choice.choice_id();
    ASSERT_TRUE(choice.has_share()) << choice.choice_id();
    EXPECT_EQ(choice.share().numerator(), choice.votes()) << choice.choice_id();
    EXPECT_EQ(choice.share().denominator(), base) << choice.choice_id();
    EXPECT_EQ(PercentLike(choice.share(), official->second), official->second)
        << choice.choice_id();
  }
  if (!contest->against_all_on_ballot()) {
    EXPECT_TRUE(ref.target.against_all_percent().empty());
    EXPECT_FALSE(totals->has_against_all_share());
    return;
  }
  ASSERT_FALSE(ref.target.against_all_percent().empty());
  ASSERT_TRUE(totals->has_against_all_share());
  EXPECT_EQ(totals->against_all_share().denominator(), base);
  EXPECT_EQ(PercentLike(totals->against_all_share(),
                        ref.target.against_all_percent()),
            ref.target.against_all_percent());
}

void ExpectOfficialOutcome(const ReferenceElection& ref,
                           const v1::GetResultsResponse& results) {
  const std::string& contest_id = ref.target.contest_id();
  ASSERT_GT(ref.target.seats_size(), 0)
      << "the official result file lists no seats";
  const v1::SeatAllocation* allocation = nullptr;
  for (const v1::ContestResults& entry : results.results()) {
    if (entry.totals().contest_id() == contest_id &&
        entry.totals().scope().kind() == v1::SCOPE_KIND_NATIONAL &&
        entry.has_allocation()) {
      allocation = &entry.allocation();
    }
  }
  ASSERT_NE(allocation, nullptr) << "no allocation for " << contest_id;
  EXPECT_EQ(allocation->status(), v1::ALLOCATION_STATUS_ALLOCATED);
  EXPECT_FALSE(allocation->provisional());
  EXPECT_EQ(allocation->range_basis(), v1::RANGE_BASIS_FINAL);
  std::map<std::string, uint32_t> seats;
  uint32_t total = 0;
  for (const v1::ChoiceSeats& choice : allocation->choices()) {
    EXPECT_EQ(choice.min_seats(), choice.seats()) << choice.choice_id();
    EXPECT_EQ(choice.max_seats(), choice.seats()) << choice.choice_id();
    if (choice.seats() > 0) seats[choice.choice_id()] = choice.seats();
    total += choice.seats();
  }
  const std::map<std::string, uint32_t> official(ref.target.seats().begin(),
                                                 ref.target.seats().end());
  EXPECT_EQ(seats, official);
  EXPECT_EQ(total, allocation->seats());
}

absl::StatusOr<v1::VerifyResponse> VerifyOnline(v1::Aggregator::Stub& stub,
                                                absl::Duration timeout) {
  v1::VerifyResponse response;
  grpc::Status status = stub.Verify(DeadlineContext(timeout).get(),
                                    v1::VerifyRequest(), &response);
  if (!status.ok()) return rpc::FromGrpc(status);
  return response;
}

}  // namespace tally::testing

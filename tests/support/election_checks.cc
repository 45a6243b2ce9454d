#include "tests/support/election_checks.h"

#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "clients/simulator/night_generator.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
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

absl::StatusOr<v1::VerifyResponse> VerifyOnline(v1::Aggregator::Stub& stub,
                                                absl::Duration timeout) {
  v1::VerifyResponse response;
  grpc::Status status = stub.Verify(DeadlineContext(timeout).get(),
                                    v1::VerifyRequest(), &response);
  if (!status.ok()) return rpc::FromGrpc(status);
  return response;
}

}  // namespace tally::testing

// The input of `tallyctl seats` decoded on its own (ParseSeatsRequest):
// what is read, what is refused and how the refusal names the problem.
#include "clients/tallyctl/seats_request.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tally::cli {
namespace {

using ::testing::HasSubstr;

TEST(SeatsRequest, ReadsEveryField) {
  absl::StatusOr<seats::Input> input = ParseSeatsRequest(R"({
    "seats": 7, "method": "dhondt", "threshold_percent": 3.25,
    "threshold_base": "valid_votes", "votes": {"b": 10, "a": 20, "c": 10},
    "against_all": 4, "invalid": 2, "tie_rule": "lowest-id",
    "tie_seed": "s"})");
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->seats, 7u);
  EXPECT_EQ(input->method, seats::Method::kDHondt);
  EXPECT_EQ(input->threshold, (Rational{13, 400}));
  EXPECT_EQ(input->threshold_base, seats::VoteBase::kValidVotes);
  EXPECT_EQ(input->tie_rule, seats::TieRule::kLowestId);
  EXPECT_EQ(input->tie_seed, "s");
  EXPECT_EQ(input->against_all, 4u);
  EXPECT_EQ(input->invalid, 2u);
  // Most votes first, then by id.
  ASSERT_EQ(input->choices.size(), 3u);
  EXPECT_EQ(input->choices[0].id, "a");
  EXPECT_EQ(input->choices[1].id, "b");
  EXPECT_EQ(input->choices[2].id, "c");
}

TEST(SeatsRequest, RefusesWithOneLineNamingTheProblem) {
  struct Case {
    std::string json;
    std::string expected;
  };
  const Case cases[] = {
      {"{", "malformed input JSON"},
      {R"({"seats": 3, "method": "hare", "votes": {"a": 1}, "x": 1})",
       "malformed input JSON"},
      {R"({"seats": 0, "method": "hare", "votes": {"a": 1}})",
       "seats must be >= 1"},
      {R"({"seats": 4294967296, "method": "hare", "votes": {"a": 1}})",
       "seats is too large"},
      {R"({"seats": 3, "votes": {"a": 1}})", "method is required"},
      {R"({"seats": 3, "method": "hare"})", "\"votes\" is empty"},
      {R"({"seats": 3, "method": "hare", "votes": {"a": -1}})",
       "votes for \"a\" must be >= 0"},
      {R"({"seats": 3, "method": "hare", "votes": {"a": 1},
           "threshold_percent": 101})",
       "threshold_percent must be between 0 and 100"},
      {R"({"seats": 3, "method": "hare", "votes": {"a": 1},
           "threshold_base": "turnout"})",
       "unknown threshold_base"},
      {R"({"seats": 3, "method": "hare", "votes": {"a": 1},
           "tie_rule": "coin"})",
       "unknown tie_rule"},
      {R"({"seats": 3, "method": "hare", "votes": {"a": 1},
           "against_all": -2})",
       "against_all must be >= 0"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<seats::Input> input = ParseSeatsRequest(c.json);
    ASSERT_FALSE(input.ok()) << c.json;
    EXPECT_EQ(input.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(input.status().message()), HasSubstr(c.expected))
        << c.json;
  }
}

TEST(SeatsRequest, ResponseListsSeatsAndPassedChoicesSorted) {
  absl::StatusOr<seats::Input> input = ParseSeatsRequest(
      R"({"seats": 8, "method": "dhondt", "threshold_percent": 10,
          "votes": {"D": 20000, "C": 30000, "B": 80000, "A": 100000}})");
  ASSERT_TRUE(input.ok()) << input.status();
  absl::StatusOr<seats::Result> result = seats::Allocate(*input);
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::SeatsResponse response = SeatsResponseOf(*input, *result);
  EXPECT_EQ(response.seats().at("A"), 4u);
  EXPECT_EQ(response.seats().at("B"), 3u);
  EXPECT_EQ(response.seats().at("C"), 1u);
  EXPECT_EQ(response.seats().at("D"), 0u);
  EXPECT_THAT(response.passed_threshold(),
              ::testing::ElementsAre("A", "B", "C"));
  EXPECT_EQ(response.allocation().seats(), 8u);
  EXPECT_THAT(SeatsTable(*input, *result), HasSubstr("method dhondt"));
}

}  // namespace
}  // namespace tally::cli

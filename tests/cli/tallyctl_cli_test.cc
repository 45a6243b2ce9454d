// Runs the real tallyctl binary: JSON in, JSON out, exit codes and the
// one-line errors users see.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/domain/proto_json.h"
#include "tally/v1/tools.pb.h"
#include "tests/support/process.h"

namespace tally {
namespace {

using ::testing::HasSubstr;

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << data;
}

// Removes a file when the scope ends, so the suite leaves nothing behind in
// the temporary directory.
class RemoveOnExit {
 public:
  explicit RemoveOnExit(std::string path) : path_(std::move(path)) {}
  RemoveOnExit(const RemoveOnExit&) = delete;
  RemoveOnExit& operator=(const RemoveOnExit&) = delete;
  ~RemoveOnExit() { std::remove(path_.c_str()); }

 private:
  std::string path_;
};

// Runs tallyctl with `args` (shell words, already quoted where needed) and
// `input` on stdin.
CommandResult Tallyctl(const std::string& args, const std::string& input = "") {
  // ctest runs tests in parallel processes: names must be unique per run.
  static int counter = 0;
  const std::string stem = absl::StrCat(::testing::TempDir(), "/tallyctl.",
                                        getpid(), ".", ++counter);
  const std::string in = stem + ".in";
  const std::string out = stem + ".out";
  const std::string err = stem + ".err";
  const RemoveOnExit remove_in(in), remove_out(out), remove_err(err);
  WriteAll(in, input);
  const std::string command =
      absl::StrCat(TALLYCTL_PATH, " ", args, " <", in, " >", out, " 2>", err);
  const int status = std::system(command.c_str());
  CommandResult run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = ReadAll(out);
  run.err = ReadAll(err);
  return run;
}

constexpr char kOfficial2023[] = R"({
  "seats": 69, "method": "hare", "threshold_percent": 5,
  "threshold_base": "ballots_cast",
  "votes": {"Amanat": 3431510, "Auyl": 693938, "Respublica": 547154,
            "Aq Jol": 535139, "People's Party": 432920, "JSDP": 331058,
            "Baytaq": 146431},
  "against_all": 248291, "invalid": 155419})";

v1::SeatsResponse ParseResponse(const std::string& json) {
  v1::SeatsResponse response;
  EXPECT_TRUE(ParseJson(json, &response).ok()) << json;
  return response;
}

TEST(TallyctlSeats, ReproducesOfficial2023PartyListSeatsFromStdin) {
  const CommandResult run = Tallyctl("seats", kOfficial2023);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const v1::SeatsResponse response = ParseResponse(run.out);
  EXPECT_EQ(response.seats().at("Amanat"), 40u);
  EXPECT_EQ(response.seats().at("Auyl"), 8u);
  EXPECT_EQ(response.seats().at("Respublica"), 6u);
  EXPECT_EQ(response.seats().at("Aq Jol"), 6u);
  EXPECT_EQ(response.seats().at("People's Party"), 5u);
  EXPECT_EQ(response.seats().at("JSDP"), 4u);
  EXPECT_EQ(response.seats().at("Baytaq"), 0u);
  EXPECT_THAT(
      response.passed_threshold(),
      ::testing::UnorderedElementsAre("Amanat", "Auyl", "Respublica", "Aq Jol",
                                      "People's Party", "JSDP"));
  EXPECT_EQ(response.allocation().seats(), 69u);
  EXPECT_EQ(response.allocation().status(), v1::ALLOCATION_STATUS_ALLOCATED);
  // 5% of 6,521,860 ballots cast, rounded up.
  EXPECT_EQ(response.allocation().threshold_votes(), 326093u);
  EXPECT_FALSE(response.allocation().last_seat().runner_up_choice_id().empty());
}

TEST(TallyctlSeats, ReadsTheShippedOfficialResultFile) {
  const CommandResult run =
      Tallyctl(absl::StrCat("seats --input ", TALLY_SOURCE_DIR,
                            "/deploy/elections/kz-2023-list-result.json"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const v1::SeatsResponse response = ParseResponse(run.out);
  EXPECT_EQ(response.seats().at("Amanat"), 40u);
  EXPECT_EQ(response.seats().at("JSDP"), 4u);
}

TEST(TallyctlSeats, TableOutputListsSeats) {
  const CommandResult run = Tallyctl("seats --table", kOfficial2023);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("Amanat"));
  EXPECT_THAT(run.out, ::testing::ContainsRegex("Amanat +3431510 +40"));
  EXPECT_THAT(run.out, ::testing::ContainsRegex("Baytaq +146431 +0"));
}

TEST(TallyctlSeats, ThresholdIsOptionalAndDivisorMethodsWork) {
  const CommandResult run = Tallyctl("seats",
                                     R"({"seats": 8, "method": "dhondt",
          "votes": {"A": 100000, "B": 80000, "C": 30000, "D": 20000}})");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const v1::SeatsResponse response = ParseResponse(run.out);
  EXPECT_EQ(response.seats().at("A"), 4u);
  EXPECT_EQ(response.seats().at("B"), 3u);
  EXPECT_EQ(response.seats().at("C"), 1u);
  EXPECT_EQ(response.seats().at("D"), 0u);
}

struct BadInput {
  const char* name;
  const char* json;
  const char* message;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const BadInput& input, std::ostream* os) { *os << input.name; }

class TallyctlSeatsBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(TallyctlSeatsBadInput, ExitsTwoWithOneLineNamingTheProblem) {
  const CommandResult run = Tallyctl("seats", GetParam().json);
  EXPECT_EQ(run.exit_code, 2) << run.out;
  EXPECT_TRUE(run.out.empty()) << run.out;
  EXPECT_THAT(run.err, HasSubstr(GetParam().message));
  // Exactly one line.
  ASSERT_FALSE(run.err.empty());
  EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << run.err;
}

INSTANTIATE_TEST_SUITE_P(
    Table, TallyctlSeatsBadInput,
    ::testing::Values(
        BadInput{
            "NegativeVotes",
            R"({"seats": 5, "method": "hare", "votes": {"A": 10, "B": -3}})",
            "votes for \"B\" must be >= 0 (got -3)"},
        BadInput{"UnknownMethod",
                 R"({"seats": 5, "method": "borda", "votes": {"A": 10}})",
                 "borda"},
        BadInput{"ZeroSeats",
                 R"({"seats": 0, "method": "hare", "votes": {"A": 10}})",
                 "seats must be >= 1 (got 0)"},
        BadInput{"NegativeSeats",
                 R"({"seats": -4, "method": "hare", "votes": {"A": 10}})",
                 "seats must be >= 1 (got -4)"},
        BadInput{"MissingSeats", R"({"method": "hare", "votes": {"A": 10}})",
                 "seats must be >= 1 (got 0)"},
        BadInput{"NoParties", R"({"seats": 5, "method": "hare", "votes": {}})",
                 "no parties"},
        BadInput{"NoVotesField", R"({"seats": 5, "method": "hare"})",
                 "no parties"},
        BadInput{"MissingMethod", R"({"seats": 5, "votes": {"A": 1}})",
                 "method is required"},
        BadInput{"MalformedJson", R"({"seats": 5, "method": "hare", )",
                 "malformed input JSON"},
        BadInput{"NotJson", "seats=5", "malformed input JSON"},
        BadInput{
            "UnknownField",
            R"({"seats": 5, "method": "hare", "votes": {"A": 1}, "colour": 1})",
            "malformed input JSON"},
        BadInput{"VotesNotANumber",
                 R"({"seats": 5, "method": "hare", "votes": {"A": "many"}})",
                 "malformed input JSON"},
        BadInput{"ThresholdOver100",
                 R"({"seats": 5, "method": "hare", "threshold_percent": 150,
                     "votes": {"A": 1}})",
                 "threshold_percent must be between 0 and 100"},
        BadInput{"NegativeThreshold",
                 R"({"seats": 5, "method": "hare", "threshold_percent": -1,
                     "votes": {"A": 1}})",
                 "threshold_percent must be between 0 and 100"},
        BadInput{"UnknownThresholdBase",
                 R"({"seats": 5, "method": "hare", "threshold_percent": 5,
                     "threshold_base": "voters", "votes": {"A": 1}})",
                 "unknown threshold_base \"voters\""},
        BadInput{"NegativeAgainstAll",
                 R"({"seats": 5, "method": "hare", "votes": {"A": 1},
                     "against_all": -1})",
                 "against_all must be >= 0 (got -1)"},
        BadInput{"NegativeInvalid",
                 R"({"seats": 5, "method": "hare", "votes": {"A": 1},
                     "invalid": -2})",
                 "invalid must be >= 0 (got -2)"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TallyctlSeats, MissingInputFileExitsTwo) {
  const CommandResult run = Tallyctl("seats --input /nonexistent/votes.json");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("/nonexistent/votes.json"));
}

TEST(TallyctlDefinition, SummaryOfTheEmbeddedReferenceElection) {
  const CommandResult run = Tallyctl("definition summary");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("kz-2023-mazhilis"));
  EXPECT_THAT(run.out, HasSubstr("20 regions, 29 districts, 10310 polling "
                                 "stations (10233 domestic, 77 abroad), "
                                 "12035578 registered voters"));
  EXPECT_THAT(run.out, HasSubstr("total seats: 98"));
}

TEST(TallyctlDefinition, BuildGeneratedDefinitionIsValidAndReproducible) {
  const std::string built =
      absl::StrCat(TALLY_BINARY_DIR, "/elections/kz-2023.json");
  const CommandResult check =
      Tallyctl(absl::StrCat("definition check --definition ", built));
  ASSERT_EQ(check.exit_code, 0) << check.err;
  EXPECT_THAT(check.out, HasSubstr("valid (20 regions, 29 districts, 10310 "
                                   "stations, 30 contests)"));

  const std::string again =
      ::testing::TempDir() + absl::StrCat("/", getpid(), "-kz-2023-again.json");
  const RemoveOnExit remove_again(again);
  const CommandResult generate = Tallyctl(
      absl::StrCat("definition generate --spec ", TALLY_SOURCE_DIR,
                   "/deploy/elections/kz-2023.spec.json --output ", again));
  ASSERT_EQ(generate.exit_code, 0) << generate.err;
  EXPECT_EQ(ReadAll(again), ReadAll(built));

  // Summary of the file equals summary of the embedded default.
  const CommandResult from_file =
      Tallyctl(absl::StrCat("definition summary --definition ", built));
  const CommandResult embedded = Tallyctl("definition summary");
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(from_file.out, embedded.out);
}

TEST(TallyctlDefinition, OtherSeedChangesStationsNotTotals) {
  const std::string other =
      ::testing::TempDir() + absl::StrCat("/", getpid(), "-kz-2023-seed7.json");
  const RemoveOnExit remove_other(other);
  const CommandResult generate = Tallyctl(
      absl::StrCat("definition generate --seed 7 --spec ", TALLY_SOURCE_DIR,
                   "/deploy/elections/kz-2023.spec.json --output ", other));
  ASSERT_EQ(generate.exit_code, 0) << generate.err;
  EXPECT_NE(ReadAll(other),
            ReadAll(absl::StrCat(TALLY_BINARY_DIR, "/elections/kz-2023.json")));
  const CommandResult summary =
      Tallyctl(absl::StrCat("definition summary --definition ", other));
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_THAT(summary.out, HasSubstr("12035578 registered voters"));
}

TEST(TallyctlDefinition, CheckListsEveryProblemAndExitsTwo) {
  const std::string path =
      ::testing::TempDir() + absl::StrCat("/", getpid(), "-broken.json");
  const RemoveOnExit remove_path(path);
  WriteAll(path, R"({"id": "x", "name": "X", "date": "2023-02-30",
    "time_zone": "UTC",
    "regions": [{"id": "r1", "name": "R1"}],
    "stations": [{"id": 1, "region_id": "r9", "registered_voters": 10}],
    "contests": [{"id": "c", "name": "C", "kind": "CONTEST_KIND_PARTY_LIST",
                  "seats": 3, "rule": {"method": "ALLOCATION_METHOD_HARE"},
                  "choices": []}]})");
  const CommandResult run =
      Tallyctl(absl::StrCat("definition check --definition ", path));
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("r9"));
  EXPECT_THAT(run.err, HasSubstr("2023-02-30"));
  EXPECT_THAT(run.err, HasSubstr("contests[0]"));
  EXPECT_THAT(run.err, HasSubstr("problem(s)"));
}

TEST(TallyctlDefinition, MalformedDefinitionJsonExitsTwo) {
  const std::string path =
      ::testing::TempDir() + absl::StrCat("/", getpid(), "-malformed.json");
  const RemoveOnExit remove_path(path);
  WriteAll(path, R"({"id": "x", "regions": [)");
  const CommandResult run =
      Tallyctl(absl::StrCat("definition check --definition ", path));
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr(path));
}

TEST(Tallyctl, UnknownCommandExitsTwo) {
  const CommandResult run = Tallyctl("frobnicate");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("unknown command \"frobnicate\""));
}

// A protocol file of one line, as `tallyctl submit` reads it.
constexpr char kOneProtocol[] =
    R"({"contest_id":"mazhilis-list","station_id":101,"version":1,)"
    R"("accounting":{"registered_voters":1500,"ballots_received":1500,)"
    R"("ballots_issued":800,"ballots_found":798,"invalid":10,)"
    R"("against_all":20,"unused_cancelled":700},"votes":[)"
    R"({"choice_id":"amanat","votes":500},{"choice_id":"auyl","votes":268}]})"
    "\n";

// Every command that talks to a server says, when nothing answers, which
// address it tried and what to check, in one line and with exit code 1.
TEST(TallyctlUnreachable, EveryServerCommandNamesTheAddressAndWhatToCheck) {
  testing::ClosedPort closed;
  ASSERT_NE(closed.port(), 0);
  const std::string at = closed.address();
  const std::string to_aggregator =
      absl::StrCat(" at ", at,
                   " (connection refused); start one, or pass --aggregator "
                   "HOST:PORT\n");
  const std::string protocols =
      ::testing::TempDir() + absl::StrCat("/", getpid(), "-one.jsonl");
  const RemoveOnExit remove_protocols(protocols);
  WriteAll(protocols, kOneProtocol);
  struct Case {
    std::string args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"results --insecure --aggregator " + at,
       "tallyctl results: no aggregator" + to_aggregator},
      // TLS or not, a refused connection is a refused connection.
      {"results --aggregator " + at,
       "tallyctl results: no aggregator" + to_aggregator},
      {"composition --insecure --aggregator " + at,
       "tallyctl composition: no aggregator" + to_aggregator},
      {"composition --json --insecure --aggregator " + at,
       "tallyctl composition: no aggregator" + to_aggregator},
      {"station 101 --insecure --aggregator " + at,
       "tallyctl station: no aggregator" + to_aggregator},
      {"verify --insecure --aggregator " + at,
       "tallyctl verify: no aggregator" + to_aggregator},
      {"watch --insecure --aggregator " + at,
       "tallyctl watch: no aggregator or relay" + to_aggregator},
      {"watch --json --insecure --aggregator " + at,
       "tallyctl watch: no aggregator or relay" + to_aggregator},
      {absl::StrCat("submit --insecure --max_attempts 1 --collector ", at, " ",
                    protocols),
       absl::StrCat("tallyctl submit: no collector at ", at,
                    " (connection refused); start one, or pass --collector "
                    "HOST:PORT\n")},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const CommandResult run = Tallyctl(c.args);
    EXPECT_EQ(run.exit_code, 1) << run.err;
    EXPECT_THAT(run.err, HasSubstr(c.says));
  }

  // simulate names each region's collector.
  const CommandResult regions = Tallyctl("simulate --list_regions");
  ASSERT_EQ(regions.exit_code, 0) << regions.err;
  std::vector<std::string> ids =
      absl::StrSplit(regions.out, '\n', absl::SkipEmpty());
  ASSERT_FALSE(ids.empty());
  std::string collectors;
  for (const std::string& id : ids) {
    absl::StrAppend(&collectors, collectors.empty() ? "" : ",", id, "=", at);
  }
  const CommandResult simulate = Tallyctl(absl::StrCat(
      "simulate --insecure --max_attempts 1 --speed 0 --collectors ",
      collectors));
  EXPECT_EQ(simulate.exit_code, 1) << simulate.err;
  EXPECT_THAT(simulate.err,
              HasSubstr(absl::StrCat(
                  "tallyctl simulate: no collector for region ", ids[0], " at ",
                  at, " (connection refused); start it, or correct region ",
                  ids[0], "'s address in --collectors\n")));
}

// Retries of a transient failure say why the command waits.
TEST(TallyctlUnreachable, SubmitSaysWhyItRetries) {
  testing::ClosedPort closed;
  ASSERT_NE(closed.port(), 0);
  const std::string protocols =
      ::testing::TempDir() + absl::StrCat("/", getpid(), "-retry.jsonl");
  const RemoveOnExit remove_protocols(protocols);
  WriteAll(protocols, kOneProtocol);
  const CommandResult run =
      Tallyctl(absl::StrCat("submit --insecure --max_attempts 2 --collector ",
                            closed.address(), " ", protocols));
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_THAT(run.err,
              HasSubstr(absl::StrCat("tallyctl submit: no collector at ",
                                     closed.address(),
                                     " (connection refused); start one, or "
                                     "pass --collector HOST:PORT; retrying "
                                     "(attempt 2 of 2)\n")));
}

}  // namespace
}  // namespace tally

// The NIST SP 1500-100 v2 export end to end: the real aggregator on
// loopback with the reference election (Kazakhstan 2023, official truth),
// a partial night and then the complete one; at each, `tallyctl export
// --format nist-cdf` and the real gateway's /v1/export/nist-cdf.json at
// every level, every document validated against the standard's schema and
// checked by scripts/check-nist-cdf.py (Debian's python3-jsonschema): the
// report's status, the tiers of each level, sums over composing units,
// and the country's counts equal to the aggregator's totals (on the
// complete night: the official 2023 figures).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/rpc/channel.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tests/support/http_get.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally {
namespace {

constexpr uint64_t kSeed = 2023;
constexpr size_t kBatch = 512;
constexpr char kList[] = "mazhilis-list";
constexpr absl::Duration kCommandTimeout = absl::Seconds(120);
constexpr const char* kLevels[] = {"national", "region", "district", "station"};

const std::string kSchema =
    std::string(TALLY_SOURCE_DIR) + "/tests/data/nist-1500-100-v2.schema.json";
const std::string kChecker =
    std::string(TALLY_SOURCE_DIR) + "/scripts/check-nist-cdf.py";

class NistExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("nist-export");
    absl::StatusOr<testing::Server> aggregator =
        testing::StartServer(AGGREGATOR_PATH,
                             {"--data_dir", dir_ + "/aggregator", "--listen",
                              "127.0.0.1:0", "--insecure"},
                             dir_ + ".aggregator.log", absl::Minutes(2));
    ASSERT_TRUE(aggregator.ok()) << aggregator.status();
    aggregator_ = std::make_unique<testing::Server>(*std::move(aggregator));
    absl::StatusOr<testing::Server> gateway = testing::StartServer(
        GATEWAY_PATH,
        {"--listen", "127.0.0.1:0", "--upstream", aggregator_->address,
         "--rpc_timeout_ms", "30000", "--insecure"},
        dir_ + ".gateway.log", absl::Minutes(2));
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = std::make_unique<testing::Server>(*std::move(gateway));
  }

  void TearDown() override {
    if (gateway_ != nullptr) testing::ExpectCleanStop(*gateway_);
    if (aggregator_ != nullptr) testing::ExpectCleanStop(*aggregator_);
    testing::RemoveTempDirUnlessFailed(dir_);
  }

  // Sends `protocols` as each station's region's collector would, in
  // batches; every one must be accepted.
  void Ingest(const testing::ReferenceElection& ref,
              const std::vector<const v1::StationProtocol*>& protocols) {
    std::map<std::string, std::vector<v1::StationProtocol>> by_region;
    for (const v1::StationProtocol* protocol : protocols) {
      by_region[ref.index->FindStation(protocol->station_id())->region_id()]
          .push_back(*protocol);
    }
    for (const auto& [region, list] : by_region) {
      absl::StatusOr<std::unique_ptr<testing::IngestSession>> session =
          testing::IngestSession::Open(aggregator_->address,
                                       "collector-" + region, region,
                                       absl::Minutes(2));
      ASSERT_TRUE(session.ok()) << session.status();
      uint64_t seq = (*session)->welcome().last_applied_seq() + 1;
      for (size_t begin = 0; begin < list.size(); begin += kBatch) {
        const std::vector<v1::StationProtocol> batch(
            list.begin() + static_cast<std::ptrdiff_t>(begin),
            list.begin() + static_cast<std::ptrdiff_t>(
                               std::min(list.size(), begin + kBatch)));
        absl::StatusOr<v1::IngestAck> ack =
            (*session)->Send(testing::Entries(batch, seq));
        ASSERT_TRUE(ack.ok()) << ack.status();
        for (const v1::ProtocolResult& result : ack->results()) {
          ASSERT_EQ(result.outcome(), v1::OUTCOME_ACCEPTED)
              << result.ShortDebugString();
        }
        seq += batch.size();
      }
      ASSERT_TRUE((*session)->Close().ok());
    }
  }

  // The list contest's national totals, as --expect arguments.
  std::vector<std::string> ExpectedNational() {
    auto stub = v1::Aggregator::NewStub(rpc::MakeChannel(aggregator_->address));
    v1::GetResultsRequest request;
    request.set_contest_id(kList);
    v1::GetResultsResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    grpc::Status status = stub->GetResults(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> args;
    if (response.results_size() != 1) {
      ADD_FAILURE() << "no national totals of " << kList;
      return args;
    }
    const v1::Totals& totals = response.results(0).totals();
    for (const v1::ChoiceTotal& choice : totals.choices()) {
      args.push_back("--expect");
      args.push_back(
          absl::StrCat(kList, "/", choice.choice_id(), "=", choice.votes()));
    }
    args.push_back("--expect");
    args.push_back(absl::StrCat(kList, "/against-all=", totals.against_all()));
    return args;
  }

  // Exports at every level with tallyctl and the gateway, and checks every
  // document with scripts/check-nist-cdf.py.
  void ExportAndCheck(const std::string& night, const std::string& status,
                      const std::vector<std::string>& expect) {
    for (const char* level : kLevels) {
      const std::string cli_file =
          absl::StrCat(dir_, "/", night, "-", level, ".tallyctl.json");
      absl::StatusOr<testing::CommandResult> exported = testing::RunCommand(
          TALLYCTL_PATH,
          {"export", "--aggregator", aggregator_->address, "--insecure",
           "--format", "nist-cdf", "--level", level, "--output", cli_file},
          kCommandTimeout);
      ASSERT_TRUE(exported.ok()) << exported.status();
      ASSERT_EQ(exported->exit_code, 0) << exported->output;

      int http_status = 0;
      absl::StatusOr<std::string> body = testing::HttpGet(
          gateway_->address,
          absl::StrCat("/v1/export/nist-cdf.json?level=", level), &http_status);
      ASSERT_TRUE(body.ok()) << body.status();
      ASSERT_EQ(http_status, 200) << body->substr(0, 500);
      const std::string gateway_file =
          absl::StrCat(dir_, "/", night, "-", level, ".gateway.json");
      std::ofstream(gateway_file, std::ios::binary) << *body;

      // The gateway's report is the same as tallyctl's but for the time
      // it was generated (nothing is counted in between).
      std::vector<std::string> args = {kChecker,   "--schema",  kSchema,
                                       "--status", status,      "--level",
                                       level,      "--same-as", cli_file};
      args.insert(args.end(), expect.begin(), expect.end());
      args.push_back(cli_file);
      args.push_back(gateway_file);
      absl::StatusOr<testing::CommandResult> checked =
          testing::RunCommand(PYTHON3_PATH, args, kCommandTimeout);
      ASSERT_TRUE(checked.ok()) << checked.status();
      EXPECT_EQ(checked->exit_code, 0) << checked->output;
      std::printf("%s", checked->output.c_str());
    }
  }

  std::string dir_;
  std::unique_ptr<testing::Server> aggregator_;
  std::unique_ptr<testing::Server> gateway_;
};

TEST_F(NistExportTest, PartialAndCompleteNightsAtEveryLevel) {
  const testing::ReferenceElection& ref =
      testing::Reference(kSeed, testing::Truth::kOfficialResult);
  ASSERT_TRUE(ref.status.ok()) << ref.status;

  // Unknown formats and levels are refused, naming what is allowed.
  absl::StatusOr<testing::CommandResult> bad =
      testing::RunCommand(TALLYCTL_PATH,
                          {"export", "--aggregator", aggregator_->address,
                           "--insecure", "--format", "csv"},
                          kCommandTimeout);
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->exit_code, 2) << bad->output;
  EXPECT_NE(bad->output.find("unknown --format \"csv\""), std::string::npos)
      << bad->output;
  bad = testing::RunCommand(
      TALLYCTL_PATH,
      {"export", "--aggregator", aggregator_->address, "--insecure", "--format",
       "nist-cdf", "--level", "town"},
      kCommandTimeout);
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->exit_code, 2) << bad->output;
  EXPECT_NE(bad->output.find("national, region, district or station"),
            std::string::npos)
      << bad->output;
  int http_status = 0;
  absl::StatusOr<std::string> body = testing::HttpGet(
      gateway_->address, "/v1/export/nist-cdf.json?level=town", &http_status);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(http_status, 400) << *body;
  EXPECT_NE(body->find("query parameter level"), std::string::npos) << *body;

  // A partial night: the first 40% of the protocols of every region.
  std::vector<const v1::StationProtocol*> first;
  std::vector<const v1::StationProtocol*> rest;
  std::map<std::string, size_t> seen;
  std::map<std::string, size_t> per_region;
  for (const v1::StationProtocol& protocol : ref.truth) {
    ++per_region[ref.index->FindStation(protocol.station_id())->region_id()];
  }
  for (const v1::StationProtocol& protocol : ref.truth) {
    const std::string& region =
        ref.index->FindStation(protocol.station_id())->region_id();
    (seen[region]++ * 5 < per_region[region] * 2 ? first : rest)
        .push_back(&protocol);
  }
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(rest.empty());
  ASSERT_NO_FATAL_FAILURE(Ingest(ref, first));
  ASSERT_NO_FATAL_FAILURE(
      ExportAndCheck("partial", "unofficial-partial", ExpectedNational()));

  // The complete night: the country's counts are the official 2023 figures
  // (and the aggregator's).
  ASSERT_NO_FATAL_FAILURE(Ingest(ref, rest));
  std::vector<std::string> official;
  ASSERT_EQ(ref.target.contest_id(), kList);
  ASSERT_EQ(ref.target.votes().at("amanat"), 3431510u);
  for (const auto& [choice, votes] : ref.target.votes()) {
    official.push_back("--expect");
    official.push_back(absl::StrCat(kList, "/", choice, "=", votes));
  }
  official.push_back("--expect");
  official.push_back(
      absl::StrCat(kList, "/against-all=", ref.target.against_all()));
  for (std::string& arg : ExpectedNational()) official.push_back(arg);
  ASSERT_NO_FATAL_FAILURE(
      ExportAndCheck("complete", "unofficial-complete", official));
}

}  // namespace
}  // namespace tally

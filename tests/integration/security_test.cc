// Transport security end to end: real binaries with TLS on loopback,
// certificates made at test time by deploy/tls/gen-dev-certs.sh. A
// collector's certificate binds it to its region at the aggregator; a
// station client needs a token at its collector; the feed only reads;
// plain text is never a silent default.
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "services/domain/proto_json.h"
#include "services/rpc/channel.h"
#include "services/security/station_tokens.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/collector.grpc.pb.h"
#include "tally/v1/feed.grpc.pb.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally {
namespace {

using rpc::MakeChannel;
using testing::DeadlineContext;
using ::testing::HasSubstr;

constexpr char kList[] = "mazhilis-list";
constexpr absl::Duration kCallTimeout = absl::Seconds(30);
constexpr absl::Duration kStartTimeout = absl::Minutes(2);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  return text;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// Shared across the suite: certificates (two CAs) and protocols.
struct Fixture {
  std::string dir;
  std::string certs;        // the trusted dev CA
  std::string other_certs;  // an unrelated CA, same names
  std::string region_a;
  std::string region_b;
  std::vector<v1::StationProtocol> mine;  // region A, list contest
  v1::StationProtocol foreign;            // region B
};

Fixture* fixture = nullptr;
bool fixture_tried = false;

class SecurityTest : public ::testing::Test {
 protected:
  // Made on the first test's SetUp rather than in SetUpTestSuite, so that
  // a failure fails every test instead of skipping them.
  static void MakeFixture() {
    fixture_tried = true;
    auto f = std::make_unique<Fixture>();
    const testing::ReferenceElection& ref = testing::Reference(7);
    ASSERT_TRUE(ref.status.ok()) << ref.status;
    f->region_a = ref.index->definition().regions(0).id();
    f->region_b = ref.index->definition().regions(1).id();
    for (const v1::StationProtocol& protocol : ref.truth) {
      if (protocol.contest_id() != kList) continue;
      const std::string& region =
          ref.index->FindStation(protocol.station_id())->region_id();
      if (region == f->region_a && f->mine.size() < 20) {
        f->mine.push_back(protocol);
      } else if (region == f->region_b && f->foreign.station_id() == 0) {
        f->foreign = protocol;
      }
    }
    ASSERT_EQ(f->mine.size(), 20u);
    ASSERT_NE(f->foreign.station_id(), 0u);

    f->dir = testing::MakeTempDir("security");
    f->certs = f->dir + "/certs";
    f->other_certs = f->dir + "/other-certs";
    for (const std::string& out : {f->certs, f->other_certs}) {
      absl::StatusOr<testing::CommandResult> made = testing::RunCommand(
          TALLY_SOURCE_DIR "/deploy/tls/gen-dev-certs.sh",
          {out, f->region_a, f->region_b}, absl::Minutes(1));
      ASSERT_TRUE(made.ok()) << made.status();
      ASSERT_EQ(made->exit_code, 0) << made->output;
    }
    fixture = f.release();
  }

  static void TearDownTestSuite() {
    if (fixture != nullptr) testing::RemoveTempDirUnlessFailed(fixture->dir);
    delete fixture;
    fixture = nullptr;
  }

  void SetUp() override {
    if (!fixture_tried) {
      ASSERT_NO_FATAL_FAILURE(MakeFixture());
    }
    ASSERT_NE(fixture, nullptr) << "certificates or protocols missing";
    dir_ = testing::MakeTempDir(absl::StrCat(
        "security-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name()));
  }
  void TearDown() override { testing::RemoveTempDirUnlessFailed(dir_); }

  std::string Cert(const std::string& name) const {
    return fixture->certs + "/" + name;
  }

  // Client credentials: the dev CA, optionally a client certificate from
  // `certs` (the dev CA's directory or the other one).
  std::shared_ptr<grpc::ChannelCredentials> Tls(
      const std::string& client = "",
      const std::string& certs = fixture->certs) const {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadFile(Cert("ca.pem"));
    if (!client.empty()) {
      options.pem_cert_chain = ReadFile(certs + "/" + client + ".pem");
      options.pem_private_key = ReadFile(certs + "/" + client + ".key");
    }
    return grpc::SslCredentials(options);
  }

  void StartAggregator() {
    absl::StatusOr<testing::Server> server = testing::StartServer(
        AGGREGATOR_PATH,
        {"--data_dir", dir_ + "/aggregator", "--listen", "127.0.0.1:0",
         "--tls_cert", Cert("server.pem"), "--tls_key", Cert("server.key"),
         "--tls_client_ca", Cert("ca.pem"), "--collector_identities",
         Cert("collector-identities.txt")},
        dir_ + ".aggregator.log", kStartTimeout);
    ASSERT_TRUE(server.ok()) << server.status();
    aggregator_ = std::make_unique<testing::Server>(*std::move(server));
  }

  // A collector for region A with its certificate and `tokens_file`.
  void StartCollector(const std::string& tokens_file) {
    const std::string name = "collector-" + fixture->region_a;
    absl::StatusOr<testing::Server> server = testing::StartServer(
        COLLECTOR_PATH,
        {"--region", fixture->region_a, "--data_dir", dir_ + "/collector",
         "--listen", "127.0.0.1:0", "--aggregator", aggregator_->address,
         "--tls_cert", Cert(name + ".pem"), "--tls_key", Cert(name + ".key"),
         "--tls_ca", Cert("ca.pem"), "--station_tokens", tokens_file},
        dir_ + ".collector.log", kStartTimeout);
    ASSERT_TRUE(server.ok()) << server.status();
    collector_ = std::make_unique<testing::Server>(*std::move(server));
  }

  grpc::Status Submit(const v1::StationProtocol& protocol,
                      const std::string& token, v1::SubmitResponse* response) {
    auto stub = v1::Collector::NewStub(
        MakeChannel(collector_->address, {.credentials = Tls()}));
    v1::SubmitRequest request;
    *request.mutable_protocol() = protocol;
    std::unique_ptr<grpc::ClientContext> context =
        DeadlineContext(kCallTimeout);
    if (!token.empty()) context->AddMetadata("authorization", token);
    return stub->Submit(context.get(), request, response);
  }

  std::string dir_;
  std::unique_ptr<testing::Server> aggregator_;
  std::unique_ptr<testing::Server> collector_;
};

// Plain text is a choice, never a default.
TEST_F(SecurityTest, ServersWithoutTlsOrInsecureRefuseToStart) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> runs = {
      {AGGREGATOR_PATH, {"--data_dir", dir_ + "/a", "--listen", "127.0.0.1:0"}},
      {COLLECTOR_PATH,
       {"--region", fixture->region_a, "--data_dir", dir_ + "/c", "--listen",
        "127.0.0.1:0"}},
      {RELAY_PATH, {"--upstream", "127.0.0.1:1", "--listen", "127.0.0.1:0"}},
  };
  for (const auto& [binary, args] : runs) {
    absl::StatusOr<testing::CommandResult> run =
        testing::RunCommand(binary, args, absl::Minutes(1));
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->exit_code, 2) << binary << ": " << run->output;
    EXPECT_THAT(run->output, HasSubstr("--tls_cert")) << binary;
    EXPECT_THAT(run->output, HasSubstr("--insecure")) << binary;
  }
  // TLS at the collector without tokens is refused too.
  const std::string name = "collector-" + fixture->region_a;
  absl::StatusOr<testing::CommandResult> run = testing::RunCommand(
      COLLECTOR_PATH,
      {"--region", fixture->region_a, "--data_dir", dir_ + "/c", "--listen",
       "127.0.0.1:0", "--tls_cert", Cert(name + ".pem"), "--tls_key",
       Cert(name + ".key"), "--tls_ca", Cert("ca.pem")},
      absl::Minutes(1));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 2) << run->output;
  EXPECT_THAT(run->output, HasSubstr("--station_tokens"));
}

TEST_F(SecurityTest, CollectorCertificateIsBoundToItsRegion) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  const std::string a = "collector-" + fixture->region_a;
  const std::string b = "collector-" + fixture->region_b;

  // Region A's certificate claiming region B (and B's collector id).
  absl::StatusOr<std::unique_ptr<testing::IngestSession>> claim =
      testing::IngestSession::Open(aggregator_->address, b, fixture->region_b,
                                   kCallTimeout, Tls(a));
  ASSERT_FALSE(claim.ok());
  EXPECT_EQ(claim.status().code(), absl::StatusCode::kPermissionDenied)
      << claim.status();
  EXPECT_THAT(claim.status().message(), HasSubstr(a));
  EXPECT_THAT(claim.status().message(), HasSubstr(fixture->region_b));
  // Its own region but another collector's id.
  claim = testing::IngestSession::Open(aggregator_->address, b,
                                       fixture->region_a, kCallTimeout, Tls(a));
  ASSERT_FALSE(claim.ok());
  EXPECT_EQ(claim.status().code(), absl::StatusCode::kPermissionDenied);

  // Honest hello: region A's stations pass, region B's station is refused.
  absl::StatusOr<std::unique_ptr<testing::IngestSession>> session =
      testing::IngestSession::Open(aggregator_->address, a, fixture->region_a,
                                   kCallTimeout, Tls(a));
  ASSERT_TRUE(session.ok()) << session.status();
  absl::StatusOr<v1::IngestAck> ack = (*session)->Send(
      testing::Entries({fixture->mine[0], fixture->foreign}, 1));
  ASSERT_TRUE(ack.ok()) << ack.status();
  ASSERT_EQ(ack->results_size(), 2);
  EXPECT_EQ(ack->results(0).outcome(), v1::OUTCOME_ACCEPTED);
  EXPECT_EQ(ack->results(1).outcome(), v1::OUTCOME_REJECTED);
  EXPECT_EQ(ack->results(1).status_code(),
            static_cast<int32_t>(grpc::StatusCode::PERMISSION_DENIED))
      << ack->results(1).message();
}

// A hello claiming a 100 KB collector id is refused for what it is (not
// the certificate's identity) with a short message.
TEST_F(SecurityTest, HugeHelloClaimIsPermissionDeniedWithAShortMessage) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  const std::string a = "collector-" + fixture->region_a;
  absl::StatusOr<std::unique_ptr<testing::IngestSession>> claim =
      testing::IngestSession::Open(aggregator_->address,
                                   std::string(100 * 1024, 'x'),
                                   fixture->region_a, kCallTimeout, Tls(a));
  ASSERT_FALSE(claim.ok());
  EXPECT_EQ(claim.status().code(), absl::StatusCode::kPermissionDenied)
      << claim.status().message().substr(0, 1000);
  EXPECT_LT(claim.status().message().size(), 300u);
  EXPECT_THAT(claim.status().message(), HasSubstr(a));
}

// tallyctl names the TLS flag to check when TLS does not agree.
TEST_F(SecurityTest, TallyctlNamesTheTlsFlagToCheck) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      // Plain text to a TLS port.
      {{"results", "--insecure", "--aggregator", aggregator_->address},
       absl::StrCat("tallyctl results: no aggregator at ", aggregator_->address,
                    " (the connection closed before the first call: the "
                    "server may require TLS); pass --tls_ca instead of "
                    "--insecure if it runs TLS")},
      // The system roots do not know the development CA.
      {{"results", "--aggregator", aggregator_->address},
       absl::StrCat("tallyctl results: no aggregator at ", aggregator_->address,
                    " (its TLS certificate is not signed by a trusted CA); "
                    "check --tls_ca")},
  };
  for (const Case& c : cases) {
    absl::StatusOr<testing::CommandResult> run =
        testing::RunCommand(TALLYCTL_PATH, c.args, absl::Minutes(1));
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->exit_code, 1) << run->output;
    EXPECT_THAT(run->output, HasSubstr(c.says));
  }
}

TEST_F(SecurityTest, IngestRefusesCallersWithoutAValidCertificate) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  const std::string a = "collector-" + fixture->region_a;
  // TLS without a client certificate: the connection works (the feed and
  // the reads are open to watchers), Ingest is refused.
  absl::StatusOr<std::unique_ptr<testing::IngestSession>> anonymous =
      testing::IngestSession::Open(aggregator_->address, a, fixture->region_a,
                                   kCallTimeout, Tls());
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.status().code(), absl::StatusCode::kUnauthenticated)
      << anonymous.status();
  auto reader = v1::Aggregator::NewStub(
      MakeChannel(aggregator_->address, {.credentials = Tls()}));
  v1::GetElectionResponse election;
  grpc::Status read = reader->GetElection(DeadlineContext(kCallTimeout).get(),
                                          v1::GetElectionRequest(), &election);
  EXPECT_TRUE(read.ok()) << read.error_message();

  // A certificate of another CA fails the handshake.
  absl::StatusOr<std::unique_ptr<testing::IngestSession>> forged =
      testing::IngestSession::Open(aggregator_->address, a, fixture->region_a,
                                   kCallTimeout, Tls(a, fixture->other_certs));
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.status().code(), absl::StatusCode::kUnavailable)
      << forged.status();

  // Plain text to a TLS server gets nowhere.
  absl::StatusOr<std::unique_ptr<testing::IngestSession>> plain =
      testing::IngestSession::Open(aggregator_->address, a, fixture->region_a,
                                   absl::Seconds(10));
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.status().code(), absl::StatusCode::kUnavailable)
      << plain.status();
}

TEST_F(SecurityTest, StationClientsNeedATokenForTheirStations) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  const std::string all_token = "token-for-every-station";
  const std::string one_token = "token-for-one-other-station";
  const std::string tokens = dir_ + "/station-tokens.txt";
  WriteFile(tokens, absl::StrCat(
                        "# test tokens\n", security::Sha256Hex(all_token),
                        " desk-all *\n", security::Sha256Hex(one_token),
                        " desk-one ", fixture->mine.back().station_id(), "\n"));
  ASSERT_NO_FATAL_FAILURE(StartCollector(tokens));
  const v1::StationProtocol& protocol = fixture->mine[0];

  v1::SubmitResponse response;
  grpc::Status status = Submit(protocol, "", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << status.error_message();
  status = Submit(protocol, "Bearer wrong-token", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << status.error_message();
  // The digest itself is not a token.
  status =
      Submit(protocol, "Bearer " + security::Sha256Hex(all_token), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  status = Submit(protocol, "Bearer " + one_token, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("desk-one"));

  // A stream without a token is refused as a whole.
  {
    auto stub = v1::Collector::NewStub(
        MakeChannel(collector_->address, {.credentials = Tls()}));
    v1::SubmitStreamResponse stream_response;
    std::unique_ptr<grpc::ClientContext> context =
        DeadlineContext(kCallTimeout);
    auto writer = stub->SubmitStream(context.get(), &stream_response);
    v1::SubmitRequest request;
    *request.mutable_protocol() = protocol;
    writer->Write(request);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }

  // The whole path on TLS: tallyctl submit with the token from a file,
  // through the collector's mutual TLS to the aggregator's totals.
  std::string lines;
  for (const v1::StationProtocol& p : fixture->mine) {
    JsonStyle style;
    style.pretty = false;
    absl::StatusOr<std::string> json = ToJson(p, style);
    ASSERT_TRUE(json.ok()) << json.status();
    absl::StrAppend(&lines, *json, "\n");
  }
  WriteFile(dir_ + "/night.jsonl", lines);
  WriteFile(dir_ + "/token", all_token + "\n");
  absl::StatusOr<testing::CommandResult> sent = testing::RunCommand(
      TALLYCTL_PATH,
      {"submit", "--collector", collector_->address, "--tls_ca", Cert("ca.pem"),
       "--token_file", dir_ + "/token", dir_ + "/night.jsonl"},
      absl::Minutes(2));
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_EQ(sent->exit_code, 0) << sent->output;
  EXPECT_THAT(sent->output, HasSubstr("20 accepted"));

  auto reader = v1::Aggregator::NewStub(
      MakeChannel(aggregator_->address, {.credentials = Tls()}));
  const absl::Time deadline = absl::Now() + absl::Minutes(1);
  uint64_t reported = 0;
  while (absl::Now() < deadline) {
    v1::GetResultsRequest request;
    request.set_contest_id(kList);
    request.mutable_scope()->set_kind(v1::SCOPE_KIND_REGION);
    request.mutable_scope()->set_id(fixture->region_a);
    v1::GetResultsResponse results;
    grpc::Status got = reader->GetResults(DeadlineContext(kCallTimeout).get(),
                                          request, &results);
    ASSERT_TRUE(got.ok()) << got.error_message();
    ASSERT_EQ(results.results_size(), 1);
    reported = results.results(0).totals().stations_reported();
    if (reported == fixture->mine.size()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(reported, fixture->mine.size()) << collector_->process.log();
  // Provenance: the accepted protocol names the client of the token.
  v1::GetStationRequest station_request;
  station_request.set_station_id(protocol.station_id());
  station_request.set_contest_id(kList);
  v1::GetStationResponse station;
  grpc::Status got = reader->GetStation(DeadlineContext(kCallTimeout).get(),
                                        station_request, &station);
  ASSERT_TRUE(got.ok()) << got.error_message();
  ASSERT_EQ(station.contests_size(), 1);
  ASSERT_GE(station.contests(0).versions_size(), 1);
  EXPECT_EQ(station.contests(0).versions(0).protocol().submitted_by(),
            "desk-all");
}

TEST_F(SecurityTest, TheFeedIsReadOnly) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  // A relay on TLS following the aggregator without a client certificate.
  absl::StatusOr<testing::Server> relay = testing::StartServer(
      RELAY_PATH,
      {"--listen", "127.0.0.1:0", "--upstream", aggregator_->address,
       "--tls_cert", Cert("server.pem"), "--tls_key", Cert("server.key"),
       "--tls_ca", Cert("ca.pem")},
      dir_ + ".relay.log", kStartTimeout);
  ASSERT_TRUE(relay.ok()) << relay.status();

  // Watching through the relay works: its upstream connection is TLS.
  auto feed =
      v1::Feed::NewStub(MakeChannel(relay->address, {.credentials = Tls()}));
  bool complete = false;
  const absl::Time deadline = absl::Now() + absl::Minutes(1);
  while (!complete && absl::Now() < deadline) {
    std::unique_ptr<grpc::ClientContext> context =
        DeadlineContext(absl::Seconds(10));
    auto reader = feed->Watch(context.get(), v1::WatchRequest());
    v1::WatchResponse message;
    while (reader->Read(&message)) {
      if (message.has_snapshot_complete()) {
        complete = true;
        context->TryCancel();
        break;
      }
    }
    reader->Finish();
    if (!complete) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(complete) << relay->process.log();

  // Nothing can be written through the relay, even with a collector's
  // certificate.
  const std::string a = "collector-" + fixture->region_a;
  absl::StatusOr<std::unique_ptr<testing::IngestSession>> write =
      testing::IngestSession::Open(relay->address, a, fixture->region_a,
                                   kCallTimeout, Tls(a));
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.status().code(), absl::StatusCode::kUnimplemented)
      << write.status();
  // And the aggregator takes writes only from a certified collector.
  write = testing::IngestSession::Open(aggregator_->address, a,
                                       fixture->region_a, kCallTimeout, Tls());
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.status().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace tally

// tally-gateway on loopback in front of the real tally-aggregator: JSON
// reads equal the gRPC answers and carry their caching headers (ETag,
// 304, Cache-Control; results pinned to a past revision), bad input is
// named and never cached, Server-Sent Events
// follow the feed and resume by Last-Event-ID, the page's files are served
// and nothing outside them, and a missing upstream is reported as 503.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "services/domain/election_index.h"
#include "services/domain/proto_json.h"
#include "services/rpc/channel.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/feed.pb.h"
#include "tally/v1/log.grpc.pb.h"
#include "tests/gateway/sse_client.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;
using testing::SseClient;
using testing::SseMessage;

constexpr char kList[] = "mazhilis-list";
// Waiting for one message or answer; generous for the sanitizer build.
constexpr absl::Duration kTimeout = absl::Seconds(30);

// The reference election with plausible true protocols.
const testing::ReferenceElection& Ref() { return testing::Reference(5); }

// Host and port of "HOST:PORT".
std::pair<std::string, int> SplitAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(address.substr(colon + 1), &port)) << address;
  return {address.substr(0, colon), port};
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Ref().status.ok()) << Ref().status;
    // A test client writing to a gateway that went away must fail, not die.
    signal(SIGPIPE, SIG_IGN);
    dir_ = testing::MakeTempDir("gateway");
    // The page's directory, and a file next to it that must stay private.
    web_dir_ = dir_ + "/web";
    ASSERT_EQ(::mkdir(web_dir_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((web_dir_ + "/js").c_str(), 0755), 0);
    WriteFile(web_dir_ + "/index.html", "<!doctype html><title>tally</title>");
    WriteFile(web_dir_ + "/js/app.js", "console.log('tally');");
    WriteFile(web_dir_ + "/style.css", "body{}");
    WriteFile(dir_ + "/secret.txt", "private");
    ASSERT_EQ(::symlink((dir_ + "/secret.txt").c_str(),
                        (web_dir_ + "/link.txt").c_str()),
              0);
  }

  void TearDown() override {
    sse_.clear();
    if (gateway_ != nullptr) {
      // Open SSE streams must not hold the graceful stop.
      testing::ExpectCleanStop(*gateway_);
    }
    feeder_.reset();
    channel_.reset();
    if (aggregator_ != nullptr && aggregator_->process.running()) {
      testing::ExpectCleanStop(*aggregator_);
    }
    testing::RemoveTempDirUnlessFailed(dir_);
  }

  void StartAggregator(std::vector<std::string> extra = {}) {
    const std::string data_dir = dir_ + "/aggregator";
    std::vector<std::string> args = {"--data_dir", data_dir, "--listen",
                                     "127.0.0.1:0", "--insecure"};
    args.insert(args.end(), extra.begin(), extra.end());
    absl::StatusOr<testing::Server> server = testing::StartServer(
        AGGREGATOR_PATH, args, dir_ + ".aggregator.log", absl::Minutes(2));
    ASSERT_TRUE(server.ok()) << server.status();
    aggregator_ = std::make_unique<testing::Server>(*std::move(server));
    channel_ = rpc::MakeChannel(aggregator_->address);
  }

  // The gateway in front of `upstream` (default: the aggregator).
  void StartGateway(std::vector<std::string> extra = {},
                    std::string upstream = "") {
    if (upstream.empty()) upstream = aggregator_->address;
    std::vector<std::string> args = {
        "--listen",         "127.0.0.1:0", "--upstream",     upstream,
        "--web_dir",        web_dir_,      "--keepalive_ms", "200",
        "--rpc_timeout_ms", "10000",       "--insecure"};
    args.insert(args.end(), extra.begin(), extra.end());
    absl::StatusOr<testing::Server> server = testing::StartServer(
        GATEWAY_PATH, args, absl::StrCat(dir_, ".gateway", ++gateways_, ".log"),
        absl::Minutes(2));
    ASSERT_TRUE(server.ok()) << server.status();
    gateway_ = std::make_unique<testing::Server>(*std::move(server));
    std::tie(host_, port_) = SplitAddress(gateway_->address);
  }

  httplib::Result Get(const std::string& path, httplib::Headers headers = {}) {
    httplib::Client client(host_, port_);
    client.set_connection_timeout(10, 0);
    client.set_read_timeout(60, 0);
    return client.Get(path.c_str(), headers);
  }

  SseClient& Watch(const std::string& path, httplib::Headers headers = {}) {
    sse_.push_back(
        std::make_unique<SseClient>(host_, port_, path, std::move(headers)));
    return *sse_.back();
  }

  // Sends the n-th list protocol; returns the revision of its commit.
  uint64_t SendList(size_t n) {
    const v1::StationProtocol& protocol = Ref().truth.at(n);
    EXPECT_EQ(protocol.contest_id(), kList);
    if (feeder_ == nullptr) {
      feeder_ = std::make_unique<testing::Feeder>(
          aggregator_->address, Ref().index.get(), absl::Minutes(3));
    }
    absl::StatusOr<uint64_t> revision = feeder_->SendOne(protocol);
    EXPECT_TRUE(revision.ok()) << revision.status();
    return revision.ok() ? *revision : 0;
  }

  absl::StatusOr<v1::GetResultsResponse> GrpcResults(
      const v1::GetResultsRequest& request) {
    auto stub = v1::Aggregator::NewStub(channel_);
    std::unique_ptr<grpc::ClientContext> context =
        testing::DeadlineContext(kTimeout);
    v1::GetResultsResponse response;
    grpc::Status status = stub->GetResults(context.get(), request, &response);
    if (!status.ok()) return absl::InternalError(status.error_message());
    return response;
  }

  std::string dir_;
  std::string web_dir_;
  std::unique_ptr<testing::Server> aggregator_;
  std::unique_ptr<testing::Server> gateway_;
  int gateways_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<testing::Feeder> feeder_;
  std::string host_;
  int port_ = 0;
  std::vector<std::unique_ptr<SseClient>> sse_;
};

// The data of the next message, which must be of `kind`.
template <typename Message>
absl::StatusOr<Message> Expect(SseClient& sse, const std::string& kind,
                               std::optional<std::string>* id = nullptr) {
  absl::StatusOr<SseMessage> message = sse.Next(kTimeout);
  if (!message.ok()) return message.status();
  if (message->event != kind) {
    return absl::InternalError(absl::StrCat(
        "expected ", kind, ", got ", message->event, ": ", message->data));
  }
  Message parsed;
  if (absl::Status status = ParseJson(message->data, &parsed); !status.ok()) {
    return status;
  }
  if (id != nullptr) *id = message->id;
  return parsed;
}

// The next event, skipping progress messages (whose id must be a
// revision); its id must be its revision.
absl::StatusOr<v1::Event> NextEvent(SseClient& sse) {
  while (true) {
    absl::StatusOr<SseMessage> message = sse.Next(kTimeout);
    if (!message.ok()) return message.status();
    if (message->event == "progress") continue;
    if (message->event != "event") {
      return absl::InternalError(
          absl::StrCat("expected an event, got ", message->event));
    }
    v1::Event event;
    if (absl::Status status = ParseJson(message->data, &event); !status.ok()) {
      return status;
    }
    if (message->id != absl::StrCat(event.revision())) {
      return absl::InternalError(absl::StrCat("event ", event.revision(),
                                              " has id ",
                                              message->id.value_or("none")));
    }
    return event;
  }
}

// Reads snapshot parts up to snapshot_complete; returns its revision.
absl::StatusOr<uint64_t> ReadSnapshot(SseClient& sse) {
  int parts = 0;
  while (true) {
    absl::StatusOr<SseMessage> message = sse.Next(kTimeout);
    if (!message.ok()) return message.status();
    if (message->event == "snapshot") {
      if (message->id.has_value()) {
        return absl::InternalError("a snapshot part carries an id");
      }
      v1::Snapshot snapshot;
      if (absl::Status s = ParseJson(message->data, &snapshot); !s.ok()) {
        return s;
      }
      ++parts;
      continue;
    }
    if (message->event != "snapshot_complete" || parts == 0) {
      return absl::InternalError(absl::StrCat(
          "unexpected ", message->event, " after ", parts, " snapshot parts"));
    }
    v1::SnapshotComplete complete;
    if (absl::Status s = ParseJson(message->data, &complete); !s.ok()) {
      return s;
    }
    if (message->id != absl::StrCat(complete.revision())) {
      return absl::InternalError("snapshot_complete id is not its revision");
    }
    return complete.revision();
  }
}

TEST_F(GatewayTest, ElectionJsonNamesTheElection) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  ASSERT_NO_FATAL_FAILURE(StartGateway());
  httplib::Result result = Get("/v1/election");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
  v1::GetElectionResponse election;
  ASSERT_TRUE(ParseJson(result->body, &election).ok()) << result->body;
  EXPECT_EQ(election.definition().id(), Ref().index->definition().id());
  EXPECT_EQ(election.definition().name(), Ref().index->definition().name());
  EXPECT_FALSE(election.definition().name().empty());
  EXPECT_EQ(election.station_count(),
            static_cast<uint32_t>(Ref().index->definition().stations_size()));
  EXPECT_EQ(election.definition().stations_size(), 0);  // not asked for
  // Every field is present, zero values included.
  EXPECT_THAT(result->body, HasSubstr("\"revision\":\"0\""));

  httplib::Result bad = Get("/v1/election?include_stations=maybe");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("include_stations"));

  httplib::Result health = Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok");
}

TEST_F(GatewayTest, ResultsJsonEqualsTheGrpcAnswer) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  ASSERT_NO_FATAL_FAILURE(StartGateway());
  for (size_t n = 0; n < 12; ++n) ASSERT_EQ(SendList(n), n + 1);
  const v1::PollingStation* first =
      Ref().index->FindStation(Ref().truth.at(0).station_id());
  ASSERT_NE(first, nullptr);

  struct Case {
    std::string query;
    v1::GetResultsRequest request;
  };
  std::vector<Case> cases(4);
  cases[0].query = "/v1/results";
  cases[1].query = absl::StrCat("/v1/results?contest=", kList);
  cases[1].request.set_contest_id(kList);
  cases[2].query = absl::StrCat("/v1/results?contest=", kList, "&scope=region/",
                                first->region_id());
  cases[2].request.set_contest_id(kList);
  cases[2].request.mutable_scope()->set_kind(v1::SCOPE_KIND_REGION);
  cases[2].request.mutable_scope()->set_id(first->region_id());
  cases[3].query = absl::StrCat("/v1/results?contest=", kList,
                                "&scope=national&all_scopes=1");
  cases[3].request.set_contest_id(kList);
  cases[3].request.mutable_scope()->set_kind(v1::SCOPE_KIND_NATIONAL);
  cases[3].request.set_all_scopes(true);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.query);
    httplib::Result result = Get(c.query);
    ASSERT_TRUE(result) << httplib::to_string(result.error());
    ASSERT_EQ(result->status, 200) << result->body;
    EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
    v1::GetResultsResponse over_http;
    ASSERT_TRUE(ParseJson(result->body, &over_http).ok()) << result->body;
    absl::StatusOr<v1::GetResultsResponse> over_grpc = GrpcResults(c.request);
    ASSERT_TRUE(over_grpc.ok()) << over_grpc.status();
    EXPECT_TRUE(MessageDifferencer::Equals(over_http, *over_grpc))
        << over_http.ShortDebugString() << "\n"
        << over_grpc->ShortDebugString();
    EXPECT_EQ(over_http.revision(), 12u);
    ASSERT_GT(over_http.results_size(), 0);
  }
}

constexpr char kLatest[] = "public, max-age=1, stale-while-revalidate=5";
constexpr char kPinned[] = "public, max-age=31536000, immutable";

// Latest-state JSON carries a strong ETag that follows the revision and a
// one-second Cache-Control; If-None-Match with it (alone, in a list, weak,
// or "*") is 304 without a body, with the same headers; a new revision
// makes the old tag miss.
TEST_F(GatewayTest, JsonCarriesETagsAndConditionalRequestsGet304) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  ASSERT_NO_FATAL_FAILURE(StartGateway());
  for (size_t n = 0; n < 3; ++n) ASSERT_EQ(SendList(n), n + 1);
  for (const std::string path : {"/v1/results", "/v1/election", "/v1/forensics",
                                 "/v1/tree-head", "/v1/checkpoint"}) {
    SCOPED_TRACE(path);
    httplib::Result first = Get(path);
    ASSERT_TRUE(first) << httplib::to_string(first.error());
    ASSERT_EQ(first->status, 200) << first->body;
    const std::string etag = first->get_header_value("ETag");
    EXPECT_THAT(etag, ::testing::MatchesRegex("\"r3-[0-9a-f]{16}\""));
    EXPECT_EQ(first->get_header_value("Cache-Control"), kLatest);
    for (const std::string& condition :
         {etag, absl::StrCat("\"r1-0\", W/", etag), std::string("*")}) {
      SCOPED_TRACE(condition);
      httplib::Result again = Get(path, {{"If-None-Match", condition}});
      ASSERT_TRUE(again);
      EXPECT_EQ(again->status, 304);
      EXPECT_TRUE(again->body.empty()) << again->body;
      EXPECT_EQ(again->get_header_value("ETag"), etag);
      EXPECT_EQ(again->get_header_value("Cache-Control"), kLatest);
    }
    httplib::Result other = Get(path, {{"If-None-Match", "\"r3-0\""}});
    ASSERT_TRUE(other);
    EXPECT_EQ(other->status, 200);
    EXPECT_EQ(other->body, first->body);
    EXPECT_EQ(other->get_header_value("ETag"), etag);
  }
  httplib::Result before = Get("/v1/results");
  ASSERT_TRUE(before);
  ASSERT_EQ(SendList(3), 4u);
  httplib::Result after =
      Get("/v1/results", {{"If-None-Match", before->get_header_value("ETag")}});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
  EXPECT_THAT(after->get_header_value("ETag"), HasSubstr("\"r4-"));
}

// /v1/results?revision=R is the answer the latest form gave at revision R,
// byte for byte, for a year (immutable), while the aggregator keeps R; a
// revision not yet made or no longer kept is a 404 that says which, never
// stored. Errors of every kind are no-store; the stream stays no-cache.
TEST_F(GatewayTest, ResultsPinnedToARevisionAreImmutableWhileKept) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator({"--retained_results", "4"}));
  ASSERT_NO_FATAL_FAILURE(StartGateway());
  const std::vector<std::string> queries = {
      "", absl::StrCat("contest=", kList, "&all_scopes=true")};
  // The latest answers at each revision, by query.
  std::map<std::pair<std::string, uint64_t>, std::string> seen;
  for (size_t n = 0; n < 6; ++n) {
    ASSERT_EQ(SendList(n), n + 1);
    for (const std::string& query : queries) {
      httplib::Result latest = Get("/v1/results?" + query);
      ASSERT_TRUE(latest);
      ASSERT_EQ(latest->status, 200) << latest->body;
      seen[{query, n + 1}] = latest->body;
    }
  }
  // Revisions 3 to 6 are kept.
  for (const std::string& query : queries) {
    for (uint64_t revision = 3; revision <= 6; ++revision) {
      const std::string path =
          absl::StrCat("/v1/results?", query, "&revision=", revision);
      SCOPED_TRACE(path);
      httplib::Result pinned = Get(path);
      ASSERT_TRUE(pinned);
      ASSERT_EQ(pinned->status, 200) << pinned->body;
      EXPECT_EQ(pinned->get_header_value("Cache-Control"), kPinned);
      EXPECT_EQ(pinned->body, (seen[{query, revision}]));
      EXPECT_THAT(pinned->get_header_value("ETag"),
                  HasSubstr(absl::StrCat("\"r", revision, "-")));
      httplib::Result again =
          Get(path, {{"If-None-Match", pinned->get_header_value("ETag")}});
      ASSERT_TRUE(again);
      EXPECT_EQ(again->status, 304);
      EXPECT_EQ(again->get_header_value("Cache-Control"), kPinned);
    }
  }
  struct Case {
    std::string path;
    int status;
    std::string says;
  };
  const std::vector<Case> errors = {
      {"/v1/results?revision=2", 404, "no longer kept"},
      {"/v1/results?revision=99", 404, "not committed yet"},
      {"/v1/results?revision=x", 400, "revision"},
      {"/v1/results?scope=planet/mars", 400, "scope"},
      {"/v1/results?contest=no-such-contest", 404, "no-such-contest"},
      {"/v1/tree-head?revision=99", 404, ""},
      {"/v1/nothing", 404, "/v1/nothing"},
      {"/v1/watch?from_revision=abc", 400, "from_revision"},
  };
  for (const Case& c : errors) {
    SCOPED_TRACE(c.path);
    httplib::Result result = Get(c.path);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, c.status) << result->body;
    EXPECT_THAT(result->body, HasSubstr(c.says));
    EXPECT_EQ(result->get_header_value("Cache-Control"), "no-store");
    EXPECT_FALSE(result->has_header("ETag"));
  }
  httplib::Result health = Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->get_header_value("Cache-Control"), "no-store");
  SseClient& sse = Watch("/v1/watch");
  ASSERT_TRUE(ReadSnapshot(sse).ok());
  ASSERT_TRUE(sse.Status(kTimeout).ok());
  EXPECT_EQ(sse.Header("Cache-Control"), "no-cache");
}

TEST_F(GatewayTest, BadParametersAreNamedAndUnknownContestIsNotFound) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  ASSERT_NO_FATAL_FAILURE(StartGateway());
  struct Case {
    std::string path;
    int status;
    std::string names;
  };
  const std::vector<Case> cases = {
      {"/v1/results?scope=planet/mars", 400, "scope"},
      {"/v1/results?scope=region/", 400, "scope"},
      {absl::StrCat("/v1/results?contest=", kList, "&contest=smd-01"), 400,
       "contest"},
      {"/v1/results?all_scopes=yes", 400, "all_scopes"},
      {"/v1/results?contest=no-such-contest", 404, "no-such-contest"},
      {"/v1/watch?from_revision=abc", 400, "from_revision"},
      {"/v1/watch?from_revision=-1", 400, "from_revision"},
      {"/v1/watch?scope=galaxy", 400, "scope"},
      {"/v1/nothing", 404, "/v1/nothing"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    httplib::Result result = Get(c.path);
    ASSERT_TRUE(result) << httplib::to_string(result.error());
    EXPECT_EQ(result->status, c.status) << result->body;
    EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
    google::protobuf::Struct body;
    ASSERT_TRUE(ParseJson(result->body, &body).ok()) << result->body;
    ASSERT_TRUE(body.fields().contains("error")) << result->body;
    EXPECT_THAT(body.fields().at("error").string_value(), HasSubstr(c.names));
  }
  // An unknown region is the upstream's NOT_FOUND or INVALID_ARGUMENT,
  // never a server error.
  httplib::Result region = Get(
      absl::StrCat("/v1/results?contest=", kList, "&scope=region/atlantis"));
  ASSERT_TRUE(region);
  EXPECT_TRUE(region->status == 404 || region->status == 400)
      << region->status << " " << region->body;
  EXPECT_THAT(region->body, HasSubstr("atlantis"));

  httplib::Client client(host_, port_);
  httplib::Result post = client.Post("/v1/results", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

// The transparency log over HTTP: the signed head, its C2SP checkpoint as
// text, and a station's inclusion proof, each the Log service's answer;
// bad parameters named, an unknown station 404, a tree beyond the log 400.
TEST_F(GatewayTest, TreeHeadCheckpointAndProofAreTheLogServiceAnswers) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  ASSERT_NO_FATAL_FAILURE(StartGateway());
  for (size_t n = 0; n < 5; ++n) ASSERT_EQ(SendList(n), n + 1);
  auto log = v1::Log::NewStub(channel_);

  v1::GetTreeHeadResponse head;
  ASSERT_TRUE(
      log->GetTreeHead(testing::DeadlineContext(kTimeout).get(), {}, &head)
          .ok());
  EXPECT_EQ(head.signed_head().head().tree_size(), 5u);
  httplib::Result result = Get("/v1/tree-head");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  ASSERT_EQ(result->status, 200) << result->body;
  v1::GetTreeHeadResponse over_http;
  ASSERT_TRUE(ParseJson(result->body, &over_http).ok()) << result->body;
  EXPECT_TRUE(MessageDifferencer::Equals(over_http, head));

  result = Get("/v1/checkpoint");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->get_header_value("Content-Type"),
            "text/plain; charset=utf-8");
  EXPECT_EQ(result->body, head.checkpoint());

  const uint32_t station = Ref().truth.at(2).station_id();
  v1::GetInclusionProofRequest request;
  request.set_contest_id(kList);
  request.set_station_id(station);
  v1::GetInclusionProofResponse proof;
  ASSERT_TRUE(log->GetInclusionProof(testing::DeadlineContext(kTimeout).get(),
                                     request, &proof)
                  .ok());
  EXPECT_EQ(proof.leaf_index(), 2u);
  result = Get(absl::StrCat("/v1/proof?contest=", kList, "&station=", station));
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  v1::GetInclusionProofResponse proof_over_http;
  ASSERT_TRUE(ParseJson(result->body, &proof_over_http).ok()) << result->body;
  EXPECT_TRUE(MessageDifferencer::Equals(proof_over_http, proof));

  struct Case {
    std::string path;
    int status;
    std::string names;
  };
  const std::vector<Case> cases = {
      {absl::StrCat("/v1/proof?contest=", kList), 400, "station"},
      {"/v1/proof?station=5", 400, "contest"},
      {absl::StrCat("/v1/proof?contest=", kList, "&station=abc"), 400,
       "station"},
      {absl::StrCat("/v1/proof?contest=", kList, "&station=", station,
                    "&version=-2"),
       400, "version"},
      {absl::StrCat("/v1/proof?contest=", kList, "&station=4000000000"), 404,
       "4000000000"},
      {absl::StrCat("/v1/proof?contest=", kList, "&station=", station,
                    "&tree_size=99"),
       400, "tree size 99"},
      {"/v1/tree-head?revision=99", 404, "revision 99"},
      {"/v1/tree-head?revision=x", 400, "revision"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    httplib::Result bad = Get(c.path);
    ASSERT_TRUE(bad) << httplib::to_string(bad.error());
    EXPECT_EQ(bad->status, c.status) << bad->body;
    EXPECT_THAT(bad->body, HasSubstr(c.names));
  }
}

// A huge query parameter comes back with its own status and an error that
// quotes at most about a hundred bytes of it.
TEST_F(GatewayTest, HugeQueryParametersGetShortErrors) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  ASSERT_NO_FATAL_FAILURE(StartGateway());
  constexpr size_t kShortBody = 300;
  // Within the URI limit of the HTTP server (8 KiB).
  const std::string huge(6000, 'x');
  struct Case {
    std::string path;
    int status;
  };
  const std::vector<Case> cases = {
      {"/v1/results?contest=" + huge, 404},
      {absl::StrCat("/v1/results?contest=", kList, "&scope=region/", huge),
       404},
      {"/v1/results?scope=" + huge, 400},
      {"/v1/election?include_stations=" + huge, 400},
      {"/v1/watch?from_revision=" + huge, 400},
      {"/v1/" + huge, 404},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path.substr(0, 40));
    httplib::Result result = Get(c.path);
    ASSERT_TRUE(result) << httplib::to_string(result.error());
    EXPECT_EQ(result->status, c.status) << result->body.substr(0, 1000);
    EXPECT_LT(result->body.size(), kShortBody) << result->body.substr(0, 1000);
  }
  // Beyond it, the HTTP server refuses the request line itself.
  httplib::Result too_long =
      Get("/v1/results?contest=" + std::string(100 * 1024, 'x'));
  ASSERT_TRUE(too_long) << httplib::to_string(too_long.error());
  EXPECT_EQ(too_long->status, 414);
  EXPECT_LT(too_long->body.size(), kShortBody);
}

TEST_F(GatewayTest, WatchStreamsSnapshotThenEventsWithRevisionIds) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  ASSERT_NO_FATAL_FAILURE(StartGateway());
  ASSERT_EQ(SendList(0), 1u);
  ASSERT_EQ(SendList(1), 2u);
  SseClient& sse = Watch(absl::StrCat("/v1/watch?contest=", kList));
  absl::StatusOr<int> status = sse.Status(kTimeout);
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(*status, 200) << sse.body_of_error();
  EXPECT_THAT(sse.Header("Content-Type"), HasSubstr("text/event-stream"));
  EXPECT_EQ(sse.Header("Cache-Control"), "no-cache");
  EXPECT_EQ(sse.Header("X-Accel-Buffering"), "no");

  absl::StatusOr<uint64_t> snapshot = ReadSnapshot(sse);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(*snapshot, 2u);
  EXPECT_EQ(sse.retry_ms(), 2000);
  for (size_t n = 2; n < 6; ++n) {
    const uint64_t revision = SendList(n);
    ASSERT_EQ(revision, n + 1);
    absl::StatusOr<v1::Event> event = NextEvent(sse);
    ASSERT_TRUE(event.ok()) << event.status();
    EXPECT_EQ(event->revision(), revision);
    ASSERT_GT(event->totals_size(), 0);
    EXPECT_EQ(event->totals(0).contest_id(), kList);
  }
  // Silence is filled with keepalive comments (200 ms in this test).
  const absl::Time deadline = absl::Now() + kTimeout;
  while (sse.comments() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GT(sse.comments(), 0);
}

TEST_F(GatewayTest, ReconnectWithLastEventIdReceivesExactlyTheLaterRevisions) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  ASSERT_NO_FATAL_FAILURE(StartGateway());
  std::string last_id;
  {
    SseClient& first = Watch("/v1/watch");
    absl::StatusOr<uint64_t> snapshot = ReadSnapshot(first);
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    ASSERT_EQ(*snapshot, 0u);
    for (size_t n = 0; n < 5; ++n) {
      ASSERT_EQ(SendList(n), n + 1);
      absl::StatusOr<v1::Event> event = NextEvent(first);
      ASSERT_TRUE(event.ok()) << event.status();
      ASSERT_EQ(event->revision(), n + 1);
      last_id = absl::StrCat(event->revision());
    }
    sse_.clear();  // the browser goes away
  }
  for (size_t n = 5; n < 8; ++n) ASSERT_EQ(SendList(n), n + 1);

  // Last-Event-ID wins over the page's from_revision.
  SseClient& again =
      Watch("/v1/watch?from_revision=0", {{"Last-Event-ID", last_id}});
  for (uint64_t revision = 6; revision <= 8; ++revision) {
    absl::StatusOr<v1::Event> event = NextEvent(again);
    ASSERT_TRUE(event.ok()) << event.status();
    EXPECT_EQ(event->revision(), revision);
  }
  ASSERT_EQ(SendList(8), 9u);
  absl::StatusOr<v1::Event> live = NextEvent(again);
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->revision(), 9u);

  // from_revision alone resumes too.
  SseClient& by_query = Watch("/v1/watch?from_revision=7");
  for (uint64_t revision = 8; revision <= 9; ++revision) {
    absl::StatusOr<v1::Event> event = NextEvent(by_query);
    ASSERT_TRUE(event.ok()) << event.status();
    EXPECT_EQ(event->revision(), revision);
  }
}

TEST_F(GatewayTest, StaticFilesAreServedAndNothingOutsideThem) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  ASSERT_NO_FATAL_FAILURE(StartGateway());
  httplib::Result index = Get("/");
  ASSERT_TRUE(index) << httplib::to_string(index.error());
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->body, "<!doctype html><title>tally</title>");
  EXPECT_THAT(index->get_header_value("Content-Type"), HasSubstr("text/html"));
  httplib::Result named = Get("/index.html");
  ASSERT_TRUE(named);
  EXPECT_EQ(named->body, index->body);
  httplib::Result script = Get("/js/app.js");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200);
  EXPECT_THAT(script->get_header_value("Content-Type"),
              HasSubstr("javascript"));
  httplib::Result style = Get("/style.css");
  ASSERT_TRUE(style);
  EXPECT_THAT(style->get_header_value("Content-Type"), HasSubstr("text/css"));

  for (const char* path :
       {"/missing.html", "/../secret.txt", "/js/../../secret.txt",
        "/%2e%2e/secret.txt", "/js/%2E%2E/%2E%2E/secret.txt", "/link.txt",
        "/..", "/js/..%2F..%2Fsecret.txt"}) {
    SCOPED_TRACE(path);
    httplib::Result result = Get(path);
    ASSERT_TRUE(result) << httplib::to_string(result.error());
    EXPECT_EQ(result->status, 404);
    EXPECT_THAT(result->body, ::testing::Not(HasSubstr("private")));
  }
}

TEST_F(GatewayTest, UpstreamDownIsServiceUnavailable) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  ASSERT_NO_FATAL_FAILURE(StartGateway({"--rpc_timeout_ms", "3000"}));
  httplib::Result healthy = Get("/healthz");
  ASSERT_TRUE(healthy);
  EXPECT_EQ(healthy->status, 200);
  SseClient& open = Watch("/v1/watch");
  absl::StatusOr<uint64_t> snapshot = ReadSnapshot(open);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();

  // The upstream goes away: the open stream ends (the browser reconnects
  // with its Last-Event-ID) and reads are 503.
  aggregator_->process.Signal(SIGTERM);
  EXPECT_TRUE(open.WaitEnd(kTimeout));
  absl::StatusOr<int> stopped = aggregator_->process.Wait(absl::Minutes(1));
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  ASSERT_EQ(*stopped, 0);

  httplib::Result results = Get("/v1/results");
  ASSERT_TRUE(results) << httplib::to_string(results.error());
  EXPECT_EQ(results->status, 503) << results->body;
  google::protobuf::Struct body;
  ASSERT_TRUE(ParseJson(results->body, &body).ok()) << results->body;
  EXPECT_TRUE(body.fields().contains("error"));
  httplib::Result election = Get("/v1/election");
  ASSERT_TRUE(election);
  EXPECT_EQ(election->status, 503);
  httplib::Result health = Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);

  // A new watch ends its response at once, so that the browser retries
  // after the retry interval.
  SseClient& sse = Watch("/v1/watch");
  EXPECT_TRUE(sse.WaitEnd(kTimeout));
  EXPECT_EQ(sse.retry_ms(), 2000);
}

TEST_F(GatewayTest, WatchersBeyondTheLimitAreRefusedAndStopEndsStreams) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  ASSERT_NO_FATAL_FAILURE(StartGateway({"--max_sse_clients", "2"}));
  SseClient& one = Watch("/v1/watch");
  SseClient& two = Watch("/v1/watch");
  ASSERT_TRUE(ReadSnapshot(one).ok());
  ASSERT_TRUE(ReadSnapshot(two).ok());
  SseClient& three = Watch("/v1/watch");
  absl::StatusOr<int> status = three.Status(kTimeout);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, 503);
  EXPECT_TRUE(three.WaitEnd(kTimeout));
  EXPECT_THAT(three.body_of_error(), HasSubstr("limit 2"));
  // JSON requests are still served while every SSE slot is taken.
  httplib::Result results = Get("/v1/results");
  ASSERT_TRUE(results);
  EXPECT_EQ(results->status, 200);

  // SIGTERM ends the open streams and the gateway exits 0.
  gateway_->process.Signal(SIGTERM);
  EXPECT_TRUE(one.WaitEnd(kTimeout));
  EXPECT_TRUE(two.WaitEnd(kTimeout));
  absl::StatusOr<int> stopped = gateway_->process.Wait(absl::Minutes(1));
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0) << gateway_->process.log();
  gateway_.reset();
}

}  // namespace
}  // namespace tally

// Observability of the real binaries: every server's admin endpoint
// (--admin_listen) serves Prometheus text whose figures agree with what
// happened (protocols submitted, counted, forwarded, watched, requested),
// /healthz answers, and --log_format=json writes one JSON object per line.
#include <signal.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "services/domain/election_index.h"
#include "services/rpc/channel.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/collector.grpc.pb.h"
#include "tests/support/http_get.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally {
namespace {

using rpc::MakeChannel;
using testing::DeadlineContext;
using ::testing::HasSubstr;

constexpr char kList[] = "mazhilis-list";
constexpr absl::Duration kStartTimeout = absl::Minutes(2);
constexpr absl::Duration kCallTimeout = absl::Seconds(30);
constexpr absl::Duration kSettleTimeout = absl::Minutes(2);

// One scrape: series text ("name{labels}") -> value. Also checks the
// exposition format: every sample's family has # HELP and # TYPE first.
struct Scrape {
  std::map<std::string, double> values;
  std::set<std::string> typed_families;

  double Get(const std::string& series) const {
    auto it = values.find(series);
    return it == values.end() ? -1 : it->second;
  }
};

using testing::HttpGet;

absl::StatusOr<Scrape> ScrapeMetrics(const std::string& admin) {
  int status = 0;
  absl::StatusOr<std::string> body = HttpGet(admin, "/metrics", &status);
  if (!body.ok()) return body.status();
  if (status != 200) {
    return absl::InternalError(absl::StrCat("/metrics answered ", status));
  }
  Scrape scrape;
  std::set<std::string> helped;
  for (absl::string_view line : absl::StrSplit(*body, '\n')) {
    if (line.empty()) continue;
    if (absl::ConsumePrefix(&line, "# HELP ")) {
      helped.insert(std::string(line.substr(0, line.find(' '))));
      continue;
    }
    if (absl::ConsumePrefix(&line, "# TYPE ")) {
      const std::string family(line.substr(0, line.find(' ')));
      if (!helped.contains(family)) {
        return absl::InternalError(absl::StrCat("TYPE before HELP: ", family));
      }
      scrape.typed_families.insert(family);
      continue;
    }
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == absl::string_view::npos ||
        !absl::SimpleAtod(line.substr(space + 1), &value)) {
      return absl::InternalError(absl::StrCat("bad sample line: ", line));
    }
    const std::string series(line.substr(0, space));
    const std::string name = series.substr(0, series.find('{'));
    bool typed = scrape.typed_families.contains(name);
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (absl::EndsWith(name, suffix)) {
        typed = typed || scrape.typed_families.contains(
                             name.substr(0, name.size() - strlen(suffix)));
      }
    }
    if (!typed) {
      return absl::InternalError(absl::StrCat("sample without TYPE: ", line));
    }
    scrape.values[series] = value;
  }
  return scrape;
}

// The admin HOST:PORT from the server's "admin endpoint on http://..." line.
absl::StatusOr<std::string> WaitAdmin(testing::Process& process) {
  return process.WaitFor("admin endpoint on http://", kStartTimeout);
}

class ObservabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::ReferenceElection& ref = testing::Reference(7);
    ASSERT_TRUE(ref.status.ok()) << ref.status;
    index_ = ref.index.get();
    region_ = index_->definition().regions(0).id();
    for (const v1::StationProtocol& protocol : ref.truth) {
      if (protocol.contest_id() != kList) continue;
      const std::string& region =
          index_->FindStation(protocol.station_id())->region_id();
      if (region == region_ && mine_.size() < 300) {
        mine_.push_back(protocol);
      } else if (region != region_ && foreign_.empty()) {
        foreign_.push_back(protocol);
      }
    }
    ASSERT_EQ(mine_.size(), 300u);
    dir_ = testing::MakeTempDir("observability");
  }

  void TearDown() override { testing::RemoveTempDirUnlessFailed(dir_); }

  // Starts `binary` with `args` plus an admin endpoint on a free port.
  void Start(const std::string& name, const std::string& binary,
             std::vector<std::string> args,
             std::unique_ptr<testing::Server>* server, std::string* admin) {
    args.push_back("--admin_listen=127.0.0.1:0");
    absl::StatusOr<testing::Server> started = testing::StartServer(
        binary, args, absl::StrCat(dir_, ".", name, ".log"), kStartTimeout);
    ASSERT_TRUE(started.ok()) << started.status();
    *server = std::make_unique<testing::Server>(*std::move(started));
    absl::StatusOr<std::string> address = WaitAdmin((*server)->process);
    ASSERT_TRUE(address.ok()) << address.status();
    *admin = *address;
  }

  // Scrapes `admin` until `done` holds (figures settle asynchronously:
  // forwarding, commit, feed), then returns the last scrape.
  Scrape ScrapeUntil(const std::string& admin,
                     const std::function<bool(const Scrape&)>& done) {
    const absl::Time deadline = absl::Now() + kSettleTimeout;
    Scrape last;
    while (absl::Now() < deadline) {
      absl::StatusOr<Scrape> scrape = ScrapeMetrics(admin);
      EXPECT_TRUE(scrape.ok()) << scrape.status();
      if (!scrape.ok()) return last;
      last = *std::move(scrape);
      if (done(last)) return last;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ADD_FAILURE() << "metrics of " << admin << " did not settle";
    return last;
  }

  const ElectionIndex* index_ = nullptr;
  std::string region_;
  std::vector<v1::StationProtocol> mine_;
  std::vector<v1::StationProtocol> foreign_;
  std::string dir_;
};

TEST_F(ObservabilityTest, MetricsOfEveryServerFollowTheNight) {
  std::unique_ptr<testing::Server> aggregator, collector, relay, gateway;
  std::string aggregator_admin, collector_admin, relay_admin, gateway_admin;
  ASSERT_NO_FATAL_FAILURE(
      Start("aggregator", AGGREGATOR_PATH,
            {"--data_dir", dir_ + "/aggregator", "--listen", "127.0.0.1:0",
             "--insecure", "--log_format=json"},
            &aggregator, &aggregator_admin));
  ASSERT_NO_FATAL_FAILURE(
      Start("collector", COLLECTOR_PATH,
            {"--region", region_, "--data_dir", dir_ + "/collector", "--listen",
             "127.0.0.1:0", "--aggregator", aggregator->address, "--insecure"},
            &collector, &collector_admin));
  ASSERT_NO_FATAL_FAILURE(Start("relay", RELAY_PATH,
                                {"--listen", "127.0.0.1:0", "--upstream",
                                 aggregator->address, "--insecure"},
                                &relay, &relay_admin));
  ASSERT_NO_FATAL_FAILURE(
      Start("gateway", GATEWAY_PATH,
            {"--listen", "127.0.0.1:0", "--upstream", aggregator->address,
             "--feed", relay->address, "--insecure"},
            &gateway, &gateway_admin));

  // 300 protocols on one stream, 20 of them again (local duplicates) and
  // one of another region (rejected by the collector).
  std::vector<v1::StationProtocol> submissions = mine_;
  submissions.insert(submissions.end(), mine_.begin(), mine_.begin() + 20);
  submissions.push_back(foreign_.front());
  auto collector_stub = v1::Collector::NewStub(MakeChannel(collector->address));
  v1::SubmitStreamResponse response;
  {
    std::unique_ptr<grpc::ClientContext> context =
        DeadlineContext(kCallTimeout);
    auto writer = collector_stub->SubmitStream(context.get(), &response);
    for (const v1::StationProtocol& protocol : submissions) {
      v1::SubmitRequest request;
      *request.mutable_protocol() = protocol;
      ASSERT_TRUE(writer->Write(request));
    }
    writer->WritesDone();
    const grpc::Status status = writer->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ASSERT_EQ(response.accepted(), 300u);
  ASSERT_EQ(response.duplicate(), 20u);
  ASSERT_EQ(response.rejected(), 1u);

  // Collector: verdicts, then the outbox drains to the aggregator.
  const Scrape c = ScrapeUntil(collector_admin, [](const Scrape& s) {
    return s.Get("tally_outbox_acknowledged_total") == 300 &&
           s.Get("tally_outbox_depth") == 0;
  });
  EXPECT_EQ(c.Get(R"(tally_collector_protocols_total{outcome="accepted"})"),
            300);
  EXPECT_EQ(c.Get(R"(tally_collector_protocols_total{outcome="duplicate"})"),
            20);
  EXPECT_EQ(c.Get(R"(tally_collector_protocols_total{outcome="rejected"})"), 1);
  EXPECT_EQ(c.Get("tally_outbox_appended_total"), 300);
  EXPECT_EQ(c.Get("tally_aggregator_connected"), 1);
  EXPECT_EQ(c.Get(R"(tally_build_info{service="tally-collector",version=")" +
                  std::string(TALLY_VERSION_STRING) + "\"}"),
            1);
  EXPECT_GT(c.Get("process_resident_memory_bytes"), 0);
  EXPECT_GT(c.Get("process_open_fds"), 0);

  // Aggregator: every protocol classified once, commit histograms
  // consistent with it, revision as GetResults reports it.
  const Scrape a = ScrapeUntil(aggregator_admin, [](const Scrape& s) {
    return s.Get(R"(tally_ingest_protocols_total{outcome="accepted"})") ==
               300 &&
           s.Get("tally_watchers") >= 1;  // the relay's Watch
  });
  for (const char* outcome : {"duplicate", "stale", "conflict", "rejected"}) {
    EXPECT_EQ(a.Get(absl::StrCat("tally_ingest_protocols_total{outcome=\"",
                                 outcome, "\"}")),
              0)
        << outcome;
  }
  const double rounds = a.Get("tally_commit_batch_protocols_count");
  EXPECT_GE(rounds, 1);
  EXPECT_LE(rounds, 300);
  EXPECT_EQ(a.Get("tally_commit_batch_protocols_sum"), 300);
  EXPECT_EQ(a.Get(R"(tally_commit_batch_protocols_bucket{le="+Inf"})"), rounds);
  EXPECT_EQ(a.Get("tally_commit_duration_seconds_count"), rounds);
  EXPECT_GT(a.Get("tally_commit_duration_seconds_sum"), 0);
  double previous = 0;
  for (const auto& [series, value] : a.values) {
    if (!absl::StartsWith(series, "tally_commit_duration_seconds_bucket")) {
      continue;
    }
    EXPECT_GE(value, 0);
    EXPECT_LE(value, rounds);
    previous = std::max(previous, value);
  }
  EXPECT_EQ(previous, rounds);
  EXPECT_EQ(a.Get("tally_stations_reported"), 300);
  EXPECT_EQ(a.Get("tally_stations_expected"),
            index_->definition().stations_size());
  EXPECT_EQ(a.Get("tally_protocols_counted"), 300);
  EXPECT_EQ(a.Get("tally_ingest_streams"), 1);
  EXPECT_GE(a.Get("tally_watchers"), 1);  // the relay
  auto aggregator_stub =
      v1::Aggregator::NewStub(MakeChannel(aggregator->address));
  v1::GetResultsResponse results;
  ASSERT_TRUE(aggregator_stub
                  ->GetResults(DeadlineContext(kCallTimeout).get(),
                               v1::GetResultsRequest(), &results)
                  .ok());
  EXPECT_EQ(a.Get("tally_revision"), results.revision());
  EXPECT_GT(results.revision(), 0u);

  // Relay: it reaches the aggregator's revision and serves.
  const double revision = static_cast<double>(results.revision());
  const Scrape r = ScrapeUntil(relay_admin, [revision](const Scrape& s) {
    return s.Get("tally_revision") == revision;
  });
  EXPECT_EQ(r.Get("tally_feed_serving"), 1);
  EXPECT_EQ(r.Get("tally_upstream_connections_total"), 1);

  // Gateway: two reads and one refused write, counted by endpoint and code.
  int status = 0;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(HttpGet(gateway->address, "/v1/results", &status).ok());
    EXPECT_EQ(status, 200);
  }
  {
    httplib::Client client("http://" + gateway->address);
    httplib::Result posted = client.Post("/v1/results", "{}", "text/plain");
    ASSERT_TRUE(posted);
    EXPECT_EQ(posted->status, 405);
  }
  absl::StatusOr<Scrape> g = ScrapeMetrics(gateway_admin);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(
      g->Get(R"(tally_http_requests_total{code="200",endpoint="results"})"), 2);
  EXPECT_EQ(
      g->Get(R"(tally_http_requests_total{code="405",endpoint="results"})"), 1);
  EXPECT_EQ(g->Get("tally_sse_clients"), 0);

  // Every admin endpoint is healthy while serving.
  for (const std::string& admin :
       {aggregator_admin, collector_admin, relay_admin, gateway_admin}) {
    absl::StatusOr<std::string> body = HttpGet(admin, "/healthz", &status);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(status, 200) << admin;
    EXPECT_EQ(*body, "ok\n");
    ASSERT_TRUE(HttpGet(admin, "/nothing", &status).ok());
    EXPECT_EQ(status, 404) << admin;
  }

  // JSON logs: each line of the aggregator's log is one JSON object with
  // the common fields; the serving line carries its port as a number.
  aggregator->process.Signal(SIGTERM);
  absl::StatusOr<int> exit = aggregator->process.Wait(kCallTimeout);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(*exit, 0);
  int lines = 0;
  bool saw_serving = false;
  for (absl::string_view line :
       absl::StrSplit(aggregator->process.log(), '\n', absl::SkipEmpty())) {
    google::protobuf::Struct object;
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(std::string(line), &object)
            .ok())
        << line;
    const auto& fields = object.fields();
    ASSERT_TRUE(fields.contains("ts") && fields.contains("level") &&
                fields.contains("msg"))
        << line;
    EXPECT_EQ(fields.at("service").string_value(), "tally-aggregator");
    if (absl::StartsWith(fields.at("msg").string_value(), "serving on ")) {
      saw_serving = true;
      EXPECT_EQ(fields.at("port").kind_case(),
                google::protobuf::Value::kNumberValue);
    }
    ++lines;
  }
  EXPECT_TRUE(saw_serving);
  EXPECT_GE(lines, 4);  // serving, admin, stop signal, stopped
}

TEST_F(ObservabilityTest, RefusedIngestStreamsAreCountedAndLogged) {
  std::unique_ptr<testing::Server> aggregator;
  std::string admin;
  ASSERT_NO_FATAL_FAILURE(Start("aggregator", AGGREGATOR_PATH,
                                {"--data_dir", dir_ + "/aggregator", "--listen",
                                 "127.0.0.1:0", "--insecure"},
                                &aggregator, &admin));
  v1::IngestRequest no_collector;
  no_collector.mutable_hello()->set_region_id(region_);
  const grpc::Status status =
      testing::RawIngest(aggregator->address, {no_collector}, kCallTimeout);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // The stream count drops when gRPC is done with the call, soon after.
  const Scrape a = ScrapeUntil(admin, [](const Scrape& s) {
    return s.Get("tally_ingest_streams") == 0;
  });
  EXPECT_EQ(
      a.Get(R"(tally_ingest_streams_refused_total{code="INVALID_ARGUMENT"})"),
      1);
  const std::string log = aggregator->process.log();
  EXPECT_THAT(log, HasSubstr("level=warning service=tally-aggregator "
                             "msg=\"ingest stream refused\" "
                             "code=INVALID_ARGUMENT"));
  EXPECT_THAT(log, HasSubstr("hello.collector_id is required"));
}

// A server whose upstream cannot be reached says, in its log, which
// address it tried and what to check; the gateway says it to browsers too.
TEST_F(ObservabilityTest, UnreachableUpstreamsAreNamedInTheLogs) {
  testing::ClosedPort closed;
  ASSERT_NE(closed.port(), 0);
  std::unique_ptr<testing::Server> collector, relay, gateway;
  std::string collector_admin, relay_admin, gateway_admin;
  ASSERT_NO_FATAL_FAILURE(
      Start("collector", COLLECTOR_PATH,
            {"--region", region_, "--data_dir", dir_ + "/collector", "--listen",
             "127.0.0.1:0", "--aggregator", closed.address(), "--insecure"},
            &collector, &collector_admin));
  ASSERT_NO_FATAL_FAILURE(Start(
      "relay", RELAY_PATH,
      {"--listen", "127.0.0.1:0", "--upstream", closed.address(), "--insecure"},
      &relay, &relay_admin));
  ASSERT_NO_FATAL_FAILURE(Start(
      "gateway", GATEWAY_PATH,
      {"--listen", "127.0.0.1:0", "--upstream", closed.address(), "--insecure"},
      &gateway, &gateway_admin));

  absl::StatusOr<std::string> tried =
      collector->process.WaitFor("no aggregator at ", kSettleTimeout);
  ASSERT_TRUE(tried.ok()) << tried.status() << collector->process.log();
  EXPECT_EQ(*tried, closed.address());
  EXPECT_THAT(collector->process.log(),
              HasSubstr(absl::StrCat(
                  "no aggregator at ", closed.address(),
                  " (connection refused); will retry: start it, or check "
                  "--aggregator")));

  tried = relay->process.WaitFor("no aggregator or relay at ", kSettleTimeout);
  ASSERT_TRUE(tried.ok()) << tried.status() << relay->process.log();
  EXPECT_EQ(*tried, closed.address());
  EXPECT_THAT(relay->process.log(),
              HasSubstr(absl::StrCat(
                  "no aggregator or relay at ", closed.address(),
                  " (connection refused); reconnecting: start it, or check "
                  "--upstream")));

  int status = 0;
  absl::StatusOr<std::string> body =
      HttpGet(gateway->address, "/v1/election", &status);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(status, 503);
  EXPECT_THAT(*body,
              HasSubstr(absl::StrCat("no aggregator at ", closed.address(),
                                     " (connection refused)")));
  tried = gateway->process.WaitFor("no aggregator at ", kSettleTimeout);
  ASSERT_TRUE(tried.ok()) << tried.status() << gateway->process.log();
  EXPECT_EQ(*tried, closed.address());
  EXPECT_THAT(gateway->process.log(),
              HasSubstr(absl::StrCat("no aggregator at ", closed.address(),
                                     " (connection refused); start it, or "
                                     "check --upstream")));

  for (testing::Server* server :
       {collector.get(), relay.get(), gateway.get()}) {
    testing::ExpectCleanStop(*server);
  }
}

TEST_F(ObservabilityTest, BadObservabilityFlagsStopTheServer) {
  absl::StatusOr<testing::CommandResult> bad_format = testing::RunCommand(
      AGGREGATOR_PATH,
      {"--data_dir", dir_ + "/a", "--insecure", "--log_format=xml"},
      kCallTimeout);
  ASSERT_TRUE(bad_format.ok()) << bad_format.status();
  EXPECT_EQ(bad_format->exit_code, 2);
  EXPECT_THAT(bad_format->output,
              HasSubstr("log format \"xml\" is not one of: text, json"));

  absl::StatusOr<testing::CommandResult> bad_admin = testing::RunCommand(
      COLLECTOR_PATH,
      {"--region", region_, "--data_dir", dir_ + "/c", "--listen",
       "127.0.0.1:0", "--insecure", "--admin_listen=nowhere"},
      kCallTimeout);
  ASSERT_TRUE(bad_admin.ok()) << bad_admin.status();
  EXPECT_EQ(bad_admin->exit_code, 1);
  EXPECT_THAT(bad_admin->output, HasSubstr("--admin_listen must be HOST:PORT"));
}

}  // namespace
}  // namespace tally

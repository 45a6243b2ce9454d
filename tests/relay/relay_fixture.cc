#include "tests/relay/relay_fixture.h"

#include <signal.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/simulator/night_generator.h"
#include "grpcpp/generic/generic_stub.h"
#include "services/domain/definition_generator.h"

namespace tally::relaytest {

const Reference& Ref() {
  static const Reference* const reference = [] {
    auto* ref = new Reference;
    absl::StatusOr<v1::ElectionDefinition> definition =
        EmbeddedDefaultDefinition();
    if (!definition.ok()) {
      ref->status = definition.status();
      return ref;
    }
    absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
        ElectionIndex::Build(*std::move(definition));
    if (!index.ok()) {
      ref->status = index.status();
      return ref;
    }
    ref->index = *std::move(index);
    sim::NightOptions options;
    options.seed = 11;
    absl::StatusOr<std::vector<v1::StationProtocol>> truth =
        sim::GenerateTruth(*ref->index, options);
    if (!truth.ok()) {
      ref->status = truth.status();
      return ref;
    }
    ref->truth = *std::move(truth);
    return ref;
  }();
  return *reference;
}

const v1::StationProtocol& ListProtocol(size_t n) { return Ref().truth.at(n); }

absl::StatusOr<uint64_t> Feeder::SendOne(const v1::StationProtocol& protocol) {
  const v1::PollingStation* station =
      Ref().index->FindStation(protocol.station_id());
  if (station == nullptr) return absl::NotFoundError("unknown station");
  Session& session = sessions_[station->region_id()];
  if (session.session == nullptr) {
    absl::StatusOr<std::unique_ptr<testing::IngestSession>> opened =
        testing::IngestSession::Open(address_,
                                     "collector-" + station->region_id(),
                                     station->region_id(), kStreamDeadline);
    if (!opened.ok()) return opened.status();
    session.session = *std::move(opened);
    session.next_seq = session.session->welcome().last_applied_seq() + 1;
  }
  absl::StatusOr<v1::IngestAck> ack =
      session.session->Send(testing::Entries({protocol}, session.next_seq));
  if (!ack.ok()) return ack.status();
  ++session.next_seq;
  if (ack->results_size() != 1 ||
      ack->results(0).outcome() != v1::OUTCOME_ACCEPTED) {
    return absl::InternalError(
        absl::StrCat("not accepted: ", ack->ShortDebugString()));
  }
  return ack->revision();
}

WatchClient::WatchClient(const std::shared_ptr<grpc::Channel>& channel,
                         const v1::WatchRequest& request)
    : stub_(v1::Feed::NewStub(channel)) {
  context_.set_deadline(absl::ToChronoTime(absl::Now() + kStreamDeadline));
  reader_ = stub_->Watch(&context_, request);
  thread_ = std::thread([this] { Run(); });
}

WatchClient::~WatchClient() {
  context_.TryCancel();
  thread_.join();
}

void WatchClient::Run() {
  v1::WatchResponse response;
  while (reader_->Read(&response)) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(response));
  }
  grpc::Status status = reader_->Finish();
  absl::MutexLock lock(&mu_);
  status_ = std::move(status);
  ended_ = true;
}

absl::StatusOr<v1::WatchResponse> WatchClient::Next(absl::Duration timeout) {
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || ended_;
  };
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (!queue_.empty()) {
    v1::WatchResponse response = std::move(queue_.front());
    queue_.pop_front();
    return response;
  }
  if (ended_) {
    return absl::OutOfRangeError(absl::StrCat(
        "the stream ended with status ", static_cast<int>(status_.error_code()),
        " ", status_.error_message()));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("no Watch message within ", absl::FormatDuration(timeout)));
}

absl::StatusOr<grpc::Status> WatchClient::WaitEnd(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  if (!mu_.AwaitWithTimeout(absl::Condition(&ended_), timeout)) {
    return absl::DeadlineExceededError("the stream did not end");
  }
  return status_;
}

v1::WatchRequest FromRevision(uint64_t revision, bool include_stations) {
  v1::WatchRequest request;
  request.set_from_revision(revision);
  request.set_include_stations(include_stations);
  return request;
}

absl::StatusOr<uint64_t> ReadSnapshot(WatchClient& watch) {
  int messages = 0;
  uint64_t revision = 0;
  while (true) {
    absl::StatusOr<v1::WatchResponse> response = watch.Next(kMessageTimeout);
    if (!response.ok()) return response.status();
    if (response->has_snapshot()) {
      if (messages > 0 && response->snapshot().revision() != revision) {
        return absl::InternalError("snapshot chunks of different revisions");
      }
      revision = response->snapshot().revision();
      ++messages;
    } else if (response->has_snapshot_complete() && messages > 0 &&
               response->snapshot_complete().revision() == revision) {
      return revision;
    } else {
      return absl::InternalError(absl::StrCat("unexpected in a snapshot: ",
                                              response->ShortDebugString()));
    }
  }
}

absl::StatusOr<v1::Event> NextEvent(WatchClient& watch) {
  while (true) {
    absl::StatusOr<v1::WatchResponse> response = watch.Next(kMessageTimeout);
    if (!response.ok()) return response.status();
    if (response->has_progress()) continue;
    if (response->has_event()) return response->event();
    return absl::InternalError(
        absl::StrCat("expected an event, got ", response->ShortDebugString()));
  }
}

absl::StatusOr<int> HealthStatus(const std::string& address) {
  // grpc.health.v1.Health/Check without its generated stubs: the request
  // (service "") is empty, the response is field 1, a varint enum.
  grpc::GenericStub stub(testing::MakeChannel(address));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  grpc::CompletionQueue cq;
  grpc::ByteBuffer request;
  grpc::Slice empty("");
  request = grpc::ByteBuffer(&empty, 1);
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
      stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request,
                            &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  if (!cq.Next(&tag, &ok)) return absl::InternalError("no completion");
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (!status.ok()) {
    return absl::UnavailableError(status.error_message());
  }
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("bad response");
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  if (bytes.size() == 2 && bytes[0] == 0x08) return static_cast<int>(bytes[1]);
  if (bytes.empty()) return 0;  // UNKNOWN
  return absl::InternalError("unexpected health response");
}

void RelayTest::SetUp() {
  ASSERT_TRUE(Ref().status.ok()) << Ref().status;
  data_dir_ = testing::MakeTempDir("relay");
}

void RelayTest::TearDown() {
  feeder_.reset();
  for (std::unique_ptr<testing::Server>& relay : relays_) {
    if (relay == nullptr || !relay->process.running()) continue;
    relay->process.Signal(SIGTERM);
    absl::StatusOr<int> stopped = relay->process.Wait(absl::Minutes(1));
    ASSERT_TRUE(stopped.ok()) << stopped.status();
    EXPECT_EQ(*stopped, 0) << relay->process.log();
  }
  if (aggregator_ != nullptr && aggregator_->process.running()) {
    aggregator_->process.Signal(SIGTERM);
    absl::StatusOr<int> stopped = aggregator_->process.Wait(absl::Minutes(1));
    ASSERT_TRUE(stopped.ok()) << stopped.status();
    EXPECT_EQ(*stopped, 0) << aggregator_->process.log();
  }
  testing::RemoveTempDirUnlessFailed(data_dir_);
}

void RelayTest::StartAggregator(const std::string& listen,
                                std::vector<std::string> extra) {
  std::vector<std::string> args = {"--data_dir", data_dir_, "--listen", listen,
                                   "--insecure"};
  args.insert(args.end(), extra.begin(), extra.end());
  absl::StatusOr<testing::Server> server = testing::StartServer(
      AGGREGATOR_PATH, args,
      absl::StrCat(data_dir_, ".aggregator", ++starts_, ".log"),
      absl::Minutes(2));
  ASSERT_TRUE(server.ok()) << server.status();
  aggregator_ = std::make_unique<testing::Server>(*std::move(server));
  aggregator_address_ = aggregator_->address;
  feeder_ = std::make_unique<Feeder>(aggregator_address_);
}

void RelayTest::StopAggregator(int signal) {
  feeder_.reset();
  aggregator_->process.Signal(signal);
  absl::StatusOr<int> stopped = aggregator_->process.Wait(absl::Minutes(1));
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  if (signal == SIGTERM) {
    EXPECT_EQ(*stopped, 0) << aggregator_->process.log();
  }
}

testing::Server* RelayTest::StartRelay(std::vector<std::string> extra,
                                       std::string upstream) {
  std::vector<std::string> args = {
      "--listen",
      "127.0.0.1:0",
      "--upstream",
      upstream.empty() ? aggregator_address_ : upstream,
      "--reconnect_max_backoff_ms",
      "500",
      "--insecure"};
  args.insert(args.end(), extra.begin(), extra.end());
  absl::StatusOr<testing::Server> server = testing::StartServer(
      RELAY_PATH, args, absl::StrCat(data_dir_, ".relay", ++starts_, ".log"),
      absl::Minutes(2));
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  relays_.push_back(std::make_unique<testing::Server>(*std::move(server)));
  return relays_.back().get();
}

void RelayTest::AwaitServing(const std::string& address) {
  const absl::Time deadline = absl::Now() + absl::Minutes(1);
  while (true) {
    absl::StatusOr<int> health = HealthStatus(address);
    if (health.ok() && *health == 1) return;
    ASSERT_LT(absl::Now(), deadline)
        << "relay " << address << " never became SERVING";
    absl::SleepFor(absl::Milliseconds(20));
  }
}

void RelayTest::SendList(size_t count, uint64_t first) {
  for (size_t i = 0; i < count; ++i) {
    const v1::StationProtocol& protocol = ListProtocol(next_protocol_++);
    ASSERT_EQ(protocol.contest_id(), "mazhilis-list");
    absl::StatusOr<uint64_t> revision = feeder_->SendOne(protocol);
    ASSERT_TRUE(revision.ok()) << revision.status();
    ASSERT_EQ(*revision, first + i);
    sent_[*revision] = protocol;
  }
}

void RelayTest::ExpectEventOf(const v1::Event& event) {
  auto it = sent_.find(event.revision());
  ASSERT_NE(it, sent_.end()) << "no commit at " << event.revision();
  ASSERT_EQ(event.stations_size(), 1);
  EXPECT_EQ(event.stations(0).station_id(), it->second.station_id());
  EXPECT_EQ(event.stations(0).version(), it->second.version());
  EXPECT_EQ(event.totals_size(), 3);
  EXPECT_EQ(event.allocations_size(), 1);
}

}  // namespace tally::relaytest

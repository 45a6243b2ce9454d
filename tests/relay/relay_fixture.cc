#include "tests/relay/relay_fixture.h"

#include <signal.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/generic/generic_stub.h"
#include "services/rpc/channel.h"

namespace tally::relaytest {

absl::StatusOr<int> HealthStatus(const std::string& address) {
  // grpc.health.v1.Health/Check without its generated stubs: the request
  // (service "") is empty, the response is field 1, a varint enum.
  grpc::GenericStub stub(rpc::MakeChannel(address));
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
    testing::ExpectCleanStop(*relay);
  }
  if (aggregator_ != nullptr && aggregator_->process.running()) {
    testing::ExpectCleanStop(*aggregator_);
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
  feeder_ =
      std::make_unique<testing::Feeder>(aggregator_address_, Ref().index.get());
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

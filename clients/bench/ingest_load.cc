#include "clients/bench/ingest_load.h"

#include <atomic>
#include <deque>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "clients/bench/wire.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/support/sync_stream.h"
#include "tally/v1/aggregator.grpc.pb.h"

namespace tally::bench {
namespace {

using RawIngestStream =
    grpc::ClientReaderWriter<grpc::ByteBuffer, v1::IngestResponse>;

struct Shared {
  absl::Time start;
  absl::Time stop_sending;
  double rate = 0;
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> not_accepted{0};
  SharedLatencySamples latency;
  absl::Mutex errors_mu;
  std::vector<std::string> errors;

  void Error(std::string error) {
    absl::MutexLock lock(&errors_mu);
    errors.push_back(std::move(error));
  }
  // With pacing, the time before which protocol number `n` (over all
  // streams) may not be sent.
  absl::Time Due(uint64_t n) const {
    return start + absl::Seconds(static_cast<double>(n) / rate);
  }
};

struct InFlight {
  uint64_t last_seq;
  uint64_t size;
  absl::Time written;
};

// One collector id's stream: sends `protocols` and returns when every batch
// is acknowledged (or the stream failed).
void RunSession(const IngestOptions& options, Shared& shared,
                const std::string& collector_id, const std::string& region_id,
                const std::vector<const EncodedProtocol*>& protocols) {
  auto channel = OwnChannel(options.address);
  grpc::ClientContext context;
  context.set_deadline(
      absl::ToChronoTime(shared.stop_sending + absl::Minutes(5)));
  const grpc::internal::RpcMethod method(
      "/tally.v1.Aggregator/Ingest", grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<RawIngestStream> stream(
      grpc::internal::ClientReaderWriterFactory<
          grpc::ByteBuffer, v1::IngestResponse>::Create(channel.get(), method,
                                                        &context));
  v1::IngestRequest hello;
  hello.mutable_hello()->set_collector_id(collector_id);
  hello.mutable_hello()->set_region_id(region_id);
  v1::IngestResponse response;
  if (!stream->Write(ToByteBuffer(hello.SerializeAsString())) ||
      !stream->Read(&response) || !response.has_welcome()) {
    const grpc::Status status = stream->Finish();
    shared.Error(
        absl::StrCat(collector_id, ": no welcome: ", status.error_message()));
    return;
  }
  uint64_t next_seq = response.welcome().last_applied_seq() + 1;

  absl::Mutex mu;
  std::deque<InFlight> in_flight;  // guarded by mu
  bool writer_done = false;        // guarded by mu
  bool reader_failed = false;      // guarded by mu

  std::thread reader([&] {
    v1::IngestResponse ack;
    while (stream->Read(&ack)) {
      if (!ack.has_ack()) continue;
      const absl::Time now = absl::Now();
      uint64_t accepted = 0;
      for (const v1::ProtocolResult& result : ack.ack().results()) {
        if (result.outcome() == v1::OUTCOME_ACCEPTED) ++accepted;
      }
      shared.accepted += accepted;
      shared.not_accepted += ack.ack().results_size() - accepted;
      absl::MutexLock lock(&mu);
      while (!in_flight.empty() &&
             in_flight.front().last_seq <= ack.ack().durable_seq()) {
        shared.latency.Add(
            absl::ToInt64Microseconds(now - in_flight.front().written));
        shared.acked += in_flight.front().size;
        in_flight.pop_front();
      }
      if (writer_done && in_flight.empty()) break;
    }
    absl::MutexLock lock(&mu);
    if (!in_flight.empty()) reader_failed = true;
    in_flight.clear();
  });

  std::vector<const EncodedProtocol*> batch;
  for (size_t at = 0; at < protocols.size();) {
    if (absl::Now() >= shared.stop_sending) break;
    const size_t end = std::min(protocols.size(), at + options.batch);
    batch.assign(protocols.begin() + static_cast<ptrdiff_t>(at),
                 protocols.begin() + static_cast<ptrdiff_t>(end));
    if (shared.rate > 0) {
      const absl::Time due = shared.Due(shared.sent.load());
      const absl::Time now = absl::Now();
      if (due > now) absl::SleepFor(due - now);
    }
    const std::string bytes = EncodeIngestBatch(batch, next_seq);
    {
      absl::MutexLock lock(&mu);
      auto room = [&] {
        return in_flight.size() < options.window || reader_failed;
      };
      mu.Await(absl::Condition(&room));
      if (reader_failed) break;
      in_flight.push_back(
          {next_seq + batch.size() - 1, batch.size(), absl::Now()});
    }
    if (!stream->Write(ToByteBuffer(bytes))) break;
    shared.sent += batch.size();
    next_seq += batch.size();
    at = end;
  }
  bool wait_reader = false;
  {
    absl::MutexLock lock(&mu);
    writer_done = true;
    wait_reader = !in_flight.empty() && !reader_failed;
  }
  if (wait_reader) {
    absl::MutexLock lock(&mu);
    auto drained = [&] { return in_flight.empty() || reader_failed; };
    mu.Await(absl::Condition(&drained));
  }
  stream->WritesDone();
  reader.join();
  const grpc::Status status = stream->Finish();
  bool failed = false;
  {
    absl::MutexLock lock(&mu);
    failed = reader_failed;
  }
  if (failed || !status.ok()) {
    shared.Error(absl::StrCat(collector_id, ": stream ended with ",
                              status.error_code(), " ",
                              status.error_message()));
  }
}

}  // namespace

IngestResult RunIngest(
    const IngestOptions& options, const std::vector<std::string>& region_ids,
    const std::vector<std::vector<const EncodedProtocol*>>& by_region) {
  Shared shared;
  shared.start = absl::Now();
  shared.stop_sending = shared.start + options.max_time;
  shared.rate = options.rate;
  std::vector<std::thread> workers;
  for (uint32_t s = 0; s < options.streams; ++s) {
    workers.emplace_back([&, s] {
      for (size_t r = s; r < by_region.size(); r += options.streams) {
        if (by_region[r].empty()) continue;
        RunSession(
            options, shared,
            absl::StrCat(options.collector_prefix, "-", s, "-", region_ids[r]),
            region_ids[r], by_region[r]);
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  IngestResult result;
  result.seconds = absl::ToDoubleSeconds(absl::Now() - shared.start);
  result.sent = shared.sent;
  result.acked = shared.acked;
  result.accepted = shared.accepted;
  result.not_accepted = shared.not_accepted;
  shared.latency.MergeInto(result.ack_latency);
  absl::MutexLock lock(&shared.errors_mu);
  result.errors = shared.errors;
  return result;
}

}  // namespace tally::bench

#include "clients/bench/failover_load.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/bench/wire.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/support/sync_stream.h"
#include "tally/v1/aggregator.grpc.pb.h"

namespace tally::bench {
namespace {

using RawIngestStream =
    grpc::ClientReaderWriter<grpc::ByteBuffer, v1::IngestResponse>;

}  // namespace

FailoverLoad::FailoverLoad(
    FailoverLoadOptions options, std::vector<std::string> region_ids,
    std::vector<std::vector<const EncodedProtocol*>> by_region)
    : options_(std::move(options)),
      region_ids_(std::move(region_ids)),
      by_region_(std::move(by_region)) {
  for (const auto& region : by_region_) streams_ += region.empty() ? 0 : 1;
}

FailoverLoad::~FailoverLoad() { Stop(); }

void FailoverLoad::Start() {
  start_ = absl::Now();
  for (size_t r = 0; r < by_region_.size(); ++r) {
    if (by_region_[r].empty()) continue;
    threads_.emplace_back([this, r] { RunStream(r); });
  }
}

void FailoverLoad::Stop() {
  stopping_ = true;
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

std::vector<absl::Time> FailoverLoad::AckTimes() const {
  absl::MutexLock lock(&mu_);
  return ack_times_;
}

absl::Time FailoverLoad::FirstAckAfter(absl::Time t) const {
  absl::MutexLock lock(&mu_);
  absl::Time first = absl::InfiniteFuture();
  for (absl::Time ack : ack_times_) {
    if (ack >= t) first = std::min(first, ack);
  }
  return first;
}

void FailoverLoad::RunStream(size_t region) {
  const std::vector<const EncodedProtocol*>& protocols = by_region_[region];
  const std::string collector =
      absl::StrCat(options_.collector_prefix, "-", region_ids_[region]);
  const grpc::internal::RpcMethod method(
      "/tally.v1.Aggregator/Ingest", grpc::internal::RpcMethod::BIDI_STREAMING);
  // Pacing per stream: this stream's share of the rate.
  const double rate =
      options_.rate / static_cast<double>(std::max<size_t>(1, streams_));
  size_t target = 0;   // replica to try next
  std::string hinted;  // leader named by the last refusal
  uint64_t stream_sent = 0;
  while (!stopping_) {
    const std::string address =
        !hinted.empty() ? hinted : options_.replicas[target];
    hinted.clear();
    auto channel = OwnChannel(address);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Hours(1)));
    std::unique_ptr<RawIngestStream> stream(
        grpc::internal::ClientReaderWriterFactory<
            grpc::ByteBuffer, v1::IngestResponse>::Create(channel.get(), method,
                                                          &context));
    v1::IngestRequest hello;
    hello.mutable_hello()->set_collector_id(collector);
    hello.mutable_hello()->set_region_id(region_ids_[region]);
    v1::IngestResponse response;
    bool open = stream->Write(ToByteBuffer(hello.SerializeAsString())) &&
                stream->Read(&response) && response.has_welcome();
    uint64_t next = open ? response.welcome().last_applied_seq() + 1 : 0;
    while (open && !stopping_ && next <= protocols.size()) {
      const size_t at = next - 1;
      const size_t end = std::min(protocols.size(), at + options_.batch);
      std::vector<const EncodedProtocol*> batch(
          protocols.begin() + static_cast<ptrdiff_t>(at),
          protocols.begin() + static_cast<ptrdiff_t>(end));
      const absl::Time due =
          start_ + absl::Seconds(static_cast<double>(stream_sent) / rate);
      if (due > absl::Now()) absl::SleepFor(due - absl::Now());
      if (!stream->Write(ToByteBuffer(EncodeIngestBatch(batch, next))) ||
          !stream->Read(&response) || !response.has_ack()) {
        open = false;
        break;
      }
      const absl::Time now = absl::Now();
      const uint64_t durable = response.ack().durable_seq();
      if (durable >= next) {
        acked_ += durable - next + 1;
        stream_sent += durable - next + 1;
        next = durable + 1;
        absl::MutexLock lock(&mu_);
        ack_times_.push_back(now);
      }
    }
    if (open) {  // done or stopping
      stream->WritesDone();
      stream->Finish().IgnoreError();
      if (next > protocols.size()) return;
      continue;
    }
    context.TryCancel();
    stream->Finish().IgnoreError();
    const auto metadata = context.GetServerTrailingMetadata();
    const auto leader = metadata.find("tally-leader");
    if (leader != metadata.end()) {
      hinted.assign(leader->second.data(), leader->second.size());
    } else {
      target = (target + 1) % options_.replicas.size();
      absl::SleepFor(absl::Milliseconds(50));
    }
    ++reconnects_;
  }
}

}  // namespace tally::bench

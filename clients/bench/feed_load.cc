#include "clients/bench/feed_load.h"

#include <atomic>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "clients/bench/wire.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/support/client_callback.h"
#include "services/rpc/reactor_hand_off.h"
#include "tally/v1/feed.grpc.pb.h"

namespace tally::bench {

struct WatcherSwarm::Connections {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
};

namespace {

// Just enough protobuf wire decoding to follow a WatchResponse without
// parsing it: which member of the oneof it holds, the revision, and an
// event's committed_at. Parsing whole events for 10,000 watchers would make
// the measuring client, which shares the machine's two cores with the
// servers, the bottleneck it is meant to measure.
struct WireReader {
  const uint8_t* at;
  const uint8_t* end;

  bool Varint(uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64 && at < end; shift += 7) {
      const uint8_t byte = *at++;
      value |= uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  // Next field: number, wire type, and for length-delimited its bytes.
  bool Field(uint32_t& number, uint32_t& type, WireReader& body,
             uint64_t& value) {
    uint64_t tag = 0;
    if (at >= end || !Varint(tag)) return false;
    number = static_cast<uint32_t>(tag >> 3);
    type = static_cast<uint32_t>(tag & 7);
    switch (type) {
      case 0:
        return Varint(value);
      case 1:
        if (end - at < 8) return false;
        at += 8;
        return true;
      case 2: {
        uint64_t length = 0;
        if (!Varint(length) || length > static_cast<uint64_t>(end - at)) {
          return false;
        }
        body = {at, at + length};
        at += length;
        return true;
      }
      case 5:
        if (end - at < 4) return false;
        at += 4;
        return true;
      default:
        return false;
    }
  }
};

struct WatchSummary {
  uint32_t kind = 0;  // WatchResponse oneof field number
  uint64_t revision = 0;
  int64_t committed_seconds = 0;
  int32_t committed_nanos = 0;
  bool has_committed = false;
};

// Event.revision = 1, Event.committed_at = 3; SnapshotComplete.revision = 1;
// ProgressNotify.revision = 1; Timestamp.seconds = 1, nanos = 2.
bool Summarize(const std::string& bytes, WatchSummary& out) {
  WireReader top{reinterpret_cast<const uint8_t*>(bytes.data()),
                 reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size()};
  uint32_t number = 0, type = 0;
  uint64_t value = 0;
  WireReader body{nullptr, nullptr};
  while (top.Field(number, type, body, value)) {
    if (type != 2) continue;
    out.kind = number;
    WireReader inner = body;
    uint32_t n = 0, t = 0;
    uint64_t v = 0;
    WireReader b{nullptr, nullptr};
    while (inner.Field(n, t, b, v)) {
      if (n == 1 && t == 0) out.revision = v;
      if (number == 1 && n == 3 && t == 2) {
        WireReader ts = b;
        uint32_t tn = 0, tt = 0;
        uint64_t tv = 0;
        WireReader tb{nullptr, nullptr};
        while (ts.Field(tn, tt, tb, tv)) {
          if (tn == 1 && tt == 0)
            out.committed_seconds = static_cast<int64_t>(tv);
          if (tn == 2 && tt == 0)
            out.committed_nanos = static_cast<int32_t>(tv);
        }
        out.has_committed = true;
      }
    }
    return true;
  }
  return false;
}

}  // namespace

class WatcherSwarm::Watcher : public grpc::ClientReadReactor<grpc::ByteBuffer> {
 public:
  Watcher(const std::shared_ptr<grpc::Channel>& channel,
          bool include_stations) {
    request_.set_from_revision(0);
    request_.set_include_stations(include_stations);
    static const grpc::internal::RpcMethod kWatch(
        "/tally.v1.Feed/Watch", grpc::internal::RpcMethod::SERVER_STREAMING);
    grpc::internal::ClientCallbackReaderFactory<grpc::ByteBuffer>::Create(
        channel.get(), kWatch, &context_, &request_, this);
    rpc::HandToGrpc(this);
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    rpc::TakeFromGrpc(this);
    if (!ok) return;  // OnDone follows
    const absl::Time now = absl::Now();
    std::vector<grpc::Slice> slices;
    response_.Dump(&slices);
    buffer_.clear();
    for (const grpc::Slice& slice : slices) {
      buffer_.append(reinterpret_cast<const char*>(slice.begin()),
                     slice.size());
    }
    WatchSummary summary;
    const bool parsed = Summarize(buffer_, summary);
    {
      absl::MutexLock lock(&mu_);
      bytes_ += buffer_.size();
      if (parsed) {
        switch (summary.kind) {
          case 3:  // snapshot_complete
            snapshot_complete_ = true;
            revision_ = std::max(revision_, summary.revision);
            break;
          case 1: {  // event
            if (summary.has_committed) {
              const absl::Time committed =
                  absl::FromUnixSeconds(summary.committed_seconds) +
                  absl::Nanoseconds(summary.committed_nanos);
              lag_.Add(absl::ToInt64Microseconds(now - committed));
            }
            ++events_;
            revision_ = std::max(revision_, summary.revision);
            break;
          }
          case 6:  // resync
            ++resyncs_;
            break;
          case 4:  // progress
            revision_ = std::max(revision_, summary.revision);
            break;
          default:
            break;
        }
      }
    }
    rpc::HandToGrpc(this);
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    rpc::TakeFromGrpc(this);
    absl::MutexLock lock(&mu_);
    done_ = true;
    failed_ = !status.ok() && !cancelled_;
  }

  void Cancel() {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    context_.TryCancel();
  }
  bool snapshot_complete() {
    absl::MutexLock lock(&mu_);
    return snapshot_complete_;
  }
  uint64_t revision() {
    absl::MutexLock lock(&mu_);
    return revision_;
  }
  void ResetSamples() {
    absl::MutexLock lock(&mu_);
    lag_ = LatencySamples();
    events_ = 0;
  }
  bool WaitDone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }
  void Collect(WatcherStats& stats) {
    absl::MutexLock lock(&mu_);
    stats.snapshots_complete += snapshot_complete_ ? 1 : 0;
    stats.failed += failed_ ? 1 : 0;
    stats.events += events_;
    stats.resyncs += resyncs_;
    stats.bytes += bytes_;
    stats.max_revision = std::max(stats.max_revision, revision_);
    stats.lag.Merge(lag_);
  }
  bool open() {
    absl::MutexLock lock(&mu_);
    return !done_;
  }

 private:
  grpc::ClientContext context_;
  v1::WatchRequest request_;
  grpc::ByteBuffer response_;
  std::string buffer_;
  absl::Mutex mu_;
  bool snapshot_complete_ = false;
  bool done_ = false;
  bool failed_ = false;
  bool cancelled_ = false;
  uint64_t events_ = 0, resyncs_ = 0, bytes_ = 0, revision_ = 0;
  LatencySamples lag_;
};

WatcherSwarm::WatcherSwarm(const std::string& address, uint32_t watchers,
                           uint32_t per_connection, bool include_stations)
    : started_(absl::Now()), connections_(std::make_unique<Connections>()) {
  const uint32_t channels =
      std::max<uint32_t>(1, (watchers + per_connection - 1) / per_connection);
  for (uint32_t c = 0; c < channels; ++c) {
    connections_->channels.push_back(OwnChannel(address));
  }
  for (uint32_t w = 0; w < watchers; ++w) {
    watchers_.push_back(std::make_unique<Watcher>(
        connections_->channels[w % channels], include_stations));
  }
}

WatcherSwarm::~WatcherSwarm() { Finish(); }

bool WatcherSwarm::WaitSnapshots(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (auto& watcher : watchers_) {
    while (!watcher->snapshot_complete()) {
      if (absl::Now() > deadline || !watcher->open()) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
  connect_seconds_ = absl::ToDoubleSeconds(absl::Now() - started_);
  return true;
}

void WatcherSwarm::ResetSamples() {
  for (auto& watcher : watchers_) watcher->ResetSamples();
}

bool WatcherSwarm::WaitRevision(uint64_t revision, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    for (auto& watcher : watchers_) {
      if (watcher->revision() >= revision) return true;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

WatcherStats WatcherSwarm::Finish() {
  WatcherStats stats;
  if (watchers_.empty()) return stats;
  stats.watchers = watchers_.size();
  stats.connect_seconds = connect_seconds_;
  for (auto& watcher : watchers_) {
    if (watcher->open()) ++stats.still_open;
  }
  for (auto& watcher : watchers_) watcher->Cancel();
  for (auto& watcher : watchers_) {
    watcher->WaitDone(absl::Seconds(30));
    watcher->Collect(stats);
  }
  watchers_.clear();
  return stats;
}

}  // namespace tally::bench

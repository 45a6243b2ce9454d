#include "services/relay/upstream.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/observability/structured_log.h"
#include "services/rpc/channel.h"
#include "services/rpc/status.h"
#include "services/rpc/unreachable.h"
#include "tally/v1/feed.grpc.pb.h"

namespace tally::relay {
Upstream::Upstream(UpstreamOptions options, RelayState* state,
                   FeedService* feed, std::function<void(bool)> on_serving)
    : options_(std::move(options)),
      state_(state),
      feed_(feed),
      on_serving_(std::move(on_serving)),
      // The relay runs its own backoff; the channels' must not hold a
      // restarted upstream back for longer than that.
      upstreams_(rpc::ParseAddressList(options_.address, "--upstream")
                     .value_or(std::vector<std::string>{options_.address}),
                 {.credentials = options_.credentials,
                  .max_message_bytes = options_.max_message_bytes,
                  .min_reconnect_backoff = options_.initial_backoff,
                  .max_reconnect_backoff = options_.max_backoff}) {}

Upstream::~Upstream() { Stop(); }

void Upstream::Start() {
  thread_ = std::thread([this] { Loop(); });
  watchdog_ = std::thread([this] { WatchdogLoop(); });
}

void Upstream::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
    if (backfill_context_ != nullptr) backfill_context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
  if (watchdog_.joinable()) watchdog_.join();
}

uint64_t Upstream::connections() const {
  absl::MutexLock lock(&mu_);
  return connections_;
}

uint64_t Upstream::resnapshots() const {
  absl::MutexLock lock(&mu_);
  return resnapshots_;
}

void Upstream::Loop() {
  absl::Duration backoff = options_.initial_backoff;
  uint64_t failures = 0;
  std::string last_error;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    // Resume from the last applied revision; from 0 until there is a state
    // (or after the upstream said compacted).
    bool need_snapshot = false;
    {
      absl::MutexLock lock(&mu_);
      need_snapshot = need_snapshot_;
    }
    const uint64_t from =
        state_->complete() && !need_snapshot ? state_->revision() : 0;
    bool received = false;
    const rpc::Replicas::Target upstream = upstreams_.Current();
    const absl::Status ended = RunStream(upstream, from, &received);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    // A stream that delivered anything was healthy: start over.
    bool round_failed = true;
    if (received) {
      backoff = options_.initial_backoff;
      failures = 0;
      upstreams_.Succeeded(upstream.address);
      // Its replica may be gone: the next one, as soon as this one fails
      // to deliver.
      round_failed = false;
    } else {
      round_failed = upstreams_.Next(upstream.address);
    }
    // An outage repeats the same error: log its first and every tenth.
    const std::string why = ended.ToString();
    if (why != last_error || failures % 10 == 0) {
      // A stream that never delivered may have found nobody there: say
      // where the relay looked and what to check.
      const std::optional<rpc::Unreachable> unreachable =
          received ? std::nullopt
                   : rpc::Diagnose(rpc::ToGrpc(ended), upstream.channel.get());
      obs::LogWarning(
          unreachable.has_value()
              ? absl::StrCat(rpc::NoServerAt("aggregator or relay",
                                             upstream.address, *unreachable),
                             "; reconnecting: ",
                             rpc::UpstreamHint(*unreachable, "--upstream"))
              : "upstream stream ended, reconnecting",
          {{"upstream", upstream.address},
           {"reason", why},
           {"attempt", failures + 1}});
    }
    last_error = why;
    ++failures;
    // Another replica left to try in this round: at once.
    if (!round_failed) continue;
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void Upstream::WatchdogLoop() {
  const absl::Duration tick = std::clamp(
      options_.idle_timeout / 4, absl::Milliseconds(10), absl::Seconds(1));
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), tick)) {
    if (context_ != nullptr &&
        absl::Now() - last_message_ > options_.idle_timeout) {
      obs::LogWarning(
          "upstream silent, reconnecting",
          {{"upstream", options_.address},
           {"silent_for", absl::FormatDuration(options_.idle_timeout)}});
      context_->TryCancel();
      last_message_ = absl::Now();  // one cancel per silence
    }
  }
}

std::vector<std::shared_ptr<const v1::Event>> Upstream::Backfill(
    uint64_t revision) {
  std::vector<std::shared_ptr<const v1::Event>> history;
  if (revision < 2) return history;
  // A watcher resuming from R needs R + 1 onwards, and R >= 1.
  uint64_t from = revision > options_.retained_events
                      ? revision - options_.retained_events
                      : 1;
  for (int attempt = 0; attempt < 2 && history.empty(); ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return {};
      backfill_context_ = &context;
    }
    v1::WatchRequest request;
    request.set_from_revision(from);
    request.set_include_stations(true);
    std::unique_ptr<v1::Feed::Stub> stub =
        v1::Feed::NewStub(upstreams_.Current().channel);
    std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader =
        stub->Watch(&context, request);
    v1::WatchResponse response;
    uint64_t compacted = 0;
    while (reader->Read(&response)) {
      if (response.has_compacted()) {
        compacted = response.compacted().compact_revision();
        break;
      }
      if (!response.has_event()) continue;
      const uint64_t r = response.event().revision();
      if (r > revision) break;
      if (r != (history.empty() ? from + 1 : history.back()->revision() + 1)) {
        history.clear();
        break;
      }
      history.push_back(
          std::make_shared<v1::Event>(std::move(*response.mutable_event())));
      if (r == revision) break;
    }
    context.TryCancel();
    reader->Finish();
    {
      absl::MutexLock lock(&mu_);
      backfill_context_ = nullptr;
    }
    if (!history.empty() && history.back()->revision() != revision) {
      history.clear();
    }
    if (compacted == 0 || compacted <= from) break;
    from = compacted;  // what the upstream still has
  }
  return history;
}

void Upstream::Install(feed::SnapshotView view) {
  const uint64_t revision = view.revision;
  std::vector<std::shared_ptr<const v1::Event>> history = Backfill(revision);
  // Downstream streams of the previous state end first: nothing may be
  // served from a mix of the old and the new state.
  feed_->Withdraw();
  on_serving_(false);
  state_->Reset(std::move(view), std::move(history));
  feed_->Install();
  on_serving_(true);
  absl::MutexLock lock(&mu_);
  need_snapshot_ = false;
  if (installed_once_) ++resnapshots_;
  installed_once_ = true;
}

absl::Status Upstream::RunStream(const rpc::Replicas::Target& upstream,
                                 uint64_t from, bool* received) {
  grpc::ClientContext context;
  v1::WatchRequest request;
  request.set_from_revision(from);
  request.set_include_stations(true);
  request.set_progress_interval_ms(static_cast<uint32_t>(std::clamp<int64_t>(
      absl::ToInt64Milliseconds(options_.idle_timeout / 4), 50, 10000)));
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::CancelledError("stopping");
    context_ = &context;
    last_message_ = absl::Now();
    ++connections_;
  }
  std::unique_ptr<v1::Feed::Stub> stub = v1::Feed::NewStub(upstream.channel);
  std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader =
      stub->Watch(&context, request);

  // A snapshot being assembled (from 0, or after a Resync).
  bool in_snapshot = from == 0;
  feed::SnapshotView pending;
  absl::Status result = absl::OkStatus();
  v1::WatchResponse response;
  while (reader->Read(&response)) {
    *received = true;
    {
      absl::MutexLock lock(&mu_);
      last_message_ = absl::Now();
    }
    switch (response.kind_case()) {
      case v1::WatchResponse::kSnapshot: {
        v1::Snapshot* snapshot = response.mutable_snapshot();
        if (!in_snapshot) {
          result = absl::DataLossError("a snapshot message outside a snapshot");
          break;
        }
        pending.revision = snapshot->revision();
        for (v1::Totals& t : *snapshot->mutable_totals()) {
          pending.totals.push_back(std::move(t));
        }
        for (v1::SeatAllocation& a : *snapshot->mutable_allocations()) {
          pending.allocations.push_back(std::move(a));
        }
        for (v1::ScopeFlags& f : *snapshot->mutable_forensics_flags()) {
          pending.forensics_flags.push_back(std::move(f));
        }
        if (snapshot->has_progress()) pending.progress = snapshot->progress();
        if (snapshot->has_signed_head()) {
          pending.signed_head = std::move(*snapshot->mutable_signed_head());
        }
        break;
      }
      case v1::WatchResponse::kSnapshotComplete:
        if (!in_snapshot ||
            response.snapshot_complete().revision() != pending.revision) {
          result = absl::DataLossError("an unexpected snapshot_complete");
          break;
        }
        in_snapshot = false;
        Install(std::move(pending));
        pending = feed::SnapshotView();
        break;
      case v1::WatchResponse::kEvent: {
        if (in_snapshot) {
          result = absl::DataLossError("an event inside a snapshot");
          break;
        }
        auto event =
            std::make_shared<v1::Event>(std::move(*response.mutable_event()));
        if (event->revision() <= state_->revision()) break;  // already have it
        if (absl::Status applied = state_->Apply(event); !applied.ok()) {
          result = applied;  // a gap: resume from what we have
          break;
        }
        feed_->Publish(std::move(event));
        break;
      }
      case v1::WatchResponse::kProgress:
        break;  // liveness only; the hub sends its own progress
      case v1::WatchResponse::kCompacted:
        // The upstream no longer has our next event: start over from a
        // snapshot (the next stream starts from 0).
        result = absl::OutOfRangeError(absl::StrCat(
            "compacted at ", response.compacted().compact_revision(),
            "; taking a fresh snapshot"));
        {
          absl::MutexLock lock(&mu_);
          need_snapshot_ = true;
        }
        break;
      case v1::WatchResponse::kResync:
        // The upstream dropped our queue; its fresh snapshot follows on
        // this stream.
        obs::LogWarning("upstream resync",
                        {{"upstream", upstream.address},
                         {"reason", response.resync().reason()}});
        in_snapshot = true;
        pending = feed::SnapshotView();
        break;
      case v1::WatchResponse::KIND_NOT_SET:
        break;
    }
    if (!result.ok()) break;
  }
  if (!result.ok()) context.TryCancel();
  const grpc::Status status = reader->Finish();
  {
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
  }
  if (!result.ok()) return result;
  if (!status.ok()) return rpc::FromGrpc(status);
  return absl::UnavailableError("the upstream ended the stream");
}

}  // namespace tally::relay

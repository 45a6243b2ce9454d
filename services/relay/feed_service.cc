#include "services/relay/feed_service.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/rpc/reactor_hand_off.h"

namespace tally::relay {
namespace {

// A call answered without a hub: an error status. Deletes itself when gRPC
// is done with it.
class RefusedReactor final
    : public grpc::ServerWriteReactor<v1::WatchResponse> {
 public:
  explicit RefusedReactor(grpc::Status status) {
    rpc::HandToGrpc(this);
    Finish(std::move(status));
  }
  void OnDone() override {
    rpc::TakeFromGrpc(this);
    delete this;
  }
};

}  // namespace

FeedService::FeedService(RelayState* state, feed::WatchHubOptions options,
                         absl::Duration ahead_wait)
    : state_(state), options_(std::move(options)), ahead_wait_(ahead_wait) {}

FeedService::~FeedService() { Shutdown(); }

void FeedService::Install() {
  auto hub = std::make_shared<feed::WatchHub>(
      state_, [state = state_] { return state->Snapshot(); },
      state_->revision(), options_);
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;  // `hub` shuts down as it goes out of scope
  published_ = hub->published_revision();
  hub_ = std::move(hub);
}

void FeedService::Withdraw() {
  std::shared_ptr<feed::WatchHub> old;
  {
    absl::MutexLock lock(&mu_);
    old = std::move(hub_);
  }
  if (old == nullptr) return;
  // A call that took `old` just before may still register with it; Shutdown
  // ends such a stream as well or refuses it.
  old->Shutdown();
  absl::MutexLock lock(&mu_);
  old_resyncs_ += old->resync_count();
}

void FeedService::Publish(std::shared_ptr<const v1::Event> event) {
  std::shared_ptr<feed::WatchHub> current = hub();
  if (current == nullptr) return;
  const uint64_t revision = event->revision();
  current->Publish(std::move(event));
  absl::MutexLock lock(&mu_);
  if (hub_ == current) published_ = std::max(published_, revision);
}

void FeedService::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
  }
  Withdraw();
}

size_t FeedService::watcher_count() const {
  std::shared_ptr<feed::WatchHub> current = hub();
  return current == nullptr ? 0 : current->watcher_count();
}

uint64_t FeedService::resync_count() const {
  std::shared_ptr<feed::WatchHub> current = hub();
  absl::MutexLock lock(&mu_);
  return old_resyncs_ + (current == nullptr ? 0 : current->resync_count());
}

std::shared_ptr<feed::WatchHub> FeedService::hub() const {
  absl::MutexLock lock(&mu_);
  return hub_;
}

grpc::ServerWriteReactor<v1::WatchResponse>* FeedService::Watch(
    grpc::CallbackServerContext* context, const v1::WatchRequest* request) {
  const uint64_t from = request->from_revision();
  std::shared_ptr<feed::WatchHub> current;
  {
    // Resuming with a revision learnt from the aggregator or a faster relay:
    // give this relay a moment to receive it. Past that the hub refuses it
    // (OUT_OF_RANGE), exactly like the aggregator.
    auto reached = [this, from]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return hub_ == nullptr || shut_down_ || published_ >= from;
    };
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&reached), ahead_wait_);
    current = hub_;
  }
  if (current == nullptr) {
    bool shut_down = false;
    {
      absl::MutexLock lock(&mu_);
      shut_down = shut_down_;
    }
    return new RefusedReactor(grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        shut_down ? "the relay is shutting down"
                  : "the relay has no complete snapshot from its upstream "
                    "yet; retry shortly"));
  }
  return current->Watch(context, request);
}

}  // namespace tally::relay

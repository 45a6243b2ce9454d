#include "services/gateway/upstream_watch.h"

#include <utility>

#include "absl/time/clock.h"
#include "services/rpc/reactor_hand_off.h"

namespace tally::gateway {

// gRPC may run a reaction inline in the thread that starts an operation
// (StartRead, RemoveHold), so neither is ever called with mu_ held.

std::shared_ptr<UpstreamWatch> UpstreamWatch::Start(
    Upstream* upstream, const v1::WatchRequest& request,
    absl::Duration deadline, size_t queue_limit) {
  std::shared_ptr<UpstreamWatch> watch(
      new UpstreamWatch(upstream, queue_limit == 0 ? 1 : queue_limit));
  watch->request_ = request;
  watch->context_.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  {
    absl::MutexLock lock(&watch->mu_);
    watch->self_ = watch;
  }
  watch->target_ = upstream->feed_target();
  watch->stub_ = v1::Feed::NewStub(watch->target_.channel);
  watch->stub_->async()->Watch(&watch->context_, &watch->request_, watch.get());
  // Take restarts paused reads from an HTTP thread, outside any reaction:
  // the hold keeps OnDone (and the end of the reactor) from coming first.
  watch->AddHold();
  rpc::HandToGrpc(watch.get());
  watch->StartRead(&watch->incoming_);
  watch->StartCall();
  return watch;
}

UpstreamWatch::~UpstreamWatch() = default;

void UpstreamWatch::OnReadDone(bool ok) {
  rpc::TakeFromGrpc(this);
  bool read_again = false;
  {
    absl::MutexLock lock(&mu_);
    if (ok) {
      queue_.push_back(std::move(incoming_));
      incoming_.Clear();
      if (queue_.size() < queue_limit_) {
        read_again = true;
      } else {
        paused_ = true;
      }
    } else {
      reads_over_ = true;
    }
  }
  if (read_again) {
    rpc::HandToGrpc(this);
    StartRead(&incoming_);
  } else if (!ok) {
    rpc::HandToGrpc(this);
    RemoveHold();  // may end the reactor: nothing after this
  }
}

void UpstreamWatch::OnDone(const grpc::Status& status) {
  std::shared_ptr<UpstreamWatch> self;
  {
    absl::MutexLock lock(&mu_);
    done_ = true;
    status_ = status;
    self = std::move(self_);
  }
  // `self` may be the last reference: this object ends here.
}

UpstreamWatch::Next UpstreamWatch::Take(absl::Duration timeout,
                                        v1::WatchResponse* message,
                                        grpc::Status* status) {
  bool read_again = false;
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(
        absl::Condition(
            +[](UpstreamWatch* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
              return !self->queue_.empty() || self->done_;
            },
            this),
        timeout);
    if (queue_.empty()) {
      if (!done_) return Next::kTimeout;
      *status = status_;
      return Next::kEnded;
    }
    *message = std::move(queue_.front());
    queue_.pop_front();
    if (paused_ && !reads_over_ && queue_.size() < queue_limit_) {
      paused_ = false;  // from here a read is "in flight" for Cancel
      read_again = true;
    }
  }
  // The hold is still taken (reads are not over), so the call cannot
  // finish before this read starts.
  if (read_again) {
    rpc::HandToGrpc(this);
    StartRead(&incoming_);
  }
  return Next::kMessage;
}

bool UpstreamWatch::paused() {
  absl::MutexLock lock(&mu_);
  return paused_;
}

void UpstreamWatch::Cancel() {
  context_.TryCancel();
  bool release = false;
  {
    absl::MutexLock lock(&mu_);
    // A read in flight fails now and releases the hold itself; a paused
    // stream has none, so the hold goes here.
    if (paused_ && !reads_over_) {
      reads_over_ = true;
      release = true;
    }
  }
  // The caller holds a reference, so this object outlives OnDone.
  if (release) {
    rpc::HandToGrpc(this);
    RemoveHold();
  }
}

}  // namespace tally::gateway

#include "tests/support/feed_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tally::testing {

WatchClient::WatchClient(const std::shared_ptr<grpc::Channel>& channel,
                         const v1::WatchRequest& request)
    : stub_(v1::Feed::NewStub(channel)) {
  context_.set_deadline(absl::ToChronoTime(absl::Now() + kStreamDeadline));
  reader_ = stub_->Watch(&context_, request);
  thread_ = std::thread([this] { Run(); });
}

WatchClient::~WatchClient() {
  context_.TryCancel();
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void WatchClient::Run() {
  auto may_read = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !paused_ || stopping_;
  };
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&may_read));
    }
    v1::WatchResponse response;
    if (!reader_->Read(&response)) break;
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

void WatchClient::Pause() {
  absl::MutexLock lock(&mu_);
  paused_ = true;
}

void WatchClient::Resume() {
  absl::MutexLock lock(&mu_);
  paused_ = false;
}

v1::WatchRequest FromRevision(uint64_t revision, bool include_stations) {
  v1::WatchRequest request;
  request.set_from_revision(revision);
  request.set_include_stations(include_stations);
  return request;
}

absl::StatusOr<SnapshotRead> ReadSnapshot(WatchClient& watch) {
  SnapshotRead out;
  while (true) {
    absl::StatusOr<v1::WatchResponse> response = watch.Next(kMessageTimeout);
    if (!response.ok()) return response.status();
    if (response->has_snapshot()) {
      const v1::Snapshot& snapshot = response->snapshot();
      if (out.messages > 0 && snapshot.revision() != out.revision) {
        return absl::InternalError("snapshot chunks of different revisions");
      }
      out.revision = snapshot.revision();
      ++out.messages;
      out.totals.insert(out.totals.end(), snapshot.totals().begin(),
                        snapshot.totals().end());
      out.allocations.insert(out.allocations.end(),
                             snapshot.allocations().begin(),
                             snapshot.allocations().end());
      continue;
    }
    if (response->has_snapshot_complete()) {
      if (out.messages == 0) {
        return absl::InternalError("snapshot_complete without a snapshot");
      }
      if (response->snapshot_complete().revision() != out.revision) {
        return absl::InternalError(absl::StrCat(
            "snapshot_complete at ", response->snapshot_complete().revision(),
            " after a snapshot at ", out.revision));
      }
      return out;
    }
    return absl::InternalError(absl::StrCat("unexpected in a snapshot: ",
                                            response->ShortDebugString()));
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

}  // namespace tally::testing

#include "services/replication/log_follower.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/etcd/steady_wait.h"
#include "services/observability/structured_log.h"

namespace tally::replication {
namespace {

// Rounds per Range page: up to 64 x 256 KB, well under the client's
// receive limit.
constexpr int64_t kPageRounds = 64;

}  // namespace

LogFollower::LogFollower(etcd::Client* client, ClusterKeys keys, ApplyFn apply,
                         PositionFn applied_position)
    : client_(client),
      keys_(std::move(keys)),
      apply_(std::move(apply)),
      applied_position_(std::move(applied_position)) {}

LogFollower::~LogFollower() { Stop(); }

void LogFollower::Start() {
  {
    absl::MutexLock lock(&mu_);
    applied_index_ = applied_position_().index;
  }
  thread_ = std::thread([this] { Run(); });
}

void LogFollower::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (watch_ != nullptr) watch_->Cancel();
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  if (state_ == State::kApplying) state_ = State::kStopped;
}

LogFollower::State LogFollower::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

std::string LogFollower::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

uint64_t LogFollower::applied_index() const {
  absl::MutexLock lock(&mu_);
  return applied_index_;
}

bool LogFollower::WaitApplied(uint64_t index, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, index]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return applied_index_ >= index || state_ != State::kApplying || stopping_;
  };
  etcd::SteadyAwait(mu_, absl::Condition(&reached), timeout);
  return applied_index_ >= index;
}

void LogFollower::Run() {
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    // Start over from what the store holds: an apply that failed may have
    // left nothing, or the state may have been rebuilt since.
    const storage::LogPosition start = applied_position_();
    next_index_ = start.index + 1;
    {
      absl::MutexLock lock(&mu_);
      applied_index_ = start.index;
    }
    absl::Status status = Follow();
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    last_error_ = std::string(status.message());
    if (absl::IsFailedPrecondition(status)) {
      state_ = State::kBehind;
      obs::LogError("replica is behind the truncated commit log",
                    {{"reason", status.message()}});
      return;
    }
    obs::LogWarning(
        "commit log follower restarts",
        {{"reason", status.message()}, {"next_index", next_index_}});
    etcd::SteadyAwait(mu_, absl::Condition(&stopping_), backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

absl::Status LogFollower::ApplyKv(const mvccpb::KeyValue& kv) {
  absl::StatusOr<uint64_t> index = keys_.ParseLogKey(kv.key());
  if (!index.ok()) return absl::OkStatus();  // not a round (outside the log)
  if (*index < next_index_) return absl::OkStatus();  // applied already
  if (*index > next_index_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the commit log continues at round ", *index, " but round ",
        next_index_,
        " is gone (truncated while this replica was away); copy a peer's "
        "store to rejoin"));
  }
  v1::ReplicatedRound round;
  if (!round.ParseFromString(kv.value()) || round.index() != *index) {
    return absl::DataLossError(absl::StrCat("commit log round ", *index,
                                            " cannot be decoded (",
                                            kv.value().size(), " bytes)"));
  }
  const storage::LogPosition at{*index, kv.mod_revision()};
  if (absl::Status applied = apply_(round, at); !applied.ok()) {
    return applied;
  }
  ++next_index_;
  absl::MutexLock lock(&mu_);
  applied_index_ = *index;
  return absl::OkStatus();
}

absl::Status LogFollower::Follow() {
  // 1. Catch up: every round from next_index_, at one revision.
  int64_t at_revision = 0;
  while (true) {
    etcdserverpb::RangeRequest range;
    range.set_key(keys_.LogKey(next_index_));
    range.set_range_end(etcd::PrefixEnd(keys_.log_prefix()));
    range.set_limit(kPageRounds);
    range.set_revision(at_revision);
    absl::StatusOr<etcdserverpb::RangeResponse> page = client_->Range(range);
    if (!page.ok()) return page.status();
    if (at_revision == 0) at_revision = page->header().revision();
    for (const mvccpb::KeyValue& kv : page->kvs()) {
      if (absl::Status s = ApplyKv(kv); !s.ok()) return s;
      absl::MutexLock lock(&mu_);
      if (stopping_) return absl::CancelledError("stopping");
    }
    if (!page->more()) break;
  }
  // A round truncated away with nothing after it yet shows up as a gap
  // when the next round comes; the start marker tells now.
  etcdserverpb::RangeRequest start;
  start.set_key(keys_.log_start());
  start.set_revision(at_revision);
  absl::StatusOr<etcdserverpb::RangeResponse> marker = client_->Range(start);
  if (!marker.ok()) return marker.status();
  if (marker->kvs_size() == 1) {
    uint64_t first = 0;
    if (absl::SimpleAtoi(marker->kvs(0).value(), &first) &&
        first > next_index_) {
      return absl::FailedPreconditionError(
          absl::StrCat("the commit log starts at round ", first,
                       " but this replica needs ", next_index_,
                       " (truncated while it was away); copy a peer's store "
                       "to rejoin"));
    }
  }

  // 2. Live: every change after that revision, in order.
  absl::StatusOr<std::unique_ptr<etcd::WatchStream>> watch =
      etcd::WatchStream::Open(client_, keys_.log_prefix(),
                              etcd::PrefixEnd(keys_.log_prefix()),
                              at_revision + 1);
  if (!watch.ok()) return watch.status();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::CancelledError("stopping");
    watch_ = watch->get();
  }
  absl::Status status;
  while (status.ok()) {
    absl::StatusOr<etcdserverpb::WatchResponse> batch = (*watch)->Next();
    if (!batch.ok()) {
      status = batch.status();
      break;
    }
    for (const mvccpb::Event& event : batch->events()) {
      if (event.type() != mvccpb::Event::PUT) continue;  // truncation
      status = ApplyKv(event.kv());
      if (!status.ok()) break;
    }
  }
  absl::MutexLock lock(&mu_);
  watch_ = nullptr;
  return status;
}

}  // namespace tally::replication

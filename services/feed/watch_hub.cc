// Feed.Watch fan-out. See watch_hub.h for the semantics.
//
// Ownership and lifetime:
//  - A Watcher is the gRPC reactor of one Watch call. It is created with
//    std::make_shared and owned by the hub's registry until gRPC calls
//    OnDone; OnDone takes it out of the registry, and the object is freed
//    when the last temporary reference (a fan-out list, a queued worker
//    job) drops. Nothing calls into gRPC for a watcher after Finish, and
//    Finish is called exactly once, only when no write is in flight, so gRPC
//    never sees an operation on a reactor that is done.
//  - Calls that are refused (shutting down, ahead of the log, compacted)
//    get a standalone OneShotReactor that deletes itself in OnDone and never
//    touches the hub.
//
// Locks (always taken in this order, never the other way round):
//  1. State::mu: the watcher registry, the published revision, the shutdown
//     flags. Held only for bookkeeping: fan-out copies the registry and
//     works on the copy, so no watcher lock is taken under it except while
//     a new watcher is set up.
//  2. Watcher::mu_: one per watcher, guards its queues and state machine.
//  3. State::jobs_mu: the worker job queue (a leaf).
// No gRPC operation (StartWrite, Finish) is started while holding any of
// them; the one exception is TryCancel at shutdown, which runs under the
// watcher's lock so that it cannot race with OnDone freeing the context
// (gRPC runs the resulting reactions on its own threads, never inline).
//
// A watcher's messages come from two queues:
//  - backlog_: what must be sent before anything live: a Resync, snapshot
//    chunks and SnapshotComplete, or replayed events. Filled by the worker
//    threads (SnapshotFn and EventSource reads never run on a gRPC thread
//    or under the hub lock). Replay reads are bounded by the room left in
//    the backlog and resume once it has drained to half.
//  - live_: events (and progress notifications) from Publish, bounded by
//    queue_limit. While the backlog is still being produced (phase kFill)
//    live events wait here; on overflow the watcher is resynchronised.
// A resynchronised watcher drops live events until its Resync message is
// handed to gRPC (its client reads again); only then is the snapshot taken,
// so a stalled client costs neither repeated snapshots nor memory.
//
// Snapshots: each Snapshot message carries at most snapshot_chunk totals;
// the allocations and the progress all travel in the first one. Snapshot
// chunks are not counted against queue_limit (they are bounded by the size
// of the state), replayed events are.
//
// Progress notifications carry the revision the watcher is caught up to:
// the published revision once the fan-out has reached it (filtered-out
// events count), never a revision whose event is still queued for it.
#include "services/feed/watch_hub.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/timestamp.pb.h"
#include "grpcpp/grpcpp.h"
#include "services/rpc/reactor_hand_off.h"

namespace tally::feed {
namespace {

using ResponsePtr = std::shared_ptr<const v1::WatchResponse>;

// Replay reads and snapshots run on this many hub-owned threads.
constexpr int kWorkerThreads = 2;
// At shutdown, how long a watcher whose client stopped reading may keep its
// last write before its call is cancelled.
constexpr absl::Duration kShutdownGrace = absl::Seconds(1);

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t seconds = absl::ToUnixSeconds(t);
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) /
                                    absl::Nanoseconds(1)));
  return ts;
}

v1::ScopeKind NormalKind(v1::ScopeKind kind) {
  return kind == v1::SCOPE_KIND_UNSPECIFIED ? v1::SCOPE_KIND_NATIONAL : kind;
}

// What one watcher asked for. Immutable after construction, so it is read
// without locks.
class Filter {
 public:
  Filter() = default;
  explicit Filter(const v1::WatchRequest& request)
      : contests_(request.contest_ids().begin(), request.contest_ids().end()),
        include_stations_(request.include_stations()) {
    for (const v1::Scope& scope : request.scopes()) scopes_.insert(Key(scope));
  }
  static Filter Everything(bool include_stations) {
    Filter f;
    f.include_stations_ = include_stations;
    return f;
  }

  // True when contests or scopes are restricted (the event must be copied
  // per watcher rather than shared).
  bool narrows() const { return !contests_.empty() || !scopes_.empty(); }
  bool include_stations() const { return include_stations_; }

  bool SelectsContest(const std::string& contest_id) const {
    return contests_.empty() || contests_.count(contest_id) > 0;
  }
  bool Selects(const std::string& contest_id, const v1::Scope& scope) const {
    return SelectsContest(contest_id) &&
           (scopes_.empty() || scopes_.count(Key(scope)) > 0);
  }

  // The event as this watcher sees it; null when nothing is selected.
  // Stations carry no scope, so only the contest filter applies to them.
  ResponsePtr Apply(const v1::Event& event) const {
    auto response = std::make_shared<v1::WatchResponse>();
    v1::Event* out = response->mutable_event();
    for (const v1::Totals& t : event.totals()) {
      if (Selects(t.contest_id(), t.scope())) *out->add_totals() = t;
    }
    for (const v1::SeatAllocation& a : event.allocations()) {
      if (Selects(a.contest_id(), a.scope())) *out->add_allocations() = a;
    }
    if (include_stations_) {
      for (const v1::StationUpdate& s : event.stations()) {
        if (SelectsContest(s.contest_id())) *out->add_stations() = s;
      }
    }
    for (const v1::ScopeFlags& f : event.forensics_flags()) {
      if (Selects(f.contest_id(), f.scope())) *out->add_forensics_flags() = f;
    }
    if (out->totals_size() == 0 && out->allocations_size() == 0 &&
        out->stations_size() == 0 && out->forensics_flags_size() == 0) {
      return nullptr;
    }
    out->set_revision(event.revision());
    out->set_epoch(event.epoch());
    if (event.has_committed_at()) {
      *out->mutable_committed_at() = event.committed_at();
    }
    if (event.has_progress()) *out->mutable_progress() = event.progress();
    // The head signs the whole revision, whatever this watcher selects.
    if (event.has_signed_head()) {
      *out->mutable_signed_head() = event.signed_head();
    }
    return response;
  }

 private:
  using ScopeKey = std::pair<int, std::string>;
  static ScopeKey Key(const v1::Scope& scope) {
    const v1::ScopeKind kind = NormalKind(scope.kind());
    return {kind, kind == v1::SCOPE_KIND_NATIONAL ? "" : scope.id()};
  }

  std::unordered_set<std::string> contests_;
  std::set<ScopeKey> scopes_;
  bool include_stations_ = false;
};

// The two unfiltered forms of one published event, built at most once per
// Publish and shared by every watcher without contest or scope filters.
class SharedEvent {
 public:
  explicit SharedEvent(const v1::Event& event) : event_(event) {}
  ResponsePtr Get(bool include_stations) {
    const int i = include_stations ? 1 : 0;
    if (!built_[i]) {
      built_[i] = true;
      forms_[i] = Filter::Everything(include_stations).Apply(event_);
    }
    return forms_[i];
  }

 private:
  const v1::Event& event_;
  bool built_[2] = {false, false};
  ResponsePtr forms_[2];
};

// Snapshot messages for `view` as `filter` sees it: chunks of at most
// `chunk` totals, the allocations and progress in the first chunk, then
// SnapshotComplete. At least one Snapshot message even when empty.
std::vector<ResponsePtr> SnapshotResponses(const SnapshotView& view,
                                           const Filter& filter, size_t chunk) {
  std::vector<const v1::Totals*> totals;
  for (const v1::Totals& t : view.totals) {
    if (filter.Selects(t.contest_id(), t.scope())) totals.push_back(&t);
  }
  std::vector<ResponsePtr> out;
  size_t next = 0;
  do {
    auto response = std::make_shared<v1::WatchResponse>();
    v1::Snapshot* snapshot = response->mutable_snapshot();
    snapshot->set_revision(view.revision);
    if (view.signed_head.has_head()) {
      *snapshot->mutable_signed_head() = view.signed_head;
    }
    if (out.empty()) {
      *snapshot->mutable_progress() = view.progress;
      for (const v1::SeatAllocation& a : view.allocations) {
        if (filter.Selects(a.contest_id(), a.scope())) {
          *snapshot->add_allocations() = a;
        }
      }
      for (const v1::ScopeFlags& f : view.forensics_flags) {
        if (filter.Selects(f.contest_id(), f.scope())) {
          *snapshot->add_forensics_flags() = f;
        }
      }
    }
    const size_t end = std::min(totals.size(), next + chunk);
    for (; next < end; ++next) *snapshot->add_totals() = *totals[next];
    out.push_back(std::move(response));
  } while (next < totals.size());
  auto complete = std::make_shared<v1::WatchResponse>();
  complete->mutable_snapshot_complete()->set_revision(view.revision);
  out.push_back(std::move(complete));
  return out;
}

ResponsePtr CompactedResponse(uint64_t oldest_revision) {
  auto response = std::make_shared<v1::WatchResponse>();
  response->mutable_compacted()->set_compact_revision(oldest_revision - 1);
  return response;
}

// A call answered without joining the hub: an error status, or one last
// message and OK. Deletes itself when gRPC is done with it.
class OneShotReactor final
    : public grpc::ServerWriteReactor<v1::WatchResponse> {
 public:
  explicit OneShotReactor(grpc::Status status) {
    rpc::HandToGrpc(this);
    Finish(std::move(status));
  }
  explicit OneShotReactor(v1::WatchResponse last) : last_(std::move(last)) {
    rpc::HandToGrpc(this);
    StartWriteAndFinish(&last_, grpc::WriteOptions(), grpc::Status::OK);
  }
  void OnDone() override {
    rpc::TakeFromGrpc(this);
    delete this;
  }

 private:
  v1::WatchResponse last_;
};

}  // namespace

struct WatchHub::State {
  State(EventSource* events_in, SnapshotFn snapshot_in, uint64_t revision,
        WatchHubOptions options_in)
      : events(events_in),
        snapshot(std::move(snapshot_in)),
        options(std::move(options_in)),
        published(revision),
        published_atomic(revision) {
    options.queue_limit = std::max<size_t>(options.queue_limit, 1);
    options.snapshot_chunk = std::max<size_t>(options.snapshot_chunk, 1);
    options.min_progress_interval =
        std::max(options.min_progress_interval, absl::Milliseconds(1));
    options.default_progress_interval = std::max(
        options.default_progress_interval, options.min_progress_interval);
  }

  absl::Duration ProgressInterval(const v1::WatchRequest& request) const {
    if (request.progress_interval_ms() == 0) {
      return options.default_progress_interval;
    }
    return std::max(absl::Milliseconds(request.progress_interval_ms()),
                    options.min_progress_interval);
  }

  // Timer period: fine enough for the shortest allowed interval.
  absl::Duration TimerTick() const {
    return std::clamp(options.min_progress_interval / 2, absl::Milliseconds(5),
                      absl::Milliseconds(250));
  }

  // Queues a worker step for `watcher`; dropped once the workers stopped
  // (every watcher is finishing by then).
  void Enqueue(std::shared_ptr<Watcher> watcher) {
    absl::MutexLock lock(&jobs_mu);
    if (jobs_stopped) return;
    jobs.push_back(std::move(watcher));
  }

  // Takes a finished watcher out of the registry; the caller drops the
  // returned reference outside the lock.
  std::shared_ptr<Watcher> Unregister(uint64_t id) {
    absl::MutexLock lock(&mu);
    auto it = watchers.find(id);
    if (it == watchers.end()) return nullptr;
    std::shared_ptr<Watcher> watcher = std::move(it->second);
    watchers.erase(it);
    watcher_count.store(watchers.size(), std::memory_order_relaxed);
    return watcher;
  }

  std::vector<std::shared_ptr<Watcher>> CopyWatchers() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<std::shared_ptr<Watcher>> out;
    out.reserve(watchers.size());
    for (const auto& [id, watcher] : watchers) out.push_back(watcher);
    return out;
  }

  void WorkerLoop();
  void TimerLoop();

  EventSource* const events;
  const SnapshotFn snapshot;
  WatchHubOptions options;

  mutable absl::Mutex mu;
  uint64_t published ABSL_GUARDED_BY(mu);
  uint64_t next_id ABSL_GUARDED_BY(mu) = 1;
  std::map<uint64_t, std::shared_ptr<Watcher>> watchers ABSL_GUARDED_BY(mu);
  bool shutdown_started ABSL_GUARDED_BY(mu) = false;
  bool shutdown_done ABSL_GUARDED_BY(mu) = false;
  bool stop_timer ABSL_GUARDED_BY(mu) = false;

  // Mirrors for the cheap accessors.
  std::atomic<uint64_t> published_atomic;
  std::atomic<size_t> watcher_count{0};
  std::atomic<uint64_t> resyncs{0};

  absl::Mutex jobs_mu ABSL_ACQUIRED_AFTER(mu);
  std::deque<std::shared_ptr<Watcher>> jobs ABSL_GUARDED_BY(jobs_mu);
  bool jobs_stopped ABSL_GUARDED_BY(jobs_mu) = false;

  std::vector<std::thread> workers;
  std::thread timer;
};

class WatchHub::Watcher final
    : public grpc::ServerWriteReactor<v1::WatchResponse>,
      public std::enable_shared_from_this<Watcher> {
 public:
  Watcher(State* hub, grpc::CallbackServerContext* context,
          const v1::WatchRequest& request)
      : hub_(hub),
        context_(context),
        filter_(request),
        interval_(hub->ProgressInterval(request)),
        revision_(request.from_revision()),
        job_kind_(request.from_revision() == 0 ? JobKind::kSnapshot
                                               : JobKind::kReplay),
        replay_next_(request.from_revision() + 1),
        last_activity_(absl::Now()) {}

  void set_id(uint64_t id) { id_ = id; }

  // Starts the initial snapshot or the replay of (from_revision, published]
  // where `published` was read when the watcher was registered.
  void Start(uint64_t published) {
    absl::MutexLock lock(&mu_);
    if (finishing_) return;
    if (job_kind_ == JobKind::kReplay) {
      replay_to_ = published;
      if (replay_next_ > replay_to_) {
        EnterLiveLocked(replay_to_);
        return;
      }
    }
    ScheduleLocked();
  }

  // A published event (called by the committer's thread, in order).
  void Offer(const v1::Event& event, SharedEvent& shared) {
    ResponsePtr response = filter_.narrows()
                               ? filter_.Apply(event)
                               : shared.Get(filter_.include_stations());
    {
      absl::MutexLock lock(&mu_);
      if (finishing_ || event.revision() <= revision_) return;
      // Accounted even when filtered out or dropped: progress
      // notifications then carry the watcher's true position.
      revision_ = event.revision();
      // Waiting to resynchronise: the coming snapshot covers this event.
      if (phase_ == Phase::kResyncWait || response == nullptr) return;
      if (live_.size() >= hub_->options.queue_limit) {
        ResyncLocked(absl::StrCat("watcher queue exceeded ",
                                  hub_->options.queue_limit, " messages"));
      } else {
        live_.push_back(std::move(response));
        if (phase_ != Phase::kLive) return;
      }
    }
    Pump();
  }

  // Queues a ProgressNotify if the watcher is live and has had nothing to
  // send for its interval. Returns whether a write may need starting.
  bool MaybeQueueProgress(absl::Time now) {
    absl::MutexLock lock(&mu_);
    if (finishing_ || phase_ != Phase::kLive || writing_ || !backlog_.empty() ||
        !live_.empty() || now - last_activity_ < interval_) {
      return false;
    }
    auto response = std::make_shared<v1::WatchResponse>();
    v1::ProgressNotify* progress = response->mutable_progress();
    progress->set_revision(revision_);
    *progress->mutable_server_time() = ToTimestamp(now);
    live_.push_back(std::move(response));
    last_activity_ = now;
    return true;
  }

  // Drops everything queued and ends the stream with `status` as soon as no
  // write is in flight.
  void FinishNow(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      FinishNowLocked(std::move(status));
    }
    Pump();
  }

  // Shutdown fallback for a client that stopped reading: its last write can
  // only complete once the call is cancelled.
  void Cancel() {
    absl::MutexLock lock(&mu_);
    if (!done_) context_->TryCancel();
  }

  // One worker step: the snapshot, or one bounded batch of replay.
  void RunJob();

  // Starts the next write, or Finish, unless a write is in flight.
  void Pump() {
    const v1::WatchResponse* to_write = nullptr;
    bool finish = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finish_called_) return;
      ResponsePtr next = NextLocked();
      if (next != nullptr) {
        writing_ = true;
        in_flight_ = std::move(next);
        to_write = in_flight_.get();
        last_activity_ = absl::Now();
      } else if (finishing_) {
        finish_called_ = true;
        finish = true;
        status = finish_status_;
      }
    }
    if (to_write != nullptr) {
      rpc::HandToGrpc(this);
      StartWrite(to_write);
    } else if (finish) {
      rpc::HandToGrpc(this);
      Finish(std::move(status));
    }
  }

  void OnWriteDone(bool ok) override {
    rpc::TakeFromGrpc(this);
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      in_flight_.reset();
      last_activity_ = absl::Now();
      if (!ok) {
        FinishNowLocked(
            grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
      }
    }
    Pump();
  }

  void OnCancel() override {
    rpc::TakeFromGrpc(this);
    FinishNow(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }

  void OnDone() override {
    rpc::TakeFromGrpc(this);
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    // The registry's reference is released when `self` goes out of scope;
    // nothing touches the hub or this object after that.
    std::shared_ptr<Watcher> self = hub_->Unregister(id_);
  }

 private:
  enum class Phase {
    // Producing the backlog (snapshot or replay); live events wait.
    kFill,
    // Overflowed; Resync queued, the snapshot starts once it is sent.
    kResyncWait,
    kLive,
  };
  enum class JobKind { kSnapshot, kReplay };

  // Result of one replay batch, computed without locks.
  struct ReplayBatch {
    std::vector<ResponsePtr> responses;
    uint64_t next = 0;  // first revision not yet read
    bool read_ok = true;
    bool full = false;       // stopped because the budget was used
    uint64_t compacted = 0;  // oldest retained revision, if past `next`
    bool missing = false;    // the log lacks a revision it should have
  };

  ResponsePtr NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!backlog_.empty()) {
      ResponsePtr next = std::move(backlog_.front());
      backlog_.pop_front();
      if (phase_ == Phase::kResyncWait && !finishing_) {
        // The Resync leaves now: the client is reading again, so the fresh
        // snapshot is taken from here on, not while it was stalled.
        phase_ = Phase::kFill;
        job_kind_ = JobKind::kSnapshot;
        ScheduleLocked();
      } else {
        MaybeResumeReplayLocked();
      }
      return next;
    }
    if (phase_ == Phase::kLive && !live_.empty()) {
      ResponsePtr next = std::move(live_.front());
      live_.pop_front();
      return next;
    }
    return nullptr;
  }

  void ScheduleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    job_wanted_ = true;
    if (job_active_) return;  // the running step re-queues itself
    job_active_ = true;
    hub_->Enqueue(shared_from_this());
  }

  void MaybeResumeReplayLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!finishing_ && phase_ == Phase::kFill &&
        job_kind_ == JobKind::kReplay &&
        backlog_.size() <= hub_->options.queue_limit / 2) {
      ScheduleLocked();
    }
  }

  void ResyncLocked(const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    live_.clear();
    backlog_.clear();
    ++generation_;  // discards the results of a step already running
    phase_ = Phase::kResyncWait;
    auto response = std::make_shared<v1::WatchResponse>();
    response->mutable_resync()->set_reason(reason);
    backlog_.push_back(std::move(response));
    hub_->resyncs.fetch_add(1, std::memory_order_relaxed);
  }

  // The backlog is complete up to `revision`: live events above it follow.
  void EnterLiveLocked(uint64_t revision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    phase_ = Phase::kLive;
    revision_ = std::max(revision_, revision);
    while (!live_.empty() && live_.front()->has_event() &&
           live_.front()->event().revision() <= revision) {
      live_.pop_front();
    }
  }

  void FinishNowLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    backlog_.clear();
    live_.clear();
    if (finishing_) return;  // keep the first status
    finishing_ = true;
    finish_status_ = std::move(status);
  }

  // Sends what the backlog holds, then ends the stream with `status`.
  void FinishAfterBacklogLocked(grpc::Status status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    live_.clear();
    if (finishing_) return;
    finishing_ = true;
    finish_status_ = std::move(status);
  }

  ReplayBatch ReadReplay(uint64_t from, uint64_t to, size_t budget) const;
  void ApplyReplayLocked(ReplayBatch batch, uint64_t to)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  State* const hub_;
  grpc::CallbackServerContext* const context_;
  const Filter filter_;
  const absl::Duration interval_;
  uint64_t id_ = 0;  // set once before the watcher is shared

  absl::Mutex mu_;
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kFill;
  // Highest revision accounted for: events at or below it are skipped.
  uint64_t revision_ ABSL_GUARDED_BY(mu_);
  std::deque<ResponsePtr> backlog_ ABSL_GUARDED_BY(mu_);
  std::deque<ResponsePtr> live_ ABSL_GUARDED_BY(mu_);
  // The message gRPC is writing; kept alive until OnWriteDone.
  ResponsePtr in_flight_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;

  // Worker steps: at most one queued or running per watcher.
  JobKind job_kind_ ABSL_GUARDED_BY(mu_);
  bool job_active_ ABSL_GUARDED_BY(mu_) = false;
  bool job_wanted_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t replay_next_ ABSL_GUARDED_BY(mu_);
  uint64_t replay_to_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Time last_activity_ ABSL_GUARDED_BY(mu_);
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

void WatchHub::Watcher::RunJob() {
  JobKind kind;
  uint64_t generation = 0;
  uint64_t from = 0;
  uint64_t to = 0;
  size_t budget = 0;
  bool run = false;
  {
    absl::MutexLock lock(&mu_);
    job_wanted_ = false;
    const size_t limit = hub_->options.queue_limit;
    kind = job_kind_;
    generation = generation_;
    from = replay_next_;
    to = replay_to_;
    budget = backlog_.size() < limit ? limit - backlog_.size() : 0;
    run = !finishing_ && phase_ == Phase::kFill &&
          (kind == JobKind::kSnapshot || budget > 0);
    if (!run) job_active_ = false;
  }
  if (!run) return;

  if (kind == JobKind::kSnapshot) {
    SnapshotView view;
    if (hub_->snapshot) view = hub_->snapshot();
    std::vector<ResponsePtr> responses =
        SnapshotResponses(view, filter_, hub_->options.snapshot_chunk);
    absl::MutexLock lock(&mu_);
    if (generation == generation_ && !finishing_ && phase_ == Phase::kFill) {
      for (ResponsePtr& r : responses) backlog_.push_back(std::move(r));
      EnterLiveLocked(view.revision);
    }
  } else {
    ReplayBatch batch = ReadReplay(from, to, budget);
    absl::MutexLock lock(&mu_);
    if (generation == generation_ && !finishing_ && phase_ == Phase::kFill) {
      ApplyReplayLocked(std::move(batch), to);
    }
  }

  bool again = false;
  {
    absl::MutexLock lock(&mu_);
    again = job_wanted_ && !finishing_;
    if (!again) job_active_ = false;
  }
  if (again) hub_->Enqueue(shared_from_this());
  Pump();
}

WatchHub::Watcher::ReplayBatch WatchHub::Watcher::ReadReplay(
    uint64_t from, uint64_t to, size_t budget) const {
  ReplayBatch batch;
  batch.next = from;
  if (hub_->events == nullptr) {
    batch.missing = true;
    return batch;
  }
  const uint64_t oldest = hub_->events->oldest_revision();
  if (oldest > from) {
    batch.compacted = oldest;
    return batch;
  }
  batch.read_ok =
      hub_->events->Read(from, to, [&](const v1::Event& event) -> bool {
        if (event.revision() < batch.next) return true;   // already have it
        if (event.revision() > batch.next) return false;  // a hole
        batch.next = event.revision() + 1;
        if (ResponsePtr r = filter_.Apply(event)) {
          batch.responses.push_back(std::move(r));
        }
        batch.full = batch.responses.size() >= budget;
        return !batch.full && batch.next <= to;
      });
  if (batch.read_ok && batch.next <= to && !batch.full) {
    // Stopped short of `to`: compacted underneath us, or a hole.
    const uint64_t now_oldest = hub_->events->oldest_revision();
    if (now_oldest > batch.next) {
      batch.compacted = now_oldest;
    } else {
      batch.missing = true;
    }
  }
  return batch;
}

void WatchHub::Watcher::ApplyReplayLocked(ReplayBatch batch, uint64_t to) {
  if (!batch.read_ok) {
    FinishNowLocked(grpc::Status(
        grpc::StatusCode::INTERNAL,
        absl::StrCat("reading the event log failed at revision ", batch.next)));
    return;
  }
  for (ResponsePtr& r : batch.responses) backlog_.push_back(std::move(r));
  replay_next_ = batch.next;
  if (batch.compacted != 0) {
    // The retained log moved past this watcher while it caught up: the
    // same answer as for a resume from too old a revision.
    backlog_.push_back(CompactedResponse(batch.compacted));
    FinishAfterBacklogLocked(grpc::Status::OK);
    return;
  }
  if (batch.missing) {
    FinishNowLocked(grpc::Status(
        grpc::StatusCode::INTERNAL,
        absl::StrCat("the event log has no revision ", batch.next,
                     " although revision ", to, " was published")));
    return;
  }
  if (replay_next_ > to) {
    EnterLiveLocked(to);
    return;
  }
  MaybeResumeReplayLocked();
}

void WatchHub::State::WorkerLoop() {
  for (;;) {
    std::shared_ptr<Watcher> watcher;
    {
      absl::MutexLock lock(&jobs_mu);
      jobs_mu.Await(absl::Condition(
          +[](State* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->jobs_mu) {
            return s->jobs_stopped || !s->jobs.empty();
          },
          this));
      if (jobs_stopped) return;
      watcher = std::move(jobs.front());
      jobs.pop_front();
    }
    watcher->RunJob();
  }
}

void WatchHub::State::TimerLoop() {
  const absl::Duration tick = TimerTick();
  for (;;) {
    std::vector<std::shared_ptr<Watcher>> all;
    {
      absl::MutexLock lock(&mu);
      if (mu.AwaitWithTimeout(absl::Condition(&stop_timer), tick)) return;
      all = CopyWatchers();
    }
    const absl::Time now = absl::Now();
    for (const std::shared_ptr<Watcher>& watcher : all) {
      if (watcher->MaybeQueueProgress(now)) watcher->Pump();
    }
  }
}

WatchHub::WatchHub(EventSource* events, SnapshotFn snapshot, uint64_t revision,
                   WatchHubOptions options)
    : state_(std::make_unique<State>(events, std::move(snapshot), revision,
                                     std::move(options))) {
  for (int i = 0; i < kWorkerThreads; ++i) {
    state_->workers.emplace_back([s = state_.get()] { s->WorkerLoop(); });
  }
  state_->timer = std::thread([s = state_.get()] { s->TimerLoop(); });
}

WatchHub::~WatchHub() { Shutdown(); }

void WatchHub::Publish(std::shared_ptr<const v1::Event> event) {
  if (event == nullptr) return;
  std::vector<std::shared_ptr<Watcher>> targets;
  {
    absl::MutexLock lock(&state_->mu);
    if (event->revision() <= state_->published) return;  // not news
    state_->published = event->revision();
    state_->published_atomic.store(event->revision(),
                                   std::memory_order_relaxed);
    targets = state_->CopyWatchers();
  }
  SharedEvent shared(*event);
  for (const std::shared_ptr<Watcher>& watcher : targets) {
    watcher->Offer(*event, shared);
  }
}

void WatchHub::Shutdown() {
  State& s = *state_;
  std::vector<std::shared_ptr<Watcher>> all;
  {
    absl::MutexLock lock(&s.mu);
    if (s.shutdown_started) {
      s.mu.Await(absl::Condition(&s.shutdown_done));
      return;
    }
    s.shutdown_started = true;
    s.stop_timer = true;
    all = s.CopyWatchers();
  }
  for (const std::shared_ptr<Watcher>& watcher : all) {
    watcher->FinishNow(grpc::Status::OK);
  }
  all.clear();

  // Stop the threads; any step still running completes first.
  std::deque<std::shared_ptr<Watcher>> dropped;
  {
    absl::MutexLock lock(&s.jobs_mu);
    s.jobs_stopped = true;
    dropped.swap(s.jobs);
  }
  dropped.clear();
  for (std::thread& t : s.workers) t.join();
  s.workers.clear();
  if (s.timer.joinable()) s.timer.join();

  auto none_left = +[](State* st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(st->mu) {
    return st->watchers.empty();
  };
  {
    absl::MutexLock lock(&s.mu);
    if (!s.mu.AwaitWithTimeout(absl::Condition(none_left, &s),
                               kShutdownGrace)) {
      all = s.CopyWatchers();
    }
  }
  // Clients that stopped reading keep a write in flight forever.
  for (const std::shared_ptr<Watcher>& watcher : all) watcher->Cancel();
  all.clear();

  absl::MutexLock lock(&s.mu);
  s.mu.Await(absl::Condition(none_left, &s));
  s.shutdown_done = true;
}

size_t WatchHub::watcher_count() const {
  return state_->watcher_count.load(std::memory_order_relaxed);
}

uint64_t WatchHub::published_revision() const {
  return state_->published_atomic.load(std::memory_order_relaxed);
}

uint64_t WatchHub::resync_count() const {
  return state_->resyncs.load(std::memory_order_relaxed);
}

grpc::ServerWriteReactor<v1::WatchResponse>* WatchHub::Watch(
    grpc::CallbackServerContext* context, const v1::WatchRequest* request) {
  State& s = *state_;
  const grpc::Status unavailable(grpc::StatusCode::UNAVAILABLE,
                                 "the feed is shutting down");
  const uint64_t from = request->from_revision();
  uint64_t published = 0;
  {
    absl::MutexLock lock(&s.mu);
    if (s.shutdown_started) return new OneShotReactor(unavailable);
    published = s.published;
  }
  if (from > published) {
    if (s.options.ahead_is_unavailable) {
      return new OneShotReactor(grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          absl::StrCat("this replica has applied up to revision ", published,
                       ", not yet ", from,
                       "; retry shortly or watch another replica")));
    }
    return new OneShotReactor(grpc::Status(
        grpc::StatusCode::OUT_OF_RANGE,
        absl::StrCat("from_revision ", from,
                     " is ahead of the current revision ", published)));
  }
  if (from > 0) {
    // Without a log nothing before the current revision can be replayed.
    const uint64_t oldest =
        s.events != nullptr ? s.events->oldest_revision() : published + 1;
    if (from + 1 < oldest) {
      return new OneShotReactor(*CompactedResponse(oldest));
    }
  }

  auto watcher = std::make_shared<Watcher>(&s, context, *request);
  {
    absl::MutexLock lock(&s.mu);
    if (s.shutdown_started) return new OneShotReactor(unavailable);
    const uint64_t id = s.next_id++;
    watcher->set_id(id);
    s.watchers.emplace(id, watcher);
    s.watcher_count.store(s.watchers.size(), std::memory_order_relaxed);
    // Events up to here come from the log; later ones arrive by Publish.
    published = s.published;
  }
  watcher->Start(published);
  return watcher.get();
}

}  // namespace tally::feed

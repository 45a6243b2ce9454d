#include "services/aggregator/storage_recovery.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/status_copy.h"
#include "services/observability/structured_log.h"

namespace tally::aggregator {

StorageRecovery::StorageRecovery(AggregatorState* state,
                                 storage::AggregatorStore* store,
                                 StorageRecoveryOptions options)
    : state_(state), store_(store), options_(options) {
  obs::MetricsRegistry* metrics = options_.metrics;
  if (metrics == nullptr) {
    private_metrics_ = std::make_unique<obs::MetricsRegistry>();
    metrics = private_metrics_.get();
  }
  failures_ = metrics->AddCounter(
      "tally_storage_failures_total",
      "Commit rounds that could not be made durable (full disk, I/O "
      "error); each made the aggregator degraded.");
  recoveries_ = metrics->AddCounter(
      "tally_storage_recoveries_total",
      "Times the store took writes again after a failure and ingest "
      "resumed.");
  std::atomic<bool>* degraded = &degraded_;
  metrics->AddGaugeCallback(
      "tally_storage_degraded",
      "1 while ingest is refused because the store does not take writes "
      "(reads and the feed are still served).",
      [degraded] { return degraded->load() ? 1.0 : 0.0; });
}

StorageRecovery::~StorageRecovery() { Stop(); }

void StorageRecovery::Start() {
  thread_ = std::thread([this] { Run(); });
}

void StorageRecovery::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status StorageRecovery::status() const {
  absl::MutexLock lock(&mu_);
  // The recovery thread replaces status_ while callers (the admin
  // endpoint, Ingest streams) still read theirs.
  return DetachedCopy(status_);
}

void StorageRecovery::OnCommitFailed(const absl::Status& status)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  state_->mu.AssertHeld();
  failures_->Increment();
  // Memory holds the failed round; the store does not. Readers were kept
  // out by the writer lock the caller still holds.
  const absl::Status rebuilt = state_->Rebuild(*store_);
  const bool lost = status.code() == absl::StatusCode::kDataLoss;
  {
    absl::MutexLock lock(&mu_);
    status_ = status;
    if (!rebuilt.ok() || lost) permanent_ = true;
  }
  degraded_ = true;
  if (!rebuilt.ok()) {
    obs::LogError(
        "storage failure: the state could not be rebuilt from the store; "
        "ingest stays refused until a restart from an intact store",
        {{"reason", status.message()},
         {"rebuild", rebuilt.message()},
         {"data_dir", store_->data_dir()}});
    return;
  }
  if (lost) {
    obs::LogError(
        "storage failure: the store lost data; ingest stays refused until "
        "a restart from an intact store (reads are still served)",
        {{"reason", status.message()}, {"data_dir", store_->data_dir()}});
    return;
  }
  obs::LogError(
      "storage failure: degraded, ingest refused until the store takes "
      "writes again (reads and the feed are still served)",
      {{"reason", status.message()},
       {"data_dir", store_->data_dir()},
       {"revision", state_->revision()}});
}

void StorageRecovery::Run() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      // Nothing to do while healthy, and nothing that resuming can fix
      // when the state or the data are lost.
      mu_.AwaitWithTimeout(
          absl::Condition(
              +[](StorageRecovery* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                   self->mu_) { return self->stopping_; },
              this),
          options_.retry_interval);
      if (stopping_) return;
      if (status_.ok() || permanent_) continue;
    }
    // The committer does not write while degraded, so this is the store's
    // only writer now.
    absl::Status resumed = store_->ResumeWrites();
    if (!resumed.ok()) {
      absl::MutexLock lock(&mu_);
      status_ = std::move(resumed);  // the refusal says what fails now
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      if (permanent_) continue;
      status_ = absl::OkStatus();
    }
    degraded_ = false;
    recoveries_->Increment();
    obs::LogInfo(
        "storage recovered: the store takes writes again, ingest "
        "resumes",
        {{"data_dir", store_->data_dir()}});
  }
}

}  // namespace tally::aggregator

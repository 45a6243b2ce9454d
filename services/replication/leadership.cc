#include "services/replication/leadership.h"

#include <optional>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "services/etcd/lease_keeper.h"
#include "services/etcd/steady_wait.h"
#include "services/observability/structured_log.h"

namespace tally::replication {

Leadership::Leadership(etcd::Client* client, ClusterKeys keys,
                       v1::LeaderInfo self, LeadershipOptions options,
                       Callbacks callbacks)
    : client_(client),
      keys_(std::move(keys)),
      self_(std::move(self)),
      options_(options),
      callbacks_(std::move(callbacks)) {}

Leadership::~Leadership() { Stop(); }

void Leadership::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Leadership::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (campaign_cancel_ != nullptr) campaign_cancel_->Cancel();
  }
  if (thread_.joinable()) thread_.join();
}

void Leadership::SetEligible(bool eligible) {
  absl::MutexLock lock(&mu_);
  eligible_ = eligible;
  if (!eligible && campaign_cancel_ != nullptr) campaign_cancel_->Cancel();
}

void Leadership::StepDown(const std::string& why) {
  absl::MutexLock lock(&mu_);
  step_down_ = why.empty() ? "stepping down" : why;
  if (campaign_cancel_ != nullptr) campaign_cancel_->Cancel();
}

bool Leadership::leading() const {
  absl::MutexLock lock(&mu_);
  return leading_;
}

void Leadership::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || eligible_;
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
    }
    const std::string ended = Term();
    absl::Duration pause = backoff;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      if (!step_down_.empty()) {
        pause = options_.step_down_pause;
        step_down_.clear();
      }
    }
    if (!ended.empty()) {
      obs::LogInfo(
          "leadership term ended",
          {{"reason", ended}, {"retry_ms", absl::ToInt64Milliseconds(pause)}});
    }
    absl::MutexLock lock(&mu_);
    etcd::SteadyAwait(mu_, absl::Condition(&stopping_), pause);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

std::string Leadership::Term() {
  absl::StatusOr<etcd::Client::Lease> lease =
      client_->GrantLease(options_.lease_ttl_seconds);
  if (!lease.ok()) return std::string(lease.status().message());
  auto keeper = std::make_unique<etcd::LeaseKeeper>(client_, *lease);

  // Campaign blocks until elected; it runs beside a watch on the lease,
  // stop and step-down requests, which cancel it.
  etcd::Cancellation cancel;
  std::optional<absl::StatusOr<v3electionpb::LeaderKey>> result;
  absl::Mutex result_mu;
  std::thread campaign([&] {
    absl::StatusOr<v3electionpb::LeaderKey> key = client_->Campaign(
        keys_.election(), lease->id, self_.SerializeAsString(), &cancel);
    absl::MutexLock lock(&result_mu);
    result = std::move(key);
  });
  {
    absl::MutexLock lock(&mu_);
    campaign_cancel_ = &cancel;
    if (stopping_ || !step_down_.empty() || !eligible_) cancel.Cancel();
  }
  while (true) {
    {
      absl::MutexLock lock(&result_mu);
      if (etcd::SteadyAwait(
              result_mu,
              absl::Condition(
                  +[](std::optional<absl::StatusOr<v3electionpb::LeaderKey>>*
                          r) { return r->has_value(); },
                  &result),
              absl::Milliseconds(100))) {
        break;
      }
    }
    if (keeper->lost()) cancel.Cancel();
  }
  campaign.join();
  {
    absl::MutexLock lock(&mu_);
    campaign_cancel_ = nullptr;
  }
  auto release = [&] {
    keeper.reset();
    client_->RevokeLease(lease->id).IgnoreError();
  };
  if (!result->ok()) {
    release();
    if (absl::IsCancelled(result->status())) return "";
    return std::string(result->status().message());
  }
  const v3electionpb::LeaderKey& key = **result;
  Fence fence{key.key(), key.rev()};
  {
    absl::MutexLock lock(&mu_);
    leading_ = true;
  }
  obs::LogInfo("elected leader", {{"epoch", key.rev()},
                                  {"replica", self_.replica_id()},
                                  {"lease_ttl_s", lease->ttl_seconds}});
  callbacks_.elected(fence);

  std::string why;
  while (why.empty()) {
    if (keeper->WaitLost(absl::Milliseconds(100))) {
      why = absl::StrCat("etcd lease not renewed within its TTL: ",
                         keeper->last_error());
      break;
    }
    absl::MutexLock lock(&mu_);
    if (stopping_) why = "stopping";
    if (!step_down_.empty()) why = step_down_;
  }
  {
    absl::MutexLock lock(&mu_);
    leading_ = false;
  }
  callbacks_.lost(why);
  // Resigning lets the next leader start at once instead of after the
  // TTL; if etcd is out of reach, the lease expires on its own.
  if (!keeper->lost()) client_->Resign(key).IgnoreError();
  release();
  return why;
}

}  // namespace tally::replication

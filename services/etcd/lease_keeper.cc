#include "services/etcd/lease_keeper.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/etcd/steady_wait.h"

namespace tally::etcd {

LeaseKeeper::LeaseKeeper(Client* client, Client::Lease lease)
    : client_(client), lease_(lease) {
  {
    absl::MutexLock lock(&mu_);
    valid_until_ = Clock::now() + std::chrono::seconds(lease_.ttl_seconds);
  }
  thread_ = std::thread([this] { Run(); });
}

LeaseKeeper::~LeaseKeeper() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool LeaseKeeper::lost() const {
  absl::MutexLock lock(&mu_);
  return lost_;
}

std::string LeaseKeeper::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

bool LeaseKeeper::WaitLost(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  SteadyAwait(mu_, absl::Condition(&lost_), timeout);
  return lost_;
}

absl::StatusOr<LeaseKeeper::Clock::time_point> LeaseKeeper::RenewOnce() {
  const size_t index = client_->current_endpoint();
  auto stub = etcdserverpb::Lease::NewStub(client_->channel(index));
  grpc::ClientContext context;
  // A renewal that takes a third of the TTL is a failed one: the next
  // member gets a chance before the lease runs out.
  const auto deadline = std::max<int64_t>(lease_.ttl_seconds * 1000 / 3, 300);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(deadline));
  const Clock::time_point sent = Clock::now();
  auto stream = stub->LeaseKeepAlive(&context);
  etcdserverpb::LeaseKeepAliveRequest request;
  request.set_id(lease_.id);
  etcdserverpb::LeaseKeepAliveResponse response;
  const bool exchanged =
      stream->Write(request) && stream->WritesDone() && stream->Read(&response);
  const grpc::Status status = stream->Finish();
  if (!exchanged || !status.ok()) {
    client_->NextEndpoint(index);
    return FromGrpc(status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                               "keep-alive stream closed")
                                : status,
                    "lease keep-alive", client_->endpoint(index));
  }
  if (response.ttl() <= 0) {
    return absl::NotFoundError(
        absl::StrCat("etcd lease ", lease_.id, " expired"));
  }
  // The TTL counts from when etcd renewed it, which is after `sent`.
  return sent + std::chrono::seconds(response.ttl());
}

void LeaseKeeper::Run() {
  const absl::Duration interval =
      absl::Milliseconds(std::max<int64_t>(lease_.ttl_seconds * 1000 / 3, 100));
  absl::Duration wait = absl::ZeroDuration();
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      SteadyAwait(mu_, absl::Condition(&stopping_), wait);
      if (stopping_) return;
    }
    absl::StatusOr<Clock::time_point> renewed = RenewOnce();
    absl::MutexLock lock(&mu_);
    if (renewed.ok()) {
      valid_until_ = std::max(valid_until_, *renewed);
      wait = interval;
      continue;
    }
    last_error_ = std::string(renewed.status().message());
    if (absl::IsNotFound(renewed.status()) || Clock::now() >= valid_until_) {
      lost_ = true;
      return;
    }
    // Try the next member soon, well within the TTL.
    wait = absl::Milliseconds(100);
  }
}

}  // namespace tally::etcd

#include "services/collector/collector_service.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/domain/protocol_digest.h"
#include "services/domain/protocol_validation.h"
#include "services/observability/structured_log.h"
#include "services/rpc/reactor_hand_off.h"
#include "services/rpc/status.h"

namespace tally::collector {
namespace {

// Without tokens (--insecure demos) callers have no name; their
// protocols are attributed to this.
constexpr char kAnonymousSubmitter[] = "station-client";

v1::ProtocolResult Rejected(const v1::StationProtocol& protocol,
                            const absl::Status& status) {
  v1::ProtocolResult result;
  result.set_contest_id(protocol.contest_id());
  result.set_station_id(protocol.station_id());
  result.set_version(protocol.version());
  result.set_outcome(v1::OUTCOME_REJECTED);
  result.set_status_code(static_cast<int32_t>(status.code()));
  result.set_message(std::string(status.message()));
  return result;
}

// Submit answers a refusal as the gRPC status, an acknowledgement (also a
// duplicate or stale one) as OK with the verdict.
grpc::Status StatusOf(const v1::ProtocolResult& result) {
  if (result.outcome() != v1::OUTCOME_REJECTED) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(result.status_code()),
                      result.message());
}

}  // namespace

// One client stream of submissions. Each protocol is validated as it is
// read and handed to the writer; verdicts land in their request slot. The
// reactor finishes only when the client has half-closed (or the call is
// gone), no read is outstanding and no submission is with the writer, so
// writer callbacks never outlive it. Finish is the last touch.
class CollectorService::SubmitStreamReactor
    : public grpc::ServerReadReactor<v1::SubmitRequest> {
 public:
  SubmitStreamReactor(CollectorService* service,
                      v1::SubmitStreamResponse* response,
                      absl::StatusOr<const security::StationClient*> client)
      : service_(service), response_(response) {
    if (!client.ok()) {
      // Nothing is read from an unauthenticated caller.
      {
        absl::MutexLock lock(&mu_);
        finished_ = true;
      }
      rpc::HandToGrpc(this);
      Finish(rpc::ToGrpc(client.status()));
      return;
    }
    client_ = *client;
    reading_ = true;
    rpc::HandToGrpc(this);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    rpc::TakeFromGrpc(this);
    if (!ok) {
      {
        absl::MutexLock lock(&mu_);
        reading_ = false;
        reads_done_ = true;
      }
      MaybeFinish();
      return;
    }
    std::variant<Submission, v1::ProtocolResult> prepared =
        service_->Prepare(request_, client_);
    bool read_more = true;
    bool refused = false;
    {
      absl::MutexLock lock(&mu_);
      const size_t slot = results_.size();
      results_.emplace_back();
      if (auto* verdict = std::get_if<v1::ProtocolResult>(&prepared)) {
        results_[slot] = std::move(*verdict);
      } else {
        ++pending_;
        read_more = pending_ < service_->options_.max_pending_per_stream;
        Submission& submission = std::get<Submission>(prepared);
        submission.done = [this, slot](v1::ProtocolResult result) {
          OnWritten(slot, std::move(result));
        };
        std::vector<Submission> one;
        one.push_back(std::move(submission));
        if (!service_->writer_->Enqueue(std::move(one))) {
          --pending_;
          refused = true;
        }
      }
      if (refused) {
        results_[slot] =
            Rejected(request_.protocol(),
                     absl::UnavailableError("the collector is shutting down"));
      }
      reading_ = read_more;
      read_paused_ = !read_more;
    }
    if (read_more) {
      rpc::HandToGrpc(this);
      StartRead(&request_);
    }
  }

  void OnCancel() override {
    rpc::TakeFromGrpc(this);
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    MaybeFinish();
  }

  void OnDone() override {
    rpc::TakeFromGrpc(this);
    // gRPC calls OnDone after the stream's Finish, but orders the two only
    // inside its library: Finish may come from the outbox writer's thread
    // (OnWritten), and taking the stream's lock orders that thread's last
    // use of the stream (TakeFinishLocked) before the delete.
    { absl::MutexLock lock(&mu_); }
    delete this;
  }

 private:
  // Writer thread, outside any reaction: everything happens while pending_
  // still counts this submission; the decrement and Finish come last.
  void OnWritten(size_t slot, v1::ProtocolResult result) {
    bool resume = false;
    {
      absl::MutexLock lock(&mu_);
      results_[slot] = std::move(result);
      if (read_paused_ && !cancelled_) {
        read_paused_ = false;
        reading_ = true;
        resume = true;
      }
    }
    if (resume) {
      rpc::HandToGrpc(this);
      StartRead(&request_);
    }
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      --pending_;
      finish = TakeFinishLocked();
    }
    if (finish.has_value()) {
      rpc::HandToGrpc(this);
      Finish(*finish);
    }
  }

  void MaybeFinish() {
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      finish = TakeFinishLocked();
    }
    if (finish.has_value()) {
      rpc::HandToGrpc(this);
      Finish(*finish);
    }
  }

  std::optional<grpc::Status> TakeFinishLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || reading_ || pending_ > 0) return std::nullopt;
    if (!reads_done_ && !cancelled_) return std::nullopt;
    finished_ = true;
    if (cancelled_) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");
    }
    for (v1::ProtocolResult& result : results_) {
      service_->CountResult(result);
      switch (result.outcome()) {
        case v1::OUTCOME_ACCEPTED:
          response_->set_accepted(response_->accepted() + 1);
          break;
        case v1::OUTCOME_DUPLICATE:
          response_->set_duplicate(response_->duplicate() + 1);
          break;
        case v1::OUTCOME_STALE:
          response_->set_stale(response_->stale() + 1);
          break;
        default:
          response_->set_rejected(response_->rejected() + 1);
          break;
      }
      *response_->add_results() = std::move(result);
    }
    return grpc::Status::OK;
  }

  CollectorService* const service_;
  v1::SubmitStreamResponse* const response_;
  const security::StationClient* client_ = nullptr;
  v1::SubmitRequest request_;

  absl::Mutex mu_;
  std::vector<v1::ProtocolResult> results_ ABSL_GUARDED_BY(mu_);
  uint32_t pending_ ABSL_GUARDED_BY(mu_) = 0;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

CollectorService::CollectorService(const ElectionIndex* index,
                                   storage::CollectorStore* store,
                                   OutboxWriter* writer, Forwarder* forwarder,
                                   CollectorServiceOptions options)
    : index_(index),
      store_(store),
      writer_(writer),
      forwarder_(forwarder),
      options_(std::move(options)) {
  obs::MetricsRegistry* metrics = options_.metrics;
  if (metrics == nullptr) {
    private_metrics_ = std::make_unique<obs::MetricsRegistry>();
    metrics = private_metrics_.get();
  }
  constexpr char kHelp[] =
      "Protocols submitted to this collector, by verdict (accepted means "
      "durable in the outbox).";
  constexpr char kName[] = "tally_collector_protocols_total";
  accepted_ = metrics->AddCounter(kName, kHelp, {{"outcome", "accepted"}});
  duplicate_ = metrics->AddCounter(kName, kHelp, {{"outcome", "duplicate"}});
  stale_ = metrics->AddCounter(kName, kHelp, {{"outcome", "stale"}});
  rejected_ = metrics->AddCounter(kName, kHelp, {{"outcome", "rejected"}});
  unauthenticated_ = metrics->AddCounter(
      "tally_collector_unauthenticated_calls_total",
      "Calls refused for a missing or unknown station token.");
}

void CollectorService::CountResult(const v1::ProtocolResult& result) const {
  switch (result.outcome()) {
    case v1::OUTCOME_ACCEPTED:
      accepted_->Increment();
      break;
    case v1::OUTCOME_DUPLICATE:
      duplicate_->Increment();
      break;
    case v1::OUTCOME_STALE:
      stale_->Increment();
      break;
    default:
      rejected_->Increment();
      break;
  }
}

absl::StatusOr<const security::StationClient*> CollectorService::Authenticate(
    const grpc::CallbackServerContext* context) const {
  if (options_.station_tokens == nullptr) {
    return static_cast<const security::StationClient*>(nullptr);
  }
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  const absl::string_view value =
      it == metadata.end()
          ? absl::string_view()
          : absl::string_view(it->second.data(), it->second.size());
  absl::StatusOr<const security::StationClient*> client =
      options_.station_tokens->Authenticate(value);
  if (!client.ok()) {
    unauthenticated_->Increment();
    obs::LogWarning(
        "station client refused",
        {{"peer", context->peer()}, {"reason", client.status().message()}});
  }
  return client;
}

std::variant<Submission, v1::ProtocolResult> CollectorService::Prepare(
    const v1::SubmitRequest& request,
    const security::StationClient* client) const {
  if (!request.has_protocol()) {
    return Rejected(request.protocol(),
                    absl::InvalidArgumentError("protocol is required"));
  }
  const v1::StationProtocol& protocol = request.protocol();
  if (client != nullptr && !client->MaySubmit(protocol.station_id())) {
    return Rejected(protocol, absl::PermissionDeniedError(absl::StrCat(
                                  "station client \"", client->name,
                                  "\" may not submit for station_id ",
                                  protocol.station_id())));
  }
  ProtocolVerdict verdict =
      ValidateProtocol(*index_, protocol, {options_.region_id});
  if (!verdict.accepted()) {
    v1::ProtocolResult result = Rejected(protocol, verdict.status);
    for (v1::Finding& finding : verdict.findings) {
      *result.add_findings() = std::move(finding);
    }
    return result;
  }
  Submission submission;
  submission.protocol = protocol;
  submission.protocol.set_submitted_by(client != nullptr ? client->name
                                                         : kAnonymousSubmitter);
  submission.protocol.set_digest(ProtocolDigest(submission.protocol));
  const ContestInfo* contest = index_->FindContest(protocol.contest_id());
  submission.key = storage::ProtocolKey{static_cast<uint16_t>(contest->index),
                                        protocol.station_id()};
  submission.findings = std::move(verdict.findings);
  return submission;
}

grpc::ServerUnaryReactor* CollectorService::Submit(
    grpc::CallbackServerContext* context, const v1::SubmitRequest* request,
    v1::SubmitResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<const security::StationClient*> client = Authenticate(context);
  if (!client.ok()) {
    reactor->Finish(rpc::ToGrpc(client.status()));
    return reactor;
  }
  std::variant<Submission, v1::ProtocolResult> prepared =
      Prepare(*request, *client);
  if (auto* verdict = std::get_if<v1::ProtocolResult>(&prepared)) {
    CountResult(*verdict);
    *response->mutable_result() = *verdict;
    reactor->Finish(StatusOf(*verdict));
    return reactor;
  }
  Submission& submission = std::get<Submission>(prepared);
  submission.done = [this, reactor, response](v1::ProtocolResult result) {
    CountResult(result);
    const grpc::Status status = StatusOf(result);
    *response->mutable_result() = std::move(result);
    reactor->Finish(status);
  };
  std::vector<Submission> one;
  one.push_back(std::move(submission));
  if (!writer_->Enqueue(std::move(one))) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "the collector is shutting down"));
  }
  return reactor;
}

grpc::ServerReadReactor<v1::SubmitRequest>* CollectorService::SubmitStream(
    grpc::CallbackServerContext* context, v1::SubmitStreamResponse* response) {
  return new SubmitStreamReactor(this, response, Authenticate(context));
}

grpc::ServerUnaryReactor* CollectorService::GetCollectorStatus(
    grpc::CallbackServerContext* context, const v1::GetCollectorStatusRequest*,
    v1::CollectorStatus* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // The status is for the region's operators, who hold a token too.
  if (absl::StatusOr<const security::StationClient*> client =
          Authenticate(context);
      !client.ok()) {
    reactor->Finish(rpc::ToGrpc(client.status()));
    return reactor;
  }
  response->set_collector_id(options_.collector_id);
  response->set_region_id(options_.region_id);
  response->set_outbox_depth(store_->depth());
  response->set_last_seq(store_->last_seq());
  response->set_last_acked_seq(store_->acked_seq());
  response->set_aggregator_connected(forwarder_->connected());
  response->set_submit_rate(writer_->submit_rate().PerSecond());
  response->set_forward_rate(forwarder_->forward_rate().PerSecond());
  response->set_last_error(forwarder_->last_error());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace tally::collector

#include "services/aggregator/aggregator_service.h"

#include <deque>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/echo.h"
#include "services/domain/definition_digest.h"
#include "services/domain/protocol_digest.h"
#include "services/domain/scope_text.h"
#include "services/observability/structured_log.h"
#include "services/rpc/reactor_hand_off.h"
#include "services/rpc/replicas.h"
#include "services/rpc/status.h"
#include "storage/consistency_check.h"

namespace tally::aggregator {

namespace {

// Longest collector id a hello may carry.
constexpr size_t kMaxCollectorIdBytes = 128;

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context,
                                const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

grpc::Status ContestNotFound(const std::string& contest_id) {
  return grpc::Status(grpc::StatusCode::NOT_FOUND,
                      absl::StrCat("contest ", common::QuoteEcho(contest_id),
                                   " is not in the election"));
}

bool ScopeGiven(const v1::Scope& scope) {
  return scope.kind() != v1::SCOPE_KIND_UNSPECIFIED || !scope.id().empty();
}

}  // namespace

// One collector's Ingest stream. Reads a hello, then batches; each batch
// goes to the committer and is acknowledged when durable. At most
// max_inflight_batches are in the committer at once: beyond that the
// stream stops reading, so a fast collector is slowed by HTTP/2 flow
// control instead of growing memory. The reactor finishes only when no
// batch is in flight, so committer callbacks never outlive it.
class AggregatorService::IngestStream
    : public grpc::ServerBidiReactor<v1::IngestRequest, v1::IngestResponse> {
 public:
  IngestStream(
      AggregatorService* service, grpc::CallbackServerContext* context,
      std::optional<absl::StatusOr<security::CollectorIdentity>> identity)
      : service_(service),
        context_(context),
        peer_(context->peer()),
        identity_(std::move(identity)) {
    service_->open_streams_.fetch_add(1);
    grpc::Status refused(grpc::StatusCode::UNAVAILABLE,
                         "the aggregator is shutting down");
    {
      absl::MutexLock lock(&service_->streams_mu_);
      if (!service_->shutting_down_) {
        refused = CheckGate();
        if (refused.ok()) {
          service_->streams_.insert(this);
          rpc::HandToGrpc(this);
          StartRead(&request_);
          return;
        }
      }
    }
    finished_ = true;
    rpc::HandToGrpc(this);
    Finish(refused);
  }

  // From the shutdown path (or a replica losing the leadership): ends the
  // stream once its batches are answered. The caller holds streams_mu_,
  // which OnDone needs, so the stream outlives this call.
  void EndForShutdown(const grpc::Status& status) {
    EndWith(status, /*record=*/false);
  }

  void OnReadDone(bool ok) override {
    rpc::TakeFromGrpc(this);
    if (!ok) {  // the collector closed its side, or the call is gone
      EndWith(grpc::Status::OK);
      return;
    }
    if (!hello_done_) {
      HandleHello();
    } else if (request_.has_batch()) {
      HandleBatch();
    } else {
      EndWith(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                           request_.has_hello()
                               ? "hello was already received on this stream"
                               : "an Ingest message must be a hello or a "
                                 "batch"));
    }
  }

  void OnWriteDone(bool ok) override {
    rpc::TakeFromGrpc(this);
    bool start = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        writes_.clear();
        if (!finish_status_) {
          finish_status_ = grpc::Status(grpc::StatusCode::CANCELLED,
                                        "the collector went away");
        }
      } else if (!writes_.empty()) {
        current_write_ = std::move(writes_.front());
        writes_.pop_front();
        writing_ = start = true;
      }
    }
    if (start) {
      rpc::HandToGrpc(this);
      StartWrite(&current_write_);
    }
    MaybeFinish();
  }

  void OnCancel() override {
    rpc::TakeFromGrpc(this);
    EndWith(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
  }

  void OnDone() override {
    rpc::TakeFromGrpc(this);
    // gRPC calls OnDone after every other reaction, but orders them only
    // inside its library: taking the stream's lock orders the last
    // reaction's use of the stream (OnCancel's EndWith and MaybeFinish)
    // before the delete below.
    { absl::MutexLock lock(&mu_); }
    {
      absl::MutexLock lock(&service_->streams_mu_);
      service_->streams_.erase(this);
    }
    // Release: the service's destructor waits for the count with acquire.
    service_->open_streams_.fetch_sub(1, std::memory_order_release);
    delete this;
  }

 private:
  void HandleHello() {
    if (!request_.has_hello()) {
      EndWith(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                           "the first message of an Ingest stream must be a "
                           "hello"));
      return;
    }
    const v1::IngestHello& hello = request_.hello();
    if (grpc::Status bound = CheckIdentity(hello); !bound.ok()) {
      EndWith(bound);
      return;
    }
    if (hello.collector_id().empty()) {
      EndWith(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                           "hello.collector_id is required"));
      return;
    }
    // The id keys the collector's cursor and provenance: an identifier, not
    // a document.
    if (hello.collector_id().size() > kMaxCollectorIdBytes) {
      EndWith(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("hello.collector_id ",
                       common::QuoteEcho(hello.collector_id()),
                       " is longer than ", kMaxCollectorIdBytes, " bytes")));
      return;
    }
    if (service_->state_->index().FindRegion(hello.region_id()) == nullptr) {
      EndWith(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("hello.region_id ", common::QuoteEcho(hello.region_id()),
                       " is not a region of the election")));
      return;
    }
    // A follower (the leadership may have moved since the stream opened)
    // names the leader.
    if (grpc::Status gate = CheckGate(); !gate.ok()) {
      EndWith(gate, /*record=*/false);
      return;
    }
    // A degraded aggregator (its store takes no writes) refuses new work
    // at once, with the reason: the collector keeps its outbox and retries.
    if (absl::Status accepting = service_->sink_->Accepting();
        !accepting.ok()) {
      EndWith(rpc::ToGrpc(accepting), /*record=*/false);
      return;
    }
    collector_id_ = hello.collector_id();
    region_id_ = hello.region_id();
    hello_done_ = true;
    v1::IngestResponse welcome;
    {
      absl::ReaderMutexLock lock(&service_->state_->mu);
      welcome.mutable_welcome()->set_last_applied_seq(
          service_->state_->Cursor(collector_id_));
    }
    welcome.mutable_welcome()->set_epoch(
        service_->options_.current_epoch ? service_->options_.current_epoch()
                                         : service_->options_.epoch);
    welcome.mutable_welcome()->set_max_batch_entries(
        service_->options_.max_batch_entries);
    Send(std::move(welcome));
    rpc::HandToGrpc(this);
    StartRead(&request_);
  }

  // With mutual TLS the hello must claim what the certificate is bound
  // to; the stream's region then restricts every protocol (the committer
  // rejects a station of another region with PERMISSION_DENIED).
  grpc::Status CheckIdentity(const v1::IngestHello& hello) const {
    if (!identity_.has_value()) return grpc::Status::OK;
    if (!identity_->ok()) return rpc::ToGrpc(identity_->status());
    const security::CollectorIdentity& bound = **identity_;
    if (hello.region_id() != bound.region_id ||
        hello.collector_id() != bound.collector_id) {
      return grpc::Status(
          grpc::StatusCode::PERMISSION_DENIED,
          absl::StrCat("certificate identity \"", bound.identity,
                       "\" may submit only as collector \"", bound.collector_id,
                       "\" for region \"", bound.region_id,
                       "\", not as collector ",
                       common::QuoteEcho(hello.collector_id()), " for region ",
                       common::QuoteEcho(hello.region_id())));
    }
    return grpc::Status::OK;
  }

  void HandleBatch() {
    v1::IngestBatch& batch = *request_.mutable_batch();
    const uint32_t limit = service_->options_.max_batch_entries;
    if (static_cast<uint32_t>(batch.entries_size()) > limit) {
      EndWith(
          grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                       absl::StrCat("batch of ", batch.entries_size(),
                                    " entries exceeds the limit of ", limit)));
      return;
    }
    uint64_t previous = 0;
    for (int i = 0; i < batch.entries_size(); ++i) {
      const uint64_t seq = batch.entries(i).seq();
      if (seq == 0 || seq <= previous) {
        EndWith(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            absl::StrCat("entries[", i, "].seq ", seq,
                         " must be >= 1 and increase within a batch "
                         "(previous ",
                         previous, ")")));
        return;
      }
      previous = seq;
    }
    bool ending = false;
    {
      absl::MutexLock lock(&mu_);
      ending = finish_status_.has_value();
    }
    if (ending) {
      // After a refused batch the stream only drains: nothing more of it
      // may be committed (see IngestItem::stream_refused).
      MaybeFinish();
      return;
    }
    IngestItem item;
    item.stream_refused = stream_refused_;
    item.collector_id = collector_id_;
    item.region_id = region_id_;
    item.entries.assign(
        std::make_move_iterator(batch.mutable_entries()->begin()),
        std::make_move_iterator(batch.mutable_entries()->end()));
    const uint32_t size = static_cast<uint32_t>(item.entries.size());
    item.done = [this, size](const absl::Status& status, v1::IngestAck ack) {
      OnCommitted(status, size, std::move(ack));
    };
    bool read_more = false;
    {
      absl::MutexLock lock(&mu_);
      ++inflight_;
      inflight_protocols_ += size;
      read_more = ReadAllowedLocked(inflight_, inflight_protocols_);
      read_paused_ = !read_more;
    }
    // Enqueue validates and hashes the batch on this stream's thread, in
    // parallel with the committer working on earlier batches.
    if (absl::Status queued = service_->sink_->Enqueue(std::move(item));
        !queued.ok()) {
      {
        absl::MutexLock lock(&mu_);
        --inflight_;
        inflight_protocols_ -= size;
      }
      // Stopping, or a degraded store: the collector retries later.
      EndWith(rpc::ToGrpc(queued), /*record=*/false);
      return;
    }
    if (read_more) {
      rpc::HandToGrpc(this);
      StartRead(&request_);
    }
  }

  // Committer thread, outside any reaction: the stream may be finished and
  // deleted by a concurrent reaction as soon as nothing is in flight. So
  // everything here happens while inflight_ still counts this batch, and the
  // decrement, the decision to finish and Finish itself come last.
  // A batch that is not durable ends the stream with the reason (stopping,
  // or the storage failure) once nothing else is in flight; the collector
  // keeps the batch in its outbox and sends it again on a new stream.
  void OnCommitted(const absl::Status& status, uint32_t size,
                   v1::IngestAck ack) {
    if (status.ok()) {
      v1::IngestResponse response;
      *response.mutable_ack() = std::move(ack);
      Send(std::move(response));
    }
    bool resume_read = false;
    {
      absl::MutexLock lock(&mu_);
      if (!status.ok() && !finish_status_) finish_status_ = rpc::ToGrpc(status);
      if (read_paused_ && !finish_status_ &&
          ReadAllowedLocked(inflight_ - 1, inflight_protocols_ - size)) {
        read_paused_ = false;
        resume_read = true;
      }
    }
    if (resume_read) {
      rpc::HandToGrpc(this);
      StartRead(&request_);
    }
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      --inflight_;
      inflight_protocols_ -= size;
      finish = TakeFinishLocked();
    }
    if (finish.has_value()) {
      rpc::HandToGrpc(this);
      Finish(*finish);
    }
  }

  // Whether the stream may read another batch with this much in flight.
  bool ReadAllowedLocked(uint32_t batches, uint64_t protocols) const {
    return batches < service_->options_.max_inflight_batches &&
           protocols < service_->options_.max_inflight_protocols;
  }

  void Send(v1::IngestResponse response) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (writing_) {
        writes_.push_back(std::move(response));
        return;
      }
      writing_ = true;
      current_write_ = std::move(response);
    }
    rpc::HandToGrpc(this);
    StartWrite(&current_write_);
  }

  // `record`: count and log a refusal (not for shutdown or a degraded
  // store, which say so in their own log lines).
  void EndWith(const grpc::Status& status, bool record = true) {
    bool decided = false;
    {
      absl::MutexLock lock(&mu_);
      if (!finish_status_) {
        finish_status_ = status;
        decided = true;
      }
    }
    // Shutdown's UNAVAILABLE is routine; anything else is worth a line.
    if (decided && record && !status.ok() &&
        status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      service_->RecordStreamError(status, peer_, collector_id_);
    }
    MaybeFinish();
  }

  // The status to finish with once a status is decided, nothing is in the
  // committer and every acknowledgement has been written; nullopt before.
  std::optional<grpc::Status> TakeFinishLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || !finish_status_ || inflight_ > 0 || writing_ ||
        !writes_.empty()) {
      return std::nullopt;
    }
    finished_ = true;
    return *finish_status_;
  }

  // Only from reactions (gRPC runs OnDone after they return) or with the
  // stream otherwise kept alive.
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

  // Replicas: OK when this one leads; else the refusal, with the leader's
  // address added to the trailing metadata.
  grpc::Status CheckGate() {
    if (!service_->options_.ingest_gate) return grpc::Status::OK;
    std::string leader;
    absl::Status gate = service_->options_.ingest_gate(&leader);
    if (gate.ok()) return grpc::Status::OK;
    if (!leader.empty()) {
      context_->AddTrailingMetadata(rpc::kLeaderMetadata, leader);
    }
    return rpc::ToGrpc(gate);
  }

  AggregatorService* const service_;
  grpc::CallbackServerContext* const context_;
  v1::IngestRequest request_;
  bool hello_done_ = false;  // reader side only
  // With mutual TLS: who the client certificate says the caller is.
  const std::string peer_;
  const std::optional<absl::StatusOr<security::CollectorIdentity>> identity_;
  std::string collector_id_;
  std::string region_id_;
  const std::shared_ptr<bool> stream_refused_ = std::make_shared<bool>(false);

  absl::Mutex mu_;
  v1::IngestResponse current_write_;
  std::deque<v1::IngestResponse> writes_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t inflight_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t inflight_protocols_ ABSL_GUARDED_BY(mu_) = 0;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> finish_status_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

AggregatorService::AggregatorService(AggregatorState* state,
                                     storage::AggregatorStore* store,
                                     IngestSink* sink, ServiceOptions options)
    : state_(state),
      store_(store),
      sink_(sink),
      options_(options),
      definition_digest_(
          !options_.definition_digest.empty()
              ? options_.definition_digest
              : DefinitionDigest(state->index().definition()).value_or("")),
      metrics_(options.metrics) {
  if (metrics_ == nullptr) {
    private_metrics_ = std::make_unique<obs::MetricsRegistry>();
    metrics_ = private_metrics_.get();
  }
}

AggregatorService::~AggregatorService() {
  // Pairs with each stream's release in OnDone (the last thing it does
  // with the service), so the service's memory outlives every stream.
  while (open_streams_.load(std::memory_order_acquire) != 0) {
    std::this_thread::yield();
  }
}

void AggregatorService::RecordStreamError(const grpc::Status& status,
                                          absl::string_view peer,
                                          absl::string_view collector_id) {
  // A fixed set of label values: one series per refusal kind, the rest
  // counted together.
  std::string code = "OTHER";
  switch (status.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::FAILED_PRECONDITION:
      code = rpc::CodeName(status.error_code());
      break;
    default:
      break;
  }
  metrics_
      ->AddCounter("tally_ingest_streams_refused_total",
                   "Ingest streams ended with an error, by gRPC code "
                   "(identity refusals, malformed streams).",
                   {{"code", code}})
      ->Increment();
  obs::LogWarning("ingest stream refused",
                  {{"code", code},
                   {"peer", peer},
                   {"collector", common::Echo(collector_id)},
                   {"reason", status.error_message()}});
}

grpc::ServerBidiReactor<v1::IngestRequest, v1::IngestResponse>*
AggregatorService::Ingest(grpc::CallbackServerContext* context) {
  // The certificate is known when the call arrives; the hello is checked
  // against it when it is read.
  std::optional<absl::StatusOr<security::CollectorIdentity>> identity;
  if (options_.collector_identities != nullptr) {
    identity =
        options_.collector_identities->Authorize(context->auth_context().get());
  }
  return new IngestStream(this, context, std::move(identity));
}

void AggregatorService::EndIngestStreams() {
  absl::MutexLock lock(&streams_mu_);
  shutting_down_ = true;
  const grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                            "the aggregator is shutting down");
  for (IngestStream* stream : streams_) stream->EndForShutdown(status);
}

void AggregatorService::EndIngestStreamsWith(const absl::Status& status) {
  absl::MutexLock lock(&streams_mu_);
  for (IngestStream* stream : streams_)
    stream->EndForShutdown(rpc::ToGrpc(status));
}

grpc::ServerUnaryReactor* AggregatorService::GetReplicaStatus(
    grpc::CallbackServerContext* context, const v1::GetReplicaStatusRequest*,
    v1::ReplicaStatus* response) {
  if (options_.replica_status) {
    *response = options_.replica_status();
  } else {
    response->set_replica_id("single-node");
    response->set_role(v1::ReplicaStatus::LEADER);
    response->set_epoch(0);
    response->set_leader_replica_id("single-node");
    response->set_ingest_streams(open_streams_.load());
    absl::ReaderMutexLock lock(&state_->mu);
    response->set_applied_revision(state_->revision());
  }
  return Reply(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* AggregatorService::GetResults(
    grpc::CallbackServerContext* context, const v1::GetResultsRequest* request,
    v1::GetResultsResponse* response) {
  const ElectionIndex& index = state_->index();
  std::vector<const ContestInfo*> contests;
  if (!request->contest_id().empty()) {
    const ContestInfo* contest = index.FindContest(request->contest_id());
    if (contest == nullptr) {
      return Reply(context, ContestNotFound(request->contest_id()));
    }
    contests.push_back(contest);
  } else {
    for (const ContestInfo& contest : index.contests()) {
      contests.push_back(&contest);
    }
  }
  const bool scope_given = ScopeGiven(request->scope());
  absl::ReaderMutexLock lock(&state_->mu);
  const TotalsBook& totals = state_->totals_view();
  // A past revision's figures come from the results history; the current
  // revision's are the live ones either way.
  const ResultsHistory& history = state_->results_history_view();
  const uint64_t at = request->revision();
  const bool pinned = at != 0 && at != state_->revision();
  if (pinned && (at < history.oldest() || at > history.newest())) {
    return Reply(
        context,
        grpc::Status(
            grpc::StatusCode::NOT_FOUND,
            at > history.newest()
                ? absl::StrCat("revision ", at,
                               " is not committed yet (the current revision "
                               "is ",
                               history.newest(), ")")
                : absl::StrCat("the results of revision ", at,
                               " are no longer kept: this aggregator keeps "
                               "revisions ",
                               history.oldest(), " to ", history.newest(),
                               " (--retained_results ", history.retained(),
                               ", none from before its start)")));
  }
  for (const ContestInfo* contest : contests) {
    const uint32_t own = totals.ContestEntry(contest->index);
    std::vector<uint32_t> entries;
    if (request->all_scopes()) {
      entries = totals.EntriesOf(contest->index);
    } else if (scope_given) {
      std::optional<uint32_t> entry =
          totals.Find(contest->contest->id(), request->scope());
      if (!entry.has_value()) {
        if (request->contest_id().empty()) continue;  // not this contest's
        return Reply(
            context,
            grpc::Status(
                grpc::StatusCode::NOT_FOUND,
                absl::StrCat("contest \"", request->contest_id(),
                             "\" has no totals for scope ",
                             common::Echo(ScopeText(request->scope())))));
      }
      entries.push_back(*entry);
    } else {
      entries.push_back(own);
    }
    for (uint32_t entry : entries) {
      v1::ContestResults* results = response->add_results();
      *results->mutable_totals() =
          pinned ? history.TotalsAt(entry, at) : totals.ToProto(entry);
      if (entry == own) {
        *results->mutable_allocation() =
            pinned ? history.AllocationAt(contest->index, at)
                   : state_->allocation(contest->index);
      }
    }
  }
  response->set_revision(pinned ? at : state_->revision());
  return Reply(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* AggregatorService::GetForensics(
    grpc::CallbackServerContext* context,
    const v1::GetForensicsRequest* request,
    v1::GetForensicsResponse* response) {
  if (!state_->forensics_enabled()) {
    return Reply(context,
                 grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                              "this aggregator keeps no election forensics "
                              "(it runs with --forensics=false)"));
  }
  const ElectionIndex& index = state_->index();
  const ContestInfo* contest = nullptr;
  if (request->contest_id().empty()) {
    if (index.contests().empty()) {
      return Reply(context, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                         "the election has no contests"));
    }
    contest = &index.contests().front();
  } else {
    contest = index.FindContest(request->contest_id());
    if (contest == nullptr) {
      return Reply(context, ContestNotFound(request->contest_id()));
    }
  }
  absl::ReaderMutexLock lock(&state_->mu);
  const TotalsBook& totals = state_->totals_view();
  uint32_t entry = totals.ContestEntry(contest->index);
  if (ScopeGiven(request->scope())) {
    std::optional<uint32_t> found =
        totals.Find(contest->contest->id(), request->scope());
    if (!found.has_value()) {
      return Reply(
          context,
          grpc::Status(
              grpc::StatusCode::NOT_FOUND,
              absl::StrCat("contest \"", contest->contest->id(),
                           "\" has no scope ",
                           common::Echo(ScopeText(request->scope())))));
    }
    entry = *found;
  }
  *response->mutable_forensics() = state_->Forensics(entry);
  for (const v1::ForensicsFlag& flag : state_->forensics_flags(entry)) {
    *response->add_flags() = flag;
  }
  for (v1::ScopeFlags& flagged : state_->FlaggedScopes()) {
    *response->add_flagged_scopes() = std::move(flagged);
  }
  return Reply(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* AggregatorService::GetStation(
    grpc::CallbackServerContext* context, const v1::GetStationRequest* request,
    v1::GetStationResponse* response) {
  const ElectionIndex& index = state_->index();
  const v1::PollingStation* station = index.FindStation(request->station_id());
  if (station == nullptr) {
    return Reply(context,
                 grpc::Status(grpc::StatusCode::NOT_FOUND,
                              absl::StrCat("station ", request->station_id(),
                                           " is not in the election")));
  }
  std::vector<const ContestInfo*> contests;
  if (!request->contest_id().empty()) {
    const ContestInfo* contest = index.FindContest(request->contest_id());
    if (contest == nullptr) {
      return Reply(context, ContestNotFound(request->contest_id()));
    }
    if (!index.StationVotesIn(*station, *contest->contest)) {
      return Reply(context,
                   grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                absl::StrCat("station ", station->id(),
                                             " does not vote in contest \"",
                                             request->contest_id(), "\"")));
    }
    contests.push_back(contest);
  } else {
    for (const ContestInfo& contest : index.contests()) {
      if (index.StationVotesIn(*station, *contest.contest)) {
        contests.push_back(&contest);
      }
    }
  }
  *response->mutable_station() = *station;
  for (const ContestInfo* contest : contests) {
    const storage::ProtocolKey key{static_cast<uint16_t>(contest->index),
                                   station->id()};
    v1::StationContestHistory* history = response->add_contests();
    history->set_contest_id(contest->contest->id());
    {
      absl::ReaderMutexLock lock(&state_->mu);
      const storage::LatestValue* latest = state_->FindLatest(key);
      history->set_current_version(latest != nullptr ? latest->version : 0);
      response->set_revision(state_->revision());
    }
    absl::StatusOr<std::vector<v1::ProtocolVersion>> versions =
        store_->History(key);
    if (!versions.ok()) return Reply(context, rpc::ToGrpc(versions.status()));
    for (v1::ProtocolVersion& version : *versions) {
      *history->add_versions() = std::move(version);
    }
  }
  return Reply(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* AggregatorService::GetElection(
    grpc::CallbackServerContext* context, const v1::GetElectionRequest* request,
    v1::GetElectionResponse* response) {
  const ElectionIndex& index = state_->index();
  *response->mutable_definition() = index.definition();
  if (!request->include_stations()) {
    response->mutable_definition()->clear_stations();
  }
  response->set_definition_digest(definition_digest_);
  response->set_station_count(index.definition().stations_size());
  response->set_registered_voters(index.registered_voters());
  absl::ReaderMutexLock lock(&state_->mu);
  response->set_revision(state_->revision());
  return Reply(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* AggregatorService::Verify(
    grpc::CallbackServerContext* context, const v1::VerifyRequest*,
    v1::VerifyResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Reading every protocol takes a while: not on a gRPC callback thread.
  // The reader lock keeps the committer out, so the store does not move
  // under the check.
  std::thread([this, reactor, response] {
    grpc::Status status;
    {
      absl::ReaderMutexLock lock(&state_->mu);
      absl::StatusOr<storage::VerifyReport> report =
          storage::VerifyStore(*store_, state_->index());
      if (!report.ok()) {
        status = rpc::ToGrpc(report.status());
      } else {
        response->set_revision(report->revision);
        response->set_protocol_versions(report->protocol_versions);
        response->set_protocols_counted(report->protocols_counted);
        response->set_totals_compared(report->totals_compared);
        for (const std::string& difference : report->differences) {
          response->add_differences(difference);
        }
      }
    }
    // Finish only after the lock is released: once the call is finished
    // the server may shut down and free the state (and its lock).
    reactor->Finish(status);
  }).detach();
  return reactor;
}

}  // namespace tally::aggregator

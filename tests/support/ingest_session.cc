#include "tests/support/ingest_session.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/rpc/channel.h"
#include "services/rpc/status.h"

namespace tally::testing {

absl::StatusOr<std::unique_ptr<IngestSession>> IngestSession::Open(
    const std::string& address, const std::string& collector_id,
    const std::string& region_id, absl::Duration deadline,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  std::unique_ptr<IngestSession> session(new IngestSession());
  session->channel_ =
      rpc::MakeChannel(address, {.credentials = std::move(credentials)});
  session->stub_ = v1::Aggregator::NewStub(session->channel_);
  session->context_.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  session->stream_ = session->stub_->Ingest(&session->context_);
  v1::IngestRequest hello;
  hello.mutable_hello()->set_collector_id(collector_id);
  hello.mutable_hello()->set_region_id(region_id);
  v1::IngestResponse response;
  if (!session->stream_->Write(hello) || !session->stream_->Read(&response)) {
    session->closed_ = true;
    return rpc::FromGrpc(session->stream_->Finish());
  }
  if (!response.has_welcome()) {
    return absl::InternalError("first Ingest response is not a welcome");
  }
  session->welcome_ = response.welcome();
  return session;
}

IngestSession::~IngestSession() {
  if (stream_ == nullptr || closed_) return;
  context_.TryCancel();
  stream_->Finish();
}

absl::StatusOr<v1::IngestAck> IngestSession::Send(
    const v1::IngestBatch& batch) {
  v1::IngestRequest request;
  *request.mutable_batch() = batch;
  v1::IngestResponse response;
  if (!stream_->Write(request) || !stream_->Read(&response)) {
    closed_ = true;
    grpc::Status status = stream_->Finish();
    if (status.ok()) return absl::UnavailableError("stream ended without ack");
    return rpc::FromGrpc(status);
  }
  if (!response.has_ack()) {
    return absl::InternalError("Ingest response is not an ack");
  }
  return response.ack();
}

absl::StatusOr<v1::IngestAck> IngestSession::Send(
    const std::vector<v1::OutboxEntry>& entries) {
  v1::IngestBatch batch;
  for (const v1::OutboxEntry& entry : entries) *batch.add_entries() = entry;
  return Send(batch);
}

grpc::Status IngestSession::SendRawAndFinish(const v1::IngestRequest& request) {
  stream_->Write(request);
  stream_->WritesDone();
  v1::IngestResponse response;
  while (stream_->Read(&response)) {
  }
  closed_ = true;
  return stream_->Finish();
}

grpc::Status IngestSession::Close() {
  if (closed_) return grpc::Status::OK;
  closed_ = true;
  stream_->WritesDone();
  v1::IngestResponse response;
  while (stream_->Read(&response)) {
  }
  return stream_->Finish();
}

Feeder::Feeder(std::string address, const ElectionIndex* index,
               absl::Duration deadline)
    : address_(std::move(address)), index_(index), deadline_(deadline) {}

absl::StatusOr<uint64_t> Feeder::SendOne(const v1::StationProtocol& protocol) {
  const v1::PollingStation* station =
      index_->FindStation(protocol.station_id());
  if (station == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("station ", protocol.station_id(), " is unknown"));
  }
  Session& session = sessions_[station->region_id()];
  if (session.session == nullptr) {
    absl::StatusOr<std::unique_ptr<IngestSession>> opened =
        IngestSession::Open(address_, "collector-" + station->region_id(),
                            station->region_id(), deadline_);
    if (!opened.ok()) return opened.status();
    session.session = *std::move(opened);
    session.next_seq = session.session->welcome().last_applied_seq() + 1;
  }
  absl::StatusOr<v1::IngestAck> ack =
      session.session->Send(Entries({protocol}, session.next_seq));
  if (!ack.ok()) return ack.status();
  ++session.next_seq;
  if (ack->results_size() != 1 ||
      ack->results(0).outcome() != v1::OUTCOME_ACCEPTED) {
    return absl::InternalError(
        absl::StrCat("not accepted: ", ack->ShortDebugString()));
  }
  return ack->revision();
}

std::vector<v1::OutboxEntry> Entries(
    const std::vector<v1::StationProtocol>& protocols, uint64_t first_seq) {
  std::vector<v1::OutboxEntry> entries;
  entries.reserve(protocols.size());
  for (const v1::StationProtocol& protocol : protocols) {
    v1::OutboxEntry entry;
    entry.set_seq(first_seq++);
    *entry.mutable_protocol() = protocol;
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::unique_ptr<grpc::ClientContext> DeadlineContext(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

grpc::Status RawIngest(const std::string& address,
                       const std::vector<v1::IngestRequest>& requests,
                       absl::Duration deadline,
                       std::vector<v1::IngestResponse>* responses) {
  auto stub = v1::Aggregator::NewStub(rpc::MakeChannel(address));
  std::unique_ptr<grpc::ClientContext> context = DeadlineContext(deadline);
  auto stream = stub->Ingest(context.get());
  for (const v1::IngestRequest& request : requests) {
    // A failed write means the server already ended the stream; its
    // status is what Finish reports.
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  v1::IngestResponse response;
  while (stream->Read(&response)) {
    if (responses != nullptr) responses->push_back(response);
  }
  return stream->Finish();
}

}  // namespace tally::testing

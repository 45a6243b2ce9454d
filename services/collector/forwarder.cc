#include "services/collector/forwarder.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/observability/structured_log.h"
#include "services/rpc/channel.h"
#include "services/rpc/status.h"
#include "services/rpc/unreachable.h"

namespace tally::collector {
// One Ingest stream. The session thread writes batches; a reader thread
// takes the welcome and the acknowledgements. Both share the forwarder's
// mutex and condition variable.
struct Forwarder::Session {
  grpc::ClientReaderWriter<v1::IngestRequest, v1::IngestResponse>* stream =
      nullptr;
  grpc::ClientContext* context = nullptr;
  bool welcomed = false;
  uint64_t last_applied = 0;
  uint32_t max_batch = 0;
  // Last sequence of each batch sent and not yet acknowledged.
  std::deque<uint64_t> inflight;
  absl::Time last_progress;
  bool reader_done = false;
  absl::Status reader_error;
};

Forwarder::Forwarder(storage::CollectorStore* store, ForwarderOptions options)
    : store_(store),
      options_(std::move(options)),
      // The forwarder runs its own backoff; the channels' must not hold a
      // restarted aggregator back for longer than that.
      aggregators_(
          rpc::ParseAddressList(options_.aggregator_address, "--aggregator")
              .value_or(std::vector<std::string>{options_.aggregator_address}),
          {.credentials = options_.credentials,
           .max_message_bytes = options_.max_message_bytes,
           .min_reconnect_backoff = options_.initial_backoff,
           .max_reconnect_backoff = options_.max_backoff}),
      random_(std::random_device{}()) {}

Forwarder::~Forwarder() { Stop(); }

void Forwarder::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Forwarder::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (current_ != nullptr) current_->TryCancel();
    wake_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void Forwarder::Notify() {
  absl::MutexLock lock(&mu_);
  wake_.SignalAll();
}

std::string Forwarder::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

void Forwarder::SetError(const absl::Status& status, bool welcomed,
                         const rpc::Replicas::Target& target) {
  std::string error = status.ok() ? "" : status.ToString();
  {
    absl::MutexLock lock(&mu_);
    // Logged on change only: a collector retrying against an aggregator
    // that is down writes one line, not one per attempt.
    const bool changed =
        status.ok() ? !forwarding_logged_ : error != last_error_;
    last_error_ = error;
    forwarding_logged_ = status.ok();
    if (!changed) return;
  }
  if (status.ok()) {
    obs::LogInfo("forwarding to the aggregator",
                 {{"aggregator", target.address},
                  {"acked_seq", store_->acked_seq()},
                  {"outbox_depth", store_->depth()}});
    return;
  }
  // Never welcomed: the aggregator may not be there at all. Say where the
  // collector looked and what to check.
  const std::optional<rpc::Unreachable> unreachable =
      welcomed ? std::nullopt
               : rpc::Diagnose(rpc::ToGrpc(status), target.channel.get());
  const std::string message =
      unreachable.has_value()
          ? absl::StrCat(
                rpc::NoServerAt("aggregator", target.address, *unreachable),
                "; will retry: ",
                rpc::UpstreamHint(*unreachable, "--aggregator"))
          : "aggregator stream failed, will retry";
  obs::LogWarning(message, {{"aggregator", target.address},
                            {"code", absl::StatusCodeToString(status.code())},
                            {"reason", status.message()},
                            {"outbox_depth", store_->depth()}});
}

bool Forwarder::Sleep(absl::Duration delay) {
  const absl::Time deadline = absl::Now() + delay;
  absl::MutexLock lock(&mu_);
  while (!stopping_ && absl::Now() < deadline) {
    wake_.WaitWithDeadline(&mu_, deadline);
  }
  return !stopping_;
}

void Forwarder::Run() {
  absl::Duration backoff = options_.initial_backoff;
  while (true) {
    bool welcomed = false;
    After next = After::kBackOff;
    const rpc::Replicas::Target target = aggregators_.Current();
    absl::Status status = RunSession(&welcomed, &next);
    connected_ = false;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (status.ok()) {
      status = absl::UnavailableError("the aggregator ended the stream");
    }
    SetError(status, welcomed, target);
    // Redirected to the leader, or another replica still to try: at once.
    if (next == After::kRetryNow) {
      if (!Sleep(absl::Milliseconds(20))) return;
      continue;
    }
    // A stream that worked ended: reconnect promptly; repeated failures to
    // connect back off exponentially, with jitter so that the collectors
    // of every region do not reconnect in lockstep.
    // A replica that answered (even to refuse: no leader elected yet) is
    // no reason to wait long: a failover takes seconds.
    if (welcomed || absl::IsFailedPrecondition(status)) {
      backoff = options_.initial_backoff;
    }
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    if (!Sleep(backoff * jitter(random_))) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void Forwarder::ReadAcks(Session* session) {
  v1::IngestResponse response;
  while (session->stream->Read(&response)) {
    if (response.has_welcome()) {
      absl::MutexLock lock(&mu_);
      session->welcomed = true;
      session->last_applied = response.welcome().last_applied_seq();
      session->max_batch = response.welcome().max_batch_entries();
      session->last_progress = absl::Now();
      wake_.SignalAll();
      continue;
    }
    if (!response.has_ack()) continue;
    const uint64_t durable = response.ack().durable_seq();
    const uint64_t before = store_->acked_seq();
    absl::Status acked = store_->AckUpTo(durable);
    absl::MutexLock lock(&mu_);
    if (!acked.ok()) {
      session->reader_error = acked;
      session->context->TryCancel();
      continue;  // Read now fails and ends the loop
    }
    if (durable > before) forward_rate_.Add(durable - before);
    if (!session->inflight.empty()) session->inflight.pop_front();
    while (!session->inflight.empty() && session->inflight.front() <= durable) {
      session->inflight.pop_front();
    }
    session->last_progress = absl::Now();
    wake_.SignalAll();
  }
  absl::MutexLock lock(&mu_);
  session->reader_done = true;
  wake_.SignalAll();
}

absl::Status Forwarder::RunSession(bool* welcomed, After* next) {
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::OkStatus();
    current_ = &context;
  }
  const rpc::Replicas::Target target = aggregators_.Current();
  std::unique_ptr<v1::Aggregator::Stub> stub =
      v1::Aggregator::NewStub(target.channel);
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::IngestRequest, v1::IngestResponse>>
      stream = stub->Ingest(&context);
  Session session;
  session.stream = stream.get();
  session.context = &context;
  std::thread reader([this, &session] { ReadAcks(&session); });

  absl::Status result = absl::OkStatus();
  v1::IngestRequest hello;
  hello.mutable_hello()->set_collector_id(options_.collector_id);
  hello.mutable_hello()->set_region_id(options_.region_id);
  const bool hello_sent = stream->Write(hello);
  // The stream ended on its own (a failed write, or the reader saw its
  // end): Finish then reports the real cause, which a cancel would hide.
  bool broken = !hello_sent;

  uint64_t sent = 0;
  uint32_t max_batch = options_.max_batch_entries;
  bool got_welcome = false;
  if (hello_sent) {
    const absl::Time deadline = absl::Now() + options_.welcome_timeout;
    absl::MutexLock lock(&mu_);
    while (!stopping_ && !session.welcomed && !session.reader_done &&
           absl::Now() < deadline) {
      wake_.WaitWithDeadline(&mu_, deadline);
    }
    if (!session.welcomed && !stopping_ && !session.reader_done) {
      result = absl::DeadlineExceededError(absl::StrCat(
          "no welcome from the aggregator at ", target.address, " within ",
          absl::FormatDuration(options_.welcome_timeout)));
    }
    if (session.welcomed) {
      got_welcome = true;
      sent = session.last_applied;
      if (session.max_batch > 0) {
        max_batch = std::min(max_batch, session.max_batch);
      }
    }
  }
  if (got_welcome && result.ok()) {
    *welcomed = true;
    result = store_->AckUpTo(sent);
    if (result.ok()) {
      sent = std::max(sent, store_->acked_seq());
      connected_ = true;
      aggregators_.Succeeded(target.address);
      SetError(absl::OkStatus(), true, target);
      result = [&]() -> absl::Status {
        while (true) {
          {
            absl::MutexLock lock(&mu_);
            while (true) {
              if (stopping_) return absl::OkStatus();
              if (session.reader_done) {
                broken = true;
                return absl::OkStatus();
              }
              if (!session.inflight.empty() &&
                  absl::Now() - session.last_progress > options_.ack_timeout) {
                return absl::DeadlineExceededError(absl::StrCat(
                    "no acknowledgement from the aggregator within ",
                    absl::FormatDuration(options_.ack_timeout)));
              }
              if (session.inflight.size() < options_.max_inflight_batches &&
                  store_->last_seq() > sent) {
                break;
              }
              // Notify (new entries) and the reader (acks) signal; the
              // timeout only bounds how late a stalled ack is noticed.
              wake_.WaitWithTimeout(&mu_, absl::Milliseconds(500));
            }
          }
          sent = std::max(sent, store_->acked_seq());
          absl::StatusOr<std::vector<v1::OutboxEntry>> entries =
              store_->ReadFrom(sent, max_batch);
          if (!entries.ok()) return entries.status();
          if (entries->empty()) {
            if (store_->last_seq() <= sent) continue;
            return absl::DataLossError(
                absl::StrCat("the outbox has no entry after ", sent,
                             " but its last is ", store_->last_seq()));
          }
          v1::IngestRequest request;
          v1::IngestBatch* batch = request.mutable_batch();
          const uint64_t last = entries->back().seq();
          for (v1::OutboxEntry& entry : *entries) {
            *batch->add_entries() = std::move(entry);
          }
          {
            absl::MutexLock lock(&mu_);
            if (session.inflight.empty()) session.last_progress = absl::Now();
            session.inflight.push_back(last);
          }
          if (!stream->Write(request)) {
            broken = true;
            return absl::OkStatus();
          }
          sent = last;
        }
      }();
    }
  }

  // Abandon the stream: whatever is unacknowledged stays in the outbox. A
  // broken stream's reader ends by itself (bounded wait, then cancel), so
  // that Finish returns the transport's or the aggregator's status instead
  // of CANCELLED.
  bool cancel = true;
  {
    absl::MutexLock lock(&mu_);
    if (broken) {
      const absl::Time deadline = absl::Now() + absl::Seconds(5);
      while (!session.reader_done && absl::Now() < deadline) {
        wake_.WaitWithDeadline(&mu_, deadline);
      }
    }
    cancel = !session.reader_done;
  }
  if (cancel) context.TryCancel();
  reader.join();
  const grpc::Status finished = stream->Finish();
  {
    absl::MutexLock lock(&mu_);
    current_ = nullptr;
    if (stopping_) return absl::OkStatus();
  }
  connected_ = false;
  // A follower names the leader: go there now. Otherwise the next replica,
  // at once while the list has one left to try in this round.
  const std::string leader = aggregators_.Follow(context);
  if (!leader.empty()) {
    *next = After::kRetryNow;
    obs::LogInfo("following the aggregator leader",
                 {{"from", target.address}, {"leader", leader}});
  } else if (!aggregators_.Next(target.address)) {
    *next = After::kRetryNow;
  }
  if (!result.ok()) return result;
  if (!session.reader_error.ok()) return session.reader_error;
  if (!finished.ok()) return rpc::FromGrpc(finished);
  return absl::UnavailableError("the aggregator ended the stream");
}

}  // namespace tally::collector

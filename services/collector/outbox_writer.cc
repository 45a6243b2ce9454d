#include "services/collector/outbox_writer.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/status_copy.h"
#include "services/domain/protocol_digest.h"
#include "services/observability/structured_log.h"

namespace tally::collector {
namespace {

// Upper bound on submissions written in one WriteBatch.
constexpr size_t kMaxRound = 4096;

std::array<uint8_t, 32> DigestArray(const std::string& bytes) {
  std::array<uint8_t, 32> out{};
  for (size_t i = 0; i < out.size() && i < bytes.size(); ++i) {
    out[i] = static_cast<uint8_t>(bytes[i]);
  }
  return out;
}

v1::ProtocolResult ResultFor(const v1::StationProtocol& protocol) {
  v1::ProtocolResult result;
  result.set_contest_id(protocol.contest_id());
  result.set_station_id(protocol.station_id());
  result.set_version(protocol.version());
  return result;
}

void Reject(v1::ProtocolResult* result, const absl::Status& status) {
  result->set_outcome(v1::OUTCOME_REJECTED);
  result->set_status_code(static_cast<int32_t>(status.code()));
  result->set_message(std::string(status.message()));
}

}  // namespace

RateMeter::RateMeter(int window_seconds)
    : window_(std::max(1, window_seconds)), buckets_(window_, 0) {}

void RateMeter::AdvanceLocked(int64_t second) const {
  if (second <= current_second_) return;
  const int64_t steps = std::min<int64_t>(second - current_second_, window_);
  for (int64_t i = 1; i <= steps; ++i) {
    buckets_[(current_second_ + i) % window_] = 0;
  }
  current_second_ = second;
}

void RateMeter::Add(uint64_t count, absl::Time now) {
  absl::MutexLock lock(&mu_);
  const int64_t second = absl::ToUnixSeconds(now);
  AdvanceLocked(second);
  if (second < current_second_ - window_ + 1) return;  // too old to count
  buckets_[second % window_] += count;
}

double RateMeter::PerSecond(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  AdvanceLocked(absl::ToUnixSeconds(now));
  uint64_t sum = 0;
  for (uint64_t bucket : buckets_) sum += bucket;
  return static_cast<double>(sum) / window_;
}

absl::StatusOr<std::unique_ptr<OutboxWriter>> OutboxWriter::Create(
    storage::CollectorStore* store, std::function<void()> on_append) {
  std::unique_ptr<OutboxWriter> writer(
      new OutboxWriter(store, std::move(on_append)));
  absl::Status loaded =
      store->ForEachLatest([&](const storage::ProtocolKey& key,
                               const storage::CollectorLatest& value) {
        writer->latest_[key] = value;
        return absl::OkStatus();
      });
  if (!loaded.ok()) return loaded;
  return writer;
}

void OutboxWriter::NoteWrite(const absl::Status& status) {
  {
    absl::MutexLock lock(&health_mu_);
    const bool was_failing = !write_status_.ok();
    write_status_ = status;
    if (status.ok() == !was_failing) return;  // no change
  }
  write_failing_ = !status.ok();
  if (status.ok()) {
    obs::LogInfo("outbox writes again: submissions are accepted",
                 {{"outbox_depth", store_->depth()}});
  } else {
    obs::LogError(
        "outbox write failed: submissions are refused until it takes "
        "writes again (nothing refused was acknowledged)",
        {{"code", absl::StatusCodeToString(status.code())},
         {"reason", status.message()}});
  }
}

absl::Status OutboxWriter::write_status() const {
  absl::MutexLock lock(&health_mu_);
  // The writer thread replaces write_status_ while the admin endpoint
  // still reads its copy.
  return DetachedCopy(write_status_);
}

OutboxWriter::OutboxWriter(storage::CollectorStore* store,
                           std::function<void()> on_append)
    : store_(store), on_append_(std::move(on_append)) {}

OutboxWriter::~OutboxWriter() { Stop(); }

void OutboxWriter::Start() {
  thread_ = std::thread([this] { Run(); });
}

void OutboxWriter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool OutboxWriter::Enqueue(std::vector<Submission> submissions) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  for (Submission& submission : submissions) {
    queue_.push_back(std::move(submission));
  }
  return true;
}

void OutboxWriter::Run() {
  std::vector<Submission> round;
  while (true) {
    round.clear();
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](OutboxWriter* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and everything is written
      while (!queue_.empty() && round.size() < kMaxRound) {
        round.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    WriteRound(round);
  }
}

void OutboxWriter::WriteRound(std::vector<Submission>& round) {
  std::vector<v1::ProtocolResult> results;
  results.reserve(round.size());
  // Versions accepted in this round: later submissions in the same round
  // are classified against them, and they reach latest_ only once durable.
  absl::flat_hash_map<storage::ProtocolKey, storage::CollectorLatest> here;
  std::vector<v1::StationProtocol> appended;
  std::vector<size_t> appended_from;  // round index of each appended entry

  for (size_t i = 0; i < round.size(); ++i) {
    const v1::StationProtocol& protocol = round[i].protocol;
    v1::ProtocolResult& result = results.emplace_back(ResultFor(protocol));
    const storage::CollectorLatest* latest = nullptr;
    if (auto it = here.find(round[i].key); it != here.end()) {
      latest = &it->second;
    } else if (auto stored = latest_.find(round[i].key);
               stored != latest_.end()) {
      latest = &stored->second;
    }
    const std::array<uint8_t, 32> digest = DigestArray(protocol.digest());
    if (latest != nullptr && protocol.version() < latest->version) {
      result.set_outcome(v1::OUTCOME_STALE);
      result.set_message(absl::StrCat("version ", protocol.version(),
                                      " is older than the accepted version ",
                                      latest->version));
      continue;
    }
    if (latest != nullptr && protocol.version() == latest->version) {
      if (digest == latest->digest) {
        result.set_outcome(v1::OUTCOME_DUPLICATE);
        result.set_message(
            "this version with this content was already accepted");
      } else {
        Reject(&result,
               absl::AbortedError(absl::StrCat(
                   "version ", protocol.version(), " of contest ",
                   protocol.contest_id(), " station ", protocol.station_id(),
                   " was already accepted with different content (digest ",
                   HexEncode(std::string(latest->digest.begin(),
                                         latest->digest.end())),
                   "); a correction needs a higher version")));
      }
      continue;
    }
    here[round[i].key] = storage::CollectorLatest{protocol.version(), digest};
    appended.push_back(protocol);
    appended_from.push_back(i);
  }

  if (!appended.empty()) {
    std::vector<std::pair<storage::ProtocolKey, storage::CollectorLatest>>
        updates(here.begin(), here.end());
    absl::StatusOr<uint64_t> first = store_->Append(appended, updates);
    NoteWrite(first.status());
    if (!first.ok()) {
      // Nothing of this round is durable: every would-be acceptance is
      // refused with the store's reason (RESOURCE_EXHAUSTED naming the
      // data directory for a full disk), and the in-memory index stays as
      // it was. The next round asks the store to resume first.
      const absl::Status refused(
          first.status().code() == absl::StatusCode::kResourceExhausted
              ? absl::StatusCode::kResourceExhausted
              : absl::StatusCode::kUnavailable,
          absl::StrCat("not accepted, submit again: ",
                       first.status().message()));
      for (size_t index : appended_from) Reject(&results[index], refused);
    } else {
      for (size_t k = 0; k < appended_from.size(); ++k) {
        v1::ProtocolResult& result = results[appended_from[k]];
        result.set_outcome(v1::OUTCOME_ACCEPTED);
        result.set_sequence(*first + k);
        for (const v1::Finding& finding : round[appended_from[k]].findings) {
          *result.add_findings() = finding;
        }
      }
      for (const auto& [key, value] : here) latest_[key] = value;
      submit_rate_.Add(appended.size());
      if (on_append_) on_append_();
    }
  }
  for (size_t i = 0; i < round.size(); ++i) {
    round[i].done(std::move(results[i]));
  }
}

}  // namespace tally::collector

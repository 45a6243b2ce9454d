// tallyctl submit: sends station protocols from files to a collector.
//
//   tallyctl submit --collector HOST:PORT [--chunk_size N] FILE...
//
// Files are JSON lines (.jsonl) or CSV (.csv); protocol_files.h documents
// both. Exit codes: 0 every protocol accepted (or already held: duplicate,
// stale), 1 anything rejected or undeliverable, 2 an unreadable or
// malformed file (nothing is sent then).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/tallyctl/client_flags.h"
#include "clients/tallyctl/commands.h"
#include "clients/tallyctl/grpc_client.h"
#include "clients/tallyctl/progress_bar.h"
#include "clients/tallyctl/protocol_files.h"

ABSL_FLAG(std::string, collector, "127.0.0.1:7500",
          "submit: address of the collector (host:port)");
ABSL_FLAG(uint32_t, chunk_size, 500,
          "submit, simulate: protocols per SubmitStream call");
ABSL_FLAG(uint32_t, max_attempts, 8,
          "submit, simulate: attempts per chunk on UNAVAILABLE or "
          "DEADLINE_EXCEEDED before giving up");

namespace tally::cli {
namespace {

// A chunk of 500 protocols is synced to the collector's outbox before the
// answer; give it longer than a single call's --timeout_ms.
constexpr absl::Duration kMinChunkDeadline = absl::Seconds(60);
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(250);
constexpr absl::Duration kMaxBackoff = absl::Seconds(8);

bool Transient(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// One SubmitStream call carrying protocols[begin, end).
grpc::Status SendChunk(v1::Collector::Stub& stub,
                       const std::vector<v1::StationProtocol>& protocols,
                       size_t begin, size_t end,
                       v1::SubmitStreamResponse* response) {
  const absl::Duration deadline = std::max(
      kMinChunkDeadline, absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms)));
  std::unique_ptr<grpc::ClientContext> context = CallContext(deadline);
  AddStationToken(context.get());
  std::unique_ptr<grpc::ClientWriter<v1::SubmitRequest>> writer =
      stub.SubmitStream(context.get(), response);
  v1::SubmitRequest request;
  for (size_t i = begin; i < end; ++i) {
    *request.mutable_protocol() = protocols[i];
    // A failed write means the stream is broken; Finish says why.
    if (!writer->Write(request)) break;
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (status.ok() &&
      response->results_size() != static_cast<int>(end - begin)) {
    return grpc::Status(
        grpc::StatusCode::INTERNAL,
        absl::StrCat("collector answered ", response->results_size(),
                     " verdicts for ", end - begin, " protocols"));
  }
  return status;
}

void Count(const v1::SubmitStreamResponse& response, SubmitTally* tally) {
  for (const v1::ProtocolResult& result : response.results()) {
    ++tally->submitted;
    switch (result.outcome()) {
      case v1::OUTCOME_ACCEPTED:
        ++tally->accepted;
        break;
      case v1::OUTCOME_DUPLICATE:
        ++tally->duplicate;
        break;
      case v1::OUTCOME_STALE:
        ++tally->stale;
        break;
      default:
        ++tally->rejected;
        tally->rejections.push_back(result);
        break;
    }
  }
}

const char* OutcomeName(v1::Outcome outcome) {
  switch (outcome) {
    case v1::OUTCOME_ACCEPTED:
      return "accepted";
    case v1::OUTCOME_DUPLICATE:
      return "duplicate";
    case v1::OUTCOME_STALE:
      return "stale";
    case v1::OUTCOME_REJECTED:
      return "rejected";
    default:
      return "unspecified";
  }
}

void PrintRejection(const v1::ProtocolResult& result) {
  std::string reasons = result.message();
  for (const v1::Finding& finding : result.findings()) {
    absl::StrAppend(&reasons, reasons.empty() ? "" : "; ", finding.rule(),
                    finding.field().empty() ? "" : " (" + finding.field() + ")",
                    ": ", finding.message());
  }
  std::printf("  %s station %u contest %s version %u: code %d: %s\n",
              OutcomeName(result.outcome()), result.station_id(),
              result.contest_id().c_str(), result.version(),
              result.status_code(), reasons.c_str());
}

}  // namespace

void SubmitTally::Add(const SubmitTally& other) {
  submitted += other.submitted;
  accepted += other.accepted;
  duplicate += other.duplicate;
  stale += other.stale;
  rejected += other.rejected;
  rejections.insert(rejections.end(), other.rejections.begin(),
                    other.rejections.end());
}

grpc::Status SubmitProtocols(
    v1::Collector::Stub& stub,
    const std::vector<v1::StationProtocol>& protocols, size_t chunk_size,
    SubmitTally* tally, const std::function<void()>& on_chunk,
    const std::function<void(const grpc::Status&, uint32_t, uint32_t)>&
        on_retry) {
  chunk_size = std::max<size_t>(chunk_size, 1);
  const uint32_t max_attempts =
      std::max<uint32_t>(absl::GetFlag(FLAGS_max_attempts), 1);
  for (size_t begin = 0; begin < protocols.size(); begin += chunk_size) {
    const size_t end = std::min(protocols.size(), begin + chunk_size);
    absl::Duration backoff = kFirstBackoff;
    grpc::Status status;
    for (uint32_t attempt = 1; attempt <= max_attempts; ++attempt) {
      v1::SubmitStreamResponse response;
      status = SendChunk(stub, protocols, begin, end, &response);
      if (status.ok()) {
        Count(response, tally);
        break;
      }
      if (!Transient(status) || attempt == max_attempts) return status;
      if (on_retry) on_retry(status, attempt + 1, max_attempts);
      absl::SleepFor(backoff);
      backoff = std::min(kMaxBackoff, backoff * 2);
    }
    if (on_chunk) on_chunk();
  }
  return grpc::Status::OK;
}

int RunSubmit(const std::vector<std::string>& args) {
  if (args.size() < 2) {
    std::fprintf(stderr,
                 "usage: tallyctl submit --collector HOST:PORT "
                 "[--chunk_size N] FILE...\n");
    return kExitBadInput;
  }
  // Read every file first: a malformed file sends nothing.
  std::vector<v1::StationProtocol> protocols;
  for (size_t i = 1; i < args.size(); ++i) {
    absl::StatusOr<std::vector<v1::StationProtocol>> read =
        ReadProtocolFile(args[i]);
    if (!read.ok()) {
      std::fprintf(stderr, "tallyctl submit: %s\n",
                   std::string(read.status().message()).c_str());
      return kExitBadInput;
    }
    protocols.insert(protocols.end(), read->begin(), read->end());
  }

  const ServerRef server{"collector", absl::GetFlag(FLAGS_collector),
                         "start one, or pass --collector HOST:PORT"};
  std::shared_ptr<grpc::Channel> channel = MakeChannel(server.address);
  auto stub = v1::Collector::NewStub(channel);
  SubmitTally tally;
  ProgressBar bar(protocols.size(), "protocols");
  bar.Show(0);
  // Retries ride out a collector restart; each one says why it waits.
  grpc::Status status = SubmitProtocols(
      *stub, protocols, absl::GetFlag(FLAGS_chunk_size), &tally,
      [&] { bar.Show(tally.submitted); },
      [&](const grpc::Status& failure, uint32_t next, uint32_t max) {
        const std::optional<std::string> unreachable =
            DescribeUnreachable(failure, server, channel.get());
        std::fprintf(stderr,
                     "%stallyctl submit: %s; retrying (attempt %u of %u)\n",
                     bar.shown() ? "\n" : "",
                     unreachable.has_value() ? unreachable->c_str()
                                             : failure.error_message().c_str(),
                     next, max);
      });
  bar.Finish();

  std::printf(
      "submitted %llu of %zu: %llu accepted, %llu duplicate, %llu stale, "
      "%llu rejected\n",
      static_cast<unsigned long long>(tally.submitted), protocols.size(),
      static_cast<unsigned long long>(tally.accepted),
      static_cast<unsigned long long>(tally.duplicate),
      static_cast<unsigned long long>(tally.stale),
      static_cast<unsigned long long>(tally.rejected));
  for (const v1::ProtocolResult& result : tally.rejections) {
    PrintRejection(result);
  }
  if (!status.ok()) {
    ReportFailure("submit", status, server, channel.get());
    return kExitFailure;
  }
  return tally.rejected > 0 ? kExitFailure : kExitOk;
}

}  // namespace tally::cli

// tallyctl audit: checks what the aggregator published against its
// transparency log, with nothing but the log, the definition and the log's
// public key.
//
//   tallyctl audit --log_public_key FILE [--state FILE] [--revision R]
//
// 1. Takes the latest results (or --revision R), and the signed tree head
//    of that revision; checks the signature with the given key.
// 2. Checks the head's definition digest against the definition served.
// 3. With --state, continues from the last audited head: verifies a
//    consistency proof from it and reads only the leaves added since.
// 4. Reads every leaf (a progress bar on a terminal), recomputes the Merkle
//    root and replays each protocol through the domain library: digests,
//    validation, totals and seat allocations (clients/audit/log_auditor.h).
// 5. Compares the root, the tree size and the totals digest with the head,
//    and every total and allocation with GetResults of that revision.
// Exit 0 when everything agrees (the state is then saved), 1 with every
// difference named, 2 for bad usage.
#include <algorithm>
#include <cstdio>
#include <deque>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "clients/audit/log_auditor.h"
#include "clients/tallyctl/client_flags.h"
#include "clients/tallyctl/commands.h"
#include "clients/tallyctl/grpc_client.h"
#include "clients/tallyctl/log_client.h"
#include "clients/tallyctl/log_flags.h"
#include "clients/tallyctl/progress_bar.h"
#include "google/protobuf/util/message_differencer.h"
#include "services/domain/definition_digest.h"
#include "services/domain/protocol_digest.h"
#include "services/domain/scope_text.h"
#include "services/transparency/tree_head.h"
#include "tally/v1/aggregator.grpc.pb.h"

ABSL_FLAG(uint64_t, revision, 0,
          "audit: the revision whose signed head is audited (0: the latest "
          "results)");

namespace tally::cli {
namespace {

using transparency::Hash;

int Usage(const std::string& message) {
  std::fprintf(stderr, "tallyctl audit: %s\n", message.c_str());
  return kExitBadInput;
}

int Failed(const absl::Status& status) {
  std::fprintf(stderr, "tallyctl audit: %s\n",
               std::string(status.message()).c_str());
  return kExitFailure;
}

// "choices[0].votes: 5 -> 6" lines of a MessageDifferencer report, as
// "choices[0].votes: recomputed 5, published 6".
std::vector<std::string> Differences(const google::protobuf::Message& computed,
                                     const google::protobuf::Message& served) {
  std::string report;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&report);
  std::vector<std::string> lines;
  if (differ.Compare(computed, served)) return lines;
  for (absl::string_view line : absl::StrSplit(report, '\n')) {
    if (line.empty()) continue;
    std::string text(line);
    if (absl::ConsumePrefix(&line, "modified: ")) {
      const size_t arrow = line.rfind(" -> ");
      const size_t colon = line.find(": ");
      if (arrow != absl::string_view::npos &&
          colon != absl::string_view::npos && colon < arrow) {
        text = absl::StrCat(line.substr(0, colon), ": recomputed ",
                            line.substr(colon + 2, arrow - colon - 2),
                            ", published ", line.substr(arrow + 4));
      }
    } else if (absl::ConsumePrefix(&line, "added: ")) {
      text = absl::StrCat("published only: ", line);
    } else if (absl::ConsumePrefix(&line, "deleted: ")) {
      text = absl::StrCat("recomputed only: ", line);
    }
    lines.push_back(std::move(text));
  }
  return lines;
}

// Leaves prepared on up to `threads` threads (preparing is pure; adding is
// sequential), while the next page is already being read.
class LeafPipeline {
 public:
  LeafPipeline(const ElectionIndex& index, audit::LogAuditor& auditor)
      : index_(index),
        auditor_(auditor),
        threads_(
            std::clamp<unsigned>(std::thread::hardware_concurrency(), 1, 4)) {}

  absl::Status Run(LogClient& log, uint64_t start, uint64_t end,
                   const ProgressBar& bar, uint64_t bar_base) {
    std::thread reader([&] {
      absl::Status status = log.ReadLeaves(
          start, end, [&](uint64_t, std::vector<std::string>& page) {
            absl::MutexLock lock(&mu_);
            mu_.Await(absl::Condition(
                +[](LeafPipeline* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                     self->mu_) { return self->pages_.size() < 4; },
                this));
            pages_.push_back(std::move(page));
            return absl::OkStatus();
          });
      absl::MutexLock lock(&mu_);
      read_status_ = status;
      done_ = true;
    });
    uint64_t added = 0;
    while (true) {
      std::vector<std::string> page;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](LeafPipeline* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
              return !self->pages_.empty() || self->done_;
            },
            this));
        if (pages_.empty()) break;
        page = std::move(pages_.front());
        pages_.pop_front();
      }
      for (audit::PreparedLeaf& leaf : Prepare(page)) {
        auditor_.Add(std::move(leaf));
      }
      added += page.size();
      bar.Show(bar_base + added);
    }
    reader.join();
    absl::MutexLock lock(&mu_);
    return read_status_;
  }

 private:
  std::vector<audit::PreparedLeaf> Prepare(
      const std::vector<std::string>& page) {
    std::vector<audit::PreparedLeaf> prepared(page.size());
    const size_t chunk = (page.size() + threads_ - 1) / threads_;
    auto work = [&](size_t begin) {
      const size_t stop = std::min(page.size(), begin + chunk);
      for (size_t i = begin; i < stop; ++i) {
        prepared[i] = audit::LogAuditor::Prepare(index_, page[i]);
      }
    };
    std::vector<std::future<void>> helpers;
    for (size_t begin = chunk; begin < page.size(); begin += chunk) {
      helpers.push_back(std::async(std::launch::async, work, begin));
    }
    work(0);
    for (std::future<void>& helper : helpers) helper.get();
    return prepared;
  }

  const ElectionIndex& index_;
  audit::LogAuditor& auditor_;
  const unsigned threads_;
  absl::Mutex mu_;
  std::deque<std::vector<std::string>> pages_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status read_status_ ABSL_GUARDED_BY(mu_);
};

// Compares the recomputed totals and allocations with GetResults.
void CompareResults(const v1::GetResultsResponse& results,
                    audit::LogAuditor& auditor, uint64_t* totals_compared,
                    uint64_t* allocations_compared) {
  absl::flat_hash_map<std::string, v1::Totals> totals;
  for (v1::Totals& entry : auditor.Totals()) {
    totals.emplace(
        absl::StrCat(entry.contest_id(), " ", ScopeText(entry.scope())),
        std::move(entry));
  }
  absl::flat_hash_map<std::string, v1::SeatAllocation> allocations;
  for (v1::SeatAllocation& allocation : auditor.Allocations()) {
    allocations.emplace(allocation.contest_id(), std::move(allocation));
  }
  for (const v1::ContestResults& result : results.results()) {
    const std::string name = absl::StrCat(result.totals().contest_id(), " ",
                                          ScopeText(result.totals().scope()));
    auto it = totals.find(name);
    if (it == totals.end()) {
      auditor.AddFinding(absl::StrCat("totals of ", name,
                                      ": published, but no such total exists"));
      continue;
    }
    for (const std::string& line : Differences(it->second, result.totals())) {
      auditor.AddFinding(absl::StrCat("totals of ", name, ": ", line));
    }
    totals.erase(it);
    ++*totals_compared;
    if (!result.has_allocation()) continue;
    auto allocation = allocations.find(result.allocation().contest_id());
    if (allocation == allocations.end()) {
      auditor.AddFinding(absl::StrCat("allocation of ", name,
                                      ": published for an unknown contest"));
      continue;
    }
    // The revision at which the contest became decided depends on the
    // allocations of earlier revisions, which the audit does not recompute:
    // it checks only that it is consistent with the (recomputed) decision.
    const v1::SeatAllocation& published = result.allocation();
    allocation->second.set_decided_revision(published.decided_revision());
    if (published.decided() != (published.decided_revision() != 0) ||
        published.decided_revision() > published.revision()) {
      auditor.AddFinding(
          absl::StrCat("seat allocation of ", allocation->first, ": decided ",
                       published.decided() ? "true" : "false", " at revision ",
                       published.decided_revision(),
                       " of an allocation of revision ", published.revision()));
    }
    for (const std::string& line :
         Differences(allocation->second, result.allocation())) {
      auditor.AddFinding(
          absl::StrCat("seat allocation of ", allocation->first, ": ", line));
    }
    ++*allocations_compared;
  }
  for (const auto& [name, entry] : totals) {
    auditor.AddFinding(
        absl::StrCat("totals of ", name, ": recomputed, but not published"));
  }
}

}  // namespace

int RunAudit(const std::vector<std::string>& args) {
  if (args.size() > 1) return Usage("unexpected argument " + args[1]);
  absl::StatusOr<transparency::Ed25519PublicKey> key = LogPublicKeyFromFlag();
  if (!key.ok()) return Usage(std::string(key.status().message()));
  const std::string state_path = absl::GetFlag(FLAGS_state);
  const absl::Time started = absl::Now();

  const ServerRef server = AggregatorRef();
  std::shared_ptr<grpc::Channel> channel = MakeChannel(server.address);
  auto aggregator = v1::Aggregator::NewStub(channel);
  LogClient log(channel, server,
                absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms)));

  // The results and the head of one revision.
  uint64_t revision = absl::GetFlag(FLAGS_revision);
  v1::GetResultsResponse results;
  {
    v1::GetResultsRequest request;
    request.set_all_scopes(true);
    grpc::Status status =
        aggregator->GetResults(CallContext().get(), request, &results);
    if (!status.ok())
      return ReportFailure("audit", status, server, channel.get());
  }
  const bool compare_results = revision == 0 || revision == results.revision();
  if (revision == 0) revision = results.revision();
  absl::StatusOr<v1::GetTreeHeadResponse> served =
      VerifiedHead(log, revision, *key);
  if (!served.ok()) return Failed(served.status());
  const v1::SignedTreeHead& signed_head = served->signed_head();
  const v1::TreeHead& head = signed_head.head();

  // The definition the head binds.
  v1::GetElectionRequest election_request;
  election_request.set_include_stations(true);
  v1::GetElectionResponse election;
  grpc::Status status =
      aggregator->GetElection(CallContext().get(), election_request, &election);
  if (!status.ok())
    return ReportFailure("audit", status, server, channel.get());
  absl::StatusOr<std::string> definition_digest =
      DefinitionDigest(election.definition());
  if (!definition_digest.ok()) return Failed(definition_digest.status());
  absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
      ElectionIndex::Build(election.definition());
  if (!index.ok()) {
    return Failed(absl::InvalidArgumentError(
        absl::StrCat("the served definition: ", index.status().message())));
  }
  audit::LogAuditor auditor(**index);
  if (*definition_digest != HexEncode(head.definition_digest())) {
    auditor.AddFinding(absl::StrCat(
        "definition: the served definition's digest is ", *definition_digest,
        ", the signed head binds ", HexEncode(head.definition_digest())));
  }
  if (*definition_digest != election.definition_digest()) {
    auditor.AddFinding(
        absl::StrCat("definition: GetElection says its digest is ",
                     election.definition_digest(), ", its content hashes to ",
                     *definition_digest));
  }

  // Continue from the last audit.
  v1::AuditState state;
  absl::StatusOr<bool> have_state =
      state_path.empty() ? false : ReadStateFile(state_path, &state);
  if (!have_state.ok()) return Failed(have_state.status());
  if (*have_state) {
    const v1::TreeHead& old = state.head().head();
    if (absl::Status verified =
            transparency::VerifySignedTreeHead(state.head(), *key);
        !verified.ok()) {
      return Failed(absl::FailedPreconditionError(absl::StrCat(
          state_path, ": the saved head does not verify with this key: ",
          verified.message())));
    }
    if (state.definition_digest() != head.definition_digest()) {
      return Failed(absl::FailedPreconditionError(
          absl::StrCat(state_path, ": saved for another election definition")));
    }
    if (old.tree_size() > head.tree_size() ||
        old.revision() > head.revision()) {
      return Failed(absl::FailedPreconditionError(absl::StrCat(
          "the log went back: the head of revision ", head.revision(), " has ",
          head.tree_size(), " leaves; revision ", old.revision(),
          " was audited with ", old.tree_size())));
    }
    if (absl::Status consistent = CheckConsistency(log, old, head);
        !consistent.ok()) {
      auditor.AddFinding(absl::StrCat("split view: ", consistent.message()));
      std::printf("audit of revision %llu FAILED: %s\n",
                  static_cast<unsigned long long>(head.revision()),
                  std::string(consistent.message()).c_str());
      return kExitFailure;
    }
    if (absl::Status restored = auditor.Restore(state); !restored.ok()) {
      return Failed(absl::FailedPreconditionError(
          absl::StrCat(state_path, ": ", restored.message())));
    }
    auditor.set_leaf_reader(
        [&log, old](uint64_t index) { return ProvenLeaf(log, index, old); });
  }

  // Every new leaf.
  const uint64_t from = auditor.size();
  ProgressBar bar(head.tree_size(), "leaves");
  bar.Show(from);
  LeafPipeline pipeline(**index, auditor);
  absl::Status read = pipeline.Run(log, from, head.tree_size(), bar, from);
  bar.Finish();
  if (!read.ok()) {
    auditor.AddFinding(absl::StrCat("reading the log: ", read.message()));
  }
  auditor.Finish();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - started);

  // The head against the recomputation.
  if (read.ok()) {
    if (auditor.size() != head.tree_size()) {
      auditor.AddFinding(absl::StrCat("tree size: ", auditor.size(),
                                      " leaves read, the head says ",
                                      head.tree_size()));
    }
    if (transparency::HashBytes(auditor.Root()) != head.root_hash()) {
      auditor.AddFinding(
          absl::StrCat("root: the ", auditor.size(), " leaves hash to ",
                       transparency::HashHex(auditor.Root()),
                       ", the signed head says ", HexEncode(head.root_hash())));
    }
    if (auditor.last_revision() > head.revision()) {
      auditor.AddFinding(absl::StrCat(
          "the log holds leaves of revision ", auditor.last_revision(),
          " within the head of revision ", head.revision()));
    }
  }
  const std::string totals_digest =
      transparency::HashBytes(auditor.TotalsDigest());
  if (totals_digest != head.totals_digest()) {
    auditor.AddFinding(
        absl::StrCat("totals digest: the recomputed totals hash to ",
                     HexEncode(totals_digest), ", the signed head binds ",
                     HexEncode(head.totals_digest())));
  }
  uint64_t totals_compared = 0;
  uint64_t allocations_compared = 0;
  if (compare_results) {
    CompareResults(results, auditor, &totals_compared, &allocations_compared);
  }

  const std::string summary = absl::StrCat(
      "revision ", head.revision(), ": ", auditor.size(), " leaves (",
      auditor.added(), " read, ", auditor.corrections(), " corrections) in ",
      absl::StrFormat("%.1f", seconds), " s, root ",
      transparency::ShortHash(head.root_hash()), ", log key ",
      key->Fingerprint().substr(0, 16));
  if (auditor.finding_count() > 0) {
    std::printf("audit of %s FAILED: %llu differences\n", summary.c_str(),
                static_cast<unsigned long long>(auditor.finding_count()));
    for (const std::string& finding : auditor.findings()) {
      std::printf("  %s\n", finding.c_str());
    }
    if (auditor.finding_count() > auditor.findings().size()) {
      std::printf("  ... and %llu more\n",
                  static_cast<unsigned long long>(auditor.finding_count() -
                                                  auditor.findings().size()));
    }
    return kExitFailure;
  }
  std::printf("audited %s\n", summary.c_str());
  std::printf(
      "  the root, the tree size and the totals digest match the "
      "signed head\n");
  if (compare_results) {
    std::printf("  %llu totals and %llu seat allocations equal GetResults\n",
                static_cast<unsigned long long>(totals_compared),
                static_cast<unsigned long long>(allocations_compared));
  } else {
    std::printf("  (GetResults is at revision %llu: not compared)\n",
                static_cast<unsigned long long>(results.revision()));
  }
  if (!state_path.empty()) {
    absl::Status saved = WriteStateFile(
        state_path, auditor.State(signed_head, head.definition_digest()));
    if (!saved.ok()) return Failed(saved);
  }
  return kExitOk;
}

}  // namespace tally::cli

// tallyctl watch: the live feed in a terminal.
//
//   tallyctl watch [--from_revision R] [--contest a,b] [--scope s,t]
//                  [--json] [--include_stations] [--max_events N]
//                  [--until_complete] [--refresh_ms MS]
// On a terminal the view redraws on every change: national totals with
// shares and seats, reporting progress and turnout, the seats of all
// contests together, one line per district contest, how many contests are
// decided and seats still open. Elsewhere it prints a line per change; with
// --json one JSON object per message. Forensics flag changes and contests
// becoming decided are told on stderr as they happen. It resumes
// from its last revision after a disconnect and re-snapshots when told its
// revision was compacted.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "clients/tallyctl/client_flags.h"
#include "clients/tallyctl/commands.h"
#include "clients/tallyctl/forensics_view.h"
#include "clients/tallyctl/grpc_client.h"
#include "clients/tallyctl/results_view.h"
#include "services/domain/composition.h"
#include "services/domain/proto_json.h"
#include "services/domain/scope_text.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/feed.grpc.pb.h"

ABSL_FLAG(uint64_t, from_revision, 0,
          "watch: 0 for a snapshot then live; R to resume after revision R");
ABSL_FLAG(bool, include_stations, false,
          "watch: also show which station versions each commit counted");
ABSL_FLAG(uint64_t, max_events, 0, "watch: stop after N events (0: never)");
ABSL_FLAG(bool, until_complete, false,
          "watch: stop once every station has reported every contest");
ABSL_FLAG(uint32_t, refresh_ms, 0,
          "watch: show a change at most this often (0: every change); the "
          "final state is always shown");
ABSL_FLAG(uint32_t, progress_interval_ms, 0,
          "watch: progress notification interval (0: server default)");

namespace tally::cli {
namespace {

// What the watcher has seen: the latest totals and allocation per key.
class View {
 public:
  void Clear() {
    totals_.clear();
    allocations_.clear();
  }
  void Add(const v1::Totals& totals) { totals_[Key(totals)] = totals; }
  void Add(const v1::SeatAllocation& allocation) {
    allocations_[allocation.contest_id()] = allocation;
  }
  const v1::SeatAllocation* FindAllocation(
      const v1::SeatAllocation& allocation) const {
    auto it = allocations_.find(allocation.contest_id());
    return it == allocations_.end() ? nullptr : &it->second;
  }
  void SetProgress(const v1::Progress& progress) { progress_ = progress; }
  const v1::Progress& progress() const { return progress_; }

  std::string Render(const ElectionNames& names, uint64_t revision) const {
    std::string out = absl::StrCat(
        names.definition().name(), "  |  revision ", revision, "  |  ",
        absl::FormatTime("%H:%M:%S", absl::Now(), absl::LocalTimeZone()), "\n");
    absl::StrAppend(
        &out, "stations reported ", Grouped(progress_.stations_reported()),
        " of ", Grouped(progress_.stations_expected()), " (",
        Percent(progress_.stations_reported(), progress_.stations_expected()),
        "%), protocols ", Grouped(progress_.protocols_counted()), " of ",
        Grouped(progress_.protocols_expected()), "\n\n");
    std::vector<const v1::SeatAllocation*> allocations;
    std::string districts;
    for (const v1::Contest& contest : names.definition().contests()) {
      auto allocation = allocations_.find(contest.id());
      const v1::SeatAllocation* seats =
          allocation == allocations_.end() ? nullptr : &allocation->second;
      if (seats != nullptr) allocations.push_back(seats);
      const v1::Totals* totals = OwnTotals(contest);
      if (totals == nullptr) continue;
      if (contest.district_id().empty()) {
        absl::StrAppend(&out, RenderContest(names, *totals, seats), "\n");
      } else {
        absl::StrAppend(&districts, RenderContestLine(names, *totals, seats));
      }
    }
    if (allocations.size() > 1) {
      absl::StrAppend(&out,
                      RenderComposition(
                          ComputeComposition(names.definition(), allocations)),
                      "\n");
    }
    if (!districts.empty()) absl::StrAppend(&out, "Districts\n", districts);
    if (!allocations.empty()) {
      absl::StrAppend(&out, "\n", RenderDecisionSummary(names, allocations));
    }
    return out;
  }

  std::string Line(const ElectionNames& names, uint64_t revision) const {
    std::string out =
        absl::StrCat("revision ", revision, ": ", progress_.stations_reported(),
                     "/", progress_.stations_expected(), " stations");
    for (const v1::Contest& contest : names.definition().contests()) {
      if (!contest.district_id().empty()) continue;
      auto it = allocations_.find(contest.id());
      if (it == allocations_.end()) continue;
      absl::StrAppend(&out, "; ", contest.id(), ":");
      for (const v1::ChoiceSeats& seats : it->second.choices()) {
        absl::StrAppend(&out, " ", seats.choice_id(), "=", seats.seats());
      }
    }
    return out;
  }

 private:
  static std::string Key(const v1::Totals& totals) {
    return absl::StrCat(totals.contest_id(), "|", ScopeText(totals.scope()));
  }
  const v1::Totals* OwnTotals(const v1::Contest& contest) const {
    v1::Scope scope;
    scope.set_kind(contest.district_id().empty() ? v1::SCOPE_KIND_NATIONAL
                                                 : v1::SCOPE_KIND_DISTRICT);
    scope.set_id(contest.district_id());
    auto it = totals_.find(absl::StrCat(contest.id(), "|", ScopeText(scope)));
    return it == totals_.end() ? nullptr : &it->second;
  }

  std::map<std::string, v1::Totals> totals_;
  std::map<std::string, v1::SeatAllocation> allocations_;
  v1::Progress progress_;
};

std::vector<std::string> SplitList(const std::string& text) {
  return absl::StrSplit(text, ',', absl::SkipEmpty());
}

}  // namespace

int RunWatch(const std::vector<std::string>& args) {
  if (args.size() > 1) {
    std::fprintf(stderr, "tallyctl watch: unexpected argument %s\n",
                 args[1].c_str());
    return kExitBadInput;
  }
  v1::WatchRequest request;
  for (const std::string& contest : SplitList(absl::GetFlag(FLAGS_contest))) {
    request.add_contest_ids(contest);
  }
  for (const std::string& text : SplitList(absl::GetFlag(FLAGS_scope))) {
    absl::StatusOr<v1::Scope> scope = ParseScope(text);
    if (!scope.ok()) {
      std::fprintf(stderr, "tallyctl watch: %s\n",
                   std::string(scope.status().message()).c_str());
      return kExitBadInput;
    }
    *request.add_scopes() = *scope;
  }
  request.set_include_stations(absl::GetFlag(FLAGS_include_stations));
  request.set_progress_interval_ms(absl::GetFlag(FLAGS_progress_interval_ms));

  const bool json = absl::GetFlag(FLAGS_json);
  const bool terminal = !json && isatty(STDOUT_FILENO);
  const uint64_t max_events = absl::GetFlag(FLAGS_max_events);
  const bool until_complete = absl::GetFlag(FLAGS_until_complete);
  // --aggregator may list replicas (or relays): a stream that breaks
  // resumes on the next one, from the last revision seen (replicas number
  // events identically).
  rpc::Replicas& replicas = AggregatorReplicas();

  // Names come from the aggregator; a relay serves only the feed, so
  // without them the view falls back to ids.
  v1::ElectionDefinition definition;
  if (!json) {
    v1::GetElectionResponse election;
    CallTarget used;
    if (FetchElection(&election, &used).ok()) {
      definition = election.definition();
    }
  }
  const ElectionNames names(definition);

  // On a busy night thousands of commits a minute would scroll or flicker
  // the view; --refresh_ms shows the state at a readable pace instead.
  const absl::Duration refresh =
      absl::Milliseconds(absl::GetFlag(FLAGS_refresh_ms));
  absl::Time last_shown = absl::InfinitePast();
  bool unshown = false;
  // The view is whole only after snapshot_complete (or a replayed event);
  // a snapshot split over several messages is not.
  bool synced = false;
  View view;
  uint64_t revision = absl::GetFlag(FLAGS_from_revision);
  uint64_t events = 0;
  // Until a first message arrives, a server that cannot be reached is a
  // mistake to report (a wrong address, nothing started); afterwards it is
  // an outage to ride out.
  bool ever_received = false;
  absl::Duration backoff = absl::Milliseconds(200);
  while (true) {
    request.set_from_revision(revision);
    const rpc::Replicas::Target target = replicas.Current();
    ServerRef server = AggregatorRef("aggregator or relay");
    server.address = target.address;
    auto channel = target.channel;
    auto feed = v1::Feed::NewStub(channel);
    bool received = false;
    // A live stream has no natural end; the deadline bounds a forgotten one.
    auto context = CallContext(absl::Hours(48));
    auto reader = feed->Watch(context.get(), request);
    v1::WatchResponse response;
    bool restart_from_zero = false;
    while (reader->Read(&response)) {
      backoff = absl::Milliseconds(200);
      ever_received = true;
      received = true;
      bool changed = false;
      if (json) {
        absl::StatusOr<std::string> line = ToJson(response, {.pretty = false});
        if (line.ok()) std::printf("%s\n", line->c_str());
      }
      switch (response.kind_case()) {
        case v1::WatchResponse::kSnapshot:
          for (const auto& t : response.snapshot().totals()) view.Add(t);
          for (const auto& a : response.snapshot().allocations()) view.Add(a);
          if (response.snapshot().has_progress()) {
            view.SetProgress(response.snapshot().progress());
          }
          revision = response.snapshot().revision();
          break;
        case v1::WatchResponse::kSnapshotComplete:
          revision = response.snapshot_complete().revision();
          synced = true;
          changed = true;
          break;
        case v1::WatchResponse::kEvent:
          // Forensics flags that change are told as they happen (on
          // stderr, beside the view).
          if (!json) {
            for (const v1::ScopeFlags& f : response.event().forensics_flags()) {
              std::fputs(RenderFlagChange(names, response.event().revision(), f)
                             .c_str(),
                         stderr);
            }
          }
          // So is a contest that becomes decided (or is re-opened by a
          // correction).
          if (!json) {
            for (const v1::SeatAllocation& a : response.event().allocations()) {
              const v1::SeatAllocation* before = view.FindAllocation(a);
              const bool became_decided =
                  a.decided() &&
                  (a.decided_revision() == response.event().revision() ||
                   (before != nullptr && !before->decided()));
              const bool reopened =
                  !a.decided() && before != nullptr && before->decided();
              if (became_decided || reopened) {
                std::fputs(
                    RenderDecidedChange(names, a, response.event().progress())
                        .c_str(),
                    stderr);
              }
            }
          }
          for (const auto& t : response.event().totals()) view.Add(t);
          for (const auto& a : response.event().allocations()) view.Add(a);
          view.SetProgress(response.event().progress());
          revision = response.event().revision();
          synced = true;
          ++events;
          changed = true;
          break;
        case v1::WatchResponse::kProgress:
          revision = std::max(revision, response.progress().revision());
          break;
        case v1::WatchResponse::kCompacted:
          std::fprintf(stderr,
                       "tallyctl watch: revision %llu is compacted (oldest "
                       "resumable %llu); taking a fresh snapshot\n",
                       static_cast<unsigned long long>(revision),
                       static_cast<unsigned long long>(
                           response.compacted().compact_revision()));
          restart_from_zero = true;
          break;
        case v1::WatchResponse::kResync:
          synced = false;
          view.Clear();
          break;
        default:
          break;
      }
      unshown = unshown || changed;
      if (unshown && !json && absl::Now() - last_shown >= refresh) {
        unshown = false;
        last_shown = absl::Now();
        if (terminal) {
          std::printf("\033[H\033[2J%s", view.Render(names, revision).c_str());
        } else {
          std::printf("%s\n", view.Line(names, revision).c_str());
        }
      }
      std::fflush(stdout);
      const v1::Progress& progress = view.progress();
      const bool complete =
          synced && progress.protocols_expected() > 0 &&
          progress.protocols_counted() == progress.protocols_expected();
      if ((max_events > 0 && events >= max_events) ||
          (until_complete && complete)) {
        context->TryCancel();
        if (!json) {
          std::printf("%s%s", terminal ? "\033[H\033[2J" : "",
                      view.Render(names, revision).c_str());
        }
        return kExitOk;
      }
      if (restart_from_zero) break;
    }
    if (restart_from_zero) {
      context->TryCancel();
      reader->Finish();
      revision = 0;
      synced = false;
      view.Clear();
      continue;
    }
    grpc::Status status = reader->Finish();
    const std::optional<std::string> unreachable =
        DescribeUnreachable(status, server, channel.get());
    // Another replica still to try in this round: no error yet.
    bool round_failed = false;
    if (received) {
      replicas.Succeeded(target.address);
    } else {
      round_failed = replicas.Next(target.address);
    }
    if (!received && !round_failed &&
        status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      continue;
    }
    if ((status.error_code() != grpc::StatusCode::UNAVAILABLE &&
         status.error_code() != grpc::StatusCode::OK) ||
        (unreachable.has_value() && !ever_received)) {
      return ReportFailure("watch", status, server, channel.get());
    }
    // The replica that served may be gone: resume on the next one.
    if (received) replicas.Next(target.address);
    // The server went away (restart, network): resume where we were.
    std::fprintf(stderr, "tallyctl watch: %s; resuming after revision %llu\n",
                 unreachable.has_value() ? unreachable->c_str()
                 : status.ok()           ? "stream ended"
                                         : status.error_message().c_str(),
                 static_cast<unsigned long long>(revision));
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

}  // namespace tally::cli

// tallyctl simulate: plays an election night against the collectors.
//
//   tallyctl simulate [--collectors region=HOST:PORT,...]
//                     [--collectors_file FILE] [--seed N] [--speed F]
//                     [--corrections_percent P] [--duplicates_percent P]
//                     [--target RESULT.json] [--definition DEF.json]
//                     [--write_dir DIR] [--list_regions]
//
// The station protocols are generated so that their sums equal the target
// (by default the official 2023 party-list result, compiled into tallyctl),
// so the final totals and seats are the official ones. Each protocol is
// released at a seeded delay after polls close (20 min to 6 h of simulated
// time, most around an hour and a half), compressed by --speed; every
// region's collector is driven from its own thread. With --write_dir the
// night is written as one JSON-lines file per region (in reporting order)
// for `tallyctl submit` instead. --list_regions prints the region ids of the
// definition, one a line, for scripts that start one collector per region.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/simulator/anomalies.h"
#include "clients/simulator/night_generator.h"
#include "clients/tallyctl/commands.h"
#include "clients/tallyctl/grpc_client.h"
#include "clients/tallyctl/protocol_files.h"
#include "services/domain/definition_generator.h"
#include "services/domain/election_index.h"
#include "services/domain/election_loader.h"
#include "services/domain/proto_json.h"

// Shared with `definition` and `submit`.
ABSL_DECLARE_FLAG(int64_t, seed);
ABSL_DECLARE_FLAG(std::string, definition);
ABSL_DECLARE_FLAG(uint32_t, chunk_size);

ABSL_FLAG(std::string, collectors, "",
          "simulate: region=HOST:PORT pairs, comma-separated");
ABSL_FLAG(std::string, collectors_file, "",
          "simulate: file of region=HOST:PORT lines (as written by "
          "deploy/local-cluster/cluster.sh)");
ABSL_FLAG(double, speed, 60,
          "simulate: simulated seconds per real second (0: as fast as "
          "possible)");
ABSL_FLAG(uint32_t, corrections_percent, 0,
          "simulate: percent of protocols first sent wrong, then corrected "
          "by version 2");
ABSL_FLAG(uint32_t, duplicates_percent, 0,
          "simulate: percent of protocols sent twice");
ABSL_FLAG(std::string, target, "",
          "simulate: ResultTarget JSON of the national list (default: the "
          "official 2023 result, built in)");
ABSL_FLAG(std::string, write_dir, "",
          "simulate: write REGION.jsonl files here instead of submitting");
ABSL_FLAG(std::vector<std::string>, anomaly, {},
          "simulate: plant falsification signatures for the election "
          "forensics, comma-separated: stuffing:REGION[:PERCENT] (extra "
          "ballots for the leader at PERCENT% of the region's stations, "
          "default 5), round_numbers:REGION (turnouts and leading shares "
          "written as whole percentages); the totals then no longer match "
          "the target result");
ABSL_FLAG(bool, list_regions, false,
          "simulate: print the definition's region ids and exit");

namespace tally::cli {

extern const char kEmbeddedOfficialResult[];

namespace {

constexpr uint64_t kDefaultSeed = 2023;
// Reporting curve after polls close, in simulated minutes: log-normal with
// median 100 min, clamped to [20 min, 6 h].
constexpr double kMedianMinutes = 100;
constexpr double kSigma = 0.6;
constexpr double kFirstMinutes = 20;
constexpr double kLastMinutes = 360;

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "tallyctl simulate: %s\n",
               std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ||
                 status.code() == absl::StatusCode::kNotFound
             ? kExitBadInput
             : kExitFailure;
}

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

absl::StatusOr<v1::ResultTarget> LoadTarget() {
  const std::string path = absl::GetFlag(FLAGS_target);
  std::string text = kEmbeddedOfficialResult;
  if (!path.empty()) {
    absl::StatusOr<std::string> read = ReadText(path);
    if (!read.ok()) return read.status();
    text = *std::move(read);
  }
  v1::ResultTarget target;
  absl::Status parsed = ParseJson(text, &target);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path.empty() ? "built-in target" : path, ": ", parsed.message()));
  }
  return target;
}

absl::StatusOr<std::unique_ptr<ElectionIndex>> LoadIndex() {
  const std::string path = absl::GetFlag(FLAGS_definition);
  absl::StatusOr<v1::ElectionDefinition> definition =
      path.empty() ? EmbeddedDefaultDefinition() : LoadDefinitionFile(path);
  if (!definition.ok()) return definition.status();
  return ElectionIndex::Build(*std::move(definition));
}

// A platform-independent standard normal (std::normal_distribution is not
// specified bit for bit, and a seed must give the same night everywhere).
double StandardNormal(std::mt19937_64& rng) {
  constexpr double kTwoPi = 6.283185307179586;
  const double u1 = (static_cast<double>(rng() >> 11) + 1.0) * 0x1.0p-53;
  const double u2 = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

// Simulated delays after polls close, ascending, one per submission: the
// plan's order is kept (a correction after its wrong first version) and
// the delays give the night its shape.
std::vector<absl::Duration> ReportingCurve(size_t count, uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x5eedc0de);
  std::vector<double> minutes(count);
  for (double& m : minutes) {
    m = std::clamp(kMedianMinutes * std::exp(kSigma * StandardNormal(rng)),
                   kFirstMinutes, kLastMinutes);
  }
  std::sort(minutes.begin(), minutes.end());
  std::vector<absl::Duration> delays;
  delays.reserve(count);
  for (double m : minutes) delays.push_back(absl::Minutes(m));
  return delays;
}

// One region's share of the night.
struct RegionNight {
  std::vector<v1::StationProtocol> protocols;
  std::vector<absl::Duration> delays;
  uint64_t duplicates = 0;
};

absl::StatusOr<std::map<std::string, RegionNight>> SplitByRegion(
    const ElectionIndex& index, const std::vector<sim::Submission>& plan,
    const std::vector<absl::Duration>& delays) {
  std::map<std::string, RegionNight> regions;
  for (size_t i = 0; i < plan.size(); ++i) {
    const v1::PollingStation* station =
        index.FindStation(plan[i].protocol.station_id());
    if (station == nullptr) {
      return absl::InternalError(absl::StrCat(
          "planned station ", plan[i].protocol.station_id(), " unknown"));
    }
    RegionNight& night = regions[station->region_id()];
    night.protocols.push_back(plan[i].protocol);
    night.delays.push_back(delays[i]);
    if (plan[i].duplicate) ++night.duplicates;
  }
  return regions;
}

absl::Status WriteNight(const std::string& dir,
                        const std::map<std::string, RegionNight>& regions) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot create ", dir, ": ", error.message()));
  }
  for (const auto& [region, night] : regions) {
    const std::string path = absl::StrCat(dir, "/", region, ".jsonl");
    absl::Status written = WriteProtocolJsonLines(path, night.protocols);
    if (!written.ok()) return written;
    std::printf("wrote %zu protocols to %s\n", night.protocols.size(),
                path.c_str());
  }
  return absl::OkStatus();
}

// The flag the collectors' addresses came from, for messages.
std::string CollectorsFlag() {
  return absl::GetFlag(FLAGS_collectors_file).empty() ? "--collectors"
                                                      : "--collectors_file";
}

// region -> HOST:PORT from --collectors and --collectors_file.
absl::StatusOr<std::map<std::string, std::string>> CollectorAddresses() {
  std::vector<std::string> pairs =
      absl::StrSplit(absl::GetFlag(FLAGS_collectors), ',', absl::SkipEmpty());
  const std::string file = absl::GetFlag(FLAGS_collectors_file);
  if (!file.empty()) {
    absl::StatusOr<std::string> text = ReadText(file);
    if (!text.ok()) return text.status();
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (!line.empty() && line[0] != '#') pairs.emplace_back(line);
    }
  }
  std::map<std::string, std::string> addresses;
  for (const std::string& pair : pairs) {
    std::vector<std::string> parts =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", pair, "\" is not region=HOST:PORT"));
    }
    addresses[std::string(absl::StripAsciiWhitespace(parts[0]))] =
        std::string(absl::StripAsciiWhitespace(parts[1]));
  }
  return addresses;
}

// Drives one collector: releases protocols when their time has come, in
// chunks of what is due.
struct RegionDriver {
  std::string region;
  std::string address;
  const RegionNight* night = nullptr;
  SubmitTally tally;
  grpc::Status failure;
  std::shared_ptr<grpc::Channel> channel;
  std::atomic<uint64_t>* sent = nullptr;

  void Run(absl::Time start, double speed, size_t chunk_size) {
    channel = MakeChannel(address);
    auto stub = v1::Collector::NewStub(channel);
    const size_t count = night->protocols.size();
    auto due = [&](size_t i) {
      return speed <= 0 ? start : start + night->delays[i] / speed;
    };
    size_t next = 0;
    while (next < count) {
      const absl::Time now = absl::Now();
      if (due(next) > now) {
        absl::SleepFor(std::min(due(next) - now, absl::Milliseconds(200)));
        continue;
      }
      size_t end = next;
      while (end < count && end - next < chunk_size && due(end) <= now) ++end;
      std::vector<v1::StationProtocol> chunk(
          night->protocols.begin() + static_cast<ptrdiff_t>(next),
          night->protocols.begin() + static_cast<ptrdiff_t>(end));
      failure = SubmitProtocols(*stub, chunk, chunk_size, &tally, nullptr);
      if (!failure.ok()) return;
      sent->fetch_add(end - next);
      next = end;
    }
  }
};

std::string Clock(absl::Duration simulated) {
  const int64_t minutes = absl::ToInt64Minutes(simulated);
  return absl::StrFormat("+%d:%02d", minutes / 60, minutes % 60);
}

int Drive(const std::map<std::string, RegionNight>& regions,
          uint64_t planned_duplicates) {
  absl::StatusOr<std::map<std::string, std::string>> addresses =
      CollectorAddresses();
  if (!addresses.ok()) return Fail(addresses.status());
  std::vector<std::unique_ptr<RegionDriver>> drivers;
  std::atomic<uint64_t> sent{0};
  std::atomic<size_t> finished{0};
  uint64_t total = 0;
  for (const auto& [region, night] : regions) {
    auto found = addresses->find(region);
    if (found == addresses->end()) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "no collector for region ", region,
          " (give --collectors region=HOST:PORT,... or --collectors_file)")));
    }
    auto driver = std::make_unique<RegionDriver>();
    driver->region = region;
    driver->address = found->second;
    driver->night = &night;
    driver->sent = &sent;
    drivers.push_back(std::move(driver));
    total += night.protocols.size();
  }

  const double speed = std::max(0.0, absl::GetFlag(FLAGS_speed));
  const size_t chunk_size =
      std::max<uint32_t>(absl::GetFlag(FLAGS_chunk_size), 1);
  const absl::Time start = absl::Now();
  // The night's clock: polls close now (scripts relate commit times to it,
  // e.g. scripts/decided-report.py).
  std::printf(
      "simulate: polls closed at %s, speed %g\n",
      absl::FormatTime(absl::RFC3339_full, start, absl::UTCTimeZone()).c_str(),
      speed);
  std::fflush(stdout);
  std::vector<std::thread> threads;
  for (auto& driver : drivers) {
    threads.emplace_back([&driver, &finished, start, speed, chunk_size] {
      driver->Run(start, speed, chunk_size);
      finished.fetch_add(1);
    });
  }
  // Progress on a terminal while the drivers work.
  const bool terminal = isatty(2);
  while (terminal && finished.load() < drivers.size()) {
    const absl::Duration simulated = (absl::Now() - start) * speed;
    std::fprintf(stderr, "\rpolls closed %s ago: %llu/%llu protocols sent ",
                 Clock(simulated).c_str(),
                 static_cast<unsigned long long>(sent.load()),
                 static_cast<unsigned long long>(total));
    std::fflush(stderr);
    absl::SleepFor(absl::Milliseconds(500));
  }
  for (std::thread& thread : threads) thread.join();
  if (terminal) std::fputc('\n', stderr);

  SubmitTally tally;
  bool delivered = true;
  for (const auto& driver : drivers) {
    tally.Add(driver->tally);
    if (!driver->failure.ok()) {
      delivered = false;
      const ServerRef server{
          absl::StrCat("collector for region ", driver->region),
          driver->address,
          absl::StrCat("start it, or correct region ", driver->region,
                       "'s address in ", CollectorsFlag())};
      // The sentence about an unreachable collector names the region and
      // the address itself.
      const bool unreachable =
          DescribeUnreachable(driver->failure, server, driver->channel.get())
              .has_value();
      ReportFailure(unreachable
                        ? std::string("simulate")
                        : absl::StrCat("simulate (region ", driver->region,
                                       " at ", driver->address, ")"),
                    driver->failure, server, driver->channel.get());
    }
  }
  std::printf(
      "simulate: %llu protocols to %zu collectors in %s (%llu planned "
      "duplicates): %llu submitted, %llu accepted, %llu duplicate, %llu "
      "stale, %llu rejected\n",
      static_cast<unsigned long long>(total), drivers.size(),
      absl::FormatDuration(
          absl::Trunc(absl::Now() - start, absl::Milliseconds(100)))
          .c_str(),
      static_cast<unsigned long long>(planned_duplicates),
      static_cast<unsigned long long>(tally.submitted),
      static_cast<unsigned long long>(tally.accepted),
      static_cast<unsigned long long>(tally.duplicate),
      static_cast<unsigned long long>(tally.stale),
      static_cast<unsigned long long>(tally.rejected));
  for (const v1::ProtocolResult& result : tally.rejections) {
    std::printf("  rejected station %u contest %s version %u: code %d: %s\n",
                result.station_id(), result.contest_id().c_str(),
                result.version(), result.status_code(),
                result.message().c_str());
  }
  return delivered && tally.rejected == 0 && tally.submitted == total
             ? kExitOk
             : kExitFailure;
}

}  // namespace

int RunSimulate(const std::vector<std::string>& args) {
  if (args.size() > 1) {
    std::fprintf(stderr,
                 "usage: tallyctl simulate [--collectors region=HOST:PORT,...] "
                 "[--collectors_file FILE] [--seed N] [--speed F] "
                 "[--corrections_percent P] [--duplicates_percent P] "
                 "[--target FILE] [--anomaly KIND:REGION[:PERCENT],...] "
                 "[--write_dir DIR] [--list_regions]\n");
    return kExitBadInput;
  }
  absl::StatusOr<std::unique_ptr<ElectionIndex>> index = LoadIndex();
  if (!index.ok()) return Fail(index.status());
  if (absl::GetFlag(FLAGS_list_regions)) {
    for (const v1::Region& region : (*index)->definition().regions()) {
      std::printf("%s\n", region.id().c_str());
    }
    return kExitOk;
  }
  absl::StatusOr<v1::ResultTarget> target = LoadTarget();
  if (!target.ok()) return Fail(target.status());

  sim::NightOptions options;
  const int64_t seed = absl::GetFlag(FLAGS_seed);
  options.seed = seed >= 0 ? static_cast<uint64_t>(seed) : kDefaultSeed;
  options.targets = {*target};
  options.correction_percent = absl::GetFlag(FLAGS_corrections_percent);
  options.duplicate_percent = absl::GetFlag(FLAGS_duplicates_percent);
  if (options.correction_percent > 100 || options.duplicate_percent > 100) {
    return Fail(absl::InvalidArgumentError("percentages must be 0..100"));
  }
  absl::StatusOr<std::vector<v1::StationProtocol>> truth =
      sim::GenerateTruth(**index, options);
  if (!truth.ok()) return Fail(truth.status());
  for (const std::string& text : absl::GetFlag(FLAGS_anomaly)) {
    absl::StatusOr<sim::Anomaly> anomaly = sim::ParseAnomaly(text);
    if (!anomaly.ok()) return Fail(anomaly.status());
    absl::StatusOr<uint64_t> stations =
        sim::PlantAnomaly(**index, *anomaly, options.seed, &*truth);
    if (!stations.ok()) return Fail(stations.status());
    std::fprintf(stderr,
                 "tallyctl simulate: planted %s at %llu stations: the totals "
                 "will not match the target result\n",
                 text.c_str(), static_cast<unsigned long long>(*stations));
  }
  const std::vector<sim::Submission> plan =
      sim::PlanNight(**index, *truth, options);
  uint64_t planned_duplicates = 0;
  for (const sim::Submission& submission : plan) {
    planned_duplicates += submission.duplicate ? 1 : 0;
  }
  absl::StatusOr<std::map<std::string, RegionNight>> regions =
      SplitByRegion(**index, plan, ReportingCurve(plan.size(), options.seed));
  if (!regions.ok()) return Fail(regions.status());

  const std::string write_dir = absl::GetFlag(FLAGS_write_dir);
  if (!write_dir.empty()) {
    absl::Status written = WriteNight(write_dir, *regions);
    return written.ok() ? kExitOk : Fail(written);
  }
  return Drive(*regions, planned_duplicates);
}

}  // namespace tally::cli

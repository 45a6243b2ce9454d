// A full disk and damaged stores, with the real tally-aggregator and
// tally-collector. Each runs on a small tmpfs of its own, mounted by the
// test (root only, else skipped), so that one can be filled while the
// other is not.
//
// FullDiskTest: a region's night in three parts. The aggregator's disk is
// filled while the collector forwards: the aggregator must refuse what it
// cannot make durable (RESOURCE_EXHAUSTED naming its data directory and
// "no space left on device"), report itself degraded on /healthz and
// tally_storage_degraded, keep serving reads with exactly what it
// acknowledged, and resume by itself once space is freed. Then the
// collector's disk is filled: station clients get RESOURCE_EXHAUSTED
// naming the collector's data directory for what cannot be made durable,
// and resubmit it once space is freed. At the end every acknowledged
// protocol is counted exactly once (GetResults against an independent sum
// of what was acknowledged, the online recount and `tallyctl verify`),
// and so it stays after a restart.
//
// DamagedStoreTest: a truncated MANIFEST, a truncated SST, bytes flipped
// in an SST, a missing CURRENT and a truncated closed WAL are each refused
// at start with one line naming the store, the file and what to do, exit
// code 1; the process never serves.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/simulator/night_generator.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "services/rpc/channel.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/collector.grpc.pb.h"
#include "tests/support/election_checks.h"
#include "tests/support/http_get.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally {
namespace {

using rpc::MakeChannel;
using testing::DeadlineContext;

constexpr uint64_t kSeed = 20231119;
constexpr absl::Duration kCallTimeout = absl::Seconds(30);
constexpr absl::Duration kStartTimeout = absl::Minutes(2);
constexpr absl::Duration kWaitTimeout = absl::Minutes(2);
constexpr char kNoSpace[] = "no space left on device";

// The preallocation RocksDB asks for its WAL (1.1 x the largest write
// buffer: 35 MiB for the aggregator, 17.6 MiB for the collector) does not
// fit on these, so the WAL grows page by page and a filled disk fails the
// next write instead of one many megabytes later.
constexpr int kAggregatorDiskMiB = 24;
constexpr int kCollectorDiskMiB = 12;

// A tmpfs of `mib` MiB at a new directory, unmounted on destruction. The
// mount point lies under the test's own temp dir, so its name is unique.
class SmallDisk {
 public:
  static absl::StatusOr<std::unique_ptr<SmallDisk>> Mount(
      const std::string& path, int mib) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return absl::InternalError(ec.message());
    const std::string options = absl::StrCat("size=", mib, "m,mode=0755");
    if (mount("tmpfs", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
              options.c_str()) != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("mount -t tmpfs ", path, ": ", std::strerror(errno)));
    }
    return std::unique_ptr<SmallDisk>(new SmallDisk(path));
  }
  ~SmallDisk() {
    Free();
    umount2(path_.c_str(), MNT_DETACH);
  }

  const std::string& path() const { return path_; }
  std::string Dir(const std::string& name) const {
    return absl::StrCat(path_, "/", name);
  }

  // Takes every free byte: a filler file written until ENOSPC, in large
  // then page-sized pieces.
  void Fill() {
    const std::string filler = absl::StrCat(path_, "/filler");
    const int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    std::vector<char> block(1 << 20, 'x');
    for (size_t piece : {size_t{1} << 20, size_t{4096}, size_t{512}}) {
      while (write(fd, block.data(), piece) == static_cast<ssize_t>(piece)) {
      }
    }
    close(fd);
  }
  void Free() { std::filesystem::remove(absl::StrCat(path_, "/filler")); }

 private:
  explicit SmallDisk(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

using testing::HttpGet;

// One unlabelled series of a Prometheus scrape; -1 when absent.
double Metric(const std::string& scrape, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(scrape, '\n')) {
    if (!absl::StartsWith(line, series + " ")) continue;
    double value = -1;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) return value;
  }
  return -1;
}

// Waits until `done` holds, polling; false at the deadline.
template <typename Fn>
bool WaitUntil(absl::Duration timeout, Fn done) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return true;
}

class FullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "mounting a tmpfs needs root";
    }
    reference_ = &testing::Reference(kSeed);
    ASSERT_TRUE(reference_->status.ok()) << reference_->status;
    const ElectionIndex* index = reference_->index.get();
    // The region with the fewest stations keeps the test short.
    std::map<std::string, int> stations;
    for (const v1::PollingStation& station : index->definition().stations()) {
      ++stations[station.region_id()];
    }
    int fewest = INT32_MAX;
    for (const auto& [region, count] : stations) {
      if (count < fewest) {
        fewest = count;
        region_ = region;
      }
    }
    for (const v1::StationProtocol& protocol : reference_->truth) {
      if (index->FindStation(protocol.station_id())->region_id() == region_) {
        night_.push_back(protocol);
      }
    }
    ASSERT_GE(night_.size(), 200u);

    dir_ = testing::MakeTempDir("disk_full");
    absl::StatusOr<std::unique_ptr<SmallDisk>> disk =
        SmallDisk::Mount(dir_ + "/aggregator-disk", kAggregatorDiskMiB);
    if (!disk.ok()) GTEST_SKIP() << disk.status();
    aggregator_disk_ = *std::move(disk);
    disk = SmallDisk::Mount(dir_ + "/collector-disk", kCollectorDiskMiB);
    ASSERT_TRUE(disk.ok()) << disk.status();
    collector_disk_ = *std::move(disk);
    ASSERT_NO_FATAL_FAILURE(StartAggregator());
    ASSERT_NO_FATAL_FAILURE(StartCollector());
  }

  void TearDown() override {
    collector_.reset();
    aggregator_.reset();
    collector_disk_.reset();
    aggregator_disk_.reset();
    if (!dir_.empty()) testing::RemoveTempDirUnlessFailed(dir_);
  }

  std::string AggregatorDataDir() const {
    return aggregator_disk_->Dir("data");
  }
  std::string CollectorDataDir() const { return collector_disk_->Dir("data"); }

  void StartAggregator() {
    absl::StatusOr<testing::Server> server = testing::StartServer(
        AGGREGATOR_PATH,
        {"--data_dir", AggregatorDataDir(), "--listen", "127.0.0.1:0",
         "--admin_listen", "127.0.0.1:0", "--insecure"},
        absl::StrCat(dir_, ".aggregator.", ++starts_, ".log"), kStartTimeout);
    ASSERT_TRUE(server.ok()) << server.status();
    aggregator_ = std::make_unique<testing::Server>(*std::move(server));
    absl::StatusOr<std::string> admin = aggregator_->process.WaitFor(
        "admin endpoint on http://", kStartTimeout);
    ASSERT_TRUE(admin.ok()) << admin.status();
    aggregator_admin_ = *admin;
    aggregator_stub_ =
        v1::Aggregator::NewStub(MakeChannel(aggregator_->address));
  }

  void StartCollector() {
    absl::StatusOr<testing::Server> server = testing::StartServer(
        COLLECTOR_PATH,
        {"--region", region_, "--data_dir", CollectorDataDir(), "--listen",
         "127.0.0.1:0", "--aggregator", aggregator_->address, "--admin_listen",
         "127.0.0.1:0", "--insecure"},
        absl::StrCat(dir_, ".collector.", ++starts_, ".log"), kStartTimeout);
    ASSERT_TRUE(server.ok()) << server.status();
    collector_ = std::make_unique<testing::Server>(*std::move(server));
    absl::StatusOr<std::string> admin =
        collector_->process.WaitFor("admin endpoint on http://", kStartTimeout);
    ASSERT_TRUE(admin.ok()) << admin.status();
    collector_admin_ = *admin;
    collector_stub_ = v1::Collector::NewStub(MakeChannel(collector_->address));
  }

  // Submits one protocol; a durable acknowledgement (accepted or
  // duplicate) records it as acknowledged.
  grpc::Status Submit(const v1::StationProtocol& protocol) {
    v1::SubmitRequest request;
    *request.mutable_protocol() = protocol;
    v1::SubmitResponse response;
    const grpc::Status status = collector_stub_->Submit(
        DeadlineContext(kCallTimeout).get(), request, &response);
    if (status.ok()) {
      EXPECT_TRUE(response.result().outcome() == v1::OUTCOME_ACCEPTED ||
                  response.result().outcome() == v1::OUTCOME_DUPLICATE)
          << response.result().ShortDebugString();
      acknowledged_.insert(Key(protocol));
      if (response.result().outcome() == v1::OUTCOME_ACCEPTED) {
        sequence_[response.result().sequence()] = Key(protocol);
      }
    }
    return status;
  }

  static std::pair<std::string, uint32_t> Key(const v1::StationProtocol& p) {
    return {p.contest_id(), p.station_id()};
  }

  absl::StatusOr<v1::CollectorStatus> CollectorStatus() {
    v1::CollectorStatus status;
    const grpc::Status rpc = collector_stub_->GetCollectorStatus(
        DeadlineContext(kCallTimeout).get(), v1::GetCollectorStatusRequest(),
        &status);
    if (!rpc.ok()) return absl::UnavailableError(rpc.error_message());
    return status;
  }

  bool Drained() {
    absl::StatusOr<v1::CollectorStatus> status = CollectorStatus();
    return status.ok() && status->outbox_depth() == 0 &&
           status->last_acked_seq() == status->last_seq();
  }

  // Protocols the aggregator has counted: those the collector forwarded
  // and the aggregator acknowledged (sequence <= the collector's acked
  // sequence).
  std::vector<v1::StationProtocol> CountedBy(uint64_t acked_seq) const {
    std::set<std::pair<std::string, uint32_t>> counted;
    for (const auto& [seq, key] : sequence_) {
      if (seq <= acked_seq) counted.insert(key);
    }
    std::vector<v1::StationProtocol> out;
    for (const v1::StationProtocol& protocol : night_) {
      if (counted.contains(Key(protocol))) out.push_back(protocol);
    }
    return out;
  }

  // Every totals the aggregator reports equals an independent sum of
  // `counted` (sim::SumTruth), field by field, revisions aside.
  void ExpectTotalsOf(const std::vector<v1::StationProtocol>& counted) {
    v1::GetResultsRequest request;
    request.set_all_scopes(true);
    v1::GetResultsResponse results;
    const grpc::Status rpc = aggregator_stub_->GetResults(
        DeadlineContext(kCallTimeout).get(), request, &results);
    ASSERT_TRUE(rpc.ok()) << rpc.error_message();
    ASSERT_GT(results.results_size(), 0);
    int compared = 0;
    for (const v1::ContestResults& entry : results.results()) {
      v1::Totals actual = entry.totals();
      actual.clear_revision();
      const v1::Totals expected = sim::SumTruth(
          *reference_->index, counted, actual.contest_id(), actual.scope());
      std::string differences;
      google::protobuf::util::MessageDifferencer differencer;
      differencer.ReportDifferencesToString(&differences);
      EXPECT_TRUE(differencer.Compare(expected, actual))
          << actual.contest_id() << " " << actual.scope().ShortDebugString()
          << ":\n"
          << differences;
      ++compared;
    }
    EXPECT_EQ(compared, results.results_size());
  }

  void ExpectVerifiedOnline() {
    v1::VerifyResponse verify;
    const grpc::Status rpc = aggregator_stub_->Verify(
        DeadlineContext(kCallTimeout).get(), v1::VerifyRequest(), &verify);
    ASSERT_TRUE(rpc.ok()) << rpc.error_message();
    EXPECT_EQ(verify.differences_size(), 0) << verify.ShortDebugString();
  }

  // /healthz of an admin endpoint: its status and body.
  std::pair<int, std::string> Health(const std::string& admin) {
    int status = 0;
    absl::StatusOr<std::string> body = HttpGet(admin, "/healthz", &status);
    return {status, body.ok() ? *body : body.status().ToString()};
  }

  std::string Scrape(const std::string& admin) {
    int status = 0;
    absl::StatusOr<std::string> body = HttpGet(admin, "/metrics", &status);
    return body.ok() ? *body : "";
  }

  // The reference election and its true final protocols.
  const testing::ReferenceElection* reference_ = nullptr;
  std::string region_;
  std::vector<v1::StationProtocol> night_;
  std::string dir_;
  std::unique_ptr<SmallDisk> aggregator_disk_;
  std::unique_ptr<SmallDisk> collector_disk_;
  std::unique_ptr<testing::Server> aggregator_;
  std::unique_ptr<testing::Server> collector_;
  std::string aggregator_admin_;
  std::string collector_admin_;
  std::unique_ptr<v1::Aggregator::Stub> aggregator_stub_;
  std::unique_ptr<v1::Collector::Stub> collector_stub_;
  int starts_ = 0;
  std::set<std::pair<std::string, uint32_t>> acknowledged_;
  // Outbox sequence -> protocol, for what the collector accepted.
  std::map<uint64_t, std::pair<std::string, uint32_t>> sequence_;
};

TEST_F(FullDiskTest, NothingUnacknowledgedCountsAndEverythingResumes) {
  const size_t third = night_.size() / 3;
  const std::vector<v1::StationProtocol> part1(night_.begin(),
                                               night_.begin() + third);
  const std::vector<v1::StationProtocol> part2(night_.begin() + third,
                                               night_.begin() + 2 * third);
  const std::vector<v1::StationProtocol> part3(night_.begin() + 2 * third,
                                               night_.end());

  // --- A healthy start.
  for (const v1::StationProtocol& protocol : part1) {
    const grpc::Status status = Submit(protocol);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ASSERT_TRUE(WaitUntil(kWaitTimeout, [&] { return Drained(); }));
  ASSERT_NO_FATAL_FAILURE(ExpectTotalsOf(part1));
  EXPECT_EQ(Health(aggregator_admin_),
            std::make_pair(200, std::string("ok\n")));

  // --- The aggregator's disk fills while the collector forwards.
  ASSERT_NO_FATAL_FAILURE(aggregator_disk_->Fill());
  for (const v1::StationProtocol& protocol : part2) {
    const grpc::Status status = Submit(protocol);
    ASSERT_TRUE(status.ok()) << status.error_message();  // the outbox holds
  }
  std::pair<int, std::string> health;
  ASSERT_TRUE(WaitUntil(kWaitTimeout,
                        [&] {
                          health = Health(aggregator_admin_);
                          return absl::StartsWith(health.second, "degraded:");
                        }))
      << "aggregator /healthz: " << health.first << " " << health.second;
  // Degraded, alive and saying why: the disk and its directory.
  EXPECT_EQ(health.first, 200);
  EXPECT_TRUE(absl::StrContains(health.second, kNoSpace)) << health.second;
  EXPECT_TRUE(absl::StrContains(health.second, AggregatorDataDir()))
      << health.second;
  EXPECT_EQ(Metric(Scrape(aggregator_admin_), "tally_storage_degraded"), 1);
  EXPECT_TRUE(absl::StrContains(aggregator_->process.log(),
                                "storage failure: degraded"))
      << aggregator_->process.log();
  // The collector keeps what was refused and says why.
  absl::StatusOr<v1::CollectorStatus> status;
  ASSERT_TRUE(WaitUntil(
      kWaitTimeout,
      [&] {
        status = CollectorStatus();
        return status.ok() && absl::StrContains(status->last_error(), kNoSpace);
      }))
      << (status.ok() ? status->ShortDebugString()
                      : status.status().ToString());
  EXPECT_TRUE(absl::StrContains(status->last_error(), "RESOURCE_EXHAUSTED"))
      << status->last_error();
  EXPECT_TRUE(absl::StrContains(status->last_error(), AggregatorDataDir()))
      << status->last_error();
  EXPECT_GT(status->outbox_depth(), 0u);
  // Reads are served, with exactly what was acknowledged as durable.
  status = CollectorStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_NO_FATAL_FAILURE(ExpectTotalsOf(CountedBy(status->last_acked_seq())));
  ASSERT_NO_FATAL_FAILURE(ExpectVerifiedOnline());

  // --- Space is freed: the aggregator resumes without a restart.
  aggregator_disk_->Free();
  ASSERT_TRUE(WaitUntil(kWaitTimeout, [&] {
    health = Health(aggregator_admin_);
    return health.second == "ok\n";
  })) << health.second;
  ASSERT_TRUE(WaitUntil(kWaitTimeout, [&] { return Drained(); }));
  EXPECT_EQ(Metric(Scrape(aggregator_admin_), "tally_storage_degraded"), 0);
  EXPECT_GE(Metric(Scrape(aggregator_admin_), "tally_storage_recoveries_total"),
            1);
  ASSERT_TRUE(aggregator_->process.running());
  std::vector<v1::StationProtocol> counted = part1;
  counted.insert(counted.end(), part2.begin(), part2.end());
  ASSERT_NO_FATAL_FAILURE(ExpectTotalsOf(counted));

  // --- The collector's disk fills: station clients are refused with the
  // reason, and nothing refused is acknowledged.
  ASSERT_NO_FATAL_FAILURE(collector_disk_->Fill());
  std::vector<v1::StationProtocol> refused;
  for (const v1::StationProtocol& protocol : part3) {
    const grpc::Status submitted = Submit(protocol);
    if (submitted.ok()) continue;
    ASSERT_EQ(submitted.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << submitted.error_message();
    EXPECT_TRUE(absl::StrContains(submitted.error_message(), kNoSpace))
        << submitted.error_message();
    EXPECT_TRUE(
        absl::StrContains(submitted.error_message(), CollectorDataDir()))
        << submitted.error_message();
    refused.push_back(protocol);
  }
  ASSERT_FALSE(refused.empty()) << "the collector accepted all of "
                                << part3.size() << " protocols on a full disk";
  health = Health(collector_admin_);
  EXPECT_EQ(health.first, 200);
  EXPECT_TRUE(absl::StartsWith(health.second, "degraded:")) << health.second;
  EXPECT_EQ(Metric(Scrape(collector_admin_), "tally_outbox_write_failing"), 1);
  for (const v1::StationProtocol& protocol : refused) {
    EXPECT_FALSE(acknowledged_.contains(Key(protocol)));
  }

  // --- Space is freed: the refused are submitted again and everything
  // drains.
  collector_disk_->Free();
  for (const v1::StationProtocol& protocol : refused) {
    const grpc::Status status = Submit(protocol);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ASSERT_TRUE(WaitUntil(kWaitTimeout, [&] { return Drained(); }));
  EXPECT_EQ(Health(collector_admin_).second, "ok\n");
  ASSERT_EQ(acknowledged_.size(), night_.size());
  ASSERT_NO_FATAL_FAILURE(ExpectTotalsOf(night_));
  ASSERT_NO_FATAL_FAILURE(ExpectVerifiedOnline());
  absl::StatusOr<testing::CommandResult> verify = testing::RunCommand(
      TALLYCTL_PATH,
      {"verify", "--aggregator", aggregator_->address, "--insecure"},
      kCallTimeout);
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_EQ(verify->exit_code, 0) << verify->output;
  EXPECT_TRUE(absl::StrContains(verify->output, " 0 differences"))
      << verify->output;

  // --- The store is intact: a restart serves the same totals.
  collector_->process.Stop(absl::Seconds(30));
  aggregator_->process.Stop(absl::Seconds(30));
  absl::StatusOr<int> exit_code = aggregator_->process.Wait(kCallTimeout);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  ASSERT_NO_FATAL_FAILURE(ExpectTotalsOf(night_));
  ASSERT_NO_FATAL_FAILURE(ExpectVerifiedOnline());
}

// --- Damaged stores ---------------------------------------------------------

class DamagedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("damaged_store");
    const testing::ReferenceElection& reference = testing::Reference(kSeed);
    ASSERT_TRUE(reference.status.ok()) << reference.status;
    const ElectionIndex& index = *reference.index;
    region_ = index.definition().regions(0).id();
    for (const v1::StationProtocol& protocol : reference.truth) {
      if (index.FindStation(protocol.station_id())->region_id() == region_) {
        protocols_.push_back(protocol);
      }
    }
    ASSERT_GE(protocols_.size(), 200u);
  }
  void TearDown() override { testing::RemoveTempDirUnlessFailed(dir_); }

  // An aggregator store with counted protocols, stopped cleanly (its
  // memtables flushed to SST files).
  std::string MakeAggregatorStore(const std::string& name) {
    const std::string data = absl::StrCat(dir_, "/", name);
    absl::StatusOr<testing::Server> server = testing::StartServer(
        AGGREGATOR_PATH,
        {"--data_dir", data, "--listen", "127.0.0.1:0", "--insecure"},
        absl::StrCat(dir_, ".", name, ".make.log"), kStartTimeout);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return data;
    absl::StatusOr<std::unique_ptr<testing::IngestSession>> session =
        testing::IngestSession::Open(server->address, "collector-test",
                                     region_);
    EXPECT_TRUE(session.ok()) << session.status();
    if (session.ok()) {
      absl::StatusOr<v1::IngestAck> ack =
          (*session)->Send(testing::Entries(protocols_, 1));
      EXPECT_TRUE(ack.ok()) << ack.status();
      (*session)->Close();
    }
    server->process.Stop(absl::Seconds(30));
    return data;
  }

  // A collector store holding an outbox (no aggregator to drain it),
  // opened `starts` times: after two its WAL was replayed into SST files;
  // after one that was killed (`kill`), the outbox is only in the WAL.
  std::string MakeCollectorStore(const std::string& name, int starts = 2,
                                 bool kill = false) {
    const std::string data = absl::StrCat(dir_, "/", name);
    for (int start = 0; start < starts; ++start) {
      absl::StatusOr<testing::Server> server = testing::StartServer(
          COLLECTOR_PATH,
          {"--region", region_, "--data_dir", data, "--listen", "127.0.0.1:0",
           "--aggregator", "127.0.0.1:1", "--insecure"},
          absl::StrCat(dir_, ".", name, ".make", start, ".log"), kStartTimeout);
      EXPECT_TRUE(server.ok()) << server.status();
      if (!server.ok()) return data;
      if (start == 0) {
        auto stub = v1::Collector::NewStub(MakeChannel(server->address));
        v1::SubmitStreamResponse response;
        auto context = DeadlineContext(kCallTimeout);
        auto writer = stub->SubmitStream(context.get(), &response);
        for (const v1::StationProtocol& protocol : protocols_) {
          v1::SubmitRequest request;
          *request.mutable_protocol() = protocol;
          writer->Write(request);
        }
        writer->WritesDone();
        const grpc::Status status = writer->Finish();
        EXPECT_TRUE(status.ok()) << status.error_message();
        EXPECT_EQ(response.accepted(), protocols_.size());
      }
      if (kill) {
        server->process.Signal(SIGKILL);
        EXPECT_TRUE(server->process.Wait(kCallTimeout).ok());
      } else {
        server->process.Stop(absl::Seconds(30));
      }
    }
    return data;
  }

  static std::vector<std::string> FilesEndingWith(const std::string& dir,
                                                  const std::string& suffix) {
    std::vector<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (absl::EndsWith(name, suffix)) out.push_back(entry.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::string Manifest(const std::string& dir) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (absl::StartsWith(name, "MANIFEST-")) return entry.path().string();
    }
    return "";
  }
  // The largest SST: the one holding the protocols (or the outbox).
  static std::string LargestSst(const std::string& dir) {
    std::string largest;
    uintmax_t size = 0;
    for (const std::string& file : FilesEndingWith(dir, ".sst")) {
      if (std::filesystem::file_size(file) > size) {
        size = std::filesystem::file_size(file);
        largest = file;
      }
    }
    return largest;
  }
  static void Truncate(const std::string& file, double keep) {
    const uintmax_t size = std::filesystem::file_size(file);
    std::filesystem::resize_file(file, static_cast<uintmax_t>(size * keep));
  }
  // Inverts 16 bytes in the middle of a file: inside a data block.
  static void FlipBytes(const std::string& file) {
    std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
    const std::streamoff middle =
        static_cast<std::streamoff>(std::filesystem::file_size(file) / 3);
    char bytes[16];
    stream.seekg(middle);
    stream.read(bytes, sizeof(bytes));
    for (char& byte : bytes) byte = static_cast<char>(~byte);
    stream.seekp(middle);
    stream.write(bytes, sizeof(bytes));
  }

  // Starts `binary` on the damaged store: it must exit 1 without serving,
  // with one error line naming the store, `file` and what to do.
  void ExpectRefused(const std::string& binary,
                     const std::vector<std::string>& args,
                     const std::string& store, const std::string& data,
                     const std::string& file, const std::string& advice) {
    absl::StatusOr<testing::CommandResult> run =
        testing::RunCommand(binary, args, kStartTimeout);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->exit_code, 1) << run->output;
    EXPECT_FALSE(absl::StrContains(run->output, "serving on")) << run->output;
    std::vector<std::string> errors;
    for (absl::string_view line : absl::StrSplit(run->output, '\n')) {
      if (absl::StrContains(line, "cannot start")) {
        errors.emplace_back(line);
      }
    }
    ASSERT_EQ(errors.size(), 1u) << run->output;
    const std::string& line = errors[0];
    EXPECT_TRUE(absl::StrContains(
        line, absl::StrCat("the ", store, " store in ", data, " is damaged")))
        << line;
    if (file.empty()) {  // some file, whichever RocksDB names
      EXPECT_TRUE(absl::StrContains(line, "(file ")) << line;
    } else {
      EXPECT_TRUE(absl::StrContains(
          line, std::filesystem::path(file).filename().string()))
          << line;
    }
    EXPECT_TRUE(absl::StrContains(line, "it is not served")) << line;
    EXPECT_TRUE(absl::StrContains(line, advice)) << line;
  }

  void ExpectAggregatorRefused(const std::string& data,
                               const std::string& file) {
    ExpectRefused(AGGREGATOR_PATH,
                  {"--data_dir", data, "--listen", "127.0.0.1:0", "--insecure"},
                  "aggregator", data, file, "restore " + data);
  }
  void ExpectCollectorRefused(const std::string& data,
                              const std::string& file) {
    ExpectRefused(COLLECTOR_PATH,
                  {"--region", region_, "--data_dir", data, "--listen",
                   "127.0.0.1:0", "--aggregator", "127.0.0.1:1", "--insecure"},
                  "collector", data, file, "move " + data + " aside");
  }

  std::string dir_;
  std::string region_;
  std::vector<v1::StationProtocol> protocols_;
};

TEST_F(DamagedStoreTest, AggregatorRefusesTruncatedManifest) {
  const std::string data = MakeAggregatorStore("manifest");
  const std::string manifest = Manifest(data);
  ASSERT_FALSE(manifest.empty());
  Truncate(manifest, 0.5);
  // RocksDB names what the shortened MANIFEST misses (a WAL it lists).
  ExpectAggregatorRefused(data, "");
}

TEST_F(DamagedStoreTest, AggregatorRefusesTruncatedSst) {
  const std::string data = MakeAggregatorStore("truncated_sst");
  const std::string sst = LargestSst(data);
  ASSERT_FALSE(sst.empty());
  Truncate(sst, 0.5);
  ExpectAggregatorRefused(data, sst);
}

TEST_F(DamagedStoreTest, AggregatorRefusesFlippedSstBytes) {
  const std::string data = MakeAggregatorStore("flipped_sst");
  const std::string sst = LargestSst(data);
  ASSERT_FALSE(sst.empty());
  FlipBytes(sst);
  ExpectAggregatorRefused(data, sst);
}

TEST_F(DamagedStoreTest, AggregatorRefusesMissingCurrent) {
  const std::string data = MakeAggregatorStore("current");
  ASSERT_TRUE(std::filesystem::remove(data + "/CURRENT"));
  ExpectAggregatorRefused(data, "CURRENT");
}

// RocksDB takes the cut MANIFEST for one whose last write did not
// complete, opens without the SST files it no longer lists and deletes
// them: the store is refused because it opened empty over SST files, and
// a DAMAGED file keeps the next start from serving the emptied store.
TEST_F(DamagedStoreTest, CollectorRefusesTruncatedManifest) {
  const std::string data = MakeCollectorStore("collector_manifest");
  const std::string manifest = Manifest(data);
  ASSERT_FALSE(manifest.empty());
  Truncate(manifest, 0.5);
  ExpectCollectorRefused(data, manifest);
  ExpectCollectorRefused(data, "DAMAGED");
}

TEST_F(DamagedStoreTest, CollectorRefusesFlippedSstBytes) {
  const std::string data = MakeCollectorStore("collector_flipped_sst");
  const std::string sst = LargestSst(data);
  ASSERT_FALSE(sst.empty());
  FlipBytes(sst);
  ExpectCollectorRefused(data, sst);
}

// Acknowledged submissions only in the WAL (the collector was killed),
// and bytes flipped in it: refused, where point-in-time recovery would
// silently have dropped every record from the damaged one on. (A WAL cut
// short at its end is a crash during the last write and is recovered.)
TEST_F(DamagedStoreTest, CollectorRefusesFlippedWalBytes) {
  const std::string data = MakeCollectorStore("collector_wal", 1, true);
  const std::vector<std::string> wals = FilesEndingWith(data, ".log");
  ASSERT_FALSE(wals.empty());
  FlipBytes(wals.back());
  ExpectCollectorRefused(data, "LOG");
}

TEST_F(DamagedStoreTest, CollectorRefusesTruncatedSst) {
  const std::string data = MakeCollectorStore("collector_truncated_sst");
  const std::string sst = LargestSst(data);
  ASSERT_FALSE(sst.empty());
  Truncate(sst, 0.5);
  ExpectCollectorRefused(data, sst);
}

}  // namespace
}  // namespace tally

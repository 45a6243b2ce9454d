// The transparency log scenario (`--scenarios log`): a whole night is
// ingested into the real aggregator (16 streams, batches of 256, as in
// `scale`), then its log is measured through tally.v1.Log on loopback:
//
// - inclusion proofs (GetInclusionProof by leaf index, against the latest
//   head) of leaves spread over the whole tree, each timed from the call to
//   the answer and verified against the signed root; the nodes each proof
//   reads are counted by replaying the library's proof construction
//   (transparency::InclusionProof, the function the service calls) on a
//   counting reader: one RocksDB MultiGet of that many log_nodes keys, plus
//   two point reads for the leaf's data (log_leaves, then protocols);
// - consistency proofs from earlier signed heads to the latest, timed and
//   verified the same way (what a witness or an incremental audit asks);
// - `tallyctl audit` of the whole night, run as a child process with the
//   log's public key: wall time from exec to exit, leaves per second, and
//   the CPU seconds of tallyctl and of the aggregator serving it.
//
// Shapes: "reference" is the embedded reference election (Kazakhstan
// 2023, the demo's night: every protocol once); "indonesia", "india" and
// "bench" are the synthetic shapes of workload.h, scaled by
// --log_fraction.
#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/bench/child_process.h"
#include "clients/bench/ingest_load.h"
#include "clients/bench/metrics_scrape.h"
#include "clients/bench/scenarios.h"
#include "clients/bench/wire.h"
#include "services/domain/definition_generator.h"
#include "services/transparency/merkle.h"
#include "tally/v1/log.grpc.pb.h"

namespace tally::bench {
namespace {

// Records the nodes a proof asks for and answers zero hashes: the count of
// log_nodes keys the service's one MultiGet reads for the same proof.
class CountingReader : public transparency::NodeReader {
 public:
  absl::Status ReadNodes(absl::Span<const transparency::NodeId> nodes,
                         std::vector<transparency::Hash>* hashes) override {
    nodes_ += nodes.size();
    ++calls_;
    hashes->assign(nodes.size(), transparency::Hash{});
    return absl::OkStatus();
  }
  uint64_t nodes() const { return nodes_; }
  uint64_t calls() const { return calls_; }

 private:
  uint64_t nodes_ = 0;
  uint64_t calls_ = 0;
};

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  return context;
}

std::vector<transparency::Hash> Hashes(
    const google::protobuf::RepeatedPtrField<std::string>& bytes,
    absl::Status* status) {
  std::vector<transparency::Hash> out;
  for (const std::string& b : bytes) {
    absl::StatusOr<transparency::Hash> hash =
        transparency::HashFromBytes(b, "proof hash");
    if (!hash.ok()) {
      *status = hash.status();
      return {};
    }
    out.push_back(*hash);
  }
  return out;
}

// CPU seconds of this process's reaped children so far.
double ChildrenCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_CHILDREN, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) /
             1e6;
}

absl::StatusOr<Workload> LogWorkload(const std::string& shape, double fraction,
                                     const std::string& definition_path) {
  if (shape == "reference") {
    absl::StatusOr<v1::ElectionDefinition> definition =
        EmbeddedDefaultDefinition();
    if (!definition.ok()) return definition.status();
    const absl::Time began = absl::Now();
    absl::StatusOr<Workload> workload =
        WorkloadOf(*std::move(definition), definition_path, 2023);
    if (workload.ok()) {
      workload->generate_seconds = absl::ToDoubleSeconds(absl::Now() - began);
    }
    return workload;
  }
  const uint32_t stations = std::max<uint32_t>(
      1, static_cast<uint32_t>(ShapeStations(shape) * fraction));
  absl::StatusOr<v1::DefinitionSpec> spec = ShapeSpec(shape, stations);
  if (!spec.ok()) return spec.status();
  return BuildWorkload(*spec, definition_path, 2024);
}

struct ProofFigures {
  LatencySamples latency;
  uint64_t count = 0;
  uint64_t verified = 0;
  uint64_t nodes_max = 0;
  uint64_t nodes_sum = 0;
  uint64_t hashes_max = 0;
};

void AddProofFigures(Row& row, const std::string& prefix, ProofFigures& f) {
  row.Set(prefix + "_proofs", static_cast<int64_t>(f.count))
      .Set(prefix + "_verified", static_cast<int64_t>(f.verified))
      .Set(prefix + "_p50_ms", f.latency.PercentileMs(50))
      .Set(prefix + "_p99_ms", f.latency.PercentileMs(99))
      .Set(prefix + "_max_ms", f.latency.MaxMs())
      .Set(prefix + "_hashes_max", static_cast<int64_t>(f.hashes_max))
      .Set(prefix + "_nodes_read_mean",
           f.count > 0
               ? static_cast<double>(f.nodes_sum) / static_cast<double>(f.count)
               : 0.0)
      .Set(prefix + "_nodes_read_max", static_cast<int64_t>(f.nodes_max));
}

// Inclusion proofs of `count` leaves spread over [0, size), each verified
// against `root`.
ProofFigures MeasureInclusion(v1::Log::Stub& stub, uint64_t size,
                              const transparency::Hash& root, uint32_t count,
                              std::vector<std::string>* errors) {
  ProofFigures f;
  std::mt19937_64 random(15);
  for (uint32_t i = 0; i < count && size > 0; ++i) {
    // The first and last leaves, then leaves spread uniformly.
    const uint64_t leaf = i == 0 ? 0 : i == 1 ? size - 1 : random() % size;
    v1::GetInclusionProofRequest request;
    request.set_leaf_index(leaf);
    v1::GetInclusionProofResponse response;
    const absl::Time began = absl::Now();
    grpc::Status status =
        stub.GetInclusionProof(Context().get(), request, &response);
    f.latency.Add(absl::ToInt64Microseconds(absl::Now() - began));
    ++f.count;
    if (!status.ok()) {
      errors->push_back(absl::StrCat("inclusion proof of leaf ", leaf, ": ",
                                     status.error_message()));
      continue;
    }
    absl::Status parsed;
    const std::vector<transparency::Hash> path =
        Hashes(response.audit_path(), &parsed);
    absl::Status verified =
        parsed.ok()
            ? transparency::VerifyInclusion(
                  leaf, response.tree_size(),
                  transparency::HashLeaf(response.leaf_data()), path, root)
            : parsed;
    if (response.tree_size() != size) {
      verified = absl::InternalError(absl::StrCat(
          "answered for tree size ", response.tree_size(), ", not ", size));
    }
    if (!verified.ok()) {
      errors->push_back(absl::StrCat("inclusion proof of leaf ", leaf, ": ",
                                     verified.message()));
      continue;
    }
    ++f.verified;
    f.hashes_max = std::max<uint64_t>(f.hashes_max, path.size());
    CountingReader counter;
    (void)transparency::InclusionProof(counter, leaf, size);
    f.nodes_sum += counter.nodes();
    f.nodes_max = std::max(f.nodes_max, counter.nodes());
  }
  return f;
}

// Consistency proofs from the heads of `count` earlier revisions to the
// latest head (`latest`), each verified with both signed roots.
ProofFigures MeasureConsistency(v1::Log::Stub& stub, const v1::TreeHead& latest,
                                uint32_t count,
                                std::vector<std::string>* errors) {
  ProofFigures f;
  std::mt19937_64 random(2023);
  for (uint32_t i = 0; i < count && latest.revision() > 1; ++i) {
    const uint64_t revision = 1 + random() % (latest.revision() - 1);
    v1::GetTreeHeadRequest head_request;
    head_request.set_revision(revision);
    v1::GetTreeHeadResponse old;
    grpc::Status status = stub.GetTreeHead(Context().get(), head_request, &old);
    if (!status.ok()) {
      errors->push_back(absl::StrCat("tree head of revision ", revision, ": ",
                                     status.error_message()));
      continue;
    }
    const uint64_t first = old.signed_head().head().tree_size();
    v1::GetConsistencyProofRequest request;
    request.set_first(first);
    request.set_second(latest.tree_size());
    v1::GetConsistencyProofResponse response;
    const absl::Time began = absl::Now();
    status = stub.GetConsistencyProof(Context().get(), request, &response);
    f.latency.Add(absl::ToInt64Microseconds(absl::Now() - began));
    ++f.count;
    if (!status.ok()) {
      errors->push_back(absl::StrCat("consistency proof ", first, " -> ",
                                     latest.tree_size(), ": ",
                                     status.error_message()));
      continue;
    }
    absl::Status verified;
    const std::vector<transparency::Hash> proof =
        Hashes(response.proof(), &verified);
    absl::StatusOr<transparency::Hash> first_root = transparency::HashFromBytes(
        old.signed_head().head().root_hash(), "root");
    absl::StatusOr<transparency::Hash> second_root =
        transparency::HashFromBytes(latest.root_hash(), "root");
    if (verified.ok()) verified = first_root.status();
    if (verified.ok()) verified = second_root.status();
    if (verified.ok()) {
      verified = transparency::VerifyConsistency(
          first, latest.tree_size(), *first_root, *second_root, proof);
    }
    if (!verified.ok()) {
      errors->push_back(absl::StrCat("consistency proof ", first, " -> ",
                                     latest.tree_size(), ": ",
                                     verified.message()));
      continue;
    }
    ++f.verified;
    f.hashes_max = std::max<uint64_t>(f.hashes_max, proof.size());
    CountingReader counter;
    (void)transparency::ConsistencyProof(counter, first, latest.tree_size());
    f.nodes_sum += counter.nodes();
    f.nodes_max = std::max(f.nodes_max, counter.nodes());
  }
  return f;
}

}  // namespace

void RunLogScenario(const BenchConfig& config, Report& report) {
  for (const std::string& shape : config.log_shapes) {
    const std::string name = absl::StrCat("log ", shape);
    const std::string dir = FreshDir(config, "log-" + shape);
    Progress(name + ": generating the night");
    absl::StatusOr<Workload> workload =
        LogWorkload(shape, config.log_fraction, dir + "/definition.json");
    if (!workload.ok()) {
      report.AddError(absl::StrCat(name, ": ", workload.status().message()));
      continue;
    }
    absl::StatusOr<Server> aggregator = StartAggregator(
        config, dir, workload->definition_path, "aggregator.log");
    if (!aggregator.ok()) {
      report.AddError(absl::StrCat(name, ": ", aggregator.status().message()));
      continue;
    }
    Progress(absl::StrCat(name, ": ingesting ", workload->total, " protocols"));
    IngestResult ingest =
        IngestWholeNight(config, aggregator->address, *workload, "log");
    for (const std::string& error : ingest.errors) {
      report.AddError(absl::StrCat(name, ": ", error));
    }
    workload->by_region.clear();
    workload->by_region.shrink_to_fit();

    Row row{"log", "tally", {}};
    row.Set("shape", shape)
        .Set("stations", int64_t{workload->definition.stations_size()})
        .Set("protocols", static_cast<int64_t>(ingest.accepted));
    auto stub = v1::Log::NewStub(OwnChannel(aggregator->address));
    v1::GetTreeHeadResponse latest;
    grpc::Status status =
        stub->GetTreeHead(Context().get(), v1::GetTreeHeadRequest(), &latest);
    v1::GetPublicKeysResponse keys;
    if (status.ok()) {
      status = stub->GetPublicKeys(Context().get(), v1::GetPublicKeysRequest(),
                                   &keys);
    }
    if (!status.ok() || keys.log_keys().empty()) {
      report.AddError(absl::StrCat(
          name, ": the log's head and key: ", status.error_message()));
      aggregator->process.Stop(AggregatorStopGrace(config));
      continue;
    }
    const v1::TreeHead& head = latest.signed_head().head();
    row.Set("leaves", static_cast<int64_t>(head.tree_size()))
        .Set("revisions", static_cast<int64_t>(head.revision()));
    absl::StatusOr<transparency::Hash> root =
        transparency::HashFromBytes(head.root_hash(), "root");
    std::vector<std::string> errors;
    if (root.ok()) {
      Progress(absl::StrCat(name, ": ", config.log_proofs,
                            " inclusion and consistency proofs at ",
                            head.tree_size(), " leaves"));
      ProofFigures inclusion = MeasureInclusion(*stub, head.tree_size(), *root,
                                                config.log_proofs, &errors);
      AddProofFigures(row, "inclusion", inclusion);
      ProofFigures consistency =
          MeasureConsistency(*stub, head, config.log_proofs, &errors);
      AddProofFigures(row, "consistency", consistency);
    } else {
      errors.push_back(std::string(root.status().message()));
    }

    // tallyctl audit of the whole night, with the log's key as a file.
    const std::string key_path = dir + "/log-key.pem";
    std::ofstream(key_path, std::ios::trunc)
        << keys.log_keys(0).public_key_pem();
    Progress(absl::StrCat(name, ": tallyctl audit of ", head.tree_size(),
                          " leaves"));
    const double children_before = ChildrenCpuSeconds();
    const double aggregator_before =
        ProcessCpuSeconds(aggregator->process.pid());
    const absl::Time began = absl::Now();
    absl::StatusOr<ChildProcess> audit = ChildProcess::Start(
        {config.tallyctl_bin, "audit", "--aggregator=" + aggregator->address,
         "--insecure", "--log_public_key=" + key_path},
        dir + "/audit.log");
    absl::StatusOr<int> exit_code =
        audit.ok() ? audit->Wait(absl::Hours(2)) : audit.status();
    const double audit_seconds = absl::ToDoubleSeconds(absl::Now() - began);
    const double aggregator_cpu =
        ProcessCpuSeconds(aggregator->process.pid()) - aggregator_before;
    if (!exit_code.ok() || *exit_code != 0) {
      errors.push_back(absl::StrCat(
          "tallyctl audit: ",
          exit_code.ok() ? absl::StrCat("exit ", *exit_code)
                         : std::string(exit_code.status().message()),
          audit.ok() ? absl::StrCat(": ", audit->log()) : ""));
    }
    row.Set("audit_ok", exit_code.ok() && *exit_code == 0)
        .Set("audit_seconds", audit_seconds)
        .Set("audit_leaves_per_second",
             audit_seconds > 0
                 ? static_cast<double>(head.tree_size()) / audit_seconds
                 : 0.0)
        .Set("audit_cpu_seconds", ChildrenCpuSeconds() - children_before)
        .Set("aggregator_cpu_seconds_serving_audit", aggregator_cpu)
        .Set("errors", static_cast<int64_t>(errors.size()));
    for (const std::string& error : errors) {
      report.AddError(absl::StrCat(name, ": ", error));
    }
    report.Add(std::move(row));
    aggregator->process.Stop(AggregatorStopGrace(config));
    RemoveDir(config, dir);
  }
}

}  // namespace tally::bench

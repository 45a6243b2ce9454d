#include "tests/support/reference_election.h"

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/synchronization/mutex.h"
#include "clients/simulator/night_generator.h"
#include "services/domain/definition_generator.h"
#include "services/domain/proto_json.h"

namespace tally::testing {
namespace {

std::string ReadSource(const std::string& path) {
  std::ifstream in(TALLY_SOURCE_DIR "/" + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status LoadOfficialResult(const std::string& name,
                                v1::ResultTarget* target) {
  return ParseJson(ReadSource("deploy/elections/" + name + ".result.json"),
                   target);
}

absl::StatusOr<v1::ElectionDefinition> DefinitionOf(const std::string& name) {
  if (name.empty()) return EmbeddedDefaultDefinition();
  absl::StatusOr<v1::DefinitionSpec> spec = ParseDefinitionSpecJson(
      ReadSource("deploy/elections/" + name + ".spec.json"));
  if (!spec.ok()) return spec.status();
  return GenerateDefinition(*spec);
}

// `name` empty: the embedded reference election (kz-2023).
std::unique_ptr<ReferenceElection> Build(const std::string& name, uint64_t seed,
                                         Truth kind) {
  auto ref = std::make_unique<ReferenceElection>();
  absl::StatusOr<v1::ElectionDefinition> definition = DefinitionOf(name);
  if (!definition.ok()) {
    ref->status = definition.status();
    return ref;
  }
  absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
      ElectionIndex::Build(*std::move(definition));
  if (!index.ok()) {
    ref->status = index.status();
    return ref;
  }
  ref->index = *std::move(index);
  sim::NightOptions options;
  options.seed = seed;
  if (kind == Truth::kOfficialResult) {
    ref->status =
        LoadOfficialResult(name.empty() ? "kz-2023" : name, &ref->target);
    if (!ref->status.ok()) return ref;
    options.targets = {ref->target};
  }
  absl::StatusOr<std::vector<v1::StationProtocol>> truth =
      sim::GenerateTruth(*ref->index, options);
  if (!truth.ok()) {
    ref->status = truth.status();
    return ref;
  }
  ref->truth = *std::move(truth);
  for (size_t i = 0; i < ref->truth.size(); ++i) {
    ref->by_key[{ref->truth[i].contest_id(), ref->truth[i].station_id()}] = i;
  }
  return ref;
}

}  // namespace

const ReferenceElection& Reference(uint64_t seed, Truth truth) {
  static absl::Mutex mu(absl::kConstInit);
  // Guarded by `mu`; never freed: tests hold references until the process
  // exits.
  static auto* built = new std::map<std::pair<uint64_t, Truth>,
                                    std::unique_ptr<ReferenceElection>>();
  absl::MutexLock lock(&mu);
  std::unique_ptr<ReferenceElection>& entry = (*built)[{seed, truth}];
  if (entry == nullptr) entry = Build("", seed, truth);
  return *entry;
}

const ReferenceElection& PublishedElection(const std::string& name,
                                           uint64_t seed) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* built = new std::map<std::pair<std::string, uint64_t>,
                                    std::unique_ptr<ReferenceElection>>();
  absl::MutexLock lock(&mu);
  std::unique_ptr<ReferenceElection>& entry = (*built)[{name, seed}];
  if (entry == nullptr) entry = Build(name, seed, Truth::kOfficialResult);
  return *entry;
}

}  // namespace tally::testing

// The reference election of the tests that run real servers: the embedded
// default definition (Kazakhstan 2023, 10,310 stations), indexed, with the
// true final protocol of every (contest, station). Building it takes
// seconds, so each (seed, kind) is built once per test process and then
// shared read-only by every test in it.
//
// Thread-safe: Reference may be called from any thread; the result is
// never modified.
#ifndef TALLY_TESTS_SUPPORT_REFERENCE_ELECTION_H_
#define TALLY_TESTS_SUPPORT_REFERENCE_ELECTION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "services/domain/election_index.h"
#include "tally/v1/protocol.pb.h"
#include "tally/v1/tools.pb.h"

namespace tally::testing {

enum class Truth {
  // Plausible figures for every station (the simulator's defaults).
  kPlausible,
  // Figures that sum exactly to the official 2023 party-list result
  // (deploy/elections/kz-2023.result.json, also in `target`).
  kOfficialResult,
};

struct ReferenceElection {
  // Why the election could not be built; the rest is empty then.
  absl::Status status;
  std::unique_ptr<ElectionIndex> index;
  // The official result (set with Truth::kOfficialResult).
  v1::ResultTarget target;
  // Every (contest, station)'s true final protocol, version 1; the national
  // list contest comes first, in definition order.
  std::vector<v1::StationProtocol> truth;
  // (contest id, station id) -> position in `truth`.
  absl::flat_hash_map<std::pair<std::string, uint32_t>, size_t> by_key;
};

const ReferenceElection& Reference(uint64_t seed,
                                   Truth truth = Truth::kPlausible);

// Another published election of deploy/elections, by name (for example
// "kz-2021"): the definition generated from NAME.spec.json and truth that
// sums exactly to the official NAME.result.json (in `target`). Built once
// per (name, seed) per test process, like Reference.
const ReferenceElection& PublishedElection(const std::string& name,
                                           uint64_t seed);

}  // namespace tally::testing

#endif  // TALLY_TESTS_SUPPORT_REFERENCE_ELECTION_H_

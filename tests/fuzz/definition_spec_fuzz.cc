// Fuzzes definition specs (`tallyctl definition generate --spec`):
// ParseDefinitionSpecJson, then GenerateDefinition. Invariant: whatever
// the generator returns is a valid definition (it promises exact totals
// over a well-formed election).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "services/domain/definition_generator.h"
#include "services/domain/definition_validation.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// The generator accepts up to 2,000,000 stations (a national election);
// generating that many is correct but takes seconds per input, which would
// only slow the search down. Larger specs are covered by the unit tests.
constexpr uint64_t kFuzzMaxStations = 20000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<tally::v1::DefinitionSpec> spec =
      tally::ParseDefinitionSpecJson(json);
  if (!spec.ok()) return 0;
  if (spec->domestic_stations() + uint64_t{spec->abroad_stations()} >
      kFuzzMaxStations) {
    return 0;
  }
  absl::StatusOr<tally::v1::ElectionDefinition> definition =
      tally::GenerateDefinition(*spec);
  if (!definition.ok()) {
    FUZZ_CHECK(definition.status().code() ==
               absl::StatusCode::kInvalidArgument);
    return 0;
  }
  const absl::Status valid = tally::ValidateDefinition(*definition);
  if (!valid.ok()) {
    std::fprintf(stderr, "generated definition is invalid: %s\n",
                 std::string(valid.message()).c_str());
  }
  FUZZ_CHECK(valid.ok());
  return 0;
}

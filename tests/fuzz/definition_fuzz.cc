// Fuzzes election definitions as an operator's file gives them
// (ParseDefinitionJson), their validation (DefinitionProblems,
// ValidateDefinition) and what the servers build on a valid one
// (ElectionIndex, TotalsBook). Invariants: validation fails exactly when it
// names a problem; a valid definition indexes, and writes back as JSON that
// reads as the same definition.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "services/domain/definition_validation.h"
#include "services/domain/election_index.h"
#include "services/domain/election_loader.h"
#include "services/domain/totals_book.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<tally::v1::ElectionDefinition> definition =
      tally::ParseDefinitionJson(json);
  if (!definition.ok()) return 0;
  const std::vector<std::string> problems =
      tally::DefinitionProblems(*definition);
  const absl::Status valid = tally::ValidateDefinition(*definition);
  FUZZ_CHECK(valid.ok() == problems.empty());
  if (!valid.ok()) return 0;

  absl::StatusOr<std::string> written = tally::DefinitionToJson(*definition);
  FUZZ_CHECK(written.ok());
  absl::StatusOr<tally::v1::ElectionDefinition> again =
      tally::ParseDefinitionJson(*written);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(
      google::protobuf::util::MessageDifferencer::Equals(*definition, *again));

  absl::StatusOr<std::unique_ptr<tally::ElectionIndex>> index =
      tally::ElectionIndex::Build(*std::move(definition));
  FUZZ_CHECK(index.ok());
  tally::TotalsBook totals(**index);
  for (uint32_t entry = 0; entry < totals.size(); ++entry) {
    tally::v1::Totals message = totals.ToProto(entry);
    FUZZ_CHECK(totals.Restore(message).ok());
  }
  return 0;
}

// Fuzzes the .csv reader of `tallyctl submit` (ParseProtocolCsv): any bytes
// give protocols or an error, never a crash; every protocol read writes
// back as a JSON line that reads as the same protocol.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "clients/tallyctl/protocol_files.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<tally::v1::StationProtocol>> read =
      tally::cli::ParseProtocolCsv(text, "fuzz.csv");
  if (!read.ok()) {
    FUZZ_CHECK(read.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  for (const tally::v1::StationProtocol& protocol : *read) {
    absl::StatusOr<std::string> line = tally::cli::ProtocolJsonLine(protocol);
    FUZZ_CHECK(line.ok());
    absl::StatusOr<std::vector<tally::v1::StationProtocol>> again =
        tally::cli::ParseProtocolJsonLines(*line, "again.jsonl");
    FUZZ_CHECK(again.ok() && again->size() == 1);
    FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(
        protocol, again->front()));
  }
  return 0;
}

// The invariant of the protocol file fuzz targets: whatever a reader
// accepted writes back as a JSON line that reads as the same protocol, and
// a refusal is InvalidArgument. Single threaded, like the targets.
#ifndef TALLY_TESTS_FUZZ_PROTOCOL_ROUND_TRIP_H_
#define TALLY_TESTS_FUZZ_PROTOCOL_ROUND_TRIP_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/tallyctl/protocol_files.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_check.h"

namespace tally::fuzz {

inline void CheckProtocolsRoundTrip(
    const absl::StatusOr<std::vector<v1::StationProtocol>>& read) {
  if (!read.ok()) {
    FUZZ_CHECK(read.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  for (const v1::StationProtocol& protocol : *read) {
    absl::StatusOr<std::string> line = cli::ProtocolJsonLine(protocol);
    FUZZ_CHECK(line.ok());
    absl::StatusOr<std::vector<v1::StationProtocol>> again =
        cli::ParseProtocolJsonLines(*line, "again.jsonl");
    FUZZ_CHECK(again.ok() && again->size() == 1);
    FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(
        protocol, again->front()));
  }
}

}  // namespace tally::fuzz

#endif  // TALLY_TESTS_FUZZ_PROTOCOL_ROUND_TRIP_H_

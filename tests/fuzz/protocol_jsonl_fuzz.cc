// Fuzzes the .jsonl reader of `tallyctl submit` (ParseProtocolJsonLines):
// any bytes give protocols or an error, never a crash; every protocol read
// writes back as a line that reads as the same protocol.
#include <cstddef>
#include <cstdint>
#include <string>

#include "clients/tallyctl/protocol_files.h"
#include "tests/fuzz/protocol_round_trip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  tally::fuzz::CheckProtocolsRoundTrip(
      tally::cli::ParseProtocolJsonLines(text, "fuzz.jsonl"));
  return 0;
}

// Fuzzes `tallyctl seats` input: ParseSeatsRequest, the allocation and both
// outputs (JSON and table). Invariants: every error is InvalidArgument;
// an allocation hands out exactly the requested seats whenever anybody
// has a vote and one choice passes the threshold, and never more.
#include <cstddef>
#include <cstdint>
#include <string>

#include "clients/tallyctl/seats_request.h"
#include "services/domain/proto_json.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<tally::seats::Input> input =
      tally::cli::ParseSeatsRequest(json);
  if (!input.ok()) {
    FUZZ_CHECK(input.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  absl::StatusOr<tally::seats::Result> result = tally::seats::Allocate(*input);
  if (!result.ok()) {
    FUZZ_CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  uint64_t seats = 0;
  for (const tally::seats::ChoiceResult& choice : result->choices) {
    seats += choice.seats;
  }
  FUZZ_CHECK(seats <= input->seats);
  const tally::v1::SeatsResponse response =
      tally::cli::SeatsResponseOf(*input, *result);
  FUZZ_CHECK(
      tally::ToJson(response, {.pretty = true, .print_defaults = true}).ok());
  FUZZ_CHECK(!tally::cli::SeatsTable(*input, *result).empty());
  return 0;
}

// tallyctl seats: seat allocation for vote counts given as JSON.
//
// Input (stdin, or --input FILE): the JSON request of seats_request.h.
// Output: JSON (tally.v1.SeatsResponse, proto field names) on stdout, or a
// table with --table. Bad input: exit code 2 and one line on stderr that
// names the problem.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "clients/tallyctl/commands.h"
#include "clients/tallyctl/seats_request.h"
#include "services/domain/proto_json.h"
#include "services/domain/seat_allocation.h"
#include "tally/v1/tools.pb.h"

ABSL_FLAG(std::string, input, "",
          "seats: read the JSON request from this file instead of stdin");
ABSL_FLAG(bool, table, false,
          "seats: print a human-readable table instead of JSON");

namespace tally::cli {
namespace {

absl::StatusOr<std::string> ReadInput(const std::string& path) {
  if (path.empty()) {
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "tallyctl seats: %s\n",
               std::string(status.message()).c_str());
  return kExitBadInput;
}

}  // namespace

int RunSeats(const std::vector<std::string>& args) {
  if (args.size() > 1) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", args[1], "\"")));
  }
  absl::StatusOr<std::string> text = ReadInput(absl::GetFlag(FLAGS_input));
  if (!text.ok()) return Fail(text.status());
  absl::StatusOr<seats::Input> input = ParseSeatsRequest(*text);
  if (!input.ok()) return Fail(input.status());
  absl::StatusOr<seats::Result> result = seats::Allocate(*input);
  if (!result.ok()) return Fail(result.status());

  if (absl::GetFlag(FLAGS_table)) {
    std::fputs(SeatsTable(*input, *result).c_str(), stdout);
    return kExitOk;
  }
  const v1::SeatsResponse response = SeatsResponseOf(*input, *result);
  absl::StatusOr<std::string> json =
      ToJson(response, {.pretty = true, .print_defaults = true});
  if (!json.ok()) {
    std::fprintf(stderr, "tallyctl seats: %s\n",
                 std::string(json.status().message()).c_str());
    return kExitFailure;
  }
  std::fputs(json->c_str(), stdout);
  return kExitOk;
}

}  // namespace tally::cli

// The input and output of `tallyctl seats`, apart from the command's files
// and flags so that the decoding is tested (and fuzzed) on its own.
//
// Input, a JSON object (tally.v1.SeatsRequest, proto field names):
//   {"seats": 69, "method": "hare", "threshold_percent": 5,
//    "threshold_base": "ballots_cast", "votes": {"Amanat": 3431510, ...},
//    "against_all": 248291, "invalid": 155419}
// Every error is InvalidArgument with one line that names the problem.
// Pure functions; no I/O.
#ifndef TALLY_CLIENTS_TALLYCTL_SEATS_REQUEST_H_
#define TALLY_CLIENTS_TALLYCTL_SEATS_REQUEST_H_

#include <string>

#include "absl/status/statusor.h"
#include "services/domain/seat_allocation.h"
#include "tally/v1/tools.pb.h"

namespace tally::cli {

// Decodes and checks the JSON request into the allocation input (choices
// listed by votes, most first). Does not allocate.
absl::StatusOr<seats::Input> ParseSeatsRequest(const std::string& json);

// The allocation as the command prints it: seats per choice, the choices
// that passed the threshold (sorted) and the allocation's details.
v1::SeatsResponse SeatsResponseOf(const seats::Input& input,
                                  const seats::Result& result);

// The human-readable table of --table.
std::string SeatsTable(const seats::Input& input, const seats::Result& result);

}  // namespace tally::cli

#endif  // TALLY_CLIENTS_TALLYCTL_SEATS_REQUEST_H_

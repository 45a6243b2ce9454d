// Station protocols in files, for `tallyctl submit` and `tallyctl simulate
// --write_dir`. Two formats, chosen by the file name's extension:
//
// .jsonl  JSON lines: one tally.v1.StationProtocol per line in the protobuf
//         JSON mapping with proto field names, e.g.
//           {"contest_id":"mazhilis-list","station_id":101,"version":1,
//            "accounting":{"registered_voters":1500,...},
//            "votes":[{"choice_id":"amanat","votes":412},...]}
//         Blank lines are skipped; unknown fields are errors.
// .csv    Comma-separated, no quoting. The first line is the header: the
//         columns contest_id, station_id, version, registered_voters,
//         ballots_received, ballots_issued, ballots_found, invalid,
//         against_all, unused_cancelled (every one required, any order),
//         then one column per choice named votes:<choice_id>. A cell of a
//         votes: column left empty means the choice is not in that row's
//         contest, so one file can hold contests with different choices.
//         Blank lines are skipped.
//
// Every error names the file and the 1-based line number.
#ifndef TALLY_CLIENTS_TALLYCTL_PROTOCOL_FILES_H_
#define TALLY_CLIENTS_TALLYCTL_PROTOCOL_FILES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tally/v1/protocol.pb.h"

namespace tally::cli {

enum class ProtocolFormat { kJsonLines, kCsv };

// By extension: .jsonl (or .json) and .csv. InvalidArgument otherwise.
absl::StatusOr<ProtocolFormat> ProtocolFormatOf(const std::string& path);

// Parse file contents; `name` prefixes error messages.
absl::StatusOr<std::vector<v1::StationProtocol>> ParseProtocolJsonLines(
    absl::string_view text, const std::string& name);
absl::StatusOr<std::vector<v1::StationProtocol>> ParseProtocolCsv(
    absl::string_view text, const std::string& name);

// Reads and parses a file in the format of its extension. NotFound when it
// cannot be read, InvalidArgument when it is malformed.
absl::StatusOr<std::vector<v1::StationProtocol>> ReadProtocolFile(
    const std::string& path);

// One protocol as one JSON line (no trailing newline).
absl::StatusOr<std::string> ProtocolJsonLine(
    const v1::StationProtocol& protocol);

// Writes the protocols as JSON lines, through a temporary file and a
// rename so a reader never sees half a file.
absl::Status WriteProtocolJsonLines(
    const std::string& path, const std::vector<v1::StationProtocol>& protocols);

}  // namespace tally::cli

#endif  // TALLY_CLIENTS_TALLYCTL_PROTOCOL_FILES_H_

// C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the note text
// that names a log's tree head, byte for byte:
//
//   <origin>\n
//   <tree size, ASCII decimal, no leading zeros>\n
//   <root hash, standard padded base64 of the 32 bytes>\n
//   [<extension line>\n ...]
//
// signed as a signed note (note.h) by the log under a key name equal to the
// origin, and cosigned by witnesses (cosignature.h). tally writes no
// extension lines (the specification advises against them); they are
// parsed and kept.
//
// Pure functions; thread-compatible.
#ifndef TALLY_SERVICES_TRANSPARENCY_CHECKPOINT_H_
#define TALLY_SERVICES_TRANSPARENCY_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/transparency/merkle.h"

namespace tally::transparency {

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  Hash root{};
  std::vector<std::string> extensions;
  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

// The note text. The origin and extension lines must be non-empty and
// contain no newline (ParseCheckpoint of the result gives it back).
std::string FormatCheckpoint(const Checkpoint& checkpoint);

// InvalidArgument naming the line that breaks the format.
absl::StatusOr<Checkpoint> ParseCheckpoint(absl::string_view text);

}  // namespace tally::transparency

#endif  // TALLY_SERVICES_TRANSPARENCY_CHECKPOINT_H_

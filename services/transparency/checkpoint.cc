#include "services/transparency/checkpoint.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/transparency/note.h"

namespace tally::transparency {

std::string FormatCheckpoint(const Checkpoint& checkpoint) {
  std::string text =
      absl::StrCat(checkpoint.origin, "\n", checkpoint.size, "\n",
                   Base64(HashBytes(checkpoint.root)), "\n");
  for (const std::string& line : checkpoint.extensions) {
    absl::StrAppend(&text, line, "\n");
  }
  return text;
}

absl::StatusOr<Checkpoint> ParseCheckpoint(absl::string_view text) {
  if (absl::Status status = ValidateNoteText(text); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint: ", status.message()));
  }
  text.remove_suffix(1);  // the final newline
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.size() < 3) {
    return absl::InvalidArgumentError(
        "checkpoint: needs an origin, a tree size and a root hash line");
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint: line ", i + 1, " is empty"));
    }
  }
  Checkpoint checkpoint;
  checkpoint.origin = std::string(lines[0]);
  const absl::string_view size = lines[1];
  if (!std::all_of(size.begin(), size.end(), absl::ascii_isdigit) ||
      (size.size() > 1 && size[0] == '0') ||
      !absl::SimpleAtoi(size, &checkpoint.size)) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint: tree size \"", size,
                     "\" is not a decimal number without leading zeros"));
  }
  absl::StatusOr<std::string> root = FromBase64(lines[2], "checkpoint root");
  if (!root.ok()) return root.status();
  absl::StatusOr<Hash> hash = HashFromBytes(*root, "checkpoint root");
  if (!hash.ok()) return hash.status();
  checkpoint.root = *hash;
  for (size_t i = 3; i < lines.size(); ++i) {
    checkpoint.extensions.emplace_back(lines[i]);
  }
  return checkpoint;
}

}  // namespace tally::transparency

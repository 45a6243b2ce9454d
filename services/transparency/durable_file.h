// Small files written so that a crash leaves either the old content or the
// new, never a torn file: the bytes go to a temporary file in the same
// directory, are synced, and the file is then renamed (or linked) into
// place and the directory synced. Used for key files and for the state
// files of the log's clients. Thread-compatible; distinct paths may be
// written from any threads at once.
#ifndef TALLY_SERVICES_TRANSPARENCY_DURABLE_FILE_H_
#define TALLY_SERVICES_TRANSPARENCY_DURABLE_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tally::transparency {

enum class Existing {
  kReplace,  // an existing file is replaced atomically
  kKeep,     // an existing file is kept: AlreadyExists
};

// Writes `bytes` to `path` with permission bits `mode` (for a new file).
// Errors name the path and the system call's reason.
absl::Status WriteFileDurably(const std::string& path, absl::string_view bytes,
                              int mode, Existing existing);

}  // namespace tally::transparency

#endif  // TALLY_SERVICES_TRANSPARENCY_DURABLE_FILE_H_

#include "services/transparency/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tally::transparency {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(path, ": ", what, ": ", std::strerror(errno)));
}

// fsync of the directory holding `path`, so that a new name survives a
// crash.
absl::Status SyncDirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("opening its directory", path);
  const int result = ::fsync(fd);
  ::close(fd);
  if (result != 0) return Errno("syncing its directory", path);
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileDurably(const std::string& path, absl::string_view bytes,
                              int mode, Existing existing) {
  if (existing == Existing::kKeep && ::access(path.c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(absl::StrCat(path, ": already exists"));
  }
  const std::string temporary = absl::StrCat(path, ".tmp.", ::getpid());
  const int fd =
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Errno("creating", temporary);
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n =
        ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status status = Errno("writing", temporary);
      ::close(fd);
      ::unlink(temporary.c_str());
      return status;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    absl::Status status = Errno("syncing", temporary);
    ::close(fd);
    ::unlink(temporary.c_str());
    return status;
  }
  ::close(fd);
  if (existing == Existing::kReplace) {
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
      absl::Status status = Errno("renaming into place", path);
      ::unlink(temporary.c_str());
      return status;
    }
  } else {
    // link() refuses an existing name, so a file written meanwhile by
    // another process is never replaced.
    if (::link(temporary.c_str(), path.c_str()) != 0) {
      absl::Status status =
          errno == EEXIST
              ? absl::AlreadyExistsError(absl::StrCat(path, ": already exists"))
              : Errno("naming", path);
      ::unlink(temporary.c_str());
      return status;
    }
    ::unlink(temporary.c_str());
  }
  return SyncDirectoryOf(path);
}

}  // namespace tally::transparency

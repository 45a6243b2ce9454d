#include "services/domain/election_loader.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "services/domain/definition_validation.h"
#include "services/domain/proto_json.h"

namespace tally {
namespace {

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

absl::Status ErrnoStatus(int error, const std::string& path) {
  const std::string message =
      absl::StrCat(path, ": cannot read: ", std::strerror(error));
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::FailedPreconditionError(message);
  }
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (file == nullptr) return ErrnoStatus(errno, path);
  std::string contents;
  char buffer[1 << 16];
  for (;;) {
    const size_t n = std::fread(buffer, 1, sizeof(buffer), file.get());
    contents.append(buffer, n);
    if (n < sizeof(buffer)) break;
  }
  // A directory opens fine on Linux but fails to read (EISDIR).
  if (std::ferror(file.get())) return ErrnoStatus(errno, path);
  return contents;
}

// Keeps the status code and puts the file name in front of the message.
absl::Status WithPath(const absl::Status& status, const std::string& path) {
  return absl::Status(status.code(),
                      absl::StrCat(path, ": ", status.message()));
}

}  // namespace

absl::StatusOr<v1::ElectionDefinition> ParseDefinitionJson(
    const std::string& json) {
  v1::ElectionDefinition definition;
  if (absl::Status status = ParseJson(json, &definition); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid election definition JSON: ", status.message()));
  }
  return definition;
}

absl::StatusOr<v1::ElectionDefinition> LoadDefinitionFile(
    const std::string& path) {
  absl::StatusOr<std::string> json = ReadFile(path);
  if (!json.ok()) return json.status();
  absl::StatusOr<v1::ElectionDefinition> definition =
      ParseDefinitionJson(*json);
  if (!definition.ok()) return WithPath(definition.status(), path);
  if (absl::Status valid = ValidateDefinition(*definition); !valid.ok()) {
    return WithPath(valid, path);
  }
  return definition;
}

absl::StatusOr<std::string> DefinitionToJson(
    const v1::ElectionDefinition& definition) {
  absl::StatusOr<std::string> json = ToJson(definition);
  if (!json.ok()) {
    return absl::InternalError(absl::StrCat(
        "cannot write election definition as JSON: ", json.status().message()));
  }
  return json;
}

}  // namespace tally

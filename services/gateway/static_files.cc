#include "services/gateway/static_files.h"

#include <sys/stat.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tally::gateway {
namespace {

// realpath(3) as a string; empty when the path does not exist.
std::string RealPath(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> resolved(
      ::realpath(path.c_str(), nullptr), &std::free);
  return resolved == nullptr ? std::string() : std::string(resolved.get());
}

bool IsDirectory(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool IsRegularFile(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

}  // namespace

absl::StatusOr<std::string> ResolveStaticPath(const std::string& web_dir,
                                              absl::string_view url_path) {
  if (url_path.empty() || url_path.front() != '/') {
    return absl::InvalidArgumentError("the path must start with /");
  }
  if (absl::StrContains(url_path, '\\') || absl::StrContains(url_path, '\0')) {
    return absl::InvalidArgumentError("the path has a backslash or NUL");
  }
  std::string relative;
  for (absl::string_view segment :
       absl::StrSplit(url_path, '/', absl::SkipEmpty())) {
    if (segment == "..") {
      return absl::InvalidArgumentError("the path has a \"..\" segment");
    }
    if (segment == ".") continue;
    absl::StrAppend(&relative, "/", segment);
  }
  const std::string root = RealPath(web_dir);
  if (root.empty() || !IsDirectory(root)) {
    return absl::NotFoundError(
        absl::StrCat("the web directory ", web_dir, " does not exist"));
  }
  std::string candidate = root + relative;
  if (IsDirectory(candidate)) candidate += "/index.html";
  const std::string real = RealPath(candidate);
  // Inside the root: the root itself followed by a separator (so that
  // /srv/web-other is not taken for a file of /srv/web).
  if (real.empty() || !absl::StartsWith(real, root + "/") ||
      !IsRegularFile(real)) {
    return absl::NotFoundError(absl::StrCat(url_path, " not found"));
  }
  return real;
}

std::string ContentTypeFor(absl::string_view path) {
  const size_t dot = path.rfind('.');
  const size_t slash = path.rfind('/');
  if (dot == absl::string_view::npos ||
      (slash != absl::string_view::npos && dot < slash)) {
    return "application/octet-stream";
  }
  const std::string ext = absl::AsciiStrToLower(path.substr(dot + 1));
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "json" || ext == "map") return "application/json";
  if (ext == "ico") return "image/x-icon";
  if (ext == "txt") return "text/plain; charset=utf-8";
  if (ext == "woff2") return "font/woff2";
  return "application/octet-stream";
}

absl::StatusOr<StaticFile> LoadStaticFile(const std::string& web_dir,
                                          absl::string_view url_path) {
  absl::StatusOr<std::string> path = ResolveStaticPath(web_dir, url_path);
  if (!path.ok()) return path.status();
  std::unique_ptr<FILE, decltype(&std::fclose)> file(
      std::fopen(path->c_str(), "rb"), &std::fclose);
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat(url_path, " cannot be read"));
  }
  StaticFile out;
  out.content_type = ContentTypeFor(*path);
  char buffer[1 << 16];
  size_t read = 0;
  while ((read = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    if (out.content.size() + read > kMaxStaticFileBytes) {
      return absl::NotFoundError(absl::StrCat(url_path, " is too large"));
    }
    out.content.append(buffer, read);
  }
  if (std::ferror(file.get())) {
    return absl::NotFoundError(absl::StrCat(url_path, " cannot be read"));
  }
  return out;
}

}  // namespace tally::gateway

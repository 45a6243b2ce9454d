// The web page's files under --web_dir: URL path to file, content type.
// Nothing outside the directory is ever served: ".." segments are refused
// outright, and the resolved real path (symlinks followed) must still lie
// inside the directory's real path.
#ifndef TALLY_SERVICES_GATEWAY_STATIC_FILES_H_
#define TALLY_SERVICES_GATEWAY_STATIC_FILES_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tally::gateway {

struct StaticFile {
  std::string content;
  std::string content_type;
};

// Files larger than this are not served (the page is small; a huge file in
// the directory is a mistake, not something to stream).
inline constexpr size_t kMaxStaticFileBytes = 32 << 20;

// The real path of the file that `url_path` (decoded, starting with "/")
// names under `web_dir`: "/" and directories mean their index.html.
// NotFound for anything missing, outside the directory or not a regular
// file; InvalidArgument for paths with "..", "\\" or NUL.
absl::StatusOr<std::string> ResolveStaticPath(const std::string& web_dir,
                                              absl::string_view url_path);

// Content type by extension: html, js, mjs, css, svg, png, json, ico, txt,
// map, woff2; anything else application/octet-stream.
std::string ContentTypeFor(absl::string_view path);

// Resolves and reads the file.
absl::StatusOr<StaticFile> LoadStaticFile(const std::string& web_dir,
                                          absl::string_view url_path);

}  // namespace tally::gateway

#endif  // TALLY_SERVICES_GATEWAY_STATIC_FILES_H_

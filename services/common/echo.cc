#include "services/common/echo.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tally::common {
namespace {

// The longest prefix of `text` of at most `limit` bytes that ends on a
// UTF-8 character boundary.
absl::string_view Prefix(absl::string_view text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t end = limit;
  // Back off continuation bytes (10xxxxxx) to the start of their character.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  return text.substr(0, end);
}

std::string Cut(absl::string_view text) {
  return absl::StrCat("... (", text.size(), " bytes)");
}

}  // namespace

std::string Echo(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  return absl::StrCat(Prefix(text, max_bytes), Cut(text));
}

std::string QuoteEcho(absl::string_view text) {
  absl::string_view prefix = Prefix(text, kMaxEchoBytes);
  std::string escaped = absl::Utf8SafeCHexEscape(prefix);
  // Escaping at most quadruples a byte. Shorten the prefix (a character at
  // a time, so that neither a character nor an escape is split) until its
  // escaped form fits.
  while (escaped.size() > kMaxEchoBytes) {
    prefix = Prefix(prefix, prefix.size() - 1);
    escaped = absl::Utf8SafeCHexEscape(prefix);
  }
  std::string quoted = absl::StrCat("\"", escaped, "\"");
  if (prefix.size() < text.size()) absl::StrAppend(&quoted, Cut(text));
  return quoted;
}

}  // namespace tally::common

#include "services/gateway/http_cache.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/domain/seeded_random.h"

namespace tally::gateway {

absl::string_view CacheControlOf(CachePolicy policy) {
  switch (policy) {
    case CachePolicy::kLatest:
      return "public, max-age=1, stale-while-revalidate=5";
    case CachePolicy::kPinned:
      return "public, max-age=31536000, immutable";
    case CachePolicy::kNoStore:
      break;
  }
  return "no-store";
}

std::string EntityTag(uint64_t revision, absl::string_view body) {
  // FNV-1a: stable across processes and builds, unlike absl::Hash.
  const uint64_t digest = Fnv1a64(body);
  return absl::StrCat("\"r", revision, "-", absl::Hex(digest, absl::kZeroPad16),
                      "\"");
}

bool IfNoneMatchHits(absl::string_view header, absl::string_view etag) {
  const absl::string_view header_text = absl::StripAsciiWhitespace(header);
  if (header_text == "*") return true;
  for (absl::string_view tag : absl::StrSplit(header_text, ',')) {
    tag = absl::StripAsciiWhitespace(tag);
    if (absl::StartsWith(tag, "W/")) tag.remove_prefix(2);
    if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"' &&
        tag == etag) {
      return true;
    }
  }
  return false;
}

}  // namespace tally::gateway

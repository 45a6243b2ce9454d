// HTTP caching of the gateway's JSON answers, so that a CDN or a caching
// proxy in front (deploy/edge) absorbs the readers' polling. Every answer
// gets one of three policies (docs/ARCHITECTURE.md, "Caching"):
//  - latest state (the figures at the current revision): cacheable for a
//    second, then served stale for up to five more seconds while the cache
//    revalidates it;
//  - pinned (the figures at a revision named in the URL): never change,
//    cacheable for a year;
//  - errors, health and streams: never stored.
// A cacheable answer carries a strong ETag, the revision and a digest of
// the body, so that it changes whenever the body does; a request whose
// If-None-Match names it (or is "*") is answered 304 with the same ETag
// and Cache-Control and no body (RFC 9110, sections 8.8.3 and 13.1.2).
#ifndef TALLY_SERVICES_GATEWAY_HTTP_CACHE_H_
#define TALLY_SERVICES_GATEWAY_HTTP_CACHE_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace tally::gateway {

enum class CachePolicy { kLatest, kPinned, kNoStore };

// The Cache-Control value of a policy.
absl::string_view CacheControlOf(CachePolicy policy);

// "r<revision>-<16 hex digits of a 64-bit FNV-1a digest of body>", quoted.
// The same body at the same revision gives the same tag on every gateway
// and after a restart.
std::string EntityTag(uint64_t revision, absl::string_view body);

// Whether an If-None-Match header value (a comma-separated list of entity
// tags, or "*") matches `etag`, with the weak comparison the header uses
// (W/"x" matches "x"). An empty or malformed header matches nothing.
bool IfNoneMatchHits(absl::string_view header, absl::string_view etag);

}  // namespace tally::gateway

#endif  // TALLY_SERVICES_GATEWAY_HTTP_CACHE_H_

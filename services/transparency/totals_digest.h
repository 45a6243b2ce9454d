// The totals digest of a tree head: SHA-256 over a canonical encoding of
// every (contest, scope) total at one revision, so that a signed head binds
// the published numbers to the log prefix they were summed from.
//
// Canonical encoding, version 1. Integers are unsigned big-endian; "str" is
// a u32 length followed by the raw bytes (services/domain/canonical_bytes.h):
//
//   "tally.v1.TotalsDigest\n"       the ASCII tag (22 bytes, no NUL)
//   u32  number of entries
//   for each entry, sorted by contest_id (bytewise), then scope kind
//   (numerically), then scope id (bytewise):
//     str  contest_id
//     u8   scope kind: 1 national, 2 region, 3 district (unspecified = 1)
//     str  scope id (empty for national)
//     u32  number of choice lines that follow
//     for each choice with votes > 0, sorted by choice_id (bytewise, then
//     by votes):
//       str  choice_id
//       u64  votes
//     u64  against_all
//     u64  invalid
//     u64  ballots_cast
//     u64  ballots_issued
//     u64  registered_voters
//     u64  registered_voters_expected
//     u32  stations_reported
//     u32  stations_expected
//     u32  stations_with_anomalies
//
// "Every total" is every entry the aggregator keeps (TotalsBook: a national
// contest's national, region and district scopes; a district contest's
// district), reported or not. Choices with zero votes are dropped, as in
// the protocol digest, so "no line" and "a line with 0" encode alike.
// Totals.revision (when an entry last changed) is not encoded: the digest
// covers the numbers only. Neither are the shares (ChoiceTotal.share,
// Totals.against_all_share, Totals.share_base): they derive exactly from the
// counts encoded here and the contest's share_base in the definition
// (services/domain/vote_shares.h), so binding the counts binds them, and
// the encoding stays version 1.
//
// TotalsDigester keeps each entry's encoding so that a commit re-encodes
// only the entries it changed. Not thread-safe: one owner.
#ifndef TALLY_SERVICES_TRANSPARENCY_TOTALS_DIGEST_H_
#define TALLY_SERVICES_TRANSPARENCY_TOTALS_DIGEST_H_

#include <map>
#include <string>
#include <tuple>

#include "absl/types/span.h"
#include "services/transparency/merkle.h"
#include "tally/v1/results.pb.h"

namespace tally::transparency {

// One entry's encoding (everything after the entry count).
std::string TotalsEntryBytes(const v1::Totals& totals);

// The whole encoding of a set of entries, in any order.
std::string TotalsBytes(absl::Span<const v1::Totals> totals);

// SHA-256 of TotalsBytes.
Hash TotalsDigest(absl::Span<const v1::Totals> totals);

class TotalsDigester {
 public:
  // Sets (or replaces) the entry of totals' contest and scope.
  void Set(const v1::Totals& totals);
  size_t size() const { return entries_.size(); }
  // TotalsDigest of every entry set so far.
  Hash Digest() const;

 private:
  // (contest_id, scope kind, scope id) -> TotalsEntryBytes: the map's
  // order is the encoding's order.
  using Key = std::tuple<std::string, int, std::string>;
  std::map<Key, std::string> entries_;
};

}  // namespace tally::transparency

#endif  // TALLY_SERVICES_TRANSPARENCY_TOTALS_DIGEST_H_

#include "services/transparency/totals_digest.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "services/domain/canonical_bytes.h"
#include "services/domain/protocol_digest.h"

namespace tally::transparency {
namespace {

constexpr char kTag[] = "tally.v1.TotalsDigest\n";

int KindNumber(v1::ScopeKind kind) {
  return kind == v1::SCOPE_KIND_UNSPECIFIED ? v1::SCOPE_KIND_NATIONAL
                                            : static_cast<int>(kind);
}

// std::string compares as unsigned bytes, as the encoding requires.
std::tuple<std::string, int, std::string> SortKey(const v1::Totals& totals) {
  return {totals.contest_id(), KindNumber(totals.scope().kind()),
          totals.scope().id()};
}

}  // namespace

std::string TotalsEntryBytes(const v1::Totals& totals) {
  std::string out;
  PutString(totals.contest_id(), &out);
  PutU8(static_cast<uint8_t>(KindNumber(totals.scope().kind())), &out);
  PutString(totals.scope().id(), &out);
  CountLines lines;
  lines.reserve(totals.choices_size());
  for (const v1::ChoiceTotal& choice : totals.choices()) {
    lines.emplace_back(choice.choice_id(), choice.votes());
  }
  PutCountLines(std::move(lines), &out);
  for (uint64_t value :
       {totals.against_all(), totals.invalid(), totals.ballots_cast(),
        totals.ballots_issued(), totals.registered_voters(),
        totals.registered_voters_expected()}) {
    PutU64(value, &out);
  }
  for (uint32_t value : {totals.stations_reported(), totals.stations_expected(),
                         totals.stations_with_anomalies()}) {
    PutU32(value, &out);
  }
  return out;
}

std::string TotalsBytes(absl::Span<const v1::Totals> totals) {
  std::vector<const v1::Totals*> sorted;
  sorted.reserve(totals.size());
  for (const v1::Totals& entry : totals) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(),
            [](const v1::Totals* a, const v1::Totals* b) {
              return SortKey(*a) < SortKey(*b);
            });
  std::string out(kTag, sizeof(kTag) - 1);
  PutU32(static_cast<uint32_t>(sorted.size()), &out);
  for (const v1::Totals* entry : sorted) out.append(TotalsEntryBytes(*entry));
  return out;
}

Hash TotalsDigest(absl::Span<const v1::Totals> totals) {
  Hash digest;
  Sha256Parts({TotalsBytes(totals)}, digest.data());
  return digest;
}

void TotalsDigester::Set(const v1::Totals& totals) {
  entries_[SortKey(totals)] = TotalsEntryBytes(totals);
}

Hash TotalsDigester::Digest() const {
  std::string head(kTag, sizeof(kTag) - 1);
  PutU32(static_cast<uint32_t>(entries_.size()), &head);
  // Hashed part by part, without concatenating the entries.
  std::vector<absl::string_view> parts;
  parts.reserve(entries_.size() + 1);
  parts.push_back(head);
  for (const auto& [key, bytes] : entries_) parts.push_back(bytes);
  Hash digest;
  Sha256Parts(parts, digest.data());
  return digest;
}

}  // namespace tally::transparency

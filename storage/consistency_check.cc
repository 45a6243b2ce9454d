// VerifyStore recomputes the totals from the stored protocols with a fresh
// TotalsBook and compares them, field by field, with a second book restored
// from the stored `totals` family. Inconsistencies are collected as
// differences; only a failure to read the store is an error.
#include "storage/consistency_check.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "services/domain/protocol_digest.h"
#include "services/domain/protocol_validation.h"
#include "services/domain/totals_book.h"
#include "storage/key_encoding.h"

namespace tally::storage {
namespace {

class Verifier {
 public:
  Verifier(AggregatorStore& store, const ElectionIndex& index)
      : store_(store), index_(index), fresh_(index), stored_(index) {}

  absl::StatusOr<VerifyReport> Run() {
    report_.revision = store_.revision();
    if (absl::Status s = ReadVersions(); !s.ok()) return s;
    if (absl::Status s = CountLatest(); !s.ok()) return s;
    CheckUncounted();
    if (absl::Status s = RestoreStoredTotals(); !s.ok()) return s;
    report_.totals_compared = fresh_.size();
    // Recomputed first, stored second: "a != b" reads "should be != is".
    for (std::string& line : fresh_.Differences(stored_)) {
      report_.differences.push_back(absl::StrCat("totals ", line));
    }
    if (absl::Status s = CheckEvents(); !s.ok()) return s;
    return std::move(report_);
  }

 private:
  void Difference(std::string line) {
    report_.differences.push_back(std::move(line));
  }

  // The contest at a key's position, or nullptr (reported) when the
  // definition has no such position.
  const ContestInfo* ContestAt(const ProtocolKey& key, absl::string_view what) {
    if (key.contest < index_.contests().size()) {
      return &index_.contests()[key.contest];
    }
    Difference(absl::StrCat(what, " ", DescribeProtocolKey(key),
                            ": no contest at position ", key.contest));
    return nullptr;
  }

  // Every stored version: its key agrees with its content, its digest with
  // a recomputation; remembers each protocol's highest version.
  absl::Status ReadVersions() {
    return store_.ForEachProtocolVersion(
        [&](const ProtocolKey& key, uint32_t version,
            const v1::ProtocolVersion& stored) {
          ++report_.protocol_versions;
          uint32_t& highest = highest_version_[key];
          highest = std::max(highest, version);
          const ContestInfo* contest = ContestAt(key, "protocols");
          if (contest == nullptr) return absl::OkStatus();
          const v1::StationProtocol& p = stored.protocol();
          const std::string where =
              absl::StrCat("protocols ", contest->contest->id(), " station ",
                           key.station, " version ", version);
          if (p.contest_id() != contest->contest->id() ||
              p.station_id() != key.station || p.version() != version) {
            Difference(absl::StrCat(where, ": holds contest ", p.contest_id(),
                                    " station ", p.station_id(), " version ",
                                    p.version()));
          }
          if (!p.digest().empty() && p.digest() != ProtocolDigest(p)) {
            Difference(absl::StrCat(where, ": stored digest ",
                                    HexEncode(p.digest()), " != recomputed ",
                                    HexEncode(ProtocolDigest(p))));
          }
          return absl::OkStatus();
        });
  }

  // Walks `latest`: each entry must point at a stored version with the same
  // digest; that version is summed into the fresh book.
  absl::Status CountLatest() {
    return store_.ForEachLatest(
        [&](const ProtocolKey& key, const LatestValue& latest) -> absl::Status {
          counted_.emplace(key, latest.version);
          const ContestInfo* contest = ContestAt(key, "latest");
          if (contest == nullptr) return absl::OkStatus();
          const std::string where =
              absl::StrCat("latest ", contest->contest->id(), " station ",
                           key.station, " version ", latest.version);
          absl::StatusOr<std::optional<v1::ProtocolVersion>> stored =
              store_.GetVersion(key, latest.version);
          if (!stored.ok()) return stored.status();
          if (!stored->has_value()) {
            Difference(absl::StrCat(where, ": version is not stored"));
            return absl::OkStatus();
          }
          CheckLatest(where, key, latest, (*stored)->protocol());
          return absl::OkStatus();
        });
  }

  void CheckLatest(const std::string& where, const ProtocolKey& key,
                   const LatestValue& latest, const v1::StationProtocol& p) {
    const std::string digest(
        reinterpret_cast<const char*>(latest.digest.data()),
        latest.digest.size());
    if (!p.digest().empty() && p.digest() != digest) {
      Difference(absl::StrCat(where, ": digest ", HexEncode(digest),
                              " != stored protocol's ", HexEncode(p.digest())));
    }
    const std::string recomputed = ProtocolDigest(p);
    if (recomputed != digest) {
      Difference(absl::StrCat(where, ": digest ", HexEncode(digest),
                              " != recomputed ", HexEncode(recomputed)));
    }
    if (const auto it = highest_version_.find(key);
        it != highest_version_.end() && it->second != latest.version) {
      Difference(
          absl::StrCat(where, ": a higher version ", it->second, " is stored"));
    }
    // Only a protocol that passes validation may enter a TotalsBook.
    const ProtocolVerdict verdict = ValidateProtocol(index_, p);
    if (!verdict.accepted()) {
      Difference(absl::StrCat(where, ": stored protocol fails validation: ",
                              verdict.status.message()));
      return;
    }
    if (verdict.has_anomalies() != latest.has_anomalies) {
      Difference(absl::StrCat(where, ": anomaly flag ", latest.has_anomalies,
                              " != recomputed ", verdict.has_anomalies()));
    }
    fresh_.Apply(nullptr, false, p, verdict.has_anomalies());
    ++report_.protocols_counted;
  }

  // A stored version with no `latest` entry was accepted but never counted.
  void CheckUncounted() {
    for (const auto& [key, version] : highest_version_) {
      if (counted_.contains(key)) continue;
      Difference(absl::StrCat("protocols ", DescribeProtocolKey(key),
                              ": versions up to ", version,
                              " are stored but none is counted in latest"));
    }
  }

  absl::Status RestoreStoredTotals() {
    return store_.ForEachTotals([&](const TotalsKey& key,
                                    v1::Totals totals) -> absl::Status {
      const std::string where = absl::StrCat("totals ", DescribeTotalsKey(key));
      const std::optional<uint32_t> entry =
          stored_.Find(totals.contest_id(), totals.scope());
      if (entry.has_value()) {
        const TotalsAddress& address = stored_.address(*entry);
        if (address.contest != key.contest ||
            static_cast<uint8_t>(address.scope_kind) != key.scope_kind ||
            address.scope_index != key.scope_index) {
          Difference(absl::StrCat(where, ": holds the totals of ",
                                  totals.contest_id(), " scope kind ",
                                  totals.scope().kind(), " id \"",
                                  totals.scope().id(), "\""));
        }
      }
      if (absl::Status s = stored_.Restore(totals); !s.ok()) {
        Difference(absl::StrCat(where, ": ", s.message()));
      }
      return absl::OkStatus();
    });
  }

  // Retained events form the contiguous range oldest..revision.
  absl::Status CheckEvents() {
    const uint64_t oldest = store_.oldest_event_revision();
    const uint64_t revision = report_.revision;
    uint64_t expected = oldest;
    absl::Status s = store_.ReadEvents(
        oldest, std::numeric_limits<uint64_t>::max(), [&](v1::Event event) {
          if (event.revision() > revision) {
            Difference(absl::StrCat("events: revision ", event.revision(),
                                    " is after the stored revision ",
                                    revision));
          } else if (event.revision() != expected) {
            Difference(absl::StrCat("events: expected revision ", expected,
                                    ", found ", event.revision()));
          }
          expected = event.revision() + 1;
          return true;
        });
    if (!s.ok()) return s;
    if (expected <= revision) {
      Difference(absl::StrCat("events: revisions ", expected, "..", revision,
                              " are missing"));
    }
    return absl::OkStatus();
  }

  AggregatorStore& store_;
  const ElectionIndex& index_;
  TotalsBook fresh_;
  TotalsBook stored_;
  VerifyReport report_;
  absl::flat_hash_map<ProtocolKey, uint32_t> highest_version_;
  absl::flat_hash_map<ProtocolKey, uint32_t> counted_;
};

}  // namespace

absl::StatusOr<VerifyReport> VerifyStore(AggregatorStore& store,
                                         const ElectionIndex& index) {
  Verifier verifier(store, index);
  return verifier.Run();
}

}  // namespace tally::storage

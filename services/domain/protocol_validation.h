// Validation of one station protocol against the election definition:
// identity rules (always reject) and ballot-accounting rules (reject or
// accept-with-anomaly as the definition's ValidationPolicy says).
#ifndef TALLY_SERVICES_DOMAIN_PROTOCOL_VALIDATION_H_
#define TALLY_SERVICES_DOMAIN_PROTOCOL_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "services/domain/election_index.h"
#include "tally/v1/protocol.pb.h"

namespace tally {

struct ProtocolVerdict {
  // OK: accept (possibly with anomaly findings). Otherwise the status to
  // return: NOT_FOUND (unknown contest or station), PERMISSION_DENIED
  // (station outside the caller's region), INVALID_ARGUMENT (malformed
  // or a rejecting accounting check). The message names field and rule.
  absl::Status status;
  // Every failed check, rejecting and anomaly alike.
  std::vector<v1::Finding> findings;

  bool accepted() const { return status.ok(); }
  bool has_anomalies() const { return !findings.empty() && status.ok(); }
};

struct ValidationContext {
  // When non-empty, the station must belong to this region (the collector's
  // own region); otherwise PERMISSION_DENIED.
  std::string caller_region_id;
};

ProtocolVerdict ValidateProtocol(const ElectionIndex& index,
                                 const v1::StationProtocol& protocol,
                                 const ValidationContext& context = {});

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_PROTOCOL_VALIDATION_H_

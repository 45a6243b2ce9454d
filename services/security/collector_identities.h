// Which collector a client certificate speaks for. The aggregator binds
// each certificate identity (its subject common name or one of its DNS
// subject alternative names) to the one region, and collector id, whose
// protocols it may send on Ingest.
//
// File format (--collector_identities), one entry per line, fields
// separated by spaces or tabs; '#' starts a comment:
//
//   # identity          region    [collector id, default: the identity]
//   collector-astana    astana
//   collector-almaty    almaty    collector-almaty
#ifndef TALLY_SERVICES_SECURITY_COLLECTOR_IDENTITIES_H_
#define TALLY_SERVICES_SECURITY_COLLECTOR_IDENTITIES_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "grpcpp/security/auth_context.h"

namespace tally::security {

struct CollectorIdentity {
  std::string identity;  // the certificate name that matched
  std::string region_id;
  std::string collector_id;
};

class CollectorIdentities {
 public:
  // Parses the file; errors name path:line and the problem.
  static absl::StatusOr<CollectorIdentities> Load(const std::string& path);
  static absl::StatusOr<CollectorIdentities> Parse(const std::string& text,
                                                   const std::string& origin);

  // The identity of a call's peer: UNAUTHENTICATED without a verified
  // client certificate, PERMISSION_DENIED for a certificate that names no
  // entry. The common name is looked up first, then each DNS name.
  absl::StatusOr<CollectorIdentity> Authorize(
      const grpc::AuthContext* context) const;

  size_t size() const { return entries_.size(); }

 private:
  absl::flat_hash_map<std::string, CollectorIdentity> entries_;
};

}  // namespace tally::security

#endif  // TALLY_SERVICES_SECURITY_COLLECTOR_IDENTITIES_H_

#include "services/security/collector_identities.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpc/grpc_security_constants.h"
#include "services/common/echo.h"
#include "services/security/flag_file.h"

namespace tally::security {

absl::StatusOr<CollectorIdentities> CollectorIdentities::Load(
    const std::string& path) {
  absl::StatusOr<std::string> text =
      ReadFlagFile(path, "--collector_identities");
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

absl::StatusOr<CollectorIdentities> CollectorIdentities::Parse(
    const std::string& text, const std::string& origin) {
  CollectorIdentities identities;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = line.substr(0, line.find('#'));
    std::vector<std::string> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    if (fields.size() < 2 || fields.size() > 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ":", line_number,
                       ": expected \"IDENTITY REGION [COLLECTOR_ID]\", found ",
                       fields.size(), " fields"));
    }
    CollectorIdentity entry;
    entry.identity = fields[0];
    entry.region_id = fields[1];
    entry.collector_id = fields.size() == 3 ? fields[2] : fields[0];
    if (!identities.entries_.emplace(entry.identity, entry).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ":", line_number, ": identity \"",
                       entry.identity, "\" is listed twice"));
    }
  }
  if (identities.entries_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": no collector identities"));
  }
  return identities;
}

absl::StatusOr<CollectorIdentity> CollectorIdentities::Authorize(
    const grpc::AuthContext* context) const {
  // Properties exist only for a certificate that the handshake verified
  // against --tls_client_ca.
  if (context == nullptr || !context->IsPeerAuthenticated()) {
    return absl::UnauthenticatedError(
        "Ingest requires a client certificate signed by the aggregator's "
        "--tls_client_ca");
  }
  std::vector<std::string> names;
  for (const char* property :
       {GRPC_X509_CN_PROPERTY_NAME, GRPC_X509_SAN_PROPERTY_NAME}) {
    for (const grpc::string_ref& value :
         context->FindPropertyValues(property)) {
      names.emplace_back(value.data(), value.size());
    }
  }
  for (const std::string& name : names) {
    auto it = entries_.find(name);
    if (it != entries_.end()) return it->second;
  }
  std::vector<std::string> quoted;
  for (const std::string& name : names) {
    quoted.push_back(common::QuoteEcho(name));
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "certificate identity ", common::Echo(absl::StrJoin(quoted, ", ")),
      " is not in the aggregator's --collector_identities"));
}

}  // namespace tally::security

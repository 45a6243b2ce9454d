// The text form of a totals scope, used on command lines, in HTTP query
// strings and in messages: "national", "region/<id>", "district/<id>".
#ifndef TALLY_SERVICES_DOMAIN_SCOPE_TEXT_H_
#define TALLY_SERVICES_DOMAIN_SCOPE_TEXT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tally/v1/results.pb.h"

namespace tally {

std::string ScopeText(const v1::Scope& scope);

// InvalidArgument naming the text when it is none of the three forms.
absl::StatusOr<v1::Scope> ParseScope(absl::string_view text);

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_SCOPE_TEXT_H_

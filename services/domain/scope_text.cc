#include "services/domain/scope_text.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/common/echo.h"

namespace tally {

std::string ScopeText(const v1::Scope& scope) {
  switch (scope.kind()) {
    case v1::SCOPE_KIND_REGION:
      return absl::StrCat("region/", scope.id());
    case v1::SCOPE_KIND_DISTRICT:
      return absl::StrCat("district/", scope.id());
    default:
      return "national";
  }
}

absl::StatusOr<v1::Scope> ParseScope(absl::string_view text) {
  v1::Scope scope;
  if (text == "national") {
    scope.set_kind(v1::SCOPE_KIND_NATIONAL);
    return scope;
  }
  absl::string_view id = text;
  if (absl::ConsumePrefix(&id, "region/")) {
    scope.set_kind(v1::SCOPE_KIND_REGION);
  } else if (absl::ConsumePrefix(&id, "district/")) {
    scope.set_kind(v1::SCOPE_KIND_DISTRICT);
  } else {
    id = "";
  }
  if (id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("scope ", common::QuoteEcho(text),
                     " must be national, region/<id> or district/<id>"));
  }
  scope.set_id(std::string(id));
  return scope;
}

}  // namespace tally

#include "services/domain/ballot_cap.h"

#include <limits>

namespace tally {
namespace {

// Unspecified (and any unknown value) means reject, as in validation.
bool Rejects(v1::Severity severity) { return severity != v1::SEVERITY_ANOMALY; }

}  // namespace

uint64_t RegisterCap(uint64_t registered, uint32_t basis_points) {
  // 128-bit intermediate: basis points are a full uint32.
  const unsigned __int128 additions =
      static_cast<unsigned __int128>(registered) * basis_points / 10000;
  const unsigned __int128 cap = registered + additions;
  return cap > std::numeric_limits<uint64_t>::max()
             ? std::numeric_limits<uint64_t>::max()
             : static_cast<uint64_t>(cap);
}

uint64_t StationBallotCap(const v1::PollingStation& station,
                          const v1::ValidationPolicy& policy) {
  return RegisterCap(station.registered_voters(),
                     policy.same_day_additions_basis_points());
}

bool StationBallotsCapped(const v1::ValidationPolicy& policy) {
  return Rejects(policy.votes_sum()) && Rejects(policy.found_le_issued()) &&
         Rejects(policy.issued_le_registered());
}

}  // namespace tally

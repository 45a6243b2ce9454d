// Guaranteed minimum and maximum seats per choice while stations are still
// to report: the final allocation lies within [min, max] for every possible
// way the outstanding ballots could be cast, as votes for any choice,
// against all or invalid. What "outstanding" is (the caller's figure) is
// defined by PublishedAllocation (contest_allocation.h): the most
// validation can still accept.
#ifndef TALLY_SERVICES_DOMAIN_SEAT_BOUNDS_H_
#define TALLY_SERVICES_DOMAIN_SEAT_BOUNDS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "services/domain/seat_allocation.h"

namespace tally::seats {

struct SeatRange {
  uint32_t min = 0;
  uint32_t max = 0;
};

// One range per input choice, in input order. `outstanding` is the largest
// number of ballots still to come. With outstanding == 0 every range is
// the current allocation exactly. The bounds are sound (never exclude a
// reachable outcome); they are as tight as the method allows cheaply and
// the method of each bound is documented in the .cc.
absl::StatusOr<std::vector<SeatRange>> SeatBounds(const Input& current,
                                                  uint64_t outstanding);

}  // namespace tally::seats

#endif  // TALLY_SERVICES_DOMAIN_SEAT_BOUNDS_H_

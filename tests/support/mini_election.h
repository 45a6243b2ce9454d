// The mini election of the unit tests, written out by hand so that every
// figure in a test can be checked on paper.
//
// MiniElection() (the standard layout):
//   regions    r-north "North", r-south "South"
//   districts  d-1 (r-north), d-2 (r-south)
//   stations   101 (d-1, 1,000 registered), 102 (d-1, 800),
//              201 (d-2, 1,200), 202 (d-2, 600)
//   contests   "list": national party list, 10 seats, Hare quota, 5%
//              threshold, "against all" on the ballot; choices party-a,
//              party-b, party-c
//              "smd-1", "smd-2": single mandate of d-1 and d-2, plurality;
//              choices cand-x, cand-y
//   polls close at 20:00 (Asia/Almaty); same-day additions up to 5% of a
//   station's register.
// A test that needs more districts or stations passes its own layout; the
// regions and contests are built the same way.
//
// Pure functions; any thread.
#ifndef TALLY_TESTS_SUPPORT_MINI_ELECTION_H_
#define TALLY_TESTS_SUPPORT_MINI_ELECTION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tally/v1/election.pb.h"

namespace tally::testing {

struct MiniStation {
  uint32_t id = 0;
  std::string region;
  std::string district;
  uint64_t registered = 0;
};

struct MiniLayout {
  // (district id, region id), in definition order; a single-mandate
  // contest "smd-<id without d->" is added for each, in the same order.
  std::vector<std::pair<std::string, std::string>> districts;
  std::vector<MiniStation> stations;
  // Without them the definition has the party list only.
  bool district_contests = true;

  // The layout of MiniElection().
  static MiniLayout Standard();
};

v1::ElectionDefinition MiniElection(
    const MiniLayout& layout = MiniLayout::Standard());

}  // namespace tally::testing

#endif  // TALLY_TESTS_SUPPORT_MINI_ELECTION_H_

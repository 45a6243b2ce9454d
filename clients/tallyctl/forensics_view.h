// The text rendering of `tallyctl forensics`: the turnout x share
// fingerprint as a terminal heat map, the statistics and the flags. Pure:
// a library of its own so its tests read what it prints.
#ifndef TALLY_CLIENTS_TALLYCTL_FORENSICS_VIEW_H_
#define TALLY_CLIENTS_TALLYCTL_FORENSICS_VIEW_H_

#include <cstdint>
#include <string>

#include "clients/tallyctl/results_view.h"
#include "tally/v1/aggregator.pb.h"
#include "tally/v1/forensics.pb.h"

namespace tally::cli {

// Rows (turnout, top = 100%) and columns (share, left = 0%) of the heat map;
// each cell merges 100 / rows x 100 / columns of the fingerprint's 1% bins.
inline constexpr int kHeatMapRows = 20;
inline constexpr int kHeatMapColumns = 50;

// The fingerprint as rows of characters " .:-=+*#%@", darker for more
// ballots (logarithmic: one vote-heavy cell does not hide the rest), with
// turnout and share axes.
std::string RenderHeatMap(const v1::ScopeForensics& forensics);

// Everything: heading, the heat map of the leading choice, the statistics
// per choice, this scope's flags and the other flagged scopes, and what the
// signs mean and do not mean.
std::string RenderForensics(const ElectionNames& names,
                            const v1::GetForensicsResponse& response);

// One line per flag of a scope whose warning signs changed in a feed event
// ("no longer flagged" when the set is empty).
std::string RenderFlagChange(const ElectionNames& names, uint64_t revision,
                             const v1::ScopeFlags& flags);

}  // namespace tally::cli

#endif  // TALLY_CLIENTS_TALLYCTL_FORENSICS_VIEW_H_

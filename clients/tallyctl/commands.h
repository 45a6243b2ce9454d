// tallyctl subcommands. Each takes the arguments after its name (argv[0] is
// the subcommand name) and returns the process exit code: 0 success, 1
// operational failure, 2 bad usage or bad input.
#ifndef TALLY_CLIENTS_TALLYCTL_COMMANDS_H_
#define TALLY_CLIENTS_TALLYCTL_COMMANDS_H_

#include <string>
#include <vector>

namespace tally::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;

// tallyctl seats [--input FILE]: seat allocation of JSON on stdin.
int RunSeats(const std::vector<std::string>& args);

// tallyctl definition generate|check|summary ...
int RunDefinition(const std::vector<std::string>& args);

// tallyctl results / station ID / verify [--db DIR] / watch.
int RunResults(const std::vector<std::string>& args);
int RunStation(const std::vector<std::string>& args);
int RunVerify(const std::vector<std::string>& args);
int RunWatch(const std::vector<std::string>& args);

}  // namespace tally::cli

#endif  // TALLY_CLIENTS_TALLYCTL_COMMANDS_H_

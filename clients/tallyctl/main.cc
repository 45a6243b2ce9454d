// tallyctl: the one client tool of tally, with etcdctl-style subcommands.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clients/tallyctl/commands.h"
#include "clients/tallyctl/grpc_client.h"

namespace {

constexpr char kUsage[] =
    "usage: tallyctl <command> [flags] [args]\n"
    "\n"
    "commands:\n"
    "  seats        allocate seats for vote counts given as JSON (stdin or "
    "--input)\n"
    "  definition   generate | check | summary of election definitions\n"
    "  results      totals and seats from the aggregator\n"
    "  composition  seats by nominating party over every contest "
    "(list + districts)\n"
    "  station      a station's protocols and their version history\n"
    "  watch        the live feed (terminal view, or --json lines)\n"
    "  verify       recompute every total from the stored protocols "
    "(online, or --db DIR offline)\n"
    "  replicas     role and position of each replica of --aggregator\n"
    "  forensics    statistical warning signs of a contest and scope "
    "(heat map)\n"
    "  export       the results as a standard document (--format nist-cdf: "
    "NIST\n"
    "               SP 1500-100 v2 JSON; --level national|region|district|"
    "station)\n"
    "  submit       send protocols from .jsonl or .csv files to a collector\n"
    "  simulate     play an election night against the collectors (or "
    "write it\n"
    "               to files with --write_dir)\n"
    "  audit        check the published results against the signed "
    "transparency log\n"
    "  prove        prove a station's protocols are in the log (--station "
    "ID)\n"
    "  witness      follow the log's signed heads, cosign them, catch a "
    "split view\n"
    "\n"
    "Run 'tallyctl <command> --help' for the flags of a command.\n";

struct Command {
  const char* name;
  int (*run)(const std::vector<std::string>&);
};

constexpr Command kCommands[] = {
    {"seats", tally::cli::RunSeats},
    {"definition", tally::cli::RunDefinition},
    {"results", tally::cli::RunResults},
    {"composition", tally::cli::RunComposition},
    {"station", tally::cli::RunStation},
    {"watch", tally::cli::RunWatch},
    {"verify", tally::cli::RunVerify},
    {"replicas", tally::cli::RunReplicas},
    {"forensics", tally::cli::RunForensics},
    {"export", tally::cli::RunExport},
    {"submit", tally::cli::RunSubmit},
    {"simulate", tally::cli::RunSimulate},
    {"audit", tally::cli::RunAudit},
    {"prove", tally::cli::RunProve},
    {"witness", tally::cli::RunWitness},
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  // By default --help lists the flags of the file named like the program;
  // the program name here is the subcommand, so list tallyctl's own flags
  // (each says which commands it applies to) and the shared TLS flags, not
  // the libraries'.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "clients/tallyctl/") ||
           absl::StrContains(file, "services/security/tls_client_flags") ||
           absl::StrContains(file, "services/security/insecure_flag");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  if (argc < 2 || std::string(argv[1]) == "help" ||
      std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? tally::cli::kExitBadInput : tally::cli::kExitOk;
  }
  const std::string name = argv[1];
  for (const Command& command : kCommands) {
    if (name != command.name) continue;
    // Flags are parsed after the subcommand name: argv[1] plays the role of
    // the program name, so "tallyctl seats --input f" parses "--input f".
    std::vector<char*> positional = absl::ParseCommandLine(argc - 1, argv + 1);
    std::vector<std::string> args(positional.begin(), positional.end());
    if (absl::Status transport = tally::cli::ConfigureTransport();
        !transport.ok()) {
      std::fprintf(stderr, "tallyctl %s: %s\n", name.c_str(),
                   std::string(transport.message()).c_str());
      return tally::cli::kExitBadInput;
    }
    return command.run(args);
  }
  std::fprintf(stderr, "tallyctl: unknown command \"%s\"\n\n%s", name.c_str(),
               kUsage);
  return tally::cli::kExitBadInput;
}

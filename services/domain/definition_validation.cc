// Structural rules of an election definition. Problems are collected, not
// returned at the first one, so that an operator fixing a definition file
// sees every mistake in one run, in the order they appear in the file.
#include "services/domain/definition_validation.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "services/common/echo.h"
#include "services/domain/seat_allocation.h"

namespace tally {
namespace {

// Vote and voter counts stay below 2^40 and seat counts below 2^20 so that
// the exact seat arithmetic (services/domain/rational.h) cannot overflow.
constexpr uint64_t kMaxVoters = uint64_t{1} << 40;
constexpr uint32_t kMaxSeats = uint32_t{1} << 20;

constexpr absl::string_view kIdPattern = "[a-z0-9][a-z0-9-]*";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsIdentifier(absl::string_view id) {
  if (id.empty()) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool allowed =
        (c >= 'a' && c <= 'z') || IsDigit(c) || (c == '-' && i > 0);
    if (!allowed) return false;
  }
  return true;
}

// Parses a fixed-width run of decimal digits; false on any non-digit.
bool ParseDigits(absl::string_view text, int* value) {
  int result = 0;
  for (char c : text) {
    if (!IsDigit(c)) return false;
    result = result * 10 + (c - '0');
  }
  *value = result;
  return true;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// "YYYY-MM-DD", a real day of the proleptic Gregorian calendar.
bool IsCalendarDate(absl::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  int year = 0, month = 0, day = 0;
  if (!ParseDigits(text.substr(0, 4), &year) ||
      !ParseDigits(text.substr(5, 2), &month) ||
      !ParseDigits(text.substr(8, 2), &day)) {
    return false;
  }
  if (year < 1 || month < 1 || month > 12) return false;
  return day >= 1 && day <= DaysInMonth(year, month);
}

// "HH:MM" on a 24-hour clock, 00:00 to 23:59.
bool IsClockTime(absl::string_view text) {
  if (text.size() != 5 || text[2] != ':') return false;
  int hour = 0, minute = 0;
  if (!ParseDigits(text.substr(0, 2), &hour) ||
      !ParseDigits(text.substr(3, 2), &minute)) {
    return false;
  }
  return hour <= 23 && minute <= 59;
}

bool IsColour(absl::string_view text) {
  if (text.size() != 7 || text[0] != '#') return false;
  for (char c : text.substr(1)) {
    const bool hex =
        IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

// `kind[i] (id "x")`, or `kind[i]` when the id is empty.
std::string EntryLabel(absl::string_view kind, int i, absl::string_view id) {
  if (id.empty()) return absl::StrCat(kind, "[", i, "]");
  return absl::StrCat(kind, "[", i, "] (id ", common::QuoteEcho(id), ")");
}

bool IsListMethod(v1::AllocationMethod method) {
  switch (method) {
    case v1::ALLOCATION_METHOD_HARE:
    case v1::ALLOCATION_METHOD_DROOP:
    case v1::ALLOCATION_METHOD_DHONDT:
    case v1::ALLOCATION_METHOD_SAINTE_LAGUE:
    case v1::ALLOCATION_METHOD_MODIFIED_SAINTE_LAGUE:
      return true;
    default:
      return false;
  }
}

bool MethodFitsKind(v1::AllocationMethod method, v1::ContestKind kind) {
  switch (kind) {
    case v1::CONTEST_KIND_PARTY_LIST:
      return IsListMethod(method);
    case v1::CONTEST_KIND_SINGLE_MANDATE:
      return method == v1::ALLOCATION_METHOD_PLURALITY;
    case v1::CONTEST_KIND_PRESIDENTIAL_MAJORITY:
      return method == v1::ALLOCATION_METHOD_ABSOLUTE_MAJORITY;
    default:
      return true;  // an unset kind is reported on its own
  }
}

class DefinitionChecker {
 public:
  explicit DefinitionChecker(const v1::ElectionDefinition& definition)
      : d_(definition) {}

  std::vector<std::string> Run() && {
    CheckElection();
    CheckRegions();
    CheckDistricts();
    CheckStations();
    CheckContests();
    CheckPolicy();
    return std::move(problems_);
  }

 private:
  void Add(absl::string_view where, absl::string_view what) {
    problems_.push_back(absl::StrCat(where, ": ", what));
  }

  void CheckElection() {
    constexpr absl::string_view kWhere = "election";
    if (d_.id().empty()) Add(kWhere, "id is required");
    if (d_.name().empty()) Add(kWhere, "name is required");
    if (d_.date().empty()) {
      Add(kWhere, "date is required");
    } else if (!IsCalendarDate(d_.date())) {
      Add(kWhere, absl::StrCat("date ", common::QuoteEcho(d_.date()),
                               " is not a valid calendar date (YYYY-MM-DD)"));
    }
    if (d_.time_zone().empty()) Add(kWhere, "time_zone is required");
    if (!d_.polls_close_local_time().empty() &&
        !IsClockTime(d_.polls_close_local_time())) {
      Add(kWhere, absl::StrCat("polls_close_local_time ",
                               common::QuoteEcho(d_.polls_close_local_time()),
                               " is not HH:MM"));
    }
    if (d_.regions().empty()) Add(kWhere, "at least one region is required");
    if (d_.stations().empty()) {
      Add(kWhere, "at least one station is required");
    }
    if (d_.contests().empty()) {
      Add(kWhere, "at least one contest is required");
    }
  }

  // Shared by regions, districts and contests: required, pattern, unique.
  // Records the first position of each id in `seen`.
  void CheckId(const std::string& where, absl::string_view kind, int i,
               const std::string& id,
               absl::flat_hash_map<std::string, int>* seen) {
    if (id.empty()) {
      Add(where, "id is required");
      return;
    }
    if (!IsIdentifier(id))
      Add(where, absl::StrCat("id must match ", kIdPattern));
    const auto [it, inserted] = seen->try_emplace(id, i);
    if (!inserted) {
      Add(where,
          absl::StrCat("id is a duplicate of ", kind, "[", it->second, "]"));
    }
  }

  void CheckRegions() {
    for (int i = 0; i < d_.regions_size(); ++i) {
      const v1::Region& region = d_.regions(i);
      const std::string where = EntryLabel("regions", i, region.id());
      CheckId(where, "regions", i, region.id(), &regions_);
      if (region.name().empty()) Add(where, "name is required");
    }
  }

  // The district's region when it is defined, else nullptr.
  const v1::Region* RegionOf(const v1::District& district) const {
    const auto it = regions_.find(district.region_id());
    return it == regions_.end() ? nullptr : &d_.regions(it->second);
  }

  void CheckDistricts() {
    for (int i = 0; i < d_.districts_size(); ++i) {
      const v1::District& district = d_.districts(i);
      const std::string where = EntryLabel("districts", i, district.id());
      CheckId(where, "districts", i, district.id(), &districts_);
      if (district.name().empty()) Add(where, "name is required");
      if (district.region_id().empty()) {
        Add(where, "region_id is required");
      } else if (RegionOf(district) == nullptr) {
        Add(where,
            absl::StrCat("region_id ", common::QuoteEcho(district.region_id()),
                         " is not a defined region"));
      }
    }
  }

  // The first contest that names a district, or nullptr.
  const v1::Contest* FirstDistrictContest() const {
    for (const v1::Contest& contest : d_.contests()) {
      if (!contest.district_id().empty()) return &contest;
    }
    return nullptr;
  }

  void CheckStations() {
    const v1::Contest* district_contest = FirstDistrictContest();
    absl::flat_hash_map<uint32_t, int> ids;
    uint64_t total_voters = 0;
    for (int i = 0; i < d_.stations_size(); ++i) {
      const v1::PollingStation& station = d_.stations(i);
      const std::string where =
          absl::StrCat("stations[", i, "] (id ", station.id(), ")");
      if (station.id() == 0) {
        Add(where, "id must be >= 1");
      } else if (const auto [it, inserted] = ids.try_emplace(station.id(), i);
                 !inserted) {
        Add(where,
            absl::StrCat("id is a duplicate of stations[", it->second, "]"));
      }
      const bool region_known = regions_.contains(station.region_id());
      if (station.region_id().empty()) {
        Add(where, "region_id is required");
      } else if (!region_known) {
        Add(where,
            absl::StrCat("region_id ", common::QuoteEcho(station.region_id()),
                         " is not a defined region"));
      }
      CheckStationDistrict(where, station, region_known, district_contest);
      if (station.registered_voters() == 0) {
        Add(where, "registered_voters must be >= 1");
      } else if (station.registered_voters() > kMaxVoters) {
        Add(where,
            absl::StrCat("registered_voters ", station.registered_voters(),
                         " exceeds the limit ", kMaxVoters));
      }
      // Saturating: each term is checked above; only the sum can overflow.
      total_voters = station.registered_voters() > kMaxVoters - total_voters
                         ? kMaxVoters + 1
                         : total_voters + station.registered_voters();
    }
    if (total_voters > kMaxVoters) {
      Add("election", absl::StrCat("registered_voters of all stations exceed "
                                   "the limit ",
                                   kMaxVoters));
    }
  }

  void CheckStationDistrict(const std::string& where,
                            const v1::PollingStation& station,
                            bool region_known,
                            const v1::Contest* district_contest) {
    if (station.district_id().empty()) {
      if (district_contest != nullptr) {
        Add(where, absl::StrCat("district_id is required because contest ",
                                common::QuoteEcho(district_contest->id()),
                                " is a district contest"));
      }
      return;
    }
    const auto it = districts_.find(station.district_id());
    if (it == districts_.end()) {
      Add(where,
          absl::StrCat("district_id ", common::QuoteEcho(station.district_id()),
                       " is not a defined district"));
      return;
    }
    ++district_stations_[station.district_id()];
    const v1::District& district = d_.districts(it->second);
    // With either region undefined the problem is already reported.
    if (!region_known || RegionOf(district) == nullptr) return;
    if (district.region_id() != station.region_id()) {
      Add(where,
          absl::StrCat("district_id ", common::QuoteEcho(station.district_id()),
                       " lies in region ",
                       common::QuoteEcho(district.region_id()),
                       ", not in the station's region ",
                       common::QuoteEcho(station.region_id())));
    }
  }

  void CheckContests() {
    // The parties a candidate may name as nominating party (party_id).
    for (const v1::Contest& contest : d_.contests()) {
      if (contest.kind() != v1::CONTEST_KIND_PARTY_LIST) continue;
      for (const v1::Choice& choice : contest.choices()) {
        if (!choice.id().empty()) list_parties_.insert(choice.id());
      }
    }
    absl::flat_hash_map<std::string, int> ids;
    for (int i = 0; i < d_.contests_size(); ++i) {
      const v1::Contest& contest = d_.contests(i);
      const std::string where = EntryLabel("contests", i, contest.id());
      CheckId(where, "contests", i, contest.id(), &ids);
      if (contest.name().empty()) Add(where, "name is required");
      CheckKindAndSeats(where, contest);
      CheckRule(where, contest);
      CheckContestDistrict(where, contest);
      CheckChoices(where, contest);
    }
  }

  void CheckKindAndSeats(const std::string& where, const v1::Contest& contest) {
    if (contest.kind() == v1::CONTEST_KIND_UNSPECIFIED) {
      Add(where, "kind is required");
    } else if (!v1::ContestKind_IsValid(contest.kind())) {
      Add(where, absl::StrCat("kind ", contest.kind(),
                              " is not a known contest kind"));
    }
    const bool single_seat =
        contest.kind() == v1::CONTEST_KIND_SINGLE_MANDATE ||
        contest.kind() == v1::CONTEST_KIND_PRESIDENTIAL_MAJORITY;
    if (contest.seats() == 0) {
      Add(where, "seats must be >= 1");
    } else if (single_seat && contest.seats() != 1) {
      Add(where, absl::StrCat("seats must be 1 for ",
                              v1::ContestKind_Name(contest.kind()), ", got ",
                              contest.seats()));
    } else if (contest.seats() > kMaxSeats) {
      Add(where, absl::StrCat("seats ", contest.seats(), " exceeds the limit ",
                              kMaxSeats));
    }
  }

  void CheckRule(const std::string& where, const v1::Contest& contest) {
    const v1::AllocationRule& rule = contest.rule();
    if (rule.method() == v1::ALLOCATION_METHOD_UNSPECIFIED) {
      Add(where, "rule.method is required");
    } else if (!v1::AllocationMethod_IsValid(rule.method())) {
      Add(where, absl::StrCat("rule.method ", rule.method(),
                              " is not a known allocation method"));
    } else if (v1::ContestKind_IsValid(contest.kind()) &&
               !MethodFitsKind(rule.method(), contest.kind())) {
      Add(where,
          absl::StrCat("rule.method ", v1::AllocationMethod_Name(rule.method()),
                       " does not fit kind ",
                       v1::ContestKind_Name(contest.kind())));
    }
    CheckThreshold(where, contest);
    if (!v1::VoteBase_IsValid(rule.threshold_base())) {
      Add(where, absl::StrCat("rule.threshold_base ", rule.threshold_base(),
                              " is not a known vote base"));
    }
    if (!v1::VoteBase_IsValid(rule.majority_base())) {
      Add(where, absl::StrCat("rule.majority_base ", rule.majority_base(),
                              " is not a known vote base"));
    }
    if (!v1::VoteBase_IsValid(rule.share_base())) {
      Add(where, absl::StrCat("rule.share_base ", rule.share_base(),
                              " is not a known vote base (VOTE_BASE_LIST_VOTES,"
                              " VOTE_BASE_VALID_VOTES or"
                              " VOTE_BASE_BALLOTS_CAST)"));
    }
    if (!v1::TieRule_IsValid(rule.tie_rule())) {
      Add(where, absl::StrCat("rule.tie_rule ", rule.tie_rule(),
                              " is not a known tie rule"));
    }
  }

  // "0" means no threshold (see election.proto), so only a positive
  // threshold is an error outside party-list contests.
  void CheckThreshold(const std::string& where, const v1::Contest& contest) {
    const std::string& text = contest.rule().threshold_percent();
    if (text.empty()) return;
    const absl::StatusOr<Rational> share = seats::ParsePercent(text);
    if (!share.ok()) {
      Add(where, absl::StrCat(
                     "rule.threshold_percent ", common::QuoteEcho(text),
                     " is not a valid percentage: ", share.status().message()));
      return;
    }
    if (share->num > share->den) {
      Add(where, absl::StrCat("rule.threshold_percent ",
                              common::QuoteEcho(text), " exceeds 100"));
      return;
    }
    // An unset or unknown kind is reported on its own.
    const bool other_kind = v1::ContestKind_IsValid(contest.kind()) &&
                            contest.kind() != v1::CONTEST_KIND_UNSPECIFIED &&
                            contest.kind() != v1::CONTEST_KIND_PARTY_LIST;
    if (share->num > 0 && other_kind) {
      Add(where, absl::StrCat("rule.threshold_percent is only allowed for "
                              "CONTEST_KIND_PARTY_LIST, not ",
                              v1::ContestKind_Name(contest.kind())));
    }
  }

  void CheckContestDistrict(const std::string& where,
                            const v1::Contest& contest) {
    if (contest.district_id().empty()) return;
    if (!districts_.contains(contest.district_id())) {
      Add(where,
          absl::StrCat("district_id ", common::QuoteEcho(contest.district_id()),
                       " is not a defined district"));
    } else if (!district_stations_.contains(contest.district_id())) {
      Add(where,
          absl::StrCat("district ", common::QuoteEcho(contest.district_id()),
                       " has no polling stations"));
    }
  }

  void CheckChoices(const std::string& where, const v1::Contest& contest) {
    if (contest.choices().empty()) {
      Add(where, "at least one choice is required");
      return;
    }
    absl::flat_hash_map<std::string, int> ids;
    for (int j = 0; j < contest.choices_size(); ++j) {
      const v1::Choice& choice = contest.choices(j);
      const std::string choice_where =
          absl::StrCat(where, ": ", EntryLabel("choices", j, choice.id()));
      if (choice.id().empty()) {
        Add(choice_where, "id is required");
      } else if (const auto [it, inserted] = ids.try_emplace(choice.id(), j);
                 !inserted) {
        Add(choice_where,
            absl::StrCat("id is a duplicate of choices[", it->second, "]"));
      }
      if (choice.name().empty()) Add(choice_where, "name is required");
      if (!choice.colour().empty() && !IsColour(choice.colour())) {
        Add(choice_where,
            absl::StrCat("colour ", common::QuoteEcho(choice.colour()),
                         " is not #rrggbb"));
      }
      if (choice.party_id().empty()) continue;
      if (contest.kind() == v1::CONTEST_KIND_PARTY_LIST) {
        Add(choice_where,
            "party_id must be empty in a party-list contest (its choices are "
            "the parties)");
      } else if (!list_parties_.contains(choice.party_id())) {
        Add(choice_where,
            absl::StrCat("party_id ", common::QuoteEcho(choice.party_id()),
                         " is not a choice of any party-list contest"));
      }
    }
  }

  void CheckPolicy() {
    const v1::ValidationPolicy& policy = d_.validation();
    const std::pair<absl::string_view, int> severities[] = {
        {"votes_sum", policy.votes_sum()},
        {"found_le_issued", policy.found_le_issued()},
        {"issued_le_received", policy.issued_le_received()},
        {"issued_le_registered", policy.issued_le_registered()},
        {"unused_balance", policy.unused_balance()},
        {"registered_matches", policy.registered_matches()},
    };
    for (const auto& [name, value] : severities) {
      if (!v1::Severity_IsValid(value)) {
        Add("validation",
            absl::StrCat(name, " ", value, " is not a known severity"));
      }
    }
  }

  const v1::ElectionDefinition& d_;
  std::vector<std::string> problems_;
  // Id -> first position in the definition.
  absl::flat_hash_map<std::string, int> regions_;
  absl::flat_hash_map<std::string, int> districts_;
  // District id -> number of stations that name it.
  absl::flat_hash_map<std::string, int> district_stations_;
  absl::flat_hash_set<std::string> list_parties_;
};

}  // namespace

std::vector<std::string> DefinitionProblems(
    const v1::ElectionDefinition& definition) {
  return DefinitionChecker(definition).Run();
}

absl::Status ValidateDefinition(const v1::ElectionDefinition& definition) {
  const std::vector<std::string> problems = DefinitionProblems(definition);
  if (problems.empty()) return absl::OkStatus();
  if (problems.size() == 1) return absl::InvalidArgumentError(problems[0]);
  const size_t more = problems.size() - 1;
  return absl::InvalidArgumentError(
      absl::StrCat(problems[0], " (and ", more, " more ",
                   more == 1 ? "problem" : "problems", ")"));
}

}  // namespace tally

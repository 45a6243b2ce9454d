#include "services/domain/nist_cdf.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "services/domain/proto_json.h"
#include "services/domain/scope_text.h"
#include "tally/v1/log.pb.h"

namespace tally::nist {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

// The document is built as a google.protobuf.Struct and printed by
// protobuf's JSON mapping (proto_json.h). Numbers in a Struct are doubles:
// every count here is far below 2^53, so each prints exactly as an integer.

Struct* Object(Value* value, absl::string_view type) {
  Struct* object = value->mutable_struct_value();
  (*object->mutable_fields())["@type"].set_string_value(
      absl::StrCat("ElectionResults.", type));
  return object;
}

Struct* AddObject(ListValue* list, absl::string_view type) {
  return Object(list->add_values(), type);
}

Struct* SetObject(Struct* object, const std::string& key,
                  absl::string_view type) {
  return Object(&(*object->mutable_fields())[key], type);
}

void SetString(Struct* object, const std::string& key,
               const std::string& text) {
  (*object->mutable_fields())[key].set_string_value(text);
}

void SetNumber(Struct* object, const std::string& key, uint64_t number) {
  (*object->mutable_fields())[key].set_number_value(
      static_cast<double>(number));
}

ListValue* SetList(Struct* object, const std::string& key) {
  return (*object->mutable_fields())[key].mutable_list_value();
}

void AddString(ListValue* list, const std::string& text) {
  list->add_values()->set_string_value(text);
}

// An InternationalizedText with one LanguageString.
void SetText(Struct* object, const std::string& key, const std::string& text,
             const std::string& language) {
  Struct* internationalized = SetObject(object, key, "InternationalizedText");
  Struct* string =
      AddObject(SetList(internationalized, "Text"), "LanguageString");
  SetString(string, "Content", text);
  SetString(string, "Language", language);
}

// The ids of the report's objects (docs/ARCHITECTURE.md).
constexpr char kCountryId[] = "gpu-national";
std::string RegionUnitId(const std::string& id) {
  return absl::StrCat("gpu-region-", id);
}
std::string DistrictUnitId(const std::string& id) {
  return absl::StrCat("gpu-district-", id);
}
std::string StationUnitId(uint32_t id) {
  return absl::StrCat("gpu-station-", id);
}
std::string ScopeUnitId(const v1::Scope& scope) {
  switch (scope.kind()) {
    case v1::SCOPE_KIND_REGION:
      return RegionUnitId(scope.id());
    case v1::SCOPE_KIND_DISTRICT:
      return DistrictUnitId(scope.id());
    default:
      return kCountryId;
  }
}
std::string ContestId(const v1::Contest& contest) {
  return absl::StrCat("contest-", contest.id());
}
std::string SelectionId(const v1::Contest& contest, const v1::Choice& choice) {
  return absl::StrCat("sel-", contest.id(), "-", choice.id());
}
std::string AgainstAllId(const v1::Contest& contest) {
  return absl::StrCat("sel-", contest.id(), "--against-all");
}
std::string PartyId(const std::string& choice_id) {
  return absl::StrCat("party-", choice_id);
}
std::string CandidateId(const v1::Contest& contest, const v1::Choice& choice) {
  return absl::StrCat("cand-", contest.id(), "-", choice.id());
}
std::string OfficeId(const v1::Contest& contest) {
  return absl::StrCat("office-", contest.id());
}

int Depth(v1::ScopeKind kind) {
  switch (kind) {
    case v1::SCOPE_KIND_REGION:
      return 1;
    case v1::SCOPE_KIND_DISTRICT:
      return 2;
    default:
      return 0;
  }
}
int Depth(ExportLevel level) { return static_cast<int>(level); }

const char* CountItemStatus(uint64_t reported, uint64_t expected) {
  if (reported >= expected) return "completed";
  if (reported == 0) return "not-processed";
  return "in-process";
}

void SetCountStatus(Struct* object, uint64_t reported, uint64_t expected) {
  Struct* status = AddObject(SetList(object, "CountStatus"), "CountStatus");
  SetString(status, "Type", "total");
  SetString(status, "Status", CountItemStatus(reported, expected));
}

bool IsPartyList(const v1::Contest& contest) {
  return contest.kind() == v1::CONTEST_KIND_PARTY_LIST;
}

bool Covers(const v1::Contest& contest, const std::string& district_id) {
  return contest.district_id().empty() || contest.district_id() == district_id;
}

class Builder {
 public:
  explicit Builder(const ExportInput& input)
      : input_(input), definition_(*input.definition) {
    for (const v1::Totals& totals : input.totals) {
      by_scope_[{totals.contest_id(), ScopeText(totals.scope())}] = &totals;
    }
    for (const v1::District& district : definition_.districts()) {
      districts_of_region_[district.region_id()].push_back(&district);
    }
    for (const v1::PollingStation& station : definition_.stations()) {
      if (station.district_id().empty()) {
        loose_stations_of_region_[station.region_id()].push_back(&station);
      } else {
        stations_of_district_[station.district_id()].push_back(&station);
      }
    }
    for (const v1::Contest& contest : definition_.contests()) {
      if (!contest.district_id().empty()) {
        contest_districts_.insert(contest.district_id());
      }
    }
  }

  Struct Build() {
    Struct report;
    (*report.mutable_fields())["@type"].set_string_value(
        "ElectionResults.ElectionReport");
    SetString(&report, "Format",
              input_.level == ExportLevel::kStation ? "precinct-level"
                                                    : "summary-contest");
    SetString(&report, "GeneratedDate",
              absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", input_.generated,
                               absl::UTCTimeZone()));
    SetString(&report, "Issuer", input_.issuer);
    SetString(&report, "IssuerAbbreviation", input_.issuer_abbreviation);
    SetString(&report, "VendorApplicationId",
              absl::StrCat("tally ", TALLY_VERSION_STRING));
    SetNumber(&report, "SequenceStart", 1);
    SetNumber(&report, "SequenceEnd", 1);
    SetString(&report, "Status", ReportStatus(definition_, input_.totals));
    SetString(&report, "Notes",
              absl::StrCat("Unofficial results of election \"",
                           definition_.id(), "\" at revision ", input_.revision,
                           ", level ", ExportLevelName(input_.level), "."));
    AddParties(&report);
    AddOffices(&report);
    AddElection(AddObject(SetList(&report, "Election"), "Election"));
    AddUnits(SetList(&report, "GpUnit"));
    return report;
  }

 private:
  bool Wanted(const v1::Contest& contest, const v1::Scope& scope) const {
    if (!contest.district_id().empty() &&
        scope.kind() == v1::SCOPE_KIND_DISTRICT &&
        scope.id() == contest.district_id()) {
      return true;  // a district contest's own scope, at every level
    }
    return Depth(scope.kind()) <= Depth(input_.level);
  }

  const v1::Totals* Find(const std::string& contest_id,
                         const v1::Scope& scope) const {
    auto it = by_scope_.find({contest_id, ScopeText(scope)});
    return it == by_scope_.end() ? nullptr : it->second;
  }

  // The first contest in definition order held in the whole of a unit
  // (every national contest; a district's own contest): the unit's
  // turnout, stations reported and ballot counts are its.
  const v1::Contest* PrincipalContest(const std::string& district_id) const {
    for (const v1::Contest& contest : definition_.contests()) {
      if (contest.district_id().empty() ||
          (!district_id.empty() && contest.district_id() == district_id)) {
        return &contest;
      }
    }
    return nullptr;
  }

  void AddParties(Struct* report) {
    ListValue* parties = nullptr;
    for (const v1::Contest& contest : definition_.contests()) {
      if (!IsPartyList(contest)) continue;
      for (const v1::Choice& choice : contest.choices()) {
        if (!parties_.insert(choice.id()).second) continue;
        if (parties == nullptr) parties = SetList(report, "Party");
        Struct* party = AddObject(parties, "Party");
        SetString(party, "@id", PartyId(choice.id()));
        SetText(party, "Name", choice.name(), input_.language);
        if (choice.colour().size() == 7 && choice.colour()[0] == '#') {
          SetString(party, "Color",
                    absl::AsciiStrToLower(choice.colour().substr(1)));
        }
      }
    }
  }

  void AddOffices(Struct* report) {
    ListValue* offices = nullptr;
    for (const v1::Contest& contest : definition_.contests()) {
      if (IsPartyList(contest)) continue;
      if (offices == nullptr) offices = SetList(report, "Office");
      Struct* office = AddObject(offices, "Office");
      SetString(office, "@id", OfficeId(contest));
      SetText(office, "Name", contest.name(), input_.language);
      SetString(office, "ElectionDistrictId",
                contest.district_id().empty()
                    ? std::string(kCountryId)
                    : DistrictUnitId(contest.district_id()));
    }
  }

  void AddElection(Struct* election) {
    SetText(election, "Name", definition_.name(), input_.language);
    SetString(election, "StartDate", definition_.date());
    SetString(election, "EndDate", definition_.date());
    SetString(election, "Type", "general");
    SetString(election, "ElectionScopeId", kCountryId);
    uint64_t reported = 0;
    uint64_t expected = 0;
    ListValue* candidates = nullptr;
    ListValue* contests = SetList(election, "Contest");
    int order = 0;
    for (const v1::Contest& contest : definition_.contests()) {
      AddContest(
          contest, ++order,
          AddObject(contests, IsPartyList(contest) ? "PartyContest"
                                                   : "CandidateContest"));
      if (!IsPartyList(contest)) {
        if (candidates == nullptr) candidates = SetList(election, "Candidate");
        for (const v1::Choice& choice : contest.choices()) {
          Struct* candidate = AddObject(candidates, "Candidate");
          SetString(candidate, "@id", CandidateId(contest, choice));
          SetText(candidate, "BallotName", choice.name(), input_.language);
          if (!choice.party_id().empty() &&
              parties_.contains(choice.party_id())) {
            SetString(candidate, "PartyId", PartyId(choice.party_id()));
          }
        }
      }
      v1::Scope own;
      if (!contest.district_id().empty()) {
        own.set_kind(v1::SCOPE_KIND_DISTRICT);
        own.set_id(contest.district_id());
      }
      if (const v1::Totals* totals = Find(contest.id(), own)) {
        reported += totals->stations_reported();
        expected += totals->stations_expected();
      }
    }
    SetCountStatus(election, reported, expected);
    AddBallotCounts(SetList(election, "BallotCounts"));
  }

  void AddContest(const v1::Contest& contest, int order, Struct* object) {
    SetString(object, "@id", ContestId(contest));
    SetString(object, "Name", contest.name());
    SetNumber(object, "SequenceOrder", static_cast<uint64_t>(order));
    SetString(object, "ElectionDistrictId",
              contest.district_id().empty()
                  ? std::string(kCountryId)
                  : DistrictUnitId(contest.district_id()));
    if (IsPartyList(contest)) {
      SetString(object, "VoteVariation", "proportional");
    } else {
      SetNumber(object, "VotesAllowed", 1);
      SetNumber(object, "NumberElected", contest.seats());
      SetString(object, "VoteVariation",
                contest.kind() == v1::CONTEST_KIND_PRESIDENTIAL_MAJORITY
                    ? "majority"
                    : "plurality");
      AddString(SetList(object, "OfficeIds"), OfficeId(contest));
    }
    // The totals reported at each exported scope, in GetResults order.
    std::vector<const v1::Totals*> scopes;
    for (const v1::Totals& totals : input_.totals) {
      if (totals.contest_id() == contest.id() &&
          Wanted(contest, totals.scope())) {
        scopes.push_back(&totals);
      }
    }
    std::vector<
        std::pair<const v1::PollingStation*, const v1::StationProtocol*>>
        stations;
    if (input_.level == ExportLevel::kStation) {
      for (const v1::PollingStation& station : definition_.stations()) {
        if (!Covers(contest, station.district_id())) continue;
        if (const v1::StationProtocol* protocol =
                input_.stations->Find(contest.id(), station.id())) {
          stations.emplace_back(&station, protocol);
        }
      }
    }
    for (const v1::Totals* totals : scopes) {
      const bool own =
          contest.district_id().empty()
              ? totals->scope().kind() == v1::SCOPE_KIND_NATIONAL ||
                    totals->scope().kind() == v1::SCOPE_KIND_UNSPECIFIED
              : totals->scope().id() == contest.district_id();
      if (!own) continue;
      SetNumber(object, "SubUnitsReported", totals->stations_reported());
      SetNumber(object, "TotalSubUnits", totals->stations_expected());
      SetCountStatus(object, totals->stations_reported(),
                     totals->stations_expected());
    }

    ListValue* selections = SetList(object, "ContestSelection");
    int selection_order = 0;
    for (const v1::Choice& choice : contest.choices()) {
      Struct* selection =
          AddObject(selections, IsPartyList(contest) ? "PartySelection"
                                                     : "CandidateSelection");
      SetString(selection, "@id", SelectionId(contest, choice));
      SetNumber(selection, "SequenceOrder",
                static_cast<uint64_t>(++selection_order));
      if (IsPartyList(contest)) {
        AddString(SetList(selection, "PartyIds"), PartyId(choice.id()));
      } else {
        AddString(SetList(selection, "CandidateIds"),
                  CandidateId(contest, choice));
        if (!choice.party_id().empty() &&
            parties_.contains(choice.party_id())) {
          AddString(SetList(selection, "EndorsementPartyIds"),
                    PartyId(choice.party_id()));
        }
      }
      ListValue* counts = SetList(selection, "VoteCounts");
      for (const v1::Totals* totals : scopes) {
        uint64_t votes = 0;
        for (const v1::ChoiceTotal& total : totals->choices()) {
          if (total.choice_id() == choice.id()) votes = total.votes();
        }
        AddVoteCount(counts, ScopeUnitId(totals->scope()), votes);
      }
      for (const auto& [station, protocol] : stations) {
        uint64_t votes = 0;
        for (const v1::ChoiceVotes& line : protocol->votes()) {
          if (line.choice_id() == choice.id()) votes = line.votes();
        }
        AddVoteCount(counts, StationUnitId(station->id()), votes);
      }
    }
    if (contest.against_all_on_ballot()) {
      // "Against all" is a valid vote on the ballot, counted in the vote
      // base: a selection of its own, the one kind whose label is text.
      Struct* selection = AddObject(selections, "BallotMeasureSelection");
      SetString(selection, "@id", AgainstAllId(contest));
      SetNumber(selection, "SequenceOrder",
                static_cast<uint64_t>(++selection_order));
      SetText(selection, "Selection", "Against all", input_.language);
      ListValue* counts = SetList(selection, "VoteCounts");
      for (const v1::Totals* totals : scopes) {
        AddVoteCount(counts, ScopeUnitId(totals->scope()),
                     totals->against_all());
      }
      for (const auto& [station, protocol] : stations) {
        AddVoteCount(counts, StationUnitId(station->id()),
                     protocol->accounting().against_all());
      }
    }
  }

  static void AddVoteCount(ListValue* counts, const std::string& unit,
                           uint64_t count) {
    Struct* vote_count = AddObject(counts, "VoteCounts");
    SetString(vote_count, "GpUnitId", unit);
    SetString(vote_count, "Type", "total");
    SetNumber(vote_count, "Count", count);
  }

  // Ballots cast and invalid ballots of each exported unit, from its
  // principal contest (CDF v2 has no per-contest count of rejected
  // ballots).
  void AddBallotCounts(ListValue* list) {
    for (const auto& [unit, district_id, scope] : ScopeUnits()) {
      const v1::Contest* principal = PrincipalContest(district_id);
      if (principal == nullptr) continue;
      const v1::Totals* totals = Find(principal->id(), scope);
      if (totals == nullptr) continue;
      AddBallotCount(list, unit, totals->ballots_cast(), totals->invalid());
    }
    if (input_.level != ExportLevel::kStation) return;
    for (const v1::PollingStation& station : definition_.stations()) {
      const v1::Contest* principal = PrincipalContest(station.district_id());
      if (principal == nullptr) continue;
      const v1::StationProtocol* protocol =
          input_.stations->Find(principal->id(), station.id());
      if (protocol == nullptr) continue;
      AddBallotCount(list, StationUnitId(station.id()),
                     protocol->accounting().ballots_found(),
                     protocol->accounting().invalid());
    }
  }

  static void AddBallotCount(ListValue* list, const std::string& unit,
                             uint64_t cast, uint64_t rejected) {
    Struct* counts = AddObject(list, "BallotCounts");
    SetString(counts, "GpUnitId", unit);
    SetString(counts, "Type", "total");
    SetNumber(counts, "BallotsCast", cast);
    SetNumber(counts, "BallotsRejected", rejected);
  }

  struct ScopeUnit {
    std::string unit;
    std::string district_id;  // for the principal contest
    v1::Scope scope;
  };

  // The country, regions and districts the report holds, in definition
  // order.
  std::vector<ScopeUnit> ScopeUnits() const {
    std::vector<ScopeUnit> units;
    v1::Scope national;
    national.set_kind(v1::SCOPE_KIND_NATIONAL);
    units.push_back({kCountryId, "", national});
    if (Depth(input_.level) >= 1) {
      for (const v1::Region& region : definition_.regions()) {
        v1::Scope scope;
        scope.set_kind(v1::SCOPE_KIND_REGION);
        scope.set_id(region.id());
        units.push_back({RegionUnitId(region.id()), "", scope});
      }
    }
    for (const v1::District& district : definition_.districts()) {
      if (Depth(input_.level) < 2 &&
          !contest_districts_.contains(district.id()))
        continue;
      v1::Scope scope;
      scope.set_kind(v1::SCOPE_KIND_DISTRICT);
      scope.set_id(district.id());
      units.push_back({DistrictUnitId(district.id()), district.id(), scope});
    }
    return units;
  }

  void AddUnits(ListValue* list) {
    const bool stations = input_.level == ExportLevel::kStation;
    std::map<std::string, std::string> names;
    for (const v1::Region& region : definition_.regions()) {
      names[RegionUnitId(region.id())] = region.name();
    }
    for (const v1::District& district : definition_.districts()) {
      names[DistrictUnitId(district.id())] = district.name();
    }
    for (const ScopeUnit& scope_unit : ScopeUnits()) {
      Struct* unit = AddObject(list, "ReportingUnit");
      SetString(unit, "@id", scope_unit.unit);
      const v1::ScopeKind kind = scope_unit.scope.kind();
      if (kind == v1::SCOPE_KIND_NATIONAL) {
        SetString(unit, "Type", "country");
        SetText(unit, "Name", "National", input_.language);
      } else {
        SetString(unit, "Type", "other");
        SetString(unit, "OtherType",
                  kind == v1::SCOPE_KIND_REGION ? "region" : "district");
        SetText(unit, "Name", names[scope_unit.unit], input_.language);
      }
      std::vector<std::string> composing;
      if (kind == v1::SCOPE_KIND_NATIONAL && Depth(input_.level) >= 1) {
        for (const v1::Region& region : definition_.regions()) {
          composing.push_back(RegionUnitId(region.id()));
        }
      } else if (kind == v1::SCOPE_KIND_REGION) {
        if (Depth(input_.level) >= 2) {
          auto it = districts_of_region_.find(scope_unit.scope.id());
          if (it != districts_of_region_.end()) {
            for (const v1::District* district : it->second) {
              composing.push_back(DistrictUnitId(district->id()));
            }
          }
        }
        if (stations) {
          auto it = loose_stations_of_region_.find(scope_unit.scope.id());
          if (it != loose_stations_of_region_.end()) {
            for (const v1::PollingStation* station : it->second) {
              composing.push_back(StationUnitId(station->id()));
            }
          }
        }
      } else if (kind == v1::SCOPE_KIND_DISTRICT && stations) {
        auto it = stations_of_district_.find(scope_unit.scope.id());
        if (it != stations_of_district_.end()) {
          for (const v1::PollingStation* station : it->second) {
            composing.push_back(StationUnitId(station->id()));
          }
        }
      }
      if (!composing.empty()) {
        ListValue* ids = SetList(unit, "ComposingGpUnitIds");
        for (const std::string& id : composing) AddString(ids, id);
      }
      const v1::Contest* principal = PrincipalContest(scope_unit.district_id);
      const v1::Totals* totals = principal == nullptr
                                     ? nullptr
                                     : Find(principal->id(), scope_unit.scope);
      if (totals != nullptr) {
        SetNumber(unit, "VotersRegistered",
                  totals->registered_voters_expected());
        SetNumber(unit, "VotersParticipated", totals->ballots_issued());
        SetNumber(unit, "SubUnitsReported", totals->stations_reported());
        SetNumber(unit, "TotalSubUnits", totals->stations_expected());
        SetCountStatus(unit, totals->stations_reported(),
                       totals->stations_expected());
      }
    }
    if (!stations) return;
    for (const v1::PollingStation& station : definition_.stations()) {
      Struct* unit = AddObject(list, "ReportingUnit");
      SetString(unit, "@id", StationUnitId(station.id()));
      SetString(unit, "Type", "precinct");
      SetString(unit, "Number", absl::StrCat(station.id()));
      SetText(unit, "Name",
              station.code().empty() ? absl::StrCat("Station ", station.id())
                                     : station.code(),
              input_.language);
      SetNumber(unit, "VotersRegistered", station.registered_voters());
      const v1::Contest* principal = PrincipalContest(station.district_id());
      const v1::StationProtocol* protocol =
          principal == nullptr
              ? nullptr
              : input_.stations->Find(principal->id(), station.id());
      if (protocol != nullptr) {
        SetNumber(unit, "VotersParticipated",
                  protocol->accounting().ballots_issued());
      }
      SetCountStatus(unit, protocol == nullptr ? 0 : 1, 1);
    }
  }

  const ExportInput& input_;
  const v1::ElectionDefinition& definition_;
  absl::flat_hash_map<std::pair<std::string, std::string>, const v1::Totals*>
      by_scope_;
  std::map<std::string, std::vector<const v1::District*>> districts_of_region_;
  std::map<std::string, std::vector<const v1::PollingStation*>>
      loose_stations_of_region_;
  std::map<std::string, std::vector<const v1::PollingStation*>>
      stations_of_district_;
  std::set<std::string> contest_districts_;
  // Choice ids of the party-list contests: the parties.
  std::set<std::string> parties_;
};

}  // namespace

absl::StatusOr<ExportLevel> ParseExportLevel(absl::string_view text) {
  if (text == "national") return ExportLevel::kNational;
  if (text == "region") return ExportLevel::kRegion;
  if (text == "district") return ExportLevel::kDistrict;
  if (text == "station") return ExportLevel::kStation;
  return absl::InvalidArgumentError(absl::StrCat(
      "level must be national, region, district or station, not \"", text,
      "\""));
}

absl::string_view ExportLevelName(ExportLevel level) {
  switch (level) {
    case ExportLevel::kRegion:
      return "region";
    case ExportLevel::kDistrict:
      return "district";
    case ExportLevel::kStation:
      return "station";
    default:
      return "national";
  }
}

absl::Status StationProtocols::AddLeaf(absl::string_view leaf_data) {
  v1::LogEntry entry;
  if (!entry.ParseFromArray(leaf_data.data(),
                            static_cast<int>(leaf_data.size())) ||
      !entry.has_protocol()) {
    return absl::InvalidArgumentError(
        "a log leaf is not a LogEntry with a protocol");
  }
  Add(entry.protocol());
  return absl::OkStatus();
}

void StationProtocols::Add(const v1::StationProtocol& protocol) {
  v1::StationProtocol& slot =
      latest_[{protocol.contest_id(), protocol.station_id()}];
  if (protocol.version() >= slot.version()) slot = protocol;
}

const v1::StationProtocol* StationProtocols::Find(absl::string_view contest_id,
                                                  uint32_t station_id) const {
  auto it = latest_.find({std::string(contest_id), station_id});
  return it == latest_.end() ? nullptr : &it->second;
}

std::string ReportStatus(const v1::ElectionDefinition& definition,
                         const std::vector<v1::Totals>& totals) {
  for (const v1::Contest& contest : definition.contests()) {
    bool complete = false;
    for (const v1::Totals& total : totals) {
      if (total.contest_id() != contest.id()) continue;
      const bool own = contest.district_id().empty()
                           ? Depth(total.scope().kind()) == 0
                           : total.scope().kind() == v1::SCOPE_KIND_DISTRICT &&
                                 total.scope().id() == contest.district_id();
      if (own) {
        complete = total.stations_reported() >= total.stations_expected();
      }
    }
    if (!complete) return "unofficial-partial";
  }
  return "unofficial-complete";
}

ExportInput MakeExportInput(const v1::ElectionDefinition& definition,
                            v1::GetResultsResponse* results, ExportLevel level,
                            const StationProtocols* stations) {
  ExportInput input;
  input.definition = &definition;
  input.totals.reserve(static_cast<size_t>(results->results_size()));
  for (v1::ContestResults& result : *results->mutable_results()) {
    input.totals.push_back(std::move(*result.mutable_totals()));
  }
  input.revision = results->revision();
  input.level = level;
  input.stations = stations;
  return input;
}

absl::StatusOr<std::string> NistCdfJson(const ExportInput& input) {
  if (input.definition == nullptr) {
    return absl::InvalidArgumentError("NIST export: no election definition");
  }
  if (input.level == ExportLevel::kStation && input.stations == nullptr) {
    return absl::InvalidArgumentError(
        "NIST export: the station level needs the stations' protocols");
  }
  return ToJson(
      Builder(input).Build(),
      {.pretty = input.pretty, .print_defaults = false, .sorted_maps = true});
}

}  // namespace tally::nist

#include "tests/support/mini_election.h"

#include <utility>

namespace tally::testing {
namespace {

v1::Choice MakeChoice(const std::string& id, const std::string& name,
                      const std::string& colour) {
  v1::Choice choice;
  choice.set_id(id);
  choice.set_name(name);
  choice.set_colour(colour);
  return choice;
}

}  // namespace

MiniLayout MiniLayout::Standard() {
  MiniLayout layout;
  layout.districts = {{"d-1", "r-north"}, {"d-2", "r-south"}};
  layout.stations = {{101, "r-north", "d-1", 1000},
                     {102, "r-north", "d-1", 800},
                     {201, "r-south", "d-2", 1200},
                     {202, "r-south", "d-2", 600}};
  return layout;
}

v1::ElectionDefinition MiniElection(const MiniLayout& layout) {
  v1::ElectionDefinition d;
  d.set_id("mini-2025");
  d.set_name("Mini election");
  d.set_date("2025-03-19");
  d.set_time_zone("Asia/Almaty");
  d.set_polls_close_local_time("20:00");
  for (const auto& [id, name] :
       {std::pair{"r-north", "North"}, std::pair{"r-south", "South"}}) {
    v1::Region* region = d.add_regions();
    region->set_id(id);
    region->set_name(name);
  }
  for (const auto& [id, region] : layout.districts) {
    v1::District* district = d.add_districts();
    district->set_id(id);
    district->set_name("District " + id);
    district->set_region_id(region);
  }
  for (const MiniStation& row : layout.stations) {
    v1::PollingStation* station = d.add_stations();
    station->set_id(row.id);
    station->set_region_id(row.region);
    station->set_district_id(row.district);
    station->set_registered_voters(row.registered);
  }

  v1::Contest* list = d.add_contests();
  list->set_id("list");
  list->set_name("Party list");
  list->set_kind(v1::CONTEST_KIND_PARTY_LIST);
  list->set_seats(10);
  list->mutable_rule()->set_method(v1::ALLOCATION_METHOD_HARE);
  list->mutable_rule()->set_threshold_percent("5");
  list->set_against_all_on_ballot(true);
  *list->add_choices() = MakeChoice("party-a", "Party A", "#1f77b4");
  *list->add_choices() = MakeChoice("party-b", "Party B", "#FF7F0E");
  *list->add_choices() = MakeChoice("party-c", "Party C", "");

  if (layout.district_contests) {
    for (const auto& [district, region] : layout.districts) {
      v1::Contest* smd = d.add_contests();
      smd->set_id("smd-" + district.substr(2));
      smd->set_name("Single mandate " + district);
      smd->set_kind(v1::CONTEST_KIND_SINGLE_MANDATE);
      smd->set_district_id(district);
      smd->set_seats(1);
      smd->mutable_rule()->set_method(v1::ALLOCATION_METHOD_PLURALITY);
      *smd->add_choices() = MakeChoice("cand-x", "Candidate X", "");
      *smd->add_choices() = MakeChoice("cand-y", "Candidate Y", "");
    }
  }
  d.mutable_validation()->set_same_day_additions_basis_points(500);
  return d;
}

}  // namespace tally::testing

// The file formats of `tallyctl submit`: JSON lines and CSV, round trips
// and errors that name the file, the line and the problem.
#include "clients/tallyctl/protocol_files.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace tally::cli {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

v1::StationProtocol Sample(uint32_t station, uint32_t version) {
  v1::StationProtocol protocol;
  protocol.set_contest_id("mazhilis-list");
  protocol.set_station_id(station);
  protocol.set_version(version);
  v1::BallotAccounting* accounting = protocol.mutable_accounting();
  accounting->set_registered_voters(1500);
  accounting->set_ballots_received(1500);
  accounting->set_ballots_issued(800);
  accounting->set_ballots_found(798);
  accounting->set_invalid(10);
  accounting->set_against_all(20);
  accounting->set_unused_cancelled(700);
  v1::ChoiceVotes* a = protocol.add_votes();
  a->set_choice_id("amanat");
  a->set_votes(500);
  v1::ChoiceVotes* b = protocol.add_votes();
  b->set_choice_id("auyl");
  b->set_votes(268);
  return protocol;
}

TEST(ProtocolFiles, FormatFollowsTheExtension) {
  EXPECT_EQ(*ProtocolFormatOf("a/b.jsonl"), ProtocolFormat::kJsonLines);
  EXPECT_EQ(*ProtocolFormatOf("b.json"), ProtocolFormat::kJsonLines);
  EXPECT_EQ(*ProtocolFormatOf("c.csv"), ProtocolFormat::kCsv);
  absl::StatusOr<ProtocolFormat> unknown = ProtocolFormatOf("d.txt");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("d.txt"));
}

TEST(ProtocolFiles, JsonLinesRoundTripThroughAFile) {
  const std::vector<v1::StationProtocol> protocols = {Sample(101, 1),
                                                      Sample(102, 2)};
  const std::string path = ::testing::TempDir() + "/round_trip.jsonl";
  ASSERT_TRUE(WriteProtocolJsonLines(path, protocols).ok());
  absl::StatusOr<std::vector<v1::StationProtocol>> read =
      ReadProtocolFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 2u);
  for (size_t i = 0; i < protocols.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals((*read)[i], protocols[i]))
        << (*read)[i].DebugString();
  }
  std::remove(path.c_str());
}

TEST(ProtocolFiles, JsonLinesSkipBlankLinesAndNameTheBadLine) {
  absl::StatusOr<std::vector<v1::StationProtocol>> read =
      ParseProtocolJsonLines(
          "{\"contest_id\":\"x\",\"station_id\":1,\"version\":1}\n\n"
          "{\"contest_id\":\"x\",\"station_id\":2,\"version\":1}\n",
          "f.jsonl");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->size(), 2u);

  absl::StatusOr<std::vector<v1::StationProtocol>> bad = ParseProtocolJsonLines(
      "{\"contest_id\":\"x\",\"station_id\":1,\"version\":1}\n"
      "{\"contest_id\":\"x\",\"station_idd\":2}\n",
      "f.jsonl");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("f.jsonl"));
  EXPECT_THAT(bad.status().message(), HasSubstr("2"));
  EXPECT_THAT(bad.status().message(), HasSubstr("station_idd"));
}

constexpr char kHeader[] =
    "contest_id,station_id,version,registered_voters,ballots_received,"
    "ballots_issued,ballots_found,invalid,against_all,unused_cancelled,"
    "votes:amanat,votes:auyl\n";

TEST(ProtocolFiles, CsvGivesTheSameProtocolAsJson) {
  const std::string text =
      std::string(kHeader) +
      "mazhilis-list,101,1,1500,1500,800,798,10,20,700,500,268\n\n";
  absl::StatusOr<std::vector<v1::StationProtocol>> read =
      ParseProtocolCsv(text, "f.csv");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_TRUE(MessageDifferencer::Equals((*read)[0], Sample(101, 1)))
      << (*read)[0].DebugString();
}

TEST(ProtocolFiles, CsvColumnsInAnyOrderAndEmptyVotesCellsLeftOut) {
  const std::string text =
      "votes:auyl,station_id,contest_id,version,registered_voters,"
      "ballots_received,ballots_issued,ballots_found,invalid,against_all,"
      "unused_cancelled,votes:amanat\n"
      ",7,smd-01,1,100,100,50,50,0,0,50,50\n";
  absl::StatusOr<std::vector<v1::StationProtocol>> read =
      ParseProtocolCsv(text, "f.csv");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 1u);
  const v1::StationProtocol& protocol = (*read)[0];
  EXPECT_EQ(protocol.contest_id(), "smd-01");
  EXPECT_EQ(protocol.station_id(), 7u);
  ASSERT_EQ(protocol.votes_size(), 1);
  EXPECT_EQ(protocol.votes(0).choice_id(), "amanat");
  EXPECT_EQ(protocol.votes(0).votes(), 50u);
}

TEST(ProtocolFiles, CsvErrorsNameFileLineAndColumn) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"", "no header"},
      {"contest_id,station_id\n", "missing column version"},
      {std::string(kHeader) +
           "mazhilis-list,abc,1,1500,1500,800,798,10,20,700,500,268\n",
       "station_id is not a number"},
      {std::string(kHeader) +
           "mazhilis-list,1,1,1500,1500,800,798,10,20,700,-5,268\n",
       "votes:amanat is not a number"},
      {std::string(kHeader) +
           "mazhilis-list,1,1,1500,1500,800,798,10,x,700,500,268\n",
       "against_all is not a number"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<v1::StationProtocol>> read =
        ParseProtocolCsv(c.text, "night.csv");
    EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_THAT(read.status().message(), HasSubstr("night.csv")) << c.text;
    EXPECT_THAT(read.status().message(), HasSubstr(c.expected)) << c.text;
  }
}

// Found by protocol_csv_fuzz: a contest id with a byte that is not UTF-8
// was read, and the protocol could then not be sent (protobuf strings are
// UTF-8; a server refuses the message as unparsable). The file is refused
// with the line and the byte instead.
TEST(ProtocolFiles, CsvThatIsNotUtf8IsRefusedWithTheLine) {
  const std::string text = std::string(kHeader) +
                           "mazhili\xa2-list,101,1,1500,1500,800,798,10,20,"
                           "700,500,268\n";
  absl::StatusOr<std::vector<v1::StationProtocol>> read =
      ParseProtocolCsv(text, "night.csv");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      read.status().message(),
      HasSubstr("night.csv:2: not UTF-8 text (byte 0xa2 at position 8"));
  // Well-formed UTF-8 (Cyrillic, Kazakh letters, a 4-byte sign) is read.
  const std::string utf8 = std::string(kHeader) +
                           "\xd0\xbc\xd0\xb0\xd2\x9b-\xf0\x9f\x97\xb3,101,1,"
                           "1500,1500,800,798,10,20,700,500,268\n";
  read = ParseProtocolCsv(utf8, "night.csv");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ((*read)[0].contest_id(),
            "\xd0\xbc\xd0\xb0\xd2\x9b-\xf0\x9f\x97\xb3");
  // Overlong forms, surrogates and truncated sequences are not UTF-8.
  for (const char* bad :
       {"\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80"}) {
    read = ParseProtocolCsv(
        std::string(kHeader) + "c" + bad + ",1,1,1,1,1,1,0,0,0,1,0\n",
        "night.csv");
    EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ProtocolFiles, MissingFileIsNotFound) {
  absl::StatusOr<std::vector<v1::StationProtocol>> read =
      ReadProtocolFile(::testing::TempDir() + "/does-not-exist.csv");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tally::cli

#include "clients/tallyctl/protocol_files.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/domain/proto_json.h"

namespace tally::cli {
namespace {

constexpr absl::string_view kVotesPrefix = "votes:";

// The fixed CSV columns, in the documented order.
constexpr absl::string_view kCsvColumns[] = {
    "contest_id",       "station_id",      "version",       "registered_voters",
    "ballots_received", "ballots_issued",  "ballots_found", "invalid",
    "against_all",      "unused_cancelled"};

absl::Status LineError(const std::string& name, size_t line,
                       absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(name, ":", line, ": ", message));
}

// Lines without their terminator (and a trailing \r, for files written on
// Windows), numbered from 1.
std::vector<absl::string_view> SplitLines(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  for (absl::string_view& line : lines) absl::ConsumeSuffix(&line, "\r");
  // A final newline does not start another line.
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// Position of the first byte that is not part of well-formed UTF-8
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), or
// npos. Ids are protobuf strings, which must be UTF-8: a file that is not
// would be read here and then refused by every server as unparsable.
size_t FirstInvalidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;   // overlong
      if (c == 0xED) high = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;   // overlong
      if (c == 0xF4) high = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    for (size_t k = 1; k < length; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      const unsigned char min = k == 1 ? low : 0x80;
      const unsigned char max = k == 1 ? high : 0xBF;
      if (next < min || next > max) return i;
    }
    i += length;
  }
  return absl::string_view::npos;
}

absl::Status CheckUtf8(absl::string_view line, const std::string& name,
                       size_t number) {
  const size_t bad = FirstInvalidUtf8(line);
  if (bad == absl::string_view::npos) return absl::OkStatus();
  return LineError(name, number,
                   absl::StrCat("not UTF-8 text (byte 0x",
                                absl::Hex(static_cast<unsigned char>(line[bad]),
                                          absl::kZeroPad2),
                                " at position ", bad + 1, " of the line)"));
}

template <typename Int>
bool ParseCount(absl::string_view cell, Int* value) {
  return absl::SimpleAtoi(absl::StripAsciiWhitespace(cell), value);
}

// Column positions of a CSV header.
struct CsvLayout {
  std::map<absl::string_view, size_t> fixed;
  std::vector<std::pair<std::string, size_t>> choices;
  size_t width = 0;
};

absl::StatusOr<CsvLayout> ParseCsvHeader(absl::string_view header,
                                         const std::string& name) {
  CsvLayout layout;
  std::vector<absl::string_view> cells = absl::StrSplit(header, ',');
  layout.width = cells.size();
  for (size_t i = 0; i < cells.size(); ++i) {
    absl::string_view cell = absl::StripAsciiWhitespace(cells[i]);
    bool known = false;
    for (absl::string_view column : kCsvColumns) {
      if (cell != column) continue;
      if (!layout.fixed.emplace(column, i).second) {
        return LineError(name, 1, absl::StrCat("column ", cell, " twice"));
      }
      known = true;
    }
    if (known) continue;
    if (absl::StartsWith(cell, kVotesPrefix) &&
        cell.size() > kVotesPrefix.size()) {
      layout.choices.emplace_back(std::string(cell.substr(kVotesPrefix.size())),
                                  i);
      continue;
    }
    return LineError(name, 1, absl::StrCat("unknown column \"", cell, "\""));
  }
  for (absl::string_view column : kCsvColumns) {
    if (!layout.fixed.contains(column)) {
      return LineError(name, 1, absl::StrCat("missing column ", column));
    }
  }
  return layout;
}

absl::StatusOr<v1::StationProtocol> ParseCsvRow(
    const CsvLayout& layout, const std::vector<absl::string_view>& cells,
    const std::string& name, size_t line) {
  if (cells.size() != layout.width) {
    return LineError(
        name, line,
        absl::StrCat(cells.size(), " cells, the header has ", layout.width));
  }
  auto cell = [&](absl::string_view column) {
    return cells[layout.fixed.at(column)];
  };
  v1::StationProtocol protocol;
  protocol.set_contest_id(
      std::string(absl::StripAsciiWhitespace(cell("contest_id"))));
  uint32_t station_id = 0, version = 0;
  if (!ParseCount(cell("station_id"), &station_id)) {
    return LineError(name, line, "station_id is not a number");
  }
  if (!ParseCount(cell("version"), &version)) {
    return LineError(name, line, "version is not a number");
  }
  protocol.set_station_id(station_id);
  protocol.set_version(version);
  v1::BallotAccounting* accounting = protocol.mutable_accounting();
  const std::pair<absl::string_view, void (v1::BallotAccounting::*)(uint64_t)>
      counts[] = {
          {"registered_voters", &v1::BallotAccounting::set_registered_voters},
          {"ballots_received", &v1::BallotAccounting::set_ballots_received},
          {"ballots_issued", &v1::BallotAccounting::set_ballots_issued},
          {"ballots_found", &v1::BallotAccounting::set_ballots_found},
          {"invalid", &v1::BallotAccounting::set_invalid},
          {"against_all", &v1::BallotAccounting::set_against_all},
          {"unused_cancelled", &v1::BallotAccounting::set_unused_cancelled},
      };
  for (const auto& [column, setter] : counts) {
    uint64_t value = 0;
    if (!ParseCount(cell(column), &value)) {
      return LineError(name, line, absl::StrCat(column, " is not a number"));
    }
    (accounting->*setter)(value);
  }
  for (const auto& [choice_id, index] : layout.choices) {
    if (absl::StripAsciiWhitespace(cells[index]).empty()) continue;
    uint64_t votes = 0;
    if (!ParseCount(cells[index], &votes)) {
      return LineError(name, line,
                       absl::StrCat("votes:", choice_id, " is not a number"));
    }
    v1::ChoiceVotes* entry = protocol.add_votes();
    entry->set_choice_id(choice_id);
    entry->set_votes(votes);
  }
  return protocol;
}

}  // namespace

absl::StatusOr<ProtocolFormat> ProtocolFormatOf(const std::string& path) {
  if (absl::EndsWith(path, ".jsonl") || absl::EndsWith(path, ".json")) {
    return ProtocolFormat::kJsonLines;
  }
  if (absl::EndsWith(path, ".csv")) return ProtocolFormat::kCsv;
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": unknown format (expected .jsonl or .csv)"));
}

absl::StatusOr<std::vector<v1::StationProtocol>> ParseProtocolJsonLines(
    absl::string_view text, const std::string& name) {
  std::vector<v1::StationProtocol> protocols;
  const std::vector<absl::string_view> lines = SplitLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (absl::StripAsciiWhitespace(lines[i]).empty()) continue;
    v1::StationProtocol protocol;
    absl::Status parsed = ParseJson(std::string(lines[i]), &protocol);
    if (!parsed.ok()) return LineError(name, i + 1, parsed.message());
    protocols.push_back(std::move(protocol));
  }
  return protocols;
}

absl::StatusOr<std::vector<v1::StationProtocol>> ParseProtocolCsv(
    absl::string_view text, const std::string& name) {
  const std::vector<absl::string_view> lines = SplitLines(text);
  if (lines.empty()) return LineError(name, 1, "no header");
  for (size_t i = 0; i < lines.size(); ++i) {
    if (absl::Status utf8 = CheckUtf8(lines[i], name, i + 1); !utf8.ok()) {
      return utf8;
    }
  }
  absl::StatusOr<CsvLayout> layout = ParseCsvHeader(lines[0], name);
  if (!layout.ok()) return layout.status();
  std::vector<v1::StationProtocol> protocols;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (absl::StripAsciiWhitespace(lines[i]).empty()) continue;
    std::vector<absl::string_view> cells = absl::StrSplit(lines[i], ',');
    absl::StatusOr<v1::StationProtocol> protocol =
        ParseCsvRow(*layout, cells, name, i + 1);
    if (!protocol.ok()) return protocol.status();
    protocols.push_back(*std::move(protocol));
  }
  return protocols;
}

absl::StatusOr<std::vector<v1::StationProtocol>> ReadProtocolFile(
    const std::string& path) {
  absl::StatusOr<ProtocolFormat> format = ProtocolFormatOf(path);
  if (!format.ok()) return format.status();
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad())
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return *format == ProtocolFormat::kCsv
             ? ParseProtocolCsv(contents.str(), path)
             : ParseProtocolJsonLines(contents.str(), path);
}

absl::StatusOr<std::string> ProtocolJsonLine(
    const v1::StationProtocol& protocol) {
  JsonStyle style;
  style.pretty = false;
  return ToJson(protocol, style);
}

absl::Status WriteProtocolJsonLines(
    const std::string& path,
    const std::vector<v1::StationProtocol>& protocols) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream file(temp, std::ios::binary | std::ios::trunc);
    if (!file) return absl::InternalError(absl::StrCat("cannot write ", temp));
    for (const v1::StationProtocol& protocol : protocols) {
      absl::StatusOr<std::string> line = ProtocolJsonLine(protocol);
      if (!line.ok()) return line.status();
      file << *line << '\n';
    }
    if (!file.flush()) {
      return absl::InternalError(absl::StrCat("cannot write ", temp));
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename to ", path));
  }
  return absl::OkStatus();
}

}  // namespace tally::cli

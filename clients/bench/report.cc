#include "clients/bench/report.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "services/observability/json_text.h"

namespace tally::bench {
namespace {

std::string JsonValue(const Value& value) {
  if (const int64_t* i = std::get_if<int64_t>(&value)) return absl::StrCat(*i);
  if (const double* d = std::get_if<double>(&value)) {
    if (!std::isfinite(*d)) return "null";
    return absl::StrFormat("%.3f", *d);
  }
  if (const bool* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  return obs::JsonQuote(std::get<std::string>(value));
}

std::string TextValue(const Value& value) {
  if (const int64_t* i = std::get_if<int64_t>(&value)) return absl::StrCat(*i);
  if (const double* d = std::get_if<double>(&value)) {
    if (std::fabs(*d) >= 1000) return absl::StrFormat("%.0f", *d);
    return absl::StrFormat("%.2f", *d);
  }
  if (const bool* b = std::get_if<bool>(&value)) return *b ? "yes" : "no";
  return std::get<std::string>(value);
}

std::string JsonObject(
    const std::vector<std::pair<std::string, Value>>& fields) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : fields) {
    parts.push_back(absl::StrCat(obs::JsonQuote(key), ": ", JsonValue(value)));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

}  // namespace

Row& Row::Set(const std::string& key, Value value) {
  for (auto& [k, v] : fields) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  fields.emplace_back(key, std::move(value));
  return *this;
}

const Value* Row::Find(const std::string& key) const {
  for (const auto& [k, v] : fields) {
    if (k == key) return &v;
  }
  return nullptr;
}

double Row::Number(const std::string& key) const {
  const Value* value = Find(key);
  if (value == nullptr) return 0;
  if (const int64_t* i = std::get_if<int64_t>(value)) {
    return static_cast<double>(*i);
  }
  if (const double* d = std::get_if<double>(value)) return *d;
  return 0;
}

std::string Report::Json() const {
  std::string out = "{\n  \"machine\": ";
  absl::StrAppend(&out, JsonObject(machine_), ",\n  \"results\": [");
  for (size_t i = 0; i < rows_.size(); ++i) {
    std::vector<std::pair<std::string, Value>> fields;
    fields.emplace_back("scenario", rows_[i].scenario);
    fields.emplace_back("system", rows_[i].system);
    fields.insert(fields.end(), rows_[i].fields.begin(), rows_[i].fields.end());
    absl::StrAppend(&out, i == 0 ? "\n    " : ",\n    ", JsonObject(fields));
  }
  absl::StrAppend(&out, "\n  ],\n  \"targets\": [");
  for (size_t i = 0; i < targets_.size(); ++i) {
    const Target& t = targets_[i];
    absl::StrAppend(&out, i == 0 ? "\n    " : ",\n    ",
                    JsonObject({{"name", t.name},
                                {"target", t.want},
                                {"measured", t.measured},
                                {"met", t.met},
                                {"note", t.note}}));
  }
  absl::StrAppend(&out, "\n  ],\n  \"errors\": [");
  for (size_t i = 0; i < errors_.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ", ", obs::JsonQuote(errors_[i]));
  }
  absl::StrAppend(&out, "]\n}\n");
  return out;
}

std::string Report::Table() const {
  std::string out;
  std::string scenario;
  for (const Row& row : rows_) {
    if (row.scenario != scenario) {
      scenario = row.scenario;
      absl::StrAppend(&out, "\n== ", scenario, " ==\n");
    }
    std::vector<std::string> cells;
    for (const auto& [key, value] : row.fields) {
      cells.push_back(absl::StrCat(key, "=", TextValue(value)));
    }
    absl::StrAppend(&out, absl::StrFormat("  %-22s ", row.system),
                    absl::StrJoin(cells, " "), "\n");
  }
  if (!targets_.empty()) absl::StrAppend(&out, "\n== targets ==\n");
  for (const Target& t : targets_) {
    absl::StrAppend(&out,
                    absl::StrFormat("  %-4s %-44s want %-26s got %.1f %s\n",
                                    t.met ? "MET" : "MISS", t.name, t.want,
                                    t.measured, t.note));
  }
  for (const std::string& error : errors_) {
    absl::StrAppend(&out, "  ERROR ", error, "\n");
  }
  return out;
}

}  // namespace tally::bench

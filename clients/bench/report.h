// The benchmark's output: one row per measured configuration, written as
// JSON (stable keys, for scripts) and as a human table.
#ifndef TALLY_CLIENTS_BENCH_REPORT_H_
#define TALLY_CLIENTS_BENCH_REPORT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace tally::bench {

using Value = std::variant<int64_t, double, std::string, bool>;

// One measurement: scenario ("ingest", "two_hop", ...), system ("tally",
// "postgres-txn-totals", ...) and ordered fields.
struct Row {
  std::string scenario;
  std::string system;
  std::vector<std::pair<std::string, Value>> fields;

  Row& Set(const std::string& key, Value value);
  const Value* Find(const std::string& key) const;
  double Number(const std::string& key) const;  // 0 when absent
};

struct Target {
  std::string name;
  std::string want;     // e.g. ">= 250000 protocols/s"
  double measured = 0;  // in the unit of `want`
  bool met = false;
  std::string note;
};

class Report {
 public:
  void SetMachine(std::vector<std::pair<std::string, Value>> machine) {
    machine_ = std::move(machine);
  }
  void Add(Row row) { rows_.push_back(std::move(row)); }
  void AddTarget(Target target) { targets_.push_back(std::move(target)); }
  void AddError(std::string error) { errors_.push_back(std::move(error)); }
  const std::vector<Row>& rows() const { return rows_; }
  const std::vector<std::string>& errors() const { return errors_; }

  std::string Json() const;
  std::string Table() const;

 private:
  std::vector<std::pair<std::string, Value>> machine_;
  std::vector<Row> rows_;
  std::vector<Target> targets_;
  std::vector<std::string> errors_;
};

}  // namespace tally::bench

#endif  // TALLY_CLIENTS_BENCH_REPORT_H_

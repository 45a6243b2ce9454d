#include "clients/bench/pg_peer.h"

#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "services/domain/protocol_digest.h"
#include "tally/v1/protocol.pb.h"

namespace tally::bench {
namespace {

constexpr char kSchema[] = R"sql(
DROP TABLE IF EXISTS totals, protocols, contests, stations CASCADE;
CREATE TABLE stations (
  station_id integer PRIMARY KEY,
  region_id text NOT NULL,
  district_id text NOT NULL);
CREATE TABLE contests (
  contest_id text PRIMARY KEY,
  district_id text NOT NULL);  -- '' for a national contest
CREATE TABLE protocols (
  contest_id text NOT NULL,
  station_id integer NOT NULL REFERENCES stations,
  version integer NOT NULL CHECK (version >= 1),
  registered bigint NOT NULL,
  received bigint NOT NULL,
  issued bigint NOT NULL,
  found bigint NOT NULL,
  invalid bigint NOT NULL,
  against_all bigint NOT NULL,
  unused bigint NOT NULL,
  votes bigint[] NOT NULL,
  digest bytea NOT NULL,
  PRIMARY KEY (contest_id, station_id),
  CHECK (found <= issued AND issued <= received));
CREATE TABLE totals (
  contest_id text NOT NULL,
  scope text NOT NULL,
  votes bigint[] NOT NULL,
  against_all bigint NOT NULL,
  invalid bigint NOT NULL,
  found bigint NOT NULL,
  registered bigint NOT NULL,
  stations integer NOT NULL,
  PRIMARY KEY (contest_id, scope));

CREATE OR REPLACE FUNCTION vec_add(a bigint[], b bigint[], sign integer)
RETURNS bigint[] LANGUAGE sql IMMUTABLE AS $$
  SELECT array_agg(coalesce(x, 0) + sign * coalesce(y, 0) ORDER BY n)
  FROM unnest(a, b) WITH ORDINALITY AS t(x, y, n) $$;

-- 1 accepted, 2 duplicate, 3 stale, 4 conflict.
CREATE OR REPLACE FUNCTION apply_protocol(
  p_contest text, p_station integer, p_version integer,
  p_registered bigint, p_received bigint, p_issued bigint, p_found bigint,
  p_invalid bigint, p_against bigint, p_unused bigint, p_votes bigint[],
  p_digest bytea, p_totals boolean)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  old protocols%ROWTYPE;
  had_old boolean;
  st stations%ROWTYPE;
  contest_district text;
  scopes text[];
  sc text;
BEGIN
  SELECT * INTO old FROM protocols
   WHERE contest_id = p_contest AND station_id = p_station FOR UPDATE;
  had_old := FOUND;
  IF had_old THEN
    IF old.version > p_version THEN RETURN 3; END IF;
    IF old.version = p_version THEN
      IF old.digest = p_digest THEN RETURN 2; END IF;
      RETURN 4;
    END IF;
    UPDATE protocols SET version = p_version, registered = p_registered,
        received = p_received, issued = p_issued, found = p_found,
        invalid = p_invalid, against_all = p_against, unused = p_unused,
        votes = p_votes, digest = p_digest
     WHERE contest_id = p_contest AND station_id = p_station;
  ELSE
    INSERT INTO protocols VALUES (p_contest, p_station, p_version,
        p_registered, p_received, p_issued, p_found, p_invalid, p_against,
        p_unused, p_votes, p_digest);
  END IF;
  IF NOT p_totals THEN RETURN 1; END IF;
  SELECT * INTO st FROM stations WHERE station_id = p_station;
  SELECT district_id INTO contest_district FROM contests
   WHERE contest_id = p_contest;
  IF contest_district = '' THEN
    scopes := ARRAY['national', 'region/' || st.region_id,
                    'district/' || st.district_id];
  ELSE
    scopes := ARRAY['district/' || st.district_id];
  END IF;
  FOREACH sc IN ARRAY scopes LOOP
    IF had_old THEN
      UPDATE totals t SET votes = vec_add(vec_add(t.votes, p_votes, 1), old.votes, -1),
          against_all = t.against_all + p_against - old.against_all,
          invalid = t.invalid + p_invalid - old.invalid,
          found = t.found + p_found - old.found,
          registered = t.registered + p_registered - old.registered
       WHERE t.contest_id = p_contest AND t.scope = sc;
    ELSE
      INSERT INTO totals AS t VALUES (p_contest, sc, p_votes, p_against,
          p_invalid, p_found, p_registered, 1)
      ON CONFLICT (contest_id, scope) DO UPDATE SET
          votes = vec_add(t.votes, EXCLUDED.votes, 1),
          against_all = t.against_all + EXCLUDED.against_all,
          invalid = t.invalid + EXCLUDED.invalid,
          found = t.found + EXCLUDED.found,
          registered = t.registered + EXCLUDED.registered,
          stations = t.stations + 1;
    END IF;
  END LOOP;
  RETURN 1;
END $$;
)sql";

// One batch = one statement = one transaction (autocommit): every
// protocol of the batch through apply_protocol, returning how many were
// accepted.
constexpr char kApplyBatch[] = R"sql(
SELECT count(*) FILTER (WHERE r = 1) FROM (
  SELECT apply_protocol(c, s, v, reg, rec, iss, fnd, inv, aa, un,
                        vt::bigint[], decode(dg, 'hex'), $12) AS r
  FROM unnest($1::text[], $2::integer[], $3::integer[], $4::bigint[],
              $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],
              $9::bigint[], $10::bigint[], $11::text[], $13::text[])
       AS u(c, s, v, reg, rec, iss, fnd, inv, aa, un, vt, dg)) q
)sql";

constexpr char kReadNational[] = R"sql(
SELECT p.contest_id, u.n, sum(u.v), count(DISTINCT p.station_id)
FROM protocols p, unnest(p.votes) WITH ORDINALITY AS u(v, n)
GROUP BY p.contest_id, u.n
)sql";

constexpr char kReadAllScopes[] = R"sql(
SELECT p.contest_id, s.region_id, s.district_id, u.n, sum(u.v)
FROM protocols p JOIN stations s USING (station_id),
     unnest(p.votes) WITH ORDINALITY AS u(v, n)
GROUP BY GROUPING SETS ((p.contest_id, u.n), (p.contest_id, s.region_id, u.n),
                        (p.contest_id, s.district_id, u.n))
)sql";

// Totals table against a recomputation (national scope: found and votes).
constexpr char kTotalsMismatch[] = R"sql(
SELECT count(*) FROM totals t FULL JOIN (
  SELECT contest_id, sum(found) AS found, count(*) AS stations
  FROM protocols GROUP BY contest_id) r
  ON t.contest_id = r.contest_id
WHERE (t.scope IS NULL OR t.scope = 'national'
       OR (t.scope LIKE 'district/%' AND EXISTS (
             SELECT 1 FROM contests c WHERE c.contest_id = t.contest_id
             AND c.district_id <> '')))
  AND (t.found IS DISTINCT FROM r.found OR t.stations IS DISTINCT FROM r.stations)
)sql";

std::string ArrayLiteral(const std::vector<std::string>& items, bool quote) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    if (quote) {
      out += '"';
      for (const char c : items[i]) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += '"';
    } else {
      out += items[i];
    }
  }
  out += "}";
  return out;
}

class Connection {
 public:
  explicit Connection(const std::string& conninfo)
      : conn_(PQconnectdb(conninfo.c_str())) {
    // "table does not exist, skipping" and the like are not results.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }
  ~Connection() { PQfinish(conn_); }
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  std::string error() const { return PQerrorMessage(conn_); }

  // Runs SQL without parameters; error text or "".
  std::string Exec(const std::string& sql) {
    PGresult* result = PQexec(conn_, sql.c_str());
    std::string error;
    const ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      error = PQresultErrorMessage(result);
    }
    PQclear(result);
    return error;
  }
  // First column of the first row as an integer, or -1 with `error` set.
  int64_t Scalar(const std::string& sql, const std::vector<std::string>& params,
                 std::string* error, std::string* sqlstate = nullptr) {
    std::vector<const char*> values;
    for (const std::string& p : params) values.push_back(p.c_str());
    PGresult* result =
        PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()),
                     nullptr, values.data(), nullptr, nullptr, 0);
    int64_t value = -1;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) > 0) {
      value = std::strtoll(PQgetvalue(result, 0, 0), nullptr, 10);
    } else if (PQresultStatus(result) == PGRES_TUPLES_OK) {
      value = 0;
    } else {
      *error = PQresultErrorMessage(result);
      if (sqlstate != nullptr) {
        const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
        *sqlstate = state != nullptr ? state : "";
      }
    }
    PQclear(result);
    return value;
  }

 private:
  PGconn* conn_;
};

std::string LoadDefinition(Connection& db, const Workload& workload) {
  std::vector<std::string> ids, regions, districts;
  for (const v1::PollingStation& station : workload.definition.stations()) {
    ids.push_back(absl::StrCat(station.id()));
    regions.push_back(station.region_id());
    districts.push_back(station.district_id());
  }
  std::string error;
  db.Scalar(
      "WITH i AS (INSERT INTO stations SELECT * FROM unnest($1::integer[], "
      "$2::text[], $3::text[]) RETURNING 1) SELECT count(*) FROM i",
      {ArrayLiteral(ids, false), ArrayLiteral(regions, true),
       ArrayLiteral(districts, true)},
      &error);
  if (!error.empty()) return error;
  std::vector<std::string> contests, contest_districts;
  for (const v1::Contest& contest : workload.definition.contests()) {
    contests.push_back(contest.id());
    contest_districts.push_back(contest.district_id());
  }
  db.Scalar(
      "WITH i AS (INSERT INTO contests SELECT * FROM unnest($1::text[], "
      "$2::text[]) RETURNING 1) SELECT count(*) FROM i",
      {ArrayLiteral(contests, true), ArrayLiteral(contest_districts, true)},
      &error);
  if (!error.empty()) return error;
  // Separate statements: VACUUM cannot run inside the implicit transaction
  // of a multi-statement query.
  if (std::string vacuum = db.Exec("VACUUM ANALYZE"); !vacuum.empty()) {
    return vacuum;
  }
  return db.Exec("CHECKPOINT");
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgServer>> PgServer::Start(
    const std::string& bin_dir) {
  char pattern[] = "/tmp/tally-bench-pg-XXXXXX";
  if (mkdtemp(pattern) == nullptr) {
    return absl::InternalError("cannot create a directory under /tmp");
  }
  const std::string dir = pattern;
  std::unique_ptr<PgServer> server(new PgServer());
  server->dir_ = dir;
  std::vector<std::string> as_user;
  if (geteuid() == 0) {
    const passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      return absl::FailedPreconditionError(
          "running as root and there is no postgres user to run PostgreSQL "
          "as (install Debian's postgresql-15)");
    }
    if (chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return absl::InternalError("cannot chown " + dir);
    }
    as_user = {"/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres",
               "--init-groups", "--"};
  }
  std::vector<std::string> initdb = as_user;
  for (const std::string& arg :
       {bin_dir + "/initdb", std::string("-D"), dir + "/data",
        std::string("-A"), std::string("trust"), std::string("-U"),
        std::string("postgres"), std::string("-E"), std::string("UTF8"),
        std::string("--no-locale")}) {
    initdb.push_back(arg);
  }
  absl::StatusOr<ChildProcess> init =
      ChildProcess::Start(initdb, dir + "/initdb.log");
  if (!init.ok()) return init.status();
  absl::StatusOr<int> code = init->Wait(absl::Minutes(2));
  if (!code.ok() || *code != 0) {
    return absl::InternalError("initdb failed:\n" + init->log());
  }
  std::vector<std::string> postgres = as_user;
  // Durability as tally's (fsync on, synchronous commit on); memory and
  // WAL sizes as an operator would set them for a 24 GiB machine, so
  // checkpoints do not fall inside a measured run.
  for (const std::string& arg : {bin_dir + "/postgres",
                                 std::string("-D"),
                                 dir + "/data",
                                 std::string("-k"),
                                 dir,
                                 std::string("-c"),
                                 std::string("listen_addresses="),
                                 std::string("-c"),
                                 std::string("fsync=on"),
                                 std::string("-c"),
                                 std::string("synchronous_commit=on"),
                                 std::string("-c"),
                                 std::string("full_page_writes=on"),
                                 std::string("-c"),
                                 std::string("shared_buffers=2GB"),
                                 std::string("-c"),
                                 std::string("max_wal_size=16GB"),
                                 std::string("-c"),
                                 std::string("checkpoint_timeout=30min"),
                                 std::string("-c"),
                                 std::string("wal_buffers=64MB")}) {
    postgres.push_back(arg);
  }
  absl::StatusOr<ChildProcess> process =
      ChildProcess::Start(postgres, dir + "/postgres.log");
  if (!process.ok()) return process.status();
  server->process_ = *std::move(process);
  server->conninfo_ =
      absl::StrCat("host=", dir, " port=5432 user=postgres dbname=postgres");
  const absl::Time deadline = absl::Now() + absl::Minutes(1);
  while (PQping(server->conninfo_.c_str()) != PQPING_OK) {
    if (!server->process_.running() || absl::Now() > deadline) {
      return absl::InternalError("postgres did not start:\n" +
                                 server->process_.log());
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return server;
}

PgServer::~PgServer() {
  Stop();
  std::error_code error;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, error);
}

void PgServer::Stop() {
  // SIGINT: PostgreSQL's fast shutdown.
  if (process_.running()) {
    process_.Signal(SIGINT);
    if (!process_.Wait(absl::Seconds(60)).ok()) process_.Stop(absl::Seconds(1));
  }
}

absl::StatusOr<std::vector<std::vector<PgProtocol>>> PreparePgProtocols(
    const Workload& workload,
    const std::vector<std::vector<const EncodedProtocol*>>& by_region) {
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, int>>
      positions;
  for (const v1::Contest& contest : workload.definition.contests()) {
    auto& map = positions[contest.id()];
    for (int i = 0; i < contest.choices_size(); ++i) {
      map[contest.choices(i).id()] = i;
    }
  }
  std::vector<std::vector<PgProtocol>> out(by_region.size());
  for (size_t r = 0; r < by_region.size(); ++r) {
    out[r].reserve(by_region[r].size());
    for (const EncodedProtocol* encoded : by_region[r]) {
      v1::StationProtocol protocol;
      if (!protocol.ParseFromString(encoded->bytes)) {
        return absl::InternalError("unparsable protocol");
      }
      PgProtocol p;
      p.contest_id = protocol.contest_id();
      p.station_id = protocol.station_id();
      p.version = protocol.version();
      const v1::BallotAccounting& a = protocol.accounting();
      p.registered = a.registered_voters();
      p.received = a.ballots_received();
      p.issued = a.ballots_issued();
      p.found = a.ballots_found();
      p.invalid = a.invalid();
      p.against_all = a.against_all();
      p.unused = a.unused_cancelled();
      const auto& map = positions[protocol.contest_id()];
      std::vector<std::string> votes(map.size(), "0");
      for (const v1::ChoiceVotes& line : protocol.votes()) {
        votes[map.at(line.choice_id())] = absl::StrCat(line.votes());
      }
      p.votes = ArrayLiteral(votes, false);
      p.digest_hex = HexEncode(ProtocolDigest(protocol));
      out[r].push_back(std::move(p));
    }
  }
  return out;
}

PgResult RunPgLoad(const std::string& conninfo, const Workload& workload,
                   const std::vector<std::vector<PgProtocol>>& by_region,
                   const PgOptions& options) {
  PgResult result;
  {
    Connection db(conninfo);
    if (!db.ok()) {
      result.errors.push_back("connect: " + db.error());
      return result;
    }
    if (std::string error = db.Exec(kSchema); !error.empty()) {
      result.errors.push_back("schema: " + error);
      return result;
    }
    if (std::string error = LoadDefinition(db, workload); !error.empty()) {
      result.errors.push_back("definition: " + error);
      return result;
    }
  }
  const absl::Time start = absl::Now();
  const absl::Time stop_sending = start + options.max_time;
  std::atomic<uint64_t> sent{0}, committed{0}, accepted{0}, retries{0};
  SharedLatencySamples latency;
  absl::Mutex errors_mu;
  std::vector<std::thread> workers;
  for (uint32_t w = 0; w < options.connections; ++w) {
    workers.emplace_back([&, w] {
      Connection db(conninfo);
      if (!db.ok()) {
        absl::MutexLock lock(&errors_mu);
        result.errors.push_back("connect: " + db.error());
        return;
      }
      std::vector<const PgProtocol*> batch;
      for (size_t r = w; r < by_region.size(); r += options.connections) {
        const auto& protocols = by_region[r];
        for (size_t at = 0; at < protocols.size();) {
          if (absl::Now() >= stop_sending) return;
          const size_t end = std::min(protocols.size(), at + options.batch);
          batch.clear();
          for (size_t i = at; i < end; ++i) batch.push_back(&protocols[i]);
          // Rows of totals are locked in one global order (contest, then
          // station), so concurrent batches wait instead of deadlocking.
          std::sort(batch.begin(), batch.end(),
                    [](const PgProtocol* a, const PgProtocol* b) {
                      return std::tie(a->contest_id, a->station_id) <
                             std::tie(b->contest_id, b->station_id);
                    });
          std::vector<std::string> c, s, v, reg, rec, iss, fnd, inv, aa, un, vt,
              dg;
          for (const PgProtocol* p : batch) {
            c.push_back(p->contest_id);
            s.push_back(absl::StrCat(p->station_id));
            v.push_back(absl::StrCat(p->version));
            reg.push_back(absl::StrCat(p->registered));
            rec.push_back(absl::StrCat(p->received));
            iss.push_back(absl::StrCat(p->issued));
            fnd.push_back(absl::StrCat(p->found));
            inv.push_back(absl::StrCat(p->invalid));
            aa.push_back(absl::StrCat(p->against_all));
            un.push_back(absl::StrCat(p->unused));
            vt.push_back(p->votes);
            dg.push_back(p->digest_hex);
          }
          const std::vector<std::string> params = {
              ArrayLiteral(c, true),
              ArrayLiteral(s, false),
              ArrayLiteral(v, false),
              ArrayLiteral(reg, false),
              ArrayLiteral(rec, false),
              ArrayLiteral(iss, false),
              ArrayLiteral(fnd, false),
              ArrayLiteral(inv, false),
              ArrayLiteral(aa, false),
              ArrayLiteral(un, false),
              ArrayLiteral(vt, true),
              options.totals_in_transaction ? "true" : "false",
              ArrayLiteral(dg, true)};
          sent += batch.size();
          const absl::Time began = absl::Now();
          std::string error, sqlstate;
          const int64_t ok = db.Scalar(kApplyBatch, params, &error, &sqlstate);
          if (ok < 0) {
            if (sqlstate == "40P01" || sqlstate == "40001") {
              ++retries;
              sent -= batch.size();
              continue;  // the same batch again
            }
            absl::MutexLock lock(&errors_mu);
            result.errors.push_back("batch: " + error);
            return;
          }
          latency.Add(absl::ToInt64Microseconds(absl::Now() - began));
          committed += batch.size();
          accepted += static_cast<uint64_t>(ok);
          at = end;
        }
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  result.sent = sent;
  result.committed = committed;
  result.accepted = accepted;
  result.retries = retries;
  latency.MergeInto(result.commit_latency);

  Connection db(conninfo);
  if (!db.ok()) return result;
  std::string error;
  absl::Time began = absl::Now();
  db.Scalar(absl::StrCat("SELECT count(*) FROM (", kReadNational, ") q"), {},
            &error);
  result.read_national_ms = absl::ToDoubleMilliseconds(absl::Now() - began);
  began = absl::Now();
  db.Scalar(absl::StrCat("SELECT count(*) FROM (", kReadAllScopes, ") q"), {},
            &error);
  result.read_all_scopes_ms = absl::ToDoubleMilliseconds(absl::Now() - began);
  if (!error.empty()) result.errors.push_back("read: " + error);
  if (options.totals_in_transaction) {
    error.clear();
    const int64_t mismatches = db.Scalar(kTotalsMismatch, {}, &error);
    result.totals_match = mismatches == 0;
    if (!error.empty()) result.errors.push_back("check: " + error);
  }
  return result;
}

}  // namespace tally::bench

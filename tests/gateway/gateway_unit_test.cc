// The gateway's pure parts: SSE framing, query parameters, status mapping,
// JSON error bodies, static path resolution and HTTP caching headers.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "services/domain/proto_json.h"
#include "services/gateway/http_cache.h"
#include "services/gateway/http_json.h"
#include "services/gateway/query_params.h"
#include "services/gateway/sse_stream.h"
#include "services/gateway/static_files.h"
#include "tests/support/process.h"

namespace tally::gateway {
namespace {

using ::testing::HasSubstr;

// The lines of one frame; the frame must end with a blank line.
std::vector<std::string> Lines(const std::string& frame) {
  EXPECT_TRUE(frame.size() >= 2 && frame.substr(frame.size() - 2) == "\n\n")
      << frame;
  std::vector<std::string> lines =
      absl::StrSplit(frame.substr(0, frame.size() - 2), '\n');
  return lines;
}

TEST(SseFrameTest, EventCarriesItsRevisionAsId) {
  v1::WatchResponse response;
  response.mutable_event()->set_revision(42);
  response.mutable_event()->set_epoch(3);
  v1::Totals* totals = response.mutable_event()->add_totals();
  totals->set_contest_id("list");
  totals->set_ballots_cast(1000);
  absl::StatusOr<std::string> frame = SseFrame(response);
  ASSERT_TRUE(frame.ok()) << frame.status();
  const std::vector<std::string> lines = Lines(*frame);
  ASSERT_EQ(lines.size(), 3u) << *frame;
  EXPECT_EQ(lines[0], "event: event");
  EXPECT_EQ(lines[1], "id: 42");
  ASSERT_EQ(lines[2].rfind("data: ", 0), 0u);
  v1::Event event;
  ASSERT_TRUE(ParseJson(lines[2].substr(6), &event).ok()) << lines[2];
  EXPECT_EQ(event.revision(), 42u);
  EXPECT_EQ(event.totals(0).ballots_cast(), 1000u);
  // Proto field names; zero values present.
  EXPECT_THAT(lines[2], HasSubstr("\"ballots_cast\":\"1000\""));
  EXPECT_THAT(lines[2], HasSubstr("\"invalid\":\"0\""));
}

TEST(SseFrameTest, EveryKindIsNamedAfterItsOneofField) {
  struct Case {
    v1::WatchResponse response;
    std::string event;
    std::string id;  // empty: none
  };
  std::vector<Case> cases(5);
  cases[0].response.mutable_snapshot()->set_revision(7);
  cases[0].event = "snapshot";
  cases[1].response.mutable_snapshot_complete()->set_revision(7);
  cases[1].event = "snapshot_complete";
  cases[1].id = "7";
  cases[2].response.mutable_progress()->set_revision(9);
  cases[2].response.mutable_progress()->mutable_server_time()->set_seconds(5);
  cases[2].event = "progress";
  cases[2].id = "9";
  cases[3].response.mutable_compacted()->set_compact_revision(100);
  cases[3].event = "compacted";
  cases[4].response.mutable_resync()->set_reason("queue over 8");
  cases[4].event = "resync";
  for (const Case& c : cases) {
    SCOPED_TRACE(c.event);
    absl::StatusOr<std::string> frame = SseFrame(c.response);
    ASSERT_TRUE(frame.ok()) << frame.status();
    const std::vector<std::string> lines = Lines(*frame);
    EXPECT_EQ(lines.front(), "event: " + c.event);
    bool has_id = false;
    for (const std::string& line : lines) {
      if (line.rfind("id: ", 0) == 0) {
        has_id = true;
        EXPECT_EQ(line, "id: " + c.id);
      }
    }
    EXPECT_EQ(has_id, !c.id.empty());
    EXPECT_EQ(lines.back().rfind("data: {", 0), 0u) << lines.back();
  }
}

TEST(SseFrameTest, DataIsOneLineEvenWithLineBreaksInStrings) {
  v1::WatchResponse response;
  response.mutable_resync()->set_reason("line one\nline two\r\n\"quoted\"");
  absl::StatusOr<std::string> frame = SseFrame(response);
  ASSERT_TRUE(frame.ok());
  const std::vector<std::string> lines = Lines(*frame);
  ASSERT_EQ(lines.size(), 2u) << *frame;
  v1::Resync resync;
  ASSERT_TRUE(ParseJson(lines[1].substr(6), &resync).ok()) << lines[1];
  EXPECT_EQ(resync.reason(), response.resync().reason());
}

TEST(SseFrameTest, UnsetKindIsAnError) {
  EXPECT_FALSE(SseFrame(v1::WatchResponse()).ok());
}

TEST(SseFrameTest, RetryAndComments) {
  EXPECT_EQ(SseRetryFrame(), "retry: 2000\n\n");
  EXPECT_EQ(SseCommentFrame("keepalive"), ": keepalive\n\n");
  EXPECT_EQ(SseCommentFrame("a\nb\rc"), ": a b c\n\n");
}

TEST(HttpJsonTest, GrpcCodesMapToHttpStatuses) {
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::OK), 200);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::NOT_FOUND), 404);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::INVALID_ARGUMENT), 400);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::UNAVAILABLE), 503);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::DEADLINE_EXCEEDED), 503);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::INTERNAL), 502);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::PERMISSION_DENIED), 502);
  // A tree size or leaf range beyond the transparency log: the caller's.
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::OUT_OF_RANGE), 400);
}

TEST(HttpJsonTest, ErrorBodiesAreValidJson) {
  const std::string body = ErrorJson("bad \"scope\"\n\\ \x01 é");
  EXPECT_EQ(body, "{\"error\":\"bad \\\"scope\\\"\\n\\\\ \\u0001 é\"}");
  google::protobuf::Struct parsed;
  ASSERT_TRUE(ParseJson(body, &parsed).ok()) << body;
  EXPECT_EQ(parsed.fields().at("error").string_value(),
            "bad \"scope\"\n\\ \x01 é");
}

TEST(QueryParamsTest, ResultsRequest) {
  absl::StatusOr<v1::GetResultsRequest> empty = ResultsRequestFrom({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->contest_id(), "");
  EXPECT_FALSE(empty->has_scope());

  absl::StatusOr<v1::GetResultsRequest> full = ResultsRequestFrom(
      {{"contest", "smd-01"}, {"scope", "district/d01"}, {"_", "123"}});
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->contest_id(), "smd-01");
  EXPECT_EQ(full->scope().kind(), v1::SCOPE_KIND_DISTRICT);
  EXPECT_EQ(full->scope().id(), "d01");

  for (const QueryParams& bad :
       std::vector<QueryParams>{{{"scope", "moon"}},
                                {{"scope", "region/a"}, {"scope", "region/b"}},
                                {{"contest", "a"}, {"contest", "b"}},
                                {{"all_scopes", "perhaps"}}}) {
    absl::StatusOr<v1::GetResultsRequest> request = ResultsRequestFrom(bad);
    ASSERT_FALSE(request.ok());
    EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(request.status().message(), HasSubstr(bad.begin()->first));
  }
}

TEST(QueryParamsTest, ProofAndTreeHeadRequests) {
  absl::StatusOr<v1::GetInclusionProofRequest> proof = ProofRequestFrom(
      {{"contest", "list"}, {"station", "4294967295"}, {"version", "2"}});
  ASSERT_TRUE(proof.ok()) << proof.status();
  EXPECT_EQ(proof->contest_id(), "list");
  EXPECT_EQ(proof->station_id(), 4294967295u);
  EXPECT_EQ(proof->version(), 2u);
  EXPECT_EQ(proof->tree_size(), 0u);
  EXPECT_FALSE(proof->has_leaf_index());

  for (const QueryParams& bad : std::vector<QueryParams>{
           {{"station", "5"}},
           {{"contest", "list"}},
           {{"contest", "list"}, {"station", "0"}},
           {{"contest", "list"}, {"station", "4294967296"}},
           {{"contest", "list"}, {"station", "5"}, {"version", "+1"}},
           {{"contest", "list"}, {"station", "5"}, {"tree_size", "-1"}}}) {
    absl::StatusOr<v1::GetInclusionProofRequest> request =
        ProofRequestFrom(bad);
    ASSERT_FALSE(request.ok());
    EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  }
  absl::StatusOr<v1::GetTreeHeadRequest> latest = TreeHeadRequestFrom({});
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->revision(), 0u);
  absl::StatusOr<v1::GetTreeHeadRequest> bad =
      TreeHeadRequestFrom({{"revision", "ten"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("revision"));
}

TEST(QueryParamsTest, WatchRequestResumesFromLastEventIdFirst) {
  absl::StatusOr<v1::WatchRequest> fresh = WatchRequestFrom({}, std::nullopt);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->from_revision(), 0u);

  absl::StatusOr<v1::WatchRequest> by_query =
      WatchRequestFrom({{"from_revision", "17"},
                        {"contest", "a"},
                        {"contest", "b"},
                        {"scope", "national"}},
                       std::nullopt);
  ASSERT_TRUE(by_query.ok()) << by_query.status();
  EXPECT_EQ(by_query->from_revision(), 17u);
  EXPECT_EQ(by_query->contest_ids_size(), 2);
  ASSERT_EQ(by_query->scopes_size(), 1);
  EXPECT_EQ(by_query->scopes(0).kind(), v1::SCOPE_KIND_NATIONAL);

  absl::StatusOr<v1::WatchRequest> resumed =
      WatchRequestFrom({{"from_revision", "17"}}, std::string("25"));
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->from_revision(), 25u);

  absl::StatusOr<v1::WatchRequest> bad_header =
      WatchRequestFrom({}, std::string("x1"));
  ASSERT_FALSE(bad_header.ok());
  EXPECT_THAT(bad_header.status().message(), HasSubstr("Last-Event-ID"));
  for (const char* text : {"abc", "-3", "+3", "1.5", "99999999999999999999"}) {
    absl::StatusOr<v1::WatchRequest> bad =
        WatchRequestFrom({{"from_revision", text}}, std::nullopt);
    ASSERT_FALSE(bad.ok()) << text;
    EXPECT_THAT(bad.status().message(), HasSubstr("from_revision"));
  }
}

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("static");
    web_ = dir_ + "/web";
    ASSERT_EQ(::mkdir(web_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((web_ + "/css").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((dir_ + "/web-other").c_str(), 0755), 0);
    std::ofstream(web_ + "/index.html") << "index";
    std::ofstream(web_ + "/css/index.html") << "css index";
    std::ofstream(web_ + "/css/app.css") << "body{}";
    std::ofstream(dir_ + "/web-other/x.html") << "other";
    std::ofstream(dir_ + "/secret") << "secret";
    ASSERT_EQ(::symlink((dir_ + "/secret").c_str(), (web_ + "/ln").c_str()), 0);
  }
  void TearDown() override { testing::RemoveTempDirUnlessFailed(dir_); }

  std::string dir_;
  std::string web_;
};

TEST_F(StaticFilesTest, ResolvesInsideTheDirectoryOnly) {
  absl::StatusOr<StaticFile> index = LoadStaticFile(web_, "/");
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->content, "index");
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  absl::StatusOr<StaticFile> css = LoadStaticFile(web_, "/css/app.css");
  ASSERT_TRUE(css.ok());
  EXPECT_EQ(css->content_type, "text/css; charset=utf-8");
  absl::StatusOr<StaticFile> sub = LoadStaticFile(web_, "/css/");
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(sub->content, "css index");
  EXPECT_TRUE(LoadStaticFile(web_, "/./css//app.css").ok());

  for (const char* path :
       {"/../secret", "/css/../../secret", "/..", "/../web-other/x.html", "/ln",
        "/missing", "/css\\..\\..\\secret", "relative", ""}) {
    EXPECT_FALSE(LoadStaticFile(web_, path).ok()) << path;
  }
  EXPECT_FALSE(LoadStaticFile(dir_ + "/nothing-here", "/").ok());
}

TEST(ContentTypeTest, ByExtension) {
  EXPECT_EQ(ContentTypeFor("/a/index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("/app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("/a.CSS"), "text/css; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("/map.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("/logo.png"), "image/png");
  EXPECT_EQ(ContentTypeFor("/kz.json"), "application/json");
  EXPECT_EQ(ContentTypeFor("/v1.2/file"), "application/octet-stream");
  EXPECT_EQ(ContentTypeFor("/README"), "application/octet-stream");
}

TEST(HttpCacheTest, EntityTagsAreQuotedStableAndFollowTheBody) {
  const std::string tag = EntityTag(12, "{\"revision\":\"12\"}");
  EXPECT_THAT(tag, ::testing::MatchesRegex("\"r12-[0-9a-f]{16}\""));
  EXPECT_EQ(tag, EntityTag(12, "{\"revision\":\"12\"}"));
  EXPECT_NE(tag, EntityTag(12, "{\"revision\":\"13\"}"));
  EXPECT_NE(tag, EntityTag(13, "{\"revision\":\"12\"}"));
  // FNV-1a of nothing: the same on every gateway and build.
  EXPECT_EQ(EntityTag(0, ""), "\"r0-cbf29ce484222325\"");
}

TEST(HttpCacheTest, IfNoneMatchTakesListsWeakTagsAndStar) {
  const std::string tag = "\"r7-0123456789abcdef\"";
  EXPECT_TRUE(IfNoneMatchHits(tag, tag));
  EXPECT_TRUE(IfNoneMatchHits("*", tag));
  EXPECT_TRUE(IfNoneMatchHits(" * ", tag));
  EXPECT_TRUE(IfNoneMatchHits("W/" + tag, tag));
  EXPECT_TRUE(IfNoneMatchHits("\"r6-x\", " + tag + " , \"r8-y\"", tag));
  EXPECT_FALSE(IfNoneMatchHits("\"r6-x\", \"r8-y\"", tag));
  EXPECT_FALSE(IfNoneMatchHits("", tag));
  // Unquoted is not an entity tag.
  EXPECT_FALSE(IfNoneMatchHits("r7-0123456789abcdef", tag));
}

TEST(HttpCacheTest, PoliciesSayHowLongAnAnswerMayBeKept) {
  EXPECT_EQ(CacheControlOf(CachePolicy::kLatest),
            "public, max-age=1, stale-while-revalidate=5");
  EXPECT_EQ(CacheControlOf(CachePolicy::kPinned),
            "public, max-age=31536000, immutable");
  EXPECT_EQ(CacheControlOf(CachePolicy::kNoStore), "no-store");
}

TEST(QueryParamsTest, ResultsTakeARevision) {
  QueryParams params = {{"revision", "17"}};
  absl::StatusOr<v1::GetResultsRequest> request = ResultsRequestFrom(params);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->revision(), 17u);
  params = {{"revision", "-1"}};
  request = ResultsRequestFrom(params);
  ASSERT_FALSE(request.ok());
  EXPECT_THAT(request.status().message(), HasSubstr("revision"));
  EXPECT_EQ(ResultsRequestFrom({})->revision(), 0u);
}

}  // namespace
}  // namespace tally::gateway

// The etcd client against a real 3-member etcd cluster on loopback: the
// calls replication relies on, and their behaviour when a member dies.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "clients/process/etcd_cluster.h"
#include "gtest/gtest.h"
#include "services/etcd/client.h"
#include "services/etcd/lease_keeper.h"
#include "services/etcd/watch_stream.h"
#include "tests/support/process.h"

namespace tally::etcd {
namespace {

class EtcdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("etcd_client");
    process::EtcdClusterOptions options;
    options.dir = dir_;
    absl::StatusOr<std::unique_ptr<process::EtcdCluster>> cluster =
        process::EtcdCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    absl::StatusOr<std::vector<std::string>> endpoints =
        ParseEndpoints(cluster_->endpoints());
    ASSERT_TRUE(endpoints.ok()) << endpoints.status();
    ClientOptions client_options;
    client_options.endpoints = *endpoints;
    client_options.request_timeout = absl::Seconds(5);
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Create(client_options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }
  void TearDown() override {
    client_.reset();
    cluster_.reset();
    testing::RemoveTempDirUnlessFailed(dir_);
  }

  int64_t Put(const std::string& key, const std::string& value) {
    etcdserverpb::PutRequest put;
    put.set_key(key);
    put.set_value(value);
    absl::StatusOr<etcdserverpb::PutResponse> response = client_->Put(put);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->header().revision() : 0;
  }

  std::string dir_;
  std::unique_ptr<process::EtcdCluster> cluster_;
  std::unique_ptr<Client> client_;
};

TEST(EtcdEndpointsTest, ParsesListsAndNamesBadItems) {
  absl::StatusOr<std::vector<std::string>> parsed =
      ParseEndpoints("127.0.0.1:2379, http://etcd-1:2379,https://etcd-2:2379");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, (std::vector<std::string>{"127.0.0.1:2379", "etcd-1:2379",
                                               "etcd-2:2379"}));
  absl::StatusOr<std::vector<std::string>> bad = ParseEndpoints("a:1,,b:2");
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  bad = ParseEndpoints("nohost");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"nohost\""), std::string::npos);
  EXPECT_EQ(PrefixEnd("/tally/log/"), "/tally/log0");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
}

TEST_F(EtcdClientTest, FencedTxnCommitsOnceAndOnlyWhileTheKeyLives) {
  const int64_t fence = Put("/t/leader", "me");
  ASSERT_GT(fence, 0);
  auto fenced_put = [&](const std::string& key, const std::string& value) {
    etcdserverpb::TxnRequest txn;
    etcdserverpb::Compare* leader = txn.add_compare();
    leader->set_key("/t/leader");
    leader->set_target(etcdserverpb::Compare::CREATE);
    leader->set_result(etcdserverpb::Compare::EQUAL);
    leader->set_create_revision(fence);
    etcdserverpb::Compare* fresh = txn.add_compare();
    fresh->set_key(key);
    fresh->set_target(etcdserverpb::Compare::CREATE);
    fresh->set_result(etcdserverpb::Compare::EQUAL);
    fresh->set_create_revision(0);
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(value);
    return client_->Txn(txn);
  };
  absl::StatusOr<etcdserverpb::TxnResponse> first = fenced_put("/t/log/1", "a");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->succeeded());
  // A repeat of the same write does not overwrite.
  absl::StatusOr<etcdserverpb::TxnResponse> again = fenced_put("/t/log/1", "b");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->succeeded());
  // Once the leader key is gone (deleted and created again: a new create
  // revision), the old fence refuses every write.
  etcdserverpb::DeleteRangeRequest remove;
  remove.set_key("/t/leader");
  ASSERT_TRUE(client_->DeleteRange(remove).ok());
  Put("/t/leader", "someone else");
  absl::StatusOr<etcdserverpb::TxnResponse> deposed =
      fenced_put("/t/log/2", "c");
  ASSERT_TRUE(deposed.ok()) << deposed.status();
  EXPECT_FALSE(deposed->succeeded());

  etcdserverpb::RangeRequest range;
  range.set_key("/t/log/");
  range.set_range_end(PrefixEnd("/t/log/"));
  absl::StatusOr<etcdserverpb::RangeResponse> log = client_->Range(range);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->kvs_size(), 1);
  EXPECT_EQ(log->kvs(0).value(), "a");
}

TEST_F(EtcdClientTest, CampaignElectsOneLeaderAtATimeWithItsKeyRevision) {
  absl::StatusOr<Client::Lease> lease_a = client_->GrantLease(2);
  absl::StatusOr<Client::Lease> lease_b = client_->GrantLease(2);
  ASSERT_TRUE(lease_a.ok() && lease_b.ok());
  auto keeper_a = std::make_unique<LeaseKeeper>(client_.get(), *lease_a);
  LeaseKeeper keeper_b(client_.get(), *lease_b);

  absl::StatusOr<v3electionpb::LeaderKey> a =
      client_->Campaign("/t/election", lease_a->id, "replica-a", nullptr);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_GT(a->rev(), 0);
  absl::StatusOr<std::optional<mvccpb::KeyValue>> leader =
      client_->Leader("/t/election");
  ASSERT_TRUE(leader.ok()) << leader.status();
  ASSERT_TRUE(leader->has_value());
  EXPECT_EQ((*leader)->value(), "replica-a");
  EXPECT_EQ((*leader)->create_revision(), a->rev());

  // B waits while A's lease is kept alive; it wins once A stops renewing.
  absl::StatusOr<v3electionpb::LeaderKey> b;
  std::thread campaign([&] {
    b = client_->Campaign("/t/election", lease_b->id, "replica-b", nullptr);
  });
  absl::SleepFor(absl::Seconds(3));  // longer than the TTL: A renews
  leader = client_->Leader("/t/election");
  ASSERT_TRUE(leader.ok() && leader->has_value());
  EXPECT_EQ((*leader)->value(), "replica-a");
  keeper_a.reset();  // A's process "dies": its lease expires
  campaign.join();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_GT(b->rev(), a->rev());
  EXPECT_FALSE(keeper_b.lost());
}

TEST_F(EtcdClientTest, CampaignCanBeCancelled) {
  absl::StatusOr<Client::Lease> lease_a = client_->GrantLease(5);
  absl::StatusOr<Client::Lease> lease_b = client_->GrantLease(5);
  ASSERT_TRUE(lease_a.ok() && lease_b.ok());
  LeaseKeeper keeper_a(client_.get(), *lease_a);
  ASSERT_TRUE(client_->Campaign("/t/e2", lease_a->id, "a", nullptr).ok());
  Cancellation cancel;
  absl::StatusOr<v3electionpb::LeaderKey> b;
  std::thread campaign(
      [&] { b = client_->Campaign("/t/e2", lease_b->id, "b", &cancel); });
  absl::SleepFor(absl::Milliseconds(300));
  cancel.Cancel();
  campaign.join();
  EXPECT_TRUE(absl::IsCancelled(b.status())) << b.status();
}

TEST_F(EtcdClientTest, LeaseKeeperReportsARevokedLease) {
  absl::StatusOr<Client::Lease> lease = client_->GrantLease(2);
  ASSERT_TRUE(lease.ok()) << lease.status();
  LeaseKeeper keeper(client_.get(), *lease);
  EXPECT_FALSE(keeper.WaitLost(absl::Seconds(3)));
  ASSERT_TRUE(client_->RevokeLease(lease->id).ok());
  EXPECT_TRUE(keeper.WaitLost(absl::Seconds(10)));
}

TEST_F(EtcdClientTest, WatchDeliversEveryChangeInOrderAndReportsCompaction) {
  const int64_t start = Put("/w/0", "x");
  // Large values arrive fragmented and are joined.
  const std::string big(600 << 10, 'v');
  for (int i = 1; i <= 5; ++i) Put(absl::StrCat("/w/", i), big);
  absl::StatusOr<std::unique_ptr<WatchStream>> watch =
      WatchStream::Open(client_.get(), "/w/", PrefixEnd("/w/"), start);
  ASSERT_TRUE(watch.ok()) << watch.status();
  int64_t previous = 0;
  int seen = 0;
  while (seen < 6) {
    absl::StatusOr<etcdserverpb::WatchResponse> batch = (*watch)->Next();
    ASSERT_TRUE(batch.ok()) << batch.status();
    for (const mvccpb::Event& event : batch->events()) {
      EXPECT_GT(event.kv().mod_revision(), previous);
      previous = event.kv().mod_revision();
      EXPECT_EQ(event.kv().key(), absl::StrCat("/w/", seen));
      if (seen > 0) {
        EXPECT_EQ(event.kv().value().size(), big.size());
      }
      ++seen;
    }
  }
  ASSERT_TRUE(client_->Compact(previous, true).ok());
  // etcd confirms the watch, then cancels it as compacted.
  absl::StatusOr<std::unique_ptr<WatchStream>> old =
      WatchStream::Open(client_.get(), "/w/", PrefixEnd("/w/"), start);
  absl::Status compacted = old.status();
  if (old.ok()) compacted = (*old)->Next().status();
  EXPECT_TRUE(absl::IsOutOfRange(compacted)) << compacted;
  if (old.ok()) {
    EXPECT_EQ((*old)->compact_revision(), previous);
  }
}

TEST_F(EtcdClientTest, CallsMoveToAnotherMemberWhenOneDies) {
  Put("/m/a", "1");
  // Whichever member the client uses first, killing it must not fail
  // later calls.
  cluster_->Kill(static_cast<int>(client_->current_endpoint()));
  // The first calls may meet the others electing a new etcd leader (about
  // a second, longer on a loaded machine): a caller retries those, as the
  // replication code does; none may fail for good.
  for (int i = 0; i < 20; ++i) {
    etcdserverpb::PutRequest put;
    put.set_key(absl::StrCat("/m/", i));
    put.set_value("v");
    absl::StatusOr<etcdserverpb::PutResponse> response = client_->Put(put);
    for (int retry = 0; retry < 5 && !response.ok(); ++retry) {
      response = client_->Put(put);
    }
    ASSERT_TRUE(response.ok()) << "put " << i << ": " << response.status();
  }
  EXPECT_TRUE(client_->MemberStatus(client_->current_endpoint()).ok());
  // Defragmentation runs member by member.
  EXPECT_TRUE(client_->Defragment(client_->current_endpoint()).ok());
}

}  // namespace
}  // namespace tally::etcd

// Installing a peer's store copy (services/aggregator/checkpoint_fetch.h)
// inside a data directory that may be a mount point: a complete copy whose
// install a crash interrupted is finished at the next start, wherever the
// crash came; an incomplete copy is dropped and the old store kept.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "services/aggregator/checkpoint_fetch.h"

namespace tally::aggregator {
namespace {

namespace fs = std::filesystem;

class PeerCopyInstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("peer-copy-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / ".peer-copy");
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void Write(const fs::path& path, const std::string& text) {
    std::ofstream(path) << text;
  }
  // name -> contents of the regular files directly in `dir`, and "<dir>"
  // for a directory.
  static std::map<std::string, std::string> Contents(const fs::path& dir) {
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::string text = "<dir>";
      if (entry.is_regular_file()) {
        std::ifstream in(entry.path());
        std::getline(in, text);
      }
      files[entry.path().filename().string()] = text;
    }
    return files;
  }

  // An old store (CURRENT, a table, a LOG and a leftover directory) and a
  // complete copy (CURRENT and two tables, one with an old table's name).
  void OldStoreAndCompleteCopy() {
    Write(dir_ / "CURRENT", "old");
    Write(dir_ / "000007.sst", "old");
    Write(dir_ / "LOG", "old");
    fs::create_directories(dir_ / ".checkpoint-1-0");
    Write(dir_ / ".peer-copy" / "CURRENT", "new");
    Write(dir_ / ".peer-copy" / "000007.sst", "new");
    Write(dir_ / ".peer-copy" / "000042.sst", "new");
    Write(dir_ / ".peer-copy" / ".complete",
          "000007.sst\n000042.sst\nCURRENT\n");
  }

  // The crash points: the old store's files removed (its leftover
  // checkpoint directory too, or not yet), and some of the copy moved in.
  void RemoveOldFiles() {
    for (const char* old : {"CURRENT", "000007.sst", "LOG"}) {
      fs::remove(dir_ / old);
    }
  }
  void MoveIn(std::initializer_list<const char*> names) {
    for (const char* name : names) {
      fs::rename(dir_ / ".peer-copy" / name, dir_ / name);
    }
  }

  // FinishPeerCopy's answer (whether it installed a copy); an error fails
  // the test.
  bool Finish() {
    absl::StatusOr<bool> installed = FinishPeerCopy(dir_.string());
    EXPECT_TRUE(installed.ok()) << installed.status();
    return installed.value_or(false);
  }

  const std::map<std::string, std::string> kInstalled = {
      {"CURRENT", "new"}, {"000007.sst", "new"}, {"000042.sst", "new"}};
  fs::path dir_;
};

TEST_F(PeerCopyInstallTest, NothingToDoWithoutACopy) {
  fs::remove_all(dir_ / ".peer-copy");
  Write(dir_ / "CURRENT", "old");
  EXPECT_FALSE(Finish());
  EXPECT_EQ(Contents(dir_),
            (std::map<std::string, std::string>{{"CURRENT", "old"}}));
}

TEST_F(PeerCopyInstallTest, AnIncompleteCopyIsDroppedAndTheOldStoreKept) {
  Write(dir_ / "CURRENT", "old");
  Write(dir_ / ".peer-copy" / "CURRENT", "new");
  EXPECT_FALSE(Finish());
  EXPECT_EQ(Contents(dir_),
            (std::map<std::string, std::string>{{"CURRENT", "old"}}));
}

TEST_F(PeerCopyInstallTest, ACompleteCopyReplacesTheOldStore) {
  OldStoreAndCompleteCopy();
  EXPECT_TRUE(Finish());
  EXPECT_EQ(Contents(dir_), kInstalled);
}

TEST_F(PeerCopyInstallTest, ACrashAfterTheOldStoreWasRemovedIsFinished) {
  OldStoreAndCompleteCopy();
  RemoveOldFiles();
  EXPECT_TRUE(Finish());
  EXPECT_EQ(Contents(dir_), kInstalled);
}

TEST_F(PeerCopyInstallTest, ACrashHalfWayThroughTheMovesIsFinished) {
  OldStoreAndCompleteCopy();
  // The old store removed, two of the three files moved in.
  RemoveOldFiles();
  fs::remove_all(dir_ / ".checkpoint-1-0");
  MoveIn({"000007.sst", "000042.sst"});
  EXPECT_TRUE(Finish());
  EXPECT_EQ(Contents(dir_), kInstalled);
}

TEST_F(PeerCopyInstallTest, ACrashBeforeTheCopyWasRemovedIsFinished) {
  OldStoreAndCompleteCopy();
  RemoveOldFiles();
  fs::remove_all(dir_ / ".checkpoint-1-0");
  MoveIn({"CURRENT", "000007.sst", "000042.sst"});
  EXPECT_TRUE(Finish());
  EXPECT_EQ(Contents(dir_), kInstalled);
}

}  // namespace
}  // namespace tally::aggregator

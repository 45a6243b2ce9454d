// Installing a peer's store copy (services/aggregator/checkpoint_fetch.h)
// inside a data directory that may be a mount point: a complete copy whose
// install a crash interrupted is finished at the next start, wherever the
// crash came; an incomplete copy is dropped and the old store kept.
#include <unistd.h>

#include <filesystem>
#include <fstream>
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

  const std::map<std::string, std::string> kInstalled = {
      {"CURRENT", "new"}, {"000007.sst", "new"}, {"000042.sst", "new"}};
  fs::path dir_;
};

TEST_F(PeerCopyInstallTest, NothingToDoWithoutACopy) {
  fs::remove_all(dir_ / ".peer-copy");
  Write(dir_ / "CURRENT", "old");
  bool installed = true;
  ASSERT_TRUE(FinishPeerCopy(dir_.string(), &installed).ok());
  EXPECT_FALSE(installed);
  EXPECT_EQ(Contents(dir_),
            (std::map<std::string, std::string>{{"CURRENT", "old"}}));
}

TEST_F(PeerCopyInstallTest, AnIncompleteCopyIsDroppedAndTheOldStoreKept) {
  Write(dir_ / "CURRENT", "old");
  Write(dir_ / ".peer-copy" / "CURRENT", "new");
  bool installed = true;
  ASSERT_TRUE(FinishPeerCopy(dir_.string(), &installed).ok());
  EXPECT_FALSE(installed);
  EXPECT_EQ(Contents(dir_),
            (std::map<std::string, std::string>{{"CURRENT", "old"}}));
}

TEST_F(PeerCopyInstallTest, ACompleteCopyReplacesTheOldStore) {
  OldStoreAndCompleteCopy();
  bool installed = false;
  ASSERT_TRUE(FinishPeerCopy(dir_.string(), &installed).ok());
  EXPECT_TRUE(installed);
  EXPECT_EQ(Contents(dir_), kInstalled);
}

TEST_F(PeerCopyInstallTest, ACrashAfterTheOldStoreWasRemovedIsFinished) {
  OldStoreAndCompleteCopy();
  for (const char* old : {"CURRENT", "000007.sst", "LOG"}) {
    fs::remove(dir_ / old);
  }
  bool installed = false;
  ASSERT_TRUE(FinishPeerCopy(dir_.string(), &installed).ok());
  EXPECT_TRUE(installed);
  EXPECT_EQ(Contents(dir_), kInstalled);
}

TEST_F(PeerCopyInstallTest, ACrashHalfWayThroughTheMovesIsFinished) {
  OldStoreAndCompleteCopy();
  // The old store removed, two of the three files moved in.
  for (const char* old : {"CURRENT", "000007.sst", "LOG"}) {
    fs::remove(dir_ / old);
  }
  fs::remove_all(dir_ / ".checkpoint-1-0");
  fs::rename(dir_ / ".peer-copy" / "000007.sst", dir_ / "000007.sst");
  fs::rename(dir_ / ".peer-copy" / "000042.sst", dir_ / "000042.sst");
  bool installed = false;
  ASSERT_TRUE(FinishPeerCopy(dir_.string(), &installed).ok());
  EXPECT_TRUE(installed);
  EXPECT_EQ(Contents(dir_), kInstalled);
}

TEST_F(PeerCopyInstallTest, ACrashBeforeTheCopyWasRemovedIsFinished) {
  OldStoreAndCompleteCopy();
  for (const char* old : {"CURRENT", "000007.sst", "LOG"}) {
    fs::remove(dir_ / old);
  }
  fs::remove_all(dir_ / ".checkpoint-1-0");
  for (const char* name : {"CURRENT", "000007.sst", "000042.sst"}) {
    fs::rename(dir_ / ".peer-copy" / name, dir_ / name);
  }
  bool installed = false;
  ASSERT_TRUE(FinishPeerCopy(dir_.string(), &installed).ok());
  EXPECT_TRUE(installed);
  EXPECT_EQ(Contents(dir_), kInstalled);
}

}  // namespace
}  // namespace tally::aggregator

#include "controlplane/state/runtime_state.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <sys/stat.h>

#include "dataplane/common/secret.h"

namespace ccrelay::controlplane {
namespace {

using ::testing::HasSubstr;

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccr-state-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& Path() const { return path_; }

 private:
  std::string path_;
};

RuntimeState Sample() {
  RuntimeState s;
  ProviderOverrides& a = s.providers["anthropic"];
  a.enabled = EnabledOverride{false, true};
  a.key_enabled["0123abcd"] = EnabledOverride{false, true};
  a.removed_keys.insert("89abcdef");
  RuntimeKey k;
  k.secret = "sk-runtime-secret";
  k.fingerprint = common::FingerprintOf(k.secret);
  k.rpm_limit = 5;
  k.tpm_limit = 6;
  k.itpm_limit = 7;
  k.otpm_limit = 8;
  k.weight = 2;
  k.enabled = false;
  k.added_unix_ms = 1700000000000;
  a.added_keys.push_back(k);
  s.providers["zai"].enabled = EnabledOverride{true, false};
  return s;
}

TEST(RuntimeStateTest, JsonRoundTrip) {
  const RuntimeState s = Sample();
  absl::StatusOr<RuntimeState> back = ParseRuntimeState(SerializeRuntimeState(s));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);
}

TEST(RuntimeStateTest, FingerprintsAreRecomputedFromTheKeys) {
  std::string json = SerializeRuntimeState(Sample());
  const std::string fp = common::FingerprintOf("sk-runtime-secret");
  json.replace(json.find(fp), fp.size(), "ffffffff");
  absl::StatusOr<RuntimeState> back = ParseRuntimeState(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->providers.at("anthropic").added_keys[0].fingerprint, fp);
}

TEST(RuntimeStateTest, MalformedIsAnErrorNotAnException) {
  EXPECT_EQ(ParseRuntimeState("{").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRuntimeState("[]").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRuntimeState(R"({"format":2})").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      ParseRuntimeState(R"({"format":1,"providers":{"a":{"enabled":"yes"}}})").status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRuntimeState(R"({"format":1,"providers":{"a":{"added_keys":[{"key":""}]}}})")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RuntimeStateTest, MissingFileIsEmptyState) {
  ScratchDir dir;
  absl::StatusOr<RuntimeState> s = LoadStateFile(dir.File("none.json"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->empty());
}

TEST(RuntimeStateTest, SaveIsPrivateAtomicAndLoadsBack) {
  ScratchDir dir;
  const std::string path = dir.File("state.json");
  {
    std::ofstream old(path);
    old << "old contents";
  }
  chmod(path.c_str(), 0644);
  ASSERT_TRUE(SaveStateFile(path, Sample()).ok());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Only the state file is left (the temporary one was renamed over it).
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.Path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
  absl::StatusOr<RuntimeState> back = LoadStateFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, Sample());
}

TEST(RuntimeStateTest, CorruptFileNamesThePath) {
  ScratchDir dir;
  const std::string path = dir.File("state.json");
  {
    std::ofstream f(path);
    f << "{not json";
  }
  absl::StatusOr<RuntimeState> s = LoadStateFile(path);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr(path));
}

}  // namespace
}  // namespace ccrelay::controlplane

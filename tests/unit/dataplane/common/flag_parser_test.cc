#include "dataplane/common/flag_parser.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ccrelay::common {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string ErrorOf(const absl::Status& st) { return std::string(st.message()); }

TEST(FlagParserTest, StringTakesTheNextArgumentOrTheValueAfterEquals) {
  FlagParser p;
  std::string a;
  std::string b;
  p.String("--a", &a);
  p.String("--b", &b);
  ASSERT_TRUE(p.Parse({"--a", "x=1", "--b=--not-a-flag"}).ok());
  EXPECT_EQ(a, "x=1");
  EXPECT_EQ(b, "--not-a-flag");
}

TEST(FlagParserTest, AValueThatLooksLikeAFlagIsStillTheValue) {
  FlagParser p;
  std::string a;
  p.String("--a", &a);
  ASSERT_TRUE(p.Parse({"--a", "--help"}).ok());
  EXPECT_EQ(a, "--help");
  EXPECT_FALSE(p.help());
}

TEST(FlagParserTest, MissingValueNamesTheFlag) {
  FlagParser p;
  std::string a;
  p.String("--addr", &a);
  EXPECT_EQ(ErrorOf(p.Parse({"--addr"})), "flag --addr needs a value");
}

TEST(FlagParserTest, BoolIsBareOrTrueOrFalse) {
  FlagParser p;
  bool watch = false;
  bool other = true;
  p.Bool("--watch", &watch);
  p.Bool("--other", &other);
  ASSERT_TRUE(p.Parse({"--watch", "--other=false"}).ok());
  EXPECT_TRUE(watch);
  EXPECT_FALSE(other);

  FlagParser q;
  q.Bool("--watch", &watch);
  EXPECT_EQ(ErrorOf(q.Parse({"--watch=yes"})), "flag --watch takes true or false");
}

TEST(FlagParserTest, UintRejectsAnythingButADecimalWithTheDefaultOrGivenMessage) {
  FlagParser p;
  uint32_t rpm = 0;
  uint32_t workers = 0;
  p.Uint("--rpm", &rpm);
  p.Uint("--workers", &workers, "--workers needs a number");
  ASSERT_TRUE(p.Parse({"--rpm", "60", "--workers=4"}).ok());
  EXPECT_EQ(rpm, 60u);
  EXPECT_EQ(workers, 4u);
  EXPECT_EQ(ErrorOf(p.Parse({"--rpm", "-1"})),
            "flag --rpm needs a non-negative integer, got \"-1\"");
  FlagParser q;
  q.Uint("--workers", &workers, "--workers needs a number");
  EXPECT_EQ(ErrorOf(q.Parse({"--workers=4x"})), "--workers needs a number");
}

TEST(FlagParserTest, CustomCheckStopsTheParseWithItsMessage) {
  FlagParser p;
  std::vector<std::string> labels;
  std::string after;
  p.Custom("--label", [&labels](std::string_view v) {
    if (v.find('=') == std::string_view::npos) {
      return absl::InvalidArgumentError("--label needs KEY=VALUE");
    }
    labels.emplace_back(v);
    return absl::OkStatus();
  });
  p.String("--after", &after);
  EXPECT_EQ(ErrorOf(p.Parse({"--label", "a=1", "--label=b", "--after", "x"})),
            "--label needs KEY=VALUE");
  EXPECT_THAT(labels, ElementsAre("a=1"));
  EXPECT_EQ(after, "") << "parsing goes on after an error";
}

TEST(FlagParserTest, AliasMeansTheSameFlag) {
  FlagParser p;
  std::string config;
  p.String("--config", &config);
  p.Alias("-c", "--config");
  ASSERT_TRUE(p.Parse({"-c", "a.yaml"}).ok());
  EXPECT_EQ(config, "a.yaml");
  ASSERT_TRUE(p.Parse({"-c=b.yaml"}).ok());
  EXPECT_EQ(config, "b.yaml");
  EXPECT_EQ(ErrorOf(p.Parse({"-c"})), "flag -c needs a value");
}

TEST(FlagParserTest, UnknownFlagIsNamedWithoutItsValue) {
  FlagParser p;
  EXPECT_EQ(ErrorOf(p.Parse({"--token=s3cret"})), "unknown flag \"--token\"");
}

TEST(FlagParserTest, OperandsAllowedAreCollectedAndDoubleDashEndsTheFlags) {
  FlagParser p;
  std::string provider;
  p.String("--provider", &provider);
  ASSERT_TRUE(p.Parse({"enable", "--provider", "a", "-x", "--", "--provider", "-h"}).ok());
  EXPECT_EQ(provider, "a");
  EXPECT_THAT(p.positional(), ElementsAre("enable", "-x", "--provider", "-h"));
  EXPECT_FALSE(p.help());
}

TEST(FlagParserTest, OperandsRejectedAreUnknownFlags) {
  FlagParser p({.operands = Operands::kRejected});
  EXPECT_EQ(ErrorOf(p.Parse({"extra"})), "unknown flag \"extra\"");
  FlagParser q({.operands = Operands::kRejected});
  EXPECT_EQ(ErrorOf(q.Parse({"--"})), "unknown flag \"--\"");
}

TEST(FlagParserTest, HelpFlagsAndTheHelpWordOnlyWhenAsked) {
  FlagParser p;
  ASSERT_TRUE(p.Parse({"-h"}).ok());
  EXPECT_TRUE(p.help());
  FlagParser q;
  ASSERT_TRUE(q.Parse({"help"}).ok());
  EXPECT_FALSE(q.help());
  EXPECT_THAT(q.positional(), ElementsAre("help"));
  FlagParser r({.operands = Operands::kRejected, .help_word = true});
  ASSERT_TRUE(r.Parse({"help"}).ok());
  EXPECT_TRUE(r.help());
  FlagParser s({.operands = Operands::kRejected, .help_word = true});
  EXPECT_EQ(ErrorOf(s.Parse({"--help=1"})), "unknown flag \"--help\"");
}

TEST(FlagParserTest, CommandModeKnowsItsFlagsOnBothSidesAndPassesTheRestOn) {
  FlagParser p({.operands = Operands::kCommand, .help_word = true});
  std::string control_plane;
  bool insecure = false;
  p.String("--control-plane", &control_plane);
  p.Bool("--insecure", &insecure);
  ASSERT_TRUE(p.Parse({"--control-plane", "cp:1", "keys", "add", "--provider=a", "--insecure",
                       "--help", "help", "--", "-x"})
                  .ok());
  EXPECT_EQ(p.command(), "keys");
  EXPECT_EQ(control_plane, "cp:1");
  EXPECT_TRUE(insecure);
  EXPECT_FALSE(p.help()) << "help after the command is the command's";
  EXPECT_THAT(p.positional(), ElementsAre("add", "--provider=a", "--help", "help", "--", "-x"));
}

TEST(FlagParserTest, CommandModeHelpAndUnknownFlagBeforeTheCommand) {
  FlagParser p({.operands = Operands::kCommand, .help_word = true});
  ASSERT_TRUE(p.Parse({"help", "providers"}).ok());
  EXPECT_TRUE(p.help());
  EXPECT_EQ(p.command(), "providers");
  EXPECT_THAT(p.positional(), IsEmpty());

  FlagParser q({.operands = Operands::kCommand, .help_word = true});
  EXPECT_EQ(ErrorOf(q.Parse({"--provider=a", "keys"})),
            "unknown flag \"--provider\" (command flags go after the command)");
  FlagParser r({.operands = Operands::kCommand, .help_word = true});
  EXPECT_EQ(ErrorOf(r.Parse({"-x"})), "unknown flag \"-x\" (command flags go after the command)");
}

}  // namespace
}  // namespace ccrelay::common

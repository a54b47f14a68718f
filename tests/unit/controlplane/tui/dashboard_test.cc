// The dashboard's text: fits the terminal, shows what the stats say, follows the keys.
#include "controlplane/tui/dashboard.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ccrelay::controlplane::tui {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ccrelay::v1::StatsSnapshot TwoProviders() {
  ccrelay::v1::StatsSnapshot s;
  s.set_version("0.3.0");
  s.set_strategy("simple-shuffle");
  s.set_requests(1247);
  s.set_errors(5);
  auto* a = s.add_providers();
  a->set_name("anthropic");
  a->set_enabled(true);
  a->set_health("healthy");
  a->set_requests(847);
  a->set_errors(4);
  a->set_avg_latency_ms(234);
  for (int i = 0; i < 2; ++i) {
    auto* k = a->add_keys();
    k->set_fingerprint(i == 0 ? "sk-ant-…a1b2" : "sk-ant-…c3d4");
    k->set_state(i == 0 ? "active" : "cooldown");
    k->set_rpm_used(12);
    k->set_tpm_used(1234);
    k->mutable_limits()->set_rpm_limit(50);
    k->mutable_limits()->set_tpm_limit(40000);
  }
  auto* z = s.add_providers();
  z->set_name("zai");
  z->set_enabled(true);
  z->set_health("degraded");
  z->set_requests(400);
  z->set_errors(1);
  z->set_avg_latency_ms(1234);
  auto* zk = z->add_keys();
  zk->set_fingerprint("zai-fp-9999");
  zk->set_state("active");
  zk->set_rpm_used(3);
  for (int i = 0; i < 30; ++i) {
    auto* r = s.add_recent();
    r->set_provider(i % 2 == 0 ? "anthropic" : "zai");
    r->set_model(i == 0 ? "claude-sonnet-4-5" : "claude-haiku-4-5");
    r->set_status(i == 0 ? 529 : 200);
    r->set_ttfb_ms(i == 0 ? 1500 : 321);
    r->set_duration_ms(2000);
    r->set_unix_ms(1700000000000 + i);
  }
  return s;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    out += l;
    out += '\n';
  }
  return out;
}

void ExpectExactSize(const std::vector<std::string>& lines, int width, int height) {
  ASSERT_EQ(static_cast<int>(lines.size()), height);
  for (const auto& l : lines) {
    EXPECT_EQ(ColumnsOf(l), width) << "line: [" << l << "]";
  }
}

// The line containing `needle` (the first), or "".
std::string LineWith(const std::vector<std::string>& lines, std::string_view needle) {
  for (const auto& l : lines) {
    if (l.find(needle) != std::string::npos) {
      return l;
    }
  }
  return "";
}

TEST(DashboardTest, FitsEightyByTwentyFourWithEverySection) {
  Dashboard d("127.0.0.1:8788", /*unicode=*/true);
  d.OnSnapshot(TwoProviders());
  const auto lines = d.Render(80, 24);
  ExpectExactSize(lines, 80, 24);
  const std::string text = Join(lines);
  EXPECT_THAT(lines[0], HasSubstr("cc-relay v0.3.0"));
  EXPECT_THAT(lines[0], HasSubstr("[q]uit [?]help"));
  EXPECT_THAT(text, HasSubstr("Strategy: simple-shuffle"));
  EXPECT_THAT(text, HasSubstr("Active: 2/2"));
  EXPECT_THAT(text, HasSubstr("Requests: 1,247"));

  const std::string a = LineWith(lines, "anthropic ");
  EXPECT_THAT(a, HasSubstr("●"));
  EXPECT_THAT(a, HasSubstr("healthy"));
  EXPECT_THAT(a, HasSubstr("847 req"));
  EXPECT_THAT(a, HasSubstr("avg 234ms"));
  EXPECT_THAT(a, HasSubstr("0.5%"));  // 4 of 847
  EXPECT_THAT(a, HasSubstr("[2 keys]"));
  EXPECT_EQ(a.rfind("> ", 0), 0u) << "the first provider is selected: " << a;
  const std::string z = LineWith(lines, "zai ");
  EXPECT_THAT(z, HasSubstr("○"));
  EXPECT_THAT(z, HasSubstr("degraded"));
  EXPECT_THAT(z, HasSubstr("avg 1.2s"));
  EXPECT_THAT(z, HasSubstr("[1 key]"));

  // Keys of the selected provider only.
  EXPECT_THAT(text, HasSubstr("Keys of anthropic"));
  const std::string k1 = LineWith(lines, "sk-ant-…a1b2");
  EXPECT_THAT(k1, HasSubstr("active"));
  EXPECT_THAT(k1, HasSubstr("rpm 12/50"));
  EXPECT_THAT(k1, HasSubstr("tpm 1.2k/40k"));
  EXPECT_THAT(LineWith(lines, "sk-ant-…c3d4"), HasSubstr("cooldown"));
  EXPECT_THAT(text, Not(HasSubstr("zai-fp-9999")));

  // Recent requests, most recent first, cut to what fits.
  EXPECT_THAT(text, HasSubstr("Recent requests"));
  const std::string r0 = LineWith(lines, "claude-sonnet-4-5");
  EXPECT_THAT(r0, HasSubstr("529"));
  EXPECT_THAT(r0, HasSubstr("ttft 1.5s"));
  EXPECT_THAT(lines[23], Not(HasSubstr("claude-haiku"))) << "the status line stays at the bottom";
}

TEST(DashboardTest, UShowsTheTeammatesSpendAgainstTheirBudgetInPlaceOfKeys) {
  Dashboard d("127.0.0.1:8788", /*unicode=*/true);
  ccrelay::v1::StatsSnapshot s = TwoProviders();
  auto* alice = s.add_users();
  alice->set_name("alice.longname@example");
  alice->set_key_fingerprint("2a8953ea");
  alice->set_enabled(true);
  alice->set_usd_today(1.5);
  alice->set_usd_this_month(41.25);
  alice->mutable_policy()->mutable_budget()->set_usd_per_month(50);
  alice->mutable_policy()->mutable_budget()->set_usd_per_day(10);
  alice->set_budget_state("warning");
  auto* bob = s.add_users();
  bob->set_name("bob");
  bob->set_key_fingerprint("77aa01bc");
  bob->set_enabled(false);
  bob->set_usd_this_month(3);
  d.OnSnapshot(s);
  EXPECT_THAT(Join(d.Render(80, 24)), Not(HasSubstr("Teammates")));

  EXPECT_EQ(d.HandleKey('u'), Action::kRedraw);
  EXPECT_TRUE(d.users_visible());
  const auto lines = d.Render(80, 24);
  ExpectExactSize(lines, 80, 24);
  const std::string text = Join(lines);
  EXPECT_THAT(text, HasSubstr("Teammates (2)"));
  EXPECT_THAT(text, Not(HasSubstr("Keys of anthropic")));
  // The month binds first (82% against 15%); the name is whole on 80 columns.
  const std::string a = LineWith(lines, "alice.longname@example");
  EXPECT_THAT(a, HasSubstr("2a8953ea"));
  EXPECT_THAT(a, HasSubstr(" $1.50 "));
  EXPECT_THAT(a, HasSubstr("$41.25/$50.00 mo"));
  EXPECT_THAT(a, HasSubstr("warning"));
  const std::string b = LineWith(lines, "bob ");
  EXPECT_THAT(b, HasSubstr("disabled"));
  EXPECT_THAT(b, HasSubstr("$3.00 mo"));
  EXPECT_THAT(text, HasSubstr("Recent requests"));

  d.HandleKey('u');
  EXPECT_THAT(Join(d.Render(80, 24)), HasSubstr("Keys of anthropic"));
}

TEST(DashboardTest, UWithoutTeammatesSaysHowToAddOne) {
  Dashboard d("127.0.0.1:8788", /*unicode=*/false);
  d.OnSnapshot(TwoProviders());
  d.HandleKey('u');
  const std::string text = Join(d.Render(80, 24));
  EXPECT_THAT(text, HasSubstr("Teammates (0)"));
  EXPECT_THAT(text, HasSubstr("cc-relayctl users add NAME"));
}

TEST(DashboardTest, AsciiWhenTheTerminalHasNoUtf8) {
  Dashboard d("127.0.0.1:8788", /*unicode=*/false);
  d.OnSnapshot(TwoProviders());
  const auto lines = d.Render(80, 24);
  ExpectExactSize(lines, 80, 24);
  for (const auto& l : lines) {
    if (l.find("sk-ant-") != std::string::npos) {
      continue;  // the fingerprints given above carry an ellipsis themselves
    }
    for (char c : l) {
      ASSERT_EQ(static_cast<unsigned char>(c) & 0x80, 0) << "non-ASCII in: " << l;
    }
  }
  EXPECT_THAT(LineWith(lines, "anthropic "), HasSubstr("* anthropic"));
  EXPECT_THAT(LineWith(lines, "zai "), HasSubstr("o zai"));
}

TEST(DashboardTest, EveryTerminalSizeGivesExactlyThatSize) {
  Dashboard d("127.0.0.1:8788", true);
  d.OnSnapshot(TwoProviders());
  for (int w : {1, 20, 30, 45, 80, 132}) {
    for (int h : {1, 5, 8, 12, 24, 50}) {
      SCOPED_TRACE(testing::Message() << w << "x" << h);
      ExpectExactSize(d.Render(w, h), w, h);
    }
  }
  EXPECT_THAT(d.Render(20, 5)[0], HasSubstr("too small"));
}

TEST(DashboardTest, ArrowsMoveTheSelectionAndTheKeysFollow) {
  Dashboard d("127.0.0.1:8788", true);
  d.OnSnapshot(TwoProviders());
  EXPECT_EQ(d.SelectedProvider(), "anthropic");
  EXPECT_EQ(d.HandleKey(kKeyUp), Action::kRedraw);
  EXPECT_EQ(d.SelectedProvider(), "anthropic");  // stays at the top
  d.HandleKey(kKeyDown);
  EXPECT_EQ(d.SelectedProvider(), "zai");
  d.HandleKey(kKeyDown);
  EXPECT_EQ(d.SelectedProvider(), "zai");  // stays at the bottom
  const auto lines = d.Render(80, 24);
  EXPECT_EQ(LineWith(lines, "zai ").rfind("> ", 0), 0u);
  EXPECT_THAT(Join(lines), HasSubstr("Keys of zai"));
  EXPECT_THAT(Join(lines), HasSubstr("zai-fp-9999"));
  EXPECT_THAT(LineWith(lines, "zai-fp-9999"), HasSubstr("rpm 3/-"));  // no limit
  EXPECT_THAT(Join(lines), Not(HasSubstr("sk-ant-…a1b2")));

  // The selection is by name: it survives a reorder.
  auto s = TwoProviders();
  s.mutable_providers()->SwapElements(0, 1);
  d.OnSnapshot(s);
  EXPECT_EQ(d.SelectedProvider(), "zai");
}

TEST(DashboardTest, KeysMapToActions) {
  Dashboard d("127.0.0.1:8788", true);
  EXPECT_EQ(d.HandleKey('e'), Action::kNone) << "nothing to enable before any data";
  d.OnSnapshot(TwoProviders());
  EXPECT_EQ(d.HandleKey('e'), Action::kEnableProvider);
  EXPECT_EQ(d.HandleKey('d'), Action::kDisableProvider);
  EXPECT_EQ(d.HandleKey('r'), Action::kReloadConfig);
  EXPECT_EQ(d.HandleKey('x'), Action::kNone);
  EXPECT_EQ(d.HandleKey('q'), Action::kQuit);
}

TEST(DashboardTest, HelpOverlayOpensAndAnyKeyClosesIt) {
  Dashboard d("127.0.0.1:8788", true);
  d.OnSnapshot(TwoProviders());
  EXPECT_EQ(d.HandleKey('?'), Action::kRedraw);
  auto lines = d.Render(80, 24);
  ExpectExactSize(lines, 80, 24);
  EXPECT_THAT(Join(lines), HasSubstr("enable the selected provider"));
  EXPECT_THAT(Join(lines), Not(HasSubstr("claude-sonnet-4-5")));  // the body is replaced
  EXPECT_EQ(d.HandleKey('d'), Action::kRedraw) << "a key closes help, it does not act";
  EXPECT_FALSE(d.help_visible());
  EXPECT_THAT(Join(d.Render(80, 24)), HasSubstr("claude-sonnet-4-5"));
}

TEST(DashboardTest, DisabledProviderSaysSo) {
  Dashboard d("127.0.0.1:8788", true);
  auto s = TwoProviders();
  s.mutable_providers(1)->set_enabled(false);
  d.OnSnapshot(s);
  const auto lines = d.Render(80, 24);
  EXPECT_THAT(LineWith(lines, "zai "), HasSubstr("disabled"));
  EXPECT_THAT(LineWith(lines, "zai "), HasSubstr("○"));
  EXPECT_THAT(Join(lines), HasSubstr("Active: 1/2"));
}

TEST(DashboardTest, AMintedCredentialAndItsTroubleShowWithTheSelectedProvider) {
  Dashboard d("127.0.0.1:8788", true);
  ccrelay::v1::StatsSnapshot s;
  auto* v = s.add_providers();
  v->set_name("vertex");
  v->set_enabled(true);
  v->set_health("degraded");
  v->set_credentials(
      "refresh failing since 2027-01-15T08:00:00Z (3 attempts): metadata server: HTTP 500; "
      "metadata server, token 1a2b3c4d, valid for 12 min");
  d.OnSnapshot(s);
  const auto lines = d.Render(200, 24);
  EXPECT_THAT(LineWith(lines, "vertex "), HasSubstr("degraded"));
  EXPECT_THAT(LineWith(lines, "credentials: "),
              HasSubstr("refresh failing since 2027-01-15T08:00:00Z (3 attempts): metadata "
                        "server: HTTP 500; metadata server, token 1a2b3c4d, valid for 12 min"));
  EXPECT_THAT(Join(lines), Not(HasSubstr("no keys: local or keyless")));
}

TEST(DashboardTest, UnreachableControlPlaneIsSaidClearlyAndRecovers) {
  Dashboard d("127.0.0.1:9999", true);
  EXPECT_THAT(Join(d.Render(80, 24)),
              HasSubstr("connecting to the control plane at 127.0.0.1:9999"));
  d.OnDisconnected("unavailable: connection refused");
  auto lines = d.Render(80, 24);
  ExpectExactSize(lines, 80, 24);
  EXPECT_THAT(lines[2], HasSubstr("control plane unreachable at 127.0.0.1:9999"));
  EXPECT_THAT(lines[2], HasSubstr("retrying"));
  EXPECT_THAT(lines[23], HasSubstr("connection refused"));

  d.OnSnapshot(TwoProviders());
  lines = d.Render(80, 24);
  EXPECT_THAT(Join(lines), Not(HasSubstr("unreachable")));
  EXPECT_THAT(lines[2], HasSubstr("Requests: 1,247"));

  // Lost again: the last data stays visible, labelled.
  d.OnDisconnected("unavailable: socket closed");
  lines = d.Render(80, 24);
  EXPECT_THAT(lines[2], HasSubstr("unreachable"));
  EXPECT_THAT(Join(lines), HasSubstr("anthropic"));
  EXPECT_THAT(lines[23], HasSubstr("last data received"));
}

TEST(DashboardTest, StatusLineShowsActionResults) {
  Dashboard d("127.0.0.1:8788", true);
  d.OnSnapshot(TwoProviders());
  d.SetStatus("reload: ok, config version 7");
  EXPECT_THAT(d.Render(80, 24)[23], HasSubstr("reload: ok, config version 7"));
}

TEST(DashboardTest, ManyProvidersScrollToKeepTheSelectionVisible) {
  Dashboard d("127.0.0.1:8788", true);
  ccrelay::v1::StatsSnapshot s;
  for (int i = 0; i < 20; ++i) {
    auto* p = s.add_providers();
    p->set_name("prov" + std::to_string(i));
    p->set_enabled(true);
    p->set_health("healthy");
  }
  d.OnSnapshot(s);
  for (int i = 0; i < 19; ++i) {
    d.HandleKey(kKeyDown);
  }
  EXPECT_EQ(d.SelectedProvider(), "prov19");
  const auto lines = d.Render(80, 24);
  ExpectExactSize(lines, 80, 24);
  EXPECT_EQ(LineWith(lines, "prov19").rfind("> ", 0), 0u);
  EXPECT_EQ(LineWith(lines, "prov0 "), "");
}

TEST(DashboardTest, ProviderNamesWholeWhereTheScreenHasRoomCutOnlyWhenItHasNot) {
  ccrelay::v1::StatsSnapshot s = TwoProviders();
  s.mutable_providers(1)->set_name("anthropic-fallback");
  Dashboard d("127.0.0.1:8788", /*unicode=*/false);
  d.OnSnapshot(s);
  for (int width : {80, 100}) {
    const auto lines = d.Render(width, 24);
    ExpectExactSize(lines, width, 24);
    EXPECT_THAT(LineWith(lines, "anthropic-f"), HasSubstr("o anthropic-fallback degraded"))
        << width;
    EXPECT_THAT(LineWith(lines, "anthropic "), HasSubstr("* anthropic          healthy"))
        << "names aligned: " << width;
  }
  // Longer than the rest of the line leaves room for: whole on a wide screen, cut (to no less
  // than 8 columns) on a narrow one.
  s.mutable_providers(1)->set_name("anthropic-fallback-eu-west-2-long");
  d.OnSnapshot(s);
  EXPECT_THAT(LineWith(d.Render(120, 24), "anthropic-f"),
              HasSubstr("anthropic-fallback-eu-west-2-long degraded"));
  const auto narrow = d.Render(80, 24);
  ExpectExactSize(narrow, 80, 24);
  EXPECT_THAT(LineWith(narrow, "anthropic-f"), Not(HasSubstr("-long")));
  EXPECT_THAT(LineWith(narrow, "anthropic-f"), HasSubstr("[1 key]"));
}

// A ranked provider as route explain sends it: every figure unset (negative).
ccrelay::v1::RouteCandidate* AddRanked(ccrelay::v1::RouteExplanation* e, const std::string& name) {
  auto* c = e->add_ranked();
  c->set_name(name);
  c->set_expected_cost_usd(-1);
  c->set_ttft_ms(-1);
  c->set_output_tokens_per_s(-1);
  c->set_score(-1);
  c->set_in_flight(-1);
  return c;
}

TEST(DashboardTest, ShowsTheStrategysRankingWithTheFigureItRanksBy) {
  Dashboard d("127.0.0.1:8788", /*unicode=*/true);
  d.OnSnapshot(TwoProviders());
  EXPECT_EQ(d.RankingModel(), "claude-sonnet-4-5");  // the most recent request's
  EXPECT_EQ(d.RankingDataPlane(), "");
  ccrelay::v1::RouteExplanation e;
  e.set_strategy("cost-based");
  e.set_model("claude-sonnet-4-5");
  AddRanked(&e, "zai")->set_expected_cost_usd(0.0021);
  AddRanked(&e, "anthropic")->set_expected_cost_usd(0.045);
  d.OnRanking(e);
  auto lines = d.Render(100, 24);
  ExpectExactSize(lines, 100, 24);
  EXPECT_THAT(Join(lines), HasSubstr("ranking by cost-based for claude-sonnet-4-5"));
  EXPECT_THAT(LineWith(lines, "zai "), HasSubstr("#1 $0.0021"));
  EXPECT_THAT(LineWith(lines, "anthropic "), HasSubstr("#2 $0.045"));

  // Unset figures (failover): the place alone; a provider left out: "-".
  e.mutable_ranked(0)->set_expected_cost_usd(-1);
  e.mutable_ranked()->RemoveLast();
  e.set_strategy("failover");
  d.OnRanking(e);
  lines = d.Render(100, 24);
  EXPECT_THAT(LineWith(lines, "zai "), HasSubstr("#1 "));
  EXPECT_THAT(LineWith(lines, "anthropic "), HasSubstr(" - "));

  d.OnRankingUnavailable("no data plane is connected");
  lines = d.Render(100, 24);
  EXPECT_THAT(Join(lines), HasSubstr("ranking: no data plane is connected"));

  ccrelay::v1::RouteExplanation one;
  ccrelay::v1::RouteCandidate& c = *AddRanked(&one, "x");
  EXPECT_EQ(RankFigure(c), "");
  c.set_ttft_ms(850);
  EXPECT_EQ(RankFigure(c), "850ms");
  c.set_ttft_ms(-1);
  c.set_in_flight(3);
  EXPECT_EQ(RankFigure(c), "3 busy");
}

TEST(DashboardFormatTest, Numbers) {
  EXPECT_EQ(GroupThousands(0), "0");
  EXPECT_EQ(GroupThousands(999), "999");
  EXPECT_EQ(GroupThousands(1247), "1,247");
  EXPECT_EQ(GroupThousands(1234567), "1,234,567");
  EXPECT_EQ(FormatLatency(234), "234ms");
  EXPECT_EQ(FormatLatency(1200), "1.2s");
  EXPECT_EQ(FormatLatency(0), "-");
  EXPECT_EQ(FormatCount(950), "950");
  EXPECT_EQ(FormatCount(1234), "1.2k");
  EXPECT_EQ(FormatCount(40000), "40k");
  EXPECT_EQ(FormatCount(1500000), "1.5M");
  EXPECT_EQ(FitColumns("●ab", 2), "●a");
  EXPECT_EQ(FitColumns("a", 3), "a  ");
  EXPECT_EQ(ColumnsOf("─●x"), 3);
}

}  // namespace
}  // namespace ccrelay::controlplane::tui

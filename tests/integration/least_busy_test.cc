// routing.strategy: least-busy through the relay: a provider holding a request open gets no more
// while the other has none in flight, and an idle relay spreads requests in turn.
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/relay_fixture.h"
#include "tests/fakes/sync.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

ProviderSpec Provider(const std::string& name, const FakeUpstream& fake) {
  ProviderSpec p;
  p.name = name;
  p.base_url = fake.base_url();
  p.keys = {KeySpec{"sk-" + name + "-1"}};
  return p;
}

// Streams that send one event, then wait for `gate` (the attempt stays in flight meanwhile).
Handler HeldStream(std::shared_ptr<const Notification> gate) {
  StreamScriptOptions o;
  o.gate = std::move(gate);
  o.gate_after = 1;
  o.gate_timeout = milliseconds(15000);
  return StreamScript(o);
}

class LeastBusyTest : public RelayTest {};

TEST_F(LeastBusyTest, AProviderHoldingRequestsGetsNoMoreUntilTheyEnd) {
  FakeUpstream slow;  // holds every stream open until the gate opens
  FakeUpstream fast;  // answers at once
  auto gate = std::make_shared<Notification>();
  slow.SetHandler(HeldStream(gate));
  fast.SetHandler(StreamScript({}));
  RelayConfig config;
  config.strategy = "least-busy";
  config.routing_yaml = "  session_affinity: false\n";
  config.providers = {Provider("slow", slow), Provider("fast", fast)};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  // One request after another, each sent once the previous one reached a provider. Idle, the
  // first ones alternate (a tie, in turn) until one is held by `slow`; from then on `slow` has
  // one in flight and `fast` none, so every later request goes to `fast` (round-robin would
  // still send every other one to `slow`).
  std::vector<std::thread> held;  // clients whose stream `slow` holds
  std::vector<HttpResponse> answers(10);
  for (size_t i = 0; i < answers.size(); ++i) {
    const size_t slow_before = slow.request_count();
    const size_t fast_before = fast.request_count();
    std::thread client([this, &answers, i] {
      answers[i] = Post("/v1/messages", MessageBody("claude-test-1", /*stream=*/true));
    });
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (slow.request_count() == slow_before && fast.request_count() == fast_before &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    if (fast.request_count() > fast_before) {
      client.join();  // `fast` answered at once: its attempt has left in_flight
    } else {
      held.push_back(std::move(client));
    }
  }
  EXPECT_EQ(slow.request_count(), 1u) << "a provider with a request in flight got another";
  EXPECT_EQ(fast.request_count(), answers.size() - 1);
  gate->Notify();
  for (std::thread& t : held) {
    t.join();
  }
  for (const HttpResponse& r : answers) {
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("message_stop"), std::string::npos) << r.body;
  }

  // Nothing in flight any more: one request after another alternates (ties go in turn), so
  // every attempt that ended left its provider's count.
  const size_t slow_before = slow.request_count();
  const size_t fast_before = fast.request_count();
  for (int i = 0; i < 6; ++i) {
    const HttpResponse r = Post("/v1/messages", MessageBody("claude-test-1", /*stream=*/true));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  EXPECT_EQ(slow.request_count() - slow_before, 3u);
  EXPECT_EQ(fast.request_count() - fast_before, 3u);
}

}  // namespace
}  // namespace ccrelay::testing

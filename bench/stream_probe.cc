// ccr_stream_probe: streaming latency through a target (or straight at the mock).
//
//   ccr_stream_probe --port P [--host 127.0.0.1] --body FILE [--requests N] [--concurrency C]
//                    [--delay-ms D] [--label NAME] [--json-out FILE] [--header-prefix P]
//                    [--header "NAME: VALUE"]...
//
// --header-prefix: the mock's request headers are P + "timestamps" and P + "event-delay-ms"
// (default "x-mock-"; "x-amzn-bedrock-mock-" passes a relay's Bedrock provider, which forwards
// only x-amzn-bedrock-* headers). --header: a request header added (repeatable; bench/users.sh
// sends a relay key with it).
//
// Sends N streaming Claude Code requests (C at a time, each connection kept alive; the first
// request of every connection is a warm-up and not counted) with the mock's per-event delay D
// and its event timestamps on. For each stream it records:
//   ttfe     request written -> first event (message_start) complete at the client;
//   event    each event's delivery latency: client arrival - the mock's write time (both
//            CLOCK_MONOTONIC), so what a proxy adds per event shows directly;
//   held     events that reached the client only after the mock had already written the next
//            one: what a proxy that buffers events produces (scheduler stalls longer than D
//            also count, so D should be well above the machine's scheduling noise).
// Prints one JSON object (µs) on stdout; exits 1 if any stream failed.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio.hpp>

#include "bench/bench_common.h"
#include "bench/sse_client.h"

namespace ccrelay::bench {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string body_file;
  int requests = 200;
  int concurrency = 4;
  int delay_ms = 2;
  std::string label = "target";
  std::string json_out;
  std::string header_prefix = "x-mock-";
  std::string headers;  // "NAME: VALUE\r\n" lines from --header
};

class Probe {
 public:
  Probe(asio::io_context& ioc, const Options& options, std::string request)
      : ioc_(ioc), options_(options), request_(std::move(request)) {}

  void Start() {
    const tcp::endpoint endpoint(asio::ip::make_address(options_.host),
                                 static_cast<unsigned short>(options_.port));
    for (int i = 0; i < options_.concurrency; ++i) {
      auto client = std::make_shared<SseClient>(ioc_, endpoint, request_, 16 * 1024);
      clients_.push_back(client);
      RunOne(client, /*warmup=*/true);
    }
  }

  const std::vector<StreamResult>& results() const { return results_; }
  int failures() const { return failures_; }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  void RunOne(const std::shared_ptr<SseClient>& client, bool warmup) {
    if (!warmup) {
      ++issued_;
    }
    client->Run(nullptr, [this, warmup](SseClient& c) {
      const StreamResult& r = c.result();
      if (!r.ok()) {
        ++failures_;
        if (errors_.size() < 5) {
          errors_.push_back(r.error.empty() ? "status " + std::to_string(r.status) +
                                                  (r.saw_message_stop ? "" : ", no message_stop")
                                            : r.error);
        }
      } else if (!warmup) {
        results_.push_back(r);
      }
      if (issued_ < options_.requests && failures_ < 50) {
        RunOne(c.shared_from_this(), false);
      } else {
        c.Close();
      }
    });
  }

  asio::io_context& ioc_;
  const Options& options_;
  const std::string request_;
  std::vector<std::shared_ptr<SseClient>> clients_;
  std::vector<StreamResult> results_;
  std::vector<std::string> errors_;
  int issued_ = 0;
  int failures_ = 0;
};

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--host") {
      o.host = value();
    } else if (arg == "--port") {
      o.port = std::atoi(value().c_str());
    } else if (arg == "--body") {
      o.body_file = value();
    } else if (arg == "--requests") {
      o.requests = std::atoi(value().c_str());
    } else if (arg == "--concurrency") {
      o.concurrency = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--delay-ms") {
      o.delay_ms = std::atoi(value().c_str());
    } else if (arg == "--label") {
      o.label = value();
    } else if (arg == "--header-prefix") {
      o.header_prefix = value();
    } else if (arg == "--header") {
      o.headers += value() + "\r\n";
    } else if (arg == "--json-out") {
      o.json_out = value();
    } else {
      std::cerr << "ccr_stream_probe: unknown argument " << arg << "\n";
      return 2;
    }
  }
  std::string body;
  if (o.port <= 0 || !ReadFile(o.body_file, &body)) {
    std::cerr << "ccr_stream_probe: need --port and a readable --body\n";
    return 2;
  }
  std::string extra = o.headers + o.header_prefix + "timestamps: 1\r\n";
  if (o.delay_ms > 0) {
    extra += o.header_prefix + "event-delay-ms: " + std::to_string(o.delay_ms) + "\r\n";
  }
  std::string request = ClaudeCodeRequest(o.host + ":" + std::to_string(o.port), body, extra);

  asio::io_context ioc(1);
  Probe probe(ioc, o, std::move(request));
  probe.Start();
  ioc.run();

  std::vector<double> ttfe;
  std::vector<double> event_latency;
  std::vector<double> total;
  std::size_t min_events = SIZE_MAX;
  std::size_t max_events = 0;
  std::size_t stamped = 0;
  std::size_t events = 0;
  std::size_t held = 0;
  for (const StreamResult& r : probe.results()) {
    min_events = std::min(min_events, r.arrival_ns.size());
    max_events = std::max(max_events, r.arrival_ns.size());
    ttfe.push_back(static_cast<double>(r.arrival_ns.front() - r.start_ns) / 1000.0);
    total.push_back(static_cast<double>(r.arrival_ns.back() - r.start_ns) / 1000.0);
    for (std::size_t i = 0; i < r.arrival_ns.size(); ++i) {
      ++events;
      if (r.sent_ns[i] == 0) {
        continue;
      }
      ++stamped;
      const double lat = static_cast<double>(r.arrival_ns[i] - r.sent_ns[i]) / 1000.0;
      event_latency.push_back(lat);
      if (o.delay_ms > 0 && i + 1 < r.arrival_ns.size() && r.sent_ns[i + 1] != 0 &&
          r.arrival_ns[i] >= r.sent_ns[i + 1]) {
        ++held;
      }
    }
  }
  if (probe.results().empty()) {
    min_events = 0;
  }
  std::string errors = "[";
  for (const std::string& e : probe.errors()) {
    errors += (errors.size() > 1 ? ",\"" : "\"");
    for (char c : e) {
      if (c != '"' && c != '\\') {
        errors += c;
      }
    }
    errors += "\"";
  }
  errors += "]";
  const std::string json =
      "{\"label\":\"" + o.label + "\",\"requests\":" + std::to_string(probe.results().size()) +
      ",\"failures\":" + std::to_string(probe.failures()) + ",\"errors\":" + errors +
      ",\"delay_ms\":" + std::to_string(o.delay_ms) +
      ",\"concurrency\":" + std::to_string(o.concurrency) +
      ",\"events_min\":" + std::to_string(min_events) +
      ",\"events_max\":" + std::to_string(max_events) + ",\"events\":" + std::to_string(events) +
      ",\"stamped\":" + std::to_string(stamped) + ",\"held\":" + std::to_string(held) +
      ",\"ttfe_us\":" + SummaryJson(ttfe) + ",\"event_us\":" + SummaryJson(event_latency) +
      ",\"total_us\":" + SummaryJson(total) + "}";
  std::cout << json << std::endl;
  if (!o.json_out.empty()) {
    std::ofstream(o.json_out, std::ios::app) << json << "\n";
  }
  return probe.failures() == 0 && !probe.results().empty() ? 0 : 1;
}

}  // namespace
}  // namespace ccrelay::bench

int main(int argc, char** argv) { return ccrelay::bench::Main(argc, argv); }

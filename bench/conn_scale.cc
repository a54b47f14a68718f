// ccr_conn_scale: hold many slow streams open through a target at once and measure its memory.
//
//   ccr_conn_scale --port P --body FILE [--streams N] [--delay-ms D] [--pid PID]...
//                  [--max-connecting K] [--expect-events E] [--timeout-s T] [--label NAME]
//                  [--json-out FILE]
//
// Opens N connections (at most K still waiting for their first event at any time, so the
// target's accept backlog is not overrun), each sending one streaming request with the mock's
// per-event delay D, so every stream lasts about E x D. RSS of the target (the sum over every
// --pid, from /proc/PID/status) is sampled every 50 ms; "held" is the VmRSS sampled once all N
// streams have received their first event and none has finished. At the end every stream must
// have completed with E events and a message_stop. Prints one JSON object; exits 1 on failure.
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
  int streams = 10000;
  int delay_ms = 1000;
  std::vector<int> pids;
  int max_connecting = 256;
  std::size_t expect_events = 21;
  int timeout_s = 120;
  std::string label = "target";
  std::string json_out;
};

long SumKb(const std::vector<int>& pids, std::string_view field) {
  long sum = 0;
  for (int pid : pids) {
    const long kb = ProcStatusKb(pid, field);
    if (kb < 0) {
      return -1;
    }
    sum += kb;
  }
  return sum;
}

class Scale {
 public:
  Scale(asio::io_context& ioc, const Options& options, std::string request)
      : ioc_(ioc),
        options_(options),
        request_(std::move(request)),
        endpoint_(asio::ip::make_address(options.host), static_cast<unsigned short>(options.port)),
        sampler_(ioc),
        deadline_(ioc) {}

  void Start() {
    start_ns_ = NowNs();
    rss_start_kb_ = SumKb(options_.pids, "VmRSS");
    Sample();
    deadline_.expires_after(std::chrono::seconds(options_.timeout_s));
    deadline_.async_wait([this](boost::beast::error_code ec) {
      if (!ec) {
        timed_out_ = true;
        end_ns_ = NowNs();
        for (auto& c : clients_) {
          c->Close();
        }
        ioc_.stop();
      }
    });
    Launch();
  }

  std::string Json() const {
    const long hwm = SumKb(options_.pids, "VmHWM");
    const long rss_end = SumKb(options_.pids, "VmRSS");
    auto ms = [](std::int64_t ns) { return std::to_string(ns / 1000000); };
    std::string errors = "[";
    for (const std::string& e : errors_) {
      errors += (errors.size() > 1 ? ",\"" : "\"") + e + "\"";
    }
    errors += "]";
    return "{\"label\":\"" + options_.label + "\",\"streams\":" + std::to_string(options_.streams) +
           ",\"delay_ms\":" + std::to_string(options_.delay_ms) +
           ",\"completed\":" + std::to_string(completed_) +
           ",\"failed\":" + std::to_string(failed_) + ",\"errors\":" + errors +
           ",\"max_active\":" + std::to_string(max_active_) +
           ",\"all_held\":" + (all_held_ns_ > 0 ? "true" : "false") +
           ",\"ramp_ms\":" + (all_held_ns_ > 0 ? ms(all_held_ns_ - start_ns_) : "null") +
           ",\"duration_ms\":" + ms(end_ns_ - start_ns_) +
           ",\"timed_out\":" + (timed_out_ ? "true" : "false") +
           ",\"rss_start_kb\":" + std::to_string(rss_start_kb_) +
           ",\"rss_held_kb\":" + std::to_string(rss_held_kb_) +
           ",\"rss_max_kb\":" + std::to_string(rss_max_kb_) +
           ",\"rss_end_kb\":" + std::to_string(rss_end) + ",\"hwm_kb\":" + std::to_string(hwm) +
           "}";
  }

  bool ok() const {
    return !timed_out_ && failed_ == 0 && completed_ == options_.streams && all_held_ns_ > 0;
  }

 private:
  void Launch() {
    while (launched_ < options_.streams && connecting_ < options_.max_connecting) {
      ++launched_;
      ++connecting_;
      auto client = std::make_shared<SseClient>(ioc_, endpoint_, request_, 4096);
      clients_.push_back(client);
      client->Run([this](SseClient&) { OnFirstEvent(); }, [this](SseClient& c) { OnDone(c); });
    }
  }

  void OnFirstEvent() {
    --connecting_;
    ++active_;
    max_active_ = std::max(max_active_, active_);
    if (active_ == options_.streams && all_held_ns_ == 0) {
      all_held_ns_ = NowNs();
      rss_held_kb_ = SumKb(options_.pids, "VmRSS");
    }
    Launch();
  }

  void OnDone(SseClient& c) {
    const StreamResult& r = c.result();
    if (!r.arrival_ns.empty()) {
      --active_;
    } else {
      --connecting_;
    }
    if (r.ok() && r.arrival_ns.size() == options_.expect_events) {
      ++completed_;
    } else {
      ++failed_;
      if (errors_.size() < 5) {
        errors_.push_back(!r.error.empty() ? r.error
                                           : "status " + std::to_string(r.status) + ", " +
                                                 std::to_string(r.arrival_ns.size()) + " events");
      }
    }
    c.Close();
    if (completed_ + failed_ == options_.streams) {
      end_ns_ = NowNs();
      sampler_.cancel();
      deadline_.cancel();
      return;
    }
    Launch();
  }

  void Sample() {
    const long rss = SumKb(options_.pids, "VmRSS");
    rss_max_kb_ = std::max(rss_max_kb_, rss);
    sampler_.expires_after(std::chrono::milliseconds(50));
    sampler_.async_wait([this](boost::beast::error_code ec) {
      if (!ec) {
        Sample();
      }
    });
  }

  asio::io_context& ioc_;
  const Options& options_;
  const std::string request_;
  const tcp::endpoint endpoint_;
  asio::steady_timer sampler_;
  asio::steady_timer deadline_;
  std::vector<std::shared_ptr<SseClient>> clients_;
  std::vector<std::string> errors_;
  int launched_ = 0;
  int connecting_ = 0;
  int active_ = 0;
  int max_active_ = 0;
  int completed_ = 0;
  int failed_ = 0;
  bool timed_out_ = false;
  std::int64_t start_ns_ = 0;
  std::int64_t all_held_ns_ = 0;
  std::int64_t end_ns_ = 0;
  long rss_start_kb_ = -1;
  long rss_held_kb_ = -1;
  long rss_max_kb_ = -1;
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
    } else if (arg == "--streams") {
      o.streams = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--delay-ms") {
      o.delay_ms = std::atoi(value().c_str());
    } else if (arg == "--pid") {
      o.pids.push_back(std::atoi(value().c_str()));
    } else if (arg == "--max-connecting") {
      o.max_connecting = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--expect-events") {
      o.expect_events = static_cast<std::size_t>(std::atoi(value().c_str()));
    } else if (arg == "--timeout-s") {
      o.timeout_s = std::atoi(value().c_str());
    } else if (arg == "--label") {
      o.label = value();
    } else if (arg == "--json-out") {
      o.json_out = value();
    } else {
      std::cerr << "ccr_conn_scale: unknown argument " << arg << "\n";
      return 2;
    }
  }
  std::string body;
  if (o.port <= 0 || !ReadFile(o.body_file, &body)) {
    std::cerr << "ccr_conn_scale: need --port and a readable --body\n";
    return 2;
  }
  std::string request =
      ClaudeCodeRequest(o.host + ":" + std::to_string(o.port), body,
                        "x-mock-event-delay-ms: " + std::to_string(o.delay_ms) + "\r\n");

  asio::io_context ioc(1);
  Scale scale(ioc, o, std::move(request));
  scale.Start();
  ioc.run();
  const std::string json = scale.Json();
  std::cout << json << std::endl;
  if (!o.json_out.empty()) {
    std::ofstream(o.json_out, std::ios::app) << json << "\n";
  }
  return scale.ok() ? 0 : 1;
}

}  // namespace
}  // namespace ccrelay::bench

int main(int argc, char** argv) { return ccrelay::bench::Main(argc, argv); }

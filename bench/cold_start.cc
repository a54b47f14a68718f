// ccr_cold_start: process start -> first request served, repeated.
//
//   ccr_cold_start --body FILE [--repeat N] [--cpus 0,1] [--config-template T --config-out F]
//                  [--log FILE] [--timeout-ms MS] [--label NAME] [--json-out FILE] -- CMD ARGS...
//   ccr_cold_start --free-port          (prints a free 127.0.0.1 port, for scripts)
//
// For every run: pick a free 127.0.0.1 port, write the config template with each "{PORT}"
// replaced (also in CMD ARGS), take t0, fork and exec CMD (pinned to --cpus), then try a
// Claude Code request every 100 µs (connect; write; read the whole response) until one answers
// 200; that is t1. The server's VmRSS right after that first request is its idle RSS. Then
// SIGTERM (SIGKILL after 3 s). Prints one JSON object with the runs in ms; exits 1 on failure.
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_common.h"

namespace ccrelay::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string Replace(std::string s, std::string_view from, const std::string& to) {
  for (std::size_t pos = s.find(from); pos != std::string::npos;
       pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

int FreePort() {
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// One attempt: status code of the response, or 0 when nothing answered.
int TryRequest(asio::io_context& ioc, int port, const std::string& body) {
  beast::error_code ec;
  tcp::socket socket(ioc);
  socket.connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
  if (ec) {
    return 0;
  }
  const std::string request = ClaudeCodeRequest("127.0.0.1:" + std::to_string(port), body, "");
  asio::write(socket, asio::buffer(request), ec);
  if (ec) {
    return 0;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  http::read(socket, buffer, parser, ec);
  if (ec) {
    return 0;
  }
  const int status = static_cast<int>(parser.get().result_int());
  if (status == 200 && parser.get().body().find("message_stop") == std::string::npos &&
      parser.get().body().find("\"type\":\"message\"") == std::string::npos) {
    return 0;  // a 200 without a full Anthropic answer does not count
  }
  return status;
}

bool StopChild(pid_t pid) {
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return false;
}

int Main(int argc, char** argv) {
  std::string body_file;
  int repeat = 10;
  std::vector<int> cpus;
  std::string config_template;
  std::string config_out;
  std::string log_file = "/dev/null";
  int timeout_ms = 10000;
  std::string label = "target";
  std::string json_out;
  std::vector<std::string> cmd;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--free-port") {  // helper for scripts: print a free 127.0.0.1 port and exit
      std::cout << FreePort() << std::endl;
      return 0;
    }
    if (arg == "--") {
      for (++i; i < argc; ++i) {
        cmd.emplace_back(argv[i]);
      }
    } else if (arg == "--body") {
      body_file = value();
    } else if (arg == "--repeat") {
      repeat = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--cpus") {
      const std::string list = value();
      for (std::size_t pos = 0; pos < list.size();) {
        std::size_t comma = list.find(',', pos);
        if (comma == std::string::npos) {
          comma = list.size();
        }
        if (comma > pos) {
          cpus.push_back(std::atoi(list.substr(pos, comma - pos).c_str()));
        }
        pos = comma + 1;
      }
    } else if (arg == "--config-template") {
      config_template = value();
    } else if (arg == "--config-out") {
      config_out = value();
    } else if (arg == "--log") {
      log_file = value();
    } else if (arg == "--timeout-ms") {
      timeout_ms = std::atoi(value().c_str());
    } else if (arg == "--label") {
      label = value();
    } else if (arg == "--json-out") {
      json_out = value();
    } else {
      std::cerr << "ccr_cold_start: unknown argument " << arg << "\n";
      return 2;
    }
  }
  std::string body;
  std::string tmpl;
  if (cmd.empty() || !ReadFile(body_file, &body) ||
      (!config_template.empty() && (config_out.empty() || !ReadFile(config_template, &tmpl)))) {
    std::cerr << "ccr_cold_start: need --body, -- CMD, and --config-out with a template\n";
    return 2;
  }

  asio::io_context ioc;
  std::vector<double> runs_ms;
  std::vector<double> rss_kb;
  int failures = 0;
  std::string error;
  for (int run = 0; run < repeat; ++run) {
    const std::string port = std::to_string(FreePort());
    if (!tmpl.empty()) {
      std::ofstream(config_out, std::ios::trunc) << Replace(tmpl, "{PORT}", port);
    }
    std::vector<std::string> args;
    for (const std::string& a : cmd) {
      args.push_back(Replace(a, "{PORT}", port));
    }
    std::vector<char*> argv_c;
    for (std::string& a : args) {
      argv_c.push_back(a.data());
    }
    argv_c.push_back(nullptr);

    const std::int64_t t0 = NowNs();
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (!cpus.empty()) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int c : cpus) {
          CPU_SET(c, &set);
        }
        ::sched_setaffinity(0, sizeof(set), &set);
      }
      const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execvp(argv_c[0], argv_c.data());
      ::_exit(127);
    }
    if (pid < 0) {
      std::cerr << "ccr_cold_start: fork failed\n";
      return 1;
    }
    int status = 0;
    std::int64_t t1 = 0;
    while (NowNs() - t0 < static_cast<std::int64_t>(timeout_ms) * 1000000) {
      status = TryRequest(ioc, std::atoi(port.c_str()), body);
      if (status == 200) {
        t1 = NowNs();
        break;
      }
      if (::waitpid(pid, nullptr, WNOHANG) == pid) {
        error = "process exited before serving";
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    if (t1 > 0) {
      runs_ms.push_back(static_cast<double>(t1 - t0) / 1e6);
      rss_kb.push_back(static_cast<double>(ProcStatusKb(pid, "VmRSS")));
    } else {
      ++failures;
      if (error.empty()) {
        error = "no 200 within timeout (last status " + std::to_string(status) + ")";
      }
    }
    StopChild(pid);
  }
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "{\"label\":\"%s\",\"repeat\":%d,\"failures\":%d,\"error\":\"%s\","
                "\"median_ms\":%.2f,\"min_ms\":%.2f,\"max_ms\":%.2f,\"rss_kb_median\":%.0f,",
                label.c_str(), repeat, failures, error.c_str(), Percentile(runs_ms, 50),
                runs_ms.empty() ? 0.0 : Percentile(runs_ms, 0),
                runs_ms.empty() ? 0.0 : Percentile(runs_ms, 100), Percentile(rss_kb, 50));
  std::string json = buf;
  json += "\"runs_ms\":[";
  for (std::size_t i = 0; i < runs_ms.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%s%.2f", i > 0 ? "," : "", runs_ms[i]);
    json += buf;
  }
  json += "]}";
  std::cout << json << std::endl;
  if (!json_out.empty()) {
    std::ofstream(json_out, std::ios::app) << json << "\n";
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace ccrelay::bench

int main(int argc, char** argv) { return ccrelay::bench::Main(argc, argv); }

#include "tests/fakes/python_fake.h"

#include <chrono>
#include <cstdio>
#include <fstream>

namespace ccrelay::testing {

uint16_t StartPythonFake(ChildProcess* process, std::string_view script,
                         const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      CCR_PYTHON, std::string(CCR_SOURCE_DIR) + "/tests/fakes/" + std::string(script), "--listen",
      "127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());
  if (!process->Start(argv)) {
    return 0;
  }
  const auto port = process->WaitForValue("listening 127.0.0.1:", std::chrono::milliseconds(15000));
  return port.has_value() ? static_cast<uint16_t>(std::stoi(*port)) : 0;
}

std::vector<nlohmann::json> ReadFakeRequestLog(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      continue;
    }
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("operation", nlohmann::json()) == "Control") {
      continue;  // the test's own /__fake/ calls
    }
    out.push_back(std::move(j));
  }
  return out;
}

void ReplaceFileAtomically(const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  }
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace ccrelay::testing

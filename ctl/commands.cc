#include "ctl/commands.h"

#include <cstdio>
#include <fstream>
#include <iostream>

#include <unistd.h>

#include "dataplane/common/str.h"

namespace ccrelay::ctl {

int UsageError(std::string_view message, std::string_view help) {
  std::fprintf(stderr, "error: %.*s\n\n%.*s", static_cast<int>(message.size()), message.data(),
               static_cast<int>(help.size()), help.data());
  return kExitUsage;
}

int PrintHelp(std::string_view help) {
  std::fwrite(help.data(), 1, help.size(), stdout);
  return kExitOk;
}

std::optional<int> ParseArgs(common::FlagParser& flags, const Invocation& inv,
                             std::string_view help) {
  if (const absl::Status st = flags.Parse(inv.args); !st.ok()) {
    return UsageError(std::string(st.message()), help);
  }
  if (flags.help()) {
    return PrintHelp(help);
  }
  return std::nullopt;
}

std::unique_ptr<Client> ConnectOrReport(const Invocation& inv, const std::string& address) {
  auto client = Client::Connect(inv.flags, address);
  if (!client.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(client.status().message()).c_str());
    return nullptr;
  }
  return *std::move(client);
}

absl::StatusOr<std::string> ReadSecret(const std::string& path) {
  std::string line;
  if (path.empty()) {
    if (isatty(STDIN_FILENO) != 0) {
      std::fprintf(stderr, "key (one line, not echoed to any log): ");
    }
    if (!std::getline(std::cin, line)) {
      return absl::InvalidArgumentError("no key on standard input (or give --key-file F)");
    }
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return absl::NotFoundError(common::StrCat("--key-file ", path, ": cannot read"));
    }
    std::getline(in, line);
  }
  std::string_view v = line;
  while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) {
    v.remove_suffix(1);
  }
  v = common::StripWhitespace(v);
  if (v.empty()) {
    return absl::InvalidArgumentError(
        path.empty() ? std::string("the key read from standard input is empty")
                     : common::StrCat("--key-file ", path, ": the first line is empty"));
  }
  return std::string(v);
}

}  // namespace ccrelay::ctl

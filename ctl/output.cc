#include "ctl/output.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include "dataplane/common/str.h"

namespace ccrelay::ctl {

void Output::Json(const google::protobuf::Message& message) const {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) {
    out = "{}";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

namespace {

// One CSV field: quoted when it holds a comma, a quote or a line break (quotes doubled).
std::string CsvField(const std::string& cell) {
  if (cell.find_first_of(",\"\r\n") == std::string::npos) {
    return cell;
  }
  std::string out = "\"";
  for (char c : cell) {
    out += c;
    if (c == '"') {
      out += '"';
    }
  }
  out += '"';
  return out;
}

std::string CsvLine(const std::vector<std::string>& cells) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) {
      line += ',';
    }
    line += CsvField(cells[i]);
  }
  return line;
}

}  // namespace

void Output::Table(const std::vector<std::string>& header,
                   const std::vector<std::vector<std::string>>& rows,
                   std::string_view empty) const {
  if (csv()) {
    Line(CsvLine(header));
    for (const auto& row : rows) {
      Line(CsvLine(row));
    }
    return;
  }
  if (rows.empty()) {
    Line(empty);
    return;
  }
  std::vector<size_t> width(header.size(), 0);
  for (size_t i = 0; i < header.size(); ++i) {
    width[i] = header[i].size();
  }
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string& cell = i < row.size() ? row[i] : std::string();
      line += cell;
      if (i + 1 < width.size()) {
        line.append(width[i] - cell.size() + 2, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    Line(line);
  };
  print_row(header);
  for (const auto& row : rows) {
    print_row(row);
  }
}

void Output::Line(std::string_view text) const {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string Ago(int64_t unix_ms, int64_t now_unix_ms) {
  if (unix_ms <= 0) {
    return "never";
  }
  const int64_t ms = std::max<int64_t>(0, now_unix_ms - unix_ms);
  if (ms < 60000) {
    return common::StrCat(ms / 1000, ".", (ms % 1000) / 100, "s ago");
  }
  if (ms < 3600000) {
    return common::StrCat(ms / 60000, "m ago");
  }
  return common::StrCat(ms / 3600000, "h ago");
}

std::string YesNo(bool b) { return b ? "yes" : "no"; }

}  // namespace ccrelay::ctl

#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace google::protobuf {
class Message;
}

namespace ccrelay::ctl {

// What a command prints: an aligned table for people (--output table, the default), the
// response message as JSON for scripts (--output json; proto field names, every field present,
// 64-bit integers as strings per the proto3 JSON mapping), or the table as CSV (--output csv:
// RFC 4180, a header line, no padding).
class Output {
 public:
  enum class Format { kTable, kJson, kCsv };

  explicit Output(Format format) : format_(format) {}
  bool json() const { return format_ == Format::kJson; }
  bool csv() const { return format_ == Format::kCsv; }

  // One message as a single JSON line (stdout).
  void Json(const google::protobuf::Message& message) const;
  // Columns padded to the widest cell; an empty table prints `empty` instead. CSV: the header
  // and the rows (an empty table: the header only).
  void Table(const std::vector<std::string>& header,
             const std::vector<std::vector<std::string>>& rows,
             std::string_view empty = "(none)") const;
  void Line(std::string_view text) const;

 private:
  Format format_;
};

// "3.2s ago", "5m ago", "never" (0).
std::string Ago(int64_t unix_ms, int64_t now_unix_ms);
std::string YesNo(bool b);

}  // namespace ccrelay::ctl

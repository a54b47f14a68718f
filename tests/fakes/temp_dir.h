#pragma once

#include <string>
#include <string_view>

namespace ccrelay::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `contents` to path()/name (a relative path; missing directories are made) and returns
  // the full path.
  std::string WriteFile(std::string_view name, std::string_view contents) const;

 private:
  std::string path_;
};

// Whole file contents ("" if unreadable).
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace ccrelay::testing

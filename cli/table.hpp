// Table: fixed-width text tables for the CLI (`jobs`, `nodes`, `stats`).
//
// Columns are sized to their widest cell; numeric columns are right-aligned
// so digits line up. render() returns the whole table, so `stats --watch` can
// redraw a screen with a single write.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace skein::cli {

class Table {
 public:
  struct Column {
    std::string header;
    bool right = false;  // right-align (numbers)
  };
  explicit Table(std::vector<Column> columns);
  void add_row(std::vector<std::string> cells);  // missing cells render empty
  std::string render() const;
  std::size_t rows() const { return rows_.size(); }

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// 1536 -> "1.5K", 10485760 -> "10.0M" (powers of 1024).
std::string human_bytes(std::int64_t bytes);
// 12.34 -> "12.3", 12345.6 -> "12.3k", 2.5e6 -> "2.5M" (powers of 1000).
std::string human_rate(double per_second);
// 1500 -> "1.5s", 125000 -> "2m05s".
std::string human_duration_ms(std::int64_t ms);
// Unix ms -> "07:42:13" local time; 0 -> "-".
std::string clock_time(std::int64_t unix_ms);

}  // namespace skein::cli

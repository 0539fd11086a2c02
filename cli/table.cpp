#include "table.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>

namespace skein::cli {

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  std::vector<std::size_t> width(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    width[c] = columns_[c].header.size();
    for (const auto& row : rows_) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      const std::size_t pad = width[c] - cells[c].size();
      const bool last = c + 1 == columns_.size();
      if (columns_[c].right) {
        out.append(pad, ' ');
        out += cells[c];
      } else {
        out += cells[c];
        if (!last) {
          out.append(pad, ' ');
        }
      }
      if (!last) {
        out += "  ";
      }
    }
    out += '\n';
  };
  std::vector<std::string> headers;
  for (const auto& col : columns_) {
    headers.push_back(col.header);
  }
  line(headers);
  for (const auto& row : rows_) {
    line(row);
  }
  return out;
}

std::string human_bytes(std::int64_t bytes) {
  const char* units[] = {"B", "K", "M", "G", "T"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%" PRId64 "B", bytes);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f%s", v, units[u]);
  }
  return buf;
}

std::string human_rate(double v) {
  char buf[32];
  if (v >= 1e9) {
    std::snprintf(buf, sizeof(buf), "%.1fG", v / 1e9);
  } else if (v >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.1fM", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buf, sizeof(buf), "%.1fk", v / 1e3);
  } else if (v >= 100 || v == 0) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f", v);
  }
  return buf;
}

std::string human_duration_ms(std::int64_t ms) {
  char buf[32];
  if (ms < 0) {
    return "-";
  }
  if (ms < 1000) {
    std::snprintf(buf, sizeof(buf), "%" PRId64 "ms", ms);
  } else if (ms < 60000) {
    std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(ms) / 1000);
  } else if (ms < 3600000) {
    std::snprintf(buf, sizeof(buf), "%" PRId64 "m%02" PRId64 "s", ms / 60000, (ms / 1000) % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%" PRId64 "h%02" PRId64 "m", ms / 3600000, (ms / 60000) % 60);
  }
  return buf;
}

std::string clock_time(std::int64_t unix_ms) {
  if (unix_ms <= 0) {
    return "-";
  }
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
  return buf;
}

}  // namespace skein::cli

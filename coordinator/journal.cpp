#include "journal.hpp"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "skein/common/log.hpp"

namespace skein::coordinator {
namespace {

absl::Status write_all(int fd, const std::string& data, const std::string& what) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int err = errno;
      if (err == ENOSPC || err == EDQUOT) {
        return absl::ResourceExhaustedError(absl::StrCat(what, ": ", std::strerror(err)));
      }
      return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> to_line(const v1::JournalRecord& record) {
  std::string line;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = false;
  auto st = google::protobuf::util::MessageToJsonString(record, &line, opts);
  if (!st.ok()) {
    return absl::InternalError(absl::StrCat("journal encode: ", st.ToString()));
  }
  line.push_back('\n');
  return line;
}

void fsync_dir_of(const std::string& path) {
  std::string dir = path.substr(0, path.rfind('/'));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

Journal::Journal(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

Journal::~Journal() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

absl::StatusOr<std::unique_ptr<Journal>> Journal::open(const std::string& data_dir,
                                                       std::vector<v1::JournalRecord>* replay) {
  std::string path = data_dir + "/journal.jsonl";
  replay->clear();
  std::string content;
  {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      content = ss.str();
    }
  }
  size_t pos = 0;
  size_t good_end = 0;  // byte offset after the last well-formed line
  size_t line_no = 0;
  while (pos < content.size()) {
    size_t nl = content.find('\n', pos);
    bool last = (nl == std::string::npos);
    std::string line = content.substr(pos, last ? std::string::npos : nl - pos);
    ++line_no;
    v1::JournalRecord rec;
    auto st = google::protobuf::util::JsonStringToMessage(line, &rec);
    bool is_tail = last || nl + 1 == content.size();
    if (!st.ok() || last) {
      if (is_tail) {
        // A torn final write from a crash: it was never acknowledged.
        logger("journal")->warn("dropping torn last journal line {} ({} bytes)", line_no,
                                line.size());
        break;
      }
      return absl::DataLossError(absl::StrCat("journal ", path, " line ", line_no,
                                              " is corrupt; refusing to start (move the file "
                                              "aside to start empty)"));
    }
    replay->push_back(std::move(rec));
    pos = nl + 1;
    good_end = pos;
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  }
  if (good_end != content.size()) {
    if (::ftruncate(fd, static_cast<off_t>(good_end)) != 0) {
      int err = errno;
      ::close(fd);
      return absl::InternalError(absl::StrCat("truncate ", path, ": ", std::strerror(err)));
    }
  }
  ::close(fd);
  fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  }
  fsync_dir_of(path);
  return std::unique_ptr<Journal>(new Journal(path, fd));
}

absl::Status Journal::append(const v1::JournalRecord& record) {
  auto line = to_line(record);
  if (!line.ok()) {
    return line.status();
  }
  if (auto st = write_all(fd_, *line, "journal append"); !st.ok()) {
    return st;
  }
  if (::fdatasync(fd_) != 0) {
    return absl::InternalError(absl::StrCat("journal fsync: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status Journal::compact(const std::vector<v1::JournalRecord>& records) {
  std::string tmp = path_ + ".compact";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("open ", tmp, ": ", std::strerror(errno)));
  }
  std::string all;
  for (const auto& rec : records) {
    auto line = to_line(rec);
    if (!line.ok()) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return line.status();
    }
    all += *line;
  }
  absl::Status st = write_all(fd, all, "journal compact");
  if (st.ok() && ::fsync(fd) != 0) {
    st = absl::InternalError(absl::StrCat("journal compact fsync: ", std::strerror(errno)));
  }
  ::close(fd);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("journal compact rename: ", std::strerror(err)));
  }
  fsync_dir_of(path_);
  int nfd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (nfd < 0) {
    return absl::InternalError(absl::StrCat("reopen ", path_, ": ", std::strerror(errno)));
  }
  ::close(fd_);
  fd_ = nfd;
  return absl::OkStatus();
}

}  // namespace skein::coordinator

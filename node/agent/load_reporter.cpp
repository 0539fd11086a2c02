#include "agent/load_reporter.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace skein::node {

std::int64_t self_rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::int64_t size = 0;
  std::int64_t resident = 0;
  if (!(f >> size >> resident)) {
    return 0;
  }
  return resident * ::sysconf(_SC_PAGESIZE);
}

skein::v1::NodeLoad LoadReporter::sample(int running_jobs, int running_workers) {
  skein::v1::NodeLoad load;
  {
    std::ifstream f("/proc/loadavg");
    double l1 = 0;
    if (f >> l1) {
      load.set_load_avg_1m(l1);
    }
  }
  {
    std::ifstream f("/proc/stat");
    std::string cpu;
    std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                  steal = 0;
    if (f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal &&
        cpu == "cpu") {
      const std::uint64_t busy = user + nice + system + irq + softirq + steal;
      const std::uint64_t total = busy + idle + iowait;
      if (prev_total_ != 0 && total > prev_total_) {
        load.set_cpu_utilization(static_cast<double>(busy - prev_busy_) /
                                 static_cast<double>(total - prev_total_));
      }
      prev_busy_ = busy;
      prev_total_ = total;
    }
  }
  {
    std::ifstream f("/proc/meminfo");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("MemAvailable:", 0) == 0) {
        std::istringstream in(line.substr(13));
        std::int64_t kb = 0;
        in >> kb;
        load.set_memory_available_bytes(kb * 1024);
        break;
      }
    }
  }
  load.set_running_jobs(running_jobs);
  load.set_running_workers(running_workers);
  load.set_agent_rss_bytes(self_rss_bytes());
  return load;
}

}  // namespace skein::node

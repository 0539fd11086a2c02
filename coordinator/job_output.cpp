#include "job_output.hpp"

namespace skein::coordinator {

void JobOutput::expect(uint64_t job_id, const std::string& node_id) {
  Entry& e = jobs_[job_id];
  if (e.nodes.insert(node_id).second) {
    e.open.insert(node_id);
  }
}

bool JobOutput::accepts(uint64_t job_id, const std::string& node_id) const {
  auto it = jobs_.find(job_id);
  return it != jobs_.end() && it->second.nodes.count(node_id) > 0;
}

bool JobOutput::close(uint64_t job_id, const std::string& node_id) {
  auto it = jobs_.find(job_id);
  return it != jobs_.end() && it->second.open.erase(node_id) > 0;
}

void JobOutput::job_ended(uint64_t job_id, Time now) {
  auto it = jobs_.find(job_id);
  if (it != jobs_.end() && !it->second.ended) {
    it->second.ended = now;
  }
}

std::vector<uint64_t> JobOutput::node_gone(const std::string& node_id) {
  std::vector<uint64_t> changed;
  for (auto& [id, e] : jobs_) {
    if (e.open.erase(node_id) > 0) {
      changed.push_back(id);
    }
  }
  return changed;
}

bool JobOutput::pending(uint64_t job_id, Time now) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.open.empty()) {
    return false;
  }
  Entry& e = it->second;
  if (!e.ended) {
    e.ended = now;
  }
  return now < *e.ended + linger_;
}

std::vector<uint64_t> JobOutput::expire(Time now) {
  std::vector<uint64_t> lingered;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    Entry& e = it->second;
    if (!e.ended) {
      ++it;
      continue;
    }
    const bool past_linger = now >= *e.ended + linger_;
    if (past_linger && !e.lingered_out && !e.open.empty()) {
      lingered.push_back(it->first);
    }
    e.lingered_out = e.lingered_out || past_linger;
    // Settled at the latest when the linger ended; kept a while longer so
    // output that is merely late is still stored.
    if (now >= *e.ended + linger_ + retention_) {
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
  return lingered;
}

}  // namespace skein::coordinator

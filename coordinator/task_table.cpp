#include "task_table.hpp"

namespace skein::coordinator {

void TaskTable::count(NodeIndex node, int64_t delta) {
  if (node >= per_node_.size()) {
    per_node_.resize(node + 1, 0);
  }
  per_node_[node] += delta;
}

void TaskTable::insert(uint64_t job_id, const TaskKey& key, TaskPlace place) {
  auto [it, inserted] = jobs_[job_id].try_emplace(key, place);
  if (!inserted) {
    count(it->second.node, -1);
    it->second = place;
  } else {
    ++size_;
  }
  count(place.node, +1);
}

bool TaskTable::complete(uint64_t job_id, const TaskKey& key, uint32_t attempt) {
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) {
    return false;
  }
  auto it = job->second.find(key);
  if (it == job->second.end() || it->second.attempt != attempt) {
    return false;
  }
  count(it->second.node, -1);
  job->second.erase(it);
  --size_;
  if (job->second.empty()) {
    jobs_.erase(job);
  }
  return true;
}

std::vector<LostTask> TaskTable::take_node(NodeIndex node) {
  std::vector<LostTask> lost;
  for (auto job = jobs_.begin(); job != jobs_.end();) {
    JobMap& m = job->second;
    for (auto it = m.begin(); it != m.end();) {
      bool here = it->second.node == node;
      if (here || it->first.owner_node == node) {
        if (here && it->first.owner_node != node) {
          lost.push_back(LostTask{job->first, it->first, it->second.attempt});
        }
        count(it->second.node, -1);
        --size_;
        m.erase(it++);
      } else {
        ++it;
      }
    }
    if (m.empty()) {
      jobs_.erase(job++);
    } else {
      ++job;
    }
  }
  return lost;
}

size_t TaskTable::forget_job(uint64_t job_id) {
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) {
    return 0;
  }
  size_t n = job->second.size();
  for (const auto& [key, place] : job->second) {
    count(place.node, -1);
  }
  size_ -= n;
  jobs_.erase(job);
  return n;
}

size_t TaskTable::bytes() const {
  // A flat_hash_map slot is its value_type; the table adds one control byte per slot.
  constexpr size_t kSlot = sizeof(JobMap::value_type);
  size_t total = jobs_.capacity() * (sizeof(decltype(jobs_)::value_type) + 1);
  for (const auto& [id, m] : jobs_) {
    total += m.capacity() * (kSlot + 1);
  }
  return total + per_node_.capacity() * sizeof(int64_t);
}

}  // namespace skein::coordinator

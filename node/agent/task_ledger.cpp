#include "agent/task_ledger.hpp"

namespace skein::node {
namespace {

skein::v1::ResultBatch& open_batch(std::vector<skein::v1::ResultBatch>& out, std::uint64_t job,
                                   const std::string& owner_node, std::uint64_t owner_worker) {
  if (out.empty() || out.back().results_size() >= kMaxBatchEntries || out.back().job_id() != job ||
      out.back().owner().node_id() != owner_node ||
      out.back().owner().worker_id() != owner_worker) {
    auto& b = out.emplace_back();
    b.set_job_id(job);
    b.mutable_owner()->set_node_id(owner_node);
    b.mutable_owner()->set_worker_id(owner_worker);
  }
  return out.back();
}

void add_lost(skein::v1::ResultBatch& b, std::uint64_t task_id, std::uint32_t attempt,
              std::string_view why, std::string_view node) {
  auto* r = b.add_results();
  r->set_task_id(task_id);
  r->set_attempt(attempt);
  r->set_error(kTaskErrorWorkerLost);
  r->set_message(std::string(why));
  r->set_node(std::string(node));
}

}  // namespace

void TaskLedger::add(std::uint64_t slot, const skein::v1::TaskBatch& batch) {
  auto& attempts =
      slots_[slot][OwnerKey{batch.job_id(), batch.owner().node_id(), batch.owner().worker_id()}];
  for (const auto& t : batch.tasks()) {
    if (attempts.emplace(t.task_id(), t.attempt()).second) {
      ++size_;
    }
  }
}

std::size_t TaskLedger::clear(std::uint64_t slot, const skein::v1::ResultBatch& results) {
  auto s = slots_.find(slot);
  if (s == slots_.end()) {
    return 0;
  }
  auto g = s->second.find(
      OwnerKey{results.job_id(), results.owner().node_id(), results.owner().worker_id()});
  if (g == s->second.end()) {
    return 0;
  }
  std::size_t n = 0;
  for (const auto& r : results.results()) {
    n += g->second.erase({r.task_id(), r.attempt()});
  }
  size_ -= n;
  if (g->second.empty()) {
    s->second.erase(g);
    if (s->second.empty()) {
      slots_.erase(s);
    }
  }
  return n;
}

std::vector<skein::v1::ResultBatch> TaskLedger::take_lost(std::uint64_t slot, std::string_view why,
                                                          std::string_view node) {
  std::vector<skein::v1::ResultBatch> out;
  auto s = slots_.find(slot);
  if (s == slots_.end()) {
    return out;
  }
  for (const auto& [owner, attempts] : s->second) {
    const auto& [job, owner_node, owner_worker] = owner;
    for (const auto& [task_id, attempt] : attempts) {
      add_lost(open_batch(out, job, owner_node, owner_worker), task_id, attempt, why, node);
    }
    size_ -= attempts.size();
  }
  slots_.erase(s);
  return out;
}

std::size_t TaskLedger::size(std::uint64_t slot) const {
  auto s = slots_.find(slot);
  if (s == slots_.end()) {
    return 0;
  }
  std::size_t n = 0;
  for (const auto& [owner, attempts] : s->second) {
    n += attempts.size();
  }
  return n;
}

std::vector<skein::v1::ResultBatch> lost_results(const skein::v1::TaskBatch& batch,
                                                 std::string_view why, std::string_view node) {
  std::vector<skein::v1::ResultBatch> out;
  for (const auto& t : batch.tasks()) {
    add_lost(open_batch(out, batch.job_id(), batch.owner().node_id(), batch.owner().worker_id()),
             t.task_id(), t.attempt(), why, node);
  }
  return out;
}

}  // namespace skein::node

// An indexed binary min-heap of grid nodes keyed by their tentative values.
//
// Keys live in an array owned by the caller (the tentative values); the heap
// stores node indices with a copy of their keys (so that sifting reads
// contiguous memory, not the value array at random) and each node's
// position in the heap, so that a changed key can be restored in O(log n).
// The caller announces every change of a queued node's key through
// push_or_decrease / push_or_update. Ties are broken by node index, which
// makes the order of a march independent of how the heap was built.
#pragma once

#include <cstdint>
#include <vector>

#include "hjqp/grid.hpp"

namespace hjqp {

class IndexedHeap {
 public:
  IndexedHeap(const double* keys, Index capacity)
      : keys_(keys), position_(std::size_t(capacity), -1) {}

  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  bool contains(Index node) const { return position_[std::size_t(node)] >= 0; }
  Index top() const { return entries_.front().node; }

  // Insert a node, or restore the order after its key decreased.
  void push_or_decrease(Index node) {
    std::int32_t pos = position_[std::size_t(node)];
    const Entry entry{keys_[node], std::int32_t(node)};
    if (pos < 0) {
      pos = std::int32_t(entries_.size());
      entries_.push_back(entry);
      position_[std::size_t(node)] = pos;
    }
    sift_up(pos, entry);
  }

  // Insert a node, or restore the order after its key changed either way.
  void push_or_update(Index node) {
    const std::int32_t pos = position_[std::size_t(node)];
    if (pos < 0) return push_or_decrease(node);
    const Entry entry{keys_[node], std::int32_t(node)};
    sift_up(pos, entry);
    const std::int32_t now = position_[std::size_t(node)];
    sift_down(now, entry);
  }

  Index pop() {
    const Index node = entries_.front().node;
    const Entry last = entries_.back();
    entries_.pop_back();
    position_[std::size_t(node)] = -1;
    if (!entries_.empty()) sift_down(0, last);
    return node;
  }

 private:
  struct Entry {
    double key;
    std::int32_t node;
  };

  static bool less(const Entry& a, const Entry& b) {
    return a.key < b.key || (a.key == b.key && a.node < b.node);
  }

  void place(std::int32_t pos, const Entry& entry) {
    entries_[std::size_t(pos)] = entry;
    position_[std::size_t(entry.node)] = pos;
  }

  // Move `entry` (to be stored at pos) up to its place.
  void sift_up(std::int32_t pos, const Entry& entry) {
    while (pos > 0) {
      const std::int32_t parent = (pos - 1) / 2;
      if (!less(entry, entries_[std::size_t(parent)])) break;
      place(pos, entries_[std::size_t(parent)]);
      pos = parent;
    }
    place(pos, entry);
  }

  // Move `entry` (to be stored at pos) down to its place.
  void sift_down(std::int32_t pos, const Entry& entry) {
    const std::int32_t n = std::int32_t(entries_.size());
    while (true) {
      std::int32_t child = 2 * pos + 1;
      if (child >= n) break;
      if (child + 1 < n && less(entries_[std::size_t(child + 1)], entries_[std::size_t(child)])) ++child;
      if (!less(entries_[std::size_t(child)], entry)) break;
      place(pos, entries_[std::size_t(child)]);
      pos = child;
    }
    place(pos, entry);
  }

  const double* keys_;
  std::vector<std::int32_t> position_;
  std::vector<Entry> entries_;
};

}  // namespace hjqp

// An indexed binary min-heap of grid nodes keyed by their tentative values.
//
// Keys live in an array owned by the caller (the tentative values); the heap
// stores node indices and each node's position in the heap, so that a key
// that decreases can be restored in O(log n). Ties are broken by node index,
// which makes the order of a march independent of how the heap was built.
#pragma once

#include <cstdint>
#include <vector>

#include "hjqp/grid.hpp"

namespace hjqp {

class IndexedHeap {
 public:
  IndexedHeap(const double* keys, Index capacity)
      : keys_(keys), position_(std::size_t(capacity), -1) {}

  bool empty() const { return nodes_.empty(); }
  std::size_t size() const { return nodes_.size(); }
  bool contains(Index node) const { return position_[std::size_t(node)] >= 0; }
  Index top() const { return nodes_.front(); }

  // Insert a node, or restore the order after its key decreased.
  void push_or_decrease(Index node) {
    std::int32_t pos = position_[std::size_t(node)];
    if (pos < 0) {
      pos = std::int32_t(nodes_.size());
      nodes_.push_back(std::int32_t(node));
      position_[std::size_t(node)] = pos;
    }
    sift_up(pos);
  }

  // Insert a node, or restore the order after its key changed either way.
  void push_or_update(Index node) {
    const std::int32_t pos = position_[std::size_t(node)];
    if (pos < 0) return push_or_decrease(node);
    sift_up(pos);
    sift_down(position_[std::size_t(node)]);
  }

  Index pop() {
    const Index node = nodes_.front();
    const std::int32_t last = nodes_.back();
    nodes_.pop_back();
    position_[std::size_t(node)] = -1;
    if (!nodes_.empty()) {
      nodes_[0] = last;
      position_[std::size_t(last)] = 0;
      sift_down(0);
    }
    return node;
  }

 private:
  bool less(std::int32_t a, std::int32_t b) const {
    const double ka = keys_[a], kb = keys_[b];
    return ka < kb || (ka == kb && a < b);
  }

  void place(std::int32_t pos, std::int32_t node) {
    nodes_[std::size_t(pos)] = node;
    position_[std::size_t(node)] = pos;
  }

  void sift_up(std::int32_t pos) {
    const std::int32_t node = nodes_[std::size_t(pos)];
    while (pos > 0) {
      const std::int32_t parent = (pos - 1) / 2;
      if (!less(node, nodes_[std::size_t(parent)])) break;
      place(pos, nodes_[std::size_t(parent)]);
      pos = parent;
    }
    place(pos, node);
  }

  void sift_down(std::int32_t pos) {
    const std::int32_t n = std::int32_t(nodes_.size());
    const std::int32_t node = nodes_[std::size_t(pos)];
    while (true) {
      std::int32_t child = 2 * pos + 1;
      if (child >= n) break;
      if (child + 1 < n && less(nodes_[std::size_t(child + 1)], nodes_[std::size_t(child)]))
        ++child;
      if (!less(nodes_[std::size_t(child)], node)) break;
      place(pos, nodes_[std::size_t(child)]);
      pos = child;
    }
    place(pos, node);
  }

  const double* keys_;
  std::vector<std::int32_t> position_;
  std::vector<std::int32_t> nodes_;
};

}  // namespace hjqp

// Euler-Maruyama for dx = b(x) dt + sqrt(eps) L(x) dW over fields sampled on a
// grid (multilinear interpolation of b and of the Cholesky factor L of D).
//
// Three ways to run a path: store its states, stop it at the first exit from
// a domain (with the Gobet-Menozzi boundary shift), or tally a long run
// (visits of core sets around attractors, transitions between them, basin
// occupancy and a histogram of positions).
//
// Random numbers are keyed by (seed, path, block of kStepBlock steps), so a
// path is the same whatever thread runs it, whatever paths share its batch
// and however its steps are split between calls. The vector paths (AVX2,
// chosen at run time) do the same operations in the same order as the
// scalar ones: results are the same to the bit with and without them.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hjqp/domain.hpp"
#include "hjqp/grid.hpp"
#include "hjqp/interpolate.hpp"
#include "hjqp/linalg.hpp"
#include "hjqp/parallel.hpp"
#include "hjqp/random.hpp"

namespace hjqp {

// Steps per random stream of a path.
constexpr Index kStepBlock = Index(1) << 16;
// Steps between checks of the stop flag.
constexpr Index kStopCheck = 4096;

// Values per node: b (D), then the lower triangle of L by rows.
template <int D>
constexpr int kSdeValues = D + D * (D + 1) / 2;

template <int D>
class SampledSDE {
 public:
  // drift: grid.size() * D values; sigma: grid.size() * D * D values, the
  // lower-triangular Cholesky factors, row-major (the upper part is ignored).
  SampledSDE(const Grid<D>& grid, const double* drift, const double* sigma)
      : grid_(grid), data_(std::size_t(grid.size()) * kSdeValues<D>) {
    for (int k = 0; k < D; ++k) {
      lower_[k] = grid.lower()[k];
      upper_[k] = grid.upper(k);
    }
    for (Index i = 0; i < grid.size(); ++i) {
      double* out = &data_[std::size_t(i) * kSdeValues<D>];
      for (int k = 0; k < D; ++k) {
        out[k] = drift[i * D + k];
        if (!std::isfinite(out[k]))
          throw std::invalid_argument("drift is not finite at " + describe_node(grid, i));
      }
      int m = D;
      for (int r = 0; r < D; ++r)
        for (int c = 0; c <= r; ++c) {
          const double v = sigma[(i * D + r) * D + c];
          if (!std::isfinite(v) || (r == c && !(v > 0.0)))
            throw std::invalid_argument(
                "sigma must be lower triangular with a positive diagonal and finite at " +
                describe_node(grid, i));
          out[m++] = v;
        }
    }
    // A constant L (additive noise, the commonest case) is kept once and
    // not interpolated: the multilinear mean of equal values is that value
    // (up to rounding), and a step then reads D values per corner rather
    // than kSdeValues (Example 3.1: about 20 % more steps per second).
    constexpr int L = kSdeValues<D> - D;
    std::copy(data_.begin() + D, data_.begin() + kSdeValues<D>, sigma_.begin());
    constant_sigma_ = true;
    for (Index i = 1; i < grid.size() && constant_sigma_; ++i)
      for (int m = 0; m < L; ++m)
        if (data_[std::size_t(i) * kSdeValues<D> + D + std::size_t(m)] != sigma_[std::size_t(m)])
          constant_sigma_ = false;
    if (constant_sigma_) {
      for (Index i = 0; i < grid.size(); ++i)
        for (int k = 0; k < D; ++k) data_[std::size_t(i * D + k)] = data_[std::size_t(i) * kSdeValues<D> + k];
      data_.resize(std::size_t(grid.size()) * D);
      data_.shrink_to_fit();
    }
  }

  const Grid<D>& grid() const { return grid_; }

  // Is L the same at every node?
  bool constant_sigma() const { return constant_sigma_; }

  // b and L at x (multilinear; x is clamped into the box).
  void at(const Vec<D>& x, double* v) const {
    if (constant_sigma_) {
      interpolate<D>(x, v);
      for (int m = D; m < kSdeValues<D>; ++m) v[m] = sigma_[std::size_t(m - D)];
    } else {
      interpolate<kSdeValues<D>>(x, v);
    }
  }

  // With a constant L: b at the nodes (D values per node), and L's lower
  // triangle by rows.
  const double* drift_nodes() const { return data_.data(); }
  const std::array<double, kSdeValues<D> - D>& sigma() const { return sigma_; }
  const Vec<D>& box_lower() const { return lower_; }
  const Vec<D>& box_upper() const { return upper_; }

  // Is x inside the closed box?
  bool inside(const Vec<D>& x) const {
    for (int k = 0; k < D; ++k)
      if (!(x[k] >= lower_[k] && x[k] <= upper_[k])) return false;
    return true;
  }

 private:
  // The first Width values per node of data_ at x into v.
  template <int Width>
  void interpolate(const Vec<D>& x, double* v) const {
    if constexpr (D == 2) {
      multilinear_rows<Width>(grid_, data_.data(), x, v);
    } else {
      for (int m = 0; m < Width; ++m) v[m] = 0.0;
      multilinear<Width, D>(grid_, data_.data(), x, v);
    }
  }

  Grid<D> grid_;
  // Per node: b, then the lower triangle of L by rows; b alone when L is
  // constant (then in sigma_).
  std::vector<double> data_;
  std::array<double, kSdeValues<D> - D> sigma_{};
  bool constant_sigma_ = false;
  Vec<D> lower_{}, upper_{};
};

// L^T n for the packed lower triangle that follows b in v.
template <int D>
inline Vec<D> sigma_transpose_times(const double* v, const Vec<D>& n) {
  Vec<D> out{};
  int m = D;
  for (int r = 0; r < D; ++r)
    for (int c = 0; c <= r; ++c) out[c] += v[m++] * n[r];
  return out;
}

// Core sets: balls around attractors.
template <int D>
struct Cores {
  std::vector<Vec<D>> centers;
  std::vector<double> radii;

  int which(const Vec<D>& x) const {
    for (std::size_t c = 0; c < centers.size(); ++c) {
      const Vec<D> y = sub<D>(x, centers[c]);
      if (dot<D>(y, y) <= radii[c] * radii[c]) return int(c);
    }
    return -1;
  }
};

// Where a long run counts, per path: steps with the last core visited = c
// at milestones[c + 1] (0: none yet); entries into core j with i the last
// core visited at transitions[i * k + j]; steps with the nearest node
// labelled l at labels[l + 1] (0: label -1; nullptr when unused).
struct Counts {
  std::int64_t* milestones;
  std::int64_t* transitions;
  std::int64_t* labels;
};

// Why a path stopped.
enum class PathStop : std::uint8_t {
  Running = 0,   // reached the last step asked for
  Exited = 1,    // left the domain
  LeftGrid = 2,  // stepped outside the grid's box (the fields end there)
  Stopped = 3,   // the stop flag was raised
};

template <int D>
class EulerMaruyama {
 public:
  EulerMaruyama(const SampledSDE<D>& sde, double eps, double dt, std::uint64_t seed)
      : sde_(sde), dt_(dt), noise_(std::sqrt(eps * dt)), seed_(seed) {
    if (!(eps > 0.0) || !std::isfinite(eps))
      throw std::invalid_argument("eps must be positive and finite");
    if (!(dt > 0.0) || !std::isfinite(dt)) throw std::invalid_argument("dt must be positive and finite");
  }

  const SampledSDE<D>& sde() const { return sde_; }

  // Paths are run in batches of up to kLanes, stepped in turn: one path's
  // steps form a chain of dependent loads and multiplies, and interleaving
  // independent chains keeps the processor busy.
  static constexpr int kLanes = 8;

  // A batch of `lanes` paths: ids path[l], states x[l]. On return step[l] is
  // where path l stopped and why[l] why.
  struct Batch {
    const Index* path;
    Vec<D>* x;
    int lanes;
    Index* step;
    PathStop* why;
  };

  // Store x at steps n with (n - n0) % thin == 0, n0 <= n < n1, into out[l]
  // (D values each), then advance to n1.
  void store(const Batch& b, Index n0, Index n1, Index thin, double* const* out,
             const std::atomic<bool>& stop) const {
    Index current = -1, slot = -1;  // the step being made, and its slot if stored
    run(
        b, n0, n1, PathStop::LeftGrid, stop,
        [&](int l, const Vec<D>& x, const double*, Index step) {
          if (step != current) {
            current = step;
            slot = (step - n0) % thin == 0 ? (step - n0) / thin : -1;
          }
          if (slot >= 0)
            for (int k = 0; k < D; ++k) out[l][slot * D + k] = x[k];
          return PathStop::Running;
        },
        [](int, const Vec<D>&) {});
  }

  // Advance each path until the first step n in [n0, n1] at which x is
  // within shift * |L(x)^T n| of the boundary (shift = 0.5826 sqrt(eps dt)
  // for the Gobet-Menozzi correction, 0 for none) or outside the domain.
  void exit(const Batch& b, Index n0, Index n1, const Domain<D>& domain, double shift,
            const std::atomic<bool>& stop) const {
    // |L^T n| <= |L|_F for a unit n, so a point surely farther than
    // shift |L|_F from the boundary has not exited, and most steps are
    // settled without the distance's square roots and divisions (the same
    // decisions: the bound carries a relative margin of 1e-9, far beyond
    // rounding). With a constant L the bound is computed once.
    constexpr int L = kSdeValues<D> - D;
    auto reach = [&](const double* v) {
      double f = 0.0;
      for (int m = 0; m < L; ++m) f += v[D + m] * v[D + m];
      return shift * std::sqrt(f) * (1.0 + 1e-9);
    };
    double constant_reach = 0.0;
    if (sde_.constant_sigma()) {
      double v[kSdeValues<D>];
      sde_.at(sde_.grid().point(MultiIndex<D>{}), v);
      constant_reach = reach(v);
    }
    // v: b and L at x.
    auto exited = [&](const Vec<D>& x, const double* v) {
      const double margin = shift == 0.0 ? 0.0 : sde_.constant_sigma() ? constant_reach : reach(v);
      if (domain.surely_inside(x, margin)) return false;
      Vec<D> normal{};
      const double dist = domain.distance(x, normal);
      if (dist <= 0.0) return true;
      return shift > 0.0 && dist <= shift * norm<D>(sigma_transpose_times<D>(v, normal));
    };
    // Outside the fields' box is outside a domain that lies within it.
    run(
        b, n0, n1, PathStop::Exited, stop,
        [&](int, const Vec<D>& x, const double* v, Index) {
          return exited(x, v) ? PathStop::Exited : PathStop::Running;
        },
        [](int, const Vec<D>&) {});
    double v[kSdeValues<D>];
    for (int l = 0; l < b.lanes; ++l)
      if (b.why[l] == PathStop::Running) {
        sde_.at(b.x[l], v);
        if (exited(b.x[l], v)) b.why[l] = PathStop::Exited;
      }
  }

  // A long run from step n0 to n1; core[l] is the last core path l visited
  // (-1 if none), carried between calls. labels: basin label per node, or
  // nullptr.
  void tally(const Batch& b, int* core, Index n0, Index n1, const Cores<D>& cores,
             const std::int32_t* labels, int n_labels, const Counts* counts, std::int64_t* histogram,
             const std::atomic<bool>& stop) const {
    const Grid<D>& grid = sde_.grid();
    const int k = int(cores.centers.size());
    // Counted here and added to counts at the end: rows of neighbouring
    // paths may share a cache line with another thread's batch.
    std::vector<std::int64_t> milestones(std::size_t(kLanes * (k + 1)), 0);
    std::vector<std::int64_t> transitions(std::size_t(kLanes * k * k), 0);
    std::vector<std::int64_t> visits(std::size_t(kLanes * (n_labels + 1)), 0);
    const bool nodes = labels != nullptr || histogram != nullptr;
    Vec<D> inverse_spacing;
    for (int a = 0; a < D; ++a) inverse_spacing[a] = 1.0 / grid.spacing()[a];
    run(
        b, n0, n1, PathStop::LeftGrid, stop, [](int, const Vec<D>&, const double*, Index) { return PathStop::Running; },
        [&](int l, const Vec<D>& x) {
          const int c = cores.which(x);
          if (c >= 0 && c != core[l]) {
            if (core[l] >= 0) ++transitions[std::size_t((l * k + core[l]) * k + c)];
            core[l] = c;
          }
          ++milestones[std::size_t(l * (k + 1) + core[l] + 1)];
          if (nodes) {
            MultiIndex<D> m;
            for (int a = 0; a < D; ++a) {
              const double s = (x[a] - grid.lower()[a]) * inverse_spacing[a];
              m[a] = std::min<Index>(grid.shape()[a] - 1, std::max<Index>(0, Index(std::lround(s))));
            }
            const Index node = grid.flat(m);
            if (labels) ++visits[std::size_t(l * (n_labels + 1) + labels[node] + 1)];
            if (histogram) ++histogram[node];
          }
        });
    for (int l = 0; l < b.lanes; ++l) {
      for (int c = 0; c <= k; ++c) counts[l].milestones[c] += milestones[std::size_t(l * (k + 1) + c)];
      for (int c = 0; c < k * k; ++c) counts[l].transitions[c] += transitions[std::size_t(l * k * k + c)];
      if (labels)
        for (int c = 0; c <= n_labels; ++c)
          counts[l].labels[c] += visits[std::size_t(l * (n_labels + 1) + c)];
    }
  }

  // Raw normals of the stream (seed, path, block): for tests of the generator.
  static void normals(std::uint64_t seed, Index path, Index block, double* out, Index n) {
    Xoshiro256pp rng(seed, std::uint64_t(path), std::uint64_t(block));
    const Ziggurat& z = Ziggurat::tables();
    for (Index i = 0; i < n; ++i) out[i] = z(rng);
  }

 private:
  // The normals of a batch's paths, drawn kAhead steps at a time for all
  // its lanes together (NormalLanes), each path's stream re-keyed at every
  // block of kStepBlock steps. The running paths of a batch take their
  // steps together, so one count serves them all; lanes that have stopped
  // (or hold no path) are drawn for and ignored.
  class Noise {
   public:
    static_assert(kLanes == NormalLanes::kLanes, "a batch's lanes are the generator's");

    Noise(const EulerMaruyama& em, const Batch& b, Index step)
        : em_(em), path_(b.path), lanes_(b.lanes), block_(step / kStepBlock), left_(kStepBlock - step % kStepBlock) {
      rekey();
      // Skip to `step` within its block. The draws per step are not fixed
      // (the ziggurat rejects), so the block's normals are replayed.
      for (Index skip = step % kStepBlock; skip > 0;) {
        const int m = int(std::min<Index>(skip, kAhead));
        lanes_normals_.draw(z_, m * D);
        skip -= m;
      }
    }

    // Before each step; then normal k of lane l for the step is
    // z()[k * kLanes + l]. Once three lanes or fewer run, only theirs are
    // drawn (one stream at a time): the others are never read again.
    // lane[0, active): the lanes still running.
    void begin_step(const int* lane, int active) {
      if (ahead_ == kAhead) draw(lane, active);
    }
    const double* z() const { return &z_[ahead_ * D * kLanes]; }
    void end_step() { ++ahead_; }

   private:
    // Steps whose normals are drawn in one go. The numbers and their order
    // are those of one draw per step: drawing ahead past the last step
    // taken wastes a few draws and changes nothing.
    static constexpr int kAhead = 32;

    void rekey() {
      for (int l = 0; l < lanes_; ++l)
        lanes_normals_.key(l, em_.seed_, std::uint64_t(path_[l]), std::uint64_t(block_));
    }

    void draw(const int* lane, int active) {
      for (int s = 0; s < kAhead;) {
        if (left_ == 0) {
          ++block_;
          left_ = kStepBlock;
          rekey();
        }
        const int m = int(std::min<Index>(kAhead - s, left_));
        double* out = &z_[s * D * kLanes];
        if (active > 3) {
          lanes_normals_.draw(out, m * D);
        } else {
          for (int i = 0; i < active; ++i) lanes_normals_.draw_lane(lane[i], out, m * D);
        }
        s += m;
        left_ -= m;
      }
      ahead_ = 0;
    }

    const EulerMaruyama& em_;
    const Index* path_;
    int lanes_;
    Index block_;
    Index left_;  // steps left in the block, counting draws
    NormalLanes lanes_normals_;
    int ahead_ = kAhead;  // the next step's normals are z_[ahead_ * D * kLanes ...]
    // Normal k of lane l for step s of the draw at z_[(s * D + k) * kLanes + l].
    alignas(64) double z_[kAhead * D * kLanes];
  };

  // Step x <- x + b dt + sqrt(eps dt) L z, with b and L in v and the
  // normals z[k * stride]; false if the new point leaves the box (x is then
  // unchanged).
  bool advance(Vec<D>& x, const double* v, const double* z, int stride) const {
    Vec<D> next;
    if constexpr (D == 2) {
      next[0] = x[0] + v[0] * dt_ + noise_ * (v[2] * z[0]);
      next[1] = x[1] + v[1] * dt_ + noise_ * (v[3] * z[0] + v[4] * z[stride]);
    } else {
      double noise[D] = {};
      for (int c = 0; c < D; ++c)
        for (int r = c; r < D; ++r) noise[r] += v[D + r * (r + 1) / 2 + c] * z[c * stride];
      for (int r = 0; r < D; ++r) next[r] = x[r] + v[r] * dt_ + noise_ * noise[r];
    }
    if (!sde_.inside(next)) return false;
    x = next;
    return true;
  }

#ifdef HJQP_X86_DISPATCH
  // Coordinate k of lane l at [k][l]. (Kept apart from the lanes' Vec
  // states: vector loads of values stored one by one would stall.)
  using Lanes = double[2][kLanes];

  // Two dimensions, a constant L: for all kLanes lanes, b at x into v[l]
  // (whose L part is left alone) and the step from x with the normals
  // z[k * kLanes + l] into next, four lanes per vector; bit l of the result
  // is set if lane l's next point lies in the box. The same operations in
  // the same order as sde_.at and advance, lane by lane, so the same
  // numbers to the bit.
  [[gnu::target("avx2")]] int propose_avx2(const Lanes& x, std::array<std::array<double, kSdeValues<2>>, kLanes>& v,
                                           const double* z, Lanes& next) const {
    const Grid<2>& grid = sde_.grid();
    const double* nodes = sde_.drift_nodes();
    const Index row = grid.stride(0) * 2;
    const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0);
    const __m256d dt = _mm256_set1_pd(dt_), noise = _mm256_set1_pd(noise_);
    const __m256d l00 = _mm256_set1_pd(sde_.sigma()[0]), l10 = _mm256_set1_pd(sde_.sigma()[1]),
                  l11 = _mm256_set1_pd(sde_.sigma()[2]);
    int inside = 0;
    for (int q = 0; q < kLanes / 4; ++q) {
      // x and y of lanes 4q .. 4q + 3.
      const __m256d px = _mm256_load_pd(&x[0][4 * q]), py = _mm256_load_pd(&x[1][4 * q]);
      // Grid::locate: the cell and the local coordinates.
      __m128i cell[2];
      __m256d frac[2];
      for (int k = 0; k < 2; ++k) {
        __m256d t = _mm256_mul_pd(_mm256_sub_pd(k == 0 ? px : py, _mm256_set1_pd(grid.lower()[k])),
                                  _mm256_set1_pd(grid.inverse_spacing()[k]));
        t = _mm256_max_pd(zero, t);  // t < 0 ? 0 : t
        t = _mm256_min_pd(_mm256_set1_pd(grid.last()[k]), t);  // t > last ? last : t
        cell[k] = _mm_min_epi32(_mm256_cvttpd_epi32(t), _mm_set1_epi32(std::int32_t(grid.shape()[k] - 2)));
        frac[k] = _mm256_sub_pd(t, _mm256_cvtepi32_pd(cell[k]));
      }
      alignas(16) std::int32_t flat[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(flat),
                      _mm_add_epi32(_mm_mullo_epi32(cell[0], _mm_set1_epi32(std::int32_t(grid.stride(0)))),
                                    _mm_mullo_epi32(cell[1], _mm_set1_epi32(std::int32_t(grid.stride(1))))));
      // multilinear_rows<2>: the weights, and the cell's two rows of
      // corners (b at (i, j) and (i, j + 1), then at (i + 1, ...)), turned
      // from lanes of values into values of lanes.
      const __m256d fa = frac[0], fb = frac[1];
      const __m256d ga = _mm256_sub_pd(one, fa), gb = _mm256_sub_pd(one, fb);
      const __m256d w00 = _mm256_mul_pd(ga, gb), w01 = _mm256_mul_pd(ga, fb), w10 = _mm256_mul_pd(fa, gb),
                    w11 = _mm256_mul_pd(fa, fb);
      __m256d corner[2][4];  // corner[r][c]: row r; c = 2 * (j offset) + value
      for (int r = 0; r < 2; ++r) {
        __m256d t[4];
        for (int l = 0; l < 4; ++l) t[l] = _mm256_loadu_pd(nodes + Index(flat[l]) * 2 + r * row);
        const __m256d u0 = _mm256_unpacklo_pd(t[0], t[1]), u1 = _mm256_unpackhi_pd(t[0], t[1]);
        const __m256d u2 = _mm256_unpacklo_pd(t[2], t[3]), u3 = _mm256_unpackhi_pd(t[2], t[3]);
        corner[r][0] = _mm256_permute2f128_pd(u0, u2, 0x20);
        corner[r][1] = _mm256_permute2f128_pd(u1, u3, 0x20);
        corner[r][2] = _mm256_permute2f128_pd(u0, u2, 0x31);
        corner[r][3] = _mm256_permute2f128_pd(u1, u3, 0x31);
      }
      __m256d drift[2];
      for (int m = 0; m < 2; ++m)
        drift[m] = _mm256_add_pd(
            _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(w00, corner[0][m]), _mm256_mul_pd(w01, corner[0][2 + m])),
                          _mm256_mul_pd(w10, corner[1][m])),
            _mm256_mul_pd(w11, corner[1][2 + m]));
      // advance.
      const __m256d z0 = _mm256_loadu_pd(z + 4 * q), z1 = _mm256_loadu_pd(z + kLanes + 4 * q);
      const __m256d nx = _mm256_add_pd(_mm256_add_pd(px, _mm256_mul_pd(drift[0], dt)),
                                       _mm256_mul_pd(noise, _mm256_mul_pd(l00, z0)));
      const __m256d ny = _mm256_add_pd(
          _mm256_add_pd(py, _mm256_mul_pd(drift[1], dt)),
          _mm256_mul_pd(noise, _mm256_add_pd(_mm256_mul_pd(l10, z0), _mm256_mul_pd(l11, z1))));
      const __m256d in = _mm256_and_pd(
          _mm256_and_pd(_mm256_cmp_pd(nx, _mm256_set1_pd(sde_.box_lower()[0]), _CMP_GE_OQ),
                        _mm256_cmp_pd(nx, _mm256_set1_pd(sde_.box_upper()[0]), _CMP_LE_OQ)),
          _mm256_and_pd(_mm256_cmp_pd(ny, _mm256_set1_pd(sde_.box_lower()[1]), _CMP_GE_OQ),
                        _mm256_cmp_pd(ny, _mm256_set1_pd(sde_.box_upper()[1]), _CMP_LE_OQ)));
      inside |= _mm256_movemask_pd(in) << (4 * q);
      _mm256_store_pd(&next[0][4 * q], nx);
      _mm256_store_pd(&next[1][4 * q], ny);
      // Back to lanes: b into v.
      const __m256d blo = _mm256_unpacklo_pd(drift[0], drift[1]), bhi = _mm256_unpackhi_pd(drift[0], drift[1]);
      _mm_storeu_pd(&v[std::size_t(4 * q)][0], _mm256_castpd256_pd128(blo));
      _mm_storeu_pd(&v[std::size_t(4 * q + 1)][0], _mm256_castpd256_pd128(bhi));
      _mm_storeu_pd(&v[std::size_t(4 * q + 2)][0], _mm256_extractf128_pd(blo, 1));
      _mm_storeu_pd(&v[std::size_t(4 * q + 3)][0], _mm256_extractf128_pd(bhi, 1));
    }
    return inside;
  }

  // x <- next in the lanes whose bit in `moved` is set.
  [[gnu::target("avx2")]] static void commit_avx2(Lanes& x, const Lanes& next, int moved) {
    for (int q = 0; q < kLanes / 4; ++q) {
      const int m = (moved >> (4 * q)) & 0xf;
      const __m256i bits = _mm256_and_si256(_mm256_set1_epi64x(m), _mm256_setr_epi64x(1, 2, 4, 8));
      const __m256d take = _mm256_castsi256_pd(_mm256_cmpeq_epi64(bits, _mm256_setr_epi64x(1, 2, 4, 8)));
      for (int k = 0; k < 2; ++k)
        _mm256_store_pd(&x[k][4 * q], _mm256_blendv_pd(_mm256_load_pd(&x[k][4 * q]),
                                                        _mm256_load_pd(&next[k][4 * q]), take));
    }
  }
#endif

  // Step the batch's paths from n0 to n1. At each step: b and L at every
  // running path's state first (independent chains of loads, which the
  // processor overlaps when they come one after another; in 2D with a
  // constant L, with AVX2 and three quarters of the lanes running, b and the
  // proposed steps for all lanes four to a vector), then, lane by
  // lane, check(l, x, v, step) (v: b and L at x), which returns Running to
  // go on or why the path stops at `step`; the step itself, which stops the
  // path at step + 1 with `left` if it leaves the grid's box; and after(l,
  // x) at the new state. Paths that run to n1 end with step = n1 and why =
  // Running.
  template <class Check, class After>
  void run(const Batch& b, Index n0, Index n1, PathStop left, const std::atomic<bool>& stop, Check&& check,
           After&& after) const {
    // The states live here while the batch runs: written back to b.x they
    // could share cache lines with another thread's batch.
    std::array<Vec<D>, kLanes> x;
    std::array<std::array<double, kSdeValues<D>>, kLanes> v;
    Noise noise(*this, b, n0);
    std::array<int, kLanes> lane;  // the running lanes are lane[0, active)
    for (int l = 0; l < kLanes; ++l) {
      x[std::size_t(l)] = b.x[l < b.lanes ? l : 0];  // lanes without a path: any point in the box
      sde_.at(x[std::size_t(l)], v[std::size_t(l)].data());
    }
    for (int l = 0; l < b.lanes; ++l) {
      b.why[l] = PathStop::Running;
      b.step[l] = n1;
      lane[std::size_t(l)] = l;
    }
    // In two dimensions with a constant L, while three quarters of the lanes
    // or more run, all lanes step four to a vector (propose_avx2), and the
    // stopped ones' steps are ignored.
    bool vector = false;
#ifdef HJQP_X86_DISPATCH
    alignas(32) double lanes_x[2][kLanes], lanes_next[2][kLanes];
    if constexpr (D == 2) {
      vector = sde_.constant_sigma() && cpu_has_avx2();
      for (int l = 0; l < kLanes; ++l)
        for (int k = 0; k < 2; ++k) lanes_x[k][l] = x[std::size_t(l)][k];
    }
#endif
    int active = b.lanes;
    for (Index step = n0; step < n1 && active > 0; ++step) {
      if (((step - n0) & (kStopCheck - 1)) == 0 && stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < active; ++i) b.why[lane[std::size_t(i)]] = PathStop::Stopped;
        break;
      }
      noise.begin_step(lane.data(), active);
      const double* z = noise.z();
      int inside = -1;  // with the vector step: bit l set if lane l's next point lies in the box
#ifdef HJQP_X86_DISPATCH
      if constexpr (D == 2)
        if (vector && 4 * active >= 3 * kLanes) inside = propose_avx2(lanes_x, v, z, lanes_next);
#endif
      if (inside < 0)
        for (int i = 0; i < active; ++i) {
          const std::size_t l = std::size_t(lane[std::size_t(i)]);
          sde_.at(x[l], v[l].data());
        }
      int running = 0, moved_lanes = 0;
      for (int i = 0; i < active; ++i) {
        const int l = lane[std::size_t(i)];
        Vec<D>& xl = x[std::size_t(l)];
        const double* vl = v[std::size_t(l)].data();
        Index at = step;
        PathStop why = check(l, static_cast<const Vec<D>&>(xl), vl, step);
        if (why == PathStop::Running) {
          at = step + 1;
          bool moved = false;
          if (inside >= 0) {
#ifdef HJQP_X86_DISPATCH
            moved = (inside >> l) & 1;
            if (moved)
              for (int k = 0; k < D; ++k) xl[k] = lanes_next[k][l];
            moved_lanes |= int(moved) << l;
#endif
          } else {
            moved = advance(xl, vl, z + l, kLanes);
          }
          if (moved)
            after(l, static_cast<const Vec<D>&>(xl));
          else
            why = left;
        }
        if (why == PathStop::Running) {
          lane[std::size_t(running++)] = l;
        } else {
          b.why[l] = why;
          b.step[l] = at;
        }
      }
#ifdef HJQP_X86_DISPATCH
      if constexpr (D == 2)
        if (inside >= 0) commit_avx2(lanes_x, lanes_next, moved_lanes);
#endif
      noise.end_step();
      active = running;
    }
    for (int l = 0; l < b.lanes; ++l) b.x[l] = x[std::size_t(l)];
  }

  const SampledSDE<D>& sde_;
  double dt_;
  double noise_;
  std::uint64_t seed_;
};

// The paths of a run: their states, ids, and where and why each stopped.
// The kernel runs them in batches of EulerMaruyama::kLanes (batch b holds
// paths [b * kLanes, ...)), the batches in parallel.
template <int D>
class PathSet {
 public:
  using EM = EulerMaruyama<D>;
  static constexpr int kLanes = EM::kLanes;

  // Start points (inside the SDE's box) and non-negative path ids (one each).
  PathSet(const SampledSDE<D>& sde, std::vector<Vec<D>> start, const std::int64_t* ids)
      : x_(std::move(start)), id_(ids), step_(x_.size(), 0), why_(x_.size(), PathStop::Running) {
    for (std::size_t i = 0; i < x_.size(); ++i) {
      if (!sde.grid().inside(x_[i]))
        throw std::invalid_argument("start point " + std::to_string(i) + " lies outside the grid's box");
      if (ids[i] < 0) throw std::invalid_argument("path ids must be non-negative");
    }
  }

  Index size() const { return Index(x_.size()); }
  Index batches() const { return (size() + kLanes - 1) / kLanes; }
  Index first(Index batch) const { return batch * kLanes; }
  // Worker threads for `threads` asked: no more than there are batches.
  int workers(int threads) const { return int(std::max<Index>(1, std::min<Index>(threads, batches()))); }
  typename EM::Batch batch(Index b) {
    const std::size_t i = std::size_t(first(b));
    return {id_ + i, &x_[i], int(std::min<Index>(kLanes, size() - Index(i))), &step_[i], &why_[i]};
  }

  // f(batch index, batch, worker, stop) for every batch on `threads`
  // threads; true if interrupted.
  template <class F>
  bool run(int threads, const F& f, const std::function<bool()>& interrupted) {
    return parallel_for(
        batches(), threads, 1,
        [&](Index b, int worker, const std::atomic<bool>& stop) { f(b, batch(b), worker, stop); }, interrupted);
  }

  const std::vector<Vec<D>>& states() const { return x_; }
  const std::vector<Index>& steps() const { return step_; }
  const std::vector<PathStop>& stops() const { return why_; }

 private:
  std::vector<Vec<D>> x_;
  const std::int64_t* id_;
  std::vector<Index> step_;
  std::vector<PathStop> why_;
};

inline void check_steps(Index n0, Index n1) {
  if (n0 < 0 || n1 < n0)
    throw std::invalid_argument("steps must satisfy 0 <= n0 <= n1, got " + std::to_string(n0) + ", " +
                                std::to_string(n1));
}

// Steps [n0, n1) of every path, the states at n0, n0 + thin, ... stored
// into samples (path-major: size() * ceil((n1 - n0) / thin) * D values).
// True if interrupted.
template <int D>
bool store_paths(const EulerMaruyama<D>& em, PathSet<D>& paths, Index n0, Index n1, Index thin,
                 double* samples, int threads, const std::function<bool()>& interrupted = {}) {
  check_steps(n0, n1);
  if (thin < 1) throw std::invalid_argument("thin must be >= 1");
  const Index m = (n1 - n0 + thin - 1) / thin;
  return paths.run(
      threads,
      [&](Index b, const auto& batch, int, const std::atomic<bool>& stop) {
        double* out[PathSet<D>::kLanes];
        for (int l = 0; l < batch.lanes; ++l) out[l] = samples + (paths.first(b) + l) * m * D;
        em.store(batch, n0, n1, thin, out, stop);
      },
      interrupted);
}

// Steps [n0, n1) of every path until it exits the domain (see
// EulerMaruyama::exit), and each path's last state projected onto the
// domain's boundary into boundary (size() * D). True if interrupted.
template <int D>
bool exit_paths(const EulerMaruyama<D>& em, PathSet<D>& paths, Index n0, Index n1, const Domain<D>& domain,
                double shift, double* boundary, int threads, const std::function<bool()>& interrupted = {}) {
  check_steps(n0, n1);
  if (!(shift >= 0.0) || !std::isfinite(shift)) throw std::invalid_argument("shift must be >= 0");
  const bool stopped = paths.run(
      threads,
      [&](Index, const auto& batch, int, const std::atomic<bool>& stop) { em.exit(batch, n0, n1, domain, shift, stop); },
      interrupted);
  for (Index i = 0; i < paths.size(); ++i) {
    const Vec<D> p = domain.project(paths.states()[std::size_t(i)]);
    for (int k = 0; k < D; ++k) boundary[i * D + k] = p[k];
  }
  return stopped;
}

// What a long run counts, per path and in all: milestone steps
// (size() x (k + 1)), transitions (size() x k x k), steps per basin label
// (size() x (n_labels + 1), with labels), and visits per nearest node
// (grid.size(), with a histogram). The arrays are added to.
struct Tallies {
  std::int64_t* milestones;
  std::int64_t* transitions;
  std::int64_t* labels = nullptr;
  std::int64_t* histogram = nullptr;
};

// Steps [n0, n1) of a long run tallied against the core sets (see
// EulerMaruyama::tally); core[i] is the last core path i visited (-1 if
// none), carried between calls; labels: a basin label in [-1, n_labels)
// per node of the SDE's grid, or nullptr. True if interrupted.
template <int D>
bool tally_paths(const EulerMaruyama<D>& em, PathSet<D>& paths, int* core, Index n0, Index n1,
                 const Cores<D>& cores, const std::int32_t* labels, int n_labels, const Tallies& out,
                 int threads, const std::function<bool()>& interrupted = {}) {
  check_steps(n0, n1);
  const Grid<D>& grid = em.sde().grid();
  const int k = int(cores.centers.size());
  if (cores.radii.size() != cores.centers.size()) throw std::invalid_argument("one core radius per centre is needed");
  for (double r : cores.radii)
    if (!(r > 0.0)) throw std::invalid_argument("core radii must be positive");
  for (Index i = 0; i < paths.size(); ++i)
    if (core[i] < -1 || core[i] >= k) throw std::invalid_argument("core indices must lie in [-1, k)");
  if (labels) {
    if (n_labels < 0) throw std::invalid_argument("n_labels must be >= 0");
    for (Index i = 0; i < grid.size(); ++i)
      if (labels[i] < -1 || labels[i] >= n_labels)
        throw std::invalid_argument("labels must lie in [-1, n_labels) at " + describe_node(grid, i));
  }
  const int L = labels ? n_labels : 0;
  std::vector<Counts> counts(std::size_t(paths.size()));
  for (Index i = 0; i < paths.size(); ++i)
    counts[std::size_t(i)] = {out.milestones + i * (k + 1), out.transitions + i * k * k,
                              labels ? out.labels + i * (L + 1) : nullptr};
  // One histogram per worker, added up at the end.
  const int workers = paths.workers(threads);
  std::vector<std::vector<std::int64_t>> histograms(std::size_t(out.histogram ? workers : 0),
                                                    std::vector<std::int64_t>(std::size_t(grid.size()), 0));
  const bool stopped = paths.run(
      workers,
      [&](Index b, const auto& batch, int worker, const std::atomic<bool>& stop) {
        const std::size_t i = std::size_t(paths.first(b));
        em.tally(batch, &core[i], n0, n1, cores, labels, L, &counts[i],
                 out.histogram ? histograms[std::size_t(worker)].data() : nullptr, stop);
      },
      interrupted);
  for (const auto& part : histograms)
    for (Index j = 0; j < grid.size(); ++j) out.histogram[j] += part[std::size_t(j)];
  return stopped;
}

}  // namespace hjqp

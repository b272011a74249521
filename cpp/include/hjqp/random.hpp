// Random numbers for Monte Carlo: the xoshiro256++ generator (Blackman and
// Vigna), seeded through SplitMix64, and standard normal and exponential
// variates by the ziggurat method (Marsaglia and Tsang, J. Stat. Softw. 5,
// 2000) with 256 layers.
//
// Streams are keyed: a stream is a function of (seed, key1, key2) only, so a
// path's numbers do not depend on which thread or which call produced them.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HJQP_X86_DISPATCH 1
#endif

namespace hjqp {

// Can this processor run the AVX2 paths (checked once)? Builds assume only
// x86-64; code compiled for AVX2 runs only where this holds.
inline bool cpu_has_avx2() {
#ifdef HJQP_X86_DISPATCH
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
#else
  return false;
#endif
}

}  // namespace hjqp

namespace hjqp {

// The SplitMix64 output function: a bijective 64-bit mixer.
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Xoshiro256pp {
 public:
  // The stream keyed by (seed, key1, key2).
  Xoshiro256pp(std::uint64_t seed, std::uint64_t key1, std::uint64_t key2) {
    std::uint64_t h = mix64(seed + 0x9e3779b97f4a7c15ULL);
    h = mix64(h ^ mix64(key1 + 0x632be59bd9b4e019ULL));
    h = mix64(h ^ mix64(key2 + 0x8cb92ba72f3d8dd7ULL));
    // SplitMix64 steps from h fill the state; it cannot be all zero.
    for (std::uint64_t& s : s_) {
      h += 0x9e3779b97f4a7c15ULL;
      s = mix64(h);
    }
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[0] + s_[3], 23) + s_[0];
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // The state, and the generator that continues from a state (as the
  // lanes of NormalLanes hold it).
  const std::array<std::uint64_t, 4>& state() const { return s_; }
  static Xoshiro256pp from_state(const std::array<std::uint64_t, 4>& s) {
    Xoshiro256pp g;
    g.s_ = s;
    return g;
  }

  // Uniform on (0, 1]: never 0, so that its logarithm is finite.
  double uniform_open0() { return (double(next() >> 11) + 1.0) * 0x1.0p-53; }

 private:
  Xoshiro256pp() = default;
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> s_{};
};

// Standard normal variates by the ziggurat: 256 layers of equal area v under
// f(x) = exp(-x^2 / 2) (unnormalised), the base layer holding the tail beyond
// r. Layer i covers [0, x_i] x [f(x_i), f(x_{i+1})], x_1 = r, x_256 = 0, and
// x_0 = v / f(r) is the width of a rectangle of the base layer's area.
class Ziggurat {
 public:
  static constexpr int kLayers = 256;
  static constexpr double kR = 3.6541528853610088;
  static constexpr double kV = 4.92867323399e-3;

  static const Ziggurat& tables() {
    static const Ziggurat z;  // thread-safe initialisation
    return z;
  }

  template <class Rng>
  double operator()(Rng& rng) const {
    return from_bits(rng, rng.next());
  }

  // The draw whose first output of the generator was `bits` (rng then
  // supplies any further ones).
  template <class Rng>
  double from_bits(Rng& rng, std::uint64_t bits) const {
    const int layer = int(bits & 0xff);
    // The top 53 bits as a signed number: u uniform on [-1, 1), with no
    // branch on the sign (a coin flip the processor cannot predict).
    const double u = double(std::int64_t(bits) >> 11) * 0x1.0p-52;
    const double x = u * x_[layer];
    if (std::fabs(x) < x_[layer + 1]) return x;  // inside the core rectangle (99 % of draws)
    const Drawn<Rng> drawn = rare(rng, layer, u, x);
    rng = drawn.rng;
    return drawn.value;
  }

 private:
  // The tail and the wedges, out of line: the generator's state then stays
  // in registers through the core rectangle's few instructions. (The state
  // goes in and comes back by value: a reference would pin the caller's
  // copy to memory.)
  template <class Rng>
  struct Drawn {
    double value;
    Rng rng;
  };

  template <class Rng>
  [[gnu::noinline]] Drawn<Rng> rare(Rng rng, int layer, double u, double x) const {
    const double value = rare_from(rng, layer, u, x);
    return {value, rng};
  }

  template <class Rng>
  double rare_from(Rng& rng, int layer, double u, double x) const {
    for (;;) {
      if (layer == 0) {
        // The tail beyond r (Marsaglia 1964).
        double t, y;
        do {
          t = -std::log(rng.uniform_open0()) / kR;
          y = -std::log(rng.uniform_open0());
        } while (2.0 * y < t * t);
        return u < 0.0 ? -(kR + t) : kR + t;
      }
      // The wedge between the rectangle and the curve.
      const double height = f_[layer] + rng.uniform_open0() * (f_[layer + 1] - f_[layer]);
      if (height < std::exp(-0.5 * x * x)) return x;
      // Rejected: a fresh draw, as at the start.
      const std::uint64_t bits = rng.next();
      layer = int(bits & 0xff);
      u = double(std::int64_t(bits) >> 11) * 0x1.0p-52;
      x = u * x_[layer];
      if (std::fabs(x) < x_[layer + 1]) return x;
    }
  }

  Ziggurat() {
    x_[0] = kV / std::exp(-0.5 * kR * kR);
    x_[1] = kR;
    for (int i = 1; i < kLayers - 1; ++i) {
      const double fi = std::exp(-0.5 * x_[i] * x_[i]);
      const double next = fi + kV / x_[i];
      x_[i + 1] = next < 1.0 ? std::sqrt(-2.0 * std::log(next)) : 0.0;
    }
    x_[kLayers] = 0.0;
    for (int i = 0; i <= kLayers; ++i) f_[i] = std::exp(-0.5 * x_[i] * x_[i]);
    f_[0] = 0.0;  // the base layer spans heights [0, f(r)]
  }

  std::array<double, kLayers + 1> x_{};
  std::array<double, kLayers + 1> f_{};

  friend class NormalLanes;
};

// Standard normals from kLanes keyed streams at once: draw(out, rows) puts
// the next `rows` normals of stream l at out[r * kLanes + l], the very
// numbers, in the same order, that Ziggurat gives on Xoshiro256pp stream by
// stream. Where the processor has AVX2 (checked at run time; the build
// itself assumes only x86-64), four streams' generators and the ziggurat's
// core rectangle run in each vector register; the rare tail and wedge draws
// (under 1 % of them) finish stream by stream.
class NormalLanes {
 public:
  static constexpr int kLanes = 8;

  // Lanes not keyed give zeros.
  NormalLanes() : z_(Ziggurat::tables()) {}

  void key(int lane, std::uint64_t seed, std::uint64_t key1, std::uint64_t key2) {
    const Xoshiro256pp g(seed, key1, key2);
    for (int w = 0; w < 4; ++w) s_[w][lane] = g.state()[std::size_t(w)];
  }

  void draw(double* out, int rows) {
#ifdef HJQP_X86_DISPATCH
    if (cpu_has_avx2()) return draw_avx2(out, rows);
#endif
    draw_scalar(out, rows);
  }

  // The portable path.
  void draw_scalar(double* out, int rows) {
    for (int l = 0; l < kLanes; ++l) draw_lane(l, out, rows);
  }

  // Stream l alone (the others keep their place): out[r * kLanes + l].
  void draw_lane(int l, double* out, int rows) {
    Xoshiro256pp g = lane(l);
    for (int r = 0; r < rows; ++r) out[r * kLanes + l] = z_(g);
    set_lane(l, g);
  }

 private:
  Xoshiro256pp lane(int l) const { return Xoshiro256pp::from_state({s_[0][l], s_[1][l], s_[2][l], s_[3][l]}); }
  void set_lane(int l, const Xoshiro256pp& g) {
    for (int w = 0; w < 4; ++w) s_[w][l] = g.state()[std::size_t(w)];
  }

#ifdef HJQP_X86_DISPATCH
  template <int K>
  [[gnu::target("avx2"), gnu::always_inline]] static inline __m256i rotl(__m256i x) {
    return _mm256_or_si256(_mm256_slli_epi64(x, K), _mm256_srli_epi64(x, 64 - K));
  }

  // Four streams' states in vector registers.
  struct Quad {
    __m256i s0, s1, s2, s3;
  };

  [[gnu::target("avx2")]] void draw_avx2(double* out, int rows) {
    static_assert(kLanes == 8, "two vectors of four streams");
    Quad a, b;
    load_avx2(0, a);
    load_avx2(1, b);
    const double* widths = z_.x_.data();  // (a local: stores to out could alias a member)
    for (int r = 0; r < rows; ++r) {
      double* row = out + r * kLanes;
      step_avx2(a, widths, row);
      step_avx2(b, widths, row + 4);
    }
    store_avx2(0, a);
    store_avx2(1, b);
  }

  // Lanes [4 h, 4 h + 4) to and from q.
  [[gnu::target("avx2"), gnu::always_inline]] inline void load_avx2(int h, Quad& q) const {
    q.s0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(&s_[0][4 * h]));
    q.s1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(&s_[1][4 * h]));
    q.s2 = _mm256_load_si256(reinterpret_cast<const __m256i*>(&s_[2][4 * h]));
    q.s3 = _mm256_load_si256(reinterpret_cast<const __m256i*>(&s_[3][4 * h]));
  }
  [[gnu::target("avx2"), gnu::always_inline]] inline void store_avx2(int h, const Quad& q) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(&s_[0][4 * h]), q.s0);
    _mm256_store_si256(reinterpret_cast<__m256i*>(&s_[1][4 * h]), q.s1);
    _mm256_store_si256(reinterpret_cast<__m256i*>(&s_[2][4 * h]), q.s2);
    _mm256_store_si256(reinterpret_cast<__m256i*>(&s_[3][4 * h]), q.s3);
  }

  // The next normal of four streams into out[0, 4).
  [[gnu::target("avx2"), gnu::always_inline]] inline void step_avx2(Quad& q, const double* widths,
                                                                      double* out) const {
    // xoshiro256++.
    const __m256i bits = _mm256_add_epi64(rotl<23>(_mm256_add_epi64(q.s0, q.s3)), q.s0);
    const __m256i t = _mm256_slli_epi64(q.s1, 17);
    q.s2 = _mm256_xor_si256(q.s2, q.s0);
    q.s3 = _mm256_xor_si256(q.s3, q.s1);
    q.s1 = _mm256_xor_si256(q.s1, q.s2);
    q.s0 = _mm256_xor_si256(q.s0, q.s3);
    q.s2 = _mm256_xor_si256(q.s2, t);
    q.s3 = rotl<45>(q.s3);
    // u = (bits as int64 >> 11) 2^-52, exactly: with w = bits >> 11 (53
    // bits), its low 52 bits under the exponent of 2^52 read 2^52 + those
    // bits, less 2^52, or 2^53 where w's top bit (the sign) is set.
    const __m256i low52 = _mm256_set1_epi64x(0x000fffffffffffffLL);
    const __m256i exponent = _mm256_set1_epi64x(0x4330000000000000LL);  // the bits of 2^52
    const __m256i w = _mm256_srli_epi64(bits, 11);
    const __m256d biased = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(w, low52), exponent));
    const __m256d offset = _mm256_castsi256_pd(_mm256_add_epi64(_mm256_andnot_si256(low52, w), exponent));
    const __m256d u = _mm256_mul_pd(_mm256_sub_pd(biased, offset), _mm256_set1_pd(0x1.0p-52));
    const __m256i layer = _mm256_and_si256(bits, _mm256_set1_epi64x(0xff));
    const __m256d x = _mm256_mul_pd(u, _mm256_i64gather_pd(widths, layer, 8));
    const __m256d magnitude = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
    const __m256d inner = _mm256_i64gather_pd(widths + 1, layer, 8);
    const int core = _mm256_movemask_pd(_mm256_cmp_pd(_mm256_and_pd(x, magnitude), inner, _CMP_LT_OQ));
    _mm256_storeu_pd(out, x);
    if (__builtin_expect(core != 0xf, 0)) {
      // The tail or a wedge: those streams finish the draw one by one.
      alignas(32) std::uint64_t state[4][4], drawn[4];
      _mm256_store_si256(reinterpret_cast<__m256i*>(state[0]), q.s0);
      _mm256_store_si256(reinterpret_cast<__m256i*>(state[1]), q.s1);
      _mm256_store_si256(reinterpret_cast<__m256i*>(state[2]), q.s2);
      _mm256_store_si256(reinterpret_cast<__m256i*>(state[3]), q.s3);
      _mm256_store_si256(reinterpret_cast<__m256i*>(drawn), bits);
      finish(state, drawn, core, out);
      q.s0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(state[0]));
      q.s1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(state[1]));
      q.s2 = _mm256_load_si256(reinterpret_cast<const __m256i*>(state[2]));
      q.s3 = _mm256_load_si256(reinterpret_cast<const __m256i*>(state[3]));
    }
  }

  // The draws of the four streams whose bit in `core` is clear, begun with
  // drawn[l] and finished with their generators (state[w][l]).
  [[gnu::noinline]] void finish(std::uint64_t (&state)[4][4], const std::uint64_t (&drawn)[4], int core,
                                double* out) const {
    for (int l = 0; l < 4; ++l)
      if (!(core & (1 << l))) {
        Xoshiro256pp g = Xoshiro256pp::from_state({state[0][l], state[1][l], state[2][l], state[3][l]});
        out[l] = z_.from_bits(g, drawn[l]);
        for (int w = 0; w < 4; ++w) state[w][l] = g.state()[std::size_t(w)];
      }
  }
#endif

  const Ziggurat& z_;
  alignas(64) std::uint64_t s_[4][kLanes] = {};  // word w of lane l's state at s_[w][l]
};

// Standard exponential variates by the ziggurat: 256 layers of equal area v
// under f(x) = exp(-x), the base layer holding the tail beyond r, which is
// r plus an exponential variate again (the law has no memory). About three
// times as fast as -log(u).
class ExponentialZiggurat {
 public:
  static constexpr int kLayers = 256;
  static constexpr double kR = 7.69711747013104972;
  static constexpr double kV = 3.949659822581572e-3;

  static const ExponentialZiggurat& tables() {
    static const ExponentialZiggurat z;  // thread-safe initialisation
    return z;
  }

  template <class Rng>
  double operator()(Rng& rng) const {
    double shift = 0.0;
    for (;;) {
      const std::uint64_t bits = rng.next();
      const int layer = int(bits & 0xff);
      const double x = double(bits >> 11) * 0x1.0p-53 * x_[layer];
      if (x < x_[layer + 1]) return shift + x;  // inside the core rectangle
      if (layer == 0) {
        shift += kR;  // the tail: r + Exp(1)
        continue;
      }
      const double height = f_[layer] + rng.uniform_open0() * (f_[layer + 1] - f_[layer]);
      if (height < std::exp(-x)) return shift + x;
    }
  }

 private:
  ExponentialZiggurat() {
    x_[0] = kV / std::exp(-kR);
    x_[1] = kR;
    for (int i = 1; i < kLayers - 1; ++i) {
      const double next = std::exp(-x_[i]) + kV / x_[i];
      x_[i + 1] = next < 1.0 ? -std::log(next) : 0.0;
    }
    x_[kLayers] = 0.0;
    for (int i = 0; i <= kLayers; ++i) f_[i] = std::exp(-x_[i]);
    f_[0] = 0.0;  // the base layer spans heights [0, f(r)]
  }

  std::array<double, kLayers + 1> x_{};
  std::array<double, kLayers + 1> f_{};
};

}  // namespace hjqp

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

  // Uniform on (0, 1]: never 0, so that its logarithm is finite.
  double uniform_open0() { return (double(next() >> 11) + 1.0) * 0x1.0p-53; }

 private:
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
    const std::uint64_t bits = rng.next();
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

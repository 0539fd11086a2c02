// McIlroy's power series as goroutine pipelines (Go's test/chan/powser1.go,
// simplified to finite series of doubles): a series is a channel of its
// coefficients, and every operator is a goroutine reading its inputs and
// writing its output. Multiplication recurses, splitting each input stream
// in two, so a product of n terms runs O(n) goroutines at once, most of them
// parked on channels at any moment.
#include <cmath>
#include <utility>

#include "sched_fixture.hpp"
#include "skein/chan.hpp"

namespace skein {
namespace {

using Series = Chan<double>;
using PowserTest = testing::SchedTest;

// Every channel can hold a whole series, so a producer never waits for a
// consumer that is itself waiting for a sibling stream: no pipeline deadlock.
constexpr int kTerms = 24;

Series make_series() { return Series(kTerms + 1); }

// 1 + x + x^2 + ... (1/(1-x)), n terms.
Series ones(int n) {
  Series out = make_series();
  go([out, n] {
    for (int i = 0; i < n; ++i) {
      out.send(1.0);
    }
    out.close();
  });
  return out;
}

std::pair<Series, Series> split(Series in) {
  Series a = make_series();
  Series b = make_series();
  go([in, a, b] {
    for (double v : in) {
      a.send(v);
      b.send(v);
    }
    a.close();
    b.close();
  });
  return {a, b};
}

Series scale(double c, Series in) {
  Series out = make_series();
  go([c, in, out] {
    for (double v : in) {
      out.send(c * v);
    }
    out.close();
  });
  return out;
}

// Sum of two series; the shorter one is padded with zeros.
Series add(Series a, Series b) {
  Series out = make_series();
  go([a, b, out] {
    for (;;) {
      std::optional<double> x = a.recv();
      std::optional<double> y = b.recv();
      if (!x && !y) {
        break;
      }
      out.send(x.value_or(0.0) + y.value_or(0.0));
    }
    out.close();
  });
  return out;
}

// x * S: shifts the coefficients up by one.
Series shift(Series in) {
  Series out = make_series();
  go([in, out] {
    out.send(0.0);
    for (double v : in) {
      out.send(v);
    }
    out.close();
  });
  return out;
}

// First n terms of F*G, with F = f0 + x F1 and G = g0 + x G1:
// F*G = f0 g0 + x (f0 G1 + g0 F1 + x F1 G1).
Series mul(Series f, Series g, int n) {
  Series out = make_series();
  go([f, g, n, out] {
    if (n <= 0) {
      out.close();
      return;
    }
    const double f0 = f.recv().value_or(0.0);
    const double g0 = g.recv().value_or(0.0);
    out.send(f0 * g0);
    if (n > 1) {
      auto [f1a, f1b] = split(f);
      auto [g1a, g1b] = split(g);
      Series rest = add(add(scale(f0, g1a), scale(g0, f1a)), shift(mul(f1b, g1b, n - 2)));
      for (int i = 1; i < n; ++i) {
        out.send(rest.recv().value_or(0.0));
      }
      for (double ignored : rest) {  // drain so every stage can finish
        (void)ignored;
      }
    } else {
      for (double ignored : f) {
        (void)ignored;
      }
      for (double ignored : g) {
        (void)ignored;
      }
    }
    out.close();
  });
  return out;
}

TEST_P(PowserTest, SquareOfGeometricSeries) {
  // (1/(1-x))^2 = sum (k+1) x^k.
  std::vector<double> coeffs;
  run([&] {
    Series p = mul(ones(kTerms), ones(kTerms), kTerms);
    for (double v : p) {
      coeffs.push_back(v);
    }
  });
  ASSERT_EQ(coeffs.size(), static_cast<std::size_t>(kTerms));
  for (int k = 0; k < kTerms; ++k) {
    EXPECT_DOUBLE_EQ(coeffs[k], k + 1.0) << "coefficient of x^" << k;
  }
}

TEST_P(PowserTest, CubeOfGeometricSeries) {
  // (1/(1-x))^3 = sum C(k+2, 2) x^k.
  std::vector<double> coeffs;
  run([&] {
    Series sq = mul(ones(kTerms), ones(kTerms), kTerms);
    Series cube = mul(sq, ones(kTerms), kTerms);
    for (double v : cube) {
      coeffs.push_back(v);
    }
  });
  ASSERT_EQ(coeffs.size(), static_cast<std::size_t>(kTerms));
  for (int k = 0; k < kTerms; ++k) {
    EXPECT_DOUBLE_EQ(coeffs[k], (k + 2.0) * (k + 1.0) / 2.0) << "coefficient of x^" << k;
  }
}

SKEIN_INSTANTIATE_PROCS(PowserTest);

}  // namespace
}  // namespace skein

/* glibc's i386 libm runs on the x87 (fsin, fpatan, fyl2x, f2xm1, fscale, fprem, ...).
 * vmkit computes the transcendental instructions correctly rounded to 64 bits (see
 * docs/x86.md), so every result is printed with all 17 significant digits and must match
 * the CPU byte for byte. */
#include <math.h>
#include <stdio.h>

static volatile double xs[] = {0.5,   1.0,  2.0,    3.14159, -0.75,  10.0,   100.5,
                               1e-5,  7.25, -3.0,   1.4,     2.5,    0.1,    0.9999,
                               1e-10, 33.3, -17.75, 1e5,     0.3183, 1.0001, 123456.789};

int main(void) {
    int n = sizeof xs / sizeof xs[0];
    for (int i = 0; i < n; i++) {
        double x = xs[i];
        printf("x=%.17g sin %.17g cos %.17g tan %.17g atan %.17g atan2 %.17g %.17g\n", x,
               sin(x), cos(x), tan(x), atan(x), atan2(x, 1.5), atan2(1.0, x));
        printf("  exp %.17g expm1 %.17g exp2 %.17g exp10 %.17g pow %.17g %.17g cbrt %.17g\n",
               exp(x / 4), expm1(x / 4), exp2(x / 4), pow(10.0, x / 10), pow(fabs(x), 1.7),
               pow(2.5, x / 8), cbrt(x));
        if (x > 0)
            printf("  log %.17g log2 %.17g log10 %.17g log1p %.17g\n", log(x), log2(x),
                   log10(x), log1p(x));
        printf("  asin %.17g acos %.17g sinh %.17g cosh %.17g tanh %.17g\n", asin(x / 200000),
               acos(x / 200000), sinh(x / 10), cosh(x / 10), tanh(x));
        printf("  exact: sqrt %a fmod %a pow2 %a pow3 %a hypot(3x,4x) %a\n", sqrt(fabs(x)),
               fmod(x, 0.3), pow(x, 2.0), pow(x, 3.0), hypot(3 * x, 4 * x));
    }
    volatile long double l = 0.7L;
    printf("long double: sinl %.21Lg expl %.21Lg logl %.21Lg powl %.21Lg atan2l %.21Lg\n",
           sinl(l), expl(l), logl(l), powl(l, 2.5L), atan2l(l, -1.0L));
    printf("sqrtl %La fmodl %La\n", sqrtl(l), fmodl(1000.0L, l));
    printf("special: %g %g %g %g %g %g\n", log(0.0), log(-1.0), exp(1000.0), exp(-1000.0),
           pow(-8.0, 1.0 / 3.0), atan2(0.0, -0.0));
    double sum = 0;
    for (int i = 1; i <= 1000; i++)
        sum += sin(i * 0.01) * exp(-i * 0.001) + log(i * 0.37) * atan(i * 0.02);
    printf("sum %.17g\n", sum);
    return 0;
}

/* glibc's i386 libm runs on the x87 (fsin, fpatan, fyl2x, f2xm1, fscale, fprem, ...).
 * vmkit computes the transcendental instructions through f64 (see docs/x86.md), accurate to
 * about 2^-53 where the CPU is accurate to about 2^-64, so those results are printed with 12
 * significant digits, which both round the same way for these inputs; the exact ones (sqrt,
 * fmod, hypot's inputs, pow with small integer exponents, integer rounding) print every
 * digit. */
#include <math.h>
#include <stdio.h>

static volatile double xs[] = {0.5, 1.0, 2.0, 3.14159, -0.75, 10.0, 100.5, 1e-5, 7.25, -3.0};

int main(void) {
    int n = sizeof xs / sizeof xs[0];
    for (int i = 0; i < n; i++) {
        double x = xs[i];
        printf("x=%g sin %.12g cos %.12g tan %.12g atan %.12g atan2 %.12g\n", x, sin(x), cos(x),
               tan(x), atan(x), atan2(x, 1.5));
        printf("  exp %.12g expm1 %.12g exp2 %.12g exp10 %.12g pow %.12g cbrt %.12g\n", exp(x),
               expm1(x), exp2(x), pow(10.0, x), pow(fabs(x), 1.7), cbrt(x));
        if (x > 0)
            printf("  log %.12g log2 %.12g log10 %.12g log1p %.12g\n", log(x), log2(x),
                   log10(x), log1p(x));
        printf("  asin %.12g acos %.12g sinh %.12g tanh %.12g\n", asin(x / 200),
               acos(x / 200), sinh(x / 10), tanh(x));
        printf("  exact: sqrt %a fmod %a pow2 %a pow3 %a hypot(3x,4x) %a\n", sqrt(fabs(x)),
               fmod(x, 0.3), pow(x, 2.0), pow(x, 3.0), hypot(3 * x, 4 * x));
    }
    volatile long double l = 0.7L;
    printf("long double: sinl %.12Lg expl %.12Lg logl %.12Lg powl %.12Lg atan2l %.12Lg\n",
           sinl(l), expl(l), logl(l), powl(l, 2.5L), atan2l(l, -1.0L));
    printf("sqrtl %La fmodl %La\n", sqrtl(l), fmodl(1000.0L, l));
    printf("special: %g %g %g %g %g %g\n", log(0.0), log(-1.0), exp(1000.0), exp(-1000.0),
           pow(-8.0, 1.0 / 3.0), atan2(0.0, -0.0));
    double sum = 0;
    for (int i = 1; i <= 1000; i++)
        sum += sin(i * 0.01) * exp(-i * 0.001);
    printf("sum %.10g\n", sum);
    return 0;
}

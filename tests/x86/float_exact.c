/* x87 arithmetic whose results are exact, so every digit printed must match the real CPU:
 * printf of float, double and long double (%f %e %g %a %La), + - * / and sqrt in every
 * precision, the rounding modes (fesetround writes the control word), float <-> integer
 * conversions with overflow, fmod/remainder/frexp/ldexp/floor/ceil/round/rint/lrint,
 * comparisons with NaN, long double arithmetic that differs from double. gcc -m32 uses the
 * x87 for all of it. Inputs are volatile so -O2 cannot fold the arithmetic away. */
#include <fenv.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

static volatile double vd[] = {0.0, -0.0, 1.0, -1.5, 0.1, 1.0 / 3.0, 2.5, -2.5, 3.5, 1e300,
                               -1e-300, 4.9406564584124654e-324, 2.2250738585072014e-308,
                               1.7976931348623157e308, 123456789.987654321, 0.5, -0.49999999999999994};
static volatile float vf[] = {0.0f, 1.0f, -1.25f, 0.1f, 3.4028235e38f, 1.4e-45f, 16777217.0f};
static volatile long double vl[] = {1.0L, 0.1L, -2.0L / 3.0L, 1e4000L, 1e-4000L, 3.0L};

static void print_bits(const char *what, long double x) {
    unsigned char b[10];
    memcpy(b, &x, 10);
    printf("%s %02x%02x:%02x%02x%02x%02x%02x%02x%02x%02x\n", what, b[9], b[8], b[7], b[6], b[5],
           b[4], b[3], b[2], b[1], b[0]);
}

int main(void) {
    int n = sizeof vd / sizeof vd[0];
    for (int i = 0; i < n; i++) {
        double x = vd[i];
        printf("%d: %.17g %e %f %a\n", i, x, x, x > 1e20 || x < -1e20 ? 0.0 : x, x);
        printf("   sqrt %a  x*3 %a  x/7 %a  x+0.1 %a  -x %g  |x| %g\n", sqrt(fabs(x)), x * 3,
               x / 7, x + 0.1, -x, fabs(x));
        printf("   floor %g ceil %g round %g trunc %g rint %g nearbyint %g\n", floor(x), ceil(x),
               round(x), trunc(x), rint(x), nearbyint(x));
        int e;
        double m = frexp(x, &e);
        printf("   frexp %a %d ldexp %a fmod %a remainder %a\n", m, e, ldexp(x, -3),
               fmod(x, 0.75), remainder(x, 0.75));
    }
    for (int i = 0; i < (int)(sizeof vf / sizeof vf[0]); i++) {
        float f = vf[i];
        printf("f%d: %.9g %a sum %a prod %a quot %a sqrt %a\n", i, f, f, f + 0.3f, f * 1.1f,
               f / 3.0f, sqrtf(f));
    }
    for (int i = 0; i < (int)(sizeof vl / sizeof vl[0]); i++) {
        long double x = vl[i];
        printf("L%d: %.21Lg %La %.5Le\n", i, x, x, x * x);
        print_bits("   bits", x);
        print_bits("   x/3", x / 3);
        print_bits("   sqrt", sqrtl(fabsl(x)));
        print_bits("   x*x", x * x);
        print_bits("   1/x", 1 / x);
    }

    /* Extended precision intermediates differ from double arithmetic. */
    volatile long double a = 1.0L, tiny = LDBL_EPSILON;
    printf("1+eps-1 = %Lg, double: %g\n", (a + tiny) - a, (double)((double)(1.0 + 1e-17) - 1.0));
    printf("LDBL_MAX %La LDBL_MIN %La LDBL_TRUE_MIN %La\n", LDBL_MAX, LDBL_MIN,
           LDBL_TRUE_MIN);

    /* The rounding modes. */
    int modes[] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};
    const char *names[] = {"nearest", "down", "up", "zero"};
    for (int k = 0; k < 4; k++) {
        fesetround(modes[k]);
        volatile double one = 1.0, three = 3.0, m25 = -2.5;
        printf("%s: 1/3=%a -1/3=%a rint(-2.5)=%g lrint(2.5)=%ld llrint(-3.5)=%lld "
               "sqrt2=%a (long double)1/3 %La\n",
               names[k], one / three, -one / three, rint(m25), lrint(-m25), llrint(m25 - 1),
               sqrt(2 * one), (long double)one / (long double)three);
    }
    fesetround(FE_TONEAREST);

    /* Conversions to integers, with overflow (the x87 stores the integer indefinite). */
    volatile double big = 3e9, neg = -3e9, nan = NAN, inf = INFINITY, half = -0.5;
    printf("int: %d %d %d %d %d\n", (int)big, (int)neg, (int)nan, (int)inf, (int)half);
    printf("ll: %lld %lld %lld\n", (long long)big, (long long)1e19, (long long)-9.3e18);
    printf("short: %d %d\n", (short)(int)big, (short)(int)70000.7);
    printf("unsigned: %u %llu\n", (unsigned)big, (unsigned long long)1.5e19);
    volatile long long ll = 9007199254740993LL;
    volatile int im = INT_MIN;
    printf("to float: %a %a %a %La\n", (double)ll, (float)ll, (double)im, (long double)ll);

    /* Comparisons with NaN and signed zeros. */
    volatile double z = 0.0, nz = -0.0;
    printf("nan: %d %d %d %d %d %d isnan %d isinf %d signbit %d %d\n", nan == nan, nan != nan,
           nan < 1.0, nan >= 1.0, z == nz, 1.0 / nz < 0, isnan(nan), isinf(-inf),
           signbit(nz), signbit(nan));
    printf("fmax %g fmin %g copysign %g nextafter %a %a\n", fmax(nan, 2.0), fmin(-1.0, nan),
           copysign(3.0, nz), nextafter(1.0, 2.0), nextafterl(1.0L, 0.0L) == 1.0L ? 0.0 : 1.0);
    printf("inf-inf %f 0/0 %f 1/0 %f -1/0 %f\n", inf - inf, z / z, 1 / z, -1 / z);

    /* Exception flags through fenv (fnstsw / fnclex / fnstenv). */
    feclearexcept(FE_ALL_EXCEPT);
    volatile double r = 1.0 / vd[8];
    printf("inexact %d\n", fetestexcept(FE_INEXACT) != 0);
    feclearexcept(FE_ALL_EXCEPT);
    r = z / z;
    printf("invalid %d divbyzero %d\n", fetestexcept(FE_INVALID) != 0,
           fetestexcept(FE_DIVBYZERO) != 0);
    feclearexcept(FE_ALL_EXCEPT);
    r = 1 / z;
    printf("invalid %d divbyzero %d %g\n", fetestexcept(FE_INVALID) != 0,
           fetestexcept(FE_DIVBYZERO) != 0, r);
    return (int)vd[2] + 6;
}

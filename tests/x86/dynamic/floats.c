/* printf of floats and libm through the shared libc and libm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    volatile double x = 1.0 / 3.0;
    printf("%.17g %a %e %f\n", x, x, x * 1e300, x);
    printf("%.20Lg\n", (long double)x / 7);
    for (int i = 1; i <= 5; i++) {
        volatile double v = i * 0.7;
        printf("%d sin=%.17g exp=%.17g log=%.17g sqrt=%.17g pow=%.17g\n", i, sin(v), exp(v),
               log(v), sqrt(v), pow(v, 1.5));
    }
    printf("%s\n", strtod("2.5e-3", NULL) == 0.0025 ? "strtod ok" : "strtod bad");
    return 0;
}

/* `vmkit bench x86`: x87-heavy floating point, with a problem size SCALE (argv[1]):
   - 1000 * SCALE steps of the n-body simulation of five planets (double: built with -m32 and no -msse, gcc keeps
     doubles on the x87 stack; fsqrt, fdiv, fmul, fadd, fld/fstp of 64-bit values),
   - Simpson integration of exp(-x^2) (100 * SCALE intervals) and 1/(1+x^2) (1000 * SCALE)
     with long double (80-bit loads and
     stores), exp from its Taylor series,
   - Machin's formula for pi and a sum of sin and cos Taylor series at 100 * SCALE points, in
     long double.
   Only + - * / and sqrt are used (no libm, no fsin or f2xm1), which IEEE rounds exactly, so
   every correct x87 gives the same bits; printed with %.17g and %.21Lg, a wrong bit shows. */
#include <stdio.h>
#include <stdlib.h>

/* ---- n-body (double) ---- */

#define PI 3.141592653589793
#define SOLAR_MASS (4 * PI * PI)
#define DAYS_PER_YEAR 365.24

struct body {
    double x, y, z, vx, vy, vz, mass;
};

static const struct body initial[5] = {
    {0, 0, 0, 0, 0, 0, SOLAR_MASS},
    {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
     1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
     -6.90460016972063023e-05 * DAYS_PER_YEAR, 9.54791938424326609e-04 * SOLAR_MASS},
    {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
     -2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
     2.30417297573763929e-05 * DAYS_PER_YEAR, 2.85885980666130812e-04 * SOLAR_MASS},
    {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
     2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
     -2.96589568540237556e-05 * DAYS_PER_YEAR, 4.36624404335156298e-05 * SOLAR_MASS},
    {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
     2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
     -9.51592254519715870e-05 * DAYS_PER_YEAR, 5.15138902046611451e-05 * SOLAR_MASS},
};

/* fsqrt itself: libm's sqrt would need -lm and errno handling. */
static double root(double x)
{
    __asm__("fsqrt" : "+t"(x));
    return x;
}

static void advance(struct body *b, int n, double dt)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
            double d2 = dx * dx + dy * dy + dz * dz;
            double mag = dt / (d2 * root(d2));
            b[i].vx -= dx * b[j].mass * mag;
            b[i].vy -= dy * b[j].mass * mag;
            b[i].vz -= dz * b[j].mass * mag;
            b[j].vx += dx * b[i].mass * mag;
            b[j].vy += dy * b[i].mass * mag;
            b[j].vz += dz * b[i].mass * mag;
        }
    for (int i = 0; i < n; i++) {
        b[i].x += dt * b[i].vx;
        b[i].y += dt * b[i].vy;
        b[i].z += dt * b[i].vz;
    }
}

static double energy(const struct body *b, int n)
{
    double e = 0;
    for (int i = 0; i < n; i++) {
        e += 0.5 * b[i].mass * (b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz);
        for (int j = i + 1; j < n; j++) {
            double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
            e -= b[i].mass * b[j].mass / root(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

static double nbody(int steps)
{
    struct body b[5];
    for (int i = 0; i < 5; i++)
        b[i] = initial[i];
    double px = 0, py = 0, pz = 0;
    for (int i = 0; i < 5; i++) {
        px += b[i].vx * b[i].mass;
        py += b[i].vy * b[i].mass;
        pz += b[i].vz * b[i].mass;
    }
    b[0].vx = -px / SOLAR_MASS;
    b[0].vy = -py / SOLAR_MASS;
    b[0].vz = -pz / SOLAR_MASS;
    for (int i = 0; i < steps; i++)
        advance(b, 5, 0.01);
    return energy(b, 5);
}

/* ---- long double ---- */

static long double exp_taylor(long double x)
{
    long double term = 1, sum = 1;
    for (int k = 1; k < 30; k++) {
        term = term * x / k;
        sum += term;
    }
    return sum;
}

static long double gauss(long double x)
{
    return exp_taylor(-x * x);
}

static long double lorentz(long double x)
{
    return 1 / (1 + x * x);
}

static long double simpson(long double (*f)(long double), long double a, long double b, int n)
{
    long double h = (b - a) / n, sum = f(a) + f(b);
    for (int i = 1; i < n; i++)
        sum += f(a + i * h) * (i & 1 ? 4 : 2);
    return sum * h / 3;
}

static long double arctan_inverse(int x)
{
    long double power = 1.0L / x, sum = 0, x2 = (long double)x * x;
    for (int k = 0; k < 40; k++) {
        long double term = power / (2 * k + 1);
        sum += k & 1 ? -term : term;
        power /= x2;
    }
    return sum;
}

static long double trig_sum(int n)
{
    long double total = 0;
    for (int i = 0; i < n; i++) {
        long double x = (long double)i / n * 3, x2 = x * x, s = x, c = 1, ts = x, tc = 1;
        for (int k = 1; k < 14; k++) {
            ts = -ts * x2 / ((2 * k) * (2 * k + 1));
            tc = -tc * x2 / ((2 * k - 1) * (2 * k));
            s += ts;
            c += tc;
        }
        total += s * s + c * c + s * c;
    }
    return total;
}

int main(int argc, char **argv)
{
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    double e = nbody(1000 * scale);
    long double g = simpson(gauss, 0, 2, 100 * scale);
    long double l = simpson(lorentz, 0, 1, 1000 * scale);
    long double pi = 4 * (4 * arctan_inverse(5) - arctan_inverse(239));
    long double t = trig_sum(100 * scale);
    printf("x87: scale %d\nnbody %.17g\ngauss %.21Lg\nlorentz %.21Lg\npi %.21Lg\ntrig %.21Lg\n",
           scale, e, g, l, pi, t);
    return 0;
}

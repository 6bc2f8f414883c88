/* dlopen of libm.so.6 at run time, dlsym, dlclose; dladdr of a libc function. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    void *m = dlopen("libm.so.6", RTLD_NOW);
    if (!m) {
        printf("dlopen failed: %s\n", dlerror());
        return 1;
    }
    double (*cosine)(double) = (double (*)(double))dlsym(m, "cos");
    double (*cbrt_)(double) = (double (*)(double))dlsym(m, "cbrt");
    printf("cos(1)=%.17g cbrt(27)=%.17g\n", cosine(1.0), cbrt_(27.0));
    printf("missing: %s\n", dlsym(m, "no_such_symbol") ? "found" : "not found");
    Dl_info info;
    if (dladdr((void *)strlen, &info))
        printf("strlen is in a library: %s\n", strstr(info.dli_fname, "libc.so.6") ? "libc.so.6" : info.dli_fname);
    printf("dlclose=%d\n", dlclose(m));
    void *none = dlopen("libdoes-not-exist.so.9", RTLD_NOW);
    printf("missing library: %s\n", none ? "loaded" : "refused");
    return 0;
}

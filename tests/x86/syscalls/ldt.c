/* modify_ldt as the kernel does it: entries written (old and new modes, empty entries,
 * bad arguments), read back raw, loaded into fs and gs (their base is used), checked by
 * lar/lsl, and a far call into a 32-bit LDT code segment. Compared with native. */
#include <asm/ldt.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long modify_ldt(int func, void *ptr, unsigned long count) {
    return syscall(SYS_modify_ldt, func, ptr, count);
}

static uint8_t data[8192];

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s: -1 (%s)\n", what, strerror(errno));
    else
        printf("%s: %ld\n", what, r);
}

static struct user_desc desc(unsigned entry, void *base, unsigned limit, int contents,
                             int pages, int useable, int not_present) {
    struct user_desc d;
    memset(&d, 0, sizeof d);
    d.entry_number = entry;
    d.base_addr = (unsigned long)base;
    d.limit = limit;
    d.seg_32bit = 1;
    d.contents = contents;
    d.limit_in_pages = pages;
    d.useable = useable;
    d.seg_not_present = not_present;
    return d;
}

/* A 32-bit code segment based at `code32`: `mov eax, 0x1234 ; lret` runs at offset 0. */
extern char code32[];
asm(".text\ncode32:\n movl $0x1234, %eax\n lret\n");

int main(void) {
    uint64_t table[8];
    memset(table, 0xee, sizeof table);
    show("read before any write", modify_ldt(0, table, sizeof table));
    show("read default", modify_ldt(2, table, sizeof table));
    printf("default[0] %016llx\n", (unsigned long long)table[0]);

    struct user_desc d = desc(1, data, 1, MODIFY_LDT_CONTENTS_DATA, 1, 1, 0);
    show("write 1 (old mode)", modify_ldt(1, &d, sizeof d));
    d = desc(3, data + 16, 0xfff, MODIFY_LDT_CONTENTS_DATA, 0, 1, 0);
    show("write 3 (new mode)", modify_ldt(0x11, &d, sizeof d));
    d = desc(4, code32, 0xffff, MODIFY_LDT_CONTENTS_CODE, 0, 0, 0);
    show("write 4 (code)", modify_ldt(0x11, &d, sizeof d));
    d = desc(9000, data, 1, MODIFY_LDT_CONTENTS_DATA, 1, 0, 0);
    show("write 9000", modify_ldt(0x11, &d, sizeof d));
    show("write short", modify_ldt(0x11, &d, 8));
    d = desc(2, data, 1, 3, 1, 0, 0);
    show("write contents 3, present", modify_ldt(0x11, &d, sizeof d));
    show("bad func", modify_ldt(7, &d, sizeof d));

    memset(table, 0xee, sizeof table);
    show("read", modify_ldt(0, table, sizeof table));
    for (int i = 0; i < 8; i++)
        printf("ldt[%d] %016llx\n", i, (unsigned long long)table[i]);
    show("read 12 bytes", modify_ldt(0, table, 12));

    data[5] = 0x5a;
    data[16 + 7] = 0xa5;
    int v;
    asm volatile("movl %1, %%fs\n movzbl %%fs:5, %0" : "=r"(v) : "r"((1 << 3) | 7));
    printf("fs:5 = %#x\n", v);
    asm volatile("pushl %%gs\n movl %1, %%gs\n movzbl %%gs:7, %0\n popl %%gs"
                 : "=r"(v) : "r"((3 << 3) | 7));
    printf("gs:7 = %#x\n", v);

    static const unsigned sels[] = {0x0f, 0x17, 0x1f, 0x27, 0x23, 0x2b, 0x1b, 0x10, 0xfff8};
    for (unsigned i = 0; i < sizeof sels / sizeof sels[0]; i++) {
        unsigned sel = sels[i];
        unsigned rights = 0x11111111, limit = 0x22222222;
        int zl, zs;
        asm("larl %2, %0\n setz %b1" : "+r"(rights), "=q"(zl) : "r"(sel));
        asm("lsll %2, %0\n setz %b1" : "+r"(limit), "=q"(zs) : "r"(sel));
        printf("sel %#x: lar z=%d %08x lsl z=%d %08x\n", sel, zl & 1, rights, zs & 1, limit);
    }

    struct { uint32_t off; uint16_t sel; } __attribute__((packed)) far = {0, (4 << 3) | 7};
    int r;
    asm volatile("lcall *%1" : "=a"(r) : "m"(far) : "memory");
    printf("far call into the LDT code segment = %#x\n", r);
    return 0;
}

#![no_main]
// vmkit_fuzz::targets::x86_raw under libFuzzer; see docs/testing.md.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    vmkit_fuzz::targets::x86_raw(data);
});

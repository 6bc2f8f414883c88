//! Quick speed probe of the interpreter on two 5-instruction loops (register and
//! load/store), in guest instructions per second. `vmkit bench x86` is the full benchmark
//! with native and qemu-i386 references.
//!
//! `cargo run --release -p vmkit-x86 --example x86_speed [ITERATIONS]`

use std::time::Instant;
use vmkit_x86::{X86Exit, X86Machine};

fn loop_code(body: &[u8], iterations: u32) -> Vec<u8> {
    // mov ecx, N ; body ; dec ecx ; jnz body ; mov ebx, eax ; mov eax, 1 ; int 0x80
    let mut code = vec![0xB9];
    code.extend_from_slice(&iterations.to_le_bytes());
    code.extend_from_slice(body);
    code.push(0x49);
    let back = -(body.len() as i32 + 3);
    code.extend_from_slice(&[0x75, back as u8]);
    code.extend_from_slice(&[0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80]);
    code
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000_000);
    let cases: [(&str, &[u8]); 2] = [
        // add eax, ebx ; adc edx, esi ; inc edi
        ("register loop", &[0x01, 0xD8, 0x11, 0xF2, 0x47]),
        // mov eax, [esp-8] ; add eax, ecx ; mov [esp-8], eax
        (
            "load/store loop",
            &[0x8B, 0x44, 0x24, 0xF8, 0x01, 0xC8, 0x89, 0x44, 0x24, 0xF8],
        ),
    ];
    for (name, body) in cases {
        let mut vm = X86Machine::new();
        vm.load_raw(0x1000, &loop_code(body, n)).unwrap();
        let t = Instant::now();
        let exit = vm.run();
        let secs = t.elapsed().as_secs_f64();
        assert!(matches!(exit, X86Exit::Exited(_)), "{exit:?}");
        println!(
            "{name:16} {:>12} instructions in {secs:.3} s: {:.0} M instructions/s",
            vm.steps(),
            vm.steps() as f64 / secs / 1e6
        );
    }
}

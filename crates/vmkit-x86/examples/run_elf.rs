//! Runs a static i386 ELF under the x86 guest: `cargo run -p vmkit-x86 --example run_elf -- PROGRAM [ARGS...]`.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: run_elf PROGRAM [ARGS...]");
        std::process::exit(2);
    };
    let bytes = std::fs::read(path).expect("readable program");
    let mut vm = match vmkit_x86::X86Machine::try_new() {
        Ok(vm) => vm,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    vm.set_strace(std::env::var_os("STRACE").is_some());
    if let Err(e) = vm.load_elf(&bytes, &args, &[]) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let exit = vm.run_for(200_000_000);
    match &exit {
        vmkit_x86::X86Exit::Fault(f) => eprint!("{f}"),
        other => eprintln!("{other:?} after {} instructions", vm.steps()),
    }
    std::process::exit(exit.status());
}

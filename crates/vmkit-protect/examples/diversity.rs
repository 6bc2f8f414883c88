//! Prints build diversity for a program: `cargo run --release -p vmkit-protect --example
//! diversity -- examples/fib.s 100`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).map_or("examples/fib.s", String::as_str);
    let builds = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100);
    let image = match vmkit_asm::assemble_file(std::path::Path::new(path)) {
        Ok(a) => a.image,
        Err(d) => {
            eprintln!("{d}");
            std::process::exit(1);
        }
    };
    match vmkit_protect::diversity(&image, builds) {
        Ok(d) => println!("{d:#?}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

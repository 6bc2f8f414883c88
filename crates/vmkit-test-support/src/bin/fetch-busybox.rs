//! `.ci/fetch-busybox`: unpacks Debian's busybox-static for i386 into
//! `target/busybox-i386/` (as the tests do on first use) and prints the binary's path.

use std::process::ExitCode;

fn main() -> ExitCode {
    match vmkit_test_support::fetch_busybox_i386() {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("fetch-busybox: {why}");
            ExitCode::FAILURE
        }
    }
}

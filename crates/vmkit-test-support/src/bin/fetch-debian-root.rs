//! `.ci/fetch-debian-root`: unpacks Debian i386 packages (bash, coreutils, grep, sed, gawk,
//! findutils, python3.11-minimal and their dependencies) into `target/debian-i386-root/`
//! (as the tests do on first use) and prints the root's path.

use std::process::ExitCode;

fn main() -> ExitCode {
    match vmkit_test_support::fetch_debian_root() {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("fetch-debian-root: {why}");
            ExitCode::FAILURE
        }
    }
}

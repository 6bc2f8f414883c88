//! Host functions: Rust closures a program calls with `hcall n` (seed 004's callpub /
//! parampub / endcallpub). Arguments are r1..r6; the returned value goes to r0.

use crate::cpu::Cpu;
use crate::fault::FaultKind;
use std::collections::HashMap;
use vmkit_mem::Memory;
use vmkit_vm::stdio::Sink;

/// A host function: gets the call's arguments and guest memory, returns r0 or an error
/// message (which stops the machine with a fault).
pub type HostFn = Box<dyn FnMut(&mut HostCall<'_>) -> Result<u64, String>>;

/// What a host function can see and touch during a call.
pub struct HostCall<'a> {
    cpu: &'a mut Cpu,
    mem: &'a mut Memory,
    stdout: &'a mut Sink,
    /// Set when stdout turned out to be a closed pipe.
    broken_pipe: &'a mut bool,
}

impl HostCall<'_> {
    /// Argument `i` (0-based): register r(i+1).
    pub fn arg(&self, i: usize) -> u64 {
        self.cpu.regs[(i + 1).min(6)]
    }

    /// Register `rN` (0..=15) or sp (16).
    pub fn reg(&self, n: usize) -> u64 {
        self.cpu.regs[n.min(16)]
    }

    /// Sets register `rN` (0..=15) or sp (16).
    pub fn set_reg(&mut self, n: usize, value: u64) {
        if n <= 16 {
            self.cpu.regs[n] = value;
        }
    }

    /// Reads guest memory (permission checked as a guest load).
    pub fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>, String> {
        self.mem
            .read_bytes(addr, len)
            .map(<[u8]>::to_vec)
            .map_err(|e| e.to_string())
    }

    /// Reads a UTF-8 string of `len` bytes (lossy).
    pub fn read_str(&self, addr: u64, len: u64) -> Result<String, String> {
        Ok(String::from_utf8_lossy(&self.read(addr, len)?).into_owned())
    }

    /// Writes guest memory (permission checked as a guest store).
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), String> {
        self.mem.write_bytes(addr, data).map_err(|e| e.to_string())
    }

    /// Writes to the machine's stdout (which may be captured).
    pub fn print(&mut self, text: &str) -> Result<(), String> {
        self.write_out(text.as_bytes())
    }

    /// Writes bytes to the machine's stdout. A closed pipe stops the machine as SIGPIPE
    /// stops a process, once the host function returns.
    pub fn write_out(&mut self, data: &[u8]) -> Result<(), String> {
        match self.stdout.write_all(data) {
            Ok(()) => Ok(()),
            Err(e) => {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    *self.broken_pipe = true;
                }
                Err(e.to_string())
            }
        }
    }
}

/// The host functions a program can reach: the image's import table, which `hcall n`
/// indexes, and the functions the embedder registered by name.
#[derive(Default)]
pub(crate) struct HostFunctions {
    /// Names of imported host functions, indexed by `hcall n`.
    pub(crate) imports: Vec<String>,
    /// Registered host functions by name.
    pub(crate) registered: HashMap<String, HostFn>,
}

/// Runs `hcall index`: the registered function the import names, with r1.. as arguments
/// and its result in r0. Output goes to `stdout`; a closed pipe there sets `broken_pipe`.
pub(crate) fn hcall(
    cpu: &mut Cpu,
    mem: &mut Memory,
    functions: &mut HostFunctions,
    stdout: &mut Sink,
    broken_pipe: &mut bool,
    index: u16,
) -> Result<(), FaultKind> {
    let Some(name) = functions.imports.get(index as usize) else {
        return Err(FaultKind::UnknownHostFunction { index, name: None });
    };
    let Some(f) = functions.registered.get_mut(name) else {
        return Err(FaultKind::UnknownHostFunction {
            index,
            name: Some(name.clone()),
        });
    };
    let mut call = HostCall {
        cpu,
        mem,
        stdout,
        broken_pipe,
    };
    match f(&mut call) {
        Ok(v) => {
            cpu.regs[0] = v;
            Ok(())
        }
        Err(_) if *call.broken_pipe => Err(FaultKind::BrokenPipe),
        Err(message) => Err(FaultKind::HostError {
            name: name.clone(),
            message,
        }),
    }
}

/// The standard host functions that `vmkit run` provides:
///
/// | name | arguments | effect |
/// |---|---|---|
/// | `print_int` | r1 | prints r1 as a signed decimal and a newline |
/// | `print_uint` | r1 | prints r1 as an unsigned decimal and a newline |
/// | `print_hex` | r1 | prints r1 as `0x...` and a newline |
/// | `print_f64` | r1 | prints r1's bits as an f64 and a newline |
/// | `print_char` | r1 | prints the byte r1 |
/// | `print_str` | r1, r2 | prints r2 bytes at address r1 |
pub fn standard_host_functions() -> Vec<(&'static str, HostFn)> {
    vec![
        (
            "print_int",
            Box::new(|c: &mut HostCall<'_>| {
                let v = c.arg(0) as i64;
                c.print(&format!("{v}\n")).map(|_| 0u64)
            }) as HostFn,
        ),
        (
            "print_uint",
            Box::new(|c: &mut HostCall<'_>| {
                let v = c.arg(0);
                c.print(&format!("{v}\n")).map(|_| 0u64)
            }),
        ),
        (
            "print_hex",
            Box::new(|c: &mut HostCall<'_>| {
                let v = c.arg(0);
                c.print(&format!("{v:#x}\n")).map(|_| 0u64)
            }),
        ),
        (
            "print_f64",
            Box::new(|c: &mut HostCall<'_>| {
                let v = f64::from_bits(c.arg(0));
                c.print(&format!("{v}\n")).map(|_| 0u64)
            }),
        ),
        (
            "print_char",
            Box::new(|c: &mut HostCall<'_>| {
                let b = [c.arg(0) as u8];
                c.write_out(&b).map(|_| 0u64)
            }),
        ),
        (
            "print_str",
            Box::new(|c: &mut HostCall<'_>| {
                let data = c.read(c.arg(0), c.arg(1).min(1 << 24))?;
                c.write_out(&data).map(|_| 0u64)
            }),
        ),
    ]
}

//! [`X86Machine`]: a sandboxed IA-32 user-mode CPU with 4 GiB of guest address space, and
//! its run loop.

use crate::block::{BlockCache, BlockEnd};
use crate::cpu::{Cpu, ESP};
use crate::exec::{exec, ExecError, Flow};
use crate::linux::{self, Linux, SysOutcome};
use iced_x86::{Formatter, IntelFormatter};
use std::fmt;
use vmkit_mem::{page, MemError, Memory};

/// The guest address space: all of 32-bit memory, mapped lazily by the host.
pub const ADDRESS_SPACE: u64 = 1 << 32;

/// Why the guest stopped abnormally, as a process would be stopped by a signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum X86FaultKind {
    /// A memory access failed (SIGSEGV).
    Memory(MemError),
    /// Invalid or unimplemented instruction (SIGILL).
    IllegalInstruction(String),
    /// Division by zero or quotient overflow (SIGFPE).
    DivideError,
    /// An unmasked x87 exception, delivered at the next waiting x87 instruction (SIGFPE);
    /// the x87 status word.
    X87Exception(u16),
    /// A privileged instruction in user mode (SIGSEGV, as Linux delivers #GP).
    Privileged,
    /// A system call the Linux personality does not implement.
    UnsupportedSyscall {
        /// Its number.
        nr: u32,
        /// Its name.
        name: &'static str,
    },
}

impl X86FaultKind {
    /// The signal a Linux process would get, and its name.
    pub fn signal(&self) -> (i32, &'static str) {
        match self {
            X86FaultKind::Memory(_) | X86FaultKind::Privileged => (11, "SIGSEGV"),
            X86FaultKind::IllegalInstruction(_) => (4, "SIGILL"),
            X86FaultKind::DivideError | X86FaultKind::X87Exception(_) => (8, "SIGFPE"),
            X86FaultKind::UnsupportedSyscall { .. } => (31, "SIGSYS"),
        }
    }
}

impl fmt::Display for X86FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            X86FaultKind::Memory(e) => write!(f, "{e}"),
            X86FaultKind::IllegalInstruction(what) => write!(f, "illegal instruction: {what}"),
            X86FaultKind::DivideError => write!(f, "divide error"),
            X86FaultKind::X87Exception(status) => {
                let names = [
                    "invalid operation",
                    "denormal operand",
                    "zero divide",
                    "overflow",
                    "underflow",
                    "precision",
                ];
                let raised: Vec<&str> = (0..6)
                    .filter(|b| status & (1 << b) != 0)
                    .map(|b| names[b])
                    .collect();
                write!(
                    f,
                    "x87 floating-point exception ({}; status word {status:#06x})",
                    raised.join(", ")
                )
            }
            X86FaultKind::Privileged => write!(f, "privileged instruction in user mode"),
            X86FaultKind::UnsupportedSyscall { nr, name } => {
                write!(f, "unsupported system call {nr} ({name})")
            }
        }
    }
}

/// A guest fault with the instruction and registers at the time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X86Fault {
    /// What went wrong.
    pub kind: X86FaultKind,
    /// Address of the faulting instruction.
    pub eip: u32,
    /// The instruction in Intel syntax, when it decoded.
    pub instr_text: Option<String>,
    /// Registers at the fault.
    pub cpu: Cpu,
}

impl fmt::Display for X86Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sig, name) = self.kind.signal();
        write!(f, "{name} (signal {sig}) at eip={:#010x}", self.eip)?;
        if let Some(t) = &self.instr_text {
            write!(f, " `{t}`")?;
        }
        writeln!(f, ": {}", self.kind)?;
        f.write_str(&self.cpu.format())
    }
}

impl std::error::Error for X86Fault {}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum X86Exit {
    /// The guest called exit/exit_group with this status.
    Exited(i32),
    /// The instruction budget ran out; eip is the next instruction.
    StepLimit,
    /// The guest faulted.
    Fault(Box<X86Fault>),
}

impl X86Exit {
    /// The status a shell would show: the exit code, or 128+signal for a fault, 124 for the
    /// step limit.
    pub fn status(&self) -> i32 {
        match self {
            X86Exit::Exited(c) => c & 0xFF,
            X86Exit::StepLimit => 124,
            X86Exit::Fault(f) => 128 + f.kind.signal().0,
        }
    }
}

/// A sandboxed 32-bit x86 user-mode machine.
///
/// ```
/// use vmkit_x86::{X86Exit, X86Machine};
/// // mov eax, 41 ; inc eax ; mov ebx, eax ; mov eax, 1 ; int 0x80   (exit(42))
/// let code = [0xB8, 41, 0, 0, 0, 0x40, 0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80];
/// let mut vm = X86Machine::new();
/// vm.load_raw(0x1000, &code, true).unwrap();
/// assert_eq!(vm.run(), X86Exit::Exited(42));
/// ```
pub struct X86Machine {
    /// Registers and flags.
    pub cpu: Cpu,
    /// Guest memory (the whole 32-bit address space; unmapped pages fault).
    pub mem: Memory,
    cache: BlockCache,
    /// The Linux personality: process state and system calls.
    pub os: Linux,
    steps: u64,
}

impl Default for X86Machine {
    fn default() -> Self {
        X86Machine::new()
    }
}

impl X86Machine {
    /// A machine with nothing mapped.
    pub fn new() -> X86Machine {
        let mut mem = Memory::new(ADDRESS_SPACE);
        mem.protect(0, ADDRESS_SPACE, 0);
        X86Machine {
            cpu: Cpu::default(),
            mem,
            cache: BlockCache::default(),
            os: Linux::default(),
            steps: 0,
        }
    }

    /// Maps `[addr, addr + len)` (rounded out to pages) with `perms` (`vmkit_mem::page` bits).
    pub fn map(&mut self, addr: u32, len: u32, perms: u8) {
        self.mem.protect(addr as u64, len as u64, perms);
        self.cache.flush(&mut self.mem);
    }

    /// PyVM's `execute_file` setup: maps `code` read-write-execute at `base` (plus the rest of
    /// its pages), a 1 MiB stack below 0xC0000000, and points eip at `base`. With
    /// `int80_exit`, nothing else is set up; the code is expected to exit through `int 0x80`.
    pub fn load_raw(&mut self, base: u32, code: &[u8], int80_exit: bool) -> Result<(), MemError> {
        let _ = int80_exit;
        let len = (code.len() as u32).max(1);
        self.map(base, len, page::R | page::W | page::X);
        self.mem.poke(base as u64, code)?;
        let stack_top: u32 = 0xC000_0000;
        self.map(stack_top - (1 << 20), 1 << 20, page::R | page::W);
        self.cpu = Cpu::default();
        self.cpu.regs[ESP] = stack_top;
        self.cpu.eip = base;
        Ok(())
    }

    /// Loads a static ELF32 i386 executable as Linux would: maps its segments, builds the
    /// initial stack with `argv`, `envp` and the auxiliary vector, sets up `brk`.
    pub fn load_elf(
        &mut self,
        bytes: &[u8],
        argv: &[String],
        envp: &[String],
    ) -> Result<(), crate::elf::ElfError> {
        let elf = crate::elf::load(&mut self.mem, bytes)?;
        let esp = crate::linux_process::build_stack(
            &mut self.mem,
            &elf,
            argv,
            envp,
            crate::cpuid::FEATURES_EDX,
        )
        .map_err(|e| crate::elf::ElfError::BadSegment(e.to_string()))?;
        self.cache.flush(&mut self.mem);
        self.cpu = Cpu::default();
        self.cpu.regs[ESP] = esp;
        self.cpu.eip = elf.entry;
        self.os.brk_start = elf.brk_start;
        self.os.brk = elf.brk_start;
        Ok(())
    }

    /// Keeps guest stdout in memory (read it with [`X86Machine::output`]).
    pub fn capture_output(&mut self) {
        self.os.streams.stdout = Some(Vec::new());
    }

    /// Captured stdout.
    pub fn output(&self) -> &[u8] {
        self.os.streams.stdout.as_deref().unwrap_or(&[])
    }

    /// Guest stdin reads these bytes, then end of file.
    pub fn set_stdin(&mut self, bytes: &[u8]) {
        self.os.streams.stdin = Some(bytes.iter().copied().collect());
    }

    /// Instructions executed so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Runs until the guest exits or faults.
    pub fn run(&mut self) -> X86Exit {
        self.run_for(u64::MAX)
    }

    /// Runs at most `max_steps` instructions.
    pub fn run_for(&mut self, max_steps: u64) -> X86Exit {
        let mut left = max_steps;
        loop {
            let block = self.cache.get(&mut self.mem, self.cpu.eip);
            let mut jumped = false;
            for insn in &block.insns {
                if left == 0 {
                    return X86Exit::StepLimit;
                }
                let flow = match exec(&mut self.cpu, &mut self.mem, insn) {
                    Ok(flow) => flow,
                    Err(e) => {
                        self.cpu.eip = insn.ip32();
                        let kind = match e {
                            ExecError::Memory(m) => X86FaultKind::Memory(m),
                            ExecError::Divide => X86FaultKind::DivideError,
                            ExecError::X87(status) => X86FaultKind::X87Exception(status),
                            ExecError::Unimplemented(iced_x86::Mnemonic::Ud2) => {
                                X86FaultKind::IllegalInstruction(
                                    "ud2 raises the invalid-opcode exception".into(),
                                )
                            }
                            ExecError::Unimplemented(m) => {
                                X86FaultKind::IllegalInstruction(format!(
                                    "`{}` is not implemented by this emulator",
                                    format!("{m:?}").to_lowercase()
                                ))
                            }
                        };
                        return X86Exit::Fault(self.fault(kind));
                    }
                };
                left -= 1;
                self.steps += 1;
                match flow {
                    Flow::Next => self.cpu.eip = insn.next_ip32(),
                    Flow::Jump(t) => {
                        self.cpu.eip = t;
                        jumped = true;
                    }
                    Flow::Privileged => {
                        self.cpu.eip = insn.ip32();
                        self.steps -= 1;
                        return X86Exit::Fault(self.fault(X86FaultKind::Privileged));
                    }
                    Flow::Syscall => {
                        self.cpu.eip = insn.next_ip32();
                        let outcome = self.os.syscall(&mut self.cpu, &mut self.mem);
                        if std::mem::take(&mut self.os.flush_code) {
                            self.cache.flush(&mut self.mem);
                            jumped = true;
                        }
                        match outcome {
                            SysOutcome::Continue => {}
                            SysOutcome::Exit(code) => return X86Exit::Exited(code),
                            SysOutcome::Unsupported(nr) => {
                                self.cpu.eip = insn.ip32();
                                return X86Exit::Fault(self.fault(
                                    X86FaultKind::UnsupportedSyscall {
                                        nr,
                                        name: linux::syscall_name(nr),
                                    },
                                ));
                            }
                        }
                    }
                }
                if self.mem.code_written {
                    self.cache.flush(&mut self.mem);
                    jumped = true;
                }
                if jumped {
                    break;
                }
            }
            if !jumped {
                match &block.end {
                    BlockEnd::Normal => {}
                    BlockEnd::FetchFault(e) => {
                        return X86Exit::Fault(self.fault(X86FaultKind::Memory(e.clone())))
                    }
                    BlockEnd::Invalid { bytes, addr } => {
                        self.cpu.eip = *addr;
                        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
                        return X86Exit::Fault(self.fault(X86FaultKind::IllegalInstruction(
                            format!("bytes {} do not decode", hex.join(" ")),
                        )));
                    }
                }
            }
        }
    }

    fn fault(&self, kind: X86FaultKind) -> Box<X86Fault> {
        Box::new(X86Fault {
            kind,
            eip: self.cpu.eip,
            instr_text: self.instr_text_at(self.cpu.eip),
            cpu: self.cpu.clone(),
        })
    }

    /// The instruction at `addr` in Intel syntax, if it decodes.
    pub fn instr_text_at(&self, addr: u32) -> Option<String> {
        let bytes = self.mem.peek(addr as u64, 15).ok()?;
        let mut decoder =
            iced_x86::Decoder::with_ip(32, bytes, addr as u64, iced_x86::DecoderOptions::NONE);
        let insn = decoder.decode();
        if insn.is_invalid() {
            return None;
        }
        let mut text = String::new();
        let mut formatter = IntelFormatter::new();
        formatter.options_mut().set_hex_prefix("0x");
        formatter.options_mut().set_hex_suffix("");
        formatter.format(&insn, &mut text);
        Some(text)
    }
}

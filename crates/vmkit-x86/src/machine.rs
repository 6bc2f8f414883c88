//! [`X86Machine`]: a sandboxed IA-32 user-mode CPU with 4 GiB of guest address space, and
//! its run loop.

use crate::cpu::{Cpu, ExecError, ESP};
use crate::engine::{DecodeFailure, Engine, EngineEvent, EngineFault, EngineStop, Engines};
use crate::hooks::{Handled, HookCtx, HookId, Hooks, MemAccess, MemAccessKind};
use crate::linux::{self, Kernel, Linux, SyscallOutcome};
use iced_x86::{Formatter, IntelFormatter};
use std::fmt;
use std::ops::RangeBounds;
use vmkit_mem::{page, MemError, Memory, ReserveError};

/// The guest address space: all of 32-bit memory, one host reservation that the host
/// commits page by page as the guest writes (see [`X86Machine::try_new`]).
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
    /// A hook stopped the run ([`HookCtx::stop`]); eip is the next instruction.
    Stopped,
    /// eip reached the `until` address of [`X86Machine::run_from`].
    Until,
}

impl X86Exit {
    /// The status a shell would show: the exit code, or 128+signal for a fault, 124 for the
    /// step limit.
    pub fn status(&self) -> i32 {
        match self {
            X86Exit::Exited(c) => c & 0xFF,
            X86Exit::StepLimit => 124,
            X86Exit::Stopped | X86Exit::Until => 0,
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
    engines: Engines,
    /// The Linux personality: process state and system calls.
    pub os: Linux,
    steps: u64,
    hooks: Hooks,
}

/// The fault of code that could not be fetched or decoded.
fn decode_fault(failure: DecodeFailure) -> X86FaultKind {
    match failure {
        DecodeFailure::Fetch(e) => X86FaultKind::Memory(e),
        DecodeFailure::Invalid { bytes, .. } => {
            let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            X86FaultKind::IllegalInstruction(format!("bytes {} do not decode", hex.join(" ")))
        }
    }
}

impl Default for X86Machine {
    /// [`X86Machine::new`]; panics where it does.
    fn default() -> Self {
        X86Machine::new()
    }
}

impl X86Machine {
    /// A machine with nothing mapped. Panics if the host refuses the address space; see
    /// [`X86Machine::try_new`].
    pub fn new() -> X86Machine {
        match X86Machine::try_new() {
            Ok(vm) => vm,
            Err(e) => panic!("{e}"),
        }
    }

    /// A machine with nothing mapped, or why the host refused its memory. The guest's 4 GiB
    /// are one reservation of host address space, none of it committed until the guest
    /// writes to it; an address-space limit (`ulimit -v`) below 4 GiB plus vmkit's own needs
    /// refuses it, and the error says so.
    ///
    /// ```
    /// let vm = vmkit_x86::X86Machine::try_new().expect("4 GiB of address space");
    /// assert_eq!(vm.mem.mapped_bytes(), 0);
    /// ```
    pub fn try_new() -> Result<X86Machine, ReserveError> {
        let mut mem = Memory::try_new(ADDRESS_SPACE)?;
        mem.protect(0, ADDRESS_SPACE, 0);
        Ok(X86Machine {
            cpu: Cpu::default(),
            mem,
            engines: Engines::default(),
            os: Linux::default(),
            steps: 0,
            hooks: Hooks::default(),
        })
    }

    /// Limits the guest's address space, as `RLIMIT_AS` does: a `mmap`, `mremap` or `brk`
    /// that would leave more than `bytes` mapped (the program and its stack included) fails
    /// with `ENOMEM`. `None` removes the limit.
    ///
    /// ```
    /// use vmkit_x86::{X86Exit, X86Machine};
    /// // mmap2(0, 1 MiB, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) ; exit(-eax)
    /// let code = [0xB8, 192, 0, 0, 0, 0x31, 0xDB, 0xB9, 0, 0, 0x10, 0, 0xBA, 3, 0, 0, 0,
    ///             0xBE, 0x22, 0, 0, 0, 0xBF, 0xFF, 0xFF, 0xFF, 0xFF, 0x31, 0xED, 0xCD, 0x80,
    ///             0xF7, 0xD8, 0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x10000, &code, true).unwrap();
    /// vm.set_memory_limit(Some(2 << 20)); // the code's page and a 1 MiB stack are mapped
    /// assert_eq!(vm.run(), X86Exit::Exited(12)); // ENOMEM
    /// ```
    pub fn set_memory_limit(&mut self, bytes: Option<u64>) {
        self.os.set_memory_limit(bytes);
    }

    /// Maps `[addr, addr + len)` (rounded out to pages) with `perms` (`vmkit_mem::page` bits;
    /// 0 unmaps, `page::MAPPED` alone maps with no access). The contents stay as they were.
    pub fn map(&mut self, addr: u32, len: u32, perms: u8) {
        self.mem.protect(addr as u64, len as u64, perms);
        self.engines.flush(&mut self.mem);
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
    ) -> Result<(), linux::loader::ElfError> {
        self.os.load_program(
            &mut self.cpu,
            &mut self.mem,
            bytes,
            argv,
            envp,
            crate::cpu::cpuid::FEATURES_EDX,
        )?;
        self.engines.flush(&mut self.mem);
        Ok(())
    }

    /// Keeps guest stdout in memory (read it with [`X86Machine::output`]).
    pub fn capture_output(&mut self) {
        self.os.capture_stdout();
    }

    /// Captured stdout.
    pub fn output(&self) -> &[u8] {
        self.os.captured_stdout()
    }

    /// Guest stdin reads these bytes, then end of file.
    pub fn set_stdin(&mut self, bytes: &[u8]) {
        self.os.set_stdin(bytes);
    }

    /// Chooses the execution engine (see [`Engine`]).
    pub fn set_engine(&mut self, engine: Engine) {
        self.engines.select(engine);
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
        self.run_loop(max_steps, None)
    }

    /// Unicorn's `emu_start`: runs from `begin` until eip reaches `until` (before executing
    /// the instruction there; [`X86Exit::Until`]), the guest exits or faults, a hook stops
    /// the run, or `max_steps` instructions have run.
    ///
    /// ```
    /// use vmkit_x86::{X86Exit, X86Machine};
    /// use vmkit_x86::cpu::EAX;
    /// // 0x1000: mov eax, 5 ; add eax, eax ; nop
    /// let code = [0xB8, 5, 0, 0, 0, 0x01, 0xC0, 0x90];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x1000, &code, true).unwrap();
    /// assert_eq!(vm.run_from(0x1000, Some(0x1007), u64::MAX), X86Exit::Until);
    /// assert_eq!(vm.cpu.regs[EAX], 10);
    /// ```
    pub fn run_from(&mut self, begin: u32, until: Option<u32>, max_steps: u64) -> X86Exit {
        self.cpu.eip = begin;
        self.run_loop(max_steps, until)
    }

    /// Hooks run before each instruction in `range` with its address and length. They
    /// may read and change registers and memory, or stop the run.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use vmkit_x86::{X86Exit, X86Machine};
    /// // inc eax ; inc eax ; mov ebx, eax ; mov eax, 1 ; int 0x80
    /// let code = [0x40, 0x40, 0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x1000, &code, true).unwrap();
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let log = seen.clone();
    /// vm.hook_code(0x1000..0x1002, move |_ctx, eip, size| log.borrow_mut().push((eip, size)));
    /// assert_eq!(vm.run(), X86Exit::Exited(2));
    /// assert_eq!(*seen.borrow(), [(0x1000, 1), (0x1001, 1)]);
    /// ```
    pub fn hook_code(
        &mut self,
        range: impl RangeBounds<u32>,
        f: impl FnMut(&mut HookCtx, u32, u32) + 'static,
    ) -> HookId {
        self.hooks.add_code(range, Box::new(f))
    }

    /// Hooks run after each instruction that loaded (`MemAccessKind::Read`) or stored
    /// (`MemAccessKind::Write`) memory overlapping `range`, once per access.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use vmkit_x86::{MemAccessKind, X86Exit, X86Machine};
    /// // mov dword [0x2000], 7 ; mov ebx, [0x2000] ; mov eax, 1 ; int 0x80
    /// let code = [0xC7, 0x05, 0, 0x20, 0, 0, 7, 0, 0, 0, 0x8B, 0x1D, 0, 0x20, 0, 0,
    ///             0xB8, 1, 0, 0, 0, 0xCD, 0x80];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x1000, &code, true).unwrap();
    /// vm.map(0x2000, 0x1000, vmkit_mem::page::R | vmkit_mem::page::W);
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let log = seen.clone();
    /// vm.hook_mem(0x2000..0x3000, &[MemAccessKind::Read, MemAccessKind::Write], move |_ctx, a| {
    ///     log.borrow_mut().push((a.kind, a.addr, a.size, a.value));
    /// });
    /// assert_eq!(vm.run(), X86Exit::Exited(7));
    /// assert_eq!(
    ///     *seen.borrow(),
    ///     [(MemAccessKind::Write, 0x2000, 4, 7), (MemAccessKind::Read, 0x2000, 4, 7)]
    /// );
    /// ```
    pub fn hook_mem(
        &mut self,
        range: impl RangeBounds<u32>,
        kinds: &[MemAccessKind],
        f: impl FnMut(&mut HookCtx, &MemAccess) + 'static,
    ) -> HookId {
        self.hooks.add_mem(range, kinds, Box::new(f))
    }

    /// Hooks run before an `int N` / `int3` executes, with the vector. A hook that returns
    /// [`Handled::Yes`] replaces the instruction (execution goes on after it); otherwise
    /// `int 0x80` is a system call and other vectors fault as in a Linux process.
    ///
    /// ```
    /// use vmkit_x86::{Handled, X86Exit, X86Machine};
    /// use vmkit_x86::cpu::{EAX, EBX};
    /// // int 0x21 ; mov ebx, eax ; mov eax, 1 ; int 0x80
    /// let code = [0xCD, 0x21, 0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x1000, &code, true).unwrap();
    /// vm.hook_interrupt(|ctx, vector| {
    ///     if vector == 0x21 {
    ///         ctx.cpu.regs[EAX] = 33;
    ///         return Handled::Yes;
    ///     }
    ///     Handled::No
    /// });
    /// assert_eq!(vm.run(), X86Exit::Exited(33));
    /// ```
    pub fn hook_interrupt(
        &mut self,
        f: impl FnMut(&mut HookCtx, u32) -> Handled + 'static,
    ) -> HookId {
        self.hooks.add_interrupt(Box::new(f))
    }

    /// Hooks run on each Linux system call (`int 0x80`) with its number (eax) before the
    /// Linux personality sees it. A hook that returns [`Handled::Yes`] has done the call and
    /// put its result in eax; the personality is skipped.
    ///
    /// ```
    /// use vmkit_x86::{Handled, X86Exit, X86Machine};
    /// use vmkit_x86::cpu::EAX;
    /// // mov eax, 20 (getpid) ; int 0x80 ; mov ebx, eax ; mov eax, 1 ; int 0x80
    /// let code = [0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0x89, 0xC3, 0xB8, 1, 0, 0, 0, 0xCD, 0x80];
    /// let mut vm = X86Machine::new();
    /// vm.load_raw(0x1000, &code, true).unwrap();
    /// vm.hook_syscall(|ctx, nr| {
    ///     if nr == 20 {
    ///         ctx.cpu.regs[EAX] = 77;
    ///         return Handled::Yes;
    ///     }
    ///     Handled::No
    /// });
    /// assert_eq!(vm.run(), X86Exit::Exited(77));
    /// ```
    pub fn hook_syscall(
        &mut self,
        f: impl FnMut(&mut HookCtx, u32) -> Handled + 'static,
    ) -> HookId {
        self.hooks.add_syscall(Box::new(f))
    }

    /// Removes a hook; false if no hook has this id.
    pub fn remove_hook(&mut self, id: HookId) -> bool {
        self.hooks.remove(id)
    }

    /// Before one instrumented instruction: code and interrupt hooks, and the memory
    /// accesses it will make. `Err` ends the run; `Ok(None)` means an interrupt hook
    /// replaced the instruction.
    fn before_instruction(&mut self) -> Result<Option<Vec<MemAccess>>, X86Exit> {
        let eip = self.cpu.eip;
        let Some(insn) = self.engines.first_instruction(&mut self.mem, eip) else {
            // Nothing decodes here: the run faults without calling hooks.
            return Ok(Some(Vec::new()));
        };
        if self
            .hooks
            .on_code(&mut self.cpu, &mut self.mem, eip, insn.len() as u32)
        {
            return Err(X86Exit::Stopped);
        }
        let vector = match insn.mnemonic() {
            iced_x86::Mnemonic::Int => Some(insn.immediate8() as u32),
            iced_x86::Mnemonic::Int3 => Some(3),
            _ => None,
        };
        if let Some(v) = vector {
            let (handled, stop) = self.hooks.on_event(false, &mut self.cpu, &mut self.mem, v);
            if handled == Handled::Yes {
                self.cpu.eip = insn.next_ip32();
                self.steps += 1;
                return if stop {
                    Err(X86Exit::Stopped)
                } else {
                    Ok(None)
                };
            }
            if stop {
                return Err(X86Exit::Stopped);
            }
        }
        Ok(Some(if self.hooks.wants_mem() {
            self.hooks.accesses(&self.cpu, &self.mem, &insn)
        } else {
            Vec::new()
        }))
    }

    fn run_loop(&mut self, max_steps: u64, until: Option<u32>) -> X86Exit {
        let instrumented = until.is_some() || self.hooks.any();
        let mut left = max_steps;
        loop {
            if left == 0 {
                return X86Exit::StepLimit;
            }
            let mut accesses = Vec::new();
            if instrumented {
                if until == Some(self.cpu.eip) {
                    return X86Exit::Until;
                }
                match self.before_instruction() {
                    Err(exit) => return exit,
                    Ok(None) => {
                        left -= 1;
                        continue;
                    }
                    Ok(Some(a)) => accesses = a,
                }
            }
            let mut budget = if instrumented { 1 } else { left };
            let before = budget;
            let stop = self
                .engines
                .run(&mut self.cpu, &mut self.mem, &mut budget, instrumented);
            let done = before - budget;
            left -= done;
            self.steps += done;
            if !accesses.is_empty()
                && !matches!(
                    stop,
                    EngineStop::Fault(EngineFault::Exec(_) | EngineFault::Privileged)
                )
                && self
                    .hooks
                    .on_mem(&mut self.cpu, &mut self.mem, &mut accesses)
            {
                // A store into decoded code must still drop that code.
                if matches!(stop, EngineStop::CodeWritten) {
                    self.engines.drop_written_code(&mut self.mem);
                }
                return X86Exit::Stopped;
            }
            match stop {
                EngineStop::BudgetSpent => {}
                EngineStop::CodeWritten => self.engines.drop_written_code(&mut self.mem),
                EngineStop::Fault(EngineFault::Undecodable(failure)) => {
                    return self.fault_exit(decode_fault(failure))
                }
                EngineStop::Fault(EngineFault::Exec(e)) => {
                    let kind = match e {
                        ExecError::Memory(m) => X86FaultKind::Memory(m),
                        ExecError::Divide => X86FaultKind::DivideError,
                        ExecError::X87(status) => X86FaultKind::X87Exception(status),
                        ExecError::Unimplemented(iced_x86::Mnemonic::Ud2) => {
                            X86FaultKind::IllegalInstruction(
                                "ud2 raises the invalid-opcode exception".into(),
                            )
                        }
                        ExecError::Unimplemented(m) => X86FaultKind::IllegalInstruction(format!(
                            "`{}` is not implemented by this emulator",
                            format!("{m:?}").to_lowercase()
                        )),
                    };
                    return self.fault_exit(kind);
                }
                EngineStop::Fault(EngineFault::Privileged) => {
                    return self.fault_exit(X86FaultKind::Privileged)
                }
                EngineStop::Event(EngineEvent::Syscall { at }) => {
                    if instrumented {
                        let nr = self.cpu.regs[crate::cpu::EAX];
                        let (handled, stop) =
                            self.hooks.on_event(true, &mut self.cpu, &mut self.mem, nr);
                        if stop {
                            return X86Exit::Stopped;
                        }
                        if handled == Handled::Yes {
                            continue;
                        }
                    }
                    match self.os.syscall(&mut self.cpu, &mut self.mem) {
                        SyscallOutcome::Resume => {}
                        SyscallOutcome::InvalidateCode(range) => {
                            self.engines.invalidate(&mut self.mem, range)
                        }
                        SyscallOutcome::Exit(code) => return X86Exit::Exited(code),
                        SyscallOutcome::Unsupported(nr) => {
                            self.cpu.eip = at;
                            return self.fault_exit(X86FaultKind::UnsupportedSyscall {
                                nr,
                                name: linux::syscall_name(nr),
                            });
                        }
                    }
                }
            }
        }
    }

    fn fault_exit(&mut self, kind: X86FaultKind) -> X86Exit {
        X86Exit::Fault(self.fault(kind))
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

//! [`Machine`]: the embedding API. Create a machine, load an image or raw bytes, run or step
//! it, inspect and change its registers and memory, register host functions, capture its
//! output. PyVM's API (seed 002), in Rust.

use crate::block::BlockCache;
use crate::cpu::{Cpu, SP};
use crate::env::Env;
use crate::exec::{exec, Flow};
use crate::fault::{Fault, FaultKind};
use crate::host::{HostCall, HostFn};
use crate::interp::EngineStop;
use crate::Exit;
use crate::Stdio;
use std::fmt;
use std::path::PathBuf;
use vmkit_image::Image;
use vmkit_isa::{decode, format_instr, Reg, Symbols, MAX_INSTR_LEN};
use vmkit_mem::{page, Memory, PAGE_SIZE};
use vmkit_vm::code_cache::CodeCacheStats;
use vmkit_vm::debug::DebugState;

/// Default guest memory: 1 MiB, as LBVM's.
pub const DEFAULT_MEMORY: u64 = 1 << 20;
/// Largest guest memory this build accepts: 64 GiB (reserved lazily by the host OS).
pub const MAX_MEMORY: u64 = 64 << 30;

/// Why an image could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The requested memory size is zero or larger than [`MAX_MEMORY`].
    BadMemorySize(u64),
    /// The host could not provide that much memory.
    OutOfHostMemory(u64),
    /// A segment does not fit in guest memory.
    SegmentOutsideMemory {
        /// Segment index.
        index: usize,
        /// Its end address.
        end: u64,
        /// Guest memory size.
        memory_size: u64,
    },
    /// The stack reserve does not fit below the top of memory and above the segments.
    StackTooLarge {
        /// Requested stack size.
        stack_size: u64,
        /// Guest memory size.
        memory_size: u64,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::BadMemorySize(n) => write!(
                f,
                "memory size {n} is not supported (1 byte to {} GiB)",
                MAX_MEMORY >> 30
            ),
            LoadError::OutOfHostMemory(n) => write!(
                f,
                "the host cannot provide {n} bytes ({} MiB) of guest memory; ask for less with --memory",
                n >> 20
            ),
            LoadError::SegmentOutsideMemory {
                index,
                end,
                memory_size,
            } => write!(
                f,
                "segment {index} ends at {end:#x}, beyond guest memory of {memory_size:#x} bytes (use --memory)"
            ),
            LoadError::StackTooLarge {
                stack_size,
                memory_size,
            } => write!(
                f,
                "stack of {stack_size:#x} bytes does not fit in {memory_size:#x} bytes of memory above the program"
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// How to build a machine.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Guest memory in bytes; 0 takes the image's request or [`DEFAULT_MEMORY`].
    pub memory_size: u64,
    /// Stack reserve in bytes; 0 takes the image's request or 1/8 of memory (4 KiB..8 MiB).
    pub stack_size: u64,
    /// Enforce W^X: code pages are not writable, other pages not executable.
    pub wx: bool,
}

/// How the machine gets from one pre-decoded record to the next. Both backends run the same
/// records with the same semantics and give identical results (registers, memory, faults,
/// step counts); they differ only in speed. Choose with [`Machine::set_dispatch`].
///
/// `Match` is the default because it measured faster on every workload of
/// `examples/dispatch_bench.rs` (about 1.7× on loops and calls, 1.4× on a load/store loop):
/// its loop keeps the record pointer and budget in registers, while each threaded handler
/// pays a call, a return and a reload of that state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dispatch {
    /// One loop that `match`es on the record kind (a jump table).
    #[default]
    Match,
    /// Call threading: a table of one small function per record kind; a loop calls the
    /// handler of each record, which returns the index of the next.
    Threaded,
}

impl Dispatch {
    /// Every backend, for tests and benchmarks that compare them.
    pub const ALL: [Dispatch; 2] = [Dispatch::Match, Dispatch::Threaded];
}

/// A vmkit native machine.
///
/// ```
/// use vmkit_machine::{Exit, Machine};
/// use vmkit_isa::{Instr, Op, Operand, Reg, Size};
///
/// // mov r1, 40 ; add r1, 2 ; halt
/// let mut code = Vec::new();
/// for i in [
///     Instr::new(Op::Mov, Size::Q, &[Operand::Reg(Reg::r(1)), Operand::imm(40)]),
///     Instr::new(Op::Add, Size::Q, &[Operand::Reg(Reg::r(1)), Operand::imm(2)]),
///     Instr::new(Op::Halt, Size::Q, &[]),
/// ] {
///     i.encode_into(&mut code).unwrap();
/// }
/// let mut vm = Machine::new(4096);
/// assert_eq!(vm.execute_bytes(&code, 0), Exit::Halted);
/// assert_eq!(vm.reg(Reg::r(1)), 42);
/// assert_eq!(vm.steps(), 3);
/// ```
pub struct Machine {
    pub(crate) cpu: Cpu,
    pub(crate) mem: Memory,
    pub(crate) env: Env,
    pub(crate) cache: BlockCache,
    dispatch: Dispatch,
    steps: u64,
    /// Symbols of the loaded image (for fault reports and tracing).
    symbols: Vec<vmkit_image::Symbol>,
    /// Breakpoints and the last stop, for [`DebugTarget`](crate::DebugTarget).
    pub(crate) debug: DebugState,
}

impl Machine {
    /// A machine with `memory_size` bytes of zeroed, unprotected memory (every page readable,
    /// writable and executable), sp at the top of memory and no stack limit beyond address 0.
    /// Panics if `memory_size` exceeds [`MAX_MEMORY`] or the host refuses the memory; use
    /// [`Machine::try_new`] to get an error instead.
    pub fn new(memory_size: u64) -> Machine {
        assert!(memory_size <= MAX_MEMORY, "memory size above MAX_MEMORY");
        match Machine::try_new(memory_size) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Machine::new`], with an error instead of a panic for a size above
    /// [`MAX_MEMORY`] or memory the host refuses.
    pub fn try_new(memory_size: u64) -> Result<Machine, LoadError> {
        if memory_size > MAX_MEMORY {
            return Err(LoadError::BadMemorySize(memory_size));
        }
        let mem =
            Memory::try_new(memory_size).map_err(|_| LoadError::OutOfHostMemory(memory_size))?;
        let mut m = Machine {
            cpu: Cpu::default(),
            mem,
            env: Env::default(),
            cache: BlockCache::new(),
            dispatch: Dispatch::default(),
            steps: 0,
            symbols: Vec::new(),
            debug: DebugState::default(),
        };
        m.cpu.regs[SP] = memory_size;
        Ok(m)
    }

    /// A machine configured by `config`, without a program.
    pub fn with_config(config: &Config) -> Result<Machine, LoadError> {
        let size = if config.memory_size == 0 {
            DEFAULT_MEMORY
        } else {
            config.memory_size
        };
        if size == 0 || size > MAX_MEMORY {
            return Err(LoadError::BadMemorySize(size));
        }
        let mut m = Machine::try_new(size)?;
        m.env.stack_limit = size - default_stack(size, config.stack_size);
        Ok(m)
    }

    /// A machine sized for `image` (the config overrides the image's requests), with the
    /// image loaded and the standard host functions registered.
    ///
    /// ```
    /// use vmkit_machine::{Config, Exit, Machine};
    /// let src = "main:\n    mov r1, 6\n    imul r1, 7\n    hcall print_int\n    halt\n";
    /// let image = vmkit_asm::assemble_str("demo.s", src).unwrap().image;
    /// let mut vm = Machine::from_image(&image, &Config::default()).unwrap();
    /// vm.capture_output();
    /// assert_eq!(vm.run(), Exit::Halted);
    /// assert_eq!(vm.output(), b"42\n");
    /// ```
    pub fn from_image(image: &Image, config: &Config) -> Result<Machine, LoadError> {
        let stack = if config.stack_size != 0 {
            config.stack_size
        } else {
            image.stack_size
        };
        let size = match (config.memory_size, image.memory_size) {
            (0, 0) => {
                // Enough for the program plus its stack: the default, doubled as needed.
                let mut size = DEFAULT_MEMORY;
                while size < MAX_MEMORY
                    && size.saturating_sub(default_stack(size, stack)) < image.end_address()
                {
                    size *= 2;
                }
                size
            }
            (0, n) | (n, _) => n,
        };
        if size == 0 || size > MAX_MEMORY {
            return Err(LoadError::BadMemorySize(size));
        }
        let mut m = Machine::try_new(size)?;
        let wx = config.wx || image.flags & vmkit_image::FLAG_WX != 0;
        m.load_image(image, stack, wx)?;
        for (name, f) in crate::host::standard_host_functions() {
            m.env.host_functions.registered.insert(name.to_string(), f);
        }
        Ok(m)
    }

    /// Loads `image` into this machine's memory: copies its segments, sets page protections
    /// (page 0 unmapped to catch null pointers, the constant pool read-only, W^X if asked),
    /// and points ip at the entry, sp at the top of memory.
    pub fn load_image(
        &mut self,
        image: &Image,
        stack_size: u64,
        wx: bool,
    ) -> Result<(), LoadError> {
        let size = self.mem.size();
        for (index, s) in image.segments.iter().enumerate() {
            if s.end() > size {
                return Err(LoadError::SegmentOutsideMemory {
                    index,
                    end: s.end(),
                    memory_size: size,
                });
            }
        }
        let stack = default_stack(size, stack_size);
        if stack >= size || size - stack < image.end_address() {
            return Err(LoadError::StackTooLarge {
                stack_size: stack,
                memory_size: size,
            });
        }
        // A fresh zeroed allocation: bss and segment tails need no filling (a 2 GiB bss
        // costs nothing until touched), and nothing of a previous program remains.
        self.mem = Memory::try_new(size).map_err(|_| LoadError::OutOfHostMemory(size))?;
        let rest = if wx {
            page::R | page::W
        } else {
            page::R | page::W | page::X
        };
        self.mem.protect(0, size, rest);
        if image.segments.iter().all(|s| s.addr >= PAGE_SIZE) {
            self.mem.protect(0, PAGE_SIZE.min(size), 0);
        }
        let perms_of = |s: &vmkit_image::Segment| {
            let p = s.perms.0 & 7;
            if wx && p & page::X != 0 {
                p & !page::W
            } else {
                p
            }
        };
        for (index, s) in image.segments.iter().enumerate() {
            if self.mem.poke(s.addr, &s.data).is_err() {
                return Err(LoadError::SegmentOutsideMemory {
                    index,
                    end: s.end(),
                    memory_size: size,
                });
            }
            self.mem.protect(s.addr, s.mem_size, perms_of(s));
        }
        // A page shared by two segments gets the union of their permissions (without write
        // if that union is executable under W^X).
        for s in image.segments.iter().filter(|s| s.mem_size > 0) {
            for page_addr in [s.addr & !(PAGE_SIZE - 1), (s.end() - 1) & !(PAGE_SIZE - 1)] {
                let mut union = 0;
                for t in &image.segments {
                    if t.mem_size > 0 && t.addr < page_addr + PAGE_SIZE && t.end() > page_addr {
                        union |= perms_of(t);
                    }
                }
                if wx && union & page::X != 0 {
                    union &= !page::W;
                }
                self.mem.protect(page_addr, PAGE_SIZE, union);
            }
        }
        self.cache.flush(&mut self.mem);
        self.cpu = Cpu::default();
        self.cpu.ip = image.entry;
        self.cpu.regs[SP] = size;
        self.env.stack_limit = size - stack;
        self.env.const_base = image.const_base();
        self.env.host_functions.imports = image.imports.clone();
        self.symbols = image.symbols.clone();
        self.steps = 0;
        Ok(())
    }

    /// Copies `bytes` into memory at `offset` (ignoring page protection).
    pub fn load_bytes(&mut self, offset: u64, bytes: &[u8]) -> Result<(), FaultKind> {
        Ok(self.mem.poke(offset, bytes)?)
    }

    /// PyVM's `execute_bytes`: loads `bytes` at `offset`, sets ip there and runs to the end.
    pub fn execute_bytes(&mut self, bytes: &[u8], offset: u64) -> Exit {
        if let Err(kind) = self.load_bytes(offset, bytes) {
            return Exit::Fault(self.fault(kind));
        }
        self.cpu.ip = offset;
        self.run()
    }

    /// Runs until the machine stops.
    pub fn run(&mut self) -> Exit {
        self.run_for(u64::MAX)
    }

    /// Runs at most `max_steps` instructions; returns [`Exit::StepLimit`] if they ran out.
    ///
    /// ```
    /// use vmkit_machine::{Config, Exit, Machine};
    /// let image = vmkit_asm::assemble_str("spin.s", "main:\n    inc r1\n    jmp main\n").unwrap().image;
    /// let mut vm = Machine::from_image(&image, &Config::default()).unwrap();
    /// assert_eq!(vm.run_for(1001), Exit::StepLimit);
    /// assert_eq!((vm.steps(), vm.reg(vmkit_isa::Reg::r(1))), (1001, 501));
    /// ```
    pub fn run_for(&mut self, max_steps: u64) -> Exit {
        let mut budget = max_steps;
        loop {
            let before = budget;
            let (cpu, mem, env, cache) =
                (&mut self.cpu, &mut self.mem, &mut self.env, &mut self.cache);
            // Direct calls, not a function pointer: the `match` loop is inlined here, where
            // cpu, memory and cache are fields of one struct and cost one register.
            let inner = match self.dispatch {
                Dispatch::Match => crate::interp::run_blocks(cpu, mem, env, cache, &mut budget),
                Dispatch::Threaded => {
                    crate::threaded::run_blocks(cpu, mem, env, cache, &mut budget)
                }
            };
            self.steps += before - budget;
            match inner {
                EngineStop::Event(e) => return e,
                EngineStop::Fault(kind) => return Exit::Fault(self.fault(kind)),
                EngineStop::CodeWritten => self.code_written(),
                EngineStop::BudgetSpent => {
                    // Fewer steps left than the next block holds: finish one at a time so
                    // the limit is exact.
                    while budget > 0 {
                        budget -= 1;
                        if let Some(e) = self.step() {
                            return e;
                        }
                    }
                    return Exit::StepLimit;
                }
            }
        }
    }

    /// Drops the decoded blocks that the stores since the last call wrote over.
    fn code_written(&mut self) {
        if let Some(writes) = self.mem.take_code_writes() {
            self.cache.invalidate(&mut self.mem, writes);
        }
    }

    /// Executes exactly one instruction with the reference semantics. Returns the exit if
    /// the machine stopped.
    ///
    /// ```
    /// use vmkit_machine::{Config, Machine};
    /// use vmkit_isa::Reg;
    /// let image = vmkit_asm::assemble_str("s.s", "main:\n    mov r1, 5\n    add r1, r1\n    halt\n").unwrap().image;
    /// let mut vm = Machine::from_image(&image, &Config::default()).unwrap();
    /// assert_eq!(vm.instr_text_at(vm.ip()).as_deref(), Some("mov r1, 5"));
    /// assert!(vm.step().is_none());
    /// assert!(vm.step().is_none());
    /// assert_eq!(vm.reg(Reg::r(1)), 10);
    /// assert!(vm.step().is_some()); // halt
    /// ```
    pub fn step(&mut self) -> Option<Exit> {
        let ip = self.cpu.ip;
        let (instr, len) = match self.mem.fetch_window(ip, MAX_INSTR_LEN) {
            Err(kind) => return Some(Exit::Fault(self.fault(kind))),
            Ok(window) => match decode(window) {
                Ok(ok) => ok,
                Err(vmkit_isa::DecodeError::Truncated { .. }) if window.len() < MAX_INSTR_LEN => {
                    let kind = self.mem.fetch_fault(ip + window.len() as u64, 1);
                    return Some(Exit::Fault(self.fault(kind)));
                }
                Err(e) => return Some(Exit::Fault(self.fault(FaultKind::InvalidInstruction(e)))),
            },
        };
        let next = ip.wrapping_add(len as u64);
        let result = exec(&mut self.cpu, &mut self.mem, &mut self.env, &instr, next);
        if self.mem.code_written() {
            self.code_written();
        }
        match result {
            Ok(Flow::Next) => self.cpu.ip = next,
            Ok(Flow::Jump(t)) => self.cpu.ip = t,
            Ok(Flow::Stop(e)) => {
                self.cpu.ip = next;
                self.steps += 1;
                return Some(e);
            }
            Err(kind) => return Some(Exit::Fault(self.fault(kind))),
        }
        self.steps += 1;
        None
    }

    fn fault(&self, kind: impl Into<FaultKind>) -> Box<Fault> {
        let kind = kind.into();
        Box::new(Fault {
            kind,
            ip: self.cpu.ip,
            instr_text: self.instr_text_at(self.cpu.ip),
            regs: self.cpu.regs(),
            flags: self.cpu.flags(),
        })
    }

    /// The instruction at `addr` in assembler syntax (with the image's symbols), if it
    /// decodes.
    pub fn instr_text_at(&self, addr: u64) -> Option<String> {
        let bytes = self.mem.peek(addr, MAX_INSTR_LEN as u64).ok().or_else(|| {
            let avail = self.mem.size().checked_sub(addr)?;
            self.mem.peek(addr, avail).ok()
        })?;
        let (instr, _) = decode(bytes).ok()?;
        Some(format_instr(&instr, addr, &SymbolTable { machine: self }))
    }

    /// Name of the symbol at `addr`, if the loaded image has one.
    pub fn symbol_at(&self, addr: u64) -> Option<&str> {
        self.symbols
            .iter()
            .find(|s| s.addr == addr && s.kind != vmkit_image::SymbolKind::Constant)
            .map(|s| s.name.as_str())
    }

    /// `addr` as `label+offset` relative to the nearest code or data label at or below it,
    /// if the loaded image has symbols (for fault reports and debuggers).
    ///
    /// ```
    /// use vmkit_machine::{Config, Machine};
    /// let image = vmkit_asm::assemble_str("s.s", "main:\n    nop\n    nop\n    halt\n").unwrap().image;
    /// let vm = Machine::from_image(&image, &Config::default()).unwrap();
    /// assert_eq!(vm.symbolize(image.entry + 1).as_deref(), Some("main+0x1"));
    /// ```
    pub fn symbolize(&self, addr: u64) -> Option<String> {
        let best = self
            .symbols
            .iter()
            .filter(|s| s.kind != vmkit_image::SymbolKind::Constant && s.addr <= addr)
            .max_by_key(|s| s.addr)?;
        Some(match addr - best.addr {
            0 => best.name.clone(),
            off => format!("{}+{off:#x}", best.name),
        })
    }

    /// Instructions executed since the program was loaded.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Register value.
    pub fn reg(&self, r: Reg) -> u64 {
        self.cpu.regs[r.index()]
    }

    /// Sets a register.
    pub fn set_reg(&mut self, r: Reg, value: u64) {
        self.cpu.regs[r.index()] = value;
    }

    /// All registers r0..r15, sp.
    pub fn regs(&self) -> [u64; vmkit_isa::REG_COUNT] {
        self.cpu.regs()
    }

    /// Instruction pointer.
    pub fn ip(&self) -> u64 {
        self.cpu.ip
    }

    /// Sets the instruction pointer.
    pub fn set_ip(&mut self, ip: u64) {
        self.cpu.ip = ip;
    }

    /// Flags register (bits in [`vmkit_isa::flag`]).
    pub fn flags(&self) -> u64 {
        self.cpu.flags()
    }

    /// Sets the flags register.
    pub fn set_flags(&mut self, bits: u64) {
        self.cpu.set_flags(bits);
    }

    /// Guest memory size in bytes.
    pub fn memory_size(&self) -> u64 {
        self.mem.size()
    }

    /// Reads `len` bytes at `addr` (PyVM's `Memory.get`), ignoring page protection.
    ///
    /// ```
    /// let mut vm = vmkit_machine::Machine::new(4096);
    /// vm.write(0x100, b"abc").unwrap();
    /// vm.fill(0x103, 2, b'!').unwrap();
    /// assert_eq!(vm.read(0x100, 5).unwrap(), b"abc!!");
    /// assert!(vm.read(4090, 10).is_err()); // past the end: an error, not a panic
    /// ```
    pub fn read(&self, addr: u64, len: u64) -> Result<&[u8], FaultKind> {
        Ok(self.mem.peek(addr, len)?)
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&self, addr: u64) -> Result<u64, FaultKind> {
        let b = self.mem.peek(addr, 8)?;
        let mut q = [0; 8];
        q.copy_from_slice(b);
        Ok(u64::from_le_bytes(q))
    }

    /// Writes bytes at `addr` (PyVM's `Memory.set`), ignoring page protection; decoded code
    /// there is dropped.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), FaultKind> {
        self.mem.poke(addr, data)?;
        if self.mem.code_written() {
            self.code_written();
        }
        Ok(())
    }

    /// Fills `len` bytes at `addr` with `value` (PyVM's `Memory.fill`).
    pub fn fill(&mut self, addr: u64, len: u64, value: u8) -> Result<(), FaultKind> {
        self.mem.fill(addr, len, value)?;
        if self.mem.code_written() {
            self.code_written();
        }
        Ok(())
    }

    /// Pushes a 64-bit value on the guest stack (PyVM's `stack_push`).
    ///
    /// ```
    /// let mut vm = vmkit_machine::Machine::new(4096);
    /// vm.push(7).unwrap();
    /// vm.push(8).unwrap();
    /// assert_eq!((vm.pop().unwrap(), vm.pop().unwrap()), (8, 7));
    /// assert_eq!(vm.reg(vmkit_isa::Reg::SP), 4096);
    /// ```
    pub fn push(&mut self, value: u64) -> Result<(), FaultKind> {
        let sp = crate::exec::push_sp(&self.cpu, &self.env, 8)?;
        self.mem.write(sp, 8, value)?;
        self.cpu.regs[SP] = sp;
        Ok(())
    }

    /// Pops a 64-bit value from the guest stack (PyVM's `stack_pop`).
    pub fn pop(&mut self) -> Result<u64, FaultKind> {
        let v = self.mem.read(self.cpu.regs[SP], 8)?;
        self.cpu.regs[SP] = self.cpu.regs[SP].wrapping_add(8);
        Ok(v)
    }

    /// Lowest address the stack may grow to.
    pub fn stack_limit(&self) -> u64 {
        self.env.stack_limit
    }

    /// Registers (or replaces) the host function `name`, called by `hcall` on an import of
    /// that name.
    ///
    /// ```
    /// use vmkit_machine::{HostCall, Machine};
    /// let mut vm = Machine::new(4096);
    /// vm.register_host("double", |call: &mut HostCall<'_>| Ok(call.arg(0) * 2));
    /// ```
    pub fn register_host<F>(&mut self, name: &str, f: F)
    where
        F: FnMut(&mut HostCall<'_>) -> Result<u64, String> + 'static,
    {
        self.env
            .host_functions
            .registered
            .insert(name.to_string(), Box::new(f) as HostFn);
    }

    /// Sets the import table that `hcall n` indexes (normally taken from the image).
    pub fn set_imports(&mut self, names: &[&str]) {
        self.env.host_functions.imports = names.iter().map(|s| s.to_string()).collect();
    }

    /// Keeps guest stdout (fd 1) and stderr (fd 2) in memory instead of printing them.
    pub fn capture_output(&mut self) {
        self.env.stdio.capture_output();
    }

    /// Sends guest stdout to `w`.
    pub fn set_stdout(&mut self, w: Box<dyn std::io::Write>) {
        self.env.stdio.set_stdout(w);
    }

    /// Captured stdout so far (empty unless [`capture_output`](Machine::capture_output)).
    pub fn output(&self) -> &[u8] {
        self.env.stdio.output()
    }

    /// Captured stderr so far.
    pub fn error_output(&self) -> &[u8] {
        self.env.stdio.error_output()
    }

    /// Takes the captured stdout, leaving the buffer empty.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.env.stdio.take_output()
    }

    /// Takes the captured stderr, leaving the buffer empty.
    pub fn take_error_output(&mut self) -> Vec<u8> {
        self.env.stdio.take_error_output()
    }

    /// The guest's standard streams, to redirect any of them (see [`Stdio`]).
    pub fn stdio_mut(&mut self) -> &mut Stdio {
        &mut self.env.stdio
    }

    /// Guest stdin (fd 0) reads these bytes, then end of file.
    ///
    /// ```
    /// use vmkit_machine::{Config, Exit, Machine};
    /// // Copy stdin to stdout, 64 bytes at a time, until end of file.
    /// let src = "main:\n    mov r1, 0\n    mov r2, buf\n    mov r3, 64\n    sys read\n    test r0, r0\n    jz .done\n    mov r3, r0\n    mov r1, 1\n    sys write\n    jmp main\n.done:\n    halt\n.bss\nbuf: .space 64\n";
    /// let image = vmkit_asm::assemble_str("cat.s", src).unwrap().image;
    /// let mut vm = Machine::from_image(&image, &Config::default()).unwrap();
    /// vm.capture_output();
    /// vm.set_stdin(b"hello, guest\n");
    /// assert_eq!(vm.run(), Exit::Halted);
    /// assert_eq!(vm.take_output(), b"hello, guest\n");
    /// ```
    pub fn set_stdin(&mut self, bytes: &[u8]) {
        self.env.stdio.set_stdin(bytes);
    }

    /// Lets `sys open` read and write files below `dir` (and nothing else). Guest paths are
    /// relative to `dir`; absolute paths, `..` and symbolic links that lead out of it are
    /// refused with EACCES (see `vmkit_vm::sandbox`, shared with the x86 guest).
    pub fn grant_directory(&mut self, dir: impl Into<PathBuf>) {
        let dir = dir.into();
        self.env.sandbox = Some(crate::env::grant_sandbox(&dir));
        self.env.fs_root = Some(dir);
    }

    /// Whether a refused `sys open` prints one hint on stderr (which path, which flag
    /// allows it); on by default.
    pub fn set_hints(&mut self, on: bool) {
        self.env.hints = on;
    }

    /// Turns the specialised fast records off (every instruction runs through the reference
    /// semantics) or back on. Both backends must behave identically; tests run both.
    pub fn set_specialize(&mut self, on: bool) {
        self.cache.specialize = on;
        self.cache.flush(&mut self.mem);
    }

    /// Selects the dispatch backend for the next runs. Both share the decoded-code cache, so
    /// switching keeps it.
    pub fn set_dispatch(&mut self, dispatch: Dispatch) {
        self.dispatch = dispatch;
    }

    /// The dispatch backend in use.
    pub fn dispatch(&self) -> Dispatch {
        self.dispatch
    }

    /// What the decoded-code cache has done so far: blocks translated, blocks dropped
    /// because the guest wrote over their bytes, and whole-cache flushes (loading a program,
    /// [`Machine::set_specialize`]).
    pub fn code_cache_stats(&self) -> CodeCacheStats {
        self.cache.stats()
    }

    /// The text screen's lines, if memory holds the devices.
    pub fn screen_text(&self) -> Option<Vec<String>> {
        crate::devices::screen_text(&self.mem)
    }

    /// The text screen with ANSI colours.
    pub fn screen_ansi(&self) -> Option<String> {
        crate::devices::screen_ansi(&self.mem)
    }

    /// Offers a key to the guest's keyboard; false if the previous one was not taken yet.
    pub fn offer_key(&mut self, key: u8) -> bool {
        crate::devices::offer_key(&mut self.mem, key)
    }

    /// Tells the guest's keyboard that no key will come (status 2, after the waiting key is
    /// taken); call it again after each slice, since the guest may clear the status. False
    /// while a key still waits.
    pub fn end_keyboard_input(&mut self) -> bool {
        crate::devices::end_of_input(&mut self.mem)
    }

    /// Registers, ip and flags formatted for humans.
    pub fn format_regs(&self) -> String {
        crate::cpu::format_regs(&self.cpu.regs(), self.cpu.ip, self.cpu.flags())
    }
}

fn default_stack(memory: u64, requested: u64) -> u64 {
    if requested != 0 {
        requested
    } else {
        (memory / 8).clamp(4096.min(memory / 2), 8 << 20)
    }
}

struct SymbolTable<'a> {
    machine: &'a Machine,
}

impl Symbols for SymbolTable<'_> {
    fn name_at(&self, addr: u64) -> Option<&str> {
        self.machine.symbol_at(addr)
    }
    fn import_name(&self, index: u16) -> Option<&str> {
        self.machine
            .env
            .host_functions
            .imports
            .get(index as usize)
            .map(String::as_str)
    }
    fn const_name(&self, offset: u32) -> Option<&str> {
        self.machine
            .symbol_at(self.machine.env.const_base.wrapping_add(offset as u64))
    }
}

//! Reference semantics: executes one decoded iced-x86 [`Instruction`] on the CPU state.
//!
//! Instructions are dispatched on their mnemonic and operate on operands by kind (register,
//! memory, immediate), so every encoding of an instruction shares one implementation. Flag
//! results come from [`crate::alu`]. A fault is raised before any architectural write of
//! the instruction, except where the real CPU also writes first (none so far).

use crate::alu::{self, Width};
use crate::cpu::{Cpu, Seg, EAX, ECX, EDX, ESP};
use iced_x86::{Instruction, Mnemonic, OpKind, Register};
use vmkit_mem::{MemError, Memory};

/// Where execution goes next.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// The following instruction.
    Next,
    /// This address.
    Jump(u32),
    /// `int 0x80`: a system call, then the following instruction.
    Syscall,
    /// `hlt` and other privileged instructions: a general protection fault in user mode.
    Privileged,
}

/// Why an instruction could not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecError {
    /// A memory access failed (SIGSEGV).
    Memory(MemError),
    /// `div`/`idiv` by zero or with an overflowing quotient (SIGFPE).
    Divide,
    /// An instruction this emulator does not implement (SIGILL).
    Unimplemented(Mnemonic),
    /// A waiting x87 instruction found an unmasked exception pending (SIGFPE); the x87
    /// status word at the time.
    X87(u16),
}

impl From<MemError> for ExecError {
    fn from(e: MemError) -> Self {
        ExecError::Memory(e)
    }
}

pub(crate) type Result<T> = std::result::Result<T, ExecError>;

fn width_of_size(bytes: usize) -> Width {
    match bytes {
        1 => Width::B8,
        2 => Width::W16,
        _ => Width::D32,
    }
}

fn bytes(w: Width) -> u32 {
    match w {
        Width::B8 => 1,
        Width::W16 => 2,
        Width::D32 => 4,
    }
}

/// A 32-bit general register's index, or `None` for non-GPRs.
fn gpr(reg: Register) -> Option<(usize, Width)> {
    if reg.is_gpr32() {
        Some((reg.number(), Width::D32))
    } else if reg.is_gpr16() {
        Some((reg.number(), Width::W16))
    } else if reg.is_gpr8() {
        Some((reg.number(), Width::B8))
    } else {
        None
    }
}

fn read_reg(cpu: &Cpu, reg: Register) -> u32 {
    match gpr(reg) {
        Some((n, Width::D32)) => cpu.regs[n],
        Some((n, Width::W16)) => cpu.reg16(n),
        Some((n, Width::B8)) => cpu.reg8(n),
        None => match reg {
            Register::ES => cpu.selectors[Seg::Es as usize] as u32,
            Register::CS => cpu.selectors[Seg::Cs as usize] as u32,
            Register::SS => cpu.selectors[Seg::Ss as usize] as u32,
            Register::DS => cpu.selectors[Seg::Ds as usize] as u32,
            Register::FS => cpu.selectors[Seg::Fs as usize] as u32,
            Register::GS => cpu.selectors[Seg::Gs as usize] as u32,
            _ => 0,
        },
    }
}

fn write_reg(cpu: &mut Cpu, reg: Register, v: u32) {
    match gpr(reg) {
        Some((n, Width::D32)) => cpu.regs[n] = v,
        Some((n, Width::W16)) => cpu.set_reg16(n, v),
        Some((n, Width::B8)) => cpu.set_reg8(n, v),
        None => {
            let seg = match reg {
                Register::ES => Seg::Es,
                Register::SS => Seg::Ss,
                Register::DS => Seg::Ds,
                Register::FS => Seg::Fs,
                Register::GS => Seg::Gs,
                _ => return,
            };
            cpu.load_segment(seg, v as u16);
        }
    }
}

/// The offset of the instruction's memory operand in its segment: base + index * scale +
/// displacement, wrapped to 16 bits under 16-bit addressing (a 0x67 prefix: `[bx+si]`,
/// `[bp+disp]`, a 16-bit `[disp16]` or moffs16).
fn memory_offset(cpu: &Cpu, insn: &Instruction) -> u32 {
    let mut a = insn.memory_displacement32();
    let base = insn.memory_base();
    if base != Register::None {
        a = a.wrapping_add(read_reg(cpu, base));
    }
    let index = insn.memory_index();
    if index != Register::None {
        a = a.wrapping_add(read_reg(cpu, index).wrapping_mul(insn.memory_index_scale()));
    }
    if addr16(insn) {
        a &= 0xffff;
    }
    a
}

/// True when the memory operand uses 16-bit addressing.
fn addr16(insn: &Instruction) -> bool {
    let (base, index) = (insn.memory_base(), insn.memory_index());
    base.is_gpr16()
        || index.is_gpr16()
        || (base == Register::None && index == Register::None && insn.memory_displ_size() == 2)
}

/// The base of the memory operand's segment (only fs and gs have one).
fn segment_base(cpu: &Cpu, insn: &Instruction) -> u32 {
    match insn.memory_segment() {
        Register::FS => cpu.seg_base[Seg::Fs as usize],
        Register::GS => cpu.seg_base[Seg::Gs as usize],
        _ => 0,
    }
}

/// The linear address of the instruction's memory operand.
pub fn effective_address(cpu: &Cpu, insn: &Instruction) -> u32 {
    memory_offset(cpu, insn).wrapping_add(segment_base(cpu, insn))
}

pub(crate) fn read_mem(mem: &Memory, addr: u32, w: Width) -> Result<u32> {
    Ok(mem.read(addr as u64, bytes(w))? as u32)
}

pub(crate) fn write_mem(mem: &mut Memory, addr: u32, w: Width, v: u32) -> Result<()> {
    Ok(mem.write(addr as u64, bytes(w), v as u64)?)
}

/// Operand `i`'s width.
fn op_width(insn: &Instruction, i: u32) -> Width {
    match insn.op_kind(i) {
        OpKind::Register => gpr(insn.op_register(i)).map_or(Width::D32, |(_, w)| w),
        OpKind::Memory => width_of_size(insn.memory_size().size()),
        OpKind::Immediate8 => Width::B8,
        OpKind::Immediate16 | OpKind::Immediate8to16 => Width::W16,
        _ => Width::D32,
    }
}

fn read_op(cpu: &Cpu, mem: &Memory, insn: &Instruction, i: u32) -> Result<u32> {
    match insn.op_kind(i) {
        OpKind::Register => Ok(read_reg(cpu, insn.op_register(i))),
        OpKind::Memory => read_mem(mem, effective_address(cpu, insn), op_width(insn, i)),
        // Immediates; any other kind (a far pointer, a branch target) has no value to read
        // here, and an instruction that gets this far with one is not implemented.
        _ => insn
            .try_immediate(i)
            .map(|v| v as u32)
            .map_err(|_| ExecError::Unimplemented(insn.mnemonic())),
    }
}

fn write_op(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction, i: u32, v: u32) -> Result<()> {
    match insn.op_kind(i) {
        OpKind::Register => {
            write_reg(cpu, insn.op_register(i), v);
            Ok(())
        }
        OpKind::Memory => {
            let a = effective_address(cpu, insn);
            write_mem(mem, a, op_width(insn, i), v)
        }
        _ => Ok(()),
    }
}

/// Checks that operand `i` (if memory) can be written, so flags are not changed by an
/// instruction that then faults.
fn check_writable(cpu: &Cpu, mem: &Memory, insn: &Instruction, i: u32) -> Result<()> {
    if insn.op_kind(i) == OpKind::Memory {
        let a = effective_address(cpu, insn);
        mem.check_write(a as u64, bytes(op_width(insn, i)))?;
    }
    Ok(())
}

/// Pushes the low `w` bits of `v` (`w` is 16 or 32 bits: the operand size).
fn push(cpu: &mut Cpu, mem: &mut Memory, w: Width, v: u32) -> Result<()> {
    let sp = cpu.regs[ESP].wrapping_sub(bytes(w));
    write_mem(mem, sp, w, v)?;
    cpu.regs[ESP] = sp;
    Ok(())
}

/// Pops a `w`-bit value (16 or 32 bits).
fn pop(cpu: &mut Cpu, mem: &Memory, w: Width) -> Result<u32> {
    let v = read_mem(mem, cpu.regs[ESP], w)?;
    cpu.regs[ESP] = cpu.regs[ESP].wrapping_add(bytes(w));
    Ok(v)
}

/// Writes general register `r` at width `w` (16 or 32 bits), keeping the bits above it.
fn set_reg_width(cpu: &mut Cpu, r: usize, w: Width, v: u32) {
    if w == Width::D32 {
        cpu.regs[r] = v;
    } else {
        cpu.set_reg16(r, v);
    }
}

/// The operand size of a stack operation: 16 bits under a 0x66 prefix (`push ax`,
/// `push word [m]`, `push imm16`, `pushw ds`, `popa`, `enterw`...), else 32.
fn stack_width(insn: &Instruction) -> Width {
    use iced_x86::Code as C;
    let w16 = match insn.code() {
        C::Pushw_ES
        | C::Pushw_CS
        | C::Pushw_SS
        | C::Pushw_DS
        | C::Pushw_FS
        | C::Pushw_GS
        | C::Popw_ES
        | C::Popw_SS
        | C::Popw_DS
        | C::Popw_FS
        | C::Popw_GS
        | C::Pushaw
        | C::Popaw
        | C::Pushfw
        | C::Popfw
        | C::Enterw_imm16_imm8
        | C::Leavew
        | C::Retnw
        | C::Retnw_imm16
        | C::Call_rel16 => true,
        // push/pop/call with a 16-bit register, memory operand or (push) immediate.
        C::Push_imm16 | C::Pushw_imm8 => true,
        _ => {
            insn.op_count() > 0
                && matches!(insn.op_kind(0), OpKind::Register | OpKind::Memory)
                && op_width(insn, 0) == Width::W16
        }
    };
    if w16 {
        Width::W16
    } else {
        Width::D32
    }
}

/// True when `loop*`/`jcxz` count in cx (a 0x67 prefix) rather than ecx.
fn counts_in_cx(insn: &Instruction) -> bool {
    use iced_x86::Code as C;
    matches!(
        insn.code(),
        C::Loop_rel8_16_CX
            | C::Loop_rel8_32_CX
            | C::Loope_rel8_16_CX
            | C::Loope_rel8_32_CX
            | C::Loopne_rel8_16_CX
            | C::Loopne_rel8_32_CX
            | C::Jcxz_rel8_16
            | C::Jcxz_rel8_32
    )
}

/// The count of `loop*`/`jecxz`: ecx, or cx under a 0x67 prefix.
fn count_register(cpu: &Cpu, insn: &Instruction) -> u32 {
    if counts_in_cx(insn) {
        cpu.reg16(ECX)
    } else {
        cpu.regs[ECX]
    }
}

/// Decrements the count of `loop*` (ecx, or cx alone under 0x67) and returns it.
fn decrement_count_register(cpu: &mut Cpu, insn: &Instruction) -> u32 {
    if counts_in_cx(insn) {
        let cx = cpu.reg16(ECX).wrapping_sub(1) & 0xffff;
        cpu.set_reg16(ECX, cx);
        cx
    } else {
        cpu.regs[ECX] = cpu.regs[ECX].wrapping_sub(1);
        cpu.regs[ECX]
    }
}

/// The 4-bit condition field (see [`alu::condition`]) of a condition code.
pub(crate) fn condition_number(cc: iced_x86::ConditionCode) -> Option<u8> {
    use iced_x86::ConditionCode as C;
    Some(match cc {
        C::o => 0,
        C::no => 1,
        C::b => 2,
        C::ae => 3,
        C::e => 4,
        C::ne => 5,
        C::be => 6,
        C::a => 7,
        C::s => 8,
        C::ns => 9,
        C::p => 10,
        C::np => 11,
        C::l => 12,
        C::ge => 13,
        C::le => 14,
        C::g => 15,
        C::None => return None,
    })
}

/// Whether `m` is one of the sixteen `setcc`.
pub(crate) fn is_setcc(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::Seta
            | M::Setae
            | M::Setb
            | M::Setbe
            | M::Sete
            | M::Setne
            | M::Setg
            | M::Setge
            | M::Setl
            | M::Setle
            | M::Seto
            | M::Setno
            | M::Setp
            | M::Setnp
            | M::Sets
            | M::Setns
    )
}

/// Whether `m` is one of the sixteen `cmovcc`.
pub(crate) fn is_cmovcc(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::Cmova
            | M::Cmovae
            | M::Cmovb
            | M::Cmovbe
            | M::Cmove
            | M::Cmovne
            | M::Cmovg
            | M::Cmovge
            | M::Cmovl
            | M::Cmovle
            | M::Cmovo
            | M::Cmovno
            | M::Cmovp
            | M::Cmovnp
            | M::Cmovs
            | M::Cmovns
    )
}

/// Executes `insn`.
pub fn exec(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<Flow> {
    use Mnemonic as M;
    let next = insn.next_ip32();
    match insn.mnemonic() {
        // Hints that change nothing a single user-mode thread can observe.
        M::Nop
        | M::Endbr32
        | M::Pause
        | M::Lfence
        | M::Mfence
        | M::Sfence
        | M::Prefetchnta
        | M::Prefetcht0
        | M::Prefetcht1
        | M::Prefetcht2
        | M::Prefetchw => {}
        M::Mov => {
            let v = read_op(cpu, mem, insn, 1)?;
            write_op(cpu, mem, insn, 0, v)?;
        }
        M::Movzx | M::Movsx => {
            let w = op_width(insn, 1);
            let v = read_op(cpu, mem, insn, 1)?;
            let v = if insn.mnemonic() == M::Movsx {
                match w {
                    Width::B8 => v as u8 as i8 as i32 as u32,
                    Width::W16 => v as u16 as i16 as i32 as u32,
                    Width::D32 => v,
                }
            } else {
                v
            };
            write_op(cpu, mem, insn, 0, v)?;
        }
        M::Lea => {
            // lea computes the offset without a segment base.
            let a = memory_offset(cpu, insn);
            write_op(cpu, mem, insn, 0, a)?;
        }
        M::Xchg => {
            let a = read_op(cpu, mem, insn, 0)?;
            let b = read_op(cpu, mem, insn, 1)?;
            check_writable(cpu, mem, insn, 0)?;
            check_writable(cpu, mem, insn, 1)?;
            write_op(cpu, mem, insn, 0, b)?;
            write_op(cpu, mem, insn, 1, a)?;
        }
        M::Push => {
            let v = read_op(cpu, mem, insn, 0)?;
            push(cpu, mem, stack_width(insn), v)?;
        }
        M::Pop => {
            let old = cpu.regs[ESP];
            let v = pop(cpu, mem, stack_width(insn))?;
            // `pop [esp+x]` addresses with the incremented esp, as the CPU does.
            if let Err(e) = write_op(cpu, mem, insn, 0, v) {
                cpu.regs[ESP] = old;
                return Err(e);
            }
        }
        M::Pushfd | M::Pushf => push(cpu, mem, stack_width(insn), cpu.eflags & !0x30000)?,
        M::Popfd | M::Popf => {
            let w = stack_width(insn);
            let v = pop(cpu, mem, w)?;
            // User mode may change the status flags, DF, TF, NT, AC and ID; IF and IOPL stay.
            const WRITABLE: u32 =
                alu::STATUS | alu::DF | alu::TF | (1 << 14) | (1 << 18) | (1 << 21);
            let writable = WRITABLE & w.mask();
            cpu.eflags = (cpu.eflags & !writable) | (v & writable) | 0x2;
        }
        M::Pushad | M::Pusha => {
            let w = stack_width(insn);
            let n = bytes(w);
            let esp = cpu.regs[ESP];
            let new_sp = esp.wrapping_sub(8 * n);
            mem.check_write(new_sp as u64, 8 * n)?;
            // eax ecx edx ebx, esp as it was before, ebp esi edi.
            for r in 0..8 {
                let v = if r == ESP { esp } else { cpu.regs[r] };
                write_mem(mem, esp.wrapping_sub(n * (r as u32 + 1)), w, v)?;
            }
            cpu.regs[ESP] = new_sp;
        }
        M::Popad | M::Popa => {
            let w = stack_width(insn);
            let n = bytes(w);
            let sp = cpu.regs[ESP];
            let mut vals = [0u32; 8];
            for (k, v) in vals.iter_mut().enumerate() {
                *v = read_mem(mem, sp.wrapping_add(n * k as u32), w)?;
            }
            // Popped in the order edi, esi, ebp, (esp skipped), ebx, edx, ecx, eax.
            for (k, r) in [7usize, 6, 5, 4, 3, 2, 1, 0].into_iter().enumerate() {
                if r != ESP {
                    set_reg_width(cpu, r, w, vals[k]);
                }
            }
            cpu.regs[ESP] = sp.wrapping_add(8 * n);
        }
        M::Lahf => {
            let ah = (cpu.eflags & 0xD5) | 0x2;
            cpu.set_reg8(4, ah);
        }
        M::Sahf => {
            let ah = cpu.reg8(4);
            cpu.eflags = (cpu.eflags & !0xD5) | (ah & 0xD5);
        }
        M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror | M::Rcl | M::Rcr => {
            let w = op_width(insn, 0);
            let a = read_op(cpu, mem, insn, 0)?;
            let count = if insn.op_count() > 1 {
                read_op(cpu, mem, insn, 1)?
            } else {
                1
            };
            check_writable(cpu, mem, insn, 0)?;
            let fl = cpu.eflags;
            let (r, flags) = match insn.mnemonic() {
                M::Shl | M::Sal => alu::shl(w, a, count, fl),
                M::Shr => alu::shr(w, a, count, fl),
                M::Sar => alu::sar(w, a, count, fl),
                M::Rol => alu::rol(w, a, count, fl),
                M::Ror => alu::ror(w, a, count, fl),
                M::Rcl => alu::rcl(w, a, count, fl),
                _ => alu::rcr(w, a, count, fl),
            };
            cpu.eflags = flags;
            write_op(cpu, mem, insn, 0, r)?;
        }
        M::Shld | M::Shrd => {
            let w = op_width(insn, 0);
            let a = read_op(cpu, mem, insn, 0)?;
            let b = read_op(cpu, mem, insn, 1)?;
            let count = read_op(cpu, mem, insn, 2)?;
            check_writable(cpu, mem, insn, 0)?;
            let (r, flags) = if insn.mnemonic() == M::Shld {
                alu::shld(w, a, b, count, cpu.eflags)
            } else {
                alu::shrd(w, a, b, count, cpu.eflags)
            };
            cpu.eflags = flags;
            write_op(cpu, mem, insn, 0, r)?;
        }
        M::Mul | M::Imul if insn.op_count() == 1 => {
            let w = op_width(insn, 0);
            let src = read_op(cpu, mem, insn, 0)?;
            let (lo, hi, flags) = if insn.mnemonic() == M::Mul {
                alu::mul(w, cpu.acc(w), src, cpu.eflags)
            } else {
                alu::imul(w, cpu.acc(w), src, cpu.eflags)
            };
            cpu.eflags = flags;
            cpu.set_acc_pair(w, lo, hi);
        }
        M::Imul => {
            let w = op_width(insn, 0);
            let (a, b) = if insn.op_count() == 3 {
                (read_op(cpu, mem, insn, 1)?, read_op(cpu, mem, insn, 2)?)
            } else {
                (read_op(cpu, mem, insn, 0)?, read_op(cpu, mem, insn, 1)?)
            };
            let (r, flags) = alu::imul_trunc(w, a, b, cpu.eflags);
            cpu.eflags = flags;
            write_op(cpu, mem, insn, 0, r)?;
        }
        M::Div | M::Idiv => {
            let w = op_width(insn, 0);
            let divisor = read_op(cpu, mem, insn, 0)?;
            let (lo, hi) = cpu.acc_pair(w);
            let (q, r) = if insn.mnemonic() == M::Div {
                alu::div(w, lo, hi, divisor)
            } else {
                alu::idiv(w, lo, hi, divisor)
            }
            .map_err(|_| ExecError::Divide)?;
            cpu.eflags = alu::div_flags(cpu.eflags);
            cpu.set_acc_pair(w, q, r);
        }
        M::Bt | M::Bts | M::Btr | M::Btc => {
            let w = op_width(insn, 0);
            let offset = read_op(cpu, mem, insn, 1)?;
            let register_offset = insn.op_kind(1) == OpKind::Register;
            // A register bit offset into memory selects a bit anywhere in the bit string.
            let (addr, bit) = if insn.op_kind(0) == OpKind::Memory && register_offset {
                let bits = w.bits() as i64;
                let signed = match w {
                    Width::W16 => offset as u16 as i16 as i64,
                    _ => offset as i32 as i64,
                };
                let step = signed.div_euclid(bits) * (bits / 8);
                // The moved offset still wraps at 64 KiB under 16-bit addressing.
                let mut offset = memory_offset(cpu, insn).wrapping_add(step as u32);
                if addr16(insn) {
                    offset &= 0xffff;
                }
                (
                    Some(offset.wrapping_add(segment_base(cpu, insn))),
                    signed.rem_euclid(bits) as u32,
                )
            } else if insn.op_kind(0) == OpKind::Memory {
                (Some(effective_address(cpu, insn)), offset)
            } else {
                (None, offset)
            };
            let value = match addr {
                Some(a) => read_mem(mem, a, w)?,
                None => read_op(cpu, mem, insn, 0)?,
            };
            let fl = cpu.eflags;
            let (r, flags) = match insn.mnemonic() {
                M::Bt => (value, alu::bt(w, value, bit, fl)),
                M::Bts => alu::bts(w, value, bit, fl),
                M::Btr => alu::btr(w, value, bit, fl),
                _ => alu::btc(w, value, bit, fl),
            };
            if insn.mnemonic() != M::Bt {
                match addr {
                    Some(a) => write_mem(mem, a, w, r)?,
                    None => write_op(cpu, mem, insn, 0, r)?,
                }
            }
            cpu.eflags = flags;
        }
        // `rep bsf`/`rep bsr` (F3 0F BC/BD) decode as tzcnt/lzcnt, which the guest CPU (an
        // i686 without BMI1/ABM, see cpuid) does not have: like such a CPU it ignores the
        // prefix. gcc emits `rep bsf` for ctz because it means bsf on old CPUs.
        M::Bsf | M::Bsr | M::Tzcnt | M::Lzcnt => {
            let w = op_width(insn, 0);
            let dst = read_op(cpu, mem, insn, 0)?;
            let src = read_op(cpu, mem, insn, 1)?;
            let (r, flags) = if matches!(insn.mnemonic(), M::Bsf | M::Tzcnt) {
                alu::bsf(w, dst, src, cpu.eflags)
            } else {
                alu::bsr(w, dst, src, cpu.eflags)
            };
            cpu.eflags = flags;
            write_op(cpu, mem, insn, 0, r)?;
        }
        M::Bswap => {
            let v = read_op(cpu, mem, insn, 0)?;
            write_op(cpu, mem, insn, 0, alu::bswap(op_width(insn, 0), v))?;
        }
        M::Xadd => {
            let w = op_width(insn, 0);
            let a = read_op(cpu, mem, insn, 0)?;
            let b = read_op(cpu, mem, insn, 1)?;
            check_writable(cpu, mem, insn, 0)?;
            let (sum, flags) = alu::add(w, a, b, cpu.eflags);
            if insn.op_kind(0) == OpKind::Memory {
                // The address is taken before the source register (which may form it, as in
                // `xadd [ecx], ch`) changes.
                let addr = effective_address(cpu, insn);
                write_mem(mem, addr, w, sum)?;
                write_op(cpu, mem, insn, 1, a)?;
            } else {
                // `xadd eax, eax` leaves the sum: the destination is written last.
                write_op(cpu, mem, insn, 1, a)?;
                write_op(cpu, mem, insn, 0, sum)?;
            }
            cpu.eflags = flags;
        }
        M::Cmpxchg => {
            let w = op_width(insn, 0);
            let dst = read_op(cpu, mem, insn, 0)?;
            let acc = cpu.acc(w);
            check_writable(cpu, mem, insn, 0)?;
            cpu.eflags = alu::cmp(w, acc, dst, cpu.eflags);
            if acc == dst {
                let src = read_op(cpu, mem, insn, 1)?;
                write_op(cpu, mem, insn, 0, src)?;
            } else {
                // The CPU writes the destination back even when the compare fails.
                write_op(cpu, mem, insn, 0, dst)?;
                cpu.set_acc(w, dst);
            }
        }
        M::Cmpxchg8b => {
            let a = effective_address(cpu, insn);
            let lo = read_mem(mem, a, Width::D32)?;
            let hi = read_mem(mem, a.wrapping_add(4), Width::D32)?;
            mem.check_write(a as u64, 8)?;
            if lo == cpu.regs[EAX] && hi == cpu.regs[EDX] {
                write_mem(mem, a, Width::D32, cpu.regs[crate::cpu::EBX])?;
                write_mem(mem, a.wrapping_add(4), Width::D32, cpu.regs[ECX])?;
                cpu.eflags |= alu::ZF;
            } else {
                write_mem(mem, a, Width::D32, lo)?;
                write_mem(mem, a.wrapping_add(4), Width::D32, hi)?;
                cpu.regs[EAX] = lo;
                cpu.regs[EDX] = hi;
                cpu.eflags &= !alu::ZF;
            }
        }
        M::Add | M::Adc | M::Sub | M::Sbb | M::And | M::Or | M::Xor | M::Cmp | M::Test => {
            let w = op_width(insn, 0);
            let a = read_op(cpu, mem, insn, 0)?;
            let b = read_op(cpu, mem, insn, 1)? & w.mask();
            let writes = !matches!(insn.mnemonic(), M::Cmp | M::Test);
            if writes {
                check_writable(cpu, mem, insn, 0)?;
            }
            let fl = cpu.eflags;
            let (r, flags) = match insn.mnemonic() {
                M::Add => alu::add(w, a, b, fl),
                M::Adc => alu::adc(w, a, b, fl),
                M::Sub | M::Cmp => alu::sub(w, a, b, fl),
                M::Sbb => alu::sbb(w, a, b, fl),
                M::And | M::Test => alu::and(w, a, b, fl),
                M::Or => alu::or(w, a, b, fl),
                _ => alu::xor(w, a, b, fl),
            };
            cpu.eflags = flags;
            if writes {
                write_op(cpu, mem, insn, 0, r)?;
            }
        }
        M::Inc | M::Dec | M::Neg | M::Not => {
            let w = op_width(insn, 0);
            let a = read_op(cpu, mem, insn, 0)?;
            check_writable(cpu, mem, insn, 0)?;
            let fl = cpu.eflags;
            let (r, flags) = match insn.mnemonic() {
                M::Inc => alu::inc(w, a, fl),
                M::Dec => alu::dec(w, a, fl),
                M::Neg => alu::neg(w, a, fl),
                _ => (!a & w.mask(), fl),
            };
            cpu.eflags = flags;
            write_op(cpu, mem, insn, 0, r)?;
        }
        // Far transfers (`ljmp`/`lcall` to a selector, direct or through memory) would load
        // CS; the flat user-mode guest has no segments to switch to.
        M::Jmp | M::Call
            if insn.is_jmp_far()
                || insn.is_call_far()
                || insn.is_jmp_far_indirect()
                || insn.is_call_far_indirect() =>
        {
            return Err(ExecError::Unimplemented(insn.mnemonic()));
        }
        M::Jmp => {
            return Ok(Flow::Jump(match insn.op_kind(0) {
                OpKind::NearBranch32 | OpKind::NearBranch16 => insn.near_branch32(),
                _ => read_op(cpu, mem, insn, 0)?,
            }))
        }
        M::Call => {
            let target = match insn.op_kind(0) {
                OpKind::NearBranch32 | OpKind::NearBranch16 => insn.near_branch32(),
                _ => read_op(cpu, mem, insn, 0)?,
            };
            // A 16-bit call (0x66) pushes the 16-bit return address.
            push(cpu, mem, stack_width(insn), next)?;
            return Ok(Flow::Jump(target));
        }
        M::Ret => {
            let w = stack_width(insn);
            let target = read_mem(mem, cpu.regs[ESP], w)?;
            let extra = if insn.op_count() > 0 {
                insn.immediate16() as u32
            } else {
                0
            };
            cpu.regs[ESP] = cpu.regs[ESP].wrapping_add(bytes(w)).wrapping_add(extra);
            return Ok(Flow::Jump(target));
        }
        M::Leave => {
            let w = stack_width(insn);
            let ebp = cpu.regs[crate::cpu::EBP];
            let v = read_mem(mem, ebp, w)?;
            cpu.regs[ESP] = ebp.wrapping_add(bytes(w));
            set_reg_width(cpu, crate::cpu::EBP, w, v);
        }
        M::Int => {
            if insn.immediate8() == 0x80 {
                return Ok(Flow::Syscall);
            }
            return Ok(Flow::Privileged);
        }
        M::Hlt
        | M::Cli
        | M::Sti
        | M::In
        | M::Out
        | M::Insb
        | M::Insw
        | M::Insd
        | M::Outsb
        | M::Outsw
        | M::Outsd => return Ok(Flow::Privileged),
        M::Cdq => {
            cpu.regs[EDX] = if (cpu.regs[EAX] as i32) < 0 {
                u32::MAX
            } else {
                0
            }
        }
        M::Cwd => cpu.set_reg16(
            EDX,
            if (cpu.regs[EAX] as i16) < 0 {
                0xFFFF
            } else {
                0
            },
        ),
        M::Cwde => cpu.regs[EAX] = cpu.regs[EAX] as u16 as i16 as i32 as u32,
        M::Cbw => cpu.set_reg16(EAX, cpu.regs[EAX] as u8 as i8 as i16 as u16 as u32),
        M::Cpuid => crate::cpuid::cpuid(cpu),
        M::Rdtsc => {
            // A monotonic count that advances with guest time; the host's real TSC would
            // leak host timing into the sandbox for nothing.
            let t = crate::cpuid::virtual_tsc(cpu);
            cpu.regs[EAX] = t as u32;
            cpu.regs[EDX] = (t >> 32) as u32;
        }
        M::Jecxz | M::Jcxz => {
            if count_register(cpu, insn) == 0 {
                return Ok(Flow::Jump(insn.near_branch32()));
            }
        }
        M::Loope | M::Loopne => {
            let count = decrement_count_register(cpu, insn);
            let zf = cpu.flag(alu::ZF);
            let again = if insn.mnemonic() == M::Loope { zf } else { !zf };
            if count != 0 && again {
                return Ok(Flow::Jump(insn.near_branch32()));
            }
        }
        M::Enter => {
            // A 16-bit enter (0x66) pushes and copies words and sets only bp.
            let w = stack_width(insn);
            let size = insn.immediate16() as u32;
            let level = (insn.immediate8_2nd() & 31) as u32;
            let ebp = cpu.regs[crate::cpu::EBP];
            push(cpu, mem, w, ebp)?;
            let frame = cpu.regs[ESP];
            for k in 1..level {
                let v = read_mem(mem, ebp.wrapping_sub(bytes(w) * k), w)?;
                push(cpu, mem, w, v)?;
            }
            if level > 0 {
                push(cpu, mem, w, frame)?;
            }
            set_reg_width(cpu, crate::cpu::EBP, w, frame);
            cpu.regs[ESP] = cpu.regs[ESP].wrapping_sub(size);
        }
        M::Movsb
        | M::Movsw
        | M::Movsd
        | M::Stosb
        | M::Stosw
        | M::Stosd
        | M::Lodsb
        | M::Lodsw
        | M::Lodsd
        | M::Cmpsb
        | M::Cmpsw
        | M::Cmpsd
        | M::Scasb
        | M::Scasw
        | M::Scasd
            if insn.op_count() == 0
                || insn.op_kind(0) != OpKind::Register
                || !insn.op_register(0).is_xmm() =>
        {
            return crate::string::exec_string(cpu, mem, insn);
        }
        M::Clc => cpu.eflags &= !alu::CF,
        M::Stc => cpu.eflags |= alu::CF,
        M::Cmc => cpu.eflags ^= alu::CF,
        M::Cld => cpu.eflags &= !alu::DF,
        M::Std => cpu.eflags |= alu::DF,
        M::Loop => {
            if decrement_count_register(cpu, insn) != 0 {
                return Ok(Flow::Jump(insn.near_branch32()));
            }
        }
        M::Xlatb => {
            // al = [ebx + al] (bx + al under 0x67); iced gives the operand as [ebx+al].
            let v = read_mem(mem, effective_address(cpu, insn), Width::B8)?;
            cpu.set_reg8(0, v);
        }
        M::Salc => cpu.set_reg8(0, if cpu.flag(alu::CF) { 0xff } else { 0 }),
        M::Daa | M::Das => {
            let al = cpu.reg8(0);
            let (r, flags) = if insn.mnemonic() == M::Daa {
                alu::daa(al, cpu.eflags)
            } else {
                alu::das(al, cpu.eflags)
            };
            cpu.set_reg8(0, r);
            cpu.eflags = flags;
        }
        M::Aaa | M::Aas => {
            let ax = cpu.reg16(EAX);
            let (r, flags) = if insn.mnemonic() == M::Aaa {
                alu::aaa(ax, cpu.eflags)
            } else {
                alu::aas(ax, cpu.eflags)
            };
            cpu.set_reg16(EAX, r);
            cpu.eflags = flags;
        }
        M::Aam => {
            let (ax, flags) = alu::aam(cpu.reg8(0), insn.immediate8() as u32, cpu.eflags)
                .map_err(|_| ExecError::Divide)?;
            cpu.set_reg16(EAX, ax);
            cpu.eflags = flags;
        }
        M::Aad => {
            let (al, flags) = alu::aad(cpu.reg16(EAX), insn.immediate8() as u32, cpu.eflags);
            cpu.set_reg16(EAX, al & 0xff);
            cpu.eflags = flags;
        }
        m if crate::fpu::is_x87(m) => return crate::fpu::exec(cpu, mem, insn),
        m => {
            if let Some(cc) = condition_number(insn.condition_code()) {
                let holds = alu::condition(cc, cpu.eflags);
                if insn.is_jcc_short_or_near() {
                    return Ok(if holds {
                        Flow::Jump(insn.near_branch32())
                    } else {
                        Flow::Next
                    });
                }
                if is_setcc(m) {
                    write_op(cpu, mem, insn, 0, holds as u32)?;
                    return Ok(Flow::Next);
                }
                if is_cmovcc(m) {
                    // The source is read (and may fault) even when the move does not happen.
                    let v = read_op(cpu, mem, insn, 1)?;
                    if holds {
                        write_op(cpu, mem, insn, 0, v)?;
                    }
                    return Ok(Flow::Next);
                }
            }
            return Err(ExecError::Unimplemented(m));
        }
    }
    Ok(Flow::Next)
}

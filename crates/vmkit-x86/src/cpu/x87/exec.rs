//! x87 instruction dispatch: delivers a pending unmasked exception, records the
//! last-instruction pointers, and hands the instruction to its family in [`super::insn`].
//!
//! An unmasked exception sets ES; the next waiting x87 instruction (anything but `fninit`,
//! `fnclex`, `fnstsw`, `fnstcw`, `fnstenv`, `fnsave`) then stops with [`ExecError::X87`],
//! which the machine reports as SIGFPE.

use super::insn::{arithmetic, compare, control, load_store, operand::has_memory, transcendental};
use super::state::sw;
use crate::cpu::operand::{effective_address, ExecError, Result};
use crate::cpu::Cpu;
use iced_x86::{Instruction, Mnemonic, OpKind};
use vmkit_mem::Memory;

/// Whether `m` is an x87 instruction this module executes.
pub fn is_x87(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::F2xm1
            | M::Fabs
            | M::Fadd
            | M::Faddp
            | M::Fbld
            | M::Fbstp
            | M::Fchs
            | M::Fclex
            | M::Fcmovb
            | M::Fcmovbe
            | M::Fcmove
            | M::Fcmovnb
            | M::Fcmovnbe
            | M::Fcmovne
            | M::Fcmovnu
            | M::Fcmovu
            | M::Fcom
            | M::Fcomi
            | M::Fcomip
            | M::Fcomp
            | M::Fcompp
            | M::Fcos
            | M::Fdecstp
            | M::Fdiv
            | M::Fdivp
            | M::Fdivr
            | M::Fdivrp
            | M::Ffree
            | M::Ffreep
            | M::Fiadd
            | M::Ficom
            | M::Ficomp
            | M::Fidiv
            | M::Fidivr
            | M::Fild
            | M::Fimul
            | M::Fincstp
            | M::Finit
            | M::Fist
            | M::Fistp
            | M::Fisttp
            | M::Fisub
            | M::Fisubr
            | M::Fld
            | M::Fld1
            | M::Fldcw
            | M::Fldenv
            | M::Fldl2e
            | M::Fldl2t
            | M::Fldlg2
            | M::Fldln2
            | M::Fldpi
            | M::Fldz
            | M::Fmul
            | M::Fmulp
            | M::Fnclex
            | M::Fndisi
            | M::Fneni
            | M::Fninit
            | M::Fnop
            | M::Fnsave
            | M::Fnsetpm
            | M::Fnstcw
            | M::Fnstenv
            | M::Fnstsw
            | M::Fpatan
            | M::Fprem
            | M::Fprem1
            | M::Fptan
            | M::Frndint
            | M::Frstor
            | M::Fsave
            | M::Fscale
            | M::Fsin
            | M::Fsincos
            | M::Fsqrt
            | M::Fst
            | M::Fstcw
            | M::Fstenv
            | M::Fstp
            | M::Fstsw
            | M::Fsub
            | M::Fsubp
            | M::Fsubr
            | M::Fsubrp
            | M::Ftst
            | M::Fucom
            | M::Fucomi
            | M::Fucomip
            | M::Fucomp
            | M::Fucompp
            | M::Fxam
            | M::Fxch
            | M::Fxtract
            | M::Fyl2x
            | M::Fyl2xp1
            | M::Wait
    )
}

/// Instructions that do not first deliver a pending unmasked exception.
fn is_no_wait(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::Fninit | M::Fnclex | M::Fnstsw | M::Fnstcw | M::Fnstenv | M::Fnsave
    ) || matches!(m, M::Fneni | M::Fndisi | M::Fnsetpm)
}

/// Control instructions, which leave the last-instruction pointers alone.
fn is_control(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::Fninit
            | M::Finit
            | M::Fnclex
            | M::Fclex
            | M::Fldcw
            | M::Fnstcw
            | M::Fstcw
            | M::Fnstsw
            | M::Fstsw
            | M::Fnstenv
            | M::Fstenv
            | M::Fldenv
            | M::Fnsave
            | M::Fsave
            | M::Frstor
            | M::Wait
    )
}

/// Executes the x87 instruction `insn`.
pub(crate) fn exec(cpu: &mut Cpu, mem: &mut Memory, insn: &Instruction) -> Result<()> {
    use Mnemonic as M;
    let m = insn.mnemonic();
    let fpu = &mut cpu.fpu;
    fpu.used = true;
    if !is_no_wait(m) && fpu.sw & sw::ES != 0 {
        return Err(ExecError::X87(fpu.status()));
    }
    let addr = if has_memory(insn) {
        effective_address(cpu, insn)
    } else {
        0
    };
    let fpu = &mut cpu.fpu;
    if !is_control(m) {
        fpu.fip = insn.ip32();
        fpu.fdp = addr;
    }
    match m {
        M::Wait | M::Fnop | M::Fneni | M::Fndisi | M::Fnsetpm => {}
        // Control.
        M::Fninit | M::Finit => fpu.init(),
        M::Fnclex | M::Fclex => control::clear_exceptions(fpu),
        M::Fnstcw | M::Fstcw => control::store_control_word(fpu, mem, addr)?,
        M::Fldcw => control::load_control_word(fpu, mem, addr)?,
        M::Fnstsw | M::Fstsw => control::store_status_word(cpu, mem, insn, addr)?,
        M::Fnstenv | M::Fstenv => control::store_environment(fpu, mem, insn, addr)?,
        M::Fldenv => control::load_environment(fpu, mem, insn, addr)?,
        M::Fnsave | M::Fsave => control::save(fpu, mem, insn, addr)?,
        M::Frstor => control::restore(fpu, mem, insn, addr)?,
        // Loads, stores, moves within the stack.
        M::Fld | M::Fild | M::Fbld => load_store::load(fpu, mem, insn, addr)?,
        M::Fld1 | M::Fldz | M::Fldpi | M::Fldl2e | M::Fldl2t | M::Fldlg2 | M::Fldln2 => {
            load_store::load_constant(fpu, m)
        }
        M::Fst | M::Fstp if insn.op_kind(0) == OpKind::Register => {
            load_store::store_register(fpu, insn)
        }
        M::Fst | M::Fstp | M::Fist | M::Fistp | M::Fisttp | M::Fbstp => {
            load_store::store(fpu, mem, insn, addr)?
        }
        M::Fxch => load_store::exchange(fpu, insn),
        M::Fcmovb
        | M::Fcmovbe
        | M::Fcmove
        | M::Fcmovnb
        | M::Fcmovnbe
        | M::Fcmovne
        | M::Fcmovnu
        | M::Fcmovu => load_store::conditional_move(&mut cpu.fpu, cpu.eflags, insn),
        M::Ffree | M::Ffreep => load_store::free(fpu, insn),
        M::Fdecstp | M::Fincstp => load_store::rotate_top(fpu, m),
        // Arithmetic.
        M::Fadd
        | M::Fsub
        | M::Fsubr
        | M::Fmul
        | M::Fdiv
        | M::Fdivr
        | M::Faddp
        | M::Fsubp
        | M::Fsubrp
        | M::Fmulp
        | M::Fdivp
        | M::Fdivrp
        | M::Fiadd
        | M::Fisub
        | M::Fisubr
        | M::Fimul
        | M::Fidiv
        | M::Fidivr => arithmetic::binary(fpu, mem, insn, addr)?,
        M::Fchs | M::Fabs => arithmetic::sign(fpu, m),
        M::Fsqrt | M::Frndint | M::F2xm1 => arithmetic::unary(fpu, m),
        M::Fscale => arithmetic::scale(fpu),
        M::Fprem | M::Fprem1 => arithmetic::remainder(fpu, m),
        M::Fxtract => arithmetic::extract(fpu),
        // Comparisons.
        M::Fcom
        | M::Fcomp
        | M::Fucom
        | M::Fucomp
        | M::Ficom
        | M::Ficomp
        | M::Fcompp
        | M::Fucompp
        | M::Ftst => compare::compare(fpu, mem, insn, addr)?,
        M::Fcomi | M::Fcomip | M::Fucomi | M::Fucomip => {
            compare::compare_eflags(&mut cpu.fpu, &mut cpu.eflags, insn)
        }
        M::Fxam => compare::examine(fpu),
        // Transcendentals.
        M::Fyl2x | M::Fyl2xp1 | M::Fpatan => transcendental::two_operand(fpu, m),
        M::Fsin | M::Fcos | M::Fptan | M::Fsincos => transcendental::trigonometric(fpu, m),
        _ => return Err(ExecError::Unimplemented(m)),
    }
    Ok(())
}

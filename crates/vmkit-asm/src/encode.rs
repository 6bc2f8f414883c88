//! From a parsed instruction and the current symbol values to a [`vmkit_isa::Instr`].
//!
//! An instruction's length depends on its operands' encodings: an immediate takes 1, 4 or 8
//! bytes, and `[r1 + d]` shrinks to `[r1]` when `d` is 0. Those depend on label values, which
//! depend on lengths. Layout therefore lowers every instruction once per pass, in
//! [`Mode::Grow`], and each operand's [`OperandState`] only ever grows: once an immediate
//! needed 4 bytes it keeps them, even if a later pass finds it would fit in 1. That makes the
//! passes converge. The final pass ([`Mode::Final`]) uses the states as they are and reports
//! range errors.

use crate::ast::{InstrStmt, MemAst, OperandAst};
use crate::expr::{Env, Expr};
use crate::source::{Report, Span};
use vmkit_isa::{Addr, ImmWidth, Instr, Mem, Operand, Size, Slot};

/// The encoding chosen so far for one written operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OperandState {
    /// An immediate of at least this width.
    Imm(ImmWidth),
    /// `[r + d]`: whether the 4-byte displacement form is needed (`false`: `[r]` so far).
    Based { long: bool },
    /// Nothing to choose.
    Fixed,
}

/// The smallest encodings, before anything is known; written widths are fixed.
pub(crate) fn initial_states(instr: &InstrStmt) -> Vec<OperandState> {
    instr
        .operands
        .iter()
        .map(|o| match o {
            OperandAst::Imm { width: Some(w), .. } => OperandState::Imm(*w),
            OperandAst::Imm { width: None, .. } => OperandState::Imm(ImmWidth::I8),
            OperandAst::Mem {
                addr:
                    MemAst::Based {
                        disp: Some(_),
                        force,
                        ..
                    },
                ..
            } => OperandState::Based { long: *force },
            _ => OperandState::Fixed,
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Grow states to fit the current values; no errors.
    Grow,
    /// Use the states as they are, to learn the length; no errors.
    Size,
    /// Use the states; report values that do not fit.
    Final,
}

/// What lowering needs from its caller.
pub(crate) struct Lowering<'a> {
    pub env: &'a dyn Env,
    pub mode: Mode,
    /// Address of the instruction.
    pub addr: u64,
    /// Errors and warnings (only filled in [`Mode::Final`]).
    pub reports: &'a mut Vec<Report>,
}

impl Lowering<'_> {
    /// Evaluates, reporting errors in the final pass; `None` means "give up on this
    /// instruction" and only happens in the final pass.
    fn value(&mut self, e: &Expr, in_cp: bool) -> Option<i64> {
        match e.eval(self.env, in_cp) {
            Ok(v) => Some(v),
            Err(r) if self.mode == Mode::Final => {
                self.reports.push(r);
                None
            }
            Err(_) => Some(0),
        }
    }

    fn range_error(&mut self, span: Span, message: String, hint: Option<&str>) -> Option<()> {
        if self.mode == Mode::Final {
            let mut r = Report::error(span, message);
            if let Some(h) = hint {
                r = r.hint(h);
            }
            self.reports.push(r);
            None
        } else {
            Some(())
        }
    }

    fn disp32(&mut self, v: i64, span: Span) -> Option<i32> {
        match i32::try_from(v) {
            Ok(d) => Some(d),
            Err(_) => {
                self.range_error(
                    span,
                    format!("displacement {} does not fit in 32 bits (signed)", show(v)),
                    None,
                )?;
                Some(0)
            }
        }
    }

    fn addr32(&mut self, v: i64, span: Span, what: &str) -> Option<u32> {
        match u32::try_from(v) {
            Ok(a) => Some(a),
            Err(_) => {
                self.range_error(
                    span,
                    format!("{what} {} is outside 0..=0xffffffff", show(v)),
                    Some("absolute and constant-pool addresses are 32-bit; use a register base for others"),
                )?;
                Some(0)
            }
        }
    }

    fn lower_mem(&mut self, addr: &MemAst, state: &mut OperandState, span: Span) -> Option<Addr> {
        Some(match addr {
            MemAst::Abs(e) => {
                let v = self.value(e, false)?;
                Addr::Abs(self.addr32(v, e.span, "address")?)
            }
            MemAst::Const(e) => {
                let v = match e {
                    Some(e) => self.value(e, true)?,
                    None => 0,
                };
                Addr::Const(self.addr32(
                    v,
                    e.as_ref().map_or(span, |e| e.span),
                    "constant-pool offset",
                )?)
            }
            MemAst::Based {
                base, disp: None, ..
            } => Addr::Reg(*base),
            MemAst::Based {
                base,
                disp: Some(e),
                ..
            } => {
                let v = self.value(e, false)?;
                let long = match state {
                    OperandState::Based { long } => {
                        if self.mode == Mode::Grow && v != 0 {
                            *long = true;
                        }
                        *long
                    }
                    _ => true,
                };
                if long {
                    Addr::Based {
                        base: *base,
                        disp: self.disp32(v, e.span)?,
                    }
                } else {
                    Addr::Reg(*base)
                }
            }
            MemAst::Indexed {
                base,
                index,
                scale_log2,
                disp,
            } => {
                let d = match disp {
                    Some(e) => {
                        let v = self.value(e, false)?;
                        self.disp32(v, e.span)?
                    }
                    None => 0,
                };
                Addr::Indexed {
                    base: *base,
                    index: *index,
                    scale_log2: *scale_log2,
                    disp: d,
                }
            }
        })
    }

    /// Lowers `instr`, growing `states` in [`Mode::Grow`]. `None` only in
    /// [`Mode::Final`], after reporting why.
    pub fn lower(&mut self, instr: &InstrStmt, states: &mut [OperandState]) -> Option<Instr> {
        let info = instr.op.info();
        let mut operands = [Operand::None; 3];
        let mut slot_index = 0;
        if let Some(c) = instr.cond {
            operands[0] = Operand::Cond(c);
            slot_index = 1;
        }
        let mut branch_target: Option<(usize, i64, Span)> = None;
        let mut fixed = OperandState::Fixed;
        for (j, ast) in instr.operands.iter().enumerate() {
            let k = slot_index + j;
            let slot = *info.slots.get(k)?;
            let state = states.get_mut(j).unwrap_or(&mut fixed);
            operands[k] = match (slot, ast) {
                (_, OperandAst::Reg(r, _)) => Operand::Reg(*r),
                (Slot::Rel, OperandAst::Imm { expr, .. }) => {
                    let target = self.value(expr, false)?;
                    branch_target = Some((k, target, expr.span));
                    Operand::Rel(0)
                }
                (Slot::U8 | Slot::U16, OperandAst::Imm { expr, .. }) => {
                    let v = self.value(expr, false)?;
                    let (max, what) = if slot == Slot::U8 {
                        (u8::MAX as i64, "system call number")
                    } else {
                        (u16::MAX as i64, "host function index")
                    };
                    if !(0..=max).contains(&v) {
                        self.range_error(
                            expr.span,
                            format!("{what} {v} is outside 0..={max}"),
                            None,
                        )?;
                    }
                    if slot == Slot::U8 {
                        Operand::U8(v.clamp(0, max) as u8)
                    } else {
                        Operand::U16(v.clamp(0, max) as u16)
                    }
                }
                (_, OperandAst::Imm { expr, width, span }) => {
                    let v = self.value(expr, false)?;
                    let mut w = match state {
                        OperandState::Imm(w) => *w,
                        _ => ImmWidth::I64,
                    };
                    if self.mode == Mode::Grow && width.is_none() && !w.holds(v) {
                        w = wider(w, ImmWidth::shortest(v));
                        *state = OperandState::Imm(w);
                    }
                    if !w.holds(v) {
                        let (name, range) = match w {
                            ImmWidth::I8 => ("byte", "-128..=127"),
                            ImmWidth::I32 => ("dword", "-0x80000000..=0x7fffffff"),
                            ImmWidth::I64 => ("qword", ""),
                        };
                        self.range_error(
                            *span,
                            format!("value {} does not fit `{name}` ({range})", show(v)),
                            Some("immediates are sign-extended from their width; remove the width to let the assembler choose"),
                        )?;
                    }
                    if self.mode == Mode::Final && instr.op.is_sized() && instr.size != Size::Q {
                        self.warn_truncation(v, instr.size, *span);
                    }
                    Operand::Imm { value: v, width: w }
                }
                (_, OperandAst::Mem { depth, addr, span }) => Operand::Mem(Mem {
                    addr: self.lower_mem(addr, state, *span)?,
                    depth: *depth,
                }),
            };
        }
        let mut lowered = Instr {
            op: instr.op,
            size: if instr.op.is_sized() {
                instr.size
            } else {
                Size::Q
            },
            operands,
        };
        if let Some((k, target, span)) = branch_target {
            let next = self.addr.wrapping_add(lowered.len() as u64);
            let rel = target.wrapping_sub(next as i64);
            let rel = match i32::try_from(rel) {
                Ok(r) => r,
                Err(_) => {
                    self.range_error(
                        span,
                        format!("branch target {} is too far: the distance {rel} does not fit in 32 bits", show(target)),
                        Some("jump through a register instead: `mov r1, target` / `jmp r1`"),
                    )?;
                    0
                }
            };
            lowered.operands[k] = Operand::Rel(rel);
        }
        if let Err(e) = lowered.validate() {
            // The parser checked operand kinds, so this would be an assembler bug; report it
            // rather than panic.
            if self.mode == Mode::Final {
                let span = instr.operands.first().map(OperandAst::span);
                self.reports.push(match span {
                    Some(s) => Report::error(s, format!("cannot encode: {e}")),
                    None => Report::global(format!("cannot encode: {e}")),
                });
                return None;
            }
        }
        Some(lowered)
    }

    fn warn_truncation(&mut self, v: i64, size: Size, span: Span) {
        let bits = size.bits();
        let min = -(1i64 << (bits - 1));
        let max = (1i64 << bits) - 1;
        if v < min || v > max {
            self.reports.push(
                Report::warning(
                    span,
                    format!(
                        "value {} does not fit in {bits} bits; `.{}` uses only its low {bits} bits ({})",
                        show(v),
                        size.suffix(),
                        show(Size::sign_extend(size, v as u64) as i64)
                    ),
                )
                .hint("mask the value if the truncation is intended, e.g. `x & 0xff`"),
            );
        }
    }
}

fn wider(a: ImmWidth, b: ImmWidth) -> ImmWidth {
    let rank = |w: ImmWidth| match w {
        ImmWidth::I8 => 0,
        ImmWidth::I32 => 1,
        ImmWidth::I64 => 2,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// A number as a user would like to read it: decimal when small, hex otherwise.
pub(crate) fn show(v: i64) -> String {
    if (-65536..=65536).contains(&v) {
        v.to_string()
    } else if v < 0 {
        format!("-{:#x}", v.unsigned_abs())
    } else {
        format!("{v:#x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::StmtKind;
    use crate::lexer::lex;
    use crate::parser::{parse_statement, ParseCtx, Parsed};
    use vmkit_isa::{Op, Reg};

    fn parse(text: &str) -> InstrStmt {
        let toks = lex(text).unwrap();
        let none = Vec::new;
        let ctx = ParseCtx {
            line: 0,
            text,
            scope: "",
            macro_names: &none,
            suggest: &crate::diag::Suggester::default(),
        };
        match parse_statement(&ctx, &toks) {
            Ok(Parsed::Stmt(StmtKind::Instr(i))) => *i,
            other => panic!("{other:?}"),
        }
    }

    /// Every symbol is worth the same value.
    struct All(i64);
    impl Env for All {
        fn symbol(&self, _: &str, _: Span, _: bool) -> Result<i64, Report> {
            Ok(self.0)
        }
        fn dot(&self, _: Span) -> Result<i64, Report> {
            Ok(0)
        }
    }

    fn lower(
        instr: &InstrStmt,
        states: &mut [OperandState],
        x: i64,
        mode: Mode,
    ) -> (Option<Instr>, Vec<Report>) {
        let mut reports = Vec::new();
        let out = Lowering {
            env: &All(x),
            mode,
            addr: 0x1000,
            reports: &mut reports,
        }
        .lower(instr, states);
        (out, reports)
    }

    #[test]
    fn immediates_grow_and_never_shrink() {
        let i = parse("mov r1, x");
        let mut states = initial_states(&i);
        assert_eq!(
            states,
            vec![OperandState::Fixed, OperandState::Imm(ImmWidth::I8)]
        );
        lower(&i, &mut states, 5, Mode::Grow);
        assert_eq!(states[1], OperandState::Imm(ImmWidth::I8));
        lower(&i, &mut states, 1000, Mode::Grow);
        assert_eq!(states[1], OperandState::Imm(ImmWidth::I32));
        lower(&i, &mut states, 5, Mode::Grow);
        assert_eq!(states[1], OperandState::Imm(ImmWidth::I32), "no shrinking");
        let (out, reports) = lower(&i, &mut states, 5, Mode::Final);
        assert!(reports.is_empty());
        assert_eq!(
            out.unwrap().operands[1],
            Operand::Imm {
                value: 5,
                width: ImmWidth::I32
            }
        );
    }

    #[test]
    fn sizing_does_not_grow() {
        let i = parse("mov r1, x");
        let mut states = initial_states(&i);
        let (out, _) = lower(&i, &mut states, 1 << 40, Mode::Size);
        assert_eq!(
            out.unwrap().len(),
            5,
            "sized with the current one-byte immediate"
        );
        assert_eq!(states[1], OperandState::Imm(ImmWidth::I8));
    }

    #[test]
    fn zero_displacements_shrink_until_they_grow() {
        let i = parse("mov r1, [r2 + x]");
        let mut states = initial_states(&i);
        let (out, _) = lower(&i, &mut states, 0, Mode::Grow);
        let mem = |out: Option<Instr>| match out.unwrap().operands[1] {
            Operand::Mem(m) => m.addr,
            other => panic!("{other:?}"),
        };
        assert_eq!(mem(out), vmkit_isa::Addr::Reg(Reg::r(2)));
        lower(&i, &mut states, 8, Mode::Grow);
        let (out, _) = lower(&i, &mut states, 0, Mode::Final);
        assert_eq!(
            mem(out),
            vmkit_isa::Addr::Based {
                base: Reg::r(2),
                disp: 0
            }
        );
    }

    #[test]
    fn branches_are_relative_and_range_checked() {
        let i = parse("jz x");
        let mut states = initial_states(&i);
        let (out, _) = lower(&i, &mut states, 0x1000, Mode::Final);
        let out = out.unwrap();
        assert_eq!(out.op, Op::Jcc);
        assert_eq!(out.operands[1], Operand::Rel(-6));
        let (out, reports) = lower(&i, &mut states, 1 << 40, Mode::Final);
        assert!(out.is_none());
        assert!(reports[0]
            .message
            .starts_with("branch target 0x10000000000 is too far"));
    }

    #[test]
    fn forced_widths_are_checked_only_in_the_final_pass() {
        let i = parse("mov r1, byte x");
        let mut states = initial_states(&i);
        let (_, reports) = lower(&i, &mut states, 200, Mode::Grow);
        assert!(reports.is_empty());
        let (out, reports) = lower(&i, &mut states, 200, Mode::Final);
        assert!(out.is_none());
        assert_eq!(
            reports[0].message,
            "value 200 does not fit `byte` (-128..=127)"
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(show(300), "300");
        assert_eq!(show(-70000), "-0x11170");
        assert_eq!(show(1 << 32), "0x100000000");
    }
}

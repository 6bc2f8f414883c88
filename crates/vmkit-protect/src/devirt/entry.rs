//! Stage 1 of devirtualization: entry stubs, vm_entry and calc_jmp.

use super::DevirtError;
use crate::discover::{decode_at, rel_target};
use crate::profile::VmRegs;
use crate::transform::{Chain3, KeyChain, KeyOp, Transform};
use std::collections::BTreeMap;
use vmkit_image::Image;
use vmkit_isa::{Addr, Instr, Mem, Op, Operand, Reg, Size};

/// What vm_entry and calc_jmp reveal about one VM instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmEntry {
    /// vm_entry's address.
    pub entry: u64,
    /// calc_jmp's address.
    pub dispatch: u64,
    /// vm_exit's address.
    pub exit: u64,
    /// The context (slot 0).
    pub ctx: u64,
    /// The initial VSP.
    pub vstack_top: u64,
    /// What decrypted entry offsets are added to.
    pub bytecode_base: u64,
    /// What decrypted table entries are added to.
    pub handler_base: u64,
    /// The handler table.
    pub table: u64,
    /// Register roles.
    pub regs: VmRegs,
    /// VIP direction.
    pub forward: bool,
    /// vm_entry's offset chain.
    pub entry_chain: Chain3,
    /// calc_jmp's opcode chain.
    pub dispatch_chain: KeyChain,
    /// The table entries' transform.
    pub table_transform: Transform,
    /// Each opcode's handler address, decrypted from the table.
    pub handlers: Vec<u64>,
    /// Entry stubs leading here: stub address and the encrypted offset it pushes.
    pub stubs: Vec<(u64, u32)>,
}

impl VmEntry {
    /// The virtual block a stub's encrypted offset designates.
    pub fn block_of(&self, enc: u32) -> u64 {
        self.entry_chain
            .apply(enc as u64, Size::D)
            .wrapping_add(self.bytecode_base)
    }
}

/// The target of the `jmp rel` at `at`, if that is what is there.
pub fn jmp_at(image: &Image, at: u64) -> Option<u64> {
    let (jmp, n) = decode_at(image, at)?;
    (jmp.op == Op::Jmp)
        .then(|| rel_target(at, n, &jmp))
        .flatten()
}

/// The stub at `at`, `push.q imm32; jmp target`: its target and the pushed value.
pub fn stub_at(image: &Image, at: u64) -> Option<(u64, u32)> {
    let (push, n) = decode_at(image, at)?;
    let Operand::Imm {
        value,
        width: vmkit_isa::ImmWidth::I32,
    } = push.operands[0]
    else {
        return None;
    };
    if push.op != Op::Push || push.size != Size::Q {
        return None;
    }
    Some((jmp_at(image, at + n)?, value as u32))
}

/// Finds every stub in executable segments: target and (stub address, pushed value).
fn stubs(image: &Image) -> BTreeMap<u64, Vec<(u64, u32)>> {
    let mut found: BTreeMap<u64, Vec<(u64, u32)>> = BTreeMap::new();
    for seg in image.segments.iter().filter(|s| s.perms.exec()) {
        for at in seg.addr..seg.addr + seg.data.len() as u64 {
            if let Some((target, enc)) = stub_at(image, at) {
                found.entry(target).or_default().push((at, enc));
            }
        }
    }
    found
}

/// Reads straight-line code one instruction at a time.
struct Cursor<'a> {
    image: &'a Image,
    at: u64,
}

impl Cursor<'_> {
    fn next(&mut self) -> Result<(u64, Instr), DevirtError> {
        let at = self.at;
        let (i, n) = decode_at(self.image, at).ok_or(DevirtError::Corrupt {
            at,
            what: "an instruction".into(),
        })?;
        self.at += n;
        Ok((at, i))
    }

    fn expect<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&Instr) -> Option<T>,
    ) -> Result<T, DevirtError> {
        let (at, i) = self.next()?;
        f(&i).ok_or(DevirtError::Corrupt {
            at,
            what: what.into(),
        })
    }

    fn transform(&mut self, r: Reg, size: Size) -> Result<Transform, DevirtError> {
        self.expect("a transform", |i| {
            Transform::from_instr(i).and_then(|(reg, s, t)| (reg == r && s == size).then_some(t))
        })
    }
}

fn reg(o: &Operand) -> Option<Reg> {
    match o {
        Operand::Reg(r) => Some(*r),
        _ => None,
    }
}

fn abs(o: &Operand) -> Option<u64> {
    match o {
        Operand::Mem(Mem {
            addr: Addr::Abs(a),
            depth: 0,
        }) => Some(*a as u64),
        _ => None,
    }
}

fn imm(o: &Operand) -> Option<u64> {
    match o {
        Operand::Imm { value, .. } => Some(*value as u64),
        _ => None,
    }
}

/// Parses the VM whose vm_entry is at `entry`.
fn parse(image: &Image, entry: u64, stubs: Vec<(u64, u32)>) -> Result<VmEntry, DevirtError> {
    let mut c = Cursor { image, at: entry };
    // Sixteen register saves; slot 0 (r0's) is the context.
    let mut ctx = None;
    for _ in 0..16 {
        let (slot, r) = c.expect("a register save `mov [ctx + 8n], rn`", |i| {
            (i.op == Op::Mov && i.size == Size::Q)
                .then(|| Some((abs(&i.operands[0])?, reg(&i.operands[1])?)))
                .flatten()
        })?;
        if r != Reg::SP {
            let base = slot.wrapping_sub(8 * r.index() as u64);
            if ctx.is_some_and(|c| c != base) {
                return Err(DevirtError::Corrupt {
                    at: c.at,
                    what: "register saves into one context".into(),
                });
            }
            ctx = Some(base);
        }
    }
    let ctx = ctx.ok_or(DevirtError::Corrupt {
        at: entry,
        what: "register saves".into(),
    })?;
    c.expect("pushf", |i| (i.op == Op::Pushf).then_some(()))?;
    let t = c.expect("pop of the flags", |i| {
        (i.op == Op::Pop).then(|| reg(&i.operands[0])).flatten()
    })?;
    c.expect("the flags' save", |i| (i.op == Op::Mov).then_some(()))?;
    c.expect("pop of the encrypted offset", |i| {
        (i.op == Op::Pop && reg(&i.operands[0]) == Some(t)).then_some(())
    })?;
    c.expect("the save of sp", |i| {
        (i.op == Op::Mov && reg(&i.operands[1]) == Some(Reg::SP)).then_some(())
    })?;
    c.expect("movzx.d of the offset", |i| {
        (i.op == Op::Movzx && i.size == Size::D).then_some(())
    })?;
    let entry_chain = Chain3 {
        t: [
            c.transform(t, Size::D)?,
            c.transform(t, Size::D)?,
            c.transform(t, Size::D)?,
        ],
    };
    let bytecode_base = c.expect("the rebase `add r, base`", |i| {
        (i.op == Op::Add && reg(&i.operands[0]) == Some(t))
            .then(|| imm(&i.operands[1]))
            .flatten()
    })?;
    let vip = c.expect("`mov vip, r`", |i| {
        (i.op == Op::Mov && reg(&i.operands[1]) == Some(t))
            .then(|| reg(&i.operands[0]))
            .flatten()
    })?;
    let key = c.expect("`mov key, vip`", |i| {
        (i.op == Op::Mov && reg(&i.operands[1]) == Some(vip))
            .then(|| reg(&i.operands[0]))
            .flatten()
    })?;
    let (vsp, vstack_top) = c.expect("`mov vsp, top`", |i| {
        (i.op == Op::Mov)
            .then(|| Some((reg(&i.operands[0])?, imm(&i.operands[1])?)))
            .flatten()
    })?;

    // calc_jmp.
    let dispatch = c.at;
    let (mut at, mut i) = c.next()?;
    let forward =
        !(i.op == Op::Sub && reg(&i.operands[0]) == Some(vip) && imm(&i.operands[1]) == Some(1));
    if !forward {
        (at, i) = c.next()?;
    }
    let op_reg = (i.op == Op::Movzx
        && i.size == Size::B
        && i.operands[1] == Operand::Mem(Mem::new(Addr::Reg(vip))))
    .then(|| reg(&i.operands[0]))
    .flatten()
    .ok_or(DevirtError::Corrupt {
        at,
        what: "the opcode fetch `movzx.b r, [vip]`".into(),
    })?;
    let key_op = c.expect("the key op on the opcode", |i| {
        (reg(&i.operands[0]) == Some(op_reg) && reg(&i.operands[1]) == Some(key))
            .then(|| KeyOp::from_op(i.op))
            .flatten()
    })?;
    let chain = Chain3 {
        t: [
            c.transform(op_reg, Size::B)?,
            c.transform(op_reg, Size::B)?,
            c.transform(op_reg, Size::B)?,
        ],
    };
    c.expect("the key update", |i| {
        (KeyOp::from_op(i.op) == Some(key_op)
            && reg(&i.operands[0]) == Some(key)
            && reg(&i.operands[1]) == Some(op_reg))
        .then_some(())
    })?;
    let (h, table) = c.expect("the table load `movzx.d r, [op*4 + table]`", |i| {
        match i.operands[1] {
            Operand::Mem(Mem {
                addr:
                    Addr::Indexed {
                        base: None,
                        index,
                        scale_log2: 2,
                        disp,
                    },
                depth: 0,
            }) if i.op == Op::Movzx && index == op_reg => {
                Some((reg(&i.operands[0])?, disp as u32 as u64))
            }
            _ => None,
        }
    })?;
    let table_transform = c.transform(h, Size::D)?;
    if forward {
        c.expect("`add vip, 1`", |i| {
            (i.op == Op::Add && reg(&i.operands[0]) == Some(vip)).then_some(())
        })?;
    }
    let handler_base = c.expect("`add r, handler_base`", |i| {
        (i.op == Op::Add && reg(&i.operands[0]) == Some(h))
            .then(|| imm(&i.operands[1]))
            .flatten()
    })?;
    c.expect("`jmp r`", |i| {
        (i.op == Op::JmpInd && reg(&i.operands[0]) == Some(h)).then_some(())
    })?;
    // vm_exit follows: it starts by taking back the program's stack pointer.
    let exit = c.at;
    let sp_slot = ctx + crate::context::offset(crate::context::SP);
    c.expect("vm_exit's `mov sp, [ctx.sp]`", |i| {
        (i.op == Op::Mov
            && reg(&i.operands[0]) == Some(Reg::SP)
            && abs(&i.operands[1]) == Some(sp_slot))
        .then_some(())
    })?;

    let mut handlers = Vec::with_capacity(256);
    for b in 0..256u64 {
        let at = table + 4 * b;
        let bytes = image.read(at, 4).ok_or(DevirtError::Corrupt {
            at,
            what: "a handler-table entry".into(),
        })?;
        let e = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as u64;
        handlers.push(table_transform.apply(e, Size::D).wrapping_add(handler_base));
    }
    Ok(VmEntry {
        entry,
        dispatch,
        exit,
        ctx,
        vstack_top,
        bytecode_base,
        handler_base,
        table,
        regs: VmRegs { vip, vsp, key },
        forward,
        entry_chain,
        dispatch_chain: KeyChain {
            key_op,
            chain,
            size: Size::B,
        },
        table_transform,
        handlers,
        stubs,
    })
}

/// Finds and parses every VM instance of a protected image.
pub fn recover(image: &Image) -> Result<Vec<VmEntry>, DevirtError> {
    let mut vms = Vec::new();
    let mut last_err = None;
    for (target, stubs) in stubs(image) {
        match parse(image, target, stubs) {
            Ok(vm) => vms.push(vm),
            Err(e) => last_err = Some(e),
        }
    }
    if vms.is_empty() {
        return Err(last_err.map_or(DevirtError::NotProtected, |e| match e {
            // A stub-like pair whose target is not a VM at all: not protected.
            DevirtError::Corrupt { .. } => DevirtError::NotProtected,
            other => other,
        }));
    }
    Ok(vms)
}

//! `protect`: builds a protected image from a plain one.
//!
//! Layout of what the protector adds, after the program's own segments:
//! 1. a read-only segment: per VM, the encrypted handler table, the condition tables
//!    and the virtual code;
//! 2. a zero-initialised read-write segment: per VM, the context and the virtual stack;
//! 3. a read-execute segment: first every VM's stubs (those that enter the VM and the
//!    escapes that run native instructions), then per VM vm_entry, calc_jmp, vm_exit and
//!    the handlers.
//!
//! Each protected function's first five bytes become `jmp` to its entry stub; the rest of
//! its code is overwritten with random bytes.

use crate::bytecode::{block_len, encode_block};
use crate::context;
use crate::discover::{survey, Function, Skipped, Survey};
use crate::native::{o, Code, Label, Target};
use crate::profile::{Profile, VmProfile};
use crate::rng::Rng;
use crate::trailer;
use crate::translate::{translate, Cont, Dest, Stub, Stubs, VImm, VItem};
use crate::vmgen::{generate, VmAddrs};
use crate::vop::VOp;
use core::fmt;
use vmkit_image::{Image, Perms, Segment, SegmentKind, Symbol, SymbolKind};
use vmkit_isa::{Cond, Op, Size};

/// What to build.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Seed for every per-build choice.
    pub seed: u64,
    /// Number of VM instances (at least 1); functions are dealt out to them in turn, and
    /// there are never more instances than protected functions.
    pub vms: usize,
    /// Protect only these functions (by symbol name or `0x` address); all eligible ones
    /// if empty.
    pub only: Vec<String>,
    /// Use this profile instead of drawing one (as recovered by the devirtualizer).
    pub profile: Option<Profile>,
    /// Leave the VM's parts unnamed. By default the image's symbols name them
    /// (`vm0.vm_entry`, `vm0.calc_jmp`, `vm0.vm_exit`, `vm0.handler_3f.add.q`, ...) so that
    /// `vmkit dis` shows a learner the machine; the devirtualizer never reads them.
    pub strip_vm_symbols: bool,
}

/// A function the protected image runs in a VM.
#[derive(Clone, Debug)]
pub struct ProtectedFn {
    /// Its name.
    pub name: String,
    /// Its address (now a jump to its entry stub).
    pub start: u64,
    /// The VM instance that runs it.
    pub vm: usize,
    /// Virtual blocks.
    pub blocks: usize,
    /// Virtual instructions.
    pub vinstrs: usize,
    /// Native instructions it had.
    pub instrs: usize,
    /// Its indirect jumps (`jmp src`): the VM leaves to native code there, so what they
    /// reach (a switch's cases) runs natively unless it is protected itself.
    pub indirect_jumps: Vec<u64>,
}

/// Where a VM instance's native code landed.
#[derive(Clone, Debug)]
pub struct VmInfo {
    /// vm_entry.
    pub entry: u64,
    /// calc_jmp, where every virtual instruction is dispatched.
    pub dispatch: u64,
    /// vm_exit.
    pub exit: u64,
    /// The address of every virtual block.
    pub blocks: Vec<u64>,
}

/// What the protector did.
#[derive(Clone, Debug)]
pub struct Report {
    /// Per VM instance: where its entry, dispatcher and exit are.
    pub vms: Vec<VmInfo>,
    /// Functions now virtualized.
    pub protected: Vec<ProtectedFn>,
    /// Functions left native, with reasons.
    pub skipped: Vec<Skipped>,
    /// The profile used (per VM).
    pub profile: Profile,
    /// Bytes of virtual code.
    pub bytecode_bytes: u64,
    /// Bytes of VM native code (entry, dispatcher, handlers, stubs).
    pub vm_code_bytes: u64,
    /// Native code only pointers reach, which stays native: root address and
    /// instruction count (see `discover::Survey::pointer_code`).
    pub pointer_code: Vec<(u64, usize)>,
    /// Code symbols nothing reaches, left native; `only` can name them.
    pub unreached: Vec<(u64, String)>,
    /// Instructions that use memory below `sp`, which the VM's entry and exit overwrite
    /// (see `discover::Survey::below_sp`).
    pub below_sp: Vec<(u64, vmkit_isa::Instr)>,
    /// The image's explicit memory size, before and after, when the protector had to
    /// grow it to fit the VM (the initial `sp` moves with it).
    pub memory_grown: Option<(u64, u64)>,
    /// VM instances asked for, when there were more than protected functions (each VM
    /// then runs at least one function).
    pub vms_capped: Option<usize>,
}

/// Why an image cannot be protected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtectError {
    /// No function can be taken over; the reasons per function.
    NothingToProtect(Vec<String>),
    /// A name given with `only` names no function.
    UnknownFunction(String),
    /// A function asked for cannot be protected.
    NotProtectable(String, String),
    /// The VM would not fit below 1 GiB (its code uses 32-bit addresses).
    AddressSpace(u64),
    /// A stub must reach a native address its 32-bit displacement cannot.
    FarTarget {
        /// The stub instruction's address.
        from: u64,
        /// Where the program's instruction goes.
        to: u64,
    },
    /// The profile does not fit the program (wrong VM count, a kind without handler).
    BadProfile(String),
    /// `vms` is zero.
    NoVms,
    /// The image already carries a VM of this protector (at this vm_entry): protecting it
    /// again would virtualize the VM's own entry stubs. Devirtualize it first.
    AlreadyProtected(u64),
}

impl fmt::Display for ProtectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtectError::NothingToProtect(reasons) => {
                write!(f, "nothing to protect: no function can run in the VM")?;
                for r in reasons {
                    write!(f, "\n  {r}")?;
                }
                Ok(())
            }
            ProtectError::UnknownFunction(n) => write!(f, "no function named `{n}`"),
            ProtectError::NotProtectable(n, why) => write!(f, "cannot protect `{n}`: {why}"),
            ProtectError::AddressSpace(end) => write!(
                f,
                "the program reaches {end:#x}; the VM needs the program, its code and its data below 1 GiB"
            ),
            ProtectError::FarTarget { from, to } => write!(
                f,
                "the native stub at {from:#x} cannot reach {to:#x} with a 32-bit displacement"
            ),
            ProtectError::BadProfile(why) => write!(f, "the profile does not fit: {why}"),
            ProtectError::NoVms => write!(f, "at least one VM instance is needed"),
            ProtectError::AlreadyProtected(entry) => write!(
                f,
                "already protected (a VM's vm_entry is at {entry:#x}); `vmkit devirt` gives the plain program back"
            ),
        }
    }
}

impl std::error::Error for ProtectError {}

const PAGE: u64 = 4096;
/// Everything the protector lays out stays below this, so 32-bit fields reach it.
const VM_LIMIT: u64 = 1 << 30;
const TABLE_BYTES: u64 = 256 * 4;
const COND_BYTES: u64 = 14 * 16;

fn page_up(x: u64) -> u64 {
    x.div_ceil(PAGE) * PAGE
}

/// One VM instance being built: its secret profile, the functions it runs, their virtual
/// code, and (once laid out) where its tables, virtual code and data go.
struct VmPlan {
    profile: VmProfile,
    /// Indices into the survey's functions, in the order they were translated.
    funcs: Vec<usize>,
    blocks: Vec<Vec<VItem>>,
    stubs: Stubs,
    /// Per function in `funcs`: the index of its entry stub in `stubs`.
    entry_stubs: Vec<usize>,
    table: u64,
    conds: u64,
    block_addrs: Vec<u64>,
    data: u64,
}

impl VmPlan {
    fn new(profile: VmProfile) -> Self {
        VmPlan {
            profile,
            funcs: Vec::new(),
            blocks: Vec::new(),
            stubs: Stubs::default(),
            entry_stubs: Vec::new(),
            table: 0,
            conds: 0,
            block_addrs: Vec::new(),
            data: 0,
        }
    }
}

/// Where the protector's three segments go, after the program's own.
struct Layout {
    /// Start of the read-only segment: tables, virtual code, then the trailer.
    base: u64,
    /// The trailer's address.
    trailer: u64,
    /// End of the read-only segment.
    ro_end: u64,
    /// The zero-initialised segment of every VM's context and virtual stack: [start, end).
    data: (u64, u64),
    /// Start of the VM code segment.
    code_base: u64,
}

/// The VM code and stubs before assembly, with the labels that tables and symbols need.
struct VmCode {
    code: Code,
    /// Per VM, one label per stub, in `Stubs::list` order.
    stubs: Vec<Vec<Label>>,
    /// Per VM, one label per handler, in handler-table order.
    handlers: Vec<Vec<Label>>,
    /// Per VM: vm_entry, calc_jmp and vm_exit.
    marks: Vec<[Label; 3]>,
}

/// Protects `image`: survey, choose, translate, lay out, generate the VMs, encode the
/// virtual code, then overwrite the protected functions and add the VMs' segments.
pub fn protect(image: &Image, opts: &Options) -> Result<(Image, Report), ProtectError> {
    check_input(image, opts)?;
    let extra = requested_starts(image, opts);
    let Survey {
        functions,
        skipped,
        pointer_code,
        unreached,
        below_sp,
    } = survey(image, &extra);
    let mut rng = Rng::new(opts.seed);
    let chosen = choose(image, opts, &functions, &skipped)?;
    // No more VM instances than protected functions: a VM nothing enters is dead weight.
    let vm_count = match &opts.profile {
        Some(p) => p.vms.len(),
        None => opts.vms.min(chosen.len()),
    };
    let mut plans = translate_all(image, opts, &functions, &chosen, vm_count, &mut rng);
    let base = match &opts.profile {
        Some(p) => p.base,
        None => page_up(image.end_address()),
    };
    let layout = lay_out(&mut plans, base)?;
    let vm_code = generate_code(&plans, &layout, &mut rng);
    let code_end = layout.code_base + vm_code.code.len();
    if code_end >= VM_LIMIT {
        return Err(ProtectError::AddressSpace(code_end));
    }
    let addrs = vm_code.code.label_addrs(layout.code_base);
    let addr_of = |l: Label| addrs[l.index()].unwrap_or(0);
    let mut ro = encode_virtual_code(&plans, &layout, &vm_code, addr_of)?;

    let mut out = image.clone();
    let protected = overwrite_functions(
        &mut out,
        &plans,
        &functions,
        &vm_code,
        addr_of,
        &mut rng.fork(0x200),
    )?;
    hide_inner_labels(&mut out, &plans, &functions);
    if !opts.strip_vm_symbols {
        name_vm_parts(&mut out, &plans, &functions, &vm_code, addr_of);
    }
    let t = (layout.trailer - base) as usize;
    ro[t..t + trailer::BYTES as usize].copy_from_slice(&trailer::encode(image.memory_size));
    out.segments.push(Segment {
        kind: SegmentKind::Data,
        perms: Perms::R,
        addr: base,
        mem_size: ro.len() as u64,
        data: ro,
    });
    out.segments.push(Segment {
        kind: SegmentKind::Bss,
        perms: Perms::RW,
        addr: layout.data.0,
        mem_size: layout.data.1 - layout.data.0,
        data: Vec::new(),
    });
    let vms: Vec<VmInfo> = vm_code
        .marks
        .iter()
        .zip(&plans)
        .map(|(m, plan)| VmInfo {
            entry: addr_of(m[0]),
            dispatch: addr_of(m[1]),
            exit: addr_of(m[2]),
            blocks: plan.block_addrs.clone(),
        })
        .collect();
    let code_bytes = vm_code
        .code
        .assemble(layout.code_base)
        .map_err(|(from, to)| ProtectError::FarTarget { from, to })?;
    let vm_code_bytes = code_bytes.len() as u64;
    out.segments.push(Segment {
        kind: SegmentKind::Code,
        perms: Perms::RX,
        addr: layout.code_base,
        mem_size: vm_code_bytes,
        data: code_bytes,
    });
    fit_memory(&mut out, code_end)?;
    let memory_grown =
        (out.memory_size != image.memory_size).then_some((image.memory_size, out.memory_size));
    let vms_capped = (opts.profile.is_none() && opts.vms > vm_count).then_some(opts.vms);
    let profile = Profile {
        vms: plans.iter().map(|p| p.profile.clone()).collect(),
        functions: protected.iter().map(|f| (f.start, f.vm)).collect(),
        base,
    };
    Ok((
        out,
        Report {
            vms,
            protected,
            skipped,
            profile,
            bytecode_bytes: layout.ro_end - base,
            vm_code_bytes,
            pointer_code,
            unreached,
            below_sp,
            memory_grown,
            vms_capped,
        },
    ))
}

/// Refuses what cannot be protected before any work: an image that already carries a VM,
/// one that reaches past what the VM's 32-bit fields address, and a profile that does not
/// fit the image.
fn check_input(image: &Image, opts: &Options) -> Result<(), ProtectError> {
    // What the devirtualizer recognises as a VM, the protector must not wrap again.
    if let Ok(vms) = crate::devirt::entry::recover(image) {
        if let Some(vm) = vms.first() {
            return Err(ProtectError::AlreadyProtected(vm.entry));
        }
    }
    // The VM's code addresses its data, tables, stubs and itself with 32-bit fields.
    if image.end_address() >= VM_LIMIT {
        return Err(ProtectError::AddressSpace(image.end_address()));
    }
    if let Some(p) = &opts.profile {
        let lowest = page_up(image.end_address());
        if p.base < lowest || p.base >= VM_LIMIT || p.base % PAGE != 0 {
            return Err(ProtectError::BadProfile(format!(
                "base {:#x}: the VM's segments start on a page from {lowest:#x} (after the program) and below 1 GiB",
                p.base
            )));
        }
        for (k, vm) in p.vms.iter().enumerate() {
            vm.validate()
                .map_err(|why| ProtectError::BadProfile(format!("VM {k}: {why}")))?;
        }
    }
    Ok(())
}

/// Names and addresses asked for that no call reaches (functions only pointers reach):
/// the survey makes them function starts of their own.
fn requested_starts(image: &Image, opts: &Options) -> Vec<u64> {
    match &opts.profile {
        Some(p) => p.functions.iter().map(|f| f.0).collect(),
        None => opts
            .only
            .iter()
            .filter_map(|name| resolve(image, name))
            .collect(),
    }
}

/// Which functions are protected, on which VM: `(function index, vm)`, from the profile
/// if one is given, else the functions named (all if none), dealt round the VMs.
fn choose(
    image: &Image,
    opts: &Options,
    functions: &[Function],
    skipped: &[Skipped],
) -> Result<Vec<(usize, usize)>, ProtectError> {
    let mut chosen: Vec<(usize, usize)> = Vec::new();
    if let Some(p) = &opts.profile {
        for &(addr, vm) in &p.functions {
            let Some(n) = functions.iter().position(|f| f.start == addr) else {
                let why = skipped
                    .iter()
                    .find(|s| s.start == addr)
                    .map_or("no function starts there".to_string(), |s| s.reason.clone());
                return Err(ProtectError::NotProtectable(format!("{addr:#x}"), why));
            };
            if vm >= p.vms.len() {
                return Err(ProtectError::BadProfile(format!(
                    "function {addr:#x} is assigned to VM {vm} of {}",
                    p.vms.len()
                )));
            }
            if chosen.iter().any(|&(m, _)| m == n) {
                return Err(ProtectError::BadProfile(format!(
                    "function {addr:#x} is listed twice"
                )));
            }
            chosen.push((n, vm));
        }
    } else {
        if opts.vms == 0 {
            return Err(ProtectError::NoVms);
        }
        let mut picked: Vec<usize> = Vec::new();
        if opts.only.is_empty() {
            picked = (0..functions.len()).collect();
        } else {
            for name in &opts.only {
                let addr = resolve(image, name);
                let hit = |start: u64, n: &str| n == name || Some(start) == addr;
                if let Some(n) = functions.iter().position(|f| hit(f.start, &f.name)) {
                    // Each function once, however often it is named.
                    if !picked.contains(&n) {
                        picked.push(n);
                    }
                } else if let Some(s) = skipped.iter().find(|s| hit(s.start, &s.name)) {
                    return Err(ProtectError::NotProtectable(
                        s.name.clone(),
                        s.reason.clone(),
                    ));
                } else {
                    return Err(ProtectError::UnknownFunction(name.clone()));
                }
            }
        }
        chosen = picked
            .into_iter()
            .enumerate()
            .map(|(k, n)| (n, k % opts.vms))
            .collect();
    }
    if chosen.is_empty() {
        return Err(ProtectError::NothingToProtect(
            skipped
                .iter()
                .map(|s| format!("{}: {}", s.name, s.reason))
                .collect(),
        ));
    }
    Ok(chosen)
}

/// One plan per VM, each with its profile and the virtual code of its functions.
fn translate_all(
    image: &Image,
    opts: &Options,
    functions: &[Function],
    chosen: &[(usize, usize)],
    vm_count: usize,
    rng: &mut Rng,
) -> Vec<VmPlan> {
    let const_base = image.const_base();
    let mut plans: Vec<VmPlan> = (0..vm_count)
        .map(|k| {
            // Drawn even when a profile is given, so the seed's later choices (junk,
            // handler order) are the same either way: the same seed with the profile a
            // build used gives that build again, byte for byte.
            let drawn = VmProfile::random(&mut rng.fork(k as u64 + 1));
            VmPlan::new(match &opts.profile {
                Some(p) => p.vms[k].clone(),
                None => drawn,
            })
        })
        .collect();
    for &(n, vm) in chosen {
        let plan = &mut plans[vm];
        let t = translate(
            &functions[n],
            plan.blocks.len(),
            const_base,
            &mut plan.stubs,
        );
        plan.blocks.extend(t.blocks);
        plan.entry_stubs.push(t.entry_stub);
        plan.funcs.push(n);
    }
    plans
}

/// Gives every VM its tables, blocks and data addresses: read-only tables and virtual
/// code from `base`, then VM data, then VM code, each on its own pages.
fn lay_out(plans: &mut [VmPlan], base: u64) -> Result<Layout, ProtectError> {
    let mut at = base;
    for plan in plans.iter_mut() {
        plan.table = at;
        plan.conds = at + TABLE_BYTES;
        at = plan.conds + COND_BYTES;
        for b in &plan.blocks {
            let len = block_len(b.iter().map(|i| &i.kind));
            plan.block_addrs
                .push(if plan.profile.forward { at } else { at + len });
            at += len;
        }
    }
    // The trailer: what the protector changed in the image's header, so that the
    // devirtualizer can restore it from the image alone.
    let trailer = at;
    let ro_end = at + trailer::BYTES;
    let data_base = page_up(ro_end);
    for (k, plan) in plans.iter_mut().enumerate() {
        plan.data = data_base + k as u64 * context::DATA_BYTES;
    }
    let data_end = data_base + plans.len() as u64 * context::DATA_BYTES;
    let code_base = page_up(data_end);
    if code_base >= VM_LIMIT {
        return Err(ProtectError::AddressSpace(code_base));
    }
    Ok(Layout {
        base,
        trailer,
        ro_end,
        data: (data_base, data_end),
        code_base,
    })
}

/// VM code and stubs, generated once the data addresses are known. All stubs come first,
/// so their addresses (which virtual code carries) depend on the program and the profile
/// only, not on the junk and handler order a seed draws: protecting the same program with
/// the same profile gives the same virtual code under any seed.
fn generate_code(plans: &[VmPlan], layout: &Layout, rng: &mut Rng) -> VmCode {
    let base = layout.base;
    let mut code = Code::new();
    let vm_codes: Vec<_> = plans
        .iter()
        .enumerate()
        .map(|(k, plan)| {
            let addrs = VmAddrs {
                ctx: plan.data,
                vstack_top: plan.data + context::DATA_BYTES,
                table: plan.table,
                bytecode_base: base,
                handler_base: layout.code_base,
            };
            generate(&plan.profile, &addrs, &mut rng.fork(0x100 + k as u64))
        })
        .collect();
    let entries: Vec<_> = plans.iter().map(|_| code.label()).collect();
    let mut stub_labels = Vec::new();
    for (k, plan) in plans.iter().enumerate() {
        let labels: Vec<_> = plan.stubs.list.iter().map(|_| code.label()).collect();
        for (stub, &l) in plan.stubs.list.iter().zip(&labels) {
            code.bind(l);
            let enter = |c: &mut Code, block: usize| {
                let off = plan.block_addrs[block] - base;
                let enc = plan.profile.entry.invert(off, Size::D);
                c.op(Op::Push, Size::Q, &[o::imm32(enc as u32 as i32)]);
                c.jmp(Target::Label(entries[k]));
            };
            match stub {
                Stub::Enter(b) => enter(&mut code, *b),
                Stub::Escape(i, at, cont) => {
                    match i.op {
                        Op::Call => {
                            let vmkit_isa::Operand::Rel(r) = i.operands[0] else {
                                unreachable!("call has a displacement")
                            };
                            let target = at + i.len() as u64;
                            code.call(Target::Addr(target.wrapping_add(r as i64 as u64)));
                        }
                        _ => code.push(*i),
                    }
                    match *cont {
                        Cont::Block(b) => enter(&mut code, b),
                        Cont::Native(a) => code.jmp(Target::Addr(a)),
                        Cont::None => {}
                    }
                }
            }
        }
        stub_labels.push(labels);
    }
    let mut handlers = Vec::new();
    let mut marks = Vec::new();
    for (k, vm) in vm_codes.into_iter().enumerate() {
        // vm_entry is the first thing a VM's code binds.
        code.bind(entries[k]);
        let shift = code.label_count();
        marks.push([vm.entry, vm.dispatch, vm.exit].map(|l| l.shifted(shift)));
        handlers.push(
            vm.handlers
                .iter()
                .map(|l| l.shifted(shift))
                .collect::<Vec<_>>(),
        );
        code.append(vm.code);
    }
    VmCode {
        code,
        stubs: stub_labels,
        handlers,
        marks,
    }
}

/// The read-only segment's bytes: per VM the encrypted handler table, the condition
/// tables and the encrypted virtual code; the trailer's place is left zero.
fn encode_virtual_code(
    plans: &[VmPlan],
    layout: &Layout,
    vm_code: &VmCode,
    addr_of: impl Fn(Label) -> u64,
) -> Result<Vec<u8>, ProtectError> {
    let base = layout.base;
    let mut ro = vec![0u8; (layout.ro_end - base) as usize];
    for (k, plan) in plans.iter().enumerate() {
        let p = &plan.profile;
        for (b, &handler) in vm_code.handlers[k].iter().enumerate() {
            let off = addr_of(handler) - layout.code_base;
            let enc = p.table.inverse().apply(off, Size::D) as u32;
            let at = (plan.table - base) as usize + 4 * b;
            ro[at..at + 4].copy_from_slice(&enc.to_le_bytes());
        }
        for (c, cond) in Cond::ALL.iter().enumerate() {
            for flags in 0..16u64 {
                ro[(plan.conds - base) as usize + 16 * c + flags as usize] =
                    cond.holds(flags) as u8;
            }
        }
        let dest = |d: Dest| match d {
            Dest::Block(n) => plan.block_addrs[n],
            Dest::Stub(n) => addr_of(vm_code.stubs[k][n]),
            Dest::Native(a) => a,
        };
        for (n, items) in plan.blocks.iter().enumerate() {
            let ops: Vec<VOp> = items
                .iter()
                .map(|i| VOp {
                    kind: i.kind,
                    imm: match i.imm {
                        VImm::Const(c) => c,
                        VImm::Block(b) => plan.block_addrs[b],
                        VImm::Stub(s) => addr_of(vm_code.stubs[k][s]),
                        VImm::Delta(t, f) => dest(t).wrapping_sub(dest(f)),
                        VImm::CondTable(c) => plan.conds + 16 * c as u64,
                    } & i.kind.imm_size().map_or(0, Size::mask),
                })
                .collect();
            let (lo, bytes) = encode_block(p, plan.block_addrs[n], &ops).ok_or_else(|| {
                ProtectError::BadProfile(format!("VM {k} has no handler for a needed kind"))
            })?;
            let off = (lo - base) as usize;
            ro[off..off + bytes.len()].copy_from_slice(&bytes);
        }
    }
    Ok(ro)
}

/// Each protected function's first five bytes become `jmp` to its entry stub and the
/// rest of its code random bytes. Returns what was protected, per VM in order.
fn overwrite_functions(
    out: &mut Image,
    plans: &[VmPlan],
    functions: &[Function],
    vm_code: &VmCode,
    addr_of: impl Fn(Label) -> u64,
    junk: &mut Rng,
) -> Result<Vec<ProtectedFn>, ProtectError> {
    let mut protected = Vec::new();
    for (k, plan) in plans.iter().enumerate() {
        let mut first_block = 0;
        for (j, &n) in plan.funcs.iter().enumerate() {
            let f = &functions[n];
            let stub = addr_of(vm_code.stubs[k][plan.entry_stubs[j]]);
            let mut jmp = Code::new();
            jmp.jmp(Target::Addr(stub));
            let jmp = jmp
                .assemble(f.start)
                .map_err(|(from, to)| ProtectError::FarTarget { from, to })?;
            for &(lo, hi) in &f.ranges {
                for a in lo..hi {
                    let byte = if (f.start..f.start + 5).contains(&a) {
                        jmp[(a - f.start) as usize]
                    } else {
                        junk.next_u64() as u8
                    };
                    out.write(a, &[byte]);
                }
            }
            let nblocks = f.blocks.len();
            let vinstrs = plan.blocks[first_block..first_block + nblocks]
                .iter()
                .map(Vec::len)
                .sum();
            first_block += nblocks;
            protected.push(ProtectedFn {
                name: f.name.clone(),
                start: f.start,
                vm: k,
                blocks: nblocks,
                vinstrs,
                instrs: f.ranges.len(),
                indirect_jumps: f
                    .blocks
                    .iter()
                    .filter_map(|b| match b.end {
                        crate::discover::End::JmpInd(_) => {
                            Some(b.body.last().map_or(b.start, |(a, i)| a + i.len() as u64))
                        }
                        _ => None,
                    })
                    .collect(),
            });
        }
    }
    Ok(protected)
}

/// Labels inside protected code now name junk: only the functions' starts remain.
fn hide_inner_labels(out: &mut Image, plans: &[VmPlan], functions: &[Function]) {
    let hidden: Vec<(u64, u64, u64)> = plans
        .iter()
        .flat_map(|plan| &plan.funcs)
        .flat_map(|&n| {
            let f = &functions[n];
            f.ranges.iter().map(move |&(lo, hi)| (lo, hi, f.start))
        })
        .collect();
    out.symbols.retain(|s: &Symbol| {
        !hidden
            .iter()
            .any(|&(lo, hi, start)| (lo..hi).contains(&s.addr) && s.addr != start)
    });
}

/// Symbols for every part of every VM (`vm0.vm_entry`, `vm0.handler_2a.add`,
/// `vm0.enter.fib`, `vm0.context`, ...), so that `dis` reads well; `--strip` leaves them out.
fn name_vm_parts(
    out: &mut Image,
    plans: &[VmPlan],
    functions: &[Function],
    vm_code: &VmCode,
    addr_of: impl Fn(Label) -> u64,
) {
    let code_sym = |addr: u64, name: String| Symbol {
        addr,
        kind: SymbolKind::Code,
        name,
    };
    let data_sym = |addr: u64, name: String| Symbol {
        addr,
        kind: SymbolKind::Data,
        name,
    };
    for (k, plan) in plans.iter().enumerate() {
        let [entry, dispatch, exit] = vm_code.marks[k].map(&addr_of);
        out.symbols.push(code_sym(entry, format!("vm{k}.vm_entry")));
        out.symbols
            .push(code_sym(dispatch, format!("vm{k}.calc_jmp")));
        out.symbols.push(code_sym(exit, format!("vm{k}.vm_exit")));
        for (b, &handler) in vm_code.handlers[k].iter().enumerate() {
            let kind = plan.profile.handlers[b].kind;
            out.symbols.push(code_sym(
                addr_of(handler),
                format!("vm{k}.handler_{b:02x}.{kind}"),
            ));
        }
        for (n, (stub, &l)) in plan.stubs.list.iter().zip(&vm_code.stubs[k]).enumerate() {
            // A function's entry stub is named after the function where its name can be
            // a label (`jmp vm0.enter.fib` at fib's start reads best).
            let function = plan
                .entry_stubs
                .iter()
                .position(|&e| e == n)
                .map(|j| &functions[plan.funcs[j]].name)
                .filter(|name| {
                    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_.$".contains(c))
                });
            let name = match (stub, function) {
                (Stub::Enter(_), Some(f)) => format!("vm{k}.enter.{f}"),
                (Stub::Enter(_), None) => format!("vm{k}.enter_{n}"),
                (Stub::Escape(..), _) => format!("vm{k}.escape_{n}"),
            };
            out.symbols.push(code_sym(addr_of(l), name));
        }
        out.symbols
            .push(data_sym(plan.table, format!("vm{k}.handler_table")));
        out.symbols
            .push(data_sym(plan.conds, format!("vm{k}.cond_tables")));
        out.symbols
            .push(data_sym(plan.data, format!("vm{k}.context")));
        out.symbols.push(data_sym(
            plan.data + context::SLOTS * context::SLOT,
            format!("vm{k}.vstack"),
        ));
    }
}

/// The address `name` stands for: `0x` hex, or a code symbol's address, in an
/// executable segment.
fn resolve(image: &Image, name: &str) -> Option<u64> {
    let addr = match name.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => {
            image
                .symbols
                .iter()
                .find(|s| s.name == name && s.kind == vmkit_image::SymbolKind::Code)?
                .addr
        }
    };
    image
        .segment_at(addr)
        .is_some_and(|s| s.perms.exec())
        .then_some(addr)
}

/// Grows an explicit memory size so the new segments fit below the stack.
fn fit_memory(image: &mut Image, end: u64) -> Result<(), ProtectError> {
    if image.memory_size == 0 {
        return Ok(());
    }
    let stack = |m: u64| {
        if image.stack_size != 0 {
            image.stack_size
        } else {
            m / 8
        }
    };
    let mut m = image.memory_size;
    while m.saturating_sub(stack(m)) < end {
        m = m.checked_mul(2).ok_or(ProtectError::AddressSpace(end))?;
    }
    image.memory_size = m;
    Ok(())
}

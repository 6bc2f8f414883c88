//! How different builds are: over many seeds, the distinct chains, handler permutations
//! and register roles, and the conditional entropy of an encrypted opcode byte given the
//! plain virtual instruction it encodes. A fixed XOR key would score 0 bits; a scheme
//! where the byte tells nothing about the kind scores close to 8.

use crate::build::{protect, Options, ProtectError};
use crate::bytecode::decode_block;
use std::collections::{BTreeMap, BTreeSet};
use vmkit_image::Image;

/// Diversity over a number of builds of one program.
#[derive(Clone, Debug)]
pub struct Diversity {
    /// Builds made.
    pub builds: u64,
    /// Distinct dispatcher chains (key op and three transforms).
    pub dispatch_chains: usize,
    /// Distinct vm_entry offset chains.
    pub entry_chains: usize,
    /// Distinct handler-table transforms.
    pub table_transforms: usize,
    /// Distinct opcode-to-kind permutations.
    pub permutations: usize,
    /// Distinct (VIP, VSP, key) register assignments.
    pub register_roles: usize,
    /// Builds whose VIP runs forward.
    pub forward: u64,
    /// Distinct immediate chains over all handlers of all builds.
    pub immediate_chains: usize,
    /// Handlers with an immediate, over all builds.
    pub immediate_handlers: usize,
    /// Virtual instructions decoded over all builds.
    pub samples: u64,
    /// H(encrypted opcode byte | virtual instruction kind), in bits.
    pub conditional_entropy: f64,
}

/// Protects `plain` with seeds `0..builds` (one VM) and measures how the builds differ.
pub fn diversity(plain: &Image, builds: u64) -> Result<Diversity, ProtectError> {
    let mut dispatch = BTreeSet::new();
    let mut entry = BTreeSet::new();
    let mut table = BTreeSet::new();
    let mut perms = BTreeSet::new();
    let mut roles = BTreeSet::new();
    let mut imm = BTreeSet::new();
    let mut imm_handlers = 0;
    let mut forward = 0;
    let mut counts: BTreeMap<String, BTreeMap<u8, u64>> = BTreeMap::new();
    let mut samples = 0;
    for seed in 0..builds {
        let opts = Options {
            seed,
            vms: 1,
            ..Options::default()
        };
        let (image, report) = protect(plain, &opts)?;
        let p = &report.profile.vms[0];
        dispatch.insert(p.dispatch.to_string());
        entry.insert(p.entry.to_string());
        table.insert(p.table.to_string());
        perms.insert(p.handlers.iter().map(|h| h.kind.name()).collect::<Vec<_>>());
        roles.insert((p.regs.vip, p.regs.vsp, p.regs.key));
        for h in &p.handlers {
            if let Some(c) = h.imm {
                imm.insert(c.to_string());
                imm_handlers += 1;
            }
        }
        forward += p.forward as u64;
        let read = |a: u64, n: usize| image.read(a, n);
        for &b in &report.vms[0].blocks {
            let Ok(ops) = decode_block(p, b, read) else {
                continue;
            };
            for d in ops {
                let Some(e) = read(d.at, 1) else { continue };
                *counts
                    .entry(d.op.kind.name())
                    .or_default()
                    .entry(e[0])
                    .or_default() += 1;
                samples += 1;
            }
        }
    }
    let mut h = 0.0;
    for per_kind in counts.values() {
        let n: u64 = per_kind.values().sum();
        let hk: f64 = per_kind
            .values()
            .map(|&c| {
                let p = c as f64 / n as f64;
                -p * p.log2()
            })
            .sum();
        h += hk * n as f64 / samples.max(1) as f64;
    }
    Ok(Diversity {
        builds,
        dispatch_chains: dispatch.len(),
        entry_chains: entry.len(),
        table_transforms: table.len(),
        permutations: perms.len(),
        register_roles: roles.len(),
        forward,
        immediate_chains: imm.len(),
        immediate_handlers: imm_handlers,
        samples,
        conditional_entropy: h,
    })
}

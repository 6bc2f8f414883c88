//! `vmkit trace`: one line per executed instruction, with the registers and flags it changed,
//! for both guests: the native machine, and x86 programs (on the x86 crate's reference
//! path, one instruction at a time, so flags are exact).

use crate::run::{build_machine, report_exit};
use crate::MachineArgs;
use std::io::{BufWriter, Write};
use std::path::Path;
use vmkit_isa::REG_COUNT;
use vmkit_x86::{Engine, X86Exit};

fn reg_name(i: usize) -> String {
    if i == 16 {
        "sp".into()
    } else {
        format!("r{i}")
    }
}

/// `vmkit trace`.
pub fn trace(file: &Path, args: &MachineArgs, json: bool) -> Result<i32, String> {
    let mut machine = build_machine(file, args)?;
    // The guest's own output goes through the same writer as the trace lines, after the
    // line of the instruction that produced it, so the two stay in order.
    machine.capture_output();
    let limit = args.max_steps.unwrap_or(u64::MAX);
    let mut out = BufWriter::new(crate::out::Stdout);
    let mut count = 0u64;
    let exit = loop {
        if count == limit {
            break vmkit_machine::Exit::StepLimit;
        }
        let ip = machine.ip();
        let text = machine
            .instr_text_at(ip)
            .unwrap_or_else(|| "(undecodable)".into());
        let before = machine.regs();
        let flags_before = machine.flags();
        let result = machine.step();
        count += 1;
        let after = machine.regs();
        let changed: Vec<(usize, u64)> = (0..REG_COUNT)
            .filter(|&i| before[i] != after[i])
            .map(|i| (i, after[i]))
            .collect();
        let flags = machine.flags();
        let label = machine
            .symbol_at(ip)
            .map(|s| format!("{s}: "))
            .unwrap_or_default();
        let line = if json {
            let regs: Vec<String> = changed
                .iter()
                .map(|(i, v)| format!("\"{}\":{v}", reg_name(*i)))
                .collect();
            format!(
                "{{\"step\":{count},\"ip\":{ip},\"instr\":\"{}\",\"changed\":{{{}}},\"flags\":{flags}}}",
                text.replace('\\', "\\\\").replace('"', "\\\""),
                regs.join(",")
            )
        } else {
            let mut s = format!("{ip:#010x}  {label}{text:<32}");
            for (i, v) in &changed {
                s.push_str(&format!(" {}={v:#x}", reg_name(*i)));
            }
            if flags != flags_before {
                s.push_str(&format!(" flags={}", vmkit_flags(flags)));
            }
            s.truncate(s.trim_end().len());
            s
        };
        let guest_output = machine.take_output();
        let guest_errors = machine.take_error_output();
        if !guest_errors.is_empty() {
            let _ = out.flush();
            crate::out::stderr_bytes(&guest_errors);
        }
        // Writes to a closed stdout end the process (status 141): see `out.rs`.
        let _ = writeln!(out, "{line}").and_then(|_| out.write_all(&guest_output));
        if let Some(exit) = result {
            break exit;
        }
    };
    let _ = out.flush();
    drop(out);
    Ok(report_exit(&machine, &exit, args.max_steps))
}

/// `vmkit trace` of an x86 program: the same lines as for the native machine, with the
/// instruction in Intel syntax (iced-x86), the general registers it changed and, when any
/// of them changed, the arithmetic flags as `ODSZAPC` letters.
pub fn trace_x86(
    file: &Path,
    args: &MachineArgs,
    options: &crate::x86::Options,
    json: bool,
) -> Result<i32, String> {
    let mut vm = crate::x86::load(file, options)?;
    // Flags computed eagerly by the reference semantics, not the fast engine's lazy ones,
    // so each line shows the flags as the CPU has them after that instruction.
    vm.set_engine(Engine::Reference);
    // A code hook puts the machine on its instrumented path, where `run_for(1)` is exactly
    // one instruction and the guest's state is exact between any two.
    vm.hook_code(.., |_, _, _| {});
    // Guest output is interleaved after the line of the instruction that wrote it.
    vm.capture_output();
    let limit = args.max_steps.unwrap_or(u64::MAX);
    let mut out = BufWriter::new(crate::out::Stdout);
    let mut shown = 0;
    let mut count = 0u64;
    let exit = loop {
        if count == limit {
            break X86Exit::StepLimit;
        }
        let eip = vm.cpu().eip;
        let text = vm
            .instr_text_at(eip)
            .unwrap_or_else(|| "(undecodable)".into());
        let (before, flags_before) = (vm.cpu().regs, vm.cpu().eflags);
        if text.starts_with("int ") || text == "sysenter" {
            // The guest may write to stderr, which is not captured: keep the order.
            let _ = out.flush();
        }
        let result = vm.run_for(1);
        count += 1;
        let (after, flags) = (vm.cpu().regs, vm.cpu().eflags & X86_FLAGS);
        let changed: Vec<(&str, u32)> = (0..8)
            .filter(|&i| before[i] != after[i])
            .map(|i| (vmkit_x86::cpu::REG_NAMES[i], after[i]))
            .collect();
        let flags_changed = flags != (flags_before & X86_FLAGS);
        let line = if json {
            let regs: Vec<String> = changed
                .iter()
                .map(|(name, v)| format!("\"{name}\":{v}"))
                .collect();
            format!(
                "{{\"step\":{count},\"eip\":{eip},\"instr\":\"{}\",\"changed\":{{{}}},\"eflags\":{}}}",
                text.replace('\\', "\\\\").replace('"', "\\\""),
                regs.join(","),
                vm.cpu().eflags
            )
        } else {
            let mut s = format!("{eip:#010x}  {text:<32}");
            for (name, v) in &changed {
                s.push_str(&format!(" {name}={v:#x}"));
            }
            if flags_changed {
                s.push_str(&format!(" flags={}", x86_flags(flags)));
            }
            s.truncate(s.trim_end().len());
            s
        };
        let _ = writeln!(out, "{line}");
        let output = vm.output();
        let _ = out.write_all(&output[shown..]);
        shown = output.len();
        if result != X86Exit::StepLimit {
            break result;
        }
    };
    let _ = out.flush();
    drop(out);
    crate::x86::report_exit(&vm, &exit);
    Ok(exit.status())
}

/// The arithmetic flags and DF: what an instruction's line reports.
const X86_FLAGS: u32 = {
    use vmkit_x86::cpu::flags::{AF, CF, DF, OF, PF, SF, ZF};
    OF | DF | SF | ZF | AF | PF | CF
};

/// `ODSZAPC` with `-` for each clear flag, as the x86 register dump shows them.
fn x86_flags(f: u32) -> String {
    use vmkit_x86::cpu::flags::{AF, CF, DF, OF, PF, SF, ZF};
    [
        (OF, 'O'),
        (DF, 'D'),
        (SF, 'S'),
        (ZF, 'Z'),
        (AF, 'A'),
        (PF, 'P'),
        (CF, 'C'),
    ]
    .iter()
    .map(|&(bit, c)| if f & bit != 0 { c } else { '-' })
    .collect()
}

fn vmkit_flags(f: u64) -> String {
    use vmkit_isa::flag;
    let c = |bit: u64, ch: char| if f & bit != 0 { ch } else { '-' };
    format!(
        "{}{}{}{}",
        c(flag::ZF, 'Z'),
        c(flag::SF, 'S'),
        c(flag::CF, 'C'),
        c(flag::OF, 'O')
    )
}

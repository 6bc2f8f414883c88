//! `vmkit trace`: one line per executed instruction, with the registers and flags it changed.

use crate::run::{build_machine, report_exit};
use crate::MachineArgs;
use std::io::Write;
use std::path::Path;
use vmkit_isa::REG_COUNT;

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
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
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
            s
        };
        let guest_output = machine.take_output();
        let guest_errors = machine.take_error_output();
        if !guest_errors.is_empty() {
            let _ = out.flush();
            let _ = std::io::stderr().write_all(&guest_errors);
        }
        if writeln!(out, "{line}")
            .and_then(|_| out.write_all(&guest_output))
            .is_err()
        {
            // stdout closed (e.g. piped into head): stop quietly.
            return Ok(0);
        }
        if let Some(exit) = result {
            break exit;
        }
    };
    let _ = out.flush();
    drop(out);
    Ok(report_exit(&machine, &exit, args.max_steps))
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

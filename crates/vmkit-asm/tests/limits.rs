//! A small hostile source never makes the assembler hang or use unbounded memory: every way
//! found to do so meets a limit, reported at the place that hit it, with the limit's value.
//! Each test here ran for minutes or ran out of memory before its limit existed.

use std::time::{Duration, Instant};
use vmkit_asm::{assemble_file, assemble_str, Diagnostic, Diagnostics};

/// Assembles `src`, which must fail, within `secs` seconds (a debug build on a busy
/// machine; the unbounded versions took minutes or never finished).
fn fails_quickly(src: &str, secs: u64) -> Diagnostics {
    let start = Instant::now();
    let out = assemble_str("t.s", src);
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(secs),
        "took {took:?}, more than {secs} s"
    );
    match out {
        Ok(_) => panic!("assembled without errors"),
        Err(d) => d,
    }
}

fn only_error(d: &Diagnostics) -> &Diagnostic {
    let errors: Vec<&Diagnostic> = d.errors().collect();
    assert_eq!(errors.len(), 1, "{d}");
    errors[0]
}

#[test]
fn a_macro_that_doubles_its_arguments_stops_at_the_line_limit() {
    let src = ".macro dbl args:vararg\n  dbl \\args, \\args\n.endm\nmain: halt\n  dbl x\n";
    let d = fails_quickly(src, 30);
    let e = only_error(&d);
    assert_eq!(
        e.message,
        "expanding macro `dbl` would produce a line longer than 1048576 bytes"
    );
    assert_eq!((e.file.as_str(), e.line, e.col), ("t.s", 2, 3));
    assert!(
        e.notes
            .contains(&"in expansion of macro `dbl` at t.s:5".to_string()),
        "{e}"
    );
    // The note that quotes the expanded line is cut short.
    assert!(e.render().len() < 4000, "{}", e.render().len());
}

#[test]
fn expansions_stop_at_the_total_text_limit() {
    // Each line is well under the line limit; together they pass the total.
    let long = "x".repeat(1000);
    let src = format!(
        ".macro fan a\n{}.endm\nmain: halt\n.rept 100\n  fan {long}\n.endr\n",
        ".ifb \\a\n.endif\n".repeat(200)
    );
    let d = fails_quickly(&src, 30);
    let e = only_error(&d);
    assert_eq!(
        e.message,
        "expanding macro `fan` would produce more than 16777216 bytes of text"
    );
    assert_eq!((e.line, e.col), (405, 3));
    // A `.rept` whose copies are too large in all is refused before any is built.
    let src = format!(
        "main: halt\n.rept 100000\n  .ascii \"{}\"\n.endr\n",
        "y".repeat(200)
    );
    let e = fails_quickly(&src, 5);
    assert_eq!(
        only_error(&e).message,
        "this `.rept` would produce more than 16777216 bytes of text"
    );
}

#[test]
fn an_unknown_mnemonic_repeated_costs_one_search() {
    let name = "q".repeat(60);
    let src = format!("main: halt\n.rept 40000\n  {name} r1\n.endr\n");
    let d = fails_quickly(&src, 20);
    let e = only_error(&d);
    assert_eq!(e.message, format!("unknown mnemonic `{name}`"));
    assert!(e
        .notes
        .contains(&"the same error occurs 39999 more times in other expansions".to_string()));
    // A very long name is quoted in part, and not compared with every mnemonic.
    let name = "z".repeat(5000);
    let d = fails_quickly(&format!("main: halt\n.rept 2000\n  {name}\n.endr\n"), 20);
    assert!(only_error(&d).message.ends_with("...`"));
}

#[test]
fn errors_stop_after_a_hundred() {
    let mut src = String::from("main: halt\n");
    for i in 0..250 {
        src.push_str(&format!("  frob{i} r1\n"));
    }
    let d = fails_quickly(&src, 20);
    assert_eq!(d.0.len(), 101);
    let last = d.0.last().unwrap();
    assert_eq!(last.message, "and 150 more errors not shown");
    assert_eq!(last.line, 0);
    assert!(d
        .to_string()
        .ends_with("could not assemble due to 250 errors"));
}

#[test]
fn distinct_errors_without_end_are_counted_not_kept() {
    // Every repetition has its own message, so none can be folded into another.
    let src = "main: halt\n.rept 30000, k\n  .byte 256 + \\k\n.endr\n";
    let d = fails_quickly(src, 60);
    let errors: Vec<&Diagnostic> = d.errors().collect();
    assert_eq!(errors.len(), 101);
    assert_eq!(
        errors[100].message, "and 29900 more errors not shown",
        "{}",
        errors[100]
    );
}

#[test]
fn a_long_chain_of_constants_is_walked_once() {
    let mut src = String::from("A0 = 1\n");
    for i in 1..20000 {
        src.push_str(&format!("A{i} = A{} + 1\n", i - 1));
    }
    src.push_str("main: halt\n.rept 20000\n.if A19999 == 20000\n  frob\n.endif\n.endr\n");
    let d = fails_quickly(&src, 30);
    assert_eq!(only_error(&d).message, "unknown mnemonic `frob`");
}

#[test]
fn a_long_line_of_tabs_renders_in_linear_time() {
    let src = format!("main: halt\n{}frob\n", "\t".repeat(300_000));
    let d = fails_quickly(&src, 20);
    let start = Instant::now();
    let text = d.to_string();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(text.contains("unknown mnemonic `frob`"), "{text}");
}

#[test]
fn the_image_is_limited_in_all() {
    // Each segment is under the per-segment limit; together they are over the image's.
    let src = "main: halt\n.data\n.fill 0x2800000, 1\n.const\n.fill 0x2800000, 1\n";
    let d = fails_quickly(src, 60);
    let e = only_error(&d);
    assert!(
        e.message.starts_with("the image would be ")
            && e.message.ends_with("bytes, more than the limit of 64 MiB"),
        "{e}"
    );
}

struct TempDir(std::path::PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("vmkit-asm-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn include_error(target: &str) -> String {
    let d = fails_quickly(&format!("main: halt\n.include \"{target}\"\n"), 10);
    let e = only_error(&d);
    assert_eq!((e.line, e.col), (2, 10));
    e.message.clone()
}

#[test]
fn include_refuses_what_is_not_a_regular_file() {
    assert_eq!(
        include_error("/dev/zero"),
        "cannot read `/dev/zero`: it is a character device, not a regular file"
    );
    let t = TempDir::new("incdir");
    let dir = t.0.display().to_string();
    assert_eq!(
        include_error(&dir),
        format!("cannot read `{dir}`: it is a directory, not a regular file")
    );
    // A FIFO without a writer: opening it for reading would wait forever.
    let fifo = t.0.join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let f = fifo.display().to_string();
        assert_eq!(
            include_error(&f),
            format!("cannot read `{f}`: it is a FIFO, not a regular file")
        );
        let d = assemble_file(&fifo).unwrap_err();
        assert_eq!(
            d.0[0].message,
            format!("cannot read `{f}`: it is a FIFO, not a regular file")
        );
    }
}

#[test]
fn includes_repeated_stop_at_the_source_limit() {
    let t = TempDir::new("increp");
    let big = t.0.join("big.s");
    std::fs::write(&big, format!("; {}\n", "x".repeat(1 << 20))).unwrap();
    let src = format!(
        "main: halt\n.rept 100\n.include \"{}\"\n.endr\n",
        big.display()
    );
    let d = fails_quickly(&src, 30);
    let e = only_error(&d);
    assert_eq!(
        e.message,
        format!(
            "including `{}` would read more than 16 MiB of source in all",
            big.display()
        )
    );
}

#[test]
fn fills_past_a_full_segment_are_not_built() {
    // Each `.fill` is under the limit, so each used to be built, 48 MiB at a time, long
    // after the segment was known to be too large.
    for src in [
        "main: halt\n.data\n.rept 3000\n.fill 0x3000000, 1\n.endr\n",
        "main: halt\n.rept 3000\n.align 0x2000000\nnop\n.endr\n",
    ] {
        let d = fails_quickly(src, 15);
        assert_eq!(
            only_error(&d).message,
            "this section holds more than 67108864 bytes of contents"
        );
    }
}

#[test]
fn lines_read_from_files_are_limited() {
    // A megabyte of empty lines, included sixty times: each line used to cost about 140
    // bytes until the end of the run, five gigabytes in all.
    let t = TempDir::new("inclines");
    let blank = t.0.join("blank.s");
    std::fs::write(&blank, "\n".repeat(1 << 20)).unwrap();
    let src = format!(
        "main: halt\n.rept 60\n.include \"{}\"\n.endr\n",
        blank.display()
    );
    let d = fails_quickly(&src, 30);
    let e = only_error(&d);
    assert_eq!(
        e.message,
        format!(
            "including `{}` would read more than 4000000 lines of source in all",
            blank.display()
        )
    );
    assert_eq!((e.line, e.col), (3, 10));
    let src = format!("main: halt\n{}", "\n".repeat(4_000_000));
    let d = fails_quickly(&src, 30);
    assert_eq!(
        only_error(&d).message,
        "`t.s` has 4000002 lines, more than the limit of 4000000"
    );
}

#[test]
fn long_lines_are_refused_before_they_are_read_into_tokens() {
    // Eight megabytes of `.byte 1,1,1,...` on one line held half a gigabyte of tokens.
    let src = format!("main: halt\n.data\n.byte 1{}\n", ",1".repeat(4_000_000));
    let d = fails_quickly(&src, 20);
    let e = only_error(&d);
    assert_eq!(
        e.message,
        "this line has 8000007 bytes, more than the limit of 1048576"
    );
    assert_eq!((e.line, e.col), (3, 1));
}

#[test]
fn sources_over_the_limit_are_refused() {
    let t = TempDir::new("bigsrc");
    let big = t.0.join("big.s");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(vmkit_asm::MAX_SOURCE_FILE_BYTES + 1)
        .unwrap();
    let name = big.display().to_string();
    let want = format!("cannot read `{name}`: it is larger than the limit of 16 MiB");
    assert_eq!(assemble_file(&big).unwrap_err().0[0].message, want);
    let bytes = vec![b'\n'; vmkit_asm::MAX_SOURCE_FILE_BYTES as usize + 1];
    let d = vmkit_asm::assemble_source(&big, &bytes).unwrap_err();
    assert_eq!(d.0[0].message, want);
    assert_eq!(
        include_error(&name),
        format!("cannot read `{name}`: it is larger than the limit of 16 MiB")
    );
}

#[test]
fn many_errors_on_one_long_line_do_not_copy_it_for_each() {
    // Every value is an error of its own: each diagnostic held its own copy of the line,
    // ten thousand copies of half a megabyte.
    let src = format!("main: halt\n.data\n.byte 256{}\n", ",256".repeat(120_000));
    let d = fails_quickly(&src, 30);
    let errors: Vec<&Diagnostic> = d.errors().collect();
    assert_eq!(errors.len(), 101);
    assert_eq!((errors[1].line, errors[1].col), (3, 11));
    assert_eq!(errors[100].message, "and 119901 more errors not shown");
}

#[test]
fn deeply_nested_repetitions_cost_what_they_produce() {
    // Substitution rebuilt the set of names bound by open blocks at every line: the cube
    // of the depth, minutes for a few thousand levels.
    let n = 20_000;
    let src = format!(
        "main: halt\n{}nop\n{}",
        ".rept 1\n".repeat(n),
        ".endr\n".repeat(n)
    );
    let d = fails_quickly(&src, 60);
    assert_eq!(
        only_error(&d).message,
        "this `.rept` would produce more than 1000000 lines"
    );
}

#[test]
fn macros_with_very_many_parameters_bind_in_linear_time() {
    // Duplicate parameters, named arguments and `\name` references were each found by a
    // search of the whole list: the square of a hundred thousand.
    let n = 100_000;
    let params: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let named: Vec<String> = (0..n).map(|i| format!("p{i}=1")).collect();
    let refs: Vec<String> = (0..n).step_by(10).map(|i| format!("\\p{i}")).collect();
    let src = format!(
        ".macro m {}\n  .byte {}\n.endm\nmain: halt\n  m {}\n",
        params.join(","),
        refs.join(","),
        named.join(",")
    );
    let start = Instant::now();
    let out = assemble_str("t.s", &src);
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(out.is_ok(), "{}", out.unwrap_err());
}

#[test]
fn more_segments_than_an_image_can_count_are_refused() {
    // The image counts segments in 16 bits: 70001 were assembled into an image whose
    // header counts 4465.
    let src = "main: halt\n.rept 70000, k\n.data 0x100000 + \\k * 0x1000\n.byte 1\n.endr\n";
    let d = fails_quickly(src, 60);
    assert_eq!(
        only_error(&d).message,
        "the program has 70001 segments, more than the 65535 an image can hold"
    );
}

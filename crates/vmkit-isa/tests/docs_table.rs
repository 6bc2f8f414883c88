//! `docs/isa.md` contains the reference table generated from the instruction table, so the
//! documentation cannot drift from the code. Regenerate with `vmkit isa` and paste it between
//! the markers.

#[test]
fn docs_isa_md_has_the_generated_table() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/isa.md"))
        .expect("docs/isa.md exists");
    let start = doc
        .find("<!-- BEGIN GENERATED TABLE -->")
        .expect("begin marker");
    let end = doc
        .find("<!-- END GENERATED TABLE -->")
        .expect("end marker");
    let table = doc[start..end]
        .trim_start_matches("<!-- BEGIN GENERATED TABLE -->")
        .trim();
    assert_eq!(
        table,
        vmkit_isa::reference_markdown().trim(),
        "docs/isa.md is out of date: run `vmkit isa` and paste the table between the markers"
    );
}

//! The README documents facts that live in the code: they must agree.

/// The README's host-bus table is the register map (`capim::hw::regs`).
#[test]
fn readme_register_table_is_the_register_map() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let table = capim::hw::regs::markdown_table();
    assert!(
        readme.contains(&table),
        "README.md must contain the register map exactly as `capim::hw::regs::markdown_table()` writes it:\n{table}"
    );
}

/// The README's technology-file table is the parameter list with the
/// built-in values (`capim::cost::tech`).
#[test]
fn readme_technology_table_is_the_parameter_list() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let table = capim::cost::tech::markdown_table();
    assert!(
        readme.contains(&table),
        "README.md must contain the technology table exactly as `capim::cost::tech::markdown_table()` writes it:\n{table}"
    );
}

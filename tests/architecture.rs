//! The crate's module graph, read from the sources: the top-level modules
//! (`hw`, `model`, `layout`, `cost`, `emit`, `cosim`, `verify`, ...) must
//! not import each other in a loop, no library module may import from the
//! command line (`cmd`, `cli`), and inside a module directory no two files
//! may import each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The code of a file without comments (line comments, doc comments) and
/// without its unit tests (a `#[cfg(test)]` module at the end of the file,
/// whose `super` is the file itself).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| match l.find("//") {
            // `//` inside a string literal is rare in this crate; a URL in a
            // string would only add spurious edges, never hide one.
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The paths after `prefix::` in `code`, expanded over one level of braces:
/// `crate::{a::b, c}` gives `a::b` and `c`.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let pat = format!("{prefix}::");
    let mut rest = code;
    while let Some(i) = rest.find(&pat) {
        let before = rest[..i].chars().last();
        rest = &rest[i + pat.len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue; // `foo_crate::`, `a::super::`
        }
        if let Some(inner) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in inner.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.push(item);
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            out.push(rest[..end].to_string());
        }
    }
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Module path of a source file: `src/verify/check.rs` -> `["verify", "check"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Finds a cycle in `edges`, if any.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap();
                    let mut c = stack[at..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(m, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, edges, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

/// The module graph of the sources under `src`: top-level module edges, and
/// file edges inside each module directory (`super::x` and `crate::m::x`).
fn graphs(
    src: &Path,
) -> (
    BTreeMap<String, BTreeSet<String>>,
    BTreeMap<String, BTreeSet<String>>,
) {
    let files: Vec<PathBuf> = sources(src);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(src, f)).collect();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut within: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let me = module_of(src, f);
        if me.is_empty() || me == ["lib"] || me == ["main"] {
            continue;
        }
        let text = code(&std::fs::read_to_string(f).unwrap());
        // Absolute targets of every path this file names.
        let mut targets: Vec<Vec<String>> = Vec::new();
        for p in paths_after(&text, "crate") {
            targets.push(p.split("::").map(|s| ident(s).to_string()).collect());
        }
        let parent = me[..me.len() - 1].to_vec();
        for p in paths_after(&text, "super") {
            let mut t = parent.clone();
            t.extend(p.split("::").map(|s| ident(s).to_string()));
            targets.push(t);
        }
        // A module's own children, named relatively (`check::Outcome`).
        for child in modules
            .iter()
            .filter(|m| m.len() == me.len() + 1 && m.starts_with(&me))
        {
            let name = child.last().unwrap();
            if !paths_after(&text, name).is_empty() {
                targets.push(child.clone());
            }
        }
        for t in targets {
            let Some(first) = t.first().filter(|s| !s.is_empty()) else {
                continue;
            };
            if *first != me[0] {
                top.entry(me[0].clone()).or_default().insert(first.clone());
                continue;
            }
            // Same top-level module: the longest known module the path names.
            let target = (1..=t.len())
                .rev()
                .map(|k| t[..k].to_vec())
                .find(|m| modules.contains(m))
                .unwrap_or_default();
            if !target.is_empty() && target != me {
                within
                    .entry(me.join("::"))
                    .or_default()
                    .insert(target.join("::"));
            }
        }
    }
    (top, within)
}

#[test]
fn module_graph_has_no_loops_and_the_library_never_imports_the_cli() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (top, within) = graphs(&src);
    for (m, deps) in &top {
        if m != "cmd" {
            assert!(
                !deps.contains("cmd"),
                "library module `{m}` imports from `cmd`: {deps:?}"
            );
        }
        if m != "cmd" && m != "cli" {
            assert!(
                !deps.contains("cli"),
                "library module `{m}` imports from `cli`: {deps:?}"
            );
        }
    }
    assert!(
        !top.get("cli").is_some_and(|d| d.contains("cmd")),
        "`cli` must hold only the clap types: {:?}",
        top.get("cli")
    );
    if let Some(c) = cycle(&top) {
        panic!(
            "top-level modules import each other in a loop: {}\n{top:#?}",
            c.join(" -> ")
        );
    }
    // Files of one module directory: a parent may use its children and a
    // child its siblings, but two files never import each other.
    let mut pairs = Vec::new();
    for (a, deps) in &within {
        for b in deps {
            if a < b && within.get(b).is_some_and(|d| d.contains(a)) {
                pairs.push(format!("`{a}` <-> `{b}`"));
            }
        }
    }
    assert!(
        pairs.is_empty(),
        "files that import each other:\n  {}",
        pairs.join("\n  ")
    );
}

/// The checker itself finds what it must: a planted loop and a planted
/// library-to-cmd import in a throw-away source tree.
#[test]
fn module_graph_check_catches_planted_loops() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path();
    std::fs::create_dir_all(src.join("verify")).unwrap();
    std::fs::write(src.join("hw.rs"), "use crate::layout::X;\n").unwrap();
    std::fs::write(src.join("layout.rs"), "use crate::{error, hw::Y};\n").unwrap();
    std::fs::write(src.join("verify/mod.rs"), "use check::Z;\n").unwrap();
    std::fs::write(
        src.join("verify/check.rs"),
        "use super::W; // crate::cmd in a comment\nfn f() { crate::cmd::lint::filelist(); }\n",
    )
    .unwrap();
    let (top, within) = graphs(src);
    let c = cycle(&top).expect("hw <-> layout loop found");
    assert!(c.contains(&"hw".to_string()) && c.contains(&"layout".to_string()));
    assert!(top["verify"].contains("cmd"), "{top:?}");
    assert!(within["verify::check"].contains("verify"), "{within:?}");
}

//! keel-core's module graph has no cycle: every arrow points down (DESIGN.md's layout).
//! Reads ../core/src, keeps what the compiled library sees (comments, string literals and
//! `#[cfg(test)]` items dropped), and builds two graphs from `crate::` paths (`use`
//! lists included, root re-exports traced to their module) and `super::` paths: one of
//! top-level modules the library compiles (a folder counts as one; test-only modules are
//! left out), one of the command-family files (besides
//! `commands/mod.rs`, which holds the table and the shared helpers). Fails naming a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The source with comments, string and char literals blanked (so a doc comment or an
/// error text that names a module is no edge) and `#[cfg(test)]` items removed.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'/' && next == Some(b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && next == Some(b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'r'
            && (next == Some(b'"') || next == Some(b'#'))
            && (i == 0 || !is_ident(b[i - 1]))
            && raw_string_hashes(&b[i + 1..]).is_some()
        {
            let hashes = raw_string_hashes(&b[i + 1..]).unwrap_or(0);
            i += 2 + hashes;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while i < b.len() && !b[i..].starts_with(&close) {
                i += 1;
            }
            i += close.len();
            out.push_str("\"\"");
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' && next == Some(b'\\') {
            // An escaped char literal: '\n', '\'', '\u{..}'.
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            // Multi-byte UTF-8 is copied whole (only ASCII matters here).
            let len = utf8_len(c);
            out.push_str(std::str::from_utf8(&b[i..(i + len).min(b.len())]).unwrap_or(" "));
            i += len;
        }
    }
    drop_test_items(&out)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// After an `r`: the number of `#`s of a raw string opening there, if one does.
fn raw_string_hashes(rest: &[u8]) -> Option<usize> {
    let hashes = rest.iter().take_while(|&&c| c == b'#').count();
    (rest.get(hashes) == Some(&b'"')).then_some(hashes)
}

/// Removes each `#[cfg(test)]` item (its further attributes, then up to its `;` or its
/// matching `}`): tests may reach anywhere, the library may not.
fn drop_test_items(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let item = &rest[at + MARK.len()..];
        let b = item.as_bytes();
        let mut i = 0;
        let mut depth = 0usize;
        let mut in_attr = 0usize;
        while i < b.len() {
            match b[i] {
                b'[' if in_attr > 0 || (i > 0 && b[i - 1] == b'#') => in_attr += 1,
                b']' if in_attr > 0 => in_attr -= 1,
                b'{' if in_attr == 0 => depth += 1,
                b'}' if in_attr == 0 => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                b';' if in_attr == 0 && depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        rest = &item[i.min(item.len())..];
    }
    out.push_str(rest);
    out
}

/// Identifiers named right after `prefix` (`crate::x`, `crate::{x, y::z}`, `super::x`).
fn names_after(code: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].bytes().last();
        rest = &rest[at + prefix.len()..];
        // `$crate::` is `crate::`; `foo_crate::` or `xsuper::` are not.
        if before.is_some_and(is_ident) {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut entry_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => entry_start = true,
                    c if entry_start && (c.is_ascii_alphabetic() || c == '_') => {
                        names.push(ident_at(&group[j..]));
                        entry_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                names.push(name);
            }
        }
    }
    names
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Root re-exports (`pub use node::Node;` in lib.rs): name -> the module it comes from,
/// so `crate::Node` counts as an arrow to `node`.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for stmt in lib.split(';') {
        let Some(path) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = ident_at(path.trim_start_matches("crate::"));
        let items: Vec<String> = match path.find('{') {
            Some(open) => path[open + 1..]
                .trim_end_matches('}')
                .split(',')
                .map(|s| ident_at(s.trim()))
                .collect(),
            None => vec![path.rsplit("::").next().map(ident_at).unwrap_or_default()],
        };
        for item in items.into_iter().filter(|s| !s.is_empty()) {
            map.insert(item, module.clone());
        }
    }
    map
}

/// A source file: its top-level module and, inside `commands/`, its family file
/// (`None` for `commands/mod.rs`, the table and shared helpers).
struct SourceFile {
    top: String,
    family: Option<String>,
    code: String,
}

fn source_files(root: &Path) -> (Vec<SourceFile>, String) {
    let mut paths = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("core/src is readable") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let lib = code_only(
        &std::fs::read_to_string(root.join("lib.rs")).expect("core/src/lib.rs is readable"),
    );
    // Modules the library compiles (`#[cfg(test)] mod node_tests;` is gone from `lib`).
    let declared: BTreeSet<String> = names_after(&lib, "mod ").into_iter().collect();
    let mut files = Vec::new();
    for path in paths {
        let rel: PathBuf = path.strip_prefix(root).expect("under root").to_path_buf();
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if !declared.contains(&parts[0]) {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("source is UTF-8");
        let family = match parts.as_slice() {
            [top, file] if top == "commands" && file != "mod" => Some(file.clone()),
            [top, folder, _] if top == "commands" => Some(folder.clone()),
            _ => None,
        };
        files.push(SourceFile {
            top: parts[0].clone(),
            family,
            code: code_only(&src),
        });
    }
    (files, lib)
}

/// The two graphs: top-level modules, and command-family files.
fn graphs(files: &[SourceFile], lib: &str) -> (Graph, Graph) {
    let tops: BTreeSet<String> = files.iter().map(|f| f.top.clone()).collect();
    let families: BTreeSet<String> = files.iter().filter_map(|f| f.family.clone()).collect();
    let reexports = root_reexports(lib);
    let mut top_graph = Graph::new();
    let mut family_graph = Graph::new();
    for f in files {
        let edges = top_graph.entry(f.top.clone()).or_default();
        for name in names_after(&f.code, "crate::") {
            let target = if tops.contains(&name) {
                Some(name)
            } else {
                reexports.get(&name).cloned()
            };
            if let Some(t) = target.filter(|t| *t != f.top) {
                edges.insert(t);
            }
        }
        let Some(family) = &f.family else { continue };
        let edges = family_graph.entry(family.clone()).or_default();
        let mut targets = names_after(&f.code, "crate::commands::");
        // `super::x` from a family file is a sibling; from a file in a family's folder
        // it is that family itself (skipped below).
        targets.extend(names_after(&f.code, "super::"));
        for t in targets {
            if families.contains(&t) && t != *family {
                edges.insert(t);
            }
        }
    }
    (top_graph, family_graph)
}

/// The first cycle found, as `a -> b -> ... -> a`.
fn find_cycle(graph: &Graph) -> Option<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<String> {
        marks.insert(node.to_string(), Mark::OnPath);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next.as_str()).copied().unwrap_or(Mark::New) {
                Mark::OnPath => {
                    let start = path.iter().position(|p| p == next).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle.join(" -> "));
                }
                Mark::New => {
                    if let Some(c) = visit(next, graph, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if marks.get(node.as_str()).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(node, graph, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Everything wrong with a pair of graphs: cycles, and arrows into the top layers
/// (nothing imports `node`; only `node` imports `commands`).
fn problems(top: &Graph, family: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(c) = find_cycle(top) {
        found.push(format!("module cycle: {c}"));
    }
    if let Some(c) = find_cycle(family) {
        found.push(format!("command-family cycle: {c}"));
    }
    for (from, to) in top {
        if to.contains("node") {
            found.push(format!("{from} imports node (the node sits on top)"));
        }
        if to.contains("commands") && from != "node" {
            found.push(format!("{from} imports commands (only the node may)"));
        }
    }
    found
}

fn core_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src")
}

#[test]
fn core_modules_import_downwards_only() {
    let (files, lib) = source_files(&core_src());
    assert!(files.len() > 20, "found only {} files", files.len());
    let (top, family) = graphs(&files, &lib);
    // The graph must be real, or "no cycle" says nothing.
    assert!(top.get("node").is_some_and(|e| e.contains("commands")));
    assert!(top.get("commands").is_some_and(|e| e.contains("keyspace")));
    assert!(family.get("sort").is_some_and(|e| e.contains("lists")));
    let found = problems(&top, &family);
    assert!(
        found.is_empty(),
        "{}\n\ngraph:\n{top:#?}\n{family:#?}",
        found.join("\n")
    );
}

/// Builds graphs from in-memory files (top, family, source).
fn graphs_of(files: &[(&str, Option<&str>, &str)], lib: &str) -> (Graph, Graph) {
    let files: Vec<SourceFile> = files
        .iter()
        .map(|(top, family, src)| SourceFile {
            top: top.to_string(),
            family: family.map(str::to_string),
            code: code_only(src),
        })
        .collect();
    graphs(&files, &code_only(lib))
}

#[test]
fn a_planted_cycle_is_named() {
    let lib = "pub use node::Node;";
    let keyspace_importing_node = [
        (
            "node",
            None,
            "use crate::keyspace::Keyspace; use crate::commands::Ctx;",
        ),
        ("commands", None, "use crate::{keyspace::Db, types};"),
        (
            "keyspace",
            None,
            "use crate::types::Value;\nuse crate::Node;",
        ),
        ("types", None, ""),
    ];
    let (top, family) = graphs_of(&keyspace_importing_node, lib);
    let found = problems(&top, &family);
    assert!(
        found.contains(&"module cycle: commands -> keyspace -> node -> commands".to_string()),
        "{found:?}"
    );
    assert!(found.contains(&"keyspace imports node (the node sits on top)".to_string()));

    let families = [
        ("commands", Some("lists"), "use super::sort::helper;"),
        ("commands", Some("sort"), "crate::commands::lists::x();"),
    ];
    let (top, family) = graphs_of(&families, lib);
    assert_eq!(
        problems(&top, &family),
        ["command-family cycle: lists -> sort -> lists"]
    );
}

#[test]
fn comments_strings_and_tests_are_no_edges() {
    let src = r##"
        //! Never use crate::node here.
        /* crate::node /* nested */ crate::node */
        const S: &str = "crate::node";
        const R: &str = r#"crate::node "quoted""#;
        const C: char = '"';
        fn f<'a>(x: &'a str) -> &'a str { x }
        #[cfg(test)]
        mod tests { use crate::node::Node; fn g() { { } } }
        #[cfg(test)]
        use crate::node::Node;
        use crate::types::Value;
    "##;
    let (top, _) = graphs_of(
        &[
            ("keyspace", None, src),
            ("node", None, ""),
            ("types", None, ""),
        ],
        "",
    );
    assert_eq!(
        top.get("keyspace")
            .map(|e| e.iter().cloned().collect::<Vec<_>>()),
        Some(vec!["types".to_string()])
    );
}

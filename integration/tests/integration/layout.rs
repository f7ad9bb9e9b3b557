//! The workspace's shape: no module imports a module that imports it back, directly or
//! through others, and the crates depend on each other one way only, as the README's
//! layout says. Run alone with `cargo test --workspace --test main layout`.
//!
//! Modules are files (`a/b.rs` or `a/b/mod.rs` is `a::b`). An import is every path that
//! starts with `crate::`, `super::` or `self::` in a `use` or in code; it points at the
//! longest module prefix of the path. A parent that only declares a child (`mod b;`)
//! does not import it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every library and binary source root of the workspace: `(crate dir, src dir)`.
fn crates() -> Vec<(String, PathBuf)> {
    let root = workspace();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let src = dir.join("src");
        if dir.join("Cargo.toml").exists() && src.is_dir() {
            out.push((dir.file_name().unwrap().to_string_lossy().into_owned(), src));
        }
    }
    out.sort();
    out
}

/// Module path of a source file, relative to `src`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Removes comments and string literals, so paths in prose do not count.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// The module paths a file's code names, expanded from `use` trees: `use crate::a::{b::C,
/// d}` names `a::b::C` and `a::d`. A `use` of a path that does not start with `crate`,
/// `super` or `self` is relative to the file's module (`use state::Planned` in
/// `owner/mod.rs` names `owner::state`); one naming an outside crate resolves to no
/// module and is ignored.
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let at_word = |i: usize| i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    let looking_at = |i: usize, p: &str| chars[i..].iter().take(p.len()).copied().eq(p.chars());
    let mut i = 0;
    while i < chars.len() {
        if !at_word(i) {
            i += 1;
            continue;
        }
        if ["crate::", "super::", "self::"]
            .iter()
            .any(|p| looking_at(i, p))
        {
            let (tree, used) = parse_tree(&chars[i..]);
            out.extend(tree);
            i += used.max(1);
        } else if looking_at(i, "use ") {
            let mut j = i + 4;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if ["crate::", "super::", "self::"]
                .iter()
                .any(|p| looking_at(j, p))
            {
                i = j;
                continue;
            }
            let (tree, used) = parse_tree(&chars[j..]);
            for p in tree {
                let mut full = vec!["self".to_string()];
                full.extend(p);
                out.push(full);
            }
            i = j + used.max(1);
        } else {
            i += 1;
        }
    }
    out
}

/// Parses one path or use tree at the start of `s`; returns the expanded paths and the
/// characters read.
fn parse_tree(s: &[char]) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
            i += 1;
        }
        if i > start {
            prefix.push(s[start..i].iter().collect::<String>());
        }
        if s.get(i) == Some(&':') && s.get(i + 1) == Some(&':') {
            i += 2;
            if s.get(i) == Some(&'{') {
                i += 1;
                let mut all = Vec::new();
                loop {
                    while i < s.len() && (s[i].is_whitespace() || s[i] == ',') {
                        i += 1;
                    }
                    if i >= s.len() || s[i] == '}' {
                        i += 1;
                        break;
                    }
                    let (sub, used) = parse_tree(&s[i..]);
                    for p in sub {
                        let mut full = prefix.clone();
                        full.extend(p);
                        all.push(full);
                    }
                    i += used.max(1);
                }
                return (all, i);
            }
            continue;
        }
        return (vec![prefix], i);
    }
}

/// Inline modules (`mod tests { … }`) are part of their file: inside them `super::`
/// names the file's module, so it is rewritten to `self::`.
fn flatten_inline_modules(code: &str) -> String {
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(at) = out[from..].find("mod ") {
        let start = from + at;
        let word_start = start == 0
            || !out[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let head: String = out[start + 4..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || c.is_whitespace())
            .collect();
        let brace = start + 4 + head.len();
        if !word_start || out.as_bytes().get(brace) != Some(&b'{') {
            from = start + 4;
            continue;
        }
        let mut depth = 0;
        let mut end = brace;
        for (i, c) in out[brace..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = brace + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = out[brace + 1..end].replace("super::", "self::");
        out.replace_range(brace + 1..end, &body);
        from = brace + 1;
    }
    out
}

/// `path` (as written in module `me`) from the crate root, without `crate`.
fn absolute(me: &[String], path: &[String]) -> Option<Vec<String>> {
    let (mut base, rest) = match path.first().map(String::as_str) {
        Some("crate") => (Vec::new(), &path[1..]),
        Some("super") => (me[..me.len().checked_sub(1)?].to_vec(), &path[1..]),
        Some("self") => (me.to_vec(), &path[1..]),
        _ => return None,
    };
    let mut rest = rest;
    while rest.first().map(String::as_str) == Some("super") {
        base.pop()?;
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The module that defines what `path` names: the longest module prefix, followed
/// through `pub use` re-exports (`crate::Error` re-exported from `error` is `error`'s).
fn defining_module(
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
    reexports: &BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
    depth: usize,
) -> Vec<String> {
    let mut at = Vec::new();
    for (i, seg) in path.iter().enumerate() {
        let mut next = at.clone();
        next.push(seg.clone());
        if modules.contains(&next) {
            at = next;
            continue;
        }
        if let Some(target) = reexports.get(&at).and_then(|r| r.get(seg))
            && depth < 8
            && target.as_slice() != &path[..=i]
        {
            let mut full = target.clone();
            full.extend(path[i + 1..].iter().cloned());
            return defining_module(&full, modules, reexports, depth + 1);
        }
        break;
    }
    at
}

/// The paths of a file's `pub use` (and `pub(crate) use`) statements.
fn pub_uses(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for marker in ["pub use ", "pub(crate) use "] {
        let mut from = 0;
        while let Some(at) = code[from..].find(marker) {
            let start = from + at + marker.len();
            let chars: Vec<char> = code[start..].chars().take(4096).collect();
            let (tree, _) = parse_tree(&chars);
            for p in tree {
                if matches!(
                    p.first().map(String::as_str),
                    Some("crate" | "super" | "self")
                ) {
                    out.push(p);
                } else {
                    let mut full = vec!["self".to_string()];
                    full.extend(p);
                    out.push(full);
                }
            }
            from = start;
        }
    }
    out
}

/// The import cycles among `files`, each given as its module path and its source.
fn cycles(files: &[(Vec<String>, String)]) -> Vec<String> {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut imports = BTreeMap::new();
    let mut reexports: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (me, text) in files {
        let code = flatten_inline_modules(&code_only(text));
        let paths: Vec<Vec<String>> = named_paths(&code)
            .iter()
            .filter_map(|p| absolute(me, p))
            .collect();
        for p in pub_uses(&code).iter().filter_map(|p| absolute(me, p)) {
            if let Some(name) = p.last() {
                reexports
                    .entry(me.clone())
                    .or_default()
                    .insert(name.clone(), p.clone());
            }
        }
        imports.insert(me.clone(), paths);
    }
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (me, paths) in &imports {
        for path in paths {
            let target = defining_module(path, &modules, &reexports, 0);
            if &target != me {
                edges.entry(me.clone()).or_default().insert(target);
            }
        }
    }
    fn name(m: &[String]) -> String {
        if m.is_empty() {
            "crate".to_string()
        } else {
            m.join("::")
        }
    }
    // Depth-first search; a back edge closes a cycle.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
        found: &mut Vec<String>,
    ) {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                0 => visit(next, edges, state, stack, found),
                1 => {
                    let at = stack.iter().position(|n| n == next).unwrap_or(0);
                    let cycle: Vec<String> = stack[at..]
                        .iter()
                        .chain(std::iter::once(next))
                        .map(|m| name(m))
                        .collect();
                    found.push(cycle.join(" -> "));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
    }
    let mut state = BTreeMap::new();
    let mut found = Vec::new();
    for m in &modules {
        if state.get(m).copied().unwrap_or(0) == 0 {
            visit(m, &edges, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let mut problems = Vec::new();
    for (name, src) in crates() {
        let mut paths = Vec::new();
        rust_files(&src, &mut paths);
        let files: Vec<(Vec<String>, String)> = paths
            .iter()
            .map(|f| (module_of(&src, f), std::fs::read_to_string(f).unwrap()))
            .collect();
        for cycle in cycles(&files) {
            problems.push(format!("{name}: {cycle}"));
        }
    }
    assert!(
        problems.is_empty(),
        "modules that import each other:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_cycles_through_children_parents_and_re_exports() {
    let m = |p: &str| -> Vec<String> {
        p.split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    let file = |p: &str, code: &str| (m(p), code.to_string());
    // A child naming its parent's item while the parent uses the child.
    let files = [
        file("", "mod owner;"),
        file("owner", "mod state; use state::Planned; pub struct Owner;"),
        file("owner::state", "use super::Owner; pub struct Planned;"),
    ];
    assert_eq!(cycles(&files), ["owner -> owner::state -> owner"]);
    // An item reached through the root's re-export is its defining module's.
    let files = [
        file("", "mod error; mod a; pub use error::Error; pub use a::A;"),
        file("error", "pub struct Error;"),
        file("a", "use crate::Error; pub struct A;"),
    ];
    assert!(cycles(&files).is_empty(), "{:?}", cycles(&files));
    // Test modules inline in a file belong to it.
    let files = [
        file("", "mod a; mod b;"),
        file(
            "a",
            "use crate::b::B; pub struct A; #[cfg(test)] mod tests { use super::*; }",
        ),
        file("b", "pub struct B;"),
    ];
    assert!(cycles(&files).is_empty(), "{:?}", cycles(&files));
    let files = [
        file("", "mod a; mod b;"),
        file("a", "use crate::b::B; pub struct A;"),
        file("b", "pub struct B; fn f() -> crate::a::A { todo!() }"),
    ];
    assert_eq!(cycles(&files), ["a -> b -> a"]);
}

#[test]
fn crates_depend_on_each_other_one_way() {
    // Each crate and the workspace crates it may use, as the README's layout says.
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("core", &[][..]),
        ("proto", &[][..]),
        ("connectors", &["sluice-core"][..]),
        ("policy", &["sluice-core"][..]),
        ("chain", &["sluice-core", "sluice-proto"][..]),
        (
            "gateway",
            &[
                "sluice-core",
                "sluice-proto",
                "sluice-connectors",
                "sluice-policy",
                "sluice-chain",
            ][..],
        ),
        (
            "examples",
            &[
                "sluice-core",
                "sluice-proto",
                "sluice-connectors",
                "sluice-policy",
                "sluice-chain",
                "sluice-gateway",
            ][..],
        ),
    ]);
    let mut problems = Vec::new();
    for (name, _) in crates() {
        let Some(ok) = allowed.get(name.as_str()) else {
            continue;
        };
        let manifest = std::fs::read_to_string(workspace().join(&name).join("Cargo.toml")).unwrap();
        for line in manifest.lines() {
            let dep = line.split(['.', ' ', '=']).next().unwrap_or("");
            if dep.starts_with("sluice-") && !ok.contains(&dep) {
                problems.push(format!("{name} depends on {dep}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_a_cycle_in_use_trees() {
    let code = code_only(
        "use crate::a::{b::C, d};\npub use state::P;\n// use crate::x::y;\nfn f() { super::e::g(); let s = \"crate::z\"; }",
    );
    let paths = named_paths(&code);
    assert_eq!(
        paths,
        vec![
            vec!["crate", "a", "b", "C"],
            vec!["crate", "a", "d"],
            vec!["self", "state", "P"],
            vec!["super", "e", "g"],
        ]
        .into_iter()
        .map(|p| p.into_iter().map(String::from).collect::<Vec<_>>())
        .collect::<Vec<_>>()
    );
}

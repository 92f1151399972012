//! The shape of the code stays: every reference from one top-level module of `src/` to another
//! points down the layer table of docs/design.md, and no cycle joins top-level modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top to bottom; a module may use modules of its own layer or any layer below it.
const LAYERS: &[(&str, &[&str])] = &[
    ("binary", &["main"]),
    ("start-up", &["app", "store_tools"]),
    ("routes", &["routes", "error"]),
    (
        "services",
        &["signin", "session", "second_factor", "oidc", "admin", "policy", "ratelimit", "store_guard", "lifecycle"],
    ),
    ("ports and adapters", &["store", "mail", "sms", "outbox", "webhooks", "audit", "deliverability", "dns"]),
    ("settings and domain", &["config", "domain"]),
    ("base", &["crypto", "clock", "i18n", "telemetry"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("src/ is readable").flatten().collect();
    entries.sort_by_key(|entry| entry.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file below `src/`: `src/store/redis/mod.rs` → `["store", "redis"]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> =
        relative.iter().map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned()).collect();
    if parts.last().is_some_and(|last| last == "mod" || last == "lib") {
        parts.pop();
    }
    parts
}

/// The code of a file without its unit tests and comments.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") && lines.peek().is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            // Unit tests sit at the end of a file; they may reach anywhere.
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        code.push_str(line.split(" // ").next().unwrap_or(line));
        code.push('\n');
    }
    code
}

fn identifier_at(code: &str) -> String {
    code.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// First path segments of a `{a::b, c, d::{e, f}}` group: `["a", "c", "d"]`.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_start = true;
    for (index, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => at_start = true,
            c if at_start && depth == 0 && (c.is_alphanumeric() || c == '_') => {
                heads.push(identifier_at(&group[index..]));
                at_start = false;
            }
            _ => {}
        }
    }
    heads
}

/// The top-level modules a file refers to through `crate::…` and `super::…` paths.
fn referenced_modules(module: &[String], code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut add_path = |rest: &str, base: &[String]| {
        // `rest` follows the `::` after the base; the base's first segment is the top-level
        // module unless the base is the crate root.
        if let Some(top) = base.first() {
            found.insert(top.clone());
        } else if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            found.extend(group_heads(&group[..end]));
        } else {
            let head = identifier_at(rest);
            if !head.is_empty() {
                found.insert(head);
            }
        }
    };
    for (index, _) in code.match_indices("crate::") {
        let before = code[..index].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        add_path(&code[index + "crate::".len()..], &[]);
    }
    for (index, _) in code.match_indices("super::") {
        let before = code[..index].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut rest = &code[index + "super::".len()..];
        // A file's own module is `module`; `super` is its parent.
        let mut base: Vec<String> = module.to_vec();
        base.pop();
        while let Some(more) = rest.strip_prefix("super::") {
            base.pop();
            rest = more;
        }
        add_path(rest, &base);
    }
    found
}

fn matching_brace(group: &str) -> usize {
    let mut depth = 1;
    for (index, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return index;
                }
            }
            _ => {}
        }
    }
    group.len()
}

/// Which top-level module uses which, from the source text of `src/`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("below src/");
        let module = module_path(relative);
        let Some(top) = module.first().cloned() else { continue };
        if top == "main" {
            // The binary reaches the library as `latchkey::`; it is the top layer anyway.
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("source files are UTF-8");
        let uses = referenced_modules(&module, &code_of(&text));
        let entry = graph.entry(top.clone()).or_default();
        entry.extend(uses.into_iter().filter(|used| *used != top));
    }
    graph
}

#[test]
fn every_top_level_module_has_a_layer() {
    let unknown: Vec<_> = module_graph().into_keys().filter(|module| layer_of(module).is_none()).collect();
    assert!(
        unknown.is_empty(),
        "add these modules to the layer table in tests/api/layers.rs and docs/design.md: {unknown:?}"
    );
}

#[test]
fn every_import_between_top_level_modules_points_down() {
    let mut upward = Vec::new();
    for (module, uses) in module_graph() {
        let Some(own) = layer_of(&module) else { continue };
        for used in uses {
            match layer_of(&used) {
                Some(layer) if layer < own => {
                    upward.push(format!("{module} ({}) uses {used} ({})", LAYERS[own].0, LAYERS[layer].0))
                }
                _ => {}
            }
        }
    }
    assert!(upward.is_empty(), "imports that point up the layer table:\n{}", upward.join("\n"));
}

#[test]
fn no_cycle_joins_top_level_modules() {
    let graph = module_graph();
    // Depth-first search; a grey node met again closes a cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, bool>,
        stack: &mut Vec<&'a str>,
        cycles: &mut Vec<String>,
    ) {
        state.insert(node, false);
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                None => visit(next, graph, state, stack, cycles),
                Some(false) => {
                    let from = stack.iter().position(|n| *n == next).unwrap_or(0);
                    let mut cycle: Vec<&str> = stack[from..].to_vec();
                    cycle.push(next);
                    cycles.push(cycle.join(" → "));
                }
                Some(true) => {}
            }
        }
        stack.pop();
        state.insert(node, true);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for node in graph.keys() {
        if !state.contains_key(node.as_str()) {
            visit(node, &graph, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    assert!(cycles.is_empty(), "import cycles between top-level modules:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_braced_nested_and_super_paths() {
    let code = "use crate::{audit::Metrics, store::{Store, Keys}};\nfn f() { crate::oidc::x(); }\nuse super::super::config::Config;\n";
    let found = referenced_modules(&["mfa".into(), "sms".into(), "twilio".into()], code);
    let expected: BTreeSet<String> = ["audit", "store", "oidc", "mfa"].into_iter().map(String::from).collect();
    assert_eq!(found, expected);
    let top_file = referenced_modules(&["ratelimit".into()], "use super::store::Store;\n");
    assert!(top_file.contains("store"), "{top_file:?}");
}

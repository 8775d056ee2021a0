//! The layering rule of the crate, checked against its source.
//!
//! Every `use` and every path that starts with `crate::`, `super::` or
//! `self::` (or names a child module) in `src/` is resolved to the file that
//! holds the module it reaches. From that graph:
//!
//! - no two files import each other, directly or around a loop;
//! - no file imports its parent module (a child that needs something of its
//!   parent's is asking for a module of its own); the unit-test modules of a
//!   file (`tests`, `*_tests`, inline `mod tests`) are its own and exempt;
//! - leaves ([`LEAVES`]: `report`) may be imported by any module and import
//!   nothing of the crate;
//! - the top-level modules import only downwards, as [`ALLOWED`] says:
//!   fuse → fs → {cache, upload} → vod, with `server` beside, sharing only
//!   `vod`'s signing code and protocol rules; the wiring (`main`, `cli`,
//!   `run` …) may use anything and nothing below it uses the wiring;
//! - `fuser` is named only by the FUSE adapter and the wiring, `axum` only by
//!   `server`.
//!
//! The README's architecture section states the same rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Top-level modules and the top-level modules each may import. Wiring
/// modules are in [`WIRING`] instead.
const ALLOWED: &[(&str, &[&str])] = &[
    ("fuse", &["fs"]),
    ("fs", &["cache", "upload", "settings"]),
    ("upload", &["cache", "settings", "vod"]),
    // The staging store knows files, chunks and upload state, not the
    // protocol.
    ("cache", &["sqlite"]),
    // Opening a SQLite database (pragmas, migrations): a leaf utility.
    ("sqlite", &[]),
    ("settings", &["vod"]),
    ("vod", &[]),
    ("server", &["vod", "sqlite"]),
];

/// Leaves: small utilities any module may import; they import nothing of
/// the crate.
const LEAVES: &[&str] = &["report", "dirlock", "fadvise", "direct_io"];

/// The modules of `vod` that `server` may use: what both sides obey.
const SERVER_MAY_USE_OF_VOD: &[&str] = &["vod::sign", "vod::rules"];

/// Wiring: may import any module; no module outside the wiring imports these.
const WIRING: &[&str] = &[
    "main", "lib", "cli", "run", "config", "daemon", "ctl", "embedded", "manpage", "serve",
];

type Module = Vec<String>;

/// One source file and what it reaches.
struct File {
    path: PathBuf,
    module: Module,
    /// Modules imported from this file, with a line each for the report.
    imports: BTreeMap<Module, Vec<String>>,
    /// External crates named.
    externs: BTreeSet<String>,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn module_of(rel: &Path) -> Module {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().map(|s| s == "mod") == Some(true) {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        // The crate roots: `lib` is the crate itself; `main` is the binary.
        return vec![parts[0].clone()];
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().map(|x| x == "rs") == Some(true) {
            out.push(p);
        }
    }
}

/// Walks one file's syntax tree, resolving paths to modules.
struct Walker<'a> {
    /// The module of the item being visited (inline `mod`s pushed).
    here: Module,
    /// Depth of inline modules inside the file (their edges are the file's).
    inline_test_depth: usize,
    known: &'a BTreeSet<Module>,
    imports: BTreeMap<Module, Vec<String>>,
    externs: BTreeSet<String>,
    /// Edges from the file's unit tests (exempt from the parent rule).
    test_imports: BTreeMap<Module, Vec<String>>,
}

impl Walker<'_> {
    fn resolve(&mut self, segs: &[String], what: &str) {
        let Some(first) = segs.first() else { return };
        let mut abs: Vec<String> = match first.as_str() {
            "crate" => segs[1..].to_vec(),
            "self" => [self.here.clone(), segs[1..].to_vec()].concat(),
            "super" => {
                let mut base = self.here.clone();
                let mut rest = segs;
                while rest.first().map(|s| s == "super") == Some(true) {
                    base.pop();
                    rest = &rest[1..];
                }
                [base, rest.to_vec()].concat()
            }
            _ => {
                let child = [self.here.clone(), vec![first.clone()]].concat();
                if self.known.contains(&child) {
                    [self.here.clone(), segs.to_vec()].concat()
                } else {
                    if first.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                        self.externs.insert(first.clone());
                    }
                    return;
                }
            }
        };
        // The longest prefix that is a module of the crate.
        while !abs.is_empty() && !self.known.contains(&abs) {
            abs.pop();
        }
        if abs.is_empty() {
            return;
        }
        let map = if self.inline_test_depth > 0 {
            &mut self.test_imports
        } else {
            &mut self.imports
        };
        map.entry(abs).or_default().push(what.to_string());
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                if n.ident != "self" {
                    full.push(n.ident.to_string());
                }
                self.resolve(&full, &format!("use {}", full.join("::")));
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                if r.ident != "self" {
                    full.push(r.ident.to_string());
                }
                self.resolve(&full, &format!("use {}", full.join("::")));
            }
            syn::UseTree::Glob(_) => {
                let full = prefix.clone();
                self.resolve(&full, &format!("use {}::*", full.join("::")));
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

fn is_test_attr(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .map(|l| l.tokens.to_string().contains("test"))
                .unwrap_or(false)
    })
}

impl<'ast> Visit<'ast> for Walker<'_> {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut prefix = Vec::new();
        self.use_tree(&mut prefix, &u.tree);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if m.content.is_none() {
            return;
        }
        let test = is_test_attr(&m.attrs) || m.ident == "tests";
        self.here.push(m.ident.to_string());
        if test {
            self.inline_test_depth += 1;
        }
        syn::visit::visit_item_mod(self, m);
        if test {
            self.inline_test_depth -= 1;
        }
        self.here.pop();
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if segs.len() > 1 {
            let text = segs.join("::");
            self.resolve(&segs, &text);
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        // Paths inside macro bodies (format!, tracing's macros) are tokens;
        // pick up `crate::…` / `super::…` there too.
        let toks: Vec<String> = m
            .tokens
            .to_string()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let mut i = 0;
        while i < toks.len() {
            if matches!(toks[i].as_str(), "crate" | "super" | "self") {
                let mut segs = vec![toks[i].clone()];
                let mut j = i + 1;
                while j + 1 < toks.len() && toks[j] == "::" {
                    segs.push(toks[j + 1].clone());
                    j += 2;
                }
                if segs.len() > 1 {
                    let text = segs.join("::");
                    self.resolve(&segs, &text);
                }
                i = j;
            } else {
                i += 1;
            }
        }
        syn::visit::visit_macro(self, m);
    }
}

fn is_test_module(m: &Module) -> bool {
    m.last()
        .is_some_and(|s| s == "tests" || s.ends_with("_tests") || s == "testing")
}

fn read_crate() -> Vec<File> {
    let src = src_dir();
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    paths.sort();
    let mut known: BTreeSet<Module> = paths
        .iter()
        .map(|p| module_of(p.strip_prefix(&src).unwrap()))
        .collect();
    // Inline modules with bodies are modules too (their paths resolve there).
    let mut parsed = Vec::new();
    for p in &paths {
        let text = std::fs::read_to_string(p).expect("read source");
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let module = module_of(p.strip_prefix(&src).unwrap());
        fn inline(prefix: &Module, items: &[syn::Item], known: &mut BTreeSet<Module>) {
            for it in items {
                if let syn::Item::Mod(m) = it
                    && let Some((_, items)) = &m.content
                {
                    let mut sub = prefix.clone();
                    sub.push(m.ident.to_string());
                    known.insert(sub.clone());
                    inline(&sub, items, known);
                }
            }
        }
        inline(&module, &ast.items, &mut known);
        parsed.push((p.clone(), module, ast));
    }
    let mut files = Vec::new();
    for (path, module, ast) in parsed {
        let mut w = Walker {
            here: if module == ["lib"] {
                Vec::new()
            } else {
                module.clone()
            },
            inline_test_depth: 0,
            known: &known,
            imports: BTreeMap::new(),
            externs: BTreeSet::new(),
            test_imports: BTreeMap::new(),
        };
        w.visit_file(&ast);
        let mut imports = w.imports;
        // Edges into a file's own inline modules or itself are not imports.
        let own = |m: &Module| m.starts_with(&module) || (module == ["lib"]);
        imports.retain(|m, _| !own(m) || m.len() < module.len());
        imports.remove(&module);
        // Collapse inline modules of other files onto their file.
        let mut collapsed: BTreeMap<Module, Vec<String>> = BTreeMap::new();
        for (m, why) in imports {
            collapsed.entry(file_module(&m)).or_default().extend(why);
        }
        collapsed.remove(&module);
        files.push(File {
            path,
            module,
            imports: collapsed,
            externs: w.externs,
        });
    }
    files
}

/// The module of the file that holds `m` (inline modules fold onto their
/// file).
fn file_module(m: &Module) -> Module {
    let src = src_dir();
    let mut m = m.clone();
    while !m.is_empty() {
        let rel: PathBuf = m.iter().collect();
        if src.join(rel.with_extension("rs")).exists() || src.join(&rel).join("mod.rs").exists() {
            return m;
        }
        m.pop();
    }
    m
}

fn show(m: &Module) -> String {
    if m.is_empty() {
        "crate".to_string()
    } else {
        m.join("::")
    }
}

#[test]
fn no_two_modules_import_each_other() {
    let files = read_crate();
    let graph: BTreeMap<Module, BTreeSet<Module>> = files
        .iter()
        .filter(|f| !is_test_module(&f.module))
        .map(|f| (f.module.clone(), f.imports.keys().cloned().collect()))
        .collect();
    // Any edge u → v with v reaching u closes a loop.
    let reach = |from: &Module, to: &Module| -> bool {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(m) = stack.pop() {
            if &m == to {
                return true;
            }
            if seen.insert(m.clone()) {
                stack.extend(graph.get(&m).into_iter().flatten().cloned());
            }
        }
        false
    };
    let mut loops = Vec::new();
    for f in files.iter().filter(|f| !is_test_module(&f.module)) {
        for (to, why) in &f.imports {
            if graph.contains_key(to) && reach(to, &f.module) {
                loops.push(format!(
                    "{} → {} ({}) and back",
                    show(&f.module),
                    show(to),
                    why[0]
                ));
            }
        }
    }
    assert!(loops.is_empty(), "import loops:\n  {}", loops.join("\n  "));
}

#[test]
fn no_module_imports_its_parent() {
    let mut bad = Vec::new();
    for f in read_crate() {
        if is_test_module(&f.module) || f.module.len() < 2 {
            continue;
        }
        for (to, why) in &f.imports {
            if to.len() < f.module.len() && f.module.starts_with(to) {
                bad.push(format!(
                    "{} imports its parent: {}",
                    show(&f.module),
                    why[0]
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn top_level_modules_import_only_downwards() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut bad = Vec::new();
    for f in read_crate() {
        let top = f.module[0].as_str();
        if WIRING.contains(&top) {
            continue;
        }
        if LEAVES.contains(&top) {
            for (to, why) in &f.imports {
                if to[0] != top {
                    bad.push(format!(
                        "the leaf {} imports {}: {}",
                        show(&f.module),
                        show(to),
                        why[0]
                    ));
                }
            }
            continue;
        }
        let Some(ok) = allowed.get(top) else {
            bad.push(format!(
                "{}: top-level module `{top}` is not in the layering table",
                f.path.display()
            ));
            continue;
        };
        for (to, why) in &f.imports {
            let dst = to[0].as_str();
            if dst == top || LEAVES.contains(&dst) {
                continue;
            }
            if WIRING.contains(&dst) {
                bad.push(format!(
                    "{} uses the wiring module {dst}: {}",
                    show(&f.module),
                    why[0]
                ));
            } else if !ok.contains(&dst) {
                bad.push(format!("{} → {}: {}", show(&f.module), show(to), why[0]));
            } else if top == "server"
                && dst == "vod"
                && !SERVER_MAY_USE_OF_VOD
                    .iter()
                    .any(|p| show(to).starts_with(p))
            {
                bad.push(format!(
                    "server may use only {SERVER_MAY_USE_OF_VOD:?} of vod: {} → {} ({})",
                    show(&f.module),
                    show(to),
                    why[0]
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "imports against the layering:\n  {}",
        bad.join("\n  ")
    );
}

#[test]
fn fuser_only_in_the_adapter_and_axum_only_in_the_server() {
    let mut bad = Vec::new();
    for f in read_crate() {
        let top = f.module[0].as_str();
        if f.externs.contains("fuser") && !(top == "fuse" || WIRING.contains(&top)) {
            bad.push(format!("{} names fuser", f.path.display()));
        }
        if f.externs.contains("axum") && !(top == "server" || WIRING.contains(&top)) {
            bad.push(format!("{} names axum", f.path.display()));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The checker itself: a loop, a parent import and a layering breach in a
/// made-up crate are found (so an empty report means something).
#[test]
fn the_checker_sees_what_it_checks() {
    let known: BTreeSet<Module> = [
        vec!["a".to_string()],
        vec!["a".to_string(), "b".to_string()],
    ]
    .into_iter()
    .collect();
    let ast: syn::File = syn::parse_str(
        "use super::Thing; use crate::a::b::{self, X}; fn f() { crate::a::run(); format!(\"{}\", super::super::a::b::y()); }",
    )
    .unwrap();
    let mut w = Walker {
        here: vec!["a".to_string(), "b".to_string()],
        inline_test_depth: 0,
        known: &known,
        imports: BTreeMap::new(),
        externs: BTreeSet::new(),
        test_imports: BTreeMap::new(),
    };
    w.visit_file(&ast);
    let got: Vec<String> = w.imports.keys().map(show).collect();
    assert_eq!(got, vec!["a".to_string(), "a::b".to_string()]);
    assert_eq!(w.imports[&vec!["a".to_string()]].len(), 2);
}

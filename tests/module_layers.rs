//! No two top-level modules of `src/` import each other, directly or round a circle (issue 28).
//!
//! The graph: one node per top-level module (`config`, `proxy`, ...) and `crate` for the items
//! of `src/lib.rs` itself (`start`, `Running`); an edge `a -> b` for every path in `a`'s code
//! that names `b`: `crate::b::...`, `use crate::{b::..., c}`, `super::...` climbing out of `a`,
//! and in `lib.rs` the bare `b::...`. The files are the ones the compiler reads: from
//! `src/lib.rs`, each `mod x;` followed to `x.rs` or `x/mod.rs` (or its `#[path]`). `src/main.rs`
//! is another crate (it uses `gateway::`) and is not part of the graph.
//!
//! Comments, strings and character literals are skipped. Test-only code (an item under
//! `#[cfg(test)]`, such as a `mod tests` or a `#[cfg(test)] mod tests;` file) does not count: a
//! test is a harness over the crate, as the files in `tests/` are, and may use any module (the
//! `auth` tests verify tokens minted by the `dev` issuer); only the code the gateway is built
//! from must be layered. docs/architecture.md lists the layers.
//!
//! Run `cargo test --test module_layers -- --nocapture` to print every module's layer and edges.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The node for `src/lib.rs`'s own items.
const ROOT: &str = "crate";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
    /// A string literal's text as written (for `#[path = "…"]`); never read as a path.
    Str(String),
}

/// A token and its 1-based line.
type Lexed = Vec<(Token, usize)>;

/// Rust source as identifiers, `::`, single punctuation and string literals, without
/// whitespace, comments, character or number literals, and lifetimes.
fn lex(source: &str) -> Lexed {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Advances over `chars[i..end]`, counting newlines.
    let skip = |i: &mut usize, end: usize, line: &mut usize| {
        let end = end.min(chars.len());
        *line += chars[*i..end].iter().filter(|&&c| c == '\n').count();
        *i = end;
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest.
            let mut depth = 0;
            let mut j = i;
            while j < chars.len() {
                if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            skip(&mut i, j, &mut line);
        } else if let Some((text, end)) = raw_string(&chars, i) {
            out.push((Token::Str(text), line));
            skip(&mut i, end, &mut line);
        } else if c == '"' || (matches!(c, 'b' | 'c') && next == Some('"')) {
            let start = if c == '"' { i + 1 } else { i + 2 };
            let mut j = start;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            let text = chars[start..j.min(chars.len())].iter().collect();
            out.push((Token::Str(text), line));
            skip(&mut i, j + 1, &mut line);
        } else if c == '\'' || (c == 'b' && next == Some('\'')) {
            let start = if c == '\'' { i + 1 } else { i + 2 };
            if chars.get(start) == Some(&'\\') {
                // '\n', '\'', '\u{1F600}'
                let mut j = start + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                skip(&mut i, j + 1, &mut line);
            } else if chars.get(start + 1) == Some(&'\'') {
                skip(&mut i, start + 2, &mut line);
            } else {
                // A lifetime or label: `'a`, `'static`.
                let mut j = start;
                while j < chars.len() && is_ident_char(chars[j]) {
                    j += 1;
                }
                i = j;
            }
        } else if c == 'r'
            && next == Some('#')
            && chars.get(i + 2).is_some_and(|&c| is_ident_start(c))
        {
            // A raw identifier: `r#type`.
            let mut j = i + 2;
            while j < chars.len() && is_ident_char(chars[j]) {
                j += 1;
            }
            out.push((Token::Ident(chars[i + 2..j].iter().collect()), line));
            i = j;
        } else if is_ident_start(c) {
            let mut j = i;
            while j < chars.len() && is_ident_char(chars[j]) {
                j += 1;
            }
            out.push((Token::Ident(chars[i..j].iter().collect()), line));
            i = j;
        } else if c.is_ascii_digit() {
            // Numbers, with suffixes and exponents: `1_000u64`, `1e-3`, `0x1F`.
            let mut j = i;
            while j < chars.len()
                && (is_ident_char(chars[j])
                    || (chars[j] == '.' && chars.get(j + 1).is_some_and(char::is_ascii_digit)))
            {
                j += 1;
            }
            i = j;
        } else if c == ':' && next == Some(':') {
            out.push((Token::PathSep, line));
            i += 2;
        } else {
            out.push((Token::Punct(c), line));
            i += 1;
        }
    }
    out
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The text of the raw string starting at `i` (`r"…"`, `r#"…"#`, `br#"…"#`, `cr"…"`) and where
/// it ends.
fn raw_string(chars: &[char], i: usize) -> Option<(String, usize)> {
    if i > 0 && is_ident_char(chars[i - 1]) {
        return None;
    }
    let mut j = i;
    if matches!(chars.get(j), Some('b' | 'c')) {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    let start = j;
    while j < chars.len() {
        if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
            return Some((chars[start..j].iter().collect(), j + 1 + hashes));
        }
        j += 1;
    }
    Some((chars[start..].iter().collect(), chars.len()))
}

/// One path naming another top-level module: `from -> to` at `file:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mention {
    from: String,
    to: String,
    file: PathBuf,
    line: usize,
}

/// A file to read: where it is, its module path (`["proxy", "upstream"]`; empty for `lib.rs`),
/// and whether its children live in its own folder (`lib.rs`, `mod.rs`) or in one named after it.
struct Unit {
    file: PathBuf,
    module: Vec<String>,
    owns_folder: bool,
}

/// Every mention in the crate rooted at `lib`, following `mod x;` declarations.
fn crate_mentions(lib: &Path) -> Result<Vec<Mention>, String> {
    let source =
        std::fs::read_to_string(lib).map_err(|e| format!("cannot read {}: {e}", lib.display()))?;
    let tops = top_modules(&lex(&source));
    if tops.is_empty() {
        return Err(format!("{} declares no module", lib.display()));
    }
    let mut mentions = Vec::new();
    let mut queue = vec![Unit {
        file: lib.to_path_buf(),
        module: Vec::new(),
        owns_folder: true,
    }];
    while let Some(unit) = queue.pop() {
        let source = std::fs::read_to_string(&unit.file)
            .map_err(|e| format!("cannot read {}: {e}", unit.file.display()))?;
        let scan = scan(&lex(&source), &unit.module, &tops);
        for (to, line) in scan.mentions {
            let from = unit.module.first().map_or(ROOT, String::as_str);
            if from != to {
                mentions.push(Mention {
                    from: from.to_owned(),
                    to,
                    file: unit.file.clone(),
                    line,
                });
            }
        }
        for child in scan.children {
            queue.push(child_unit(&unit, child)?);
        }
    }
    Ok(mentions)
}

/// The file of `mod name;` declared in `parent` (inside its inline modules `inline`).
fn child_unit(parent: &Unit, child: Child) -> Result<Unit, String> {
    let base = parent.file.parent().unwrap_or(Path::new("."));
    let mut folder = base.to_path_buf();
    if !parent.owns_folder {
        let stem = parent.file.file_stem().unwrap_or_default();
        folder.push(stem);
    }
    for inline in &child.inline {
        folder.push(inline);
    }
    let mut module = parent.module.clone();
    module.extend(child.inline.iter().cloned());
    module.push(child.name.clone());
    if let Some(path) = child.path_attribute {
        // `#[path]` outside inline modules is relative to the declaring file's folder.
        let file = base.join(path);
        return Ok(Unit {
            owns_folder: file.file_name().is_some_and(|n| n == "mod.rs"),
            file,
            module,
        });
    }
    let flat = folder.join(format!("{}.rs", child.name));
    let nested = folder.join(&child.name).join("mod.rs");
    if flat.is_file() {
        Ok(Unit {
            file: flat,
            module,
            owns_folder: false,
        })
    } else if nested.is_file() {
        Ok(Unit {
            file: nested,
            module,
            owns_folder: true,
        })
    } else {
        Err(format!(
            "{}:{}: `mod {};` names neither {} nor {}",
            parent.file.display(),
            child.line,
            child.name,
            flat.display(),
            nested.display()
        ))
    }
}

/// The modules `lib.rs` declares at its top level (`mod x;`, `pub mod x;`, `mod x { … }`).
fn top_modules(tokens: &Lexed) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut depth = 0usize;
    for (i, (token, _)) in tokens.iter().enumerate() {
        match token {
            Token::Punct('{' | '(' | '[') => depth += 1,
            Token::Punct('}' | ')' | ']') => depth = depth.saturating_sub(1),
            Token::Ident(word) if word == "mod" && depth == 0 => {
                if let Some((Token::Ident(name), _)) = tokens.get(i + 1) {
                    out.insert(name.clone());
                }
            }
            _ => {}
        }
    }
    out
}

/// A `mod name;` found in a file.
struct Child {
    name: String,
    /// The inline modules (`mod a { mod name; }`) it sits in.
    inline: Vec<String>,
    path_attribute: Option<String>,
    line: usize,
}

#[derive(Default)]
struct Scan {
    /// The top-level module (or `crate`) each path names, with its line.
    mentions: Vec<(String, usize)>,
    children: Vec<Child>,
}

/// The paths and `mod x;` declarations of one file whose module path is `module`, test-only
/// items skipped.
fn scan(tokens: &Lexed, module: &[String], tops: &BTreeSet<String>) -> Scan {
    let mut out = Scan::default();
    // Inline modules open around the cursor: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut path_attribute: Option<String> = None;
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i].0;
        let line = tokens[i].1;
        match token {
            Token::Punct('#') => {
                let inner = matches!(tokens.get(i + 1), Some((Token::Punct('!'), _)));
                let open = if inner { i + 2 } else { i + 1 };
                let close = matching(tokens, open);
                let attribute = tokens.get(open + 1..close).unwrap_or_default();
                if is_cfg_test(attribute) {
                    // `#![cfg(test)]` makes the rest of the file or block test-only.
                    i = if inner {
                        tokens.len()
                    } else {
                        item_end(tokens, close + 1)
                    };
                    path_attribute = None;
                    continue;
                }
                if let [
                    (Token::Ident(path), _),
                    (Token::Punct('='), _),
                    (Token::Str(file), _),
                ] = attribute
                    && path == "path"
                {
                    path_attribute = Some(file.clone());
                }
                i = close + 1;
                continue;
            }
            Token::Punct('{' | '(' | '[') => depth += 1,
            Token::Punct('}' | ')' | ']') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, inside)| *inside > depth) {
                    inline.pop();
                }
            }
            Token::Ident(word) if word == "mod" => {
                if let Some((Token::Ident(name), _)) = tokens.get(i + 1) {
                    match tokens.get(i + 2) {
                        Some((Token::Punct(';'), _)) => out.children.push(Child {
                            name: name.clone(),
                            inline: inline.iter().map(|(name, _)| name.clone()).collect(),
                            path_attribute: path_attribute.take(),
                            line,
                        }),
                        Some((Token::Punct('{'), _)) => {
                            inline.push((name.clone(), depth + 1));
                        }
                        _ => {}
                    }
                }
            }
            Token::Ident(word) if word == "crate" && is_path_sep(tokens, i + 1) => {
                let from_root = module.is_empty() && inline.is_empty();
                for (target, line) in path_heads(tokens, i + 2) {
                    let to = if tops.contains(&target) {
                        target
                    } else {
                        ROOT.to_owned()
                    };
                    if !(from_root && to == ROOT) {
                        out.mentions.push((to, line));
                    }
                }
            }
            Token::Ident(word) if word == "super" && is_path_sep(tokens, i + 1) => {
                let previous = i.checked_sub(1).map(|p| &tokens[p].0);
                if previous != Some(&Token::PathSep) {
                    let mut ups = 1;
                    let mut j = i + 2;
                    while matches!(tokens.get(j), Some((Token::Ident(w), _)) if w == "super")
                        && is_path_sep(tokens, j + 1)
                    {
                        ups += 1;
                        j += 2;
                    }
                    let here: Vec<&String> = module
                        .iter()
                        .chain(inline.iter().map(|(name, _)| name))
                        .collect();
                    if ups == here.len() {
                        // Climbed to the crate root: the next segment names a top-level module
                        // or an item of `lib.rs`.
                        for (target, line) in path_heads(tokens, j) {
                            let to = if tops.contains(&target) {
                                target
                            } else {
                                ROOT.to_owned()
                            };
                            out.mentions.push((to, line));
                        }
                    }
                }
            }
            Token::Ident(word)
                if module.is_empty()
                    && inline.is_empty()
                    && tops.contains(word)
                    && is_path_sep(tokens, i + 1)
                    && i.checked_sub(1).map(|p| &tokens[p].0) != Some(&Token::PathSep) =>
            {
                // In lib.rs a top-level module is named without `crate::`.
                out.mentions.push((word.clone(), line));
            }
            _ => {}
        }
        if matches!(token, Token::Punct(';' | '{' | '}')) {
            // A `#[path]` belongs to the `mod` of its own item.
            path_attribute = None;
        }
        i += 1;
    }
    out
}

fn is_path_sep(tokens: &Lexed, i: usize) -> bool {
    matches!(tokens.get(i), Some((Token::PathSep, _)))
}

/// The first segment of the path continuing at `i` (after `crate::`), or of each branch of a
/// `{a::…, b}` group there.
fn path_heads(tokens: &Lexed, i: usize) -> Vec<(String, usize)> {
    match tokens.get(i) {
        Some((Token::Ident(name), line)) => vec![(name.clone(), *line)],
        Some((Token::Punct('{'), _)) => {
            let close = matching(tokens, i);
            let mut heads = Vec::new();
            let mut depth = 0usize;
            let mut expecting = true;
            for (token, line) in tokens.get(i + 1..close).unwrap_or_default() {
                match token {
                    Token::Punct('{') => depth += 1,
                    Token::Punct('}') => depth = depth.saturating_sub(1),
                    Token::Punct(',') if depth == 0 => expecting = true,
                    Token::Ident(name) if depth == 0 && expecting => {
                        // `self` in `crate::{self, …}` is the crate itself.
                        if name != "self" {
                            heads.push((name.clone(), *line));
                        }
                        expecting = false;
                    }
                    _ => {}
                }
            }
            heads
        }
        _ => Vec::new(),
    }
}

/// The index of the bracket closing the one at `open` (or the last token).
fn matching(tokens: &Lexed, open: usize) -> usize {
    let mut depth = 0usize;
    for (j, (token, _)) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::Punct('{' | '(' | '[') => depth += 1,
            Token::Punct('}' | ')' | ']') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    tokens.len().saturating_sub(1)
}

/// Where the item (or statement, field, arm) starting at `i` ends: after its `;` or its closing
/// `}`, or before the `,` or bracket that ends the list it is in.
fn item_end(tokens: &Lexed, i: usize) -> usize {
    let mut depth = 0usize;
    let mut j = i;
    while j < tokens.len() {
        match &tokens[j].0 {
            Token::Punct('{' | '(' | '[') => depth += 1,
            Token::Punct('}' | ')' | ']') => {
                if depth == 0 {
                    return j;
                }
                depth -= 1;
                if depth == 0 && tokens[j].0 == Token::Punct('}') {
                    // `mod tests { … }`, `fn f() { … }`; a `;` right after (`use a::{b};`)
                    // is harmless.
                    return j + 1;
                }
            }
            Token::Punct(';') if depth == 0 => return j + 1,
            Token::Punct(',') if depth == 0 => return j,
            _ => {}
        }
        j += 1;
    }
    j
}

/// `cfg(test)`, exactly: `cfg(any(test, …))` and `cfg(not(test))` are compiled in builds too.
fn is_cfg_test(attribute: &[(Token, usize)]) -> bool {
    let words: Vec<&Token> = attribute.iter().map(|(token, _)| token).collect();
    words
        == [
            &Token::Ident("cfg".into()),
            &Token::Punct('('),
            &Token::Ident("test".into()),
            &Token::Punct(')'),
        ]
}

/// The graph: for each module, the modules it names and the first place it does.
type Graph = BTreeMap<String, BTreeMap<String, (PathBuf, usize)>>;

fn graph(mentions: &[Mention]) -> Graph {
    let mut graph = Graph::new();
    for m in mentions {
        graph.entry(m.to.clone()).or_default();
        graph
            .entry(m.from.clone())
            .or_default()
            .entry(m.to.clone())
            .or_insert_with(|| (m.file.clone(), m.line));
    }
    graph
}

/// A group of modules that all reach each other: a shortest circle through its first member,
/// `a -> b -> … -> a`, and every member (a group may hold more than one circle).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Cycle {
    walk: Vec<String>,
    members: Vec<String>,
}

/// Every strongly connected group of two or more modules. Empty when the modules are layered.
fn cycles(graph: &Graph) -> Vec<Cycle> {
    // Tarjan's strongly connected components.
    struct Walk<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        groups: Vec<Vec<&'g str>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flat_map(BTreeMap::keys) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    group.push(w);
                    if w == v {
                        break;
                    }
                }
                self.groups.push(group);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        groups: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    let mut out: Vec<Cycle> = walk
        .groups
        .iter()
        .filter(|group| group.len() > 1)
        .map(|group| {
            let members: BTreeSet<&str> = group.iter().copied().collect();
            Cycle {
                walk: circle(graph, &members),
                members: members.iter().map(|m| (*m).to_owned()).collect(),
            }
        })
        .collect();
    out.sort();
    out
}

/// A shortest walk from the group's first module back to itself, inside the group.
fn circle(graph: &Graph, members: &BTreeSet<&str>) -> Vec<String> {
    let Some(&start) = members.first() else {
        return Vec::new();
    };
    // Breadth first, so the walk is a shortest one.
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut frontier = vec![start];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for v in frontier {
            for w in graph.get(v).into_iter().flat_map(BTreeMap::keys) {
                let w = w.as_str();
                if w == start {
                    let mut back = vec![v];
                    while let Some(&previous) = back.last().and_then(|at| came_from.get(at)) {
                        back.push(previous);
                    }
                    let mut walk: Vec<String> =
                        back.iter().rev().map(|m| (*m).to_owned()).collect();
                    if walk.first().map(String::as_str) != Some(start) {
                        walk.insert(0, start.to_owned());
                    }
                    walk.push(start.to_owned());
                    return walk;
                }
                if members.contains(w) && !came_from.contains_key(w) {
                    came_from.insert(w, v);
                    next.push(w);
                }
            }
        }
        frontier = next;
    }
    Vec::new()
}

/// Each module's layer: 0 for a module that names no other, else one more than the highest it
/// names. Only meaningful without cycles.
fn layers(graph: &Graph) -> BTreeMap<String, usize> {
    fn layer(graph: &Graph, v: &str, memo: &mut BTreeMap<String, usize>, depth: usize) -> usize {
        if let Some(&known) = memo.get(v) {
            return known;
        }
        if depth > graph.len() {
            return 0;
        }
        let below = graph
            .get(v)
            .into_iter()
            .flat_map(BTreeMap::keys)
            .map(|w| layer(graph, w, memo, depth + 1) + 1)
            .max()
            .unwrap_or(0);
        memo.insert(v.to_owned(), below);
        below
    }
    let mut memo = BTreeMap::new();
    for v in graph.keys() {
        layer(graph, v, &mut memo, 0);
    }
    memo
}

/// The failure message: each circle, and for each of its steps the first line that takes it.
fn report(graph: &Graph, cycles: &[Cycle], root: &Path) -> String {
    let mut out = String::new();
    for cycle in cycles {
        let walk = &cycle.walk;
        let _ = writeln!(out, "module cycle: {}", walk.join(" -> "));
        if cycle.members.len() + 1 > walk.len() {
            let _ = writeln!(
                out,
                "  (one circle of several joining {})",
                cycle.members.join(", ")
            );
        }
        for step in walk.windows(2) {
            if let Some((file, line)) = graph.get(&step[0]).and_then(|to| to.get(&step[1])) {
                let shown = file.strip_prefix(root).unwrap_or(file);
                let _ = writeln!(
                    out,
                    "  {} -> {}: {}:{}",
                    step[0],
                    step[1],
                    shown.display(),
                    line
                );
            }
        }
    }
    out.push_str(
        "each module may import only the ones below it (docs/architecture.md): move what both \
         need below both, or the check into the module that builds the thing\n",
    );
    out
}

fn scan_crate() -> (Graph, PathBuf) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mentions = crate_mentions(&root.join("src/lib.rs")).unwrap_or_else(|e| panic!("{e}"));
    (graph(&mentions), root)
}

#[test]
fn the_top_level_modules_of_src_form_no_cycle() {
    let (graph, root) = scan_crate();
    // The scan itself must have worked: the crate has layers, so some modules name others.
    assert!(
        graph.len() > 10 && graph.values().map(BTreeMap::len).sum::<usize>() > 20,
        "the scan found almost nothing (is src/lib.rs still the crate root?): {graph:?}"
    );
    let found = cycles(&graph);
    assert!(found.is_empty(), "{}", report(&graph, &found, &root));
    let layers = layers(&graph);
    let mut by_layer: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (module, layer) in &layers {
        by_layer.entry(*layer).or_default().push(module);
    }
    for (layer, modules) in by_layer.iter().rev() {
        println!("layer {layer}:");
        for module in modules {
            let names: Vec<&str> = graph[*module].keys().map(String::as_str).collect();
            println!("  {module} -> {}", names.join(", "));
        }
    }
}

// The check checked: each part on a small hand-made input where the answer is known.

fn hand_made(edges: &[(&str, &str)]) -> Graph {
    let mentions: Vec<Mention> = edges
        .iter()
        .map(|(from, to)| Mention {
            from: (*from).to_owned(),
            to: (*to).to_owned(),
            file: PathBuf::from(format!("src/{from}.rs")),
            line: 1,
        })
        .collect();
    graph(&mentions)
}

#[test]
fn a_cycle_is_found_and_named_in_walking_order() {
    let g = hand_made(&[
        ("config", "units"),
        ("config", "state"),
        ("state", "config"),
        ("proxy", "config"),
        ("proxy", "state"),
    ]);
    let walks = |g: &Graph| -> Vec<Vec<String>> { cycles(g).into_iter().map(|c| c.walk).collect() };
    assert_eq!(walks(&g), [vec!["config", "state", "config"]]);
    let g = hand_made(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]);
    assert_eq!(walks(&g), [vec!["a", "b", "c", "a"]]);
    let message = report(&g, &cycles(&g), Path::new(""));
    assert!(
        message.contains("module cycle: a -> b -> c -> a\n  a -> b: src/a.rs:1\n"),
        "{message}"
    );
    // Two separate circles are two findings.
    let g = hand_made(&[("a", "b"), ("b", "a"), ("x", "y"), ("y", "x"), ("a", "x")]);
    assert_eq!(
        walks(&g),
        [vec!["a", "b", "a"], vec!["x", "y", "x"]],
        "{g:?}"
    );
    // A group with two circles: the shortest through its first member, and every member named.
    let g = hand_made(&[("a", "b"), ("b", "a"), ("b", "c"), ("c", "d"), ("d", "b")]);
    let found = cycles(&g);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].walk, ["a", "b", "a"]);
    assert_eq!(found[0].members, ["a", "b", "c", "d"]);
    assert!(
        report(&g, &found, Path::new("")).contains("(one circle of several joining a, b, c, d)")
    );
}

#[test]
fn a_layered_graph_has_no_cycle_and_its_layers_count_up_from_the_floor() {
    let g = hand_made(&[
        ("proxy", "config"),
        ("proxy", "state"),
        ("state", "config"),
        ("config", "units"),
        ("crate", "proxy"),
    ]);
    assert!(cycles(&g).is_empty());
    let layers = layers(&g);
    assert_eq!(layers["units"], 0);
    assert_eq!(layers["config"], 1);
    assert_eq!(layers["state"], 2);
    assert_eq!(layers["proxy"], 3);
    assert_eq!(layers["crate"], 4);
}

fn tops(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn targets(source: &str, module: &[&str]) -> Vec<String> {
    let module: Vec<String> = module.iter().map(|m| (*m).to_owned()).collect();
    scan(
        &lex(source),
        &module,
        &tops(&["config", "state", "proxy", "dev", "auth"]),
    )
    .mentions
    .into_iter()
    .map(|(to, _)| to)
    .collect()
}

#[test]
fn paths_are_read_from_code_only_and_test_only_code_does_not_count() {
    let source = r##"
//! Mentions crate::proxy in a doc comment.
/* crate::proxy /* nested */ crate::proxy */
use crate::config::Config;
use crate::{state::OnError, self, auth};
const S: &str = "crate::proxy";
const R: &str = r#"crate::proxy " still"#;
const C: char = '"'; const Q: char = '\''; fn f<'a>(x: &'a str) {}
pub(crate) fn g() -> crate::StartError { todo!() }
#[cfg(test)]
mod tests {
    use crate::dev::issuer::DevIssuer;
    fn inner() { crate::proxy::x(); }
}
#[cfg(test)]
fn helper() { crate::dev::x() }
#[cfg(any(test, feature = "x"))]
fn both() { crate::proxy::y() }
"##;
    assert_eq!(
        targets(source, &["auth"]),
        ["config", "state", "auth", "crate", "proxy"]
    );
}

#[test]
fn super_paths_count_when_they_climb_out_of_the_module() {
    // In src/proxy/mod.rs `super::` is the crate root; in src/proxy/pool.rs it is `proxy`.
    assert_eq!(targets("use super::StartError;", &["proxy"]), ["crate"]);
    assert_eq!(targets("use super::config::X;", &["proxy"]), ["config"]);
    assert!(targets("use super::Gateway;", &["proxy", "pool"]).is_empty());
    assert_eq!(
        targets("use super::super::state::X;", &["proxy", "pool"]),
        ["state"]
    );
    // An inline module is one level more.
    assert!(targets("mod inner { use super::Gateway; }", &["proxy"]).is_empty());
    // In lib.rs a top-level module needs no `crate::`, and its own items are not an edge.
    assert_eq!(
        targets(
            "fn start() { proxy::serve(); tokio::spawn(); crate::start(); }",
            &[]
        ),
        ["proxy"]
    );
}

#[test]
fn mod_declarations_are_followed_and_test_only_files_are_not() {
    let source = "mod a;\npub mod b;\n#[cfg(test)]\nmod tests;\n#[path = \"x_tests.rs\"]\nmod x;\nmod inline { mod deep; }\n";
    let children = scan(&lex(source), &["proxy".to_owned()], &tops(&[])).children;
    let found: Vec<(String, Vec<String>, Option<String>)> = children
        .into_iter()
        .map(|c| (c.name, c.inline, c.path_attribute))
        .collect();
    assert_eq!(
        found,
        [
            ("a".to_owned(), vec![], None),
            ("b".to_owned(), vec![], None),
            ("x".to_owned(), vec![], Some("x_tests.rs".to_owned())),
            ("deep".to_owned(), vec!["inline".to_owned()], None),
        ]
    );
}

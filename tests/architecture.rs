//! The crate graph is the README's: every `onair-*` crate depends on exactly
//! the crates its row of the Architecture diagram lists, and only on crates
//! of lower rows (nothing below the engine knows the engine).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// `crate -> (row index, listed dependencies)` from the README diagram; the
/// front ends' row lists none (they may use any crate below).
fn readme_layers() -> BTreeMap<String, (usize, Option<BTreeSet<String>>)> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let start = readme
        .find("Each crate depends only on crates of lower layers")
        .expect("the Architecture section");
    let block = readme[start..]
        .split("```")
        .nth(1)
        .expect("the crate diagram");
    let mut layers = BTreeMap::new();
    let mut row = 0;
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        if line.trim_start().starts_with("->") {
            continue;
        }
        // A line starting with a word opens a row; an indented one goes on.
        if !line.starts_with(' ') && !layers.is_empty() {
            row += 1;
        }
        // `onair-x [a, b]` or a bare `onair-x`; the CLI is `onair (crates/cli)`.
        let line = line.replace("onair (crates/cli)", "onair-cli");
        let mut rest = line.as_str();
        while let Some(i) = rest.find("onair-") {
            rest = &rest[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(rest.len());
            let name = rest[..end].to_owned();
            rest = &rest[end..];
            let listed = rest.trim_start().strip_prefix('[').map(|inner| {
                let close = inner.find(']').expect("a closing bracket");
                let deps = inner[..close]
                    .split(',')
                    .map(|d| format!("onair-{}", d.trim()))
                    .filter(|d| d != "onair-")
                    .collect::<BTreeSet<_>>();
                rest = &inner[close + 1..];
                deps
            });
            let listed = listed.or_else(|| (row > 0).then(BTreeSet::new));
            layers.insert(name, (row, listed));
        }
    }
    // The front ends' row lists no brackets: any lower crate.
    for (_, (r, listed)) in layers.iter_mut() {
        if *r == 0 {
            *listed = None;
        }
    }
    layers
}

/// `crate -> its onair-* normal dependencies`, from `cargo metadata`.
fn cargo_graph() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    m["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            let name = p["name"].as_str()?;
            (name.starts_with("onair-") && name != "onair-tests").then(|| {
                let deps = p["dependencies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d["kind"].is_null())
                    .filter_map(|d| d["name"].as_str())
                    .filter(|d| d.starts_with("onair-"))
                    .map(str::to_owned)
                    .collect();
                (name.to_owned(), deps)
            })
        })
        .collect()
}

#[test]
fn every_crate_depends_on_what_the_readme_diagram_says_and_only_downwards() {
    let layers = readme_layers();
    let graph = cargo_graph();
    let named: BTreeSet<_> = layers.keys().cloned().collect();
    let built: BTreeSet<_> = graph.keys().cloned().collect();
    assert_eq!(named, built, "the diagram names every crate, no more");
    for (name, deps) in &graph {
        let (row, listed) = &layers[name];
        if let Some(listed) = listed {
            assert_eq!(
                deps, listed,
                "{name}: Cargo.toml against the README diagram"
            );
        }
        for d in deps {
            let (dep_row, _) = layers[d];
            assert!(
                dep_row > *row,
                "{name} (row {row}) depends on {d} (row {dep_row}): an arrow against the diagram"
            );
        }
    }
    // The layering the README promises in words.
    for low in [
        "onair-amf0",
        "onair-rtmp",
        "onair-flv",
        "onair-media",
        "onair-output",
    ] {
        assert!(
            !graph[low].contains("onair-engine"),
            "{low} knows the engine"
        );
        assert!(
            !graph[low].contains("onair-profiles"),
            "{low} knows profiles"
        );
        assert!(!graph[low].contains("onair-record"), "{low} knows files");
    }
}

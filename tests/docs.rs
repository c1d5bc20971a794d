//! The documents that promise what a test holds: every test SECURITY.md names must exist, so the
//! threat table cannot point at a test that was renamed or removed.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every Rust source under `dir`, as one text.
fn sources(dir: &str) -> String {
    let mut all = String::new();
    for entry in walkdir::WalkDir::new(Path::new(ROOT).join(dir)) {
        let entry = entry.unwrap();
        if entry.path().extension().is_some_and(|e| e == "rs") {
            all.push_str(&std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    all
}

#[test]
fn every_test_security_md_names_exists() {
    let text = read("SECURITY.md");
    let units = sources("src");
    let mut checked = 0;
    for quoted in text.split('`').skip(1).step_by(2) {
        if let Some((file, name)) = quoted.split_once("::") {
            let path = format!("tests/{file}.rs");
            if !Path::new(ROOT).join(&path).exists() || name.starts_with(|c: char| c.is_ascii_uppercase()) {
                continue; // a Rust path such as gate::NEVER, not a test
            }
            if name == "*" {
                checked += 1;
                continue;
            }
            let body = read(&path);
            assert!(body.contains(&format!("fn {name}()")), "SECURITY.md names {quoted}, which {path} does not have");
            checked += 1;
        }
    }
    // the unit tests, named after their module: "`gate` unit `name`"
    for part in text.split(" unit `").skip(1) {
        let name = part.split('`').next().unwrap();
        assert!(units.contains(&format!("fn {name}(")), "SECURITY.md names unit test {name}, which src/ does not have");
        checked += 1;
    }
    assert!(checked > 50, "only {checked} tests named: is the table still there?");
}

/// Every Markdown file people read: the README, the top-level pages, docs/ and examples/.
fn markdown_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> =
        ["README.md", "ARCHITECTURE.md", "SECURITY.md"].iter().map(|f| Path::new(ROOT).join(f)).collect();
    for dir in ["docs", "examples"] {
        for entry in walkdir::WalkDir::new(Path::new(ROOT).join(dir)) {
            let entry = entry.unwrap();
            if entry.path().extension().is_some_and(|e| e == "md") {
                files.push(entry.into_path());
            }
        }
    }
    files
}

/// The anchors GitHub gives a page's headings: lower case, blanks to `-`, other punctuation dropped.
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        let Some(title) = line.strip_prefix('#').filter(|_| !fenced) else { continue };
        let title = title.trim_start_matches('#').trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        found.push(slug);
    }
    found
}

/// The targets of a page's `[text](target)` links, outside code.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if fenced {
            continue;
        }
        // code spans may hold `](`, which is no link
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        for part in prose.split("](").skip(1) {
            if let Some((target, _)) = part.split_once(')') {
                found.push(target.to_string());
            }
        }
    }
    found
}

#[test]
fn every_link_between_the_documents_leads_somewhere() {
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let dir = file.parent().unwrap();
        for target in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let linked = if path.is_empty() { file.clone() } else { dir.join(path) };
            assert!(linked.exists(), "{}: the link to {target} leads nowhere", file.display());
            if !anchor.is_empty() {
                let page = std::fs::read_to_string(&linked).unwrap();
                assert!(
                    anchors(&page).iter().any(|a| a == anchor),
                    "{}: {} has no heading #{anchor} (it has {:?})",
                    file.display(),
                    linked.display(),
                    anchors(&page)
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} links checked: were the documents moved?");
}

#[test]
fn the_readme_is_a_newcomers_page_and_links_every_docs_page() {
    let readme = read("README.md");
    assert!(
        readme.lines().count() <= 150,
        "README.md has {} lines: the reference belongs in docs/",
        readme.lines().count()
    );
    // the two commands a newcomer runs
    assert!(readme.contains("cargo build --release && ./target/release/roothooks"), "the build-and-run command");
    assert!(readme.contains("\nbash scripts/test.sh\n"), "the test command");
    for entry in std::fs::read_dir(Path::new(ROOT).join("docs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(readme.contains(&format!("](docs/{name})")), "README.md does not link docs/{name}");
        // each page opens with what an operator comes to it for, before any section
        let page = read(&format!("docs/{name}"));
        let mut lines = page.lines().filter(|l| !l.is_empty());
        assert!(lines.next().is_some_and(|l| l.starts_with("# ")), "docs/{name} has no title");
        assert!(
            lines.next().is_some_and(|l| !l.starts_with('#')),
            "docs/{name} opens with a heading, not what it is for"
        );
    }
}

/// The long options of a help text or a table row's first column, and the ROOTHOOKS_* and NB_*
/// variables given as theirs.
type Options = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

fn variables(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|w| w.starts_with("ROOTHOOKS_") || w.starts_with("NB_"))
        .map(str::to_string)
}

fn long_options(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split("--").skip(1).map(|rest| rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '-').collect())
}

/// `roothooks --help`: each option line (indented 2 or 6 columns; descriptions are at 10) and the
/// variables in the `[env: ...]` of its description.
fn help_options() -> Options {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roothooks")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let mut options = Options::new();
    let mut current: Vec<String> = Vec::new();
    let mut block = String::new();
    let flush = |names: &[String], block: &str, options: &mut Options| {
        let envs: std::collections::BTreeSet<String> =
            block.split("[env:").skip(1).flat_map(|e| variables(e.split(']').next().unwrap_or(""))).collect();
        for name in names {
            options.insert(name.clone(), envs.clone());
        }
    };
    for line in help.lines() {
        let option_line = (line.starts_with("  -") && !line.starts_with("   ")) || line.starts_with("      --");
        if option_line {
            flush(&current, &block, &mut options);
            current = long_options(line.split('<').next().unwrap()).collect();
            block.clear();
        } else {
            block.push(' ');
            block.push_str(line.trim());
        }
    }
    flush(&current, &block, &mut options);
    options.remove("help");
    options.remove("version");
    options
}

/// docs/reference.md's table: the options of each row's first column, the variables of its second.
fn reference_options() -> Options {
    let mut options = Options::new();
    for row in read("docs/reference.md").lines().filter(|l| l.starts_with("| `-")) {
        // cells split at each `|` that is not written `\|`
        let cells: Vec<String> = row.replace("\\|", "\u{0}").split('|').map(|c| c.replace('\u{0}', "|")).collect();
        let envs: std::collections::BTreeSet<String> = variables(&cells[2]).collect();
        for name in long_options(&cells[1]) {
            options.insert(name, envs.clone());
        }
    }
    options
}

#[test]
fn the_reference_names_every_option_and_variable_that_help_does() {
    let help = help_options();
    let reference = reference_options();
    assert!(help.len() > 30, "only {} options read from --help: {help:?}", help.len());
    let names = |o: &Options| o.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&help), names(&reference), "--help and docs/reference.md list different options");
    for (name, envs) in &help {
        assert_eq!(envs, &reference[name], "--{name}: the variables of --help and of docs/reference.md differ");
    }
}

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

//! Input that is not a fleet file at all: empty, not TOML, duplicate keys, missing tables,
//! megabytes of garbage, bytes that are not UTF-8, and random bytes and mutations of the
//! examples. Never a panic; always a positioned error or success.

use pgfleet::config::{self, Diagnostic, Diagnostics, Severity};
use proptest::prelude::*;
use std::path::Path;

fn invalid(name: &str) -> (String, Vec<Diagnostic>) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid").join(format!("{name}.toml"));
    let bytes = std::fs::read(&path).unwrap();
    match config::parse(&path, &bytes) {
        Ok(_) => panic!("{name} should be invalid"),
        Err(diagnostics) => (String::from_utf8_lossy(&bytes).into_owned(), diagnostics.0),
    }
}

fn summary(diagnostics: &[Diagnostic]) -> Vec<(String, usize, usize, String)> {
    diagnostics.iter().map(|d| (d.path.clone(), d.line, d.column, d.message.clone())).collect()
}

#[test]
fn an_empty_file_misses_fleet_and_provider() {
    let (_, found) = invalid("empty");
    assert_eq!(
        summary(&found),
        [
            ("fleet".to_string(), 1, 1, "missing the [fleet] table".to_string()),
            ("provider".to_string(), 1, 1, "missing the [provider] table".to_string()),
        ]
    );
}

#[test]
fn a_file_without_fleet_says_so() {
    let (_, found) = invalid("missing-fleet");
    assert_eq!(summary(&found), [("fleet".to_string(), 1, 1, "missing the [fleet] table".to_string())]);
}

#[test]
fn not_toml_reports_every_syntax_error_with_its_position() {
    let (_, found) = invalid("not-toml");
    assert!(found.len() >= 2, "{found:#?}");
    assert_eq!((found[0].line, found[0].column), (1, 6));
    assert_eq!((found[1].line, found[1].column), (2, 7));
    assert!(found[1].message.contains("unclosed table"), "{}", found[1].message);
}

#[test]
fn duplicate_keys_point_at_the_second_one() {
    let (text, found) = invalid("duplicate-keys");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!((found[0].line, found[0].column), (9, 1));
    assert_eq!(found[0].message, "duplicate key `tier`");
    assert_eq!(text.lines().nth(8), Some("tier = \"Basic\""));
}

#[test]
fn non_utf8_points_at_the_bad_byte() {
    let (_, found) = invalid("not-utf8");
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].line, found[0].column), (2, 12));
    assert!(found[0].message.contains("not UTF-8") && found[0].message.contains("0xE9"));
}

#[test]
fn five_megabytes_of_garbage_give_a_bounded_list_of_positioned_errors() {
    let mut garbage = Vec::with_capacity(5 << 20);
    let mut seed: u32 = 0x9e37_79b9;
    while garbage.len() < 5 << 20 {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        // Printable ASCII and newlines: garbage that gets past UTF-8 decoding into the parser.
        let byte = (seed % 96) as u8 + 32;
        garbage.push(if byte == 127 { b'\n' } else { byte });
    }
    let diagnostics = config::parse(Path::new("garbage.toml"), &garbage).unwrap_err();
    assert!(!diagnostics.is_empty());
    assert!(diagnostics.len() <= 51, "capped, not one per line: {}", diagnostics.len());
    assert!(diagnostics.iter().all(|d| d.line >= 1 && d.column >= 1));
    let rendered = diagnostics.render(&String::from_utf8_lossy(&garbage), false);
    assert!(rendered.contains("--> garbage.toml:"), "{}", &rendered[..rendered.len().min(400)]);
}

/// The examples, to mutate.
fn examples() -> Vec<Vec<u8>> {
    ["quickstart", "single-basic", "primary-with-replicas", "mixed-fleet"]
        .iter()
        .map(|name| {
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(format!("{name}.toml")))
                .unwrap()
        })
        .collect()
}

/// The property: success, or at least one error, every one inside the file, and rendering works.
fn never_panics_and_always_positions(bytes: &[u8]) -> Result<(), TestCaseError> {
    match config::parse(Path::new("fuzz.toml"), bytes) {
        Ok((fleet, warnings)) => {
            prop_assert!(warnings.iter().all(|w| w.severity == Severity::Warning));
            let sold = |spec: &pgfleet::model::ServerSpec| match &spec.flexible {
                Some(_) => spec.flexible_sku().is_some(),
                None => spec.sku().is_some(),
            };
            prop_assert!(fleet.servers.values().all(|s| sold(&s.spec)), "valid fleets sell");
        }
        Err(diagnostics) => {
            prop_assert!(diagnostics.has_errors());
            let text = String::from_utf8_lossy(bytes);
            let lines = text.split('\n').count();
            for d in diagnostics.iter() {
                prop_assert!(d.line >= 1 && d.line <= lines, "{d}");
                prop_assert!(d.column >= 1, "{d}");
                prop_assert!((d.end_line, d.end_column) >= (d.line, d.column), "{d}");
            }
            let rendered = Diagnostics(diagnostics.0.clone()).render(&text, false);
            prop_assert!(rendered.contains("fuzz.toml:"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        never_panics_and_always_positions(&bytes)?;
    }

    #[test]
    fn mutated_examples_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..8),
    ) {
        let mut bytes = examples().swap_remove(which);
        for (index, operation, byte) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = index.index(bytes.len());
            match operation {
                0 => bytes[at] = byte,
                1 => { bytes.remove(at); }
                2 => bytes.insert(at, byte),
                _ => {
                    let line_end = bytes[at..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |p| at + p);
                    bytes.drain(at..line_end);
                }
            }
        }
        never_panics_and_always_positions(&bytes)?;
    }
}

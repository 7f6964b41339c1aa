//! The examples are what users copy: they reach the library through the facade alone
//! (`latent_seq::autodiff::...`, `latent_seq::ChaCha8Rng`), so a program that depends
//! on `latent-seq` and nothing else can do what they do.

use std::path::Path;

/// The workspace's crates and the random-number crates the facade re-exports.
const BEHIND_THE_FACADE: [&str; 10] = [
    "autodiff",
    "dists",
    "odesolve",
    "flows",
    "seqmodels",
    "trainers",
    "rand",
    "rand_chacha",
    "rand_distr",
    "ndarray",
];

#[test]
fn examples_name_the_library_only_through_the_facade() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")) {
            for krate in BEHIND_THE_FACADE {
                let direct = format!("{krate}::");
                let bad = line.match_indices(&direct).any(|(at, _)| {
                    let before = line[..at].chars().next_back();
                    // `latent_seq::autodiff::` and `autodiff::ndarray::` are fine.
                    !before.is_some_and(|c| c == ':' || c == '_' || c.is_alphanumeric())
                });
                assert!(!bad, "{}:{}: `{direct}` without `latent_seq::`: {line}", path.display(), n + 1);
            }
        }
        checked += 1;
    }
    assert!(checked >= 13, "found {checked} examples");
}

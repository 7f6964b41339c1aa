//! The census's machinery: a case is a row of data (crate, call, bad input, expected
//! outcome) with a function that makes the call; this module runs each one on its own
//! thread, guarded against panics and hangs, judges its outcome against the row, and
//! renders the rows as the table of `docs/reliability.md`.

use std::fmt::{Debug, Display};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Once, mpsc};
use std::time::Duration;

/// A case that has not answered after this long is a hang. Every case is a small
/// call; the slowest (a few short ODE solves) take well under a second.
const TIME_LIMIT: Duration = Duration::from_secs(20);

/// What a case must come to.
#[derive(Debug)]
pub enum Expect {
    /// A typed error: its variant as a path (`Config`, or `Dist::NonFinite` for an
    /// error wrapping another), and words its message must contain to name the problem.
    Error { variant: &'static str, words: &'static [&'static str] },
    /// A legitimate edge input: these values, each finite and within `tol` of the
    /// truth (or equal to it, for a truth of -inf, an honest overflow of the math).
    Values { truth: &'static [f64], tol: f64 },
    /// A panic whose message holds these words: an invariant documented in the `# Panics`
    /// section of the item `documented_in` names (any other panic is a defect).
    Panic { words: &'static [&'static str], documented_in: &'static str },
}

/// What a case came to.
#[derive(Debug)]
pub enum Outcome {
    /// The call failed with this error.
    Error { variant: String, message: String },
    /// The call succeeded with these numbers.
    Values(Vec<f64>),
    /// The call succeeded with something not reduced to numbers (shown abridged).
    Ok(String),
    /// The call panicked with this message.
    Panic(String),
    /// The call did not return within [`TIME_LIMIT`].
    Hang,
}

/// One row of the census (its crate is the table it sits in).
pub struct Case {
    /// The call, as a user writes it.
    pub call: &'static str,
    /// The bad (or edge) input, in words.
    pub input: &'static str,
    /// The outcome the call must have.
    pub expect: Expect,
    /// Makes the call.
    pub run: fn() -> Outcome,
}

/// A case whose call must fail with an error of `variant` whose message holds `words`.
pub const fn fails(
    call: &'static str,
    input: &'static str,
    variant: &'static str,
    words: &'static [&'static str],
    run: fn() -> Outcome,
) -> Case {
    Case { call, input, expect: Expect::Error { variant, words }, run }
}

/// A case whose call must succeed with `truth`, each value finite and within `tol`.
pub const fn gives(
    call: &'static str,
    input: &'static str,
    truth: &'static [f64],
    tol: f64,
    run: fn() -> Outcome,
) -> Case {
    Case { call, input, expect: Expect::Values { truth, tol }, run }
}

/// A case whose call panics with `words`, as the `# Panics` section of `documented_in`
/// says it does.
pub const fn panics(
    call: &'static str,
    input: &'static str,
    words: &'static [&'static str],
    documented_in: &'static str,
    run: fn() -> Outcome,
) -> Case {
    Case { call, input, expect: Expect::Panic { words, documented_in }, run }
}

/// The outcome of a call expected to fail: its error, or an abridged success.
pub fn error<T: Debug, E: Debug + Display>(result: Result<T, E>) -> Outcome {
    match result {
        Err(e) => Outcome::Error { variant: variant_of(&e), message: e.to_string() },
        Ok(v) => Outcome::Ok(format!("{v:?}").chars().take(120).collect()),
    }
}

/// The outcome of a call expected to succeed with numbers.
pub fn values<E: Debug + Display>(result: Result<Vec<f64>, E>) -> Outcome {
    match result {
        Ok(v) => Outcome::Values(v),
        Err(e) => error::<(), E>(Err(e)),
    }
}

/// The outcome of a call expected to succeed with one number.
pub fn value<E: Debug + Display>(result: Result<f64, E>) -> Outcome {
    values(result.map(|v| vec![v]))
}

/// The variant path of an error from its `Debug` form: `Dist(NonFinite { .. })` is
/// `Dist::NonFinite`, `Config { .. }` is `Config`.
fn variant_of(e: &impl Debug) -> String {
    let text = format!("{e:?}");
    let mut path = Vec::new();
    let mut rest = text.as_str();
    loop {
        let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        path.push(&rest[..end]);
        match rest[end..].strip_prefix('(') {
            Some(inner) if inner.starts_with(|c: char| c.is_ascii_uppercase()) => rest = inner,
            _ => return path.join("::"),
        }
    }
}

/// Runs every case and returns a line for each that missed its expected outcome.
pub fn run_all(cases: &[(&str, &Case)]) -> Vec<String> {
    silence_case_panics();
    cases
        .iter()
        .enumerate()
        .filter_map(|(i, (krate, case))| {
            let outcome = run_guarded(i, case.run);
            judge(case, &outcome).err().map(|why| {
                format!(
                    "  #{} {krate} `{}` with {}: {why}\n      got {outcome:?}",
                    i + 1,
                    case.call,
                    case.input
                )
            })
        })
        .collect()
}

/// The case on a thread of its own, its panic caught and its time limited.
fn run_guarded(i: usize, run: fn() -> Outcome) -> Outcome {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().name(format!("census:{}", i + 1)).spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(a panic without a message)".into());
            Outcome::Panic(message)
        });
        // The receiver is gone only after a hang was reported; nothing to tell then.
        let _ = tx.send(outcome);
    });
    match spawned {
        Ok(_) => rx.recv_timeout(TIME_LIMIT).unwrap_or(Outcome::Hang),
        Err(e) => Outcome::Panic(format!("could not start the case's thread: {e}")),
    }
}

/// Panics inside cases are outcomes to judge, not noise on stderr; any other
/// thread's panic (a failing assert of this test) is still printed.
fn silence_case_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !std::thread::current().name().is_some_and(|n| n.starts_with("census:")) {
                default(info);
            }
        }));
    });
}

/// Whether `outcome` is what the row expects, and if not, why.
fn judge(case: &Case, outcome: &Outcome) -> Result<(), String> {
    let contains_all = |text: &str, words: &[&str]| {
        let missing: Vec<&str> = words.iter().copied().filter(|w| !text.contains(w)).collect();
        match missing.is_empty() {
            true => Ok(()),
            false => Err(format!("the message does not name {missing:?}")),
        }
    };
    match (&case.expect, outcome) {
        (Expect::Error { variant, words }, Outcome::Error { variant: got, message }) => {
            match got == variant {
                true => contains_all(message, words),
                false => Err(format!("expected variant {variant}, got {got}")),
            }
        }
        (Expect::Values { truth, tol }, Outcome::Values(got)) => {
            let close = got.len() == truth.len()
                && got
                    .iter()
                    .zip(truth.iter())
                    .all(|(g, t)| g == t || (g.is_finite() && (g - t).abs() <= *tol));
            match close {
                true => Ok(()),
                false => Err(format!("expected {truth:?} within {tol:e}")),
            }
        }
        (Expect::Panic { words, .. }, Outcome::Panic(message)) => contains_all(message, words),
        (expect, Outcome::Ok(v)) => {
            Err(format!("expected {}, but the call succeeded with {v}", describe(expect)))
        }
        (expect, _) => Err(format!("expected {}", describe(expect))),
    }
}

/// The expected outcome in words, for a failure line and the published table.
fn describe(expect: &Expect) -> String {
    let quoted = |words: &[&str]| words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ");
    match expect {
        Expect::Error { variant, words } => format!("error `{variant}` naming {}", quoted(words)),
        Expect::Values { truth, tol: 0.0 } => format!("exactly {truth:?}"),
        Expect::Values { truth, tol } => format!("{truth:?} within {tol:e}"),
        Expect::Panic { words, documented_in } => {
            format!("panic naming {} (documented in `{documented_in}`)", quoted(words))
        }
    }
}

/// The markdown table of every row (between the markers of `docs/reliability.md`).
pub fn doc_table(cases: &[(&str, &Case)]) -> String {
    let cell = |text: &str| text.replace('|', "\\|");
    let mut table = String::from("\n| # | crate | call | bad input | outcome |\n|---|---|---|---|---|\n");
    for (i, (krate, case)) in cases.iter().enumerate() {
        let outcome = describe(&case.expect);
        table += &format!(
            "| {} | {} | `{}` | {} | {} |\n",
            i + 1,
            krate,
            cell(case.call),
            cell(case.input),
            cell(&outcome)
        );
    }
    table
}

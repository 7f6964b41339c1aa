//! Checkpoints under SIGKILL: a child process trains with a checkpoint after every
//! step and is killed at many points of its saves. Every checkpoint it leaves loads,
//! the run resumed across all the kills is bit for bit the uninterrupted run, and the
//! temporary files of the killed writers are removed by the next save.
//!
//! The child is this test binary run again with the ignored test
//! `child_trains_with_a_checkpoint_every_step` selected, which trains until killed.
#![cfg(unix)]

mod common;

use autodiff::data::{RowBatch, Rows};
use autodiff::ndarray::Array2;
use autodiff::{Mlp, ParamStore};
use common::{TempDir, mlp_loss, mlp_problem};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};
use trainers::{Adam, Every, Optim, Trainer, checkpoint, loss_fn};

/// The environment variable that hands the child its checkpoint directory.
const CHILD_DIR: &str = "LATENT_SEQ_KILL_TEST_DIR";
/// How many times a child is started and killed.
const KILLS: usize = 16;
/// A parameter the loss never reads, 4 MB of it, so that writing a checkpoint takes
/// most of a step and the kills land inside saves.
const BALLAST: (usize, usize) = (512, 1024);

/// The model, its store (with the ballast) and its data, the same in every process.
fn problem() -> (Mlp, ParamStore, Rows) {
    let (net, mut store, data) = mlp_problem(64, 0);
    store.add("ballast", Array2::from_elem(BALLAST, 0.5)).expect("a fresh name");
    (net, store, data)
}

/// The training every process runs: shuffled batches, noise in the loss and Adam, so
/// that the data order, the generators and the optimizer state must all be resumed.
fn trainer<'a>(store: ParamStore) -> Trainer<'a> {
    let adam = Optim::new(Adam { lr: 0.01, ..Adam::default() }).expect("valid settings");
    Trainer::new(store, Box::new(adam), 11)
        .epochs(100_000)
        .batch_size(16)
        .max_steps(1_000_000)
        .progress_bar(false)
}

#[test]
#[ignore = "the child process of checkpoints_survive_sigkill_at_any_point_of_a_save"]
fn child_trains_with_a_checkpoint_every_step() {
    // Run directly (`--include-ignored`), without a directory to train in: nothing to do.
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        eprintln!("run by checkpoints_survive_sigkill_at_any_point_of_a_save as a child process only");
        return;
    };
    let (net, store, data) = problem();
    let loss = loss_fn::<RowBatch, _>(|s, b, ctx| mlp_loss(&net, s, b, ctx));
    let mut t = trainer(store)
        .checkpoint_dir(PathBuf::from(dir))
        .checkpoint_every(Every::Steps(1))
        .keep_checkpoints(3);
    t.resume_latest().expect("the latest readable checkpoint");
    t.fit(&data, loss).expect("training until killed");
}

/// The temporary files that writers left in `dir`.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).expect("the checkpoint directory");
    entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect()
}

/// The step of the latest checkpoint in `dir` (0 if none).
fn latest_step(dir: &Path) -> u64 {
    checkpoint::list(dir).expect("the checkpoint directory").last().map_or(0, |(step, _)| *step)
}

/// Starts a child, waits until it has saved a step of its own, and kills it: at a
/// random moment of the steps that follow (`anywhere`), or as soon as it has started
/// writing a file plus a random delay of up to half a millisecond (a write of the
/// 4 MB file, its flush and its rename take about that long here).
fn start_and_kill(dir: &Path, anywhere: bool, rng: &mut ChaCha8Rng) {
    let before = latest_step(dir);
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--ignored", "--exact", "child_trains_with_a_checkpoint_every_step", "--test-threads", "1"])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child process");
    let started = Instant::now();
    let mut alive = || {
        assert!(child.try_wait().expect("the child's status").is_none(), "the child stopped by itself");
        assert!(started.elapsed() < Duration::from_secs(60), "no checkpoint within a minute");
    };
    while latest_step(dir) <= before {
        alive();
        std::thread::sleep(Duration::from_millis(1));
    }
    if anywhere {
        std::thread::sleep(Duration::from_micros(rng.random_range(0..30_000)));
    } else {
        let stale = temporaries(dir);
        while temporaries(dir).iter().all(|t| stale.contains(t)) {
            alive();
        }
        std::thread::sleep(Duration::from_micros(rng.random_range(0..500)));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("the killed child");
}

#[test]
fn checkpoints_survive_sigkill_at_any_point_of_a_save() {
    let dir = TempDir::new("sigkill");
    let (net, store, data) = problem();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (mut killed_mid_save, mut aged) = (0, Vec::new());
    for kill in 0..KILLS {
        start_and_kill(dir.path(), kill % 2 == 0, &mut rng);
        let left = temporaries(dir.path());
        killed_mid_save += usize::from(left.iter().any(|t| !aged.contains(t)));
        for (step, path) in checkpoint::list(dir.path()).expect("the checkpoint directory") {
            let loaded = checkpoint::load(&path, &mut store.clone());
            assert!(loaded.is_ok(), "kill {kill}: the checkpoint of step {step} does not load: {loaded:?}");
        }
        // Age the dead writers' temporaries past the staleness limit (a minute), as if
        // the run were restarted later, so that the next save removes them.
        let long_ago = SystemTime::now() - Duration::from_secs(120);
        for path in left {
            let file = std::fs::File::options().write(true).open(&path).expect("a temporary file");
            file.set_modified(long_ago).expect("its modification time");
            aged.push(path);
        }
    }
    eprintln!("{KILLS} kills, {killed_mid_save} of them inside a save (a temporary file left)");
    assert!(killed_mid_save > 0, "no kill landed inside a save: the test does not test what it says");

    // The run resumed across every kill continues as the uninterrupted run, bit for
    // bit, a few steps on (the saved step may end an epoch, whose bookkeeping the
    // uninterrupted run does before it stops and the resumed one after it starts).
    let loss = loss_fn::<RowBatch, _>(|s, b, ctx| mlp_loss(&net, s, b, ctx));
    let mut resumed = trainer(store.clone()).checkpoint_dir(dir.path()).checkpoint_every(Every::Steps(1));
    resumed.resume_latest().expect("a readable checkpoint").expect("checkpoints were written");
    let step = resumed.state().step + 3;
    let mut resumed = resumed.max_steps(step);
    resumed.fit(&data, loss).expect("the resumed run");
    let mut straight = trainer(store).max_steps(step);
    straight.fit(&data, loss).expect("the uninterrupted run");
    assert_eq!(straight.store().to_named(), resumed.store().to_named(), "parameters at step {step}");
    assert_eq!(straight.optimizer().state(), resumed.optimizer().state(), "optimizer state at step {step}");
    let (a, b) = (straight.state(), resumed.state());
    assert_eq!(
        (a.epoch, a.batch_in_epoch, &a.data_rng, &a.noise_rng),
        (b.epoch, b.batch_in_epoch, &b.data_rng, &b.noise_rng)
    );
    // Its saves removed the stale temporaries of the killed writers.
    assert_eq!(temporaries(dir.path()), Vec::<PathBuf>::new());
    assert_eq!(latest_step(dir.path()), step);
}

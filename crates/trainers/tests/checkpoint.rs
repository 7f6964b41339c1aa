//! Checkpoints: exact resumption, the file format, the NaN guard's promise not to
//! write over good checkpoints.

mod common;

use autodiff::data::RowBatch;
use autodiff::ndarray::Array2;
use autodiff::{Loss, ParamStore, Session, Tensor};
use common::{TempDir, mlp_loss, mlp_problem};
use trainers::{
    Adam, AdamW, Adamax, Clip, Control, EarlyStopping, Error, Every, KlAnneal, Mode, Optim, Optimizer,
    RmsProp, Schedule, Sgd, Trainer, checkpoint, loss_fn, safetensors,
};

fn optimizers() -> Vec<Box<dyn Optimizer>> {
    vec![
        Box::new(Optim::new(Adam { lr: 0.01, ..Adam::default() }).unwrap()),
        Box::new(Optim::new(AdamW::default()).unwrap()),
        Box::new(Optim::new(Adamax::default()).unwrap()),
        Box::new(Optim::new(Sgd { lr: 0.05, momentum: 0.9, nesterov: true, ..Sgd::default() }).unwrap()),
        Box::new(Optim::new(RmsProp { momentum: 0.5, centered: true, ..RmsProp::default() }).unwrap()),
    ]
}

/// A trainer with every stateful feature on: shuffling, a schedule, clipping, KL
/// annealing, noise in the loss, 2 data-parallel shards.
fn trainer<'a>(store: ParamStore, opt: Box<dyn Optimizer>, seed: u64, max_steps: u64) -> Trainer<'a> {
    Trainer::new(store, opt, seed)
        .epochs(10)
        .batch_size(16)
        .shards(2)
        .schedule(Schedule::cosine(0.01, 1e-4, 30).with_warmup(5, 0.1))
        .clip(Clip::Norm(1.0))
        .kl_anneal(KlAnneal::Linear { start: 0.0, end: 1.0, steps: 20 })
        .max_steps(max_steps)
        .progress_bar(false)
}

/// 2N steps in one go versus N steps, a checkpoint, fresh objects (a differently
/// initialised store, another seed) loaded from it, and N more: the parameters and
/// optimizer states are identical bit for bit. N = 10 stops mid-epoch (7 batches of
/// 16 per epoch of 100 examples), so the batch order must be resumed too.
#[test]
fn resuming_continues_bit_for_bit() {
    for (k, (opt_a, (opt_b, opt_c))) in
        optimizers().into_iter().zip(optimizers().into_iter().zip(optimizers())).enumerate()
    {
        let (net, store, data) = mlp_problem(100, 0);
        let loss = loss_fn::<RowBatch, _>(|s, b, ctx| mlp_loss(&net, s, b, ctx));
        let mut a = trainer(store.clone(), opt_a, 7, 20);
        a.fit(&data, loss).unwrap();

        let dir = TempDir::new("resume");
        let mut b = trainer(store, opt_b, 7, 10).checkpoint_dir(dir.path());
        let summary = b.fit(&data, loss).unwrap();
        let path = summary.checkpoint.expect("a final checkpoint");
        assert_eq!(path, checkpoint::path_for(dir.path(), 10));

        // The model's own store (its ids belong to it), holding another initialisation.
        let mut other_init = a.store().clone();
        other_init.load_named(&mlp_problem(100, 99).1.to_named()).unwrap();
        assert_ne!(other_init, *a.store());
        let mut c = trainer(other_init, opt_c, 12345, 20);
        c.resume(&path).unwrap();
        assert_eq!(c.state().step, 10);
        c.fit(&data, loss).unwrap();

        assert_eq!(a.store().to_named(), c.store().to_named(), "optimizer {k}: parameters differ");
        assert_eq!(a.optimizer().state(), c.optimizer().state(), "optimizer {k}: state differs");
        let (sa, sc) = (a.state(), c.state());
        assert_eq!((sa.epoch, sa.step, sa.batch_in_epoch), (sc.epoch, sc.step, sc.batch_in_epoch));
        assert_eq!((&sa.data_rng, &sa.noise_rng), (&sc.data_rng, &sc.noise_rng));
    }
}

#[test]
fn checkpoint_file_is_documented_safetensors() {
    let (net, store, data) = mlp_problem(40, 1);
    let dir = TempDir::new("format");
    let adam = Optim::new(Adam::default()).unwrap();
    let mut t = Trainer::new(store, adam, 0)
        .epochs(3)
        .batch_size(20)
        .progress_bar(false)
        .checkpoint_dir(dir.path())
        .checkpoint_every(Every::Steps(2))
        .keep_checkpoints(2);
    t.fit(&data, |s, b, ctx| mlp_loss(&net, s, b, ctx)).unwrap();
    // Steps 2, 4, 6 were saved; only the two latest are kept.
    let steps: Vec<u64> = checkpoint::list(dir.path()).unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, [4, 6]);
    let latest = checkpoint::latest(dir.path()).unwrap().unwrap();
    let (tensors, meta) = safetensors::read(&latest).unwrap();
    assert_eq!(
        tensors["mlp.0.weight"],
        t.store().get(t.store().id("mlp.0.weight").unwrap()).unwrap().clone().into_dyn()
    );
    assert_eq!(tensors["optim/exp_avg/mlp.1.bias"].shape(), [1, 2]);
    assert_eq!(tensors.len(), 4 * 3, "4 parameters, each with exp_avg and exp_avg_sq");
    let doc: serde_json::Value = serde_json::from_str(&meta["latent_seq"]).unwrap();
    assert_eq!(doc["train"]["step"], 6);
    assert_eq!(doc["optimizer"]["kind"], "adam");
    assert_eq!(doc["optimizer"]["steps"]["mlp.0.weight"], 6);
    assert!(
        !std::fs::read_dir(dir.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp"))
    );

    // A store that does not match is refused, and left untouched.
    let mut wrong = ParamStore::new();
    wrong.add("w", Array2::zeros((1, 1))).unwrap();
    let before = wrong.clone();
    assert!(checkpoint::load(&latest, &mut wrong).is_err());
    assert_eq!(wrong, before);
}

/// A loss that is fine for 5 steps, then gets an infinite gradient through
/// `sqrt` at 0 of a parameter that only then enters it.
#[test]
fn nan_guard_names_step_and_parameter_and_keeps_checkpoints() {
    let (net, mut store, data) = mlp_problem(64, 2);
    let gate = store.add("gate", Array2::zeros((1, 1))).unwrap();
    let dir = TempDir::new("nan");
    let adam = Optim::new(Adam::default()).unwrap();
    let mut t = Trainer::new(store, adam, 0)
        .epochs(5)
        .batch_size(16)
        .progress_bar(false)
        .checkpoint_dir(dir.path())
        .checkpoint_every(Every::Steps(2))
        .metrics_log(dir.path().join("metrics.csv"));
    let err = t
        .fit(&data, |s, b, ctx| {
            let mse = mlp_loss(&net, s, b, ctx)?;
            if ctx.step < 5 {
                Ok(mse)
            } else {
                Ok(Loss::new(mse.sum.add(&s.param(gate)?.sqrt())?, mse.weight)?)
            }
        })
        .unwrap_err();
    assert!(matches!(err, Error::NonFinite { step: 5, .. }));
    assert_eq!(
        err.to_string(),
        "step 5: non-finite gradient of parameter `gate` at (0, 0) = inf; \
         training stopped before the update (no checkpoint written)"
    );
    // Nothing was updated by the bad step, and the checkpoints are the good ones.
    assert_eq!(t.state().step, 5);
    let steps: Vec<u64> = checkpoint::list(dir.path()).unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, [2, 4]);
    // The log was closed on the error: header, 4 steps, the epoch row, the 5th step.
    let log = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    let kinds: Vec<&str> = log.lines().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(kinds, ["kind", "step", "step", "step", "step", "epoch", "step"]);

    // A loss that is NaN itself is named as such.
    let err = t.fit(&data, |s, b, ctx| Ok(mlp_loss(&net, s, b, ctx)?.scale(f64::NAN))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "step 5: non-finite loss sum NaN, weight 32 (shard 0); training stopped before the update (no checkpoint written)"
    );
}

/// `OnNan::RollBack`: a step that goes non-finite once (the 9th, the first of epoch
/// 3; the checkpoint of step 5, in epoch 2, the latest of this run) rolls back to that
/// checkpoint with half the learning rate, across the epoch's end, and trains to the
/// end with every epoch and step reported once; a checkpoint of another run in the
/// directory is never returned to; a loss that never recovers stops after the
/// retries with the guard's error; a batch with nothing observed is not rolled back;
/// the policy's needs are checked before training.
#[test]
fn on_nan_rolls_back_to_the_last_checkpoint_with_a_lower_rate() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use trainers::OnNan;
    let (net, store, data) = mlp_problem(64, 2);
    let dir = TempDir::new("rollback");
    let policy = OnNan::RollBack { lr_factor: 0.5, retries: 2 };
    let trainer = |policy| {
        Trainer::new(store.clone(), Optim::new(Adam::default()).unwrap(), 0)
            .epochs(3)
            .early_stopping(EarlyStopping::new(10, 0.0, Mode::Min).unwrap(), "train")
            .on_epoch(|report| {
                report.metrics.insert("train".into(), report.train_loss);
                Ok(Control::Continue)
            })
            .batch_size(16)
            .progress_bar(false)
            .schedule(Schedule::Constant { lr: 0.01 })
            .checkpoint_dir(dir.path())
            .checkpoint_every(Every::Steps(5))
            .on_nan(policy)
    };
    // Another run's checkpoint, at a later step than any of this one.
    std::fs::create_dir_all(dir.path()).unwrap();
    trainer(OnNan::Stop).save_checkpoint(&checkpoint::path_for(dir.path(), 1000)).unwrap();
    let failed = AtomicBool::new(false);
    let mut t = trainer(policy);
    let summary = t
        .fit(&data, |s, b, ctx| {
            let mse = mlp_loss(&net, s, b, ctx)?;
            match ctx.step == 8 && !failed.swap(true, Ordering::SeqCst) {
                true => Ok(mse.scale(f64::NAN)),
                false => Ok(mse),
            }
        })
        .unwrap();
    assert_eq!(summary.rollbacks.len(), 1);
    let back = &summary.rollbacks[0];
    assert_eq!((back.step, back.to_step), (8, 5), "{back:?}");
    assert_eq!(summary.epoch_losses.len(), 3);
    let steps: Vec<u64> = summary.step_losses.iter().map(|s| s.0).collect();
    assert_eq!(steps, (1..=12).collect::<Vec<_>>());
    assert!(summary.best.is_some_and(|(_, epoch)| epoch <= 3), "{:?}", summary.best);
    assert_eq!(back.what, "loss sum NaN, weight 32 (shard 0)");
    assert_eq!((t.state().step, t.state().epoch, t.state().lr_scale), (12, 3, 0.5));
    assert_eq!(t.optimizer().lr(), 0.005);

    // Never finite from step 3 on: two roll-backs, then the error.
    std::fs::remove_dir_all(dir.path()).unwrap();
    let mut t = trainer(policy);
    let err = t
        .fit(&data, |s, b, ctx| {
            let mse = mlp_loss(&net, s, b, ctx)?;
            Ok(if ctx.step >= 3 { mse.scale(f64::NAN) } else { mse })
        })
        .unwrap_err();
    assert!(matches!(err, Error::NonFinite { step: 3, .. }), "{err}");
    assert!((t.state().lr_scale - 0.25).abs() < 1e-15, "{}", t.state().lr_scale);

    // A batch with nothing observed (weight 0) is not a numerical fault: no roll-back.
    std::fs::remove_dir_all(dir.path()).unwrap();
    let mut t = trainer(policy);
    let err = t
        .fit(&data, |s, b, ctx| {
            let mse = mlp_loss(&net, s, b, ctx)?;
            Ok(if ctx.step >= 3 { Loss::new(mse.sum.scale(0.0), 0.0)? } else { mse })
        })
        .unwrap_err();
    assert!(matches!(err, Error::NothingObserved { step: 3 }), "{err}");
    assert_eq!(t.state().lr_scale, 1.0, "not rolled back");

    let bad = [
        (trainer(OnNan::RollBack { lr_factor: 1.5, retries: 1 }), "lr_factor 1.5 is not in (0, 1)"),
        (trainer(OnNan::RollBack { lr_factor: 0.5, retries: 0 }), "retries 0 never rolls back"),
        (
            Trainer::new(store.clone(), Optim::new(Adam::default()).unwrap(), 0)
                .schedule(Schedule::Constant { lr: 0.01 })
                .on_nan(policy),
            "rolling back needs a checkpoint_dir",
        ),
        (
            Trainer::new(store.clone(), Optim::new(Adam::default()).unwrap(), 0)
                .checkpoint_dir(dir.path())
                .on_nan(policy),
            "set a schedule",
        ),
    ];
    for (mut t, needle) in bad {
        let err = t.fit(&data, |s, b, ctx| mlp_loss(&net, s, b, ctx)).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    }
}

/// A checkpoint of a trainer told its model is a model file: it loads with the
/// stored configuration, the optimizer tensors left out; wrong kinds, files without
/// an entry and parameters that do not fit are named.
#[test]
fn checkpoints_carry_the_model_and_load_as_model_files() {
    use autodiff::{Activation, Mlp};
    use rand::SeedableRng;
    use trainers::model_file::{self, ModelMeta};

    // The widths of `mlp_problem`'s network, as its configuration.
    let widths = vec![2usize, 16, 2];
    let (net, store, data) = mlp_problem(40, 0);
    let dir = TempDir::new("model");
    let mut t = trainer(store, Box::new(Optim::new(Adam::default()).unwrap()), 1, 4)
        .checkpoint_dir(dir.path())
        .model(ModelMeta::new("mlp", &widths).unwrap());
    let summary = t.fit(&data, |s, b: &RowBatch, ctx| mlp_loss(&net, s, b, ctx)).unwrap();
    let path = summary.checkpoint.unwrap();
    let build = |store: &mut ParamStore, w: Vec<usize>| {
        Ok(Mlp::new(store, "mlp", &w, Activation::Tanh, &mut rand_chacha::ChaCha8Rng::seed_from_u64(5))?)
    };
    let (loaded, loaded_store) = model_file::load(&path, "mlp", build).unwrap();
    assert_eq!(loaded.layers().len(), 2);
    assert_eq!(loaded_store.to_named(), t.store().to_named());

    // A model file proper, and what goes wrong.
    let file = dir.path().join("mlp.safetensors");
    model_file::save(&file, &ModelMeta::new("mlp", &widths).unwrap(), t.store()).unwrap();
    assert_eq!(model_file::read(&file).unwrap().1, t.store().to_named());
    let err = model_file::load(&file, "vae", build).unwrap_err().to_string();
    assert!(err.contains("holds a `mlp` model, not a `vae`"), "{err}");
    let wider = |store: &mut ParamStore, _: Vec<usize>| {
        Ok(Mlp::new(
            store,
            "mlp",
            &[2, 9, 2],
            Activation::Tanh,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(5),
        )?)
    };
    let err = model_file::load(&file, "mlp", wider).unwrap_err().to_string();
    assert!(err.contains("parameter `mlp.0.weight`: is (2, 9) here but (2, 16)"), "{err}");
    let plain = dir.path().join("plain.safetensors");
    let bare = trainer(t.store().clone(), Box::new(Optim::new(Adam::default()).unwrap()), 1, 1);
    bare.save_checkpoint(&plain).unwrap();
    let err = model_file::load(&plain, "mlp", build).unwrap_err().to_string();
    assert!(err.contains("no `latent_seq_model` entry"), "{err}");
}

/// A checkpoint cut short under its real name (a copy the user interrupted) is
/// skipped by `resume_latest` for the one before it, which resumes as usual; with
/// nothing readable left, the error names the file.
#[test]
fn resume_latest_skips_a_truncated_checkpoint() {
    let (net, store, data) = mlp_problem(100, 0);
    let loss = loss_fn::<RowBatch, _>(|s, b, ctx| mlp_loss(&net, s, b, ctx));
    let opt = || Box::new(Optim::new(Adam::default()).unwrap());
    let dir = TempDir::new("truncated");
    let mut a =
        trainer(store.clone(), opt(), 7, 10).checkpoint_dir(dir.path()).checkpoint_every(Every::Steps(5));
    a.fit(&data, loss).unwrap();
    let (earlier, latest) = (checkpoint::path_for(dir.path(), 5), checkpoint::path_for(dir.path(), 10));
    let bytes = std::fs::read(&latest).unwrap();
    std::fs::write(&latest, &bytes[..bytes.len() / 2]).unwrap();

    let mut b = trainer(store.clone(), opt(), 7, 10).checkpoint_dir(dir.path());
    assert_eq!(b.resume_latest().unwrap(), Some(earlier.clone()));
    assert_eq!(b.state().step, 5);

    std::fs::write(&earlier, b"not a checkpoint").unwrap();
    let mut c = trainer(store, opt(), 7, 10).checkpoint_dir(dir.path());
    match c.resume_latest() {
        Err(Error::Format { path, .. }) => assert_eq!(path, earlier),
        other => panic!("{other:?}"),
    }
}

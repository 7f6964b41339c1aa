//! Optimizers, schedules, annealing, clipping, early stopping, the training loop and
//! its files (checkpoints, model files, safetensors, npy).

use crate::harness::{Case, error, fails, gives, values};
use latent_seq::autodiff::data::Rows;
use latent_seq::autodiff::ndarray::{Array2, ArrayD, array};
use latent_seq::autodiff::{Loss, ParamGrads, ParamId, ParamStore, Session, Tensor};
use latent_seq::trainers::{
    Adam, Clip, EarlyStopping, KlAnneal, Mode, OnNan, Optim, Optimizer, RmsProp, Schedule, Sgd, Trainer,
    checkpoint, clip_grad_norm, clip_grad_value, model_file, npy, safetensors,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A fresh path in the temporary directory, unique to this process and `name`.
fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("latent-seq-census-{}-{name}", std::process::id()))
}

fn store_w() -> ParamStore {
    let mut store = ParamStore::new();
    let _ = store.add("w", array![[1.0]]);
    store
}

/// Gradients `g` for the first parameter of a store.
fn grads(store: &ParamStore, g: Array2<f64>) -> ParamGrads {
    let mut grads = ParamGrads::default();
    grads.set(w_of(store), g).expect("the first gradient");
    grads
}

/// The id of `w` in a store of [`store_w`].
fn w_of(store: &ParamStore) -> ParamId {
    store.id("w").expect("a store of store_w")
}

/// `y = 2 x` on four points.
fn line() -> Rows {
    Rows::new(vec![array![[0.0], [1.0], [2.0], [3.0]], array![[0.0], [2.0], [4.0], [6.0]]])
        .expect("valid rows")
}

/// Least squares of `y = w x` on [`line`] with SGD, configured by `setup`.
fn fit_line(setup: fn(Trainer<'_>) -> Trainer<'_>) -> latent_seq::trainers::Result<f64> {
    let sgd = Optim::new(Sgd { lr: 0.05, ..Sgd::default() })?;
    let trainer = Trainer::new(store_w(), sgd, 0).epochs(2).batch_size(2).progress_bar(false);
    let mut trainer = setup(trainer);
    let w = w_of(trainer.store());
    trainer.fit(&line(), |s, batch, _| {
        let pred = s.constant(batch.arrays[0].clone()).matmul(&s.param(w)?)?;
        Ok(Loss::mean(&pred.sub(&s.constant(batch.arrays[1].clone()))?.square()))
    })?;
    Ok(trainer.store().get(w).expect("the trainer's own store")[(0, 0)])
}

pub const CASES: &[Case] = &[
    fails(
        "Schedule::validate",
        "Schedule::Step { every: 0 }",
        "Config",
        &["Schedule::Step.every", "0"],
        || error(Schedule::Step { lr: 0.1, every: 0, gamma: 0.5 }.validate()),
    ),
    fails(
        "opt.set_lr(schedule.lr(t))",
        "an unvalidated Step { every: 0 } (no division by zero)",
        "Config",
        &["lr", "NaN"],
        || {
            let mut opt = Optim::new(Adam::default()).expect("valid settings");
            error(opt.set_lr(Schedule::Step { lr: 0.1, every: 0, gamma: 0.5 }.lr(3)))
        },
    ),
    fails(
        "Schedule::validate",
        "cosine with restarts and period 0",
        "Config",
        &["Schedule::Cosine.period"],
        || {
            error(
                Schedule::Cosine { lr: 0.1, min_lr: 0.0, period: 0, restarts: true, period_mult: 2 }
                    .validate(),
            )
        },
    ),
    fails(
        "opt.set_lr(schedule.lr(t))",
        "an unvalidated cosine with restarts and period 0 (used to hang)",
        "Config",
        &["lr", "NaN"],
        || {
            let mut opt = Optim::new(Adam::default()).expect("valid settings");
            error(opt.set_lr(
                Schedule::Cosine { lr: 0.1, min_lr: 0.0, period: 0, restarts: true, period_mult: 2 }.lr(10),
            ))
        },
    ),
    gives(
        "Schedule::lr(t)",
        "cosine with restarts at t = u64::MAX (cycle arithmetic): a rate in [0, 1]",
        &[0.5],
        0.5,
        || {
            let s = Schedule::Cosine { lr: 1.0, min_lr: 0.0, period: 3, restarts: true, period_mult: 2 };
            values(Ok::<_, String>(vec![s.lr(u64::MAX)]))
        },
    ),
    fails(
        "Schedule::validate",
        "cosine min_lr 0.5 above lr 0.1",
        "Config",
        &["Schedule::Cosine.min_lr", "0.5"],
        || error(Schedule::cosine(0.1, 0.5, 10).validate()),
    ),
    fails(
        "Schedule::validate",
        "warm-up start factor 2",
        "Config",
        &["Schedule::Warmup.start_factor", "2"],
        || error(Schedule::constant(0.1).with_warmup(10, 2.0).validate()),
    ),
    fails("Schedule::validate", "Constant { lr: NaN }", "Config", &["Schedule::Constant.lr", "NaN"], || {
        error(Schedule::constant(f64::NAN).validate())
    }),
    fails("KlAnneal::validate", "Linear { steps: 0 }", "Config", &["KlAnneal::Linear.steps"], || {
        error(KlAnneal::Linear { start: 0.0, end: 1.0, steps: 0 }.validate())
    }),
    fails(
        "KlAnneal::validate",
        "Cyclical { ratio: 0 }",
        "Config",
        &["KlAnneal::Cyclical.ratio", "(0, 1]"],
        || error(KlAnneal::Cyclical { period: 10, ratio: 0.0, max: 1.0, cycles: None }.validate()),
    ),
    gives(
        "KlAnneal::weight(t)",
        "Cyclical with cycles = u64::MAX (product overflows)",
        &[0.5],
        1e-12,
        || {
            // t = 5 of a period of 10 with ratio 1: half-way up the ramp.
            let a = KlAnneal::Cyclical { period: 10, ratio: 1.0, max: 1.0, cycles: Some(u64::MAX) };
            values(Ok::<_, String>(vec![a.weight(5)]))
        },
    ),
    fails("Optim::new(Adam)", "eps = 0", "Config", &["Adam.eps", "positive", "0"], || {
        error(Optim::new(Adam { eps: 0.0, ..Adam::default() }).map(|_| ()))
    }),
    fails("Optim::new(Adam)", "betas.1 = 1", "Config", &["Adam.betas.1", "got 1"], || {
        error(Optim::new(Adam { betas: (0.9, 1.0), ..Adam::default() }).map(|_| ()))
    }),
    fails("Optim::new(Adam)", "lr = -1", "Config", &["Adam.lr", ">= 0", "got -1"], || {
        error(Optim::new(Adam { lr: -1.0, ..Adam::default() }).map(|_| ()))
    }),
    fails(
        "Optim::new(Sgd)",
        "Nesterov without momentum",
        "Config",
        &["Sgd.nesterov", "momentum > 0"],
        || error(Optim::new(Sgd { nesterov: true, ..Sgd::default() }).map(|_| ())),
    ),
    fails("Optim::new(RmsProp)", "alpha = 1.5", "Config", &["alpha", "1.5"], || {
        error(Optim::new(RmsProp { alpha: 1.5, ..RmsProp::default() }).map(|_| ()))
    }),
    fails("Optimizer::set_lr(lr)", "NaN", "Config", &["lr", "NaN"], || {
        let mut opt = Optim::new(Adam::default()).expect("valid settings");
        error(opt.set_lr(f64::NAN))
    }),
    gives("Optimizer::set_lr(lr)", "a refused rate leaves the rate unchanged", &[1e-3], 0.0, || {
        let mut opt = Optim::new(Adam::default()).expect("valid settings");
        let _ = opt.set_lr(-1.0);
        values(Ok::<_, String>(vec![opt.lr()]))
    }),
    fails(
        "Optimizer::step(store, grads)",
        "a gradient of shape 2x2 for a 1x1 parameter",
        "State",
        &["`w`", "(2, 2)"],
        || {
            let mut opt = Optim::new(Adam::default()).expect("valid settings");
            {
                let mut store = store_w();
                let g = grads(&store, Array2::zeros((2, 2)));
                error(opt.step(&mut store, &g))
            }
        },
    ),
    gives(
        "Optimizer::step(store, grads)",
        "Adam's first step on a zero gradient (0 / 0 without eps)",
        &[1.0],
        0.0,
        || {
            let mut opt = Optim::new(Adam::default()).expect("valid settings");
            let mut store = store_w();
            let g = grads(&store, array![[0.0]]);
            values(
                opt.step(&mut store, &g).map(|()| vec![store.get(w_of(&store)).expect("its own id")[(0, 0)]]),
            )
        },
    ),
    fails("Optimizer::load_state(state)", "an SGD state into Adam", "State", &["sgd", "adam"], || {
        let sgd = Optim::new(Sgd::default()).expect("valid settings");
        let mut adam = Optim::new(Adam::default()).expect("valid settings");
        error(adam.load_state(sgd.state()))
    }),
    fails(
        "clip_grad_norm(grads, max)",
        "max_norm = 0",
        "Config",
        &["clip_grad_norm", "positive", "0"],
        || error(clip_grad_norm(&mut grads(&store_w(), array![[1.0]]), 0.0)),
    ),
    fails("clip_grad_value(grads, clip)", "clip = NaN", "Config", &["clip_grad_value", "NaN"], || {
        error(clip_grad_value(&mut grads(&store_w(), array![[1.0]]), f64::NAN))
    }),
    gives(
        "clip_grad_norm(grads, max)",
        "a NaN gradient: the other entries are left as they are",
        &[1.0],
        0.0,
        || {
            let store = store_w();
            let mut g = grads(&store, array![[f64::NAN, 1.0]]);
            values(clip_grad_norm(&mut g, 1.0).map(|_| vec![g.get(w_of(&store)).map_or(0.0, |g| g[(0, 1)])]))
        },
    ),
    fails("EarlyStopping::new", "patience 0", "Config", &["EarlyStopping.patience"], || {
        error(EarlyStopping::new(0, 0.0, Mode::Min).map(|_| ()))
    }),
    fails("EarlyStopping::new", "min_delta = -1", "Config", &["EarlyStopping.min_delta", "-1"], || {
        error(EarlyStopping::new(3, -1.0, Mode::Min).map(|_| ()))
    }),
    fails("Trainer::fit", "batch size 0", "Config", &["Trainer::batch_size", "positive"], || {
        error(fit_line(|t| t.batch_size(0)))
    }),
    fails("Trainer::fit", "schedule Step { every: 0 }", "Config", &["Schedule::Step.every"], || {
        error(fit_line(|t| t.schedule(Schedule::Step { lr: 0.1, every: 0, gamma: 0.5 })))
    }),
    fails(
        "Trainer::fit",
        "OnNan::RollBack without a checkpoint directory",
        "Config",
        &["Trainer::on_nan", "checkpoint_dir"],
        || {
            error(fit_line(|t| {
                t.schedule(Schedule::constant(0.05)).on_nan(OnNan::RollBack { lr_factor: 0.5, retries: 2 })
            }))
        },
    ),
    fails("Trainer::fit", "clip norm NaN", "Config", &["clip_grad_norm", "NaN"], || {
        error(fit_line(|t| t.clip(Clip::Norm(f64::NAN))))
    }),
    fails(
        "Trainer::fit",
        "a learning rate that diverges (NaN guard)",
        "NonFinite",
        &["step 1", "non-finite loss"],
        || error(fit_line(|t| t.schedule(Schedule::constant(1e200)))),
    ),
    gives(
        "Trainer::fit",
        "a batch size larger than the data set (one batch per epoch)",
        &[1.5775],
        1e-12,
        || {
            // Full-batch steps on 3.5 (w - 2)^2 with lr 0.05: w <- w - 0.35 (w - 2), from 1
            // to 1.35, then 1.5775.
            values(fit_line(|t| t.batch_size(100)).map(|w| vec![w]))
        },
    ),
    fails(
        "checkpoint::load(path, store)",
        "a checkpoint lacking the store's parameter `b`",
        "Format",
        &["parameter `b`", "absent"],
        || {
            let path = temp_path("lacks-b.safetensors");
            let opt = Optim::new(Sgd::default()).expect("valid settings");
            let train = Trainer::new(store_w(), opt.clone(), 0).state().clone();
            let saved = checkpoint::save(&path, &store_w(), &opt.state(), &train, None);
            let mut bigger = store_w();
            let _ = bigger.add("b", array![[0.0]]);
            let result = saved.and_then(|()| checkpoint::load(&path, &mut bigger)).map(|_| ());
            let _ = std::fs::remove_file(&path);
            error(result)
        },
    ),
    fails(
        "checkpoint::load(path, store)",
        "a file that does not exist",
        "Io",
        &["latent-seq-census", "missing"],
        || error(checkpoint::load(&temp_path("missing.safetensors"), &mut store_w()).map(|_| ())),
    ),
    fails(
        "safetensors::from_bytes",
        "a header declaring 2^64 - 1 bytes",
        "Format",
        &["huge.safetensors", "invalid header"],
        || {
            let mut bytes = u64::MAX.to_le_bytes().to_vec();
            bytes.extend_from_slice(b"{}");
            error(safetensors::from_bytes(&bytes, std::path::Path::new("huge.safetensors")).map(|_| ()))
        },
    ),
    fails("safetensors::matrix(t, name)", "a rank-3 tensor", "Format", &["`t`", "rank"], || {
        let t = ArrayD::<f64>::zeros(vec![2, 2, 2]);
        error(safetensors::matrix(t, "t", std::path::Path::new("m.safetensors")))
    }),
    fails("model_file::read(path)", "a checkpoint without a model entry", "Format", &["model"], || {
        let path = temp_path("no-model.safetensors");
        let opt = Optim::new(Sgd::default()).expect("valid settings");
        let train = Trainer::new(store_w(), opt.clone(), 0).state().clone();
        let saved = checkpoint::save(&path, &store_w(), &opt.state(), &train, None);
        let result = saved.and_then(|()| model_file::read(&path)).map(|_| ());
        let _ = std::fs::remove_file(&path);
        error(result)
    }),
    fails(
        "ModelMeta::config(kind)",
        "a `vae` file read as a `wavenet`",
        "Format",
        &["`vae` model", "not a `wavenet`"],
        || {
            let meta = model_file::ModelMeta::new("vae", &BTreeMap::from([("x", 1)])).expect("serializable");
            error(meta.config::<BTreeMap<String, u32>>("wavenet", std::path::Path::new("m.safetensors")))
        },
    ),
    fails("npy::read_npy(path)", "a file that does not exist", "Io", &["missing.npy"], || {
        error(npy::read_npy(&temp_path("missing.npy")))
    }),
    fails("npy::read_npz(path)", "a file that is not a zip", "Format", &["not-a-zip.npz"], || {
        let path = temp_path("not-a-zip.npz");
        let result = std::fs::write(&path, b"hello")
            .map_err(|e| latent_seq::trainers::Error::Io { path: path.clone(), source: e });
        let result = result.and_then(|()| npy::read_npz(&path)).map(|_| ());
        let _ = std::fs::remove_file(&path);
        error(result)
    }),
];

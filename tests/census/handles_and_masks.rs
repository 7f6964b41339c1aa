//! Two topics across crates: handles used with a tape or store that did not make them
//! (values, leaves and losses of another tape; parameter ids of another store), and
//! placeholders (NaN, infinities, huge numbers) in the unobserved entries of masked
//! data, which must never reach the arithmetic.

use crate::harness::{Case, error, fails, gives, value, values};
use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::ndarray::array;
use latent_seq::autodiff::{Mask, NoGrad, ParamGrads, ParamStore, Session, Tape, Tensor, Var};
use latent_seq::dists::{Bernoulli, DiagNormal, bayes_update};
use latent_seq::rand::SeedableRng;
use latent_seq::seqmodels::{IrregularSeries, SeqBatch, SequenceModel, Series, Vrnn, VrnnConfig};
use latent_seq::trainers::{Optim, Optimizer, Sgd};

/// A store holding `w = [[1]]` (and, for `bigger`, a second parameter `v` after it).
fn store(bigger: bool) -> ParamStore {
    let mut store = ParamStore::new();
    store.add("w", array![[1.0]]).expect("a fresh name");
    if bigger {
        store.add("v", array![[2.0, 3.0]]).expect("a fresh name");
    }
    store
}

/// `sum(x^2)` of a leaf holding `x` on `tape`: 3 nodes, whatever the tape.
fn squared<'t>(tape: &'t Tape, x: f64) -> (Var<'t>, Var<'t>) {
    let leaf = tape.leaf(array![[x]]);
    (leaf, leaf.square().sum())
}

pub const AUTODIFF: &[Case] = &[
    fails(
        "x.mul(&y)",
        "y a value of another tape",
        "ForeignHandle",
        &["the right operand", "another tape"],
        || {
            let (first, second) = (Tape::new(), Tape::new());
            error(first.leaf(array![[1.0]]).mul(&second.leaf(array![[2.0]])).map(|v| v.value()))
        },
    ),
    fails(
        "Var::concat_rows(parts)",
        "part 1 of another tape",
        "ForeignHandle",
        &["concat", "part 1"],
        || {
            let (first, second) = (Tape::new(), Tape::new());
            let (a, b) = (first.leaf(array![[1.0]]), second.leaf(array![[2.0]]));
            error(Var::concat_rows(&[&a, &b]).map(|v| v.value()))
        },
    ),
    fails(
        "tape.backward(loss)",
        "a loss of another tape of the same length",
        "ForeignHandle",
        &["Tape::backward", "the loss", "another tape"],
        || {
            let (first, second) = (Tape::new(), Tape::new());
            let _ = squared(&first, 1.0);
            error(first.backward(squared(&second, 2.0).1).map(|_| ()))
        },
    ),
    fails(
        "tape.grad(loss, wrt)",
        "wrt[0] a leaf of another tape",
        "ForeignHandle",
        &["Tape::grad", "`wrt[0]`"],
        || {
            let (first, second) = (Tape::new(), Tape::new());
            let (_, loss) = squared(&first, 1.0);
            let (leaf, _) = squared(&second, 2.0);
            error(first.grad(loss, &[leaf]).map(|g| g.len()))
        },
    ),
    fails(
        "gradients.wrt(leaf)",
        "a leaf of another tape at the same node",
        "ForeignHandle",
        &["Gradients::wrt", "leaf #0", "another tape than the loss"],
        || {
            let (first, second) = (Tape::new(), Tape::new());
            let (_, loss) = squared(&first, 1.0);
            let (other, _) = squared(&second, 2.0);
            error(loss.backward().and_then(|g| Ok(g.wrt(&other)?.cloned())))
        },
    ),
    fails(
        "store.get(id)",
        "the id of another store's parameter at the same position",
        "ForeignHandle",
        &["ParamStore::get", "parameter id #0", "another parameter store"],
        || {
            let other = store(false);
            error(store(false).get(other.id("w").expect("registered")).cloned())
        },
    ),
    fails(
        "store.get(id)",
        "the id of a bigger store's second parameter",
        "ForeignHandle",
        &["parameter id #1", "this one holds 1 parameters"],
        || {
            let bigger = store(true);
            error(store(false).get(bigger.id("v").expect("registered")).cloned())
        },
    ),
    fails(
        "session.param(id)",
        "the id of another store's parameter",
        "ForeignHandle",
        &["parameter id #0", "another parameter store"],
        || {
            let (mine, other) = (store(false), store(false));
            error(NoGrad::new(&mine).param(other.id("w").expect("registered")))
        },
    ),
    fails(
        "loss.backward()",
        "a loss over the parameters of two stores",
        "ForeignHandle",
        &["ParamGrads::accumulate", "another parameter store"],
        || {
            let (first, second) = (store(false), store(false));
            let tape = Tape::new();
            let a = tape.session(&first).param(first.id("w").expect("registered"));
            let b = tape.session(&second).param(second.id("w").expect("registered"));
            error(a.and_then(|a| a.mul(&b?)).and_then(|p| p.sum().backward()).map(|_| ()))
        },
    ),
    gives(
        "store.clone().get(id)",
        "the id of the original store (a clone is the same parameters)",
        &[1.0],
        0.0,
        || {
            let original = store(false);
            value(original.clone().get(original.id("w").expect("registered")).map(|w| w[(0, 0)]))
        },
    ),
    gives("x.mask(&keep)", "NaN, +inf and -inf in the dropped entries", &[2.0, 0.0, 0.0, -1.0], 0.0, || {
        let x = array![[2.0, f64::NAN], [f64::INFINITY, -1.0]];
        values(x.mask(&array![[1.0, 0.0], [0.0, 1.0]]).map(|m| m.iter().copied().collect()))
    }),
    gives(
        "leaf.mask(&keep).square().sum().backward()",
        "NaN in a dropped entry of the leaf (its gradient)",
        &[4.0, 0.0],
        0.0,
        || {
            let tape = Tape::new();
            let leaf = tape.leaf(array![[2.0, f64::NAN]]);
            let loss = leaf.mask(&array![[1.0, 0.0]]).map(|m| m.square().sum());
            values(
                loss.and_then(|l| l.backward())
                    .and_then(|g| Ok(g.wrt(&leaf)?.map_or(vec![], |d| d.iter().copied().collect()))),
            )
        },
    ),
    fails("x.mask(&keep)", "a mask entry of 0.5", "Invalid", &["mask", "(0, 1)", "not 0 or 1"], || {
        error(array![[1.0, 2.0]].mask(&array![[1.0, 0.5]]))
    }),
    fails("Mask::new(keep)", "a NaN mask entry", "Invalid", &["(0, 0)", "NaN"], || {
        error(Mask::new(&array![[f64::NAN]]))
    }),
];

pub const DISTS: &[Case] = &[
    gives(
        "DiagNormal::log_prob_masked_sum(x, mask)",
        "NaN in the unobserved entry of x (standard normal, x = 0 observed)",
        &[-0.918_938_533_204_672_7],
        1e-15,
        || {
            let n = DiagNormal::from_mean_log_var(array![[0.0, 0.0]], array![[0.0, 0.0]]).expect("valid");
            let lp = n.log_prob_masked_sum(&array![[0.0, f64::NAN]], &array![[1.0, 0.0]]);
            value(lp.and_then(|l| Ok(l.item()?)))
        },
    ),
    gives(
        "DiagNormal::log_prob_masked_sum(x, mask), its gradient",
        "+inf in the unobserved entry of x: d/d(mean) at x = 1, mean = 0",
        &[1.0, 0.0],
        1e-15,
        || {
            let tape = Tape::new();
            let mean = tape.leaf(array![[0.0, 0.0]]);
            let n = DiagNormal::from_mean_log_var(mean, tape.constant(array![[0.0, 0.0]]));
            let x = tape.constant(array![[1.0, f64::INFINITY]]);
            let lp = n.and_then(|n| n.log_prob_masked_sum(&x, &array![[1.0, 0.0]]));
            let grad = lp.map_err(|e| e.to_string()).and_then(|l| l.backward().map_err(|e| e.to_string()));
            values(grad.and_then(|g| {
                Ok(g.wrt(&mean).map_err(|e| e.to_string())?.map_or(vec![], |d| d.iter().copied().collect()))
            }))
        },
    ),
    gives(
        "Bernoulli::log_prob_masked(x, mask)",
        "NaN in the unobserved entry of x (logit 0, x = 1 observed)",
        &[-std::f64::consts::LN_2, 0.0],
        1e-15,
        || {
            let b = Bernoulli::from_logits(array![[0.0, 0.0]]).expect("valid");
            values(
                b.log_prob_masked(&array![[1.0, f64::NAN]], &array![[1.0, 0.0]])
                    .map(|l| l.iter().copied().collect()),
            )
        },
    ),
    gives(
        "bayes_update(prior, obs, mask)",
        "an unobserved observation of mean 1e300 and variance e^800: the prior is kept",
        &[0.5, -0.25],
        0.0,
        || {
            let prior = DiagNormal::from_mean_log_var(array![[0.5]], array![[-0.25]]).expect("valid");
            let obs = DiagNormal::from_mean_log_var(array![[1e300]], array![[800.0]]).expect("valid");
            let post = bayes_update(&prior, &obs, &array![[0.0]]);
            values(post.map(|p| vec![p.mean()[(0, 0)], p.log_var()[(0, 0)]]))
        },
    ),
];

pub const SEQMODELS: &[Case] = &[
    gives(
        "SeqBatch::new(steps, masks)",
        "NaN, +inf and -inf in unobserved entries: stored as 0",
        &[1.0, 0.0, 0.0, 0.0],
        0.0,
        || {
            let step = array![[1.0, f64::NAN], [f64::INFINITY, f64::NEG_INFINITY]];
            let batch = SeqBatch::new(vec![step], vec![array![[1.0, 0.0], [0.0, 0.0]]]);
            values(batch.map(|b| b.steps()[0].iter().copied().collect()))
        },
    ),
    gives(
        "IrregularSeries::new(series)",
        "NaN in an unobserved value: stored as 0",
        &[0.5, 0.0],
        0.0,
        || {
            let series =
                Series { times: vec![0.0], values: array![[0.5, f64::NAN]], masks: array![[1.0, 0.0]] };
            values(IrregularSeries::new(vec![series]).map(|s| s.series()[0].values.iter().copied().collect()))
        },
    ),
    gives(
        "SequenceModel::elbo (Vrnn)",
        "NaN, +inf or -1e300 in the padding of a shorter sequence, through SeqBatch::new: |bound - clean bound|",
        &[0.0, 0.0, 0.0],
        0.0,
        || {
            let mut store = ParamStore::new();
            let rng = &mut ChaCha8Rng::seed_from_u64(0);
            let model = Vrnn::new(&mut store, "vrnn", VrnnConfig::new(2, 4, 2), rng).expect("a valid model");
            let masks = vec![array![[1.0], [1.0]], array![[1.0], [0.0]]];
            let bound = |padding: f64| {
                let steps = vec![array![[0.1, 0.2], [0.3, 0.4]], array![[0.5, 0.6], [padding, -padding]]];
                let batch = SeqBatch::new(steps, masks.clone())?;
                let elbo = model.elbo(&NoGrad::new(&store), &batch, &mut ChaCha8Rng::seed_from_u64(1))?;
                Ok::<f64, latent_seq::seqmodels::Error>(elbo.elbo()?.iter().sum())
            };
            let gap =
                |padding: f64| Ok::<f64, latent_seq::seqmodels::Error>((bound(padding)? - bound(0.0)?).abs());
            values([f64::NAN, f64::INFINITY, -1e300].into_iter().map(gap).collect())
        },
    ),
];

pub const TRAINERS: &[Case] = &[fails(
    "Optimizer::step(store, grads)",
    "gradients of another store's parameter",
    "Autodiff",
    &["optimizer step", "parameter id #0", "another parameter store"],
    || {
        let (mut mine, other) = (store(false), store(false));
        let mut grads = ParamGrads::default();
        grads.set(other.id("w").expect("registered"), array![[1.0]]).expect("the first gradient");
        let mut sgd = Optim::new(Sgd::default()).expect("valid settings");
        error(sgd.step(&mut mine, &grads))
    },
)];

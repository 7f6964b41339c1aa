//! Normalizing flows: layer constructors, both directions, linear algebra, energies
//! and the plotting grid.

use crate::harness::{Case, error, fails, gives, value, values};
use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::ndarray::{Array2, array};
use latent_seq::autodiff::{Activation, NoGrad, ParamStore, Tape, Tensor};
use latent_seq::dists::DiagNormal;
use latent_seq::flows::cnf::{CnfConfig, ContinuousFlow};
use latent_seq::flows::linalg::{gram_schmidt, log_abs_det, lu};
use latent_seq::flows::made::{HiddenDegrees, Made, Order};
use latent_seq::flows::{
    Chain, Coupling, ElementwiseAffine, Energy, Flow, FlowDistribution, Grid, InvertibleLinear, Permutation,
    Planar, Radial, ScaleBound, Sylvester, SylvesterKind, models,
};
use latent_seq::rand::SeedableRng;

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(0)
}

fn grid() -> Grid {
    Grid::new(1.0, 4).expect("a valid grid")
}

/// A layer built by `make` in a fresh store, with parameter `param` then set to `value`.
fn with_param<F>(
    make: fn(&mut ParamStore) -> latent_seq::flows::Result<F>,
    param: &str,
    value: Array2<f64>,
) -> (ParamStore, F) {
    let mut store = ParamStore::new();
    let flow = make(&mut store).expect("a valid layer");
    let id = store.id(param).expect("the layer registers this parameter");
    store.get_mut(id).expect("the store's own id").assign(&value);
    (store, flow)
}

fn planar(store: &mut ParamStore) -> latent_seq::flows::Result<Planar> {
    Planar::new(store, "p", 2, &mut rng())
}

fn radial(store: &mut ParamStore) -> latent_seq::flows::Result<Radial> {
    Radial::new(store, "r", 2, &mut rng())
}

fn linear(store: &mut ParamStore) -> latent_seq::flows::Result<InvertibleLinear> {
    InvertibleLinear::new(store, "l", 2, &mut rng())
}

/// `max |q^T q - I|` of the columns of `q`.
fn orthonormality_error(q: &Array2<f64>) -> f64 {
    (q.t().dot(q) - Array2::<f64>::eye(q.ncols())).iter().fold(0.0, |m, v| m.max(v.abs()))
}

pub const CASES: &[Case] = &[
    fails("Grid::new(half_width, n)", "n = 0", "Config", &["Grid", "n >= 1"], || error(Grid::new(1.0, 0))),
    fails("Grid::new(half_width, n)", "half-width NaN", "Config", &["Grid", "NaN"], || {
        error(Grid::new(f64::NAN, 4))
    }),
    fails("Grid::image(values)", "values of 2 columns", "Dim", &["Grid::image", "2 columns"], || {
        error(grid().image(&Array2::zeros((16, 2))))
    }),
    fails(
        "Grid::image(values)",
        "15 values for 16 points",
        "Config",
        &["15 values", "16 grid points"],
        || error(grid().image(&Array2::zeros((15, 1)))),
    ),
    fails(
        "Grid::histogram(samples)",
        "samples of 3 columns",
        "Dim",
        &["Grid::histogram", "3 columns"],
        || error(grid().histogram(&Array2::zeros((5, 3)))),
    ),
    fails(
        "Grid::histogram(samples)",
        "a NaN sample",
        "Config",
        &["Grid::histogram", "NaN", "sample 1"],
        || error(grid().histogram(&array![[0.0, 0.0], [f64::NAN, 0.0]])),
    ),
    gives("Grid::integrate(values)", "the constant 1 over [-1, 1]^2", &[4.0], 1e-12, || {
        value(grid().integrate(&Array2::ones((16, 1))))
    }),
    fails("Permutation::new(perm)", "[0, 0] (a repeat)", "Config", &["permutation"], || {
        error(Permutation::new(vec![0, 0]))
    }),
    fails("Permutation::new(perm)", "an empty permutation", "Config", &["empty permutation"], || {
        error(Permutation::new(vec![]))
    }),
    fails(
        "Flow::forward(s, x)",
        "x of 3 columns for a permutation of 2",
        "Dim",
        &["permutation", "3 columns", "acts on 2"],
        || {
            let store = ParamStore::new();
            let p = Permutation::reverse(2).expect("a valid permutation");
            error(p.forward(&NoGrad::new(&store), &Array2::zeros((1, 3))))
        },
    ),
    fails("Chain::new(layers)", "no layers", "Config", &["chain", "at least one layer"], || {
        error(Chain::<Permutation>::new(vec![]))
    }),
    fails("Chain::new(layers)", "layers of 2 and 3 columns", "Config", &["layer 1", "3 columns"], || {
        let layers = vec![Permutation::reverse(2).expect("valid"), Permutation::reverse(3).expect("valid")];
        error(Chain::new(layers))
    }),
    fails(
        "Coupling::affine(mask)",
        "a mask passing every column",
        "Config",
        &["affine coupling", "mask"],
        || {
            error(Coupling::affine(
                &mut ParamStore::new(),
                "c",
                &[true, true],
                &[4],
                Activation::Relu,
                ScaleBound::Tanh { bound: 1.0 },
                &mut rng(),
            ))
        },
    ),
    fails(
        "Coupling::affine(bound)",
        "ScaleBound::Tanh with bound 0",
        "Config",
        &["affine coupling", "invalid scale bound"],
        || {
            error(Coupling::affine(
                &mut ParamStore::new(),
                "c",
                &[true, false],
                &[4],
                Activation::Relu,
                ScaleBound::Tanh { bound: 0.0 },
                &mut rng(),
            ))
        },
    ),
    fails(
        "models::real_nvp(dim = 1)",
        "one column (nothing to condition on)",
        "Config",
        &["affine coupling", "mask"],
        || error(models::real_nvp(&mut ParamStore::new(), "nvp", 1, 2, &[4], &mut rng())),
    ),
    fails(
        "Made::new(dim, hidden)",
        "a hidden layer of 2 units for 4 inputs",
        "Config",
        &["MADE", "hidden layer 0", "2 units"],
        || {
            error(Made::new(
                &mut ParamStore::new(),
                "m",
                4,
                &[2],
                1,
                &Order::Natural,
                HiddenDegrees::Natural,
                Activation::Tanh,
                &mut rng(),
            ))
        },
    ),
    fails("Made::new(order)", "Order::Given([0, 0, 1])", "Config", &["MADE"], || {
        error(Made::new(
            &mut ParamStore::new(),
            "m",
            3,
            &[4],
            1,
            &Order::Given(vec![0, 0, 1]),
            HiddenDegrees::Natural,
            Activation::Tanh,
            &mut rng(),
        ))
    }),
    fails("Made::new(dim)", "dim = 0", "Config", &["MADE", "dim >= 1"], || {
        error(Made::new(
            &mut ParamStore::new(),
            "m",
            0,
            &[4],
            1,
            &Order::Natural,
            HiddenDegrees::Natural,
            Activation::Tanh,
            &mut rng(),
        ))
    }),
    fails(
        "Planar::forward",
        "the data -> base direction (no closed form)",
        "NoClosedForm",
        &["planar", "Forward"],
        || {
            let mut store = ParamStore::new();
            let p = planar(&mut store).expect("a valid layer");
            error(p.forward(&NoGrad::new(&store), &Array2::zeros((1, 2))))
        },
    ),
    fails(
        "Planar::inverse",
        "w = 0 (the constraint divides by |w|^2)",
        "Config",
        &["planar", "w = 0"],
        || {
            let (store, p) = with_param(planar, "p.w", Array2::zeros((1, 2)));
            error(p.inverse(&NoGrad::new(&store), &array![[0.0, 0.0]]))
        },
    ),
    gives(
        "Radial::inverse, gradient wrt z",
        "z at the centre (r = 0); counts non-finite entries",
        &[0.0],
        0.0,
        || {
            // The gradient is finite at the centre: count the non-finite entries.
            let (store, r) = with_param(radial, "r.centre", Array2::zeros((1, 2)));
            let tape = Tape::new();
            let s = tape.session(&store);
            let z = tape.leaf(Array2::zeros((1, 2)));
            values(r.inverse(&s, &z).and_then(|(x, ld)| {
                let loss = x.sum().add(&ld.sum())?;
                let grads = tape.backward(loss)?;
                let gz = grads.wrt(&z)?.cloned().unwrap_or_default();
                Ok(vec![gz.iter().filter(|v| !v.is_finite()).count() as f64])
            }))
        },
    ),
    fails(
        "InvertibleLinear::inverse",
        "log-scale -800 (a diagonal of U underflows to 0)",
        "Singular",
        &["invertible linear"],
        || {
            let (store, l) = with_param(linear, "l.log_scale", array![[-800.0, 0.0]]);
            error(l.inverse(&NoGrad::new(&store), &array![[1.0, 1.0]]))
        },
    ),
    fails("lu(a)", "a singular matrix", "Singular", &["lu", "pivot 1"], || {
        error(lu(&array![[1.0, 2.0], [2.0, 4.0]]).map(|f| f.perm))
    }),
    fails("lu(a)", "a 2x3 matrix", "Config", &["lu", "not square"], || {
        error(lu(&Array2::zeros((2, 3))).map(|f| f.perm))
    }),
    fails("log_abs_det(a)", "the zero matrix", "Singular", &["log_abs_det", "pivot 0"], || {
        error(log_abs_det(&Array2::zeros((2, 2))))
    }),
    fails("gram_schmidt(a)", "3 columns of 2 rows", "Config", &["gram_schmidt", "2 x 3"], || {
        error(gram_schmidt(&Array2::<f64>::zeros((2, 3))))
    }),
    fails(
        "gram_schmidt(a)",
        "dependent columns [1, 1] and [2, 2]",
        "Singular",
        &["gram_schmidt", "pivot 1"],
        || error(gram_schmidt(&array![[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]]).map(|q| orthonormality_error(&q))),
    ),
    gives(
        "gram_schmidt(a)",
        "nearly dependent columns (angle 1e-9): still orthonormal",
        &[0.0],
        1e-12,
        || {
            values(
                gram_schmidt(&array![[1.0, 1.0], [0.0, 1e-9], [0.0, 0.0]])
                    .map(|q| vec![orthonormality_error(&q)]),
            )
        },
    ),
    fails("Energy::eval(z)", "z of 3 columns", "Shape", &["Energy::eval", "(1, 3)", "(1, 2)"], || {
        error(Energy::U1.eval(&Array2::<f64>::zeros((1, 3))))
    }),
    fails("Energy::eval(z)", "z of 1 column", "Shape", &["Energy::eval", "(1, 1)"], || {
        error(Energy::U2.eval(&Array2::<f64>::zeros((1, 1))))
    }),
    fails(
        "Sylvester::new(kind)",
        "Orthogonal with 3 columns on dim 2",
        "Config",
        &["sylvester", "columns <= dim = 2"],
        || {
            error(Sylvester::new(
                &mut ParamStore::new(),
                "s",
                2,
                SylvesterKind::Orthogonal { columns: 3 },
                &mut rng(),
            ))
        },
    ),
    fails(
        "Sylvester::new(kind)",
        "Householder with 0 reflections",
        "Config",
        &["sylvester", "reflection"],
        || {
            error(Sylvester::new(
                &mut ParamStore::new(),
                "s",
                2,
                SylvesterKind::Householder { reflections: 0 },
                &mut rng(),
            ))
        },
    ),
    fails("ElementwiseAffine::actnorm(dim)", "dim = 0", "Config", &["actnorm", "at least 1"], || {
        error(ElementwiseAffine::actnorm(&mut ParamStore::new(), "a", 0))
    }),
    fails(
        "Flow::data_init(store, x)",
        "actnorm initialised on a single row (zero variance)",
        "Config",
        &["actnorm"],
        || {
            let mut store = ParamStore::new();
            let a = ElementwiseAffine::actnorm(&mut store, "a", 2).expect("a valid layer");
            error(a.data_init(&mut store, &array![[1.0, 2.0]]))
        },
    ),
    fails(
        "FlowDistribution::new(flow, base)",
        "a base of 3 columns for a flow of 2",
        "Config",
        &["FlowDistribution", "1 x 2"],
        || {
            let base =
                DiagNormal::from_mean_log_var(Array2::zeros((1, 3)), Array2::zeros((1, 3))).expect("valid");
            error(FlowDistribution::new(Permutation::reverse(2).expect("valid"), base).map(|_| ()))
        },
    ),
    fails("FlowDistribution::log_prob(s, x)", "NaN in x", "Dists::NonFinite", &["`x`", "NaN"], || {
        let store = ParamStore::new();
        let d = FlowDistribution::standard(Permutation::reverse(2).expect("valid"));
        error(d.log_prob(&NoGrad::new(&store), &array![[0.0, f64::NAN]]))
    }),
    fails("ContinuousFlow::new(config)", "end time 0", "Config", &["continuous", "end time 0"], || {
        let config = CnfConfig { end_time: 0.0, hidden: vec![4], ..CnfConfig::default() };
        error(ContinuousFlow::new(&mut ParamStore::new(), "cnf", 2, config, &mut rng()).map(|_| ()))
    }),
    fails(
        "ContinuousFlow::forward(s, x)",
        "a step budget of 2 steps",
        "Solve",
        &["continuous", "more than 2 steps"],
        || {
            let mut config = CnfConfig { hidden: vec![4], ..CnfConfig::default() };
            config.eval_solver.max_steps = 2;
            let mut store = ParamStore::new();
            let cnf = ContinuousFlow::new(&mut store, "cnf", 2, config, &mut rng()).expect("a valid flow");
            error(cnf.forward(&NoGrad::new(&store), &array![[0.5, -1.0]]))
        },
    ),
];

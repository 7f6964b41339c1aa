//! ODE solves: options, output times, right-hand sides that misbehave, tableaus,
//! per-sample grids and the adjoint.

use crate::harness::{Case, error, fails, gives, values};
use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::ndarray::{Array2, array};
use latent_seq::autodiff::{Activation, Mlp, NoGrad, ParamStore};
use latent_seq::odesolve::Result as OdeResult;
use latent_seq::odesolve::{
    AdjointOptions, ButcherTableau, DenseOutput, ErrorNorm, FixedStep, FnOde, GridStrategy, Method,
    PerSampleSolution, PiController, Solution, SolveOptions, Stats, Tolerance, WithParams, adjoint_backward,
    odeint, odeint_per_sample, odeint_session,
};
use latent_seq::rand::SeedableRng;

/// `y' = -y`: `y(t) = y0 e^{-t}`.
fn decay(_t: f64, y: &Array2<f64>) -> OdeResult<Array2<f64>> {
    Ok(-y)
}

/// `y' = y^2` from `y(0) = 1`: `y = 1 / (1 - t)`, which blows up at `t = 1`.
fn blow_up(_t: f64, y: &Array2<f64>) -> OdeResult<Array2<f64>> {
    Ok(y * y)
}

/// `y(ts.last())` of the decay from 1 with these options.
fn decay_end(ts: &[f64], opts: SolveOptions) -> OdeResult<Vec<f64>> {
    let sol = odeint(&FnOde(decay), &array![[1.0]], ts, &opts)?;
    Ok(sol.ys.last().map(|y| y.iter().copied().collect()).unwrap_or_default())
}

fn with(f: impl FnOnce(&mut SolveOptions)) -> SolveOptions {
    let mut opts = SolveOptions::default();
    f(&mut opts);
    opts
}

/// A tableau with Euler's coefficients except where `edit` changes them.
fn euler_like(edit: impl FnOnce(&mut Vec<f64>, &mut Vec<f64>)) -> OdeResult<ButcherTableau> {
    let (mut b, mut c) = (vec![1.0], vec![0.0]);
    edit(&mut b, &mut c);
    ButcherTableau::new("euler-like", 1, vec![vec![]], b, c, None, DenseOutput::Hermite)
}

/// A tiny MLP field `R^2 -> R^2` and its store.
fn mlp_field() -> (ParamStore, Mlp) {
    let mut store = ParamStore::new();
    let mlp = Mlp::new(&mut store, "f", &[2, 4, 2], Activation::Tanh, &mut ChaCha8Rng::seed_from_u64(0))
        .expect("a valid MLP");
    (store, mlp)
}

fn e_inv() -> f64 {
    (-1.0f64).exp()
}

/// `y' = -y` from `y0` (one sample per entry) at t0 = 0, each sample on its `times`.
fn decay_per_sample(y0: &[f64], times: Vec<Vec<f64>>, grids: GridStrategy) -> OdeResult<PerSampleSolution> {
    let y0 = Array2::from_shape_fn((y0.len(), 1), |(i, _)| y0[i]);
    odeint_per_sample(&FnOde(decay), &y0, 0.0, &times, &SolveOptions::default(), grids)
}

pub const CASES: &[Case] = &[
    fails("odeint(f, y0, ts)", "no output times", "Times", &["no output times"], || {
        error(decay_end(&[], SolveOptions::default()))
    }),
    fails(
        "odeint(f, y0, ts)",
        "times [0, 1, 1] (not strictly increasing)",
        "Times",
        &["strictly increasing", "t[2] = 1"],
        || error(decay_end(&[0.0, 1.0, 1.0], SolveOptions::default())),
    ),
    fails(
        "odeint(f, y0, ts)",
        "times [0, 2, 1] (direction changes)",
        "Times",
        &["strictly increasing", "t[2] = 1"],
        || error(decay_end(&[0.0, 2.0, 1.0], SolveOptions::default())),
    ),
    fails("odeint(f, y0, ts)", "a NaN time", "Times", &["t[1] = NaN", "not finite"], || {
        error(decay_end(&[0.0, f64::NAN], SolveOptions::default()))
    }),
    gives("odeint(f, y0, ts)", "a single output time (nothing to integrate)", &[1.0], 0.0, || {
        values(decay_end(&[0.5], SolveOptions::default()))
    }),
    gives(
        "odeint(f, y0, ts)",
        "decreasing times [1, 0] (integrating backwards)",
        &[std::f64::consts::E],
        1e-6,
        || values(decay_end(&[1.0, 0.0], SolveOptions::default())),
    ),
    fails("odeint(f, y0, ts)", "NaN in y0", "NonFinite", &["state", "t = 0", "sample 1"], || {
        error(
            odeint(&FnOde(decay), &array![[1.0], [f64::NAN]], &[0.0, 1.0], &SolveOptions::default())
                .map(|s| s.ys.len()),
        )
    }),
    fails("odeint(f, y0, ts)", "a field that returns NaN", "NonFinite", &["derivative"], || {
        let f = FnOde(|_t: f64, y: &Array2<f64>| Ok(y.mapv(|_| f64::NAN)));
        error(odeint(&f, &array![[1.0]], &[0.0, 1.0], &SolveOptions::default()).map(|s| s.ys.len()))
    }),
    fails(
        "odeint(f, y0, ts)",
        "a field returning a 1x2 value for a 1x1 state",
        "Shape",
        &["(1, 1)", "(1, 2)"],
        || {
            let f = FnOde(|_t: f64, _y: &Array2<f64>| Ok(array![[1.0, 2.0]]));
            error(odeint(&f, &array![[1.0]], &[0.0, 1.0], &SolveOptions::default()).map(|s| s.ys.len()))
        },
    ),
    fails(
        "odeint(f, y0, ts)",
        "y' = y^2 past its blow-up at t = 1",
        "StepSizeUnderflow",
        &["step size underflow", "t = 1.0000000"],
        || {
            error(
                odeint(&FnOde(blow_up), &array![[1.0]], &[0.0, 2.0], &SolveOptions::default())
                    .map(|s| s.ys.len()),
            )
        },
    ),
    fails(
        "odeint(f, y0, ts)",
        "max_steps = 3 for a long solve",
        "MaxStepsExceeded",
        &["more than 3 steps"],
        || error(decay_end(&[0.0, 100.0], with(|o| o.max_steps = 3))),
    ),
    fails("SolveOptions.max_steps", "0", "Options", &["max_steps", "at least 1"], || {
        error(decay_end(&[0.0, 1.0], with(|o| o.max_steps = 0)))
    }),
    fails("SolveOptions.max_step", "0", "Options", &["max_step", "non-zero"], || {
        error(decay_end(&[0.0, 1.0], with(|o| o.max_step = Some(0.0))))
    }),
    fails(
        "SolveOptions.min_step",
        "larger than max_step",
        "Options",
        &["min_step", "exceeds max_step"],
        || {
            error(decay_end(
                &[0.0, 1.0],
                with(|o| {
                    o.min_step = 0.5;
                    o.max_step = Some(0.1);
                }),
            ))
        },
    ),
    fails(
        "SolveOptions.min_step",
        "0.5 where the solve needs smaller steps",
        "StepSizeUnderflow",
        &["step size underflow"],
        || {
            error(
                odeint(&FnOde(blow_up), &array![[1.0]], &[0.0, 0.999], &with(|o| o.min_step = 0.5))
                    .map(|s| s.ys.len()),
            )
        },
    ),
    fails("SolveOptions.first_step", "NaN", "Options", &["first_step", "NaN"], || {
        error(decay_end(&[0.0, 1.0], with(|o| o.first_step = Some(f64::NAN))))
    }),
    fails("SolveOptions::tol(rtol, atol)", "both 0", "Options", &["atol", "both 0"], || {
        error(decay_end(&[0.0, 1.0], SolveOptions::default().tol(0.0, 0.0)))
    }),
    fails("SolveOptions::tol(rtol, atol)", "rtol = -1e-6", "Options", &["rtol", "-0.000001"], || {
        error(decay_end(&[0.0, 1.0], SolveOptions::default().tol(-1e-6, 1e-9)))
    }),
    fails(
        "SolveOptions.atol",
        "per-component values for 3 columns on a 1-column state",
        "Options",
        &["atol", "3 per-component values"],
        || error(decay_end(&[0.0, 1.0], with(|o| o.atol = Tolerance::PerComponent(vec![1e-9; 3])))),
    ),
    fails("SolveOptions.atol", "per-component zero where rtol is 0", "Options", &["atol"], || {
        error(decay_end(
            &[0.0, 1.0],
            with(|o| {
                o.rtol = Tolerance::Scalar(0.0);
                o.atol = Tolerance::PerComponent(vec![0.0]);
            }),
        ))
    }),
    fails(
        "SolveOptions.norm",
        "a seminorm mask of 2 columns on a 1-column state",
        "Options",
        &["norm", "2 columns"],
        || error(decay_end(&[0.0, 1.0], with(|o| o.norm = ErrorNorm::Seminorm(vec![true, false])))),
    ),
    fails("SolveOptions::step_size(h)", "h = 0", "Options", &["fixed step size", "0"], || {
        error(decay_end(&[0.0, 1.0], SolveOptions::new(Method::Rk4).step_size(0.0)))
    }),
    gives(
        "SolveOptions::step_size(h)",
        "h larger than the interval (one step of RK4)",
        &[0.375],
        1e-12,
        || {
            // One RK4 step of y' = -y with h = 1: 1 - 1 + 1/2 - 1/6 + 1/24 = 0.375.
            values(decay_end(&[0.0, 1.0], SolveOptions::new(Method::Rk4).step_size(10.0)))
        },
    ),
    fails("SolveOptions.controller", "safety = 1.5", "Options", &["controller.safety", "1.5"], || {
        error(decay_end(
            &[0.0, 1.0],
            with(|o| o.controller = PiController { safety: 1.5, ..PiController::default() }),
        ))
    }),
    fails("SolveOptions.controller", "facmax = NaN", "Options", &["controller.facmax", "NaN"], || {
        error(decay_end(
            &[0.0, 1.0],
            with(|o| o.controller = PiController { facmax: f64::NAN, ..PiController::default() }),
        ))
    }),
    gives(
        "odeint with Method::Euler and FixedStep::Grid",
        "one step per output interval",
        &[0.0],
        0.0,
        || {
            // Euler's one step of y' = -y with h = 1 from 1: 1 - 1 = 0.
            values(decay_end(
                &[0.0, 1.0],
                with(|o| {
                    o.method = Method::Euler;
                    o.fixed = Some(FixedStep::Grid);
                }),
            ))
        },
    ),
    gives(
        "odeint with Method::Tsit5",
        "tolerances at 1e-12 (near the rounding floor)",
        &[0.0],
        1e-10,
        || {
            values(
                decay_end(&[0.0, 1.0], SolveOptions::new(Method::Tsit5).tol(1e-12, 1e-12))
                    .map(|y| vec![y[0] - e_inv()]),
            )
        },
    ),
    fails(
        "ButcherTableau::new",
        "weights b summing to 0.5",
        "Tableau",
        &["euler-like", "sum to 0.5"],
        || error(euler_like(|b, _| b[0] = 0.5)),
    ),
    fails("ButcherTableau::new", "a NaN weight", "Tableau", &["euler-like", "NaN"], || {
        error(euler_like(|b, _| b[0] = f64::NAN))
    }),
    fails("ButcherTableau::new", "c_0 = 0.5", "Tableau", &["c_0 = 0.5"], || {
        error(euler_like(|_, c| c[0] = 0.5))
    }),
    fails("ButcherTableau::new", "no stages", "Tableau", &["0 weights"], || {
        error(ButcherTableau::new("empty", 1, vec![], vec![], vec![], None, DenseOutput::Hermite))
    }),
    fails(
        "odeint_per_sample(f, y0, t0, times)",
        "3 lists of times for 2 samples",
        "Shape",
        &["per-sample times"],
        || error(decay_per_sample(&[1.0, 2.0], vec![vec![1.0]; 3], GridStrategy::Union).map(|s| s.ys.len())),
    ),
    fails(
        "odeint_per_sample(f, y0, t0, times)",
        "a time before t0",
        "Times",
        &["sample 1", "t[0] = -1"],
        || {
            let times = vec![vec![1.0], vec![-1.0]];
            error(decay_per_sample(&[1.0, 2.0], times, GridStrategy::Independent).map(|s| s.ys.len()))
        },
    ),
    gives(
        "odeint_per_sample(f, y0, t0, times)",
        "a sample with no times, the other at t = 1",
        &[0.0, 1.0],
        1e-6,
        || {
            let solution = decay_per_sample(&[1.0, 1.0], vec![vec![], vec![1.0]], GridStrategy::Union);
            values(solution.map(|s| vec![s.ys[0].len() as f64, s.ys[1][(0, 0)] / e_inv()]))
        },
    ),
    fails(
        "odeint_session(mlp, s, y0, ts)",
        "a 1x3 state for a field of width 2",
        "Autodiff::Shape",
        &["affine", "(1, 3)"],
        || {
            let (store, mlp) = mlp_field();
            error(
                odeint_session(
                    &mlp,
                    &NoGrad::new(&store),
                    &array![[1.0, 2.0, 3.0]],
                    &[0.0, 1.0],
                    &SolveOptions::default(),
                )
                .map(|s| s.ys.len()),
            )
        },
    ),
    fails(
        "adjoint_backward(f, store, sol, grads)",
        "a solution with no output times",
        "Times",
        &["adjoint", "no output times"],
        || {
            let (store, mlp) = mlp_field();
            let sol = Solution { ts: vec![], ys: vec![], stats: Stats::default() };
            error(adjoint_backward(&mlp, &store, &sol, &[], &AdjointOptions::default()).map(|g| g.times))
        },
    ),
    fails(
        "adjoint_backward(f, store, sol, grads)",
        "one gradient for two output times",
        "Shape",
        &["one gradient per output time"],
        || {
            let (store, mlp) = mlp_field();
            let opts = SolveOptions::default();
            let sol =
                odeint(&WithParams { func: &mlp, store: &store }, &array![[0.1, 0.2]], &[0.0, 1.0], &opts);
            error(
                sol.and_then(|sol| {
                    adjoint_backward(&mlp, &store, &sol, &[array![[1.0, 1.0]]], &AdjointOptions::default())
                })
                .map(|g| g.times),
            )
        },
    ),
    fails(
        "adjoint_backward(f, store, sol, grads)",
        "dL/dy of shape 1x3 for a 1x2 state",
        "Shape",
        &["dL/dy(t_i)", "(1, 3)"],
        || {
            let (store, mlp) = mlp_field();
            let opts = SolveOptions::default();
            let sol =
                odeint(&WithParams { func: &mlp, store: &store }, &array![[0.1, 0.2]], &[0.0, 1.0], &opts);
            let grads = vec![Array2::zeros((1, 3)); 2];
            error(
                sol.and_then(|sol| adjoint_backward(&mlp, &store, &sol, &grads, &AdjointOptions::default()))
                    .map(|g| g.times),
            )
        },
    ),
];

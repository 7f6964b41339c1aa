//! Distributions: constructors, densities, samplers, KL divergences, mixtures and EM.

use crate::harness::{Case, error, fails, gives, value, values};
use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::Tensor;
use latent_seq::autodiff::ndarray::{Array2, array};
use latent_seq::dists::linalg::{cholesky, solve_lower_rows};
use latent_seq::dists::{
    Bernoulli, Categorical, DiagNormal, EmConfig, GaussianMixture, LogProb, MuLaw, MultivariateNormal,
    Parallelism, RowMixture, class_indices, gaussian_product, monte_carlo_kl, one_hot,
};
use latent_seq::rand::SeedableRng;

/// `ln(2 pi) / 2`.
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_7;

/// `ln N(0; 0, e^-800)`: `-(ln 2 pi - 800) / 2`, a large but finite density.
const LOG_DENSITY_AT_MEAN_LV_M800: f64 = 400.0 - HALF_LN_2PI;

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(0)
}

fn unit_normal() -> DiagNormal<Array2<f64>> {
    DiagNormal::from_mean_log_var(array![[0.0, 0.0]], array![[0.0, 0.0]]).expect("valid parameters")
}

fn two_component_mixture() -> GaussianMixture<Array2<f64>> {
    GaussianMixture::from_weights(&[0.5, 0.5], array![[-1.0], [1.0]], &array![[1.0], [1.0]])
        .expect("valid parameters")
}

fn first(a: Array2<f64>) -> Vec<f64> {
    a.iter().copied().collect()
}

pub const CASES: &[Case] = &[
    fails("DiagNormal::from_mean_log_var", "a NaN mean", "NonFinite", &["mean", "NaN", "(0, 1)"], || {
        error(DiagNormal::from_mean_log_var(array![[0.0, f64::NAN]], array![[0.0, 0.0]]))
    }),
    fails(
        "DiagNormal::from_mean_log_var",
        "log_var 3x1 for a 2x2 mean",
        "Shape",
        &["log_var", "(3, 1)"],
        || error(DiagNormal::from_mean_log_var(Array2::<f64>::zeros((2, 2)), Array2::zeros((3, 1)))),
    ),
    fails("DiagNormal::from_mean_std", "std = 0", "NonPositive", &["std", "positive", "0"], || {
        error(DiagNormal::from_mean_std(array![[0.0]], array![[0.0]]))
    }),
    fails(
        "DiagNormal::log_prob(x)",
        "NaN in x",
        "NonFinite",
        &["DiagNormal", "`x`", "NaN", "(0, 1)"],
        || error(unit_normal().log_prob(&array![[0.0, f64::NAN]])),
    ),
    fails("DiagNormal::log_prob(x)", "x of 3 columns for 2", "Shape", &["`x`", "(1, 3)"], || {
        error(unit_normal().log_prob(&array![[0.0, 0.0, 0.0]]))
    }),
    gives(
        "DiagNormal::log_prob(x)",
        "log_var = -800 at x = mean (0 * inf)",
        &[LOG_DENSITY_AT_MEAN_LV_M800],
        1e-9,
        || {
            let n = DiagNormal::from_mean_log_var(array![[0.0]], array![[-800.0]]).expect("valid parameters");
            values(n.log_prob(&array![[0.0]]).map(first))
        },
    ),
    gives(
        "DiagNormal::log_prob(x)",
        "log_var = 700 (variance near overflow)",
        &[-350.0 - HALF_LN_2PI],
        1e-9,
        || {
            let n = DiagNormal::from_mean_log_var(array![[0.0]], array![[700.0]]).expect("valid parameters");
            values(n.log_prob(&array![[1.0]]).map(first))
        },
    ),
    gives("DiagNormal::kl_divergence(q)", "KL(p || p) with log_var = -800", &[0.0], 0.0, || {
        let n = DiagNormal::from_mean_log_var(array![[0.3]], array![[-800.0]]).expect("valid parameters");
        values(n.kl_divergence(&n).map(first))
    }),
    fails("DiagNormal::kl_divergence(q)", "q of shape 1x3 for p of 1x2", "Shape", &["`q`", "(1, 3)"], || {
        let q = DiagNormal::from_mean_log_var(Array2::zeros((1, 3)), Array2::zeros((1, 3))).expect("valid");
        error(unit_normal().kl_divergence(&q))
    }),
    fails("DiagNormal::rsample_with(eps)", "eps of shape 2x5", "Shape", &["`eps`", "(2, 5)"], || {
        error(unit_normal().rsample_with(&Array2::zeros((2, 5))))
    }),
    fails(
        "Sample::sample_n(n)",
        "parameters of 2 rows, 3 draws",
        "Shape",
        &["sample rows", "(3, 1)", "(2, 1)"],
        || {
            use latent_seq::dists::Sample;
            let n =
                DiagNormal::from_mean_log_var(Array2::zeros((2, 1)), Array2::zeros((2, 1))).expect("valid");
            error(n.sample_n(3, &mut rng()))
        },
    ),
    gives(
        "gaussian_product(p, q)",
        "p = q with log_var = -800 (the normaliser at x = mean)",
        &[LOG_DENSITY_AT_MEAN_LV_M800 - 0.5 * std::f64::consts::LN_2],
        1e-9,
        || {
            // p = q = N(0, s): the normaliser is N(0; 0, 2 s), half a ln 2 below N(0; 0, s).
            let n = DiagNormal::from_mean_log_var(array![[0.0]], array![[-800.0]]).expect("valid parameters");
            values(gaussian_product(&n, &n).map(|g| first(g.log_normaliser)))
        },
    ),
    fails("gaussian_product(p, q)", "p 1x2, q 1x3", "Shape", &["gaussian_product", "`q`"], || {
        let q = DiagNormal::from_mean_log_var(Array2::zeros((1, 3)), Array2::zeros((1, 3))).expect("valid");
        error(gaussian_product(&unit_normal(), &q))
    }),
    fails("Bernoulli::from_probs", "probability 1.5", "OutOfRange", &["probs", "[0, 1]", "1.5"], || {
        error(Bernoulli::from_probs(array![[0.2, 1.5]]))
    }),
    fails("Bernoulli::from_logits", "an infinite logit", "NonFinite", &["logits", "inf"], || {
        error(Bernoulli::from_logits(array![[f64::INFINITY]]))
    }),
    fails("Bernoulli::log_prob(x)", "NaN in x", "OutOfRange", &["Bernoulli", "`x`", "NaN"], || {
        error(Bernoulli::from_logits(array![[0.0]]).and_then(|b| b.log_prob(&array![[f64::NAN]])))
    }),
    gives("Bernoulli::from_probs(p).log_prob(x)", "p = 1 exactly, x = 1 (logit of 1)", &[0.0], 1e-15, || {
        values(Bernoulli::from_probs(array![[1.0]]).and_then(|b| b.log_prob(&array![[1.0]])).map(first))
    }),
    fails("Categorical::from_logits", "zero categories", "Empty", &["categories"], || {
        error(Categorical::from_logits(Array2::<f64>::zeros((2, 0))))
    }),
    fails(
        "Categorical::log_prob(index)",
        "class 3 of 3",
        "OutOfRange",
        &["index", "0..categories", "3"],
        || error(Categorical::from_logits(Array2::<f64>::zeros((1, 3))).and_then(|c| c.log_prob(&[3]))),
    ),
    fails(
        "Categorical::log_prob(index)",
        "2 indices for 1 row",
        "Shape",
        &["index", "one class per row"],
        || error(Categorical::from_logits(Array2::<f64>::zeros((1, 3))).and_then(|c| c.log_prob(&[0, 1]))),
    ),
    gives("Categorical::entropy", "logits [0, -20000] (a class of probability 0)", &[0.0], 1e-300, || {
        values(Categorical::from_logits(array![[0.0, -2e4]]).and_then(|c| c.entropy()).map(first))
    }),
    fails("one_hot(index, k)", "index 5 of 2 categories", "OutOfRange", &["index", "5"], || {
        error(one_hot(&[5], 2))
    }),
    fails("class_indices(x, k)", "a class of 1.5", "OutOfRange", &["integers", "1.5"], || {
        error(class_indices(&array![[1.5]], 3))
    }),
    fails("class_indices(x, k)", "a NaN class", "OutOfRange", &["integers", "NaN"], || {
        error(class_indices(&array![[f64::NAN]], 3))
    }),
    fails(
        "MultivariateNormal::new",
        "scale with a non-zero above the diagonal",
        "NotLowerTriangular",
        &["scale_tril", "(0, 1)"],
        || error(MultivariateNormal::new(array![[0.0, 0.0]], array![[1.0, 0.5], [0.0, 1.0]])),
    ),
    fails(
        "MultivariateNormal::new",
        "a zero on the diagonal",
        "NonPositive",
        &["scale_tril diagonal", "(1, 1)"],
        || error(MultivariateNormal::new(array![[0.0, 0.0]], array![[1.0, 0.0], [0.3, 0.0]])),
    ),
    fails(
        "MultivariateNormal::log_prob(x)",
        "NaN in x",
        "NonFinite",
        &["MultivariateNormal", "`x`", "NaN"],
        || {
            let mvn = MultivariateNormal::new(array![[0.0]], array![[1.0]]).expect("valid parameters");
            error(mvn.log_prob(&array![[f64::NAN]]))
        },
    ),
    fails(
        "MultivariateNormal::from_covariance",
        "a non-symmetric matrix",
        "NotSymmetric",
        &["(1, 0)"],
        || error(MultivariateNormal::from_covariance(array![[0.0, 0.0]], &array![[1.0, 0.2], [0.3, 1.0]])),
    ),
    fails("cholesky(a)", "an indefinite matrix", "NotPositiveDefinite", &["pivot 1"], || {
        error(cholesky(&array![[1.0, 2.0], [2.0, 1.0]]))
    }),
    fails("cholesky(a)", "a 2x3 matrix", "Shape", &["cholesky", "square"], || {
        error(cholesky(&Array2::zeros((2, 3))))
    }),
    fails("solve_lower_rows(l, b)", "b of 3 columns for a 2x2 l", "Shape", &["(1, 3)"], || {
        error(solve_lower_rows(&array![[1.0, 0.0], [0.0, 1.0]], &array![[1.0, 2.0, 3.0]]))
    }),
    fails("GaussianMixture::new", "no components", "Empty", &["components"], || {
        error(GaussianMixture::new(
            Array2::<f64>::zeros((1, 0)),
            Array2::zeros((0, 1)),
            Array2::zeros((0, 1)),
        ))
    }),
    fails("GaussianMixture::from_weights", "a negative weight", "NonPositive", &["weights", "-0.5"], || {
        error(GaussianMixture::from_weights(&[1.5, -0.5], array![[0.0], [1.0]], &array![[1.0], [1.0]]))
    }),
    fails(
        "GaussianMixture::log_prob(x)",
        "NaN in x",
        "NonFinite",
        &["GaussianMixture", "`x`", "NaN"],
        || error(two_component_mixture().log_prob(&array![[f64::NAN]])),
    ),
    fails(
        "GaussianMixture::score_samples(x)",
        "NaN in x",
        "NonFinite",
        &["GaussianMixture", "`x`", "NaN"],
        || error(two_component_mixture().score_samples(array![[f64::NAN]].view(), Parallelism::Serial)),
    ),
    gives(
        "GaussianMixture::score_samples(x)",
        "a far point x = 1e200 (every component underflows)",
        &[f64::NEG_INFINITY, f64::NEG_INFINITY],
        0.0,
        || {
            // The fast kernel and the tape path must agree: ln p(x) = -inf to f64.
            let m = two_component_mixture();
            let x = array![[1e200]];
            values(
                m.score_samples(x.view(), Parallelism::Serial)
                    .and_then(|fast| Ok(vec![fast[0], m.log_prob(&x)?[(0, 0)]])),
            )
        },
    ),
    gives(
        "GaussianMixture::score_samples(x)",
        "log_var = -800 at a component's mean",
        &[LOG_DENSITY_AT_MEAN_LV_M800],
        1e-9,
        || {
            let m = GaussianMixture::new(array![[0.0]], array![[0.0]], array![[-800.0]])
                .expect("valid parameters");
            values(m.score_samples(array![[0.0]].view(), Parallelism::Serial).map(|s| s.to_vec()))
        },
    ),
    fails("GaussianMixture::score(x)", "no points", "Empty", &["the data"], || {
        error(two_component_mixture().score(Array2::zeros((0, 1)).view(), Parallelism::Serial))
    }),
    fails(
        "GaussianMixture::fit(x, cfg)",
        "fewer points than components",
        "Config",
        &["at least 3 points"],
        || error(GaussianMixture::fit(array![[0.0], [1.0]].view(), &EmConfig::new(3))),
    ),
    fails("GaussianMixture::fit(x, cfg)", "var_floor = 0", "Config", &["var_floor", "0"], || {
        let cfg = EmConfig { var_floor: 0.0, ..EmConfig::new(1) };
        error(GaussianMixture::fit(array![[0.0], [1.0]].view(), &cfg))
    }),
    fails("GaussianMixture::fit(x, cfg)", "NaN in the data", "NonFinite", &["`x`", "NaN"], || {
        error(GaussianMixture::fit(array![[0.0], [f64::NAN]].view(), &EmConfig::new(1)))
    }),
    gives(
        "GaussianMixture::fit(x, cfg)",
        "every point equal (zero data variance)",
        &[0.0, 1e-6],
        1e-12,
        || {
            // The variance starts at the data variance, 0: the floor must hold it up.
            let x = Array2::from_elem((4, 1), 0.0);
            values(GaussianMixture::fit(x.view(), &EmConfig::new(1)).map(|fit| {
                let m = fit.model.values();
                vec![m.means()[(0, 0)], m.log_vars()[(0, 0)].exp()]
            }))
        },
    ),
    fails("RowMixture::new", "means 1x3 for logits 1x2 of dim 2", "Shape", &["RowMixture", "means"], || {
        error(RowMixture::new(Array2::<f64>::zeros((1, 2)), Array2::zeros((1, 3)), Array2::zeros((1, 3)), 2))
    }),
    fails("RowMixture::log_prob_rows(x)", "NaN in x", "NonFinite", &["`x`", "NaN"], || {
        let m =
            RowMixture::new(Array2::<f64>::zeros((1, 2)), Array2::zeros((1, 2)), Array2::zeros((1, 2)), 1)
                .expect("valid parameters");
        error(m.log_prob_rows(&array![[f64::NAN]]))
    }),
    fails("MuLaw::new(levels)", "1 level", "Config", &["at least 2 levels", "1"], || error(MuLaw::new(1))),
    fails("MuLaw::quantise(x)", "a NaN amplitude", "NonFinite", &["amplitude", "NaN"], || {
        error(MuLaw::new(256).and_then(|m| m.quantise(f64::NAN)))
    }),
    fails("MuLaw::dequantise(level)", "level 256 of 256", "OutOfRange", &["level", "256"], || {
        error(MuLaw::new(256).and_then(|m| m.dequantise(256)))
    }),
    gives("MuLaw::quantise(x)", "amplitudes beyond [-1, 1] (+-inf, 7)", &[0.0, 255.0, 255.0], 0.0, || {
        values(MuLaw::new(256).and_then(|m| {
            Ok(vec![
                m.quantise(f64::NEG_INFINITY)? as f64,
                m.quantise(f64::INFINITY)? as f64,
                m.quantise(7.0)? as f64,
            ])
        }))
    }),
    fails("monte_carlo_kl(p, q, n)", "n = 1 sample", "Config", &["monte_carlo_kl", "at least 2"], || {
        error(monte_carlo_kl(&unit_normal(), &unit_normal(), 1, &mut rng()))
    }),
    gives(
        "LogProb::log_prob_rows",
        "a unit normal at its mean (sanity of the row sum)",
        &[-2.0 * HALF_LN_2PI],
        1e-12,
        || values(LogProb::log_prob_rows(&unit_normal(), &array![[0.0, 0.0]]).map(|r| r.to_vec())),
    ),
    gives(
        "DiagNormal::log_prob(x).item",
        "a 1x1 standard normal far out at x = 1e150",
        &[-0.5e300 - HALF_LN_2PI],
        1e286,
        || {
            let n = DiagNormal::from_mean_log_var(array![[0.0]], array![[0.0]]).expect("valid parameters");
            value(n.log_prob(&array![[1e150]]).and_then(|l| Ok(l.item()?)))
        },
    ),
];

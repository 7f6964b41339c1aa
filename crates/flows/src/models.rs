//! Ready-made stacks of the usual shapes, as [`Chain<Layer>`](crate::Chain)s.
//!
//! Layer `i` registers its parameters under `{name}.{i}.*`.

use crate::coupling::{Coupling, ScaleBound, alternating_mask};
use crate::made::Order;
use crate::{
    AutoregressiveAffine, Chain, Conditioning, ElementwiseAffine, InvertibleLinear, Layer, Permutation,
    Planar, Radial, Result, Sylvester, SylvesterKind,
};
use autodiff::{Activation, ParamStore};
use rand::Rng;

/// The default scale bound of the coupling and autoregressive stacks: `s = tanh(r)`.
pub const TANH_SCALE: ScaleBound = ScaleBound::Tanh { bound: 1.0 };

/// RealNVP: `couplings` affine couplings with alternating masks (the first passes
/// the odd columns), ReLU networks of the given hidden widths, `tanh` log-scales.
/// With `dim = 2`, 8 couplings and hidden `[64, 64]` this is the model of
/// `bench_flows.py`.
pub fn real_nvp(
    store: &mut ParamStore,
    name: &str,
    dim: usize,
    couplings: usize,
    hidden: &[usize],
    rng: &mut impl Rng,
) -> Result<Chain> {
    let layers = (0..couplings)
        .map(|i| {
            let mask = alternating_mask(dim, i % 2);
            let c = Coupling::affine(
                store,
                &format!("{name}.{i}"),
                &mask,
                hidden,
                Activation::Relu,
                TANH_SCALE,
                rng,
            )?;
            Ok(Layer::from(c))
        })
        .collect::<Result<_>>()?;
    Chain::new(layers)
}

/// NICE: `couplings` additive couplings with alternating masks and ReLU networks,
/// then the diagonal scaling layer.
pub fn nice(
    store: &mut ParamStore,
    name: &str,
    dim: usize,
    couplings: usize,
    hidden: &[usize],
    rng: &mut impl Rng,
) -> Result<Chain> {
    let mut layers = Vec::with_capacity(couplings + 1);
    for i in 0..couplings {
        let mask = alternating_mask(dim, i % 2);
        layers.push(
            Coupling::additive(store, &format!("{name}.{i}"), &mask, hidden, Activation::Relu, rng)?.into(),
        );
    }
    layers.push(ElementwiseAffine::nice_scaling(store, &format!("{name}.{couplings}"), dim)?.into());
    Chain::new(layers)
}

/// Glow on vectors: `steps` steps of ActNorm, invertible linear (LU) and affine
/// coupling (Kingma and Dhariwal 2018, Fig. 2a). Call
/// [`Flow::data_init`](crate::Flow::data_init) on a batch before training.
pub fn glow(
    store: &mut ParamStore,
    name: &str,
    dim: usize,
    steps: usize,
    hidden: &[usize],
    rng: &mut impl Rng,
) -> Result<Chain> {
    let mut layers = Vec::with_capacity(3 * steps);
    for i in 0..steps {
        let n = |k: usize| format!("{name}.{}", 3 * i + k);
        layers.push(ElementwiseAffine::actnorm(store, &n(0), dim)?.into());
        layers.push(InvertibleLinear::new(store, &n(1), dim, rng)?.into());
        let mask = alternating_mask(dim, i % 2);
        layers.push(Coupling::affine(store, &n(2), &mask, hidden, Activation::Relu, TANH_SCALE, rng)?.into());
    }
    Chain::new(layers)
}

/// `layers` MAF (`Conditioning::Data`) or IAF (`Conditioning::Base`) layers with
/// MADEs of the given hidden widths, the order reversed between layers
/// (Papamakarios et al. 2017, Sec. 3.2).
pub fn autoregressive(
    store: &mut ParamStore,
    name: &str,
    dim: usize,
    layers: usize,
    hidden: &[usize],
    conditioning: Conditioning,
    rng: &mut impl Rng,
) -> Result<Chain> {
    let mut out = Vec::with_capacity(2 * layers);
    for i in 0..layers {
        if i > 0 {
            out.push(Permutation::reverse(dim)?.into());
        }
        let n = format!("{name}.{}", 2 * i);
        out.push(
            AutoregressiveAffine::new(
                store,
                &n,
                dim,
                hidden,
                &Order::Natural,
                conditioning,
                TANH_SCALE,
                rng,
            )?
            .into(),
        );
    }
    Chain::new(out)
}

/// `k` planar layers.
pub fn planar(store: &mut ParamStore, name: &str, dim: usize, k: usize, rng: &mut impl Rng) -> Result<Chain> {
    let layers = (0..k)
        .map(|i| Ok(Planar::new(store, &format!("{name}.{i}"), dim, rng)?.into()))
        .collect::<Result<_>>()?;
    Chain::new(layers)
}

/// `k` radial layers.
pub fn radial(store: &mut ParamStore, name: &str, dim: usize, k: usize, rng: &mut impl Rng) -> Result<Chain> {
    let layers = (0..k)
        .map(|i| Ok(Radial::new(store, &format!("{name}.{i}"), dim, rng)?.into()))
        .collect::<Result<_>>()?;
    Chain::new(layers)
}

/// `k` Sylvester layers of one kind; triangular layers alternate between the
/// identity and the reversal (van den Berg et al. 2018, Sec. 4).
pub fn sylvester(
    store: &mut ParamStore,
    name: &str,
    dim: usize,
    k: usize,
    kind: SylvesterKind,
    rng: &mut impl Rng,
) -> Result<Chain> {
    let layers = (0..k)
        .map(|i| {
            let kind = match kind {
                SylvesterKind::Triangular { .. } => SylvesterKind::Triangular { reverse: i % 2 == 1 },
                other => other,
            };
            Ok(Sylvester::new(store, &format!("{name}.{i}"), dim, kind, rng)?.into())
        })
        .collect::<Result<_>>()?;
    Chain::new(layers)
}

/// FFJORD with `blocks` continuous flows in sequence (its `--num_blocks`), each with
/// its own field and end time and the settings of `config`; block `i` draws its
/// probes from the seed `config.seed + i`.
pub fn ffjord(
    store: &mut ParamStore,
    name: &str,
    dim: usize,
    blocks: usize,
    config: &crate::cnf::CnfConfig,
    rng: &mut impl Rng,
) -> Result<Chain> {
    let layers = (0..blocks)
        .map(|i| {
            let config = crate::cnf::CnfConfig { seed: config.seed + i as u64, ..config.clone() };
            Ok(Layer::from(crate::cnf::ContinuousFlow::new(store, &format!("{name}.{i}"), dim, config, rng)?))
        })
        .collect::<Result<_>>()?;
    Chain::new(layers)
}

//! Every model's loss against central finite differences, at tiny sizes, on a
//! variable-length batch (so the masks are differentiated through too).

mod common;

use autodiff::{Activation, GradCheck, ParamStore, gradcheck_params};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::{
    CellKind, GruConvention, Inference, ObsKind, RnnConfig, RnnModel, SequenceModel, Srnn, SrnnConfig, Vae,
    VaeConfig, Vrnn, VrnnConfig, WaveNet, WaveNetConfig, WaveNetOutput,
};

// The networks use ReLU: a finite difference whose bracket +-h straddles a unit's
// kink is wrong by up to the jump in slope, whatever the analytic gradient. Seeds
// are fixed so that no unit of these tiny models sits within h of its kink.
const CFG: GradCheck = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
const GAUSS: ObsKind = ObsKind::Gaussian { min_std: 0.05 };
const GMM: ObsKind = ObsKind::Gmm { components: 2, min_std: 0.05 };

fn binary(obs: ObsKind) -> bool {
    obs == ObsKind::Bernoulli
}

/// Gradient check of `model`'s per-step loss (KL weight 0.7, to check the weighting
/// too) on a batch of lengths 3, 1, 2; the noise is redrawn from the same seed at
/// every evaluation, so the loss is a deterministic function of the parameters.
fn check<M: SequenceModel>(model: &M, store: &ParamStore, obs: ObsKind) {
    let (xs, masks) = common::batch(&[3, 1, 2], model.x_dim(), binary(obs), 5);
    let batch = seqmodels::SeqBatch::new(xs, masks).unwrap();
    let report = gradcheck_params(
        |s| {
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            model
                .elbo(s, &batch, &mut rng)
                .map_err(as_autodiff)?
                .loss_per_step(0.7)
                .map_err(as_autodiff)?
                .normalised()
        },
        store,
        &CFG,
    )
    .unwrap();
    assert!(report.checked == store.num_scalars(), "{report:?}");
}

fn as_autodiff(e: seqmodels::Error) -> autodiff::Error {
    autodiff::Error::Invalid { op: "model", reason: e.to_string() }
}

#[test]
fn rnn_models() {
    let cells =
        [CellKind::Rnn, CellKind::Gru(GruConvention::Textbook), CellKind::Gru(GruConvention::PyTorch)];
    for (cell, obs) in cells.into_iter().zip([ObsKind::Bernoulli, GAUSS, GMM]) {
        let mut store = ParamStore::new();
        let config = RnnConfig { x_dim: 3, hidden: 4, cell, obs };
        let model = RnnModel::new(&mut store, "rnn", config, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        check(&model, &store, obs);
    }
}

#[test]
fn vrnn() {
    for (obs, gru) in [
        (ObsKind::Bernoulli, GruConvention::PyTorch),
        (GAUSS, GruConvention::Textbook),
        (GMM, GruConvention::PyTorch),
    ] {
        let mut store = ParamStore::new();
        let config = VrnnConfig { obs, gru, gru_bias: true, ..VrnnConfig::new(3, 4, 2) };
        let model = Vrnn::new(&mut store, "vrnn", config, &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
        check(&model, &store, obs);
    }
}

#[test]
fn srnn() {
    let variants = [
        (Inference::Smoothing, true, ObsKind::Bernoulli),
        (Inference::Smoothing, false, GAUSS),
        (Inference::Filtering, true, GMM),
    ];
    for (inference, resq, obs) in variants {
        let mut store = ParamStore::new();
        let config = SrnnConfig { inference, resq, obs, hidden: 4, ..SrnnConfig::new(3, 4, 2, 3) };
        let model = Srnn::new(&mut store, "srnn", config, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
        check(&model, &store, obs);
    }
}

/// The reference code's architecture: input embedding and clipped leaky rectifiers.
#[test]
fn srnn_reference_architecture() {
    let mut store = ParamStore::new();
    let config = SrnnConfig { hidden: 4, embed: Some(5), ..SrnnConfig::reference(3, 4, 2, 3) };
    let model = Srnn::new(&mut store, "srnn", config, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
    assert!(store.iter().any(|(_, name, _)| name.starts_with("srnn.embed")));
    check(&model, &store, ObsKind::Bernoulli);
}

#[test]
fn vae() {
    for obs in [ObsKind::Bernoulli, GAUSS] {
        let mut store = ParamStore::new();
        let config = VaeConfig {
            x_dim: 4,
            z_dim: 2,
            hidden: vec![5],
            obs,
            activation: Activation::Tanh,
            min_std: 1e-3,
        };
        let model = Vae::new(&mut store, "vae", config, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
        let (xs, _) = common::batch(&[1, 1, 1], 4, binary(obs), 6);
        let report = gradcheck_params(
            |s| {
                let mut rng = ChaCha8Rng::seed_from_u64(11);
                model
                    .elbo(s, &xs[0], &mut rng)
                    .map_err(as_autodiff)?
                    .loss_per_sequence(0.5)
                    .map_err(as_autodiff)?
                    .normalised()
            },
            &store,
            &CFG,
        )
        .unwrap();
        assert_eq!(report.checked, store.num_scalars());
    }
}

#[test]
fn wavenets() {
    // The categorical WaveNet reads the binary data as classes 0 and 1 of 3; both
    // outputs with biases, width 3 and dilations 1, 2 (so the batch of lengths 3, 1, 2
    // meets the causal padding in every layer).
    for output in [WaveNetOutput::Categorical { levels: 3 }, WaveNetOutput::Bernoulli { dim: 2 }] {
        let mut store = ParamStore::new();
        let config =
            WaveNetConfig { filter_width: 3, biases: true, ..WaveNetConfig::new(output, vec![1, 2], 2) };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let model = WaveNet::new(&mut store, "wavenet", config, &mut rng).unwrap();
        // The biases start at zero, which puts every unit of the first step (whose input
        // is zeros) on the head's ReLU kink: move them off it.
        for id in store.ids().collect::<Vec<_>>() {
            if store.name(id).unwrap().ends_with("bias") {
                let shape = store.shape(id).unwrap();
                *store.get_mut(id).unwrap() =
                    autodiff::Init::Uniform { lo: -0.5, hi: 0.5 }.sample(shape, 1, 1, &mut rng).unwrap();
            }
        }
        check(&model, &store, ObsKind::Bernoulli);
    }
}

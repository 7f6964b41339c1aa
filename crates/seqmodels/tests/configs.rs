//! Every model's configuration is data a model file stores
//! (`trainers::model_file`): it goes to JSON and back without losing a bit, nested
//! solver options and encoder choices included.

use odesolve::{AdjointOptions, Gradient, Method, SolveOptions};
use seqmodels::diffusion::DiffusionConfig;
use seqmodels::{
    CellKind, Encoder, GruConvention, GruOdeBayesConfig, LatentOdeConfig, ObsKind, OdeRnnConfig, RnnConfig,
    SrnnConfig, VaeConfig, VrnnConfig, WaveNetConfig, WaveNetOutput,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON, back, and JSON again: the two texts agree (and so every field, floats to
/// the bit, since the text is the shortest that reads back to the same double).
fn round_trips<C: Serialize + DeserializeOwned>(what: &str, config: &C) {
    let text = serde_json::to_string(config).unwrap();
    let back: C = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"));
    assert_eq!(serde_json::to_string(&back).unwrap(), text, "{what}");
}

#[test]
fn every_model_configuration_round_trips_through_json() {
    let vae = VaeConfig {
        x_dim: 64,
        z_dim: 8,
        hidden: vec![128],
        obs: ObsKind::Bernoulli,
        activation: autodiff::Activation::Tanh,
        min_std: 1e-4,
    };
    round_trips("vae", &vae);
    round_trips(
        "rnn",
        &RnnConfig {
            x_dim: 88,
            hidden: 300,
            cell: CellKind::Gru(GruConvention::PyTorch),
            obs: ObsKind::Bernoulli,
        },
    );
    round_trips("vrnn", &VrnnConfig::new(88, 300, 100));
    round_trips("srnn", &SrnnConfig::reference(88, 300, 100, 300));
    let ode_rnn_encoder = Encoder::OdeRnn {
        field_hidden: 50,
        solver: SolveOptions::new(Method::Euler).step_size(0.05),
        cell: CellKind::Gru(GruConvention::PyTorch),
    };
    let adjoint = Gradient::Backsolve(AdjointOptions::new(SolveOptions::new(Method::Dopri5).tol(1e-3, 1e-4)));
    round_trips(
        "latent_ode",
        &LatentOdeConfig {
            encoder: ode_rnn_encoder,
            gradient: adjoint,
            obs_std: 0.01,
            ..LatentOdeConfig::new(1)
        },
    );
    round_trips("ode_rnn", &OdeRnnConfig::new(2));
    round_trips("gru_ode_bayes", &GruOdeBayesConfig::new(2));
    round_trips(
        "wavenet",
        &WaveNetConfig::new(WaveNetOutput::Categorical { levels: 256 }, WaveNetConfig::doubling(64, 2), 32),
    );
    round_trips("diffusion", &DiffusionConfig::new(2, vec![128, 128, 128]));
    round_trips("cnf", &flows::cnf::CnfConfig::default());
}

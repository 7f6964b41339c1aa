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

/// A model built through `IrregularConfig` is the model its configuration builds
/// directly: the same parameters from the same generator, the same predictions.
#[test]
fn irregular_models_by_configuration_match_the_direct_models() {
    use autodiff::ParamStore;
    use ndarray::array;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use seqmodels::{IrregularBatch, IrregularConfig, IrregularModel, LatentOde, OdeRnn, Series};
    let shown = IrregularBatch::new(vec![
        Series::observed(vec![0.0, 0.4, 1.0], array![[0.1, 0.2], [0.3, -0.1], [0.0, 0.5]]),
        Series::observed(vec![0.2, 0.7], array![[-0.4, 0.2], [0.1, 0.1]]),
    ])
    .unwrap();
    let times = [0.0, 0.5, 1.5, 2.0];
    let rng = || ChaCha8Rng::seed_from_u64(3);
    let (latent, ode_rnn) = (LatentOdeConfig::new(2), OdeRnnConfig::new(2));
    let mut direct_store = ParamStore::new();
    let direct = LatentOde::new(&mut direct_store, "m", latent.clone(), &mut rng()).unwrap();
    let config = IrregularConfig::LatentOde(Box::new(latent));
    round_trips("irregular latent_ode", &config);
    let mut store = ParamStore::new();
    let model = IrregularModel::new(&mut store, "m", config, &mut rng()).unwrap();
    assert_eq!(store, direct_store);
    assert_eq!(
        model.predict(&store, &shown, &times, true).unwrap(),
        direct.predict(&direct_store, &shown, &times).unwrap().means
    );
    let mut direct_store = ParamStore::new();
    let direct = OdeRnn::new(&mut direct_store, "m", ode_rnn.clone(), &mut rng()).unwrap();
    let mut store = ParamStore::new();
    let model =
        IrregularModel::new(&mut store, "m", IrregularConfig::OdeRnn(Box::new(ode_rnn)), &mut rng()).unwrap();
    assert_eq!(
        model.predict(&store, &shown, &times, false).unwrap(),
        direct.predict(&direct_store, &shown, &times).unwrap()
    );
    assert_eq!(
        model.predict(&store, &shown, &times, true).unwrap(),
        direct.forecast(&direct_store, &shown, &times).unwrap()
    );
}

//! A model of irregularly sampled series chosen by its configuration: what a model
//! file stores when a program trains several kinds side by side (the Latent ODE and
//! the ODE-RNN family, RNN baselines included) and wants any of them back without
//! knowing in advance which.

use crate::{IrregularBatch, LatentOde, LatentOdeConfig, OdeRnn, OdeRnnConfig, Result};
use autodiff::ParamStore;
use ndarray::Array2;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Which model, with its configuration (boxed: the two differ much in size).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum IrregularConfig {
    /// A [`LatentOde`].
    LatentOde(Box<LatentOdeConfig>),
    /// An [`OdeRnn`] (or one of its RNN baselines, by its `between`).
    OdeRnn(Box<OdeRnnConfig>),
}

/// A model built from an [`IrregularConfig`].
#[derive(Debug, Clone)]
pub enum IrregularModel {
    /// A Latent ODE.
    LatentOde(LatentOde),
    /// An ODE-RNN or RNN baseline.
    OdeRnn(OdeRnn),
}

impl IrregularModel {
    /// The model `config` describes, its parameters registered under `name`.
    pub fn new<R: Rng>(
        store: &mut ParamStore,
        name: &str,
        config: IrregularConfig,
        rng: &mut R,
    ) -> Result<Self> {
        Ok(match config {
            IrregularConfig::LatentOde(c) => IrregularModel::LatentOde(LatentOde::new(store, name, *c, rng)?),
            IrregularConfig::OdeRnn(c) => IrregularModel::OdeRnn(OdeRnn::new(store, name, *c, rng)?),
        })
    }

    /// The predicted means at `times`, given the observations in `shown`: the Latent
    /// ODE decodes its posterior mean path; the ODE-RNN reads `shown` and predicts
    /// ([`OdeRnn::predict`]), or, with `forecast`, carries on past its last
    /// observation feeding back its own predictions ([`OdeRnn::forecast`]).
    pub fn predict(
        &self,
        store: &ParamStore,
        shown: &IrregularBatch,
        times: &[f64],
        forecast: bool,
    ) -> Result<Vec<Array2<f64>>> {
        match self {
            IrregularModel::LatentOde(m) => Ok(m.predict(store, shown, times)?.means),
            IrregularModel::OdeRnn(m) if forecast => m.forecast(store, shown, times),
            IrregularModel::OdeRnn(m) => m.predict(store, shown, times),
        }
    }
}

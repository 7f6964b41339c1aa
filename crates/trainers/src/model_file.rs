//! A trained model in one file: its parameters and the configuration that builds it,
//! so it loads without knowing its sizes in advance.
//!
//! A model file is a safetensors file (see [`crate::safetensors`]) holding every
//! parameter under its store name and, in `__metadata__["latent_seq_model"]`, the
//! JSON document `{"format": "latent-seq-model", "version": 1, "kind": "vae",
//! "config": {...}}`: the model's kind (a name its user chooses, checked on load) and
//! its configuration as serde writes it. A trainer told its model
//! ([`Trainer::model`](crate::Trainer::model)) writes the same entry into every
//! checkpoint, so a checkpoint loads as a model too (its optimizer tensors are left
//! out).
//!
//! Loading builds the model from the stored configuration, then overwrites every
//! parameter with the stored values: all or nothing, each name and shape checked
//! ([`ParamStore::load_named`]). Parameters drawn at construction are overwritten,
//! so any generator builds most models; a model that also draws structure which is
//! not a parameter (Glow's fixed permutations, for one) must be rebuilt with the
//! generator it was built with: keep that seed in its configuration.
//!
//! ```
//! use autodiff::{Activation, Mlp, ParamStore};
//! use rand::SeedableRng;
//! use trainers::model_file::{self, ModelMeta};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Sizes { widths: Vec<usize> }
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut store = ParamStore::new();
//! let sizes = Sizes { widths: vec![2, 8, 1] };
//! let net = Mlp::new(&mut store, "net", &sizes.widths, Activation::Tanh, &mut rng)?;
//! let path = std::env::temp_dir().join("model_file_doc.safetensors");
//! model_file::save(&path, &ModelMeta::new("mlp", &sizes)?, &store)?;
//!
//! // Later, knowing only the kind:
//! let (again, loaded) = model_file::load(&path, "mlp", |store, sizes: Sizes| {
//!     let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99); // overwritten anyway
//!     Ok(Mlp::new(store, "net", &sizes.widths, Activation::Tanh, &mut rng)?)
//! })?;
//! assert_eq!(loaded.to_named(), store.to_named());
//! # let _ = (net, again);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::checkpoint::OPTIM_PREFIX;
use crate::safetensors;
use crate::{BoxError, Error, Result};
use autodiff::ParamStore;
use autodiff::ndarray::Array2;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The metadata key of the model entry.
pub const MODEL_KEY: &str = "latent_seq_model";
const FORMAT: &str = "latent-seq-model";
const VERSION: u32 = 1;

/// What a model file says about its model: the kind and the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The model's kind, e.g. `"vae"` or `"latent_ode"`.
    pub kind: String,
    /// The configuration as JSON.
    pub config: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    format: String,
    version: u32,
    #[serde(flatten)]
    model: ModelMeta,
}

impl ModelMeta {
    /// The entry for a model of `kind` built from `config`.
    pub fn new(kind: &str, config: &impl Serialize) -> Result<Self> {
        let config = serde_json::to_value(config).map_err(|e| {
            Error::config(format!("model `{kind}`"), format!("configuration does not serialize: {e}"))
        })?;
        Ok(ModelMeta { kind: kind.to_owned(), config })
    }

    /// The configuration, if the model is of `kind`; `path` names the file in errors.
    pub fn config<C: DeserializeOwned>(&self, kind: &str, path: &Path) -> Result<C> {
        if self.kind != kind {
            return Err(Error::format(path, format!("holds a `{}` model, not a `{kind}`", self.kind)));
        }
        serde_json::from_value(self.config.clone())
            .map_err(|e| Error::format(path, format!("`{kind}` configuration: {e}")))
    }

    /// The metadata entry as written into a file.
    pub(crate) fn to_metadata(&self) -> (String, String) {
        let entry = Entry { format: FORMAT.into(), version: VERSION, model: self.clone() };
        (MODEL_KEY.to_owned(), serde_json::to_string(&entry).expect("a JSON value serializes"))
    }
}

/// Writes the model's parameters (every one of `store`) and `meta` to `path`,
/// atomically.
pub fn save(path: &Path, meta: &ModelMeta, store: &ParamStore) -> Result<()> {
    let tensors = store.iter().map(|(_, name, value)| (name.to_owned(), value.clone().into_dyn())).collect();
    safetensors::write(path, &tensors, &BTreeMap::from([meta.to_metadata()]))
}

/// Reads a model file or a checkpoint carrying a model entry: the entry and the
/// parameters by name.
pub fn read(path: &Path) -> Result<(ModelMeta, BTreeMap<String, Array2<f64>>)> {
    let (tensors, metadata) = safetensors::read(path)?;
    let json = metadata.get(MODEL_KEY).ok_or_else(|| {
        Error::format(
            path,
            format!(
                "no `{MODEL_KEY}` entry: not a model file, or a checkpoint written without Trainer::model"
            ),
        )
    })?;
    let entry: Entry =
        serde_json::from_str(json).map_err(|e| Error::format(path, format!("`{MODEL_KEY}` entry: {e}")))?;
    if entry.format != FORMAT || entry.version != VERSION {
        return Err(Error::format(
            path,
            format!("model format {} v{}, expected {FORMAT} v{VERSION}", entry.format, entry.version),
        ));
    }
    let params = tensors
        .into_iter()
        .filter(|(name, _)| !name.starts_with(OPTIM_PREFIX))
        .map(|(name, t)| Ok((name.clone(), safetensors::matrix(t, &name, path)?)))
        .collect::<Result<_>>()?;
    Ok((entry.model, params))
}

/// The configuration stored in a model file (or checkpoint) of `kind`, without its
/// parameters: what a program reads first when the configuration also says how to
/// rebuild the data the model was trained on.
pub fn config<C: DeserializeOwned>(path: &Path, kind: &str) -> Result<C> {
    read(path)?.0.config(kind, path)
}

/// Loads a model of `kind` from `path`: reads its configuration, lets `build` make
/// the model in a fresh store (every parameter is then overwritten; see the module
/// docs for structure that is not a parameter), then loads the stored parameters, all
/// or nothing. Returns the model and its store.
pub fn load<C, M>(
    path: &Path,
    kind: &str,
    build: impl FnOnce(&mut ParamStore, C) -> std::result::Result<M, BoxError>,
) -> Result<(M, ParamStore)>
where
    C: DeserializeOwned,
{
    let (meta, params) = read(path)?;
    let config = meta.config(kind, path)?;
    let mut store = ParamStore::new();
    let model = build(&mut store, config).map_err(|e| {
        Error::format(path, format!("building the `{kind}` model from its configuration: {e}"))
    })?;
    store.load_named(&params).map_err(|e| Error::format(path, format!("parameters: {e}")))?;
    Ok((model, store))
}

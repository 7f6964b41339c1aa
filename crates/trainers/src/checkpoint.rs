//! Checkpoints: everything needed to continue a run exactly where it stopped.
//!
//! One checkpoint is one safetensors file (see [`crate::safetensors`]), written
//! atomically, holding
//!
//! * every parameter under its store name (`"mlp.0.weight"`, `in x out` as in
//!   [`autodiff::Linear`]; PyTorch's `nn.Linear` stores the transpose);
//! * every optimizer buffer as `"optim/{buffer}/{parameter}"`
//!   (`"optim/exp_avg/mlp.0.weight"`);
//! * in `__metadata__["latent_seq"]`, a JSON document with the format version, the
//!   [`TrainState`] (epoch, step, position in the epoch, both RNG states as
//!   `rand_chacha`'s serde form) and the optimizer's kind, hyper-parameters, buffer
//!   names and per-parameter step counts.
//!
//! Files are named `ckpt-{step:010}.safetensors`, so a later checkpoint never
//! overwrites an earlier one and [`latest`] is the one with the highest step.

use crate::model_file::ModelMeta;
use crate::optim::OptimizerState;
use crate::safetensors::{self, Tensors};
use crate::{Error, Result};
use autodiff::ParamStore;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FORMAT: &str = "latent-seq-checkpoint";
const VERSION: u32 = 1;
const META_KEY: &str = "latent_seq";
/// Optimizer buffers are kept under this prefix; they are not parameters.
pub(crate) const OPTIM_PREFIX: &str = "optim/";

/// Where a run is: counters and random-number generators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Completed epochs.
    pub epoch: u64,
    /// Optimizer steps taken.
    pub step: u64,
    /// Batches of the current epoch already taken.
    pub batch_in_epoch: u64,
    /// Sum over the current epoch's batches of their loss sums (for the epoch mean).
    pub epoch_loss_sum: f64,
    /// The loss weights (rows, steps or observed values) seen in the current epoch.
    pub epoch_weight: f64,
    /// Seconds spent training, across resumptions.
    pub elapsed_s: f64,
    /// The shuffling generator as it was at the start of the current epoch (the
    /// epoch's batch order is re-drawn from it on resume).
    pub data_rng: ChaCha8Rng,
    /// The generator that seeds each step's noise (dropout, reparameterisation).
    pub noise_rng: ChaCha8Rng,
    /// The factor on the scheduled learning rate: 1, lowered by each roll-back of
    /// [`OnNan::RollBack`](crate::OnNan::RollBack). Checkpoints written before it
    /// existed read as 1.
    #[serde(default = "unit_scale")]
    pub lr_scale: f64,
}

fn unit_scale() -> f64 {
    1.0
}

#[derive(Serialize, Deserialize)]
struct Meta {
    format: String,
    version: u32,
    train: TrainState,
    optimizer: OptimMeta,
}

#[derive(Serialize, Deserialize)]
struct OptimMeta {
    kind: String,
    config: serde_json::Value,
    buffer_names: Vec<String>,
    /// Update count per parameter name (parameters never updated are absent).
    steps: BTreeMap<String, u64>,
}

/// The path of the checkpoint of step `step` in `dir`.
pub fn path_for(dir: &Path, step: u64) -> PathBuf {
    dir.join(format!("ckpt-{step:010}.safetensors"))
}

/// Checkpoints in `dir`, by step, oldest first.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io(dir))? {
        let path = entry.map_err(Error::io(dir))?.path();
        if let Some(step) = path.file_name().and_then(step_of) {
            found.push((step, path));
        }
    }
    found.sort();
    Ok(found)
}

/// The step of a checkpoint's file name (`ckpt-{step}.safetensors`), if it is one.
pub fn step_of(name: &std::ffi::OsStr) -> Option<u64> {
    name.to_str()?.strip_prefix("ckpt-")?.strip_suffix(".safetensors")?.parse().ok()
}

/// The checkpoint with the highest step in `dir`, if any.
pub fn latest(dir: &Path) -> Result<Option<PathBuf>> {
    Ok(list(dir)?.pop().map(|(_, p)| p))
}

/// Deletes all but the `keep` most recent checkpoints of `dir`.
pub fn prune(dir: &Path, keep: usize) -> Result<()> {
    let all = list(dir)?;
    for (_, p) in &all[..all.len().saturating_sub(keep)] {
        std::fs::remove_file(p).map_err(Error::io(p))?;
    }
    Ok(())
}

/// Writes parameters, optimizer state and training state to `path` atomically, and
/// the model's entry (see [`crate::model_file`]) when given.
pub fn save(
    path: &Path,
    store: &ParamStore,
    optim: &OptimizerState,
    train: &TrainState,
    model: Option<&ModelMeta>,
) -> Result<()> {
    let mut tensors = Tensors::new();
    let mut steps = BTreeMap::new();
    for (id, name, value) in store.iter() {
        if name.starts_with(OPTIM_PREFIX) {
            return Err(Error::format(
                path,
                format!("parameter name `{name}` clashes with the `{OPTIM_PREFIX}` prefix"),
            ));
        }
        tensors.insert(name.to_owned(), value.clone().into_dyn());
        let Some(Some(bufs)) = optim.buffers.get(id.index()) else { continue };
        steps.insert(name.to_owned(), optim.steps[id.index()]);
        for (buf, value) in optim.buffer_names.iter().zip(bufs) {
            tensors.insert(format!("{OPTIM_PREFIX}{buf}/{name}"), value.clone().into_dyn());
        }
    }
    let meta = Meta {
        format: FORMAT.into(),
        version: VERSION,
        train: train.clone(),
        optimizer: OptimMeta {
            kind: optim.kind.clone(),
            config: optim.config.clone(),
            buffer_names: optim.buffer_names.clone(),
            steps,
        },
    };
    let json = serde_json::to_string(&meta).expect("checkpoint metadata serializes");
    let mut metadata = BTreeMap::from([(META_KEY.to_owned(), json)]);
    metadata.extend(model.map(ModelMeta::to_metadata));
    safetensors::write(path, &tensors, &metadata)
}

/// Reads a checkpoint: loads its parameters into `store` (all or nothing: every
/// parameter of the store must be present with its shape) and returns the optimizer
/// state (indexed like `store`) and the training state.
pub fn load(path: &Path, store: &mut ParamStore) -> Result<(OptimizerState, TrainState)> {
    let (mut tensors, metadata) = safetensors::read(path)?;
    let json =
        metadata.get(META_KEY).ok_or_else(|| Error::format(path, format!("no `{META_KEY}` metadata")))?;
    let meta: Meta = serde_json::from_str(json).map_err(|e| Error::format(path, format!("metadata: {e}")))?;
    if meta.format != FORMAT || meta.version != VERSION {
        return Err(Error::format(
            path,
            format!("format {} v{}, expected {FORMAT} v{VERSION}", meta.format, meta.version),
        ));
    }
    let o = meta.optimizer;
    let mut optim = OptimizerState {
        kind: o.kind,
        config: o.config,
        buffer_names: o.buffer_names,
        steps: vec![0; store.len()],
        buffers: vec![None; store.len()],
    };
    for (id, name, _) in store.iter() {
        let Some(&step) = o.steps.get(name) else { continue };
        let bufs = optim
            .buffer_names
            .iter()
            .map(|b| {
                let key = format!("{OPTIM_PREFIX}{b}/{name}");
                let t = tensors
                    .remove(&key)
                    .ok_or_else(|| Error::format(path, format!("missing optimizer tensor `{key}`")))?;
                safetensors::matrix(t, &key, path)
            })
            .collect::<Result<Vec<_>>>()?;
        optim.steps[id.index()] = step;
        optim.buffers[id.index()] = Some(bufs);
    }
    if let Some(extra) = tensors.keys().find(|k| k.starts_with(OPTIM_PREFIX)) {
        return Err(Error::format(
            path,
            format!("optimizer tensor `{extra}` belongs to no parameter of the store"),
        ));
    }
    let params = tensors
        .into_iter()
        .map(|(name, t)| Ok((name.clone(), safetensors::matrix(t, &name, path)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    store.load_named(&params).map_err(|e| Error::format(path, format!("parameters: {e}")))?;
    Ok((optim, meta.train))
}

//! Named parameters: the trainable state of a model, kept outside any tape.
//!
//! A model registers its parameters once, under dotted names like PyTorch's
//! `state_dict` (`"encoder.0.weight"`), and keeps the returned [`ParamId`]s. Each
//! forward pass binds them to a fresh tape through a [`Session`](crate::Session);
//! optimizers update the store in place between passes; checkpoints save and load it
//! by name.

use crate::{Error, Result, Shape};
use ndarray::Array2;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

/// Handle to one parameter of a [`ParamStore`]: its position, and which store (with
/// its clones) it belongs to, so that an id used with another store is an error
/// rather than another parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId {
    store: u64,
    index: usize,
}

impl ParamId {
    /// Position of the parameter in its store (registration order).
    pub fn index(self) -> usize {
        self.index
    }

    /// The id at `index` of the store with identity `store`.
    pub(crate) fn new(store: u64, index: usize) -> Self {
        ParamId { store, index }
    }

    /// The identity of the store the parameter belongs to.
    pub(crate) fn store(self) -> u64 {
        self.store
    }
}

/// Identities of parameter stores, drawn once per store (a clone keeps its original's).
static NEXT_STORE: AtomicU64 = AtomicU64::new(0);

/// An ordered collection of named `f64` matrices.
///
/// A store has an identity, and the [`ParamId`]s it hands out carry it: reading a
/// parameter through an id of another store is [`Error::ForeignHandle`]. A clone is
/// the same parameters (an early-stopping snapshot, a worker's copy), so it keeps
/// the identity and the ids of either work on both. Two stores compare equal when
/// their names and values are equal, whatever their identities.
#[derive(Debug, Clone)]
pub struct ParamStore {
    identity: u64,
    names: Vec<String>,
    values: Vec<Array2<f64>>,
    by_name: HashMap<String, ParamId>,
}

impl Default for ParamStore {
    fn default() -> Self {
        ParamStore {
            identity: NEXT_STORE.fetch_add(1, Ordering::Relaxed),
            names: Vec::new(),
            values: Vec::new(),
            by_name: HashMap::new(),
        }
    }
}

impl PartialEq for ParamStore {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names && self.values == other.values
    }
}

impl ParamStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The position of `id` in this store, or [`Error::ForeignHandle`] if it was made
    /// by another store (or by a clone that has registered more parameters since).
    fn position(&self, id: ParamId, op: &'static str) -> Result<usize> {
        if id.store == self.identity && id.index < self.values.len() {
            Ok(id.index)
        } else {
            Err(Error::ForeignHandle {
                op,
                what: format!("parameter id #{}", id.index),
                owner: format!("another parameter store (this one holds {} parameters)", self.values.len()),
            })
        }
    }

    /// Registers a parameter; names must be unique.
    pub fn add(&mut self, name: impl Into<String>, value: Array2<f64>) -> Result<ParamId> {
        let name = name.into();
        if self.by_name.contains_key(&name) {
            return Err(Error::DuplicateParam(name));
        }
        let id = ParamId::new(self.identity, self.values.len());
        self.by_name.insert(name.clone(), id);
        self.names.push(name);
        self.values.push(value);
        Ok(id)
    }

    /// Number of parameters (matrices, not scalars; see [`num_scalars`](Self::num_scalars)).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the store holds no parameter.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Total number of scalar entries over all parameters.
    pub fn num_scalars(&self) -> usize {
        self.values.iter().map(Array2::len).sum()
    }

    /// The value of a parameter; an id of another store is [`Error::ForeignHandle`].
    pub fn get(&self, id: ParamId) -> Result<&Array2<f64>> {
        Ok(&self.values[self.position(id, "ParamStore::get")?])
    }

    /// The value of a parameter, mutably (for optimizers).
    pub fn get_mut(&mut self, id: ParamId) -> Result<&mut Array2<f64>> {
        let i = self.position(id, "ParamStore::get_mut")?;
        Ok(&mut self.values[i])
    }

    /// The name a parameter was registered under.
    pub fn name(&self, id: ParamId) -> Result<&str> {
        Ok(&self.names[self.position(id, "ParamStore::name")?])
    }

    /// The id of the parameter with this name.
    pub fn id(&self, name: &str) -> Result<ParamId> {
        self.by_name.get(name).copied().ok_or_else(|| Error::UnknownParam(name.to_owned()))
    }

    /// All ids, in registration order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = ParamId> + use<> {
        let store = self.identity;
        (0..self.values.len()).map(move |index| ParamId::new(store, index))
    }

    /// `(id, name, value)` for every parameter, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &str, &Array2<f64>)> {
        self.ids().zip(&self.names).zip(&self.values).map(|((id, name), v)| (id, name.as_str(), v))
    }

    /// A copy of all values keyed by name (a `state_dict`).
    pub fn to_named(&self) -> BTreeMap<String, Array2<f64>> {
        self.iter().map(|(_, n, v)| (n.to_owned(), v.clone())).collect()
    }

    /// Overwrites every parameter from a name-keyed map. Every name must be present
    /// with the same shape, and the map must hold no unknown name: nothing is
    /// loaded unless everything matches. A name unknown to the store is
    /// [`Error::UnknownParam`]; a parameter missing from the map or of another shape
    /// is [`Error::Data`] naming it.
    pub fn load_named(&mut self, named: &BTreeMap<String, Array2<f64>>) -> Result<()> {
        if let Some(extra) = named.keys().find(|k| !self.by_name.contains_key(*k)) {
            return Err(Error::UnknownParam(extra.clone()));
        }
        let bad = |name: &str, reason: String| Error::Data {
            what: format!("load_named: parameter `{name}`"),
            reason,
        };
        for (name, value) in self.names.iter().zip(&self.values) {
            let new = named.get(name).ok_or_else(|| bad(name, "absent from the values to load".into()))?;
            if new.dim() != value.dim() {
                return Err(bad(
                    name,
                    format!("is {:?} here but {:?} in the values to load", value.dim(), new.dim()),
                ));
            }
        }
        for (i, name) in self.names.iter().enumerate() {
            self.values[i].assign(&named[name]);
        }
        Ok(())
    }

    /// A copy holding the values of `ids` only, under the same ids and names (every
    /// other parameter is an empty `0 x 0` array): what an operation that outlives the
    /// borrow of its store, such as an ODE solve recorded as one tape node, keeps of
    /// the parameters it reads.
    pub fn snapshot(&self, ids: &[ParamId]) -> Result<ParamStore> {
        let mut values = vec![Array2::zeros((0, 0)); self.values.len()];
        for id in ids {
            let i = self.position(*id, "ParamStore::snapshot")?;
            values[i] = self.values[i].clone();
        }
        Ok(ParamStore {
            identity: self.identity,
            names: self.names.clone(),
            values,
            by_name: self.by_name.clone(),
        })
    }

    /// The shape of a parameter.
    pub fn shape(&self, id: ParamId) -> Result<Shape> {
        Ok(self.values[self.position(id, "ParamStore::shape")?].dim())
    }
}

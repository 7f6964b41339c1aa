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

/// Handle to one parameter of a [`ParamStore`]: its position, which store (with its
/// clones) it belongs to, and a serial number of its own, so that an id used with
/// another store, or with a clone that registered another parameter at its position,
/// is an error rather than another parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId {
    store: u64,
    index: usize,
    serial: u64,
}

impl ParamId {
    /// Position of the parameter in its store (registration order).
    pub fn index(self) -> usize {
        self.index
    }

    /// The id at `index` of the store with identity `store`, registered as `serial`.
    pub(crate) fn new(store: u64, index: usize, serial: u64) -> Self {
        ParamId { store, index, serial }
    }

    /// The identity of the store the parameter belongs to.
    pub(crate) fn store(self) -> u64 {
        self.store
    }

    /// The parameter's own serial number, unique in the process.
    pub(crate) fn serial(self) -> u64 {
        self.serial
    }
}

/// Identities of parameter stores, drawn once per store (a clone keeps its original's).
static NEXT_STORE: AtomicU64 = AtomicU64::new(0);
/// Serial numbers of parameters, drawn once per registration.
static NEXT_PARAM: AtomicU64 = AtomicU64::new(0);

/// An ordered collection of named `f64` matrices.
///
/// A store has an identity, and the [`ParamId`]s it hands out carry it: reading a
/// parameter through an id of another store is [`Error::ForeignHandle`]. A clone is
/// the same parameters (an early-stopping snapshot, a worker's copy), so it keeps
/// the identity and the ids of either work on both; a parameter registered in one of
/// them after the cloning is its own (its id is an error in the other). Two stores
/// compare equal when their names and values are equal, whatever their identities.
#[derive(Debug, Clone)]
pub struct ParamStore {
    identity: u64,
    names: Vec<String>,
    values: Vec<Array2<f64>>,
    serials: Vec<u64>,
    /// Positions a [`snapshot`](ParamStore::snapshot) left out (empty otherwise).
    left_out: Vec<bool>,
    by_name: HashMap<String, ParamId>,
}

impl Default for ParamStore {
    fn default() -> Self {
        ParamStore {
            identity: NEXT_STORE.fetch_add(1, Ordering::Relaxed),
            names: Vec::new(),
            values: Vec::new(),
            serials: Vec::new(),
            left_out: Vec::new(),
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

    /// The position of `id` in this store, or [`Error::ForeignHandle`] saying why it
    /// is not this store's: made by another store, by a clone after the cloning, or
    /// left out of this snapshot.
    fn position(&self, id: ParamId, op: &'static str) -> Result<usize> {
        let held = self.values.len();
        let owner = if id.store != self.identity {
            format!("another parameter store (this one holds {held} parameters)")
        } else if self.serials.get(id.index) != Some(&id.serial) {
            format!(
                "a clone of this store that registered it after the cloning (this one holds {held} parameters)"
            )
        } else if self.left_out.get(id.index).copied().unwrap_or(false) {
            "the store this snapshot was taken of, which left it out".to_owned()
        } else {
            return Ok(id.index);
        };
        Err(Error::ForeignHandle { op, what: format!("parameter id #{}", id.index), owner })
    }

    /// Registers a parameter; names must be unique.
    pub fn add(&mut self, name: impl Into<String>, value: Array2<f64>) -> Result<ParamId> {
        let name = name.into();
        if self.by_name.contains_key(&name) {
            return Err(Error::DuplicateParam(name));
        }
        let serial = NEXT_PARAM.fetch_add(1, Ordering::Relaxed);
        let id = ParamId::new(self.identity, self.values.len(), serial);
        self.by_name.insert(name.clone(), id);
        self.names.push(name);
        self.values.push(value);
        self.serials.push(serial);
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
        let serials = self.serials.clone();
        serials.into_iter().enumerate().map(move |(index, serial)| ParamId::new(store, index, serial))
    }

    /// `(id, name, value)` for every parameter, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &str, &Array2<f64>)> {
        // The ids from the serials in place (`ids` copies them, to borrow nothing).
        let ids = self
            .serials
            .iter()
            .enumerate()
            .map(|(index, &serial)| ParamId::new(self.identity, index, serial));
        ids.zip(&self.names).zip(&self.values).map(|((id, name), v)| (id, name.as_str(), v))
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

    /// A copy holding the values of `ids` only, under the same ids and names: what an
    /// operation that outlives the borrow of its store, such as an ODE solve recorded
    /// as one tape node, keeps of the parameters it reads. Reading another of the
    /// store's parameters from it is [`Error::ForeignHandle`] (its value is not kept).
    pub fn snapshot(&self, ids: &[ParamId]) -> Result<ParamStore> {
        let mut values = vec![Array2::zeros((0, 0)); self.values.len()];
        let mut left_out = vec![true; self.values.len()];
        for id in ids {
            let i = self.position(*id, "ParamStore::snapshot")?;
            values[i] = self.values[i].clone();
            left_out[i] = false;
        }
        Ok(ParamStore {
            identity: self.identity,
            names: self.names.clone(),
            values,
            serials: self.serials.clone(),
            left_out,
            by_name: self.by_name.clone(),
        })
    }

    /// The shape of a parameter.
    pub fn shape(&self, id: ParamId) -> Result<Shape> {
        Ok(self.values[self.position(id, "ParamStore::shape")?].dim())
    }
}

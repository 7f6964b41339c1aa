//! [`ParamGrads`]: parameter gradients indexed like the [`ParamStore`], with the few
//! whole-set operations training needs (norm, scaling, weighted sums, finiteness).

use crate::finite::first_non_finite;
use crate::{Error, ParamId, ParamStore, Result};
use ndarray::{Array2, Zip};

/// One optional gradient per parameter of one [`ParamStore`], at index
/// [`ParamId::index`]; `None` for a parameter the loss does not use (optimizers skip
/// it, as PyTorch skips `grad is None`). The gradients belong to the store of their
/// first parameter: setting one of another store is [`Error::ForeignHandle`], and
/// [`get`](Self::get) with such an id finds nothing.
/// [`Tape::backward`](crate::Tape::backward) returns them inside its
/// [`Gradients`](crate::Gradients); optimizers and clipping take them as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamGrads {
    /// The identity of the store whose parameters these are (none before the first).
    store: Option<u64>,
    /// At each parameter's index, its serial number and gradient.
    grads: Vec<Option<(u64, Array2<f64>)>>,
}

impl ParamGrads {
    /// The gradient of a parameter, if the loss used it (an id of another store finds
    /// nothing: the loss does not depend on another store's parameters).
    pub fn get(&self, id: ParamId) -> Option<&Array2<f64>> {
        match self.grads.get(id.index()) {
            Some(Some((serial, g))) if self.store == Some(id.store()) && *serial == id.serial() => Some(g),
            _ => None,
        }
    }

    /// The gradient held for `id` (if any), checked to belong with the gradients
    /// already held: the same store, and no other parameter (of a clone) at its place.
    fn held(&self, id: ParamId, op: &'static str) -> Result<Option<&Array2<f64>>> {
        let foreign = |owner: &str| Error::ForeignHandle {
            op,
            what: format!("parameter id #{}", id.index()),
            owner: owner.to_owned(),
        };
        if self.store.is_some_and(|store| store != id.store()) {
            return Err(foreign("another parameter store than the gradients already held"));
        }
        match self.grads.get(id.index()) {
            Some(Some((serial, _))) if *serial != id.serial() => {
                Err(foreign("a clone of the store, beside another parameter at its position"))
            }
            Some(Some((_, g))) => Ok(Some(g)),
            _ => Ok(None),
        }
    }

    /// The slot of `id`, checked as [`held`](Self::held) does.
    fn slot(&mut self, id: ParamId, op: &'static str) -> Result<&mut Option<(u64, Array2<f64>)>> {
        self.held(id, op)?;
        self.store = Some(id.store());
        if self.grads.len() <= id.index() {
            self.grads.resize(id.index() + 1, None);
        }
        Ok(&mut self.grads[id.index()])
    }

    /// Sets (or replaces) the gradient of a parameter; a parameter of another store
    /// than the gradients already held is [`Error::ForeignHandle`].
    pub fn set(&mut self, id: ParamId, g: Array2<f64>) -> Result<()> {
        *self.slot(id, "ParamGrads::set")? = Some((id.serial(), g));
        Ok(())
    }

    /// Adds `g` into the gradient of a parameter (a parameter bound twice on one tape
    /// gets both contributions).
    pub(crate) fn accumulate(&mut self, id: ParamId, g: Array2<f64>) -> Result<()> {
        match self.slot(id, "ParamGrads::accumulate")? {
            Some((_, acc)) => *acc += &g,
            empty => *empty = Some((id.serial(), g)),
        }
        Ok(())
    }

    /// Every present gradient with its parameter id.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &Array2<f64>)> {
        let store = self.store.unwrap_or_default();
        self.grads.iter().enumerate().filter_map(move |(i, entry)| {
            entry.as_ref().map(|(serial, g)| (ParamId::new(store, i, *serial), g))
        })
    }

    /// Every present gradient, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ParamId, &mut Array2<f64>)> {
        let store = self.store.unwrap_or_default();
        self.grads.iter_mut().enumerate().filter_map(move |(i, entry)| {
            entry.as_mut().map(|(serial, g)| (ParamId::new(store, i, *serial), g))
        })
    }

    /// Euclidean norm of all gradients stacked into one vector.
    pub fn global_norm(&self) -> f64 {
        self.iter().map(|(_, g)| g.iter().map(|v| v * v).sum::<f64>()).sum::<f64>().sqrt()
    }

    /// Multiplies every gradient by `c`.
    pub fn scale(&mut self, c: f64) {
        for (_, g) in self.iter_mut() {
            g.mapv_inplace(|v| v * c);
        }
    }

    /// `self += w * other`, parameter by parameter (a gradient missing on one side
    /// counts as zero). Checked before anything is added: on an error (parameters of
    /// another store, shapes that differ) `self` is left as it was.
    pub fn add_scaled(&mut self, other: &ParamGrads, w: f64) -> Result<()> {
        for (id, g) in other.iter() {
            match self.held(id, "ParamGrads::add_scaled")? {
                Some(acc) if acc.dim() != g.dim() => {
                    return Err(Error::Invalid {
                        op: "ParamGrads::add_scaled",
                        reason: format!("parameter {}: shapes {:?} and {:?}", id.index(), acc.dim(), g.dim()),
                    });
                }
                _ => {}
            }
        }
        for (id, g) in other.iter() {
            match self.slot(id, "ParamGrads::add_scaled")? {
                Some((_, acc)) => Zip::from(acc).and(g).for_each(|a, &b| *a += w * b),
                empty => *empty = Some((id.serial(), g.mapv(|v| w * v))),
            }
        }
        Ok(())
    }

    /// The first non-finite entry, named after its parameter in `store`:
    /// `"gradient of parameter `w` at (0, 1) = NaN"`.
    pub fn first_non_finite(&self, store: &ParamStore) -> Option<String> {
        self.iter().find_map(|(id, g)| {
            first_non_finite(g).map(|((r, c), v)| {
                let name = store.name(id).unwrap_or("of another store");
                format!("gradient of parameter `{name}` at ({r}, {c}) = {v}")
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn weighted_sums_treat_a_missing_gradient_as_zero_and_name_a_shape_clash() {
        let mut store = ParamStore::new();
        let [a, unused, b] = ["a", "unused", "b"].map(|name| store.add(name, array![[0.0]]).unwrap());
        let mut acc = ParamGrads::default();
        acc.set(a, array![[1.0, 2.0]]).unwrap();
        let mut other = ParamGrads::default();
        other.set(a, array![[3.0, 4.0]]).unwrap();
        other.set(b, array![[1.0]]).unwrap();
        acc.add_scaled(&other, 0.5).unwrap();
        assert_eq!(acc.get(a), Some(&array![[2.5, 4.0]]));
        assert_eq!(acc.get(b), Some(&array![[0.5]]));
        assert_eq!(acc.get(unused), None);
        assert!((acc.global_norm() - (2.5f64.powi(2) + 16.0 + 0.25).sqrt()).abs() < 1e-15);
        let mut clash = ParamGrads::default();
        clash.set(a, array![[1.0]]).unwrap();
        let err = acc.add_scaled(&clash, 1.0).unwrap_err();
        assert!(err.to_string().contains("parameter 0: shapes (1, 2) and (1, 1)"), "{err}");
    }

    #[test]
    fn gradients_of_another_store_are_refused_and_not_found() {
        let (mut mine, mut other) = (ParamStore::new(), ParamStore::new());
        let (a, foreign) = (mine.add("a", array![[0.0]]).unwrap(), other.add("a", array![[0.0]]).unwrap());
        let mut grads = ParamGrads::default();
        grads.set(a, array![[1.0]]).unwrap();
        assert_eq!(grads.get(foreign), None, "same index, another store");
        let err = grads.set(foreign, array![[2.0]]).unwrap_err();
        assert!(matches!(err, Error::ForeignHandle { op: "ParamGrads::set", .. }), "{err}");
        let mut theirs = ParamGrads::default();
        theirs.set(foreign, array![[2.0]]).unwrap();
        assert!(matches!(grads.add_scaled(&theirs, 1.0), Err(Error::ForeignHandle { .. })));
        assert_eq!(grads.get(a), Some(&array![[1.0]]), "left as it was");
    }
}

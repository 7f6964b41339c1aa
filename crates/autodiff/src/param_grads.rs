//! [`ParamGrads`]: parameter gradients indexed like the [`ParamStore`], with the few
//! whole-set operations training needs (norm, scaling, weighted sums, finiteness).

use crate::finite::first_non_finite;
use crate::{Error, ParamId, ParamStore, Result};
use ndarray::{Array2, Zip};

/// One optional gradient per parameter, at index [`ParamId::index`]; `None` for a
/// parameter the loss does not use (optimizers skip it, as PyTorch skips `grad is None`).
/// [`Tape::backward`](crate::Tape::backward) returns them inside its
/// [`Gradients`](crate::Gradients); optimizers and clipping take them as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamGrads(Vec<Option<Array2<f64>>>);

impl From<Vec<Option<Array2<f64>>>> for ParamGrads {
    fn from(v: Vec<Option<Array2<f64>>>) -> Self {
        ParamGrads(v)
    }
}

impl ParamGrads {
    /// The gradient of a parameter, if the loss used it.
    pub fn get(&self, id: ParamId) -> Option<&Array2<f64>> {
        self.0.get(id.index()).and_then(Option::as_ref)
    }

    /// Sets (or replaces) the gradient of a parameter.
    pub fn set(&mut self, id: ParamId, g: Array2<f64>) {
        if self.0.len() <= id.index() {
            self.0.resize(id.index() + 1, None);
        }
        self.0[id.index()] = Some(g);
    }

    /// Every present gradient with its parameter id.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &Array2<f64>)> {
        self.0.iter().enumerate().filter_map(|(i, g)| g.as_ref().map(|g| (ParamId::from_index(i), g)))
    }

    /// Every present gradient, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ParamId, &mut Array2<f64>)> {
        self.0.iter_mut().enumerate().filter_map(|(i, g)| g.as_mut().map(|g| (ParamId::from_index(i), g)))
    }

    /// The raw vector, indexed by [`ParamId::index`].
    pub fn into_inner(self) -> Vec<Option<Array2<f64>>> {
        self.0
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
    /// counts as zero).
    pub fn add_scaled(&mut self, other: &ParamGrads, w: f64) -> Result<()> {
        for (id, g) in other.iter() {
            match self.0.get_mut(id.index()).and_then(Option::as_mut) {
                Some(acc) if acc.dim() == g.dim() => Zip::from(acc).and(g).for_each(|a, &b| *a += w * b),
                Some(acc) => {
                    return Err(Error::Invalid {
                        op: "ParamGrads::add_scaled",
                        reason: format!("parameter {}: shapes {:?} and {:?}", id.index(), acc.dim(), g.dim()),
                    });
                }
                None => self.set(id, g.mapv(|v| w * v)),
            }
        }
        Ok(())
    }

    /// The first non-finite entry, named after its parameter in `store`:
    /// `"gradient of parameter `w` at (0, 1) = NaN"`.
    pub fn first_non_finite(&self, store: &ParamStore) -> Option<String> {
        self.iter().find_map(|(id, g)| {
            first_non_finite(g)
                .map(|((r, c), v)| format!("gradient of parameter `{}` at ({r}, {c}) = {v}", store.name(id)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn weighted_sums_treat_a_missing_gradient_as_zero_and_name_a_shape_clash() {
        let (a, b) = (ParamId::from_index(0), ParamId::from_index(2));
        let mut acc = ParamGrads::default();
        acc.set(a, array![[1.0, 2.0]]);
        let mut other = ParamGrads::default();
        other.set(a, array![[3.0, 4.0]]);
        other.set(b, array![[1.0]]);
        acc.add_scaled(&other, 0.5).unwrap();
        assert_eq!(acc.get(a), Some(&array![[2.5, 4.0]]));
        assert_eq!(acc.get(b), Some(&array![[0.5]]));
        assert_eq!(acc.get(ParamId::from_index(1)), None);
        assert!((acc.global_norm() - (2.5f64.powi(2) + 16.0 + 0.25).sqrt()).abs() < 1e-15);
        let mut clash = ParamGrads::default();
        clash.set(a, array![[1.0]]);
        let err = acc.add_scaled(&clash, 1.0).unwrap_err();
        assert!(err.to_string().contains("parameter 0: shapes (1, 2) and (1, 1)"), "{err}");
    }
}

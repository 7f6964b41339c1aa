//! Gradient clipping, as `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`.

use crate::{Error, Result};
use autodiff::ParamGrads;

/// Rescales all gradients together so that their global Euclidean norm is at most
/// `max_norm`, and returns the norm *before* clipping (as PyTorch does, so it can be
/// logged). The factor is `max_norm / (norm + 1e-6)`, applied only when below 1,
/// PyTorch's exact rule. A non-finite norm is returned unchanged, gradients untouched
/// (the NaN guard reports it).
pub fn clip_grad_norm(grads: &mut ParamGrads, max_norm: f64) -> Result<f64> {
    if max_norm.is_nan() || max_norm <= 0.0 {
        return Err(Error::config("clip_grad_norm", format!("max_norm must be positive, got {max_norm}")));
    }
    let norm = grads.global_norm();
    let coef = max_norm / (norm + 1e-6);
    if norm.is_finite() && coef < 1.0 {
        grads.scale(coef);
    }
    Ok(norm)
}

/// Clamps every gradient entry to `[-clip, clip]`.
pub fn clip_grad_value(grads: &mut ParamGrads, clip: f64) -> Result<()> {
    if clip.is_nan() || clip <= 0.0 {
        return Err(Error::config("clip_grad_value", format!("clip must be positive, got {clip}")));
    }
    for (_, g) in grads.iter_mut() {
        g.mapv_inplace(|v| v.clamp(-clip, clip));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use autodiff::ndarray::array;
    use autodiff::{ParamId, ParamStore};

    /// Two parameters of a store with three (the middle one without a gradient).
    fn ids() -> [ParamId; 2] {
        thread_local!(static IDS: [ParamId; 2] = {
            let mut store = ParamStore::new();
            let [a, _, b] = ["a", "b", "c"].map(|name| store.add(name, array![[0.0]]).expect("fresh name"));
            [a, b]
        });
        IDS.with(|ids| *ids)
    }

    fn grads() -> ParamGrads {
        let [a, b] = ids();
        let mut g = ParamGrads::default();
        g.set(a, array![[3.0, 0.0]]).unwrap();
        g.set(b, array![[0.0], [-4.0]]).unwrap();
        g
    }

    #[test]
    fn norm_clipping_rescales_and_returns_the_pre_clip_norm() {
        let mut g = grads();
        // The stacked vector (3, 0, 0, -4) has norm 5; clipped to 1 with factor 1 / (5 + 1e-6).
        assert_eq!(clip_grad_norm(&mut g, 1.0).unwrap(), 5.0);
        let c = 1.0 / (5.0 + 1e-6);
        assert_eq!(g.get(ids()[0]).unwrap(), &array![[3.0 * c, 0.0]]);
        assert_eq!(g.get(ids()[1]).unwrap(), &array![[0.0], [-4.0 * c]]);
        // Below the threshold nothing changes.
        let mut g = grads();
        assert_eq!(clip_grad_norm(&mut g, 10.0).unwrap(), 5.0);
        assert_eq!(g, grads());
    }

    #[test]
    fn value_clipping_clamps_entries() {
        let mut g = grads();
        clip_grad_value(&mut g, 2.0).unwrap();
        assert_eq!(g.get(ids()[0]).unwrap(), &array![[2.0, 0.0]]);
        assert_eq!(g.get(ids()[1]).unwrap(), &array![[0.0], [-2.0]]);
        assert!(clip_grad_value(&mut g, 0.0).is_err());
    }
}

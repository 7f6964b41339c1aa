//! The times a continuous-time scan passes through: the batch's observation times,
//! and query times merged among them (the ODE-RNN's and GRU-ODE-Bayes' predictions).

use crate::{Error, Result};

/// A stop of a scan: a time, and the batch step observed there if any.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stop {
    pub(crate) t: f64,
    pub(crate) step: Option<usize>,
}

/// One stop per observation time (`times`, the batch's union), in order.
pub(crate) fn observed(times: &[f64]) -> Vec<Stop> {
    times.iter().enumerate().map(|(j, &t)| Stop { t, step: Some(j) }).collect()
}

/// The observation times `obs` and the query times `queries` (checked: finite, from
/// `t0` on, strictly increasing; an error names `what` and the offending query)
/// merged in time order. A query at an observed time comes first, so that it sees
/// the state before that observation is read.
pub(crate) fn with_queries(what: &'static str, t0: f64, obs: &[f64], queries: &[f64]) -> Result<Vec<Stop>> {
    for (k, &t) in queries.iter().enumerate() {
        if !(t.is_finite() && t >= t0 && (k == 0 || t > queries[k - 1])) {
            return Err(Error::config(
                what,
                format!("query times must be finite, >= t0 = {t0} and increasing; times[{k}] = {t}"),
            ));
        }
    }
    let mut stops = Vec::with_capacity(obs.len() + queries.len());
    let (mut j, mut k) = (0, 0);
    while j < obs.len() || k < queries.len() {
        if k < queries.len() && (j == obs.len() || queries[k] <= obs[j]) {
            stops.push(Stop { t: queries[k], step: None });
            k += 1;
        } else {
            stops.push(Stop { t: obs[j], step: Some(j) });
            j += 1;
        }
    }
    Ok(stops)
}

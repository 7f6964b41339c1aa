//! Tsitouras 5(4).
//!
//! Ch. Tsitouras, "Runge-Kutta pairs of order 5(4) satisfying only the first column
//! simplifying assumption", Comput. Math. Appl. 62 (2011) 770-775, Table 1 (the
//! coefficients as printed to 16 digits, as in OrdinaryDiffEq.jl and diffrax). Seven
//! stages, FSAL. Dense output here is cubic Hermite (the paper's own fourth-order
//! interpolant is not included).

use crate::{ButcherTableau, DenseOutput};

/// The Tsit5 tableau.
pub(crate) fn tsit5() -> ButcherTableau {
    let b = vec![
        0.09646076681806523,
        0.01,
        0.4798896504144996,
        1.379008574103742,
        -3.290069515436081,
        2.324710524099774,
        0.0,
    ];
    let a = vec![
        vec![],
        vec![0.161],
        vec![-0.008480655492356989, 0.335480655492357],
        vec![2.8971530571054935, -6.359448489975075, 4.3622954328695815],
        vec![5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525],
        vec![
            5.86145544294642,
            -12.92096931784711,
            8.159367898576159,
            -0.071584973281401,
            -0.028269050394068383,
        ],
        b[..6].to_vec(),
    ];
    let c = vec![0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0];
    let e = vec![
        -0.001_780_011_052_225_777,
        -0.0008164344596567469,
        0.007880878010261995,
        -0.1447110071732629,
        0.5823571654525552,
        -0.45808210592918697,
        1.0 / 66.0,
    ];
    ButcherTableau::new("tsit5", 5, a, b, c, Some((e, 4)), DenseOutput::Hermite)
        .expect("the Tsit5 coefficients pass the tableau checks (tested)")
}

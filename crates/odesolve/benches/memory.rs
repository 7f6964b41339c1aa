//! Peak heap memory of one gradient computation, adjoint versus backprop through the
//! solver, as the number of solver steps grows (the horizon grows tenfold per row pair).
//!
//! A counting global allocator records the peak of bytes in use; implementing
//! `GlobalAlloc` needs `unsafe`, which is confined to this benchmark binary: every call
//! forwards to the system allocator unchanged.
#![allow(unsafe_code)]

mod common;

use common::{NeuralOde, Variant};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` with the same arguments; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak bytes above the baseline while `f` runs.
fn peak_during<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = f();
    (PEAK.load(Ordering::Relaxed) - base, r)
}

fn main() {
    let model = NeuralOde::new(10, 20);
    println!("| horizon | variant | accepted steps (fwd) | evaluations fwd + bwd | peak heap |");
    println!("|---|---|---|---|---|");
    for t_end in [2.5, 25.0, 250.0, 2500.0] {
        let m = model.with_horizon(t_end);
        for (name, v) in [
            ("dopri5 backprop", Variant::Dopri5Backprop),
            ("dopri5 adjoint", Variant::Dopri5Adjoint { seminorm: false }),
        ] {
            let (bytes, (_, fwd, bwd)) = peak_during(|| m.gradients(v));
            println!(
                "| [0, {t_end}] | {name} | {} | {} + {} | {:.1} KiB |",
                fwd.naccept,
                fwd.nfev,
                bwd.nfev,
                bytes as f64 / 1024.0
            );
        }
    }
}

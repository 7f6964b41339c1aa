//! Peak heap memory of a piece of code, for tests and benchmarks (the `testing`
//! feature): a counting global allocator and the peak it saw while a closure ran.
//!
//! A binary opts in by installing the allocator, once:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: autodiff::peak_memory::Counting = autodiff::peak_memory::Counting;
//! let (bytes, result) = autodiff::peak_memory::peak_during(|| work());
//! ```
//!
//! The counters see every thread of the process, so measure in a binary that runs
//! nothing else at the time (a benchmark, or a test file with one test).
#![allow(unsafe_code)] // implementing `GlobalAlloc` is unsafe: every call forwards to `System`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes in use and their peak.
#[derive(Debug, Clone, Copy)]
pub struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to `System` with the same arguments; the counters only
// observe the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is the system allocator's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

/// Runs `f` and returns the peak of bytes in use while it ran, above what was in use
/// before it, with its result. Zero unless [`Counting`] is the global allocator.
pub fn peak_during<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = IN_USE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let result = f();
    (PEAK.load(Ordering::SeqCst).saturating_sub(before), result)
}

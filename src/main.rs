//! The entry point, called by the C runtime directly.
//!
//! std's own start-up (`fn main`) also installs a stack-overflow handler, and for the main thread
//! that means glibc reading and scanning /proc/self/maps, a noticeable part of a start (docs/performance.md
//! has the figure). The two things of it that roothooks needs, standard
//! descriptors that are open and SIGPIPE ignored, are done by `system::prepare_process`. Command-line arguments still reach
//! `std::env::args`: on glibc std takes them from the C runtime. A stack overflow now ends the
//! process with SIGSEGV instead of a message first.
// (In `cargo test`, libtest's own main is the entry, so this one steps aside.)
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
use std::os::raw::{c_char, c_int};

#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    // exit, not return: it flushes std's stdout buffer (--dry-run's plan) first
    std::process::exit(c_int::from(roothooks::main()))
}

// Without libgcc_s: see the module. Only where nothing unwinds and the unwinder is not linked in.
#[cfg(all(not(test), panic = "abort", target_os = "linux", target_env = "gnu", not(target_feature = "crt-static")))]
mod unwind;

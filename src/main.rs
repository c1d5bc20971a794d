//! The entry point, called by the C runtime directly.
//!
//! std's own start-up (`fn main`) also installs a stack-overflow handler, and for the main thread
//! that means glibc reading and scanning /proc/self/maps: about a fifth of roothooks' own start-up
//! time. The two things of it that roothooks needs, standard descriptors that are open and SIGPIPE
//! ignored, are done by `system::prepare_process`. Command-line arguments still reach
//! `std::env::args`: on glibc std takes them from the C runtime. A stack overflow now ends the
//! process with SIGSEGV instead of a message first.
#![no_main]

use std::os::raw::{c_char, c_int};

#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    // exit, not return: it flushes std's stdout buffer (--dry-run's plan) first
    std::process::exit(c_int::from(roothooks::main()))
}

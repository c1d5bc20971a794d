//! The entry point, called by the C runtime directly, so that a start with its standard
//! descriptors closed and no /dev/null (a bare chroot, an empty /dev) still runs.
//!
//! std's own start-up (`fn main`) makes sure descriptors 0-2 are open before any code of ours runs,
//! and where one is closed and /dev/null cannot be opened it aborts the process: no hook would run
//! and no server start (`drop::without_dev_null_hooks_still_run_and_a_closed_descriptor_is_still_held`
//! holds this). `system::prepare_process` does what roothooks needs of that start-up instead: the
//! standard descriptors held open (by /dev/null, or by `/` opened with `O_PATH` where there is none)
//! and SIGPIPE ignored. Command-line arguments still reach `std::env::args`: on glibc std takes them
//! from the C runtime. A stack overflow ends the process with SIGSEGV, without std's message first.
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

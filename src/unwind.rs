//! The unwinder's entry points, for the dynamically linked build with `panic = "abort"` (the release
//! profile: what `cargo install` and `pip install` give).
//!
//! std refers to libgcc's unwinder (`_Unwind_*`) for backtraces and for unwinding panics, so the
//! linker makes the binary need libgcc_s.so.1. Loading it is the largest start-up cost that only the
//! dynamic build pays: one more library mapped and relocated, and its constructor's CPU
//! identification (`__cpu_indicator_init`, a handful of `cpuid`s, each a trap to the hypervisor in a
//! virtual machine). Measured side by side (bench/interleave.rs, 800 rounds, files-only nsswitch):
//! 2.37 ms with libgcc_s, 2.19 ms without. With `panic = "abort"` nothing unwinds: a panic prints
//! its message and aborts. What is left is a backtrace, which these entry points answer with an
//! empty one; defining them here means libgcc_s is never needed (the linker's --as-needed drops it).
//! A build that unwinds (tests, `panic = "unwind"`) or links statically (libgcc_eh) keeps the real
//! unwinder: these are not compiled there.

use std::ffi::c_void;

/// `_URC_END_OF_STACK`: the backtrace is over before it begins.
const END_OF_STACK: i32 = 5;

#[no_mangle]
extern "C" fn _Unwind_Backtrace(_trace: *const c_void, _data: *mut c_void) -> i32 {
    END_OF_STACK
}

#[no_mangle]
extern "C" fn _Unwind_GetIP(_context: *mut c_void) -> usize {
    0
}

#[no_mangle]
extern "C" fn _Unwind_GetIPInfo(_context: *mut c_void, _before: *mut i32) -> usize {
    0
}

#[no_mangle]
extern "C" fn _Unwind_GetDataRelBase(_context: *mut c_void) -> usize {
    0
}

#[no_mangle]
extern "C" fn _Unwind_GetTextRelBase(_context: *mut c_void) -> usize {
    0
}

#[no_mangle]
extern "C" fn _Unwind_GetRegionStart(_context: *mut c_void) -> usize {
    0
}

#[no_mangle]
extern "C" fn _Unwind_GetLanguageSpecificData(_context: *mut c_void) -> *mut c_void {
    std::ptr::null_mut()
}

#[no_mangle]
extern "C" fn _Unwind_SetGR(_context: *mut c_void, _index: i32, _value: usize) {}

#[no_mangle]
extern "C" fn _Unwind_SetIP(_context: *mut c_void, _value: usize) {}

/// Only a landing pad calls this, and with `panic = "abort"` no unwinding ever reaches one.
#[no_mangle]
extern "C" fn _Unwind_Resume(_exception: *mut c_void) -> ! {
    std::process::abort()
}

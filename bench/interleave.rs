//! Times commands round-robin: one run of each in turn, in a new order every round, so that slow
//! drift of a shared machine (frequency, neighbours) falls on every command alike, and so does
//! whatever one command leaves behind for the next. For each command,
//! prints `index median_seconds p25 p75` on one line. (Peak RSS is not taken here: std spawns with
//! CLONE_VM, so a child's peak would include this process's memory.)
//!
//! cargo bench --bench interleave -- RUNS 'command one' 'command two' ...
//! Commands are split on whitespace; put anything that needs quoting into a script.

use std::process::{Command, Stdio};
use std::time::Instant;

use nix::libc;

/// Run `argv` once; wall time in seconds.
fn once(argv: &[&str]) -> f64 {
    let start = Instant::now();
    // reaped with wait4 below, which clippy cannot see
    #[allow(clippy::zombie_processes)]
    let child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", argv[0]));
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: status and usage are valid for writes; the child is ours and not waited for yet.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{argv:?} failed (status {status:#x})");
    elapsed
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    // cargo bench passes --bench; keep only our own arguments
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let runs: usize = args.first().and_then(|r| r.parse().ok()).expect("first argument: number of runs");
    let commands: Vec<Vec<&str>> = args[1..].iter().map(|c| c.split_whitespace().collect()).collect();
    assert!(!commands.is_empty(), "no commands given");
    let mut times = vec![Vec::with_capacity(runs); commands.len()];
    let warmup = (runs / 20).max(3);
    // A new order every round (a fixed-seed shuffle): with a rotation each command always followed the
    // same one, and a command that leaves the machine busy after it exits (a Python start freeing its
    // memory) slowed the one after it every time.
    let mut order: Vec<usize> = (0..commands.len()).collect();
    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    for round in 0..warmup + runs {
        for k in (1..order.len()).rev() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            order.swap(k, (seed >> 33) as usize % (k + 1));
        }
        for &i in &order {
            let t = once(&commands[i]);
            if round >= warmup {
                times[i].push(t);
            }
        }
    }
    for (i, t) in times.iter_mut().enumerate() {
        t.sort_by(f64::total_cmp);
        println!("{i} {} {} {}", quantile(t, 0.5), quantile(t, 0.25), quantile(t, 0.75));
    }
}

use super::*;

/// Lines the kernel wrote (Linux 6.18), for the three states `descendants` must tell apart.
#[test]
fn a_dead_leader_with_live_threads_runs_and_a_zombie_does_not() {
    let tail = "0 0 18446744073709551615 0 0 0 0 0 0 0 16781318 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0";
    // a setsid python3 whose main thread called pthread_exit while one other thread sleeps
    let dead_leader =
        format!("2065 (python3) Z 2062 2065 2065 0 -1 4227084 1221 0 2 0 1 0 0 0 20 0 2 0 166377 {tail}\n");
    // a process that exited
    let zombie = format!("2156 (python3) Z 2115 2113 453 0 -1 4227148 230 0 0 0 0 0 0 0 20 0 1 0 167771 {tail}\n");
    let sleeping = format!("2068 (a (b) c) S 1 7 7 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 166377 {tail}\n");
    let stat = parse_stat(&dead_leader);
    assert_eq!(
        stat.as_ref().map(|s| (s.running, s.session, s.group)),
        Some((true, Pid::from_raw(2065), Pid::from_raw(2065)))
    );
    assert_eq!(parse_stat(&zombie).map(|s| (s.running, s.parent)), Some((false, Pid::from_raw(2115))));
    assert_eq!(parse_stat(&sleeping).map(|s| (s.running, s.name)), Some((true, "a (b) c".to_string())));
    // a zombie whose thread count is cut off is no running process
    assert_eq!(parse_stat("9 (x) Z 1 9 9 0 -1").map(|s| s.running), Some(false));
    assert_eq!(parse_stat("9 (x) S 1 9"), None, "no session: not a line");
}

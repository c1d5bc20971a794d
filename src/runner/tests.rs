use super::output::LineBuffer;
use super::*;

fn lines(chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut buf = LineBuffer::default();
    for chunk in chunks {
        buf.push(chunk, |l, cut| out.push((l.to_vec(), cut)));
    }
    buf.finish(|l, cut| out.push((l.to_vec(), cut)));
    out
}

#[test]
fn lines_are_split_across_reads_and_the_last_is_flushed() {
    let got = lines(&[b"one\ntw", b"o\nthree"]);
    assert_eq!(got, vec![(b"one".to_vec(), false), (b"two".to_vec(), false), (b"three".to_vec(), false)]);
}

#[test]
fn an_enormous_line_is_cut_and_the_buffer_stays_bounded() {
    let big = vec![b'x'; MAX_LINE * 3 + 10];
    let mut buf = LineBuffer::default();
    let mut pieces = Vec::new();
    for chunk in big.chunks(7_000) {
        buf.push(chunk, |l, cut| pieces.push((l.len(), cut)));
        assert!(buf.pending.len() <= MAX_LINE);
    }
    buf.finish(|l, cut| pieces.push((l.len(), cut)));
    assert_eq!(pieces, vec![(MAX_LINE, true), (MAX_LINE, true), (MAX_LINE, true), (10, false)]);
}

#[test]
fn pieces_do_not_depend_on_how_reads_fall() {
    let mut input = vec![b'y'; 100];
    input.push(b'\n');
    input.extend(vec![b'x'; MAX_LINE * 2 + 500]);
    input.push(b'\n');
    input.extend(vec![b'z'; MAX_LINE]);
    input.push(b'\n');
    let expected = vec![(100, false), (MAX_LINE, true), (MAX_LINE, true), (500, false), (MAX_LINE, false)];
    for size in [1, 7, 4096, MAX_LINE - 1, MAX_LINE, MAX_LINE + 3, input.len()] {
        let mut buf = LineBuffer::default();
        let mut pieces = Vec::new();
        for chunk in input.chunks(size) {
            buf.push(chunk, |l, cut| pieces.push((l.len(), cut)));
        }
        buf.finish(|l, cut| pieces.push((l.len(), cut)));
        assert_eq!(pieces, expected, "reads of {size} bytes");
    }
}

#[test]
fn summary_names_the_failures() {
    let r = |name: &str, outcome| HookResult { name: name.into(), outcome, duration: Duration::ZERO };
    let results = [r("10-a", HookOutcome::Ok), r("20-mount", HookOutcome::Exit(3)), r("30-b", HookOutcome::Ok)];
    assert_eq!(summary(&results, Duration::from_millis(1400)), "3 hooks: 2 ok, 1 failed (20-mount: exit 3) in 1.4 s");
}

#[test]
fn what_shares_a_kept_daemons_session_or_group_is_kept_and_roothooks_own_keep_nothing() {
    use crate::system::process::Below;
    let pid = Pid::from_raw;
    // roothooks is 10, its session 1 and its group 5; the stopped hook is 20
    let (session, group, hook) = (pid(1), pid(5), pid(20));
    let kin = stop::Kin { shared: [group, hook], session: Some(session) };
    let below = |p: i32, parent: i32, group: i32, session: i32| Below {
        pid: pid(p),
        parent: pid(parent),
        group: pid(group),
        session: pid(session),
        name: "x".into(),
    };
    // a daemon of its own session, and one left in roothooks' session in its old hook's group (15)
    let kept = [below(30, 10, 30, 30), below(40, 10, 15, 1)];
    let cases = [
        (below(31, 10, 30, 30), true, "a setsid daemon's double-forked worker"),
        (below(32, 10, 32, 30), true, "a worker that made a group of its own in the daemon's session"),
        (below(41, 10, 15, 1), true, "the worker of a daemon left in its old hook's group"),
        (below(50, 30, 50, 50), true, "a daemon's child in a session of its own"),
        (below(60, 10, 60, 60), false, "an escapee in a session of its own"),
        (below(61, 10, 61, 1), false, "an escapee in a group of its own (GNU timeout)"),
        (below(62, 10, 20, 1), false, "an escapee in the hook's group"),
        (below(63, 10, 5, 1), false, "an escapee in roothooks' group"),
        (below(64, 10, 64, 20), false, "a user hook's escapee in the hook's session"),
    ];
    for (process, keeps, what) in cases {
        assert_eq!(kin.belongs(&process, &kept), keeps, "{what}");
    }
    // with roothooks' session unknown, no session keeps anything; a group still does
    let blind = stop::Kin { shared: [group, hook], session: None };
    assert!(!blind.belongs(&below(32, 10, 32, 30), &kept));
    assert!(blind.belongs(&below(31, 10, 30, 30), &kept));
}

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

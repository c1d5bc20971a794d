//! The filter's classic BPF program, shaped as a binary search over system call numbers.
//!
//! Why not a general filter compiler: the kernel's cost of installing a filter grows with its length
//! and with the path each call number takes through it. It converts and JITs every instruction, and it
//! runs the program once for every call number to fill its action cache (`seccomp_cache_prepare`, with
//! the process's signal lock held). A linear chain of comparisons, what seccompiler emits, makes each
//! number walk past every rule. Here the numbers are cut into intervals of equal answer (`0..=15`
//! allow, `16` look at ioctl's request, `17..=55` allow, ...) and found with `JGE` comparisons in a
//! balanced tree: about 6 comparisons for any number instead of up to a hundred, and one program for
//! every answer (EPERM and clone3's ENOSYS alike) instead of one program per errno.
//!
//! Only what the kernel's cache emulator follows is used on the way to an answer (loads of the number
//! and the architecture, `JGE`/`JEQ`/`JSET` on constants, `RET`), so every number that is allowed
//! whatever its arguments is cached as allowed and costs nothing after the install. Jumps in classic
//! BPF go forward only, at most 255 instructions: the tree comes first, the answers after it, and a
//! program that would need a longer jump is refused when it is built.

use std::collections::BTreeMap;

use nix::libc;

/// One instruction, in the layout `seccomp(2)` takes.
pub type Insn = libc::sock_filter;

/// A test on one argument of a call: only its low 32 bits, which on the architectures built for
/// (little-endian x86_64 and aarch64) are at `args[i]`'s own offset. Both tests here are on values
/// the kernel itself reads as 32-bit (ioctl's request) or whose bit lies in the low half (clone flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Test {
    /// argument `arg` has a bit of `mask` set (one flag, as used here)
    FlagSet { arg: u8, mask: u32 },
    /// argument `arg` is `value`
    Equals { arg: u8, value: u32 },
}

impl Test {
    fn arg(self) -> u8 {
        match self {
            Test::FlagSet { arg, .. } | Test::Equals { arg, .. } => arg,
        }
    }
}

/// What the filter answers for one call number that is not simply allowed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Answer {
    /// fail with this errno, whatever the arguments
    Errno(u16),
    /// fail with this errno when any of the tests holds; otherwise allow
    ErrnoIf(u16, Vec<Test>),
}

/// Where a jump goes: the next instruction, or a place named by [`Builder::label`].
#[derive(Debug, Clone, Copy)]
enum Target {
    Next,
    Label(usize),
}

/// An instruction whose jumps are still names.
struct Pending {
    code: u16,
    jt: Target,
    jf: Target,
    k: u32,
}

#[derive(Default)]
struct Builder {
    code: Vec<Pending>,
    /// instruction index of each label, once placed
    places: Vec<Option<usize>>,
}

// Classic BPF opcodes are 16 bits; libc declares their parts as u32 (all below 0x100).
#[allow(clippy::cast_possible_truncation)]
const LD_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
#[allow(clippy::cast_possible_truncation)]
const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
#[allow(clippy::cast_possible_truncation)]
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
#[allow(clippy::cast_possible_truncation)]
const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
#[allow(clippy::cast_possible_truncation)]
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets in `struct seccomp_data`: the call number, the architecture, the arguments.
const NR: u32 = 0;
const ARCH: u32 = 4;
fn arg_offset(arg: u8) -> u32 {
    16 + 8 * u32::from(arg)
}

impl Builder {
    fn label(&mut self) -> usize {
        self.places.push(None);
        self.places.len() - 1
    }

    fn place(&mut self, label: usize) {
        if let Some(place) = self.places.get_mut(label) {
            *place = Some(self.code.len());
        }
    }

    fn push(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.code.push(Pending { code, jt, jf, k });
    }

    /// Resolve every jump into a forward offset of at most 255.
    fn finish(self) -> Result<Vec<Insn>, String> {
        let places = &self.places;
        let offset = |from: usize, target: Target| -> Result<u8, String> {
            let Target::Label(label) = target else { return Ok(0) };
            let to = places.get(label).copied().flatten().ok_or("a jump to a label never placed")?;
            let distance = to.checked_sub(from + 1).ok_or("a backward jump")?;
            u8::try_from(distance).map_err(|_| format!("a jump of {distance} instructions (at most 255)"))
        };
        self.code
            .iter()
            .enumerate()
            .map(|(i, p)| Ok(Insn { code: p.code, jt: offset(i, p.jt)?, jf: offset(i, p.jf)?, k: p.k }))
            .collect()
    }
}

/// The program for architecture `arch` (an `AUDIT_ARCH_*` value): a call made under another
/// architecture's ABI kills the process, a number in `answers` gets its answer, every number from
/// `rest`'s on gets `rest`'s answer (x32's range), every other number is allowed. Fails only when the
/// program cannot be expressed (a number of `answers` inside `rest`, a jump over 255 instructions, or
/// more than `BPF_MAXINSNS` instructions).
pub fn program(arch: u32, answers: &BTreeMap<u32, Answer>, rest: Option<(u32, Answer)>) -> Result<Vec<Insn>, String> {
    if let (Some((from, _)), Some((&last, _))) = (&rest, answers.last_key_value()) {
        if last >= *from {
            return Err(format!("call number {last} lies in the range from {from} on"));
        }
    }
    // Intervals of equal answer, each by its first number; `None` is "allow".
    let mut intervals: Vec<(u32, Option<&Answer>)> = Vec::new();
    let mut next = 0u64; // the first number no interval covers yet: at most u32::MAX + 1
    let start = |next: u64| u32::try_from(next).map_err(|_| format!("an interval from {next}"));
    let rest_entry = rest.as_ref().map(|(from, answer)| (from, answer));
    for (&nr, answer) in answers.iter().chain(rest_entry) {
        if u64::from(nr) > next {
            intervals.push((start(next)?, None)); // a gap: allowed (below `nr`, so it fits)
        } else if intervals.last().is_some_and(|&(_, last)| last == Some(answer)) {
            next = u64::from(nr) + 1; // right after a number with the same answer: one interval
            continue;
        }
        intervals.push((nr, Some(answer)));
        next = u64::from(nr) + 1;
    }
    if rest.is_none() && next <= u64::from(u32::MAX) {
        intervals.push((start(next)?, None));
    }

    let mut b = Builder::default();
    // Each distinct answer's code, placed after the tree so that every jump is forward.
    let mut places: BTreeMap<Option<&Answer>, usize> = BTreeMap::new();
    for &(_, answer) in &intervals {
        if let std::collections::btree_map::Entry::Vacant(place) = places.entry(answer) {
            place.insert(b.label());
        }
    }

    let kill = b.label();
    b.push(LD_ABS, ARCH, Target::Next, Target::Next);
    b.push(JEQ, arch, Target::Next, Target::Label(kill));
    b.push(LD_ABS, NR, Target::Next, Target::Next);
    search(&mut b, &intervals, &places)?;

    b.place(kill);
    b.push(RET, libc::SECCOMP_RET_KILL_PROCESS, Target::Next, Target::Next);
    for (answer, &label) in &places {
        b.place(label);
        match answer {
            None => b.push(RET, libc::SECCOMP_RET_ALLOW, Target::Next, Target::Next),
            Some(Answer::Errno(errno)) => b.push(RET, errno_return(*errno), Target::Next, Target::Next),
            Some(Answer::ErrnoIf(errno, tests)) => {
                let deny = b.label();
                let mut loaded = None;
                for &test in tests {
                    if loaded != Some(test.arg()) {
                        b.push(LD_ABS, arg_offset(test.arg()), Target::Next, Target::Next);
                        loaded = Some(test.arg());
                    }
                    match test {
                        Test::FlagSet { mask, .. } => b.push(JSET, mask, Target::Label(deny), Target::Next),
                        Test::Equals { value, .. } => b.push(JEQ, value, Target::Label(deny), Target::Next),
                    }
                }
                b.push(RET, libc::SECCOMP_RET_ALLOW, Target::Next, Target::Next);
                b.place(deny);
                b.push(RET, errno_return(*errno), Target::Next, Target::Next);
            }
        }
    }
    let program = b.finish()?;
    if program.len() > libc::BPF_MAXINSNS as usize {
        return Err(format!("{} instructions (at most {})", program.len(), libc::BPF_MAXINSNS));
    }
    Ok(program)
}

fn errno_return(errno: u16) -> u32 {
    libc::SECCOMP_RET_ERRNO | u32::from(errno)
}

/// The subtree that finds which of `intervals` (at least one, by first number, in order) holds the
/// number in the accumulator. An interval alone is a leaf: the jump to it goes straight to its
/// answer's code, so a leaf emits nothing; a subtree starts right where it is emitted.
fn search(
    b: &mut Builder,
    intervals: &[(u32, Option<&Answer>)],
    places: &BTreeMap<Option<&Answer>, usize>,
) -> Result<(), String> {
    if let [(_, answer)] = intervals {
        // no comparison left to make (no answers at all): JGE 0 always jumps
        let to = Target::Label(label_of(places, *answer)?);
        b.push(JGE, 0, to, to);
        return Ok(());
    }
    let (below, from) = intervals.split_at(intervals.len() / 2);
    let side = |b: &mut Builder, side: &[(u32, Option<&Answer>)]| -> Result<(Target, Option<usize>), String> {
        Ok(match side {
            [(_, answer)] => (Target::Label(label_of(places, *answer)?), None),
            _ => {
                let label = b.label();
                (Target::Label(label), Some(label))
            }
        })
    };
    let (if_below, below_label) = side(b, below)?;
    let (if_from, from_label) = side(b, from)?;
    let Some(&(first, _)) = from.first() else { return Err("an empty interval list".into()) };
    b.push(JGE, first, if_from, if_below);
    for (half, label) in [(below, below_label), (from, from_label)] {
        if let Some(label) = label {
            b.place(label);
            search(b, half, places)?;
        }
    }
    Ok(())
}

/// The label of an answer's code, every one of which was made before the search.
fn label_of(places: &BTreeMap<Option<&Answer>, usize>, answer: Option<&Answer>) -> Result<usize, String> {
    places.get(&answer).copied().ok_or_else(|| "an answer without a label".to_string())
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // test code: the low half of a 64-bit argument on purpose
/// A classic BPF interpreter for what [`program`] emits, as the kernel runs it: for checking
/// every number's path in a unit test. The integration tests run the real kernel's.
pub(super) fn run(program: &[Insn], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let word = |offset: u32| -> u32 {
        match offset {
            NR => nr,
            ARCH => arch,
            o if (16..64).contains(&o) && o % 4 == 0 => {
                let arg = args[(o as usize - 16) / 8];
                if o % 8 == 0 {
                    arg as u32
                } else {
                    (arg >> 32) as u32
                }
            }
            o => panic!("load from offset {o}"),
        }
    };
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let insn = program[pc];
        let jump = |taken: bool| pc + 1 + usize::from(if taken { insn.jt } else { insn.jf });
        pc = match insn.code {
            LD_ABS => {
                acc = word(insn.k);
                pc + 1
            }
            JGE => jump(acc >= insn.k),
            JEQ => jump(acc == insn.k),
            JSET => jump(acc & insn.k != 0),
            RET => return insn.k,
            code => panic!("instruction {code:#x} at {pc}"),
        };
    }
}

/// What `answers` says for `nr` with `args`, read off the table itself: what [`run`] must give for
/// [`program`]'s output.
#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // test code: the low half of a 64-bit argument on purpose
pub(super) fn answer_of(answers: &BTreeMap<u32, Answer>, nr: u32, args: [u64; 6]) -> u32 {
    let holds = |t: &Test| match *t {
        Test::FlagSet { arg, mask } => args[usize::from(arg)] as u32 & mask != 0,
        Test::Equals { arg, value } => args[usize::from(arg)] as u32 == value,
    };
    match answers.get(&nr) {
        None => libc::SECCOMP_RET_ALLOW,
        Some(Answer::Errno(e)) => errno_return(*e),
        Some(Answer::ErrnoIf(e, tests)) if tests.iter().any(holds) => errno_return(*e),
        Some(Answer::ErrnoIf(..)) => libc::SECCOMP_RET_ALLOW,
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // test code: the low half of a 64-bit argument on purpose
mod tests {
    use super::*;

    const ARCH_X: u32 = 0xC000_003E;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | 1;
    const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | 38;

    fn answers() -> BTreeMap<u32, Answer> {
        let ioctl =
            Answer::ErrnoIf(1, vec![Test::Equals { arg: 1, value: 0x5412 }, Test::Equals { arg: 1, value: 0xAA00 }]);
        let newuser = Answer::ErrnoIf(1, vec![Test::FlagSet { arg: 0, mask: 0x1000_0000 }]);
        BTreeMap::from([
            (0, Answer::Errno(1)),
            (16, ioctl.clone()),
            (56, newuser.clone()),
            (165, Answer::Errno(1)),
            (166, Answer::Errno(1)),
            (167, Answer::Errno(1)),
            (169, Answer::Errno(1)),
            (272, newuser),
            (435, Answer::Errno(38)),
            (436, Answer::Errno(1)),
            (0x4000_0000 | 514, ioctl),
            (u32::MAX, Answer::Errno(1)),
        ])
    }

    #[test]
    fn every_number_gets_the_tables_answer() {
        let answers = answers();
        let program = program(ARCH_X, &answers, None).unwrap();
        let argsets = [
            [0; 6],
            [0x1000_0000, 0x5412, 0, 0, 0, 0],
            [0x1100_0011, 0xAA00, 0, 0, 0, 0],
            [0xffff_ffff_0000_0000, 0x1_0000_5412, 0, 0, 0, 0],
        ];
        let numbers = (0..1200).chain(0x4000_0000..0x4000_0400).chain([u32::MAX - 1, u32::MAX, 0x8000_0000]);
        for nr in numbers {
            for args in argsets {
                assert_eq!(run(&program, nr, ARCH_X, args), answer_of(&answers, nr, args), "nr {nr} args {args:x?}");
            }
        }
        assert_eq!(run(&program, 435, ARCH_X, [0; 6]), ENOSYS);
        assert_eq!(run(&program, 16, ARCH_X, [0, 0x5412, 0, 0, 0, 0]), EPERM);
        // ioctl's request is an int: a request with other high bits is the same request
        assert_eq!(run(&program, 16, ARCH_X, [0, 0x1_0000_5412, 0, 0, 0, 0]), EPERM);
    }

    #[test]
    fn a_range_from_one_number_up_is_one_more_interval() {
        let table = BTreeMap::from([(16, Answer::Errno(1)), (435, Answer::Errno(38))]);
        let program = program(ARCH_X, &table, Some((0x4000_0000, Answer::Errno(38)))).unwrap();
        for nr in (0..1200).chain([0x3fff_ffff]) {
            assert_eq!(run(&program, nr, ARCH_X, [0; 6]), answer_of(&table, nr, [0; 6]), "nr {nr}");
        }
        for nr in [0x4000_0000, 0x4000_0000 | 16, 0x4000_0000 | 514, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
            assert_eq!(run(&program, nr, ARCH_X, [0; 6]), ENOSYS, "nr {nr:#x}");
        }
        // a number inside the range would be shadowed by it: refused when built
        let inside = BTreeMap::from([(0x4000_0010, Answer::Errno(1))]);
        assert!(super::program(ARCH_X, &inside, Some((0x4000_0000, Answer::Errno(38)))).is_err());
    }

    #[test]
    fn another_architecture_is_killed_before_any_answer() {
        let program = program(ARCH_X, &answers(), None).unwrap();
        for nr in [0, 1, 16, 435, 1000] {
            assert_eq!(run(&program, nr, 0x4000_0003, [0; 6]), libc::SECCOMP_RET_KILL_PROCESS);
        }
    }

    #[test]
    fn no_answers_allows_everything_and_one_answer_is_found() {
        let none = program(ARCH_X, &BTreeMap::new(), None).unwrap();
        assert_eq!(run(&none, 7, ARCH_X, [0; 6]), libc::SECCOMP_RET_ALLOW);
        let one = program(ARCH_X, &BTreeMap::from([(7, Answer::Errno(1))]), None).unwrap();
        assert_eq!(
            [6, 7, 8].map(|nr| run(&one, nr, ARCH_X, [0; 6])),
            [libc::SECCOMP_RET_ALLOW, EPERM, libc::SECCOMP_RET_ALLOW]
        );
    }

    #[test]
    fn the_search_is_a_balanced_tree_not_a_chain() {
        // 100 separate numbers, 200 intervals: a chain would take up to 200 comparisons
        let answers: BTreeMap<u32, Answer> = (0..100).map(|i| (i * 2 + 1, Answer::Errno(1))).collect();
        let program = program(ARCH_X, &answers, None).unwrap();
        let steps = |nr: u32| {
            let (mut pc, mut n) = (3usize, 0);
            while program[pc].code == JGE {
                let taken = nr >= program[pc].k;
                pc += 1 + usize::from(if taken { program[pc].jt } else { program[pc].jf });
                n += 1;
            }
            n
        };
        assert_eq!((0..220).map(steps).max(), Some(8), "log2(200) rounded up");
        assert!((0..220).all(|nr| run(&program, nr, ARCH_X, [0; 6])
            == if nr % 2 == 1 && nr < 200 { EPERM } else { libc::SECCOMP_RET_ALLOW }));
    }

    #[test]
    fn a_program_too_long_to_jump_over_is_refused() {
        // 2,000 numbers, each with its own arguments' test: answers far beyond one jump's reach
        let answers: BTreeMap<u32, Answer> =
            (0..2000).map(|i| (i * 2, Answer::ErrnoIf(1, vec![Test::Equals { arg: 0, value: i }]))).collect();
        let err = program(ARCH_X, &answers, None).unwrap_err();
        assert!(err.contains("at most 255"), "{err}");
    }
}

use std::process::ExitCode;

fn main() -> ExitCode {
    roothooks::main()
}

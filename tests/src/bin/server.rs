//! keel-server built inside keel-tests, so the end-to-end tests get its path from
//! `CARGO_BIN_EXE_keel-server-under-test` and cargo builds it before they run.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(keel_server::run(args));
}

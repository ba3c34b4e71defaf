//! The keel-server binary.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(keel_server::run(args));
}

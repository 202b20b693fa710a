fn main() {
    std::process::exit(elysiactl::cli::main());
}

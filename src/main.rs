fn main() {
    std::process::exit(etl_medic::cli::run());
}

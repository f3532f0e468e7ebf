fn main() -> std::process::ExitCode {
    shuangbai::cli::main()
}

// jemalloc rather than glibc's malloc: less time in malloc and free under load, and freed memory
// given back to the system by a background thread (options in .cargo/config.toml).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    shuangbai::cli::main()
}

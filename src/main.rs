// jemalloc rather than glibc's malloc: freed memory is given back to the system by a background
// thread, so an idle service shrinks (options in .cargo/config.toml; figures in the README).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    shuangbai::cli::main()
}

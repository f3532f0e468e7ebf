//! Layers import downward only: no module outside `src/routes/` and `src/startup.rs` (which
//! mounts the routes) imports `crate::routes`.

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_outside_the_routes_imports_them() {
    let mut files = Vec::new();
    rust_files(std::path::Path::new("src"), &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|p| !p.starts_with("src/routes") && !p.ends_with("startup.rs"))
        .filter(|p| {
            std::fs::read_to_string(p)
                .expect("read")
                .lines()
                .any(|l| !l.trim_start().starts_with("//") && l.contains("crate::routes"))
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(files.len() > 40, "the source files were found");
    assert!(
        offenders.is_empty(),
        "modules importing crate::routes: {offenders:?}"
    );
}

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

#[test]
fn no_route_module_imports_another_resources_module() {
    let shared = ["common", "responses", "shape"];
    let mut offenders = Vec::new();
    let mut route_files = 0;
    for entry in std::fs::read_dir("src/routes")
        .expect("read src/routes")
        .flatten()
    {
        let path = entry.path();
        let Some(own) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if own == "mod" || shared.contains(&own.as_str()) {
            continue;
        }
        route_files += 1;
        let text = std::fs::read_to_string(&path).expect("read");
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for prefix in ["crate::routes::", "super::"] {
                for (at, _) in line.match_indices(prefix) {
                    let rest = &line[at + prefix.len()..];
                    let module: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !module.is_empty() && module != own && !shared.contains(&module.as_str()) {
                        offenders.push(format!("{} imports routes::{module}", path.display()));
                    }
                }
            }
        }
    }
    assert!(route_files > 10, "the route modules were found");
    assert!(offenders.is_empty(), "{offenders:?}");
}

/// The spec names each schema after its Rust type, and utoipa keeps one schema per name: two
/// types of the same name would silently share one, and an operation would promise the other's
/// shape. So every type that derives `ToSchema` (or `IntoParams`, `ToResponse`) has a name of
/// its own.
#[test]
fn every_type_in_the_spec_has_a_name_of_its_own() {
    let mut files = Vec::new();
    rust_files(std::path::Path::new("src"), &mut files);
    let mut names: Vec<(String, String)> = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read");
        let mut derives_schema = false;
        for line in text.lines() {
            let l = line.trim_start();
            if l.starts_with("#[derive(") {
                derives_schema = ["ToSchema", "IntoParams", "ToResponse"]
                    .iter()
                    .any(|d| l.contains(d));
                continue;
            }
            if l.starts_with("#[") || l.starts_with("///") || l.starts_with("//") {
                continue;
            }
            if derives_schema {
                let rest = l.strip_prefix("pub ").unwrap_or(l);
                for kind in ["struct ", "enum "] {
                    if let Some(name) = rest.strip_prefix(kind) {
                        let name: String = name
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        names.push((name, path.display().to_string()));
                    }
                }
            }
            derives_schema = false;
        }
    }
    names.sort();
    assert!(
        names.len() > 50,
        "the spec's types were found: {}",
        names.len()
    );
    let twice: Vec<_> = names
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| format!("{} ({} and {})", w[0].0, w[0].1, w[1].1))
        .collect();
    assert!(twice.is_empty(), "types sharing a schema name: {twice:?}");
}

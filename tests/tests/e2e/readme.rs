//! The README's worked configurations are excerpts of the shipped files
//! (which the other tests run): every line of each block appears in its file,
//! in the same order.

use signed_headers_e2e::repository_root;

/// `(file, lines)` for each README block that starts `# envoy/<file> (excerpt)`.
fn readme_excerpts() -> Vec<(String, Vec<String>)> {
    let readme = std::fs::read_to_string(repository_root().join("README.md")).expect("README.md");
    let mut excerpts = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```yaml" {
            continue;
        }
        let block: Vec<String> = lines
            .by_ref()
            .take_while(|line| line.trim() != "```")
            .map(str::to_owned)
            .collect();
        let Some(file) = block
            .first()
            .and_then(|first| first.strip_prefix("# envoy/"))
            .and_then(|rest| rest.strip_suffix(" (excerpt)"))
        else {
            continue;
        };
        excerpts.push((file.to_owned(), block[1..].to_vec()));
    }
    excerpts
}

#[test]
fn readme_configurations_are_excerpts_of_the_shipped_files() {
    let excerpts = readme_excerpts();
    let mut files: Vec<&str> = excerpts.iter().map(|(file, _)| file.as_str()).collect();
    files.sort_unstable();
    assert_eq!(
        files,
        [
            "browser-login.yaml",
            "envoy.yaml",
            "ext-authz.yaml",
            "mtls.yaml"
        ],
        "one worked configuration per shipped file"
    );
    for (file, lines) in &excerpts {
        let path = repository_root().join("envoy").join(file);
        let shipped = std::fs::read_to_string(&path).expect("a shipped configuration");
        let shipped: Vec<&str> = shipped.lines().map(str::trim).collect();
        let mut from = 0;
        for line in lines
            .iter()
            .map(|line| line.trim())
            .filter(|line| !line.is_empty())
        {
            let found = shipped
                .iter()
                .skip(from)
                .position(|shipped_line| *shipped_line == line);
            let Some(offset) = found else {
                panic!(
                    "README excerpt of envoy/{file}: {line:?} is not in the file (in this order)"
                );
            };
            from += offset + 1;
        }
    }
}

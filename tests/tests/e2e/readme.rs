//! The README's worked configurations are excerpts of the shipped files
//! (which the other tests run), and its verifier examples excerpts of code
//! the build compiles (the JavaScript one is the app the rotation test
//! runs): every line of each block appears in
//! its file, in the same order.

use signed_headers_e2e::repository_root;

/// `(path from the repository root, lines)` for each README block whose
/// first line is `# envoy/<file> (excerpt)` (YAML), `# verifier-py/<file>
/// (excerpt)` (Python) or `// <path> (excerpt)`.
fn readme_excerpts() -> Vec<(String, Vec<String>)> {
    let readme = std::fs::read_to_string(repository_root().join("README.md")).expect("README.md");
    let mut excerpts = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if !line.trim().starts_with("```") {
            continue;
        }
        let block: Vec<String> = lines
            .by_ref()
            .take_while(|line| line.trim() != "```")
            .map(str::to_owned)
            .collect();
        let Some(path) = block.first().and_then(|first| {
            first
                .strip_prefix("# ")
                .filter(|rest| rest.starts_with("envoy/") || rest.starts_with("verifier-py/"))
                .or_else(|| first.strip_prefix("// "))
                .and_then(|rest| rest.strip_suffix(" (excerpt)"))
        }) else {
            continue;
        };
        excerpts.push((path.to_owned(), block[1..].to_vec()));
    }
    excerpts
}

/// Every non-empty line of `lines` is a line of the file at `path`, in order
/// (indentation aside).
fn assert_excerpt_of(path: &str, lines: &[String]) {
    let text = std::fs::read_to_string(repository_root().join(path))
        .unwrap_or_else(|err| panic!("README excerpt of {path}: {err}"));
    let file: Vec<&str> = text.lines().map(str::trim).collect();
    let mut from = 0;
    for line in lines
        .iter()
        .map(|line| line.trim())
        .filter(|line| !line.is_empty())
    {
        let found = file
            .iter()
            .skip(from)
            .position(|file_line| *file_line == line);
        let Some(offset) = found else {
            panic!("README excerpt of {path}: {line:?} is not in the file (in this order)");
        };
        from += offset + 1;
    }
}

#[test]
fn readme_configurations_are_excerpts_of_the_shipped_files() {
    let excerpts = readme_excerpts();
    let mut files: Vec<&str> = excerpts
        .iter()
        .filter_map(|(path, _)| path.strip_prefix("envoy/"))
        .collect();
    files.sort_unstable();
    assert_eq!(
        files,
        [
            "browser-login.yaml",
            "envoy.yaml",
            "ext-authz.yaml",
            "mtls.yaml",
            "route-settings.yaml"
        ],
        "one worked configuration per shipped file"
    );
    for (path, lines) in excerpts
        .iter()
        .filter(|(path, _)| path.starts_with("envoy/"))
    {
        assert_excerpt_of(path, lines);
    }
}

#[test]
fn readme_verifier_examples_are_excerpts_of_code_the_build_compiles() {
    let excerpts = readme_excerpts();
    let examples: Vec<&(String, Vec<String>)> = excerpts
        .iter()
        .filter(|(path, _)| !path.starts_with("envoy/"))
        .collect();
    let paths: Vec<&str> = examples.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "verifier/examples/verify.rs",
            "verifier-js/npm/test/verify-service.mjs",
            "verifier-py/tests/test_verifier.py"
        ]
    );
    for (path, lines) in examples {
        assert_excerpt_of(path, lines);
    }
}

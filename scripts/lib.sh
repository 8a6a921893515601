# Sourced by the scripts: where cargo builds, asked of cargo itself, so
# CARGO_TARGET_DIR and a configured build.target-dir are honoured.
target_dir() {
  cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}

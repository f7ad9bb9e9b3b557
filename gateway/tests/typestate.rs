//! The owner's typestate holds at compile time: code outside `sluice_gateway::owner`
//! cannot claim a request was authenticated, nor run a query that no policy judged and
//! no committed chain entry (or explicit unaudited token) covers. Each case must fail with the compiler error recorded beside
//! it (`TRYBUILD=overwrite` rewrites them after a deliberate change).

use std::path::{Path, PathBuf};

/// Compile-fail cases are only type-checked, so nothing links RocksDB. trybuild checks
/// them in a target directory of its own, where RocksDB's build script would compile
/// its C++ again (12 minutes on two cores); pointing its build script at a library
/// directory skips that. Cargo reads this config because trybuild's project lives
/// below the directory it is written to.
fn skip_rocksdb_cxx(target_dir: &Path) {
    let dir = target_dir.join("tests").join("trybuild").join(".cargo");
    std::fs::create_dir_all(&dir).expect("creating trybuild's cargo config directory");
    std::fs::write(
        dir.join("config.toml"),
        "# Written by sluice-gateway's typestate test: compile-fail cases are only\n\
         # type-checked, so RocksDB's C++ is never needed here.\n\
         [env]\nROCKSDB_LIB_DIR = \"/nonexistent-rocksdb-is-not-linked-by-cargo-check\"\nROCKSDB_STATIC = \"1\"\n",
    )
    .expect("writing trybuild's cargo config");
}

fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // tests run from target/<profile>/deps/
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf()
}

#[test]
fn an_owner_cannot_be_made_to_run_an_unjudged_or_unlogged_plan() {
    skip_rocksdb_cxx(&target_dir());
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/typestate/*.rs");
}

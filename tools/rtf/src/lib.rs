//! rtf: the regression test framework LinuxKit tests itself with, in Rust.
//!
//! | module | role |
//! |---|---|
//! | [`tags`] | `# TAG: value` comments in scripts |
//! | [`tree`] | discovery: groups and tests ordered by numeric prefix |
//! | [`labels`] | host labels and the selection rule |
//! | [`runner`] | gathering, sharding, execution with group scripts, hooks, repeats, timeouts |
//! | [`exec`] | one script run: output lines, process-group timeout |
//! | [`logger`] | levelled console, TESTS.log and per-test logs |
//! | [`results`] | TESTS.csv, SUMMARY.csv, SUMMARY.json |
//! | [`sysinfo`] | system labels and facts |

pub mod exec;
pub mod labels;
pub mod logger;
pub mod results;
pub mod runner;
pub mod sysinfo;
pub mod tags;
pub mod tree;

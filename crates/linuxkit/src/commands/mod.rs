//! One module per subcommand: settings from arguments, one `lk_ops` call, output.

pub mod build;
pub mod cache;
pub mod pkg;
pub mod run;
pub mod serve;
pub mod validate;
pub mod version;

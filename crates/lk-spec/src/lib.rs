//! The LinuxKit configuration model. No I/O: callers read files and images and pass text in.
//!
//! | module | role |
//! |---|---|
//! | [`yaml`] | YAML text -> positioned node tree, scalars resolved as LinuxKit's yaml.v3 does |
//! | [`diag`] | `file:line:column` diagnostics with hints |
//! | `decode` | typed decoding helpers, `@pkg:` templates ([`PackageResolver`]) |
//! | [`config`] | top level, kernel, files, volumes; merging files; whole-config checks |
//! | [`image`] | container entries and the `org.mobyproject.config` label |
//! | [`reference`] | image references and LinuxKit's canonical form |
//! | [`caps`] | capability names |
//! | [`oci`] | `config.json` / `runtime.json` generation (`ConfigToOCI`) |
//! | [`gojson`] | JSON written byte-for-byte like Go's `json.MarshalIndent` |
//! | [`normalize`] | the merged configuration as JSON or YAML |
//! | [`pkg`] | `build.yml` of packages |

pub mod caps;
pub mod config;
mod decode;
pub mod diag;
pub mod gojson;
pub mod image;
pub mod normalize;
pub mod oci;
pub mod pkg;
pub mod reference;
pub mod yaml;

pub use config::{Config, File, Kernel, Section, Volume, parse_and_merge, parse_config};
pub use decode::{PackageResolver, Source, Spanned};
pub use diag::{Diagnostic, Diagnostics, Pos};
pub use image::{Image, ImageConfig};
pub use oci::{ImageInfo, OciError, RuntimeConfig, Spec, config_to_oci, parse_label};
pub use reference::ImageRef;

//! PID 1 of LinuxKit images, as a library so its steps are tested unprivileged.
//!
//! | module | role |
//! |---|---|
//! | [`mounts`] | the mount table and device nodes as data, applied through `Sys` |
//! | [`modules`] | coldplug: device modaliases matched against modules.alias, loaded with dependencies |
//! | [`boot`] | the boot sequence and its log |
//! | [`hotplug`] | uevent listener: modules for devices that appear after boot |
//! | [`powerbutton`] | the ACPI power button shuts the machine down |
//! | [`mountroot`] | the first stage of a root image's boot initrd: modules, `root=`, hand over to its `/init` |
//! | [`reroot`] | re-rooting off the initramfs so containers can pivot_root |
//! | [`shutdown`] | signal to power action, filesystems to unmount |

pub mod boot;
pub mod hotplug;
pub mod modules;
pub mod mountroot;
pub mod mounts;
pub mod powerbutton;
pub mod reroot;
pub mod shutdown;

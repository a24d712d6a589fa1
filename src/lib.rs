//! dkwrap: safe DKMS builds of out-of-tree kernel modules on clang/ThinLTO kernels.
//!
//! Stages, in data-flow order (see DESIGN.md): [`kconfig`] and [`toolchain`] feed [`detect`];
//! [`make`] builds with the detected toolchain; [`strip`] removes debug information;
//! [`verify`] checks every result. [`doctor`] stands apart and explains a broken machine.
//! [`elf`] is the one ELF reader they all share; [`modfile`] peels compression and signatures.

pub mod app;
pub mod boot;
pub mod cleanup;
pub mod cli;
pub mod detect;
pub mod diagnose;
pub mod doctor;
pub mod elf;
pub mod error;
pub mod explain;
pub mod fasthash;
pub mod finding;
pub mod integration;
pub mod kconfig;
pub mod make;
pub mod modfile;
pub mod output;
pub mod proof;
pub mod sign;
pub mod strip;
pub mod symvers;
pub mod target;
pub mod toolchain;
pub mod verify;

pub use error::{exit, Error, Result};

//! The integration tests, one module per command or concern, linked into one test binary:
//! each integration test file would otherwise be a binary of its own, and with the release
//! profile's LTO every link costs as much as linking dkwrap itself (14 links: about 4 of CI's
//! minutes). Run one module with `cargo test --release --test it strip::`.

mod common;

mod app;
mod boot;
mod detect;
mod docs;
mod doctor;
mod explain;
mod golden;
mod make;
mod matrix;
mod reliability;
mod shim;
mod strip;
mod verify;
mod verifysym;

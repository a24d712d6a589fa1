//! `dkwrap doctor` (being written).

use crate::cli::DoctorArgs;
use crate::error::{Error, Result};

pub fn run(_args: &DoctorArgs) -> Result<i32> {
    Err(Error::Usage("dkwrap doctor is not implemented yet".into()))
}

//! `dkwrap verify` (being written).

use crate::cli::VerifyArgs;
use crate::error::{Error, Result};

pub fn run(_args: &VerifyArgs) -> Result<i32> {
    Err(Error::Usage("dkwrap verify is not implemented yet".into()))
}

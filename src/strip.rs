//! `dkwrap strip` (being written).

use crate::cli::StripArgs;
use crate::error::{Error, Result};

pub fn run(_args: &StripArgs) -> Result<i32> {
    Err(Error::Usage("dkwrap strip is not implemented yet".into()))
}

//! `dkwrap make` (being written).

use crate::cli::MakeArgs;
use crate::error::{Error, Result};

pub fn run(_args: &MakeArgs) -> Result<i32> {
    Err(Error::Usage("dkwrap make is not implemented yet".into()))
}

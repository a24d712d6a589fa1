//! `dkwrap detect` (being written).

use crate::cli::DetectArgs;
use crate::error::{Error, Result};

pub fn run(_args: &DetectArgs) -> Result<i32> {
    Err(Error::Usage("not yet".into()))
}

//! The one-line hint printed for a refusal the user probably meant to allow.

use super::{PathError, Sandbox};
use std::path::Path;

impl Sandbox {
    /// access wanted to write. `None` for errors that are not refusals.
    pub fn hint(&self, guest: &Path, error: PathError, write: bool) -> Option<String> {
        let host = self.host_of(guest);
        match (error, host) {
            (PathError::ReadOnly, Some(host)) => {
                let dir = host.parent().unwrap_or(&host);
                Some(format!(
                    "the sandbox refused to write {}: add --allow-write {} to allow it",
                    guest.display(),
                    dir.display()
                ))
            }
            (PathError::ReadOnly | PathError::Outside, _) => {
                let dir = guest.parent().unwrap_or(guest);
                let also = if write {
                    format!(" and --allow-write {}", dir.display())
                } else {
                    String::new()
                };
                Some(format!(
                    "{} is outside the sandbox: add --mount {}{also} (or --host-fs) to make it visible",
                    guest.display(),
                    dir.display()
                ))
            }
            (PathError::Host(_), _) => None,
        }
    }
}

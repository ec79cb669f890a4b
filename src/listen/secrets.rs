//! The secrets deliveries are verified with: those given as `--secret`, and
//! those in `--secret-file`, read again for every request. A webhook's
//! secret exists only once it is registered, and registering it needs the
//! receiver's URL: with a file, a script (or a person) registers the webhook
//! at the running receiver and appends the secret CreateWebhook returned,
//! and the next delivery is checked with it.

use std::path::PathBuf;

use super::verify::Secret;

pub struct Secrets {
    given: Vec<Secret>,
    file: Option<PathBuf>,
}

impl Secrets {
    pub fn new(given: Vec<Secret>, file: Option<PathBuf>) -> Self {
        Self { given, file }
    }

    /// Whether signatures are checked at all.
    pub fn checked(&self) -> bool {
        !self.given.is_empty() || self.file.is_some()
    }

    /// The secrets now: the given ones, then the file's, one per line
    /// (blank lines and `#` comments skipped). A missing file holds none
    /// yet; a line that is not a secret is said on stderr and skipped.
    pub fn current(&self) -> Vec<Secret> {
        let mut secrets = self.given.clone();
        let Some(file) = &self.file else {
            return secrets;
        };
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return secrets,
            Err(e) => {
                eprintln!("listen: cannot read --secret-file {}: {e}", file.display());
                return secrets;
            }
        };
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match Secret::parse(line) {
                Ok(secret) => secrets.push(secret),
                Err(e) => eprintln!(
                    "listen: --secret-file {} line {}: {e}",
                    file.display(),
                    number + 1
                ),
            }
        }
        secrets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_read_at_each_call_and_its_bad_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets");
        let secrets = Secrets::new(Vec::new(), Some(file.clone()));
        assert!(secrets.checked());
        assert_eq!(secrets.current().len(), 0, "a missing file holds none yet");
        std::fs::write(&file, "# mine\nwhsec_c2VjcmV0\n\nnot a secret\n").unwrap();
        assert_eq!(secrets.current().len(), 1);
        std::fs::write(&file, "whsec_c2VjcmV0\nwhsec_b3RoZXI=\n").unwrap();
        assert_eq!(secrets.current().len(), 2, "a line added later counts");
    }

    #[test]
    fn without_a_secret_or_a_file_nothing_is_checked() {
        assert!(!Secrets::new(Vec::new(), None).checked());
    }
}

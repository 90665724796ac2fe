//! The CLI's one error type and its exit codes.

use std::fmt;

/// Exit code when a token fails verification.
pub const EXIT_VERIFY_FAILED: u8 = 1;
/// Exit code for bad usage or input (clap uses the same code).
pub const EXIT_USAGE: u8 = 2;

/// Why a command stopped. The message is printed as `error: <message>`.
#[derive(Debug)]
pub enum CliError {
    /// Bad arguments, unreadable or invalid input, a refused edit: exit 2.
    Input(String),
    /// The token did not verify: exit 1.
    Verify(String),
}

impl CliError {
    pub fn input(message: impl Into<String>) -> Self {
        Self::Input(message.into())
    }

    pub fn verify(message: impl Into<String>) -> Self {
        Self::Verify(message.into())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Input(_) => EXIT_USAGE,
            Self::Verify(_) => EXIT_VERIFY_FAILED,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input(message) | Self::Verify(message) => f.write_str(message),
        }
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

//! Why a file could not be decrypted. Messages name the file (and a value's path), never a value.

/// A decryption failure.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    /// The file has no `sops` metadata (it is not encrypted, or not by `sops`).
    #[error("{file}: no sops metadata found (the file is not encrypted with sops)")]
    NotEncrypted {
        /// The file.
        file: String,
    },
    /// The file does not parse, or its metadata is malformed.
    #[error("{file}: invalid sops file: {message}")]
    Format {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The file uses a feature this implementation does not have (cloud KMS, Shamir key groups, …).
    #[error("{file}: {message}")]
    Unsupported {
        /// The file.
        file: String,
        /// What is not supported here, and what to do.
        message: String,
    },
    /// None of the offered keys opens the file's data key.
    #[error("{file}: cannot get the sops data key: {message}")]
    DataKey {
        /// The file.
        file: String,
        /// Recipients of the file and keys offered.
        message: String,
    },
    /// A value does not open with the data key (tampered ciphertext, IV or tag, or a wrong path).
    #[error("{file}: cannot decrypt the value at '{path}': {message}")]
    Value {
        /// The file.
        file: String,
        /// The value's path (`key:key:`).
        path: String,
        /// Why.
        message: String,
    },
    /// The plaintext does not match the file's MAC: the file changed after it was encrypted.
    #[error(
        "{file}: MAC mismatch: the file's content does not match its sops MAC (changed or tampered with after encryption)"
    )]
    MacMismatch {
        /// The file.
        file: String,
    },
}

impl SopsError {
    /// The message without the file name, for callers that name the file themselves.
    pub fn detail(&self) -> String {
        match self {
            SopsError::NotEncrypted { .. } => {
                "no sops metadata found (the file is not encrypted with sops)".into()
            }
            SopsError::Format { message, .. } => format!("invalid sops file: {message}"),
            SopsError::Unsupported { message, .. } => message.clone(),
            SopsError::DataKey { message, .. } => {
                format!("cannot get the sops data key: {message}")
            }
            SopsError::Value { path, message, .. } => {
                format!("cannot decrypt the value at '{path}': {message}")
            }
            SopsError::MacMismatch { .. } => "MAC mismatch: the file's content does not match its sops MAC (changed or tampered with after encryption)".into(),
        }
    }
}

use std::time::Duration;

/// What a valid assertion must say: who issued it, for whom, and how much
/// clock skew to forgive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) clock_skew_seconds: u64,
    pub(crate) header_name: String,
}

impl Policy {
    /// The filter's defaults make both the request host (`app.example.com`).
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuers: vec![issuer.into()],
            audiences: vec![audience.into()],
            clock_skew_seconds: 60,
            header_name: "x-pomerium-jwt-assertion".to_owned(),
        }
    }

    /// Accepts tokens from this issuer too.
    pub fn or_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Accepts tokens for this audience too (an app reached by several hosts).
    pub fn or_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Forgiven on `exp`, `iat` and `nbf`; 60 s unless set.
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew_seconds = skew.as_secs();
        self
    }

    /// The header [`crate::Verifier::verify_headers`] reads; the filter's
    /// `x-pomerium-jwt-assertion` unless set.
    pub fn header_name(mut self, name: impl Into<String>) -> Self {
        self.header_name = name.into();
        self
    }

    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    pub fn clock_skew_seconds(&self) -> u64 {
        self.clock_skew_seconds
    }

    pub fn get_header_name(&self) -> &str {
        &self.header_name
    }
}

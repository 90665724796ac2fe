//! Verifies one assertion against a filter's JWKS:
//! `cargo run -p signed-headers-verifier --example verify -- JWKS_URL HOST TOKEN`.

use signed_headers_verifier::{Policy, Verifier};

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(jwks_url), Some(host), Some(token)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: verify JWKS_URL HOST TOKEN");
        return std::process::ExitCode::from(2);
    };
    // One Verifier for the whole app: it caches the JWKS between requests.
    let verifier = Verifier::from_jwks_url(Policy::new(&host, &host), &jwks_url)
        .on_event(|event| eprintln!("jwks: {event}"));
    match verifier.verify(&token) {
        Ok(claims) => {
            println!("{} <{}> {:?}", claims.sub, claims.email, claims.groups);
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("refused ({}): {error}", error.code());
            std::process::ExitCode::FAILURE
        }
    }
}

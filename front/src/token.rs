//! Sign-in's token: a JWT (ES256) naming the user (`sub`) and their groups, which front sends
//! on to the backends as `Authorization: Bearer` and Istio's sidecars verify
//! (RequestAuthentication, labs/10-security.md) against front's public keys, served as a JWKS
//! at `/.well-known/jwks.json`.
//!
//! The keys: every `*.pem` of the folder `TOKEN_KEYS` (a Kubernetes Secret's files: P-256
//! private keys, PKCS#8, as `openssl genpkey` writes them); the last by name signs, all are
//! published, so a new key (a later name) does not break the tokens the older ones signed.
//! Each key's `kid` is its RFC 7638 thumbprint. Without `TOKEN_KEYS`, or with an empty folder
//! (deployments/front.yaml mounts the Secret when there is one), one key is made at start: each
//! replica then has its own, and a token is good only where its replica's keys are published. Written with ring (already in the build for MongoDB's TLS): the JWS compact form
//! is three base64url parts; a JWT crate's only pure-Rust backend compiles RSA, P-384, Ed25519
//! and HMAC, none of which is used here.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::digest::{SHA256, digest};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::json;
use shared::config::ConfigError;
use shared::user::UserName;

/// At most this many keys are published (a rotation needs two or three).
pub const MAX_KEYS: usize = 8;
/// A key file larger than this is not a P-256 key.
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;
/// The groups a user is in: `developer` is in `developers` (the dark launch by claim).
pub fn groups(user: &UserName) -> Vec<&'static str> {
    if user.as_str() == "developer" {
        vec!["developers"]
    } else {
        Vec::new()
    }
}

struct Key {
    kid: String,
    pair: EcdsaKeyPair,
    /// The public key as a JWK (`kty`, `crv`, `x`, `y`, `kid`, `alg`, `use`).
    jwk: serde_json::Value,
}

/// front's signing keys: the newest signs, all are published. Cheap to clone.
#[derive(Clone)]
pub struct SigningKeys(Arc<Keys>);

struct Keys {
    signer: Key,
    /// Every key's JWK, the signer's last.
    jwks: serde_json::Value,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("jwks", &self.0.jwks)
            .finish()
    }
}

/// The system's random source failed: no signature.
#[derive(Debug, thiserror::Error)]
#[error("the token could not be signed (the system's random source failed)")]
pub struct SigningFailed;

impl SigningKeys {
    /// The keys of `dir` (`TOKEN_KEYS`), or one made now when `dir` is `None` or has no key.
    pub fn load(dir: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(dir) = dir else {
            return Self::made_at_start();
        };
        let shown = dir.display().to_string();
        let expected = "a folder of P-256 private keys, *.pem (PKCS#8: openssl genpkey -algorithm EC \
                        -pkeyopt ec_paramgen_curve:P-256)";
        let entries =
            std::fs::read_dir(dir).map_err(|e| keys_error(&shown, &format!("{expected}; {e}")))?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pem") && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            tracing::info!(folder = %shown, "TOKEN_KEYS holds no key: one made at start");
            return Self::made_at_start();
        }
        if files.len() > MAX_KEYS {
            return Err(keys_error(
                &shown,
                &format!("{expected}; found {} (at most {MAX_KEYS})", files.len()),
            ));
        }
        let mut keys = files
            .iter()
            .map(|file| {
                let bad = |why: &str| {
                    keys_error(&shown, &format!("{expected}; {}: {why}", file.display()))
                };
                let size = std::fs::metadata(file)
                    .map_err(|e| bad(&e.to_string()))?
                    .len();
                if size > MAX_KEY_FILE_BYTES {
                    return Err(bad("too large for a key"));
                }
                let text = std::fs::read_to_string(file).map_err(|e| bad(&e.to_string()))?;
                let der = pem_private_key(&text)
                    .ok_or_else(|| bad("no -----BEGIN PRIVATE KEY----- block"))?;
                Key::from_pkcs8(&der).map_err(|_| bad("not a P-256 private key in PKCS#8"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        match keys.pop() {
            Some(signer) => Ok(Self::from_keys(keys, signer)),
            None => Err(keys_error(&shown, expected)),
        }
    }

    fn made_at_start() -> Result<Self, ConfigError> {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(|_| {
                keys_error(
                    "(none)",
                    "a key made at start: the system's random source failed",
                )
            })?;
        let key = Key::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| keys_error("(none)", "a key made at start"))?;
        Ok(Self::from_keys(Vec::new(), key))
    }

    fn from_keys(older: Vec<Key>, signer: Key) -> Self {
        let jwks: Vec<_> = older
            .iter()
            .chain([&signer])
            .map(|k| k.jwk.clone())
            .collect();
        Self(Arc::new(Keys {
            signer,
            jwks: json!({ "keys": jwks }),
        }))
    }

    /// A token for `user`, signed by the newest key: `iss`, `sub`, `groups`, `iat`, `exp`.
    pub fn issue(
        &self,
        issuer: &str,
        user: &UserName,
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<String, SigningFailed> {
        let key = &self.0.signer;
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": key.kid});
        let claims = json!({
            "iss": issuer,
            "sub": user.as_str(),
            "groups": groups(user),
            "iat": iat,
            "exp": iat + lifetime.as_secs(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // ring signs P-256 in JWS's fixed r||s form; it fails only without randomness.
        let signature = key
            .pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| SigningFailed)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    /// The public keys, as the JWKS document Istio fetches (`jwksUri`).
    pub fn jwks(&self) -> &serde_json::Value {
        &self.0.jwks
    }
}

impl Key {
    fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, ring::error::KeyRejected> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )?;
        // The public key is the uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = pair.public_key().as_ref();
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
        // RFC 7638: the SHA-256 of the required members, in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()));
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"});
        Ok(Self { kid, pair, jwk })
    }
}

/// The DER inside a PEM `PRIVATE KEY` block.
fn pem_private_key(text: &str) -> Option<Vec<u8>> {
    let (_, rest) = text.split_once("-----BEGIN PRIVATE KEY-----")?;
    let (body, _) = rest.split_once("-----END PRIVATE KEY-----")?;
    let body: String = body.split_whitespace().collect();
    STANDARD.decode(body).ok()
}

fn keys_error(value: &str, expected: &str) -> ConfigError {
    ConfigError {
        variable: "TOKEN_KEYS".into(),
        value: value.into(),
        expected: expected.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;

    use testkit::jwt::verify;

    use super::*;

    /// A folder of P-256 keys as the page makes them: `openssl genpkey`, one file each.
    fn key_folder(names: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "front-token-keys-{}-{}",
            std::process::id(),
            names.join("-")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for name in names {
            let status = Command::new("openssl")
                .args([
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-out",
                ])
                .arg(dir.join(name))
                .status()
                .expect("openssl, as the page uses it");
            assert!(status.success());
        }
        dir
    }

    fn user(name: &str) -> UserName {
        UserName::parse(name).unwrap()
    }

    #[test]
    fn a_token_names_the_user_and_their_groups_and_verifies_against_the_jwks() {
        let keys = SigningKeys::load(None).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let issue = |name| {
            keys.issue("http://front", &user(name), now, Duration::from_secs(600))
                .unwrap()
        };
        let claims = verify(&issue("developer"), keys.jwks()).unwrap();
        assert_eq!(claims["iss"], "http://front");
        assert_eq!(claims["sub"], "developer");
        assert_eq!(claims["groups"], json!(["developers"]));
        assert_eq!(claims["iat"], 1_800_000_000u64);
        assert_eq!(claims["exp"], 1_800_000_600u64);
        let token = issue("jason");
        assert_eq!(verify(&token, keys.jwks()).unwrap()["groups"], json!([]));

        // Another key's JWKS, or a changed claim, does not verify.
        let other = SigningKeys::load(None).unwrap();
        assert!(verify(&token, other.jwks()).is_err());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(r#"{"sub":"developer","groups":["developers"]}"#);
        let forged = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert_eq!(verify(&forged, keys.jwks()).unwrap_err(), "bad signature");
    }

    #[test]
    fn keys_rotate_by_kid_without_breaking_the_tokens_of_older_keys() {
        let now = SystemTime::now();
        let lifetime = Duration::from_secs(60);
        let old = key_folder(&["2026-11.pem"]);
        let before = SigningKeys::load(Some(&old)).unwrap();
        let old_token = before
            .issue("http://front", &user("developer"), now, lifetime)
            .unwrap();

        // The Secret gains a newer key (a later name): it signs; both are published.
        let both = key_folder(&["2026-11.pem", "2026-12.pem"]);
        std::fs::copy(old.join("2026-11.pem"), both.join("2026-11.pem")).unwrap();
        let after = SigningKeys::load(Some(&both)).unwrap();
        assert_eq!(after.jwks()["keys"].as_array().unwrap().len(), 2);
        assert!(
            verify(&old_token, after.jwks()).is_ok(),
            "a token of the older key"
        );
        let new_token = after
            .issue("http://front", &user("developer"), now, lifetime)
            .unwrap();
        assert!(verify(&new_token, after.jwks()).is_ok());
        assert!(
            verify(&new_token, before.jwks()).is_err(),
            "signed by the newer key"
        );
        assert_eq!(
            before.jwks()["keys"][0],
            after.jwks()["keys"][0],
            "the same key, the same kid"
        );
        for dir in [old, both] {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn a_bad_key_folder_stops_front_naming_token_keys() {
        let missing = SigningKeys::load(Some(Path::new("/nonexistent/keys"))).unwrap_err();
        // An empty folder (the Secret not made): one key made at start.
        let dir = key_folder(&[]);
        assert_eq!(
            SigningKeys::load(Some(&dir)).unwrap().jwks()["keys"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        std::fs::write(dir.join("key.pem"), garbage).unwrap();
        let garbled = SigningKeys::load(Some(&dir)).unwrap_err();
        std::fs::write(dir.join("key.pem"), "hello").unwrap();
        let not_pem = SigningKeys::load(Some(&dir)).unwrap_err();
        for n in 0..MAX_KEYS {
            std::fs::write(dir.join(format!("{n}.pem")), "hello").unwrap();
        }
        let too_many = SigningKeys::load(Some(&dir)).unwrap_err();
        std::fs::remove_dir_all(dir).unwrap();
        for (error, says) in [
            (missing, "No such file"),
            (garbled, "not a P-256 private key"),
            (not_pem, "no -----BEGIN PRIVATE KEY----- block"),
            (too_many, "found 9 (at most 8)"),
        ] {
            assert_eq!(error.variable, "TOKEN_KEYS");
            assert!(error.to_string().contains(says), "{error}");
        }
    }
}

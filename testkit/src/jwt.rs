//! Verifying front's sign-in tokens as a verifier would (Istio's sidecars do it in the
//! cluster): the tests' side of `front::token`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

/// Checks `token` against `jwks`: the key its `kid` names, ES256; gives its claims.
pub fn verify(token: &str, jwks: &serde_json::Value) -> Result<serde_json::Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err("not three parts".into());
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|e| e.to_string());
    let header: serde_json::Value =
        serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
    if header["alg"] != "ES256" {
        return Err(format!("alg {}", header["alg"]));
    }
    let jwk = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kid"] == header["kid"])
        .ok_or("no key of that kid")?;
    let mut point = vec![4u8];
    for coordinate in ["x", "y"] {
        point.extend(decode(jwk[coordinate].as_str().unwrap_or_default())?);
    }
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &decode(signature)?,
        )
        .map_err(|_| "bad signature".to_string())?;
    serde_json::from_slice(&decode(claims)?).map_err(|e| e.to_string())
}

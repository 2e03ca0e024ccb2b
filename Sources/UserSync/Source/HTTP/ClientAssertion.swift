import Crypto
import Foundation
import _CryptoExtras

/// An OAuth 2.0 client assertion (RFC 7523 section 2.2, `private_key_jwt`): a short-lived JWT
/// the client signs with its private key instead of sending a secret. Entra ID calls it a
/// certificate credential and finds the certificate by the `x5t#S256` header (the SHA-256
/// thumbprint of its DER encoding; `x5t`, the SHA-1 one, for older tenants); Okta finds the key
/// by `kid` when the application has more than one.
public struct ClientAssertion: Sendable, Equatable {
    /// PEM private key (PKCS #1 or PKCS #8, RSA).
    public var keyFile: String
    /// PEM certificate of that key (Entra ID: the one uploaded to the app registration).
    public var certificateFile: String?
    /// The key's id as the authorization server knows it (Okta: the JWK's `kid`).
    public var keyID: String?

    public init(keyFile: String, certificateFile: String? = nil, keyID: String? = nil) {
        self.keyFile = keyFile
        self.certificateFile = certificateFile
        self.keyID = keyID
    }

    /// The assertion for one token request: `aud` the token endpoint, `iss` and `sub` the
    /// client, valid for five minutes, with a fresh `jti` (both servers refuse a replay).
    func make(clientID: String, audience: String, now: Date = Date()) throws -> String {
        let keyText: String
        do {
            keyText = try String(contentsOfFile: keyFile, encoding: .utf8)
        } catch {
            throw SyncConfigurationError(description: "the private key file \(keyFile) cannot be read: \(error.localizedDescription)")
        }
        let key: _RSA.Signing.PrivateKey
        do {
            key = try _RSA.Signing.PrivateKey(pemRepresentation: keyText)
        } catch {
            throw SyncConfigurationError(description: "\(keyFile) is not an RSA private key in PEM (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY): \(error)")
        }
        var header: [String: String] = ["alg": "RS256", "typ": "JWT"]
        if let keyID { header["kid"] = keyID }
        if let certificateFile {
            let der = try Self.certificateDER(certificateFile)
            header["x5t#S256"] = Self.base64URL(Data(SHA256.hash(data: der)))
            header["x5t"] = Self.base64URL(Data(Insecure.SHA1.hash(data: der)))
        }
        let issued = Int(now.timeIntervalSince1970)
        let claims: [String: Any] = ["aud": audience, "iss": clientID, "sub": clientID, "jti": UUID().uuidString,
                                     "iat": issued, "nbf": issued, "exp": issued + 300]
        let signingInput = Self.base64URL(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
            + "." + Self.base64URL(try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]))
        // RS256: RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section 3.3).
        let signature = try key.signature(for: Data(signingInput.utf8), padding: .insecurePKCS1v1_5)
        return signingInput + "." + Self.base64URL(signature.rawRepresentation)
    }

    /// The DER bytes of the first certificate in a PEM file.
    static func certificateDER(_ path: String) throws -> Data {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SyncConfigurationError(description: "the certificate file \(path) cannot be read")
        }
        let begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----"
        guard let start = text.range(of: begin), let stop = text.range(of: end, range: start.upperBound..<text.endIndex),
              let der = Data(base64Encoded: text[start.upperBound..<stop.lowerBound].filter { !$0.isWhitespace }) else {
            throw SyncConfigurationError(description: "\(path) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        return der
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The claims of a JWT (its middle part), unverified: what a token says of itself, for
    /// messages (the permissions an Entra ID token carries in `roles`).
    static func claims(ofJWT token: String) -> [String: Any]? {
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var text = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
}

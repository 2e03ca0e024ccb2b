import Foundation
import LDAP

/// Recognises group records that are exactly as the last run stored them, so that a run whose
/// users and groups are all as before leaves the memberships as they are, without staging and
/// resolving every member link (issue 21: the group no-op cost 2.5 × the users' no-op).
///
/// A group's fingerprint hashes, like a user's (`RecordFingerprint`), its DN and its packed
/// attributes (the stable id, the name and the member list, values in the order sent), seeded
/// with the users' seed (source, stable id, mapping, options: what the member links resolve
/// against) and the `groups` settings. The store keeps them in `group_fingerprints`, written by
/// a run that planned the source's groups in full; any update or delete of the group's row
/// forgets its line (triggers), and so does a run that changes the source's users without
/// planning its groups (`GroupFingerprintTables.forgetAfterUserChanges`).
struct GroupFingerprint: Sendable {
    let seed: UInt64

    init(source: SourceSettings, groups: GroupMapping) {
        var hash = RecordFingerprint(source: source).seed
        let text = "usersync group fingerprint v1\u{0}\(groups)\u{0}"
        RecordFingerprint.add(Array(text.utf8), to: &hash)
        seed = hash
    }

    func callAsFunction(_ entry: SourceRecord) -> UInt64 {
        var hash = seed
        var locator = entry.locator.description
        locator.withUTF8 { RecordFingerprint.addWords($0, to: &hash) }
        entry.packed.withUnsafeBufferPointer { RecordFingerprint.addWords($0, to: &hash) }
        return hash
    }
}

/// The fingerprints of a source's active groups as stored, by stable id; empty when the run
/// is not to skip anything (a delta, memberships from users' memberOf, users scoped by groups).
struct KnownGroups: Sendable {
    var byExternalId: [String: UInt64] = [:]

    var isEmpty: Bool { byExternalId.isEmpty }

    func isUnchanged(_ externalId: String, fingerprint: UInt64) -> Bool {
        byExternalId[externalId] == fingerprint
    }
}

import Foundation

/// The human-readable form of a bind test or a source check, as `test-bind` prints it and the
/// console shows it.
public enum TestBindText {
    public static func render(_ r: SourceCheckReport) -> String {
        var lines: [(String, String)] = [("Source", "\(r.source) (\(r.type))"), ("Reads", r.location)]
        if let columns = r.columns { lines.append(("Columns", columns.joined(separator: ", "))) }
        if let p = r.permissions {
            lines.append(("Permissions", p.granted.isEmpty ? "none (the token's roles claim is empty)" : p.granted.joined(separator: ", ")))
            lines.append(("Needs", p.needed.joined(separator: ", ") + (p.missing.isEmpty ? " (all granted)" : "; MISSING: \(p.missing.joined(separator: ", ")) (grant as application permissions, with admin consent)")))
        }
        if r.error == nil || r.recordsRead > 0 {
            var read = "\(r.recordsRead) record\(r.recordsRead == 1 ? "" : "s") of the first page, \(r.recordsRead - r.skipped) mapped, \(r.skipped) skipped"
            if r.groupsNamed > 0 { read += "; \(r.groupsNamed) group membership\(r.groupsNamed == 1 ? "" : "s") named" }
            if let groups = r.groupsRead { read += "; \(r.type == "scim" ? "/Groups" : "/groups") answers (\(groups) group\(groups == 1 ? "" : "s") on its first page)" }
            lines.append(("Read", read))
            if !r.samples.isEmpty { lines.append(("Usernames", r.samples.joined(separator: ", ") + (r.recordsRead - r.skipped > r.samples.count ? ", …" : ""))) }
            for reason in r.skipReasons { lines.append(("Skipped", reason)) }
        }
        let width = (lines.map(\.0.count).max() ?? 0) + 2
        var text = lines.map { ($0.0 + ":").padding(toLength: width, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n")
        text += "\n"
        if r.error == nil { text += "OK (\(String(format: "%.2f", r.durationSeconds)) s)\n" }
        return text
    }

    public static func render(_ r: BindTestReport) -> String {
        var lines: [(String, String)] = []
        for skipped in r.skippedServers { lines.append(("Skipped", skipped)) }
        if let uri = r.uri {
            lines.append(("Server", uri + (r.vendor.map { " (\($0))" } ?? "")))
            if r.tls {
                let verify = r.certificateVerification ?? "unknown"
                let note = verify == "never" || verify == "allow" ? "certificate NOT checked (verification \(verify): --tls-verify, TLS_REQCERT or LDAPTLS_REQCERT)"
                    : "certificate verified (\(verify))"
                lines.append(("TLS", "on, \(r.tlsMethod ?? "TLS"); \(note)"))
            } else if uri.lowercased().hasPrefix("ldapi://") {
                lines.append(("TLS", "off (local ldapi:// socket)"))
            } else {
                lines.append(("TLS", "off: traffic, passwords included, is not encrypted"))
            }
        } else {
            lines.append(("Server", r.triedURIs.joined(separator: " ") + " — not reached"))
        }
        if r.bound {
            let identity = r.boundAs.map { $0.isEmpty ? "anonymous" : $0 } ?? "?"
            lines.append(("Bound as", "\(identity) (\(r.bindMethod) bind)"))
        }
        if !r.namingContexts.isEmpty { lines.append(("Naming contexts", r.namingContexts.joined(separator: ", "))) }
        if let paged = r.pagedResults { lines.append(("Paged results", paged ? "supported" : "NOT supported")) }
        if let inChain = r.inChain {
            lines.append(("In-chain rule", inChain ? "supported (nested group membership in one query)" : "not supported (not Active Directory)"))
        }
        if let search = r.search {
            lines.append(("Search", "base \(search.base), scope \(search.scope), filter \(search.filter)"))
            if let count = r.count {
                let pages = search.pages.map { " in \($0) page\($0 == 1 ? "" : "s")" } ?? ""
                lines.append(("Found", "\(count) entr\(count == 1 ? "y" : "ies")\(pages)"))
                for dn in r.entries ?? [] { lines.append(("", dn)) }
                if let shown = r.entries?.count, shown < count { lines.append(("", "… \(count - shown) more")) }
            }
        }
        for note in r.notes { lines.append(("Note", note)) }
        let width = (lines.map(\.0.count).max() ?? 0) + 2
        var text = lines.map { $0.0.isEmpty ? String(repeating: " ", count: width) + $0.1
            : ($0.0 + ":").padding(toLength: width, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n")
        text += "\n"
        if r.error == nil { text += "OK (\(String(format: "%.2f", r.durationSeconds)) s)\n" }
        return text
    }
}
